"""Time gpuinit's sampling primitives side by side with the peers, in one process.

The same run as ``gpuinit bench`` (the suite lives in :mod:`gpuinit.bench`):
NumPy's ``default_rng()`` and torch on the CPU; ``cupy.random`` and torch on the
GPU.  Writes ``benchmarks/results/<device>.md`` next to this script.

    python benchmarks/bench_random.py [--device cpu|cuda] [--sizes 20,25] [--repeat 7]
"""

from __future__ import annotations

import sys
from pathlib import Path

from gpuinit.cli import main as gpuinit_main

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    """Run ``gpuinit bench`` with ``argv`` (default: the command line), results here."""
    args = sys.argv[1:] if argv is None else argv
    return gpuinit_main(["bench", "--out", str(RESULTS), *args])


if __name__ == "__main__":
    raise SystemExit(main())
