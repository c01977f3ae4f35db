"""The family overrides of ``PreTrainedModel._init_weights`` that ``scheme="hf"`` knows.

Each family's ``_init_weights`` (transformers 5.x, models/<family>/modeling_<family>.py)
calls the generic one first, then sets some tensors of the module it is given; so
each :data:`HOOKS` entry is ``hook(ctx, module, prefix)``, run on every module after
the generic rules of that module, with the rules of a later module winning (the
modules are visited children first, as ``PreTrainedModel.initialize_weights`` does).
The classes a family tests with ``isinstance`` are looked up by name in the
family's own modeling module (:meth:`Context.classes`), so a hook sees what its
``_init_weights`` sees.  Read from transformers 5.25; see each hook's docstring
for its source.  The hook context and the table-made hooks (the MoE families) are
in :mod:`gpuinit.schemes.hf_context`, the state-space families in
:mod:`gpuinit.schemes.hf_ssm`, the families with vision or audio towers in
:mod:`gpuinit.schemes.hf_multimodal`, RWKV and RecurrentGemma in
:mod:`gpuinit.schemes.hf_recurrent`, OpenAI GPT, XLNet and the BERT- and Bart-style
models in :mod:`gpuinit.schemes.hf_classic_lms`, recent decoders with a few laws of
their own in :mod:`gpuinit.schemes.hf_recent_decoders`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..laws import Constant, Normal
from .hf_classic_lms import CLASSIC_HOOKS
from .hf_context import ZERO, Context, Hook, computed, moe, stds, table
from .hf_multimodal import gemma3n, gemma4, llama4, whisper
from .hf_recent_decoders import RECENT_HOOKS
from .hf_recurrent import recurrent_gemma, rwkv
from .hf_ssm import (
    falcon_h1,
    forget_gate,
    gated_delta,
    granitemoehybrid,
    jamba,
    mamba,
    mamba2_hybrid,
    nemotron_h,
    olmo_hybrid,
    zamba,
    zamba2,
)

# --------------------------------------------------------------------- GPT-2, BERT


def gpt2(ctx: Context, module: nn.Module, prefix: str) -> None:
    """GPT2PreTrainedModel._init_weights (models/gpt2/modeling_gpt2.py): Conv1D N(0,
    initializer_range), bias 0; the c_proj weight of GPT2Attention and GPT2MLP
    N(0, initializer_range/√(2·n_layer)) (computed per block: a model with no block
    needs none, and n_layer <= 0 raises ValueError naming the tensor)."""
    config = ctx.config
    if type(module).__name__ == "Conv1D":
        ctx.set(module, prefix, "weight", Normal(std=config.initializer_range))
        ctx.set(module, prefix, "bias", ZERO, "bias")
    if ctx.isinstance(module, "GPT2Attention", "GPT2MLP"):
        tensor = f"{prefix}c_proj.weight"
        std = stds(f"{tensor!r}, initializer_range/sqrt(2*n_layer) with initializer_range="
                   f"{config.initializer_range!r}, n_layer={config.n_layer!r}",
                   lambda: config.initializer_range / math.sqrt(2 * config.n_layer))
        ctx.set(module, prefix, "c_proj.weight", Normal(std=std))


def bert(ctx: Context, module: nn.Module, prefix: str) -> None:
    """BertPreTrainedModel._init_weights (models/bert/modeling_bert.py): the prediction
    head's bias 0 (position_ids and token_type_ids: the computed buffers)."""
    if ctx.isinstance(module, "BertLMPredictionHead"):
        ctx.set(module, prefix, "bias", ZERO, "bias")


# --------------------------------------------------------------------- Gemma


