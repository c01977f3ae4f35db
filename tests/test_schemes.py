"""gpuinit.schemes: roles, the named schemes' formulas, their errors, and describe().

Pure tests: small torch models named as the codebases name their modules, no peer
package.  The laws are checked twice: in the plan (describe's std and bounds, exact
formulas) and in the values written (sample std, bounds, constants, streams).
"""

import json
import math
import textwrap

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
import gpuinit as gi  # noqa: E402
from gpuinit.laws import Normal, Rule, TruncatedNormal, truncated_std  # noqa: E402
from gpuinit.layers import path_stream  # noqa: E402
from gpuinit.schemes import analyze, scheme_names  # noqa: E402
from gpuinit.torch import describe, init_module, materialize  # noqa: E402

# ----------------------------------------------------------------------------- models


class _Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)


class _MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc, self.c_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)


class _Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1, self.attn, self.ln_2, self.mlp = (nn.LayerNorm(d), _Attention(d),
                                                      nn.LayerNorm(d), _MLP(d))


def nanogpt(d=32, layers=2, vocab=64, positions=16):
    """karpathy/nanoGPT's module names, lm_head tied to wte."""
    model = nn.Module()
    model.transformer = nn.ModuleDict({
        "wte": nn.Embedding(vocab, d), "wpe": nn.Embedding(positions, d),
        "h": nn.ModuleList([_Block(d) for _ in range(layers)]), "ln_f": nn.LayerNorm(d)})
    model.lm_head = nn.Linear(d, vocab, bias=False)
    model.lm_head.weight = model.transformer["wte"].weight
    return model


def hf_llama(d=32, layers=2, vocab=64, ff=64, padding=None):
    """Hugging Face Llama's module names (untied head), built from plain torch modules."""
    def layer():
        block = nn.Module()
        block.self_attn = nn.ModuleDict({n: nn.Linear(d, d, bias=False)
                                         for n in ("q_proj", "k_proj", "v_proj", "o_proj")})
        block.mlp = nn.ModuleDict({"gate_proj": nn.Linear(d, ff, bias=False),
                                   "up_proj": nn.Linear(d, ff, bias=False),
                                   "down_proj": nn.Linear(ff, d, bias=False)})
        block.input_layernorm, block.post_attention_layernorm = nn.RMSNorm(d), nn.RMSNorm(d)
        return block

    model = nn.Module()
    model.model = nn.Module()
    model.model.embed_tokens = nn.Embedding(vocab, d, padding_idx=padding)
    model.model.layers = nn.ModuleList([layer() for _ in range(layers)])
    model.model.norm = nn.RMSNorm(d)
    model.lm_head = nn.Linear(d, vocab, bias=False)
    return model


def olmo_core(d=32, layers=2, vocab=64, ff=64):
    """allenai/OLMo-core's names: blocks is a ModuleDict keyed "0", "1", ..."""
    def block():
        b = nn.Module()
        b.attention = nn.ModuleDict({n: nn.Linear(d, d, bias=False)
                                     for n in ("w_q", "w_k", "w_v", "w_out")})
        b.attention_norm, b.feed_forward_norm = nn.RMSNorm(d), nn.RMSNorm(d)
        b.feed_forward = nn.ModuleDict({"w1": nn.Linear(d, ff, bias=False),
                                        "w2": nn.Linear(ff, d, bias=False),
                                        "w3": nn.Linear(d, ff, bias=False)})
        return b

    model = nn.Module()
    model.embeddings = nn.Embedding(vocab, d)
    model.blocks = nn.ModuleDict({str(i): block() for i in range(layers)})
    model.lm_head = nn.ModuleDict({"norm": nn.RMSNorm(d), "w_out": nn.Linear(d, vocab)})
    return model


def olmo(d=32, layers=2, vocab=64, ff=64):
    """allenai/OLMo's names: fused att_proj, ff_proj (gate+up), block ff_out, the
    transformer's own ff_out as readout."""
    def block():
        b = nn.Module()
        b.att_proj, b.attn_out = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        b.ff_proj, b.ff_out = nn.Linear(d, 2 * ff, bias=False), nn.Linear(ff, d, bias=False)
        b.attn_norm, b.ff_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        return b

    model = nn.Module()
    model.transformer = nn.ModuleDict({
        "wte": nn.Embedding(vocab, d), "blocks": nn.ModuleList([block() for _ in range(layers)]),
        "ln_f": nn.LayerNorm(d), "ff_out": nn.Linear(d, vocab, bias=False)})
    return model


def megatron_core(d=32, layers=2, vocab=64):
    """NVIDIA/Megatron-LM (core) names."""
    def layer():
        b = nn.Module()
        b.self_attention = nn.ModuleDict({"linear_qkv": nn.Linear(d, 3 * d),
                                          "linear_proj": nn.Linear(d, d)})
        b.mlp = nn.ModuleDict({"linear_fc1": nn.Linear(d, 4 * d),
                               "linear_fc2": nn.Linear(4 * d, d)})
        b.input_layernorm = nn.LayerNorm(d)
        return b

    model = nn.Module()
    model.embedding = nn.ModuleDict({"word_embeddings": nn.Embedding(vocab, d),
                                     "position_embeddings": nn.Embedding(16, d)})
    model.decoder = nn.Module()
    model.decoder.layers = nn.ModuleList([layer() for _ in range(layers)])
    model.decoder.final_layernorm = nn.LayerNorm(d)
    model.output_layer = nn.Linear(d, vocab, bias=False)
    return model


