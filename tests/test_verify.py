"""gpuinit.torch.verify: a model's values read against a scheme's laws, nothing written.

Models materialized by gpuinit verify ok under their scheme (several schemes, seeds and
dtypes, and torch's own init under "torch"); a tensor zeroed, scaled, shifted, given a
NaN, garbage or an unzeroed padding row is flagged, and only it; the tolerances follow
the sample size (a 5% std error is invisible in 256 values and glaring in a million);
``seed=`` compares bit for bit with gpuinit's fill; verify changes no tensor and no
generator; bad arguments raise typed errors.  Tiny CPU models.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
from gpuinit.schemes import verify as verify_module  # noqa: E402
from gpuinit.schemes.verify import VerifyReport, chi2_tails  # noqa: E402
from gpuinit.torch import describe, init_module, materialize, verify  # noqa: E402

from .helpers import one_process_group  # noqa: E402


class _Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.ModuleDict({"c_attn": nn.Linear(d, 3 * d), "c_proj": nn.Linear(d, d)})
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(d, 4 * d), "c_proj": nn.Linear(4 * d, d)})


def gpt(d=32, layers=2, vocab=64, positions=16, padding_idx=None):
    """nanoGPT's names (untied head), each Linear with a bias."""
    model = nn.Module()
    model.transformer = nn.ModuleDict({
        "wte": nn.Embedding(vocab, d, padding_idx=padding_idx),
        "wpe": nn.Embedding(positions, d),
        "h": nn.ModuleList([_Block(d) for _ in range(layers)]), "ln_f": nn.LayerNorm(d)})
    model.lm_head = nn.Linear(d, vocab, bias=False)
    return model


def _meta(build=gpt, dtype=torch.float32, **kwargs):
    with torch.device("meta"):
        return build(**kwargs).to(dtype)


def _clones(model):
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    return {n: t.detach().clone() for n, t in tensors.items()}


def _bits_equal(a, b):
    kind = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return a.dtype == b.dtype and torch.equal(a.view(kind), b.view(kind))


def _flagged(report):
    return {row["tensor"]: row["problems"] for row in report.flagged}


SCHEMES = ["torch", "gpt2", "llama", "megatron", ("olmo", {"method": "full_megatron"}),
           ("olmo", {"method": "mitchell"}), ("neox", {"init_method": "orthogonal"}), "neox",
           ("megatron", {"overrides": {"*.c_fc.weight": "he_normal",
                                       "*.c_attn.weight": ("xavier_uniform_", {"gain": 2.0}),
                                       "*.c_proj.bias": ("normal_", {"mean": 0.5,
                                                                     "std": 0.1})}}),
           {"*.weight": "lecun_uniform", "*.c_fc.bias": ("trunc_normal_", {"std": 0.3})}]


# ----------------------------------------------------------------------------- honest models


@pytest.mark.parametrize("scheme", SCHEMES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_a_model_materialized_by_gpuinit_verifies_ok(scheme, dtype):
    for seed in (0, 1, 2):
        model = materialize(_meta(dtype=dtype, padding_idx=5), "cpu", seed=seed, scheme=scheme)
        report = verify(model, scheme)
        assert isinstance(report, VerifyReport) and report.ok, str(report)
        assert len(report) == len(describe(model, scheme=scheme))
        assert not report.unchecked and not report.flagged
        exact = verify(model, scheme, seed=seed)
        assert exact.ok and all(row["exact"] for row in exact), str(exact)


def test_deepnet_scaled_slices_and_torch_transformer_verify_ok():
    for seed in (0, 1):
        model = materialize(_meta(lambda: nn.Transformer(32, 4, 2, 2, 64)), "cpu", seed=seed,
                            scheme="deepnet")
        report = verify(model, "deepnet", seed=seed)
        assert report.ok, str(report)
        assert any("x 0." in row["law"] for row in report)  # the scaled value rows


def test_torchs_own_init_verifies_under_the_torch_scheme():
    for seed in range(3):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Embedding(100, 24, padding_idx=0), nn.Linear(24, 48),
                              nn.LayerNorm(48), nn.Conv1d(48, 16, 3), nn.GRU(16, 8),
                              nn.BatchNorm1d(8))
        report = verify(model)
        assert report.ok, str(report)


