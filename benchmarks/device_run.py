"""One run on a GPU machine that brings its evidence back within a time budget.

    python benchmarks/device_run.py --out DIR [--budget 450] [--device cuda|cpu]

Runs the steps below in order of value, each in its own process with its own time
limit (never past what is left of ``--budget`` seconds), with gpuinit imported from
this working tree (nothing installed, no network):

 1. versions: Python, NumPy, numba, numba-cuda and its NVVM, CuPy, torch, JAX,
    nvidia-smi, and ``gpuinit info`` (whether and why CUDA is usable);
 2. the first call in a fresh process with an empty kernel cache (compile), then again
    with the cache (load);
 3. ``benchmarks/gpu_agreement.py``: bit agreement with the CPU on windows of 2^28-value
    outputs, blocks, torch tensors in place in every dtype, torch's streams, out of
    memory, and the fill bandwidth against a plain fill;
 4. the tests that need a GPU or run the CUDA kernels (``-m "cuda or cuda_kernels"``),
    failing rather than skipping when no GPU answers;
 5. the benchmarks: sampling, initializers, model build, torch modules;
 6. JAX and the 4-process torch.distributed world, last.

After every step it rewrites, under ``--out`` (at most 8 files): ``summary.md`` and
``summary.json`` (each step's status and seconds, the versions), ``steps.log`` (every
step's output), the agreement's ``.md``/``.json``, and ``benchmarks.tar.gz`` (the result
files the benchmarks wrote), so a run cut short keeps what it did.  Exits 1 when no GPU
was seen (``--device cuda``) or a step failed.

``--device cpu`` is the dry run for machines without a GPU (CI runs it): the same
steps with the CPU in the GPU's place, small sizes, and each benchmark only started
(``--help``), so the script cannot rot between GPU runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

VERSIONS = r"""
import importlib.metadata as md, json, platform, subprocess, sys
found = {"python": sys.version.split()[0], "platform": platform.platform()}
for name in ("numpy", "numba", "numba-cuda", "llvmlite", "cupy-cuda13x", "cupy-cuda12x",
             "torch", "jax", "jaxlib", "ml_dtypes", "scipy", "transformers"):
    try:
        found[name] = md.version(name)
    except md.PackageNotFoundError:
        pass
try:
    from numba.cuda.cudadrv import nvvm
    found["nvvm"] = ".".join(map(str, nvvm.NVVM().get_version()))
    from numba.cuda.cudadrv.libs import get_cudalib
    found["nvvm_path"] = str(get_cudalib("nvvm"))
except Exception as exc:
    found["nvvm"] = f"unavailable ({type(exc).__name__}: {exc})"
try:
    found["nvidia-smi"] = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
         "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout.strip()
except Exception as exc:
    found["nvidia-smi"] = f"unavailable ({type(exc).__name__})"
import gpuinit
found["gpuinit"] = gpuinit.__version__
found["cuda_available"] = gpuinit.cuda_available()
found["cuda_reason"] = gpuinit.devices.cuda_unavailable_reason()
print(json.dumps(found, indent=1))
"""

FIRST_CALL = r"""
import sys, time
t0 = time.perf_counter()
import gpuinit as gi
device = sys.argv[1]
for dtype in ("float32", "bfloat16"):
    start = time.perf_counter()
    x = gi.random.normal((4096, 4096), 0.0, 0.02, seed=0, dtype=dtype, device=device)
    if device == "cuda":
        import cupy
        cupy.cuda.Device().synchronize()
    print(f"first normal((4096, 4096)) {dtype} on {device}: "
          f"{time.perf_counter() - start:.2f} s")
