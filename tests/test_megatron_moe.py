"""scheme="megatron" on Megatron-core's mixture-of-experts layers.

Megatron-core 0.16 (megatron/core/transformer/moe/) draws the router's weight and its
bias with ``config.init_method`` (router.py ``Router.reset_parameters``), the shared
experts' gate with ``config.init_method`` (shared_experts.py), the legacy
``GroupedMLP``'s ``weight1``/``weight2`` with ``init_method`` /
``output_layer_init_method`` (experts.py), and gives ``TEGroupedMLP``'s
``linear_fc1``/``linear_fc2`` those two init methods, which Transformer Engine's
``GroupedLinear`` applies to every ``weight<i>`` (its ``bias<i>`` are zeros).

The main suite builds torch models with Megatron-core's module names and classes (the
classes placed, by ``__module__``, where Megatron-core defines them) and checks the
plan.  Tests marked ``peers`` build tiny real MoE ``GPTModel``s with megatron-core on
the CPU (local layer spec, the "allgather" token dispatcher, a one-process gloo group):
``SequentialMLP`` with biases, ``SequentialMLP`` with gated shared experts, and the
legacy ``GroupedMLP`` (its check for the grouped_gemm package, which only its forward
uses, is patched out for construction), and compare Megatron's own init with
gpuinit's, law by law over several seeds.  ``TEGroupedMLP`` needs Transformer Engine:
it is built by Megatron-core's own class with stand-in grouped linears that record the
init method Megatron passes and apply it as Transformer Engine does.
"""

from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
from gpuinit.schemes import analyze  # noqa: E402
from gpuinit.torch import describe, materialize, verify  # noqa: E402

from .helpers import one_process_group  # noqa: E402
from .test_megatron_names import (  # noqa: E402
    ColumnParallelLinear,
    FusedLayerNorm,
    RowParallelLinear,
    _Module,
    megatron_gpt,
)

ROUTER = "megatron.core.transformer.moe.router"
EXPERTS = "megatron.core.transformer.moe.experts"
TE = "megatron.core.extensions.transformer_engine"


def _mimics():
    """Megatron-core's MoE classes by name, defined where Megatron-core defines them."""
    class TopKRouter(nn.Module):
        def __init__(self, experts, d, bias=True):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(experts, d))
            self.bias = nn.Parameter(torch.empty(experts)) if bias else None

    class GroupedMLP(nn.Module):
        def __init__(self, experts, d, ffn):
            super().__init__()
            self.weight1 = nn.Parameter(torch.empty(d, experts * ffn))
            self.weight2 = nn.Parameter(torch.empty(experts * ffn, d))

    class TEGroupedLinear(nn.Module):
        def __init__(self, experts, d_in, d_out, bias=True):
            super().__init__()
            for i in range(experts):
                self.register_parameter(f"weight{i}", nn.Parameter(torch.empty(d_out, d_in)))
                if bias:
                    self.register_parameter(f"bias{i}", nn.Parameter(torch.empty(d_out)))

    class TEColumnParallelGroupedLinear(TEGroupedLinear):
        pass

    class TERowParallelGroupedLinear(TEGroupedLinear):
        pass

    class SharedExpertMLP(nn.Module):
        def __init__(self, d, ffn):
            super().__init__()
            self.linear_fc1 = ColumnParallelLinear(d, ffn, bias=False)
            self.linear_fc2 = RowParallelLinear(ffn, d, bias=False)
            self.gate_weight = nn.Parameter(torch.empty(1, d))

    class TELinear(ColumnParallelLinear):
        pass

    for cls, module in ((TopKRouter, ROUTER), (GroupedMLP, EXPERTS), (TEGroupedLinear, TE),
                        (TEColumnParallelGroupedLinear, TE), (TERowParallelGroupedLinear, TE),
                        (SharedExpertMLP, "megatron.core.transformer.moe.shared_experts"),
                        (TELinear, TE)):
        cls.__module__ = module
    return locals()


