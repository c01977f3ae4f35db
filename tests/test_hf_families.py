"""scheme="hf" family by family against transformers' own ``_init_weights`` (marked
``peers``: they need ``transformers`` and ``scipy``).

Each family is a tiny config built in code (vocabulary 96, 2 layers, width 32;
no downloads).  The reference is transformers' own init: ``from_config`` under
``torch.manual_seed(s)`` for six seeds; gpuinit's is the meta model materialized
by scheme="hf" with six seeds.  Per tensor, pooled over the seeds:

- a tensor that transformers makes the same under every seed (constants, computed
  buffers, zero rows) must be equal in gpuinit's, bit for bit;
- a random one must have the same all-zero rows (padding) and lie within the
  bounds its law states; its mean must agree with the reference's within six
  standard errors, its std within six standard errors of a sample std (relative
  sd √((κ-1)/4n), κ the pooled kurtosis: 1/√(2n) for a normal) both with the
  reference's and with the std of the law ``describe`` reports; a small one
  (<= 1024 values a seed) must pass a two-sample KS test at p > 1e-4.

The materialized model then computes what the normally built one does given its
weights (which also checks the buffers a state dict leaves out).  A family whose
``_init_weights`` is not known must raise a clear ValueError before allocating.
"""

import math
import re

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
stats = pytest.importorskip("scipy.stats")
from gpuinit.torch import describe, materialize  # noqa: E402

pytestmark = pytest.mark.peers
transformers.logging.set_verbosity_error()

SEEDS = tuple(range(6))
Z = 6.0  # standard errors: a correct law fails one comparison with probability ~2e-9
KS_MAX = 1024
KS_P = 1e-4
_S = {"vocab_size": 96, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "max_position_embeddings": 64}
_T5 = {"vocab_size": 96, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2,
       "num_heads": 4, "relative_attention_num_buckets": 8}
_BART = {"vocab_size": 96, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
         "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 64,
         "decoder_ffn_dim": 64, "max_position_embeddings": 64, "pad_token_id": 1}


