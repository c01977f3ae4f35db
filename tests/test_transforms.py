"""The transforms' own arithmetic: the 24- and 53-bit Box-Muller pieces (our
polynomials) against libm, the float32 fma and the float16/bfloat16 rounding
against independent references.

The 24-bit pieces compute in float32: each is checked on every one of its 2^24
inputs, within 2 float32 ulp, and the same operations are rounded the same way on
every target (see test_cuda_agreement).  The roundings must be exact: they are
checked bit for bit, compiled for the CPU and as the plain Python the CUDA
simulator runs.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from numba import njit

from gpuinit.kernels import arrays, convert, cpu, primitives
from gpuinit.kernels.distributions import MIN_TAIL_PROBABILITY

LIB = cpu.LIB
cpu_fma32 = cpu.FMA32
cpu_to_float16 = LIB.float32_to_float16_bits
cpu_to_bfloat16 = LIB.float32_to_bfloat16_bits
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


_neg2_log_u24 = LIB.neg2_log_u24
_sincos_2pi_u24 = LIB.sincos_2pi_u24


@njit
def _every_neg2_log_u24(out):
    for m in range(1, out.size + 1):
        out[m - 1] = _neg2_log_u24(m)


@njit
def _every_sincos_2pi_u24(sines, cosines):
    for k in range(sines.size):
        sines[k], cosines[k] = _sincos_2pi_u24(k)


def _float32_ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Return |got - exact| in float32 ulp of |exact| (of 2^-24 below 1/2^24·2^24)."""
    scale = np.maximum(np.abs(exact), 2.0 ** -126)
    return np.abs(got.astype(np.float64) - exact) / 2.0 ** (np.floor(np.log2(scale)) - 23)


@pytest.mark.slow  # all 2^24 inputs (seconds)
def test_neg2_log_u24_is_within_two_ulp_for_every_m():
    got = np.empty(1 << 24, np.float32)
    _every_neg2_log_u24(got)
    m = np.arange(1, (1 << 24) + 1, dtype=np.float64)
    exact = -2.0 * (np.log(m) - 24.0 * math.log(2.0))  # float64: far finer than float32
    assert got.dtype == np.float32 and got[-1] == 0.0 and (got[:-1] > 0).all()
    assert _float32_ulps(got[:-1], exact[:-1]).max() <= 2.0
    for m in EDGE_M:
        assert _neg2_log_u24(m) == got[m - 1]


def test_neg2_log_u24_is_zero_at_one_and_tiny_just_below():
    assert LIB.neg2_log_u24(1 << 24) == 0.0
    assert LIB.neg2_log_u24((1 << 24) - 1) == pytest.approx(2.0 / (1 << 24), rel=1e-6)


@pytest.mark.slow  # all 2^24 inputs (seconds)
def test_sincos_2pi_u24_is_within_two_ulp_for_every_k():
    sines, cosines = np.empty(1 << 24, np.float32), np.empty(1 << 24, np.float32)
    _every_sincos_2pi_u24(sines, cosines)
    theta = 2.0 * np.pi * np.arange(1 << 24) / (1 << 24)
    for got, exact in ((sines, np.sin(theta)), (cosines, np.cos(theta))):
        # Relative to the value away from its zeros, absolute (2^-24 units) near them,
        # where the reduced angle's own rounding dominates.
        away = np.abs(exact) > 2.0 ** -10
        assert _float32_ulps(got[away], exact[away]).max() <= 2.0
        assert np.abs(got.astype(np.float64) - exact).max() <= 2.0 * 2.0 ** -24
    assert LIB.sincos_2pi_u24(0) == (0.0, 1.0)
    assert LIB.sincos_2pi_u24(1 << 22) == (1.0, 0.0)  # θ = π/2: the quadrant, exactly


@njit
def _fma32_cpu(a, b, c, out):
    for i in range(a.size):
        out[i] = cpu_fma32(a[i], b[i], c[i])