def megatron_moe(kind="grouped", d=32, layers=2, experts=4, ffn=16, bias=True):
    """A GPTModel's names with each block's MLP an MoE layer: router, experts
    (``kind``: "grouped" GroupedMLP, "te" TEGroupedMLP, "sequential" SequentialMLP),
    gated shared experts and latent projections."""
    m = _mimics()
    model = megatron_gpt(d=d, layers=layers)
    for block in model.decoder.layers:
        moe = _Module()
        moe.router = m["TopKRouter"](experts, d, bias)
        if kind == "grouped":
            moe.experts = m["GroupedMLP"](experts, d, ffn)
        elif kind == "te":
            moe.experts = _Module()
            moe.experts.linear_fc1 = m["TEColumnParallelGroupedLinear"](experts, d, 2 * ffn, bias)
            moe.experts.linear_fc2 = m["TERowParallelGroupedLinear"](experts, ffn, d, bias)
        else:
            moe.experts = _Module()
            moe.experts.local_experts = nn.ModuleList()
            for _ in range(experts):
                expert = _Module()
                expert.linear_fc1 = ColumnParallelLinear(d, ffn, bias)
                expert.linear_fc2 = RowParallelLinear(ffn, d, bias)
                moe.experts.local_experts.append(expert)
        moe.shared_experts = m["SharedExpertMLP"](d, 24)
        moe.fc1_latent_proj = m["TELinear"](d, 8, bias)
        moe.fc2_latent_proj = m["TELinear"](8, d, bias)
        block.mlp = moe
        block.pre_mlp_layernorm = FusedLayerNorm(d)
    return model


def _rows(model, scheme="megatron"):
    return {row["tensor"]: row for row in describe(model, scheme=scheme)}


MOE_ROLES = {
    "grouped": {
        "decoder.layers.0.mlp.router.weight": "router",
        "decoder.layers.0.mlp.router.bias": "router",
        "decoder.layers.0.mlp.experts.weight1": "mlp_in",
        "decoder.layers.1.mlp.experts.weight2": "mlp_out",
        "decoder.layers.0.mlp.shared_experts.gate_weight": "router",
        "decoder.layers.0.mlp.shared_experts.linear_fc1.weight": "mlp_in",
        "decoder.layers.0.mlp.shared_experts.linear_fc2.weight": "mlp_out",
        "decoder.layers.0.mlp.fc1_latent_proj.weight": "mlp_in",
        "decoder.layers.0.mlp.fc2_latent_proj.weight": "mlp_out",
        "decoder.layers.0.mlp.fc2_latent_proj.bias": "bias",
    },
    "te": {
        "decoder.layers.0.mlp.experts.linear_fc1.weight0": "mlp_in",
        "decoder.layers.0.mlp.experts.linear_fc1.weight3": "mlp_in",
        "decoder.layers.1.mlp.experts.linear_fc2.weight2": "mlp_out",
        "decoder.layers.0.mlp.experts.linear_fc1.bias1": "bias",
        "decoder.layers.1.mlp.experts.linear_fc2.bias0": "bias",
    },
    "sequential": {
        "decoder.layers.0.mlp.experts.local_experts.0.linear_fc1.weight": "mlp_in",
        "decoder.layers.1.mlp.experts.local_experts.3.linear_fc2.weight": "mlp_out",
        "decoder.layers.1.mlp.experts.local_experts.3.linear_fc2.bias": "bias",
    },
}


@pytest.mark.parametrize("kind", list(MOE_ROLES))
def test_megatron_moe_tensors_have_roles_and_megatrons_laws(kind):
    model = megatron_moe(kind, layers=3)
    rows = _rows(model)
    assert {name: rows[name]["role"] for name in MOE_ROLES[kind]} == MOE_ROLES[kind]
    sigma, scaled = 0.02, 0.02 / math.sqrt(2 * 3)
    for name, row in rows.items():
        if row["role"] in ("router", "mlp_in", "attn_qkv", "embedding", "pos_embedding",
                           "readout"):
            assert row["law"] == f"normal(mean=0, std={sigma:g})", name
        elif row["role"] in ("mlp_out", "attn_out"):
            assert row["std"] == pytest.approx(scaled, rel=1e-12), name
        else:
            assert row["law"] == ("constant(1)" if row["role"] == "norm" else "constant(0)"), row
    assert rows["decoder.layers.0.mlp.router.bias"]["std"] == pytest.approx(sigma)  # not 0