def _configs():
    t = transformers
    causal, seq2seq = t.AutoModelForCausalLM, t.AutoModelForSeq2SeqLM
    moe = {"num_key_value_heads": 2, "num_experts_per_tok": 2}
    return {
        # the generic PreTrainedModel._init_weights
        "llama": (causal, lambda: t.LlamaConfig(**_S, num_key_value_heads=2, pad_token_id=3)),
        "mistral": (causal, lambda: t.MistralConfig(**_S, num_key_value_heads=2,
                                                    initializer_range=0.05)),
        "qwen2": (causal, lambda: t.Qwen2Config(**_S, num_key_value_heads=2)),
        "qwen3": (causal, lambda: t.Qwen3Config(**_S, num_key_value_heads=2, head_dim=8)),
        "phi3": (causal, lambda: t.Phi3Config(**_S, num_key_value_heads=2, pad_token_id=0)),
        "olmo": (causal, lambda: t.OlmoConfig(**_S, pad_token_id=1)),
        "olmo2": (causal, lambda: t.Olmo2Config(**_S, pad_token_id=1)),
        "gpt_neox": (causal, lambda: t.GPTNeoXConfig(**_S)),
        "opt": (causal, lambda: t.OPTConfig(
            vocab_size=96, hidden_size=32, ffn_dim=64, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=64, word_embed_proj_dim=32)),
        "bloom": (causal, lambda: t.BloomConfig(vocab_size=96, hidden_size=32, n_layer=2,
                                                n_head=4)),
        # families with their own _init_weights
        "gemma": (causal, lambda: t.GemmaConfig(**_S, num_key_value_heads=2, head_dim=8)),
        "gemma2": (causal, lambda: t.Gemma2Config(**_S, num_key_value_heads=2, head_dim=8)),
        "gemma3": (causal, lambda: t.Gemma3TextConfig(
            **_S, num_key_value_heads=2, head_dim=8,
            layer_types=["sliding_attention", "full_attention"])),
        "t5": (seq2seq, lambda: t.T5Config(**_T5, initializer_factor=0.5)),
        "t5-gated-untied": (seq2seq, lambda: t.T5Config(
            **_T5, feed_forward_proj="gated-gelu", tie_word_embeddings=False)),
        "mt5": (seq2seq, lambda: t.MT5Config(**_T5)),
        "umt5": (seq2seq, lambda: t.UMT5Config(**_T5)),
        "longt5": (seq2seq, lambda: t.LongT5Config(**_T5, encoder_attention_type="transient-global",
                                                   local_radius=4, global_block_size=4)),
        "gptj": (causal, lambda: t.GPTJConfig(vocab_size=96, n_embd=32, n_layer=2, n_head=4,
                                              n_positions=64, rotary_dim=4)),
        "codegen": (causal, lambda: t.CodeGenConfig(vocab_size=96, n_embd=32, n_layer=2,
                                                    n_head=4, n_positions=64, rotary_dim=4)),
        "falcon": (causal, lambda: t.FalconConfig(vocab_size=96, hidden_size=32,
                                                  num_hidden_layers=2, num_attention_heads=4,
                                                  bias=True, initializer_range=0.03)),
        "mixtral": (causal, lambda: t.MixtralConfig(**_S, **moe, num_local_experts=4)),
        "qwen2_moe": (causal, lambda: t.Qwen2MoeConfig(
            **_S, **moe, num_experts=4, moe_intermediate_size=16,
            shared_expert_intermediate_size=32)),
        "qwen3_moe": (causal, lambda: t.Qwen3MoeConfig(
            **_S, **moe, num_experts=4, moe_intermediate_size=16, head_dim=8)),
        "olmoe": (causal, lambda: t.OlmoeConfig(**_S, **moe, num_experts=4)),
        "deepseek_v3": (causal, lambda: t.DeepseekV3Config(
            **{**_S, **moe, "num_key_value_heads": 4}, n_routed_experts=4,
            moe_intermediate_size=16, first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=16,
            qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8, n_group=2, topk_group=1)),
        "mamba": (causal, lambda: t.MambaConfig(vocab_size=96, hidden_size=32,
                                                num_hidden_layers=2, state_size=8)),
        "mamba-rescaled": (causal, lambda: t.MambaConfig(
            vocab_size=96, hidden_size=32, num_hidden_layers=2, state_size=8,
            rescale_prenorm_residual=True, time_step_init_scheme="constant",
            tie_word_embeddings=False)),
        "gpt_neo": (causal, lambda: t.GPTNeoConfig(
            vocab_size=96, hidden_size=32, num_layers=2, num_heads=4,
            max_position_embeddings=64, attention_types=[[["global", "local"], 1]],
            window_size=8)),
        "gpt_bigcode": (causal, lambda: t.GPTBigCodeConfig(vocab_size=96, n_embd=32,
                                                           n_layer=2, n_head=4, n_positions=64)),
        "bart": (seq2seq, lambda: t.BartConfig(**_BART)),
        "mbart": (seq2seq, lambda: t.MBartConfig(**_BART)),
        "blenderbot": (seq2seq, lambda: t.BlenderbotConfig(**_BART)),
        "pegasus": (seq2seq, lambda: t.PegasusConfig(**_BART)),
        "marian": (seq2seq, lambda: t.MarianConfig(**_BART, decoder_vocab_size=96)),
        "m2m_100": (seq2seq, lambda: t.M2M100Config(**_BART)),
        "xglm": (causal, lambda: t.XGLMConfig(vocab_size=96, d_model=32, ffn_dim=64,
                                              num_layers=2, attention_heads=4,
                                              max_position_embeddings=64)),
        "nemotron": (causal, lambda: t.NemotronConfig(**_S, num_key_value_heads=2)),
        "granitemoe": (causal, lambda: t.GraniteMoeConfig(**_S, **moe, num_local_experts=4)),
        "phimoe": (causal, lambda: t.PhimoeConfig(**_S, **moe, num_local_experts=4)),
        "deepseek_v2": (causal, lambda: t.DeepseekV2Config(
            **{**_S, **moe, "num_key_value_heads": 4}, n_routed_experts=4, n_shared_experts=1,
            moe_intermediate_size=16, first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=16,
            qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8, n_group=2, topk_group=1)),
        "glm4_moe": (causal, lambda: t.Glm4MoeConfig(
            **_S, **moe, n_routed_experts=4, n_shared_experts=1, moe_intermediate_size=16,
            first_k_dense_replace=1, n_group=2, topk_group=1)),
        "ernie4_5_moe": (causal, lambda: t.Ernie4_5_MoeConfig(
            **_S, num_key_value_heads=2, moe_num_experts=4, moe_k=2, moe_intermediate_size=16,
            moe_layer_start_index=1, moe_num_shared_experts=1)),
        "hunyuan_v1_moe": (causal, lambda: t.HunYuanMoEV1Config(
            **_S, num_key_value_heads=2, num_experts=4, moe_topk=2, head_dim=8)),
        "gpt_oss": (causal, lambda: t.GptOssConfig(
            **{**_S, **moe}, num_local_experts=4, head_dim=8, sliding_window=8)),
        "dbrx": (causal, lambda: t.DbrxConfig(
            d_model=32, n_heads=4, n_layers=2, max_seq_len=64, vocab_size=96,
            attn_config={"kv_n_heads": 2, "rope_theta": 10000.0, "clip_qkv": 8.0},
            ffn_config={"ffn_hidden_size": 64, "moe_num_experts": 4, "moe_top_k": 2})),
        "jamba": (causal, lambda: t.JambaConfig(
            **_S, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
            attn_layer_period=2, attn_layer_offset=1, expert_layer_period=2,
            expert_layer_offset=1, mamba_d_state=8, mamba_dt_rank=4, use_mamba_kernels=False)),
        "qwen3_next": (causal, lambda: t.Qwen3NextConfig(
            **_S, num_key_value_heads=2, head_dim=8, num_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=16, shared_expert_intermediate_size=16,
            linear_key_head_dim=8, linear_value_head_dim=8, linear_num_key_heads=2,
            linear_num_value_heads=4, layer_types=["linear_attention", "full_attention"])),
        "qwen3_5": (causal, lambda: t.Qwen3_5TextConfig(
            **_S, num_key_value_heads=2, head_dim=8, linear_key_head_dim=8,
            linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4,
            layer_types=["linear_attention", "full_attention"])),
        "qwen3_5_moe": (causal, lambda: t.Qwen3_5MoeTextConfig(
            **{k: v for k, v in _S.items() if k != "intermediate_size"}, num_key_value_heads=2,
            head_dim=8, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
            shared_expert_intermediate_size=16, linear_key_head_dim=8, linear_value_head_dim=8,
            linear_num_key_heads=2, linear_num_value_heads=4,
            layer_types=["linear_attention", "full_attention"])),
        "olmo3": (causal, lambda: t.Olmo3Config(
            **_S, num_key_value_heads=2, sliding_window=8,
            layer_types=["sliding_attention", "full_attention"])),
        "vaultgemma": (causal, lambda: t.VaultGemmaConfig(**_S, num_key_value_heads=2,
                                                          head_dim=8)),
        "granitemoeshared": (causal, lambda: t.GraniteMoeSharedConfig(
            **_S, **moe, num_local_experts=4, shared_intermediate_size=32)),
        "cohere2_moe": (causal, lambda: t.Cohere2MoeConfig(
            **_S, **moe, num_experts=4, head_dim=8)),
        "dots1": (causal, lambda: t.Dots1Config(
            **_S, **moe, n_routed_experts=4, n_shared_experts=1, moe_intermediate_size=16,
            first_k_dense_replace=1, n_group=2, topk_group=1)),
        "deepseek_v32": (causal, lambda: t.DeepseekV32Config(
            **{**_S, **moe, "num_key_value_heads": 4}, n_routed_experts=4, n_shared_experts=1,
            moe_intermediate_size=16, first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=16,
            qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8, n_group=2, topk_group=1,
            index_topk=8, index_head_dim=8, index_n_heads=2)),
        "jetmoe": (causal, lambda: t.JetMoeConfig(
            vocab_size=96, hidden_size=32, num_hidden_layers=2, num_key_value_heads=2,
            kv_channels=8, intermediate_size=64, max_position_embeddings=64,
            num_local_experts=4, num_experts_per_tok=2)),
        "falcon_mamba": (causal, lambda: t.FalconMambaConfig(
            vocab_size=96, hidden_size=32, num_hidden_layers=2, state_size=8)),
        "mamba2": (causal, lambda: t.Mamba2Config(
            vocab_size=96, hidden_size=32, num_hidden_layers=2, state_size=8, num_heads=8,
            head_dim=8, n_groups=1, chunk_size=16)),
    }


