"""scheme="torchtitan" and scheme="litgpt" against the codebases' own initialization.

Unmarked tests run without either package: torch models written here with the module
names (and the buffer-computing methods) of torchtitan's Llama 3 (0.1/0.2 layout:
``output``, ``wq``/``wk``/``wv``, ``freqs_cis``; 0.3.0 layout: ``lm_head``, fused
``qkv_linear.wqkv``, ``rope.cache``) and of LitGPT's GPT, checked against the formulas
in the plan (``describe``) and in the values written; option errors.

Tests marked ``peers`` build tiny models with the codebases' own classes and config
helpers (skipped without ``torchtitan`` / ``litgpt``), initialize them with the
codebase's own init over 4 seeds and materialize them from the meta device with
gpuinit's scheme over 4 seeds; per tensor, pooled over the seeds: mean and std agree
within 6 standard errors, both lie inside the bounds gpuinit's plan gives (and both
reach near a real truncation), constants are equal exactly, a two-sample KS test has
p > 1e-4, and buffers are allclose.
"""

import math
import types

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")
nn = torch.nn
from gpuinit.laws import truncated_std  # noqa: E402
from gpuinit.schemes import SCHEMES, scheme_names  # noqa: E402
from gpuinit.torch import describe, init_module, materialize  # noqa: E402

SEEDS = (0, 1, 2, 3)
KS_MAX_VALUES = 400_000

# ------------------------------------------------------------------------- helpers


def _std_ok(values: torch.Tensor, expected: float, k: float = 6.0) -> bool:
    n = values.numel()
    return abs(values.double().std().item() / expected - 1) <= k / math.sqrt(2 * n)


def _tensors(model):
    out = dict(model.named_parameters())
    out.update(dict(model.named_buffers()))
    return {n: t.detach() for n, t in out.items()}


def _rows(model, scheme):
    return {row["tensor"]: row for row in describe(model, scheme=scheme)}


# ----------------------------------------------- torchtitan-named models (no package)


def _freqs(head_dim: int, seq: int, theta: float = 10000.0) -> torch.Tensor:
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    angles = torch.outer(torch.arange(seq), freqs).float()
    return torch.polar(torch.ones_like(angles), angles)


class _Rope(nn.Module):
    """torchtitan 0.3.0's RoPE: a ``cache`` buffer and ``_precompute_cache()``."""

    def __init__(self, head_dim, seq):
        super().__init__()
        self.head_dim, self.seq = head_dim, seq
        self.register_buffer("cache", self._precompute_cache(), persistent=False)

    def _precompute_cache(self):
        return _freqs(self.head_dim, self.seq, 500000.0)


class _TitanAttention(nn.Module):
    def __init__(self, d, kv, fused, seq):
        super().__init__()
        if fused:
            self.qkv_linear = nn.Module()
            self.qkv_linear.wqkv = nn.Linear(d, d + 2 * kv, bias=False)
            self.rope = _Rope(8, seq)
        else:
            self.wq = nn.Linear(d, d, bias=False)
            self.wk, self.wv = nn.Linear(d, kv, bias=False), nn.Linear(d, kv, bias=False)
        self.wo = nn.Linear(d, d, bias=False)


