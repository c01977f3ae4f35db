"""Parity with the peers: same laws as keras and torch.nn.init (two-sample KS with fixed
seeds), same outputs for the deterministic initializers.  Skipped without the peer."""

import math

import numpy as np
import pytest
from scipy import stats

import gpuinit as gi
from gpuinit import initializers as I

torch = pytest.importorskip("torch")

SHAPE = (256, 128)


def _same_law(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64).ravel(), np.asarray(theirs, np.float64).ravel()
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-4


KERAS_PAIRS = ["GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
               "LecunNormal", "RandomUniform", "RandomNormal", "TruncatedNormal",
               "VarianceScaling", "Orthogonal"]


@pytest.mark.parametrize("name", KERAS_PAIRS)
def test_same_law_as_keras(name):
    keras = pytest.importorskip("keras")
    theirs = getattr(keras.initializers, name)(seed=1)(SHAPE)
    ours = getattr(I, name)(seed=2)(SHAPE, device="cpu")
    _same_law(ours, keras.ops.convert_to_numpy(theirs))


def test_same_output_as_keras_for_deterministic_ones():
    keras = pytest.importorskip("keras")
    for ours, theirs, shape in [(I.Identity(2.0), keras.initializers.Identity(2.0), (5, 7)),
                                (I.Constant(3.0), keras.initializers.Constant(3.0), (4, 2)),
                                (I.Zeros(), keras.initializers.Zeros(), (3,)),
                                (I.Ones(), keras.initializers.Ones(), (2, 2))]:
        np.testing.assert_array_equal(ours(shape, device="cpu"),
                                      keras.ops.convert_to_numpy(theirs(shape)))


TORCH_PAIRS = [
    ("uniform_", (-0.5, 1.5)), ("normal_", (0.3, 2.0)), ("trunc_normal_", (0.5, 2.0, -1.0, 3.0)),
    ("xavier_uniform_", (1.3,)), ("xavier_normal_", (0.7,)),
    ("kaiming_uniform_", (math.sqrt(5),)), ("kaiming_normal_", (0.0, "fan_out", "relu")),
    ("orthogonal_", (1.2,)),
]


@pytest.mark.parametrize("shape", [SHAPE, (64, 32, 3, 3)], ids=["linear", "conv"])
@pytest.mark.parametrize(("name", "args"), TORCH_PAIRS)
def test_same_law_as_torch(name, args, shape):
    torch.manual_seed(0)
    theirs = getattr(torch.nn.init, name)(torch.empty(shape), *args)
    ours = getattr(gi.init, name)(torch.empty(shape), *args, seed=3)
    _same_law(ours.numpy(), theirs.numpy())


def test_sparse_same_zero_pattern_count_and_law_as_torch():
    torch.manual_seed(0)
    theirs = torch.nn.init.sparse_(torch.empty(100, 60), 0.3, 0.5)
    ours = gi.init.sparse_(torch.empty(100, 60), 0.3, 0.5, seed=1)
    np.testing.assert_array_equal((ours == 0).sum(0).numpy(), (theirs == 0).sum(0).numpy())
    _same_law(ours[ours != 0].numpy(), theirs[theirs != 0].numpy())


@pytest.mark.parametrize(("name", "shape", "args"), [
    ("eye_", (4, 6), ()), ("eye_", (6, 4), ()), ("dirac_", (6, 4, 3), ()),
    ("dirac_", (8, 4, 3, 3), (2,)), ("dirac_", (4, 4, 3, 2, 5), ()), ("constant_", (3, 3), (0.3,)),
    ("ones_", (2, 5), ()), ("zeros_", (2, 5), ()),
])
def test_same_output_as_torch_for_deterministic_ones(name, shape, args):
    theirs = getattr(torch.nn.init, name)(torch.empty(shape), *args)
    ours = getattr(gi.init, name)(torch.empty(shape), *args)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