def test_megatron_moe_options_and_config_reach_the_moe_tensors():
    rows = _rows(megatron_moe("te"), ("megatron", {"std": 0.01, "num_layers": 8}))
    assert rows["decoder.layers.0.mlp.router.weight"]["std"] == pytest.approx(0.01)
    assert rows["decoder.layers.0.mlp.experts.linear_fc2.weight1"]["std"] == pytest.approx(
        0.01 / 4)
    mup = _rows(megatron_moe("grouped"), ("megatron", {"use_mup": True, "mup_width_mult": 4.0}))
    assert mup["decoder.layers.0.mlp.router.weight"]["std"] == pytest.approx(0.01)
    assert mup["decoder.layers.0.mlp.experts.weight1"]["std"] == pytest.approx(0.01)


def test_a_roles_pattern_wins_over_the_moe_placement():
    rows = _rows(megatron_moe("grouped"), ("megatron", {
        "roles": {"*.router.bias": "bias", "*.experts.weight2": "mlp_in"}}))
    assert rows["decoder.layers.0.mlp.router.bias"]["law"] == "constant(0)"
    assert rows["decoder.layers.0.mlp.experts.weight2"]["std"] == pytest.approx(0.02)
    assert rows["decoder.layers.0.mlp.router.weight"]["role"] == "router"


def test_moe_classes_not_from_megatron_are_not_placed_and_other_schemes_refuse_them():
    model = megatron_moe("grouped")
    infos = analyze(model)
    assert infos["decoder.layers.0.mlp.router.weight"].role is None  # placed by megatron only
    with pytest.raises(ValueError, match=r"'olmo_core' finds no role for "
                                         r"\['decoder.layers.0.mlp.router.weight'"):
        describe(model, scheme=("olmo_core", {"method": "llama"}))
    model.decoder.layers[0].mlp.router.__class__ = type("TopKRouter", (nn.Module,), {})
    with torch.device("meta"):
        meta = megatron_moe("grouped")
    meta.decoder.layers[1].mlp.router.__class__ = type("TopKRouter", (nn.Module,), {})
    with pytest.raises(ValueError, match=r"'megatron' finds no role for "
                                         r"\['decoder.layers.1.mlp.router.weight'"):
        materialize(meta, "cpu", scheme="megatron")
    assert all(p.is_meta for p in meta.parameters())
    with pytest.raises(ValueError, match="roles.*'router' is not a role"):
        describe(model, scheme=("megatron", {"roles": {"*.router.weight": "router"}}))


def test_megatron_moe_materializes_and_verifies():
    with torch.device("meta"):
        meta = megatron_moe("te", d=64, experts=4, ffn=64)
    model = materialize(meta, "cpu", seed=3, scheme="megatron")
    params = dict(model.named_parameters())
    for name, row in _rows(model).items():
        values = params[name].detach()
        if row["law"].startswith("constant"):
            assert torch.equal(values, torch.full_like(values, float(row["law"][9:-1]))), name
        else:
            n = values.numel()
            assert abs(values.std().item() / row["std"] - 1) < 6 * math.sqrt(0.5 / n) + 0.05, name
    report = verify(model, "megatron", seed=3)
    assert report.ok, str(report)


# ----------------------------------------------------------------------------- peers


def _megatron_core():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from megatron.core import parallel_state
            from megatron.core.models.gpt import GPTModel
            from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
            from megatron.core.transformer.moe import experts
            from megatron.core.transformer.transformer_config import TransformerConfig
    except Exception as exc:  # not installed, or not importable with this torch
        pytest.skip(f"megatron-core does not import here: {type(exc).__name__}: {exc}")
    return parallel_state, GPTModel, get_gpt_layer_local_spec, TransformerConfig, experts


@pytest.fixture(scope="module")
def megatron_core():
    parallel_state, *pieces = _megatron_core()
    with one_process_group():
        parallel_state.initialize_model_parallel(1, 1)
        try:
            yield pieces
        finally:
            parallel_state.destroy_model_parallel()