class _TitanFeedForward(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.w1 = nn.Linear(d, hidden, bias=False)
        self.w2 = nn.Linear(hidden, d, bias=False)
        self.w3 = nn.Linear(d, hidden, bias=False)


class _TitanBlock(nn.Module):
    def __init__(self, d, kv, fused, seq):
        super().__init__()
        self.attention = _TitanAttention(d, kv, fused, seq)
        self.feed_forward = _TitanFeedForward(d, 3 * d)
        self.attention_norm, self.ffn_norm = nn.RMSNorm(d), nn.RMSNorm(d)


class TitanLike(nn.Module):
    """torchtitan's Llama 3 names: 0.1/0.2 (``output``, ``freqs_cis``) or, with
    ``new=True``, 0.3.0 (``lm_head``, fused ``wqkv``, per-attention ``rope.cache``)."""

    def __init__(self, d=32, layers=3, vocab=64, seq=16, new=False, tied=False,
                 freqs_method=True):
        super().__init__()
        self.seq, self.head_dim = seq, 8
        self.tok_embeddings = nn.Embedding(vocab, d)
        self.layers = nn.ModuleDict({str(i): _TitanBlock(d, 16, new, seq) for i in range(layers)})
        self.norm = nn.RMSNorm(d)
        head = nn.Linear(d, vocab, bias=False)
        if new:
            self.lm_head = head
        else:
            self.output = head
            freqs = _freqs(self.head_dim, seq)
            self.register_buffer("freqs_cis", freqs, persistent=False)
        if tied:
            self.tok_embeddings.weight = head.weight
        if not freqs_method:
            self._precompute_freqs_cis = None

    def _precompute_freqs_cis(self):
        return _freqs(self.head_dim, self.seq)


def _titan(meta=True, **kw):
    if meta:
        with torch.device("meta"):
            return TitanLike(**kw)
    return TitanLike(**kw)


def _titan_law(name, d=32, layers=3, depth_init=True):
    """(std, bound) of torchtitan's law for the tensors of TitanLike, from the formulas."""
    if name.endswith("norm.weight"):
        return 0.0, (1.0, 1.0)
    if name in ("output.weight", "lm_head.weight"):
        s = d ** -0.5
        return truncated_std(s, -3 * s, 3 * s), (-3 * s, 3 * s)
    if name == "tok_embeddings.weight":
        return 1.0, None
    i = int(name.split(".")[1])
    if name.endswith(("wo.weight", "w2.weight", "w3.weight")):
        s = 0.02 / math.sqrt(2 * (i + 1)) if depth_init else 0.02 / math.sqrt(2 * layers)
        return s, (-2.0, 2.0)
    return 0.02, (-2.0, 2.0)


@pytest.mark.parametrize("new", [False, True], ids=["titan-0.2-names", "titan-0.3-names"])
@pytest.mark.parametrize("depth_init", [True, False])
def test_torchtitan_plan_and_values_follow_the_formulas(new, depth_init):
    scheme = ("torchtitan", {"depth_init": depth_init})
    model = _titan(new=new)
    rows = _rows(model, scheme)
    materialize(model, "cpu", seed=5, scheme=scheme)
    reference = _titan(meta=False, new=new)
    for name, t in _tensors(model).items():
        row = rows[name]
        if row["role"] == "buffer":
            assert row["law"].startswith("computed: RoPE"), row
            torch.testing.assert_close(t, _tensors(reference)[name], rtol=0, atol=0)
            continue
        std, bounds = _titan_law(name, depth_init=depth_init)
        assert row["std"] == pytest.approx(std, rel=1e-9), (name, row)
        assert row["bounds"] == (pytest.approx(bounds) if bounds else None), (name, row)
        if std == 0.0:
            assert torch.equal(t, torch.ones_like(t)), name
            continue
        assert _std_ok(t, std), (name, t.std().item(), std)
        assert abs(t.double().mean().item()) <= 6 * std / math.sqrt(t.numel()), name
        if bounds is not None:
            assert bounds[0] <= t.min().item() and t.max().item() <= bounds[1], name


def test_torchtitan_law_texts_and_roles_in_describe():
    table = describe(_titan(new=True), scheme="torchtitan")
    rows = {row["tensor"]: row for row in table}
    assert rows["layers.0.attention.qkv_linear.wqkv.weight"]["law"] == \
        "trunc_normal(mean=0, std=0.02, a=-2, b=2)"
    assert rows["layers.0.attention.qkv_linear.wqkv.weight"]["role"] == "attn_qkv"
    assert rows["layers.1.feed_forward.w3.weight"]["law"] == \
        "trunc_normal(mean=0, std=0.01, a=-2, b=2)"
    assert rows["layers.1.feed_forward.w3.weight"]["role"] == "mlp_up"
    assert rows["lm_head.weight"]["law"] == \
        "trunc_normal(mean=0, std=0.1768, a=-0.5303, b=0.5303)"
    assert rows["tok_embeddings.weight"]["law"] == "normal(mean=0, std=1)"
    assert rows["layers.2.attention.rope.cache"]["law"] == \
        "computed: RoPE cache: _Rope._precompute_cache()"
    text = str(table)
    assert "lm_head.weight" in text and "readout" in text and "complex64" in text
    old = {row["tensor"]: row for row in describe(_titan(), scheme="torchtitan")}
    assert old["freqs_cis"]["law"] == "computed: RoPE freqs_cis: TitanLike._precompute_freqs_cis()"
    assert old["output.weight"]["role"] == "readout"
    assert old["layers.0.attention.wk.weight"]["role"] == "attn_k"


def test_torchtitan_n_layers_and_dim_options():
    rows = _rows(_titan(), ("torchtitan", {"depth_init": False, "n_layers": 8, "dim": 16}))
    assert rows["layers.0.attention.wo.weight"]["std"] == pytest.approx(0.02 / 4)
    assert rows["output.weight"]["bounds"] == pytest.approx((-0.75, 0.75))
    # n_layers is not used with depth_init (as in torchtitan)
    rows = _rows(_titan(), ("torchtitan", {"n_layers": 8}))
    assert rows["layers.2.feed_forward.w2.weight"]["std"] == pytest.approx(0.02 / math.sqrt(6))


def test_torchtitan_reads_model_args_and_config():
    model = _titan()
    model.model_args = types.SimpleNamespace(dim=64, n_layers=12)
    rows = _rows(model, ("torchtitan", {"depth_init": False}))
    assert rows["layers.0.attention.wo.weight"]["std"] == pytest.approx(0.02 / math.sqrt(24))
    assert rows["output.weight"]["bounds"] == pytest.approx((-3 / 8, 3 / 8))
    model = _titan(new=True)
    model.config = types.SimpleNamespace(dim=16, layers=[None] * 2)
    rows = _rows(model, ("torchtitan", {"depth_init": False}))
    assert rows["layers.0.attention.wo.weight"]["std"] == pytest.approx(0.01)
    assert rows["lm_head.weight"]["bounds"] == pytest.approx((-0.75, 0.75))


@pytest.mark.parametrize("new", [False, True])
def test_torchtitan_tied_embedding_takes_the_readout_law(new):
    model = _titan(new=new, tied=True)
    rows = _rows(model, "torchtitan")
    s = 32 ** -0.5
    assert rows["tok_embeddings.weight"]["bounds"] == pytest.approx((-3 * s, 3 * s))
    materialize(model, "cpu", seed=1, scheme="torchtitan")
    head = model.lm_head if new else model.output
    assert model.tok_embeddings.weight is head.weight
    w = model.tok_embeddings.weight.detach()
    assert w.abs().max().item() <= 3 * s and _std_ok(w, truncated_std(s, -3 * s, 3 * s))


def test_torchtitan_init_module_equals_materialize():
    built = init_module(_titan(meta=False, new=True), seed=7, scheme="torchtitan")
    made = materialize(_titan(new=True), "cpu", seed=7, scheme="torchtitan")
    theirs = _tensors(made)
    for name, t in _tensors(built).items():
        assert torch.equal(t, theirs[name]), name


def test_torchtitan_refuses_a_rope_buffer_it_cannot_recompute():
    with pytest.raises(ValueError, match=r"freqs_cis.*_precompute_freqs_cis"):
        materialize(_titan(freqs_method=False), "cpu", scheme="torchtitan")
    model = _titan(freqs_method=False)
    materialize(model, "cpu", scheme=("torchtitan", {"overrides": {"freqs_cis": "zeros_"}}))
    assert torch.equal(model.freqs_cis, torch.zeros_like(model.freqs_cis))


def test_torchtitan_refuses_parameters_without_a_role():
    model = _titan()
    model.extra = nn.Linear(4, 4, bias=False)
    with pytest.raises(ValueError, match=r"'torchtitan' finds no role for \['extra.weight'\]"):
        describe(model, scheme="torchtitan")
    rows = _rows(model, ("torchtitan", {"roles": {"extra.weight": "mlp_gate"}}))
    assert rows["extra.weight"]["std"] == pytest.approx(0.02)


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"depth_init": "yes"}, TypeError, "depth_init"),
    ({"depth_init": 1}, TypeError, "depth_init"),
    ({"n_layers": 0}, ValueError, "n_layers"),
    ({"n_layers": 2.0}, TypeError, "n_layers"),
    ({"dim": -4}, ValueError, "dim"),
    ({"dim": True}, TypeError, "dim"),
    ({"roles": ["wo"]}, TypeError, "roles"),
    ({"depth": True}, ValueError, "no option 'depth'"),
])
def test_torchtitan_option_errors_name_the_option(options, error, match):
    model = _titan()
    with pytest.raises(error, match=match):
        materialize(model, "cpu", scheme=("torchtitan", options))
    assert all(t.is_meta for t in _tensors(model).values())


