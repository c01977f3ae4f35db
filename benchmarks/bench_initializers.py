"""Time gpuinit's initializers side by side with torch.nn.init (and NumPy on the CPU).

Each elementwise initializer fills the same preallocated tensor in place
(``gpuinit.init.<name>_`` against ``torch.nn.init.<name>_`` on a torch tensor of
the same device; on the CPU also NumPy's ``default_rng`` doing the same law with
``out=``).  The Keras-style objects, which allocate, are timed too.  Orthogonal is
timed at several matrix sizes, with the peak extra device memory of each
implementation on CUDA (CuPy pool and torch allocator peaks).  Writes
``benchmarks/results/initializers-<device>.md``.

    python benchmarks/bench_initializers.py [--device cpu|cuda] [--log2 24] [--repeat 5]
        [--orthogonal 1024x1024,2048x2048]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

import gpuinit as gi
from gpuinit.bench import device_label, write_results
from gpuinit.bench import timer as _timer

RESULTS = Path(__file__).parent / "results"


def _elementwise(n: int, tdev: str, torch):
    """Yield (name, ours, {peer: callable}) filling an (n/1024, 1024) float32 tensor."""
    shape = (n // 1024, 1024)
    fan_in = shape[1]
    t = torch.empty(shape, device=tdev)
    init = torch.nn.init
    std_he = math.sqrt(2.0 / fan_in)
    cases = [
        ("uniform_", lambda: gi.init.uniform_(t, -0.1, 0.1, seed=1),
         lambda: init.uniform_(t, -0.1, 0.1)),
        ("normal_", lambda: gi.init.normal_(t, 0.0, 0.02, seed=1),
         lambda: init.normal_(t, 0.0, 0.02)),
        ("trunc_normal_ (std 0.02, ±2σ)", lambda: gi.init.trunc_normal_(t, 0, 0.02, -0.04, 0.04,
                                                                         seed=1),
         lambda: init.trunc_normal_(t, 0, 0.02, -0.04, 0.04)),
        ("xavier_uniform_", lambda: gi.init.xavier_uniform_(t, seed=1),
         lambda: init.xavier_uniform_(t)),
        ("xavier_normal_", lambda: gi.init.xavier_normal_(t, seed=1),
         lambda: init.xavier_normal_(t)),
        ("kaiming_uniform_", lambda: gi.init.kaiming_uniform_(t, a=math.sqrt(5), seed=1),
         lambda: init.kaiming_uniform_(t, a=math.sqrt(5))),
        ("kaiming_normal_", lambda: gi.init.kaiming_normal_(t, seed=1),
         lambda: init.kaiming_normal_(t)),
    ]
    for name, ours, theirs in cases:
        peers = {"torch.nn.init": theirs}
        if tdev == "cpu":
            out = np.empty(shape, np.float32)
            rng = np.random.default_rng(0)
            if "uniform" in name:
                peers["numpy default_rng"] = lambda o=out, r=rng: _np_uniform(r, o, 0.1)
            elif "trunc" not in name:
                peers["numpy default_rng"] = lambda o=out, r=rng: _np_normal(r, o, std_he)
        yield name, ours, peers
    keras_shape = (shape[1], shape[0])
    device = "cuda" if tdev == "cuda" else "cpu"
    for cls in ("GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
                "LecunNormal"):
        obj = getattr(gi.initializers, cls)(seed=1)
        yield (f"initializers.{cls} (allocates)", lambda o=obj: o(keras_shape, device=device),
               {})


def _np_uniform(rng, out, bound):
    rng.random(dtype=np.float32, out=out)
    out *= 2 * bound
    out -= bound


def _np_normal(rng, out, std):
    rng.standard_normal(dtype=np.float32, out=out)
    out *= std


def _peak(dev, fn, torch):
    """Return (extra bytes at peak for gpuinit's CuPy pool, torch's allocator) around fn."""
    if not dev.is_cuda:
        return None
    import cupy

    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    torch.cuda.reset_peak_memory_stats()
    base_torch = torch.cuda.memory_allocated()
    base_pool = pool.used_bytes()
    fn()
    cupy.cuda.Device().synchronize()
    return pool.total_bytes() - base_pool, torch.cuda.max_memory_allocated() - base_torch


def main(argv=None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--log2", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--orthogonal", default=None)
    args = parser.parse_args(argv)
    dev = gi.device(args.device)
    tdev = "cuda" if dev.is_cuda else "cpu"
    log2 = args.log2 or (26 if dev.is_cuda else 24)
    sizes = args.orthogonal or ("1024x1024,4096x4096,8192x8192,16384x4096" if dev.is_cuda
                                else "1024x1024,2048x2048")
    timer = _timer(dev)
    name = device_label(dev)
    lines = [f"# gpuinit initializer benchmark on {name}", "",
             f"torch {torch.__version__} ({torch.get_num_threads()} threads); numpy "
             f"{np.__version__}; gpuinit {gi.__version__}; median of {args.repeat} runs; "
             "ratio = peer time / gpuinit time (> 1: gpuinit faster).", "",
             f"## Elementwise, float32, 2^{log2} elements", "",
             "| initializer | gpuinit ms | Gelem/s | peers (time ratio) |", "|---|---|---|---|"]
    n = 1 << log2
    for label, ours, peers in _elementwise(n, tdev, torch):
        ours_s = timer(ours, args.repeat)
        ratios = ", ".join(f"{k}: {timer(fn, args.repeat) / ours_s:.2f}x"
                           for k, fn in peers.items()) or "-"
        lines.append(f"| {label} | {ours_s * 1e3:.2f} | {n / ours_s / 1e9:.3f} | {ratios} |")
        print(lines[-1], flush=True)
    lines += ["", "## Orthogonal, float32", "",
              "| shape | gpuinit ms | torch.nn.init.orthogonal_ ms | ratio | gpuinit peak extra "
              "bytes | torch peak extra bytes |", "|---|---|---|---|---|---|"]
    for spec in sizes.split(","):
        rows, cols = (int(v) for v in spec.split("x"))
        t = torch.empty(rows, cols, device=tdev)
        def ours(rows=rows, cols=cols):
            return gi.initializers.Orthogonal(seed=0)((rows, cols), device=str(dev))

        def theirs(t=t):
            return torch.nn.init.orthogonal_(t)

        repeat = max(1, min(args.repeat, 3))
        ours_s, theirs_s = timer(ours, repeat), timer(theirs, repeat)
        peaks = _peak(dev, ours, torch), _peak(dev, theirs, torch)
        ours_peak = "-" if peaks[0] is None else str(peaks[0][0])
        theirs_peak = "-" if peaks[1] is None else str(peaks[1][1])
        lines.append(f"| {rows}x{cols} | {ours_s * 1e3:.1f} | {theirs_s * 1e3:.1f} | "
                     f"{theirs_s / ours_s:.2f}x | {ours_peak} | {theirs_peak} |")
        print(lines[-1], flush=True)
    print(f"wrote {write_results(RESULTS, f'initializers-{name}', lines)}")


if __name__ == "__main__":
    main()
