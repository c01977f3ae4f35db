"""The role of every tensor of a transformer, found by the names its codebase uses.

Named schemes give laws to roles, not to names: the attention output projection
is ``o_proj`` in Hugging Face Llama, ``c_proj`` under ``attn`` in GPT-2 and
nanoGPT, ``dense`` under ``attention`` in GPT-NeoX and Megatron, ``attn_out`` in
OLMo, ``w_out`` under ``attention`` in OLMo-core, ``linear_proj`` in Megatron
core and ``out_proj`` in torch's ``nn.MultiheadAttention``.  :func:`analyze`
returns, for every parameter and buffer, its role and its place (block index,
encoder or decoder stack, fan-in); a user's ``{pattern: role}`` map comes first.
Some roles come from the module's class: Megatron-core's ``VocabParallelEmbedding``
is an embedding table, and in a norm fused ahead of a linear (Transformer Engine's
``LayerNormLinear``, Megatron-core's ``TELayerNormColumnParallelLinear``) ``weight``
is the linear's and ``layer_norm_weight`` / ``layer_norm_bias`` the norm's.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass

from torch import nn

from ..torch.plan import alias_names, named_tensors, tensor_slots

ROLES: dict[str, str] = {
    "embedding": "token (or token-type) embedding table",
    "pos_embedding": "learned position embedding table",
    "attn_q": "attention query projection",
    "attn_k": "attention key projection",
    "attn_v": "attention value projection",
    "attn_qkv": "fused query/key/value projection",
    "attn_out": "attention output projection (onto the residual stream)",
    "mlp_in": "input projection of a plain MLP (c_fc, fc1, dense_h_to_4h, fused gate+up)",
    "mlp_gate": "gate projection of a gated MLP (gate_proj, w1)",
    "mlp_up": "up projection of a gated MLP (up_proj, w3)",
    "mlp_out": "MLP output projection (onto the residual stream)",
    "readout": "output projection onto the vocabulary (lm_head)",
    "router": "MoE router or expert gate (Megatron-core's router.weight and its bias, "
              "shared_experts.gate_weight; placed by the megatron scheme)",
    "norm": "gain (weight) of a normalization layer",
    "bias": "a bias",
    "linear": "a linear weight in no known place of a transformer (heads, poolers)",
    "buffer": "a buffer (running statistics, rotary frequencies, position ids)",
}
ASSIGNABLE = tuple(r for r in ROLES if r not in ("linear", "buffer", "router"))
ATTENTION_ROLES = ("attn_q", "attn_k", "attn_v", "attn_qkv", "attn_out")
MLP_ROLES = ("mlp_in", "mlp_gate", "mlp_up", "mlp_out")
RESIDUAL_ROLES = ("attn_out", "mlp_out")

# The last component of a module's name, lower case, in HF, Megatron (legacy and core),
# nanoGPT, OLMo, OLMo-core, Meta's Llama, fairseq/torchscale and torch.
_BY_NAME = {
    "attn_q": {"q_proj", "query", "wq", "w_q", "q", "to_q", "q_lin", "linear_q", "linear_q_proj",
               "linear_q_down_proj", "linear_q_up_proj"},
    "attn_k": {"k_proj", "key", "wk", "w_k", "k", "to_k", "k_lin", "linear_k"},
    "attn_v": {"v_proj", "value", "wv", "w_v", "v", "to_v", "v_lin", "linear_v"},
    "attn_qkv": {"c_attn", "qkv_proj", "query_key_value", "qkv", "att_proj", "wqkv", "w_qkv",
                 "linear_qkv", "w_pack", "to_qkv", "in_proj", "linear_kv", "linear_kv_down_proj",
                 "linear_kv_up_proj"},
    "attn_out": {"o_proj", "out_proj", "attn_out", "linear_proj", "out_lin", "to_out", "o"},
    "mlp_in": {"c_fc", "fc1", "fc_in", "dense_h_to_4h", "ff_proj", "linear_fc1", "linear1",
               "lin1", "gate_up_proj", "wi"},
    "mlp_gate": {"gate_proj", "w1", "wi_0"},
    "mlp_up": {"up_proj", "w3", "wi_1"},
    "mlp_out": {"down_proj", "fc2", "fc_out", "w2", "dense_4h_to_h", "linear_fc2", "linear2",
                "lin2"},
    "readout": {"lm_head", "embed_out", "output_layer", "unembed"},
}
_ROLE_OF = {name: role for role, names in _BY_NAME.items() for name in names}
_POSITIONS = {"wpe", "position_embeddings", "embed_positions", "pos_embed", "pos_embedding",
              "position_embedding"}
# Embedding tables that are not nn.Embedding: Megatron-core's tensor_parallel
# VocabParallelEmbedding (embedding.word_embeddings) and fairscale's ParallelEmbedding.
_EMBEDDING_CLASSES = {"VocabParallelEmbedding", "ParallelEmbedding"}
# Names whose role depends on the module they sit in (attention or MLP).
_RESIDUAL_BY_CONTEXT = {"c_proj", "dense", "proj", "w_out", "wo", "out", "ff_out"}
_ATTENTION_CONTEXT = {"attn", "attention", "self_attn", "self_attention", "selfattention",
                      "att", "encoder_attn", "cross_attn", "crossattention", "multihead_attn",
                      "inter_attention", "sa"}
_MLP_CONTEXT = {"mlp", "ffn", "feed_forward", "feedforward", "ff", "densereludense",
                "mlp_block", "ffw"}


@dataclass
class TensorInfo:
    """Where one tensor sits: ``role`` (a key of :data:`ROLES`, or None), the owning
    ``module`` and its name, the attribute, the transformer ``block`` ("model.layers.3")
    and its ``layer`` index, the ``stack`` ("encoder", "decoder" or None) and ``fan_in``
    (PyTorch layout; HF's Conv1D stores (in, out))."""

    name: str
    shape: tuple[int, ...]
    role: str | None
    module: nn.Module
    module_name: str
    attr: str
    is_parameter: bool
    block: str | None
    layer: int | None
    stack: str | None
    fan_in: int | None
    module_role: str | None = None  # the role of the owner's weight (for its bias)


def is_norm(module: nn.Module) -> bool:
    """Return True for normalization layers: torch's (LayerNorm, RMSNorm, GroupNorm,
    BatchNorm*, InstanceNorm*) and any class whose name contains "Norm" (HF's
    LlamaRMSNorm, OLMo's RMSLayerNorm, Megatron's FusedLayerNorm)."""
    torch_norms = (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.modules.batchnorm._NormBase)
    return isinstance(module, torch_norms) or "Norm" in type(module).__name__


def _is_linear(module: nn.Module) -> bool:
    """nn.Linear and convolutions, HF's Conv1D, and Megatron/TE-style *Linear classes."""
    kind = type(module).__name__
    return (isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)) or kind == "Conv1D"
            or kind.endswith("Linear"))