def test_the_law_of_each_row_is_describes():
    model = materialize(_meta(), "cpu", seed=0, scheme="gpt2")
    for plan, row in zip(describe(model, scheme="gpt2"), verify(model, "gpt2"), strict=True):
        assert (row["tensor"], row["law"], row["role"]) == (plan["tensor"], plan["law"],
                                                           plan["role"])
        assert row["law_std"] == pytest.approx(plan["std"])


# ----------------------------------------------------------------------------- flagged


def test_a_zeroed_a_scaled_and_a_nan_tensor_are_flagged_and_only_they():
    model = materialize(_meta(), "cpu", seed=3, scheme="gpt2")
    with torch.no_grad():
        model.transformer["h"][0].attn["c_attn"].weight.zero_()
        model.transformer["h"][1].mlp["c_fc"].weight.mul_(10)
        model.transformer["wpe"].weight[2, 3] = float("nan")
    report = verify(model, "gpt2")
    assert not report.ok
    flagged = _flagged(report)
    assert set(flagged) == {"transformer.h.0.attn.c_attn.weight",
                            "transformer.h.1.mlp.c_fc.weight", "transformer.wpe.weight"}
    assert flagged["transformer.h.0.attn.c_attn.weight"] == ["all zeros: never initialized?"]
    assert any(p.startswith("std ") for p in flagged["transformer.h.1.mlp.c_fc.weight"])
    assert flagged["transformer.wpe.weight"] == ["1 NaN value"]
    text = str(report)
    assert text.splitlines()[-1].startswith("FLAGGED: ")
    assert "3 flagged" in text and "all zeros" in text


def test_constants_are_exact():
    model = materialize(_meta(dtype=torch.bfloat16), "cpu", seed=0, scheme="gpt2")
    with torch.no_grad():
        model.transformer["ln_f"].weight[7] = 1.0078125  # the next bfloat16 after 1
        model.transformer["h"][0].ln_1.bias[0] = 1e-30
        model.transformer["h"][1].ln_2.bias[1] = float("inf")
    flagged = _flagged(verify(model, "gpt2"))
    assert flagged["transformer.ln_f.weight"] == ["1 of 32 values differ from constant(1)"]
    assert flagged["transformer.h.0.ln_1.bias"] == ["1 of 32 values differ from constant(0)"]
    assert flagged["transformer.h.1.ln_2.bias"][0] == "1 infinite value"
    assert len(flagged) == 3


def test_garbage_of_uninitialized_memory_is_flagged():
    model = materialize(_meta(), "cpu", seed=0, scheme="gpt2")
    weights = model.transformer["h"]
    with torch.no_grad():
        bits = weights[0].attn["c_proj"].weight.view(torch.int32)
        bits[0, :4] = torch.tensor([7, 123456, 99, 1])  # small integers: subnormal floats
        weights[1].attn["c_proj"].weight[5, 5] = 3e33  # a huge value
        weights[1].mlp["c_proj"].weight[0, :8] = 0.5  # 25 std from the mean
    flagged = _flagged(verify(model, "gpt2"))
    assert flagged["transformer.h.0.attn.c_proj.weight"] == [
        "4 subnormal values: uninitialized memory?"]
    assert any("garbage?" in p for p in flagged["transformer.h.1.attn.c_proj.weight"])
    assert any("garbage?" in p for p in flagged["transformer.h.1.mlp.c_proj.weight"])
    assert len(flagged) == 3


def test_the_bytes_of_a_fresh_allocation_name_the_cause_of_a_refused_tensor(monkeypatch):
    model = materialize(_meta(), "cpu", seed=0, scheme="gpt2")
    blocks = model.transformer["h"]
    stale = {blocks[0].mlp["c_fc"].weight.data_ptr(), blocks[1].mlp["c_fc"].weight.data_ptr()}
    real = torch.empty_like

    def empty_like(t, *args, **kwargs):  # an allocator handing back the same bytes
        return t.clone() if t.data_ptr() in stale else real(t, *args, **kwargs)

    monkeypatch.setattr(torch, "empty_like", empty_like)
    with torch.no_grad():
        blocks[1].mlp["c_fc"].weight.mul_(3)
    flagged = _flagged(verify(model, "gpt2"))
    # Plausible values are not refused for their bytes alone: fills that compute a copy
    # and copy it in leave freed blocks that fresh allocations hand back.
    assert set(flagged) == {"transformer.h.1.mlp.c_fc.weight"}
    assert flagged["transformer.h.1.mlp.c_fc.weight"][-1] == (
        "the bytes of fresh torch.empty_like allocations: never written?")


