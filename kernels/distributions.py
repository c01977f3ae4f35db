"""Normal and truncated-normal transforms, as scalar source.

Box-Muller (DESIGN.md §3): for float32 a Philox block (w0, w1, w2, w3) gives
elements 4b, 4b+1 = r cos θ, r sin θ from (w0, w1) and elements 4b+2, 4b+3 from
(w2, w3), with r = sqrt(-2 log u1), u1 in (0, 1], θ = 2π u2.  For float64 one
block gives one pair from two 53-bit uniforms.

Truncated normal: rejection over attempts 0..K-1, then the inverse CDF of the
uniform drawn at attempt K (:data:`TRUNC_ATTEMPTS`).  The inverse CDF is exact
(Acklam's approximation refined by two Halley steps on erfc, float64), so the
law is exact whatever the interval; intervals whose acceptance probability is
below :data:`TRUNC_MIN_ACCEPTANCE` use it directly, in bounded time.
"""

import math

from numba import float32, float64

from ._twin import scalar

# Rejection attempts before the inverse-CDF fallback; the fallback draws its
# uniform at attempt TRUNC_ATTEMPTS.
TRUNC_ATTEMPTS = 16
# Below this acceptance probability rejection does not pay; sample by inverse CDF.
TRUNC_MIN_ACCEPTANCE = 0.25

TWO_PI = 2.0 * math.pi
SQRT_2 = math.sqrt(2.0)
SQRT_2PI = math.sqrt(2.0 * math.pi)

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


@scalar
def box_muller_f32(u1, u2):
    """Return (r cos θ, r sin θ) in float32 for u1 in (0, 1], u2 in [0, 1)."""
    r = float32(math.sqrt(float32(float32(-2.0) * float32(math.log(u1)))))
    theta = float32(float32(TWO_PI) * u2)
    return float32(r * float32(math.cos(theta))), float32(r * float32(math.sin(theta)))


@scalar
def box_muller_f64(u1, u2):
    """Return (r cos θ, r sin θ) in float64 for u1 in (0, 1], u2 in [0, 1)."""
    r = math.sqrt(-2.0 * math.log(float64(u1)))
    theta = TWO_PI * float64(u2)
    return r * math.cos(theta), r * math.sin(theta)


@scalar
def normal_cdf(x):
    """Return Φ(x), the standard normal CDF, in float64."""
    return 0.5 * math.erfc(-float64(x) / SQRT_2)


@scalar
def normal_lower_quantile(p):
    """Return Φ⁻¹(p) for p in (0, 0.5], accurate to float64 rounding."""
    p = float64(p)
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((_C0 * q + _C1) * q + _C2) * q + _C3) * q + _C4) * q + _C5) / (
            (((_D0 * q + _D1) * q + _D2) * q + _D3) * q + 1.0
        )
    else:
        q = p - 0.5
        r = q * q
        x = (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5) * q / (
            ((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0
        )
    for _ in range(2):  # Halley steps: Acklam's 1e-9 relative error -> float64
        err = normal_cdf(x) - p
        u = err * SQRT_2PI * math.exp(0.5 * x * x)
        x = x - u / (1.0 + 0.5 * x * u)
    return x


@scalar
def truncated_normal_quantile(u, p_lower, q_upper, mass):
    """Return the standard normal truncated to [lo, hi] at probability u in [0, 1).

    ``p_lower`` = Φ(lo), ``q_upper`` = 1 - Φ(hi) and ``mass`` = Φ(hi) - Φ(lo) are
    computed on the host without cancellation.  Whichever tail u falls in is
    inverted from its own small probability, so far tails stay exact.
    """
    u = float64(u)
    p = p_lower + u * mass
    if p <= 0.5:
        return normal_lower_quantile(p)
    return -normal_lower_quantile(q_upper + (1.0 - u) * mass)
