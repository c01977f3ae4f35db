"""The transforms' own arithmetic: the 24- and 53-bit Box-Muller pieces (our
polynomials) against libm, and the float16/bfloat16 rounding against independent references.

float32 needs about 1e-8; the polynomials are far inside that, and the same
operations are rounded the same way on every target (see test_cuda_agreement).
The 16-bit rounding must be exact: it is checked bit for bit, compiled for the
CPU and as the plain Python the CUDA simulator runs.
"""

import math

import numpy as np
import pytest
from numba import njit

from gpuinit.kernels import convert, cpu
from gpuinit.kernels.distributions import MIN_TAIL_PROBABILITY

LIB = cpu.LIB
EDGE_M = [1, 2, 3, 4, 5, 1 << 12, (1 << 23) - 1, 1 << 23, 11863283, 11863284, (1 << 24) - 1]
EDGE_K = [0, 1, 1 << 21, (1 << 21) + 1, 1 << 22, 3 << 21, 1 << 23, 3 << 22, (1 << 24) - 1]


def test_split_binade_is_exact_on_every_power_boundary():
    for e in range(256):
        assert LIB.split_binade(2.0**e) == (1.0, float(e))
        if e > 0:
            below = math.nextafter(2.0**e, 0.0)
            assert LIB.split_binade(below) == (below / 2.0 ** (e - 1), float(e - 1))
    for m in [3, 5, 11863283, (1 << 24) - 1]:
        f, e = LIB.split_binade(float(m))
        assert 1.0 <= f < 2.0 and f * 2.0**e == m


def test_neg2_log_u24_matches_libm():
    ms = EDGE_M + [int(m) for m in np.random.default_rng(1).integers(1, 1 << 24, 3000)]
    for m in ms:
        expected = -2.0 * math.log(m / (1 << 24))  # m / 2^24 is exact
        got = LIB.neg2_log_u24(m)
        assert got > 0.0
        assert abs(got - expected) <= 2e-12 * expected, m


def test_neg2_log_u24_is_zero_at_one_and_tiny_just_below():
    assert LIB.neg2_log_u24(1 << 24) == 0.0
    assert LIB.neg2_log_u24((1 << 24) - 1) == pytest.approx(2.0 / (1 << 24), rel=1e-6)


def test_sincos_2pi_u24_matches_libm():
    ks = EDGE_K + [int(k) for k in np.random.default_rng(2).integers(0, 1 << 24, 3000)]
    for k in ks:
        theta = 2.0 * math.pi * k / (1 << 24)
        s, c = LIB.sincos_2pi_u24(k)
        assert abs(s - math.sin(theta)) <= 1e-11, k
        assert abs(c - math.cos(theta)) <= 1e-11, k
    assert LIB.sincos_2pi_u24(0) == (0.0, 1.0)


def test_neg2_log_u53_matches_libm_to_a_few_ulp():
    rng = np.random.default_rng(3)
    ms = ([1, 2, 3, 1 << 26, (1 << 52) - 1, 1 << 52, (1 << 53) - 2, (1 << 53) - 1]
          + [int(m) for m in rng.integers(1, 1 << 53, 3000, dtype=np.int64)]
          + [int(2.0 ** e) + int(d) for e, d in zip(rng.uniform(1, 52, 2000),
                                                    rng.integers(-3, 4, 2000), strict=True)])
    for m in (m for m in ms if 1 <= m <= 1 << 53):
        expected = -2.0 * math.log(m / 2.0**53)  # m / 2^53 is exact; libm is within 1 ulp
        assert abs(LIB.neg2_log_u53(float(m)) - expected) <= 4 * math.ulp(expected), m
    assert LIB.neg2_log_u53(2.0**53) == 0.0


def test_sincos_2pi_u53_matches_libm():
    rng = np.random.default_rng(4)
    words = [(0, 0), (1 << 30, 0), (1 << 31, 0), (3 << 30, 0), (0xFFFFFFFF, 0xFFFFFFFF),
             (0x7FFFFFFF, 0xFFFFFFFF), (0x3FFFFFFF, 0xFFFFFFC0), (1 << 29, 0)]
    words += [(int(h), int(w)) for h, w in rng.integers(0, 1 << 32, (4000, 2), dtype=np.int64)]
    for hi, lo in words:
        k = (hi >> 5) * 2**26 + (lo >> 6)
        theta = 2.0 * math.pi * (k / 2.0**53)  # libm's own error here is below 1e-15
        s, c = LIB.sincos_2pi_u53(hi, lo)
        assert abs(s - math.sin(theta)) <= 1e-15 and abs(c - math.cos(theta)) <= 1e-15, k
    assert LIB.sincos_2pi_u53(0, 0) == (0.0, 1.0)
    assert LIB.sincos_2pi_u53(1 << 30, 0)[0] == 1.0  # θ = π/2 exactly


