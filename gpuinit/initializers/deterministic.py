"""Deterministic initializers: Zeros, Ones, Constant, Identity and Dirac.

They accept every dtype (integers and bool too, DESIGN.md §5) and make the
array directly on its device; blocks (``full_shape=``/``start=``) are the same
block of the whole tensor.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_fill_value, check_int, check_real
from .base import Initializer, Request, float_dtype_or_given


def _full(request: Request, value):
    xp = request.xp
    dtype = float_dtype_or_given(request.dtype)
    if xp is np:
        return np.full(request.shape, value, dtype=dtype)
    import cupy

    with cupy.cuda.Device(request.device.index):
        return cupy.full(request.shape, value, dtype=dtype)


class Constant(Initializer):
    """Return an array filled with ``value``.  Matches ``keras.initializers.Constant``.

    >>> import gpuinit as gi
    >>> gi.initializers.Constant(3.0)((2,), device="cpu")
    array([3., 3.], dtype=float32)
    """

    def __init__(self, value: float = 0.0):
        self.value = check_fill_value(value, "value")

    def generate(self, request: Request):
        return _full(request, self.value)

    def get_config(self) -> dict:
        return {"value": self.value}


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


def _positions(request: Request, axis: int):
    """Return the whole-tensor indices of the block along ``axis``, on the device."""
    first = request.start[axis]
    return request.xp.arange(first, first + request.shape[axis])


class Identity(Initializer):
    """Return ``gain`` times the identity matrix (ones on the main diagonal of a 2-D shape,
    square or not).  Matches ``keras.initializers.Identity`` and ``torch.nn.init.eye_``.
    """

    def __init__(self, gain: float = 1.0):
        self.gain = check_real(gain, "gain")

    def generate(self, request: Request):
        if len(request.shape) != 2:
            raise ValueError(
                f"Identity needs a 2-D shape, got shape={request.shape}"
            )
        rows = _positions(request, 0)[:, None]
        cols = _positions(request, 1)[None, :]
        dtype = float_dtype_or_given(request.dtype)
        return ((rows == cols) * self.gain).astype(dtype)

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
        xp = request.xp
        per_group = n_out // self.groups
        hit = None
        for axis, k in enumerate(shape[:-2]):
            at_centre = _positions(request, axis) == k // 2
            hit = _outer(xp, hit, at_centre)
        cin = _positions(request, len(shape) - 2)
        cout = _positions(request, len(shape) - 1)
        d = cout % per_group
        channel = (d[None, :] == cin[:, None]) & (d[None, :] < min(per_group, n_in))
        hit = _outer(xp, hit, channel)
        return hit.astype(float_dtype_or_given(request.dtype))

    def get_config(self) -> dict:
        return {"groups": self.groups}


def _outer(xp, acc, mask):
    """Return the broadcast AND of ``acc`` (over the leading axes) and ``mask``."""
    if acc is None:
        return mask
    return acc.reshape(acc.shape + (1,) * mask.ndim) & mask.reshape((1,) * acc.ndim + mask.shape)
