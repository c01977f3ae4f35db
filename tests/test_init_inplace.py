"""gpuinit.init: in place and zero-copy on numpy arrays and torch tensors; errors change nothing."""

import math
import re
import warnings

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


BAD_CALLS = [
    (lambda t: gi.init.uniform_(t, 2.0, 1.0), ValueError),
    (lambda t: gi.init.normal_(t, 0.0, -1.0), ValueError),
    (lambda t: gi.init.trunc_normal_(t, 0.0, 1.0, 2.0, -2.0), ValueError),
    (lambda t: gi.init.kaiming_uniform_(t, mode="fan_sum"), ValueError),
    (lambda t: gi.init.kaiming_uniform_(t, mode=3), TypeError),
    (lambda t: gi.init.kaiming_normal_(t, nonlinearity="swish"), ValueError),
    (lambda t: gi.init.sparse_(t, 1.5), ValueError),
    (lambda t: gi.init.dirac_(t), ValueError),
    (lambda t: gi.init.uniform_(t, seed=-3), ValueError),
    (lambda t: gi.init.constant_(t, "x"), TypeError),
    (lambda t: gi.init.constant_(t, float("inf")), ValueError),
    (lambda t: gi.init.uniform(t, 2.0, 1.0), ValueError),  # a deprecated name
]


@pytest.mark.parametrize(("call", "error"), BAD_CALLS)
def test_bad_arguments_raise_and_leave_the_tensor_untouched(call, error):
    t = torch.full((6, 5), 7.0)
    with pytest.raises(error), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
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


# -- torch.nn.init's deprecated names ---------------------------------------------------
DEPRECATED = {  # name: (shape, positional arguments after the tensor)
    "uniform": ((6, 5), (-1.0, 1.0)), "normal": ((6, 5), (0.0, 2.0)),
    "constant": ((6, 5), (0.5,)), "eye": ((6, 5), ()), "dirac": ((4, 2, 3, 3), ()),
    "xavier_uniform": ((6, 5), ()), "xavier_normal": ((6, 5), ()),
    "kaiming_uniform": ((6, 5), ()), "kaiming_normal": ((6, 5), ()),
    "orthogonal": ((6, 5), ()), "sparse": ((6, 5), (0.3,)),
}
UNSEEDED = {"constant", "eye", "dirac"}


def test_the_names_are_torch_nn_inits():
    assert set(gi.init.__all__) == set(torch.nn.init.__all__)
    assert set(DEPRECATED) == {n for n in torch.nn.init.__all__ if not n.endswith("_")
                               and n != "calculate_gain"}


@pytest.mark.parametrize("name", sorted(DEPRECATED))
def test_a_deprecated_name_warns_as_torch_and_makes_its_fills_call(name):
    shape, args = DEPRECATED[name]
    seed = {} if name in UNSEEDED else {"seed": 5}
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        getattr(torch.nn.init, name)(torch.empty(shape), *args)
    message = str(theirs[0].message)
    assert theirs[0].category is FutureWarning and f"`nn.init.{name}_`" in message
    with pytest.warns(FutureWarning, match=f"^{re.escape(message)}$") as ours:
        t = torch.empty(shape)
        assert getattr(gi.init, name)(t, *args, **seed) is t
    assert ours[0].filename == __file__  # the caller's line, as torch's stacklevel gives
    assert torch.equal(t, getattr(gi.init, name + "_")(torch.empty(shape), *args, **seed))
    alias = getattr(gi.init, name)
    assert alias.__name__ == name and alias.__wrapped__ is getattr(gi.init, name + "_")


# -- mode, in any case --------------------------------------------------------------------
@pytest.mark.parametrize("fill", [gi.init.kaiming_uniform_, gi.init.kaiming_normal_])
def test_mode_is_read_in_any_case_as_torch_reads_it(fill):
    torch_fill = getattr(torch.nn.init, fill.__name__)
    torch_fill(torch.empty(6, 5), mode="FAN_OUT")  # torch lowercases it too
    for upper, lower in (("FAN_OUT", "fan_out"), ("Fan_In", "fan_in")):
        expected = fill(torch.empty(6, 5), mode=lower, seed=2)
        assert torch.equal(fill(torch.empty(6, 5), mode=upper, seed=2), expected)
    assert not torch.equal(fill(torch.empty(6, 5), mode="FAN_OUT", seed=2),
                           fill(torch.empty(6, 5), mode="fan_in", seed=2))
    t = torch.full((6, 5), 7.0)
    with pytest.raises(ValueError, match="mode 'FAN_SUM'"):
        fill(t, mode="FAN_SUM")
    with pytest.raises(TypeError, match="mode must be"):
        fill(t, mode=None)
    assert (t == 7.0).all()


