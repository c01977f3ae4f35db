"""Normal, truncated-normal and Laplace transforms, as scalar source.

Box-Muller (the counter contract): for float32 a Philox block (w0, w1, w2, w3) gives
elements 4b, 4b+1 = r cos θ, r sin θ from (w0, w1) and elements 4b+2, 4b+3 from
(w2, w3), with r = sqrt(-2 log u1), u1 in (0, 1], θ = 2π u2 (24-bit uniforms).
It is computed in float32 (twice the vector lanes of float64 on the CPU, twice
the rate on an H200, where a float64 division or square root also costs dozens of
instructions), its logarithm, sine and cosine by our
own polynomials with explicit float32 fma, so the CPU, CUDA and the simulator
compute the same bits, and the CPU loop vectorizes.  For float64 one block gives
one pair from two 53-bit uniforms, by longer float64 polynomials of the same kind
(accurate to a few float64 ulp).

Truncated normal: rejection over attempts 0..K-1, then the inverse CDF of the
uniform drawn at attempt K (:data:`TRUNC_ATTEMPTS`).  The inverse CDF is exact
(Acklam's approximation refined by a Halley step on erfc, float64), so the law
is exact whatever the interval; intervals whose acceptance probability is
below :data:`TRUNC_MIN_ACCEPTANCE` use it directly, in bounded time.
"""

import math

from ._twin import scalar
from .convert import TWO_POW_26, split_binade, whole_53
from .primitives import (
    bits_float32,
    float32,
    float32_bits,
    float64,
    fma,
    fma32,
    int32,
    select,
    uint32,
)

# Rejection attempts before the inverse-CDF fallback; the fallback draws its
# uniform at attempt TRUNC_ATTEMPTS.
TRUNC_ATTEMPTS = 16
# Below this acceptance probability rejection does not pay; sample by inverse CDF.
TRUNC_MIN_ACCEPTANCE = 0.25

TWO_PI = 2.0 * math.pi
SQRT_2 = math.sqrt(2.0)
SQRT_2PI = math.sqrt(2.0 * math.pi)
TWO_PI_OVER_2_24 = TWO_PI / (1 << 24)
TWO_PI_OVER_2_53 = TWO_PI / (1 << 53)
TWO_POW_50 = float(1 << 50)
TWO_POW_51 = float(1 << 51)
# ln 2 in two parts (fdlibm's): LN2_HI has 32 trailing zero bits.
LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10

# The float32 versions.  ln f = 2 s (1 + s^2/3 + s^4/5 + s^6/7 + s^8/9), s = (f - 1)/(f + 1)
_ATANH_C1, _ATANH_C2, _ATANH_C3, _ATANH_C4 = 1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0
# sin x = x (1 - x^2/3! + ... + x^8/9!), cos x = 1 - x^2/2! + ... - x^10/10!
_SIN_C1, _SIN_C2, _SIN_C3, _SIN_C4 = -1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0, 1.0 / 362880.0
_COS_C1, _COS_C2, _COS_C3 = -1.0 / 2.0, 1.0 / 24.0, -1.0 / 720.0
_COS_C4, _COS_C5 = 1.0 / 40320.0, -1.0 / 3628800.0
# ln 2 in two float32 parts (fdlibm's logf): LN2_HI_F32 has 7 trailing zero bits.
LN2_HI_F32, LN2_LO_F32 = float.fromhex("0x1.62e300p-1"), float.fromhex("0x1.2fefa2p-17")
# The float32 pattern of √½, less a little: m's pattern minus it gives the binade k
# of m / √½ in its exponent field.
_SQRT_HALF_F32_BITS = 0x3F3504F3

# The float64 versions: atanh series to s^23 (|s| <= 0.172: s^24/25 < 2^-60), sin
# to x^17 and cos to x^16 on [0, π/4] (the next terms are below 2^-60).
_ATANH_F64 = tuple(1.0 / (2 * k + 1) for k in range(1, 12))
_SIN_F64 = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(1, 9))
_COS_F64 = tuple((-1.0) ** k / math.factorial(2 * k) for k in range(1, 9))

