"""Time building a GPT-style parameter stack against one kernel filling the same bytes.

The issue's target is that per-layer overhead is negligible: building the stack
(148 tensors for gpt2-small, each allocated and filled on the device with its
own stream) should cost at most 1.2x (GPU) or 1.3x (CPU) the time of the
fastest single initializer kernel filling the same total bytes.  Both sides
allocate their output, as a build does.  Reported against two single fills:
normal (the law of almost every byte of the stack) and uniform (the fastest
kernel).  With torch installed, also against torch building the same tensors
(``torch.empty`` + ``torch.nn.init.normal_``/``zeros_``/``ones_``), the way a
PyTorch model is initialized.  Writes ``benchmarks/results/model-build-<device>.md``.

    python benchmarks/bench_model_build.py [--device cpu|cuda] [--preset gpt2-small]
        [--repeat 5] [--dtype float32]
"""

from __future__ import annotations

import argparse
import math
import platform
from pathlib import Path

import numba
import numpy as np

import gpuinit as gi
from gpuinit.bench import device_label, write_results
from gpuinit.bench import timer as _timer
from gpuinit.initializers import RandomNormal
from gpuinit.layers import PRESETS, build_gpt, gpt_specs

RESULTS = Path(__file__).parent / "results"


def _torch_build(specs, tdev, torch):
    """Return a callable building the same tensors with torch.nn.init, as PyTorch code does."""

    def build():
        made = {}
        for spec in specs:
            t = torch.empty(spec.shape, device=tdev)
            if isinstance(spec.initializer, RandomNormal):
                torch.nn.init.normal_(t, 0.0, spec.initializer.stddev)
            elif spec.initializer == "ones":
                torch.nn.init.ones_(t)
            else:
                torch.nn.init.zeros_(t)
            made[spec.path] = t
        return made
    return build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--preset", default="gpt2-small", choices=sorted(PRESETS))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    dev = gi.device(args.device)
    config = PRESETS[args.preset]
    count = config.count()
    timer = _timer(dev)

    cases = {
        f"build_gpt({args.preset}): {count:,} values in 148 tensors":
            lambda: build_gpt(config, seed=0, device=dev, dtype=args.dtype),
        "one normal fill of the same bytes":
            lambda: gi.random.normal((count,), 0.0, 0.02, seed=0, device=dev, dtype=args.dtype),
        "one uniform fill of the same bytes":
            lambda: gi.random.uniform((count,), -0.05, 0.05, seed=0, device=dev,
                                      dtype=args.dtype),
    }
    try:
        import torch

        tdev = "cpu" if not dev.is_cuda else f"cuda:{dev.index}"
        if args.dtype == "float32":
            cases["torch: empty + nn.init per tensor"] = _torch_build(gpt_specs(config), tdev,
                                                                       torch)
            torch_version = torch.__version__
            torch.set_num_threads(numba.get_num_threads())
    except ImportError:
        torch_version = "not installed"

    times = {}
    for name, fn in cases.items():
        times[name] = timer(fn, args.repeat)
        print(f"{name:60} {times[name] * 1e3:9.1f} ms", flush=True)

    nbytes = count * np.dtype(np.float32 if args.dtype == "float32" else np.float64).itemsize \
        if args.dtype in ("float32", "float64") else count * 2
    build = next(iter(times.values()))
    names = list(times)
    target = 1.2 if dev.is_cuda else 1.3
    lines = [f"# Building a GPT-style parameter stack: {dev}", "",
             f"{platform.processor() or platform.machine()}, {numba.get_num_threads()} threads, "
             f"Python {platform.python_version()}, NumPy {np.__version__}, "
             f"numba {numba.__version__}, torch {torch_version}; median of {args.repeat} runs "
             f"after a warm-up; each run allocates its output.", "",
             f"{config}, dtype {args.dtype}, {nbytes / 1e9:.3f} GB.", "",
             "| what | time (ms) | GB/s | build / this |", "|---|---:|---:|---:|"]
    for name in names:
        t = times[name]
        lines.append(f"| {name} | {t * 1e3:.1f} | {nbytes / t / 1e9:.2f} | "
                     f"{build / t:.2f} |")
    fastest = min(times[names[1]], times[names[2]])
    lines += ["", f"Target: build <= {target}x the fastest single kernel over the same bytes. "
              f"Measured: {build / fastest:.2f}x the fastest single fill "
              f"({build / times[names[1]]:.2f}x the normal fill of the same law)."]
    if not math.isfinite(build):
        raise SystemExit("timing failed")
    path = write_results(RESULTS, f"model-build-{device_label(dev)}", lines)
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