def _context(parents: list[str]) -> str | None:
    """Return "attention" or "mlp" for the nearest enclosing module so named, else None."""
    for part in reversed(parents):
        if part in _ATTENTION_CONTEXT:
            return "attention"
        if part in _MLP_CONTEXT:
            return "mlp"
    return None


def _place(parts: list[str]) -> tuple[str | None, int | None, str | None]:
    """Return (block, layer, stack) of a module path: the block is the path up to its first
    index ("h.3"), the stack "encoder"/"decoder" when a component above it (above the
    module, outside blocks) says so."""
    index = next((i for i, part in enumerate(parts) if part.isdigit()), None)
    above = [p.lower() for p in (parts if index is None else parts[:index])]
    stack = ("encoder" if any("encoder" in p for p in above)
             else "decoder" if any("decoder" in p for p in above) else None)
    if index is None:
        return None, None, stack
    return ".".join(parts[:index + 1]), int(parts[index]), stack


def linear_role(module_name: str, module: nn.Module) -> str:
    """Return the role of the weight of the linear layer ``module_name``: one of the
    attention/MLP/readout roles, or "linear" when the name says nothing."""
    parts = [p.lower() for p in module_name.split(".")] if module_name else [""]
    last, parents = parts[-1], parts[:-1]
    in_block = any(p.isdigit() for p in parents)
    if last in _ROLE_OF:
        return _ROLE_OF[last]
    context = _context(parents)
    if last == "dense" and parents and parents[-1] == "intermediate":
        return "mlp_in"  # BERT: layer.N.intermediate.dense
    if last == "dense" and parents and parents[-1] == "output":
        return "attn_out" if "attention" in parents else "mlp_out"  # BERT
    if last in _RESIDUAL_BY_CONTEXT:
        if context == "attention":
            return "attn_out"
        if context == "mlp":
            return "mlp_out"
        if last == "ff_out":
            return "mlp_out" if in_block else "readout"  # OLMo: block ff_out / transformer.ff_out
        if last == "w_out" and parents and parents[-1] == "lm_head":
            return "readout"  # OLMo-core: lm_head.w_out
    if last == "output" and not in_block:
        return "readout"  # Meta's Llama: output
    if last == "decoder" and parents and parents[-1] == "predictions":
        return "readout"  # BERT: cls.predictions.decoder
    return "linear"


