"""A model's tensors as gpuinit.torch plans them: names, registrations, ties, and the
tensors that pruning, parametrizations and legacy weight/spectral norms derive.

A plan is ``{tensor name: fill}``, a fill being ``fill(tensor, seed, stream)`` that
writes the tensor in place (:data:`Fill`).  Tensors are named as
:func:`named_tensors` names them: a tied tensor by its first name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils import parametrize, prune

# One filling action: fill(tensor, seed, stream) writes the tensor in place.
Fill = Callable[[torch.Tensor, int, int], None]


def named_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return {qualified name: tensor} of every parameter and buffer (tied ones once)."""
    tensors: dict[str, torch.Tensor] = dict(model.named_parameters())
    tensors.update({n: b for n, b in model.named_buffers() if b is not None})
    return tensors


class Slot(NamedTuple):
    """One registration of a tensor: ``module._parameters[attr]`` or ``module._buffers[attr]``."""

    name: str  # the qualified name, e.g. "head.weight"
    module: nn.Module
    attr: str
    is_parameter: bool
    tensor: torch.Tensor


def tensor_slots(model: nn.Module) -> list[Slot]:
    """Return every registration of a parameter or buffer of ``model``, a tied tensor once
    under each of its names, in ``named_modules`` order (so a tensor's first slot carries
    the name that :func:`named_tensors` gives it)."""
    slots = []
    for prefix, module in model.named_modules(remove_duplicate=False):
        prefix = f"{prefix}." if prefix else ""
        for table, is_parameter in ((module._parameters, True), (module._buffers, False)):
            slots += [Slot(prefix + attr, module, attr, is_parameter, t)
                      for attr, t in table.items() if t is not None]
    return slots


def put(slot: Slot, tensor: torch.Tensor | None) -> None:
    """Register ``tensor`` in ``slot`` (through ``setattr`` for parameters, so modules that
    mirror their parameters, as RNNs do in ``_flat_weights``, see it)."""
    if slot.is_parameter:
        setattr(slot.module, slot.attr, tensor)
    else:
        slot.module._buffers[slot.attr] = tensor


def alias_names(slots: list[Slot]) -> dict[str, str]:
    """Return {second name: first name} for each tensor registered under several names."""
    first: dict[int, str] = {}
    aliases = {}
    for slot in slots:
        name = first.setdefault(id(slot.tensor), slot.name)
        if name != slot.name:
            aliases[slot.name] = name
    return aliases


def _pruning_hooks(model: nn.Module):
    """Yield (prefix, module, hook) for each tensor that ``torch.nn.utils.prune``
    reparametrizes (``hook._tensor_name``): its Parameter is ``<name>_orig``, its mask
    the buffer ``<name>_mask``, and ``hook`` recomputes ``<name>`` before each forward."""
    for name, module in model.named_modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):  # PruningContainer included
                yield (f"{name}." if name else ""), module, hook


def pruned_names(model: nn.Module) -> dict[str, str]:
    """Return {public name: name of its ``_orig`` Parameter} of every pruned tensor."""
    return {p + h._tensor_name: f"{p}{h._tensor_name}_orig" for p, _, h in _pruning_hooks(model)}


def pruning_masks(model: nn.Module) -> set[str]:
    """Return the qualified names of the pruning masks (``<name>_mask`` buffers)."""
    return {f"{p}{h._tensor_name}_mask" for p, _, h in _pruning_hooks(model)}


def _parametrized(model: nn.Module) -> set[str]:
    """Return the qualified names of tensors computed by ``torch.nn.utils.parametrize``
    (their tensors are the ``parametrizations.<name>.original*`` Parameters)."""
    names = set()
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module):
            prefix = f"{name}." if name else ""
            names.update(prefix + t for t in module.parametrizations)
    return names


def _legacy_norm_hooks(model: nn.Module):
    """Yield (prefix, module, hook) for each tensor that the legacy
    ``torch.nn.utils.weight_norm`` / ``spectral_norm`` compute before each forward
    (``hook.name``): a plain attribute of the module, made from its ``<name>_g`` and
    ``<name>_v`` Parameters (weight_norm) or its ``<name>_orig`` Parameter and
    ``<name>_u``/``<name>_v`` buffers (spectral_norm)."""
    from torch.nn.utils.spectral_norm import SpectralNorm
    from torch.nn.utils.weight_norm import WeightNorm

    for name, module in model.named_modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, (WeightNorm, SpectralNorm)):
                yield (f"{name}." if name else ""), module, hook


def _legacy_normed(model: nn.Module) -> set[str]:
    """Return the qualified names of the attributes that legacy weight_norm/spectral_norm
    hooks compute (no parameter or buffer: their originals need a scheme rule)."""
    return {prefix + hook.name for prefix, _, hook in _legacy_norm_hooks(model)}


