"""The law as a value: each elementwise initializer gives one frozen record, and that
record is what its samples, gpuinit.torch's fills and gpuinit.plot's densities use."""

import dataclasses
import math

import numpy as np
import pytest
import scipy.stats

import gpuinit as gi
from gpuinit import laws, plot
from gpuinit.fans import torch_fans
from gpuinit.laws import elementwise

from .helpers import bits

ELEMENTWISE = ["random_uniform", "random_normal", "truncated_normal", "glorot_uniform",
               "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"]
SHAPE = (3, 3, 16, 32)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_an_initializer_samples_its_own_law(name):
    init = gi.initializers.get({"class_name": name, "config": {"seed": 5}})
    law = init.law(SHAPE)
    assert dataclasses.is_dataclass(law) and law.__dataclass_params__.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        law.mean = 1.0
    np.testing.assert_array_equal(bits(init(SHAPE, device="cpu", stream=3)),
                                  bits(law.sample(SHAPE, seed=5, stream=3, device="cpu")))


def test_variance_scaling_laws_follow_the_fans_they_are_given():
    init = gi.initializers.HeNormal()
    fan_in, fan_out = torch_fans(SHAPE)
    assert init.law(SHAPE) == laws.TruncatedNormal(0.0, math.sqrt(2.0 / (3 * 3 * 16))
                                                   / 0.87962566103423978)
    law = init.law(SHAPE, (fan_in, fan_out))
    assert law.std == pytest.approx(math.sqrt(2.0 / fan_in) / 0.87962566103423978)
    assert gi.initializers.GlorotUniform().law((20, 30)) == laws.Uniform(
        -math.sqrt(6.0 / 50), math.sqrt(6.0 / 50))


def test_elementwise_laws_are_refused_where_there_is_none():
    for init in (gi.initializers.Orthogonal(), gi.initializers.Zeros(),
                 gi.initializers.Identity()):
        with pytest.raises(ValueError, match="no elementwise law"):
            init.law((4, 4))


@pytest.mark.parametrize("lower, upper", [(-2.0, 2.0), (0.5, 3.0), (-math.inf, 1.0)])
def test_truncated_normal_moments_and_density_are_scipys(lower, upper):
    law = laws.TruncatedNormal(0.3, 1.7, lower, upper)
    reference = scipy.stats.truncnorm(lower, upper, loc=0.3, scale=1.7)
    mean, std = law.moments()
    assert mean == pytest.approx(reference.mean(), rel=1e-12, abs=1e-12)
    assert std == pytest.approx(reference.std(), rel=1e-12)
    x = np.linspace(-3.0, 6.0, 41)
    np.testing.assert_allclose(law.density(x), reference.pdf(x), rtol=1e-12, atol=1e-300)


def test_plot_and_torch_read_the_same_record():
    torch = pytest.importorskip("torch")
    init = gi.initializers.HeUniform(seed=2)
    drawn = plot.law_of(init, (64, 32))
    law = init.law((64, 32))
    assert drawn.name == law.text() and drawn.support == law.support
    assert (drawn.mean, drawn.std) == law.moments()
    import gpuinit.torch as gt

    linear = torch.nn.Linear(64, 32)
    # A scheme draws from the model's seed: it takes the initializer without its own.
    gt.init_module(linear, scheme={"weight": gi.initializers.HeUniform(), "bias": "zeros"})
    # PyTorch's layout: the (32, 64) weight has fan_in 64, not Keras' 32.
    torch_law = init.law((32, 64), torch_fans((32, 64)))
    assert torch_law == laws.Uniform(-math.sqrt(6.0 / 64), math.sqrt(6.0 / 64))
    largest = float(linear.weight.detach().abs().max())
    assert 0.99 * torch_law.high < largest < torch_law.high < init.law((32, 64)).high


@pytest.mark.parametrize("fans, error", [(("a", "b"), TypeError), ((1,), TypeError),
                                         ("ab", TypeError), ((math.nan, 2), ValueError),
                                         ((-3, 4), ValueError), ((3, math.inf), ValueError)])
