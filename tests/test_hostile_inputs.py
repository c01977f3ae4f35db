"""Hostile and extreme inputs to the sampling primitives, initializers and in-place fills.

Each case asserts the typed error, that the message names the argument, and
that the caller's buffer is left bit-identical; or, for inputs that are valid
however odd (generators as shapes, infinite truncation bounds, empty matrices),
that the result is right.
"""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gpuinit as gi
from gpuinit import launch
from gpuinit.dtypes import FLOAT32
from gpuinit.kernels.cpu import LIB
from gpuinit.memory import host_available_bytes

from .helpers import bits

PRIMITIVES = {
    "uniform": gi.random.uniform,
    "normal": gi.random.normal,
    "truncated_normal": gi.random.truncated_normal,
}


# -- shapes read once -----------------------------------------------------------------
@pytest.mark.parametrize("name", PRIMITIVES)
@pytest.mark.parametrize("make", [lambda: (d for d in (64, 64)), lambda: map(int, (64, 64)),
                                  lambda: iter([64, 64])], ids=["generator", "map", "iter"])
def test_a_one_shot_shape_gives_the_whole_array(name, make):
    expected = PRIMITIVES[name]((64, 64), seed=3, device="cpu")
    got = PRIMITIVES[name](make(), seed=3, device="cpu")
    assert got.shape == (64, 64)
    assert (bits(got) == bits(expected)).all()


def test_one_shot_full_shape_and_start_give_the_block():
    whole = gi.random.normal((8, 16), seed=5, device="cpu")
    block = gi.random.normal((d for d in (8, 8)), seed=5, device="cpu",
                             full_shape=(d for d in (8, 16)), start=iter([0, 8]))
    assert (bits(block) == bits(whole[:, 8:])).all()


@pytest.mark.parametrize("name", gi.initializers.ids())
def test_initializers_read_a_one_shot_shape_once(name):
    init = gi.initializers.get({"class_name": name, "config": {}})
    shape = (2, 3) if name in ("identity", "sparse", "orthogonal") else (3, 3, 4, 4)
    if name in ("dirac", "delta_orthogonal"):
        shape = (3, 3, 4, 4)
    if hasattr(init, "seed"):
        init = type(init).from_config({**init.get_config(), "seed": 1})
    expected = init(shape, device="cpu")
    got = init((d for d in shape), device="cpu")
    assert got.shape == shape
    assert (bits(got) == bits(expected)).all()


def test_the_launcher_refuses_an_output_of_another_size():
    out = np.full(4, 7.0, dtype=np.float32)
    args = (0, FLOAT32.fmt, 0, 0, 0, 0, 1, 1, 0, (1,), (0,), 0.0, 1.0, 0.0, 0.0, False,
            0.0, 0.0, 0.0, 0.0, 1.0, 0, 0)
    with pytest.raises(RuntimeError, match="4096 values"):
        launch.fill(out, FLOAT32, gi.device("cpu"), 1024, args, n_values=4096)
    assert (out == 7.0).all()


# -- sizes past the counter contract ----------------------------------------------------
@pytest.mark.parametrize("kwargs, named", [
    (dict(shape=(1 << 25, 1 << 25)), "shape="),
    (dict(shape=(16,), offset=1 << 49), "offset="),
    (dict(shape=(2, 2), full_shape=(1 << 25, 1 << 25)), "full_shape="),
])
def test_sizes_past_the_counter_limit_name_the_argument(kwargs, named):
    with pytest.raises(ValueError, match=named) as info:
        gi.random.uniform(**kwargs, seed=0, device="cpu")
    assert "2**49" in str(info.value)