def gemma(family: str) -> Hook:
    """Gemma/Gemma2/Gemma3/VaultGemmaPreTrainedModel._init_weights: every module whose class name
    holds "RMSNorm" gets weight 0 (the norm multiplies by 1 + weight), the scaled word
    embedding its ``embed_scale`` = √hidden_size (``scalar_embed_scale``), Gemma3's
    multimodal projector weight 0; Gemma3's per-layer-type rotary buffers are
    computed buffers (:func:`gpuinit.schemes.hf.buffer_law`)."""
    def hook(ctx: Context, module: nn.Module, prefix: str) -> None:
        if ctx.isinstance(module, f"{family}MultiModalProjector"):
            ctx.set(module, prefix, "mm_input_projection_weight", ZERO)
        elif "RMSNorm" in type(module).__name__:
            ctx.set(module, prefix, "weight", ZERO, "norm")
        elif ctx.isinstance(module, f"{family}TextScaledWordEmbedding"):
            ctx.set(module, prefix, "embed_scale", Constant(float(module.scalar_embed_scale)),
                    "buffer")
    hook.__doc__ = f"{family}PreTrainedModel._init_weights: see gemma()."
    return hook


# --------------------------------------------------------------------- T5


def t5(family: str, local: bool = False) -> Hook:
    """T5PreTrainedModel._init_weights (models/t5/modeling_t5.py; MT5's, UMT5's and
    LongT5's are the same with their class names), with factor = initializer_factor
    and d_model, d_kv, d_ff, num_heads from the config:

    - <F>LayerNorm: weight = factor;
    - <F>Model / ForConditionalGeneration / EncoderModel / ForQuestionAnswering:
      ``shared`` N(0, factor), ``lm_head`` N(0, factor) unless the embeddings are tied,
      ``qa_outputs`` N(0, factor/√d_model) with bias 0;
    - ForTokenClassification: ``classifier`` N(0, factor), bias 0; ClassificationHead:
      ``dense`` and ``out_proj`` N(0, factor/√d_model), biases 0;
    - DenseActDense: ``wi`` N(0, factor/√d_model), ``wo`` N(0, factor/√d_ff), biases 0;
      DenseGatedActDense: ``wi_0``, ``wi_1`` N(0, factor/√d_model), ``wo`` as above;
    - Attention (LongT5: also LocalAttention, TransientGlobalAttention): ``q``
      N(0, factor/√(d_model·d_kv)), ``k`` and ``v`` N(0, factor/√d_model), ``o``
      N(0, factor/√(num_heads·d_kv)); the relative attention bias tables (the global
      one too) N(0, factor/√d_model).
    """
    def hook(ctx: Context, module: nn.Module, prefix: str) -> None:
        c = ctx.config
        factor = c.initializer_factor

        def scaled(*dims: str) -> Normal:
            what = f"the {type(module).__name__} tensors under {prefix!r}"
            return Normal(std=stds(what, lambda: factor * math.prod(
                getattr(c, d) for d in dims) ** -0.5) if dims else factor * 1.0)

        def linear(path: str, law: Normal) -> None:
            ctx.set(module, prefix, f"{path}.weight", law)
            ctx.set(module, prefix, f"{path}.bias", ZERO, "bias")

        tops = [f"{family}{k}" for k in ("Model", "ForConditionalGeneration", "EncoderModel")]
        tops += [] if local else [f"{family}ForQuestionAnswering"]
        attention = [f"{family}Attention"]
        attention += [f"{family}LocalAttention", f"{family}TransientGlobalAttention"] if local \
            else []
        if ctx.isinstance(module, f"{family}LayerNorm"):
            ctx.set(module, prefix, "weight", Constant(factor * 1.0), "norm")
        elif ctx.isinstance(module, *tops):
            ctx.set(module, prefix, "shared.weight", scaled())
            if hasattr(module, "lm_head") and not c.tie_word_embeddings:
                ctx.set(module, prefix, "lm_head.weight", scaled())
            if hasattr(module, "qa_outputs"):
                ctx.set(module, prefix, "qa_outputs.weight", scaled("d_model"))
                ctx.set(module, prefix, "qa_outputs.bias", ZERO, "bias")
        elif ctx.isinstance(module, f"{family}ForTokenClassification"):
            if hasattr(module, "classifier"):
                ctx.set(module, prefix, "classifier.weight", scaled())
                ctx.set(module, prefix, "classifier.bias", ZERO, "bias")
        elif ctx.isinstance(module, f"{family}ClassificationHead"):
            linear("dense", scaled("d_model"))
            linear("out_proj", scaled("d_model"))
        elif ctx.isinstance(module, f"{family}DenseActDense"):
            linear("wi", scaled("d_model"))
            linear("wo", scaled("d_ff"))
        elif ctx.isinstance(module, f"{family}DenseGatedActDense"):
            linear("wi_0", scaled("d_model"))
            linear("wi_1", scaled("d_model"))
            linear("wo", scaled("d_ff"))
        elif ctx.isinstance(module, *attention):
            ctx.set(module, prefix, "q.weight", scaled("d_model", "d_kv"))
            ctx.set(module, prefix, "k.weight", scaled("d_model"))
            ctx.set(module, prefix, "v.weight", scaled("d_model"))
            ctx.set(module, prefix, "o.weight", scaled("num_heads", "d_kv"))
            if module.has_relative_attention_bias:
                ctx.set(module, prefix, "relative_attention_bias.weight", scaled("d_model"))
                if ctx.isinstance(module, f"{family}TransientGlobalAttention"):
                    ctx.set(module, prefix, "global_relative_attention_bias.weight",
                            scaled("d_model"))
    hook.__doc__ = f"{family}PreTrainedModel._init_weights: see t5()."
    return hook


