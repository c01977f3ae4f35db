"""Layers and models: parameter forms, Keras/NeuPy/Keraflow conventions, streams, errors."""

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Conv3D,
    Dense,
    Embedding,
    Flatten,
    Input,
    LayerNormalization,
    Parameter,
    Sequential,
    SimpleRNN,
    make_parameters,
    path_stream,
)
from gpuinit.layers.parameter import ParameterSpec

CPU = "cpu"


def weights_of(model):
    return {path: p.numpy() for path, p in model.parameters.items()}


# -- the seeds' own examples -----------------------------------------------------------------
def test_keras_two_dense_layers_have_26_parameters_inside_their_limits():
    model = Sequential([Input(3), Dense(4, kernel_initializer="glorot_uniform"),
                        Dense(2, kernel_initializer="he_uniform")], seed=7, device=CPU)
    assert model.count_params() == 26
    w1, b1, w2, b2 = model.get_weights()
    assert w1.shape == (3, 4) and w2.shape == (4, 2)
    glorot, he = np.sqrt(6 / (3 + 4)), np.sqrt(6 / 4)
    assert np.abs(w1).max() <= glorot and np.abs(w2).max() <= he
    assert np.abs(w1).max() > 0.5 * glorot  # really spread over the range, not tiny
    assert not b1.any() and not b2.any()
    assert list(model.parameters) == ["dense/weight", "dense/bias", "dense_1/weight",
                                      "dense_1/bias"]


def test_neupy_rshift_equals_sequential():
    a = Input(10) >> Dense(30, weight=gi.initializers.RandomNormal(stddev=0.1)) >> Dense(15)
    b = Sequential([Input(10), Dense(30, weight=gi.initializers.RandomNormal(stddev=0.1)),
                    Dense(15)], seed=a.seed, device=a.device)
    assert isinstance(a, Sequential)
    assert list(a.parameters) == list(b.parameters)
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.count_params() == 10 * 30 + 30 + 30 * 15 + 15


def test_neupy_weight_forms_initializer_array_and_shared_parameter():
    gi.manual_seed(3)
    given = np.arange(30 * 20, dtype=np.float64).reshape(30, 20)
    shared = Parameter("he_normal")
    model = (Input(10)
             >> Dense(30, activation="sigmoid", weight=gi.initializers.Orthogonal())
             >> Dense(20, activation="sigmoid", weight=given, bias=np.ones(20))
             >> Dense(20, activation="sigmoid", weight=shared)
             >> Dense(20, activation="sigmoid", weight=shared))
    params = model.parameters
    np.testing.assert_array_equal(params["dense_1/weight"].numpy(), given.astype(np.float32))
    np.testing.assert_array_equal(params["dense_1/bias"].numpy(), np.ones(20, np.float32))
    assert params["dense_2/weight"] is shared and "dense_3/weight" not in params
    assert model.layers[3].parameters["weight"] is shared
    assert model.count_params() == 10 * 30 + 30 + 30 * 20 + 20 + (20 * 20 + 20) + 20
    q = params["dense/weight"].numpy().astype(np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(10), atol=1e-5)  # orthogonal rows
    assert shared.name == "dense_2/weight" and shared.shape == (20, 20)


def test_keraflow_initial_weights_dict_list_and_single_array():
    w = np.full((3, 2), 0.5)
    b = np.array([1.0, 2.0])
    by_dict = Sequential([Input(3), Dense(2, initial_weights={"bias": b})], seed=1, device=CPU)
    by_list = Sequential([Input(3), Dense(2, initial_weights=[w, b])], seed=1, device=CPU)
    first_only = Sequential([Input(3), Dense(2, initial_weights=[w])], seed=1, device=CPU)
    single = Sequential([Input(3), Dense(2, initial_weights=w)], seed=1, device=CPU)
    nested = Sequential([Input(3), Dense(2, initial_weights=w.tolist())], seed=1, device=CPU)
    skip_first = Sequential([Input(3), Dense(2, initial_weights=[None, b])], seed=1, device=CPU)
    plain = Sequential([Input(3), Dense(2)], seed=1, device=CPU)
    wp, bp = plain.get_weights()
    np.testing.assert_array_equal(by_dict.get_weights()[0], wp)
    np.testing.assert_array_equal(by_dict.get_weights()[1], b)
    for model in (by_list, first_only, single, nested):
        np.testing.assert_array_equal(model.get_weights()[0], w)
    np.testing.assert_array_equal(by_list.get_weights()[1], b)
    np.testing.assert_array_equal(first_only.get_weights()[1], bp)
    np.testing.assert_array_equal(skip_first.get_weights()[0], wp)
    np.testing.assert_array_equal(skip_first.get_weights()[1], b)


