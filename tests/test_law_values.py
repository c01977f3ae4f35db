"""The law values of gpuinit.laws: what each states (moments, fourth moment, peak density,
bounds, text) against scipy and against the values it writes, and how it fills."""

import math

import numpy as np
import pytest
from scipy import stats

import gpuinit as gi
from gpuinit.laws import (
    Constant,
    Dirac,
    Eye,
    Laplace,
    Normal,
    Orthogonal,
    Rule,
    Sparse,
    TruncatedNormal,
    Uniform,
)

ELEMENTWISE = [
    (Uniform(-0.5, 1.5), stats.uniform(-0.5, 2.0)),
    (Normal(0.25, 0.02), stats.norm(0.25, 0.02)),
    (TruncatedNormal(0.1, 2.0, -2.0, 2.0), stats.truncnorm(-2.0, 2.0, 0.1, 2.0)),
    (TruncatedNormal(0.0, 1.0, 3.0, 6.0), stats.truncnorm(3.0, 6.0)),
    (TruncatedNormal(1.0, 0.5, -np.inf, 0.5), stats.truncnorm(-np.inf, 0.5, 1.0, 0.5)),
    (Laplace(-3.0, 0.02), stats.laplace(-3.0, 0.02)),
]


@pytest.mark.parametrize("case", range(len(ELEMENTWISE)))
def test_an_elementwise_law_states_scipys_moments_and_density(case):
    law, exact = ELEMENTWISE[case]
    mean, std = law.moments()
    assert mean == pytest.approx(exact.mean(), rel=1e-9, abs=1e-12)
    assert std == pytest.approx(exact.std(), rel=1e-9)
    center = exact.mean()
    m4 = exact.expect(lambda x: (x - center) ** 4)
    assert law.fourth_moment() == pytest.approx(m4, rel=1e-6)
    grid = np.linspace(*law.support, 2001)
    np.testing.assert_allclose(law.density(grid), exact.pdf(grid), rtol=1e-9, atol=1e-12)
    assert law.peak_density() == pytest.approx(exact.pdf(grid).max(), rel=2e-3)


@pytest.mark.parametrize("case", range(len(ELEMENTWISE)))
def test_an_elementwise_law_fills_in_place_what_it_samples(case):
    law, exact = ELEMENTWISE[case]
    target = np.empty((64, 48), np.float32)
    law.fill(target, seed=7, stream=3)
    np.testing.assert_array_equal(target, law.sample((64, 48), seed=7, stream=3))
    if law.bounds is not None:
        low, high = law.bounds
        assert target.min() >= np.float32(low) and target.max() <= np.float32(high)
    assert stats.kstest(target.ravel().astype(np.float64), exact.cdf).pvalue > 1e-4


def test_a_normal_needs_its_std_and_a_truncated_normal_takes_torchs_bounds():
    with pytest.raises(TypeError, match="needs std"):
        Normal(0.02)
    law = TruncatedNormal.absolute(0.02, -0.04, 0.05, mean=0.01)
    assert (law.lower, law.upper) == (pytest.approx(-2.5), pytest.approx(2.0))
    assert law.bounds == pytest.approx((-0.04, 0.05))
    assert law.text() == "trunc_normal(mean=0.01, std=0.02, a=-0.04, b=0.05)"
    a = law.sample((300,), seed=1)
    b = gi.init.trunc_normal_(np.empty(300, np.float32), 0.01, 0.02, -0.04, 0.05, seed=1)
    np.testing.assert_array_equal(a, b)
    assert TruncatedNormal.cutoff(0.5, None) == Normal(0.0, 0.5)
    assert TruncatedNormal.cutoff(0.5, 3.0) == TruncatedNormal(0.0, 0.5, -3.0, 3.0)


def test_a_scaled_law_is_the_law_of_the_scaled_values():
    for law in (Uniform(-1.0, 3.0), Normal(1.0, 2.0), Laplace(1.0, 2.0),
                TruncatedNormal(0.5, 1.0, -1.0, 2.0)):
        for factor in (0.5, -2.0):
            scaled = law.scaled(factor)
            mean, std = law.moments()
            assert scaled.moments() == pytest.approx((mean * factor, std * abs(factor)))
            if law.bounds is not None:
                assert sorted(scaled.bounds) == pytest.approx(
                    sorted(e * factor for e in law.bounds))
    with pytest.raises(ValueError, match="scaled by 0"):
        TruncatedNormal(0.0, 1.0).scaled(0.0)
    assert Constant(2.0).scaled(-1.5) == Constant(-3.0)
    assert Orthogonal(2.0).scaled(0.5) == Orthogonal(1.0)


@pytest.mark.parametrize("law, shape", [
    (Eye(2.0), (5, 7)), (Dirac(2), (4, 3, 3, 3)), (Constant(-0.5), (6, 2)),
    (Sparse(0.3, 0.5), (40, 300)), (Orthogonal(1.5), (30, 50)),
])
def test_a_structured_law_states_the_moments_of_what_it_writes(law, shape):
    target = np.empty(shape, np.float32)
    law.fill(target, seed=4)
    mean, std = law.moments(shape)
    values = target.astype(np.float64).ravel()
    if isinstance(law, (Eye, Dirac, Constant)):  # exact: the values are the law
        assert (values.mean(), values.std()) == (pytest.approx(mean), pytest.approx(std))
    else:  # random: within a few standard errors of a sample of 12,000
        assert abs(values.std() - std) < 0.05 * std
        assert abs(values.mean() - mean) < 4 * std / math.sqrt(values.size)
    if law.bounds is not None:
        assert law.bounds[0] <= values.min() and values.max() <= law.bounds[1]


def test_a_rule_writes_its_law_then_its_edits_on_arrays_and_tensors():
    torch = pytest.importorskip("torch")
    rule = Rule(Normal(0.0, 1.0), "embedding", zero_rows=(2,), scales=((1, 0, 3, 0.5),))
    array = np.empty((6, 5), np.float32)
    tensor = torch.empty(6, 5)
    rule(array, 9)
    rule(tensor, 9)
    whole = Normal(0.0, 1.0).sample((6, 5), seed=9)
    whole[:, :3] *= np.float32(0.5)
    whole[2] = 0
    np.testing.assert_array_equal(array, whole)
    np.testing.assert_array_equal(tensor.numpy(), whole)
    assert rule.text() == "normal(mean=0, std=1); dim 1 0:3 x 0.5; row 2 zero"
    assert Rule(Uniform(-1.0, 2.0), scales=((0, 0, 1, 3.0),), zero_rows=(1,)).bounds == \
        (-3.0, 6.0)
    with pytest.raises(ValueError, match="row 6 to zero is outside"):
        Rule(Normal(0.0, 1.0), zero_rows=(6,)).prepare(array)
    np.testing.assert_array_equal(array, whole)  # a refused rule writes nothing


def test_the_tails_a_law_states_are_scipys():
    for law, exact in ((Normal(1.0, 3.0), stats.norm(1.0, 3.0)),
                       (Laplace(1.0, 3.0), stats.laplace(1.0, 3.0))):
        mean, std = law.moments()
        for p in (0.05, 1e-9, 1e-15):
            k = law.tail_reach(p)
            assert exact.sf(mean + k * std) + exact.cdf(mean - k * std) == pytest.approx(p,
                                                                                     rel=1e-6)
    assert Uniform(0.0, 1.0).tail_reach(0.05) is None  # bounded: its bounds are its tails