def _fused_norm_linear(module: nn.Module) -> bool:
    """True for a norm fused ahead of a linear layer in one module: Transformer Engine's
    LayerNormLinear and Megatron-core's TELayerNormColumnParallelLinear (``linear_qkv``
    and ``mlp.linear_fc1`` of the TE layer spec), whose ``weight`` is the linear's and
    ``layer_norm_weight`` / ``layer_norm_bias`` the norm's."""
    return _is_linear(module) and "Norm" in type(module).__name__


def _fan_in(module: nn.Module, attr: str, shape: tuple[int, ...]) -> int | None:
    if len(shape) < 2:
        return None
    if type(module).__name__ == "Conv1D":
        return shape[0]  # HF's Conv1D keeps its weight as (in, out)
    return shape[1] * math.prod(shape[2:])


def tensor_role(module_name: str, module: nn.Module, attr: str, is_parameter: bool) -> str | None:
    """Return the role of ``module``'s tensor ``attr``, or None when it has none."""
    attr = attr.removesuffix("_orig")  # a pruned tensor keeps its role
    if not is_parameter:
        return "buffer"
    if attr == "bias" or attr.endswith("_bias"):
        return "bias"
    if _fused_norm_linear(module):
        if attr == "layer_norm_weight":
            return "norm"
        return linear_role(module_name, module) if attr == "weight" else None
    if is_norm(module):
        return "norm" if attr == "weight" else None
    if isinstance(module, nn.MultiheadAttention):
        return {"in_proj_weight": "attn_qkv", "q_proj_weight": "attn_q",
                "k_proj_weight": "attn_k", "v_proj_weight": "attn_v"}.get(attr)
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) or (
            attr == "weight" and type(module).__name__ in _EMBEDDING_CLASSES):
        last = module_name.rsplit(".", 1)[-1].lower()
        return "pos_embedding" if last in _POSITIONS else "embedding"
    if attr == "weight" and _is_linear(module):
        return linear_role(module_name, module)
    return None


def _owners(model: nn.Module) -> dict[int, tuple[str, nn.Module, str, bool]]:
    """Return {id(tensor): (module name, module, attribute, is_parameter)}, first
    registration of each tensor (the name :func:`gpuinit.torch.named_tensors` uses)."""
    owners: dict[int, tuple[str, nn.Module, str, bool]] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for table, is_parameter in ((module._parameters, True), (module._buffers, False)):
            for attr, t in table.items():
                if t is not None:
                    owners.setdefault(id(t), (module_name, module, attr, is_parameter))
    return owners


