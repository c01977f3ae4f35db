"""``("litgpt", {...})``: LitGPT's init, by module type and name.

Matches Lightning-AI/litgpt 0.5.x litgpt/pretrain.py ``initialize_weights`` (called by
``main`` with ``n_layer=config.n_layer, n_embd=config.n_embd``), which replaces the
``reset_parameters`` of modules and then runs litgpt/utils.py ``reset_parameters``
over the model, with litgpt/model.py (``GPT``, ``CausalSelfAttention``,
``LLaMAMLP``, ``GptNeoxMLP``, ``RMSNorm.reset_parameters``,
``GPT.reset_parameters``/``rope_cache``, ``KVCache.reset_parameters``); and, with
``method="init_weights"``, litgpt/model.py ``GPT._init_weights`` (as
``gpt.apply(gpt._init_weights)``).  With d = ``n_embd`` and L = ``n_layer``:

method "pretrain" (the default, ``initialize_weights``):

- every ``nn.Embedding`` and ``nn.Linear`` weight: N(0, √(2/(5d))) (GPT-NeoX's
  small_init), a Linear's bias 0; an embedding's padding row is drawn too (the
  replaced ``reset_parameters`` no longer zeroes it);
- the ``proj`` of every ``CausalSelfAttention`` and ``LLaMAMLP`` (and subclasses:
  ``GemmaMLP``, the experts and shared experts of ``LLaMAMoE``): N(0, 1/(√d·L)), half
  of GPT-NeoX's wang_init 2/(L·√d).  ``GptNeoxMLP``'s and
  ``MultiheadLatentAttention``'s ``proj`` keep √(2/(5d)), as in litgpt (an
  isinstance test).  A model of other classes is read by its structure: a
  module with children ``fc_1``, ``fc_2`` and ``proj`` (LLaMAMLP's) or ``qkv`` and
  ``proj`` (CausalSelfAttention's) has its ``proj`` scaled;
- every other module: its own ``reset_parameters`` (litgpt's ``RMSNorm`` 1, torch's
  norms 1 and 0, anything else torch's default).  ``GroupedTopkRouter.weight`` has none
  (litgpt leaves it ``torch.empty``): it has no rule and is refused, naming it, before
  anything is written (give it one with ``{"overrides": {...}}``).

method "init_weights" (``GPT._init_weights``): ``nn.Linear``, ``nn.Embedding`` and
``GroupedTopkRouter`` weights N(0, 0.02), Linear biases 0; everything else as
constructed (norms 1, torch's defaults).

Buffers: ``cos`` and ``sin`` are recomputed on the target device by the model's own
``rope_cache(device=...)``, as ``GPT.reset_parameters`` does; ``KVCache`` ``k`` and
``v`` are 0 (``KVCache.reset_parameters``), ``GroupedTopkRouter.e_score_correction_bias``
0 (its constructor).  A ``cos``/``sin`` buffer of a model without ``rope_cache`` has no
rule and is refused.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import torch
from torch import nn

from ..laws import Computed, Constant, Law, Normal, Rule
from ..torch.plan import Fill
from .hf import computed_buffers
from .options import COUNT_OR_NONE, one_of
from .registry import Scheme, count, register
from .roles import analyze, depth, hidden_size, is_norm

METHODS = ("pretrain", "init_weights")
DEFAULTS = {"method": "pretrain", "n_embd": None, "n_layer": None}
CHECKS = {"method": one_of(*METHODS), "n_embd": COUNT_OR_NONE, "n_layer": COUNT_OR_NONE}
INIT_WEIGHTS_STD = 0.02  # GPT._init_weights
_SCALED_CLASSES = ("LLaMAMLP", "CausalSelfAttention")
_MLP_ROLES = {"fc_1": "mlp_gate", "fc_2": "mlp_up", "fc": "mlp_in"}  # litgpt's MLP names
_HINT = (" (litgpt gives it no law: only nn.Linear/nn.Embedding, modules with their own "
         "reset_parameters and the rope_cache buffers of a model with rope_cache())")


def _has_children(module: nn.Module, *names: str) -> bool:
    return all(isinstance(getattr(module, n, None), nn.Module) for n in names)


def scales_proj(module: nn.Module) -> bool:
    """Return True when ``initialize_weights`` gives ``module.proj`` the output std: an
    instance of litgpt's CausalSelfAttention or LLaMAMLP (by class name, subclasses
    included); a module of other code by its structure (see the module docstring)."""
    classes = type(module).__mro__
    if any(c.__name__ in _SCALED_CLASSES for c in classes):
        return True
    if type(module).__module__.split(".")[0] == "litgpt":
        return False  # GptNeoxMLP, MultiheadLatentAttention ...
    return _has_children(module, "fc_1", "fc_2", "proj") or _has_children(module, "qkv", "proj")


def _rope(model: nn.Module, index: int):
    """Return compute(t) -> ``model.rope_cache(device=t.device)[index]`` (cos 0, sin 1)."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        return model.rope_cache(device=t.device)[index].to(t.device)
    return compute


