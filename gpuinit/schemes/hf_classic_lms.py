"""The older language models of ``scheme="hf"`` (:mod:`gpuinit.schemes.hf_families`):
OpenAI GPT, XLNet, XLM/FlauBERT, CPM-Ant, GPT-NeoX-Japanese, Reformer, ModernBERT's
decoder, the BERT-style encoders that also come as a causal LM (RoBERTa and its kin:
their LM head's bias, the position and token-type buffers), FSMT and the Bart-style
encoder-decoders whose ``_init_weights`` only zeroes ``final_logits_bias``, read from
transformers 5.25; see each hook's docstring for its source."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..laws import Constant, Normal, TruncatedNormal
from .hf_context import ZERO, Context, Hook, computed, stds, table

# pytorch_utils.Conv1D draws its weight N(0, 0.02) in its constructor, whatever the
# config's initializer_range; OpenAI GPT's _init_weights leaves it there.
_CONV1D_STD = 0.02


def openai_gpt(ctx: Context, module: nn.Module, prefix: str) -> None:
    """OpenAIGPTPreTrainedModel._init_weights (models/openai/modeling_openai.py): each
    Attention's causal mask ``bias`` = tril(ones(n_positions, n_positions)) as a float
    (1, 1, n, n) buffer; OpenAIGPTModel's ``position_ids`` = arange (a computed buffer).
    Its Conv1D layers are not touched by the init and keep their constructor's laws
    (pytorch_utils.py): weight N(0, 0.02), bias 0."""
    if type(module).__name__ == "Conv1D":
        ctx.set(module, prefix, "weight", Normal(std=_CONV1D_STD))
        ctx.set(module, prefix, "bias", ZERO, "bias")
    elif ctx.isinstance(module, "Attention"):
        n = module.n_positions
        ctx.set(module, prefix, "bias", computed(
            "causal mask: tril(ones)", lambda: torch.tril(torch.ones(n, n))), "buffer")


_XLNET_ATTENTION = ("q", "k", "v", "o", "r", "r_r_bias", "r_s_bias", "r_w_bias", "seg_embed")

# XLNetPreTrainedModel._init_weights (models/xlnet/modeling_xlnet.py): every tensor
# of XLNetRelativeAttention (the q, k, v, o, r projections, the r_r, r_s, r_w biases
# and seg_embed) and XLNetModel's mask_emb N(0, initializer_range).  XLNet's
# constructor makes these with torch.FloatTensor, which ignores torch.device("meta"):
# built under it, they are real uninitialized tensors, which materialize keeps as
# built; init_module, or moving them to meta first, gives them these laws.
xlnet: Hook = table({"XLNetRelativeAttention": dict.fromkeys(_XLNET_ATTENTION, "std"),
                     "XLNetModel": {"mask_emb": "std"}})


def lm_head_bias(head: str) -> Hook:
    """The ``_init_weights`` of the BERT-style encoders (RoBERTa, CamemBERT, XLM-RoBERTa,
    ERNIE, BigBird, ...; models/roberta/modeling_roberta.py and its copies): the LM head
    class ``head``'s ``bias`` 0 (tied to its decoder's bias); ``position_ids`` and
    ``token_type_ids`` are computed buffers (arange, 0)."""
    hook = table({head: {"bias": "zero"}})
    hook.__doc__ = f"{head}.bias 0: see lm_head_bias()."
    return hook


def logits_bias(model: str) -> Hook:
    """The ``_init_weights`` of the Bart-style encoder-decoders with learned positions
    (BlenderbotSmall, PLBart, MVP, LED, BigBirdPegasus): ``final_logits_bias`` of the
    generation class ``model`` 0; the rest the generic rules."""
    hook = table({model: {"final_logits_bias": "zero"}})
    hook.__doc__ = f"{model}.final_logits_bias 0: see logits_bias()."
    return hook


def _roformer_positions(ctx: Context, module: nn.Module, prefix: str) -> None:
    if ctx.isinstance(module, "RoFormerSinusoidalPositionalEmbedding"):
        ctx.set(module, prefix, "weight", computed("sinusoidal positions",
                                                   module.create_weight), "pos_embedding")


_ROFORMER_HEAD = lm_head_bias("RoFormerLMPredictionHead")


def roformer(ctx: Context, module: nn.Module, prefix: str) -> None:
    """RoFormerPreTrainedModel._init_weights (models/roformer/modeling_roformer.py): the
    sinusoidal position table = ``create_weight()``; the LM head's ``bias`` 0."""
    _roformer_positions(ctx, module, prefix)
    _ROFORMER_HEAD(ctx, module, prefix)