def test_the_tolerances_follow_the_sample_size():
    small = materialize(_meta(lambda: nn.Linear(16, 16, bias=False)), "cpu", seed=0,
                        scheme={"weight": ("normal_", {"std": 0.02})})
    large = materialize(_meta(lambda: nn.Linear(1024, 1024, bias=False)), "cpu", seed=0,
                        scheme={"weight": ("normal_", {"std": 0.02})})
    scheme = {"weight": ("normal_", {"std": 0.02})}
    for model in (small, large):
        assert verify(model, scheme).ok
        with torch.no_grad():
            model.weight.mul_(1.05)
    assert verify(small, scheme).ok  # 5% in 256 values: well within sampling error
    problems = _flagged(verify(large, scheme))["weight"]
    assert len(problems) == 1 and problems[0].startswith("std ")
    assert float(problems[0].split()[1].rstrip(",")) == pytest.approx(0.021, rel=2e-3)
    with torch.no_grad():
        large.weight.div_(1.05).add_(0.002)  # the mean off by 0.1 std
    problems = _flagged(verify(large, scheme))["weight"]
    assert len(problems) == 1 and problems[0].startswith("mean ")
    assert float(problems[0].split()[1].rstrip(",")) == pytest.approx(0.002, rel=2e-2)


def test_truncation_bounds_and_uniform_bounds_are_respected():
    scheme = {"0.weight": ("trunc_normal_", {"std": 0.02, "a": -0.04, "b": 0.04}),
              "1.weight": "glorot_uniform"}
    model = init_module(nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64)), seed=0,
                        scheme=scheme)
    assert verify(model, scheme).ok
    with torch.no_grad():
        model[0].weight[0, 0] = 0.041
        model[1].weight[0, 0] = -0.22
    flagged = _flagged(verify(model, scheme))
    assert flagged["0.weight"][0].endswith(", 0.041], outside the law's [-0.04, 0.04]")
    assert flagged["1.weight"][0].startswith("values in [-0.22, ")
    assert len(flagged) == 2


def test_a_padding_row_must_stay_zero():
    model = materialize(_meta(padding_idx=3), "cpu", seed=0, scheme="torch")
    report = verify(model)
    assert report.ok and "row 3 zero" in str(report)
    with torch.no_grad():
        model.transformer["wte"].weight[3, 0] = 0.5
    assert _flagged(verify(model)) == {"transformer.wte.weight": ["row 3 is not zero"]}


def test_an_orthogonal_matrix_must_be_orthogonal():
    scheme = ("neox", {"init_method": "orthogonal"})
    model = materialize(_meta(), "cpu", seed=0, scheme=scheme)
    assert verify(model, scheme).ok
    weight = model.transformer["h"][0].attn["c_attn"].weight
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(96, 32, dtype=torch.float64))
        gain = float(weight.norm() ** 2 / 32) ** 0.5
        mixed = q * gain
        mixed[:, 0] = mixed[:, 0] * 0.9 + mixed[:, 1] * (1 - 0.81) ** 0.5  # same norms
        weight.copy_(mixed)
    problems = _flagged(verify(model, scheme))["transformer.h.0.attn.c_attn.weight"]
    assert problems[0].startswith("not orthogonal") or problems[0].startswith("sum of squares")


def test_seed_compares_bit_for_bit():
    model = materialize(_meta(), "cpu", seed=7, scheme="llama")
    assert all(row["exact"] for row in verify(model, "llama", seed=7))
    report = verify(model, "llama", seed=8)
    assert not report.ok
    random = [row for row in report if row["law"].startswith("normal")]
    assert random and all(row["exact"] is False for row in random)
    assert all(p.endswith("differ from gpuinit's fill with seed=8")
               for row in random for p in row["problems"])
    constants = [row for row in report if row["law"].startswith("constant")]
    assert constants and all(row["exact"] and row["status"] == "ok" for row in constants)