# -- meta tensors ---------------------------------------------------------------------------
EVERY_FILL = {  # name: (shape, positional arguments after the tensor)
    "uniform_": ((6, 5), ()), "normal_": ((6, 5), ()), "trunc_normal_": ((6, 5), ()),
    "constant_": ((6, 5), (0.5,)), "ones_": ((6, 5), ()), "zeros_": ((6, 5), ()),
    "eye_": ((6, 5), ()), "dirac_": ((4, 2, 3, 3), ()), "xavier_uniform_": ((6, 5), ()),
    "xavier_normal_": ((6, 5), ()), "kaiming_uniform_": ((6, 5), ()),
    "kaiming_normal_": ((6, 5), ()), "orthogonal_": ((6, 5), ()),
    "sparse_": ((6, 5), (0.3,)),
}
NO_SEED = {"constant_", "ones_", "zeros_", "eye_", "dirac_"}


def _call(name, t, **options):
    """Return ``gi.init.<name>(t, ...)`` with the arguments of :data:`EVERY_FILL`."""
    if name in NO_SEED:
        options.pop("seed", None)
        options.pop("generator", None)
    return getattr(gi.init, name)(t, *EVERY_FILL[name][1], **options)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.complex64])
@pytest.mark.parametrize("name", sorted(EVERY_FILL))
def test_a_meta_tensor_is_returned_unchanged_as_torch_returns_it(name, dtype):
    if dtype.is_complex and name in ("trunc_normal_", "orthogonal_"):
        return  # torch refuses complex tensors there (NotImplementedError), meta or not
    torch.manual_seed(0)
    state = torch.get_rng_state()
    generator = torch.Generator().manual_seed(1)
    generator_state = generator.get_state()
    for context in (torch.device("cpu"), torch.device("meta")):  # also as the default
        with context:
            t = torch.empty(EVERY_FILL[name][0], dtype=dtype, device="meta")
            assert _call(name, t) is t and t.is_meta
            assert _call(name, t, seed=3) is t and _call(name, t, generator=generator) is t
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn, as in torch
    assert torch.equal(generator.get_state(), generator_state)


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64])
@pytest.mark.parametrize("name", sorted(EVERY_FILL))
def test_a_zero_element_tensor_draws_nothing_from_any_generator(name, dtype):
    if dtype.is_complex and name in ("trunc_normal_", "orthogonal_"):
        return  # torch refuses complex tensors there (NotImplementedError)
    shape = (0, *EVERY_FILL[name][0][1:])
    torch.manual_seed(0)
    state = torch.get_rng_state()
    generator = torch.Generator().manual_seed(1)
    generator_state = generator.get_state()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Kaiming's zero-element warning
        t = torch.empty(shape, dtype=dtype)
        assert _call(name, t) is t and _call(name, t, generator=generator) is t
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(generator.get_state(), generator_state)


@pytest.mark.parametrize(("call", "error"), BAD_CALLS)
def test_bad_arguments_on_a_meta_tensor_still_raise(call, error):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for context in (torch.device("cpu"), torch.device("meta")):
            with context, pytest.raises(error):
                call(torch.empty(6, 5, device="meta"))


def test_a_meta_tensor_is_checked_as_a_real_one():
    meta = torch.empty(6, 5, device="meta")
    with pytest.raises(ValueError, match="not both"):
        gi.init.normal_(meta, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="tensor.dtype"):
        gi.init.normal_(torch.empty(3, dtype=torch.int32, device="meta"))
    with pytest.raises(ValueError, match="fewer than 2"):
        gi.init.xavier_normal_(torch.empty(5, device="meta"))
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        empty = torch.empty(0, 4, device="meta")
        assert gi.init.kaiming_normal_(empty) is empty


def test_a_module_calls_gpuinit_init_in_reset_parameters_on_the_meta_device():
    class Linear(torch.nn.Linear):
        def reset_parameters(self):
            gi.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
            gi.init.zeros_(self.bias)

    with torch.device("meta"):
        layer = Linear(8, 4)
    assert layer.weight.is_meta and layer.bias.is_meta
    torch.manual_seed(0)
    built = Linear(8, 4)
    torch.manual_seed(0)
    expected = gi.init.kaiming_uniform_(torch.empty(4, 8), a=math.sqrt(5))
    assert torch.equal(built.weight.detach(), expected) and (built.bias == 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.complex64])