def bert_like(d=32):
    """BERT's names: attention.self.query, attention.output.dense, intermediate.dense,
    output.dense."""
    layer = nn.Module()
    layer.attention = nn.Module()
    layer.attention.self = nn.ModuleDict({n: nn.Linear(d, d) for n in ("query", "key", "value")})
    layer.attention.output = nn.ModuleDict({"dense": nn.Linear(d, d), "LayerNorm": nn.LayerNorm(d)})
    layer.intermediate = nn.ModuleDict({"dense": nn.Linear(d, 4 * d)})
    layer.output = nn.ModuleDict({"dense": nn.Linear(4 * d, d)})
    model = nn.Module()
    model.encoder = nn.Module()
    model.encoder.layer = nn.ModuleList([layer])
    model.pooler = nn.ModuleDict({"dense": nn.Linear(d, d)})
    return model


def meta_llama(d=32):
    """Meta's llama reference names: tok_embeddings, attention.wq..wo, feed_forward.w1..w3."""
    layer = nn.Module()
    layer.attention = nn.ModuleDict({n: nn.Linear(d, d, bias=False)
                                     for n in ("wq", "wk", "wv", "wo")})
    layer.feed_forward = nn.ModuleDict({n: nn.Linear(d, d, bias=False)
                                        for n in ("w1", "w2", "w3")})
    layer.attention_norm, layer.ffn_norm = nn.RMSNorm(d), nn.RMSNorm(d)
    model = nn.Module()
    model.tok_embeddings = nn.Embedding(64, d)
    model.layers = nn.ModuleList([layer])
    model.norm, model.output = nn.RMSNorm(d), nn.Linear(d, 64, bias=False)
    return model


def torch_transformer(d=32, heads=4, encoder=3, decoder=2):
    return nn.Transformer(d, heads, encoder, decoder, 4 * d)


def _rows(model, scheme):
    return {row["tensor"]: row for row in describe(model, scheme=scheme)}


def _clones(model):
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    return {n: t.detach().clone() for n, t in tensors.items()}


# ----------------------------------------------------------------------------- roles


@pytest.mark.parametrize("build, expected", [
    (nanogpt, {"transformer.wte.weight": "embedding", "transformer.wpe.weight": "pos_embedding",
               "transformer.h.0.attn.c_attn.weight": "attn_qkv",
               "transformer.h.0.attn.c_proj.weight": "attn_out",
               "transformer.h.1.mlp.c_fc.weight": "mlp_in",
               "transformer.h.1.mlp.c_proj.weight": "mlp_out",
               "transformer.h.0.ln_1.weight": "norm", "transformer.h.0.mlp.c_fc.bias": "bias"}),
    (hf_llama, {"model.layers.0.self_attn.q_proj.weight": "attn_q",
                "model.layers.0.self_attn.k_proj.weight": "attn_k",
                "model.layers.0.self_attn.v_proj.weight": "attn_v",
                "model.layers.1.self_attn.o_proj.weight": "attn_out",
                "model.layers.0.mlp.gate_proj.weight": "mlp_gate",
                "model.layers.0.mlp.up_proj.weight": "mlp_up",
                "model.layers.0.mlp.down_proj.weight": "mlp_out",
                "model.norm.weight": "norm", "lm_head.weight": "readout"}),
    (olmo_core, {"blocks.0.attention.w_q.weight": "attn_q",
                 "blocks.1.attention.w_out.weight": "attn_out",
                 "blocks.0.feed_forward.w1.weight": "mlp_gate",
                 "blocks.0.feed_forward.w3.weight": "mlp_up",
                 "blocks.0.feed_forward.w2.weight": "mlp_out",
                 "lm_head.w_out.weight": "readout", "lm_head.norm.weight": "norm",
                 "embeddings.weight": "embedding"}),
    (olmo, {"transformer.blocks.0.att_proj.weight": "attn_qkv",
            "transformer.blocks.0.attn_out.weight": "attn_out",
            "transformer.blocks.0.ff_proj.weight": "mlp_in",
            "transformer.blocks.1.ff_out.weight": "mlp_out",
            "transformer.ff_out.weight": "readout"}),
    (megatron_core, {"decoder.layers.0.self_attention.linear_qkv.weight": "attn_qkv",
                     "decoder.layers.0.self_attention.linear_proj.weight": "attn_out",
                     "decoder.layers.0.mlp.linear_fc1.weight": "mlp_in",
                     "decoder.layers.0.mlp.linear_fc2.weight": "mlp_out",
                     "embedding.position_embeddings.weight": "pos_embedding",
                     "output_layer.weight": "readout"}),
    (bert_like, {"encoder.layer.0.attention.self.query.weight": "attn_q",
                 "encoder.layer.0.attention.output.dense.weight": "attn_out",
                 "encoder.layer.0.intermediate.dense.weight": "mlp_in",
                 "encoder.layer.0.output.dense.weight": "mlp_out",
                 "encoder.layer.0.attention.output.LayerNorm.weight": "norm",
                 "pooler.dense.weight": "linear"}),
    (meta_llama, {"tok_embeddings.weight": "embedding", "layers.0.attention.wo.weight": "attn_out",
                  "layers.0.feed_forward.w2.weight": "mlp_out", "output.weight": "readout"}),
    (torch_transformer, {"encoder.layers.0.self_attn.in_proj_weight": "attn_qkv",
                         "decoder.layers.1.multihead_attn.out_proj.weight": "attn_out",
                         "encoder.layers.2.linear1.weight": "mlp_in",
                         "decoder.layers.0.linear2.weight": "mlp_out",
                         "decoder.layers.0.norm3.weight": "norm",
                         "encoder.layers.0.self_attn.in_proj_bias": "bias"}),
])
def test_roles_are_found_by_each_codebases_names(build, expected):
    infos = analyze(build())
    assert {name: infos[name].role for name in expected} == expected