# Acklam's rational approximation of the standard normal quantile.
_A0, _A1, _A2 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02
_A3, _A4, _A5 = 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
_B0, _B1, _B2 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02
_B3, _B4 = 6.680131188771972e01, -1.328068155288572e01
_C0, _C1, _C2 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00
_C3, _C4, _C5 = -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00
_D0, _D1 = 7.784695709041462e-03, 3.224671290700398e-01
_D2, _D3 = 2.445134137142996e00, 3.754408661907416e00
_P_LOW = 0.02425
# The smallest tail probability the quantile is asked for: the least normal float64,
# 2^-1022 (Φ⁻¹ of it is -37.52).  A smaller p (an interval reaching past it, at
# u = 0) is raised to it, so log(p) stays finite and exp(x²/2) cannot overflow in
# the Halley step; what this moves is below 2^-1022 of probability.
MIN_TAIL_PROBABILITY = 2.0 ** -1022


@scalar
def log_reduction(m):
    """Return (s, e) for a float64 m >= 1: m = 2^e f with f in [√½, √2), and
    s = (f - 1)/(f + 1), so that ln m = e ln 2 + 2 atanh(s), |s| <= 0.172."""
    f, e = split_binade(m)
    above = f > SQRT_2
    f = select(above, f * 0.5, f)
    e = select(above, e + 1.0, e)
    return (f - 1.0) / (f + 1.0), e


@scalar
def neg2_log_u24(m):
    """Return -2 ln(m / 2^24) in float32 for a whole number 1 <= m <= 2^24 (any type).

    m = 2^k f with f in [√½, √2), from the float32 pattern of m; ln f = 2 atanh(s),
    s = (f - 1)/(f + 1), |s| <= 0.172, by its series to s^9 (the next term is below
    2^-28 of ln f).  (24 - k) ln 2 - ln f has no cancellation near m = 2^24, and ln 2
    is taken in two parts, the first exact times any k.  Every product-sum is an
    explicit float32 fma, so each target rounds the same operations: the result is
    the same on all of them, within 2 float32 ulp of the exact value for every m.
    """
    x = float32(int32(m))
    # 32-bit integers (the pattern of x >= 1 is below 2^31, k is 0..24): on the CPU they
    # vectorize at twice the lanes of 64-bit ones.  Numba widens int32 arithmetic to
    # int64, so each step is cast back to int32 (here and in the sine and cosine).
    bits = int32(float32_bits(x))
    k = int32(int32(bits - int32(_SQRT_HALF_F32_BITS)) >> int32(23))
    f = bits_float32(uint32(int32(bits - int32(k << int32(23)))))
    one = float32(1.0)
    s = (f - one) / (f + one)
    s2 = s * s
    series = fma32(s2, float32(_ATANH_C4), float32(_ATANH_C3))
    series = fma32(s2, series, float32(_ATANH_C2))
    series = fma32(s2, series, float32(_ATANH_C1))
    twice_s = s + s
    ln_f = fma32(twice_s * s2, series, twice_s)
    n = float32(int32(int32(24) - k))
    ln_u = fma32(n, float32(LN2_HI_F32), fma32(n, float32(LN2_LO_F32), -ln_f))
    return ln_u + ln_u


@scalar
def sincos_2pi_u24(k):
    """Return (sin θ, cos θ) in float32 for θ = 2π k / 2^24, integer 0 <= k < 2^24.

    The quadrant and the octant come from the integer k, so the reduced angle x in
    [0, π/4] carries one rounding; sin x to x^9 and cos x to x^10 (Taylor, the next
    terms below 2^-28), evaluated with explicit float32 fma, the same on every target.
    """
    k = int32(k)
    quadrant = int32(k >> int32(22))
    t = int32(k & int32(0x3FFFFF))
    upper_octant = t > int32(0x200000)
    j = select(upper_octant, int32(int32(0x400000) - t), t)
    x = float32(j) * float32(TWO_PI_OVER_2_24)
    x2 = x * x
    sin_p = fma32(x2, float32(_SIN_C4), float32(_SIN_C3))
    sin_p = fma32(x2, sin_p, float32(_SIN_C2))
    sin_p = fma32(x2, sin_p, float32(_SIN_C1))
    sin_x = fma32(x * x2, sin_p, x)
    cos_p = fma32(x2, float32(_COS_C5), float32(_COS_C4))
    cos_p = fma32(x2, cos_p, float32(_COS_C3))
    cos_p = fma32(x2, cos_p, float32(_COS_C2))
    cos_p = fma32(x2, cos_p, float32(_COS_C1))
    cos_x = fma32(x2, cos_p, float32(1.0))
    return rotate_to_quadrant(sin_x, cos_x, upper_octant,
                              int32(quadrant & int32(1)) == int32(1), quadrant >= int32(2),
                              int32(int32(quadrant + int32(1)) & int32(2)) != int32(0))


