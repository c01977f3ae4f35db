"""gpuinit.init: in place and zero-copy on numpy arrays and torch tensors; errors change nothing."""

import numpy as np
import pytest

import gpuinit as gi
from gpuinit import initializers as I

torch = pytest.importorskip("torch")


def test_fills_numpy_in_place_and_returns_the_same_object():
    w = np.zeros((30, 20), np.float32)
    address = w.ctypes.data
    assert gi.init.xavier_uniform_(w, seed=0) is w
    assert w.ctypes.data == address and np.abs(w).max() > 0
    bound = np.sqrt(6 / 50)
    assert np.abs(w).max() < bound


def test_same_values_as_the_sampling_primitive_zero_copy_into_torch():
    t = torch.empty(50, 40)
    pointer = t.data_ptr()
    gi.init.normal_(t, 1.0, 0.5, seed=9)
    assert t.data_ptr() == pointer
    np.testing.assert_array_equal(t.numpy(), gi.random.normal((50, 40), 1.0, 0.5, seed=9,
                                                              device="cpu"))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_torch_low_and_high_precision_tensors(dtype):
    t = torch.empty(64, 64, dtype=dtype)
    gi.init.uniform_(t, -1.0, 1.0, seed=1)
    name = str(dtype).split(".")[1]
    expected = gi.random.uniform((64, 64), -1.0, 1.0, seed=1, dtype=name, device="cpu")
    np.testing.assert_array_equal(t.float().numpy(), expected.astype(np.float32))


def test_non_contiguous_targets_get_the_values_of_their_shape():
    base = torch.zeros(20, 30)
    view = base.t()  # (30, 20), not contiguous
    gi.init.kaiming_normal_(view, seed=4)
    expected = np.empty((30, 20), np.float32)
    gi.init.kaiming_normal_(expected, seed=4)
    np.testing.assert_array_equal(view.numpy(), expected)


def test_orthogonal_into_torch_conv_weight():
    w = torch.empty(16, 4, 3, 3)
    gi.init.orthogonal_(w, gain=2.0, seed=0)
    m = w.reshape(16, -1).double() / 2.0
    torch.testing.assert_close(m @ m.T, torch.eye(16, dtype=torch.float64), atol=1e-5, rtol=0)


def test_matches_the_initializer_objects_layout_rules():
    # torch (out, in) with xavier_uniform_ equals Keras (in, out) GlorotUniform's law limits.
    t = gi.init.xavier_uniform_(np.empty((10, 40), np.float32), seed=0)
    k = I.GlorotUniform(seed=0)((40, 10), device="cpu")
    assert np.abs(t).max() <= np.sqrt(6 / 50) and np.abs(k).max() <= np.sqrt(6 / 50)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda t: gi.init.uniform_(t, 2.0, 1.0), ValueError),
        (lambda t: gi.init.normal_(t, 0.0, -1.0), ValueError),
        (lambda t: gi.init.trunc_normal_(t, 0.0, 1.0, 2.0, -2.0), ValueError),
        (lambda t: gi.init.kaiming_uniform_(t, mode="fan_sum"), ValueError),
        (lambda t: gi.init.kaiming_normal_(t, nonlinearity="swish"), ValueError),
        (lambda t: gi.init.sparse_(t, 1.5), ValueError),
        (lambda t: gi.init.dirac_(t), ValueError),
        (lambda t: gi.init.uniform_(t, seed=-3), ValueError),
        (lambda t: gi.init.constant_(t, "x"), TypeError),
        (lambda t: gi.init.constant_(t, float("inf")), ValueError),
    ],
)
def test_bad_arguments_raise_and_leave_the_tensor_untouched(call, error):
    t = torch.full((6, 5), 7.0)
    with pytest.raises(error):
        call(t)
    assert (t == 7.0).all()


def test_integer_tensors_refuse_random_values_but_take_constants():
    t = torch.zeros(3, 3, dtype=torch.int32)
    with pytest.raises(ValueError, match="tensor.dtype"):
        gi.init.normal_(t)
    assert (gi.init.ones_(t) == 1).all()
    assert (gi.init.eye_(t) == torch.eye(3, dtype=torch.int32)).all()


def test_fan_errors_and_wrong_targets():
    with pytest.raises(ValueError, match="fewer than 2"):
        gi.init.xavier_uniform_(torch.empty(5))
    with pytest.raises(TypeError, match="tensor must be"):
        gi.init.uniform_([1.0, 2.0])
    frozen = np.zeros(3, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        gi.init.uniform_(frozen)
    empty = torch.empty(0, 4)
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        assert gi.init.kaiming_uniform_(empty) is empty