def jetmoe(ctx: Context, module: nn.Module, prefix: str) -> None:
    """JetMoePreTrainedModel._init_weights: JetMoeParallelExperts ``weight`` N(0,
    initializer_range); the ``bias`` of JetMoeMoA and JetMoeMoE 0."""
    if ctx.isinstance(module, "JetMoeParallelExperts"):
        ctx.set(module, prefix, "weight", Normal(std=ctx.std))
    elif ctx.isinstance(module, "JetMoeMoA", "JetMoeMoE"):
        ctx.set(module, prefix, "bias", ZERO, "bias")


# --------------------------------------------------------------------- computed tensors


def gpt_neo(ctx: Context, module: nn.Module, prefix: str) -> None:
    """GPTNeoPreTrainedModel._init_weights: each GPTNeoSelfAttention's causal mask
    ``bias`` = tril(ones), xor-ed with tril(ones, -window_size) for local attention."""
    if ctx.isinstance(module, "GPTNeoSelfAttention"):
        local = module.attention_type == "local"

        def mask() -> torch.Tensor:
            n = module.config.max_position_embeddings
            bias = torch.tril(torch.ones((n, n), dtype=torch.bool)).view(1, 1, n, n)
            if local:
                bias = torch.bitwise_xor(bias, torch.tril(bias, -module.config.window_size))
            return bias
        ctx.set(module, prefix, "bias", computed(
            "local causal mask" if local else "causal mask: tril(ones)", mask), "buffer")


def gpt_bigcode(ctx: Context, module: nn.Module, prefix: str) -> None:
    """GPTBigCodePreTrainedModel._init_weights: the c_proj weight of GPTBigCodeMLP and
    GPTBigCodeAttention N(0, initializer_range/√(2·n_layer)); GPTBigCodeModel's causal
    mask ``bias`` = tril(ones)."""
    c = ctx.config
    if ctx.isinstance(module, "GPTBigCodeMLP", "GPTBigCodeAttention"):
        std = stds(f"{prefix}c_proj.weight (initializer_range/sqrt(2*n_layer))",
                   lambda: c.initializer_range / math.sqrt(2 * c.n_layer))
        ctx.set(module, prefix, "c_proj.weight", Normal(std=std))
    elif ctx.isinstance(module, "GPTBigCodeModel"):
        n = module.config.max_position_embeddings
        ctx.set(module, prefix, "bias", computed(
            "causal mask: tril(ones)", lambda: torch.tril(torch.ones((n, n), dtype=torch.bool))),
            "buffer")