@scalar
def rotate_to_quadrant(sin_x, cos_x, upper_octant, odd, negate_sin, negate_cos):
    """Return (sin θ, cos θ) from sin and cos of the reduced angle x.

    The angle within the quadrant is x, or π/2 - x in the upper octant (swap);
    then the quadrant rotates (s, c) to (s, c), (c, -s), (-s, -c) or (-c, s):
    ``odd`` for quadrants 1 and 3, ``negate_sin`` for 2 and 3, ``negate_cos``
    for 1 and 2.  The two swaps cancel: one select each for the swap they make
    together.  Selects only, no branches.
    """
    swap = upper_octant != odd
    sin_abs = select(swap, cos_x, sin_x)
    cos_abs = select(swap, sin_x, cos_x)
    return select(negate_sin, -sin_abs, sin_abs), select(negate_cos, -cos_abs, cos_abs)


@scalar
def neg2_log_u53(m):
    """Return -2 ln(m / 2^53) in float64 for a whole number 1 <= m <= 2^53 (a float64).

    As :func:`neg2_log_u24`, with the atanh series to s^23 and ln 2 in two parts,
    so that (53 - e) ln 2 - ln f is accurate to a few float64 ulp.
    """
    s, e = log_reduction(m)
    s2 = s * s
    series = _ATANH_F64[10]
    for i in range(9, -1, -1):
        series = fma(s2, series, _ATANH_F64[i])
    series = fma(s2, series, 1.0)
    ln_f = 2.0 * s * series
    n = 53.0 - e
    return 2.0 * fma(n, LN2_LO, fma(n, LN2_HI, -ln_f))


@scalar
def sincos_2pi_u53(hi, lo):
    """Return (sin θ, cos θ) in float64 for θ = 2π k / 2^53, k = (hi >> 5)·2^26 + (lo >> 6).

    The quadrant is the top two bits of k, taken from the 32-bit word; the rest of
    k (below 2^51) and the octant reduction are exact in float64, so x in
    [0, π/4] carries one rounding.  Taylor polynomials with explicit fma.
    """
    a = uint32(hi) >> uint32(5)
    quadrant = a >> uint32(25)
    t = float64(a & uint32(0x1FFFFFF)) * TWO_POW_26 + float64(uint32(lo) >> uint32(6))
    upper_octant = t > TWO_POW_50
    j = select(upper_octant, TWO_POW_51 - t, t)
    x = j * TWO_PI_OVER_2_53
    x2 = x * x
    sin_p = _SIN_F64[7]
    cos_p = _COS_F64[7]
    for i in range(6, -1, -1):
        sin_p = fma(x2, sin_p, _SIN_F64[i])
        cos_p = fma(x2, cos_p, _COS_F64[i])
    sin_x = fma(x * x2, sin_p, x)
    cos_x = fma(x2, cos_p, 1.0)
    return rotate_to_quadrant(sin_x, cos_x, upper_octant,
                              (quadrant & uint32(1)) == uint32(1), quadrant >= uint32(2),
                              ((quadrant + uint32(1)) & uint32(2)) != uint32(0))


@scalar(inline=True)
def box_muller_f32(w1, w2):
    """Return (r cos θ, r sin θ) in float32 from two 32-bit words.

    u1 = (top 24 bits of w1 + 1) / 2^24 in (0, 1], u2 = (top 24 bits of w2) / 2^24
    in [0, 1), r = sqrt(-2 ln u1), θ = 2π u2: the 24-bit Box-Muller of the counter
    contract, in float32 (:func:`neg2_log_u24`, :func:`sincos_2pi_u24`; sqrt is
    correctly rounded everywhere), so CPU and CUDA give the same bits.
    """
    # 32-bit shifts and conversions: they vectorize on the CPU.
    m = int32(int32(uint32(w1) >> uint32(8)) + int32(1))
    k = int32(uint32(w2) >> uint32(8))
    r = float32(math.sqrt(neg2_log_u24(m)))
    sin_t, cos_t = sincos_2pi_u24(k)
    return r * cos_t, r * sin_t