@pytest.mark.parametrize("name", sorted(EVERY_FILL))
def test_a_cpu_tensor_gets_the_same_values_under_a_meta_default_device(name, dtype):
    if dtype.is_complex and name in ("trunc_normal_", "orthogonal_"):
        return
    shape = EVERY_FILL[name][0]
    torch.manual_seed(4)
    expected = [_call(name, torch.empty(shape, dtype=dtype)),
                _call(name, torch.empty(shape, dtype=dtype), seed=6)]
    torch.manual_seed(4)
    with torch.device("meta"):
        got = [_call(name, torch.empty(shape, dtype=dtype, device="cpu")),
               _call(name, torch.empty(shape, dtype=dtype, device="cpu"), seed=6)]
        assert all(not t.is_meta for t in got)
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)


def test_a_fill_prepared_under_a_meta_default_device_runs_on_the_allocated_tensor():
    with torch.device("meta"):
        meta = torch.empty(6, 5, dtype=torch.bfloat16)
        prepared = gi.init.prepare(gi.init.normal_, meta, 0.0, 0.5, seed=2)
    with pytest.raises(ValueError, match="no memory"):  # the prepared write itself refuses
        prepared.run()
    t = torch.empty(6, 5, dtype=torch.bfloat16)
    prepared.run(t)
    assert torch.equal(t, gi.init.normal_(torch.empty(6, 5, dtype=torch.bfloat16), 0.0, 0.5,
                                          seed=2))


# -- complex tensors --------------------------------------------------------------------------
COMPLEX = [(torch.complex64, torch.float32), (torch.complex128, torch.float64)]


@pytest.mark.parametrize(("dtype", "parts"), COMPLEX)
def test_a_complex_fill_is_its_real_views_fill_with_torchs_law_for_each_part(dtype, parts):
    def both(fill, expected, shape=(30, 20)):
        z = fill(torch.empty(shape, dtype=dtype))
        assert torch.equal(torch.view_as_real(z), expected(torch.empty(*shape, 2, dtype=parts)))

    root2 = math.sqrt(2.0)
    both(lambda z: gi.init.uniform_(z, -1.0, 3.0, seed=1),
         lambda r: gi.init.uniform_(r, -1.0, 3.0, seed=1))
    both(lambda z: gi.init.normal_(z, 1.0, 2.0, seed=2, stream=5),
         lambda r: gi.init.normal_(r, 1.0, 2.0 / root2, seed=2, stream=5))
    bound = math.sqrt(6.0 / 50)  # fans of the complex (30, 20)
    both(lambda z: gi.init.xavier_uniform_(z, seed=3),
         lambda r: gi.init.uniform_(r, -bound, bound, seed=3))
    both(lambda z: gi.init.xavier_normal_(z, gain=2.0, seed=3),
         lambda r: gi.init.normal_(r, 0.0, 2.0 * math.sqrt(2.0 / 50) / root2, seed=3))
    std = math.sqrt(2.0) / math.sqrt(30)  # fan_out of (30, 20)
    both(lambda z: gi.init.kaiming_uniform_(z, mode="fan_out", seed=4),
         lambda r: gi.init.uniform_(r, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, seed=4))
    both(lambda z: gi.init.kaiming_normal_(z, mode="fan_out", seed=4),
         lambda r: gi.init.normal_(r, 0.0, std / root2, seed=4))
    sparse = gi.init.sparse_(torch.empty(30, 20, dtype=dtype), 0.3, 0.5, seed=5)
    real = gi.init.sparse_(torch.empty(30, 20, dtype=parts), 0.3, 0.5, seed=5)
    assert torch.equal(sparse == 0, real == 0)  # whole entries, at the real matrix's rows
    kept = gi.init.normal_(torch.empty(30, 20, 2, dtype=parts), 0.0, 0.5 / root2, seed=5)
    assert torch.equal(torch.view_as_real(sparse)[sparse != 0], kept[sparse != 0])


def test_complex_numpy_arrays_and_strided_views_take_the_same_values():
    expected = gi.init.normal_(np.empty((12, 10), np.complex64), 0.0, 1.0, seed=7)
    base = torch.zeros(10, 12, dtype=torch.complex64)
    view = base.t()  # (12, 10), not contiguous
    gi.init.normal_(view, 0.0, 1.0, seed=7)
    np.testing.assert_array_equal(view.numpy(), expected)
    gi.manual_seed(3)
    a = gi.init.kaiming_uniform_(np.empty((12, 10), np.complex128))
    gi.manual_seed(3)
    np.testing.assert_array_equal(a, gi.init.kaiming_uniform_(np.empty((12, 10),
                                                                       np.complex128)))
    torch.manual_seed(3)
    t = gi.init.xavier_normal_(torch.empty(12, 10, dtype=torch.complex64))
    torch.manual_seed(3)
    assert torch.equal(t, gi.init.xavier_normal_(torch.empty(12, 10, dtype=torch.complex64)))


