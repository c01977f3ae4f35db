"""Findings of a probe with hostile inputs, one class per test: every bad input
gets a typed error naming the argument and changes nothing; no initializer returns NaN or inf
for finite parameters; zero-size shapes are valid."""

import copy
import os
from contextlib import contextmanager

import numpy as np
import pytest

import gpuinit as gi
from gpuinit import initializers as I
from gpuinit.initializers import registry
from gpuinit.layers import Dense, Input, Sequential
from gpuinit.seeding import next_seed


@contextmanager
def seed_sequence_unchanged():
    """Assert that the block draws no seed from the global sequence."""
    gi.manual_seed(1234)
    first = next_seed()
    gi.manual_seed(1234)
    yield
    assert next_seed() == first, "a refused call drew a seed from the global sequence"


def _all_finite(array) -> bool:
    return bool(np.isfinite(np.asarray(array, dtype=np.complex128)).all())


# -- 1. STFT windows ------------------------------------------------------------------------
@pytest.mark.parametrize("window, error", [
    ([0, 0, 0, 0], ValueError),  # normalizer 0: NaN kernel
    ([0.0, 0.0], ValueError),
    ([np.nan, 1, 1, 1], ValueError),
    ([np.inf, 1, 1, 1], ValueError),
    ([1, 1, -np.inf, 1], ValueError),
    (5, ValueError),  # a scalar is no window
    ([[1.0, 2.0]], ValueError),
    ([], ValueError),
    ([[1, 2], [3]], ValueError),
    (["a", "b"], TypeError),
    ([True, False], TypeError),
    ([1 + 1j, 1], TypeError),
])
def test_stft_refuses_bad_windows_when_made(window, error):
    given = copy.deepcopy(window)
    with pytest.raises(error, match="window"):
        I.STFT(window=window)
    assert repr(window) == repr(given)  # the caller's window is not touched


@pytest.mark.parametrize("window, scaling", [
    ([1e-200] * 4, "density"), ([1e-200] * 4, "spectrum"),
    ([1e308, 1e308, 1, 1], "density"), ([1e308] * 4, "spectrum"),
    ([0, 0, 0, 5e-324], "density"), ([1e-300, 2e-300, 3e-300, 4e-300], "spectrum"),
])
def test_stft_windows_of_huge_or_tiny_values_give_finite_kernels(window, scaling):
    init = I.STFT(window=window, scaling=scaling)
    kernel = init((4, 2, 3), device="cpu")
    assert _all_finite(kernel)
    unit = np.asarray(window, dtype=np.float64) / max(abs(float(v)) for v in window)
    expected = I.STFT(window=unit.tolist(), scaling=scaling)((4, 2, 3), device="cpu")
    np.testing.assert_allclose(kernel, expected, rtol=1e-6, atol=1e-7)
    import json

    json.dumps(I.serialize(init))  # a checked window is JSON-dumpable


@pytest.mark.parametrize("make, shape, dtype", [
    (lambda: I.STFT(window="hann"), (2, 1, 3), "float32"),  # symmetric hann(2) = [0, 0]
    (lambda: I.STFT(window=[1e39] * 4, scaling=None), (4, 1, 3), "float32"),
    (lambda: I.STFT(window=[1e5] * 4, scaling=None), (4, 1, 3), "float16"),
])
def test_stft_windows_that_cannot_give_finite_kernels_are_refused_at_the_call(make, shape,
                                                                               dtype):
    init = make()
    config = init.get_config()
    with pytest.raises(ValueError, match="window"):
        init(shape, dtype, device="cpu")
    assert init.get_config() == config


@pytest.mark.parametrize("window", ["hann", None, [1.0, 2.0, 3.0, 4.0]])
@pytest.mark.parametrize("shape", [(0, 1, 3), (4, 0, 3), (4, 1, 0), (0, 0, 0), (4, 1, 1)])
def test_stft_of_a_zero_size_shape_is_the_empty_array(window, shape):
    if 0 not in shape:  # (4, 1, 1): one fft bin stays refused, naming the shape
        with pytest.raises(ValueError, match="shape"):
            I.STFT(window=window)(shape, device="cpu")
        return
    if isinstance(window, list) and shape[0] != 4:  # a given window must fit frame_length
        with pytest.raises(ValueError, match="window"):
            I.STFT(window=window)(shape, device="cpu")
        return
    out = I.STFT(window=window)(shape, device="cpu")
    assert out.shape == shape and out.dtype == np.float32


