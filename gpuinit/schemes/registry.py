"""The one registry of named schemes: ``scheme="name"`` or ``scheme=("name", {options})``.

Each :class:`Scheme` has a ``build(model, options, skip)`` returning {tensor name:
fill} layered over the torch defaults (:func:`gpuinit.torch.torch_plan`), its
options with their defaults, and a one-line summary.  Every named scheme takes
``"overrides"``: a ``{pattern or module type: initializer}`` dict, as a dict scheme,
layered last.  :func:`scheme_plan` is what :func:`gpuinit.torch.build_plan` calls.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import LawError
from ..torch.defaults import torch_plan
from ..torch.mapping import apply_mapping
from ..torch.plan import (
    Fill,
    alias_names,
    named_tensors,
    pruned_names,
    pruning_masks,
    rules_on_tensors,
    tensor_slots,
)
from .options import (
    COUNT,
    MAPPING_OR_NONE,
    POSITIVE,
    POSITIVE_OR_NONE,
    Constraint,
    check_law,
    check_option,
    check_options,
    numeric_options,
    one_of,
)


@dataclass(frozen=True)
class Scheme:
    """A named scheme: ``build(model, options, skip) -> {name: fill}`` (``skip``: tensors
    that need no rule from it), ``defaults`` {option: default} (``REQUIRED`` for an
    option with none), a one-line ``summary``, and ``source``: the codebase and file
    it matches.  ``checked``: whether :func:`scheme_plan` refuses uncovered tensors
    itself, with this scheme's name in the message (the presets leave it to
    ``build_plan``, whose message they always had).  ``checks``: {option:
    :class:`~gpuinit.schemes.options.Constraint`}, what each option may be; every
    option is checked against its constraint (:func:`~gpuinit.schemes.options.check_options`)
    when the scheme is resolved, before the model is looked at."""

    name: str
    build: Callable[[nn.Module, dict, Collection[str]], dict[str, Fill]]
    defaults: Mapping[str, Any]
    summary: str
    source: str
    checked: bool = True
    hint: str = field(default="")
    checks: Mapping[str, Constraint] = field(default_factory=dict)


REQUIRED = object()
SCHEMES: dict[str, Scheme] = {}
_ORDER = ("torch", "gpt2", "llama", "hf", "megatron", "olmo", "olmo_core", "neox", "deepnet",
          "t-fixup", "mup", "torchtitan", "litgpt", "torchtune")


def register(scheme: Scheme) -> Scheme:
    """Add ``scheme`` to the registry (every scheme also takes "overrides", a dict);
    returns it.  ValueError for a constraint on an option the scheme does not have."""
    defaults = {"overrides": None, **scheme.defaults}
    checks = {"overrides": MAPPING_OR_NONE, **scheme.checks}
    stray = sorted(set(checks) - set(defaults))
    if stray:
        raise ValueError(f"scheme {scheme.name!r} constrains options it does not have: {stray}")
    scheme = Scheme(scheme.name, scheme.build, defaults, scheme.summary, scheme.source,
                    scheme.checked, scheme.hint, checks)
    SCHEMES[scheme.name] = scheme
    return scheme


def scheme_names() -> list[str]:
    """Return the names of the registered schemes, gpuinit's own first."""
    order = {name: i for i, name in enumerate(_ORDER)}
    return sorted(SCHEMES, key=lambda name: order.get(name, len(order)))


def _names() -> str:
    return ", ".join(map(repr, scheme_names()))


def resolve(scheme: Any) -> tuple[Scheme, dict[str, Any]]:
    """Return (Scheme, options with defaults filled in, checked and normalized) for
    ``"name"`` or ``("name", {options})``.  ValueError listing the valid names for an
    unknown one, the valid options for an unknown option, and the required ones when
    missing; TypeError/ValueError naming an option its constraint refuses
    (:func:`~gpuinit.schemes.options.check_options`)."""
    if isinstance(scheme, tuple) and len(scheme) == 2 and isinstance(scheme[0], str):
        name, options = scheme
        if not isinstance(options, Mapping):
            raise TypeError(f"scheme={scheme!r}: the options of {name!r} must be a dict, got "
                            f"{type(options).__name__}")
    elif isinstance(scheme, str):
        name, options = scheme, {}
    else:
        raise ValueError(f"scheme={scheme!r} must be a name ({_names()}), "
                         "(name, {options}) or a dict {pattern: initializer}")
    spec = SCHEMES.get(name)
    if spec is None:
        raise ValueError(f"scheme={name!r} is not a known scheme; valid names: "
                         f"{_names()}, (name, {{options}}) or a dict "
                         "{pattern: initializer}")
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        raise ValueError(f"scheme {name!r} has no option {', '.join(map(repr, unknown))}; valid "
                         f"options: {', '.join(map(repr, spec.defaults))}")
    merged = {**spec.defaults, **options}
    missing = [k for k, v in merged.items() if v is REQUIRED]
    if missing:
        raise ValueError(f"scheme {name!r} needs the option(s) {', '.join(map(repr, missing))}: "
                         f"e.g. scheme=({name!r}, {{{missing[0]!r}: ...}})")
    return spec, check_options(name, merged, spec.checks)


