"""A scheme's plan over a model: ``{tensor name: fill}`` for a dict scheme or a named one
(:func:`build_plan`), and the plan built and checked as the entry points of
:mod:`gpuinit.torch` start from it (:func:`prepare_plan`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

import torch
from torch import nn

from ..torch.defaults import torch_plan
from ..torch.dtensors import plain
from ..torch.fills import PlannedWrite, prepare_fills
from ..torch.mapping import apply_mapping
from ..torch.plan import (
    Fill,
    check_covered,
    named_tensors,
    pruning_masks,
    rules_on_tensors,
    stream_names,
    without,
)
from ..torch.storage import same_memory
from .registry import scheme_plan


def build_plan(model: nn.Module, scheme: Any = "torch", *,
               exempt: Collection[str] = ()) -> dict[str, Fill]:
    """Return {tensor name: fill} for every parameter and buffer of ``model``.

    ``scheme`` is a dict ({pattern or module type: initializer}, layered over the
    torch defaults), a registered name ("torch", "gpt2", "llama", "hf", "megatron",
    "olmo", "olmo_core", "neox", "deepnet", "t-fixup", "mup") or ``(name,
    {options})``: see :mod:`gpuinit.schemes`, whose ValueError lists the valid
    names or options for an unknown one.  Tensors are named as
    :func:`named_tensors` names them: a tied tensor by its first name, a pruned one
    by its ``<name>_orig`` Parameter (which takes the rule of ``<name>``).
    ValueError naming every tensor that no rule covers, except those in ``exempt``,
    before anything is written: tensors of modules that are not torch built-ins,
    extra tensors of subclasses of built-ins, subclasses with their own
    ``reset_parameters``, parametrization originals and pruning
    masks all need a scheme dict rule (or, for a named scheme, a role or an override).
    """
    if isinstance(scheme, Mapping):
        plan = rules_on_tensors(model, torch_plan(model))
        apply_mapping(model, scheme, plan)
    else:
        plan = scheme_plan(model, scheme, exempt)
    check_covered(model, plan, exempt)
    return plan


class PreparedPlan(NamedTuple):
    """A model's plan, built and checked: what :func:`prepare_plan` returns."""

    tensors: dict[str, torch.Tensor]  # every tensor of the model, by its first name
    same: dict[str, str]  # {name: first name} of tensors filled through an identical view
    plan: dict[str, Fill]  # {tensor name: fill}
    streams: dict[str, str]  # {tensor name: name whose hash is its stream}, where they differ
    kept: frozenset[str]  # tensors the plan leaves as they are (pruning masks, or given)
    writes: dict[str, PlannedWrite]  # {tensor name: its checked write}, nothing written

    @property
    def filled(self) -> dict[str, torch.Tensor]:
        """Return the tensors to fill, in order: every tensor less the identical views and
        the kept ones."""
        return {n: t for n, t in self.tensors.items()
                if n not in self.same and n not in self.kept}


def prepare_plan(model: nn.Module, scheme: Any = "torch", seed: int = 0, *,
                 keep: Collection[str] | None = None) -> PreparedPlan:
    """Return the :class:`PreparedPlan` of ``scheme`` over ``model``: the one prelude of
    :func:`gpuinit.torch.init_module`, :func:`~gpuinit.torch.materialize`,
    :func:`~gpuinit.torch.describe` and :func:`~gpuinit.torch.verify`.

    Tensors that view the memory of an earlier one identically are filled through it
    (ValueError naming both for a partial overlap; DTensors are left out of this check:
    their storages are stand-ins); ``keep`` (default: the pruning masks) names tensors
    that need no rule and are not filled (a rule that covers one anyway is dropped);
    ValueError naming the tensors no rule covers; every fill is checked against its
    tensor and prepared into its write (:func:`gpuinit.torch.fills.prepare_fills`, with
    ``seed``), the writes that the entry points then run once each; ValueError naming the
    tensors of lazy modules not built yet.  Nothing is written and no seed drawn.
    """
    tensors = named_tensors(model)
    lazy = [n for n, t in tensors.items()
            if isinstance(t, torch.nn.parameter.UninitializedTensorMixin)]
    if lazy:
        raise ValueError(f"{lazy[:3]} are not built yet (lazy modules, such as nn.LazyLinear, "
                         "have no shape before their first forward pass): run one first, as "
                         "torch needs before it initializes them; nothing was written")
    same = same_memory(plain(tensors))
    kept = frozenset(pruning_masks(model) if keep is None else keep)
    plan = build_plan(model, scheme, exempt=set(same) | kept)
    if keep is not None:
        plan = {n: f for n, f in plan.items() if n not in kept}
    streams = stream_names(model)
    writes = prepare_fills(plan, without(tensors, same), seed, streams)
    return PreparedPlan(tensors, same, plan, streams, kept, writes)
