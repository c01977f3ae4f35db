"""MultiHeadAttention: Keras 3's parameters, shapes, defaults, per-axis kernel fans and
forward pass, checked against keras.layers.MultiHeadAttention itself."""

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.layers import Dense, Input, MultiHeadAttention, Parameter, Sequential, path_stream

CPU = "cpu"
PARTS = ("query", "key", "value", "attention_output")


def _built(layer, query, value=None, key=None, *, seed=0, dtype="float32"):
    """Return ``layer`` named and built standalone for the given shapes (no batch axis)."""
    layer.name = layer.name or "mha"
    layer.build(query, value, key, seed=seed, device=CPU, dtype=dtype)
    return layer


def _keras_layer(keras, query, value=None, key=None, **options):
    layer = keras.layers.MultiHeadAttention(**options)
    value = query if value is None else value
    layer.build((None, *query), (None, *value), None if key is None else (None, *key))
    return layer


def _signature(layer):
    return [(path.split("/", 1)[1], p.shape) for path, p in layer._named_weights().items()]


def _keras_signature(layer):
    return [(w.path.split("/", 1)[1].replace("kernel", "weight"), tuple(w.shape))
            for w in layer.weights]


CONFIGS = [
    (dict(num_heads=2, key_dim=3), (5, 8), None, None),
    (dict(num_heads=4, key_dim=2, value_dim=5), (3, 6), (7, 4), None),
    (dict(num_heads=3, key_dim=4, output_shape=7), (2, 5), (3, 6), (3, 2)),
    (dict(num_heads=2, key_dim=2, output_shape=(2, 3), use_bias=False), (4, 3), None, None),
    (dict(num_heads=1, key_dim=8, value_dim=2, use_bias=False), (6, 4), (2, 5), (2, 3)),
]


# -- parameters: names, shapes, order ----------------------------------------------------
@pytest.mark.parametrize("options, query, value, key", CONFIGS,
                         ids=[f"config{i}" for i in range(len(CONFIGS))])
def test_parameter_names_shapes_and_order_match_keras(options, query, value, key):
    keras = pytest.importorskip("keras")
    ours = _built(MultiHeadAttention(**options), query, value, key)
    theirs = _keras_layer(keras, query, value, key, **options)
    assert _signature(ours) == _keras_signature(theirs)
    assert ours.count_params() == theirs.count_params()
    expected_output = (query[0], *np.atleast_1d(options.get("output_shape", query[-1])))
    assert ours.output_shape(query) == expected_output


def test_defaults_and_keras_shapes_of_the_docstring():
    layer = _built(MultiHeadAttention(num_heads=8, key_dim=16), (10, 32), (7, 12), (7, 20))
    shapes = {k: p.shape for k, p in layer.parameters.items()}
    assert shapes == {"query/weight": (32, 8, 16), "query/bias": (8, 16),
                      "key/weight": (20, 8, 16), "key/bias": (8, 16),
                      "value/weight": (12, 8, 16), "value/bias": (8, 16),
                      "attention_output/weight": (8, 16, 32), "attention_output/bias": (32,)}
    assert layer.value_dim == 16 and layer.dropout == 0.0 and layer.use_bias
    assert layer.initializer_names()["query/weight"] == "glorot_uniform"
    assert all(not p.numpy().any() for k, p in layer.parameters.items() if k.endswith("bias"))


# -- per-axis fans (Keras' EinsumDense) -----------------------------------------------------
@pytest.mark.parametrize("initializer", ["lecun_normal", "gpuinit", "keras"])
def test_query_projection_variance_uses_the_input_axis_only(initializer):
    """keras/src/initializers/random_initializers_test.py::test_mha_query_projection_variance:
    fan_in of the (32, 8, 16) query kernel is 32, so std = sqrt(1/32), not sqrt(1/256)."""
    if initializer == "gpuinit":
        initializer = gi.initializers.LecunNormal()
    elif initializer == "keras":
        keras = pytest.importorskip("keras")
        initializer = keras.initializers.LecunNormal(seed=1337)
    model = Sequential([Input((10, 32)),
                        MultiHeadAttention(num_heads=8, key_dim=16,
                                           kernel_initializer=initializer)],
                       seed=1337, device=CPU)
    kernel = model.parameters["multi_head_attention/query/weight"].numpy()
    assert kernel.shape == (32, 8, 16)
    assert abs(kernel.std() / np.sqrt(1 / 32) - 1) < 0.1