def _part_moments(z: torch.Tensor) -> torch.Tensor:
    """Return [[mean, variance] of the real parts, [mean, variance] of the imaginary parts]."""
    r = torch.view_as_real(z).to(torch.float64).reshape(-1, 2)
    return torch.stack([r.mean(0), r.var(0)], dim=1)


COMPLEX_LAWS = {  # torch.nn.init's complex fills, each with its arguments
    "uniform_": (-1.0, 3.0), "normal_": (1.0, 2.0), "xavier_uniform_": (),
    "xavier_normal_": (), "kaiming_uniform_": (0.0, "FAN_OUT"), "kaiming_normal_": (),
    "sparse_": (0.3, 0.5),
}


@pytest.mark.parametrize("name", sorted(COMPLEX_LAWS))
def test_complex_fills_have_torchs_law_for_each_part(name):
    # 400,000 complex values: with fixed seeds the moments are fixed numbers, and the 5%
    # tolerance on a variance is ~20 standard errors, so neither side can flake.
    args = COMPLEX_LAWS[name]
    torch.manual_seed(0)
    theirs = getattr(torch.nn.init, name)(torch.empty(1000, 400, dtype=torch.complex64), *args)
    ours = getattr(gi.init, name)(torch.empty(1000, 400, dtype=torch.complex64), *args, seed=0)
    them, us = _part_moments(theirs), _part_moments(ours)
    scale = them[:, 1].sqrt().max().item()
    assert torch.allclose(us[:, 0], them[:, 0], rtol=0, atol=0.02 * scale), (us, them)
    assert torch.allclose(us[:, 1], them[:, 1], rtol=0.05, atol=0), (us, them)
    assert torch.allclose(us[0, 1], us[1, 1], rtol=0.05, atol=0)  # the parts alike
    if name in ("uniform_", "xavier_uniform_", "kaiming_uniform_"):
        low, high = torch.view_as_real(theirs).aminmax()
        assert low.item() - 1e-3 * scale <= torch.view_as_real(ours).min().item()
        assert torch.view_as_real(ours).max().item() <= high.item() + 1e-3 * scale
    if name == "sparse_":  # ceil(0.3·1000) whole entries zero in every column
        assert ((ours == 0).sum(0) == 300).all() and ((theirs == 0).sum(0) == 300).all()


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("name", ["trunc_normal_", "orthogonal_"])
def test_complex_tensors_are_refused_where_torch_refuses_them(name, dtype):
    with pytest.raises(NotImplementedError):
        getattr(torch.nn.init, name)(torch.empty(6, 5, dtype=dtype))
    t = torch.full((6, 5), 7.0, dtype=dtype)
    with pytest.raises(NotImplementedError, match=f"{name} is not implemented for complex"):
        getattr(gi.init, name)(t, seed=0)
    assert (t == 7.0).all()
    with pytest.raises(NotImplementedError):
        getattr(gi.init, name)(torch.empty(6, 5, dtype=dtype, device="meta"), seed=0)


@pytest.mark.parametrize("name", ["constant_", "ones_", "zeros_", "eye_", "dirac_"])
def test_complex_constants_are_torchs(name):
    shape, args = EVERY_FILL[name]
    theirs = getattr(torch.nn.init, name)(torch.empty(shape, dtype=torch.complex128), *args)
    assert torch.equal(_call(name, torch.empty(shape, dtype=torch.complex128)), theirs)


@pytest.mark.parametrize("name", ["normal_", "uniform_", "kaiming_normal_", "sparse_"])
def test_a_complex_fill_prepared_on_meta_runs_on_the_allocated_tensor(name):
    meta = torch.empty(6, 5, dtype=torch.complex64, device="meta")
    prepared = gi.init.prepare(getattr(gi.init, name), meta, *EVERY_FILL[name][1], seed=8)
    t = torch.empty(6, 5, dtype=torch.complex64)
    version = t._version
    prepared.run(t)
    assert t._version > version  # an in-place write, as autograd sees it
    assert torch.equal(t, _call(name, torch.empty(6, 5, dtype=torch.complex64), seed=8))
