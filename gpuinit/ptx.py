"""Every CUDA kernel gpuinit launches, compiled to PTX ahead of time with no GPU.

``gpuinit compile --ptx sm_90 --out DIR`` writes ``DIR/<name>.ptx`` for each
(distribution, output dtype) kernel and ``DIR/index.json``, a list of
``{"file", "distribution", "dtype", "seconds"}``.  Needs numba-cuda and NVVM
from pip (the ``cuda13``/``cuda12`` extra), not a driver.  ``ptxas`` and
``cuobjdump`` (pip's ``nvidia-cuda-nvcc``, ``nvidia-cuda-cuobjdump``) turn the
files into SASS: ``benchmarks/cuda_static.py`` reports registers, spills and the
instruction mix from them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from .kernels import fill

DISTRIBUTIONS = {"uniform": fill.DIST_UNIFORM, "normal": fill.DIST_NORMAL,
                 "truncated_normal": fill.DIST_TRUNCATED_NORMAL}
DTYPES = {"float32": fill.FMT_FLOAT32, "float64": fill.FMT_FLOAT64,
          "float16": fill.FMT_FLOAT16, "bfloat16": fill.FMT_BFLOAT16}


def parse_arch(arch: str) -> tuple[int, int]:
    """Return the compute capability of an architecture name ("sm_90" -> (9, 0));
    ValueError naming ``arch`` otherwise."""
    found = re.fullmatch(r"(?:sm_|compute_)?(\d+)(\d)", str(arch).strip().lower())
    if found is None:
        raise ValueError(f"--ptx {arch!r} is not a CUDA architecture such as sm_90 or sm_80")
    return int(found.group(1)), int(found.group(2))


def kernel_name(distribution: str, dtype: str) -> str:
    """Return the file stem of the kernel of (distribution, dtype): "normal-float32"."""
    return f"{distribution}-{dtype}"


def export_ptx(arch: str, out_dir, distributions=None, dtypes=None,
               report=None) -> list[dict]:
    """Compile every (distribution, dtype) kernel for ``arch`` into ``out_dir`` and return
    the index written to ``out_dir/index.json``.

    ``report(line)`` is called before and after each kernel (progress for the CLI).
    """
    cc = parse_arch(arch)
    from numba import config

    if config.ENABLE_CUDASIM:
        raise RuntimeError("PTX cannot be compiled in Numba's CUDA simulator: unset "
                           "NUMBA_ENABLE_CUDASIM")
    from .kernels import cuda as cuda_kernels

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for distribution in distributions or DISTRIBUTIONS:
        for dtype in dtypes or DTYPES:
            name = kernel_name(distribution, dtype)
            if report is not None:
                report(f"compiling {name} for sm_{cc[0]}{cc[1]} ...")
            start = time.perf_counter()
            ptx = cuda_kernels.compile_ptx(DISTRIBUTIONS[distribution], DTYPES[dtype], cc)
            seconds = round(time.perf_counter() - start, 3)
            (folder / f"{name}.ptx").write_text(ptx)
            index.append({"file": f"{name}.ptx", "distribution": distribution,
                          "dtype": dtype, "seconds": seconds})
            if report is not None:
                report(f"  {name}: {seconds:.2f} s")
    (folder / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index