def test_kernels_equal_the_initializer_with_each_kernels_axes():
    layer = _built(MultiHeadAttention(2, 3, value_dim=4, output_shape=(5, 2),
                                      kernel_initializer="he_normal"), (6, 7), seed=5)
    axes = {"query": ([0], [1, 2]), "key": ([0], [1, 2]), "value": ([0], [1, 2]),
            "attention_output": ([0, 1], [2, 3])}
    for part, (ins, outs) in axes.items():
        parameter = layer.parameters[f"{part}/weight"]
        expected = gi.initializers.HeNormal(input_axes=ins, output_axes=outs)(
            parameter.shape, device=CPU, stream=path_stream(f"mha/{part}/weight"), seed=5)
        np.testing.assert_array_equal(parameter.numpy(), expected)


def test_attention_output_fans_are_heads_times_value_dim_in_and_output_out():
    layer = _built(MultiHeadAttention(num_heads=4, key_dim=8, value_dim=16),
                   (3, 24))  # glorot_uniform: limit sqrt(6 / (4 * 16 + 24))
    kernel = layer.parameters["attention_output/weight"].numpy()
    limit = np.sqrt(6 / (4 * 16 + 24))
    assert kernel.shape == (4, 16, 24)
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
    lecun = _built(MultiHeadAttention(num_heads=8, key_dim=16, kernel_initializer="lecun_normal"),
                   (4, 32))
    std = lecun.parameters["attention_output/weight"].numpy().std()
    assert abs(std / np.sqrt(1 / (8 * 16)) - 1) < 0.1


def test_initializers_with_axes_of_their_own_or_no_fans_are_used_as_given():
    own = gi.initializers.LecunNormal(input_axes=[0, 1, 2], output_axes=[])
    normal = gi.initializers.RandomNormal(stddev=0.3)
    layer = _built(MultiHeadAttention(2, 3, kernel_initializer=normal, query_weight=own),
                   (4, 5), seed=2)
    query = layer.parameters["query/weight"]
    np.testing.assert_array_equal(query.numpy(), own(
        query.shape, device=CPU, stream=path_stream("mha/query/weight"), seed=2))
    key = layer.parameters["key/weight"]
    np.testing.assert_array_equal(key.numpy(), normal(
        key.shape, device=CPU, stream=path_stream("mha/key/weight"), seed=2))
    assert own.input_axes == (0, 1, 2)  # the user's initializer is not changed
    assert gi.initializers.get("glorot_uniform").input_axes is None


def test_each_kernel_gets_its_own_values_even_with_one_seeded_initializer():
    layer = _built(MultiHeadAttention(2, 4, kernel_initializer=gi.initializers.GlorotUniform(
        seed=3)), (5, 8))  # query, key, value kernels all (8, 2, 4)
    kernels = [layer.parameters[f"{part}/weight"].numpy() for part in ("query", "key", "value")]
    assert kernels[0].shape == kernels[1].shape == kernels[2].shape
    for i in range(3):
        for j in range(i):
            assert not np.array_equal(kernels[i], kernels[j])
    again = _built(MultiHeadAttention(2, 4), (5, 8), seed=1)
    other = _built(MultiHeadAttention(2, 4), (5, 8), seed=1)
    for a, b in zip(again.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # (seed, path, shape, initializer) alone


# -- forward pass against Keras -----------------------------------------------------------
def _random_weights(layer, rng):
    layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])


@pytest.mark.parametrize("options, query, value, key", CONFIGS,
                         ids=[f"config{i}" for i in range(len(CONFIGS))])