def test_blocks_layers_and_stacks_are_read_off_the_paths():
    infos = analyze(torch_transformer())
    info = infos["decoder.layers.1.linear2.weight"]
    assert (info.block, info.layer, info.stack, info.fan_in) == ("decoder.layers.1", 1,
                                                                 "decoder", 128)
    assert infos["encoder.layers.2.self_attn.in_proj_bias"].module_role == "attn_qkv"
    assert infos["encoder.layers.2.linear1.bias"].module_role == "mlp_in"
    tied = analyze(nanogpt())
    assert "lm_head.weight" not in tied  # the tied head is the embedding, by its first name


def test_a_user_role_map_places_tensors_by_any_of_their_names():
    infos = analyze(bert_like(), {"pooler.dense.weight": "mlp_in"})
    assert infos["pooler.dense.weight"].role == "mlp_in"
    assert infos["pooler.dense.bias"].module_role == "mlp_in"
    tied = analyze(nanogpt(), {"lm_head.weight": "readout"})  # the second name of a tie
    assert tied["transformer.wte.weight"].role == "readout"
    with pytest.raises(ValueError, match=r"'nonsense' is not a role; valid roles: embedding"):
        analyze(bert_like(), {"pooler.dense.weight": "nonsense"})
    with pytest.raises(ValueError, match=r"pattern 'nowhere\.\*' matches no tensor"):
        analyze(bert_like(), {"nowhere.*": "mlp_in"})


def test_a_tensor_with_no_role_raises_naming_it_before_anything_is_written():
    model = bert_like()
    before = _clones(model)
    with pytest.raises(ValueError, match=r"'megatron' finds no role for \['pooler\.dense\.weight"
                                         r"'\].*'roles'"):
        init_module(model, seed=0, scheme="megatron")
    assert all(torch.equal(t, before[n]) for n, t in _clones(model).items())
    with torch.device("meta"):
        meta = bert_like()
    with pytest.raises(ValueError, match="pooler.dense.weight"):
        materialize(meta, "cpu", scheme=("olmo", {"method": "mitchell"}))
    assert all(t.is_meta for t in meta.parameters())
    placed = init_module(model, seed=0, scheme=("megatron", {"roles": {"pooler.*.weight":
                                                                       "mlp_in"}}))
    assert abs(placed.pooler["dense"].weight.std().item() - 0.02) < 0.005


def test_a_custom_parameter_can_be_covered_by_the_overrides_option():
    model = hf_llama()
    model.scale = nn.Parameter(torch.full((4,), 7.0))
    with pytest.raises(ValueError, match=r"no role for \['scale'\]"):
        init_module(model, scheme="megatron")
    init_module(model, scheme=("megatron", {"overrides": {"scale": "ones"}}))
    assert torch.equal(model.scale, torch.ones(4))
    with pytest.raises(ValueError, match=r"scheme 'megatron' has no rule for \['odd'\].*overrides"):
        model.register_buffer("odd", torch.zeros(3))
        init_module(model, scheme=("megatron", {"overrides": {"scale": "ones"}}))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("scheme, error, message", [
    ("nope", ValueError, r"scheme='nope' is not a known scheme; valid names: 'torch', 'gpt2', "
                         r"'llama', 'hf', 'megatron', 'olmo', 'olmo_core', 'neox', 'deepnet', "
                         r"'t-fixup', 'mup'"),
    (("megatron", {"sdt": 0.1}), ValueError, r"no option 'sdt'; valid options: 'overrides', 'std'"),
    (("olmo", {"method": "kaiming"}), ValueError,
     r"method='kaiming' is not valid; choose from 'normal', 'mitchell', 'full_megatron'"),
    (("olmo_core", {"method": "mitchell"}), ValueError, r"'normal', 'llama', 'llama_depth', "
                                                        r"'fan_in'"),
    (("neox", {"init_method": "he"}), ValueError, r"init_method='he' is not valid; choose from "
                                                  r"'normal', 'scaled_normal', 'orthogonal'"),
    (("megatron", {"std": -1}), ValueError, r"std=-1 must be a positive number"),
    (("megatron", {"num_layers": 0}), ValueError, r"num_layers=0 must be a positive integer"),
    (("deepnet", {"arch": "both"}), ValueError, r"'encoder', 'decoder', 'encoder_decoder'"),
    (("mup", {}), ValueError, r"scheme 'mup' needs the option\(s\) 'base'"),
    (("megatron", "std"), TypeError, r"options of 'megatron' must be a dict"),
    (42, ValueError, r"scheme=42 must be a name"),
    (("megatron", {"roles": {"*.weight": "head"}}), ValueError, r"'head' is not a role"),
])
def test_bad_schemes_and_options_raise_listing_the_valid_ones_and_write_nothing(scheme, error,
                                                                                message):
    model = hf_llama()
    before = _clones(model)
    with pytest.raises(error, match=message):
        init_module(model, seed=0, scheme=scheme)
    assert all(torch.equal(t, before[n]) for n, t in _clones(model).items())