VARIANTS = {
    "sequential-bias": {"grouped": False, "add_bias_linear": True},
    "sequential-shared-gate": {"grouped": False, "add_bias_linear": False,
                               "moe_shared_expert_intermediate_size": 48,
                               "moe_shared_expert_gate": True},
    "grouped-shared": {"grouped": True, "add_bias_linear": False,
                       "moe_shared_expert_intermediate_size": 48},
}


def _moe_gpt(pieces, seed, variant, meta=False):
    GPTModel, spec, TransformerConfig, experts = pieces
    fields = dict(VARIANTS[variant])
    grouped = fields.pop("grouped")
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("ignore")
        patch.setattr(experts.gg, "assert_grouped_gemm_is_available", lambda: None)
        config = TransformerConfig(num_layers=3, hidden_size=64, num_attention_heads=4,
                                   use_cpu_initialization=True, init_method_std=0.03,
                                   num_moe_experts=4, moe_router_topk=2, moe_ffn_hidden_size=32,
                                   moe_grouped_gemm=grouped,
                                   moe_token_dispatcher_type="allgather", **fields)
        layer_spec = spec(num_experts=4, moe_grouped_gemm=grouped,
                          moe_use_legacy_grouped_gemm=grouped)
        torch.manual_seed(seed)
        with torch.device("meta" if meta else "cpu"):
            return GPTModel(config, layer_spec, vocab_size=256, max_sequence_length=32)


SEEDS = (0, 1, 2)


@pytest.mark.peers
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_moe_gpt_model_laws_are_megatrons_init_methods(megatron_core, variant):
    model = _moe_gpt(megatron_core, 0, variant, meta=True)
    config = model.config
    init = config.init_method.keywords["std"]
    output = config.output_layer_init_method.keywords["std"]
    rows = _rows(model)
    moe = {n: r for n, r in rows.items() if ".mlp." in n}
    assert moe and not [n for n, r in moe.items() if r["role"] in (None, "linear")]
    assert rows["decoder.layers.0.mlp.router.weight"]["std"] == pytest.approx(init)
    if config.add_bias_linear:
        assert rows["decoder.layers.2.mlp.router.bias"]["std"] == pytest.approx(init)
    for name, row in moe.items():
        if row["role"] in ("router", "mlp_in"):
            assert row["std"] == pytest.approx(init, rel=1e-12), name
        elif row["role"] == "mlp_out":
            assert row["std"] == pytest.approx(output, rel=1e-12), name
        else:
            assert row["role"] in ("norm", "bias"), row


@pytest.mark.peers
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_moe_gpt_model_values_match_megatrons_own_init_law_by_law(megatron_core, variant):
    from scipy import stats

    pooled: dict[str, tuple[list, list]] = {}
    for seed in SEEDS:
        theirs = _moe_gpt(megatron_core, seed, variant)
        ours = materialize(_moe_gpt(megatron_core, seed, variant, meta=True), "cpu", seed=seed,
                           scheme="megatron")
        assert verify(theirs, "megatron").ok  # Megatron's own init passes gpuinit's checks
        mine = dict(ours.named_parameters())
        rows = _rows(ours)
        for name, reference in theirs.named_parameters():
            a, b = reference.detach().double(), mine[name].detach().double()
            assert a.shape == b.shape and reference.dtype == mine[name].dtype, name
            row = rows[name]
            if row["law"].startswith("constant"):
                assert torch.equal(a, b), name
                continue
            sigma, n = row["std"], a.numel()
            for values in (a, b):
                assert abs(values.mean().item()) < 5 * sigma / math.sqrt(n), name
                assert abs(values.std().item() / sigma - 1) < 5 * math.sqrt(0.5 / n) + 2 / n, name
            bias = "-bias" if name.endswith(".bias") else ""  # the router's, drawn
            key = f"{row['role']}{bias} {sigma:.6g}"
            pooled.setdefault(key, ([], []))[0].append(a.flatten())
            pooled[key][1].append(b.flatten())
    assert any(key.startswith("router ") for key in pooled)
    if VARIANTS[variant]["add_bias_linear"]:
        assert any(key.startswith("router-bias ") for key in pooled)
    for key, (a, b) in pooled.items():  # each law, over every tensor and seed
        sigma = float(key.split()[1])
        a, b = torch.cat(a).numpy(), torch.cat(b).numpy()
        assert stats.kstest(a, stats.norm(0, sigma).cdf).pvalue > 1e-6, key
        assert stats.kstest(b, stats.norm(0, sigma).cdf).pvalue > 1e-6, key
        assert stats.ks_2samp(a, b).pvalue > 1e-6, key


