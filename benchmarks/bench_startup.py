"""Start-up: the first numbers of a new process, with an empty and with a warm cache.

Each case runs in a fresh Python process (the median of ``--repeat`` runs, wall
time of the whole process, interpreter start included):

- ``normal 4096^2 bfloat16``: ``import gpuinit``, then
  ``gi.random.normal((4096, 4096), dtype="bfloat16")`` on the CPU;
- ``normal 1000^2``: the same with ``gi.random.normal((1000, 1000))`` (float32);
- ``small model``: an Embedding, an LSTM and a Dense layer (he_normal weights,
  zero biases) built on the CPU;
- ``gpuinit demo``: the README's first command (``gpuinit demo`` on the CPU);
- ``quickstart``: ``examples/quickstart.py``;
- ``torch``: ``import torch`` and ``torch.empty(4096, 4096,
  dtype=torch.bfloat16).normal_()`` (the reference of the targets);
- ``numpy + numba``: ``import numpy, numba`` and a 1000 x 1000 normal array from
  NumPy's ``default_rng`` (gpuinit's own dependencies).

"Cold" runs get an empty ``NUMBA_CACHE_DIR`` each; "warm" runs share one that
``gpuinit compile`` filled first.  Each run is its own process group, ended with
the run: a compile that a cold run starts in the background for later processes
is stopped with it, so it neither warms the next run nor competes with it.
Python's own bytecode cache is on (``PYTHONDONTWRITEBYTECODE`` unset), as after
``pip install``.  Writes ``benchmarks/results/startup-<device>.md``.

    python benchmarks/bench_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpuinit.bench import device_label, write_results
from gpuinit.devices import device

RESULTS = Path(__file__).parent / "results"

ROOT = Path(__file__).resolve().parent.parent
TORCH = "torch"
CASES = {
    "normal 4096^2 bfloat16": [
        "-c", "import gpuinit as gi; "
        "gi.random.normal((4096, 4096), 0.0, 0.02, seed=0, dtype='bfloat16', device='cpu')"],
    "normal 1000^2": [
        "-c", "import gpuinit as gi; gi.random.normal((1000, 1000), seed=0, device='cpu')"],
    "small model": [
        "-c", "from gpuinit.layers import Dense, Embedding, Input, LSTM, Sequential; "
        "Sequential([Input(20), Embedding(1000, 64), LSTM(128, weight='he_normal', "
        "bias='zeros'), Dense(10, weight='he_normal', bias='zeros')], seed=0, device='cpu')"],
    "gpuinit demo": ["-m", "gpuinit.cli", "demo"],
    "quickstart": [str(ROOT / "examples" / "quickstart.py")],
    TORCH: ["-c", "import torch; torch.empty(4096, 4096, dtype=torch.bfloat16).normal_()"],
    "numpy + numba": [
        "-c", "import numpy, numba; "
        "numpy.random.default_rng(0).standard_normal((1000, 1000), dtype=numpy.float32)"],
}


def _run(args: list[str], cache_dir: str) -> float:
    """Return the wall seconds of a fresh process running ``args``; whatever it leaves
    running in its process group (a background compile) is ended with it."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, GPUINIT_DEVICE="cpu")
    for name in ("NUMBA_ENABLE_CUDASIM", "GPUINIT_CPU_LOOPS"):
        env.pop(name, None)
    # Python's bytecode cache on, as after any pip install (which writes it for the
    # installed packages); an editable checkout writes it on the first run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        code = process.wait()
        seconds = time.perf_counter() - start
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if code != 0:
        raise RuntimeError(f"{args} exited with {code}")
    return seconds


def measure(repeat: int) -> dict[tuple[str, str], float]:
    """Return {(case, "cold" | "warm"): median seconds}; the cases take turns within each
    repetition, so a slow spell of the machine touches all of them alike."""
    runs: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as shared:
        subprocess.run([sys.executable, "-m", "gpuinit.cli", "compile", "--device", "cpu"],
                       env=dict(os.environ, NUMBA_CACHE_DIR=shared), check=True,
                       stdout=subprocess.DEVNULL)
        for _ in range(repeat):
            for name, args in CASES.items():
                with tempfile.TemporaryDirectory() as empty:
                    runs.setdefault((name, "cold"), []).append(_run(args, empty))
                runs.setdefault((name, "warm"), []).append(_run(args, shared))
    seconds = {key: statistics.median(values) for key, values in runs.items()}
    for name in CASES:
        print(f"{name}: cold {seconds[(name, 'cold')]:.2f} s, "
              f"warm {seconds[(name, 'warm')]:.2f} s", flush=True)
    return seconds


def markdown(seconds: dict, repeat: int, label: str) -> list[str]:
    """Return the report: every case, then the ratios the targets are stated in."""
    lines = [
        f"# Start-up on {label}",
        "",
        f"Fresh processes, wall time, median of {repeat}; cold: an empty Numba cache per "
        "run; warm: a cache that `gpuinit compile` filled. Produced by "
        "`python benchmarks/bench_startup.py`.",
        "",
        "| case | cold s | warm s |",
        "|---|---|---|",
    ]
    for name in CASES:
        lines.append(f"| {name} | {seconds[(name, 'cold')]:.2f} | "
                     f"{seconds[(name, 'warm')]:.2f} |")
    lines += ["", "Ratios to the torch reference of the same run (`import torch` and "
              "`torch.empty(4096, 4096, dtype=torch.bfloat16).normal_()`):", "",
              "| case | cold / torch | warm / torch | target |", "|---|---|---|---|"]
    targets = {"normal 4096^2 bfloat16": "<= 1.0", "gpuinit demo": "<= 4 (cold)",
               "quickstart": "<= 1.5", "normal 1000^2": "", "small model": ""}
    for name, target in targets.items():
        lines.append(f"| {name} | {seconds[(name, 'cold')] / seconds[(TORCH, 'cold')]:.2f} | "
                     f"{seconds[(name, 'warm')] / seconds[(TORCH, 'warm')]:.2f} | {target} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Measure, print and write ``startup-<device>.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    label = device_label(device("cpu"))
    seconds = measure(args.repeat)
    path = write_results(args.out, f"startup-{label}", markdown(seconds, args.repeat, label))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
