"""The ``gpuinit`` command: ``gpuinit info`` and ``gpuinit demo`` (tensors, then a model)."""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from importlib import metadata

from . import random as gr
from .devices import cuda_available, cuda_unavailable_reason, device
from .layers import PRESETS, ProgressBar, build_gpt
from .layers.summary import human_bytes


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def info() -> str:
    """Return the report of ``gpuinit info``: versions, devices, why CUDA is (not) usable."""
    lines = [
        f"gpuinit     {_version('gpuinit')}",
        f"python      {platform.python_version()} ({platform.machine()})",
        f"numpy       {_version('numpy')}",
        f"numba       {_version('numba')}",
        f"numba-cuda  {_version('numba-cuda')}",
        f"cupy        {_version('cupy-cuda13x')} (cuda13x) / {_version('cupy-cuda12x')} (cuda12x)",
        f"ml_dtypes   {_version('ml_dtypes')}",
    ]
    if cuda_available():
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        lines.append(f"CUDA        usable: {name}, {props['totalGlobalMem'] / 2**30:.1f} GiB")
    else:
        lines.append(f"CUDA        not usable: {cuda_unavailable_reason()}")
    lines.append(f"default     device('auto') -> {device('auto')}")
    return "\n".join(lines)


def _synchronize(array) -> None:
    if hasattr(array, "device") and hasattr(array.device, "synchronize"):
        array.device.synchronize()


def _moments(array) -> tuple[float, float]:
    xp = sys.modules[type(array).__module__.split(".")[0]]
    sample = array.reshape(-1)[: 1 << 22].astype("float64")
    return float(xp.mean(sample)), float(xp.std(sample))


def demo(log2_size: int = 24) -> str:
    """Return the table of ``gpuinit demo``: a few large tensors on the best device,
    with time, GB/s and mean/std against the expected values."""
    dev = device("auto")
    n = 1 << log2_size
    shape = (n // 4096, 4096)
    a = math.sqrt(3.0)
    cases = [
        ("uniform(-√3, √3)", lambda dt: gr.uniform(shape, -a, a, seed=1, dtype=dt), 0.0, 1.0),
        ("normal(0, 1)", lambda dt: gr.normal(shape, seed=2, dtype=dt), 0.0, 1.0),
        ("truncated_normal(±2σ)", lambda dt: gr.truncated_normal(shape, seed=3, dtype=dt),
         0.0, 0.8796256610342398),
    ]
    dtypes = ["float32", "float16"]
    rows = [f"device {dev}; shape {shape}; first call includes compilation (cached on disk)",
            f"{'distribution':24} {'dtype':8} {'time ms':>9} {'GB/s':>7} {'mean':>8} "
            f"{'std':>7} {'expected':>15}"]
    for label, make, mean, std in cases:
        for dtype in dtypes:
            make(dtype)  # compile or load from cache
            start = time.perf_counter()
            x = make(dtype)
            _synchronize(x)
            elapsed = time.perf_counter() - start
            m, s = _moments(x)
            rows.append(f"{label:24} {dtype:8} {elapsed * 1e3:9.2f} "
                        f"{x.nbytes / elapsed / 1e9:7.2f} {m:8.4f} {s:7.4f} "
                        f"{f'{mean:.1f} / {std:.4f}':>15}")
    return "\n".join(rows)


def model_demo(preset: str, dtype: str = "float32", progress=None) -> str:
    """Return the report of building the GPT-style parameter stack ``preset`` on the best
    device: tensors, parameters, bytes, time and GB/s (kernels compiled beforehand)."""
    dev = device("auto")
    build_gpt("tiny", device=dev, dtype=dtype)  # compile or load from cache
    start = time.perf_counter()
    parameters = build_gpt(preset, seed=0, device=dev, dtype=dtype, progress=progress)
    for p in parameters.values():
        _synchronize(p.data)
    elapsed = time.perf_counter() - start
    nbytes = sum(p.nbytes for p in parameters.values())
    count = sum(p.size for p in parameters.values())
    return (f"model {preset} {PRESETS[preset]}\n"
            f"device {dev}, {dtype}: {len(parameters)} tensors, {count:,} parameters, "
            f"{human_bytes(nbytes)} in {elapsed:.3f} s ({nbytes / elapsed / 1e9:.2f} GB/s), "
            f"each made on the device")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gpuinit`` console script."""
    parser = argparse.ArgumentParser(prog="gpuinit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="versions, devices and why CUDA is or is not usable")
    demo_parser = commands.add_parser("demo", help="initialize large tensors and time them")
    demo_parser.add_argument("--log2-size", type=int, default=24,
                             help="elements per tensor as a power of two (default 24)")
    demo_parser.add_argument("--model", default="gpt2-small",
                             help="GPT-style parameter stack to build: tiny, gpt2-small "
                                  "(default), gpt2-medium, gpt2-xl, 7b, or none")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(info())
    else:
        if not 12 <= args.log2_size <= 34:
            parser.error("--log2-size must lie in [12, 34]")
        if args.model != "none" and args.model not in PRESETS:
            parser.error(f"--model must be none or one of {', '.join(PRESETS)}")
        print(demo(args.log2_size))
        if args.model != "none":
            print()
            print(model_demo(args.model, progress=ProgressBar()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
