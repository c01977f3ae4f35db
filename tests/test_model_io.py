"""Models: weights in and out, configuration, safetensors files and the summary table."""

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.layers import (
    LSTM,
    BatchNormalization,
    Conv2D,
    Dense,
    Flatten,
    Input,
    Parameter,
    Sequential,
)
from gpuinit.weightfiles import safetensors as st


def _model(seed=4, dtype=None):
    return Sequential([Input((6, 6, 2)), Conv2D(3, 3, weight="he_normal"), BatchNormalization(),
                       Flatten(), Dense(5, activation="relu",
                                        weight=gi.initializers.TruncatedNormal(stddev=0.1))],
                      seed=seed, device="cpu", dtype=dtype)


def test_get_and_set_weights_round_trip_and_refuse_bad_lists_without_writing():
    model = _model()
    before = model.get_weights()
    assert [w.shape for w in before] == [p.shape for p in model.parameters.values()]
    before[0][...] = 0  # host copies: editing them does not touch the model
    assert model.parameters["conv2d/weight"].numpy().any()
    new = [np.full(w.shape, i, np.float32) for i, w in enumerate(before)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new, strict=True):
        np.testing.assert_array_equal(got, want)
    bad = [*new[:-1], np.ones((4,))]
    with pytest.raises(ValueError, match=r"dense/bias: got shape \(4,\), expected \(5,\)"):
        model.set_weights([np.zeros_like(w) for w in bad])
    with pytest.raises(ValueError, match="set_weights got 1 arrays"):
        model.set_weights([new[0]])
    strings = [np.zeros_like(w) for w in new[:-1]] + [np.array(["a"] * 5)]
    with pytest.raises(TypeError, match=r"dense/bias holds str\w* values, not numbers"):
        model.set_weights(strings)
    with pytest.raises(TypeError, match="dense/bias holds bool values"):
        model.set_weights([np.zeros_like(w) for w in new[:-1]] + [np.ones(5, bool)])
    for got, want in zip(model.get_weights(), new, strict=True):  # unchanged
        np.testing.assert_array_equal(got, want)


def test_config_round_trip_rebuilds_the_same_weights():
    model = _model()
    config = model.get_config()
    assert config["layers"][0]["config"]["weight"] == "he_normal"
    assert config["layers"][3]["config"]["weight"]["class_name"] == "TruncatedNormal"
    again = Sequential.from_config(config)
    assert [type(a) for a in again.layers] == [type(a) for a in model.layers]
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_weights_in_safetensors(tmp_path):
    model, other = _model(seed=1), _model(seed=2)
    path = tmp_path / "model.safetensors"
    model.save_weights(path)
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    tensors, metadata, start = st.read_header(path)
    assert list(tensors) == list(model.parameters) and metadata["format"] == "gpuinit"
    assert start % 8 == 0


def test_files_are_read_by_the_safetensors_package_and_back(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    pytest.importorskip("ml_dtypes")
    model = Sequential([Input(3), Dense(4), Dense(2, dtype="float16"),
                        Dense(2, dtype="bfloat16"), Dense(1, dtype="float64")],
                       seed=0, device="cpu")
    ours = tmp_path / "ours.safetensors"
    model.save_weights(ours)
    loaded = safetensors_numpy.load_file(str(ours))
    for path, parameter in model.parameters.items():
        if str(parameter.dtype) == "bfloat16":
            continue  # safetensors.numpy has no bfloat16; the header check below covers it
        np.testing.assert_array_equal(loaded[path], parameter.numpy())
        assert loaded[path].dtype == parameter.dtype
    assert st.read_header(ours)[0]["dense_2/weight"]["dtype"] == "BF16"
    theirs = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file({k: np.full(v.shape, 0.5, v.dtype) for k, v in loaded.items()},
                                str(theirs))
    plain = Sequential([Input(3), Dense(4), Dense(2, dtype="float16")], seed=0, device="cpu")
    subset = tmp_path / "subset.safetensors"
    safetensors_numpy.save_file({k: loaded[k] for k in plain.parameters}, str(subset))
    plain.load_weights(subset)
    for path, parameter in plain.parameters.items():
        np.testing.assert_array_equal(parameter.numpy(), loaded[path])


def test_bfloat16_round_trips_through_a_file(tmp_path):
    pytest.importorskip("ml_dtypes")
    model = Sequential([Input(5), Dense(3)], seed=0, device="cpu", dtype="bfloat16")
    path = tmp_path / "bf16.safetensors"
    model.save_weights(path)
    other = Sequential([Input(5), Dense(3)], seed=1, device="cpu", dtype="bfloat16")
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a.view(np.uint16), b.view(np.uint16))