def test_every_registered_scheme_is_listed():
    assert scheme_names() == ["torch", "gpt2", "llama", "hf", "megatron", "olmo", "olmo_core",
                              "neox", "deepnet", "t-fixup", "mup", "torchtitan", "litgpt",
                              "torchtune"]


def test_a_rule_checks_its_rows_before_writing():
    t = torch.full((3, 4), 5.0)
    with pytest.raises(ValueError, match="row 7 to zero is outside"):
        Rule(Normal(std=1.0), zero_rows=(7,))(t, 0, 0)
    with pytest.raises(ValueError, match="slice 2:9 of dimension 0"):
        Rule(Normal(std=1.0), scales=((0, 2, 9, 0.5),))(t, 0, 0)
    assert torch.equal(t, torch.full((3, 4), 5.0))


def test_truncated_std_matches_scipy():
    truncnorm = pytest.importorskip("scipy.stats").truncnorm
    assert truncated_std(0.02, -0.06, 0.06) == pytest.approx(0.02 * truncnorm.std(-3, 3),
                                                             rel=1e-12)
    assert truncated_std(2.0, -1.0, 5.0, 1.0) == pytest.approx(2.0 * truncnorm.std(-1, 2),
                                                               rel=1e-12)
    assert TruncatedNormal.cutoff(0.5, None) == Normal(std=0.5)


# ----------------------------------------------------------------------------- formulas


def test_megatron_laws_and_its_mup_variant():
    model = hf_llama(d=64, layers=3)
    rows = _rows(model, ("megatron", {"std": 0.01, "embedding_std": 0.5}))
    assert rows["model.embed_tokens.weight"]["std"] == 0.5
    assert rows["model.layers.0.self_attn.q_proj.weight"]["std"] == 0.01
    assert rows["model.layers.2.mlp.down_proj.weight"]["std"] == pytest.approx(0.01 / math.sqrt(6))
    assert rows["model.layers.1.self_attn.o_proj.weight"]["std"] == pytest.approx(
        0.01 / math.sqrt(6))
    assert rows["lm_head.weight"]["std"] == 0.01
    assert rows["model.norm.weight"]["law"] == "constant(1)"
    mup = _rows(model, ("megatron", {"std": 0.01, "use_mup": True, "mup_base_hidden_size": 16}))
    assert mup["model.layers.0.mlp.up_proj.weight"]["std"] == pytest.approx(0.01 / 2)  # m = 4
    assert mup["model.layers.0.mlp.down_proj.weight"]["std"] == pytest.approx(
        0.01 / (math.sqrt(6) * 2))
    assert mup["model.embed_tokens.weight"]["std"] == 0.01
    assert mup["lm_head.weight"]["std"] == 0.01  # embedding_init_method when untied
    zero = _rows(model, ("megatron", {"zero_centered_gamma": True, "num_layers": 8}))
    assert zero["model.norm.weight"]["law"] == "constant(0)"
    assert zero["model.layers.0.mlp.down_proj.weight"]["std"] == pytest.approx(0.02 / 4)


def test_olmo_methods_and_their_cutoffs():
    model = olmo(d=64, layers=4, ff=32)
    normal = _rows(model, "olmo")
    assert normal["transformer.blocks.3.ff_out.weight"]["std"] == 0.02
    assert normal["transformer.blocks.3.ff_out.weight"]["bounds"] is None  # no cutoff
    mitchell = _rows(model, ("olmo", {"method": "mitchell"}))
    row = mitchell["transformer.blocks.2.attn_out.weight"]
    sigma = 1 / math.sqrt(2 * 64 * 3)
    assert row["law"].startswith(f"trunc_normal(mean=0, std={sigma:.4g}")
    assert row["bounds"] == pytest.approx((-3 * sigma, 3 * sigma))
    assert mitchell["transformer.blocks.1.ff_out.weight"]["bounds"][1] == pytest.approx(
        3 / math.sqrt(2 * 32 * 2))
    assert mitchell["transformer.wte.weight"]["bounds"][1] == pytest.approx(3 / 8)
    assert mitchell["transformer.blocks.0.att_proj.weight"]["bounds"][1] == pytest.approx(3 / 8)
    full = _rows(model, ("olmo", {"method": "full_megatron", "std": 0.01, "scale_emb_init": True,
                                  "cutoff_factor": 2.0}))
    assert full["transformer.blocks.0.attn_out.weight"]["bounds"][1] == pytest.approx(
        2 * 0.01 / math.sqrt(8))
    assert full["transformer.wte.weight"]["bounds"][1] == pytest.approx(2 * 0.01 * 8)
    assert full["transformer.ff_out.weight"]["bounds"][1] == pytest.approx(2 / 8)


