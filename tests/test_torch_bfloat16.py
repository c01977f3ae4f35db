"""torch bfloat16 tensors are written in place as bfloat16 patterns, on every device.

CPU and CUDA tensors take one route (their 16-bit storage, gpuinit.inplace.Bits16Target),
so these CPU tests cover the CUDA path's logic: constants are their rounded patterns,
random laws are the bfloat16 kernels' own output (rounded once, clamped inside the
law's bounds after rounding) written with no temporary, and computed matrices are
float32 rounded once to nearest even.
"""

import math

import numpy as np
import pytest

import gpuinit as gi
from gpuinit import launch
from gpuinit.dtypes import BFLOAT16, bfloat16_bits, encode16

torch = pytest.importorskip("torch")


def bits(t):
    return t.detach().view(torch.int16).numpy().view(np.uint16).copy()


def empty(*shape):
    return torch.full(shape, float("nan"), dtype=torch.bfloat16)


@pytest.mark.parametrize("fill, value", [(gi.init.ones_, 1.0), (gi.init.zeros_, 0.0),
                                         (lambda t: gi.init.constant_(t, 0.5), 0.5),
                                         (lambda t: gi.init.constant_(t, 1 / 3), 1 / 3),
                                         (lambda t: gi.init.constant_(t, -1e30), -1e30)])
def test_constants_are_their_rounded_values(fill, value):
    t = fill(empty(3, 5))
    expected = torch.full((3, 5), value, dtype=torch.float64).to(torch.bfloat16)
    assert np.array_equal(bits(t), bits(expected))


def test_eye_and_dirac_match_torch():
    assert torch.equal(gi.init.eye_(empty(4, 6)), torch.nn.init.eye_(empty(4, 6)))
    for groups in (1, 2):
        ours = gi.init.dirac_(empty(4, 2, 3, 3), groups=groups)
        assert torch.equal(ours, torch.nn.init.dirac_(empty(4, 2, 3, 3), groups=groups))


@pytest.mark.parametrize("name, call", [
    ("uniform", lambda t, s: gi.init.uniform_(t, -0.3, 0.7, seed=s)),
    ("normal", lambda t, s: gi.init.normal_(t, 0.1, 0.02, seed=s)),
    ("trunc_normal", lambda t, s: gi.init.trunc_normal_(t, 0.0, 0.02, -0.04, 0.04, seed=s)),
])
def test_random_fills_are_the_bfloat16_kernels_output(name, call):
    t = call(empty(33, 17), 5)
    reference = {
        "uniform": lambda: gi.random.uniform((33, 17), -0.3, 0.7, seed=5, dtype="bfloat16",
                                             device="cpu"),
        "normal": lambda: gi.random.normal((33, 17), 0.1, 0.02, seed=5, dtype="bfloat16",
                                           device="cpu"),
        "trunc_normal": lambda: gi.random.truncated_normal(
            (33, 17), 0.0, 0.02, -2.0, 2.0, seed=5, dtype="bfloat16", device="cpu"),
    }[name]()
    assert np.array_equal(bits(t), reference.view(np.uint16).reshape(33, 17))


def test_bounds_hold_after_rounding():
    # kaiming_uniform_ on fan_in 3: bound sqrt(1/3) = 0.577..., which bfloat16 rounds up to
    # 0.578125; no value may reach it. trunc_normal_ stays inside [a, b].
    w = gi.init.kaiming_uniform_(empty(4096, 3), a=math.sqrt(5), seed=1)
    bound = math.sqrt(3.0) * gi.init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(3)
    assert float(torch.tensor(bound).to(torch.bfloat16)) > bound  # the case that matters
    values = w.float()
    assert values.max().item() < bound and values.min().item() >= -bound
    t = gi.init.trunc_normal_(empty(8192), 0.0, 1.0, -0.3, 0.3, seed=2).float()
    assert t.min().item() >= -0.3 and t.max().item() <= 0.3


def test_contiguous_fills_allocate_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a temporary array was allocated")

    monkeypatch.setattr(launch, "allocate", refuse)
    t = empty(64, 32)
    gi.init.kaiming_uniform_(t, seed=0)
    gi.init.xavier_normal_(t, seed=1)
    gi.init.trunc_normal_(t, std=0.02, seed=2)
    assert not torch.isnan(t.float()).any()


def test_strided_views_get_the_values_of_their_shape():
    base = empty(16, 24)
    view = base.t()  # shape (24, 16), not contiguous
    gi.init.normal_(view, 0.0, 1.0, seed=3)
    alone = gi.init.normal_(empty(24, 16), 0.0, 1.0, seed=3)
    assert torch.equal(view, alone)


@pytest.mark.parametrize("shape", [(20, 12), (12, 20)])
def test_orthogonal_and_sparse_are_float32_rounded_once(shape):
    ours = gi.init.orthogonal_(empty(*shape), gain=2.0, seed=4)
    single = gi.init.orthogonal_(torch.empty(shape), gain=2.0, seed=4)
    assert np.array_equal(bits(ours), bits(single.to(torch.bfloat16)))
    ours = gi.init.sparse_(empty(*shape), 0.3, std=0.5, seed=4)
    single = gi.init.sparse_(torch.empty(shape), 0.3, std=0.5, seed=4)
    assert np.array_equal(bits(ours), bits(single.to(torch.bfloat16)))


def test_bfloat16_bits_rounds_like_torch_and_exactly_from_float64():
    rng = np.random.default_rng(0)
    patterns = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    values = patterns.view(np.float32)
    finite = ~np.isnan(values)
    theirs = bits(torch.from_numpy(values.copy()).to(torch.bfloat16))
    assert np.array_equal(bfloat16_bits(values)[finite], theirs[finite])
    assert np.all(bfloat16_bits(values[~finite]) & 0x7FFF > 0x7F80)  # NaN stays NaN
    # float64: one rounding (torch goes through float32 and may round twice).
    halfway = (np.arange(1 << 16, dtype=np.uint32) << 16 | 0x8000).view(np.float32)
    halfway = halfway[np.isfinite(halfway)].astype(np.float64)
    for x in (halfway, halfway * (1 + 2**-40), halfway * (1 - 2**-40)):
        exact = [encode16(float(v), BFLOAT16) for v in x[::97]]
        assert bfloat16_bits(x)[::97].tolist() == exact


def test_a_bfloat16_model_gets_its_norm_weights_and_rounded_laws():
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16))
    model = model.to(torch.bfloat16)
    from gpuinit.torch import init_module

    init_module(model, seed=0)
    assert torch.equal(model[1].weight, torch.ones(16, dtype=torch.bfloat16))
    assert torch.equal(model[1].bias, torch.zeros(16, dtype=torch.bfloat16))
    bound = 1 / math.sqrt(8)
    assert model[0].weight.float().abs().max().item() < bound