def _refresh_legacy_norms(model: nn.Module) -> None:
    """Recompute each attribute of a legacy weight_norm/spectral_norm hook from the new
    values of its originals, as the hook does before each forward (spectral_norm without
    a power iteration, so its ``<name>_u``/``<name>_v`` keep the values written)."""
    from torch.nn.utils.spectral_norm import SpectralNorm

    with torch.enable_grad():  # as the hooks compute it: a function of the originals
        for _, module, hook in list(_legacy_norm_hooks(model)):
            if isinstance(hook, SpectralNorm):
                value = hook.compute_weight(module, do_power_iteration=False)
            else:
                value = hook.compute_weight(module)
            setattr(module, hook.name, value)


def _refresh_pruned(model: nn.Module) -> None:
    """Recompute each pruned attribute (``weight = weight_orig * weight_mask``) from the
    new values, as the pruning forward-pre-hook does before each forward."""
    with torch.enable_grad():  # as prune computes it: a function of <name>_orig
        for _, module, hook in list(_pruning_hooks(model)):
            hook(module, None)


def refresh_computed(model: nn.Module) -> None:
    """Recompute the attributes that pruning and legacy weight_norm/spectral_norm hooks
    derive from the tensors just written; returns None."""
    _refresh_pruned(model)
    _refresh_legacy_norms(model)


def stream_names(model: nn.Module) -> dict[str, str]:
    """Return {tensor name: name whose hash is its stream} where they differ: a pruned
    ``<name>_orig`` draws the stream of ``<name>``, as it would unpruned."""
    return {orig: public for public, orig in pruned_names(model).items()}


def without(tensors: dict[str, torch.Tensor], names: Collection[str]) -> dict[str, torch.Tensor]:
    """Return ``tensors`` less the entries named in ``names``."""
    return {n: t for n, t in tensors.items() if n not in names}


def rules_on_tensors(model: nn.Module, plan: dict[str, Fill]) -> dict[str, Fill]:
    """Return ``plan`` keyed by tensor names: a pruned tensor's rule moves to its ``_orig``
    Parameter; rules for the second names of tied tensors are dropped (a tied tensor
    takes its first name's rule) and so are rules for parametrized tensors and for the
    attributes of legacy weight_norm/spectral_norm hooks (their originals need a scheme
    rule).  RuntimeError for a rule naming anything else that is not a tensor of the
    model: that is a bug of gpuinit.torch.
    """
    slots = tensor_slots(model)
    tensor_names = {slot.name for slot in slots}
    aliases, pruned = alias_names(slots), pruned_names(model)
    parametrized = _parametrized(model) | _legacy_normed(model)
    result: dict[str, Fill] = {}
    for name, fill in plan.items():
        name = pruned.get(name, name)
        if name in aliases or name in parametrized:
            continue
        if name not in tensor_names:
            raise RuntimeError(f"gpuinit.torch bug: a rule names {name!r}, which is not a "
                               "parameter or buffer of the model; please report it")
        result[name] = fill
    return result


def check_covered(model: nn.Module, plan: dict[str, Fill], exempt: Collection[str]) -> None:
    """Raise ValueError naming the tensors of ``model`` that neither ``plan`` nor
    ``exempt`` covers; returns None when there are none."""
    missing = [n for n in named_tensors(model) if n not in plan and n not in exempt]
    masks = pruning_masks(model)
    others = [n for n in missing if n not in masks]
    if others:
        raise ValueError(f"no initialization rule for {others}: no torch built-in rule covers "
                         "them (tensors of custom modules, extra tensors of subclasses of "
                         "built-in modules, subclasses with their own reset_parameters, "
                         "parametrizations, the originals of weight_norm "
                         "and spectral_norm); cover them with "
                         "scheme={'pattern': initializer}")
    if missing:
        raise ValueError(f"no initialization rule for the pruning masks {missing}: a mask is "
                         "pruning state, not an initial value, and a meta mask has no values; "
                         "cover them with scheme={'*_mask': 'ones'} or prune after "
                         "materializing")


def gpt2_depth(residual_names) -> int:
    """Return n_layer for the GPT-2 preset: the distinct indexed blocks holding the
    residual projections, plus half the count of those outside any block."""
    blocks, loose = set(), 0
    for name in residual_names:
        parts = name.split(".")
        index = next((i for i, part in enumerate(parts) if part.isdigit()), None)
        if index is None:
            loose += 1
        else:
            blocks.add(".".join(parts[:index + 1]))
    return len(blocks) + loose // 2