# --------------------------------------------------- LitGPT-named models (no package)


class _LitRMSNorm(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))


class _LitAttention(nn.Module):
    def __init__(self, d, bias):
        super().__init__()
        self.qkv = nn.Linear(d, 2 * d, bias=bias)
        self.proj = nn.Linear(d, d, bias=bias)


class _LitLlamaMLP(nn.Module):
    def __init__(self, d, bias):
        super().__init__()
        self.fc_1, self.fc_2 = nn.Linear(d, 3 * d, bias=bias), nn.Linear(d, 3 * d, bias=bias)
        self.proj = nn.Linear(3 * d, d, bias=bias)


class _LitNeoxMLP(nn.Module):
    def __init__(self, d, bias):
        super().__init__()
        self.fc, self.proj = nn.Linear(d, 4 * d, bias=bias), nn.Linear(4 * d, d, bias=bias)


class _LitBlock(nn.Module):
    def __init__(self, d, bias, neox):
        super().__init__()
        norm = (lambda: nn.LayerNorm(d)) if neox else (lambda: _LitRMSNorm(d))
        self.norm_1, self.attn, self.norm_2 = norm(), _LitAttention(d, bias), norm()
        self.mlp = _LitNeoxMLP(d, bias) if neox else _LitLlamaMLP(d, bias)


