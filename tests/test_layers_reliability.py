"""Failed calls change nothing, and their errors are typed and name what was wrong.

Covers: safetensors files that are not what they claim (hand-made headers), dtype
changes on load, builds that fail half-way (shared Parameters, layers, models),
set_weights, and the construction errors of layers (NumPy integers, bool/str/ragged
arrays, the keyword the user wrote).
"""

import json
import re
import struct

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.layers import (
    Conv1D,
    Conv2D,
    Dense,
    Embedding,
    Input,
    LayerNormalization,
    Parameter,
    ParameterSpec,
    Sequential,
    make_parameters,
)
from gpuinit.weightfiles import safetensors as st

CODES = {"float64": "F64", "float32": "F32", "float16": "F16", "int32": "I32", "bool": "BOOL"}


# -- helpers ------------------------------------------------------------------------------
def _model(dtype=None):
    return Sequential([Input(4), Dense(4), Dense(4)], seed=0, device="cpu", dtype=dtype)


def _bits(model):
    """Return {path: (dtype, shape, bytes)} of every parameter: equal means bit-identical."""
    return {k: (str(p.dtype), p.shape, p.numpy().tobytes()) for k, p in model.parameters.items()}


def _layout(arrays):
    """Return (header, data) of a well-formed file holding ``arrays`` in order."""
    header, chunks, offset = {}, [], 0
    for name, array in arrays.items():
        raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": CODES[array.dtype.name], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    return header, b"".join(chunks)


