"""``"deepnet"`` (DeepNorm) and ``"t-fixup"``: depth-scaled inits of post-LN transformers.

Both start from fairseq's transformer init and shrink the value, output and MLP
projections of every block by a factor depending on the depth; N encoder and M
decoder layers (``encoder_layers``/``decoder_layers``, default: the model's blocks
under an "encoder"/"decoder" path; a model with neither is one stack of L blocks).

"deepnet" matches microsoft/torchscale torchscale/architecture/encoder.py and
decoder.py (the ``deepnorm`` branch: every parameter of ``fc1``, ``fc2``,
``out_proj`` and ``v_proj`` divided by init_scale) over
torchscale/component/multihead_attention.py ``reset_parameters`` and
feedforward_network.py (``nn.Linear``'s own init):

- q, k: U(±(1/√2)·√(6/(fan_in+fan_out))) (xavier_uniform, gain 1/√2); v: the same / s;
  a fused [q; k; v] weight (``nn.MultiheadAttention.in_proj_weight`` (3E, E), GPT-2's
  ``c_attn`` (E, 3E)) is xavier_uniform over the whole, the same bound, with its value
  third / s and a zero bias
- attn_out: xavier_uniform / s, its bias 0; q/k/v biases U(±1/√fan_in) (v's / s)
- mlp_*: U(±1/√fan_in) / s, biases U(±1/√fan_in) / s (as ``nn.Linear``'s own: a
  layer of fan-in 0 has an empty weight and a zero bias)
- embedding, pos_embedding, readout: N(0, 1/√d) (fairseq's ``Embedding`` and
  torchscale's output projection), padding row 0; norm 1, other biases 0
- s = (8L)^¼ for one stack (encoder or decoder); encoder-decoder: encoder
  (N⁴·M)^(1/16)/1.15, decoder (12M)^¼ (cross-attention included).

"t-fixup" matches layer6ai-labs/T-Fixup fairseq/modules/transformer_layer.py
(``fixup_initialization``) and fairseq/models/transformer.py (Huang et al., ICML
2020), over fairseq's init (Linear xavier_uniform with zero bias; q/k/v
xavier_uniform gain 1/√2; out_proj xavier_uniform; embeddings N(0, 1/√d)):

- encoder: fc1, fc2, out_proj × 0.67·N^(-¼); v_proj × 0.67·N^(-¼)·√2
- decoder (self and cross attention): × (9M)^(-¼), v_proj × (9M)^(-¼)·√2
- embeddings × (9N)^(-¼) in the encoder, (9M)^(-¼) in the decoder (a shared
  table: the encoder's); readout N(0, 1/√d) unscaled; q, k unscaled
- one stack of L blocks: the decoder's rule with M = L (``arch="encoder"`` for
  the encoder's); a fused [q; k; v] weight gets its value third scaled, as in
  "deepnet".
"""

from __future__ import annotations

import math
from collections.abc import Collection

from torch import nn

from ..laws import Constant, Law, Normal, Rule, Uniform
from .common import padding_rows, role_rules
from .options import COUNT_OR_NONE, MAPPING_OR_NONE, one_of
from .registry import Scheme, register
from .roles import ATTENTION_ROLES, MLP_ROLES, TensorInfo, analyze, depth, hidden_size

ARCHS = ("encoder", "decoder", "encoder_decoder")
_SCALED = ("attn_v", "attn_out") + MLP_ROLES


def _stacks(scheme: str, model: nn.Module, options: dict):
    """Return (infos, arch, N, M, d) with the options' overrides, checked."""
    infos = analyze(model, options["roles"])
    stacks = {i.stack for i in infos.values()
              if i.role in ATTENTION_ROLES + MLP_ROLES and i.block is not None}
    arch = options["arch"]
    if arch is None:
        arch = ("encoder_decoder" if {"encoder", "decoder"} <= stacks
                else "encoder" if stacks == {"encoder"} else "decoder")
    n = options["encoder_layers"]
    m = options["decoder_layers"]
    if arch == "encoder_decoder":
        n = n if n is not None else depth(infos, "encoder")
        m = m if m is not None else depth(infos, "decoder")
    else:
        single = n if arch == "encoder" else m
        n = m = single if single is not None else depth(infos)
    d = hidden_size(model, infos)
    if d is None:
        raise ValueError(f"scheme {scheme!r}: cannot find the model width")
    return infos, arch, n, m, d


def _xavier_bound(info: TensorInfo, gain: float) -> float:
    fan_out, fan_in = info.shape[0], math.prod(info.shape[1:])
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


def _value_slice(info: TensorInfo, scheme: str, factor: float) -> tuple[int, int, int, float]:
    """Return (dim, start, stop, factor) scaling the value third of a fused q/k/v weight
    stacked as [q; k; v]: the rows of nn.MultiheadAttention's in_proj_weight and of
    nanoGPT's Linear c_attn (3E, E), the columns of HF GPT-2's Conv1D c_attn (E, 3E).
    ValueError for other layouts (GPT-NeoX and Megatron interleave the heads,
    grouped-query attention has unequal parts)."""
    dim = {"MultiheadAttention": 0, "Conv1D": 1}.get(type(info.module).__name__)
    if isinstance(info.module, nn.Linear) and info.module_name.rsplit(".", 1)[-1] == "c_attn":
        dim = 0
    if dim is None or len(info.shape) != 2 or info.shape[dim] % 3:
        raise ValueError(f"scheme {scheme!r} scales the value projection but not the query "
                         f"and key: {info.name!r} fuses them in a layout gpuinit cannot split "
                         "(it splits nn.MultiheadAttention's in_proj_weight and GPT-2's "
                         "c_attn); use separate q/k/v projections, or give the tensor a role "
                         "with options {'roles': {pattern: role}}")
    e = info.shape[dim] // 3
    return (dim, 2 * e, 3 * e, factor)


