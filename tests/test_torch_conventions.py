"""gpuinit.init follows torch.nn.init: generator=, torch.manual_seed, zero-element tensors."""

import math
import warnings

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.devices import Device
from gpuinit.dry_run import validate_only
from gpuinit.inplace import Target

torch = pytest.importorskip("torch")

# Every random function of gi.init, called as torch.nn.init's twin would be (keywords).
RANDOM = {
    "uniform_": lambda t, **kw: gi.init.uniform_(t, -0.5, 0.5, **kw),
    "normal_": lambda t, **kw: gi.init.normal_(t, 0.0, 0.1, **kw),
    "trunc_normal_": lambda t, **kw: gi.init.trunc_normal_(t, 0.0, 1.0, -1.0, 1.5, **kw),
    "xavier_uniform_": lambda t, **kw: gi.init.xavier_uniform_(t, **kw),
    "xavier_normal_": lambda t, **kw: gi.init.xavier_normal_(t, **kw),
    "kaiming_uniform_": lambda t, **kw: gi.init.kaiming_uniform_(t, a=math.sqrt(5), **kw),
    "kaiming_normal_": lambda t, **kw: gi.init.kaiming_normal_(t, mode="fan_out", **kw),
    "orthogonal_": lambda t, **kw: gi.init.orthogonal_(t, **kw),
    "sparse_": lambda t, **kw: gi.init.sparse_(t, 0.3, **kw),
}
NAMES = list(RANDOM)


def _int64_draw(generator=None) -> int:
    """The seed gpuinit draws: one int64 of the generator, as an unsigned 64-bit integer."""
    draw = torch.empty((), dtype=torch.int64).random_(-(2**63), None, generator=generator)
    return int(draw.item()) % 2**64


@pytest.mark.parametrize("name", NAMES)
def test_torch_manual_seed_makes_unseeded_fills_reproducible_and_advances_torch(name):
    fill = RANDOM[name]
    torch.manual_seed(1234)
    first = fill(torch.empty(24, 16))
    after_first = torch.rand(4)
    gi.manual_seed(99)  # gpuinit's own sequence plays no part for torch tensors
    torch.manual_seed(1234)
    second = fill(torch.empty(24, 16))
    assert torch.equal(first, second)
    assert torch.equal(torch.rand(4), after_first)
    torch.manual_seed(1234)
    assert not torch.equal(torch.rand(4), after_first)  # the fill advanced torch's generator
    torch.manual_seed(1235)
    assert not torch.equal(fill(torch.empty(24, 16)), first)


@pytest.mark.parametrize("name", NAMES)
def test_the_seed_is_one_int64_drawn_from_the_generator(name):
    fill = RANDOM[name]
    g = torch.Generator().manual_seed(7)
    drawn = fill(torch.empty(24, 16), generator=g)
    state_after = g.get_state()
    g.manual_seed(7)
    seed = _int64_draw(g)
    assert torch.equal(g.get_state(), state_after)  # exactly one draw
    assert torch.equal(drawn, fill(torch.empty(24, 16), seed=seed))
    torch.manual_seed(7)
    unseeded = fill(torch.empty(24, 16))
    torch.manual_seed(7)
    assert torch.equal(unseeded, fill(torch.empty(24, 16), seed=_int64_draw()))


def test_a_seeded_generator_is_reproducible_and_leaves_the_default_one_alone():
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(0)
    expected_rand = torch.rand(3)
    torch.manual_seed(0)
    a = gi.init.normal_(torch.empty(50, 8), 0.0, 1.0, g)  # positional, as in torch.nn.init
    b = gi.init.normal_(torch.empty(50, 8), 0.0, 1.0, g)
    assert not torch.equal(a, b)  # the generator moved on
    assert torch.equal(torch.rand(3), expected_rand)  # the default generator did not
    g.manual_seed(3)
    assert torch.equal(gi.init.normal_(torch.empty(50, 8), generator=g), a)


def test_numpy_arrays_take_a_cpu_generator_and_otherwise_follow_gpuinit_manual_seed():
    g = torch.Generator().manual_seed(11)
    w = gi.init.xavier_uniform_(np.empty((20, 30), np.float32), generator=g)
    g.manual_seed(11)
    expected = gi.init.xavier_uniform_(np.empty((20, 30), np.float32), seed=_int64_draw(g))
    np.testing.assert_array_equal(w, expected)
    gi.manual_seed(5)
    torch.manual_seed(1)
    first = gi.init.normal_(np.empty(64, np.float32))
    gi.manual_seed(5)
    torch.manual_seed(2)  # torch's state does not matter for NumPy arrays
    np.testing.assert_array_equal(gi.init.normal_(np.empty(64, np.float32)), first)


@pytest.mark.parametrize("name", NAMES)
def test_seed_and_generator_together_raise_and_change_nothing(name):
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    t = torch.full((24, 16), 7.0)
    with pytest.raises(ValueError, match="seed= or generator=, not both"):
        RANDOM[name](t, seed=1, generator=g)
    assert (t == 7.0).all()
    assert torch.equal(g.get_state(), state)


def test_a_generator_must_be_a_torch_generator():
    t = torch.full((4, 4), 7.0)
    with pytest.raises(TypeError, match="torch.Generator"):
        gi.init.uniform_(t, generator=np.random.default_rng(0))
    assert (t == 7.0).all()