class LitLike(nn.Module):
    """LitGPT's GPT names: lm_head, transformer.wte/h/ln_f, cos/sin by rope_cache()."""

    def __init__(self, d=32, layers=3, vocab=64, seq=16, bias=True, neox=False, rope=True):
        super().__init__()
        self.config = types.SimpleNamespace(n_embd=d, n_layer=layers, block_size=seq)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(vocab, d),
            "h": nn.ModuleList(_LitBlock(d, bias, neox) for _ in range(layers)),
            "ln_f": nn.LayerNorm(d) if neox else _LitRMSNorm(d)})
        cos, sin = self._rope()
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        if not rope:
            self.rope_cache = None

    def _rope(self, device=None):
        theta = 1.0 / (10000 ** (torch.arange(0, 8, 2, device=device).float() / 8))
        angles = torch.outer(torch.arange(self.config.block_size, device=device), theta)
        angles = angles.repeat(1, 2)
        return torch.cos(angles), torch.sin(angles)

    def rope_cache(self, device=None):
        return self._rope(device)


def _lit(meta=True, **kw):
    if meta:
        with torch.device("meta"):
            return LitLike(**kw)
    return LitLike(**kw)


def _lit_std(name, d=32, layers=3, neox=False, method="pretrain"):
    """The std of LitGPT's law for a weight of LitLike, from the formulas."""
    if method == "init_weights":
        return 0.02
    small, output = math.sqrt(2 / (5 * d)), 1 / math.sqrt(d) / layers
    if name.endswith("attn.proj.weight") or (name.endswith("mlp.proj.weight") and not neox):
        return output
    return small


