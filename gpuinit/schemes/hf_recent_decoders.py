"""Recent decoder-only families of ``scheme="hf"`` (:mod:`gpuinit.schemes.hf_families`)
whose ``_init_weights`` adds a few laws to the generic ones: MoE families with fused
experts and routers (Mellum, Laguna, Flint, Kolibri, MiMo-V2-Flash, A.X K1 and K2,
GLM-MoE-DSA, Beam, Aria's text model), Ergo, Dory, Lara-Mini, Youtu, HRM-Text and
LFM3, read from transformers 5.25 (models/<family>/modeling_<family>.py); see each
hook's docstring for its source.  Their per-layer-type rotary buffers are computed
buffers (:func:`gpuinit.schemes.hf.buffer_law`)."""

from __future__ import annotations

from torch import nn

from ..laws import Constant, Normal
from .hf_context import ONE, ZERO, Context, Hook, moe, table
from .hf_ssm import LogUniform

_CORRECTION = {"e_score_correction_bias": "zero"}


def youtu(ctx: Context, module: nn.Module, prefix: str) -> None:
    """YoutuPreTrainedModel._init_weights: every nn.Embedding N(0,
    embedding_initializer_range), 2·initializer_range when the config has none, its
    padding row 0."""
    if isinstance(module, nn.Embedding):
        c = ctx.config
        std = getattr(c, "embedding_initializer_range", 2 * getattr(c, "initializer_range", 0.02))
        padding = () if module.padding_idx is None else (module.padding_idx,)
        ctx.set(module, prefix, "weight", Normal(std=std), zero_rows=padding)


def ergo(ctx: Context, module: nn.Module, prefix: str) -> None:
    """ErgoPreTrainedModel._init_weights: ErgoExperts' ``up_proj`` and ``down_proj``
    N(0, initializer_range); ErgoExpertNorm and ErgoRMSNorm weight 1; ErgoTopkRouter's
    ``e_score_correction_bias`` 0; ErgoResidualGate's ``weight`` 0; an ErgoAttention's
    ``qk_scale`` (when it has one) √global_attention_scale."""
    if ctx.isinstance(module, "ErgoExperts"):
        ctx.set(module, prefix, "up_proj", Normal(std=ctx.std))
        ctx.set(module, prefix, "down_proj", Normal(std=ctx.std))
    elif ctx.isinstance(module, "ErgoExpertNorm", "ErgoRMSNorm"):
        ctx.set(module, prefix, "weight", ONE, "norm")
    elif ctx.isinstance(module, "ErgoTopkRouter"):
        ctx.set(module, prefix, "e_score_correction_bias", ZERO, "bias")
    elif ctx.isinstance(module, "ErgoResidualGate"):
        ctx.set(module, prefix, "weight", ZERO)
    elif ctx.isinstance(module, "ErgoAttention") and module.qk_scale is not None:
        ctx.set(module, prefix, "qk_scale",
                Constant(module.config.global_attention_scale ** 0.5))


def dory(ctx: Context, module: nn.Module, prefix: str) -> None:
    """DoryPreTrainedModel._init_weights: DoryAttention's ``sqk`` and ``s_gate``,
    DoryDecoderLayer's ``lambda_1`` and ``lambda_2`` and DoryLMHead's ``logit_scale``
    the constant initializer_range; DoryMLP's ``suv_gate`` and ``suv_up`` 1."""
    scale = Constant(ctx.std)
    names = {"DoryAttention": ("sqk", "s_gate"), "DoryDecoderLayer": ("lambda_1", "lambda_2"),
             "DoryLMHead": ("logit_scale",)}
    for cls, tensors in names.items():
        if ctx.isinstance(module, cls):
            for name in tensors:
                ctx.set(module, prefix, name, scale)
    if ctx.isinstance(module, "DoryMLP"):
        ctx.set(module, prefix, "suv_gate", ONE)
        ctx.set(module, prefix, "suv_up", ONE)


_LARA_MOE = moe("LaraMini")


def lara_mini(ctx: Context, module: nn.Module, prefix: str) -> None:
    """LaraMiniPreTrainedModel._init_weights: each LaraMiniGatedDeltaNet's ``dt_bias`` 1
    and ``A_log`` log(U[1, 16)); the fused experts and the router as
    :func:`~gpuinit.schemes.hf_context.moe`; its RMS norms keep the generic weight 1
    (unlike Qwen3-Next's)."""
    _LARA_MOE(ctx, module, prefix)
    if ctx.isinstance(module, "LaraMiniGatedDeltaNet"):
        ctx.set(module, prefix, "dt_bias", ONE)
        ctx.set(module, prefix, "A_log", LogUniform(1.0, 16.0))


# Registered in HOOKS (gpuinit.schemes.hf_families) under their PreTrainedModel class.
RECENT_HOOKS: dict[str, Hook | None] = {
    "MellumPreTrainedModel": moe("Mellum"),
    "LagunaPreTrainedModel": moe("Laguna", TopKRouter=_CORRECTION),
    "FlintPreTrainedModel": moe("Flint", Attention={"sinks": "std"}),
    "Kolibri1PreTrainedModel": moe("Kolibri1", TopKRouter=_CORRECTION),
    "MiMoV2FlashPreTrainedModel": moe("MiMoV2Flash", "TopkRouter", TopkRouter=_CORRECTION,
                                      Attention={"sinks": "std"}),
    "AXK1PreTrainedModel": moe("AXK1", "TopkRouter", TopkRouter=_CORRECTION),
    "AXK2PreTrainedModel": moe("AXK2", "TopkRouter", TopkRouter=_CORRECTION),
    # Aria's text model (AriaTextForCausalLM); the multimodal Aria has its own init.
    "AriaTextPreTrainedModel": moe("Aria", "", TextTopKRouter={"weight": "std"}),
    "GlmMoeDsaPreTrainedModel": moe("GlmMoeDsa", "TopkRouter", TopkRouter=_CORRECTION),
    "BeamPreTrainedModel": moe("Beam", TopKRouter=_CORRECTION, Attention={"gate_bias": "zero"}),
    "ErgoPreTrainedModel": ergo,
    "DoryPreTrainedModel": dory,
    "LaraMiniPreTrainedModel": lara_mini,
    "YoutuPreTrainedModel": youtu,
    "HrmTextPreTrainedModel": table({"HrmTextModel": {"z_L_init": "zero"}}),
    "Lfm3PreTrainedModel": None,  # only its per-layer-type rotary buffers: computed
}