def _write(path, header, data):
    """Write a safetensors file by hand: ``header`` is a JSON value or raw bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _sevens(model, dtype=np.float32):
    """Return arrays for every parameter, all 7: loading them would change every bit."""
    return {k: np.full(p.shape, 7, dtype) for k, p in model.parameters.items()}


def _shift(entry, by):
    begin, end = entry["data_offsets"]
    entry["data_offsets"] = [begin + by, end + by]


# -- bad files ----------------------------------------------------------------------------
def _float_shape(h, d):
    h["dense_1/weight"]["shape"] = [4.0, 4.0]
    return h, d


def _float_offsets(h, d):
    h["dense_1/weight"]["data_offsets"] = [float(v) for v in h["dense_1/weight"]["data_offsets"]]
    return h, d


def _bool_shape(h, d):
    h["dense_1/bias"]["shape"] = [True, 4]
    return h, d


def _negative_shape(h, d):
    h["dense_1/bias"]["shape"] = [-4]
    return h, d


def _missing_offsets(h, d):
    del h["dense_1/bias"]["data_offsets"]
    return h, d


def _missing_dtype(h, d):
    del h["dense_1/bias"]["dtype"]
    return h, d


def _extra_key(h, d):
    h["dense_1/bias"]["offsets"] = [0, 16]
    return h, d


def _entry_is_a_list(h, d):
    h["dense_1/bias"] = [0, 16]
    return h, d


def _entry_is_an_int(h, d):
    h["dense_1/bias"] = 3
    return h, d


def _unknown_dtype(h, d):
    h["dense_1/bias"]["dtype"] = "F33"
    return h, d


def _three_offsets(h, d):
    h["dense_1/bias"]["data_offsets"] += [0]
    return h, d


def _offsets_backwards(h, d):
    h["dense_1/bias"]["data_offsets"] = h["dense_1/bias"]["data_offsets"][::-1]
    return h, d


def _size_mismatch(h, d):
    h["dense_1/bias"]["shape"] = [3]
    return h, d


def _overlap(h, d):
    _shift(h["dense_1/weight"], -4)
    return h, d


def _past_the_end(h, d):
    return h, d[:-4]


def _gap(h, d):
    _shift(h["dense_1/bias"], 4)
    return h, d + b"\0" * 4


def _trailing_bytes(h, d):
    return h, d + b"\0" * 8


def _header_is_a_list(h, d):
    return list(h), d


def _metadata_not_strings(h, d):
    h["__metadata__"] = {"seed": 1}
    return h, d


def _duplicate_key(h, d):
    text = json.dumps(h)
    entry = json.dumps(h["dense_1/bias"])
    return (text[:-1] + f', "dense_1/bias": {entry}}}').encode(), d


def _header_longer_than_file(h, d):
    text = json.dumps(h).encode()
    return text, b""  # the length prefix is right, but the data went missing ...


def _bool_tensor(h, d):
    arrays = _sevens(_model())
    arrays["dense_1/bias"] = np.ones(4, bool)
    return _layout(arrays)


@pytest.mark.parametrize("mutate,tensor,match", [
    (_float_shape, "dense_1/weight", r"shape \[4\.0, 4\.0\] must be a list of integers"),
    (_float_offsets, "dense_1/weight", r"data_offsets .* must be two integers"),
    (_bool_shape, "dense_1/bias", "shape .* must be a list of integers"),
    (_negative_shape, "dense_1/bias", "shape .* must be a list of integers >= 0"),
    (_missing_offsets, "dense_1/bias", r"missing \['data_offsets'\]"),
    (_missing_dtype, "dense_1/bias", r"missing \['dtype'\]"),
    (_extra_key, "dense_1/bias", r"unexpected \['offsets'\]"),
    (_entry_is_a_list, "dense_1/bias", "must be an object .* got list"),
    (_entry_is_an_int, "dense_1/bias", "must be an object .* got int"),
    (_unknown_dtype, "dense_1/bias", "unknown dtype 'F33'"),
    (_three_offsets, "dense_1/bias", "data_offsets .* must be two integers"),
    (_offsets_backwards, "dense_1/bias", "span -16 bytes"),
    (_size_mismatch, "dense_1/bias", r"span 16 bytes; shape \[3\] of F32 needs 12"),
    (_overlap, "dense_1/weight", "overlaps tensor 'dense/bias'"),
    (_past_the_end, "dense_1/bias", "runs past the end of the data"),
    (_gap, "dense_1/bias", "leaves a gap"),
    (_trailing_bytes, None, "8 bytes at the end of the data belong to no tensor"),
    (_header_is_a_list, None, "not a safetensors file .*JSON list, not an object"),
    (_metadata_not_strings, None, "__metadata__ must be an object of strings"),
    (_duplicate_key, None, "not a safetensors file .*'dense_1/bias' appears twice"),
    (_header_longer_than_file, None, "runs past the end|belong to no tensor"),
    (_bool_tensor, "dense_1/bias", "holds booleans"),
], ids=lambda v: v.__name__.strip("_") if callable(v) else None)
@pytest.mark.parametrize("cast", [False, True])
def test_a_bad_file_is_refused_before_anything_is_written(tmp_path, mutate, tensor, match, cast):
    model = _model()
    before = _bits(model)
    path = _write(tmp_path / "bad.safetensors", *mutate(*_layout(_sevens(model))))
    with pytest.raises(ValueError, match=match) as caught:
        model.load_weights(path, cast=cast)
    assert str(path) in str(caught.value)
    if tensor is not None:
        assert repr(tensor) in str(caught.value)
    assert _bits(model) == before


@pytest.mark.parametrize("model_dtype,file_dtype,value,cast,match", [
    (None, np.int32, 1, False, "'dense/weight' is int32 in the file, .* is float32"),
    (None, np.float64, 0.5, False, "'dense/weight' is float64 in the file, .* is float32"),
    ("float64", np.float32, 0.5, False, "'dense/weight' is float32 in the file, .* float64"),
    ("float16", np.float32, 0.5, False, "'dense/weight' is float32 in the file, .* float16"),
    ("float16", np.float64, 1e6, True, "'dense/weight': the value 1000000.0 .* float16"),
    ("float16", np.int32, 70000, True, "'dense/weight': the value 70000 .* float16"),
    (None, np.float64, 1e300, True, "'dense/weight': the value 1e\\+300 .* float32"),
])
def test_a_dtype_change_is_refused_unless_asked_and_then_only_when_values_fit(
        tmp_path, model_dtype, file_dtype, value, cast, match):
    model = _model(model_dtype)
    before = _bits(model)
    arrays = _sevens(model, np.dtype(str(model.parameters["dense/weight"].dtype)))
    arrays["dense/weight"] = np.full((4, 4), value, file_dtype)
    path = _write(tmp_path / "other_dtype.safetensors", *_layout(arrays))
    with pytest.raises(ValueError, match=match) as caught:
        model.load_weights(path, cast=cast)
    assert str(path) in str(caught.value)
    if not cast:
        assert "cast=True" in str(caught.value)
    assert _bits(model) == before


def test_cast_true_converts_values_that_fit_and_keeps_nan_and_inf_of_the_file(tmp_path):
    model = _model("float16")
    arrays = _sevens(model, np.float16)
    arrays["dense/weight"] = np.ones((4, 4), np.int32)  # 16843009.0 if its bytes were read
    arrays["dense/bias"] = np.array([np.nan, np.inf, -np.inf, 65504.0])
    path = _write(tmp_path / "cast.safetensors", *_layout(arrays))
    with pytest.raises(ValueError, match="'dense/weight' is int32 in the file"):
        model.load_weights(path)
    model.load_weights(path, cast=True)
    np.testing.assert_array_equal(model.parameters["dense/weight"].numpy(), np.ones((4, 4)))
    np.testing.assert_array_equal(model.parameters["dense/bias"].numpy(),
                                  np.array([np.nan, np.inf, -np.inf, 65504.0], np.float16))
    assert model.parameters["dense/bias"].dtype == np.float16
    with pytest.raises(TypeError, match="cast must be a bool"):
        model.load_weights(path, cast=1)


def test_the_reference_writer_and_reader_still_agree_with_ours(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    model = _model()
    theirs = tmp_path / "theirs.safetensors"
    values = {k: np.arange(np.prod(p.shape), dtype=np.float32).reshape(p.shape)
              for k, p in model.parameters.items()}
    safetensors_numpy.save_file(values, str(theirs), metadata={"format": "np"})
    model.load_weights(theirs)
    for key, parameter in model.parameters.items():
        np.testing.assert_array_equal(parameter.numpy(), values[key])
    ours = tmp_path / "ours.safetensors"
    model.save_weights(ours)
    loaded = safetensors_numpy.load_file(str(ours))
    for key, parameter in model.parameters.items():
        np.testing.assert_array_equal(loaded[key], parameter.numpy())
    empty = Sequential([Input(0), Dense(3)], seed=0, device="cpu")  # a zero-size weight
    empty.save_weights(tmp_path / "empty.safetensors")
    assert safetensors_numpy.load_file(str(tmp_path / "empty.safetensors"))["dense/weight"].shape \
        == (0, 3)
    empty.load_weights(tmp_path / "empty.safetensors")


def test_write_keeps_zero_dim_and_non_contiguous_arrays(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "odd.safetensors"
    transposed = np.arange(6.0, dtype=np.float32).reshape(2, 3).T
    st.write(path, [("step", (), "int64", lambda: np.array(3)),
                    ("t", (3, 2), "float32", lambda: transposed)])
    loaded = safetensors_numpy.load_file(str(path))
    assert loaded["step"].shape == () and int(loaded["step"]) == 3
    np.testing.assert_array_equal(loaded["t"], transposed)
    assert st.read_header(path)[0]["step"] == {"dtype": "I64", "shape": [],
                                                 "data_offsets": [0, 8]}


def test_a_failed_save_leaves_the_previous_file_as_it_was(tmp_path):
    model = _model()
    path = tmp_path / "model.safetensors"
    model.save_weights(path)
    good = path.read_bytes()

    def broken():
        raise RuntimeError("device lost")

    entries = [("a", (2,), "float32", lambda: np.zeros(2, np.float32)),
               ("b", (2,), "float32", broken)]
    with pytest.raises(RuntimeError, match="device lost"):
        st.write(path, entries)
    with pytest.raises(ValueError, match=r"b: got float64 \(2,\), listed as float32"):
        st.write(path, [("b", (2,), "float32", lambda: np.zeros(2))])
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


# -- failed builds change nothing ---------------------------------------------------------
def _raises(shape, dtype):
    raise RuntimeError("boom")


def _wrong_shape(shape, dtype):
    return np.zeros(3)


def _too_large(shape, dtype):
    return np.full(shape, 1e6)


FAILURES = {  # bias value, options of the failing layer, error type, message
    "raises": (_raises, {}, RuntimeError, "boom"),
    "wrong_shape": (_wrong_shape, {}, ValueError, r"the initializer of \w+/bias has shape"),
    "too_large": (_too_large, {"dtype": "float16"}, ValueError,
                  r"the initializer of \w+/bias: the value 1000000.0 .* float16"),
}


def _state(obj):
    """Return everything a failed call must leave as it was, bits included."""
    if isinstance(obj, Parameter):
        data = None if obj.data is None else (id(obj.data), obj.data.tobytes())
        return ("parameter", obj.name, data, obj.dtype, obj.device)
    if isinstance(obj, Sequential):
        return ("model", [id(layer) for layer in obj.layers], obj.input_shape, obj.output_shape,
                _bits(obj))
    return ("layer", obj.name, obj.built, obj.input_shape,
            {k: (id(p), _state(p)) for k, p in obj.parameters.items()})


def _add(shared, bad, options):
    model = Sequential([Input(4), Dense(4)], seed=0, device="cpu")
    layer = Dense(4, weight=shared, bias=bad, **options)
    return [model, layer, *model.layers], lambda: model.add(layer)


def _constructor(shared, bad, options):
    first, second = Dense(4, weight=shared), Dense(4, bias=bad, **options)
    return [first, second], lambda: Sequential([Input(4), first, second], seed=0, device="cpu")


def _shared_twice(shared, bad, options):
    first, second = Dense(4, weight=shared), Dense(4, weight=shared, bias=bad, **options)
    return [first, second], lambda: Sequential([Input(4), first, second], seed=0, device="cpu")


def _build(shared, bad, options):
    model = Sequential([Dense(4, weight=shared), Dense(4, bias=bad, **options)], seed=0,
                       device="cpu")
    return [model, *model.layers], lambda: model.build((4,))


def _first_call(shared, bad, options):
    model = Sequential([Dense(4, weight=shared), Dense(4, bias=bad, **options)], seed=0,
                       device="cpu")
    return [model, *model.layers], lambda: model(np.ones((2, 4)))


def _model_rshift_model(shared, bad, options):
    head = Sequential([Input(4), Dense(4)], seed=0, device="cpu")
    tail = Sequential([Dense(4, weight=shared, name="t1"),
                       Dense(4, bias=bad, name="t2", **options)], seed=0, device="cpu")
    return [head, tail, *head.layers, *tail.layers], lambda: head >> tail


def _layer_rshift_layer(shared, bad, options):
    head, tail = Dense(4, input_shape=(4,), weight=shared), Dense(4, bias=bad, **options)
    return [head, tail], lambda: head >> tail


def _chain_rshift_layers(shared, bad, options):
    chain = Input(4) >> Dense(4)
    middle = Dense(4, weight=shared, name="middle")
    last = Dense(4, bias=bad, name="last", **options)
    return [chain, *chain.layers, middle, last], lambda: chain >> Sequential([middle, last])


@pytest.mark.parametrize("scenario", [
    _add, _constructor, _shared_twice, _build, _first_call, _model_rshift_model,
    _layer_rshift_layer, _chain_rshift_layers], ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failed_build_leaves_parameters_layers_and_models_as_they_were(scenario, failure):
    bad, options, error, match = FAILURES[failure]
    shared = Parameter("ones")
    named = Parameter("ones", name="tied", dtype="float64", device="cpu")
    watched, call = scenario(shared, bad, options)
    watched = [*watched, shared, named]
    before = [_state(obj) for obj in watched]
    with pytest.raises(error, match=match):
        call()
    assert [_state(obj) for obj in watched] == before
    assert not shared.built and shared.name is None and shared.dtype is None
    assert shared.device is None


def test_a_progress_callback_that_raises_unbuilds_the_model():
    shared = Parameter("ones")
    model = Sequential([Dense(4, weight=shared), Dense(4)], seed=0, device="cpu")
    before = [_state(obj) for obj in (model, *model.layers, shared)]
    calls = []

    def progress(done, total, path):
        calls.append(path)
        if path == "dense_1/weight":
            raise KeyboardInterrupt  # the user gave up
    with pytest.raises(KeyboardInterrupt):
        model.build((4,), progress=progress)
    assert calls == ["dense/weight", "dense/bias", "dense_1/weight"]
    assert [_state(obj) for obj in (model, *model.layers, shared)] == before
    model.build((4,))  # and it builds afterwards, from scratch
    assert shared.name == "dense/weight" and model.built


def test_make_parameters_unbuilds_the_shared_parameters_it_built_when_a_later_one_fails():
    shared = Parameter("ones", name="tied")
    specs = [ParameterSpec("a/w", (2, 2), shared), ParameterSpec("a/b", (2,), _raises)]
    with pytest.raises(RuntimeError, match="boom"):
        make_parameters(specs, seed=0, device="cpu")
    assert (shared.name, shared.data, shared.dtype, shared.device) == ("tied", None, None, None)


# -- set_weights and assign ---------------------------------------------------------------
def _ragged(shape):
    return [[1.0] * shape[0], [1.0]]


@pytest.mark.parametrize("last,error,match", [
    (lambda shape: [[1.0, 2.0], [3.0]], ValueError, "dense_1/bias: the nested list is ragged"),
    (lambda shape: np.ones(shape, bool), TypeError, "dense_1/bias holds bool values"),
    (lambda shape: np.full(shape, "a"), TypeError, r"dense_1/bias holds str\w* values"),
    (lambda shape: [["a"] * shape[0]], TypeError, r"dense_1/bias holds str\w* values"),
    (lambda shape: np.ones((shape[0] + 1,)), ValueError, r"dense_1/bias: got shape \(5,\)"),
    (lambda shape: np.full(shape, 1e6), ValueError,
     "dense_1/bias: the value 1000000.0 .* does not fit in float16"),
    (lambda shape: np.array([1.0, 2.0, 70000, 4.0], np.float32), ValueError,
     "dense_1/bias: the value 70000.0 .element 2. does not fit in float16; it would become inf"),
])
def test_set_weights_refuses_a_bad_last_array_before_writing_any(last, error, match):
    model = Sequential([Input(4), Dense(4), Dense(4, dtype="float16")], seed=0, device="cpu")
    before = _bits(model)
    weights = [np.full(p.shape, 7.0) for p in model.parameters.values()]
    weights[-1] = last(model.parameters["dense_1/bias"].shape)
    with pytest.raises(error, match=match):
        model.set_weights(weights)
    assert _bits(model) == before
    weights[-1] = [np.inf, np.nan, 1.0, 2.0]  # what the caller holds is kept as it is
    model.set_weights(weights)
    np.testing.assert_array_equal(model.parameters["dense_1/bias"].numpy(),
                                  np.array([np.inf, np.nan, 1.0, 2.0], np.float16))


@pytest.mark.parametrize("values,error,match", [
    ([[1.0, 2.0, 3.0], [4.0]], ValueError, "values: the nested list is ragged"),
    (np.ones((2, 3), bool), TypeError, "values holds bool values"),
    (np.full((2, 3), 1e39), ValueError, "values: the value 1e\\+39 .* float32"),
])
def test_assign_refuses_bad_values_without_writing(values, error, match):
    p = Parameter(np.arange(6.0).reshape(2, 3), dtype="float32", device="cpu")
    before = p.numpy().tobytes()
    with pytest.raises(error, match=match):
        p.assign(values)
    assert p.numpy().tobytes() == before


# -- construction errors ------------------------------------------------------------------
@pytest.mark.parametrize("make,check", [
    (lambda: Conv2D(4, np.int64(3)), lambda layer: layer.kernel_size == (3, 3)),
    (lambda: Conv2D(np.int32(4), np.array([2, 3]), strides=(np.int64(1), 2)),
     lambda layer: layer.kernel_size == (2, 3) and layer.filters == 4),
    (lambda: Conv1D(2, 3, strides=np.int16(2), dilation_rate=np.uint8(1)),
     lambda layer: layer.strides == (2,) and type(layer.strides[0]) is int),
    (lambda: Dense(np.int64(4)), lambda layer: layer.units == 4 and type(layer.units) is int),
    (lambda: Embedding(np.int64(10), np.int32(3)), lambda layer: layer.input_dim == 10),
    (lambda: LayerNormalization(axis=np.int64(-1)), lambda layer: layer.axis == -1),
])
def test_numpy_integers_are_integers(make, check):
    layer = make()
    assert check(layer)
    json.dumps(layer.get_config())  # plain ints in the configuration


@pytest.mark.parametrize("make,error,match", [
    (lambda: Conv2D(4, 3.0), TypeError, "kernel_size=3.0 must be an integer"),
    (lambda: Conv2D(4, True), TypeError, "kernel_size=True must be an integer"),
    (lambda: Conv2D(4, "3"), TypeError, "kernel_size='3' must be an integer"),
    (lambda: Conv2D(4, None), TypeError, "kernel_size=None must be an integer"),
    (lambda: Conv2D(4, (3,)), ValueError, r"kernel_size=\(3,\) must be an integer or 2"),
    (lambda: Conv2D(4, (3, 2.0)), TypeError, "kernel_size must be an integer, got float"),
    (lambda: Conv2D(4, 3, strides=np.float64(1)), TypeError, "strides=.* must be an integer"),
    (lambda: Conv2D(4, 3, dilation_rate=0), ValueError, "dilation_rate=0 must be >= 1"),
    (lambda: Conv2D(2.5, 3), TypeError, "filters must be an integer"),
    (lambda: Dense(4.0), TypeError, "units must be an integer"),
    (lambda: LayerNormalization(axis=-1.0), TypeError, "axis must be an integer"),
    (lambda: Dense(2, weight=np.ones((3, 2), bool)), TypeError, "weight= holds bool values"),
    (lambda: Dense(2, kernel_initializer=np.full((3, 2), "a")), TypeError,
     r"kernel_initializer= holds str\w* values"),
    (lambda: Dense(2, weight=[[1.0, 2.0], [3.0]]), ValueError,
     "weight=: the nested list is ragged"),
    (lambda: Dense(2, bias_initializer=[[1.0], [2.0, 3.0]]), ValueError,
     "bias_initializer=: the nested list is ragged"),
    (lambda: Dense(2, initial_weights={"bias": [[1.0], [2.0, 3.0]]}), ValueError,
     r"initial_weights\['bias'\]: the nested list is ragged"),
    (lambda: Dense(4, kernel_initializer="he_normall"), ValueError,
     "kernel_initializer=: unknown initializer 'he_normall'; did you mean 'he_normal'"),
    (lambda: Dense(4, bias_initializer="zeroes"), ValueError,
     "bias_initializer=: unknown initializer 'zeroes'; did you mean 'zeros'"),
    (lambda: Dense(4, weight="he_normall"), ValueError, "weight=: unknown initializer"),
    (lambda: Parameter(np.ones(3, bool), name="tied"), TypeError, "tied holds bool values"),
    (lambda: Parameter([[1.0], [2.0, 3.0]]), ValueError, "Parameter value: the nested list is "
     "ragged"),
    (lambda: Parameter([1e6], dtype="float16"), ValueError,
     "Parameter value: the value 1000000.0 .* float16"),
])
def test_construction_errors_are_typed_and_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("value,error,match", [
    ([True, False], TypeError, "block/w holds bool values"),
    (np.array(["a", "b"]), TypeError, r"block/w holds str\w* values"),
    ([[1.0], [2.0, 3.0]], ValueError, "block/w: the nested list is ragged"),
])
def test_parameter_specs_name_their_path(value, error, match):
    shared = Parameter("ones")
    specs = [ParameterSpec("block/shared", (2,), shared), ParameterSpec("block/w", (2,), value)]
    with pytest.raises(error, match=match):
        make_parameters(specs, seed=0, device="cpu")
    assert not shared.built


def test_a_bad_initial_weights_entry_changes_no_declared_parameter():
    layer = Dense(2)
    specs = dict(layer._specs)
    with pytest.raises(ValueError, match=r"initial_weights\['bias'\]: the nested list is ragged"):
        layer.apply_initial_weights({"weight": np.ones((3, 2)), "bias": [[1.0], [2.0, 3.0]]})
    assert layer._specs == specs


def test_the_typo_suggestions_of_a_layer_keyword_are_real_spellings():
    with pytest.raises(ValueError) as caught:
        Dense(4, kernel_initializer="he_normall")
    suggested = re.findall(r"'([^']+)'", str(caught.value).split("did you mean ")[1]
                           .split(". Known")[0])
    assert suggested[0] == "he_normal" and "henormal" not in suggested
    for name in suggested:
        gi.initializers.get(name)
