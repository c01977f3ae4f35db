"""Allocation and kernel dispatch: the only place that launches the fill kernels.

Arrays are allocated once on their device and filled in place by the fill kernel
of that device; CUDA launches go on CuPy's current stream and do not synchronize.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .devices import Device, array_module, device_of, on_device
from .dtypes import FloatFormat
from .memory import check_fits, out_of_memory


def allocate(shape: tuple[int, ...], dtype: Any, dev: Device):
    """Return an uninitialized C-contiguous array of ``shape`` and NumPy ``dtype`` on ``dev``.

    Raises :class:`OutOfMemoryError` (with bytes asked and free) when the device
    cannot hold it, before anything is allocated: on the CPU the operating
    system's available memory is checked first, since with overcommit an
    oversized ``numpy.empty`` succeeds and the process is killed while it is
    written.  Nothing is left allocated then.
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    xp = array_module(dev)
    if xp is np:
        check_fits(nbytes, dev)
        try:
            return np.empty(shape, dtype=dtype)
        except MemoryError:
            raise out_of_memory(nbytes, dev) from None
        except ValueError as exc:  # dimensions whose product overflows, even with a zero
            raise ValueError(f"shape={tuple(shape)} cannot be allocated: {exc}") from None
    import cupy

    with on_device(dev):
        try:
            return cupy.empty(shape, dtype=dtype)
        except cupy.cuda.memory.OutOfMemoryError:
            raise out_of_memory(nbytes, dev) from None
        except ValueError as exc:
            raise ValueError(f"shape={tuple(shape)} cannot be allocated: {exc}") from None


class Bits16Out:
    """An output given as the 16-bit storage of a float16/bfloat16 array: ``bits`` is a
    uint16 NumPy or CuPy array of the same memory, ``form`` the format it holds.

    What in-place targets hand the sampling primitives for a torch bfloat16 tensor,
    viewed through its uint16 storage on every device: the kernels write the format's
    bit patterns there, rounded and clamped as for any output of that format, with no
    temporary.
    """

    def __init__(self, bits: Any, form: FloatFormat) -> None:
        if np.dtype(bits.dtype) != np.uint16 or form.itemsize != 2:
            raise TypeError(f"Bits16Out holds uint16 storage of a 16-bit format, got "
                            f"{bits.dtype} for {form.name}")
        self.bits = bits
        self.form = form

    shape = property(lambda self: self.bits.shape)
    size = property(lambda self: self.bits.size)
    flags = property(lambda self: self.bits.flags)
    dtype = property(lambda self: self.form.numpy_dtype)


def check_out(out: Any, shape: tuple[int, ...], form: FloatFormat, dev: Device | None) -> Device:
    """Return the device of ``out`` after checking it fits the request: TypeError if it is
    not a NumPy or CuPy array, ValueError if its shape, dtype, layout or device do not."""
    try:
        out_device = device_of(out.bits if isinstance(out, Bits16Out) else out)
    except TypeError:
        raise TypeError(
            f"out must be a numpy or cupy array, got {type(out).__name__}"
        ) from None
    if tuple(out.shape) != shape:
        raise ValueError(f"out has shape {tuple(out.shape)}, expected {shape}")
    if isinstance(out, Bits16Out):
        wrong_dtype = out.form.name != form.name
    else:
        wrong_dtype = np.dtype(out.dtype) != form.numpy_dtype
    if wrong_dtype:
        raise ValueError(f"out has dtype {out.dtype}, expected {form.name}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if dev is not None and dev != out_device:
        raise ValueError(f"out lives on {out_device}, but device={dev} was asked for")
    if out_device.kind == "cpu" and not out.flags.writeable:
        raise ValueError("out is read-only")
    return out_device


def fill(out: Any, form: FloatFormat, dev: Device, n_items: int, args: tuple, *,
         n_values: int) -> None:
    """Run the fill kernel of ``dev`` over ``out`` (n_items work items; ``args`` is
    (dist, fmt, key, rows, law, clamp), see :mod:`gpuinit.kernels.fill`), which
    writes ``n_values`` elements.

    A kernel is never launched on an output of another size: the kernels index
    ``out`` without bounds checks, so a mismatch would write past its end.
    """
    if isinstance(out, Bits16Out):
        out = out.bits
    if int(out.size) != n_values or not out.flags.c_contiguous:
        raise RuntimeError(
            f"gpuinit internal error: a fill writing {n_values} values was launched on an "
            f"output of {out.size} (contiguous: {out.flags.c_contiguous}); nothing was written"
        )
    if n_items == 0 or out.size == 0:
        return
    # np.asarray: a subclass such as np.matrix stays 2-D under reshape(-1).
    flat = (np.asarray(out) if isinstance(out, np.ndarray) else out).reshape(-1)
    flat = flat.view(form.storage_dtype)
    if not dev.is_cuda:
        from .kernels import route

        route.fill(flat, n_items, *args)
        return
    _fill_cuda(flat, dev, n_items, args)


def _fill_cuda(flat: Any, dev: Device, n_items: int, args: tuple) -> None:
    import cupy
    from numba import cuda

    from .kernels import cuda as cuda_kernels

    with on_device(dev):
        stream = cuda.external_stream(cupy.cuda.get_current_stream().ptr)
        # sync=False: the kernel runs on the caller's stream, after the allocation.
        target = cuda.from_cuda_array_interface(
            flat.__cuda_array_interface__, owner=flat, sync=False
        )
        sm_count = cupy.cuda.Device(dev.index).attributes["MultiProcessorCount"]
        config = cuda_kernels.launch_config(n_items, sm_count * 32)
        launch_kernel(target, n_items, args, config, stream)


def launch_kernel(target: Any, n_items: int, args: tuple, config: tuple[int, int],
                  stream: Any) -> None:
    """Launch the fill kernel of ``args`` (see :func:`fill`) over the device array
    ``target`` with ``config`` = (blocks, threads) on ``stream``.  The simulator tests
    call it with NumPy arrays and stream 0, so this part of the CUDA route runs on
    every machine."""
    from .kernels import cuda as cuda_kernels

    blocks, threads = config
    dist, fmt, key, rows, law, clamp = args
    kernel = cuda_kernels.fill_kernel(dist, fmt)
    kernel[blocks, threads, stream](target, n_items, key, rows, law, clamp)