@scalar(inline=True)
def box_muller_f64(w0, w1, w2, w3):
    """Return (r cos θ, r sin θ) in float64 from one block's four words.

    u1 = (m + 1) / 2^53 in (0, 1] with m = (w0 >> 5)·2^26 + (w1 >> 6) (the 53 bits
    of ``u01_f64(w0, w1)``, shifted up by one step); θ = 2π u2 with u2 =
    ``u01_f64(w2, w3)``; r = sqrt(-2 ln u1).  Evaluated by :func:`neg2_log_u53` and
    :func:`sincos_2pi_u53`, so CPU and CUDA give the same bits.
    """
    r = math.sqrt(neg2_log_u53(whole_53(w0, w1) + 1.0))
    sin_t, cos_t = sincos_2pi_u53(w2, w3)
    return r * cos_t, r * sin_t


@scalar
def laplace_f32(w):
    """Return a standard Laplace deviate in float32 from one 32-bit word: ±(-ln u) with
    u = (top 24 bits of w + 1) / 2^24 in (0, 1] (:func:`neg2_log_u24`, halved exactly)
    and the sign from bit 7 of w.  An exponential magnitude with a fair sign is the
    Laplace law; every target computes the same bits."""
    m = int32(int32(uint32(w) >> uint32(8)) + int32(1))
    e = neg2_log_u24(m) * float32(0.5)
    return select((uint32(w) & uint32(0x80)) != uint32(0), -e, e)


@scalar
def laplace_f64(hi, lo):
    """Return a standard Laplace deviate in float64 from two words: ±(-ln u) with
    u = (m + 1) / 2^53, m the 53 bits of ``u01_f64(hi, lo)`` (:func:`neg2_log_u53`,
    halved exactly), and the sign from bit 5 of ``lo`` (below the bits m uses)."""
    e = neg2_log_u53(whole_53(hi, lo) + 1.0) * 0.5
    return select((uint32(lo) & uint32(0x20)) != uint32(0), -e, e)


@scalar
def normal_cdf(x):
    """Return Φ(x), the standard normal CDF, in float64."""
    return 0.5 * math.erfc(-float64(x) / SQRT_2)


@scalar
def normal_lower_quantile(p):
    """Return Φ⁻¹(p) for p in [2^-1022, 0.5] (the sampler's domain) in float64.

    Acklam's rational approximation (relative error 1.15e-9) and one Halley step
    on erfc, which converges cubically: the result is as accurate as erfc lets
    it be (relative error below 2e-14, and absolute below 2e-16 near p = 0.5
    where Φ(x) - p cancels; against scipy's ndtri and mpmath).  A second step
    changes nothing measurable.
    """
    p = float64(p)
    # Both approximations are finite on the whole domain; the tail one applies below
    # _P_LOW.  (Computing both and selecting lets arrays take this path too.)
    q = math.sqrt(-2.0 * math.log(p))
    tail = (((((_C0 * q + _C1) * q + _C2) * q + _C3) * q + _C4) * q + _C5) / (
        (((_D0 * q + _D1) * q + _D2) * q + _D3) * q + 1.0
    )
    c = p - 0.5
    r = c * c
    central = (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5) * c / (
        ((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0
    )
    x = select(p < _P_LOW, tail, central)
    err = normal_cdf(x) - p
    u = err * SQRT_2PI * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@scalar
def truncated_normal_quantile(u, p_lower, q_upper, mass):
    """Return the standard normal truncated to [lo, hi] at probability u in [0, 1).

    ``p_lower`` = Φ(lo), ``q_upper`` = 1 - Φ(hi) and ``mass`` = Φ(hi) - Φ(lo) are
    computed on the host without cancellation.  Whichever tail u falls in is
    inverted from its own small probability, so far tails stay exact.
    """
    u = float64(u)
    p = p_lower + u * mass
    lower_tail = p <= 0.5
    tail_p = select(lower_tail, p, q_upper + (1.0 - u) * mass)
    x = normal_lower_quantile(max(tail_p, MIN_TAIL_PROBABILITY))
    return select(lower_tail, x, -x)
