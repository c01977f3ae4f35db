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


class _Made:
    """A model class that no Auto class maps a config to, made from its config as an Auto
    class makes a model."""

    def __init__(self, name):
        self.name = name

    def from_config(self, config):
        return getattr(transformers, self.name)._from_config(config)


def _configs():
    t = transformers
    causal, seq2seq = t.AutoModelForCausalLM, t.AutoModelForSeq2SeqLM
    moe = {"num_key_value_heads": 2, "num_experts_per_tok": 2}
    mla = {"kv_lora_rank": 16, "q_lora_rank": 16, "qk_rope_head_dim": 4, "qk_nope_head_dim": 4,
           "v_head_dim": 8}
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
        "llama4": (causal, lambda: t.Llama4TextConfig(
            **_S, num_key_value_heads=2, head_dim=8, num_local_experts=4,
            num_experts_per_tok=1, intermediate_size_mlp=64, interleave_moe_layer_step=1,
            no_rope_layers=[1, 0], initializer_range=0.03)),
        "llama4-vision": (t.AutoModelForImageTextToText, lambda: t.Llama4Config(
            text_config=dict(**_S, num_key_value_heads=2, head_dim=8, num_local_experts=4,
                             num_experts_per_tok=1, intermediate_size_mlp=64,
                             no_rope_layers=[1, 0]),
            vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, image_size=28, patch_size=14,
                               vision_output_dim=32, projector_input_dim=32,
                               projector_output_dim=32), image_token_index=95)),
        "gemma3n": (causal, lambda: t.Gemma3nTextConfig(
            **_S, num_key_value_heads=2, head_dim=8, vocab_size_per_layer_input=96,
            hidden_size_per_layer_input=8, laurel_rank=4, altup_num_inputs=2,
            num_kv_shared_layers=0, sliding_window=8, activation_sparsity_pattern=[0.0, 0.0],
            layer_types=["sliding_attention", "full_attention"])),
        "gemma3n-audio": (_Made("Gemma3nAudioEncoder"), lambda: t.Gemma3nAudioConfig(
            input_feat_size=16, hidden_size=32, conf_num_attention_heads=4,
            conf_num_hidden_layers=2, sscp_conv_channel_size=(8, 4),
            conf_attention_chunk_size=4, conf_attention_context_left=5)),
        "minicpm3": (causal, lambda: t.MiniCPM3Config(
            **_S, num_key_value_heads=4, **mla, scale_emb=12.0)),
        "granite_swa": (causal, lambda: t.GraniteSWAConfig(**_S, num_key_value_heads=2)),
        "diffllama": (causal, lambda: t.DiffLlamaConfig(**_S, num_key_value_heads=2,
                                                        lambda_std_dev=0.3)),
        "nanochat": (causal, lambda: t.NanoChatConfig(**_S, num_key_value_heads=2,
                                                      initializer_range=0.05)),
        "flex_olmo": (causal, lambda: t.FlexOlmoConfig(**_S, **moe, num_experts=4,
                                                       pad_token_id=1)),
        "glm4_moe_lite": (causal, lambda: t.Glm4MoeLiteConfig(
            **{**_S, **moe, "num_key_value_heads": 4}, n_routed_experts=4, n_shared_experts=1,
            moe_intermediate_size=16, first_k_dense_replace=1, n_group=2, topk_group=1, **mla)),
        "mistral4": (_Made("Mistral4ForCausalLM"), lambda: t.Mistral4Config(
            **{**_S, **moe, "num_key_value_heads": 4}, n_routed_experts=4, n_shared_experts=1,
            moe_intermediate_size=16, first_k_dense_replace=1, n_group=2, topk_group=1, **mla)),
        "exaone_moe": (causal, lambda: t.ExaoneMoeConfig(
            **_S, **moe, num_experts=4, moe_intermediate_size=16, num_shared_experts=1,
            n_group=2, topk_group=1)),
        "longcat_flash": (causal, lambda: t.LongcatFlashConfig(
            **{**_S, "num_key_value_heads": 4}, n_routed_experts=4, zero_expert_num=2,
            moe_topk=2, moe_intermediate_size=16, ffn_hidden_size=64, head_dim=4, **mla)),
        "minicpm5_moe": (causal, lambda: t.MiniCPM5MoeConfig(
            **_S, **moe, n_routed_experts=4, n_shared_experts=1, moe_intermediate_size=16,
            first_k_dense_replace=1, n_group=2, topk_group=1)),
        "solar_open": (causal, lambda: t.SolarOpenConfig(
            **_S, **moe, n_routed_experts=4, n_shared_experts=1, moe_intermediate_size=16,
            first_k_dense_replace=1, n_group=2, topk_group=1, head_dim=8)),
        "lfm2_moe": (causal, lambda: t.Lfm2MoeConfig(
            **_S, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=16, num_dense_layers=1, layer_types=["conv", "full_attention"])),
        "minimax_m2": (causal, lambda: t.MiniMaxM2Config(**_S, **moe, num_local_experts=4,
                                                         head_dim=8)),
        "granitemoe_swa": (causal, lambda: t.GraniteMoeSWAConfig(**_S, **moe,
                                                                 num_local_experts=4)),
        "hy_v3": (causal, lambda: t.HYV3Config(**_S, **moe, num_experts=4,
                                               moe_intermediate_size=16, head_dim=8)),
        "afmoe": (causal, lambda: t.AfmoeConfig(
            **_S, **moe, num_experts=4, moe_intermediate_size=16, num_dense_layers=1,
            head_dim=8, global_attn_every_n_layers=2, sliding_window=8)),
        "granitemoehybrid": (causal, lambda: t.GraniteMoeHybridConfig(
            **_S, **moe, num_local_experts=4, shared_intermediate_size=32, mamba_n_heads=8,
            mamba_d_head=8, mamba_d_state=8, mamba_n_groups=1, mamba_chunk_size=16,
            layer_types=["mamba", "attention"])),
        "olmo_hybrid": (causal, lambda: t.OlmoHybridConfig(
            **_S, num_key_value_heads=2, linear_key_head_dim=8, linear_value_head_dim=8,
            linear_num_key_heads=2, linear_num_value_heads=4, pad_token_id=1,
            layer_types=["linear_attention", "full_attention"])),
        "kimi_linear": (causal, lambda: t.KimiLinearConfig(
            **_S, **moe, num_experts=4, moe_intermediate_size=16, first_k_dense_replace=1,
            pad_token_id=1, **mla, linear_attn_config={
                "kda_layers": [1], "full_attn_layers": [2], "num_heads": 4, "head_dim": 8,
                "short_conv_kernel_size": 4})),
        "bailing_hybrid": (causal, lambda: t.BailingHybridConfig(
            **{**_S, **moe, "num_key_value_heads": 4}, num_experts=4, n_group=2, topk_group=1,
            moe_intermediate_size=16, first_k_dense_replace=1, head_dim=8, pad_token_id=1,
            layer_types=["linear_attention", "full_attention"],
            **{**mla, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8})),
        "doge": (causal, lambda: t.DogeConfig(**_S, num_key_value_heads=2)),
        "ctrl": (causal, lambda: t.CTRLConfig(vocab_size=96, n_positions=64, n_embd=32, dff=64,
                                              n_layer=2, n_head=4)),
        "gemma4": (causal, lambda: t.Gemma4TextConfig(
            **_S, num_key_value_heads=2, head_dim=8, hidden_size_per_layer_input=8,
            vocab_size_per_layer_input=96, sliding_window=8, enable_moe_block=True,
            num_experts=4, top_k_experts=2, moe_intermediate_size=16,
            layer_types=["sliding_attention", "full_attention"])),
        "gemma4-audio": (_Made("Gemma4AudioModel"), lambda: t.Gemma4AudioConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            subsampling_conv_channels=(8, 4), attention_chunk_size=4, attention_context_left=5,
            output_proj_dims=32)),
        "gemma4-vision": (_Made("Gemma4VisionModel"), lambda: t.Gemma4VisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=4, head_dim=8, position_embedding_size=64, patch_size=4,
            use_clipped_linears=True, standardize=True)),
        "minimax": (causal, lambda: t.MiniMaxConfig(
            **_S, num_key_value_heads=2, head_dim=8, num_local_experts=4,
            num_experts_per_tok=2, layer_types=["linear_attention", "full_attention"],
            block_size=16)),
        "bamba": (causal, lambda: t.BambaConfig(
            **_S, num_key_value_heads=2, mamba_n_heads=8, mamba_d_head=8, mamba_d_state=8,
            mamba_n_groups=1, mamba_chunk_size=16, attn_layer_indices=[1])),
        "falcon_h1": (causal, lambda: t.FalconH1Config(
            **_S, num_key_value_heads=2, head_dim=8, mamba_n_heads=8, mamba_d_head=8,
            mamba_d_state=8, mamba_n_groups=1, mamba_chunk_size=16, mamba_d_ssm=64)),
        "zamba": (causal, lambda: t.ZambaConfig(
            **{**_S, "num_hidden_layers": 3}, num_key_value_heads=2, attention_hidden_size=64,
            attention_head_dim=16, mamba_d_state=8, mamba_dt_rank=4, n_mamba_heads=2,
            mamba_expand=2, layers_block_type=["mamba", "hybrid", "hybrid"])),
        "zamba2": (causal, lambda: t.Zamba2Config(
            **_S, num_key_value_heads=4, mamba_d_state=8, mamba_headdim=8, n_mamba_heads=8,
            mamba_ngroups=1, use_mem_eff_path=False, layers_block_type=["mamba", "hybrid"],
            adapter_rank=4, chunk_size=16)),
        "nemotron_h": (causal, lambda: t.NemotronHConfig(
            vocab_size=96, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
            head_dim=8, intermediate_size=64, max_position_embeddings=64, mamba_num_heads=8,
            mamba_head_dim=8, ssm_state_size=8, n_groups=1, chunk_size=16,
            hybrid_override_pattern="M*-", pad_token_id=0)),
        "nemotron_h-moe": (causal, lambda: t.NemotronHConfig(
            vocab_size=96, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
            head_dim=8, intermediate_size=64, max_position_embeddings=64, mamba_num_heads=8,
            mamba_head_dim=8, ssm_state_size=8, n_groups=1, chunk_size=16,
            hybrid_override_pattern="M*E", n_routed_experts=4, moe_intermediate_size=16,
            moe_shared_expert_intermediate_size=16, num_experts_per_tok=2,
            rescale_prenorm_residual=False, mamba_proj_bias=True, initializer_range=0.04)),
        "switch_transformers": (seq2seq, lambda: t.SwitchTransformersConfig(
            **_T5, num_decoder_layers=2, num_experts=4, expert_capacity=8,
            encoder_sparse_step=2, decoder_sparse_step=2, initializer_factor=0.5)),
        "t5gemma": (seq2seq, lambda: t.T5GemmaConfig(
            encoder=dict(**_S, num_key_value_heads=2, head_dim=8),
            decoder=dict(**_S, num_key_value_heads=2, head_dim=8), vocab_size=96)),
        "t5gemma-untied": (seq2seq, lambda: t.T5GemmaConfig(
            encoder=dict(**_S, num_key_value_heads=2, head_dim=8),
            decoder=dict(**_S, num_key_value_heads=2, head_dim=8), vocab_size=96,
            tie_word_embeddings=False, initializer_range=0.05)),
        "whisper": (t.AutoModelForSpeechSeq2Seq, lambda: t.WhisperConfig(
            vocab_size=96, num_mel_bins=8, encoder_layers=2, decoder_layers=2,
            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
            decoder_ffn_dim=64, d_model=32, max_source_positions=16, max_target_positions=32,
            pad_token_id=1, decoder_start_token_id=2, bos_token_id=2, eos_token_id=3)),
    }