def test_a_file_that_does_not_fit_changes_nothing(tmp_path):
    model = _model()
    before = model.get_weights()
    wrong = Sequential([Input((6, 6, 2)), Conv2D(3, 3), BatchNormalization(), Flatten(),
                        Dense(4)], seed=0, device="cpu")
    path = tmp_path / "wrong.safetensors"
    wrong.save_weights(path)
    with pytest.raises(ValueError, match="dense/weight has shape"):
        model.load_weights(path)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    (tmp_path / "junk.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{nope")
    with pytest.raises(ValueError, match="not a safetensors file"):
        model.load_weights(tmp_path / "junk.safetensors")
    smaller = Sequential([Input(3), Dense(2)], seed=0, device="cpu")
    smaller.save_weights(tmp_path / "small.safetensors")
    with pytest.raises(ValueError, match="missing"):
        model.load_weights(tmp_path / "small.safetensors")


def test_summary_lists_layers_initializers_shared_parameters_and_totals():
    shared = Parameter("orthogonal")
    model = Sequential([Input(8), Dense(8, weight=shared), Dense(8, weight=shared),
                        Dense(4),
                        BatchNormalization()], seed=0, device="cpu")
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "dense (Dense)" in text and "(None, 8)" in text
    assert "weight=shared:orthogonal" in text and "(+shared)" in text
    assert "moving_variance=ones" in text
    total = 8 * 8 + 8 + 8 + 8 * 4 + 4 + 4 * 4
    assert f"Total params: {total:,}" in text and model.count_params() == total
    assert "Non-trainable params: 8 (32 B)" in text
    assert "cpu" in text and "float32" in text


def test_lstm_forget_bias_is_not_applied_to_a_given_bias():
    bias = np.zeros(16)
    model = Sequential([Input((2, 3)), LSTM(4, bias=bias)], seed=0, device="cpu")
    assert not model.parameters["lstm/bias"].numpy().any()


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".weights.h5"])
def test_threads_saving_one_path_at_once_leave_one_whole_file(tmp_path, suffix):
    import threading

    models = [Sequential([Input(64), Dense(256), Dense(64)], seed=s, device="cpu")
              for s in range(4)]
    path = tmp_path / f"w{suffix}"
    threads = [threading.Thread(target=m.save_weights, args=(path,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left
    loaded = Sequential([Input(64), Dense(256), Dense(64)], seed=9, device="cpu")
    loaded.load_weights(path)
    assert any(all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), m.get_weights(),
                                                          strict=True)) for m in models)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".weights.h5"])
def test_a_file_replaced_while_it_is_read_loads_nothing(tmp_path, suffix, monkeypatch):
    from gpuinit.weightfiles import files

    def model(seed):
        return Sequential([Input(4), Dense(4), Dense(4)], seed=seed, device="cpu")

    path = tmp_path / f"w{suffix}"
    model(1).save_weights(path)
    listers = dict(files.LISTERS)

    def replaced_after_listing(model_, path_):
        listing = listers[suffix](model_, path_)
        model(2).save_weights(path)  # a save to the same path lands mid-load
        return listing

    monkeypatch.setitem(files.LISTERS, suffix, replaced_after_listing)
    target = model(3)
    before = target.get_weights()
    with pytest.raises(ValueError, match="replaced while it was read"):
        target.load_weights(path)
    for a, b in zip(target.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setitem(files.LISTERS, suffix, listers[suffix])
    target.load_weights(path)  # the file now in place loads whole
    for a, b in zip(target.get_weights(), model(2).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_unbuilt_model_or_layer_says_so_when_asked_to_save_load_or_set(tmp_path):
    built = Sequential([Input(3), Dense(2)], seed=0, device="cpu")
    path = tmp_path / "w.safetensors"
    built.save_weights(path)
    unbuilt = Sequential([Dense(2)], seed=0, device="cpu")
    for call in (lambda: unbuilt.save_weights(tmp_path / "u.safetensors"),
                 lambda: unbuilt.load_weights(path)):
        with pytest.raises(ValueError, match="is not built"):
            call()
    assert not (tmp_path / "u.safetensors").exists()
    with pytest.raises(ValueError, match="Dense layer None is not built"):
        Dense(2).set_weights([np.ones((3, 2)), np.zeros(2)])


@pytest.mark.parametrize("name", ["a\x00b", "a/b", ""])
def test_a_layer_name_no_weight_file_can_hold_is_refused(name):
    with pytest.raises(ValueError, match="non-empty string without '/' or NUL"):
        Dense(2, name=name)
