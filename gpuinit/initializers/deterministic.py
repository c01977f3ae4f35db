"""Deterministic initializers: Zeros, Ones, Constant, FixedValue, Identity and Dirac.

They accept every dtype (integers and bool too) and make the
array directly on its device; blocks (``full_shape=``/``start=``) are the same
block of the whole tensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arguments import check_fill_value, check_int, check_real
from ..devices import to_gpu
from ..dtypes import check_representable, dtype_name, numeric_dtype
from ..fill_values import check_fill_values, is_torch_tensor
from ..given_arrays import float_dtype_or_given
from ..launch import allocate
from .base import Initializer, Request


def _output(request: Request, value: int | float, argument: str):
    """Return the uninitialized output array of ``request`` on its device, once its
    dtype is known to be numeric (TypeError naming ``dtype``) and to hold ``value``
    (ValueError naming ``argument``); OutOfMemoryError when it does not fit."""
    dtype = numeric_dtype(request.dtype)
    check_representable(value, dtype, argument)
    return allocate(request.shape, dtype, request.device)


class Constant(Initializer):
    """Return an array filled with ``value``: a real scalar, or an array broadcast to the
    shape.  Matches ``keras.initializers.Constant``.

    An array value (NumPy, CuPy, a torch tensor, a nested list) is copied once
    when the initializer is made (a CuPy array or CUDA tensor stays on its GPU);
    each call broadcasts it to the shape, as Keras' ``value * ones(shape)``
    does, except that a value whose broadcast is not exactly ``shape`` is
    refused (ValueError) where Keras returns the larger broadcast shape.  Its
    config holds the array in Keras' serialized form
    (``{"class_name": "__numpy__", "config": {"value": [...], "dtype": ...}}``),
    which Keras' own ``deserialize`` reads, and Keras' configs of array values
    (``"__numpy__"``, ``"__tensor__"``) are read back.  The values must fit the
    dtype asked for: finite in a float dtype, whole numbers in range in an integer one.

    >>> import numpy as np, gpuinit as gi
    >>> gi.initializers.Constant(3.0)((2,), device="cpu")
    array([3., 3.], dtype=float32)
    >>> gi.initializers.Constant([1.0, 2.0])((2, 2), device="cpu")
    array([[1., 2.],
           [1., 2.]], dtype=float32)
    """

    def __init__(self, value: Any = 0.0):
        self.value = constant_value(value)

    def generate(self, request: Request):
        if is_array_value(self.value):
            return fill_from_array(self.value, request, "value")
        out = _output(request, self.value, "value")
        out.fill(self.value)
        return out

    def get_config(self) -> dict:
        return {"value": serialize_value(self.value)}


class FixedValue(Constant):
    """Return a copy of the array ``value``; the shape asked for must be its shape.

    What :func:`gpuinit.initializers.get` makes of an array (NumPy, CuPy, torch
    tensor), as ``keras.initializers.get`` does of a tensor (a function that
    checks the shape and casts), with Keras' ValueError for another shape.  It
    serializes like :class:`Constant`.  Blocks (``full_shape=``/``start=``) are
    the blocks of the array.

    >>> import numpy as np, gpuinit as gi
    >>> gi.initializers.get(np.eye(2))((2, 2), device="cpu")
    array([[1., 0.],
           [0., 1.]], dtype=float32)
    """

    def __init__(self, value):
        if isinstance(value, dict):
            value = _decode_array(value)
        self.value = array_value(value, "value")

    def generate(self, request: Request):
        expected = tuple(self.value.shape)
        if request.full_shape != expected:
            raise ValueError(f"Expected `shape` to be {expected} for direct tensor as "
                             f"initializer. Received shape={request.full_shape}")
        return fill_from_array(self.value, request, "value")


def constant_value(value: Any):
    """Return a Constant's value: a real scalar (an int or a finite float; 0-d arrays
    too) or, for an array, nested list or serialized array, :func:`array_value`."""
    if isinstance(value, dict):
        value = _decode_array(value)
    if isinstance(value, (list, tuple)) or (getattr(value, "ndim", 0) or 0) >= 1:
        return array_value(value, "value")
    return check_fill_value(value, "value")


def is_array_value(value: Any) -> bool:
    """Return True for an array value (NumPy or CuPy), False for a scalar."""
    return hasattr(value, "shape") and hasattr(value, "dtype")


def array_value(value: Any, argument: str):
    """Return a private copy of an array of numbers: NumPy on the host, CuPy for arrays
    already on a GPU (CuPy arrays, CUDA torch tensors).  Bool arrays count as 0 and 1,
    as in ``keras.initializers.Constant``; TypeError for what are not constant fill
    values (str, complex, objects; :mod:`gpuinit.fill_values`), ValueError for ragged
    lists, NaN and infinities."""
    if is_torch_tensor(value):
        value = value.detach()
        if value.is_cuda:
            import cupy

            return _checked(to_gpu(value, value.device.index, copy=True), argument, cupy)
        if str(value.dtype) == "torch.bfloat16":  # NumPy has no bfloat16 of torch's
            value = value.float()
        value = value.numpy()
    if hasattr(value, "__cuda_array_interface__") and hasattr(value, "get"):
        import cupy

        return _checked(value.copy(), argument, cupy)
    try:
        copy = np.array(value, copy=True)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{argument} is not a rectangular array: {exc}") from None
    return _checked(copy, argument, np)


def _checked(array, argument: str, xp):
    """Return ``array`` once it holds constant fill values (bool, integers, real floats:
    the rule of :mod:`gpuinit.fill_values`), all finite; TypeError/ValueError otherwise."""
    check_fill_values(array, argument, constant=True)
    if not _all_finite(array, xp):
        raise ValueError(f"{argument} holds NaN or infinite numbers")
    return array


def _all_finite(array, xp) -> bool:
    """Return True when every value of a numeric array is finite (integers always are)."""
    if dtype_name(array.dtype) == "bfloat16":  # ufuncs read it through float32
        array = array.astype(np.float32)
    elif array.dtype.kind not in "fc":
        return True
    return bool(xp.isfinite(array).all())


def fill_from_array(value, request: Request, argument: str):
    """Return the request's block of ``value`` broadcast to the whole tensor, in the
    dtype asked for (float32 by default) on the request's device.

    ``value`` (NumPy or CuPy) is moved to the device first, then broadcast there.
    ValueError naming ``argument`` when it does not broadcast to exactly the full
    shape, or its values do not fit the dtype (checked before the output is
    allocated); TypeError for a non-numeric dtype."""
    dtype = numeric_dtype(request.dtype)
    xp = request.xp
    with request.on_device():
        source = value.get() if xp is np and not isinstance(value, np.ndarray) else \
            xp.asarray(value)
        full = request.full_shape
        try:
            whole = xp.broadcast_to(source, full)
        except ValueError:
            raise ValueError(f"{argument} of shape {tuple(value.shape)} does not broadcast "
                             f"to shape={full}") from None
        _check_cast(source, dtype, argument, xp)
        block = whole[tuple(slice(s, s + n) for s, n in zip(request.start, request.shape,
                                                             strict=True))]
        out = allocate(request.shape, dtype, request.device)
        out[...] = block
    return out


def _check_cast(value, dtype: np.dtype, argument: str, xp) -> None:
    """Raise ValueError naming ``argument`` when ``value`` cast to ``dtype`` changes:
    an integer dtype must hold whole numbers in range (bool: 0 and 1), a float or
    complex dtype must keep every value finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        cast = value.astype(dtype)
    if dtype.kind in "fc" or dtype_name(dtype) == "bfloat16":
        if not _all_finite(cast, xp):
            raise ValueError(f"{argument} does not fit {dtype_name(dtype)}: some values "
                             "round to ±inf")
        return
    if not bool((cast == value).all()):
        raise ValueError(f"{argument} does not fit {dtype_name(dtype)}: it holds values "
                         "that are not whole numbers in its range")