def test_olmo_core_methods_differ_as_its_init_py_does():
    model = olmo_core(d=64, layers=4)
    llama = _rows(model, ("olmo_core", {"method": "llama"}))
    assert llama["embeddings.weight"]["law"] == "normal(mean=0, std=1)"  # untruncated N(0, 1)
    assert llama["blocks.0.feed_forward.w1.weight"]["bounds"] == pytest.approx((-0.06, 0.06))
    scaled = 0.02 / math.sqrt(8)
    for name in ("blocks.3.feed_forward.w3.weight", "blocks.3.feed_forward.w2.weight",
                 "blocks.0.attention.w_out.weight"):
        assert llama[name]["bounds"][1] == pytest.approx(3 * scaled), name
    assert llama["lm_head.w_out.weight"]["bounds"][1] == pytest.approx(3 / 8)
    assert llama["lm_head.w_out.bias"]["law"] == "constant(0)"
    depth = _rows(model, ("olmo_core", {"method": "llama_depth"}))
    assert depth["blocks.2.attention.w_out.weight"]["bounds"][1] == pytest.approx(
        3 * 0.02 / math.sqrt(6))
    fan_in = _rows(model, ("olmo_core", {"method": "fan_in", "embed_scale": 4.0}))
    assert fan_in["blocks.0.feed_forward.w2.weight"]["bounds"][1] == pytest.approx(3 / 8)
    assert fan_in["embeddings.weight"]["law"] == "normal(mean=0, std=0.25)"
    normal = _rows(model, "olmo_core")
    assert normal["embeddings.weight"]["bounds"] == pytest.approx((-0.06, 0.06))


def test_neox_methods_default_to_pythias_small_init_and_wang_init():
    model = megatron_core(d=64, layers=4)
    rows = _rows(model, "neox")
    assert rows["decoder.layers.0.self_attention.linear_qkv.weight"]["std"] == pytest.approx(
        math.sqrt(2 / (5 * 64)))
    assert rows["embedding.word_embeddings.weight"]["std"] == pytest.approx(math.sqrt(2 / 320))
    assert rows["decoder.layers.3.mlp.linear_fc2.weight"]["std"] == pytest.approx(2 / 4 / 8)
    ortho = _rows(model, ("neox", {"init_method": "orthogonal",
                                   "output_layer_init_method": "scaled_orthogonal"}))
    assert ortho["decoder.layers.0.mlp.linear_fc1.weight"]["law"] == "orthogonal(gain=1.414)"
    assert ortho["decoder.layers.0.mlp.linear_fc2.weight"]["law"] == "orthogonal(gain=0.7071)"
    xavier = _rows(model, ("neox", {"init_method": "xavier_uniform"}))
    assert xavier["decoder.layers.0.mlp.linear_fc1.weight"]["bounds"][1] == pytest.approx(
        math.sqrt(6 / (64 + 256)))
    other = _rows(model, ("neox", {"init_method": "normal", "init_method_std": 0.01,
                                   "output_layer_init_method": "scaled_normal"}))
    assert other["decoder.layers.0.self_attention.linear_proj.weight"]["std"] == pytest.approx(
        0.01 / math.sqrt(8))


def test_deepnet_scales_v_out_and_mlp_by_the_deepnorm_beta():
    model = torch_transformer(encoder=3, decoder=2)
    rows = _rows(model, "deepnet")
    xavier = math.sqrt(6 / (4 * 32))  # in_proj (96, 32): the gain-1/sqrt(2) bound per part
    enc, dec = (3 ** 4 * 2) ** (1 / 16) / 1.15, (12 * 2) ** 0.25
    row = rows["encoder.layers.0.self_attn.in_proj_weight"]
    assert row["law"] == f"uniform(a={-xavier:.4g}, b={xavier:.4g}); rows 64:96 x {1 / enc:.4g}"
    out = rows["decoder.layers.1.multihead_attn.out_proj.weight"]
    assert out["bounds"][1] == pytest.approx(math.sqrt(6 / 64) / dec)
    fc = rows["decoder.layers.0.linear1.weight"]
    assert fc["bounds"][1] == pytest.approx(1 / math.sqrt(32) / dec)
    assert rows["decoder.layers.0.linear1.bias"]["bounds"][1] == pytest.approx(
        1 / math.sqrt(32) / dec)
    single = _rows(hf_llama(layers=3), "deepnet")
    assert single["model.layers.0.mlp.down_proj.weight"]["bounds"][1] == pytest.approx(
        1 / math.sqrt(64) / (8 * 3) ** 0.25)
    assert single["model.layers.0.self_attn.q_proj.weight"]["bounds"][1] == pytest.approx(
        math.sqrt(6 / 64) / math.sqrt(2))

    init_module(model, seed=1, scheme="deepnet")
    w = model.encoder.layers[0].self_attn.in_proj_weight.detach()
    assert w[:64].abs().max() <= xavier and w[:64].abs().max() > 0.95 * xavier
    assert w[64:].abs().max() <= xavier / enc and w[64:].abs().max() > 0.95 * xavier / enc


def test_t_fixup_scales_the_encoder_and_decoder_as_its_fairseq_code():
    model = torch_transformer(encoder=4, decoder=2)
    rows = _rows(model, "t-fixup")
    enc, dec = 0.67 * 4 ** -0.25, (9 * 2) ** -0.25
    assert rows["encoder.layers.0.linear2.weight"]["bounds"][1] == pytest.approx(
        math.sqrt(6 / 160) * enc)
    assert rows["decoder.layers.1.self_attn.out_proj.weight"]["bounds"][1] == pytest.approx(
        math.sqrt(6 / 64) * dec)
    assert rows["decoder.layers.1.multihead_attn.in_proj_weight"]["law"].endswith(
        f"rows 64:96 x {math.sqrt(2) * dec:.4g}")
    assert rows["encoder.layers.0.linear2.bias"]["law"] == "constant(0)"
    gpt = _rows(nanogpt(d=32, layers=3), "t-fixup")
    m = (9 * 3) ** -0.25
    assert gpt["transformer.wte.weight"]["std"] == pytest.approx(m / math.sqrt(32))
    assert gpt["transformer.h.0.attn.c_attn.weight"]["law"].endswith(f"x {math.sqrt(2) * m:.4g}")


