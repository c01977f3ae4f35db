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
        lowered = dtype.lower()
        if lowered in _ALIASES or lowered in FORMATS:
            return _ALIASES.get(lowered, lowered)
        try:  # NumPy's own spelling, whose case matters ("U4" is text, "u4" uint32)
            return np.dtype(dtype).name
        except TypeError:
            return lowered
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


def bfloat16_bits(values: Any, xp: Any = np) -> Any:
    """Return the bfloat16 bit patterns (uint16, same shape) of a float32 or float64
    array ``values`` of NumPy or CuPy (``xp``), each rounded once to nearest even, as
    the kernels and torch's own cast round; NaN stays a (quiet) NaN, too large
    values become infinities.

    float64 values are first rounded to float32 *to odd* (truncated, with the last
    bit set when inexact): float32 keeps 16 bits more than bfloat16, so the second
    rounding then gives the correctly rounded result, never a double rounding.
    """
    values = xp.asarray(values)
    if values.dtype == np.float64:
        with np.errstate(over="ignore", invalid="ignore"):  # infinities are the answer
            narrow = values.astype(np.float32)
        widened = narrow.astype(np.float64)
        inexact = (widened != values) & ~xp.isnan(values)
        # Nearest-even rounding went away from zero: one float32 step back toward it.
        away = inexact & (xp.abs(widened) > xp.abs(values))
        bits = narrow.view(np.uint32) - away.astype(np.uint32)
        bits |= inexact.astype(np.uint32)
    elif values.dtype == np.float32:
        bits = values.view(np.uint32)
    else:
        raise TypeError(f"bfloat16_bits takes float32 or float64 values, got {values.dtype}")
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) \
        >> np.uint32(16)
    quiet_nan = (bits >> np.uint32(16)) | np.uint32(0x40)
    is_nan = (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    return xp.where(is_nan, quiet_nan, rounded).astype(np.uint16)


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


# The dtypes of arrays gpuinit makes and fills besides the float formats.
EXACT_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "complex64", "complex128")


def numeric_dtype(dtype: Any, argument: str = "dtype") -> np.dtype:
    """Return the NumPy dtype of a numeric ``dtype`` (float32 when None; bfloat16 via
    ml_dtypes): bool, the signed and unsigned integers of 8 to 64 bits, the four float
    formats, complex64 and complex128.  TypeError naming ``argument`` for anything else
    (object, str, datetime, the 8-bit floats and complex32 of ml_dtypes, ...)."""
    if dtype is None:
        return np.dtype(np.float32)
    name = dtype_name(dtype)
    if name in FORMATS:
        return FORMATS[name].numpy_dtype
    try:
        resolved = np.dtype(name)
    except TypeError:
        raise TypeError(f"{argument}={dtype!r} is not a dtype") from None
    if resolved.name not in EXACT_DTYPES:
        raise TypeError(f"{argument}={name!r} is not a numeric dtype: use bool, an integer, "
                        f"a float ({', '.join(FORMATS)}) or a complex dtype")
    return resolved


def check_representable(value: int | float, dtype: np.dtype, argument: str) -> None:
    """Raise ValueError naming ``argument`` when the real ``value`` does not fit ``dtype``:
    outside an integer dtype's range or not a whole number for it, not 0/1 for bool,
    or rounding to ±inf in a float dtype."""
    name = dtype_name(dtype)
    if name in FORMATS or np.dtype(dtype).kind == "c":
        form = FORMATS.get(name) or FORMATS["float32" if np.dtype(dtype).itemsize == 8
                                             else "float64"]
        try:
            as_float = float(value)
        except OverflowError:
            as_float = math.inf
        if abs(as_float) > form.max and not math.isfinite(_rounded(as_float, form)):
            raise ValueError(f"{argument}={value!r} does not fit {name}: it rounds to "
                             f"±inf (largest {form.max:g})")
        return
    if np.dtype(dtype).kind == "b":
        if value not in (0, 1):
            raise ValueError(f"{argument}={value!r} does not fit bool: use 0 or 1")
        return
    info = np.iinfo(np.dtype(dtype))
    if value != math.floor(value) or not info.min <= value <= info.max:
        raise ValueError(f"{argument}={value!r} does not fit {name}: it holds the whole "
                         f"numbers {info.min}..{info.max}")


def _rounded(x: float, form: FloatFormat) -> float:
    """Return x rounded to ``form``; ±inf when it overflows (no warning)."""
    if not math.isfinite(x):
        return x
    with np.errstate(over="ignore"):
        return round_to(x, form)
