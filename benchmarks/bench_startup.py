"""Start-up: the first numbers of a new process, with an empty and with a warm cache.

Each case runs in a fresh Python process (the median of ``--repeat`` runs, wall
time of the whole process, interpreter start included):

- ``normal``: ``import gpuinit``, then ``gi.random.normal((1000, 1000), seed=0)``
  on the CPU;
- ``small model``: an Embedding, an LSTM and a Dense layer (he_normal weights,
  zero biases) built on the CPU;
- ``torch``: ``import torch`` and one ``torch.nn.init.xavier_uniform_`` on a
  1000 x 1000 tensor (the cold-start reference);
- ``numpy + numba``: ``import numpy, numba`` and the same normal array from NumPy's
  ``default_rng`` (the warm reference: gpuinit's own dependencies).

"Cold" runs get an empty ``NUMBA_CACHE_DIR`` each, so they compile every kernel
they use; "warm" runs share one that a first run filled.  Python's own bytecode
cache is on (``PYTHONDONTWRITEBYTECODE`` unset), as it is after ``pip install``.  Writes
``benchmarks/results/startup-<device>.md``.

    python benchmarks/bench_startup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpuinit.bench import device_label, write_results
from gpuinit.devices import device

RESULTS = Path(__file__).parent / "results"

CASES = {
    "normal": "import gpuinit as gi; gi.random.normal((1000, 1000), seed=0, device='cpu')",
    "small model": (
        "from gpuinit.layers import Dense, Embedding, Input, LSTM, Sequential; "
        "Sequential([Input(20), Embedding(1000, 64), LSTM(128, weight='he_normal', "
        "bias='zeros'), Dense(10, weight='he_normal', bias='zeros')], seed=0, device='cpu')"
    ),
    "torch": ("import torch; torch.nn.init.xavier_uniform_(torch.empty(1000, 1000))"),
    "numpy + numba": (
        "import numpy, numba; "
        "numpy.random.default_rng(0).standard_normal((1000, 1000), dtype=numpy.float32)"
    ),
}


def _run(code: str, cache_dir: str) -> float:
    """Return the wall seconds of a fresh process running ``code``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, GPUINIT_DEVICE="cpu")
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    # Python's bytecode cache on, as after any pip install (which writes it for the
    # installed packages); an editable checkout writes it on the first run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def measure(repeat: int) -> dict[tuple[str, str], float]:
    """Return {(case, "cold" | "warm"): median seconds}."""
    seconds = {}
    for name, code in CASES.items():
        cold = []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as empty:
                cold.append(_run(code, empty))
        with tempfile.TemporaryDirectory() as shared:
            _run(code, shared)  # fills the cache
            warm = [_run(code, shared) for _ in range(repeat)]
        seconds[(name, "cold")] = statistics.median(cold)
        seconds[(name, "warm")] = statistics.median(warm)
        print(f"{name}: cold {seconds[(name, 'cold')]:.2f} s, "
              f"warm {seconds[(name, 'warm')]:.2f} s", flush=True)
    return seconds


def markdown(seconds: dict, repeat: int, label: str) -> list[str]:
    """Return the report: every case, then the ratios the targets are stated in."""
    torch_cold = seconds[("torch", "cold")]
    numpy_warm = seconds[("numpy + numba", "warm")]
    lines = [
        f"# Start-up on {label}",
        "",
        f"Fresh processes, wall time, median of {repeat}; cold: an empty Numba cache per "
        "run; warm: a cache filled by an earlier run. Produced by "
        "`python benchmarks/bench_startup.py`.",
        "",
        "| case | cold s | warm s |",
        "|---|---|---|",
    ]
    for name in CASES:
        lines.append(f"| {name} | {seconds[(name, 'cold')]:.2f} | "
                     f"{seconds[(name, 'warm')]:.2f} |")
    lines += [
        "",
        "| ratio | value | target |",
        "|---|---|---|",
        f"| normal cold / torch cold | {seconds[('normal', 'cold')] / torch_cold:.2f} | <= 1 |",
        f"| small model cold / torch cold | "
        f"{seconds[('small model', 'cold')] / torch_cold:.2f} | <= 1.5 |",
        f"| normal warm / numpy + numba warm | "
        f"{seconds[('normal', 'warm')] / numpy_warm:.2f} | <= 1.3 |",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Measure, print and write ``startup-<device>.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    label = device_label(device("cpu"))
    seconds = measure(args.repeat)
    path = write_results(args.out, f"startup-{label}", markdown(seconds, args.repeat, label))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