def check_roles_map(roles: Mapping) -> dict[str, str]:
    """Return a user's ``{pattern: role}`` map after checking it: ValueError for a role
    that is not one of :data:`ASSIGNABLE`, TypeError for a non-string pattern."""
    if not isinstance(roles, Mapping):
        raise TypeError(f"roles must be a dict {{pattern: role}}, got {type(roles).__name__}")
    for pattern, role in roles.items():
        if not isinstance(pattern, str):
            raise TypeError(f"roles keys are tensor name patterns, got {pattern!r}")
        if role not in ASSIGNABLE:
            raise ValueError(f"roles[{pattern!r}] = {role!r} is not a role; valid roles: "
                             f"{', '.join(ASSIGNABLE)}")
    return dict(roles)


def analyze(model: nn.Module, roles: Mapping | None = None) -> dict[str, TensorInfo]:
    """Return {tensor name: TensorInfo} for every parameter and buffer of ``model`` (a
    tied tensor once, by its first name).  ``roles`` ({fnmatch pattern of tensor names:
    role}) is applied first; a pattern may name a tensor by any of its names, and a
    pattern that matches no tensor raises ValueError."""
    roles = check_roles_map(roles or {})
    tensors = named_tensors(model)
    owners = _owners(model)
    aliases = alias_names(tensor_slots(model))
    infos: dict[str, TensorInfo] = {}
    for name, t in tensors.items():
        module_name, module, attr, is_parameter = owners[id(t)]
        block, layer, stack = _place(module_name.split(".") if module_name else [])
        shape = tuple(t.shape)
        infos[name] = TensorInfo(name, shape, tensor_role(module_name, module, attr, is_parameter),
                                 module, module_name, attr, is_parameter, block, layer, stack,
                                 _fan_in(module, attr, shape))
    names = list(infos) + list(aliases)
    for pattern, role in roles.items():
        hits = [aliases.get(n, n) for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ValueError(f"roles pattern {pattern!r} matches no tensor of the model")
        for name in hits:
            infos[name].role = role
    weights = {(i.module_name, i.attr.removesuffix("_orig")): i.role for i in infos.values()}
    for info in infos.values():
        info.module_role = weights.get((info.module_name, "weight"))
        if isinstance(info.module, nn.MultiheadAttention) and info.attr == "in_proj_bias":
            info.module_role = "attn_qkv"
        if info.attr == "layer_norm_bias" and _fused_norm_linear(info.module):
            info.module_role = "norm"  # the fused norm's bias, not the linear's
    return infos


def depth(infos: Mapping[str, TensorInfo], stack: str | None = "any") -> int:
    """Return the number of transformer blocks: distinct blocks holding attention or MLP
    tensors (of ``stack`` only, unless "any"); at least 1."""
    blocks = {i.block for i in infos.values()
              if i.role in ATTENTION_ROLES + MLP_ROLES and i.block is not None
              and (stack == "any" or i.stack == stack)}
    return max(1, len(blocks))


def hidden_size(model: nn.Module, infos: Mapping[str, TensorInfo]) -> int | None:
    """Return the model width: its config's hidden_size / d_model / n_embd when it has a
    config, else the token embedding's width, else the fan-in of an attention projection."""
    config = getattr(model, "config", None)
    for key in ("hidden_size", "d_model", "n_embd"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    for role in ("embedding",):
        for info in infos.values():
            if info.role == role and len(info.shape) == 2:
                return info.shape[1]
    for info in infos.values():
        if info.role in ("attn_q", "attn_qkv") and info.fan_in:
            return info.fan_in
    return None


def unplaced(infos: Mapping[str, TensorInfo], allow_linear: bool = False) -> list[str]:
    """Return the names of parameters with no role (or the catch-all "linear")."""
    bad = (None,) if allow_linear else (None, "linear")
    return [n for n, i in infos.items() if i.is_parameter and i.role in bad]


def roles_error(scheme: str, names: list[str]) -> ValueError:
    """Return the ValueError for parameters a role-based scheme cannot place."""
    return ValueError(
        f"scheme {scheme!r} finds no role for {names}: name them with options "
        f"{{'roles': {{'pattern': role}}}} (roles: {', '.join(ASSIGNABLE)}), e.g. "
        f"('{scheme}', {{'roles': {{'{names[0]}': 'mlp_in'}}}})")
