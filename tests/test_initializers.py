"""The initializer objects: laws, deterministic outputs, seeds, blocks and errors."""

import math
import sys

import numpy as np
import pytest
from scipy import stats

import gpuinit as gi
from gpuinit import initializers as I

from .helpers import DTYPES, as_float64

DENSE, CONV = (300, 200), (3, 3, 32, 64)


def _law(init, shape):
    """Return the exact scipy law of ``init`` on the whole ``shape``."""
    if isinstance(init, I.RandomUniform):
        return stats.uniform(init.minval, init.maxval - init.minval)
    if isinstance(init, I.RandomNormal):
        return stats.norm(init.mean, init.stddev)
    if isinstance(init, I.TruncatedNormal):
        return stats.truncnorm(-2, 2, loc=init.mean, scale=init.stddev)
    variance = init.variance(shape)
    if init.distribution == "uniform":
        limit = math.sqrt(3 * variance)
        return stats.uniform(-limit, 2 * limit)
    if init.distribution == "untruncated_normal":
        return stats.norm(0, math.sqrt(variance))
    return stats.truncnorm(-2, 2, scale=math.sqrt(variance) / 0.87962566103423978)


RANDOM = [
    I.RandomUniform(-0.3, 0.7, seed=1), I.RandomNormal(0.1, 0.2, seed=2),
    I.TruncatedNormal(0.0, 0.5, seed=3), I.GlorotUniform(seed=4), I.GlorotNormal(seed=5),
    I.HeUniform(seed=6), I.HeNormal(seed=7), I.LecunUniform(seed=8), I.LecunNormal(seed=9),
    I.VarianceScaling(2.0, "fan_out", "untruncated_normal", seed=10),
    I.VarianceScaling(0.5, "fan_avg", "uniform", seed=11),
]


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
@pytest.mark.parametrize("init", RANDOM, ids=lambda i: type(i).__name__)
def test_random_initializer_follows_its_exact_law(init, shape):
    values = init(shape, device="cpu")
    law = _law(init, shape)
    # Fixed seeds: the statistic is a fixed number; 1e-4 leaves a wide margin.
    assert stats.kstest(values.ravel(), law.cdf).pvalue > 1e-4
    lo, hi = law.support()
    assert values.min() >= lo and values.max() <= hi


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("init", [I.GlorotUniform(seed=1), I.HeNormal(seed=2),
                                  I.RandomNormal(0.0, 1.0, seed=3)], ids=lambda i: type(i).__name__)
def test_every_dtype_has_the_law_moments_and_bounds(init, dtype):
    values = init(CONV, dtype=dtype, device="cpu")
    assert values.dtype == gi.dtypes.float_format(dtype).numpy_dtype
    law = _law(init, CONV)
    x = as_float64(values)
    assert np.isfinite(x).all()
    n = x.size
    assert abs(x.mean() - law.mean()) < 5 * law.std() / math.sqrt(n) + 1e-3 * law.std()
    assert abs(x.std() / law.std() - 1) < 0.02
    lo, hi = law.support()
    assert x.min() >= lo and x.max() <= hi


def test_seeded_initializer_repeats_and_unseeded_draws_fresh():
    seeded = I.HeUniform(seed=42)
    assert np.array_equal(seeded((20, 30), device="cpu"), seeded((20, 30), device="cpu"))
    assert not np.array_equal(seeded((20, 30), device="cpu"),
                              seeded((20, 30), device="cpu", stream=1))
    unseeded = I.HeUniform()
    assert not np.array_equal(unseeded((20, 30), device="cpu"), unseeded((20, 30), device="cpu"))
    gi.manual_seed(7)
    first = unseeded((20, 30), device="cpu")
    gi.manual_seed(7)
    assert np.array_equal(first, unseeded((20, 30), device="cpu"))


@pytest.mark.parametrize("init", [I.GlorotNormal(seed=3), I.RandomUniform(seed=1),
                                  I.Identity(2.0), I.Dirac(2), I.Constant(4.0)],
                         ids=lambda i: type(i).__name__)
def test_a_block_equals_that_block_of_the_whole(init):
    full = (3, 3, 8, 12)
    whole = init(full, device="cpu") if not isinstance(init, I.Identity) else init((40, 30))
    if isinstance(init, I.Identity):
        full, block, start = (40, 30), (10, 7), (12, 9)
    else:
        block, start = (2, 3, 5, 6), (1, 0, 2, 6)
    part = init(block, device="cpu", full_shape=full, start=start)
    index = tuple(slice(s, s + n) for s, n in zip(start, block, strict=True))
    np.testing.assert_array_equal(part, whole[index])


def test_variance_scaling_block_uses_the_fans_of_the_whole_tensor():
    init = I.VarianceScaling(1.0, "fan_in", "uniform", seed=0)
    part = init((10, 5), device="cpu", full_shape=(10000, 5), start=(0, 0))
    assert np.abs(part).max() < math.sqrt(3 / 10000)


@pytest.mark.parametrize("init", [I.Orthogonal(seed=0), I.DeltaOrthogonal(seed=0),
                                  I.Sparse(seed=0)], ids=lambda i: type(i).__name__)
def test_whole_tensor_initializers_refuse_blocks(init):
    with pytest.raises(ValueError, match="needs the whole tensor"):
        init((2, 4), device="cpu", full_shape=(4, 4), start=(0, 0))