def test_mup_scales_hidden_weights_by_the_width_multiplier_of_the_base():
    base, model = hf_llama(d=16, ff=32), hf_llama(d=64, ff=128)
    rows = _rows(model, ("mup", {"base": base, "std": 0.04}))
    assert rows["model.layers.0.mlp.up_proj.weight"]["std"] == pytest.approx(0.02)  # 0.04/sqrt 4
    assert rows["model.layers.0.mlp.down_proj.weight"]["std"] == pytest.approx(0.02)
    assert rows["model.embed_tokens.weight"]["std"] == 0.04  # vocab x width: one infinite dim
    assert rows["lm_head.weight"]["std"] == 0.04
    shapes = {n: tuple(p.shape) for n, p in base.named_parameters()}
    zero = _rows(model, ("mup", {"base": shapes, "readout_zero_init": True}))
    assert zero["lm_head.weight"]["law"] == "constant(0)"
    with pytest.raises(ValueError, match=r"base has extra parameters \[\] and lacks \['extra'\]"):
        model.extra = nn.Parameter(torch.zeros(2))
        describe(model, scheme=("mup", {"base": base}))


# ----------------------------------------------------------------------------- values


def test_values_are_gpuinits_fills_on_each_tensors_own_stream():
    model = hf_llama(d=64)
    init_module(model, seed=5, scheme=("megatron", {"std": 0.03}))
    name = "model.layers.1.self_attn.q_proj.weight"
    expected = gi.init.normal_(torch.empty(64, 64), 0.0, 0.03, seed=5, stream=path_stream(name))
    assert torch.equal(model.get_parameter(name).detach(), expected)
    olmo_model = olmo(d=64)
    init_module(olmo_model, seed=2, scheme=("olmo", {"method": "mitchell"}))
    name = "transformer.blocks.0.attn_out.weight"
    sigma = 1 / math.sqrt(2 * 64)
    expected = gi.init.trunc_normal_(torch.empty(64, 64), 0.0, sigma, -3 * sigma, 3 * sigma,
                                     seed=2, stream=path_stream(name))
    assert torch.equal(olmo_model.get_parameter(name).detach(), expected)


@pytest.mark.parametrize("scheme", ["megatron", ("olmo", {"method": "mitchell"}),
                                    ("olmo_core", {"method": "llama"}), "neox", "deepnet",
                                    "t-fixup", ("mup", {"base": hf_llama(d=32, ff=64)})])
def test_written_values_follow_the_described_laws(scheme):
    model = hf_llama(d=128, ff=256, vocab=512, padding=3)
    rows = _rows(model, scheme)
    init_module(model, seed=11, scheme=scheme)
    for name, t in dict(model.named_parameters()).items():
        t, row = t.detach().double(), rows[name]
        if row["law"].startswith("constant"):
            assert torch.equal(t, torch.full_like(t, float(row["law"][9:-1]))), name
            continue
        values = t[torch.arange(t.shape[0]) != 3] if name.endswith("embed_tokens.weight") else t
        assert values.std().item() == pytest.approx(row["std"], rel=0.05), name
        if row["bounds"] is not None:
            assert row["bounds"][0] <= t.min().item() and t.max().item() <= row["bounds"][1], name
    assert (model.model.embed_tokens.weight[3] == 0).all()  # the padding row, as torch's


def test_tied_weights_stay_tied_and_take_the_first_names_law():
    with torch.device("meta"):
        model = nanogpt(d=64)
    materialize(model, "cpu", seed=0, scheme="megatron")
    assert model.lm_head.weight is model.transformer["wte"].weight
    assert abs(model.lm_head.weight.std().item() - 0.02) < 0.002


def test_presets_keep_their_laws():
    model = nanogpt(d=64, layers=6)
    rows = _rows(model, "gpt2")
    assert rows["transformer.h.0.attn.c_proj.weight"]["std"] == pytest.approx(0.02 / math.sqrt(12))
    assert rows["transformer.h.0.attn.c_attn.weight"]["std"] == 0.02
    assert rows["transformer.h.0.mlp.c_fc.bias"]["law"] == "constant(0)"
    llama = _rows(hf_llama(), "llama")
    assert llama["model.layers.0.mlp.down_proj.weight"]["std"] == 0.02
    assert llama["model.norm.weight"]["law"] == "constant(1)"  # torch's RMSNorm default
    with pytest.raises(ValueError, match="scheme="):
        init_module(nn.Linear(2, 2), scheme="bert")


# ----------------------------------------------------------------------------- buffers


class _Embeddings(nn.Module):
    """A transformers-style module whose constructor computes its buffers."""

    def __init__(self, n=8):
        super().__init__()
        self.word_embeddings = nn.Embedding(16, 8)
        self.register_buffer("position_ids", torch.arange(n).expand((1, -1)), persistent=False)
        self.register_buffer("token_type_ids", torch.zeros(1, n, dtype=torch.long),
                             persistent=False)
        self.register_buffer("bias", torch.tril(torch.ones(n, n, dtype=torch.bool)).view(
            1, 1, n, n), persistent=False)