def test_laws_refuse_fans_that_are_not_two_numbers(fans, error):
    with pytest.raises(error, match="fans"):
        gi.initializers.HeUniform().law((3, 4), fans=fans)


# A law checks its arguments when it is made, by its sampler's rules and in its words.
REFUSED = [
    (lambda: laws.Normal(std=-1.0), ValueError, r"std=-1.0 must be >= 0"),
    (lambda: laws.Normal(math.nan, 1.0), ValueError, r"mean=nan must be finite"),
    (lambda: laws.Normal("0", 1.0), TypeError, r"mean must be a real number"),
    (lambda: laws.Normal(std=math.inf), ValueError, r"std=inf must be finite"),
    (lambda: laws.Normal(std=1.0).scaled(math.nan), ValueError, r"factor=nan must be finite"),
    (lambda: laws.Uniform(math.nan, 1), ValueError, r"low=nan must be finite"),
    (lambda: laws.Uniform(0, math.inf), ValueError, r"high=inf must be finite"),
    (lambda: laws.Uniform(1, 0), ValueError, r"low=1.0 must be <= high=0.0"),
    (lambda: laws.Uniform(-1e308, 1e308), ValueError, r"high - low = 1e\+308 - -1e\+308 "
                                                      r"overflows float64"),
    (lambda: laws.Uniform.symmetric(-0.5), ValueError, r"bound=-0.5 must be >= 0"),
    (lambda: laws.TruncatedNormal(0.0, 1.0, 40, 41), ValueError,
     r"\[lower, upper\] = \[40.0, 41.0\] holds probability 0 of the normal law"),
    (lambda: laws.TruncatedNormal(0.0, 1.0, 1.0, 1.0 + 1e-9), ValueError, r"too narrow"),
    (lambda: laws.TruncatedNormal(0.0, -1.0), ValueError, r"std=-1.0 must be >= 0"),
    (lambda: laws.TruncatedNormal(math.inf, 1.0), ValueError, r"mean=inf must be finite"),
    (lambda: laws.TruncatedNormal(0.0, 1.0, 2.0, -2.0), ValueError,
     r"lower=2.0 must be < upper=-2.0"),
    (lambda: laws.TruncatedNormal(0.0, 1.0, math.nan), ValueError, r"lower=nan must be"),
    (lambda: laws.TruncatedNormal(0.0, 1.0, upper="2"), TypeError,
     r"upper must be a real number"),
    (lambda: laws.TruncatedNormal.absolute(0.02, 0.04, -0.04), ValueError,
     r"a=0.04 must be < b=-0.04"),
    (lambda: laws.TruncatedNormal.absolute(0.0, -1, 1), ValueError, r"std=0.0 must be > 0"),
    (lambda: laws.TruncatedNormal.absolute(-0.02, -1, 1), ValueError, r"std=-0.02 must be > 0"),
    (lambda: laws.TruncatedNormal.absolute(1.0, 40.0, 41.0), ValueError,
     r"\[a, b\] = \[40.0, 41.0\] with mean=0.0, std=1.0"),
    (lambda: laws.TruncatedNormal.absolute(1.0, -1.0, math.nan), ValueError, r"b=nan must be"),
    (lambda: laws.TruncatedNormal.cutoff(0.02, -3.0), ValueError, r"factor=-3.0 must be > 0"),
    (lambda: laws.TruncatedNormal.cutoff(-0.02, 3.0), ValueError, r"std=-0.02 must be >= 0"),
    (lambda: laws.Laplace(scale=-1.0), ValueError, r"scale=-1.0 must be >= 0"),
    (lambda: laws.Laplace(loc=math.nan), ValueError, r"loc=nan must be finite"),
    (lambda: laws.Constant(math.nan), ValueError, r"value=nan must be finite"),
    (lambda: laws.Constant("1"), TypeError, r"value"),
    (lambda: laws.Constant(1.0).scaled(math.inf), ValueError, r"factor=inf must be finite"),
    (lambda: laws.Eye(math.nan), ValueError, r"gain=nan must be finite"),
    (lambda: laws.Orthogonal(math.inf), ValueError, r"gain=inf must be finite"),
    (lambda: laws.Dirac(0), ValueError, r"groups=0 must be >= 1"),
    (lambda: laws.Dirac(1.5), TypeError, r"groups must be an integer"),
    (lambda: laws.Sparse(1.0), ValueError, r"sparsity=1.0 must lie in \[0, 1\)"),
    (lambda: laws.Sparse(0.5, -0.1), ValueError, r"std=-0.1 must be >= 0"),
    (lambda: laws.Computed("ids", 3), TypeError, r"compute must be callable"),
    (lambda: laws.Rule(3), TypeError, r"law must be a gpuinit.laws law, got int"),
    (lambda: laws.Rule(laws.Normal(std=1.0), zero_rows=(-1,)), ValueError,
     r"zero_rows=-1 must be >= 0"),
    (lambda: laws.Rule(laws.Normal(std=1.0), zero_rows=(0.5,)), TypeError,
     r"zero_rows must be an integer"),
    (lambda: laws.Rule(laws.Normal(std=1.0), scales=((0, 0, 1),)), TypeError,
     r"scales must hold \(dim, start, stop, factor\) tuples"),
    (lambda: laws.Rule(laws.Normal(std=1.0), scales=((0, 2, 1, 2.0),)), ValueError,
     r"scales start=2 must be <= stop=1"),
    (lambda: laws.Rule(laws.Normal(std=1.0), scales=((0, 0, 1, math.nan),)), ValueError,
     r"scales factor=nan must be finite"),
]


