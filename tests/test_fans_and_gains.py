"""Fans and gains against the peers' own functions (keras, torch), and their errors."""

import math

import pytest

from gpuinit import fans

SHAPES = [(), (7,), (5, 3), (3, 3, 4, 8), (2, 3, 5, 6, 7), (1, 1, 1), (0, 4), (4, 0, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_keras_fans_match_keras(shape):
    random_initializers = pytest.importorskip("keras.src.initializers.random_initializers")
    assert fans.keras_fans(shape) == random_initializers.compute_fans(shape)


@pytest.mark.parametrize(("shape", "ins", "outs"), [((4, 8, 16), (0,), (1, 2)),
                                                     ((3, 3, 5, 7), (0, 1, 2), (3,))])
def test_axes_fans_match_keras(shape, ins, outs):
    random_initializers = pytest.importorskip("keras.src.initializers.random_initializers")
    expected = random_initializers.compute_fans(shape, input_axes=ins, output_axes=outs)
    assert fans.axes_fans(shape, ins, outs) == expected


@pytest.mark.parametrize("shape", [s for s in SHAPES if len(s) >= 2])
def test_torch_fans_match_torch(shape):
    torch = pytest.importorskip("torch")
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert fans.torch_fans(shape) == expected


def test_known_values_without_peers():
    assert fans.keras_fans((3, 3, 16, 32)) == (144, 288)
    assert fans.torch_fans((32, 16, 3, 3)) == (144, 288)
    assert fans.keras_fans(()) == (1, 1)
    assert fans.keras_fans((9,)) == (9, 9)


@pytest.mark.parametrize("shape", [(), (5,)])
def test_torch_fans_need_two_dims(shape):
    with pytest.raises(ValueError, match="fewer than 2"):
        fans.torch_fans(shape)


def test_axes_errors_name_the_argument():
    with pytest.raises(ValueError, match="input_axes"):
        fans.axes_fans((2, 3), (5,), (1,))
    with pytest.raises(ValueError, match="overlap"):
        fans.axes_fans((2, 3), (0,), (0,))
    with pytest.raises(TypeError, match="output_axes"):
        fans.axes_fans((2, 3), (0,), ("x",))


GAINS = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
         ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
         ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
         ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", 3), ("selu", None)]


@pytest.mark.parametrize(("name", "param"), GAINS)
def test_calculate_gain_matches_torch(name, param):
    torch = pytest.importorskip("torch")
    assert fans.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-15
    )


def test_calculate_gain_known_values_and_errors():
    assert fans.calculate_gain("relu") == math.sqrt(2.0)
    assert fans.calculate_gain("tanh") == 5.0 / 3
    assert fans.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / 1.0001))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        fans.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        fans.calculate_gain("leaky_relu", True)
    with pytest.raises(TypeError, match="nonlinearity"):
        fans.calculate_gain(3)