def xlm(family: str) -> Hook:
    """XLMPreTrainedModel._init_weights (models/xlm/modeling_xlm.py; FlauBERT's is the
    same with its class names): every nn.Embedding N(0, embed_init_std) when that is set
    (else the generic N(0, init_std)), its padding row 0; with sinusoidal_embeddings,
    <F>Model's ``position_embeddings.weight`` = ``create_sinusoidal_embeddings(
    max_position_embeddings, emb_dim)``; ``position_ids``: a computed buffer."""
    def hook(ctx: Context, module: nn.Module, prefix: str) -> None:
        c = ctx.config
        if isinstance(module, nn.Embedding) and c.embed_init_std is not None:
            padding = () if module.padding_idx is None else (module.padding_idx,)
            ctx.set(module, prefix, "weight", Normal(std=c.embed_init_std), zero_rows=padding)
        if ctx.isinstance(module, f"{family}Model") and c.sinusoidal_embeddings:
            create = ctx.namespace.create_sinusoidal_embeddings
            n, dim = c.max_position_embeddings, c.emb_dim
            ctx.set(module, prefix, "position_embeddings.weight", computed(
                "sinusoidal positions", lambda: create(n, dim, out=torch.empty(n, dim))),
                "pos_embedding")
    hook.__doc__ = f"{family}PreTrainedModel._init_weights: see xlm()."
    return hook


def fsmt(ctx: Context, module: nn.Module, prefix: str) -> None:
    """PretrainedFSMTModel._init_weights (models/fsmt/modeling_fsmt.py): each
    SinusoidalPositionalEmbedding's ``weight`` = ``get_embedding(rows, cols,
    padding_idx)`` (its padding row 0)."""
    if ctx.isinstance(module, "SinusoidalPositionalEmbedding"):
        rows, cols = module.weight.shape
        ctx.set(module, prefix, "weight", computed("sinusoidal positions", lambda: (
            module.get_embedding(rows, cols, module.padding_idx))), "pos_embedding")


def cpmant(ctx: Context, module: nn.Module, prefix: str) -> None:
    """CpmAntPreTrainedModel._init_weights (models/cpmant/modeling_cpmant.py): each
    CpmAntSegmentPositionEmbedding's ``relative_attention_bias`` N(0, init_std); its
    layer norms' weight 1 (as the generic rule); the rest generic N(0, init_std)."""
    if ctx.isinstance(module, "CpmAntSegmentPositionEmbedding"):
        ctx.set(module, prefix, "relative_attention_bias", Normal(std=ctx.config.init_std))


def reformer(ctx: Context, module: nn.Module, prefix: str) -> None:
    """ReformerPreTrainedModel._init_weights (models/reformer/modeling_reformer.py): each
    of AxialPositionEmbeddings' ``weights`` N(0, axial_norm_std); the mask-value
    buffers of LSHSelfAttention (``self_mask_value_float16`` -1e3,
    ``self_mask_value_float32`` -1e5) and of both attentions (``mask_value_float16``
    -1e4, ``mask_value_float32`` -1e9) constants.  ReformerOnlyLMHead's own ``bias``
    (unused: its decoder Linear has one) keeps its constructor's zeros."""
    if ctx.isinstance(module, "ReformerOnlyLMHead"):
        ctx.set(module, prefix, "bias", ZERO, "bias")
    elif ctx.isinstance(module, "AxialPositionEmbeddings"):
        for index in range(len(module.weights)):
            ctx.set(module, prefix, f"weights.{index}", Normal(std=ctx.config.axial_norm_std))
    elif ctx.isinstance(module, "LSHSelfAttention", "LocalSelfAttention"):
        values = {"mask_value_float16": -1e4, "mask_value_float32": -1e9}
        if ctx.isinstance(module, "LSHSelfAttention"):
            values.update(self_mask_value_float16=-1e3, self_mask_value_float32=-1e5)
        for name, value in values.items():
            ctx.set(module, prefix, name, Constant(value), "buffer")