def test_cross_attention_matches_keras(options, query, value, key):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    ours = _built(MultiHeadAttention(**options), query, value, key)
    _random_weights(ours, rng)
    theirs = _keras_layer(keras, query, value, key, **options)
    theirs.set_weights(ours.get_weights())
    value = query if value is None else value
    q = rng.normal(size=(2, *query)).astype("float32")
    v = rng.normal(size=(2, *value)).astype("float32")
    k = None if key is None else rng.normal(size=(2, *key)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs(q, v, k))
    got = ours(q, v, k)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_self_attention_in_a_sequential_model_matches_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    model = Sequential([Input((6, 5)), MultiHeadAttention(3, 4, value_dim=2), Dense(3)],
                       seed=0, device=CPU, dtype="float64")
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    x = rng.normal(size=(2, 6, 5))
    inputs = keras.Input((6, 5), dtype="float64")
    mha = keras.layers.MultiHeadAttention(3, 4, value_dim=2, dtype="float64")
    dense = keras.layers.Dense(3, dtype="float64")
    theirs = keras.Model(inputs, dense(mha(inputs, inputs)))
    theirs.set_weights(model.get_weights())
    expected = keras.ops.convert_to_numpy(theirs(x))
    # Keras' torch dot_product_attention computes in float32 even for float64 layers
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.layers[0](x), model.layer_outputs(x)[0])


