"""``"torchtune"``: torchtune's initialization of a model trained from scratch, by module type.

Matches pytorch/torchtune 0.6.1.  Its model builders (torchtune/models/*/
_component_builders.py: ``llama3``, ``llama3_1``, ``llama3_2``, ``qwen2``, ``gemma``,
``gemma2``, ``mistral``, ``phi3`` and their ``lora_*`` variants) assemble
``TransformerDecoder`` (torchtune/modules/transformer.py) from torch modules that keep
their constructors' init, and from torchtune components that set their own; a recipe
then calls ``rope_init()`` on every module that has it, ``initialize_parameters()`` on
LoRA/DoRA layers and ``initialize_dora_magnitude()`` on DoRA layers (recipes/
lora_finetune_distributed.py, full_finetune_distributed.py ``_setup_model``).  By
torchtune's names (d = the fan-in of a Linear, its ``in_features``):

=========================================  =============================================
tensor                                     law (source)
=========================================  =============================================
``tok_embeddings.weight``                  N(0, 1), the padding row (if any) 0:
                                           ``nn.Embedding.reset_parameters`` (gemma's
                                           ``GemmaNormEmbeddings`` subclasses it)
``layers.N.attn.q_proj/k_proj/v_proj/``    U(±1/√d) weights and biases (qwen2's q/k/v
``output_proj``, ``layers.N.mlp.w1/w2/``   biases): ``nn.Linear.reset_parameters``
``w3`` (``MultiHeadAttention``,            (kaiming_uniform_(a=√5)); torchtune/modules/
``FeedForward``), ``output``               attention.py and feed_forward.py set nothing
``output`` as ``TiedLinear``               no tensor: torchtune/modules/tied_linear.py
                                           ``TiedLinear`` is not an nn.Module and reads
                                           ``tok_embeddings.weight`` (gemma, qwen2 0.5B,
                                           llama3_2)
``sa_norm``/``mlp_norm``/``norm`` ``.scale``  1: torchtune/modules/rms_norm.py ``RMSNorm``
                                           (``torch.ones``)
``.scale`` of ``GemmaRMSNorm`` (gemma's    0: torchtune/models/gemma/rms_norm.py
norms, gemma2's ``sa_scale``/``mlp_scale``  (``torch.zeros``; the gain is 1 + scale)
and ``norm.rms_norm``)
``.scale`` of ``TanhGate``                 0: torchtune/modules/tanh_gate.py
LoRA/DoRA ``weight``, ``bias``             U(±1/√in_dim): the ``nn.Linear(in_dim,
                                           out_dim)`` they take them from (torchtune/
                                           modules/peft/lora.py ``LoRALinear.__init__``,
                                           dora.py ``DoRALinear.__init__``)
``lora_a.weight``                          kaiming_uniform_(a=√5) = U(±1/√in_dim):
                                           ``_lora_a_init_params``
``lora_b.weight``                          0: ``_lora_b_init_params``
DoRA ``magnitude``                         the row norms ‖W + (α/r)·B·A‖ of
                                           ``initialize_dora_magnitude``; with B = 0 they
                                           are ‖W‖ of the layer's own ``weight`` as
                                           written just before (computed, exact)
``pos_embeddings.theta``, ``.cache``       recomputed by the module's own ``rope_init()``
                                           (``RotaryPositionalEmbeddings.rope_init`` and
                                           ``build_rope_cache`` in torchtune/modules/
                                           position_embeddings.py; ``Llama3ScaledRoPE``,
                                           qwen2's and phi3's RoPE), on the target device
``kv_cache.k_cache``, ``.v_cache``;        0; ``arange(max_seq_len)``: torchtune/modules/
``.cache_pos``                             kv_cache.py ``KVCache.__init__``
vision: ``CLSEmbedding.weight``,           N(0, 1/embed_dim) (``embed_dim**-0.5 *
``CLSProjection.weight``, the positional   torch.randn``): torchtune/modules/
embeddings of ``TokenPositionalEmbedding``,  vision_transformer.py, torchtune/models/clip/
``TiledTokenPositionalEmbedding``,         _position_embeddings.py; their ``gate`` 0
``TilePositionalEmbedding``
other torch modules (``Fp32LayerNorm``,    their own ``reset_parameters`` (gpuinit's
``nn.Conv2d``, ...)                        "torch" scheme)
=========================================  =============================================

Components are found by class name (and subclasses) as torchtune names them; a LoRA
or DoRA layer by its structure too (a module with a ``weight`` and ``nn.Linear``
children ``lora_a`` and ``lora_b``; DoRA's with a ``magnitude``).  The DoRA magnitude
reads the layer's ``weight``, which gpuinit writes before it (torchtune registers
``weight`` first); it follows an ``{"overrides": ...}`` law of that weight, not one
of ``lora_b``.  A ``Llama3ScaledRoPE`` built on the meta device has no ``theta`` or
``cache`` (its ``rope_init`` returns early there): after ``materialize`` call
``rope_init()`` on it, as torchtune's recipes do.  Tensors torchtune leaves
``torch.empty`` (``CLIPTextEncoder.position_embedding``, ``VectorQuantizedEmbeddings``)
or a custom module's have no rule and are refused, naming them, before anything is
written (give them one with ``{"overrides": {...}}``); NF4-quantized bases
(``quantize_base=True``, ``FrozenNF4Linear``) are not supported.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Collection

import torch
from torch import nn

from ..laws import Computed, Constant, Law, Normal, Rule, Uniform
from ..torch.plan import Fill
from .registry import Scheme, register
from .roles import analyze

# torchtune's module names -> gpuinit's roles (for describe(); the laws follow the types).
_ROLE_BY_NAME = {"tok_embeddings": "embedding", "q_proj": "attn_q", "k_proj": "attn_k",
                 "v_proj": "attn_v", "output_proj": "attn_out", "w1": "mlp_gate",
                 "w3": "mlp_up", "w2": "mlp_out"}
_ZERO_SCALE = ("GemmaRMSNorm", "TanhGate")
_VISION = {  # class: (attributes drawn N(0, 1/embed_dim), index of embed_dim in the shape)
    "CLSEmbedding": (("weight",), 0),
    "CLSProjection": (("weight",), 0),
    "TokenPositionalEmbedding": (("positional_embedding",), -1),
    "TiledTokenPositionalEmbedding": (("local_token_positional_embedding",
                                       "global_token_positional_embedding"), -1),
    "TilePositionalEmbedding": (("embedding",), -1),
}
_HINT = (" (torchtune gives it no law: only torch modules, torchtune's RMSNorm, "
         "GemmaRMSNorm, TanhGate, LoRA/DoRA layers, RoPE modules with rope_init(), KVCache "
         "and the vision CLS/positional embeddings)")


def _classes(module: nn.Module) -> set[str]:
    return {c.__name__ for c in type(module).__mro__}


def _is_lora(module: nn.Module) -> bool:
    """A LoRA or DoRA layer: its own ``weight`` and nn.Linear children lora_a, lora_b."""
    return (module._parameters.get("weight") is not None
            and isinstance(getattr(module, "lora_a", None), nn.Linear)
            and isinstance(getattr(module, "lora_b", None), nn.Linear))


def _linear(fan_in: int) -> Law:
    """nn.Linear's kaiming_uniform_(a=√5) and bias law: U(±1/√fan_in); 0 at fan-in 0
    (torch's bound 0: an empty weight, a zero bias)."""
    return Uniform.symmetric(1.0 / math.sqrt(fan_in)) if fan_in > 0 else Constant(0.0)


def _role(name: str, infos, full: str) -> str | None:
    """The role of tensor ``full`` of module ``name`` by torchtune's names."""
    parts = name.split(".") if name else []
    last = parts[-1] if parts else ""
    if last == "output" and not any(p.isdigit() for p in parts):
        return "readout"
    if last in _ROLE_BY_NAME:
        return _ROLE_BY_NAME[last]
    info = infos.get(full)
    return info.role if info is not None else None


def _rope(module: nn.Module, attr: str):
    """Return compute(t) -> the buffer ``attr`` that ``module.rope_init()`` makes on
    ``t``'s device, run on a shallow copy (the model's own module is left as it is)."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        clone = copy.copy(module)
        clone._parameters, clone._buffers = dict(module._parameters), dict(module._buffers)
        clone._modules = dict(module._modules)
        with torch.device(t.device):
            clone.rope_init()
        return clone._buffers[attr].to(t.device)
    return compute


def _magnitude(module: nn.Module):
    """Return compute(t) -> DoRA's ``initialize_dora_magnitude`` with lora_b = 0: the row
    norms of the layer's weight, in lora_a's dtype (dora.py ``_get_weight_norm``)."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        weight = module.weight.detach().to(module.lora_a.weight.dtype)
        return torch.linalg.norm(weight, dim=1).to(weight.dtype)
    return compute


def _arange(t: torch.Tensor) -> torch.Tensor:
    return torch.arange(t.shape[0], device=t.device)


def _linear_rules(model: nn.Module, name: str, module: nn.Module, infos) -> dict[str, Fill]:
    """The rules of an nn.Linear or of a LoRA/DoRA layer's own tensors."""
    prefix = f"{name}." if name else ""
    params = module._parameters
    rules: dict[str, Fill] = {}
    weight = params.get("weight")
    if weight is None:
        return rules
    last = name.rpartition(".")[2]
    fan_in = weight.shape[1] if weight.dim() == 2 else 0
    if last == "lora_b":
        law, role = Constant(0.0), "lora_b"
    else:
        law = _linear(fan_in)
        role = "lora_a" if last == "lora_a" else _role(name, infos, prefix + "weight")
        if role == "mlp_gate" and getattr(_parent(model, name), "w3", None) is None:
            role = "mlp_in"  # a FeedForward without up_proj
    rules[prefix + "weight"] = Rule(law, role)
    if params.get("bias") is not None:
        rules[prefix + "bias"] = Rule(_linear(fan_in), "bias")
    if _is_lora(module) and params.get("magnitude") is not None:
        rules[prefix + "magnitude"] = Rule(Computed(
            f"DoRA magnitude: row norms of {prefix}weight", _magnitude(module)),
            "dora_magnitude")
    return rules


def _vision_rules(prefix: str, module: nn.Module, kinds: set[str]) -> dict[str, Fill]:
    """The rules of torchtune's CLS and positional embeddings (``scale * torch.randn``)."""
    rules: dict[str, Fill] = {}
    params = module._parameters
    for kind, (attrs, axis) in _VISION.items():
        if kind not in kinds:
            continue
        for attr in attrs:
            t = params.get(attr)
            if t is not None and t.dim() > 0 and t.shape[axis] > 0:
                role = ("embedding" if kind == "CLSEmbedding" else "linear"
                        if kind == "CLSProjection" else "pos_embedding")
                rules[prefix + attr] = Rule(Normal(std=t.shape[axis] ** -0.5), role)
        if params.get("gate") is not None:
            rules[prefix + "gate"] = Rule(Constant(0.0), "gate")
    return rules


def _buffer_rules(prefix: str, module: nn.Module, kinds: set[str]) -> dict[str, Fill]:
    """RoPE ``theta``/``cache`` by the module's ``rope_init()``; KVCache's buffers."""
    rules: dict[str, Fill] = {}
    buffers = module._buffers
    if callable(getattr(module, "rope_init", None)):
        for attr in ("theta", "cache"):
            if buffers.get(attr) is not None:
                rules[prefix + attr] = Rule(Computed(
                    f"RoPE {attr}: {type(module).__name__}.rope_init()", _rope(module, attr)),
                    "buffer")
    if "KVCache" in kinds:
        for attr in ("k_cache", "v_cache"):
            if buffers.get(attr) is not None:
                rules[prefix + attr] = Rule(Constant(0.0), "buffer")
        if buffers.get("cache_pos") is not None:
            rules[prefix + "cache_pos"] = Rule(Computed("KVCache cache_pos: arange", _arange),
                                               "buffer")
    return rules


def torchtune_rules(model: nn.Module, options: dict, skip: Collection[str] = ()) -> dict[str, Fill]:
    """Return {tensor name: Rule} of torchtune's from-scratch init (the module docstring)
    over the torch defaults; the scheme has no options but "overrides"."""
    infos = analyze(model)
    rules: dict[str, Fill] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        params = module._parameters
        kinds = _classes(module)
        if isinstance(module, nn.Linear) or _is_lora(module):
            rules.update(_linear_rules(model, name, module, infos))
        elif isinstance(module, nn.Embedding) and params.get("weight") is not None:
            padding = () if module.padding_idx is None else (module.padding_idx,)
            rules[prefix + "weight"] = Rule(Normal(std=1.0), _role(name, infos, prefix + "weight"),
                                            zero_rows=padding)
        zero = bool(kinds & set(_ZERO_SCALE))
        if params.get("scale") is not None and (zero or any("RMSNorm" in k for k in kinds)):
            rules[prefix + "scale"] = Rule(Constant(0.0 if zero else 1.0),
                                           "gate" if "TanhGate" in kinds else "norm")
        rules.update(_vision_rules(prefix, module, kinds))
        rules.update(_buffer_rules(prefix, module, kinds))
    return rules


def _parent(model: nn.Module, name: str) -> nn.Module | None:
    owner = name.rpartition(".")[0]
    try:
        return model.get_submodule(owner)
    except AttributeError:
        return None


register(Scheme(
    "torchtune", torchtune_rules, {},
    "torchtune's from-scratch init: torch defaults, RMSNorm 1, GemmaRMSNorm 0, LoRA B 0, "
    "DoRA magnitude ||W||, RoPE by rope_init()",
    "pytorch/torchtune 0.6.1 torchtune/modules (rms_norm.py, position_embeddings.py, "
    "peft/lora.py, peft/dora.py, kv_cache.py, tied_linear.py), torchtune/models",
    hint=_HINT))