def test_constructor_computed_buffers_are_recomputed_on_materialize():
    reference = _Embeddings()
    with torch.device("meta"):
        model = _Embeddings()
    materialize(model, "cpu", seed=0, scheme="megatron")
    for name, buffer in reference.named_buffers():
        assert torch.equal(model.get_buffer(name), buffer), name
    rows = _rows(_Embeddings(), "megatron")
    assert rows["position_ids"]["law"] == "computed: position ids: arange"
    assert rows["bias"]["role"] == "buffer"
    with torch.device("meta"):
        plain = _Embeddings()
    with pytest.raises(ValueError, match="no initialization rule for"):
        materialize(plain, "cpu")  # the torch scheme does not guess buffers


# ----------------------------------------------------------------------------- describe


def test_describe_returns_rows_and_a_table_for_any_scheme_without_writing():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 8), nn.Embedding(10, 8, padding_idx=0),
                              nn.LayerNorm(8))
    rows = describe(model)
    assert list(rows[0]) == ["tensor", "shape", "dtype", "role", "law", "std", "bounds"]
    by_name = {r["tensor"]: r for r in rows}
    assert by_name["0.weight"]["law"] == "uniform(a=-0.5, b=0.5)"  # kaiming_uniform_(a=sqrt 5)
    assert by_name["0.weight"]["std"] == pytest.approx(1 / math.sqrt(12))
    assert by_name["1.weight"]["law"] == "normal(mean=0, std=1); row 0 zero"
    assert by_name["2.bias"] == {"tensor": "2.bias", "shape": (8,), "dtype": "float32",
                                 "role": "bias", "law": "constant(0)", "std": 0.0,
                                 "bounds": (0.0, 0.0)}
    assert all(t.is_meta for t in model.parameters())
    text = str(rows).splitlines()
    assert text[0].split() == ["tensor", "shape", "dtype", "role", "law", "std", "bounds"]
    assert text[2].split()[:4] == ["0.weight", "(8,", "4)", "float32"]
    xavier = {r["tensor"]: r for r in describe(torch_transformer())}
    bound = math.sqrt(6 / (96 + 32))  # nn.Transformer's xavier_uniform_ of every matrix
    assert xavier["encoder.layers.0.self_attn.in_proj_weight"]["bounds"] == pytest.approx(
        (-bound, bound))
    custom = describe(nn.Sequential(nn.Linear(4, 4)), scheme={"0.weight": ("kaiming_normal_",
                                                                          {"mode": "fan_out"})})
    assert custom[0]["law"] == "kaiming_normal_(mode='fan_out')"
    with pytest.raises(ValueError, match=r"0\.weight: mode 'bad'"):
        describe(nn.Sequential(nn.Linear(4, 4)), scheme={"*.weight": ("kaiming_normal_",
                                                                      {"mode": "bad"})})