def test_a_users_own_fill_is_unchecked_but_its_nan_is_flagged():
    def fill(t, *, seed, stream):
        t.fill_(0.25)

    scheme = {"*.c_fc.weight": fill}
    model = init_module(gpt(), seed=0, scheme=scheme)
    report = verify(model, scheme, seed=0)
    assert report.ok
    assert [row["tensor"] for row in report.unchecked] == [
        "transformer.h.0.mlp.c_fc.weight", "transformer.h.1.mlp.c_fc.weight"]
    with torch.no_grad():
        model.transformer["h"][1].mlp["c_fc"].weight[0, 0] = float("nan")
    assert _flagged(verify(model, scheme)) == {"transformer.h.1.mlp.c_fc.weight":
                                               ["1 NaN value"]}


def test_tied_tensors_are_read_once():
    model = gpt()
    model.lm_head.weight = model.transformer["wte"].weight
    init_module(model, seed=0, scheme="gpt2")
    names = [row["tensor"] for row in verify(model, "gpt2")]
    assert "lm_head.weight" not in names and "transformer.wte.weight" in names
    view = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    view[1].weight = nn.Parameter(view[0].weight.data)  # one memory, two Parameters
    rows = {row["tensor"]: row for row in verify(view)}
    assert rows["1.weight"]["status"] == "ok" and rows["1.weight"]["notes"] == [
        "read as 0.weight"]
    with torch.no_grad():
        view[0].weight.zero_()
    assert set(_flagged(verify(view))) == {"0.weight", "1.weight"}


def test_repeated_verifies_and_strided_tensors_stay_ok():
    # verify's own temporaries never leave a freed copy of a tensor for the next call's
    # fresh-allocation test to find, in any dtype, float64 included.
    for dtype in (torch.float64, torch.bfloat16):
        for scheme in ("gpt2", ("neox", {"init_method": "orthogonal"})):
            model = materialize(_meta(dtype=dtype), "cpu", seed=1, scheme=scheme)
            for attempt in range(4):
                assert verify(model, scheme, seed=1 if attempt % 2 else None).ok
    linear = nn.Linear(64, 32)
    linear.weight = nn.Parameter(torch.empty(64, 32).t())  # not contiguous
    init_module(linear, seed=0)
    assert not linear.weight.is_contiguous() and verify(linear, seed=0).ok
    with torch.no_grad():
        linear.weight.mul_(3)
    assert set(_flagged(verify(linear))) == {"weight"}


# ----------------------------------------------------------------------------- no writes


def test_verify_changes_no_tensor_and_no_generator():
    model = materialize(_meta(padding_idx=1), "cpu", seed=0, scheme="gpt2")
    with torch.no_grad():
        model.transformer["h"][0].attn["c_attn"].weight.zero_()
        model.transformer["wpe"].weight[0, 0] = float("nan")
        model.transformer["wte"].weight[1, 1] = 2.0
    before = _clones(model)
    state = torch.random.get_rng_state()
    grads = [p.requires_grad for p in model.parameters()]
    for scheme in ("gpt2", "torch", "megatron"):
        verify(model, scheme)
        verify(model, scheme, seed=0)
    after = _clones(model)
    assert before.keys() == after.keys()
    assert all(_bits_equal(before[n], after[n]) for n in before)
    assert torch.equal(state, torch.random.get_rng_state())
    assert grads == [p.requires_grad for p in model.parameters()]
    assert all(p.grad is None for p in model.parameters())


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call, error, message", [
    (lambda m: verify("model", "gpt2"), TypeError, "must be a torch.nn.Module"),
    (lambda m: verify(m, "nope"), ValueError, "not a known scheme"),
    (lambda m: verify(m, ("megatron", {"std": -1})), ValueError, "std=-1"),
    (lambda m: verify(m, ("megatron", {"use_mup": "no"})), TypeError, "use_mup"),
    (lambda m: verify(m, "gpt2", seed=-1), ValueError, r"seed=-1 is outside"),
    (lambda m: verify(m, "gpt2", seed="1"), TypeError, "seed must be an integer"),
    (lambda m: verify(m, "gpt2", seed=True), TypeError, "seed must be an integer"),
    (lambda m: verify(m, "gpt2", seed=1.0), TypeError, "seed must be an integer"),
    (lambda m: verify(_meta(), "gpt2"), ValueError, "meta device"),
    (lambda m: verify(m, ("gpt2", {"overrides": {"nowhere.*": "zeros"}})), ValueError,
     "matches no tensor"),
])
def test_bad_arguments_raise_typed_errors(call, error, message):
    model = init_module(gpt(), seed=0, scheme="gpt2")
    with pytest.raises(error, match=message):
        call(model)