@pytest.mark.parametrize("neox", [False, True], ids=["llama-mlp", "neox-mlp"])
@pytest.mark.parametrize("method", ["pretrain", "init_weights"])
def test_litgpt_plan_and_values_follow_the_formulas(neox, method):
    scheme = ("litgpt", {"method": method})
    model = _lit(neox=neox)
    rows = _rows(model, scheme)
    materialize(model, "cpu", seed=3, scheme=scheme)
    reference = _tensors(_lit(meta=False, neox=neox))
    for name, t in _tensors(model).items():
        row = rows[name]
        if name in ("cos", "sin"):
            assert row["law"] == f"computed: RoPE {name}: LitLike.rope_cache()"
            torch.testing.assert_close(t, reference[name], rtol=0, atol=0)
        elif name.endswith("bias"):
            assert torch.equal(t, torch.zeros_like(t)), name
        elif t.dim() == 1:  # norm gains
            assert torch.equal(t, torch.ones_like(t)), name
        else:
            std = _lit_std(name, neox=neox, method=method)
            assert row["std"] == pytest.approx(std, rel=1e-12), (name, row)
            assert row["law"].startswith("normal(mean=0"), row
            assert _std_ok(t, std), (name, t.std().item(), std)


def test_litgpt_output_projection_is_half_of_neox_wang_init():
    rows = _rows(_lit(d=64, layers=4), "litgpt")
    neox = {"roles": {"*.fc_1.weight": "mlp_gate", "*.fc_2.weight": "mlp_up"},
            "overrides": {"cos": "zeros_", "sin": "zeros_"}}  # neox can't recompute them
    wang = _rows(_lit(d=64, layers=4), ("neox", neox))
    ours = rows["transformer.h.0.attn.proj.weight"]["std"]
    assert ours == pytest.approx(1 / (8 * 4))
    assert wang["transformer.h.0.attn.proj.weight"]["std"] == pytest.approx(2 * ours)
    assert rows["transformer.h.0.mlp.fc_2.weight"]["std"] == pytest.approx(math.sqrt(2 / 320))
    assert [rows[f"transformer.h.0.mlp.{n}.weight"]["role"] for n in ("fc_1", "fc_2", "proj")] \
        == ["mlp_gate", "mlp_up", "mlp_out"]
    assert rows["transformer.h.0.attn.proj.weight"]["role"] == "attn_out"
    assert rows["cos"]["role"] == "buffer" and rows["lm_head.weight"]["role"] == "readout"
    assert _rows(_lit(neox=True), "litgpt")["transformer.h.0.mlp.fc.weight"]["role"] == "mlp_in"


def test_litgpt_n_embd_and_n_layer_options():
    rows = _rows(_lit(), ("litgpt", {"n_embd": 50, "n_layer": 5}))
    assert rows["transformer.h.0.mlp.proj.weight"]["std"] == pytest.approx(1 / math.sqrt(50) / 5)
    assert rows["lm_head.weight"]["std"] == pytest.approx(math.sqrt(2 / 250))
    model = _lit()
    del model.config
    rows = _rows(model, "litgpt")  # read off the model: wte's width, its blocks
    assert rows["transformer.h.0.attn.proj.weight"]["std"] == pytest.approx(1 / math.sqrt(32) / 3)


