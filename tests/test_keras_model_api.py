"""The Keras model API of Sequential and Layer (weights, trainable split, get/set_weights,
count_params), the initializer names of the summary, and weight files by extension
(.safetensors, .npz, Keras' .weights.h5), checked against Keras 3 and NumPy themselves."""

import sys
import zipfile

import numpy as np
import pytest

from gpuinit.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Conv1D,
    Dense,
    Embedding,
    Flatten,
    Input,
    LayerNormalization,
    Parameter,
    Sequential,
    SimpleRNN,
)

# Keras' variable names -> ours
KERAS_NAMES = {"kernel": "weight", "recurrent_kernel": "recurrent_weight",
               "embeddings": "weight"}


def _ours(**dense_options):
    return Sequential([Input((5, 3)), LSTM(4, return_sequences=True), BatchNormalization(),
                       Flatten(), Dense(2, **dense_options), Dense(3)], seed=0, device="cpu")


def _theirs(keras, **dense_options):
    return keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, return_sequences=True),
                             keras.layers.BatchNormalization(), keras.layers.Flatten(),
                             keras.layers.Dense(2, **dense_options), keras.layers.Dense(3)])


def _signature(weights, keras_variables=False):
    """Return [(parameter name in our spelling, shape)] of a list of Parameters, or of Keras
    variables when ``keras_variables``."""
    if keras_variables:
        return [(KERAS_NAMES.get(w.name, w.name), tuple(w.shape)) for w in weights]
    return [(p.name.split("/")[-1], p.shape) for p in weights]


def _bits(model):
    return [w.tobytes() for w in model.get_weights()]


# -- weights, trainable split, count_params -----------------------------------------------
def test_weights_order_shapes_and_trainable_split_agree_with_keras():
    keras = pytest.importorskip("keras")
    ours, theirs = _ours(), _theirs(keras)
    assert _signature(ours.weights) == _signature(theirs.weights, True)
    assert _signature(ours.trainable_weights) == _signature(theirs.trainable_weights, True)
    assert _signature(ours.non_trainable_weights) == \
        _signature(theirs.non_trainable_weights, True)
    assert [p.name for p in ours.non_trainable_weights] == [
        "batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    assert ours.count_params() == theirs.count_params() == 4 * (3 * 4 + 4 * 4 + 4) + 4 * 4 \
        + 20 * 2 + 2 + 2 * 3 + 3
    for layer, keras_layer in zip(ours.layers, theirs.layers, strict=True):
        assert _signature(layer.weights) == _signature(keras_layer.weights, True)
        assert _signature(layer.trainable_weights) == \
            _signature(keras_layer.trainable_weights, True)
        assert _signature(layer.non_trainable_weights) == \
            _signature(keras_layer.non_trainable_weights, True)
        assert layer.count_params() == keras_layer.count_params()
        assert [w.shape for w in layer.get_weights()] == \
            [w.shape for w in keras_layer.get_weights()]


def test_freezing_a_layer_moves_its_weights_as_keras_does():
    keras = pytest.importorskip("keras")
    ours, theirs = _ours(trainable=False), _theirs(keras, trainable=False)
    assert _signature(ours.trainable_weights) == _signature(theirs.trainable_weights, True)
    assert _signature(ours.non_trainable_weights) == \
        _signature(theirs.non_trainable_weights, True)
    assert ours.layers[3].trainable_weights == [] and len(ours.layers[3].non_trainable_weights) == 2
    for model in (ours, theirs):  # freeze the BatchNormalization, then thaw it
        model.layers[1].trainable = False
        model.layers[3].trainable = True
    assert _signature(ours.trainable_weights) == _signature(theirs.trainable_weights, True)
    assert _signature(ours.non_trainable_weights) == \
        _signature(theirs.non_trainable_weights, True)
    ours.layers[1].trainable = True
    theirs.layers[1].trainable = True
    assert _signature(ours.layers[1].non_trainable_weights) == \
        _signature(theirs.layers[1].non_trainable_weights, True) == [
            ("moving_mean", (4,)), ("moving_variance", (4,))]  # moving statistics stay frozen
    lines = []
    ours.summary(print_fn=lines.append)
    assert "Non-trainable params: 8 (32 B)" in lines[0]
    with pytest.raises(TypeError, match="trainable must be a bool"):
        ours.layers[0].trainable = 1


def test_a_shared_parameter_is_one_weight_of_the_model_and_one_of_each_layer():
    shared = Parameter("orthogonal")
    model = Sequential([Input(4), Dense(4, weight=shared), Dense(4, weight=shared)], seed=0,
                       device="cpu")
    assert [p.name for p in model.weights] == ["dense/weight", "dense/bias", "dense_1/bias"]
    assert model.count_params() == 16 + 4 + 4
    assert model.layers[1].weights[0] is shared and model.layers[1].count_params() == 20
    model.layers[1].set_weights([np.eye(4), np.ones(4)])
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], np.eye(4))