def _embedding(info: TensorInfo, d: int, factor: float = 1.0) -> Rule:
    return Rule(Normal(std=factor / math.sqrt(d)), info.role, zero_rows=padding_rows(info))


def deepnet_rules(model: nn.Module, options: dict, skip: Collection[str] = ()):
    """Return {tensor name: Rule} of torchscale's DeepNorm init (module docstring)."""
    infos, arch, n, m, d = _stacks("deepnet", model, options)
    if arch == "encoder_decoder":
        scales = {"encoder": (n ** 4 * m) ** (1 / 16) / 1.15, "decoder": (12.0 * m) ** 0.25}
    else:
        scales = {}
    single = (8.0 * n) ** 0.25

    def law(info: TensorInfo) -> Law | Rule:
        s = scales.get(info.stack, single) if info.block is not None else 1.0
        role, owner = info.role, info.module_role
        if role in ("embedding", "pos_embedding", "readout"):
            return _embedding(info, d)
        if role == "norm":
            return Constant(1.0)
        if role == "bias":
            if owner in ("attn_q", "attn_k", "attn_v") + MLP_ROLES:  # nn.Linear's own bias
                fan_in = _bias_fan_in(infos, info)
                if fan_in == 0:  # nn.Linear's reset_parameters: bound 0 when fan_in is 0
                    return Constant(0.0)
                bound = 1.0 / math.sqrt(fan_in or d)
                return Uniform.symmetric(bound / s if owner in _SCALED else bound)
            return Constant(0.0)  # out_proj's, torch MHA's in_proj_bias, norms'
        if role in ("attn_q", "attn_k", "attn_v"):
            bound = _xavier_bound(info, 1 / math.sqrt(2))
            return Uniform.symmetric(bound / s if role == "attn_v" else bound)
        if role == "attn_qkv":
            return Rule(Uniform.symmetric(_xavier_bound(info, 1.0)), role,
                        scales=(_value_slice(info, "deepnet", 1 / s),))
        if role == "attn_out":
            return Uniform.symmetric(_xavier_bound(info, 1.0) / s)
        if info.fan_in == 0:  # nn.Linear's own init: a weight with no elements is left as is
            return Constant(0.0)  # (it has no elements: nothing is written)
        return Uniform.symmetric(1.0 / math.sqrt(info.fan_in) / s)  # fc1/fc2: nn.Linear's own

    return role_rules(model, "deepnet", None, law, skip, infos=infos)


def _bias_fan_in(infos, info: TensorInfo) -> int | None:
    """Return the fan-in of the weight beside the bias ``info``."""
    prefix = f"{info.module_name}." if info.module_name else ""
    weight = infos.get(prefix + "weight")
    return weight.fan_in if weight is not None else None


def tfixup_rules(model: nn.Module, options: dict, skip: Collection[str] = ()):
    """Return {tensor name: Rule} of T-Fixup's init (see the module docstring)."""
    infos, arch, n, m, d = _stacks("t-fixup", model, options)
    encoder, decoder = 0.67 * n ** -0.25, (9.0 * m) ** -0.25
    embedding = {"encoder": (9.0 * n) ** -0.25, "decoder": (9.0 * m) ** -0.25}

    def factor(info: TensorInfo) -> float:
        if info.block is None:
            return 1.0
        if info.stack == "encoder" or (info.stack is None and arch == "encoder"):
            return encoder
        return decoder

    def law(info: TensorInfo) -> Law | Rule:
        role = info.role
        if role in ("embedding", "pos_embedding"):
            # A table under neither stack is shared: T-Fixup scales it as the encoder's.
            stack = info.stack or ("decoder" if arch == "decoder" else "encoder")
            scale = embedding[stack] if role == "embedding" else 1.0
            return _embedding(info, d, scale)
        if role == "readout":
            return _embedding(info, d)
        if role == "norm":
            return Constant(1.0)
        if role == "bias":
            return Constant(0.0)
        f = factor(info)
        if role in ("attn_q", "attn_k"):
            return Uniform.symmetric(_xavier_bound(info, 1 / math.sqrt(2)))
        if role == "attn_v":
            return Uniform.symmetric(_xavier_bound(info, 1 / math.sqrt(2)) * math.sqrt(2) * f)
        if role == "attn_qkv":
            return Rule(Uniform.symmetric(_xavier_bound(info, 1.0)), role,
                        scales=(_value_slice(info, "t-fixup", math.sqrt(2) * f),))
        return Uniform.symmetric(_xavier_bound(info, 1.0) * f)  # out_proj, fc1, fc2

    return role_rules(model, "t-fixup", None, law, skip, infos=infos)


_OPTIONS = {"arch": None, "encoder_layers": None, "decoder_layers": None, "roles": None}
_CHECKS = {"arch": one_of(*ARCHS, optional=True), "encoder_layers": COUNT_OR_NONE,
           "decoder_layers": COUNT_OR_NONE, "roles": MAPPING_OR_NONE}
register(Scheme("deepnet", deepnet_rules, _OPTIONS,
                "DeepNorm: v, out_proj and MLP weights divided by (8L)^(1/4) (enc-dec: beta rule)",
                "microsoft/torchscale torchscale/architecture/encoder.py, decoder.py",
                checks=_CHECKS))
register(Scheme("t-fixup", tfixup_rules, _OPTIONS,
                "T-Fixup: v, out_proj, MLP and embeddings scaled by 0.67 N^(-1/4) / (9M)^(-1/4)",
                "layer6ai-labs/T-Fixup fairseq/modules/transformer_layer.py", checks=_CHECKS))