_float_to_bits16 = LIB.float_to_bits16
FORMATS16 = {"float16": (convert.FLOAT16_P, convert.FLOAT16_MIN_NORMAL, 15),
             "bfloat16": (convert.BFLOAT16_P, convert.BFLOAT16_MIN_NORMAL, 127)}


@njit
def _bits16_cpu(xs, p, min_normal, out):
    for i in range(xs.shape[0]):
        out[i] = _float_to_bits16(xs[i], p, min_normal)


def _bits16_reference(x: float, p: int, bias: int) -> int:
    """Round float64 x to a 16-bit pattern by frexp/ldexp and Python's round()
    (ties to even), for finite x below the format's overflow threshold."""
    sign = 0x8000 if math.copysign(1.0, x) < 0 else 0
    a = abs(x)
    if a == 0.0:
        return sign
    _, e = math.frexp(a)
    e = max(e, 2 - bias)
    k = round(math.ldexp(a, p - e))
    return sign | ((e + bias - 2) * (1 << (p - 1)) + k)


def _decode(bits: np.ndarray, name: str) -> np.ndarray:
    if name == "float16":
        return bits.astype(np.uint16).view(np.float16).astype(np.float64)
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def _rounding_cases(name: str) -> np.ndarray:
    """Random values over every binade, exact ties, subnormals and signed zeros."""
    p, _, bias = FORMATS16[name]
    rng = np.random.default_rng(5)
    spread = rng.uniform(-bias - p - 3, bias + 1, 20000)
    values = np.exp2(spread) * rng.choice([-1.0, 1.0], 20000)
    finite = rng.integers(0, 0x7C00 if name == "float16" else 0x7F80, 5000)
    low, high = _decode(finite, name), _decode(finite + 1, name)
    ties = (low + high) / 2.0  # exact in float64: the formats have at most 11 bits
    smallest = _decode(np.array([1]), name)[0]
    edges = [0.0, -0.0, smallest, smallest / 2, 3 * smallest / 2, smallest / 4]
    return np.concatenate([values, ties, -ties, np.array(edges)])


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_float_to_bits16_rounds_to_nearest_even_exactly(name):
    p, min_normal, bias = FORMATS16[name]
    xs = _rounding_cases(name)
    expected = np.array([_bits16_reference(float(x), p, bias) for x in xs], np.uint32)
    compiled = np.empty(xs.size, np.uint32)
    _bits16_cpu(xs, p, min_normal, compiled)
    assert np.array_equal(compiled, expected)
    simulated = [int(convert.float_to_bits16(float(x), p, min_normal)) for x in xs[::7]]
    assert simulated == expected[::7].tolist()
    if name == "float16":  # NumPy's float64 -> float16 cast rounds once, to nearest even
        assert np.array_equal(compiled, xs.astype(np.float16).view(np.uint16))


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_float_to_bits16_gives_infinity_above_the_largest_finite_value(name):
    p, min_normal, _ = FORMATS16[name]
    infinity = 0x7C00 if name == "float16" else 0x7F80
    largest, below = _decode(np.array([infinity - 1, infinity - 2]), name)
    tie = largest + (largest - below) / 2  # to even: 0x7BFF / 0x7F7F are odd, so up
    for x in [tie, largest * 2, 1e300, math.inf]:
        assert int(LIB.float_to_bits16(x, p, min_normal)) == infinity, x
        assert int(LIB.float_to_bits16(-x, p, min_normal)) == infinity | 0x8000, x
    assert int(LIB.float_to_bits16(largest, p, min_normal)) == infinity - 1


@pytest.mark.parametrize("quantile", [LIB.normal_lower_quantile,
                                      getattr(LIB.normal_lower_quantile, "py_func", None)],
                         ids=["compiled", "python"])
def test_normal_lower_quantile_matches_scipy_ndtri(quantile):
    special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(5)
    # The domain the sampler uses: down to 2^-1022 (Φ(-37.52)).
    smallest = MIN_TAIL_PROBABILITY
    ps = np.concatenate([10.0 ** rng.uniform(-307, math.log10(0.5), 3000),
                         rng.uniform(0.0, 0.5, 3000), 0.5 - 10.0 ** rng.uniform(-12, -1, 500),
                         [smallest, 1e-300, 0.02425, np.nextafter(0.02425, 0), 0.5]])
    ps = ps[ps >= smallest]
    got = np.array([quantile(p) for p in ps])
    expected = special.ndtri(ps)
    # Near p = 0.5, Φ(x) - p cancels: the error is absolute (a few 1e-17).
    np.testing.assert_allclose(got, expected, rtol=2e-14, atol=2e-16)
    assert quantile(0.5) == 0.0 and (got <= 0).all()