def test_initial_weights_errors():
    with pytest.raises(ValueError, match="does not have"):
        Dense(2, initial_weights={"kernel": np.ones((3, 2))})
    with pytest.raises(ValueError, match="3 entries"):
        Dense(2, initial_weights=[np.ones((3, 2)), np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match=r"dense/weight has shape \(2, 2\), expected \(3, 2\)"):
        Sequential([Input(3), Dense(2, initial_weights=np.ones((2, 2)))], device=CPU)


# -- parameter forms and errors --------------------------------------------------------------
def test_every_parameter_form_is_accepted():
    def my_init(shape, dtype=None):
        return np.full(shape, 0.25)

    class NeuPyStyle(gi.initializers.Initializer):
        def sample(self, shape):
            return np.full(shape, -1.0)

    model = Sequential([
        Input(4),
        Dense(3, weight="lecun_normal", bias="ones"),
        Dense(3, weight=my_init, bias=gi.initializers.Constant(2.0)),
        Dense(3, weight=NeuPyStyle(), bias=[1.0, 2.0, 3.0]),
        Dense(3, kernel_initializer={"class_name": "Zeros", "config": {}}),
    ], seed=0, device=CPU)
    w = model.get_weights()
    assert np.all(w[1] == 1) and np.all(w[2] == 0.25) and np.all(w[3] == 2)
    assert np.all(w[4] == -1) and list(w[5]) == [1, 2, 3] and not w[6].any()
    assert all(a.dtype == np.float32 for a in w)


def test_bad_parameter_specs_are_typed_errors_naming_the_argument():
    with pytest.raises(ValueError, match="weight=: unknown initializer 'glorot_unifrom'"):
        Dense(3, weight="glorot_unifrom")
    with pytest.raises(TypeError, match="give weight= or kernel_initializer=, not both"):
        Dense(3, weight="zeros", kernel_initializer="ones")
    with pytest.raises(TypeError, match="use_bias=False"):
        Dense(3, use_bias=False, bias="ones")
    with pytest.raises(ValueError, match="units=0"):
        Dense(0)
    with pytest.raises(ValueError, match="unknown activation 'rellu'"):
        Dense(3, activation="rellu")
    with pytest.raises(ValueError, match="padding="):
        Conv2D(3, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2D(3, (3, 3, 3))


def test_shared_parameter_shape_mismatch_is_a_value_error_and_builds_nothing_more():
    shared = Parameter("glorot_uniform")
    model = Sequential([Input(4), Dense(4, weight=shared)], seed=0, device=CPU)
    with pytest.raises(ValueError, match="shared parameter 'dense/weight' has shape"):
        model.add(Dense(5, weight=shared))
    assert shared.shape == (4, 4)


def test_callable_returning_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="the initializer of dense/weight has shape"):
        Sequential([Input(2), Dense(3, weight=lambda shape, dtype=None: np.ones((3, 2)))],
                   device=CPU)


def test_a_layer_reused_with_another_input_shape_is_refused():
    dense = Dense(3)
    Sequential([Input(2), dense], seed=0, device=CPU)
    with pytest.raises(ValueError, match="was built for input shape"):
        Sequential([Input(4), dense], seed=0, device=CPU)


def test_a_chain_that_does_not_fit_is_refused_before_any_parameter_is_made():
    model = Sequential([Dense(4), Conv2D(2, 3), Dense(2)], seed=0, device=CPU)
    with pytest.raises(ValueError, match="Conv2D needs inputs of shape"):
        model.build((5,))
    assert all(not layer.built for layer in model.layers)


# -- streams ---------------------------------------------------------------------------------
def test_path_stream_is_a_stable_64_bit_hash():
    assert path_stream("dense_1/weight") == path_stream("dense_1/weight")
    assert path_stream("dense_1/weight") != path_stream("dense_1/bias")
    assert 0 <= path_stream("x") < 2**64
    # Pinned: BLAKE2b-64 (person "gpuinit.path") of the UTF-8 path, little-endian. It must
    # not change between releases, or a (seed, path) pair would stop naming the same weights.
    assert path_stream("dense/weight") == 0x5B0B4892F3C2F91F


def test_inserting_a_layer_leaves_the_others_bit_identical():
    def build(extra):
        layers = [Input(8), Dense(8, name="a", weight="he_normal"), *extra,
                  Dense(8, name="b", weight="orthogonal"), Dense(4)]
        return weights_of(Sequential(layers, seed=11, device=CPU))

    before = build([])
    after = build([LayerNormalization(), Dense(8, name="inserted")])
    for path, values in before.items():
        np.testing.assert_array_equal(after[path], values, err_msg=path)
    assert set(after) - set(before) == {"layer_normalization/gamma", "layer_normalization/beta",
                                        "inserted/weight", "inserted/bias"}


def test_automatic_names_count_per_type_so_other_types_do_not_shift_them():
    plain = Sequential([Input(6), Dense(6), Dense(6)], seed=2, device=CPU)
    with_norm = Sequential([Input(6), Dense(6), LayerNormalization(), Dense(6)], seed=2,
                           device=CPU)
    np.testing.assert_array_equal(plain.parameters["dense_1/weight"].numpy(),
                                  with_norm.parameters["dense_1/weight"].numpy())


def test_a_layer_built_on_its_own_takes_its_type_name_not_a_count_of_layers_made():
    Dense(3), Dense(3), LayerNormalization()  # layers made before do not rename it
    first, second = Dense(7), Dense(7)
    for layer in (first, second):
        assert layer.build((5,), seed=1, device=CPU, dtype="float32") == (7,)
        assert layer.name == "dense" and list(layer._named_weights()) == ["dense/weight",
                                                                          "dense/bias"]
    np.testing.assert_array_equal(first.get_weights()[0], second.get_weights()[0])
    in_model = Sequential([Input(5), Dense(7)], seed=1, device=CPU).get_weights()[0]
    np.testing.assert_array_equal(first.get_weights()[0], in_model)
    named = Dense(7, name="head")
    named.build((5,), seed=1, device=CPU, dtype="float32")
    assert named.name == "head" and not np.array_equal(named.get_weights()[0], in_model)


def test_a_failed_standalone_build_leaves_the_layer_unnamed():
    layer = Dense(4, weight=np.ones((2, 4)))
    with pytest.raises(ValueError, match="weight"):
        layer.build((3,), seed=0, device=CPU, dtype="float32")
    assert layer.name is None and not layer.built
    model = Sequential([Input(2), Dense(2), layer], seed=0, device=CPU)
    assert [one.name for one in model.layers] == ["dense", "dense_1"]



def test_layers_built_on_their_own_go_into_one_model_renamed_as_it_names_its_own():
    def standalone(units, inputs):
        layer = Dense(units)
        layer.build((inputs,), seed=0, device=CPU, dtype="float32")
        return layer, [w.copy() for w in layer.get_weights()]

    a, a_weights = standalone(4, 3)
    b, b_weights = standalone(2, 4)
    model = a >> b
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    for layer, weights in ((a, a_weights), (b, b_weights)):
        for got, want in zip(layer.get_weights(), weights, strict=True):
            np.testing.assert_array_equal(got, want)
    assert list(model.parameters) == ["dense/weight", "dense/bias", "dense_1/weight",
                                      "dense_1/bias"]
    c, _ = standalone(4, 3)
    model = Sequential([Input(3), Dense(3), c], seed=0, device=CPU)
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    # A built layer's name that a model gave does not change again; a name the user gave
    # never does.
    assert not c.name_may_change
    with pytest.raises(ValueError, match="two layers are named 'dense'"):
        Sequential([Input(3), Dense(3), Dense(4, name="dense")], seed=0, device=CPU)

def test_weights_depend_on_seed_and_path_only():
    a = Sequential([Input(5), Dense(7)], seed=1, device=CPU).get_weights()[0]
    b = Sequential([Input(5), Dense(7)], seed=1, device=CPU).get_weights()[0]
    c = Sequential([Input(5), Dense(7)], seed=2, device=CPU).get_weights()[0]
    d = Sequential([Input(5), Dense(7, name="other")], seed=1, device=CPU).get_weights()[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_parameter_equals_the_initializer_called_with_seed_and_path_stream():
    model = Sequential([Input(16), Dense(32, weight="glorot_normal")], seed=5, device=CPU)
    expected = gi.initializers.GlorotNormal()((16, 32), device=CPU,
                                              stream=path_stream("dense/weight"), seed=5)
    np.testing.assert_array_equal(model.parameters["dense/weight"].numpy(), expected)


def test_an_initializer_with_its_own_seed_keeps_it():
    own = gi.initializers.GlorotUniform(seed=99)
    a = Sequential([Input(4), Dense(4, weight=own)], seed=1, device=CPU).get_weights()[0]
    b = Sequential([Input(4), Dense(4, weight=own)], seed=2, device=CPU).get_weights()[0]
    np.testing.assert_array_equal(a, b)


def test_make_parameters_reports_progress_and_refuses_duplicate_paths():
    seen = []
    made = make_parameters([ParameterSpec("a", (10, 10), "normal"),
                            ParameterSpec("b", (5,), "zeros")], seed=0, device=CPU,
                           progress=lambda done, total, path: seen.append((done, total, path)))
    assert seen == [(400, 420, "a"), (420, 420, "b")]
    assert made["a"].shape == (10, 10) and made["a"].name == "a"
    with pytest.raises(ValueError, match="two parameters have the path 'a'"):
        make_parameters([ParameterSpec("a", (1,), "zeros")] * 2, seed=0, device=CPU)


# -- layer shapes and defaults (Keras) ------------------------------------------------------
@pytest.mark.parametrize("layer, input_shape, shapes, output", [
    (Conv1D(4, 3), (10, 2), {"weight": (3, 2, 4), "bias": (4,)}, (8, 4)),
    (Conv1D(4, 3, padding="causal", dilation_rate=2), (10, 2), None, (10, 4)),
    (Conv2D(8, (3, 5), strides=2, padding="same"), (9, 10, 3),
     {"weight": (3, 5, 3, 8), "bias": (8,)}, (5, 5, 8)),
    (Conv3D(2, 2, use_bias=False), (4, 4, 4, 1), {"weight": (2, 2, 2, 1, 2)}, (3, 3, 3, 2)),
    (Embedding(100, 16), (7,), {"weight": (100, 16)}, (7, 16)),
    (BatchNormalization(), (5,), {"gamma": (5,), "beta": (5,), "moving_mean": (5,),
                                  "moving_variance": (5,)}, (5,)),
    (SimpleRNN(6), (4, 3), {"weight": (3, 6), "recurrent_weight": (6, 6), "bias": (6,)}, (6,)),
    (LSTM(5, return_sequences=True), (4, 3),
     {"weight": (3, 20), "recurrent_weight": (5, 20), "bias": (20,)}, (4, 5)),
    (GRU(5), (4, 3), {"weight": (3, 15), "recurrent_weight": (5, 15), "bias": (2, 15)}, (5,)),
    (GRU(5, reset_after=False), (4, 3), None, (5,)),
    (Flatten(), (2, 3, 4), {}, (24,)),
])
def test_shapes_follow_keras(layer, input_shape, shapes, output):
    model = Sequential([Input(input_shape), layer], seed=0, device=CPU)
    assert model.output_shape == output
    if shapes is not None:
        assert {k: p.shape for k, p in layer.parameters.items()} == shapes


def test_keras_defaults_of_the_norm_and_recurrent_layers():
    model = Sequential([Input((3, 4)), LSTM(8), BatchNormalization()], seed=0, device=CPU)
    lstm, norm = model.layers
    bias = lstm.parameters["bias"].numpy()
    assert list(bias) == [0] * 8 + [1] * 8 + [0] * 16  # unit_forget_bias
    u = lstm.parameters["recurrent_weight"].numpy().astype(np.float64)
    np.testing.assert_allclose(u @ u.T, np.eye(8), atol=1e-5)  # orthogonal over (8, 32)
    assert not norm.parameters["moving_mean"].trainable
    assert norm.parameters["gamma"].trainable
    assert list(norm.parameters["moving_variance"].numpy()) == [1] * 8


def test_model_dtype_and_layer_dtype():
    pytest.importorskip("ml_dtypes")
    model = Sequential([Input(4), Dense(4), Dense(2, dtype="float64")], dtype="bfloat16",
                       seed=0, device=CPU)
    assert str(model.parameters["dense/weight"].dtype) == "bfloat16"
    assert model.parameters["dense_1/weight"].dtype == np.float64
    out = model(np.ones((3, 4)))
    assert out.shape == (3, 2) and np.isfinite(out).all()


def test_unbuilt_model_builds_on_first_call():
    model = Sequential([Dense(5), Dense(2)], seed=0, device=CPU)
    assert not model.built and model.parameters == {}
    y = model(np.ones((4, 3), np.float32))
    assert y.shape == (4, 2) and model.input_shape == (3,)
    with pytest.raises(ValueError, match="takes batches of shape"):
        model(np.ones((4, 2)))


def test_a_failed_add_leaves_the_model_and_the_layer_as_they_were():
    model = Sequential([Input(4), Dense(3)], seed=0, device=CPU)
    bad = Dense(2, weight=lambda shape, dtype=None: np.ones((1, 1)))
    with pytest.raises(ValueError, match="the initializer of dense_1/weight has shape"):
        model.add(bad)
    assert len(model.layers) == 1 and model.output_shape == (3,)
    assert bad.name is None and not bad.built
    model.add(Dense(2))
    assert list(model.parameters)[-1] == "dense_1/bias"


def test_keras_input_shape_on_the_first_layer_builds_at_once():
    model = Sequential([Dense(4, input_shape=(3,)), Dense(2, input_dim=None)], seed=0,
                       device=CPU)
    assert model.built and model.input_shape == (3,) and model.count_params() == 26
    assert Sequential([Dense(4, input_dim=3)], seed=0, device=CPU).output_shape == (4,)


def test_parameter_from_an_array_and_its_errors():
    p = Parameter(np.arange(6, dtype=np.float64).reshape(2, 3), device=CPU, trainable=False)
    assert p.dtype == np.float64 and p.shape == (2, 3) and not p.trainable
    assert "name=None, shape=(2, 3)" in repr(p)
    p.assign(np.zeros((2, 3)))
    assert not p.numpy().any()
    with pytest.raises(ValueError, match=r"values has shape \(3,\), expected \(2, 3\)"):
        p.assign(np.zeros(3))
    with pytest.raises(TypeError, match="needs a value"):
        Parameter()
    with pytest.raises(ValueError, match="unknown initializer"):
        Parameter("glorot")
    with pytest.raises(ValueError, match="is not built yet"):
        Parameter("zeros").numpy()


@pytest.mark.parametrize("make, named", [
    (lambda: Dense(3, kernel_regularizer="l2"), "Dense does not take kernel_regularizer="),
    (lambda: Sequential([Input(2), Dense(3, dropout=0.1, seed=1)]),
     "Dense does not take dropout=, seed="),
])
def test_an_argument_a_layer_does_not_take_is_named_with_the_layer(make, named):
    with pytest.raises(TypeError, match=named):
        make()


def test_models_of_unbuilt_layers_named_by_their_models_compose():
    model = (Input(3) >> Dense(4)) >> (Dense(5) >> Dense(2))
    assert [layer.name for layer in model.layers] == ["dense", "dense_1", "dense_2"]
    built = Sequential([Input(4), Dense(2)], seed=0, device=CPU)  # its "dense" has paths
    with pytest.raises(ValueError, match="two layers are named 'dense'"):
        Sequential([Input(3), Dense(4)], seed=0, device=CPU) >> built
