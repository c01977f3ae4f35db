"""One rule for what fills a tensor: bool constants, torch's unsigned dtypes, weights."""

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.fill_values import check_fill_values, is_fill_target, is_torch_tensor, kind_of

torch = pytest.importorskip("torch")

DTYPES = ["bool", "int8", "uint16", "int32", "float16", "bfloat16", "float32", "float64",
          "complex64"]


# -- Constant takes bool arrays as keras.initializers.Constant does -------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_constant_takes_a_bool_array_as_ones_and_zeros(dtype):
    out = gi.initializers.Constant(np.array([True, False]))((3, 2), dtype, device="cpu")
    expected = np.broadcast_to(np.array([1, 0]), (3, 2))
    assert np.array_equal(np.asarray(out, dtype=np.float64), expected)


@pytest.mark.parametrize("value", [[True, False], torch.tensor([True, False]),
                                   np.array([True, False])])
def test_constant_bool_values_match_keras(value):
    keras = pytest.importorskip("keras")
    for dtype in ("float32", "int32", "bool"):
        theirs = keras.ops.convert_to_numpy(
            keras.initializers.Constant(np.asarray(value))((2, 2), dtype=dtype))
        ours = gi.initializers.Constant(value)((2, 2), dtype, device="cpu")
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


def test_a_bool_array_initializer_round_trips_its_config():
    init = gi.initializers.Constant(np.array([True, False]))
    again = gi.initializers.deserialize(gi.initializers.serialize(init))
    assert np.array_equal(again((2,), "float32", device="cpu"), [1.0, 0.0])


def test_a_bool_array_is_a_fixed_value():
    out = gi.initializers.get(np.array([[True], [False]]))((2, 1), "float32", device="cpu")
    assert np.array_equal(out, [[1.0], [0.0]])


# -- constant_ takes bools as torch.nn.init.constant_ does ----------------------------------
@pytest.mark.parametrize("value", [True, False, np.bool_(True), torch.tensor(True)])
@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int64, torch.float32,
                                   torch.bfloat16, torch.complex64])
def test_constant__takes_bool_values_as_torch_does(value, dtype):
    ours, theirs = torch.zeros(4, dtype=dtype), torch.zeros(4, dtype=dtype)
    gi.init.constant_(ours, value)
    torch.nn.init.constant_(theirs, value)
    assert torch.equal(ours, theirs)


def test_constant__fills_a_numpy_bool_array_with_true():
    array = np.zeros(3, dtype=bool)
    gi.init.constant_(array, True)
    assert array.all()


def test_bool_scalar_constant_fills_every_dtype():
    assert np.array_equal(gi.initializers.Constant(True)((2,), "int8", device="cpu"), [1, 1])
    assert not gi.initializers.Constant(False)((2,), "bool", device="cpu").any()


# -- torch's unsigned dtypes are filled as NumPy's are ---------------------------------------
@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_torch_unsigned_tensors_are_filled_like_numpy_ones(dtype):
    t = torch.zeros(5, dtype=dtype)
    gi.init.constant_(t, 7)
    assert t.to(torch.int64).tolist() == [7] * 5
    gi.init.zeros_(t)
    assert t.to(torch.int64).tolist() == [0] * 5
    array = np.zeros(5, dtype=str(dtype).removeprefix("torch."))
    assert gi.init.constant_(array, 7).tolist() == [7] * 5


def test_a_torch_uint16_value_out_of_range_is_refused_and_nothing_written():
    t = torch.full((3,), 5, dtype=torch.uint16)
    with pytest.raises(ValueError, match="val=.*uint16"):
        gi.init.constant_(t, 70000)
    assert t.to(torch.int64).tolist() == [5, 5, 5]


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.complex32, torch.quint8])
def test_dtypes_outside_the_rule_are_refused_naming_the_tensor(dtype):
    t = torch.empty(0, dtype=dtype) if dtype is not torch.quint8 else \
        torch.quantize_per_tensor(torch.zeros(2), 1.0, 0, torch.quint8)
    with pytest.raises(TypeError, match="tensor has dtype"):
        gi.init.constant_(t, 0)


# -- what is refused ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["x", None, 1j, np.array(["a"]), [1j], np.array([1 + 2j])])
def test_constants_other_than_bools_and_real_numbers_raise_naming_value(value):
    with pytest.raises(TypeError, match="value"):
        gi.initializers.Constant(value)


@pytest.mark.parametrize("value", ["x", 1j, None])
def test_constant__refuses_what_is_not_a_real_number(value):
    t = torch.zeros(2)
    with pytest.raises(TypeError, match="val"):
        gi.init.constant_(t, value)
    assert not t.any()


def test_bool_arrays_are_not_weights():
    with pytest.raises(TypeError, match="w holds bool values, not numbers"):
        check_fill_values(np.ones(2, bool), "w", constant=False)
    check_fill_values(np.ones(2, bool), "w", constant=True)


def test_complex_weights_only_for_a_complex_target():
    check_fill_values(np.ones(2, np.complex64), "w", constant=False, target="complex64")
    with pytest.raises(TypeError, match="w holds complex64"):
        check_fill_values(np.ones(2, np.complex64), "w", constant=False, target="float32")


# -- the rule's parts --------------------------------------------------------------------------
@pytest.mark.parametrize("value, kind", [
    (True, "b"), (np.bool_(False), "b"), (3, "i"), (2 ** 70, "i"), (np.uint16(3), "i"),
    (1.5, "f"), (np.float16(1), "f"), (1j, "c"), ("x", "O"), (None, "O"),
    (np.zeros(2, np.float32), "f"), ([True], "b"), ([[1], [2, 3]], "O"),
    (torch.zeros(2, dtype=torch.bfloat16), "f"), (torch.zeros(2, dtype=torch.uint16), "i"),
])
def test_kind_of(value, kind):
    assert kind_of(value) == kind


def test_fill_targets():
    for dtype in ("bool", "uint64", "int8", "bfloat16", "complex128", torch.uint32):
        assert is_fill_target(dtype)
    for dtype in ("str", object, "datetime64", torch.float8_e5m2, torch.complex32):
        assert not is_fill_target(dtype)


def test_is_torch_tensor():
    assert is_torch_tensor(torch.zeros(1))
    assert is_torch_tensor(torch.nn.Parameter(torch.zeros(1)))
    assert not is_torch_tensor(torch.Size([1]))
    assert not is_torch_tensor(torch.float32)
    assert not is_torch_tensor(np.zeros(1))


def test_a_torch_size_is_no_tensor_to_fill():
    with pytest.raises(TypeError, match="tensor must be"):
        gi.init.zeros_(torch.Size([2]))