def test_fma32_rounds_once_on_the_cpu_in_numpy_and_in_the_reference():
    rng = np.random.default_rng(4)
    n = 20000
    a = (rng.standard_normal(n) * np.exp2(rng.integers(-30, 30, n))).astype(np.float32)
    b = (rng.standard_normal(n) * np.exp2(rng.integers(-30, 30, n))).astype(np.float32)
    # c near -a·b: heavy cancellation, where a double rounding would show.
    c = (-(a.astype(np.float64) * b) * (1 + rng.standard_normal(n) * 2.0 ** -20)).astype(
        np.float32)
    # The exact value 1 + 2^-24 + 2^-60 lies just above a float32 tie: float64 first
    # would round it onto the tie and then down to 1; once, it rounds up.
    a[0], b[0], c[0] = -(2.0 ** -24) * (1 - 2.0 ** -18), 1 + 2.0 ** -18, 1 + 2.0 ** -23
    # Products in float32's subnormal range.
    a[1:200] *= np.float32(2.0 ** -70)
    b[1:200] *= np.float32(2.0 ** -60)
    c[1:100] = 0.0
    got = np.empty(n, np.float32)
    _fma32_cpu(a, b, c, got)
    assert got[0] == np.float32(1 + 2.0 ** -23)
    # The NumPy target's version (arrays, the compile-free fills) on whole arrays.
    assert np.array_equal(arrays.fma32(a, b, c).view(np.uint32), got.view(np.uint32))
    reference = np.array([primitives.fma32(x, y, z) for x, y, z in zip(a, b, c, strict=True)],
                         np.float32)
    assert np.array_equal(got.view(np.uint32), reference.view(np.uint32))
    exact = [Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))
             for x, y, z in zip(a[:500], b[:500], c[:500], strict=True)]
    for value, rounded in zip(exact, got[:500], strict=True):  # nearest float32, by bisection
        below, above = np.nextafter(rounded, np.float32(-np.inf)), np.nextafter(
            rounded, np.float32(np.inf))
        assert abs(Fraction(float(rounded)) - value) <= abs(Fraction(float(below)) - value)
        assert abs(Fraction(float(rounded)) - value) <= abs(Fraction(float(above)) - value)


@njit
def _fma64_cpu(a, b, c, out):
    for i in range(a.size):
        out[i] = cpu.FMA(a[i], b[i], c[i])


def _fma64_cases():
    """(a, b, c) arrays: plain values; products of 27-bit whole numbers with c a fraction
    of an ulp from -a·b (ties and near-ties after cancellation); every binade from the
    subnormals to overflow; products near 1 minus 1; tiny and huge operands."""
    rng = np.random.default_rng(8)
    n = 20000
    yield rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)
    a = np.floor(rng.random(n) * 2.0 ** 27) + 1
    b = np.floor(rng.random(n) * 2.0 ** 27) + 1
    c = -(a * b) + rng.choice([0.5, 0.25, -0.5, 1.0, 2.0 ** -30], n) * np.spacing(a * b)
    yield a, b, c
    yield tuple(rng.standard_normal(n) * 2.0 ** rng.integers(-1074, 1023, n) for _ in range(3))
    yield (1 + rng.integers(0, 2 ** 20, n) * 2.0 ** -52, 1 - rng.integers(0, 2 ** 20, n)
           * 2.0 ** -52, -np.ones(n))
    yield (rng.standard_normal(n) * 1e-160, rng.standard_normal(n) * 1e-160,
           rng.standard_normal(n) * 1e-310)
    yield (rng.standard_normal(n) * 1e200, rng.standard_normal(n) * 1e200,
           rng.standard_normal(n) * 1e300)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 5e-324, 1.0])
    grid = np.array(np.meshgrid(special, special, special)).reshape(3, -1)
    yield grid[0], grid[1], grid[2]