def test_count_params_of_an_unbuilt_layer_or_model_is_an_error_as_in_keras():
    keras = pytest.importorskip("keras")
    with pytest.raises(ValueError):
        keras.layers.Dense(3).count_params()
    with pytest.raises(ValueError, match="'dense' is not built"):
        Dense(3, name="dense").count_params()
    with pytest.raises(ValueError, match="not built"):
        Sequential([Dense(3)], seed=0, device="cpu").count_params()
    assert Dense(3).weights == [] and Dense(3).get_weights() == []


def test_layer_set_weights_checks_everything_before_writing_anything():
    model = _ours()
    layer = model.layers[1]  # BatchNormalization
    before = _bits(model)
    new = [np.full(4, float(i + 1)) for i in range(4)]
    with pytest.raises(ValueError, match=r"batch_normalization/moving_variance: got shape "
                                         r"\(5,\), expected \(4,\)"):
        layer.set_weights([*new[:3], np.ones(5)])
    with pytest.raises(TypeError, match="batch_normalization/moving_mean holds bool"):
        layer.set_weights([new[0], new[1], np.ones(4, bool), new[3]])
    with pytest.raises(TypeError, match="batch_normalization/beta holds str"):
        layer.set_weights([new[0], np.array(["a"] * 4), new[2], new[3]])
    with pytest.raises(ValueError, match="set_weights got 3 arrays; layer "
                                         "'batch_normalization' has 4 parameters"):
        layer.set_weights(new[:3])
    with pytest.raises(ValueError, match="moving_variance: the value 1e\\+300"):
        layer.set_weights([*new[:3], np.full(4, 1e300)])
    assert _bits(model) == before
    layer.set_weights(new)
    for got, want in zip(layer.get_weights(), new, strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.float32
    assert [p.numpy().tolist() for p in layer.weights] == [w.tolist() for w in new]


# -- what the summary says each parameter got ----------------------------------------------
def _initializers(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines[0]


def test_the_summary_names_the_lstm_forget_gate_bias_that_keras_also_makes():
    keras = pytest.importorskip("keras")
    model = Sequential([Input((2, 3)), LSTM(4)], seed=0, device="cpu")
    assert "bias=zeros+unit_forget_bias" in _initializers(model)
    assert "bias=zeros," not in _initializers(model)
    cell = keras.layers.LSTM(4)
    cell.build((None, 2, 3))
    np.testing.assert_array_equal(model.layers[0].get_weights()[2], cell.get_weights()[2])
    assert model.layers[0].get_weights()[2][4:8].tolist() == [1.0] * 4

    plain = Sequential([Input((2, 3)), LSTM(4, unit_forget_bias=False)], seed=0, device="cpu")
    assert "bias=zeros" in _initializers(plain) and "unit_forget_bias" not in \
        _initializers(plain)
    assert not plain.parameters["lstm/bias"].numpy().any()

    normal = Sequential([Input((2, 3)), LSTM(4, bias_initializer="random_normal")], seed=0,
                        device="cpu")
    assert "bias=random_normal+unit_forget_bias" in _initializers(normal)
    assert normal.parameters["lstm/bias"].numpy()[4:8].tolist() == [1.0] * 4

    given = Sequential([Input((2, 3)), LSTM(4, bias=np.zeros(16))], seed=0, device="cpu")
    assert "bias=array" in _initializers(given) and "unit_forget_bias" not in \
        _initializers(given)


def test_the_summary_names_a_shared_array_parameter_array():
    shared = Parameter(np.ones((3, 2)), device="cpu")
    model = Sequential([Input(3), Dense(2, weight=shared)], seed=0, device="cpu")
    assert "weight=shared:array" in _initializers(model)
    others = Sequential([Input((4, 3)), GRU(2), Dense(1, weight="he_normal")], seed=0,
                        device="cpu")
    text = _initializers(others)
    assert "weight=glorot_uniform, recurrent_weight=orthogonal, bias=zeros" in text
    assert "weight=he_normal, bias=zeros" in text


# -- weight files --------------------------------------------------------------------------
def _random(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([np.abs(rng.normal(size=w.shape)) + 0.1 for w in model.get_weights()])
    return model


def test_npz_files_are_numpys_savez_keyed_by_parameter_path(tmp_path):
    model, other = _random(_ours()), _ours()
    path = tmp_path / "m.npz"
    model.save_weights(path)
    with np.load(path) as loaded:
        assert loaded.files == list(model.parameters)
        for key, parameter in model.parameters.items():
            np.testing.assert_array_equal(loaded[key], parameter.numpy())
    other.load_weights(path)
    assert _bits(other) == _bits(model)
    theirs = tmp_path / "theirs.npz"
    np.savez(theirs, **{key: np.full(p.shape, 0.25, np.float32)
                        for key, p in model.parameters.items()})
    other.load_weights(theirs)
    assert all((w == 0.25).all() for w in other.get_weights())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "theirs.npz"]


def test_bfloat16_is_stored_in_npz_as_numpys_savez_stores_it_and_read_back(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    model = Sequential([Input(5), Dense(3)], seed=0, device="cpu", dtype="bfloat16")
    model.save_weights(tmp_path / "bf16.npz")
    with np.load(tmp_path / "bf16.npz") as loaded:  # savez writes bfloat16 as raw 2 bytes
        assert loaded["dense/weight"].dtype == np.dtype("V2")
        assert loaded["dense/weight"].tobytes() == model.get_weights()[0].tobytes()
    other = Sequential([Input(5), Dense(3)], seed=1, device="cpu", dtype="bfloat16")
    other.load_weights(tmp_path / "bf16.npz")
    assert _bits(other) == _bits(model)
    assert str(other.parameters["dense/weight"].dtype) == "bfloat16"
    halves = {key: np.full(p.shape, 0.5, ml_dtypes.bfloat16)
              for key, p in model.parameters.items()}
    np.savez(tmp_path / "theirs.npz", **halves)
    other.load_weights(tmp_path / "theirs.npz")
    assert all((w.astype(np.float32) == 0.5).all() for w in other.get_weights())


@pytest.mark.parametrize("change,match", [
    (lambda a: a.pop("dense/bias"), r"missing \['dense/bias'\]"),
    (lambda a: a.update(extra=np.zeros(2)), r"unexpected \['extra'\]"),
    (lambda a: a.update({"dense/weight": np.zeros((20, 3), np.float32)}),
     r"dense/weight has shape \(20, 3\), the model's has \(20, 2\)"),
    (lambda a: a.update({"dense/bias": np.zeros(2)}),
     r"'dense/bias' is float64 in the file, the model's dense/bias is float32; pass cast=True"),
    (lambda a: a.update({"dense/bias": np.zeros(2, bool)}), "'dense/bias' holds booleans"),
    (lambda a: a.update({"dense/bias": np.array(["a", "b"])}), "'dense/bias' holds str"),
    (lambda a: a.update({"dense/bias": np.array([{}, {}], dtype=object)}),
     "'dense/bias' holds Python objects"),
])
def test_an_npz_that_does_not_fit_is_refused_before_anything_is_written(tmp_path, change,
                                                                        match):
    model = _ours()
    before = _bits(model)
    arrays = {key: np.full(p.shape, 7, np.float32) for key, p in model.parameters.items()}
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match) as caught:
        model.load_weights(path)
    assert str(path) in str(caught.value)
    assert _bits(model) == before


def test_npz_cast_and_files_that_are_not_npz(tmp_path):
    model = _ours()
    arrays = {key: np.full(p.shape, 2, np.int32) for key, p in model.parameters.items()}
    np.savez(tmp_path / "ints.npz", **arrays)
    with pytest.raises(ValueError, match="is int32 in the file"):
        model.load_weights(tmp_path / "ints.npz")
    model.load_weights(tmp_path / "ints.npz", cast=True)
    assert all((w == 2).all() and w.dtype == np.float32 for w in model.get_weights())
    before = _bits(model)
    (tmp_path / "junk.npz").write_bytes(b"PK not really a zip")
    with pytest.raises(ValueError, match="junk.npz: not a .npz file"):
        model.load_weights(tmp_path / "junk.npz")
    with zipfile.ZipFile(tmp_path / "odd.npz", "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ValueError, match="member 'notes.txt' is not a .npy array"):
        model.load_weights(tmp_path / "odd.npz")
    assert _bits(model) == before


@pytest.mark.parametrize("name", ["m.h5", "m.keras", "m.bin", "m", "m.weights.hdf5", "m.NPZ"])
def test_an_unknown_extension_is_refused_naming_the_supported_ones(tmp_path, name):
    model = _ours()
    path = tmp_path / name
    with pytest.raises(ValueError, match="supported extensions: .safetensors, .npz, "
                                         ".weights.h5") as caught:
        model.save_weights(path)
    assert str(path) in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a partial file
    path.write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match="supported extensions") as caught:
        model.load_weights(path)
    assert str(path) in str(caught.value)
    if name.endswith((".h5", ".keras")):
        assert "Keras 3 weight files end in .weights.h5" in str(caught.value)


# -- Keras' .weights.h5 ---------------------------------------------------------------------
def _stack():
    return [Input((6, 3)), LSTM(4, return_sequences=True), BatchNormalization(),
            GRU(3, return_sequences=True), SimpleRNN(2, return_sequences=True),
            LayerNormalization(), Conv1D(2, 2), Flatten(), Dense(2), Dense(3)]


def _keras_stack(keras):
    layers = keras.layers
    return keras.Sequential([keras.Input((6, 3)), layers.LSTM(4, return_sequences=True),
                             layers.BatchNormalization(), layers.GRU(3, return_sequences=True),
                             layers.SimpleRNN(2, return_sequences=True),
                             layers.LayerNormalization(), layers.Conv1D(2, 2), layers.Flatten(),
                             layers.Dense(2), layers.Dense(3)])


def test_keras_load_weights_reads_our_weights_h5_and_we_read_theirs(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    ours = _random(Sequential(_stack(), seed=0, device="cpu"))
    theirs = _keras_stack(keras)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(1).normal(size=(2, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-4,
                               atol=1e-5)
    _random(theirs, seed=2)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.load_weights(tmp_path / "theirs.weights.h5")
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keras_reads_16_bit_and_embedding_weights_h5(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    pytest.importorskip("ml_dtypes")
    ours = Sequential([Input((4,)), Embedding(10, 3), Flatten(), Dense(3, dtype="bfloat16"),
                       Dense(2, dtype="float16")], seed=0, device="cpu")
    theirs = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(10, 3),
                               keras.layers.Flatten(), keras.layers.Dense(3, dtype="bfloat16"),
                               keras.layers.Dense(2, dtype="float16")])
    ours.save_weights(tmp_path / "m.weights.h5")
    theirs.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))
    theirs.save_weights(tmp_path / "k.weights.h5")
    again = Sequential([Input((4,)), Embedding(10, 3), Flatten(), Dense(3, dtype="bfloat16"),
                        Dense(2, dtype="float16")], seed=5, device="cpu")
    again.load_weights(tmp_path / "k.weights.h5")
    assert _bits(again) == _bits(ours)


def test_a_weights_h5_that_does_not_fit_changes_nothing(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    model = _ours()
    before = _bits(model)
    wrong = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, return_sequences=True),
                              keras.layers.BatchNormalization(), keras.layers.Flatten(),
                              keras.layers.Dense(2), keras.layers.Dense(4)])
    wrong.save_weights(tmp_path / "wrong.weights.h5")
    with pytest.raises(ValueError, match=r"dense_1/weight \(layers/dense_1/vars/0\) has shape "
                                         r"\(2, 4\), the model's has \(2, 3\)"):
        model.load_weights(tmp_path / "wrong.weights.h5")
    fewer = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, return_sequences=True),
                              keras.layers.Flatten(), keras.layers.Dense(2),
                              keras.layers.Dense(3)])
    fewer.save_weights(tmp_path / "fewer.weights.h5")
    with pytest.raises(ValueError, match=r"missing \['layers/batch_normalization/vars/0'"):
        model.load_weights(tmp_path / "fewer.weights.h5")
    (tmp_path / "junk.weights.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        model.load_weights(tmp_path / "junk.weights.h5")
    assert _bits(model) == before


def test_a_shared_parameter_is_stored_in_each_keras_layer_and_must_agree(tmp_path):
    h5py = pytest.importorskip("h5py")
    shared = Parameter("orthogonal")
    model = Sequential([Input(4), Dense(4, weight=shared), Dense(4, weight=shared)], seed=0,
                       device="cpu")
    path = tmp_path / "shared.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["layers/dense/vars/0"][()], f["layers/dense_1/vars/0"][()])
    model.load_weights(path)
    with h5py.File(path, "r+") as f:
        f["layers/dense_1/vars/0"][0, 0] = 42.0
    before = _bits(model)
    with pytest.raises(ValueError, match="hold one shared parameter with different values"):
        model.load_weights(path)
    assert _bits(model) == before


def test_weights_h5_without_h5py_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    model = _ours()
    with pytest.raises(ImportError, match="pip install h5py"):
        model.save_weights(tmp_path / "m.weights.h5")
    assert list(tmp_path.iterdir()) == []


def test_the_weight_api_works_on_every_layer_kind():
    model = Sequential(_stack(), seed=0, device="cpu")
    total = sum(layer.count_params() for layer in model.layers)
    assert total == model.count_params() == sum(w.size for w in model.get_weights())
    assert sum(len(layer.weights) for layer in model.layers) == len(model.weights)
