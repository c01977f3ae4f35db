"""Deterministic initializers: Zeros, Ones, Constant, Identity and Dirac.

They accept every dtype (integers and bool too, DESIGN.md §5) and make the
array directly on its device; blocks (``full_shape=``/``start=``) are the same
block of the whole tensor.
"""

from __future__ import annotations

from ..checks import check_fill_value, check_int, check_real
from ..dtypes import check_representable, numeric_dtype
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
    """Return an array filled with ``value``.  Matches ``keras.initializers.Constant``.

    >>> import gpuinit as gi
    >>> gi.initializers.Constant(3.0)((2,), device="cpu")
    array([3., 3.], dtype=float32)
    """

    def __init__(self, value: float = 0.0):
        self.value = check_fill_value(value, "value")

    def generate(self, request: Request):
        out = _output(request, self.value, "value")
        out.fill(self.value)
        return out

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
        out = _output(request, self.gain, "gain")
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
        out.fill(0)
        # The block holds ones only if it holds the spatial centre of every axis.
        centre = [k // 2 - first for k, first in zip(shape[:-2], request.start, strict=False)]
        if not all(0 <= c < n for c, n in zip(centre, request.shape, strict=False)):
            return out
        xp = request.xp
        per_group = n_out // self.groups
        in_first, out_first = request.start[-2], request.start[-1]
        cout = xp.arange(out_first, out_first + request.shape[-1])
        d = cout % per_group  # the input channel each output channel passes through
        hit = (d < min(per_group, n_in)) & (d >= in_first) & (d < in_first + request.shape[-2])
        out[(*centre, d[hit] - in_first, cout[hit] - out_first)] = 1
        return out

    def get_config(self) -> dict:
        return {"groups": self.groups}
