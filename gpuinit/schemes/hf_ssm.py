"""The state-space families of ``scheme="hf"`` (:mod:`gpuinit.schemes.hf_families`):
Mamba, FalconMamba, Mamba2, Jamba, the Mamba-2 hybrids (Bamba, Falcon-H1, Zamba,
Zamba2, Nemotron-H) and the gated delta nets of Qwen3-Next and Qwen3.5, with the laws
of their ``_init_weights`` that draw through a transform (:class:`TimeStepBias`,
:class:`LogUniform`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .. import init as gi_init
from ..laws import Computed, Constant, Law, Normal, Then, Uniform
from .hf_context import EXPERTS, ONE, ZERO, Context, Hook, moe, stds


@dataclass(frozen=True)
class TimeStepBias(Law):
    """softplus⁻¹(dt) with dt = exp(U·(log dt_max − log dt_min) + log dt_min), clamped
    below at ``floor``, U ~ U[0, 1): the time-step bias of Mamba's ``init_mamba_weights``
    (``dt_proj.bias``, Mamba2's ``dt_bias``).  U is drawn into the tensor by
    ``gpuinit.init.uniform_`` and transformed there in float32 (as transformers'
    ``torch.rand(..., dtype=float32)``)."""

    dt_min: float
    dt_max: float
    floor: float

    def _transform(self, u: torch.Tensor) -> torch.Tensor:
        low, high = math.log(self.dt_min), math.log(self.dt_max)
        dt = torch.exp(u * (high - low) + low).clamp(min=self.floor)
        return dt + torch.log(-torch.expm1(-dt))

    def prepare(self, t, seed, stream):
        return Then(gi_init.prepare(gi_init.uniform_, t, 0.0, 1.0, seed=seed, stream=stream),
                    lambda t: t.copy_(self._transform(t.float())))

    def text(self):
        return (f"softplus^-1(dt), dt = exp(uniform(log {self.dt_min:.4g}, log "
                f"{self.dt_max:.4g})) clamped at {self.floor:.4g}")

    def _values(self, n: int = 1 << 14) -> torch.Tensor:
        u = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # midpoints of U[0, 1)
        return self._transform(u)

    def moments(self, shape=None):
        values = self._values()
        return float(values.mean()), float(values.std(unbiased=False))

    @property
    def bounds(self):
        ends = self._transform(torch.tensor([0.0, 1.0], dtype=torch.float64))
        return (float(ends[0]), float(ends[1]))


@dataclass(frozen=True)
class LogUniform(Law):
    """log(U) with U ~ U[low, high): Qwen3-Next's ``A_log`` (``torch.empty(n).uniform_(low,
    high).log_()``), U drawn into the tensor by ``gpuinit.init.uniform_``; ``low`` may be
    0 (OLMo-Hybrid's), the lower bound then -inf."""

    low: float
    high: float

    def prepare(self, t, seed, stream):
        return Then(gi_init.prepare(gi_init.uniform_, t, self.low, self.high, seed=seed,
                                    stream=stream), torch.Tensor.log_)

    def text(self):
        return f"log(uniform(a={self.low:.4g}, b={self.high:.4g}))"

    def moments(self, shape=None):
        n = 1 << 14
        u = self.low + (self.high - self.low) * (torch.arange(n, dtype=torch.float64) + 0.5) / n
        values = torch.log(u)
        return float(values.mean()), float(values.std(unbiased=False))

    @property
    def bounds(self):
        low = math.log(self.low) if self.low > 0 else -math.inf  # log(0) = -inf
        return (low, math.log(self.high))


def _log_arange(n: int, rows: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return compute(t) = log(arange(1, n + 1)) in float32 (expanded to ``rows`` rows when
    given, reshaped to ``t``'s shape), in ``t``'s dtype and device: Mamba's A_log."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        a = torch.arange(1, n + 1, dtype=torch.float32, device=t.device)
        if rows is not None:
            a = a[None, :].expand(rows, -1)
        return torch.log(a).reshape(t.shape).to(t.dtype)
    return compute


def _kaiming_a5(module: nn.Module, path: str) -> Uniform:
    """torch's ``kaiming_uniform_(w, a=√5)`` of the tensor ``path``: U(±1/√fan_in)."""
    weight = module.get_parameter(path)
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
    return Uniform.symmetric(stds(f"kaiming_uniform_(a=sqrt(5)) of {path!r} (fan-in "
                                  f"{fan_in})", lambda: math.sqrt(3.0 / fan_in) *
                                  math.sqrt(2.0 / 6.0)))


def mamba(mixer: str, version: int = 1) -> Hook:
    """MambaPreTrainedModel._init_weights (models/mamba/modeling_mamba.py; FalconMamba's
    and Mamba2's are the same with their ``init_*_weights``), on each <mixer>:

    - ``A_log`` = log(arange(1, N + 1)) (Mamba: N = ssm_state_size, one row per
      intermediate channel; Mamba2: N = num_heads); ``D`` = 1;
    - Mamba/FalconMamba: ``dt_proj.weight`` = time_step_rank^-½·time_step_scale
      (time_step_init_scheme "constant") or U(±that) ("random"; any other: the
      generic N(0, std)); ``dt_proj.bias`` (Mamba2: ``dt_bias``) :class:`TimeStepBias`
      with time_step_min/max/floor; FalconMamba's dt/b/c RMS-norm weights 1;
    - ``conv1d.weight`` and ``out_proj.weight`` kaiming_uniform_(a=√5), i.e.
      U(±1/√fan_in), ``conv1d.bias`` 0; with rescale_prenorm_residual, ``out_proj.weight``
      divided by √num_hidden_layers.
    """
    def hook(ctx: Context, module: nn.Module, prefix: str) -> None:
        if not ctx.isinstance(module, mixer):
            return
        c = ctx.config
        if version == 2:
            ctx.set(module, prefix, "A_log", Computed(
                "log(arange(1, num_heads + 1))", _log_arange(module.num_heads, None)))
            ctx.set(module, prefix, "D", ONE)
            ctx.set(module, prefix, "dt_bias", TimeStepBias(
                module.time_step_min, module.time_step_max, module.time_step_floor))
        else:
            ctx.set(module, prefix, "A_log", Computed(
                "log(arange(1, ssm_state_size + 1)) per channel",
                _log_arange(module.ssm_state_size, module.intermediate_size)))
            ctx.set(module, prefix, "D", ONE)
            dt_std = stds("dt_proj.weight (time_step_rank**-0.5 * time_step_scale)",
                          lambda: c.time_step_rank ** -0.5 * c.time_step_scale)
            if c.time_step_init_scheme == "constant":
                ctx.set(module, prefix, "dt_proj.weight", Constant(dt_std))
            elif c.time_step_init_scheme == "random":
                ctx.set(module, prefix, "dt_proj.weight", Uniform.symmetric(dt_std))
            ctx.set(module, prefix, "dt_proj.bias", TimeStepBias(
                c.time_step_min, c.time_step_max, c.time_step_floor), "bias")
            for norm in ("dt_layernorm", "b_layernorm", "c_layernorm"):
                ctx.set(module, prefix, f"{norm}.weight", ONE, "norm")
        ctx.set(module, prefix, "conv1d.weight", _kaiming_a5(module, "conv1d.weight"))
        ctx.set(module, prefix, "conv1d.bias", ZERO, "bias")
        out = _kaiming_a5(module, "out_proj.weight")
        if c.rescale_prenorm_residual:
            out = out.scaled(1.0 / stds("out_proj.weight / sqrt(num_hidden_layers)",
                                        lambda: math.sqrt(c.num_hidden_layers)))
        ctx.set(module, prefix, "out_proj.weight", out)
    return hook


_JAMBA_MOE = moe("Jamba")


def jamba(ctx: Context, module: nn.Module, prefix: str) -> None:
    """JambaPreTrainedModel._init_weights: JambaMambaMixer's ``A_log`` = log(arange(1,
    ssm_state_size + 1)) per channel and ``D`` = 1 (its projections and conv: the
    generic rules); the fused experts and the router as :func:`moe`."""
    _JAMBA_MOE(ctx, module, prefix)
    if ctx.isinstance(module, "JambaMambaMixer"):
        ctx.set(module, prefix, "A_log", Computed(
            "log(arange(1, ssm_state_size + 1)) per channel",
            _log_arange(module.ssm_state_size, module.intermediate_size)))
        ctx.set(module, prefix, "D", ONE)


def gated_delta(family: str) -> Hook:
    """Qwen3NextPreTrainedModel._init_weights (Qwen3.5's and Qwen3.5-MoE's are the same
    with their class names): each <F>GatedDeltaNet's ``dt_bias`` 1 and ``A_log``
    log(U[0.01, 16)); <F>RMSNorm weights 0 (the gated RMS norm keeps the generic 1);
    the fused experts and the sparse MoE block's ``gate.weight`` N(0,
    initializer_range)."""
    def hook(ctx: Context, module: nn.Module, prefix: str) -> None:
        if ctx.isinstance(module, f"{family}GatedDeltaNet"):
            ctx.set(module, prefix, "dt_bias", ONE)
            ctx.set(module, prefix, "A_log", LogUniform(0.01, 16.0))
        elif ctx.isinstance(module, f"{family}RMSNorm"):
            ctx.set(module, prefix, "weight", ZERO, "norm")
        elif ctx.isinstance(module, f"{family}Experts"):
            for path in EXPERTS:
                ctx.set(module, prefix, path, Normal(std=ctx.std))
        elif ctx.isinstance(module, f"{family}SparseMoeBlock"):
            ctx.set(module, prefix, "gate.weight", Normal(std=ctx.std))
    return hook


def _log_heads(n: int) -> Computed:
    """log(arange(1, n + 1)): the ``A_log`` of the Mamba-2 mixers, one per head."""
    return Computed("log(arange(1, num_heads + 1))", _log_arange(n, None))


def mamba2_hybrid(mixer: str) -> Hook:
    """BambaPreTrainedModel._init_weights (models/bamba/modeling_bamba.py; FalconH1's
    mixer part is the same): each <mixer>'s ``dt_bias`` 1, ``A_log`` = log(arange(1,
    num_heads + 1)), ``D`` 1; its projections, conv and norms the generic rules."""
    def hook(ctx: Context, module: nn.Module, prefix: str) -> None:
        if ctx.isinstance(module, mixer):
            ctx.set(module, prefix, "dt_bias", ONE)
            ctx.set(module, prefix, "A_log", _log_heads(module.num_heads))
            ctx.set(module, prefix, "D", ONE)
    return hook


_FALCON_H1_MIXER = mamba2_hybrid("FalconH1Mixer")


def falcon_h1(ctx: Context, module: nn.Module, prefix: str) -> None:
    """FalconH1PreTrainedModel._init_weights (models/falcon_h1/modeling_falcon_h1.py): the
    mixers as :func:`mamba2_hybrid`; FalconH1Model sets each layer's ``mamba.mup_vector``
    buffer to ``compute_mup_vector(config)``."""
    _FALCON_H1_MIXER(ctx, module, prefix)
    if ctx.isinstance(module, "FalconH1Model"):
        compute = ctx.namespace.compute_mup_vector
        config = module.config
        law = Computed("compute_mup_vector(config)", lambda t: compute(config).to(
            device=t.device, dtype=t.dtype).reshape(t.shape))
        for index in range(len(module.layers)):
            ctx.set(module, prefix, f"layers.{index}.mamba.mup_vector", law, "buffer")


def _time_step_bias(config) -> TimeStepBias:
    """The :class:`TimeStepBias` of the config's time_step_min, time_step_max and
    time_step_floor."""
    return TimeStepBias(config.time_step_min, config.time_step_max, config.time_step_floor)


def zamba(ctx: Context, module: nn.Module, prefix: str) -> None:
    """ZambaPreTrainedModel._init_weights (models/zamba/modeling_zamba.py), on each
    ZambaMambaMixer: ``x_proj_weight`` N(0, initializer_range), ``dt_proj_weight``
    U(±mamba_dt_rank^-½), ``dt_proj_bias`` :class:`TimeStepBias` of the config (one per
    head and channel), ``A_log`` = log(arange(1, ssm_state_size + 1)) per channel,
    ``D`` 1."""
    if not ctx.isinstance(module, "ZambaMambaMixer"):
        return
    c = ctx.config
    ctx.set(module, prefix, "x_proj_weight", Normal(std=ctx.std))
    bound = stds("dt_proj_weight (mamba_dt_rank**-0.5)", lambda: c.mamba_dt_rank ** -0.5)
    ctx.set(module, prefix, "dt_proj_weight", Uniform.symmetric(bound))
    ctx.set(module, prefix, "dt_proj_bias", _time_step_bias(c))
    ctx.set(module, prefix, "A_log", Computed(
        "log(arange(1, ssm_state_size + 1)) per channel",
        _log_arange(module.ssm_state_size, module.intermediate_size)))
    ctx.set(module, prefix, "D", ONE)


def zamba2(ctx: Context, module: nn.Module, prefix: str) -> None:
    """Zamba2PreTrainedModel._init_weights (models/zamba2/modeling_zamba2.py), on each
    Zamba2MambaMixer: ``dt_bias`` :class:`TimeStepBias` of the config, ``A_log`` =
    log(arange(1, num_heads + 1)), ``D`` 1."""
    if ctx.isinstance(module, "Zamba2MambaMixer"):
        ctx.set(module, prefix, "dt_bias", _time_step_bias(ctx.config))
        ctx.set(module, prefix, "A_log", _log_heads(module.num_heads))
        ctx.set(module, prefix, "D", ONE)


def nemotron_h(ctx: Context, module: nn.Module, prefix: str) -> None:
    """NemotronHPreTrainedModel._init_weights (models/nemotron_h/modeling_nemotron_h.py):

    - NemotronHMamba2Mixer: ``A_log`` = log(arange(1, mamba_num_heads + 1)), ``D`` 1,
      ``dt_bias`` :class:`TimeStepBias` of the config;
    - NemotronHTopkRouter ``weight`` N(0, initializer_range), ``e_score_correction_bias``
      0; NemotronHExperts ``up_proj`` and ``down_proj`` N(0, initializer_range);
    - every Embedding ``weight`` drawn again N(0, initializer_range), its padding row
      included (Linear biases 0, as the generic rules);
    - with rescale_prenorm_residual, the ``out_proj.weight`` of every module that has
      one kaiming_uniform_(a=√5) divided by √num_hidden_layers.
    """
    c = ctx.config
    if ctx.isinstance(module, "NemotronHMamba2Mixer"):
        ctx.set(module, prefix, "A_log", _log_heads(c.mamba_num_heads))
        ctx.set(module, prefix, "D", ONE)
        ctx.set(module, prefix, "dt_bias", _time_step_bias(c))
    elif ctx.isinstance(module, "NemotronHTopkRouter"):
        ctx.set(module, prefix, "weight", Normal(std=ctx.std))
        ctx.set(module, prefix, "e_score_correction_bias", ZERO, "bias")
    elif ctx.isinstance(module, "NemotronHExperts"):
        ctx.set(module, prefix, "up_proj", Normal(std=ctx.std))
        ctx.set(module, prefix, "down_proj", Normal(std=ctx.std))
    if isinstance(module, nn.Embedding):
        ctx.set(module, prefix, "weight", Normal(std=ctx.std))
    out_proj = getattr(module, "out_proj", None)
    if c.rescale_prenorm_residual and isinstance(out_proj, nn.Module) and \
            out_proj._parameters.get("weight") is not None:
        out = _kaiming_a5(module, "out_proj.weight").scaled(
            1.0 / stds("out_proj.weight / sqrt(num_hidden_layers)",
                       lambda: math.sqrt(c.num_hidden_layers)))
        ctx.set(module, prefix, "out_proj.weight", out)


_GRANITE_HYBRID_MOE = moe("GraniteMoeHybrid")


def granitemoehybrid(ctx: Context, module: nn.Module, prefix: str) -> None:
    """GraniteMoeHybridPreTrainedModel._init_weights
    (models/granitemoehybrid/modeling_granitemoehybrid.py): the fused experts and the
    router as :func:`~gpuinit.schemes.hf_context.moe`; each GraniteMoeHybridMambaLayer's
    ``dt_bias`` 1, ``A_log`` = log(arange(1, num_heads + 1)), ``D`` 1; the gated RMS norm
    weight 1."""
    _GRANITE_HYBRID_MOE(ctx, module, prefix)
    if ctx.isinstance(module, "GraniteMoeHybridMambaLayer"):
        ctx.set(module, prefix, "dt_bias", ONE)
        ctx.set(module, prefix, "A_log", _log_heads(module.num_heads))
        ctx.set(module, prefix, "D", ONE)
    elif ctx.isinstance(module, "GraniteMoeHybridRMSNormGated"):
        ctx.set(module, prefix, "weight", ONE, "norm")


def olmo_hybrid(ctx: Context, module: nn.Module, prefix: str) -> None:
    """OlmoHybridPreTrainedModel._init_weights (models/olmo_hybrid/modeling_olmo_hybrid.py):
    each OlmoHybridGatedDeltaNet's ``A_log`` log(U[linear_a_log_min, linear_a_log_max))
    and ``dt_bias`` :class:`TimeStepBias` of linear_dt_min, linear_dt_max,
    linear_dt_init_floor."""
    if ctx.isinstance(module, "OlmoHybridGatedDeltaNet"):
        c = ctx.config
        ctx.set(module, prefix, "A_log", LogUniform(c.linear_a_log_min, c.linear_a_log_max))
        ctx.set(module, prefix, "dt_bias", TimeStepBias(c.linear_dt_min, c.linear_dt_max,
                                                        c.linear_dt_init_floor))


def forget_gate(family: str) -> Hook:
    """KimiLinearPreTrainedModel._init_weights (models/kimi_linear/modeling_kimi_linear.py;
    BailingHybrid's is the same with its class names): each <F>ForgetGate's ``A_log``
    log(U[1, 16)) and ``dt_bias`` softplus⁻¹(exp(U[log 1e-3, log 1e-1))) clamped at 1e-4
    (:class:`TimeStepBias`); the fused experts N(0, initializer_range), the router's
    ``weight`` N(0, initializer_range) and ``e_score_correction_bias`` 0; <F>RMSNormGated
    weight 1."""
    experts = moe(family, "TopkRouter", TopkRouter={"e_score_correction_bias": "zero"},
                  RMSNormGated={"weight": "one"})

    def hook(ctx: Context, module: nn.Module, prefix: str) -> None:
        experts(ctx, module, prefix)
        if ctx.isinstance(module, f"{family}ForgetGate"):
            ctx.set(module, prefix, "A_log", LogUniform(1.0, 16.0))
            ctx.set(module, prefix, "dt_bias", TimeStepBias(1e-3, 1e-1, 1e-4))
    return hook