def test_litgpt_tied_lm_head_and_wte_and_padding_row():
    model = _lit()
    model.transformer.wte = nn.Embedding(64, 32, padding_idx=0, device="meta")
    model.transformer.wte.weight = model.lm_head.weight
    materialize(model, "cpu", seed=2, scheme="litgpt")
    assert model.transformer.wte.weight is model.lm_head.weight
    model = _lit()
    model.transformer.wte = nn.Embedding(64, 32, padding_idx=0, device="meta")
    materialize(model, "cpu", seed=2, scheme="litgpt")
    assert model.transformer.wte.weight[0].abs().sum() > 0  # litgpt's normal_ draws it too


def test_litgpt_refuses_what_it_gives_no_law():
    model = _lit()
    router = nn.Module()
    router.weight = nn.Parameter(torch.empty(4, 32, device="meta"))
    model.transformer.h[0].mlp.gate = router
    with pytest.raises(ValueError, match=r"'litgpt' has no rule for "
                                         r"\['transformer.h.0.mlp.gate.weight'\]"):
        materialize(model, "cpu", scheme="litgpt")
    with pytest.raises(ValueError, match=r"\['cos', 'sin'\].*rope_cache"):
        materialize(_lit(rope=False), "cpu", scheme="litgpt")


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"method": "tinyllama"}, ValueError, "method"),
    ({"method": 1}, TypeError, "method"),
    ({"n_embd": 0}, ValueError, "n_embd"),
    ({"n_embd": True}, TypeError, "n_embd"),
    ({"n_layer": 1.5}, TypeError, "n_layer"),
    ({"roles": {}}, ValueError, "no option 'roles'"),
])
def test_litgpt_option_errors_name_the_option(options, error, match):
    model = _lit()
    with pytest.raises(error, match=match):
        materialize(model, "cpu", scheme=("litgpt", options))
    assert all(t.is_meta for t in _tensors(model).values())


def test_registered_with_their_sources():
    import gpuinit.schemes.litgpt as lit
    import gpuinit.schemes.torchtitan as titan

    assert {"torchtitan", "litgpt"} <= set(scheme_names())
    assert "torchtitan/models/llama3" in SCHEMES["torchtitan"].source
    assert "litgpt/pretrain.py initialize_weights" in SCHEMES["litgpt"].source
    assert "Transformer.init_weights" in titan.__doc__ and "_output_linear_init" in titan.__doc__
    assert "initialize_weights" in lit.__doc__ and "GPT._init_weights" in lit.__doc__


# ------------------------------------------ against the codebases themselves (peers)


def _agree(name, ours, theirs, bounds):
    """Check one tensor's law, ours vs theirs, each a list over seeds."""
    a = torch.stack([t.double().flatten() for t in ours]).flatten()
    b = torch.stack([t.double().flatten() for t in theirs]).flatten()
    if b.std().item() == 0.0 or a.std().item() == 0.0:
        for x, y in zip(ours, theirs, strict=True):
            assert torch.equal(x, y), f"{name}: constants differ"
        return {"name": name, "constant": b[0].item()}
    sa, sb = a.std().item(), b.std().item()
    se_mean = math.sqrt(sa ** 2 / a.numel() + sb ** 2 / b.numel())
    assert abs(a.mean().item() - b.mean().item()) <= 6 * se_mean, f"{name}: means differ"
    se_ratio = math.sqrt(1 / (2 * a.numel()) + 1 / (2 * b.numel()))
    assert abs(sa / sb - 1) <= 6 * se_ratio, f"{name}: stds {sa} vs theirs {sb}"
    if bounds is not None:
        low, high = bounds
        for label, x in (("ours", a), ("theirs", b)):
            assert low <= x.min().item() and x.max().item() <= high, f"{name}: {label} out"
            if max(-low, high) <= 5 * sb:  # a truncation that bites: both reach near it
                assert x.abs().max().item() >= 0.9 * max(-low, high), f"{name}: {label}"
    p = None
    if a.numel() <= KS_MAX_VALUES:
        p = stats.ks_2samp(a.numpy(), b.numpy()).pvalue
        assert p > 1e-4, f"{name}: KS p={p}"
    return {"name": name, "std": sa, "theirs": sb, "p": p}