def litgpt_buffers(model: nn.Module) -> dict[str, Fill]:
    """Return {buffer name: Rule} of the buffers litgpt computes or resets (the module
    docstring): cos/sin by ``rope_cache``, KV caches and router biases zero."""
    rules: dict[str, Fill] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        kind = type(module).__name__
        for attr, t in module._buffers.items():
            if t is None:
                continue
            if attr in ("cos", "sin") and callable(getattr(module, "rope_cache", None)):
                law: Law = Computed(f"RoPE {attr}: {kind}.rope_cache()",
                                    _rope(module, 0 if attr == "cos" else 1))
            elif (kind == "KVCache" and attr in ("k", "v")) or (
                    kind == "GroupedTopkRouter" and attr == "e_score_correction_bias"):
                law = Constant(0.0)
            else:
                continue
            rules[prefix + attr] = Rule(law, "buffer")
    return rules


def litgpt_rules(model: nn.Module, options: dict, skip: Collection[str] = ()) -> dict[str, Fill]:
    """Return {tensor name: Rule} of LitGPT's ``initialize_weights`` or ``_init_weights``
    (the module docstring) over the torch defaults; ``options`` are checked against
    :data:`CHECKS` already."""
    infos = analyze(model)
    pretrain = options["method"] == "pretrain"
    if pretrain:
        config = getattr(model, "config", None)
        d = options["n_embd"]
        if d is None:
            d = getattr(config, "n_embd", None) or hidden_size(model, infos)
        if d is None:
            raise ValueError("scheme 'litgpt': cannot find n_embd; pass it as "
                             "('litgpt', {'n_embd': ...})")
        d = count("litgpt", "n_embd", d)
        layers = options["n_layer"]
        if layers is None:
            layers = getattr(config, "n_layer", None) or depth(infos)
        layers = count("litgpt", "n_layer", layers)
        small = Normal(std=math.sqrt(2.0 / 5 / d))
        output = Normal(std=1 / math.sqrt(d) / layers)
    else:
        small = output = Normal(std=INIT_WEIGHTS_STD)

    def role(prefix: str, attr: str) -> str | None:
        """The tensor's role, for describe(): LLaMAMLP's fc_1/fc_2 (gate, up) and
        GptNeoxMLP's fc, which gpuinit.schemes.roles does not name, by litgpt's names."""
        info = infos.get(prefix + attr)
        if info is None:
            return None
        if info.role == "linear" and attr == "weight":
            return _MLP_ROLES.get(prefix.rstrip(".").rpartition(".")[2], "linear")
        return info.role

    rules: dict[str, Fill] = {}
    scaled = {f"{name}.proj." if name else "proj." for name, m in model.named_modules()
              if pretrain and scales_proj(m)}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, (nn.Linear, nn.Embedding)) or (
                not pretrain and type(module).__name__ == "GroupedTopkRouter"):
            if module._parameters.get("weight") is not None:
                law = output if prefix in scaled else small
                rules[prefix + "weight"] = Rule(law, role(prefix, "weight"))
            if isinstance(module, nn.Linear) and module.bias is not None:
                rules[prefix + "bias"] = Rule(Constant(0.0), "bias")
        elif is_norm(module):  # reset_parameters (litgpt's RMSNorm, torch's norms)
            for attr, value in (("weight", 1.0), ("bias", 0.0)):
                if module._parameters.get(attr) is not None:
                    rules[prefix + attr] = Rule(Constant(value), role(prefix, attr))
    rules.update(computed_buffers(model))
    rules.update(litgpt_buffers(model))
    return rules


register(Scheme(
    "litgpt", litgpt_rules, DEFAULTS,
    "LitGPT's initialize_weights: N(0, sqrt(2/(5d))), attention/LLaMAMLP proj 1/(sqrt(d)·L)",
    "Lightning-AI/litgpt litgpt/pretrain.py initialize_weights, litgpt/model.py",
    hint=_HINT, checks=CHECKS))