# -- 2. complex laws are range-checked before sampling ----------------------------------------
@pytest.mark.parametrize("make, dtype, named", [
    (lambda: I.RandomNormal(mean=1e39), "complex64", "mean="),
    (lambda: I.RandomNormal(mean=3.4e38, stddev=1e37), "complex64", "stddev="),
    (lambda: I.RandomNormal(stddev=1e38), "complex64", "stddev="),
    (lambda: I.RandomNormal(mean=1.7e308, stddev=1e307), "complex128", "mean="),
    (lambda: I.TruncatedNormal(mean=1e39), "complex64", "mean="),
    (lambda: I.TruncatedNormal(mean=3e38, stddev=3e37), "complex64", "stddev="),
    (lambda: I.TruncatedNormal(mean=1.7e308, stddev=1e307), "complex128", "mean="),
    (lambda: I.RandomUniform(-1e39, 1e39), "complex64", "minval="),
    (lambda: I.VarianceScaling(scale=1e80, distribution="uniform"), "complex64", "scale="),
    (lambda: I.VarianceScaling(scale=1e300), "complex64", "scale="),
    (lambda: I.VarianceScaling(scale=1e300, distribution="untruncated_normal"), "complex64",
     "scale="),
    (lambda: I.VarianceScaling(scale=1e300, mode="fan_in", distribution="uniform"), "complex64",
     "scale="),
    # the real paths name the initializer's argument too
    (lambda: I.VarianceScaling(scale=1e10, distribution="uniform"), "float16", "scale="),
    (lambda: I.VarianceScaling(scale=1e10), "float16", "scale="),
    (lambda: I.RandomNormal(mean=1e39), "float32", "mean="),
])
def test_laws_whose_values_do_not_fit_the_dtype_are_refused_before_sampling(make, dtype, named):
    init = make()
    config = init.get_config()
    with seed_sequence_unchanged(), pytest.raises(ValueError, match=f"{named}.*{dtype}"):
        init((2, 2), dtype, device="cpu")
    assert init.get_config() == config


@pytest.mark.parametrize("make, dtype", [
    (lambda: I.RandomNormal(mean=3e38, stddev=0.0), "complex64"),
    (lambda: I.TruncatedNormal(mean=-3e38, stddev=1e36), "complex64"),
    (lambda: I.VarianceScaling(scale=1e76, distribution="uniform"), "complex64"),
    (lambda: I.VarianceScaling(scale=1e300), "complex128"),
    (lambda: I.RandomUniform(-3e38, 0.0), "complex64"),
])
def test_laws_at_the_edge_of_the_dtype_stay_finite(make, dtype):
    assert _all_finite(make()((3, 3), dtype, device="cpu", seed=0))


# -- 3. Dask's TSQR Orthogonal --------------------------------------------------------------
@pytest.mark.parametrize("gain, dtype, named", [
    (1e39, "float32", "gain="),
    (1e5, "float16", "gain="),
    (1e39, "bfloat16", "gain="),
    (1.0, "complex64", r"chunks=-1"),
    (1.0, "complex128", r"chunks=-1"),
])
def test_dask_orthogonal_refuses_what_one_device_refuses_when_the_graph_is_built(gain, dtype,
                                                                                named):
    gd = pytest.importorskip("gpuinit.dask")
    init = I.Orthogonal(gain=gain)
    with seed_sequence_unchanged(), pytest.raises(ValueError, match=named):
        gd.array(init, (8, 3), chunks=(2, 3), dtype=dtype)
    assert init.get_config() == {"gain": gain, "seed": None}


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_dask_complex_orthogonal_in_one_chunk_is_unitary(dtype):
    gd = pytest.importorskip("gpuinit.dask")
    q = gd.array(I.Orthogonal(seed=0), (8, 3), chunks=-1, dtype=dtype).compute()
    assert q.dtype == np.dtype(dtype)
    np.testing.assert_allclose(q.conj().T @ q, np.eye(3), atol=1e-5)


