"""scheme="megatron" on Megatron-core's own module names and classes, with no roles option.

The main suite builds torch models whose module names and class names are Megatron-core's
(megatron/core/models/gpt/gpt_model.py with the local and the Transformer Engine layer
specs: VocabParallelEmbedding, ColumnParallelLinear, RowParallelLinear,
TELayerNormColumnParallelLinear with its fused layer_norm_weight/_bias) and checks the
laws against megatron/core/utils.py's init_method_normal (N(0, σ)) and
scaled_init_method_normal (N(0, σ/√(2L))), and the options read off a
``TransformerConfig``.  Tests marked ``peers`` build a tiny real ``GPTModel`` with
megatron-core (CPU initialization, a one-process gloo group) and compare it, law by law
over several seeds, with gpuinit's.
"""

from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
from gpuinit.schemes import analyze  # noqa: E402
from gpuinit.torch import describe, init_module, materialize, verify  # noqa: E402

from .helpers import one_process_group  # noqa: E402

# ----------------------------------------------------------------------------- mimics


class VocabParallelEmbedding(nn.Module):
    """megatron.core.tensor_parallel.VocabParallelEmbedding: a weight, no nn.Embedding."""

    def __init__(self, vocab, d):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab, d))


class ColumnParallelLinear(nn.Module):
    def __init__(self, d_in, d_out, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))
        self.bias = nn.Parameter(torch.empty(d_out)) if bias else None


class RowParallelLinear(ColumnParallelLinear):
    pass


class TELayerNormColumnParallelLinear(ColumnParallelLinear):
    """Megatron-core's TE layer spec: the input norm fused into linear_qkv / linear_fc1."""

    def __init__(self, d_in, d_out, bias=True):
        super().__init__(d_in, d_out, bias)
        self.layer_norm_weight = nn.Parameter(torch.empty(d_in))
        self.layer_norm_bias = nn.Parameter(torch.empty(d_in))


class TERowParallelLinear(ColumnParallelLinear):
    pass


class FusedLayerNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.empty(d)), nn.Parameter(torch.empty(d))


class IdentityOp(nn.Module):
    pass