@pytest.mark.parametrize("case", range(len(REFUSED)))
def test_a_law_refuses_invalid_arguments_when_it_is_made(case):
    make, error, message = REFUSED[case]
    with pytest.raises(error, match=message):
        make()


SAMPLER_RULES = [
    (laws.Normal, (0.0, -1.0), gi.random.normal),
    (laws.Normal, (math.inf, 1.0), gi.random.normal),
    (laws.Uniform, (math.nan, 1.0), gi.random.uniform),
    (laws.Uniform, (1, 0), gi.random.uniform),
    (laws.Uniform, (-1e308, 1e308), gi.random.uniform),
    (laws.TruncatedNormal, (0.0, -1.0, -2.0, 2.0), gi.random.truncated_normal),
    (laws.TruncatedNormal, (0.0, 1.0, 40.0, 41.0), gi.random.truncated_normal),
    (laws.TruncatedNormal, (0.0, 1.0, 1.0, 1.0 + 1e-9), gi.random.truncated_normal),
    (laws.TruncatedNormal, (0.0, 1.0, 2.0, -2.0), gi.random.truncated_normal),
    (laws.TruncatedNormal, (0.0, 1.0, math.nan, 2.0), gi.random.truncated_normal),
    (laws.Laplace, (0.0, -1.0), gi.random.laplace),
    (laws.Laplace, (math.nan, 1.0), gi.random.laplace),
]


@pytest.mark.parametrize("case", range(len(SAMPLER_RULES)))
def test_a_law_is_refused_in_the_words_of_its_sampler(case):
    law, args, sampler = SAMPLER_RULES[case]
    with pytest.raises((TypeError, ValueError)) as sampled:
        sampler(4, *args, dtype="float64", device="cpu", seed=0)
    with pytest.raises(type(sampled.value)) as made:
        law(*args)
    assert str(made.value) == str(sampled.value)


@pytest.mark.parametrize("std, a, b", [(0.0, -1.0, 1.0), (0.02, 0.04, -0.04),
                                       (1.0, 40.0, 41.0), (1.0, 1.0, 1.0 + 1e-9)])
def test_an_absolute_truncated_normal_is_refused_as_trunc_normal_refuses_it(std, a, b):
    with pytest.raises(ValueError) as filled:
        gi.init.trunc_normal_(np.empty(4, np.float32), 0.0, std, a, b, seed=0)
    with pytest.raises(ValueError) as made:
        laws.TruncatedNormal.absolute(std, a, b)
    assert str(made.value) == str(filled.value)