# -- 4. NeuPy-style sample() results are cast with a finite check --------------------------
class _Sample(I.Initializer):
    def __init__(self, values):
        self.values = values

    def sample(self, shape):
        return self.values


@pytest.mark.parametrize("values, dtype", [
    (np.full((2, 2), 1e39), "float32"),
    (np.full((2, 2), 1e5), "float16"),
    (np.full((2, 2), 1e39), "bfloat16"),
    ([[1.0, 1e300], [0.0, 0.0]], "float32"),
    (np.array([[1.0, 2.0], [3.0, 1e39]]), "complex64"),
])
def test_sample_results_that_overflow_the_dtype_are_refused(values, dtype):
    init = _Sample(values)
    before = copy.deepcopy(values)
    with pytest.raises(ValueError, match="initializer's result.*does not fit"):
        init((2, 2), dtype, device="cpu")
    np.testing.assert_array_equal(np.asarray(values), np.asarray(before))


def test_sample_results_that_fit_are_cast_and_nan_passes_through():
    out = _Sample(np.array([[65504.0, np.nan], [-1.0, 0.5]]))((2, 2), "float16", device="cpu")
    assert out.dtype == np.float16 and out[0, 0] == 65504 and np.isnan(out[0, 1])


# -- 5. Dask: a user callable's result is checked and cast -----------------------------------
def _wrong_shape(shape, dtype):
    return np.zeros((1,))


def _transposed(shape, dtype):
    return np.zeros(tuple(reversed(shape)))


def _too_large(shape, dtype):
    return np.full(shape, 1e39)


