"""Arguments, dtypes, out= buffers and devices: typed errors that change nothing."""

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuinit as gi

from .helpers import DTYPES, as_float64

PRIMITIVES = [gi.random.uniform, gi.random.normal, gi.random.truncated_normal, gi.random.laplace]


@pytest.mark.parametrize("dtype", DTYPES)
def test_output_dtype_shape_and_device(dtype):
    x = gi.random.normal((2, 3, 4), seed=0, dtype=dtype, device="cpu")
    expected = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    assert isinstance(x, np.ndarray) and x.shape == (2, 3, 4) and x.dtype == expected


@pytest.mark.parametrize("shape", [0, (0,), (3, 0, 2), ()])
def test_zero_size_and_scalar_shapes(shape):
    x = gi.random.uniform(shape, seed=0, device="cpu")
    assert x.shape == ((shape,) if isinstance(shape, int) else shape)
    assert np.isfinite(x).all()


def test_out_is_filled_in_place_and_returned():
    out = np.full((4, 5), np.nan, dtype=np.float32)
    result = gi.random.uniform((4, 5), seed=3, out=out)
    assert result is out
    np.testing.assert_array_equal(out, gi.random.uniform((4, 5), seed=3, device="cpu"))


@pytest.mark.parametrize(
    "out,kwargs",
    [
        (np.zeros((4, 4), np.float32), {}),  # wrong shape
        (np.zeros((4, 5), np.float64), {"dtype": "float32"}),  # wrong dtype
        (np.zeros((5, 4), np.float32).T, {}),  # not contiguous
        (np.zeros((4, 5), np.int32), {}),  # integer buffer
    ],
)
def test_bad_out_is_refused_and_untouched(out, kwargs):
    before = np.array(out, copy=True)
    with pytest.raises(ValueError, match="out"):
        gi.random.uniform((4, 5), seed=0, out=out, **kwargs)
    np.testing.assert_array_equal(np.asarray(out), before)


def test_an_out_that_is_not_an_array_is_a_type_error_and_untouched():
    out = [[0.0] * 5] * 4
    with pytest.raises(TypeError, match="out must be a numpy or cupy array, got list"):
        gi.random.uniform((4, 5), seed=0, out=out)
    assert out == [[0.0] * 5] * 4


def test_a_seed_may_be_a_0_d_integer_array_as_a_stream_may():
    expected = gi.random.normal(8, seed=5, stream=2, device="cpu")
    for seed in (np.array(5), np.int64(5), np.array(5, np.uint8)):
        got = gi.random.normal(8, seed=seed, stream=np.array(2), device="cpu")
        np.testing.assert_array_equal(got, expected)
    for bad, error in ((np.array(5.0), TypeError), (np.array(True), TypeError),
                       (np.array([5]), TypeError), (np.array(-1), ValueError)):
        with pytest.raises(error, match="seed"):
            gi.random.normal(8, seed=bad, device="cpu")


def test_a_shape_numpy_cannot_allocate_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"shape=\(0, 4611686018427387904\) cannot be allocated"):
        gi.random.uniform((0, 2**62), device="cpu")