def test_init_torch_describe_prints_the_plan(tmp_path, monkeypatch, capsys):
    from gpuinit.cli import main

    (tmp_path / "scheme_models.py").write_text(textwrap.dedent("""
        from torch import nn

        def block(width=16):
            layer = nn.TransformerEncoderLayer(width, 2, 2 * width)
            return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "never.safetensors"
    assert main(["init-torch", "scheme_models:block", "--device", "cpu", "--scheme", "megatron",
                 "--kwargs", json.dumps({"width": 8}), "--describe", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["tensor", "shape", "dtype", "role", "law", "std", "bounds"]
    row = next(line for line in printed if line.startswith("layers.1.linear2.weight"))
    assert "mlp_out" in row and f"std={0.02 / 2:.4g}" in row
    assert not out.exists()


def test_describe_shows_the_law_of_a_catalogue_initializer():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    table = describe(model, {"*.weight": "he_normal"})
    rows = {row["tensor"]: row for row in table}
    # he_normal: a normal truncated at two sigma whose std is sqrt(2 / fan_in)
    sigma = math.sqrt(2.0 / 4) / 0.87962566103423978
    assert rows["0.weight"]["law"] == TruncatedNormal.absolute(sigma, -2 * sigma, 2 * sigma).text()
    assert rows["0.weight"]["bounds"] == pytest.approx((-2 * sigma, 2 * sigma))
    assert rows["0.weight"]["std"] == pytest.approx(math.sqrt(2.0 / 4), rel=1e-6)
    assert "fill" not in str(table)


def test_describe_of_a_sharded_model_sees_no_overlap():
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from .helpers import one_process_group

    with one_process_group():
        mesh = init_device_mesh("cpu", (1,))
        with torch.device("meta"):
            model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
        fully_shard(model, mesh=mesh)
        meta_table = str(describe(model))
        materialize(model, "cpu", seed=0)
        table = describe(model)
        assert [row["tensor"] for row in table] == ["0.weight", "0.bias", "1.weight", "1.bias"]
        assert str(table) == meta_table


def test_every_fill_gpuinit_builds_says_its_law_without_closures():
    from gpuinit.laws import Law, Rule

    model = nn.Sequential(nn.Embedding(7, 4, padding_idx=2), nn.MultiheadAttention(4, 2),
                          nn.BatchNorm1d(4))
    plan = gi.torch.torch_plan(model)
    assert all(isinstance(fill, (Law, Rule)) for fill in plan.values()), plan
    rows = {row["tensor"]: row for row in describe(model)}
    bound = math.sqrt(6.0 / (4 + 12))  # xavier_uniform_ of in_proj_weight (12, 4)
    assert rows["1.in_proj_weight"]["bounds"] == pytest.approx((-bound, bound))
    assert rows["0.weight"]["law"] == "normal(mean=0, std=1); row 2 zero"
    table = describe(nn.Linear(3, 3), {"weight": "identity", "bias": ("zeros_", {})})
    assert [row["law"] for row in table] == ["eye", "zeros_()"]


def test_a_normal_takes_mean_then_std_as_torch_does_and_refuses_a_lone_number():
    from gpuinit import laws

    assert Normal is laws.Normal and Normal(std=0.5, mean=1.0) == Normal(1.0, 0.5)
    assert Normal(1.0, 0.5).text() == "normal(mean=1, std=0.5)"
    with pytest.raises(TypeError, match="needs std"):
        Normal(0.02)  # never read as a mean with a default std
    with pytest.raises(TypeError):
        TruncatedNormal.absolute(1.0, -2.0, 2.0, 0.5)  # the mean by keyword only


def test_a_dict_scheme_value_may_be_a_law():
    model = init_module(nn.Linear(3, 2), seed=0, scheme={"bias": Normal(std=0.5, mean=3.0)})
    same = init_module(nn.Linear(3, 2), seed=0, scheme={"bias": ("normal_", {"mean": 3.0,
                                                                              "std": 0.5})})
    assert torch.equal(model.bias, same.bias)


@pytest.mark.parametrize("scheme, message", [
    ({"*.weight": "zeros"}, r"scheme key '\*\.weight' matches no tensor of the model \(its "
                            r"tensors are named 'weight', 'bias'\)"),
    ({"weight": "zeros", "decoder.*": "zeros"}, r"scheme key 'decoder\.\*' matches no tensor"),
    ({torch.nn.Conv2d: "zeros"}, "scheme key Conv2d matches no module of the model"),
])
def test_a_dict_scheme_key_that_matches_nothing_is_refused_before_anything_is_written(
        scheme, message):
    lin = torch.nn.Linear(4, 4)
    before = lin.weight.detach().clone()
    with pytest.raises(ValueError, match=message):
        init_module(lin, scheme=scheme, seed=0)
    assert torch.equal(lin.weight, before)


class _ZeroReadout(nn.Linear):
    """A subclass that initializes itself (as muP's MuReadout with readout_zero_init)."""

    def reset_parameters(self):
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)


class _PlainSubclass(nn.Linear):
    """A subclass that keeps nn.Linear's reset_parameters."""


def test_a_subclass_with_its_own_reset_parameters_gets_no_torch_rule():
    model = nn.Sequential(_PlainSubclass(4, 8), _ZeroReadout(8, 2))
    before = _clones(model)
    with pytest.raises(ValueError, match=r"\['1\.weight', '1\.bias'\].*own reset_parameters"):
        init_module(model, seed=0)
    assert all(torch.equal(t, before[n]) for n, t in _clones(model).items())
    init_module(model, seed=0, scheme={"1.*": "zeros"})  # covered: the plain one by torch's
    assert not model[1].weight.any() and model[0].weight.abs().max() > 0


@pytest.mark.parametrize("scheme", ["gpt2", "llama"])
def test_the_presets_zero_an_embedding_s_padding_row(scheme):
    model = nn.Sequential(nn.Embedding(10, 4, padding_idx=2), nn.Linear(4, 4))
    init_module(model, seed=0, scheme=scheme)
    weight = model[0].weight.detach()
    assert not weight[2].any() and weight[[0, 1, 3]].abs().min() > 0


def test_a_wrapped_model_gets_the_values_of_the_module_it_wraps():
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))
    expected = {n: t.clone() for n, t in _clones(init_module(model, seed=3)).items()}
    for wrapped in (nn.DataParallel(model), torch.compile(model)):  # compile: on a call
        init_module(model, seed=4)
        assert init_module(wrapped, seed=3) is wrapped
        assert all(torch.equal(t, expected[n]) for n, t in _clones(model).items())
    assert describe(wrapped)[0]["tensor"] == "0.weight"  # the module's own names
    with torch.device("meta"):
        bare = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))
    materialize(nn.DataParallel(bare), seed=3)  # device "auto": CUDA if usable, else CPU
    assert all(torch.equal(t.cpu(), expected[n]) for n, t in _clones(bare).items())


def test_a_lazy_module_not_built_yet_is_refused_naming_its_tensors():
    model = nn.Sequential(nn.Linear(4, 4), nn.LazyLinear(2))
    with pytest.raises(ValueError, match=r"\['1\.weight', '1\.bias'\] are not built yet"):
        init_module(model, seed=0)
    model(torch.zeros(1, 4))  # built by a forward pass: then filled
    init_module(model, seed=0)
    assert model[1].weight.abs().max() <= 0.5


def test_a_fan_based_dict_value_that_would_skip_every_tensor_it_matches_is_refused():
    with pytest.raises(ValueError, match=r"'he_normal', which needs 2 or more dimensions, "
                                         r"only to 1-D tensors \['bias'\]"):
        init_module(nn.Linear(4, 4), scheme={"bias": "he_normal"}, seed=0)


def test_init_module_runs_its_fills_without_autograd_as_torch_nn_init_does():
    seen = []

    def fill(t, seed, stream):
        seen.append(torch.is_grad_enabled())
        t.zero_()

    init_module(nn.DataParallel(nn.Linear(2, 2)), scheme={"weight": fill}, seed=0)
    assert seen == [False] and torch.is_grad_enabled()