class _KerasStyle(I.Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros((2,))


@pytest.mark.parametrize("init, match", [
    (_wrong_shape, r"initializer _wrong_shape has shape \(1,\), expected \(4, 3\)"),
    (_transposed, r"initializer _transposed has shape \(3, 4\), expected \(4, 3\)"),
    (_too_large, r"initializer _too_large.*does not fit in float32"),
    (_KerasStyle(), r"initializer _KerasStyle has shape \(2,\)"),
])
def test_dask_user_callable_results_are_checked_when_computed(init, match):
    gd = pytest.importorskip("gpuinit.dask")
    lazy = gd.array(init, (4, 3), chunks=-1)
    assert lazy.shape == (4, 3)
    with pytest.raises(ValueError, match=match):
        lazy.compute()


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int32"])
def test_dask_user_callable_results_get_the_declared_dtype(dtype):
    gd = pytest.importorskip("gpuinit.dask")
    lazy = gd.array(lambda shape, d: np.arange(12.0).reshape(shape), (4, 3), chunks=-1,
                    dtype=dtype)
    out = lazy.compute()
    assert out.dtype == np.dtype(dtype) == lazy.dtype
    np.testing.assert_array_equal(out, np.arange(12).reshape(4, 3))


# -- 6. zero-size shapes -------------------------------------------------------------------
@pytest.mark.parametrize("make, shape", [
    (lambda: I.DeltaOrthogonal(seed=0), (0, 3, 3)),
    (lambda: I.DeltaOrthogonal(seed=0), (3, 0, 2, 3)),
    (lambda: I.DeltaOrthogonal(seed=0), (2, 2, 0, 3, 3)),
    (lambda: I.DeltaOrthogonal(seed=0), (0, 0, 3)),
    (lambda: I.Dirac(), (0, 3, 3)),
    (lambda: I.Dirac(), (3, 0, 3, 3)),
    (lambda: I.Dirac(groups=3), (0, 2, 3)),
    (lambda: I.Orthogonal(seed=0), (0, 3)),
    (lambda: I.Identity(), (0, 4)),
    (lambda: I.Sparse(seed=0), (0, 4)),
])
@pytest.mark.parametrize("dtype", ["float32", "complex64"])
def test_zero_size_shapes_give_the_empty_array(make, shape, dtype):
    if dtype == "complex64" and not isinstance(make(), (I.DeltaOrthogonal, I.Orthogonal)):
        dtype = "float64"
    out = make()(shape, dtype, device="cpu")
    assert out.shape == shape and out.size == 0 and out.dtype == np.dtype(dtype)


@pytest.mark.parametrize("make, shape", [
    (lambda: I.DeltaOrthogonal(seed=0), (0, 5, 3)),  # in > out
    (lambda: I.DeltaOrthogonal(seed=0), (0, 3)),  # too few dims
    (lambda: I.Dirac(groups=2), (0, 3, 3)),  # 3 outputs in 2 groups
])
def test_zero_size_shapes_that_are_invalid_otherwise_are_refused_naming_the_shape(make, shape):
    with pytest.raises(ValueError, match=r"shape|groups"):
        make()(shape, device="cpu")


def test_zero_size_delta_orthogonal_still_checks_its_scale():
    with pytest.raises(ValueError, match="scale=.*float16"):
        I.DeltaOrthogonal(scale=1e5, seed=0)((0, 3, 3), "float16", device="cpu")


# -- 7. malformed configs, ids and registrations ---------------------------------------------
def _register_builtin():
    return I.register("zeros")(I.Ones)


def _register_alias():
    return I.register("xavier_uniform")(lambda shape, dtype: np.zeros(shape))


def _register_class_name():
    return I.register("GlorotUniform")(I.Ones)


def _numpy_config(value):
    return {"class_name": "Constant", "config": {"value": {
        "class_name": "__numpy__", "config": {"value": value, "dtype": "float32"}}}}


@pytest.mark.parametrize("call, error, named", [
    (lambda: I.get({"class_name": 5}), TypeError, "class_name"),
    (lambda: I.get({"class_name": None}), TypeError, "class_name"),
    (lambda: I.get({"class_name": ["x"]}), TypeError, "class_name"),
    (lambda: I.get({"class_name": "zeros", "registered_name": 3}), TypeError,
     "registered_name"),
    (lambda: I.get({"class_name": "glorot_uniform", "config": [1]}), TypeError, "config"),
    (lambda: I.get({"class_name": "glorot_uniform", "config": "abc"}), TypeError, "config"),
    (lambda: I.get({"class_name": "glorot_uniform", "config": {1: 2}}), TypeError, "config"),
    (lambda: I.get({"class_name": "RandomUniform", "config": {"seed": {"config": 5}}}),
     TypeError, "seed"),
    (lambda: I.get({"class_name": "RandomUniform", "config": {"bogus": 1}}), TypeError,
     "bogus"),
    (lambda: I.get({"class_name": "FixedValue", "config": {}}), TypeError, "value"),
    (lambda: I.get("x", custom_objects=[1]), TypeError, "custom_objects"),
    (lambda: I.get("x", custom_objects={"x": 5}), TypeError, "custom_objects"),
    (lambda: I.get("x", custom_objects={"x": int}), TypeError, "custom_objects"),
    (lambda: I.get("FixedValue"), TypeError, "FixedValue needs a value"),
    (lambda: I.get(I.FixedValue), TypeError, "FixedValue needs a value"),
    (lambda: I.get(int), TypeError, "not an Initializer"),
    (lambda: I.get(object), TypeError, "not an Initializer"),
    (lambda: I.register(5), TypeError, "name"),
    (lambda: I.register(["x"]), TypeError, "name"),
    (lambda: I.register("mine")(5), TypeError, "mine"),
    (lambda: I.register("mine")(int), TypeError, "mine"),
    (_register_builtin, ValueError, "name='zeros'.*override=True"),
    (_register_alias, ValueError, "name='xavier_uniform'"),
    (_register_class_name, ValueError, "name='GlorotUniform'"),
    (lambda: I.get(_numpy_config([[1, 2], [3]])), ValueError, "value"),
    (lambda: I.get(_numpy_config("abc")), TypeError, "value"),
    (lambda: I.get(_numpy_config(None)), TypeError, "value"),
    (lambda: I.get(_numpy_config([["a", "b"]])), TypeError, "value"),
])
def test_malformed_identifiers_raise_typed_errors_naming_the_key(call, error, named):
    custom = dict(registry._CUSTOM)
    with pytest.raises(error, match=named):
        call()
    assert registry._CUSTOM == custom
    assert type(I.get("zeros")) is I.Zeros and type(I.get("xavier_uniform")) is I.GlorotUniform


def test_configs_are_not_modified_by_a_refusal():
    config = {"class_name": "RandomUniform", "config": {"seed": {"config": 5}}}
    given = copy.deepcopy(config)
    with pytest.raises(TypeError):
        I.get(config)
    assert config == given


def test_callables_and_overrides_are_still_accepted():
    def plain(shape, dtype=None):
        return np.zeros(shape)

    assert I.get(plain) is plain
    assert I.get("plain", custom_objects={"plain": plain}) is plain
    try:
        I.register("glorot_uniform", override=True)(I.Ones)
        assert type(I.get("glorot_uniform")) is I.Ones
        I.register("my_probe_init")(I.Ones)
        I.register("my_probe_init")(I.Zeros)  # a custom name may be registered again
        assert type(I.get("my_probe_init")) is I.Zeros
    finally:
        registry._CUSTOM.pop("glorot_uniform", None)
        registry._CUSTOM.pop("my_probe_init", None)
    assert type(I.get("glorot_uniform")) is I.GlorotUniform


# -- 8. layers and models ----------------------------------------------------------------------
@pytest.mark.parametrize("call, error, named", [
    (lambda: Sequential(5), TypeError, "layers"),
    (lambda: Sequential("dense"), TypeError, "layers"),
    (lambda: Sequential(Dense(3)), TypeError, "layers"),
    (lambda: Sequential(name=5), TypeError, "name"),
    (lambda: Sequential(name=""), ValueError, "name"),
    (lambda: Dense(3, name=5), TypeError, "name"),
    (lambda: Input(3, name=5), TypeError, "name"),
    (lambda: Dense(3, dtype="bogus"), ValueError, "dtype"),
    (lambda: Dense(3, dtype="int32"), ValueError, "dtype"),
    (lambda: Dense(3, dtype=5), TypeError, "dtype"),
    (lambda: Dense(3, weight=float("nan")), TypeError, "weight="),
    (lambda: Dense(3, weight=5), TypeError, "weight="),
    (lambda: Dense(3, weight=np.float32(2.0)), TypeError, "weight="),
    (lambda: Dense(3, weight=np.array(1.0)), TypeError, "weight="),
    (lambda: Dense(3, kernel_initializer=0.5), TypeError, "kernel_initializer="),
    (lambda: Dense(3, bias=0), TypeError, "bias="),
    (lambda: Dense(3, initial_weights=5), TypeError, "initial_weights"),
    (lambda: Sequential.from_config({}), ValueError, "layers"),
    (lambda: Sequential.from_config([]), TypeError, "config"),
    (lambda: Sequential.from_config({"layers": 5}), TypeError, "layers"),
    (lambda: Sequential.from_config({"layers": [5]}), TypeError, r"layers'\]\[0\]"),
    (lambda: Sequential.from_config({"layers": [{"class_name": "Dense", "config": 5}]}),
     TypeError, r"layers'\]\[0\]\['config'\]"),
    (lambda: Sequential.from_config({"layers": [{"class_name": "Nope", "config": {}}]}),
     ValueError, "Nope"),
])
def test_bad_layer_and_model_arguments_are_refused_at_construction(call, error, named):
    with pytest.raises(error, match=named):
        call()


def test_from_config_fills_in_missing_keys():
    model = Sequential.from_config({"layers": []})
    assert model.layers == [] and model.name == "sequential"
    built = Sequential.from_config({"layers": [{"class_name": "Dense", "config": {"units": 2}}],
                                    "input_shape": [3]})
    assert built.count_params() == 8


def test_layer_dtypes_are_normalized_names():
    assert Dense(3, dtype=np.float16).get_config()["dtype"] == "float16"
    assert Input(3, dtype="int32").dtype == "int32"  # input data may be integers


@pytest.fixture
def model():
    return Sequential([Input(2), Dense(3)], seed=0, device="cpu")


@pytest.mark.parametrize("weights", [None, 5, "ab", {"a": np.zeros((2, 3)), "b": np.zeros(3)},
                                     np.zeros((2, 3))])
def test_set_weights_takes_a_list(model, weights):
    before = model.get_weights()
    with pytest.raises(TypeError, match="set_weights takes a list of arrays"):
        model.set_weights(weights)
    with pytest.raises(TypeError, match="set_weights takes a list of arrays"):
        model.layers[0].set_weights(weights)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_tensors_that_need_grad_are_read_detached(model, dtype):
    torch = pytest.importorskip("torch")
    kernel = torch.full((2, 3), 0.5, dtype=getattr(torch, dtype), requires_grad=True)
    bias = torch.ones(3, dtype=getattr(torch, dtype), requires_grad=True)
    parameter = gi.Parameter(kernel)
    assert parameter.shape == (2, 3) and str(parameter.dtype) == dtype
    np.testing.assert_array_equal(parameter.numpy().astype(np.float32), np.full((2, 3), 0.5))
    model.set_weights([kernel, bias])
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 3), 0.5))
    model.layers[0].set_weights([kernel * 2, bias])
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 3), 1.0))
    layer = Dense(3, weight=kernel)
    built = Sequential([Input(2), layer], seed=0, device="cpu")
    np.testing.assert_array_equal(built.get_weights()[0], np.full((2, 3), 0.5))
    assert kernel.requires_grad and kernel.grad is None


