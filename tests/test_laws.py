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
    gt.init_module(linear, scheme={"weight": init, "bias": "zeros"})
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
