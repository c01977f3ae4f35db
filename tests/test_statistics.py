"""Every distribution against its exact law (scipy), with fixed seeds.

Seeds are fixed, so each statistic is a fixed number: the thresholds cannot
flake.  float16/bfloat16 outputs are checked by the KS distance, which their
rounding steps (< 0.5% of the CDF) leave well under the bound.
"""

import numpy as np
import pytest
from scipy import stats

import gpuinit as gi
from gpuinit import dtypes

from .helpers import as_float64

N = 20_000
CASES = [
    ("uniform", dict(low=-3.0, high=5.0), stats.uniform(-3.0, 8.0)),
    ("uniform", dict(low=0.0, high=1.0), stats.uniform(0.0, 1.0)),
    ("normal", dict(mean=0.0, std=1.0), stats.norm(0.0, 1.0)),
    ("normal", dict(mean=-2.0, std=0.05), stats.norm(-2.0, 0.05)),
    ("truncated_normal", dict(mean=0.0, std=1.0), stats.truncnorm(-2, 2)),
    ("truncated_normal", dict(mean=1.0, std=2.0, lower=3.0, upper=6.0),
     stats.truncnorm(3, 6, 1.0, 2.0)),
    ("truncated_normal", dict(lower=0.1, upper=0.2), stats.truncnorm(0.1, 0.2)),
    ("truncated_normal", dict(lower=-1.0, upper=8.0), stats.truncnorm(-1, 8)),
    ("truncated_normal", dict(lower=-9.0, upper=-7.5), stats.truncnorm(-9, -7.5)),
    ("truncated_normal", dict(lower=-0.3, upper=0.4), stats.truncnorm(-0.3, 0.4)),
    # The far tails, down to where float64 probabilities stay normal numbers.
    ("truncated_normal", dict(lower=36.0, upper=40.0), stats.truncnorm(36, 40)),
    ("truncated_normal", dict(mean=1.0, std=0.5, lower=-np.inf, upper=-36.0),
     stats.truncnorm(-np.inf, -36, 1.0, 0.5)),
    # Infinite bounds: half-truncated and untruncated.
    ("truncated_normal", dict(lower=-np.inf, upper=0.5), stats.truncnorm(-np.inf, 0.5)),
    ("truncated_normal", dict(lower=2.5, upper=np.inf), stats.truncnorm(2.5, np.inf)),
    ("truncated_normal", dict(lower=-np.inf, upper=np.inf), stats.norm(0.0, 1.0)),
    ("laplace", dict(loc=0.0, scale=1.0), stats.laplace(0.0, 1.0)),
    ("laplace", dict(loc=-3.0, scale=0.02), stats.laplace(-3.0, 0.02)),
]


def _sample(name, params, dtype, shape, seed):
    return getattr(gi.random, name)(shape, **params, seed=seed, dtype=dtype, device="cpu")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_matches_exact_law(case, dtype):
    name, params, law = CASES[case]
    for seed, shape in [(1, (N,)), (2, (100, 200)), (3, (3, 3, 40, 57))]:
        x = as_float64(_sample(name, params, dtype, shape, seed)).ravel()
        assert np.isfinite(x).all()
        assert stats.kstest(x, law.cdf).pvalue > 1e-3
        low, high = law.support()
        assert x.min() >= low and x.max() <= high
        # Mean within 5 standard errors of the law's.
        assert abs(x.mean() - law.mean()) < 5 * law.std() / np.sqrt(x.size)


def _rounded_law_ks_distance(x, law, dtype):
    """KS distance between x and the law rounded to nearest in ``dtype``: at each
    representable value v, P(round(X) <= v) = F(midpoint of v and its successor)."""
    form = dtypes.float_format(dtype)
    values, counts = np.unique(x, return_counts=True)
    ecdf = np.cumsum(counts) / x.size
    upper = np.array([dtypes.next_toward(v, form, up=True) for v in values])
    exact = law.cdf((values + upper) / 2)
    return np.abs(ecdf - exact).max()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_16_bit_outputs_follow_the_rounded_law(case, dtype):
    name, params, law = CASES[case]
    x = as_float64(_sample(name, params, dtype, (N,), 11))
    # 1.95 / sqrt(N) is the 0.1% critical value of the KS distance.
    assert _rounded_law_ks_distance(x, law, dtype) < 1.95 / np.sqrt(N)
    low, high = law.support()
    assert x.min() >= low and x.max() <= high


def test_uniform_never_returns_high_in_any_dtype():
    for dtype in ["float16", "bfloat16", "float32"]:
        # Most values round up to `high` in these ranges without the clamp.
        x = as_float64(gi.random.uniform(50_000, 1000.0, 1001.0, seed=3, dtype=dtype, device="cpu"))
        assert x.max() < 1001.0 and x.min() >= 1000.0


def test_truncated_normal_fallback_is_exercised_and_in_bounds():
    # Acceptance ~0.04: below TRUNC_MIN_ACCEPTANCE, so every value is an inverse CDF.
    x = as_float64(gi.random.truncated_normal(N, lower=0.1, upper=0.2, seed=4, device="cpu"))
    assert x.min() >= 0.1 and x.max() <= 0.2
    assert np.unique(x).size > N * 0.9


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_pairs_are_independent(dtype):
    # One Box-Muller pair: r cos θ and r sin θ are uncorrelated, and so are their squares.
    x = as_float64(gi.random.normal(2 * N, seed=8, dtype=dtype, device="cpu")).reshape(-1, 2)
    assert abs(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) < 5 / np.sqrt(N)
    assert abs(np.corrcoef(x[:, 0] ** 2, x[:, 1] ** 2)[0, 1]) < 5 / np.sqrt(N)