def serialize_value(value):
    """Return a scalar as it is, an array in Keras' serialized form
    ``{"class_name": "__numpy__", "config": {"value": nested list, "dtype": name}}``."""
    if not is_array_value(value):
        return value
    host = value.get() if hasattr(value, "get") and not isinstance(value, np.ndarray) \
        else value
    name = dtype_name(host.dtype)
    listed = (host.astype(np.float32) if name == "bfloat16" else host).tolist()
    return {"class_name": "__numpy__", "config": {"value": listed, "dtype": name}}


def _decode_array(config: dict) -> np.ndarray:
    """Return the NumPy array of a serialized array (Keras' "__numpy__" or "__tensor__")."""
    if config.get("class_name") not in ("__numpy__", "__tensor__"):
        raise ValueError(f"value={config!r} is not a serialized array "
                         "('__numpy__' or '__tensor__')")
    inner = config.get("config")
    if not isinstance(inner, dict) or "value" not in inner:
        raise ValueError(f"value={config!r}: a serialized array needs 'config': "
                         "{'value': nested list, 'dtype': name}")
    try:
        dtype = float_dtype_or_given(inner.get("dtype"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"value: the serialized array's dtype is not a dtype ({exc})") from None
    try:
        listed = np.array(inner["value"])
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"value: the serialized array is not a rectangular array "
                         f"({exc})") from None
    if listed.dtype.kind in "USOV":  # None, strings, objects
        raise TypeError(f"value: the serialized array holds {type(inner['value']).__name__} "
                        f"{inner['value']!r}, not numbers")
    return listed.astype(dtype)