def test_a_law_keeps_its_checked_numbers():
    law = laws.TruncatedNormal(np.float32(0.5), 2, -np.inf, np.float64(1.5))
    assert [type(v) for v in (law.mean, law.std, law.lower, law.upper)] == [float] * 4
    assert law == laws.TruncatedNormal(0.5, 2.0, -math.inf, 1.5)
    assert laws.Normal(std=0.0).sample(3, seed=0, device="cpu").tolist() == [0.0] * 3
    assert laws.TruncatedNormal(1.0, 0.0).moments() == (1.0, 0.0)


def _exact_truncated_moments(lower, upper):
    """Return the mean, variance and fourth central moment of the standard normal on
    [lower, upper] from the closed forms, in 80-digit arithmetic: E[Z^k] = (k-1)E[Z^(k-2)]
    + (a^(k-1)φ(a) - b^(k-1)φ(b))/P, with P the tail difference of erfc (at 80 digits
    the cancellations of these sums leave over 40)."""
    mpmath = pytest.importorskip("mpmath")
    if upper <= 0:  # the mirror image of [-upper, -lower]
        mean, variance, fourth = _exact_truncated_moments(-upper, -lower)
        return -mean, variance, fourth
    with mpmath.workdps(80):
        def edge(z, power):
            return 0 if math.isinf(z) else mpmath.mpf(z) ** power * mpmath.npdf(z)

        def tail(z):  # P(Z > z)
            return mpmath.erfc(mpmath.mpf(z) / mpmath.sqrt(2)) / 2

        mass = tail(lower) - tail(upper)
        raw = [mpmath.mpf(1), (edge(lower, 0) - edge(upper, 0)) / mass]
        for k in range(2, 5):
            raw.append((k - 1) * raw[k - 2] + (edge(lower, k - 1) - edge(upper, k - 1)) / mass)
        m = raw[1]
        variance = raw[2] - m * m
        fourth = raw[4] - 4 * m * raw[3] + 6 * m * m * raw[2] - 3 * m ** 4
        return float(m), float(variance), float(fourth)


@pytest.mark.parametrize("lower, upper", [
    (36.0, 37.0), (36.0, math.inf), (-37.0, -36.0), (-math.inf, -36.0), (20.0, 20.001),
    (3.0, 3.0001), (-1e-6, 1e-6), (10.0, 30.0), (-2.0, 2.0), (0.5, 3.0), (-math.inf, 0.5),
    (-math.inf, math.inf),
])
def test_truncated_normal_moments_are_exact_in_far_tails_and_narrow_slices(lower, upper):
    law = laws.TruncatedNormal(0.25, 3.0, lower, upper)
    mean, variance, fourth = _exact_truncated_moments(lower, upper)
    got_mean, got_std = law.moments()
    assert math.isfinite(got_mean) and math.isfinite(got_std) and got_std > 0
    assert got_mean == pytest.approx(0.25 + 3.0 * mean, rel=1e-13, abs=1e-13)
    assert got_std == pytest.approx(3.0 * math.sqrt(variance), rel=1e-13)
    assert law.fourth_moment() == pytest.approx(81.0 * fourth, rel=1e-12)
    low, high = law.bounds
    assert low <= got_mean <= high


def test_truncated_normal_moments_need_no_probability_that_float64_can_hold():
    # [40, 41] holds probability 3.7e-350, which float64 cannot hold: the law is refused
    # (its sampler cannot draw it), and the moments it would have are still computed.
    mean, variance, fourth = elementwise._standard_truncated_moments(40.0, 41.0)
    assert (mean, variance, fourth) == pytest.approx(_exact_truncated_moments(40.0, 41.0),
                                                     rel=1e-13)


def test_a_law_refuses_its_numbers_with_a_law_error_that_is_a_value_error():
    for make in (lambda: laws.Normal(std=math.inf), lambda: laws.Uniform(1.0, 0.0),
                 lambda: laws.TruncatedNormal.absolute(0.0, -1.0, 1.0),
                 lambda: laws.Normal(std=1.0).scaled(math.nan)):
        with pytest.raises(gi.LawError) as info:
            make()
        assert isinstance(info.value, ValueError)
    with pytest.raises(TypeError):  # a wrong type stays a TypeError
        laws.Normal(std="1")
