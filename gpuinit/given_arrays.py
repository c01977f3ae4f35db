"""Arrays that users give (initial weights, constants, a NeuPy ``sample``'s result):
their shape, whether they hold numbers, and their one cast and copy to a device.

Used by the initializers, the layers (``weight=`` arrays, ``set_weights``) and
:mod:`gpuinit.dask`.  A value that is finite before the cast and not after it
(1e39 in float32) raises ValueError naming the argument; nothing is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .devices import Device, to_gpu
from .dtypes import FORMATS, dtype_name
from .fill_values import check_fill_values, is_torch_tensor


def to_device(values: Any, shape: tuple[int, ...] | None, dtype: Any, dev: Device,
              argument: str, *, copy_host: bool = False):
    """Return ``values`` as an array of ``dtype`` on ``dev``, copied at most once.

    A CuPy array already on ``dev`` with the right dtype is used as is; a torch
    tensor is read detached (:func:`plain_array`).  Values must be weights under the rule
    of :mod:`gpuinit.fill_values` (numbers, complex ones for a complex ``dtype``; no
    bools): TypeError naming ``argument`` otherwise.  With ``copy_host`` a NumPy array
    is always copied, so the result never aliases the caller's array.  ValueError
    naming ``argument`` when ``shape`` is given and differs, and when a value that is
    finite in ``values`` is not finite after the cast (:func:`check_cast`).
    """
    target = float_dtype_or_given(dtype)
    values = plain_array(values)
    check_same_shape(values, shape, argument)
    check_fill_values(values, argument, constant=False, target=target)
    with np.errstate(over="ignore", invalid="ignore"):  # check_cast reports what overflows
        result = _cast(values, target, dev, copy_host)
    check_cast(values, result, argument)
    return result


def _cast(values: Any, target: np.dtype, dev: Device, copy_host: bool):
    """Return ``values`` as an array of ``target`` on ``dev`` (see :func:`to_device`)."""
    if dev.is_cuda:
        return to_gpu(values, dev.index, target)
    if hasattr(values, "__cuda_array_interface__") and hasattr(values, "get"):
        values = values.get()  # a CuPy array asked for on the CPU
    return np.array(values, dtype=target, copy=True) if copy_host else \
        np.asarray(values, dtype=target)


def plain_array(values: Any):
    """Return a torch tensor as an array of its values, detached from autograd: a NumPy
    array for a CPU tensor (bfloat16 read as float32, which holds it exactly), a CuPy
    array on its GPU for a CUDA tensor.  Any other value is returned as it is."""
    if not is_torch_tensor(values):
        return values
    values = values.detach()
    if values.is_cuda:
        return to_gpu(values, values.device.index)
    if str(values.dtype) == "torch.bfloat16":  # NumPy has no bfloat16 of torch's
        values = values.float()
    return values.numpy()


def _module_of(array: Any):
    """Return the array module of ``array``: NumPy for NumPy arrays, CuPy otherwise."""
    if isinstance(array, np.ndarray):
        return np
    import cupy

    return cupy


def non_finite(array: Any):
    """Return a boolean array (same module and shape) that is True where ``array`` holds NaN
    or an infinity; 16-bit floats are judged by their exponent bits, integers are finite."""
    xp = _module_of(array)
    name = dtype_name(array.dtype)
    if name in ("float16", "bfloat16"):
        exponent = 0x7C00 if name == "float16" else 0x7F80
        return (array.view(xp.uint16) & exponent) == exponent
    if name not in FORMATS and array.dtype.kind != "c":
        return xp.zeros(array.shape, dtype=bool)
    return ~xp.isfinite(array)


def check_cast(source: Any, result: Any, argument: str) -> None:
    """Raise ValueError naming ``argument`` when a value that is finite in ``source`` is not
    finite in ``result`` (its conversion to ``result.dtype``): a value too large for the
    dtype, such as 1e6 for float16.  NaN and infinities that ``source`` holds are kept as
    they are.  Returns None."""
    lost = non_finite(result)
    if not bool(lost.any()):
        return
    xp = _module_of(result)
    if xp is np and hasattr(source, "__cuda_array_interface__") and hasattr(source, "get"):
        source = source.get()  # CuPy values for a host result
    original = xp.asarray(source)
    lost &= ~non_finite(original)
    if bool(lost.any()):
        index = int(xp.flatnonzero(lost.ravel())[0])
        value = original.ravel()[index].item()
        raise ValueError(f"{argument}: the value {value!r} (element {index}) does not fit in "
                         f"{dtype_name(result.dtype)}; it would become "
                         f"{result.ravel()[index].item()}")


def shape_of(values: Any) -> tuple[int, ...]:
    """Return the shape of an array, nested list or scalar, without copying it."""
    if isinstance(values, (list, tuple)):
        return tuple(np.shape(values))
    return tuple(getattr(values, "shape", np.shape(values)))


def check_same_shape(values: Any, shape: tuple[int, ...] | None, argument: str) -> None:
    """Raise ValueError naming ``argument`` when ``values`` does not have ``shape``."""
    found = shape_of(values)
    if shape is not None and found != tuple(shape):
        raise ValueError(f"{argument} has shape {found}, expected {tuple(shape)}")


def float_dtype_or_given(dtype: Any) -> np.dtype:
    """Return the NumPy dtype for ``dtype`` (float32 when None; bfloat16 via ml_dtypes)."""
    if dtype is None:
        return np.dtype(np.float32)
    name = dtype_name(dtype)
    if name == "bfloat16":
        from .dtypes import BFLOAT16

        return BFLOAT16.numpy_dtype
    try:
        return np.dtype(name)
    except TypeError:
        raise ValueError(f"dtype={dtype!r} is not a dtype") from None
