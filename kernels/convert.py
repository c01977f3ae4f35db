"""Integer-to-float maps and float rounding, as scalar source.

* 32-bit draws become float32 uniforms with 24 random bits; 64-bit draws (two
  words) become float64 uniforms with 53 random bits.  ``*_open_left`` variants
  lie in (0, 1] (for logarithms), the others in [0, 1).
* float16 and bfloat16 outputs are written as their bit patterns, rounded once
  to nearest-even from a float64 value, by exact arithmetic (frexp/ldexp/floor)
  that means the same on every target: no bit casts, no hardware conversions.
"""

import math
from fractions import Fraction

from numba import float32, float64, int64, uint32

from ._twin import scalar

TWO_POW_M24 = 1.0 / (1 << 24)
TWO_POW_M53 = 1.0 / (1 << 53)
TWO_POW_26 = float(1 << 26)

# (significand bits including the implicit one, exponent bias) of each 16-bit format.
FLOAT16_P, FLOAT16_BIAS = 11, 15
BFLOAT16_P, BFLOAT16_BIAS = 8, 127


def fma(a, b, c):
    """Return a * b + c rounded once (exact reference; targets bind a native fma)."""
    return float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


@scalar
def u01_f32(word):
    """Return a float32 uniform in [0, 1) from the top 24 bits of a 32-bit word."""
    return float32(uint32(word) >> uint32(8)) * float32(TWO_POW_M24)


@scalar
def u01_f64(hi, lo):
    """Return a float64 uniform in [0, 1) with 53 bits from two 32-bit words."""
    a = float64(uint32(hi) >> uint32(5))
    b = float64(uint32(lo) >> uint32(6))
    return (a * TWO_POW_26 + b) * TWO_POW_M53


@scalar
def u01_f64_open_left(hi, lo):
    """Return a float64 uniform in (0, 1] with 53 bits from two 32-bit words."""
    a = float64(uint32(hi) >> uint32(5))
    b = float64(uint32(lo) >> uint32(6))
    return (a * TWO_POW_26 + b + 1.0) * TWO_POW_M53


@scalar
def round_half_even(x):
    """Return the integer nearest to float64 ``x >= 0``, ties to even, as int64."""
    f = math.floor(x)
    d = x - f
    n = int64(f)
    if d > 0.5 or (d == 0.5 and (n & 1) == 1):
        n += 1
    return n


@scalar
def float_to_bits16(x, p, bias):
    """Return the 16-bit pattern of float64 ``x`` rounded to nearest-even in a
    binary format with ``p`` significand bits and exponent ``bias``.

    float16 is (11, 15), bfloat16 (8, 127).  Values too large round to inf;
    callers keep finite values in range.
    """
    sign = 0
    if x < 0.0 or (x == 0.0 and math.copysign(1.0, x) < 0.0):
        sign = 0x8000
    a = abs(float64(x))
    if a == 0.0:
        return uint32(sign)
    _, e = math.frexp(a)
    e_min = 2 - bias  # binade of the smallest normal number
    if e < e_min:
        e = e_min  # subnormals share the quantum of the smallest binade
    k = round_half_even(math.ldexp(a, p - e))
    bits = int64(e + bias - 2) * int64(1 << (p - 1)) + k
    return uint32(int64(sign) | bits)


@scalar
def bits16_order_key(bits):
    """Return an int64 that orders 16-bit float patterns like their values."""
    magnitude = int64(uint32(bits) & uint32(0x7FFF))
    if (uint32(bits) & uint32(0x8000)) != uint32(0):
        return -magnitude
    return magnitude
