"""Time gpuinit's sampling primitives side by side with the peers, in one process.

CPU: NumPy's ``default_rng()`` (``random``/``standard_normal`` with ``out=``) and
torch (``uniform_``/``normal_``/``nn.init.trunc_normal_``) when installed.
GPU: ``cupy.random`` (legacy generator and ``default_rng()``) and torch on CUDA.
Reports throughput, the ratio to each peer, the fraction of the measured write
bandwidth (a ``fill`` of the same buffer), peak memory on the GPU, and the cold
first-call time (compilation or cache load).  Writes
``benchmarks/results/<device>.md``.

    python benchmarks/bench_random.py [--device cpu|cuda] [--sizes 20,25] [--repeat 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numba
import numpy as np

import gpuinit as gi
from gpuinit import devices, dtypes

RESULTS = Path(__file__).parent / "results"


def write_results(name: str, lines: list[str]) -> None:
    """Write ``lines`` to benchmarks/results/<name>.md (spaces become underscores)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name.replace(' ', '_')}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


def _timer(dev):
    """Return a function timing a callable: median seconds over ``repeat`` runs."""
    if dev.is_cuda:
        import cupy

        def run(fn, repeat):
            fn()
            cupy.cuda.Device().synchronize()
            times = []
            for _ in range(repeat):
                start, stop = cupy.cuda.Event(), cupy.cuda.Event()
                start.record()
                fn()
                stop.record()
                stop.synchronize()
                times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
            return statistics.median(times)
        return run

    def run(fn, repeat):
        fn()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    return run


def _cases(dev, n, xp):
    """Yield (distribution, dtype, {implementation: callable}) for one size."""
    torch = None
    try:
        import torch
    except ImportError:
        pass
    tdev = "cuda" if dev.is_cuda else "cpu"
    for dtype in ["float32", "float16", "bfloat16"]:
        form = dtypes.float_format(dtype)
        try:
            out = xp.empty(n, dtype=form.numpy_dtype)
        except (TypeError, ImportError):
            continue
        ours = {
            "uniform": lambda o=out: gi.random.uniform(n, seed=1, out=o),
            "normal": lambda o=out: gi.random.normal(n, seed=1, out=o),
            "truncated_normal": lambda o=out: gi.random.truncated_normal(n, seed=1, out=o),
        }
        peers: dict[str, dict] = {k: {} for k in ours}
        if not dev.is_cuda and dtype == "float32":
            rng = np.random.default_rng(0)
            peers["uniform"]["numpy default_rng"] = (
                lambda rng=rng, out=out: rng.random(dtype=np.float32, out=out))
            peers["normal"]["numpy default_rng"] = (
                lambda rng=rng, out=out: rng.standard_normal(dtype=np.float32, out=out))
        if dev.is_cuda and dtype in ("float32", "float16"):
            import cupy

            legacy = cupy.random.RandomState(0)
            peers["uniform"]["cupy.random"] = (
                lambda r=legacy, dt=dtype: r.random_sample(n, dtype=dt))
            peers["normal"]["cupy.random"] = (
                lambda r=legacy, dt=dtype: r.standard_normal(n, dtype=dt))
            if dtype == "float32":
                g = cupy.random.default_rng(0)
                peers["uniform"]["cupy default_rng"] = (
                    lambda g=g: g.random(n, dtype=cupy.float32))
                peers["normal"]["cupy default_rng"] = (
                    lambda g=g: g.standard_normal(n, dtype=cupy.float32))
        if torch is not None:
            t = torch.empty(n, dtype=getattr(torch, dtype), device=tdev)
            peers["uniform"]["torch"] = lambda t=t: t.uniform_()
            peers["normal"]["torch"] = lambda t=t: t.normal_()
            peers["truncated_normal"]["torch"] = lambda t=t: torch.nn.init.trunc_normal_(t)
        for dist, fn in ours.items():
            yield dist, dtype, out, fn, peers[dist]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", default=None, help="log2 sizes, e.g. 20,25")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    dev = gi.device(args.device)
    xp = devices.array_module(dev)
    sizes = [int(s) for s in (args.sizes or ("20,24,26,28" if dev.is_cuda else "20,25")).split(",")]
    timer = _timer(dev)
    if dev.is_cuda:
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else name
    else:
        name = f"cpu-{platform.machine()}-{numba.get_num_threads()}threads"
    rows = []
    cold = {}
    for log2 in sizes:
        n = 1 << log2
        for dist, dtype, out, ours, peers in _cases(dev, n, xp):
            if (dist, dtype) not in cold:
                start = time.perf_counter()
                ours()
                if dev.is_cuda:
                    cupy.cuda.Device().synchronize()
                cold[(dist, dtype)] = time.perf_counter() - start
            fill_s = timer(lambda o=out: o.fill(0), args.repeat)
            if dev.is_cuda:
                pool = cupy.get_default_memory_pool()
                pool.free_all_blocks()
                before = pool.used_bytes()
                ours_s = timer(ours, args.repeat)
                extra = pool.used_bytes() - before
            else:
                ours_s = timer(ours, args.repeat)
                extra = None
            bw = out.nbytes / fill_s
            row = {"dist": dist, "dtype": dtype, "log2": log2, "gelem": n / ours_s / 1e9,
                   "bw_frac": out.nbytes / ours_s / bw, "extra": extra,
                   "peers": {k: timer(fn, args.repeat) / ours_s for k, fn in peers.items()}}
            rows.append(row)
            print(row, flush=True)
    lines = [f"# gpuinit sampling benchmark on {name}", "",
             f"numpy {np.__version__}; gpuinit {gi.__version__}; median of {args.repeat} runs; "
             "ratio = peer time / gpuinit time (> 1: gpuinit faster); bandwidth fraction = "
             "output bytes / time over a `fill` of the same buffer.", "",
             "| distribution | dtype | n | Gelem/s | of fill bandwidth | extra device bytes | "
             "peers (time ratio) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        peers = ", ".join(f"{k}: {v:.2f}x" for k, v in r["peers"].items()) or "-"
        extra = "-" if r["extra"] is None else str(r["extra"])
        lines.append(f"| {r['dist']} | {r['dtype']} | 2^{r['log2']} | {r['gelem']:.3f} | "
                     f"{r['bw_frac']:.0%} | {extra} | {peers} |")
    lines += ["", "Cold first call (compile or on-disk cache load), seconds:", ""]
    lines += [f"- {d} {t}: {s:.2f}" for (d, t), s in cold.items()]
    write_results(name, lines)


if __name__ == "__main__":
    main()
