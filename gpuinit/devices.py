"""Where arrays live: the one module that knows whether CUDA is usable.

CUDA is usable when CuPy imports, a CUDA device answers and numba-cuda is
installed.  CuPy and numba-cuda are imported lazily, on the first question, so
``import gpuinit`` works on machines with neither.  Everything else in gpuinit
asks this module (:func:`cuda_available`, :func:`device`, :func:`array_module`),
and places arrays on a GPU through it (:func:`on_device`, :func:`to_gpu`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DeviceError
from .fill_values import is_torch_tensor

ENV_DEVICE = "GPUINIT_DEVICE"
INSTALL_HINT = ('install the CUDA extra of your CUDA major version: pip install "gpuinit[cuda13]" '
                'or "gpuinit[cuda12]"')


@dataclass(frozen=True)
class Device:
    """A resolved device: ``kind`` is "cpu" or "cuda", ``index`` the CUDA ordinal."""

    kind: str
    index: int = 0

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"

    def __repr__(self) -> str:
        return f"device('{self}')"

    @property
    def is_cuda(self) -> bool:
        """Return True for a CUDA device."""
        return self.kind == "cuda"


CPU = Device("cpu")

_lock = threading.Lock()
_probe: dict[str, Any] = {}
_default_spec: str | None = None


def _probe_cuda() -> dict[str, Any]:
    """Return {'ok': bool, 'reason': str | None, 'count': int}, probing once."""
    with _lock:
        if _probe:
            return _probe
        result: dict[str, Any] = {"ok": False, "reason": None, "count": 0}
        try:
            import cupy
        except Exception as exc:  # ImportError, or a broken CUDA install
            result["reason"] = (f"CuPy is not importable ({type(exc).__name__}: {exc}); "
                                f"{INSTALL_HINT}")
        else:
            try:
                result["count"] = int(cupy.cuda.runtime.getDeviceCount())
            except Exception as exc:
                result["reason"] = f"no CUDA driver or device answers ({type(exc).__name__}: {exc})"
            else:
                if result["count"] == 0:
                    result["reason"] = "CuPy found no CUDA device"
        if result["reason"] is None:
            try:
                from numba import config

                if config.ENABLE_CUDASIM:
                    raise ImportError("NUMBA_ENABLE_CUDASIM=1 selects the simulator")
                import numba.cuda  # noqa: F401
            except Exception as exc:
                result["reason"] = (f"numba-cuda is not usable ({type(exc).__name__}: {exc}); "
                                    f"{INSTALL_HINT}")
            else:
                # numba.cuda imports even where its compiler cannot load (a NumPy newer
                # than the numba-cuda release knows): ask the compiler itself.
                from .kernels.numba_cuda_support import compiler_problem

                result["reason"] = compiler_problem()
        result["ok"] = result["reason"] is None
        _probe.update(result)
        return _probe


def cuda_available() -> bool:
    """Return True when CuPy imports, a CUDA device answers and numba-cuda is there."""
    return bool(_probe_cuda()["ok"])


def cuda_unavailable_reason() -> str | None:
    """Return why CUDA cannot be used, or None when it can."""
    return _probe_cuda()["reason"]


def cuda_device_count() -> int:
    """Return the number of CUDA devices CuPy sees (0 when CUDA is unusable)."""
    probe = _probe_cuda()
    return probe["count"] if probe["ok"] else 0


def _parse(spec: Any) -> Device:
    """Return the Device named by ``spec`` ("auto", "cpu", "cuda", "cuda:N", Device)."""
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        # A torch.device or similar: use its string form.
        if hasattr(spec, "type"):
            index = getattr(spec, "index", None)
            spec = spec.type if index is None else f"{spec.type}:{index}"
        else:
            raise TypeError(f"device must be a str or Device, got {type(spec).__name__}")
    text = spec.strip().lower()
    if text == "auto":
        return Device("cuda", 0) if cuda_available() else CPU
    if text == "cpu":
        return CPU
    if text == "cuda" or text.startswith("cuda:"):
        index_text = text[5:] if ":" in text else "0"
        if not index_text.isdigit():
            raise ValueError(f"device {spec!r}: the CUDA index must be a non-negative integer")
        index = int(index_text)
        if not cuda_available():
            raise DeviceError(f"device {spec!r} is not usable: {cuda_unavailable_reason()}")
        count = cuda_device_count()
        if index >= count:
            raise DeviceError(f"device {spec!r} does not exist: {count} CUDA device(s) found")
        return Device("cuda", index)
    raise ValueError(f"device {spec!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N'")


def device(spec: Any = None) -> Device:
    """Return the resolved Device for ``spec``; None means the default device.

    "auto" picks CUDA device 0 when :func:`cuda_available`, else the CPU.  "cuda"
    without a usable GPU raises :class:`DeviceError` saying why.
    """
    if spec is None:
        spec = _default_spec if _default_spec is not None else os.environ.get(ENV_DEVICE, "auto")
    return _parse(spec)


def set_default_device(spec: Any) -> Device:
    """Set the device used when none is given; returns it resolved.

    The environment variable ``GPUINIT_DEVICE`` gives the initial default ("auto").
    Passing None returns to that environment default.
    """
    global _default_spec
    if spec is None:
        _default_spec = None
        return device()
    resolved = _parse(spec)
    _default_spec = str(resolved) if not isinstance(spec, str) or spec.lower() != "auto" else "auto"
    return resolved


def array_module(dev: Device):
    """Return the array module of ``dev``: numpy for the CPU, cupy for CUDA."""
    if dev.is_cuda:
        import cupy

        return cupy
    return np


def device_of(array: Any) -> Device:
    """Return the Device an array lives on (NumPy -> cpu, CuPy -> cuda:N)."""
    if isinstance(array, np.ndarray):
        return CPU
    dev = getattr(array, "device", None)
    if type(array).__module__.startswith("cupy") and dev is not None:
        return Device("cuda", int(dev.id))
    raise TypeError(f"expected a numpy or cupy array, got {type(array).__name__}")


def on_device(dev: Device | int):
    """Return a context manager that makes ``dev`` (a Device, or a CUDA index) CuPy's
    current GPU for the block; a no-op for the CPU.  CuPy allocates and computes on
    the current GPU, so every CuPy call on a request's arrays runs inside one."""
    if isinstance(dev, Device) and not dev.is_cuda:
        return contextlib.nullcontext()
    import cupy

    return cupy.cuda.Device(dev.index if isinstance(dev, Device) else int(dev))