FAMILIES = list(_configs())
# The models whose forward pass takes token ids (the audio and vision towers take
# features and pixels).
FORWARD = [f for f in FAMILIES if f not in ("gemma3n-audio", "gemma4-audio", "gemma4-vision")]


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
    return compare_built(lambda **kw: _build(family, **kw))


def compare_built(build):
    """:func:`compare` for ``build(meta=False, seed=0)``, which returns the model built
    normally under that seed, or on the meta device."""
    references = [_tensors(build(seed=s)) for s in SEEDS]
    rows = {r["tensor"]: r for r in describe(build(meta=True), scheme="hf")}
    ours = [_tensors(materialize(build(meta=True), "cpu", seed=s, scheme="hf"))
            for s in SEEDS]
    assert ours[0].keys() == references[0].keys()
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
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 96, (2, 12), generator=generator)
    if hasattr(model.config, "num_mel_bins"):  # speech: log-mel features in
        features = torch.randn(2, model.config.num_mel_bins,
                               2 * model.config.max_source_positions, generator=generator)
        return {"input_features": features, "decoder_input_ids": ids[:, :7]}
    if model.config.is_encoder_decoder:
        return {"input_ids": ids, "decoder_input_ids": ids[:, :7]}
    return {"input_ids": ids}


@pytest.mark.parametrize("family", FORWARD)
def test_a_materialized_model_computes_what_a_normally_built_one_does(family):
    check_forward(lambda **kw: _build(family, **kw))


def check_forward(build):
    """Assert that the model ``build`` materializes by scheme="hf" has the buffers of the
    normally built one and, given its weights, the same logits."""
    model = materialize(build(meta=True), "cpu", seed=5, scheme="hf")
    reference = build()
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
    return t.AutoModelForCausalLM, t.xLSTMConfig(vocab_size=96, hidden_size=32,
                                                 num_hidden_layers=2, num_heads=4)


def test_a_family_whose_init_is_not_known_is_refused_before_allocating():
    auto, config = _unsupported()
    with torch.device("meta"):
        model = auto.from_config(config)
    with pytest.raises(ValueError, match=r"does not know .*xLSTMPreTrainedModel\."
                                         r"_init_weights .*use a dict scheme"):
        materialize(model, "cpu", scheme="hf")
    assert all(t.is_meta for t in model.parameters())
    with pytest.raises(ValueError, match="does not know"):
        describe(model, scheme="hf")