@pytest.mark.parametrize("suffix", [".npz", ".safetensors", ".weights.h5"])
def test_save_weights_errors_name_the_given_path(model, tmp_path, suffix):
    missing = tmp_path / "missing" / f"w{suffix}"
    with pytest.raises(FileNotFoundError) as info:
        model.save_weights(missing)
    assert info.value.filename == os.fspath(missing) and "partial" not in str(info.value)
    folder = tmp_path / f"x{suffix}"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        model.save_weights(folder)
    assert info.value.filename == os.fspath(folder) and "partial" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("suffix", [".npz", ".safetensors", ".weights.h5"])
def test_loading_a_directory_is_a_value_error_for_every_format(model, tmp_path, suffix):
    folder = tmp_path / f"x{suffix}"
    folder.mkdir()
    before = model.get_weights()
    with pytest.raises(ValueError, match=f"x{suffix}.*is a directory"):
        model.load_weights(folder)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


# -- 9. Dask reports the user's shape -------------------------------------------------------
@pytest.mark.parametrize("init, shape, chunks", [
    ("identity", (4, 4, 4), 2),
    ("identity", (6,), 2),
    ("dirac", (4, 4), 2),
    ("stft", (4, 4), 2),
    (I.STFT(window=None), (4, 1, 1), 2),
    ({"class_name": "FixedValue", "config": {"value": [[1.0, 2.0]]}}, (4, 4), 2),
])
def test_dask_errors_report_the_user_s_shape(init, shape, chunks):
    gd = pytest.importorskip("gpuinit.dask")
    with seed_sequence_unchanged(), pytest.raises(ValueError) as info:
        gd.array(init, shape, chunks=chunks)
    assert f"shape={shape}" in str(info.value) or str(shape) in str(info.value)
    assert "(0," not in str(info.value)


