"""The static shape of every CUDA kernel, with no GPU: registers, spills, instruction mix.

Compiles each (distribution, dtype) kernel to PTX (``gpuinit compile --ptx``), assembles
it with ``ptxas -arch=sm_90`` and disassembles it with ``cuobjdump -sass``, all from
pip (the ``static`` extra: ``pip install -e ".[static]"``), and writes
``benchmarks/results/cuda-static-sm_90.md``:

- registers and spill bytes (``ptxas -v``);
- SASS instructions per output element: the kernel's instructions, NOPs excluded,
  divided by the elements one work item writes (4, or 2 for float64); a static
  count over the whole kernel, cold paths (rejection retries, inverse CDF) included;
- FP64 instructions (D* arithmetic, conversions to and from float64);
- global store instructions by width, and 64-bit integer divisions (calls to the
  division subroutine).

    python benchmarks/cuda_static.py [--arch sm_90] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from gpuinit import ptx

RESULTS = Path(__file__).parent / "results"
FP64 = re.compile(r"^(DFMA|DMUL|DADD|DSETP|DMNMX|DSET|F2F\.F64|F2F\.F32\.F64|I2F\.F64|"
                  r"F2I\.F64|F2I\.[SU]\d+\.F64|I2F\.F64\.\w+|DRCP|MUFU\.RCP64H|MUFU\.RSQ64H)")


def _tool(name: str) -> str:
    """Return the path of a CUDA binary shipped by pip's nvidia packages."""
    import nvidia

    for root in nvidia.__path__:
        for found in Path(root).glob(f"cu*/bin/{name}"):
            return str(found)
        for found in Path(root).glob(f"*/bin/{name}"):
            return str(found)
    raise SystemExit(f"{name} not found: pip install -e \".[static]\"")


def _opcodes(sass: str) -> list[str]:
    """Return the opcode (with modifiers) of every SASS instruction, NOPs excluded."""
    codes = []
    for line in sass.splitlines():
        found = re.match(r"\s*/\*[0-9a-f]{4}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)", line)
        if found and found.group(1) != "NOP":
            codes.append(found.group(1))
    return codes


def analyse(ptx_file: Path, arch: str) -> dict:
    """Return the static facts of one kernel's PTX assembled for ``arch``."""
    cubin = ptx_file.with_suffix(".cubin")
    done = subprocess.run([_tool("ptxas"), f"-arch={arch}", "-v", str(ptx_file), "-o",
                           str(cubin)], capture_output=True, text=True, check=True)
    info = done.stderr + done.stdout
    registers = int(re.search(r"Used (\d+) registers", info).group(1))
    spills = sum(int(n) for n in re.findall(r"(\d+) bytes spill (?:stores|loads)", info))
    sass = subprocess.run([_tool("cuobjdump"), "-sass", str(cubin)], capture_output=True,
                          text=True, check=True).stdout
    codes = _opcodes(sass)
    stores = Counter(c for c in codes if c.startswith("STG"))
    return {"registers": registers, "spill_bytes": spills, "instructions": len(codes),
            "fp64": sum(1 for c in codes if FP64.match(c)), "stores": dict(stores),
            "calls": sum(1 for c in codes if c.startswith("CALL"))}


def store_width(store: str) -> int:
    """Return the bits one global store instruction writes (STG.E.128 -> 128)."""
    found = re.search(r"\.(128|64|U16|S16|U8|S8)\b", store)
    if found is None:
        return 32
    return {"128": 128, "64": 64}.get(found.group(1), 16 if "16" in found.group(1) else 8)


def main(argv: list[str] | None = None) -> int:
    """Write the static report of every kernel; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        index = ptx.export_ptx(args.arch, work, report=lambda line: print(line, flush=True))
        for entry in index:
            facts = analyse(Path(work) / entry["file"], args.arch)
            per_item = 2 if entry["dtype"] == "float64" else 4
            widths = sorted({store_width(s) for s in facts["stores"]})
            rows.append(
                f"| {entry['distribution']} | {entry['dtype']} | {entry['seconds']:.1f} | "
                f"{facts['registers']} | {facts['spill_bytes']} | "
                f"{facts['instructions'] / per_item:.0f} | {facts['fp64']} | "
                f"{', '.join(f'{n}x {s}' for s, n in sorted(facts['stores'].items()))} | "
                f"{'/'.join(str(w) for w in widths)} | {facts['calls']} |")
    out = Path(args.out) / f"cuda-static-{args.arch}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join([
        f"# CUDA kernels, static (ptxas -arch={args.arch}, cuobjdump -sass)",
        "",
        "Produced by `python benchmarks/cuda_static.py` with no GPU. PTX seconds: host time "
        "of `numba.cuda.compile_ptx` for the kernel, in one process (the first kernel also "
        "compiles the shared device functions). Instructions per element: the whole "
        "kernel's SASS instructions (NOPs excluded, cold paths included) over the elements "
        "one work item writes. FP64: D* arithmetic and float64 conversions. Calls: CALL "
        "instructions (64-bit integer division and other subroutines).",
        "",
        "| distribution | dtype | PTX s | registers | spill bytes | SASS instr/element | "
        "FP64 instr | global stores | store bits | calls |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows, ""]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
