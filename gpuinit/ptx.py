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

import contextlib
import errno
import json
import os
import re
import time
from pathlib import Path

from .kernels import fill

DISTRIBUTIONS = {name: code for code, name in fill.DISTRIBUTION_NAMES.items()}
DTYPES = {name: code for code, name in fill.FORMAT_NAMES.items()}


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
    Every kernel is compiled before anything is written: a failed compile (an
    architecture NVVM does not support, say) writes nothing and creates no folder.
    ``out_dir`` (and any missing folder above it) is created only to write the files,
    and removed again when writing them fails.  NotADirectoryError or PermissionError
    naming ``out_dir`` before anything is compiled when it cannot be a folder to write.
    """
    cc = parse_arch(arch)
    folder = Path(out_dir)
    _check_folder(folder)
    from numba import config

    if config.ENABLE_CUDASIM:
        raise RuntimeError("PTX cannot be compiled in Numba's CUDA simulator: unset "
                           "NUMBA_ENABLE_CUDASIM")
    from .kernels import cuda as cuda_kernels

    index, texts = [], []
    for distribution in distributions or DISTRIBUTIONS:
        for dtype in dtypes or DTYPES:
            name = kernel_name(distribution, dtype)
            if report is not None:
                report(f"compiling {name} for sm_{cc[0]}{cc[1]} ...")
            start = time.perf_counter()
            ptx = cuda_kernels.compile_ptx(DISTRIBUTIONS[distribution], DTYPES[dtype], cc)
            seconds = round(time.perf_counter() - start, 3)
            texts.append((f"{name}.ptx", ptx))
            index.append({"file": f"{name}.ptx", "distribution": distribution,
                          "dtype": dtype, "seconds": seconds})
            if report is not None:
                report(f"  {name}: {seconds:.2f} s")
    texts.append(("index.json", json.dumps(index, indent=2) + "\n"))
    _write_files(folder, texts)
    return index


def _check_folder(folder: Path) -> None:
    """Raise NotADirectoryError when ``folder`` (or the nearest existing folder above it) is
    not a folder, PermissionError when it cannot be written into; both name ``folder``."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"--out must be a folder, and {existing} is "
                                 "not one", str(folder))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"--out: cannot write into {existing}", str(folder))


def _write_files(folder: Path, texts: list[tuple[str, str]]) -> None:
    """Write ``(file name, text)`` into ``folder``, creating it (and the folders above it)
    as needed; when a write fails, the folders this call created are removed again,
    with what it wrote in them, and the error names ``folder``."""
    created = []
    missing = folder
    while not missing.exists() and missing != missing.parent:
        created.append(missing)
        missing = missing.parent
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in texts:
            path = folder / name
            written.append(path)
            path.write_text(text)
    except BaseException as exc:
        if created:  # a folder made by this call holds nothing else
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            for path in created:  # innermost first
                with contextlib.suppress(OSError):
                    path.rmdir()
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, f"cannot write the PTX files: {exc.strerror or exc}",
                          str(folder)) from exc
        raise