def test_fma64_of_the_numpy_target_rounds_once_as_the_cpu_does():
    for a, b, c in _fma64_cases():
        got = np.empty(a.size)
        _fma64_cpu(a, b, c, got)  # the hardware fma: one rounding
        with np.errstate(all="ignore"):
            ours = arrays.fma64(a, b, c)
        same = (ours.view(np.uint64) == got.view(np.uint64)) | (np.isnan(ours) & np.isnan(got))
        assert same.all(), (a[~same][:3], b[~same][:3], c[~same][:3])
    # Scalars give scalars, on the exact path too (underflow, a zero, overflow).
    for x, y, z, want in ((1e-300, 1e-300, 0.0, 0.0), (-0.0, 5.0, 0.0, 0.0),
                          (1e308, 10.0, -1e308, np.inf), (2.0, 3.0, 1.0, 7.0)):
        got = arrays.fma64(x, y, z)
        assert np.ndim(got) == 0 and got == want and np.signbit(got) == np.signbit(want)
    # The cases do tell one rounding from two: a·b + c in float64 differs on some.
    a, b, c = list(_fma64_cases())[1]
    assert (arrays.fma64(a, b, c) != a * b + c).sum() > 100


def _float32_cases() -> np.ndarray:
    """float32 values over every binade, both 16-bit formats' ties and near-ties,
    subnormals, signed zeros and the overflow boundaries."""
    rng = np.random.default_rng(6)
    patterns = rng.integers(0, 0x7F800000, 200000, dtype=np.uint32)
    halves = rng.integers(0, 0x7F80, 20000, dtype=np.uint32) << 16
    float16_ties = (rng.integers(0, 0x7F800000 >> 13, 20000, dtype=np.uint32) << 13) | 0x1000
    ties = np.concatenate([halves | 0x8000, halves | 0x7FFF, halves | 0x8001, float16_ties])
    edges = np.array([0, 1, 0x00800000, 0x387FFFFF, 0x38800000, 0x33000000, 0x33000001,
                      0x477FE000, 0x477FEFFF, 0x477FF000, 0x7F7FFFFF, 0x7F7F7FFF, 0x7F7F8000],
                     np.uint32)
    every = np.concatenate([patterns, ties, edges])
    return np.concatenate([every, every | np.uint32(0x80000000)]).view(np.float32)


@njit
def _to16_cpu(xs, out16, outb16):
    for i in range(xs.size):
        out16[i] = cpu_to_float16(xs[i])
        outb16[i] = cpu_to_bfloat16(xs[i])


def test_float32_to_16_bit_rounds_once_to_nearest_even():
    import ml_dtypes

    xs = _float32_cases()
    half, brain = np.empty(xs.size, np.uint32), np.empty(xs.size, np.uint32)
    with np.errstate(over="ignore"):
        _to16_cpu(xs, half, brain)
        # NumPy's float32 -> float16 and ml_dtypes' float32 -> bfloat16 round once.
        assert np.array_equal(half, xs.astype(np.float16).view(np.uint16))
        assert np.array_equal(brain, xs.astype(ml_dtypes.bfloat16).view(np.uint16))
    for i in range(0, xs.size, 97):  # the plain Python the simulator runs
        assert int(convert.float32_to_float16_bits(xs[i])) == half[i]
        assert int(convert.float32_to_bfloat16_bits(xs[i])) == brain[i]


@njit
def _to16_instruction(xs, out16):
    for i in range(xs.size):
        out16[i] = cpu._float16_bits(xs[i])


@pytest.mark.skipif(not cpu.native_float16_conversion(),
                    reason="the loops convert to float16 by integer steps here")
def test_the_loops_float16_instruction_gives_the_integer_conversions_bits():
    xs = np.concatenate([_float32_cases(), np.array([np.inf, -np.inf], np.float32)])
    by_instruction, by_integers = np.empty(xs.size, np.uint32), np.empty(xs.size, np.uint32)
    _to16_instruction(xs, by_instruction)
    with np.errstate(over="ignore"):
        _to16_cpu(xs, by_integers, np.empty(xs.size, np.uint32))
    assert np.array_equal(by_instruction, by_integers)
    assert by_instruction[-2:].tolist() == [0x7C00, 0xFC00]


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
