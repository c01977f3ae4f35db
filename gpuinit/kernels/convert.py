"""Integer-to-float maps and float rounding, as scalar source.

* 32-bit draws become float32 uniforms with 24 random bits; 64-bit draws (two
  words) become float64 uniforms with 53 random bits, in [0, 1).  (Box-Muller
  forms its (0, 1] uniforms from the words itself, for its logarithms.)
* float16 and bfloat16 outputs are written as their bit patterns, rounded once
  to nearest-even from the float32 value the kernels compute
  (:func:`float32_to_float16_bits`, :func:`float32_to_bfloat16_bits`): integer
  rounding of the float32 pattern, the same on every target, with no library
  calls, so the CPU loops vectorize.  :func:`float_to_bits16` rounds a float64
  once, by exact arithmetic; the host uses it for the bounds of a law.
"""

import math

from ._twin import scalar
from .primitives import bits_float32, float32, float32_bits, float64, int32, select, uint32

TWO_POW_M24 = 1.0 / (1 << 24)
TWO_POW_M53 = 1.0 / (1 << 53)
TWO_POW_26 = float(1 << 26)

# (significand bits including the implicit one, smallest normal number) of each
# 16-bit format.
FLOAT16_P, FLOAT16_MIN_NORMAL = 11, 2.0**-14
BFLOAT16_P, BFLOAT16_MIN_NORMAL = 8, 2.0**-126

# Adding and then subtracting 2^52 rounds a float64 in [0, 2^52) to an integer,
# ties to even (IEEE round-to-nearest-even of the addition).
TWO_POW_52 = float(1 << 52)


@scalar
def u01_f32(word):
    """Return a float32 uniform in [0, 1) from the top 24 bits of a 32-bit word."""
    # Through int32: the value is below 2^24, and signed conversions vectorize.
    return float32(int32(uint32(word) >> uint32(8))) * float32(TWO_POW_M24)


@scalar
def whole_53(hi, lo):
    """Return the 53-bit whole number (hi >> 5)·2^26 + (lo >> 6) of two 32-bit words, as
    a float64 (exact; 32-bit conversions only, so CPU loops vectorize)."""
    return float64(uint32(hi) >> uint32(5)) * TWO_POW_26 + float64(uint32(lo) >> uint32(6))


@scalar
def u01_f64(hi, lo):
    """Return a float64 uniform in [0, 1) with 53 bits from two 32-bit words."""
    return whole_53(hi, lo) * TWO_POW_M53


@scalar
def binade_step(x, e, width, step, inverse_step):
    """Return (x, e) after one step of :func:`split_binade`: x times ``inverse_step``
    (2^-width) and e + width if x >= ``step`` (2^width), else (x, e)."""
    big = x >= step
    return select(big, x * inverse_step, x), select(big, e + width, e)


@scalar
def split_binade(x):
    """Return (f, e) with x = f · 2^e, f in [1, 2), for float64 1 <= x < 2^256.

    A branch-free halving search on x itself: each step scales by a power of two
    (exact) and e is a whole number held in a float64, so there are no library
    calls and no 64-bit integer-to-float conversions.  The steps are written out:
    as a loop over tuples of constants they kept LLVM from vectorizing CPU loops.
    """
    x, e = binade_step(x, 0.0, 128.0, 2.0**128, 2.0**-128)
    x, e = binade_step(x, e, 64.0, 2.0**64, 2.0**-64)
    x, e = binade_step(x, e, 32.0, 2.0**32, 2.0**-32)
    x, e = binade_step(x, e, 16.0, 2.0**16, 2.0**-16)
    x, e = binade_step(x, e, 8.0, 2.0**8, 2.0**-8)
    x, e = binade_step(x, e, 4.0, 2.0**4, 2.0**-4)
    x, e = binade_step(x, e, 2.0, 2.0**2, 2.0**-2)
    return binade_step(x, e, 1.0, 2.0, 0.5)


@scalar
def float_to_bits16(x, p, min_normal):
    """Return the 16-bit pattern of float64 ``x`` rounded to nearest-even in a
    binary format with ``p`` significand bits and smallest normal number
    ``min_normal``: float16 is (11, 2^-14), bfloat16 (8, 2^-126).

    Values too large for the format round to infinity.  |x| / min_normal is split
    into f · 2^e (f in [1, 2); subnormals, below 1, keep the smallest binade's
    quantum); the significand k = f · 2^(p-1) rounded to an integer, and the
    pattern is e · 2^(p-1) + k (a carry out of k steps the exponent, as it should).
    """
    sign = uint32(0)
    if x < 0.0 or (x == 0.0 and math.copysign(1.0, x) < 0.0):
        sign = uint32(0x8000)
    a = abs(float64(x))
    overflow = 4.0 / min_normal  # 2^(bias + 1): it and everything above give infinity
    if a > overflow:
        a = overflow
    u = a / min_normal  # exact: min_normal is a power of two
    f, e = split_binade(u if u > 1.0 else 1.0)
    if u < 1.0:
        f = u
    y = f * float64(1 << (p - 1))
    k = (y + TWO_POW_52) - TWO_POW_52
    # 32-bit conversion (vcvttpd2dq on the CPU): the pattern is below 2^16.
    return uint32(int32(e * float64(1 << (p - 1)) + k)) | sign


# float32 patterns: the smallest normal float16, 2^-14, and the rebias of the
# exponent from float32's 127 to float16's 15, in float16's exponent field.
_F32_BITS_F16_MIN_NORMAL = 0x38800000
_F16_REBIAS = (127 - 15) << 10
_F16_INFINITY = 0x7C00


@scalar
def float32_to_float16_bits(x):
    """Return the float16 pattern of float32 ``x`` (finite) rounded to nearest even.

    Normal results round the 23-bit significand to 10 bits on the pattern itself
    (a carry steps the exponent, and past the largest float16 gives infinity);
    below 2^-14 the result is a whole multiple of 2^-24, |x|·2^24 (exact) rounded
    to an integer by adding 2^23 in float32.  Both are computed and one selected,
    so the CPU loops stay branch-free.  Every step is a 32-bit integer (Numba widens
    int32 arithmetic to int64; the casts keep it at 32 bits, twice the vector lanes).
    """
    u = int32(float32_bits(x))
    sign = int32(int32(u >> int32(16)) & int32(0x8000))
    magnitude = int32(u & int32(0x7FFFFFFF))
    carry = int32(int32(magnitude >> int32(13)) & int32(1))
    rounded = int32(int32(int32(magnitude + int32(0xFFF + carry)) >> int32(13))
                    - int32(_F16_REBIAS))
    normal = min(rounded, int32(_F16_INFINITY))
    small = min(bits_float32(uint32(magnitude)), float32(FLOAT16_MIN_NORMAL))
    scaled = small * float32(1 << 24) + float32(1 << 23)
    subnormal = int32(scaled - float32(1 << 23))
    return uint32(int32(sign | select(magnitude < int32(_F32_BITS_F16_MIN_NORMAL), subnormal,
                                      normal)))


@scalar
def float32_to_bfloat16_bits(x):
    """Return the bfloat16 pattern of float32 ``x`` (finite) rounded to nearest even:
    the top half of its pattern, rounded on the bits dropped (bfloat16 has float32's
    exponent range, subnormals included; past the largest value gives infinity)."""
    u = uint32(float32_bits(x))
    # No carry out of 32 bits: a finite pattern is at most 0xFF7FFFFF.
    rounding = uint32(uint32(0x7FFF) + uint32(uint32(u >> uint32(16)) & uint32(1)))
    return uint32(uint32(u + rounding) >> uint32(16))