def sinusoidal(family: str, *, weights: bool = False, logits_bias: str | None = None) -> Hook:
    """The seq2seq families' ``_init_weights``: <F>SinusoidalPositionalEmbedding's table
    computed as its constructor does (Pegasus/Marian: ``weight`` =
    ``create_weight()``; M2M100/XGLM, ``weights``: the ``weights`` buffer =
    ``get_embedding(num_positions + offset, embedding_dim, padding_idx)``); the
    ``final_logits_bias`` of ``logits_bias`` (Bart/mBART/Blenderbot/Pegasus/Marian's
    generation class) 0."""
    def hook(ctx: Context, module: nn.Module, prefix: str) -> None:
        if ctx.isinstance(module, f"{family}SinusoidalPositionalEmbedding"):
            if weights:
                ctx.set(module, prefix, "weights", computed(
                    "sinusoidal positions", lambda: module.get_embedding(
                        module.num_positions + module.offset, module.embedding_dim,
                        module.padding_idx)), "buffer")
            else:
                ctx.set(module, prefix, "weight", computed(
                    "sinusoidal positions", module.create_weight), "pos_embedding")
        elif logits_bias and ctx.isinstance(module, logits_bias):
            ctx.set(module, prefix, "final_logits_bias", ZERO, "bias")
    return hook


# --------------------------------------------------------------------- newer decoders


def diffllama(ctx: Context, module: nn.Module, prefix: str) -> None:
    """DiffLlamaPreTrainedModel._init_weights (models/diffllama/modeling_diffllama.py): each
    DiffLlamaAttention's ``lambda_q1``, ``lambda_k1``, ``lambda_q2``, ``lambda_k2``
    N(0, lambda_std_dev)."""
    if ctx.isinstance(module, "DiffLlamaAttention"):
        for name in ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"):
            ctx.set(module, prefix, name, Normal(std=ctx.config.lambda_std_dev))


def nanochat(ctx: Context, module: nn.Module, prefix: str) -> None:
    """NanoChatPreTrainedModel._init_weights (models/nanochat/modeling_nanochat.py): each
    NanoChatAttention's ``o_proj`` N(0, initializer_range/√(2·num_hidden_layers))."""
    if ctx.isinstance(module, "NanoChatAttention"):
        c = ctx.config
        std = stds(f"{prefix}o_proj.weight (initializer_range/sqrt(2*num_hidden_layers))",
                   lambda: c.initializer_range / math.sqrt(2 * c.num_hidden_layers))
        ctx.set(module, prefix, "o_proj.weight", Normal(std=std))


def ctrl(ctx: Context, module: nn.Module, prefix: str) -> None:
    """CTRLPreTrainedModel._init_weights (models/ctrl/modeling_ctrl.py): CTRLModel's
    ``pos_encoding`` = ``positional_encoding(n_positions, d_model_size, float32)``."""
    if ctx.isinstance(module, "CTRLModel"):
        encoding = ctx.namespace.positional_encoding
        n, width = module.config.n_positions, module.d_model_size
        ctx.set(module, prefix, "pos_encoding", computed(
            "sinusoidal positions", lambda: encoding(n, width, torch.float)), "buffer")


_MINIMAX_MOE = moe("MiniMax")


