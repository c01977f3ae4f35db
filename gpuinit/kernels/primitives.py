"""The few operations each target implements natively, as exact Python references.

The scalar source calls these by name; :func:`gpuinit.kernels._twin.build` binds
each target's own version (``overrides``): LLVM intrinsics on the CPU
(:mod:`.cpu`), PTX instructions on CUDA (:mod:`.cuda`).  Numba's CUDA simulator
runs the references below, which give the bits the hardware gives:

* ``fma`` / ``fma32``: a·b + c rounded once to float64 / float32 (``fma.rn.f64``,
  ``fma.rn.f32``, LLVM's ``llvm.fma``);
* ``float32_bits`` / ``bits_float32``: the bit pattern of a float32 and back
  (a register move, ``mov.b32`` on CUDA, ``bitcast`` in LLVM);
* ``store4`` / ``store2``: four (two) consecutive elements written at once
  (one 128-bit or 64-bit store where the target can);
* ``uint32``, ``uint64``, ``int32``, ``int64``, ``float32``, ``float64``: conversions as
  in C (integers wrap, floats truncate toward zero); Numba's own types on the
  compiled targets, ``astype`` here, for scalars and arrays alike;
* ``select``: ``a if condition else b`` without a branch (a select instruction
  in LLVM and PTX, ``numpy.where`` for arrays).  The scalar source writes every
  choice that depends on data with it, so that the same source evaluates whole
  arrays (:mod:`.arrays`) as well as one element.
"""

import math

import numpy as np

# Conversions of Python numbers kept per dtype (the scalar source's constants, converted
# at every call of the NumPy target), up to this many each.
_CONSTANTS_KEPT = 1024


def _keeps(dtype: np.dtype):
    """Return whether a conversion to ``dtype`` of a Python number may be kept: only
    those that convert exactly or by rounding, without a warning (ints in the integer
    type's range; ints up to 2^53 and finite nonzero floats within a float type's
    range), so that equal keys (1 == 1.0) convert alike and a kept result never hides a
    warning.  A zero float is not kept: 0.0 and -0.0 are one key and convert apart."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lowest, highest = int(info.min), int(info.max)
        return lambda x: type(x) is int and lowest <= x <= highest
    largest = float(np.finfo(dtype).max)
    return lambda x: ((type(x) is int and -(1 << 53) <= x <= 1 << 53)
                      or (type(x) is float and x != 0.0 and abs(x) <= largest))


def _cast(dtype):
    """Return the conversion to ``dtype`` for arrays and scalars: a C conversion
    (integers wrap, floats truncate toward zero), as in compiled code."""
    dtype = np.dtype(dtype)
    keeps = _keeps(dtype)
    constants: dict = {}  # a Python number -> its conversion, where keeps(number)

    def cast(x):
        if isinstance(x, np.ndarray):
            return x.astype(dtype, copy=False)
        if isinstance(x, np.generic):
            return x.astype(dtype)
        keep = keeps(x)
        if keep:
            converted = constants.get(x)
            if converted is not None:
                return converted
        converted = np.asarray(x).astype(dtype)[()]
        if keep and len(constants) < _CONSTANTS_KEPT:
            constants[x] = converted
        return converted

    cast.__name__ = cast.__qualname__ = dtype.name
    return cast


uint32 = _cast(np.uint32)
uint64 = _cast(np.uint64)
int32 = _cast(np.int32)
int64 = _cast(np.int64)
float32 = _cast(np.float32)
float64 = _cast(np.float64)
# The names the compiled targets bind to Numba's types (see numba_types()).
CAST_NAMES = ("uint32", "uint64", "int32", "int64", "float32", "float64")


def numba_types() -> dict:
    """Return Numba's types under the cast names, for the compiled targets' ``build``."""
    import numba

    return {name: getattr(numba, name) for name in CAST_NAMES}


def fma(a, b, c):
    """Return a * b + c rounded once to float64, from exact fractions, with IEEE's
    results for infinities, NaNs, overflow and the sign of an exact zero sum."""
    # Imported here: only the simulator and the NumPy target's awkward elements need it,
    # and it is slow to import.
    from fractions import Fraction

    a, b, c = float(a), float(b), float(c)
    if not (math.isfinite(a) and math.isfinite(b)):
        return a * b + c
    if not math.isfinite(c):
        return c
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        return (a * b) + c  # the product's sign decides, as IEEE rounds an exact zero sum
    try:
        return float(exact)  # int / int: correctly rounded, subnormals included
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def fma32(a, b, c):
    """Return a * b + c rounded once to float32 (nearest even).

    The exact value is rounded to float64 by round-to-odd, then to float32: with
    53 >= 2·24 + 2 bits the second rounding is then correct (Boldo & Melquiond).
    A zero result takes IEEE's sign, which the exact rational has lost.
    """
    from fractions import Fraction

    a, b, c = float(np.float32(a)), float(np.float32(b)), float(np.float32(c))
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        return np.float32(a * b + c)  # the product is exact in float64, and so the sign
    nearest = float(exact)
    if Fraction(nearest) != exact and int(np.float64(nearest).view(np.uint64)) & 1 == 0:
        nearest = math.nextafter(nearest, math.inf if exact > nearest else -math.inf)
    return np.float32(nearest)


def select(condition, a, b):
    """Return ``a`` where ``condition`` holds, else ``b``."""
    return a if condition else b


def float32_bits(x):
    """Return the bit pattern of float32 ``x`` as a uint32."""
    return np.array([x], np.float32).view(np.uint32)[0]


def bits_float32(bits):
    """Return the float32 whose bit pattern is the uint32 ``bits``."""
    return np.array([bits], np.uint32).view(np.float32)[0]


def store4(out, i, v0, v1, v2, v3):
    """Write out[i], out[i+1], out[i+2], out[i+3] = v0, v1, v2, v3 (cast to out's
    type); on CUDA one 128-bit (float32) or 64-bit (16-bit) store where out[i]'s
    address is aligned to it, else one store per element."""
    out[i] = v0
    out[i + 1] = v1
    out[i + 2] = v2
    out[i + 3] = v3


def store2(out, i, v0, v1):
    """Write out[i], out[i+1] = v0, v1; on CUDA one 128-bit store (float64) where
    out[i]'s address is aligned to it, else one store per element."""
    out[i] = v0
    out[i + 1] = v1