def to_gpu(values: Any, index: int, dtype: Any = None, copy: bool = False):
    """Return ``values`` (any array: NumPy, CuPy, a torch CUDA tensor, nested lists) as a
    CuPy array on CUDA device ``index``, converted to ``dtype`` when given; copied only
    where needed (always if ``copy``).  Matches ``cupy.array`` on that device."""
    import cupy

    with on_device(index):
        return cupy.array(values, dtype=dtype, copy=copy) if copy else \
            cupy.asarray(values, dtype=dtype)


def torch_stream_of(tensor: Any):
    """Return a context manager under which CuPy's current device and stream are those
    torch is using for ``tensor`` (a torch CUDA tensor): its device, and torch's current
    stream there, as a CuPy external stream.

    gpuinit's kernels and CuPy calls launch on CuPy's current stream; inside this block
    they are queued after the work torch already queued on its stream (inside
    ``torch.cuda.stream(s)``, after the work on ``s``), as torch's own in-place ops are.
    A no-op for anything else (NumPy and CuPy arrays, CPU and meta tensors).
    """
    if not is_torch_tensor(tensor) or not getattr(tensor, "is_cuda", False):
        return contextlib.nullcontext()
    import cupy
    import torch

    index = tensor.device.index if tensor.device.index is not None else \
        torch.cuda.current_device()
    pointer = torch.cuda.current_stream(index).cuda_stream
    stack = contextlib.ExitStack()
    stack.enter_context(on_device(index))
    stack.enter_context(cupy.cuda.ExternalStream(pointer, index))
    return stack