def minimax(ctx: Context, module: nn.Module, prefix: str) -> None:
    """MiniMaxPreTrainedModel._init_weights (models/minimax/modeling_minimax.py): the fused
    experts and the router as :func:`~gpuinit.schemes.hf_context.moe`; each
    MiniMaxLightningAttention's buffers ``slope_rate`` = ``get_slope_rate()`` and
    ``query_decay``, ``key_decay``, ``diagonal_decay`` = ``decay_factors(slope_rate)``."""
    _MINIMAX_MOE(ctx, module, prefix)
    if ctx.isinstance(module, "MiniMaxLightningAttention"):
        ctx.set(module, prefix, "slope_rate", computed("get_slope_rate()",
                                                        module.get_slope_rate), "buffer")
        for index, name in enumerate(("query_decay", "key_decay", "diagonal_decay")):
            ctx.set(module, prefix, name, computed(
                f"decay_factors(slope_rate)[{index}]",
                lambda i=index: module.decay_factors(module.get_slope_rate())[i]), "buffer")


def t5gemma(ctx: Context, module: nn.Module, prefix: str) -> None:
    """T5GemmaPreTrainedModel._init_weights (models/t5gemma/modeling_t5gemma.py), with std =
    initializer_range: T5GemmaClassificationHead's ``out_proj`` N(0, std/√out_features),
    bias 0; T5GemmaLMHead's ``out_proj`` N(0, std/√vocab_size) unless the embeddings are
    tied; every module whose class name holds "RMSNorm" weight 0 (the norm scales by 1 +
    weight)."""
    if ctx.isinstance(module, "T5GemmaClassificationHead", "T5GemmaLMHead"):
        if ctx.isinstance(module, "T5GemmaLMHead") and ctx.config.tie_word_embeddings:
            return
        rows = module.out_proj.weight.shape[0]
        std = stds(f"{prefix}out_proj.weight (initializer_range/sqrt({rows}))",
                   lambda: ctx.std * rows ** -0.5)
        ctx.set(module, prefix, "out_proj.weight", Normal(std=std))
        if ctx.isinstance(module, "T5GemmaClassificationHead"):
            ctx.set(module, prefix, "out_proj.bias", ZERO, "bias")
    elif "RMSNorm" in type(module).__name__:
        ctx.set(module, prefix, "weight", ZERO, "norm")


_SWITCH_T5 = t5("SwitchTransformers")


def switch_transformers(ctx: Context, module: nn.Module, prefix: str) -> None:
    """SwitchTransformersPreTrainedModel._init_weights
    (models/switch_transformers/modeling_switch_transformers.py): T5's rules (:func:`t5`)
    for its layer norms, shared and lm_head embeddings, dense feed-forwards and
    attention; each SwitchTransformersSparseMLP's ``router.classifier`` N(0, factor) and
    every expert's ``wi`` and ``wo`` N(0, factor/√d_model) (both by d_model)."""
    _SWITCH_T5(ctx, module, prefix)
    if ctx.isinstance(module, "SwitchTransformersSparseMLP"):
        c = ctx.config
        factor = c.initializer_factor
        ctx.set(module, prefix, "router.classifier.weight", Normal(std=factor * 1.0))
        expert = Normal(std=stds(f"the experts under {prefix!r} (factor/sqrt(d_model))",
                             lambda: factor * c.d_model ** -0.5))
        for index in range(c.num_experts):
            ctx.set(module, prefix, f"experts.expert_{index}.wi.weight", expert)
            ctx.set(module, prefix, f"experts.expert_{index}.wo.weight", expert)