print(f"process total after import: {time.perf_counter() - t0:.2f} s")
"""


@dataclass
class Step:
    """One step: a command, its own time limit, and what it needs."""

    name: str
    command: list[str]
    limit: float
    env: dict = field(default_factory=dict)
    collects_results: bool = False


def steps_for(device: str, python: str, out: Path) -> list[Step]:
    """Return the steps of a run on ``device`` ("cuda", or "cpu" for the dry run)."""
    gpu = device == "cuda"
    first = [python, "-c", FIRST_CALL, device]
    bench = (lambda *a: [python, *a]) if gpu else (lambda script, *a: [python, script, "--help"])
    steps = [
        Step("versions", [python, "-c", VERSIONS], 60),
        # The run's kernel cache starts empty: the first call compiles, the second loads.
        Step("first-call-cold", first, 180),
        Step("first-call-cached", first, 60),
        Step("agreement", [python, "benchmarks/gpu_agreement.py", "--device", device,
                           "--log2", "28" if gpu else "16", "--out", str(out)], 240),
        Step("tests-gpu", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
                           "cuda or cuda_kernels", *([] if gpu else ["tests/test_philox.py"])],
             240, {"GPUINIT_REQUIRE_GPU": "1"} if gpu else {}),
        Step("bench-random", bench("benchmarks/bench_random.py", "--device", device,
                                   "--sizes", "24,28", "--repeat", "5"), 150, {}, True),
        Step("bench-initializers", bench("benchmarks/bench_initializers.py", "--device",
                                         device), 120, {}, True),
        Step("bench-model-build", bench("benchmarks/bench_model_build.py", "--device",
                                        device), 90, {}, True),
        Step("bench-torch", bench("benchmarks/bench_torch.py", "--device", device), 120, {},
             True),
    ]
    if gpu:  # the CPU runs these in the test suite itself
        steps += [
            Step("tests-jax", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/test_jax.py"], 120),
            Step("tests-distributed", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                       "-m", "distributed"], 150),
        ]
    return steps


class Run:
    """The run's state, rewritten under ``out`` after every step."""

    def __init__(self, out: Path, device: str, budget: float) -> None:
        self.out, self.device, self.budget = out, device, budget
        self.started = time.monotonic()
        self.since = time.time()
        self.rows: list[dict] = []
        self.versions: dict = {}
        out.mkdir(parents=True, exist_ok=True)
        self.log = out / "steps.log"
        self.log.write_text("")

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.started)

    def run(self, step: Step, env: dict) -> None:
        limit = min(step.limit, self.left())
        if limit < 10:
            self.record(step, "not run (budget spent)", 0.0)
            return
        start = time.monotonic()
        with self.log.open("a") as log:
            log.write(f"\n===== {step.name} (limit {limit:.0f} s): {' '.join(step.command)}\n")
            log.flush()
            try:
                done = subprocess.run(step.command, cwd=ROOT, env={**env, **step.env},
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, timeout=limit)
                output, status = done.stdout, "ok" if done.returncode == 0 else \
                    f"FAILED (exit {done.returncode})"
            except subprocess.TimeoutExpired as exc:
                output = exc.stdout or ""
                output = output.decode(errors="replace") if isinstance(output, bytes) else output
                status = f"TIMED OUT after {limit:.0f} s"
            log.write(output)
        if step.name == "versions":
            self.versions = _last_json(output)
        if step.collects_results:
            self.collect_results()
        self.record(step, status, time.monotonic() - start, output)

    def record(self, step: Step, status: str, seconds: float, output: str = "") -> None:
        tail = [line for line in output.strip().splitlines() if line.strip()][-3:]
        self.rows.append({"step": step.name, "status": status, "seconds": round(seconds, 1),
                          "last_lines": tail})
        print(f"{step.name}: {status} ({seconds:.1f} s)", flush=True)
        self.write()

    def collect_results(self) -> None:
        """Pack the result files the benchmarks wrote during this run."""
        fresh = [p for p in sorted(RESULTS.glob("*")) if p.is_file()
                 and p.stat().st_mtime >= self.since]
        with tarfile.open(self.out / "benchmarks.tar.gz", "w:gz") as archive:
            for path in fresh:
                archive.add(path, arcname=path.name)

    def gpu_seen(self) -> bool:
        return bool(self.versions.get("cuda_available"))

    def write(self) -> None:
        summary = {"device": self.device, "budget_s": self.budget,
                   "elapsed_s": round(time.monotonic() - self.started, 1),
                   "gpu_seen": self.gpu_seen(), "versions": self.versions, "steps": self.rows}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        lines = [f"# Device run ({self.device})", "",
                 f"budget {self.budget:.0f} s, elapsed {summary['elapsed_s']} s; GPU seen: "
                 f"{self.gpu_seen()}", "", "| step | status | seconds | last lines |",
                 "|---|---|---|---|"]
        for row in self.rows:
            last = " / ".join(line.replace("|", "\\|")[:120] for line in row["last_lines"])
            lines.append(f"| {row['step']} | {row['status']} | {row['seconds']} | {last} |")
        lines += ["", "## Versions", "", "```", json.dumps(self.versions, indent=1), "```"]
        (self.out / "summary.md").write_text("\n".join(lines) + "\n")


def _last_json(output: str) -> dict:
    start = output.find("{")
    try:
        return json.loads(output[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or "device-run")
    parser.add_argument("--budget", type=float, default=450.0,
                        help="seconds for the whole run (default 450)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--only", default=None,
                        help="comma-separated step names to run (default: every step)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gpuinit-device-run-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "NUMBA_CACHE_DIR": str(work / "numba-cache")}
    if args.device == "cuda":
        env.pop("NUMBA_ENABLE_CUDASIM", None)
    run = Run(Path(args.out), args.device, args.budget)
    chosen = None if args.only is None else set(args.only.split(","))
    for step in steps_for(args.device, sys.executable, Path(args.out)):
        if chosen is None or step.name in chosen:
            run.run(step, env)
        if step.name == "versions" and args.device == "cuda" and not run.gpu_seen():
            print(f"no GPU seen: {run.versions.get('cuda_reason')}; stopping", flush=True)
            return 1
    failed = [r["step"] for r in run.rows if r["status"] != "ok"]
    print(f"{len(run.rows) - len(failed)} steps ok; not ok: {failed or 'none'}; "
          f"results in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