def modernbert_decoder(ctx: Context, module: nn.Module, prefix: str) -> None:
    """ModernBertDecoderPreTrainedModel._init_weights
    (models/modernbert_decoder/modeling_modernbert_decoder.py): with c =
    initializer_cutoff_factor (3 when None), trunc_normal(0, σ, ±c·σ) weights and zero
    Linear biases: σ = initializer_range for ``tok_embeddings`` (its padding row drawn
    too) and the MLP's ``Wi``, the attention's ``q_proj``, ``k_proj``, ``v_proj``;
    initializer_range/√(2·num_hidden_layers) for the MLP's and attention's ``Wo``, the
    prediction head's ``dense`` and the causal LM's ``decoder``; hidden_size^-½ for the
    sequence classifier; the per-layer-type rotary buffers: computed buffers."""
    c = ctx.config
    cutoff = 3 if c.initializer_cutoff_factor is None else c.initializer_cutoff_factor
    inner = c.initializer_range
    outer = stds(f"the output projections under {prefix!r} (initializer_range/"
                 f"sqrt(2*num_hidden_layers))",
                 lambda: c.initializer_range / math.sqrt(2.0 * c.num_hidden_layers))
    family = "ModernBertDecoder"
    paths = {"Embeddings": {"tok_embeddings": inner},
             "MLP": {"Wi": inner, "Wo": outer},
             "Attention": {"q_proj": inner, "k_proj": inner, "v_proj": inner, "Wo": outer},
             "PredictionHead": {"dense": outer},
             "ForSequenceClassification": {"classifier": c.hidden_size ** -0.5},
             "ForCausalLM": {"decoder": outer}}
    for suffix, layers in paths.items():
        if ctx.isinstance(module, family + suffix):
            for path, std in layers.items():
                ctx.set(module, prefix, f"{path}.weight",
                        TruncatedNormal.absolute(std, -cutoff * std, cutoff * std))
                ctx.set(module, prefix, f"{path}.bias", ZERO, "bias")


# Registered in HOOKS (gpuinit.schemes.hf_families) under their PreTrainedModel class.
CLASSIC_HOOKS: dict[str, Hook | None] = {
    "OpenAIGPTPreTrainedModel": openai_gpt,
    "XLNetPreTrainedModel": xlnet,
    "RobertaPreTrainedModel": lm_head_bias("RobertaLMHead"),
    "CamembertPreTrainedModel": lm_head_bias("CamembertLMHead"),
    "XLMRobertaPreTrainedModel": lm_head_bias("XLMRobertaLMHead"),
    "XLMRobertaXLPreTrainedModel": lm_head_bias("XLMRobertaXLLMHead"),
    "RobertaPreLayerNormPreTrainedModel": lm_head_bias("RobertaPreLayerNormLMHead"),
    "XmodPreTrainedModel": lm_head_bias("XmodLMHead"),
    "ErniePreTrainedModel": lm_head_bias("ErnieLMPredictionHead"),
    "RoCBertPreTrainedModel": lm_head_bias("RoCBertLMPredictionHead"),
    "MegatronBertPreTrainedModel": lm_head_bias("MegatronBertLMPredictionHead"),
    "BigBirdPreTrainedModel": lm_head_bias("BigBirdLMPredictionHead"),
    "BertGenerationPreTrainedModel": lm_head_bias("BertGenerationOnlyLMHead"),
    "RoFormerPreTrainedModel": roformer,
    # Its init leaves the head's bias as the constructor made it (zeros); tie_weights
    # then points the decoder Linear's bias at it.
    "Data2VecTextPreTrainedModel": lm_head_bias("Data2VecTextLMHead"),
    # Only the computed position_ids / token_type_ids buffers.
    "ElectraPreTrainedModel": None,
    "RemBertPreTrainedModel": None,
    "BlenderbotSmallPreTrainedModel": logits_bias("BlenderbotSmallForConditionalGeneration"),
    "PLBartPreTrainedModel": logits_bias("PLBartForConditionalGeneration"),
    "MvpPreTrainedModel": logits_bias("MvpForConditionalGeneration"),
    "LEDPreTrainedModel": logits_bias("LEDForConditionalGeneration"),
    "BigBirdPegasusPreTrainedModel": logits_bias("BigBirdPegasusForConditionalGeneration"),
    "PretrainedFSMTModel": fsmt,
    "XLMPreTrainedModel": xlm("XLM"),
    "FlaubertPreTrainedModel": xlm("Flaubert"),
    "CpmAntPreTrainedModel": cpmant,
    "GPTNeoXJapanesePreTrainedModel": table({"GPTNeoXJapaneseAttention": {"dense_bias":
                                                                          "zero"}}),
    "ReformerPreTrainedModel": reformer,
    "ModernBertDecoderPreTrainedModel": modernbert_decoder,
}
