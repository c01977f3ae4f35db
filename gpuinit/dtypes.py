"""Floating dtypes of gpuinit: resolution, kernel formats and representable bounds.

float32 (default), float64, float16 and bfloat16.  bfloat16 arrays use
``ml_dtypes.bfloat16`` (NumPy and CuPy); the kernels write 16-bit formats as bit
patterns through a ``uint16`` view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .kernels.convert import (
    BFLOAT16_MIN_NORMAL,
    BFLOAT16_P,
    FLOAT16_MIN_NORMAL,
    FLOAT16_P,
    float_to_bits16,
)
from .kernels.fill import FMT_BFLOAT16, FMT_FLOAT16, FMT_FLOAT32, FMT_FLOAT64


@dataclass(frozen=True)
class FloatFormat:
    """A supported floating dtype: its name, kernel format code and limits."""

    name: str
    fmt: int
    itemsize: int
    max: float  # largest finite value

    @property
    def numpy_dtype(self) -> np.dtype:
        """Return the NumPy dtype (ml_dtypes.bfloat16 for bfloat16)."""
        if self.name == "bfloat16":
            return np.dtype(_bfloat16())
        return np.dtype(self.name)

    @property
    def storage_dtype(self) -> np.dtype:
        """Return the dtype the kernels write through (uint16 for 16-bit formats)."""
        return np.dtype(np.uint16) if self.itemsize == 2 else np.dtype(self.name)

    @property
    def wide(self) -> bool:
        """Return True when values come from 64-bit draws (float64)."""
        return self.fmt == FMT_FLOAT64


FLOAT32 = FloatFormat("float32", FMT_FLOAT32, 4, float(np.finfo(np.float32).max))
FLOAT64 = FloatFormat("float64", FMT_FLOAT64, 8, float(np.finfo(np.float64).max))
FLOAT16 = FloatFormat("float16", FMT_FLOAT16, 2, 65504.0)
BFLOAT16 = FloatFormat("bfloat16", FMT_BFLOAT16, 2, float.fromhex("0x1.fep127"))
FORMATS = {f.name: f for f in (FLOAT32, FLOAT64, FLOAT16, BFLOAT16)}
_ALIASES = {"float": "float32", "single": "float32", "double": "float64", "half": "float16",
            "f4": "float32", "f8": "float64", "f2": "float16", "bf16": "bfloat16"}


def _bfloat16():
    try:
        import ml_dtypes
    except ImportError as exc:
        raise ImportError(
            "bfloat16 arrays need the ml_dtypes package: pip install ml_dtypes"
        ) from exc
    return ml_dtypes.bfloat16


def dtype_name(dtype: Any) -> str:
    """Return the canonical name of a dtype-like (str, NumPy/CuPy/torch dtype, type)."""
    if isinstance(dtype, str):
        return _ALIASES.get(dtype.lower(), dtype.lower())
    text = str(dtype)
    if text.startswith("torch."):
        return _ALIASES.get(text[6:], text[6:])
    try:
        return np.dtype(dtype).name
    except TypeError:
        name = getattr(dtype, "__name__", None) or getattr(dtype, "name", None)
        if name:
            return str(name).lower()
        raise TypeError(f"dtype must be a dtype or its name, got {type(dtype).__name__}") from None


def float_format(dtype: Any, argument: str = "dtype") -> FloatFormat:
    """Return the FloatFormat of ``dtype``; ValueError for integer, bool or other dtypes."""
    if dtype is None:
        return FLOAT32
    name = dtype_name(dtype)
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(
            f"{argument}={name!r} is not supported: random values need one of "
            f"{', '.join(FORMATS)}"
        ) from None


def encode16(x: float, form: FloatFormat) -> int:
    """Return the bit pattern of float ``x`` rounded to nearest-even in a 16-bit format."""
    if form.fmt == FMT_FLOAT16:
        return int(float_to_bits16(float(x), FLOAT16_P, FLOAT16_MIN_NORMAL))
    return int(float_to_bits16(float(x), BFLOAT16_P, BFLOAT16_MIN_NORMAL))


def decode16(bits: int, form: FloatFormat) -> float:
    """Return the value of a 16-bit pattern of a float16 or bfloat16 number."""
    if form.fmt == FMT_FLOAT16:
        return float(np.array([bits], np.uint16).view(np.float16)[0])
    return float(np.array([bits << 16], np.uint32).view(np.float32)[0])


def _step16(bits: int, up: bool) -> int:
    """Return the pattern of the next 16-bit float above (or below) ``bits``."""
    negative = bool(bits & 0x8000)
    magnitude = bits & 0x7FFF
    if magnitude == 0:
        return 0x0001 if up else 0x8001
    if up != negative:
        return bits + 1
    return bits - 1 if magnitude > 1 or not negative else 0x0000


def round_to(x: float, form: FloatFormat) -> float:
    """Return x rounded to nearest-even in ``form``, as a float."""
    if form.itemsize == 2:
        return decode16(encode16(x, form), form)
    return float(np.dtype(form.name).type(x))


def next_toward(v: float, form: FloatFormat, up: bool) -> float:
    """Return the neighbour of representable ``v`` in ``form``, above if ``up``."""
    if form.itemsize == 2:
        return decode16(_step16(encode16(v, form), up), form)
    t = np.dtype(form.name).type
    return float(np.nextafter(t(v), t(math.inf if up else -math.inf)))


def representable_at_least(x: float, form: FloatFormat) -> float:
    """Return the smallest value of ``form`` that is >= x."""
    r = round_to(x, form)
    return next_toward(r, form, up=True) if r < x else r


def representable_below(x: float, form: FloatFormat, inclusive: bool) -> float:
    """Return the largest value of ``form`` that is < x (or <= x if ``inclusive``)."""
    r = round_to(x, form)
    if r > x or (r == x and not inclusive):
        return next_toward(r, form, up=False)
    return r


def clamp_arguments(lo: float, hi: float, form: FloatFormat) -> tuple[float, float, int, int]:
    """Return the kernel clamp arguments (clamp_lo, clamp_hi, bits_lo, bits_hi) that
    keep outputs inside [lo, hi], both representable in ``form``."""
    if form.itemsize == 2:
        return lo, hi, encode16(lo, form), encode16(hi, form)
    return lo, hi, 0, 0