@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (32, 32), (5, 4, 12), (3, 3, 8, 16),
                                   (3, 3, 16, 8)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orthogonal_is_orthogonal(shape, dtype):
    gain = 1.5
    q = I.Orthogonal(gain, seed=1)(shape, dtype=dtype, device="cpu")
    assert q.shape == shape and q.dtype == np.dtype(dtype)
    m = as_float64(q).reshape(-1, shape[-1]) / gain
    small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_orthogonal_16_bit_is_the_rounded_float32_result(dtype):
    q16 = I.Orthogonal(seed=2)((24, 12), dtype=dtype, device="cpu")
    q32 = I.Orthogonal(seed=2)((24, 12), dtype="float32", device="cpu")
    np.testing.assert_array_equal(q16, q32.astype(q16.dtype))


@pytest.mark.parametrize("shape", [(48, 20), (20, 48), (30, 30)])
def test_orthogonal_without_scipy_is_the_same_matrix(monkeypatch, shape):
    # With SciPy, LAPACK factors G in float32 in place; without it, NumPy's qr
    # (float64 inside).  Both give the Q with a positive diag(R), so the results
    # agree to float32 rounding, never by a sign or a permutation.
    with_lapack = I.Orthogonal(1.5, seed=4)(shape, device="cpu")
    monkeypatch.setitem(sys.modules, "scipy.linalg", None)
    with_numpy = I.Orthogonal(1.5, seed=4)(shape, device="cpu")
    assert with_numpy.dtype == np.float32 and with_numpy.flags.c_contiguous
    np.testing.assert_allclose(with_numpy, with_lapack, atol=1e-5)
    assert not np.array_equal(with_numpy, with_lapack)  # the fallback really ran


def test_orthogonal_law_is_haar():
    # First entries of Haar-orthogonal 2x2 matrices: cos of a uniform angle.
    firsts = [I.Orthogonal(seed=s)((2, 2), device="cpu")[0, 0] for s in range(400)]
    arcsine = stats.arcsine(loc=-1, scale=2)
    assert stats.kstest(firsts, arcsine.cdf).pvalue > 1e-3


def test_delta_orthogonal_centre_is_orthogonal_and_rest_zero():
    w = I.DeltaOrthogonal(scale=2.0, seed=0)((3, 3, 4, 6), device="cpu")
    centre = w[1, 1]
    np.testing.assert_allclose(centre @ centre.T / 4.0, np.eye(4), atol=1e-5)
    w[1, 1] = 0
    assert not w.any()
    with pytest.raises(ValueError, match="in <= out"):
        I.DeltaOrthogonal()((3, 3, 6, 4), device="cpu")
    with pytest.raises(ValueError, match="3-D, 4-D or 5-D"):
        I.DeltaOrthogonal()((6, 4), device="cpu")


def test_deterministic_outputs():
    np.testing.assert_array_equal(I.Zeros()((2, 3), device="cpu"), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(I.Ones()((2,), dtype="int32", device="cpu"), [1, 1])
    np.testing.assert_array_equal(I.Constant(2.5)((2,), dtype="float64", device="cpu"), [2.5, 2.5])
    np.testing.assert_array_equal(I.Constant(np.float32(1.5))((2,), device="cpu"), [1.5, 1.5])
    np.testing.assert_array_equal(I.Identity(3.0)((2, 4), device="cpu"), 3 * np.eye(2, 4))
    with pytest.raises(ValueError, match="2-D"):
        I.Identity()((2, 2, 2), device="cpu")
    d = I.Dirac(groups=2)((3, 5, 4, 6), device="cpu")  # Keras layout (*spatial, in, out)
    for out in range(6):
        channel = out % 3
        expected = np.zeros((3, 5, 4))
        if channel < 4:
            expected[1, 2, channel] = 1
        np.testing.assert_array_equal(d[..., out], expected)
    with pytest.raises(ValueError, match="divisible"):
        I.Dirac(groups=4)((3, 3, 6), device="cpu")


def test_sparse_has_the_zero_count_of_torch_per_unit():
    w = I.Sparse(sparsity=0.25, std=0.5, seed=0)((40, 10), device="cpu")  # (in, out)
    assert ((w == 0).sum(axis=1) == math.ceil(0.25 * 10)).all()
    nonzero = w[w != 0]
    assert stats.kstest(nonzero, stats.norm(0, 0.5).cdf).pvalue > 1e-4


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: I.RandomUniform(1.0, 0.0), ValueError),
        (lambda: I.RandomNormal(stddev=-1.0), ValueError),
        (lambda: I.VarianceScaling(scale=0.0), ValueError),
        (lambda: I.VarianceScaling(mode="fan_sum"), ValueError),
        (lambda: I.VarianceScaling(distribution="cauchy"), ValueError),
        (lambda: I.VarianceScaling(distribution=3), TypeError),
        (lambda: I.Sparse(sparsity=1.0), ValueError),
        (lambda: I.Orthogonal(gain="big"), TypeError),
        (lambda: I.HeNormal(seed=-1), ValueError),
        (lambda: I.Dirac(groups=0), ValueError),
        (lambda: I.Constant("x"), TypeError),
        (lambda: I.Constant(float("nan")), ValueError),
        (lambda: I.Constant(1j), TypeError),
    ],
)
def test_bad_arguments_get_typed_errors(make, error):
    with pytest.raises(error):
        make()


def test_bad_calls_get_typed_errors():
    with pytest.raises(ValueError, match="shape"):
        I.GlorotUniform()((3, -1), device="cpu")
    with pytest.raises(ValueError, match="dtype"):
        I.GlorotUniform()((3, 3), dtype="int32", device="cpu")
    with pytest.raises(ValueError, match="at least 2"):
        I.Orthogonal()((5,), device="cpu")
    with pytest.raises(TypeError, match="unexpected keyword"):
        I.GlorotUniform()((3, 3), devise="cpu")
    assert I.GlorotUniform(seed=0)((0, 5), device="cpu").shape == (0, 5)
