"""The torch defaults: the law each built-in module's own ``reset_parameters`` gives its
tensors, as a plan (``scheme="torch"``, and the base every other scheme layers over)."""

from __future__ import annotations

import math

from torch import nn

from ..fans import torch_fans
from ..laws import Constant, Law, Normal, Rule, Uniform
from .plan import Fill


def _xavier(shape: tuple[int, ...], kind: str) -> Law:
    """Return the law ``gpuinit.init.xavier_<kind>_`` draws a tensor of ``shape`` from
    (gain 1), computed as it computes it."""
    fan_in, fan_out = torch_fans(tuple(shape))
    if kind == "uniform":
        return Uniform.symmetric(1.0 * math.sqrt(6.0 / max(1, fan_in + fan_out)))
    return Normal(std=1.0 * math.sqrt(2.0 / max(1, fan_in + fan_out)))


def _linear_like(module, prefix: str, plan: dict) -> None:
    """Linear, ConvNd, ConvTransposeNd: kaiming_uniform_(a=√5), bias U(±1/√fan_in)."""
    weight = module.weight
    fan_in = torch_fans(tuple(weight.shape))[0] if weight.dim() >= 2 else 0
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    plan[prefix + "weight"] = Uniform.symmetric(bound)  # = kaiming_uniform_(a=√5)
    if getattr(module, "bias", None) is not None:
        plan[prefix + "bias"] = Uniform.symmetric(bound)


def _initializes_itself(module: nn.Module) -> bool:
    """Return whether ``module``'s class initializes its tensors by code of its own: a
    ``reset_parameters`` or ``_reset_parameters`` defined outside torch, as a subclass of
    a built-in may (muP's ``MuReadout`` zeroes its weight), whose law the built-in's
    rule would not be."""
    for method in ("reset_parameters", "_reset_parameters"):
        defined = getattr(type(module), method, None)
        if defined is not None and not getattr(defined, "__module__", "").startswith("torch."):
            return True
    return False


def _torch_rules(module: nn.Module, prefix: str, plan: dict) -> bool:
    """Add the torch default of ``module``'s own tensors to ``plan``; False if unknown (a
    module that is not a built-in, or a subclass that initializes itself)."""
    p = prefix
    if _initializes_itself(module):
        return False
    if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
        _linear_like(module, p, plan)
    elif isinstance(module, nn.Bilinear):
        bound = 1.0 / math.sqrt(module.weight.size(1))
        plan[p + "weight"] = Uniform.symmetric(bound)
        if module.bias is not None:
            plan[p + "bias"] = Uniform.symmetric(bound)
    elif isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        padding = module.padding_idx  # torch's _fill_padding_idx_with_zero, on the device
        plan[p + "weight"] = Rule(Normal(std=1.0), zero_rows=() if padding is None else (padding,))
    elif isinstance(module, nn.modules.batchnorm._NormBase):  # BatchNorm*, InstanceNorm*
        for name, fill in (("weight", Constant(1.0)), ("bias", Constant(0.0)),
                           ("running_mean", Constant(0.0)), ("running_var", Constant(1.0)),
                           ("num_batches_tracked", Constant(0))):
            if getattr(module, name, None) is not None:
                plan[p + name] = fill
    elif isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)):
        if getattr(module, "weight", None) is not None:
            plan[p + "weight"] = Constant(1.0)
        if getattr(module, "bias", None) is not None:
            plan[p + "bias"] = Constant(0.0)
    elif isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
        for name, _ in module.named_parameters(recurse=False):
            plan[p + name] = Uniform.symmetric(bound)
    elif isinstance(module, nn.MultiheadAttention):
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            if getattr(module, name, None) is not None:
                plan[p + name] = _xavier(getattr(module, name).shape, "uniform")
        if module.in_proj_bias is not None:
            plan[p + "in_proj_bias"] = Constant(0.0)
        if module.out_proj.bias is not None:
            plan[p + "out_proj.bias"] = Constant(0.0)
        for name in ("bias_k", "bias_v"):
            if getattr(module, name, None) is not None:
                plan[p + name] = _xavier(getattr(module, name).shape, "normal")
    elif isinstance(module, nn.PReLU):
        plan[p + "weight"] = Constant(module.init)
    elif isinstance(module, nn.Transformer):
        for name, parameter in module.named_parameters():
            if parameter.dim() > 1:
                plan[p + name] = _xavier(parameter.shape, "uniform")
    else:
        return False
    return True


def torch_plan(model: nn.Module) -> dict[str, Fill]:
    """Return {name: fill} by each built-in module's torch default, keyed as the modules
    name their tensors (``weight`` of a pruned Linear, not ``weight_orig``).

    Modules are visited children first, so a parent's rule (MultiheadAttention's
    zero ``out_proj.bias``, Transformer's xavier_uniform_) overrides its children's.
    Tensors of other modules, extra tensors of built-in subclasses, and the tensors of
    subclasses with their own ``reset_parameters`` get no rule.
    """
    plan: dict[str, Fill] = {}
    for name, module in reversed(list(model.named_modules())):
        _torch_rules(module, f"{name}." if name else "", plan)
    return plan
