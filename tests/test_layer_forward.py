"""The forward pass against Keras 3 itself: same weights in, same outputs out."""

import numpy as np
import pytest

from gpuinit.layers import (
    GRU,
    LSTM,
    Activation,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Conv3D,
    Dense,
    Embedding,
    Input,
    LayerNormalization,
    Sequential,
    SimpleRNN,
    activations,
)

keras = pytest.importorskip("keras")


def _keras_output(layer, weights, x):
    layer.build((None, *x.shape[1:]))
    layer.set_weights(weights)
    return keras.ops.convert_to_numpy(layer(x))


def _random_weights(model, rng):
    """Give every parameter non-trivial values (zeros biases would hide bias bugs)."""
    model.set_weights([rng.normal(0, 0.5, w.shape) + (1.0 if "variance" in path else 0.0)
                       for path, w in zip(model.parameters, model.get_weights(), strict=True)])


CASES = [
    (lambda: Dense(7, activation="relu"), lambda: keras.layers.Dense(7, activation="relu"),
     (5,)),
    (lambda: Dense(3), lambda: keras.layers.Dense(3), (4, 6)),
    (lambda: Conv1D(4, 3, padding="causal", dilation_rate=2),
     lambda: keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2), (11, 3)),
    (lambda: Conv1D(4, 3, strides=2), lambda: keras.layers.Conv1D(4, 3, strides=2), (11, 3)),
    (lambda: Conv2D(5, (3, 2), strides=(2, 1), padding="same", activation="tanh"),
     lambda: keras.layers.Conv2D(5, (3, 2), strides=(2, 1), padding="same",
                                 activation="tanh"), (7, 6, 3)),
    (lambda: Conv2D(2, 3, dilation_rate=2), lambda: keras.layers.Conv2D(2, 3, dilation_rate=2),
     (9, 8, 2)),
    (lambda: Conv3D(2, 2, strides=2, padding="same", use_bias=False),
     lambda: keras.layers.Conv3D(2, 2, strides=2, padding="same", use_bias=False), (5, 4, 3, 2)),
    (lambda: LayerNormalization(), lambda: keras.layers.LayerNormalization(), (3, 8)),
    (lambda: BatchNormalization(), lambda: keras.layers.BatchNormalization(), (6,)),
    (lambda: SimpleRNN(5, return_sequences=True),
     lambda: keras.layers.SimpleRNN(5, return_sequences=True), (4, 3)),
    (lambda: LSTM(6), lambda: keras.layers.LSTM(6), (5, 3)),
    (lambda: GRU(4, return_sequences=True), lambda: keras.layers.GRU(4, return_sequences=True),
     (5, 3)),
    (lambda: GRU(4, reset_after=False), lambda: keras.layers.GRU(4, reset_after=False), (5, 3)),
]


@pytest.mark.parametrize("ours, theirs, input_shape", CASES,
                         ids=[f"case{i}" for i in range(len(CASES))])
def test_forward_matches_keras(ours, theirs, input_shape):
    rng = np.random.default_rng(0)
    model = Sequential([Input(input_shape), ours()], seed=0, device="cpu", dtype="float64")
    _random_weights(model, rng)
    x = rng.normal(size=(2, *input_shape))
    expected = _keras_output(theirs(), model.get_weights(), x)
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)


def test_embedding_matches_keras_and_checks_its_indices():
    model = Sequential([Input(4), Embedding(10, 3)], seed=0, device="cpu")
    x = np.array([[0, 9, 3, 3], [1, 2, 5, 7]])
    expected = _keras_output(keras.layers.Embedding(10, 3), model.get_weights(), x)
    np.testing.assert_allclose(model(x), expected)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 10\)"):
        model(np.array([[0, 10, 1, 1]]))
    with pytest.raises(TypeError, match="integer indices"):
        model(np.zeros((1, 4)))


@pytest.mark.parametrize("name", sorted(set(activations.ACTIVATIONS) - {"linear"}))
def test_activation_matches_keras(name):
    x = np.linspace(-6, 6, 61).reshape(1, 61)
    ours = Sequential([Input(61), Activation(name)], device="cpu", dtype="float64")(x)
    theirs = keras.ops.convert_to_numpy(getattr(keras.activations, name)(x))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_a_whole_model_matches_keras():
    rng = np.random.default_rng(1)
    ours = Sequential([Input((8, 8, 2)), Conv2D(4, 3, activation="relu"), BatchNormalization(),
                       Conv2D(3, 3, strides=2, padding="same", activation="gelu")],
                      seed=3, device="cpu", dtype="float64")
    _random_weights(ours, rng)
    theirs = keras.Sequential([keras.Input((8, 8, 2)),
                               keras.layers.Conv2D(4, 3, activation="relu"),
                               keras.layers.BatchNormalization(),
                               keras.layers.Conv2D(3, 3, strides=2, padding="same",
                                                   activation="gelu")])
    theirs.set_weights(ours.get_weights())
    x = rng.normal(size=(3, 8, 8, 2))
    np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5,
                               atol=1e-6)