FAMILIES = list(_configs())


def _build(family, meta=False, seed=0):
    auto, config = _configs()[family]
    if meta:
        with torch.device("meta"):
            return auto.from_config(config())
    torch.manual_seed(seed)
    return auto.from_config(config())


def _tensors(model):
    tensors = dict(model.named_parameters())
    tensors.update({n: b for n, b in model.named_buffers() if b is not None})
    return {n: t.detach().clone() for n, t in tensors.items()}


def _kurtosis(x):
    centred = x - x.mean()
    variance = (centred ** 2).mean()
    return ((centred ** 4).mean() / variance ** 2).item()


def _zero_rows(values):
    """Return the set of rows that are zero in every seed (values: seeds x tensor)."""
    if values.dim() < 3:
        return set()
    flat = values.flatten(2)
    return {int(i) for i in torch.nonzero((flat == 0).all(dim=2).all(dim=0)).flatten()}


def compare(family):
    """Return {tensor: None when it matches transformers' law, else why not}."""
    references = [_tensors(_build(family, seed=s)) for s in SEEDS]
    rows = {r["tensor"]: r for r in describe(_build(family, meta=True), scheme="hf")}
    ours = [_tensors(materialize(_build(family, meta=True), "cpu", seed=s, scheme="hf"))
            for s in SEEDS]
    assert ours[0].keys() == references[0].keys(), family
    return {name: _compare_one(name, torch.stack([r[name] for r in references]),
                               torch.stack([o[name] for o in ours]), rows[name])
            for name in references[0]}


