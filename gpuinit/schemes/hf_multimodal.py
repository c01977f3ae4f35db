"""The families of ``scheme="hf"`` whose models carry vision or audio towers beside their
text model (:mod:`gpuinit.schemes.hf_families`): Llama 4, Gemma3n, Gemma 4 and Whisper,
read from transformers 5.25; see each hook's docstring for its source."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..laws import Computed, Constant, Normal
from .hf_context import ONE, ZERO, Context, computed, stds


def llama4(ctx: Context, module: nn.Module, prefix: str) -> None:
    """Llama4PreTrainedModel._init_weights (models/llama4/modeling_llama4.py), with std =
    initializer_range (the text config's when the config has none): Llama4TextExperts'
    ``gate_up_proj`` and ``down_proj`` N(0, std); Llama4VisionRotaryEmbedding's
    ``freqs_ci`` = ``_compute_freqs_ci(config)``; Llama4VisionModel's
    ``class_embedding`` and ``positional_embedding_vlm`` N(0, hidden_size^-½)
    (``module.scale``)."""
    if ctx.isinstance(module, "Llama4TextExperts"):
        c = ctx.config
        std = c.initializer_range if hasattr(c, "initializer_range") else \
            c.text_config.initializer_range
        ctx.set(module, prefix, "gate_up_proj", Normal(std=std))
        ctx.set(module, prefix, "down_proj", Normal(std=std))
    elif ctx.isinstance(module, "Llama4VisionRotaryEmbedding"):
        ctx.set(module, prefix, "freqs_ci", computed(
            "rotary freqs_ci", lambda: module._compute_freqs_ci(module.config)), "buffer")
    elif ctx.isinstance(module, "Llama4VisionModel"):
        ctx.set(module, prefix, "class_embedding", Normal(std=module.scale))
        ctx.set(module, prefix, "positional_embedding_vlm", Normal(std=module.scale))


def _audio_q_scale(head_dim: int) -> torch.Tensor:
    """Gemma3nAudioAttention's ``q_scale``: head_dim^-½ / softplus(0), in float32 as its
    ``_init_weights`` computes it."""
    return head_dim ** -0.5 * (1.0 / nn.functional.softplus(torch.tensor(0.0)))


def _audio_inv_timescales(channels: int) -> torch.Tensor:
    """Gemma3nAudioRelativePositionEmbedding's ``inv_timescales`` (timescales 1 to 1e4
    over channels // 2), shaped (1, 1, channels // 2), as its ``_init_weights`` computes
    them."""
    count = channels // 2
    step = math.log(1.0e4 / 1.0) / max(count - 1, 1)
    return (1.0 * torch.exp(torch.arange(count) * -step)).float().unsqueeze(0).unsqueeze(0)


def gemma3n(ctx: Context, module: nn.Module, prefix: str) -> None:
    """Gemma3nPreTrainedModel._init_weights (models/gemma3n/modeling_gemma3n.py); its
    norms keep the generic weight 1 (unlike Gemma's):

    - text: Gemma3nTextScaledWordEmbedding's ``embed_scale`` = its scalar_embed_scale;
      Gemma3nTextAltUp's ``correct_output_scale`` 0 and ``router_input_scale``
      1/hidden_size; Gemma3nTextModel's ``per_layer_projection_scale`` hidden_size^-½
      and ``per_layer_input_scale`` 1/√2; the per-layer-type rotary buffers: computed
      buffers (:func:`gpuinit.schemes.hf.buffer_law`);
    - audio: Gemma3nAudioCumulativeGroupNorm ``weight`` 1; Gemma3nAudioAttention's
      ``per_dim_scale`` 0, ``q_scale`` head_dim^-½/softplus(0), ``softcap`` its
      attention_logits_soft_cap, ``local_causal_valid_mask`` =
      ``create_local_causal_valid_mask()``; Gemma3nAudioRelativePositionEmbedding's
      ``inv_timescales``; every ``gradient_clipping`` buffer min(config.gradient_clipping,
      the largest value of its dtype).
    """
    if ctx.isinstance(module, "Gemma3nAudioCumulativeGroupNorm"):
        ctx.set(module, prefix, "weight", ONE, "norm")
    elif ctx.isinstance(module, "Gemma3nAudioAttention"):
        ctx.set(module, prefix, "per_dim_scale", ZERO)
        ctx.set(module, prefix, "q_scale", computed(
            "head_dim**-0.5 / softplus(0)", lambda: _audio_q_scale(module.head_dim)), "buffer")
        ctx.set(module, prefix, "softcap", Constant(float(module.attention_logits_soft_cap)),
                "buffer")
        ctx.set(module, prefix, "local_causal_valid_mask", computed(
            "create_local_causal_valid_mask()", module.create_local_causal_valid_mask),
            "buffer")
    elif ctx.isinstance(module, "Gemma3nTextScaledWordEmbedding"):
        ctx.set(module, prefix, "embed_scale", Constant(float(module.scalar_embed_scale)),
                "buffer")
    elif ctx.isinstance(module, "Gemma3nTextAltUp"):
        ctx.set(module, prefix, "correct_output_scale", ZERO)
        ctx.set(module, prefix, "router_input_scale", Constant(stds(
            "router_input_scale (1/hidden_size)", lambda: ctx.config.hidden_size ** -1.0)),
            "buffer")
    elif ctx.isinstance(module, "Gemma3nAudioRelativePositionEmbedding"):
        ctx.set(module, prefix, "inv_timescales", computed(
            "inverse timescales 1..1e4", lambda: _audio_inv_timescales(module.channels)),
            "buffer")
    elif ctx.isinstance(module, "Gemma3nTextModel"):
        ctx.set(module, prefix, "per_layer_projection_scale", Constant(stds(
            "per_layer_projection_scale (hidden_size**-0.5)",
            lambda: module.hidden_size ** -0.5)), "buffer")
        ctx.set(module, prefix, "per_layer_input_scale", Constant(1 / math.sqrt(2.0)),
                "buffer")
    clipping = module._buffers.get("gradient_clipping")
    if clipping is not None:
        ctx.set(module, prefix, "gradient_clipping", Constant(min(
            ctx.config.gradient_clipping, torch.finfo(clipping.dtype).max)), "buffer")


def _full(value: float) -> Computed:
    """A tensor filled with ``value``, infinities included (a Constant law takes finite
    values only)."""
    return Computed(f"constant({value})", lambda t: torch.full(
        t.shape, value, dtype=t.dtype, device=t.device))


def gemma4(ctx: Context, module: nn.Module, prefix: str) -> None:
    """Gemma4PreTrainedModel._init_weights (models/gemma4/modeling_gemma4.py); its norms
    keep the generic weight 1:

    - text: Gemma4TextScaledWordEmbedding's ``embed_scale`` its scalar_embed_scale;
      Gemma4TextRotaryEmbedding's ``<layer type>_inv_freq`` and ``_original_inv_freq`` =
      ``rope_init_fns[layer type](config.per_layer_config[layer type])``;
      Gemma4TextRouter's ``scale`` and ``per_expert_scale`` 1; Gemma4TextExperts'
      ``gate_up_proj`` and ``down_proj`` N(0, initializer_range); each
      Gemma4TextDecoderLayer's ``layer_scalar`` 1;
    - vision: Gemma4VisionPatchEmbedder's ``position_embedding_table`` 1;
      Gemma4VisionModel's ``std_bias`` 0 and ``std_scale`` 1 with ``standardize``;
      Gemma4ClippableLinear's ``input_min``/``output_min`` -inf and
      ``input_max``/``output_max`` +inf with ``use_clipped_linears``;
    - audio: Gemma4AudioRelPositionalEncoding's ``inv_timescales`` (timescales 1 to 1e4
      over hidden_size // 2); Gemma4AudioAttention's ``softcap`` its
      attention_logits_soft_cap and ``per_dim_scale`` 0.
    """
    if ctx.isinstance(module, "Gemma4VisionPatchEmbedder"):
        ctx.set(module, prefix, "position_embedding_table", ONE)
    elif ctx.isinstance(module, "Gemma4AudioRelPositionalEncoding"):
        ctx.set(module, prefix, "inv_timescales", computed(
            "inverse timescales 1..1e4", lambda: _audio_inv_timescales(module.hidden_size)),
            "buffer")
    elif ctx.isinstance(module, "Gemma4AudioAttention"):
        ctx.set(module, prefix, "softcap", Constant(float(module.attention_logits_soft_cap)),
                "buffer")
        ctx.set(module, prefix, "per_dim_scale", ZERO)
    elif ctx.isinstance(module, "Gemma4TextRotaryEmbedding"):
        for layer_type, function in module.rope_init_fns.items():
            law = computed(f"rotary inv_freq of {layer_type}", lambda f=function, k=layer_type:
                            f(module.config.per_layer_config[k], layer_type=k)[0])
            ctx.set(module, prefix, f"{layer_type}_inv_freq", law, "buffer")
            ctx.set(module, prefix, f"{layer_type}_original_inv_freq", law, "buffer")
    elif ctx.isinstance(module, "Gemma4TextScaledWordEmbedding"):
        ctx.set(module, prefix, "embed_scale", Constant(float(module.scalar_embed_scale)),
                "buffer")
    elif ctx.isinstance(module, "Gemma4TextRouter"):
        ctx.set(module, prefix, "scale", ONE)
        ctx.set(module, prefix, "per_expert_scale", ONE)
    elif ctx.isinstance(module, "Gemma4TextExperts"):
        ctx.set(module, prefix, "gate_up_proj", Normal(std=ctx.std))
        ctx.set(module, prefix, "down_proj", Normal(std=ctx.std))
    elif ctx.isinstance(module, "Gemma4TextDecoderLayer"):
        ctx.set(module, prefix, "layer_scalar", ONE)
    elif ctx.isinstance(module, "Gemma4ClippableLinear") and module.use_clipped_linears:
        for name, value in (("input_min", -math.inf), ("input_max", math.inf),
                            ("output_min", -math.inf), ("output_max", math.inf)):
            ctx.set(module, prefix, name, _full(value), "buffer")
    elif ctx.isinstance(module, "Gemma4VisionModel") and module.config.standardize:
        ctx.set(module, prefix, "std_bias", ZERO)
        ctx.set(module, prefix, "std_scale", ONE)


def whisper(ctx: Context, module: nn.Module, prefix: str) -> None:
    """WhisperPreTrainedModel._init_weights (models/whisper/modeling_whisper.py):
    WhisperEncoder's ``embed_positions.weight`` = ``sinusoids(*its shape)``;
    WhisperForAudioClassification's ``layer_weights`` 1/(num_hidden_layers + 1) with
    use_weighted_layer_sum."""
    if ctx.isinstance(module, "WhisperEncoder"):
        shape = tuple(module.embed_positions.weight.shape)
        sinusoids = ctx.namespace.sinusoids
        ctx.set(module, prefix, "embed_positions.weight", computed(
            "sinusoids", lambda: sinusoids(*shape)), "pos_embedding")
    elif ctx.isinstance(module, "WhisperForAudioClassification") and \
            ctx.config.use_weighted_layer_sum:
        ctx.set(module, prefix, "layer_weights", Constant(
            stds("layer_weights (1/(num_hidden_layers + 1))",
                 lambda: 1.0 / (ctx.config.num_hidden_layers + 1))))