class Zeros(Constant):
    """Return an array of zeros.  Matches ``keras.initializers.Zeros``."""

    def __init__(self):
        super().__init__(0)

    def get_config(self) -> dict:
        return {}


class Ones(Constant):
    """Return an array of ones.  Matches ``keras.initializers.Ones``."""

    def __init__(self):
        super().__init__(1)

    def get_config(self) -> dict:
        return {}


class Identity(Initializer):
    """Return ``gain`` times the identity matrix (ones on the main diagonal of a 2-D shape,
    square or not).  Matches ``keras.initializers.Identity`` and ``torch.nn.init.eye_``.
    """

    def __init__(self, gain: float = 1.0):
        self.gain = check_real(gain, "gain")

    def generate(self, request: Request):
        if len(request.full_shape) != 2:
            raise ValueError(f"Identity needs a 2-D shape, got shape={request.full_shape}")
        out = _output(request, self.gain, "gain")
        with request.on_device():  # CuPy works on the current GPU: make it the request's
            out.fill(0)
            # The whole tensor's diagonal entries (k, k) that fall inside this block.
            (r0, c0), (n_rows, n_cols) = request.start, request.shape
            first, stop = max(r0, c0), min(r0 + n_rows, c0 + n_cols)
            if first < stop:
                k = request.xp.arange(first, stop)
                out[k - r0, k - c0] = self.gain
        return out

    def get_config(self) -> dict:
        return {"gain": self.gain}


class Dirac(Initializer):
    """Return a convolution kernel that passes each input channel through unchanged.

    Keras layout ``(*spatial, in, out)`` with 1 to 3 spatial dimensions: with
    ``groups`` groups of out/groups output channels, output channel
    g·(out/groups) + d of group g takes input channel d at the spatial centre
    (index k // 2), for d < min(out/groups, in); everything else is 0.  The
    Keras-layout counterpart of ``torch.nn.init.dirac_`` (see
    :func:`gpuinit.init.dirac_` for PyTorch's layout).
    """

    def __init__(self, groups: int = 1):
        self.groups = check_int(groups, "groups", 1)

    def generate(self, request: Request):
        shape = request.full_shape
        if len(shape) not in (3, 4, 5):
            raise ValueError(f"Dirac needs a 3-D, 4-D or 5-D shape, got shape={shape}")
        n_in, n_out = shape[-2], shape[-1]
        if n_out % self.groups:
            raise ValueError(
                f"the {n_out} output channels are not divisible by groups={self.groups}"
            )
        out = _output(request, 1, "groups")
        with request.on_device():  # CuPy works on the current GPU: make it the request's
            out.fill(0)
            # The block holds ones only if it holds the spatial centre of every axis.
            centre = [k // 2 - first
                      for k, first in zip(shape[:-2], request.start, strict=False)]
            if not all(0 <= c < n for c, n in zip(centre, request.shape, strict=False)):
                return out
            xp = request.xp
            per_group = n_out // self.groups
            in_first, out_first = request.start[-2], request.start[-1]
            cout = xp.arange(out_first, out_first + request.shape[-1])
            d = cout % per_group  # the input channel each output channel passes through
            hit = ((d < min(per_group, n_in)) & (d >= in_first)
                   & (d < in_first + request.shape[-2]))
            out[(*centre, d[hit] - in_first, cout[hit] - out_first)] = 1
        return out

    def get_config(self) -> dict:
        return {"groups": self.groups}