def _compare(build_meta, reference, scheme, exact_buffers=False):
    """Materialize build_meta() by ``scheme`` and reference(seed) over SEEDS; compare: every
    parameter's law agrees (``_agree``), buffers are close (equal if ``exact_buffers``)."""
    plan = {row["tensor"]: row for row in describe(build_meta(), scheme=scheme)}
    ours, theirs = [], []
    for seed in SEEDS:
        ours.append(_tensors(materialize(build_meta(), "cpu", seed=seed, scheme=scheme)))
        theirs.append(_tensors(reference(seed)))
    assert set(ours[0]) == set(theirs[0])
    buffers = {n for n, _ in build_meta().named_buffers()}
    results = []
    for name in theirs[0]:
        if name in buffers:
            same = torch.equal if exact_buffers else torch.allclose
            for o, t in zip(ours, theirs, strict=True):
                assert o[name].dtype == t[name].dtype and same(o[name], t[name]), name
            results.append({"name": name, "buffer": "equal" if exact_buffers else "allclose"})
            continue
        results.append(_agree(name, [o[name] for o in ours], [t[name] for t in theirs],
                              plan[name]["bounds"]))
    return results


def _titan_config(fused, tied):
    from torchtitan.models import llama3 as L
    from torchtitan.models.common import (
        ComplexRoPE,
        Embedding,
        Linear,
        RMSNorm,
        compute_ffn_hidden_dim,
    )
    from torchtitan.models.llama3 import Llama3Model

    dim, n_heads, vocab = 64, 4, 300
    return Llama3Model.Config(
        dim=dim, vocab_size=vocab, enable_weight_tying=tied,
        tok_embeddings=Embedding.Config(
            num_embeddings=vocab, embedding_dim=dim,
            param_init=L._EMBEDDING_SKIP_INIT if tied else L._EMBEDDING_INIT),
        norm=RMSNorm.Config(normalized_shape=dim, param_init=L._NORM_INIT),
        lm_head=Linear.Config(in_features=dim, out_features=vocab,
                              param_init=L._output_linear_init(dim)),
        layers=L._build_llama3_layers(
            fuse_qkv=fused, n_layers=3, dim=dim, n_heads=n_heads, n_kv_heads=2,
            hidden_dim=compute_ffn_hidden_dim(dim, multiple_of=32),
            rope=ComplexRoPE.Config(dim=dim // n_heads, max_seq_len=96, theta=500000,
                                    scaling="llama", original_max_position_embeddings=32),
            attn_backend="flex"))


@pytest.mark.peers
@pytest.mark.parametrize(("fused", "tied"), [(True, False), (False, True)],
                         ids=["fused-qkv", "separate-qkv-tied"])
def test_torchtitan_matches_llama3_init_states(fused, tied):
    pytest.importorskip("torchtitan")
    config = _titan_config(fused, tied)

    def meta():
        with torch.device("meta"):
            return config.build()

    def reference(seed):
        model = meta()  # as torchtitan's trainer: build on meta, to_empty, init_states
        model.to_empty(device="cpu")
        torch.manual_seed(seed)
        with torch.no_grad():
            model.init_states(buffer_device=None)
        return model

    results = _compare(meta, reference, "torchtitan")
    names = {r["name"] for r in results}
    assert "layers.2.attention.rope.cache" in names
    assert ("lm_head.weight" in names) != tied  # tied: one tensor, by its first name
    if tied:
        model = materialize(meta(), "cpu", seed=0, scheme="torchtitan")
        assert model.tok_embeddings.weight is model.lm_head.weight
        assert "tok_embeddings.weight" in names  # the tied tensor's first name
    else:
        stds = {r["name"]: r["theirs"] for r in results if "theirs" in r}
        assert stds["tok_embeddings.weight"] == pytest.approx(1.0, rel=0.02)