def _compare_one(name, ref, mine, row):
    if mine.shape != ref.shape or mine.dtype != ref.dtype:
        return f"shape/dtype {tuple(mine.shape)} {mine.dtype} != {tuple(ref.shape)} {ref.dtype}"
    if all(torch.equal(ref[0], r) for r in ref[1:]):  # the same under every seed
        return None if torch.equal(mine, ref) else f"not equal to the reference ({row['law']})"
    zero = _zero_rows(ref)
    if _zero_rows(mine) != zero or {int(r) for r in re.findall(r"row (\d+) zero", row["law"])} \
            != zero:
        return f"zero rows {_zero_rows(mine)} (law {row['law']}), reference {zero}"
    keep = [i for i in range(ref.shape[1])] if ref.dim() > 1 else None
    if keep is not None and zero:
        keep = [i for i in keep if i not in zero]
        ref, mine = ref[:, keep], mine[:, keep]
    a, b = ref.double().flatten(), mine.double().flatten()
    n_a, n_b = a.numel(), b.numel()
    if row["bounds"] is not None:
        low, high = row["bounds"]
        slack = 1e-6 * max(1.0, abs(low), abs(high))
        for label, x in (("reference", a), ("gpuinit", b)):
            if x.min() < low - slack or x.max() > high + slack:
                return f"{label} values [{x.min():.4g}, {x.max():.4g}] outside {row['bounds']}"
    s_a, s_b = a.std().item(), b.std().item()
    spread = math.sqrt(((n_a - 1) * s_a ** 2 + (n_b - 1) * s_b ** 2) / (n_a + n_b - 2))
    if abs(a.mean() - b.mean()) > Z * spread * math.sqrt(1 / n_a + 1 / n_b):
        return f"mean {b.mean():.4g} vs reference {a.mean():.4g} (std {spread:.4g})"
    excess = max(_kurtosis(torch.cat([a - a.mean(), b - b.mean()])) - 1, 0.1)
    if abs(s_b / s_a - 1) > Z * math.sqrt(excess / (4 * n_a) + excess / (4 * n_b)):
        return f"std {s_b:.4g} vs reference {s_a:.4g}"
    if row["std"] is None or abs(s_a / row["std"] - 1) > Z * math.sqrt(excess / (4 * n_a)):
        return f"the law's std {row['std']} vs the reference's {s_a:.4g} ({row['law']})"
    if n_a <= KS_MAX * len(SEEDS):
        p = stats.ks_2samp(a.numpy(), b.numpy()).pvalue
        if p <= KS_P:
            return f"KS p={p:.3g} ({row['law']})"
    return None