def test_dask_random_initializers_refused_by_the_probe_draw_no_seed():
    gd = pytest.importorskip("gpuinit.dask")
    init = I.VarianceScaling(batch_axis=())  # JAX's rules: rank 1 is refused
    with seed_sequence_unchanged(), pytest.raises(ValueError):
        gd.array(init, (8,), chunks=2)


@pytest.mark.parametrize("make, dtype", [
    (lambda: gi.initializers.Orthogonal(gain=1e6), "float16"),
    (lambda: gi.initializers.Orthogonal(), "int8"),
    (lambda: gi.initializers.DeltaOrthogonal(scale=1e6), "float16"),
    (lambda: gi.initializers.Sparse(std=1e5), "float16"),
    (lambda: gi.initializers.Sparse(), "int32"),
])
def test_refused_whole_matrix_laws_draw_no_seed(make, dtype):
    shape = (3, 3, 4, 4) if "Delta" in type(make()).__name__ else (8, 4)
    gi.manual_seed(123)
    expected = gi.random.uniform(5, device="cpu")  # the next seed of the sequence
    gi.manual_seed(123)
    with pytest.raises((ValueError, TypeError)):
        make()(shape, dtype=dtype, device="cpu")
    np.testing.assert_array_equal(gi.random.uniform(5, device="cpu"), expected)