# The class defining a model's _init_weights -> its hook (None: the generic rules only).
# Families whose override only recomputes constructor buffers (GPT-J's and CodeGen's
# sinusoidal tables, rotary frequencies) need no hook: computed_buffers has them.
HOOKS: dict[str, Hook | None] = {
    "GPT2PreTrainedModel": gpt2,
    "BertPreTrainedModel": bert,
    "GemmaPreTrainedModel": gemma("Gemma"),
    "Gemma2PreTrainedModel": gemma("Gemma2"),
    "Gemma3PreTrainedModel": gemma("Gemma3"),
    "VaultGemmaPreTrainedModel": gemma("VaultGemma"),
    "Olmo3PreTrainedModel": None,  # the per-layer-type rotary buffers: computed
    "T5PreTrainedModel": t5("T5"),
    "MT5PreTrainedModel": t5("MT5"),
    "UMT5PreTrainedModel": t5("UMT5"),
    "LongT5PreTrainedModel": t5("LongT5", local=True),
    "GPTJPreTrainedModel": None,
    "CodeGenPreTrainedModel": None,
    "FalconPreTrainedModel": table({"FalconLinear": {"weight": "std", "bias": "zero"}}),
    "NemotronPreTrainedModel": table({"NemotronLayerNorm1P": {"weight": "one",
                                                              "bias": "zero"}}),
    "MixtralPreTrainedModel": moe("Mixtral"),
    "Qwen2MoePreTrainedModel": moe("Qwen2Moe"),
    "Qwen3MoePreTrainedModel": moe("Qwen3Moe"),
    "OlmoePreTrainedModel": moe("Olmoe"),
    "GraniteMoePreTrainedModel": moe("GraniteMoe"),
    "PhimoePreTrainedModel": moe("Phimoe"),
    "DeepseekV2PreTrainedModel": moe("DeepseekV2", "TopkRouter"),
    "DeepseekV3PreTrainedModel": moe("DeepseekV3", "TopkRouter",
                                     TopkRouter={"e_score_correction_bias": "zero"}),
    "Glm4MoePreTrainedModel": moe("Glm4Moe", "TopkRouter",
                                  TopkRouter={"e_score_correction_bias": "zero"}),
    "Ernie4_5_MoePreTrainedModel": moe("Ernie4_5_Moe", Statics={"e_score_correction_bias":
                                                                 "zero"}),
    "HunYuanMoEV1PreTrainedModel": moe("HunYuanMoEV1", router=""),
    "GptOssPreTrainedModel": table({
        "GptOssExperts": {"gate_up_proj": "std", "gate_up_proj_bias": "zero",
                          "down_proj": "std", "down_proj_bias": "zero"},
        "GptOssAttention": {"sinks": "std"},
        "GptOssTopKRouter": {"weight": "std", "bias": "std"}}),
    "DbrxPreTrainedModel": table({"DbrxExpertGLU": {"w1": "std", "v1": "std", "w2": "std"}}),
    "JambaPreTrainedModel": jamba,
    "Qwen3NextPreTrainedModel": gated_delta("Qwen3Next"),
    "Qwen3_5PreTrainedModel": gated_delta("Qwen3_5"),
    "Qwen3_5MoePreTrainedModel": gated_delta("Qwen3_5Moe"),
    "GraniteMoeSharedPreTrainedModel": moe("GraniteMoeShared"),
    "Cohere2MoePreTrainedModel": moe("Cohere2Moe"),
    "Dots1PreTrainedModel": moe("Dots1", "TopkRouter",
                                TopkRouter={"e_score_correction_bias": "zero"}),
    "DeepseekV32PreTrainedModel": moe("DeepseekV32", "TopkRouter",
                                      TopkRouter={"e_score_correction_bias": "zero"}),
    "JetMoePreTrainedModel": jetmoe,
    "MambaPreTrainedModel": mamba("MambaMixer"),
    "FalconMambaPreTrainedModel": mamba("FalconMambaMixer"),
    "Mamba2PreTrainedModel": mamba("Mamba2Mixer", version=2),
    "GPTNeoPreTrainedModel": gpt_neo,
    "GPTBigCodePreTrainedModel": gpt_bigcode,
    "BartPreTrainedModel": sinusoidal("Bart", logits_bias="BartForConditionalGeneration"),
    "MBartPreTrainedModel": sinusoidal("MBart", logits_bias="MBartForConditionalGeneration"),
    "BlenderbotPreTrainedModel": sinusoidal(
        "Blenderbot", logits_bias="BlenderbotForConditionalGeneration"),
    "PegasusPreTrainedModel": sinusoidal("Pegasus",
                                         logits_bias="PegasusForConditionalGeneration"),
    "MarianPreTrainedModel": sinusoidal("Marian", logits_bias="MarianMTModel"),
    "M2M100PreTrainedModel": sinusoidal("M2M100", weights=True),
    "XGLMPreTrainedModel": sinusoidal("XGLM", weights=True),
    "NllbMoePreTrainedModel": sinusoidal("NllbMoe", weights=True),
    "Llama4PreTrainedModel": llama4,
    "Gemma3nPreTrainedModel": gemma3n,
    "Gemma4PreTrainedModel": gemma4,
    "MiniMaxPreTrainedModel": minimax,
    "T5GemmaPreTrainedModel": t5gemma,
    "SwitchTransformersPreTrainedModel": switch_transformers,
    "WhisperPreTrainedModel": whisper,
    "BambaPreTrainedModel": mamba2_hybrid("BambaMixer"),
    "FalconH1PreTrainedModel": falcon_h1,
    "ZambaPreTrainedModel": zamba,
    "Zamba2PreTrainedModel": zamba2,
    "NemotronHPreTrainedModel": nemotron_h,
    "MiniCPM3PreTrainedModel": None,  # its scaled embedding's embed_scale: computed
    "GraniteSWAPreTrainedModel": table({"GraniteSWAAttention": {"sinks": "zero"}}),
    "DiffLlamaPreTrainedModel": diffllama,
    "NanoChatPreTrainedModel": nanochat,
    "FlexOlmoPreTrainedModel": moe("FlexOlmo"),
    "Glm4MoeLitePreTrainedModel": moe("Glm4MoeLite", "TopkRouter",
                                      TopkRouter={"e_score_correction_bias": "zero"}),
    "Mistral4PreTrainedModel": moe("Mistral4", "TopkRouter"),
    "ExaoneMoePreTrainedModel": moe("ExaoneMoe", "TopkRouter",
                                    TopkRouter={"e_score_correction_bias": "zero"}),
    "MiniCPM5MoePreTrainedModel": moe("MiniCPM5Moe", "TopkRouter",
                                      TopkRouter={"e_score_correction_bias": "zero"}),
    "SolarOpenPreTrainedModel": moe("SolarOpen", "TopkRouter",
                                    TopkRouter={"e_score_correction_bias": "zero"}),
    "LongcatFlashPreTrainedModel": moe("LongcatFlash", "", TopkRouter={
        "classifier.weight": "std", "e_score_correction_bias": "zero"}),
    "Lfm2MoePreTrainedModel": moe("Lfm2Moe", SparseMoeBlock={"expert_bias": "zero"}),
    "MiniMaxM2PreTrainedModel": moe("MiniMaxM2",
                                    SparseMoeBlock={"e_score_correction_bias": "zero"}),
    "GraniteMoeSWAPreTrainedModel": moe("GraniteMoeSWA", Attention={"sinks": "zero"}),
    "HYV3PreTrainedModel": moe("HYV3", MoE={"e_score_correction_bias": "zero"}),
    "AfmoePreTrainedModel": moe("Afmoe", "", TokenChoiceRouter={"gate.weight": "zero"},
                                SparseMoeBlock={"expert_bias": "zero"}),
    "GraniteMoeHybridPreTrainedModel": granitemoehybrid,
    "OlmoHybridPreTrainedModel": olmo_hybrid,
    "KimiLinearPreTrainedModel": forget_gate("KimiLinear"),
    "BailingHybridPreTrainedModel": forget_gate("BailingHybrid"),
    "DogePreTrainedModel": table({
        "DogeAttention": {"A": "zero"},
        "DogeDecoderLayer": {"input_residual": "one", "post_attention_residual": "one"}}),
    "CTRLPreTrainedModel": ctrl,
    "RwkvPreTrainedModel": rwkv,
    "RecurrentGemmaPreTrainedModel": recurrent_gemma,
    **CLASSIC_HOOKS,
    **RECENT_HOOKS,
}