@pytest.mark.parametrize("family", FAMILIES)
def test_each_tensor_has_the_law_of_the_familys_own_init(family):
    mismatches = {n: why for n, why in compare(family).items() if why is not None}
    assert not mismatches, mismatches


def _inputs(model):
    ids = torch.randint(2, 96, (2, 12), generator=torch.Generator().manual_seed(0))
    if model.config.is_encoder_decoder:
        return {"input_ids": ids, "decoder_input_ids": ids[:, :7]}
    return {"input_ids": ids}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_materialized_model_computes_what_a_normally_built_one_does(family):
    model = materialize(_build(family, meta=True), "cpu", seed=5, scheme="hf")
    reference = _build(family)
    reference.load_state_dict(model.state_dict())
    for name, buffer in reference.named_buffers():  # those a state dict leaves out too
        assert torch.equal(model.get_buffer(name), buffer), name
    model.eval()
    reference.eval()
    with torch.no_grad():
        assert torch.equal(model(**_inputs(model)).logits, reference(**_inputs(model)).logits)


def test_the_laws_read_the_config():
    rows = {r["tensor"]: r for r in describe(_build("t5", meta=True), scheme="hf")}
    attention = "encoder.block.0.layer.0.SelfAttention"
    assert rows[f"{attention}.q.weight"]["std"] == pytest.approx(0.5 / math.sqrt(32 * 8))
    assert rows[f"{attention}.o.weight"]["std"] == pytest.approx(0.5 / math.sqrt(4 * 8))
    assert rows[f"{attention}.relative_attention_bias.weight"]["std"] == pytest.approx(
        0.5 / math.sqrt(32))
    assert rows["encoder.block.0.layer.1.DenseReluDense.wo.weight"]["std"] == pytest.approx(
        0.5 / math.sqrt(64))
    assert rows["shared.weight"]["std"] == 0.5
    assert rows["encoder.final_layer_norm.weight"]["law"] == "constant(0.5)"
    gemma = {r["tensor"]: r for r in describe(_build("gemma", meta=True), scheme="hf")}
    assert gemma["model.norm.weight"]["law"] == "constant(0)"
    assert gemma["model.embed_tokens.embed_scale"]["law"] == f"constant({math.sqrt(32):g})"
    mixtral = {r["tensor"]: r for r in describe(_build("mixtral", meta=True), scheme="hf")}
    assert mixtral["model.layers.1.mlp.experts.gate_up_proj"]["std"] == 0.02
    assert mixtral["model.layers.1.mlp.gate.weight"]["std"] == 0.02
    mamba = {r["tensor"]: r for r in describe(_build("mamba-rescaled", meta=True),
                                              scheme="hf")}
    bound = 1 / math.sqrt(64) / math.sqrt(2)  # kaiming_uniform(a=√5), / √num_hidden_layers
    assert mamba["backbone.layers.0.mixer.out_proj.weight"]["bounds"] == pytest.approx(
        (-bound, bound))
    assert mamba["backbone.layers.0.mixer.dt_proj.weight"]["law"] == \
        f"constant({2 ** -0.5:g})"


def _unsupported():
    t = transformers
    return t.AutoModelForCausalLM, t.RecurrentGemmaConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, lru_width=32, attention_window_size=8)


def test_a_family_whose_init_is_not_known_is_refused_before_allocating():
    auto, config = _unsupported()
    with torch.device("meta"):
        model = auto.from_config(config)
    with pytest.raises(ValueError, match=r"does not know .*RecurrentGemmaPreTrainedModel\."
                                         r"_init_weights .*use a dict scheme"):
        materialize(model, "cpu", scheme="hf")
    assert all(t.is_meta for t in model.parameters())
    with pytest.raises(ValueError, match="does not know"):
        describe(model, scheme="hf")