# -- the truncated normal's far tails -------------------------------------------------------
@pytest.mark.parametrize("lower, upper", [(37.45, 40.0), (-1000.0, -37.5), (38.0, math.inf),
                                          (-math.inf, -37.6), (40.0, 41.0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_intervals_too_far_out_to_sample_exactly_are_refused(lower, upper, dtype):
    out = np.full(64, 3.0, dtype=dtype)
    before = out.copy()
    with pytest.raises(ValueError, match=r"lower, upper.*2\*\*-969"):
        gi.random.truncated_normal(64, 0.0, 1.0, lower, upper, seed=0, out=out)
    assert (bits(out) == bits(before)).all()


def test_trunc_normal_refuses_the_far_tail_and_leaves_the_tensor():
    t = np.full((8, 8), 5.0, dtype=np.float32)
    with pytest.raises(ValueError, match="2\\*\\*-969"):
        gi.init.trunc_normal_(t, mean=0.0, std=0.5, a=18.8, b=20.0, seed=0)
    assert (t == 5.0).all()


@pytest.mark.parametrize("lower, upper", [(36.0, 40.0), (-math.inf, -36.0), (36.3, math.inf),
                                          (-50.0, -36.0), (-math.inf, math.inf)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_the_farthest_sampled_tails_are_finite_and_in_bounds(lower, upper, dtype):
    x = gi.random.truncated_normal(1 << 16, 0.0, 1.0, lower, upper, seed=7, dtype=dtype,
                                   device="cpu").astype(np.float64)
    assert np.isfinite(x).all()
    assert x.min() >= lower - 0.25 and x.max() <= upper + 0.25  # 16-bit rounding near 36


def test_trunc_normal_accepts_infinite_bounds_as_torch_does():
    t = np.empty(4096, dtype=np.float32)
    gi.init.trunc_normal_(t, mean=1.0, std=2.0, a=-math.inf, b=1.0, seed=0)
    assert np.isfinite(t).all() and t.max() <= 1.0 and t.min() < -3.0


@pytest.mark.parametrize("u", [0.0, 0.5, 1.0 - 2.0 ** -53])
def test_the_quantile_is_finite_at_the_ends_of_unbounded_intervals(u):
    # [-inf, -36]: Φ(lower) = 0, so u = 0 asks for Φ⁻¹(0) unless it is bounded below.
    from gpuinit.random import interval_probabilities

    p_lower, q_upper, mass = interval_probabilities(-math.inf, -36.0)
    for quantile in (LIB.truncated_normal_quantile, LIB.truncated_normal_quantile.py_func):
        z = quantile(u, p_lower, q_upper, mass)
        assert math.isfinite(z) and z <= -36.0 + 1e-9
    p_lower, q_upper, mass = interval_probabilities(36.0, math.inf)
    z = LIB.truncated_normal_quantile(u, p_lower, q_upper, mass)
    assert math.isfinite(z) and z >= 36.0 - 1e-9


@pytest.mark.parametrize("value", [math.nan, "2", None])
def test_a_nan_or_non_number_bound_is_refused(value):
    error = ValueError if isinstance(value, float) else TypeError
    with pytest.raises(error, match="upper"):
        gi.random.truncated_normal(4, upper=value, seed=0, device="cpu")


# -- values that do not fit the dtype ---------------------------------------------------------
@pytest.mark.parametrize("make, dtype, named", [
    (lambda: gi.initializers.Constant(1e6), "float16", "value"),
    (lambda: gi.initializers.Constant(65520.0), "float16", "value"),
    (lambda: gi.initializers.Constant(1e40), "float32", "value"),
    (lambda: gi.initializers.Constant(1e39), "bfloat16", "value"),
    (lambda: gi.initializers.Constant(300), "int8", "value"),
    (lambda: gi.initializers.Constant(-1), "uint8", "value"),
    (lambda: gi.initializers.Constant(2.5), "int32", "value"),
    (lambda: gi.initializers.Constant(2), "bool", "value"),
    (lambda: gi.initializers.Identity(gain=1e6), "float16", "gain"),
    (lambda: gi.initializers.Orthogonal(gain=1e6, seed=0), "float16", "gain"),
    (lambda: gi.initializers.Orthogonal(gain=1e39, seed=0), "float32", "gain"),
    (lambda: gi.initializers.DeltaOrthogonal(scale=7e4, seed=0), "float16", "scale"),
])
def test_values_that_do_not_fit_the_dtype_raise_naming_them(make, dtype, named):
    init = make()
    shape = (3, 3, 4, 4) if isinstance(init, gi.initializers.DeltaOrthogonal) else (4, 4)
    with pytest.raises(ValueError, match=f"{named}=.*{dtype}"):
        init(shape, dtype, device="cpu")


def test_values_at_the_edge_of_the_dtype_are_kept():
    assert gi.initializers.Constant(65504.0)((2,), "float16", device="cpu").max() == 65504
    assert gi.initializers.Constant(-128)((2,), "int8", device="cpu").min() == -128
    assert gi.initializers.Constant(1)((2,), "bool", device="cpu").all()


@pytest.mark.parametrize("dtype", [object, "str", "U4", "datetime64", "O"])
@pytest.mark.parametrize("name", ["zeros", "ones", "constant", "identity"])
def test_deterministic_initializers_refuse_non_numeric_dtypes(name, dtype):
    with pytest.raises(TypeError, match="dtype"):
        gi.initializers.get(name)((2, 2), dtype, device="cpu")


@pytest.mark.parametrize("call, named", [
    (lambda t: gi.init.constant_(t, 1e6), "val"),
    (lambda t: gi.init.constant_(t, 1e300), "val"),
    (lambda t: gi.init.orthogonal_(t, gain=1e6, seed=0), "gain"),
])
def test_in_place_fills_refuse_values_that_do_not_fit(call, named):
    t = np.full((4, 4), 2.0, dtype=np.float16)
    with pytest.raises(ValueError, match=f"{named}="):
        call(t)
    assert (t == 2.0).all()


def test_constant_into_a_small_integer_tensor_is_checked():
    t = np.full(4, 3, dtype=np.int8)
    with pytest.raises(ValueError, match="val=300"):
        gi.init.constant_(t, 300)
    assert (t == 3).all()


# -- overlapping targets ----------------------------------------------------------------------
def test_an_expanded_torch_tensor_is_refused():
    torch = pytest.importorskip("torch")
    base = torch.full((1, 4), 9.0)
    t = base.expand(3, 4)
    for fill in (lambda: gi.init.normal_(t, seed=0), lambda: gi.init.uniform_(t, seed=0),
                 lambda: gi.init.constant_(t, 1.0), lambda: gi.init.xavier_uniform_(t, seed=0)):
        with pytest.raises(ValueError, match="share memory"):
            fill()
        assert (base == 9.0).all()


def test_a_numpy_view_whose_elements_share_some_bytes_is_refused():
    # Byte strides that are not whole elements: offsets 10 and 13 of a float32 view
    # overlap by one byte, and stride 3 makes neighbours overlap by one.
    base = np.zeros(16, np.float32)
    for shape, strides in [((2, 3), (13, 5)), ((3,), (3,))]:
        view = np.lib.stride_tricks.as_strided(base, shape=shape, strides=strides,
                                               writeable=True)
        with pytest.raises(ValueError, match=r"share memory.*\(bytes\)|\(bytes\).*share"):
            gi.init.normal_(view, seed=0)
        assert (base == 0).all()
    # Strides that are not whole elements but keep the elements apart are written.
    spaced = np.lib.stride_tricks.as_strided(np.zeros(8, np.float32), shape=(3,),
                                             strides=(6,), writeable=True)
    gi.init.constant_(spaced, 2.5)
    assert (spaced == 2.5).all()


def test_an_overlapping_numpy_view_is_refused_and_strided_views_are_not():
    base = np.full(8, 4.0, dtype=np.float32)
    overlapping = np.lib.stride_tricks.as_strided(base, shape=(3, 4), strides=(8, 4))
    with pytest.raises(ValueError, match="share memory"):
        gi.init.normal_(overlapping, seed=0)
    assert (base == 4.0).all()
    grid = np.zeros((6, 8), dtype=np.float32)
    gi.init.normal_(grid[:, ::2], seed=0)  # strided, not overlapping: filled
    gi.init.normal_(grid.T[1::2], seed=1)
    assert (grid != 0).all()


# -- zero-size orthogonal --------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (2, 0, 3)])
def test_empty_orthogonal_matrices_are_empty_arrays(shape):
    q = gi.initializers.Orthogonal(seed=0)(shape, device="cpu")
    assert q.shape == shape and q.dtype == np.float32


def test_empty_delta_orthogonal_kernel():
    k = gi.initializers.DeltaOrthogonal(seed=0)((3, 3, 0, 0), device="cpu")
    assert k.shape == (3, 3, 0, 0)


# -- out of memory ---------------------------------------------------------------------------
@pytest.fixture
def too_many_float32():
    """Return an element count of float32 that the host cannot hold now."""
    free = host_available_bytes()
    if free is None:
        pytest.skip("the operating system does not report its available memory")
    return 2 * free // 4 + 1


@pytest.mark.parametrize("make", [
    lambda n: gi.initializers.Zeros()((n,), device="cpu"),
    lambda n: gi.initializers.Constant(2.0)((n,), device="cpu"),
    lambda n: gi.initializers.Identity()((n // 65536 + 1, 65536), device="cpu"),
    lambda n: gi.random.normal((n,), seed=0, device="cpu"),
    lambda n: gi.initializers.HeNormal(seed=0)((n // 1024 + 1, 1024), device="cpu"),
])
def test_arrays_larger_than_the_host_raise_out_of_memory(make, too_many_float32):
    with pytest.raises(gi.OutOfMemoryError) as info:
        make(too_many_float32)
    assert isinstance(info.value, MemoryError)
    assert info.value.free is not None and info.value.requested > info.value.free
    assert "free unknown" not in str(info.value)


# -- threads -----------------------------------------------------------------------------------
@pytest.mark.slow  # many threads, each route (seconds)
@pytest.mark.parametrize("mode", ["wait", "numpy", "background"])
def test_fills_from_many_threads_at_once_give_the_same_bits(mode):
    # Eight threads fill at once, each request split again over the fill threads: the
    # compiled loops, the NumPy target, or both with a hand-over in between.
    script = textwrap.dedent("""
        import threading
        import gpuinit as gi
        results = {}
        def work(i):
            for _ in range(2):
                results[i] = gi.random.normal((1100, 1000), seed=i, device="cpu")
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        same = all((results[i] == gi.random.normal((1100, 1000), seed=i, device="cpu")).all()
                   for i in range(8))
        print(same)
    """)
    env = {**os.environ, "GPUINIT_CPU_LOOPS": mode, "NUMBA_NUM_THREADS": "3"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True"]


# -- devices ------------------------------------------------------------------------------------
def test_cuda_without_a_gpu_says_which_extra_to_install():
    if gi.cuda_available():
        pytest.skip("a CUDA device is usable here")
    with pytest.raises(gi.DeviceError) as info:
        gi.device("cuda")
    reason = str(info.value)
    if "simulator" not in reason:  # NUMBA_ENABLE_CUDASIM is its own reason
        assert "gpuinit[cuda13]" in reason and "gpuinit[cuda12]" in reason


# -- array subclasses, byte order and exotic torch tensors --------------------------------
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself
def test_numpy_subclasses_are_filled_through_their_memory():
    expected = gi.random.normal((40, 50), seed=0, device="cpu")
    matrix = np.asmatrix(np.zeros((40, 50), np.float32))
    gi.init.normal_(matrix, seed=0)
    assert (np.asarray(matrix) == expected).all()
    out = np.asmatrix(np.zeros((40, 50), np.float32))
    assert gi.random.normal((40, 50), seed=0, out=out) is out
    assert (np.asarray(out) == expected).all()


def test_a_non_native_byte_order_array_is_filled_with_the_same_values():
    swapped = np.zeros(64, dtype=np.dtype(np.float32).newbyteorder())
    gi.init.uniform_(swapped, seed=1)
    assert swapped.dtype.byteorder != "=" and not swapped.dtype.isnative
    assert (swapped == gi.random.uniform(64, seed=1, device="cpu")).all()


@pytest.mark.parametrize("make, error", [
    (lambda torch: torch.ones(3, dtype=torch.complex64).conj(), ValueError),
    (lambda torch: torch.ones(2, 2).to_sparse(), TypeError),
    (lambda torch: torch.ones(3).to(torch.float8_e4m3fn), TypeError),
])
def test_exotic_torch_tensors_are_refused_naming_the_tensor(make, error):
    torch = pytest.importorskip("torch")
    t = make(torch)
    with pytest.raises(error, match="tensor"):
        gi.init.normal_(t, seed=0)


def test_in_place_fills_advance_autograd_s_version_counter_as_torch_does():
    torch = pytest.importorskip("torch")
    w = torch.ones(3, requires_grad=True)
    y = (w * w).sum()
    gi.init.uniform_(w, seed=0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    with torch.inference_mode():
        t = torch.empty(4)
    gi.init.zeros_(t)  # inference tensors have no version counter
    assert (t == 0).all()


@pytest.mark.parametrize("scheme", [None, {"weight": "orthogonal_", "bias": "zeros"},
                                    {"weight": lambda t, seed, stream: t.fill_(1.0)}])
def test_a_model_s_fills_advance_each_parameter_s_own_version_counter(scheme):
    # A plan writes a Parameter's .data, whose counter is not the Parameter's: autograd
    # must still refuse a backward pass through the old values.
    torch = pytest.importorskip("torch")
    from gpuinit.torch import init_module

    lin = torch.nn.Linear(3, 3)
    y = (lin.weight * lin.weight).sum() + lin.bias.sum()
    before = lin.weight._version, lin.bias._version
    init_module(lin, seed=0, **({} if scheme is None else {"scheme": scheme}))
    assert lin.weight._version > before[0]
    assert lin.bias._version > before[1] or scheme is not None and "bias" not in scheme
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# -- failed calls draw no seed ----------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    lambda: gi.random.uniform(2, stream=-1, device="cpu"),
    lambda: gi.random.normal(3, std=1e39, device="cpu"),
    lambda: gi.random.uniform(2, device="cpu", out=np.zeros(3, np.float32)),
    lambda: gi.init.uniform_(np.zeros(3, np.float32), 1.0, 0.0),
    lambda: gi.initializers.GlorotUniform()((4, 4), dtype="int32", device="cpu"),
    lambda: gi.initializers.RandomNormal(0.0, 1e39)((4, 4), device="cpu"),
])
def test_a_failed_call_leaves_the_global_seed_sequence_where_it_was(bad):
    gi.manual_seed(0)
    expected = gi.random.uniform(3, device="cpu")
    gi.manual_seed(0)
    with pytest.raises((ValueError, TypeError)):
        bad()
    assert (gi.random.uniform(3, device="cpu") == expected).all()


def test_a_failed_fill_leaves_torch_s_generator_where_it_was():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for bad in (lambda: gi.init.uniform_(torch.empty(2), 1.0, 0.0),
                lambda: gi.init.normal_(torch.empty(2), std=-1.0),
                lambda: gi.init.trunc_normal_(torch.empty(4), mean=100.0),
                lambda: gi.init.normal_(torch.empty(4, dtype=torch.float16), std=1e6)):
        with pytest.raises(ValueError):
            bad()
    assert torch.equal(torch.rand(3), expected)


# -- errors in the caller's terms ---------------------------------------------------------------
@pytest.mark.parametrize("call, error, named", [
    (lambda t: gi.init.uniform_(t, 1.0, 0.0), ValueError, "a=1.0 must be <= b=0.0"),
    (lambda t: gi.init.xavier_uniform_(t, gain=-1.0), ValueError, "gain=-1.0"),
    (lambda t: gi.init.xavier_normal_(t, gain=-1.0), ValueError, "gain=-1.0"),
    (lambda t: gi.init.normal_(t, std=-1.0), ValueError, "std=-1.0"),
    (lambda t: gi.init.trunc_normal_(t, mean=100.0), ValueError, r"\[a, b\] = \[-2.0, 2.0\]"),
    # A wrong type is a ValueError here, as torch's calculate_gain raises.
    (lambda t: gi.init.kaiming_uniform_(t, a=True), ValueError, "a="),
    (lambda t: gi.init.kaiming_normal_(t, a="x"), ValueError, "a="),
    (lambda t: gi.init.kaiming_normal_(t, a=math.nan), ValueError, "a="),
    (lambda t: gi.init.kaiming_uniform_(t, a=math.inf), ValueError, "a="),
    (lambda t: gi.init.xavier_uniform_(t, gain=10 ** 400), ValueError, "gain"),
    (lambda t: gi.init.orthogonal_(t, gain=10 ** 400), ValueError, "gain"),
])
def test_in_place_errors_name_the_caller_s_arguments(call, error, named):
    t = np.full((4, 4), 6.0, dtype=np.float32)
    with pytest.raises(error, match=named):
        call(t)
    assert (t == 6.0).all()


@pytest.mark.parametrize("call, named", [
    (lambda: gi.random.uniform(3, 10 ** 400, 10 ** 401, device="cpu"), "low"),
    (lambda: gi.random.normal(3, std=10 ** 400, device="cpu"), "std"),
    (lambda: gi.initializers.RandomUniform(minval=10 ** 400), "minval"),
    (lambda: gi.initializers.VarianceScaling(scale=10 ** 400), "scale"),
    (lambda: gi.initializers.Identity(gain=10 ** 400), "gain"),
])
def test_integers_past_float64_are_value_errors_naming_the_argument(call, named):
    with pytest.raises(ValueError, match=named):
        call()


def test_huge_leaky_relu_slopes_give_a_zero_gain_as_in_torch():
    assert gi.calculate_gain("leaky_relu", 1e200) == 0.0


# -- odd shapes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, error", [(b"ab", TypeError), ({3, 2}, TypeError),
                                          ({2: 1}, TypeError), ("64", TypeError),
                                          ((0, 2 ** 70), ValueError), ((1,) * 65, ValueError)])
def test_iterables_that_are_not_shapes_are_refused(shape, error):
    with pytest.raises(error, match="shape"):
        gi.random.uniform(shape, seed=0, device="cpu")


# -- narrow truncation intervals ------------------------------------------------------------------
@pytest.mark.parametrize("lower, upper", [(0.0, 1e-17), (-1e-200, 1e-200), (1.0, 1.0 + 1e-15)])
def test_intervals_too_narrow_to_resolve_are_refused_as_such(lower, upper):
    with pytest.raises(ValueError, match="too narrow"):
        gi.random.truncated_normal(4, 0.0, 1.0, lower, upper, seed=0, device="cpu")


def test_narrow_intervals_get_their_exact_probability():
    mpmath = pytest.importorskip("mpmath")
    from gpuinit.random import interval_probabilities

    mpmath.mp.dps = 60
    for lower, upper in [(0.0, 1e-6), (1.0, 1.01), (-2e-3, 1e-3), (36.0, 36.001), (0.1, 0.2)]:
        mass = interval_probabilities(lower, upper)[2]
        exact = float(mpmath.ncdf(-lower) - mpmath.ncdf(-upper))  # no 1 - tiny above 0
        assert math.isclose(mass, exact, rel_tol=1e-12), (lower, upper, mass, exact)
    x = gi.random.truncated_normal(4096, 0.0, 1.0, 1.0, 1.01, seed=2, dtype="float64",
                                   device="cpu")
    assert x.min() >= 1.0 and x.max() <= 1.01 and np.unique(x).size > 4000


@pytest.mark.parametrize("upper, expected", [(math.inf, float(np.finfo(np.float32).max)),
                                             (30.0, float(np.float32(1.0 + 30.0 * 0.5)))])
def test_truncated_normal_clamps_at_its_bounds_not_at_the_rejection_reach(
        monkeypatch, upper, expected):
    from gpuinit import launch

    captured = {}
    real = launch.fill
    monkeypatch.setattr(launch, "fill", lambda out, form, dev, n_items, args, **kw: (
        captured.update(args=args), real(out, form, dev, n_items, args, **kw)))
    # [-1, upper] holds most of the law: rejection, whose rare fallback, the inverse
    # CDF, can go past Box-Muller's 5.77σ: the clamp must not cut it there.
    x = gi.random.truncated_normal(1000, 1.0, 0.5, -1.0, upper, seed=0, device="cpu")
    law, clamp = captured["args"][4], captured["args"][5]
    assert law[4]  # rejection
    assert float(clamp[0]) == float(np.float32(0.5)) and float(clamp[1]) == expected
    assert x.min() >= 0.5