@pytest.mark.peers
def test_te_grouped_mlp_gets_the_init_methods_megatron_passes(megatron_core):
    """Megatron-core's own TEGroupedMLP, with stand-ins for Transformer Engine's grouped
    linears that keep the ``init_method`` Megatron passes and apply it to every
    ``weight<i>`` (zeros for ``bias<i>``), as te.pytorch.GroupedLinear does."""
    from megatron.core.process_groups_config import ProcessGroupCollection
    from megatron.core.transformer.mlp import MLPSubmodules

    GPTModel, spec, TransformerConfig, experts = megatron_core

    class TEGroupedLinear(nn.Module):
        def __init__(self, num_gemms, d_in, d_out, *, config, init_method, bias, **kwargs):
            super().__init__()
            self.init_method = init_method
            for i in range(num_gemms):
                weight = nn.Parameter(torch.empty(d_out, d_in))
                init_method(weight)
                self.register_parameter(f"weight{i}", weight)
                if bias:
                    self.register_parameter(f"bias{i}", nn.Parameter(torch.zeros(d_out)))

    column = type("TEColumnParallelGroupedLinear", (TEGroupedLinear,), {"__module__": TE})
    row = type("TERowParallelGroupedLinear", (TEGroupedLinear,), {"__module__": TE})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = TransformerConfig(num_layers=4, hidden_size=64, num_attention_heads=4,
                                   use_cpu_initialization=True, init_method_std=0.05,
                                   num_moe_experts=4, moe_ffn_hidden_size=32,
                                   add_bias_linear=True, bias_dropout_fusion=False,
                                   gated_linear_unit=True)
        groups = ProcessGroupCollection.use_mpu_process_groups()

    def build(seed, device="cpu"):
        torch.manual_seed(seed)
        model = _Module()
        model.config = config
        model.decoder = _Module()
        model.decoder.layers = nn.ModuleList()
        with torch.device(device):
            for _ in range(2):
                layer = _Module()
                layer.mlp = _Module()
                layer.mlp.experts = experts.TEGroupedMLP(
                    4, config, MLPSubmodules(linear_fc1=column, linear_fc2=row),
                    pg_collection=groups)
                model.decoder.layers.append(layer)
        return model

    theirs = [build(seed) for seed in SEEDS]
    fc1 = theirs[0].decoder.layers[0].mlp.experts.linear_fc1
    fc2 = theirs[0].decoder.layers[0].mlp.experts.linear_fc2
    assert fc1.init_method.keywords["std"] == pytest.approx(0.05)
    assert fc2.init_method.keywords["std"] == pytest.approx(0.05 / math.sqrt(8))
    assert fc1.weight0.shape == (64, 64)  # gated: 2 × 32
    rows = _rows(build(0, "meta"))
    for name, r in rows.items():
        linear = fc1 if ".linear_fc1." in name else fc2
        if name.rsplit(".", 1)[1].startswith("weight"):
            assert r["std"] == pytest.approx(linear.init_method.keywords["std"], rel=1e-12), name
        else:
            assert r["law"] == "constant(0)", name
    from scipy import stats

    ours = [dict(materialize(build(s, "meta"), "cpu", seed=s, scheme="megatron")
                 .named_parameters()) for s in SEEDS]
    for name in rows:
        if rows[name]["law"].startswith("constant"):
            continue
        a = torch.cat([dict(t.named_parameters())[name].detach().flatten() for t in theirs])
        b = torch.cat([o[name].detach().flatten() for o in ours])
        assert stats.ks_2samp(a.numpy(), b.numpy()).pvalue > 1e-6, name