def test_a_generator_on_another_device_type_is_refused_as_torch_refuses_it():
    # torch: "Expected a 'cuda' device type for generator but found 'cpu'" (RuntimeError).
    target = Target(np.empty(3, np.float32), np.empty(3, np.float32), Device("cuda", 0),
                    "float32")
    with pytest.raises(RuntimeError, match="Expected a 'cuda' device type for generator but "
                                           "found 'cpu'"):
        gi.init._check_generator(torch.Generator(), target)


@pytest.mark.cuda
def test_a_cpu_generator_with_a_cuda_tensor_raises_like_torch():
    if not (torch.cuda.is_available() and gi.cuda_available()):
        pytest.skip("needs torch with CUDA and a usable GPU")
    t = torch.full((8, 8), 7.0, device="cuda")
    g = torch.Generator()
    with pytest.raises(RuntimeError, match="device type for generator"):
        torch.nn.init.uniform_(t.clone(), generator=g)
    with pytest.raises(RuntimeError, match="device type for generator"):
        gi.init.uniform_(t, generator=g)
    assert (t == 7.0).all()
    cuda_g = torch.Generator(device="cuda").manual_seed(2)
    a = gi.init.normal_(torch.empty(64, device="cuda"), generator=cuda_g)
    cuda_g.manual_seed(2)
    assert torch.equal(a, gi.init.normal_(torch.empty(64, device="cuda"), generator=cuda_g))


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_kaiming_on_zero_element_tensors_warns_like_torch_and_draws_nothing(name):
    empty = torch.empty(0, 4)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        getattr(torch.nn.init, name)(torch.empty(0, 4))  # the peer does warn
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op") as w:
        assert RANDOM[name](empty, generator=g) is empty
    assert w[0].filename == __file__  # stacklevel: the warning points at the caller
    assert torch.equal(g.get_state(), state)


@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "xavier_uniform_",
                                  "xavier_normal_", "orthogonal_"])
def test_other_fills_of_zero_element_tensors_are_silent_no_ops_like_torch(name):
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    empty = torch.empty(0, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(torch.nn.init, name)(torch.empty(0, 4))  # torch does not warn either
        assert RANDOM[name](empty, generator=g) is empty
        torch.manual_seed(0)
        before = torch.rand(2)
        torch.manual_seed(0)
        RANDOM[name](empty)
        assert torch.equal(torch.rand(2), before)  # nothing drawn from the default either
    assert torch.equal(g.get_state(), state)


def test_check_only_passes_draw_nothing_from_torch():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    torch.manual_seed(0)
    before = torch.rand(2)
    torch.manual_seed(0)
    t = torch.full((6, 4), 7.0)
    with validate_only():
        for fill in RANDOM.values():
            fill(t)
            fill(t, generator=g)
        with pytest.raises(ValueError, match="not both"):
            gi.init.normal_(t, seed=0, generator=g)
    assert (t == 7.0).all()
    assert torch.equal(torch.rand(2), before)
    assert torch.equal(g.get_state(), state)


def test_trunc_normal_takes_infinite_bounds_on_torch_tensors():
    both = gi.init.trunc_normal_(torch.empty(400, 50), 0.5, 2.0, a=-math.inf, b=math.inf,
                                 seed=1)
    assert torch.equal(both, gi.init.normal_(torch.empty(400, 50), 0.5, 2.0, seed=1))
    half = gi.init.trunc_normal_(torch.empty(100_000, dtype=torch.float64), a=-math.inf,
                                 b=0.0, seed=2)
    assert half.max() <= 0.0 and torch.isfinite(half).all()
    # Half-normal: mean -√(2/π), std √(1 - 2/π); standard errors ~0.002.
    assert abs(half.mean().item() + math.sqrt(2 / math.pi)) < 0.01
    assert abs(half.std().item() - math.sqrt(1 - 2 / math.pi)) < 0.01
    tail = gi.init.trunc_normal_(torch.empty(100_000, dtype=torch.bfloat16), a=1.0,
                                 b=math.inf, seed=3)
    mills = math.exp(-0.5) / math.sqrt(2 * math.pi) / (0.5 * math.erfc(1 / math.sqrt(2)))
    assert tail.min() >= 1.0 and torch.isfinite(tail).all()
    assert abs(tail.double().mean().item() - mills) < 0.01  # E[Z | Z >= 1] = 1.5251


def test_every_fill_runs_on_the_stream_torch_uses_for_its_tensor():
    # Each in-place fill enters gpuinit.devices.torch_stream_of(tensor): torch's current
    # stream for a CUDA tensor (test_torch_cuda_fills_are_ordered_on_torchs_stream checks
    # the ordering on a GPU), nothing for the others.
    import contextlib

    from gpuinit.devices import torch_stream_of

    fills = [n for n in gi.init.__all__ if n.endswith("_")]
    assert len(fills) == 14
    for name in fills:
        assert getattr(getattr(gi.init, name), "__wrapped__", None) is not None, name
    for tensor in (torch.empty(3), np.empty(3), torch.empty(3, device="meta")):
        assert isinstance(torch_stream_of(tensor), contextlib.nullcontext)


@pytest.mark.cuda
def test_torch_cuda_fills_are_ordered_on_torchs_stream():
    side = torch.cuda.Stream()
    t = torch.empty(1 << 20, device="cuda")
    with torch.cuda.stream(side):
        torch.cuda._sleep(200_000_000)  # keeps `side` busy well past the fill's launch
        t.fill_(float("nan"))
        gi.init.normal_(t, seed=0)
    side.synchronize()
    assert bool(torch.isfinite(t).all())
    assert torch.equal(t.cpu(), gi.init.normal_(torch.empty(1 << 20), seed=0))
