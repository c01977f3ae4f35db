"""The recurrent language models of ``scheme="hf"`` (:mod:`gpuinit.schemes.hf_families`):
RWKV (per-layer time-decay and time-mix values computed from the layer index,
orthogonal projections) and RecurrentGemma (Griffin: the RG-LRU's recurrence
parameter drawn through :class:`LruRecurrence`), read from transformers 5.25; see
each hook's docstring for its source."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .. import init as gi_init
from ..laws import Computed, Constant, Law, Normal, Orthogonal, Then
from .hf_context import ONE, ZERO, Context, stds

# --------------------------------------------------------------------- RWKV


def _time_weight(hidden: int, power: float, shift: float = 0.0) -> Callable:
    """Return compute(t) = (i / hidden for i < hidden) ** power + shift, shaped (1, 1,
    hidden), as RwkvPreTrainedModel._init_weights computes its time-mix values: the
    ratios made in Python, then raised to ``power`` in the tensor's dtype on its
    device."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        weight = torch.tensor([i / hidden for i in range(hidden)], dtype=t.dtype,
                              device=t.device)[None, None, :]
        values = torch.pow(weight, power)
        return (values + shift if shift else values).reshape(t.shape)
    return compute


def _time_decay(size: int, exponent: float) -> Callable:
    """Return compute(t) = -5 + 8·(h / (size - 1)) ** exponent for h < size: RWKV's
    ``time_decay``, computed in Python floats and then cast, as transformers does."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        speed = [-5 + 8 * (h / (size - 1)) ** exponent for h in range(size)]
        return torch.tensor(speed, dtype=t.dtype, device=t.device).reshape(t.shape)
    return compute


def _rwkv_gain(module: nn.Linear, config) -> float:
    """The orthogonal gain of an RWKV Linear: √(rows/cols) when it widens, halved for
    the (vocab_size, hidden_size) output head."""
    rows, cols = module.weight.shape
    gain = math.sqrt(rows / cols) if rows > cols else 1.0
    return gain * (0.5 if (rows, cols) == (config.vocab_size, config.hidden_size) else 1.0)


def rwkv(ctx: Context, module: nn.Module, prefix: str) -> None:
    """RwkvPreTrainedModel._init_weights (models/rwkv/modeling_rwkv.py), with L =
    num_hidden_layers, i = the module's layer_id, r01 = i/(L - 1), r10 = 1 - i/L and
    w = (j / hidden_size for j < hidden_size):

    - RwkvSelfAttention: ``time_decay`` = -5 + 8·(h/(A - 1))^(0.7 + 1.3·r01) for h <
      A = attention_hidden_size; ``time_first`` 1 (transformers writes ``ones_like``
      of its log(0.3) + zigzag expression); ``time_mix_key`` = w^r10, ``time_mix_value``
      = w^r10 + 0.3·r01, ``time_mix_receptance`` = w^(r10/2);
    - RwkvFeedForward: ``time_mix_key`` and ``time_mix_receptance`` = w^r10;
    - nn.Linear: orthogonal, gain √(rows/cols) when rows > cols, times 0.5 for the
      (vocab_size, hidden_size) head; bias 0;
    - nn.Embedding: orthogonal, gain 1e-4·√max(rows, cols).

    The LayerNorms keep the generic weight 1, bias 0.  L = 1 (r01 divides by 0) and
    A = 1 raise ValueError naming the tensor, as the family's init cannot run there.
    """
    c = ctx.config
    attention = ctx.isinstance(module, "RwkvSelfAttention")
    if attention or ctx.isinstance(module, "RwkvFeedForward"):
        layers, hidden = c.num_hidden_layers, c.hidden_size
        r10 = stds(f"{prefix}time_mix_key (1 - layer_id/num_hidden_layers)",
                   lambda: 1.0 - module.layer_id / layers)
        what = f"w^{r10:.4g}, w = arange(hidden_size)/hidden_size"
        ctx.set(module, prefix, "time_mix_key", Computed(what, _time_weight(hidden, r10)))
        if not attention:
            ctx.set(module, prefix, "time_mix_receptance",
                    Computed(what, _time_weight(hidden, r10)))
            return
        r01 = stds(f"{prefix}time_decay (layer_id/(num_hidden_layers - 1))",
                   lambda: module.layer_id / (layers - 1))
        size = module.attention_hidden_size
        stds(f"{prefix}time_decay (h/(attention_hidden_size - 1))", lambda: 1 / (size - 1))
        ctx.set(module, prefix, "time_decay", Computed(
            f"-5 + 8*(h/(A-1))^{0.7 + 1.3 * r01:.4g}", _time_decay(size, 0.7 + 1.3 * r01)))
        ctx.set(module, prefix, "time_first", ONE)
        ctx.set(module, prefix, "time_mix_value", Computed(
            f"{what}, + {0.3 * r01:.4g}", _time_weight(hidden, r10, 0.3 * r01)))
        ctx.set(module, prefix, "time_mix_receptance", Computed(
            f"w^{0.5 * r10:.4g}", _time_weight(hidden, 0.5 * r10)))
    elif isinstance(module, nn.Linear):
        ctx.set(module, prefix, "bias", ZERO, "bias")
        ctx.set(module, prefix, "weight", Orthogonal(_rwkv_gain(module, c)))
    elif isinstance(module, nn.Embedding):
        ctx.set(module, prefix, "weight", Orthogonal(1e-4 * math.sqrt(max(module.weight.shape))))


# --------------------------------------------------------------------- RecurrentGemma


@dataclass(frozen=True)
class LruRecurrence(Law):
    """log(u^-½ − 1) with u ~ U[low, high): RecurrentGemmaRglru's ``recurrent_param``
    (transformers draws ``uniform_(low, high)`` and then runs ``log_().mul_(0.5).neg_()
    .exp_().sub_(1.0).log_()`` in the parameter's dtype; so does this law, on u drawn
    into the tensor by ``gpuinit.init.uniform_``)."""

    low: float
    high: float

    @staticmethod
    def _transform(u: torch.Tensor) -> torch.Tensor:
        return u.log_().mul_(0.5).neg_().exp_().sub_(1.0).log_()

    def prepare(self, t, seed, stream):
        return Then(gi_init.prepare(gi_init.uniform_, t, self.low, self.high, seed=seed,
                                    stream=stream), self._transform)

    def text(self):
        return f"log(u**-0.5 - 1), u = uniform(a={self.low:.6g}, b={self.high:.6g})"

    def moments(self, shape=None):
        n = 1 << 14
        u = self.low + (self.high - self.low) * (torch.arange(n, dtype=torch.float64) + 0.5) / n
        values = self._transform(u)
        return float(values.mean()), float(values.std(unbiased=False))

    @property
    def bounds(self):
        # u**-0.5 - 1 falls as u grows: the high end of u gives the low bound.
        ends = self._transform(torch.tensor([self.high, self.low], dtype=torch.float64))
        return (float(ends[0]), float(ends[1]))


def recurrent_gemma(ctx: Context, module: nn.Module, prefix: str) -> None:
    """RecurrentGemmaPreTrainedModel._init_weights
    (models/recurrent_gemma/modeling_recurrent_gemma.py), with s = √(w_init_variance_scale
    / conv1d_width), f = final_w_init_variance_scale (2/num_hidden_layers), H =
    hidden_size, W = lru_width:

    - nn.Conv1d (the recurrent block's ``conv_1d``), every other nn.Linear (MLP,
      ``lm_head``) and nn.Embedding: N(0, s), biases 0, the padding row 0;
    - RecurrentGemmaAttention: ``q_proj``, ``k_proj``, ``v_proj`` N(0, √(1/H)),
      ``o_proj`` N(0, √(f/H)) (its bias: the Linear's 0);
    - RecurrentGemmaRecurrentBlock: ``linear_x``, ``linear_y`` N(0, √(1/H)),
      ``linear_out`` N(0, √(f/W)), biases 0;
    - RecurrentGemmaRglru: ``input_gate_weight``, ``recurrent_gate_weight``
      N(0, √(w_init_variance_scale/(W // num_attention_heads))), their biases 0,
      ``recurrent_param`` :class:`LruRecurrence` on U[0.9² + 1e-8, 0.999² + 1e-8);
    - RecurrentGemmaRMSNorm: weight 0 (the norm scales by 1 + weight);
      RecurrentGemmaModel: ``normalizer`` = √H (a bfloat16 buffer); the rotary
      buffers: computed buffers (:func:`gpuinit.schemes.hf.buffer_law`).
    """
    c = ctx.config

    def normal(what: str, compute: Callable[[], float]) -> Normal:
        return Normal(std=stds(f"{prefix}{what}", compute))

    def linear(path: str, law: Normal) -> None:
        ctx.set(module, prefix, f"{path}.weight", law)
        ctx.set(module, prefix, f"{path}.bias", ZERO, "bias")

    if isinstance(module, (nn.Conv1d, nn.Linear, nn.Embedding)):
        law = normal("weight (sqrt(w_init_variance_scale/conv1d_width))",
                     lambda: math.sqrt(c.w_init_variance_scale / c.conv1d_width))
        padding = getattr(module, "padding_idx", None)
        ctx.set(module, prefix, "weight", law, zero_rows=() if padding is None else (padding,))
        ctx.set(module, prefix, "bias", ZERO, "bias")
    elif ctx.isinstance(module, "RecurrentGemmaAttention"):
        inner = normal("q/k/v_proj.weight (sqrt(1/hidden_size))",
                       lambda: math.sqrt(1.0 / c.hidden_size))
        for path in ("q_proj", "k_proj", "v_proj"):
            ctx.set(module, prefix, f"{path}.weight", inner)
        ctx.set(module, prefix, "o_proj.weight", normal(
            "o_proj.weight (sqrt(final_w_init_variance_scale/hidden_size))",
            lambda: math.sqrt(c.final_w_init_variance_scale / c.hidden_size)))
    elif ctx.isinstance(module, "RecurrentGemmaRecurrentBlock"):
        inner = normal("linear_x/y.weight (sqrt(1/hidden_size))",
                       lambda: math.sqrt(1.0 / c.hidden_size))
        linear("linear_x", inner)
        linear("linear_y", inner)
        linear("linear_out", normal(
            "linear_out.weight (sqrt(final_w_init_variance_scale/lru_width))",
            lambda: math.sqrt(c.final_w_init_variance_scale / c.lru_width)))
    elif ctx.isinstance(module, "RecurrentGemmaRglru"):
        gate = normal("gate weights (sqrt(w_init_variance_scale/(lru_width//heads)))",
                      lambda: math.sqrt(c.w_init_variance_scale /
                                        (c.lru_width // c.num_attention_heads)))
        for name in ("input_gate", "recurrent_gate"):
            ctx.set(module, prefix, f"{name}_weight", gate)
            ctx.set(module, prefix, f"{name}_bias", ZERO, "bias")
        ctx.set(module, prefix, "recurrent_param", LruRecurrence(0.9 ** 2 + 1e-8,
                                                                 0.999 ** 2 + 1e-8))
    elif ctx.isinstance(module, "RecurrentGemmaRMSNorm"):
        ctx.set(module, prefix, "weight", ZERO, "norm")
    elif ctx.isinstance(module, "RecurrentGemmaModel"):
        ctx.set(module, prefix, "normalizer", Constant(c.hidden_size ** 0.5), "buffer")