def _litgpt_configs():
    from litgpt.config import Config

    base = {"block_size": 48, "vocab_size": 300, "padded_vocab_size": 320, "n_head": 4,
            "n_embd": 64}
    return {
        "llama": Config(**base, n_layer=3, n_query_groups=2, bias=False, rotary_percentage=1.0,
                        mlp_class_name="LLaMAMLP", intermediate_size=160,
                        norm_class_name="RMSNorm", parallel_residual=False),
        "pythia": Config(**base, n_layer=2, bias=True, mlp_class_name="GptNeoxMLP",
                         intermediate_size=256, norm_class_name="LayerNorm",
                         rotary_percentage=0.25, parallel_residual=True),
        "moe": Config(**base, n_layer=2, n_query_groups=4, bias=True, attn_bias=True,
                      rotary_percentage=1.0, mlp_class_name="LLaMAMoE", intermediate_size=96,
                      moe_intermediate_size=96, n_expert=3, n_expert_per_token=2,
                      norm_class_name="RMSNorm", parallel_residual=False),
    }


@pytest.mark.peers
@pytest.mark.parametrize("family", ["llama", "pythia", "moe"])
def test_litgpt_matches_pretrain_initialize_weights(family):
    pytest.importorskip("litgpt")
    from litgpt.model import GPT
    from litgpt.pretrain import initialize_weights

    config = _litgpt_configs()[family]
    fabric = types.SimpleNamespace(strategy=None)  # not FSDP: reset_parameters(model) runs

    def meta():
        with torch.device("meta"):
            return GPT(config)

    def reference(seed):
        torch.manual_seed(seed)
        model = GPT(config)
        initialize_weights(fabric, model, n_layer=config.n_layer, n_embd=config.n_embd)
        return model

    results = _compare(meta, reference, "litgpt")
    stds = {r["name"]: r["theirs"] for r in results if "theirs" in r}
    small, output = math.sqrt(2 / 5 / 64), 1 / 8 / config.n_layer
    scaled_mlp = family != "pythia"
    for name, std in stds.items():
        is_output = name.endswith("attn.proj.weight") or (
            scaled_mlp and name.endswith(".proj.weight"))
        assert std == pytest.approx(output if is_output else small, rel=0.1), name
    assert {r["name"] for r in results} >= {"cos", "sin", "lm_head.weight"}


@pytest.mark.peers
def test_litgpt_matches_gpt_init_weights():
    pytest.importorskip("litgpt")
    from litgpt.model import GPT

    config = _litgpt_configs()["pythia"]

    def meta():
        with torch.device("meta"):
            return GPT(config)

    def reference(seed):
        torch.manual_seed(seed)
        model = GPT(config)
        model.apply(model._init_weights)
        return model

    results = _compare(meta, reference, ("litgpt", {"method": "init_weights"}))
    assert all(r["theirs"] == pytest.approx(0.02, rel=0.1) for r in results if "theirs" in r)


def test_agreement_helper_detects_a_wrong_law():
    """The peers' comparison must fail for a law off by 10% in std (so a pass means
    something): 4 seeds of 64x192 values."""
    gen = np.random.default_rng(0)
    theirs = [torch.from_numpy(gen.normal(0, 0.02, (64, 192))) for _ in SEEDS]
    ours = [torch.from_numpy(gen.normal(0, 0.022, (64, 192))) for _ in SEEDS]
    with pytest.raises(AssertionError, match="stds"):
        _agree("w", ours, theirs, None)
    same = [torch.from_numpy(gen.normal(0, 0.02, (64, 192))) for _ in SEEDS]
    assert _agree("w", same, theirs, (-2.0, 2.0))["p"] > 1e-4