def test_a_tensor_no_rule_covers_is_refused():
    model = gpt()
    model.scale = nn.Parameter(torch.ones(3))
    with pytest.raises(ValueError, match=r"scale"):
        verify(model, "gpt2")


# ----------------------------------------------------------------------------- statistics


def test_chi_square_tails_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k in (1, 2, 2.5, 7, 64, 1000, 150_000, 3e5, 1e6):
        for q in (1e-12, 1e-9, 1e-5, 0.3):
            lower, _ = chi2_tails(stats.chi2.ppf(q, k), k)
            _, upper = chi2_tails(stats.chi2.isf(q, k), k)
            assert lower == pytest.approx(q, rel=2e-3), (k, q)
            assert upper == pytest.approx(q, rel=2e-3), (k, q)


def test_the_moments_of_a_truncated_normal_are_scipys():
    stats = pytest.importorskip("scipy.stats")
    from gpuinit.laws import TruncatedNormal

    for law in (TruncatedNormal.absolute(0.02, -0.04, 0.04),
                TruncatedNormal.absolute(1.0, 0.0, 3.0, mean=0.5),
                TruncatedNormal.absolute(2.0, -math.inf, 1.0, mean=1.0)):
        ours = verify_module._moments(law, (4, 4))
        theirs = stats.truncnorm(law.lower, law.upper, law.mean, law.std)
        assert ours.mean == pytest.approx(theirs.mean(), rel=1e-9, abs=1e-15)
        assert ours.var == pytest.approx(theirs.var(), rel=1e-9)
        center = theirs.mean()
        m4 = theirs.expect(lambda x, center=center: (x - center) ** 4)
        assert ours.m4 == pytest.approx(m4, rel=1e-6)


# ----------------------------------------------------------------------------- DTensor


def test_dtensor_parameters_are_read_by_their_local_shards():
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    with one_process_group():
        mesh = init_device_mesh("cpu", (1,))
        model = _meta()
        for block in model.transformer["h"]:
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
        materialize(model, "cpu", seed=2, scheme="gpt2")
        report = verify(model, "gpt2", seed=2)
        assert report.ok and all(row["exact"] for row in report), str(report)
        assert all(any(n.startswith("local shard") for n in row["notes"]) for row in report)
        with torch.no_grad():
            model.lm_head.weight.to_local().mul_(3)
        assert set(_flagged(verify(model, "gpt2"))) == {"lm_head.weight"}


@pytest.mark.cuda
def test_a_cuda_model_verifies_on_the_device():
    model = materialize(_meta(dtype=torch.bfloat16), "cuda", seed=1, scheme="megatron")
    report = verify(model, "megatron", seed=1)
    assert report.ok and all(row["exact"] for row in report), str(report)
    with torch.no_grad():
        model.transformer["h"][0].mlp["c_fc"].weight.mul_(2)
    assert set(_flagged(verify(model, "megatron"))) == {"transformer.h.0.mlp.c_fc.weight"}


def test_any_law_that_states_its_moments_and_tails_is_checked_a_laplace_too():
    from gpuinit.laws import Laplace

    scheme = {"*.weight": Laplace(0.0, 0.02)}
    model = materialize(_meta(), "cpu", seed=3, scheme=scheme)
    report = verify(model, scheme)
    rows = {row["tensor"]: row for row in report}
    row = rows["transformer.h.0.mlp.c_fc.weight"]
    assert row["status"] == "ok" and row["law_std"] == pytest.approx(0.02 * math.sqrt(2))
    assert report.ok and not report.unchecked
    with torch.no_grad():  # a spread 20% too wide is out of the chi-square test's reach
        model.transformer.h[0].mlp.c_fc.weight.mul_(1.2)
    flagged = _flagged(verify(model, scheme))
    assert list(flagged) == ["transformer.h.0.mlp.c_fc.weight"]
    assert any(p.startswith("std ") for p in flagged["transformer.h.0.mlp.c_fc.weight"])