def test_read_only_out_is_refused():
    out = np.zeros(4, np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        gi.random.normal(4, out=out)


@pytest.mark.parametrize("call,match", [
    (lambda: gi.random.uniform((2, -1)), "shape"),
    (lambda: gi.random.uniform(3, 2.0, 1.0), "low"),
    (lambda: gi.random.uniform(3, 0.0, math.inf), "high"),
    (lambda: gi.random.uniform(3, 0.0, 1e6, dtype="float16"), "float16"),
    (lambda: gi.random.uniform(3, -3e38, 3e38), "float32"),
    (lambda: gi.random.normal(3, std=-1.0), "std"),
    (lambda: gi.random.normal(3, mean=math.nan), "mean"),
    (lambda: gi.random.normal(3, mean=60000.0, std=1000.0, dtype="float16"), "float16"),
    (lambda: gi.random.truncated_normal(3, lower=1.0, upper=1.0), "lower"),
    (lambda: gi.random.truncated_normal(3, lower=40.0, upper=50.0), "lower"),
    (lambda: gi.random.truncated_normal(3, std=-0.5), "std"),
    (lambda: gi.random.uniform(3, dtype="int32"), "dtype"),
    (lambda: gi.random.uniform(3, dtype="bool"), "dtype"),
    (lambda: gi.random.uniform(3, seed=-1), "seed"),
    (lambda: gi.random.uniform(3, seed=2**64), "seed"),
    (lambda: gi.random.uniform(3, stream=-2), "stream"),
    (lambda: gi.random.uniform(3, offset=-1), "offset"),
    (lambda: gi.random.uniform((2, 2), full_shape=(2, 3), start=(1, 0)), "start"),
    (lambda: gi.random.uniform((2, 2), full_shape=(2, 2, 2)), "full_shape"),
    (lambda: gi.random.uniform((2, 2), start=(0, 0)), "full_shape"),
    (lambda: gi.random.uniform((2, 2), offset=1, full_shape=(4, 4)), "offset"),
    (lambda: gi.device("tpu"), "tpu"),
    (lambda: gi.device("cuda:x"), "index"),
])
def test_bad_values_raise_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call,match", [
    (lambda: gi.random.uniform("3"), "shape"),
    (lambda: gi.random.uniform((2.5,)), "shape"),
    (lambda: gi.random.uniform(3, "0"), "low"),
    (lambda: gi.random.uniform(3, seed=1.5), "seed"),
    (lambda: gi.random.uniform(3, seed=True), "seed"),
    (lambda: gi.random.normal(3, stream="a"), "stream"),
    (lambda: gi.device(3), "device"),
    (lambda: gi.manual_seed("x"), "seed"),
])
def test_wrong_types_raise_type_error(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_constant_parameters_give_constants():
    np.testing.assert_array_equal(gi.random.uniform(5, 2.0, 2.0, device="cpu"), np.full(5, 2.0))
    np.testing.assert_array_equal(gi.random.normal(5, 1.5, 0.0, device="cpu"), np.full(5, 1.5))
    np.testing.assert_array_equal(
        gi.random.truncated_normal(5, 1.5, 0.0, device="cpu"), np.full(5, 1.5)
    )


finite = st.floats(allow_nan=True, allow_infinity=True, width=64)
anything = st.one_of(finite, st.integers(-10, 10), st.none(), st.text(max_size=2), st.booleans())


@settings(max_examples=150, deadline=None)
@given(
    primitive=st.sampled_from(PRIMITIVES),
    shape=st.one_of(st.integers(-3, 40), st.lists(st.integers(-2, 6), max_size=3), anything),
    a=anything,
    b=anything,
    dtype=st.sampled_from(DTYPES + ["int8", "bool", None, "bogus"]),
    seed=st.one_of(st.none(), st.integers(-5, 2**64 + 5)),
)
def test_random_inputs_never_crash_and_never_return_nan(primitive, shape, a, b, dtype, seed):
    args = [x for x in (a, b) if x is not None]
    try:
        x = primitive(shape, *args, seed=seed, dtype=dtype, device="cpu")
    except (ValueError, TypeError):
        return
    assert np.isfinite(as_float64(x)).all()


def test_device_resolution_without_cuda():
    assert gi.device("cpu") == gi.Device("cpu")
    assert str(gi.device("auto")) in ("cpu", "cuda:0")
    if not gi.cuda_available():
        assert gi.cuda_unavailable_reason()
        with pytest.raises(gi.DeviceError, match="not usable"):
            gi.device("cuda")
        with pytest.raises(gi.DeviceError):
            gi.random.uniform(3, device="cuda:0")


def test_default_device_follows_setting_and_environment(monkeypatch):
    monkeypatch.setenv("GPUINIT_DEVICE", "cpu")
    gi.set_default_device(None)
    assert gi.device() == gi.Device("cpu")
    try:
        assert gi.set_default_device("cpu") == gi.Device("cpu")
        assert isinstance(gi.random.uniform(3), np.ndarray)
    finally:
        gi.set_default_device(None)


def test_out_of_memory_error_names_bytes_and_device():
    with pytest.raises(gi.OutOfMemoryError) as info:
        gi.random.uniform((1 << 22, 1 << 22), seed=0, device="cpu")  # 64 TiB
    assert isinstance(info.value, MemoryError)
    assert info.value.requested == 4 << 44
    assert "70,368,744,177,664 bytes" in str(info.value) and "cpu" in str(info.value)


def _cgroup_tree(tmp_path, membership: str, files: dict) -> tuple[str, str]:
    for relative, text in files.items():
        path = tmp_path / "cgroup" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "self_cgroup").write_text(membership)
    return str(tmp_path / "cgroup"), str(tmp_path / "self_cgroup")


def test_a_container_memory_limit_caps_the_host_available_bytes(tmp_path, monkeypatch):
    from gpuinit import memory

    v2 = _cgroup_tree(tmp_path / "v2", "0::/job\n", {
        "job/memory.max": "1000000\n", "job/memory.current": "700000\n",
        "job/memory.stat": "anon 500000\ninactive_file 200000\n"})
    assert memory.cgroup_available_bytes(*v2) == 1000000 - (700000 - 200000)
    v1 = _cgroup_tree(tmp_path / "v1", "9:memory:/docker/x\n8:cpu:/docker/x\n", {
        "memory/docker/x/memory.limit_in_bytes": "4096\n",
        "memory/docker/x/memory.usage_in_bytes": "5000\n"})
    assert memory.cgroup_available_bytes(*v1) == 0  # over its limit: nothing left
    # A limit on a parent (a pod's slice) counts as well; unreadable files are skipped.
    parent = _cgroup_tree(tmp_path / "parent", "0::/pod/job\n", {
        "pod/memory.max": "5000\n", "pod/memory.current": "1000\n",
        "pod/job/memory.max": "max\n", "pod/job/memory.current": "900\n",
        "memory.max": "garbage\n", "memory.current": "1\n"})
    assert memory.cgroup_available_bytes(*parent) == 4000
    unlimited = _cgroup_tree(tmp_path / "none", "0::/\n", {
        "memory.max": "max\n", "memory.current": "123\n"})
    assert memory.cgroup_available_bytes(*unlimited) is None
    assert memory.cgroup_available_bytes(str(tmp_path), str(tmp_path / "absent")) is None
    monkeypatch.setattr(memory, "cgroup_available_bytes", lambda: 1 << 20)
    assert memory.host_available_bytes() == 1 << 20
    with pytest.raises(gi.OutOfMemoryError):
        gi.random.uniform(1 << 25, device="cpu")  # 128 MiB against the 1 MiB left
