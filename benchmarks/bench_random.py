"""Time gpuinit's sampling primitives side by side with the peers, in one process.

The suite lives in :mod:`gpuinit.bench` (also run by ``gpuinit bench``): NumPy's
``default_rng()`` and torch on the CPU; ``cupy.random`` and torch on the GPU.
Writes ``benchmarks/results/<device>.md``.

    python benchmarks/bench_random.py [--device cpu|cuda] [--sizes 20,25] [--repeat 7]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gpuinit as gi
from gpuinit import bench

RESULTS = Path(__file__).parent / "results"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", default=None, help="log2 sizes, e.g. 20,25")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    dev = gi.device(args.device)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else bench.default_sizes(dev)
    rows, cold = bench.sampling_rows(dev, sizes, args.repeat, report=lambda r: print(r, flush=True))
    path = bench.write_results(RESULTS, bench.device_label(dev),
                               bench.sampling_markdown(dev, rows, cold, args.repeat))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
