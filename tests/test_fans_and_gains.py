"""Fans and gains against the peers' own functions (keras, torch, JAX's rule), and their
errors."""

import math

import pytest

from gpuinit import fans

SHAPES = [(), (7,), (5, 3), (3, 3, 4, 8), (2, 3, 5, 6, 7), (1, 1, 1), (0, 4), (4, 0, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_keras_fans_match_keras(shape):
    random_initializers = pytest.importorskip("keras.src.initializers.random_initializers")
    assert fans.keras_fans(shape) == random_initializers.compute_fans(shape)


@pytest.mark.parametrize(("shape", "ins", "outs"), [((4, 8, 16), (0,), (1, 2)),
                                                     ((3, 3, 5, 7), (0, 1, 2), (3,)),
                                                     ((2,), [0], []), ((2,), [], [0]),
                                                     ((5, 7), [], []), ((4, 6, 8), [-1], [0]),
                                                     ((3, 3, 5, 7), [-2, -3], [-1])])
def test_axes_fans_match_keras(shape, ins, outs):
    random_initializers = pytest.importorskip("keras.src.initializers.random_initializers")
    expected = random_initializers.compute_fans(shape, input_axes=ins, output_axes=outs)
    assert fans.axes_fans(shape, ins, outs) == expected


@pytest.mark.parametrize("shape", [s for s in SHAPES if len(s) >= 2])
def test_torch_fans_match_torch(shape):
    torch = pytest.importorskip("torch")
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert fans.torch_fans(shape) == expected


def test_axes_fans_allow_empty_axes_as_keras_does():
    assert fans.axes_fans((2,), [0], []) == (2, 1)
    assert fans.axes_fans((4, 6), [], [1]) == (1, 6)


def _jax_compute_fans(shape, in_axis=-2, out_axis=-1, batch_axis=()):
    """JAX's ``jax.nn.initializers._compute_fans``, transcribed (floats, division)."""
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise ValueError(f"Can't compute input and output sizes of a {len(shape)}"
                         "-dimensional weights tensor with default in_axis. Must be at "
                         "least 2D or specify in_axis explicitly.")

    def size(axis):
        return shape[axis] if isinstance(axis, int) else math.prod([shape[i] for i in axis])

    in_size, out_size, batch_size = size(in_axis), size(out_axis), size(batch_axis)
    receptive_field_size = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive_field_size, out_size * receptive_field_size


JAX_CASES = [
    ((5, 3), {}, (5, 3)),
    ((3, 3, 16, 32), {}, (144, 288)),
    ((64, 32, 3, 3), {"in_axis": 1, "out_axis": 0}, (288, 576)),
    ((8, 5, 16, 32), {"in_axis": 1, "out_axis": (2, 3), "batch_axis": (0,)}, (5, 512)),
    ((2, 3, 4, 5), {"in_axis": (0, 1), "out_axis": -1}, (24, 20)),
    ((2, 3, 4, 5), {"in_axis": [-4, -3], "out_axis": [-1], "batch_axis": [2]}, (6, 5)),
    ((7, 4, 6), {"in_axis": -3, "out_axis": (), "batch_axis": (1,)}, (42, 6)),
    ((6, 10), {"in_axis": (), "out_axis": ()}, (60, 60)),
    ((4, 6, 3), {"batch_axis": 0}, (6, 3)),
    ((2,), {"in_axis": [0], "out_axis": []}, (2, 1)),
    ((), {"in_axis": [], "out_axis": []}, (1, 1)),
    ((7,), {"in_axis": (), "out_axis": 0}, (1, 7)),
]


@pytest.mark.parametrize(("shape", "axes", "expected"), JAX_CASES)
def test_jax_fans_follow_jax_compute_fans(shape, axes, expected):
    got = fans.jax_fans(shape, **axes)
    assert got == expected  # written by hand from JAX's rule
    assert got == pytest.approx(_jax_compute_fans(shape, **axes), rel=1e-12)
    assert all(isinstance(f, int) for f in got)


@pytest.mark.parametrize("shape", [(), (7,)])
def test_jax_fans_refuse_rank_below_two_with_jax_message(shape):
    with pytest.raises(ValueError) as ours:
        fans.jax_fans(shape)
    with pytest.raises(ValueError) as theirs:
        _jax_compute_fans(shape)
    assert str(ours.value) == str(theirs.value)
    assert "Must be at least 2D" in str(ours.value)


def test_jax_fans_errors_name_the_argument():
    with pytest.raises(ValueError, match="in_axis"):
        fans.jax_fans((2, 3), in_axis=2)
    with pytest.raises(ValueError, match="more than once"):
        fans.jax_fans((2, 3, 4), in_axis=0, out_axis=-3)
    with pytest.raises(ValueError, match="more than once"):
        fans.jax_fans((2, 3, 4), in_axis=(0, 0), out_axis=1)
    with pytest.raises(TypeError, match="batch_axis"):
        fans.jax_fans((2, 3, 4), batch_axis="0")
    assert fans.jax_fans((0, 4, 3)) == (0, 0)  # empty tensors: products, no division by 0


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