def choice(scheme: str, option: str, value: Any, valid: Collection[str]) -> str:
    """Return ``value`` when it is one of ``valid``, else raise ValueError listing them."""
    return check_option(scheme, option, value, one_of(*valid))


def positive(scheme: str, option: str, value: Any, *, allow_none: bool = False):
    """Return ``value`` as a float when it is a finite positive number (or None when
    allowed), else raise TypeError/ValueError naming the option."""
    return check_option(scheme, option, value, POSITIVE_OR_NONE if allow_none else POSITIVE)


def count(scheme: str, option: str, value: Any) -> int:
    """Return ``value`` as an int when it is an integer in [1, 2**63), else raise
    TypeError/ValueError naming the option."""
    return check_option(scheme, option, value, COUNT)


def _override_targets(scheme: str, model: nn.Module, overrides: Mapping | None) -> set[str]:
    """Return the tensor names that the ``overrides`` dict gives a rule; ValueError naming
    a pattern that matches no tensor (by any of its names) and a module type that matches
    no module, as the "roles" option refuses a pattern that places nothing."""
    if not overrides:
        return set()
    names = [*named_tensors(model), *alias_names(tensor_slots(model)), *pruned_names(model)]
    for key in overrides:
        if isinstance(key, str) and not any(fnmatch.fnmatchcase(n, key) for n in names):
            raise ValueError(f"scheme {scheme!r}: overrides pattern {key!r} matches no tensor "
                             "of the model")
        if isinstance(key, type) and not any(isinstance(m, key) for m in model.modules()):
            raise ValueError(f"scheme {scheme!r}: overrides key {key.__name__} matches no "
                             "module of the model")
    probe: dict[str, Fill] = {}
    apply_mapping(model, overrides, probe)
    return set(probe)


def scheme_plan(model: nn.Module, scheme: Any, exempt: Collection[str] = ()) -> dict[str, Fill]:
    """Return {tensor name: fill} of a named scheme over ``model``: the torch defaults,
    the scheme's rules over them, then its "overrides".  ValueError, naming the
    scheme and the tensors, for any tensor (not in ``exempt``) left without a rule, for
    an "overrides" pattern that matches no tensor, and for a law whose scale is not a
    normal positive float (:func:`~gpuinit.schemes.options.check_law`), all before
    anything is written."""
    spec, options = resolve(scheme)
    overrides = options.pop("overrides")
    override_names = _override_targets(spec.name, model, overrides)
    given = numeric_options(scheme[1] if isinstance(scheme, tuple) else {}, spec.checks)
    try:
        rules = spec.build(model, options, set(exempt) | override_names)
    except (ZeroDivisionError, OverflowError, LawError) as exc:
        # A law's arithmetic, or a law refusing the numbers it was made with (an infinite
        # std): named by the scheme and the options they follow from.
        source = f" with {given}" if given else ""
        raise ValueError(f"scheme {spec.name!r} cannot compute its laws for this "
                         f"model{source}: {type(exc).__name__}: {exc}") from exc
    for name, rule in rules.items():
        if name not in override_names:
            check_law(spec.name, name, rule, given)
    plan = rules_on_tensors(model, {**torch_plan(model), **rules})
    if overrides:
        apply_mapping(model, overrides, plan)
    if spec.checked:
        masks = pruning_masks(model)
        missing = [n for n in named_tensors(model)
                   if n not in plan and n not in exempt and n not in masks]
        if missing:
            raise ValueError(f"scheme {spec.name!r} has no rule for {missing}{spec.hint}; cover "
                             f"them with ({spec.name!r}, {{'overrides': {{'pattern': "
                             "initializer}})")
    return plan