class TransformerConfig:
    """A stand-in for Megatron-core's config, living (by name) where the real one does."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


TransformerConfig.__module__ = "megatron.core.transformer.transformer_config"


class _Module(nn.Module):
    pass


def megatron_gpt(d=32, layers=2, vocab=96, positions=16, te=False, bias=True, config=None):
    """GPTModel's names: embedding.word_embeddings / position_embeddings,
    decoder.layers.N.{input_layernorm, self_attention.linear_qkv/linear_proj,
    pre_mlp_layernorm, mlp.linear_fc1/linear_fc2}, decoder.final_layernorm, output_layer;
    with ``te`` the input norms fused into linear_qkv and linear_fc1."""
    def layer():
        b = _Module()
        qkv = TELayerNormColumnParallelLinear if te else ColumnParallelLinear
        row = TERowParallelLinear if te else RowParallelLinear
        b.input_layernorm = IdentityOp() if te else FusedLayerNorm(d)
        b.self_attention = _Module()
        b.self_attention.linear_qkv = qkv(d, 3 * d, bias)
        b.self_attention.linear_proj = row(d, d, bias)
        b.pre_mlp_layernorm = IdentityOp() if te else FusedLayerNorm(d)
        b.mlp = _Module()
        b.mlp.linear_fc1 = qkv(d, 4 * d, bias)
        b.mlp.linear_fc2 = row(4 * d, d, bias)
        return b

    model = _Module()
    model.embedding = _Module()
    model.embedding.word_embeddings = VocabParallelEmbedding(vocab, d)
    model.embedding.position_embeddings = nn.Embedding(positions, d)
    model.decoder = _Module()
    model.decoder.layers = nn.ModuleList([layer() for _ in range(layers)])
    model.decoder.final_layernorm = FusedLayerNorm(d)
    model.output_layer = ColumnParallelLinear(d, vocab, bias=False)
    if config is not None:
        model.config = config
    return model


def _meta(**kwargs):
    with torch.device("meta"):
        return megatron_gpt(**kwargs)


def _stds(model, scheme="megatron"):
    return {row["tensor"]: row for row in describe(model, scheme=scheme)}


LOCAL_ROLES = {
    "embedding.word_embeddings.weight": "embedding",
    "embedding.position_embeddings.weight": "pos_embedding",
    "decoder.layers.0.input_layernorm.weight": "norm",
    "decoder.layers.0.input_layernorm.bias": "bias",
    "decoder.layers.0.self_attention.linear_qkv.weight": "attn_qkv",
    "decoder.layers.0.self_attention.linear_qkv.bias": "bias",
    "decoder.layers.1.self_attention.linear_proj.weight": "attn_out",
    "decoder.layers.0.pre_mlp_layernorm.weight": "norm",
    "decoder.layers.0.mlp.linear_fc1.weight": "mlp_in",
    "decoder.layers.1.mlp.linear_fc2.weight": "mlp_out",
    "decoder.final_layernorm.weight": "norm",
    "output_layer.weight": "readout",
}
TE_ROLES = {
    "decoder.layers.0.self_attention.linear_qkv.weight": "attn_qkv",
    "decoder.layers.0.self_attention.linear_qkv.layer_norm_weight": "norm",
    "decoder.layers.0.self_attention.linear_qkv.layer_norm_bias": "bias",
    "decoder.layers.0.self_attention.linear_proj.weight": "attn_out",
    "decoder.layers.0.mlp.linear_fc1.weight": "mlp_in",
    "decoder.layers.0.mlp.linear_fc1.layer_norm_weight": "norm",
    "decoder.layers.0.mlp.linear_fc2.weight": "mlp_out",
}


# ----------------------------------------------------------------------------- roles


@pytest.mark.parametrize("te, expected", [(False, LOCAL_ROLES), (True, TE_ROLES)])
def test_megatron_cores_names_and_classes_have_their_roles(te, expected):
    infos = analyze(megatron_gpt(te=te))
    assert {name: infos[name].role for name in expected} == expected
    if te:
        fused = infos["decoder.layers.0.self_attention.linear_qkv.layer_norm_bias"]
        assert fused.module_role == "norm"
        assert infos["decoder.layers.0.self_attention.linear_qkv.bias"].module_role == "attn_qkv"


def test_multi_latent_and_cross_attention_projections_have_roles():
    attention = _Module()
    for name in ("linear_q_proj", "linear_q_down_proj", "linear_q_up_proj",
                 "linear_kv_down_proj", "linear_kv_up_proj", "linear_q", "linear_kv",
                 "linear_proj"):
        setattr(attention, name, ColumnParallelLinear(8, 8, bias=False))
    model = _Module()
    model.layers = nn.ModuleList([_Module()])
    model.layers[0].self_attention = attention
    roles = {n.split(".")[-2]: i.role for n, i in analyze(model).items()}
    assert roles == {"linear_q_proj": "attn_q", "linear_q_down_proj": "attn_q",
                     "linear_q_up_proj": "attn_q", "linear_kv_down_proj": "attn_qkv",
                     "linear_kv_up_proj": "attn_qkv", "linear_q": "attn_q",
                     "linear_kv": "attn_qkv", "linear_proj": "attn_out"}


# ----------------------------------------------------------------------------- laws


@pytest.mark.parametrize("te", [False, True])
@pytest.mark.parametrize("layers", [1, 3])
def test_the_plan_is_init_method_normal_and_scaled_init_method_normal(te, layers):
    rows = _stds(megatron_gpt(te=te, layers=layers))
    sigma, scaled = 0.02, 0.02 / math.sqrt(2.0 * layers)
    for name, row in rows.items():
        role = row["role"]
        if role in ("norm", "bias"):
            want = 1.0 if role == "norm" else 0.0
            assert row["law"] == f"constant({want:g})", name
        elif role in ("attn_out", "mlp_out"):
            assert row["std"] == pytest.approx(scaled, rel=1e-12), name
        else:
            assert role in ("embedding", "pos_embedding", "attn_qkv", "mlp_in", "readout")
            assert row["std"] == pytest.approx(sigma, rel=1e-12), name


def test_options_still_set_the_laws():
    rows = _stds(megatron_gpt(te=True), ("megatron", {
        "std": 0.01, "embedding_std": 0.5, "num_layers": 8, "multiplier": 1.0,
        "zero_centered_gamma": True}))
    assert rows["embedding.word_embeddings.weight"]["std"] == pytest.approx(0.5)
    assert rows["embedding.position_embeddings.weight"]["std"] == pytest.approx(0.5)
    assert rows["output_layer.weight"]["std"] == pytest.approx(0.01)
    assert rows["decoder.layers.1.mlp.linear_fc2.weight"]["std"] == pytest.approx(0.01 / 8 ** .5)
    assert rows["decoder.layers.0.mlp.linear_fc1.layer_norm_weight"]["law"] == "constant(0)"
    assert rows["decoder.final_layernorm.weight"]["law"] == "constant(0)"


def _config(**fields):
    base = {"init_method_std": 0.02, "embedding_init_method_std": 0.02, "num_layers": 2,
            "is_hybrid_model": False, "layernorm_zero_centered_gamma": False}
    return TransformerConfig(**{**base, **fields})


def test_a_megatron_config_gives_the_options_left_unset():
    # A pipeline stage holding 2 of 12 layers: Megatron scales by the config's 12.
    config = _config(init_method_std=0.006, embedding_init_method_std=0.1, num_layers=12)
    rows = _stds(megatron_gpt(layers=2, config=config))
    assert rows["decoder.layers.0.self_attention.linear_qkv.weight"]["std"] == pytest.approx(0.006)
    assert rows["decoder.layers.0.self_attention.linear_proj.weight"]["std"] == pytest.approx(
        0.006 / math.sqrt(24))
    assert rows["embedding.word_embeddings.weight"]["std"] == pytest.approx(0.1)
    assert rows["output_layer.weight"]["std"] == pytest.approx(0.006)  # init_method, not σₑ
    # Options given win over the config; an embedding std equal to the config's std
    # follows the std option, as Megatron derives it.
    rows = _stds(megatron_gpt(config=_config(init_method_std=0.05,
                                             embedding_init_method_std=0.05)),
                 ("megatron", {"std": 0.01, "num_layers": 4}))
    assert rows["embedding.word_embeddings.weight"]["std"] == pytest.approx(0.01)
    assert rows["decoder.layers.0.mlp.linear_fc2.weight"]["std"] == pytest.approx(
        0.01 / math.sqrt(8))


def test_hybrid_models_and_zero_centered_gamma_come_from_the_config():
    config = _config(is_hybrid_model=True, layernorm_zero_centered_gamma=True, num_layers=3)
    rows = _stds(megatron_gpt(te=True, config=config))
    assert rows["decoder.layers.0.mlp.linear_fc2.weight"]["std"] == pytest.approx(0.02 / 3 ** .5)
    assert rows["decoder.layers.0.mlp.linear_fc1.layer_norm_weight"]["law"] == "constant(0)"
    assert rows["decoder.layers.0.mlp.linear_fc1.layer_norm_bias"]["law"] == "constant(0)"


def test_a_config_that_is_not_megatrons_is_not_read():
    class Config:  # e.g. a transformers config with its own num_layers
        init_method_std, num_layers, is_hybrid_model = 0.5, 40, True

    rows = _stds(megatron_gpt(layers=2, config=Config()))
    assert rows["decoder.layers.0.mlp.linear_fc2.weight"]["std"] == pytest.approx(0.01)


@pytest.mark.parametrize("field, value, error", [
    ("init_method_std", -0.02, ValueError), ("num_layers", 2.5, TypeError),
    ("is_hybrid_model", "yes", TypeError), ("init_method_std", math.nan, ValueError),
])
def test_a_bad_config_value_is_refused_naming_it_before_anything_is_written(field, value,
                                                                           error):
    model = _meta(config=_config(**{field: value}))
    with pytest.raises(error, match=f"model.config.{field}"):
        materialize(model, "cpu", scheme="megatron")
    assert all(p.is_meta for p in model.parameters())


@pytest.mark.parametrize("te", [False, True])
def test_materialized_values_follow_the_laws_and_verify(te):
    model = materialize(_meta(te=te, d=64, layers=2, vocab=512), "cpu", seed=5,
                        scheme="megatron")
    params = dict(model.named_parameters())
    for name, row in _stds(model).items():
        values = params[name].detach()
        if row["role"] == "norm":
            assert torch.equal(values, torch.ones_like(values)), name
        elif row["role"] == "bias":
            assert torch.equal(values, torch.zeros_like(values)), name
        else:
            n = values.numel()
            assert abs(values.std().item() / row["std"] - 1) < 6 * math.sqrt(0.5 / n), name
    report = verify(model, "megatron", seed=5)
    assert report.ok, str(report)
    assert all(row["exact"] for row in report)
    with torch.no_grad():
        params["decoder.layers.1.self_attention.linear_proj.weight"].mul_(2 ** 0.5)
    flagged = [row["tensor"] for row in verify(model, "megatron").flagged]
    assert flagged == ["decoder.layers.1.self_attention.linear_proj.weight"]


def test_init_module_on_built_megatron_names_needs_no_roles_option():
    model = init_module(megatron_gpt(te=True), seed=1, scheme="megatron")
    qkv = model.decoder.layers[0].self_attention.linear_qkv
    assert torch.equal(qkv.layer_norm_weight, torch.ones(32))
    assert torch.equal(qkv.layer_norm_bias, torch.zeros(32))
    assert verify(model, "megatron").ok


# ----------------------------------------------------------------------------- peers


def _megatron_core():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from megatron.core import parallel_state
            from megatron.core.models.gpt import GPTModel
            from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
            from megatron.core.transformer.transformer_config import TransformerConfig
    except Exception as exc:  # not installed, or not importable with this torch
        pytest.skip(f"megatron-core does not import here: {type(exc).__name__}: {exc}")
    return parallel_state, GPTModel, get_gpt_layer_local_spec, TransformerConfig


@pytest.fixture(scope="module")
def megatron_core():
    """megatron-core's GPTModel pieces, with a one-process gloo group and model-parallel
    state of size 1 (torn down afterwards)."""
    parallel_state, *pieces = _megatron_core()
    with one_process_group():
        parallel_state.initialize_model_parallel(1, 1)
        try:
            yield pieces
        finally:
            parallel_state.destroy_model_parallel()


def _gpt(pieces, seed, meta=False, **fields):
    GPTModel, spec, TransformerConfig = pieces
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = TransformerConfig(num_layers=3, hidden_size=64, num_attention_heads=4,
                                   use_cpu_initialization=True, add_bias_linear=True,
                                   init_method_std=0.03, **fields)
        torch.manual_seed(seed)
        if meta:
            with torch.device("meta"):
                return GPTModel(config, spec(), vocab_size=512, max_sequence_length=64)
        return GPTModel(config, spec(), vocab_size=512, max_sequence_length=64)


SEEDS = (0, 1, 2)


@pytest.mark.peers
def test_gpt_model_is_placed_and_its_laws_are_megatrons(megatron_core):
    GPTModel, spec, TransformerConfig = megatron_core
    model = _gpt(megatron_core, 0, meta=True)
    config = model.config
    want = {"init": config.init_method.keywords["std"],
            "output": config.output_layer_init_method.keywords["std"],
            "embedding": config.embedding_init_method.keywords["std"]}
    assert want["output"] == pytest.approx(0.03 / math.sqrt(2 * 3))
    laws = {"embedding": "embedding", "pos_embedding": "embedding", "attn_qkv": "init",
            "mlp_in": "init", "readout": "init", "attn_out": "output", "mlp_out": "output"}
    rows = describe(model, scheme="megatron")
    names = {row["tensor"] for row in rows}
    assert {"embedding.word_embeddings.weight", "output_layer.weight",
            "decoder.layers.2.self_attention.linear_proj.weight",
            "decoder.final_layernorm.weight"} <= names
    for row in rows:
        if row["role"] in laws:
            assert row["std"] == pytest.approx(want[laws[row["role"]]], rel=1e-12), row
        else:
            assert row["role"] in ("norm", "bias"), row


@pytest.mark.peers
def test_gpt_model_values_match_megatrons_own_init_law_by_law(megatron_core):
    from scipy import stats

    pooled: dict[str, tuple[list, list]] = {}
    for seed in SEEDS:
        theirs = _gpt(megatron_core, seed)
        ours = materialize(_gpt(megatron_core, seed, meta=True), "cpu", seed=seed,
                           scheme="megatron")
        report = verify(theirs, "megatron")  # Megatron's own init passes gpuinit's checks
        assert report.ok, str(report)
        mine = dict(ours.named_parameters())
        rows = {row["tensor"]: row for row in describe(ours, scheme="megatron")}
        for name, reference in theirs.named_parameters():
            a, b = reference.detach().double(), mine[name].detach().double()
            assert a.shape == b.shape, name
            row = rows[name]
            if row["role"] in ("norm", "bias"):
                assert torch.equal(a, b), name  # ones and zeros, both
                continue
            sigma, n = row["std"], a.numel()
            for values in (a, b):  # each a sample of N(0, σ): mean and std
                assert abs(values.mean().item()) < 5 * sigma / math.sqrt(n), name
                assert abs(values.std().item() / sigma - 1) < 5 * math.sqrt(0.5 / n), name
            if n <= 20_000:  # small tensors: the two samples are of one law
                assert stats.ks_2samp(a.flatten().numpy(), b.flatten().numpy()).pvalue > 1e-6
            key = f"{row['role']} {sigma:.6g}"
            pooled.setdefault(key, ([], []))[0].append(a.flatten())
            pooled[key][1].append(b.flatten())
    for key, (a, b) in pooled.items():  # each law, over every tensor and seed
        sigma = float(key.split()[1])
        a, b = torch.cat(a).numpy(), torch.cat(b).numpy()
        assert stats.kstest(a, stats.norm(0, sigma).cdf).pvalue > 1e-6, key
        assert stats.kstest(b, stats.norm(0, sigma).cdf).pvalue > 1e-6, key


@pytest.mark.peers
def test_a_gpt_model_config_is_read(megatron_core):
    model = _gpt(megatron_core, 0, meta=True, embedding_init_method_std=0.2,
                 layernorm_zero_centered_gamma=False)
    rows = {row["tensor"]: row for row in describe(model, scheme="megatron")}
    assert rows["embedding.word_embeddings.weight"]["std"] == pytest.approx(0.2)
    assert rows["embedding.position_embeddings.weight"]["std"] == pytest.approx(0.2)
    assert rows["output_layer.weight"]["std"] == pytest.approx(0.03)
    theirs = _gpt(megatron_core, 4, embedding_init_method_std=0.2)
    assert verify(theirs, "megatron").ok