def test_self_attention_equals_the_einsum_formula_in_float64():
    rng = np.random.default_rng(2)
    model = Sequential([Input((6, 5)), MultiHeadAttention(3, 4, value_dim=2, output_shape=(2, 3))],
                       seed=0, device=CPU, dtype="float64")
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    wq, bq, wk, bk, wv, bv, wo, bo = model.get_weights()
    x = rng.normal(size=(2, 6, 5))
    q = np.einsum("bti,inh->btnh", x, wq) + bq
    k = np.einsum("bsi,inh->bsnh", x, wk) + bk
    v = np.einsum("bsi,inh->bsnh", x, wv) + bv
    scores = np.einsum("bsnh,btnh->bnts", k, q) / np.sqrt(4)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = np.einsum("bnts,bsnh->btnh", probs, v)
    expected = np.einsum("btnh,nhij->btij", context, wo) + bo
    got = model(x)
    assert got.dtype == np.float64 and got.shape == (2, 6, 2, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_dropout_is_kept_in_the_config_and_not_applied_in_the_forward_pass():
    layer = _built(MultiHeadAttention(2, 2, dropout=0.5), (3, 4))
    x = np.random.default_rng(0).normal(size=(1, 3, 4)).astype("float32")
    np.testing.assert_array_equal(layer(x), layer(x))
    assert layer.get_config()["dropout"] == 0.5


# -- the Layer API --------------------------------------------------------------------------
def test_summary_weights_set_weights_and_config_round_trip():
    model = Sequential([Input((4, 6)), MultiHeadAttention(2, 3, kernel_initializer="he_uniform",
                                                          value_bias="ones")],
                       seed=3, device=CPU)
    lines = []
    model.summary(print_fn=lines.append)
    assert "multi_head_attention (MultiHeadAttention)" in lines[0]
    assert "(None, 4, 6)" in lines[0] and "query/weight=he_uniform" in lines[0]
    assert list(model.parameters) == [f"multi_head_attention/{part}/{kind}" for part in PARTS
                                      for kind in ("weight", "bias")]
    layer = model.layers[0]
    assert len(layer.weights) == len(layer.trainable_weights) == 8
    assert layer.parameters["value/bias"].numpy().tolist() == [[1.0] * 3] * 2
    rebuilt = Sequential.from_config(model.get_config())
    for a, b in zip(model.get_weights(), rebuilt.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    config = layer.get_config()
    assert config["weight"] == "he_uniform" and config["value_bias"] == "ones"
    assert "query_weight" not in config
    fresh = [np.full(w.shape, 0.25, np.float32) for w in layer.get_weights()]
    layer.set_weights(fresh)
    assert all((w == 0.25).all() for w in model.get_weights())
    with pytest.raises(ValueError, match="attention_output/weight"):
        layer.set_weights([*fresh[:6], np.zeros((3, 3, 6)), fresh[7]])


def test_arrays_parameters_and_initial_weights_per_parameter():
    shared = Parameter("orthogonal")
    query = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
    layer = _built(MultiHeadAttention(2, 3, query_weight=query, key_weight=shared,
                                      initial_weights={"attention_output/bias": np.ones(4)}),
                   (5, 4))
    np.testing.assert_array_equal(layer.parameters["query/weight"].numpy(), query)
    assert layer.parameters["key/weight"] is shared and shared.shape == (4, 2, 3)
    assert layer.parameters["attention_output/bias"].numpy().tolist() == [1.0] * 4
    names = layer.initializer_names()
    assert names["query/weight"] == "array" and names["key/weight"] == "shared:orthogonal"
    with pytest.raises(ValueError, match="query/weight"):
        _built(MultiHeadAttention(2, 3, query_weight=np.zeros((3, 2, 3))), (5, 4))


def test_a_failed_build_leaves_the_layer_unbuilt_and_a_built_one_checks_its_shapes():
    layer = MultiHeadAttention(2, 3, query_weight=np.zeros((3, 2, 3)))
    with pytest.raises(ValueError):
        _built(layer, (5, 4), (6, 7))
    assert not layer.built and layer.value_shape is None and not layer.parameters
    layer = _built(MultiHeadAttention(2, 3), (5, 4), (6, 7))
    with pytest.raises(ValueError, match="was built for"):
        layer.build((5, 4), seed=0, device=CPU, dtype="float32")
    assert layer.value_shape == (6, 7)


def test_a_layer_built_on_its_own_is_named_multi_head_attention():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    assert layer.build((5, 8), seed=0, device=CPU, dtype="float32") == (5, 8)
    assert layer.name == "multi_head_attention"
    assert next(iter(layer._named_weights())) == "multi_head_attention/query/weight"
    model = Sequential([Input((5, 8)), MultiHeadAttention(num_heads=2, key_dim=4)], seed=0,
                       device=CPU)
    for ours, theirs in zip(layer.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert layer(np.ones((2, 5, 8), np.float32)).shape == (2, 5, 8)


def test_a_standalone_build_refused_for_its_shapes_leaves_no_name():
    layer = MultiHeadAttention(2, 3)
    with pytest.raises(ValueError):
        layer.build((5, 4), (6, 7), (3, 7), seed=0, device=CPU, dtype="float32")
    assert layer.name is None and not layer.built


# -- refused arguments and inputs ---------------------------------------------------------
@pytest.mark.parametrize("options, error, argument", [
    (dict(num_heads=0, key_dim=2), ValueError, "num_heads"),
    (dict(num_heads=-1, key_dim=2), ValueError, "num_heads"),
    (dict(num_heads=2.0, key_dim=2), TypeError, "num_heads"),
    (dict(num_heads=2, key_dim=0), ValueError, "key_dim"),
    (dict(num_heads=2, key_dim="8"), TypeError, "key_dim"),
    (dict(num_heads=2, key_dim=2, value_dim=0), ValueError, "value_dim"),
    (dict(num_heads=2, key_dim=2, attention_axes=2), ValueError, "attention_axes"),
    (dict(num_heads=2, key_dim=2, attention_axes=(1, 2)), ValueError, "attention_axes"),
    (dict(num_heads=2, key_dim=2, attention_axes="seq"), TypeError, "attention_axes"),
    (dict(num_heads=2, key_dim=2, attention_axes=[True]), TypeError, "attention_axes"),
    (dict(num_heads=2, key_dim=2, output_shape=0), ValueError, "output_shape"),
    (dict(num_heads=2, key_dim=2, output_shape="4"), TypeError, "output_shape"),
    (dict(num_heads=2, key_dim=2, dropout=1.5), ValueError, "dropout"),
    (dict(num_heads=2, key_dim=2, use_bias=1), TypeError, "use_bias"),
    (dict(num_heads=2, key_dim=2, use_bias=False, bias_initializer="ones"), TypeError,
     "bias_initializer"),
    (dict(num_heads=2, key_dim=2, weight="he_normal", kernel_initializer="he_normal"),
     TypeError, "kernel_initializer"),
    (dict(num_heads=2, key_dim=2, kernel_initializer=np.zeros((2, 2, 2))), TypeError,
     "kernel_initializer"),
    (dict(num_heads=2, key_dim=2, kernel_initializer="no_such_init"), ValueError,
     "kernel_initializer"),
    (dict(num_heads=2, key_dim=2, key_weight="no_such_init"), ValueError, "key_weight"),
])
def test_bad_arguments_are_typed_errors_naming_the_argument(options, error, argument):
    with pytest.raises(error, match=argument):
        MultiHeadAttention(**options)


def test_supported_attention_axes_spell_the_sequence_axis():
    for axes in (None, 1, -2, (1,), [-2]):
        assert MultiHeadAttention(2, 2, attention_axes=axes).attention_axes in (None, (1,))


def test_mismatched_inputs_are_value_errors_naming_the_input():
    with pytest.raises(ValueError, match="query"):
        Sequential([Input(8), MultiHeadAttention(2, 2)], seed=0, device=CPU)
    with pytest.raises(ValueError, match="query"):
        Sequential([Input((2, 3, 4)), MultiHeadAttention(2, 2)], seed=0, device=CPU)
    with pytest.raises(ValueError, match="key_shape"):
        _built(MultiHeadAttention(2, 2), (3, 4), (5, 4), (6, 4))
    with pytest.raises(ValueError, match="value_shape"):
        _built(MultiHeadAttention(2, 2), (3, 4), (5,))
    layer = _built(MultiHeadAttention(2, 2), (3, 4), (5, 6))
    q, v = np.zeros((1, 3, 4)), np.zeros((1, 5, 6))
    assert layer(q, v).shape == (1, 3, 4)
    with pytest.raises(ValueError, match="query"):
        layer(np.zeros((1, 3, 5)), v)
    with pytest.raises(ValueError, match="value"):
        layer(q, np.zeros((1, 5, 4)))
    with pytest.raises(ValueError, match="key and value"):
        layer(q, v, np.zeros((1, 4, 6)))
    with pytest.raises(ValueError, match="not built"):
        MultiHeadAttention(2, 2)(q)


def test_an_empty_key_sequence_gives_the_output_bias_as_keras_does():
    keras = pytest.importorskip("keras")
    ours = _built(MultiHeadAttention(2, 3, bias_initializer="ones"), (3, 4), (0, 4))
    theirs = keras.layers.MultiHeadAttention(2, 3, bias_initializer="ones")
    q, v = np.ones((1, 3, 4), "float32"), np.ones((1, 0, 4), "float32")
    np.testing.assert_array_equal(ours(q, v), keras.ops.convert_to_numpy(theirs(q, v)))
    assert (ours(q, v) == 1).all()


def test_keras_loads_the_weights_h5_file_of_a_model_with_attention(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    from gpuinit.layers import Dense, Input, MultiHeadAttention, Sequential

    model = Sequential([Input((5, 8)), MultiHeadAttention(2, 4), Dense(3)], seed=0)
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    inputs = keras.Input((5, 8))
    hidden = keras.layers.MultiHeadAttention(2, 4)(inputs, inputs)
    theirs = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    theirs.load_weights(path)
    ours = [np.asarray(w) for w in model.get_weights()]
    loaded = [keras.ops.convert_to_numpy(w) for w in theirs.weights]
    assert len(ours) == len(loaded) == 10
    for a, b in zip(ours, loaded, strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x)), keras.ops.convert_to_numpy(theirs(x)),
                               rtol=1e-5, atol=1e-5)
    # And back: gpuinit reads the file it wrote.
    again = Sequential([Input((5, 8)), MultiHeadAttention(2, 4), Dense(3)], seed=1)
    again.load_weights(path)
    for a, b in zip(again.get_weights(), ours, strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)
