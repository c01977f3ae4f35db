"""The one registry of named schemes: ``scheme="name"`` or ``scheme=("name", {options})``.

Each :class:`Scheme` has a ``build(model, options, skip)`` returning {tensor name:
fill} layered over the torch defaults (:func:`gpuinit.torch.torch_plan`), its
options with their defaults, and a one-line summary.  Every named scheme takes
``"overrides"``: a ``{pattern or module type: initializer}`` dict, as a dict scheme,
layered last.  :func:`scheme_plan` is what :func:`gpuinit.torch.build_plan` calls.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..torch import (
    Fill,
    _apply_mapping,
    _pruning_masks,
    _rules_on_tensors,
    named_tensors,
    torch_plan,
)


@dataclass(frozen=True)
class Scheme:
    """A named scheme: ``build(model, options, skip) -> {name: fill}`` (``skip``: tensors
    that need no rule from it), ``defaults`` {option: default} (``REQUIRED`` for an
    option with none), a one-line ``summary``, and ``source``: the codebase and file
    it matches.  ``checked``: whether :func:`scheme_plan` refuses uncovered tensors
    itself, with this scheme's name in the message (the presets leave it to
    ``build_plan``, whose message they always had)."""

    name: str
    build: Callable[[nn.Module, dict, Collection[str]], dict[str, Fill]]
    defaults: Mapping[str, Any]
    summary: str
    source: str
    checked: bool = True
    hint: str = field(default="")


REQUIRED = object()
SCHEMES: dict[str, Scheme] = {}
_ORDER = ("torch", "gpt2", "llama", "hf", "megatron", "olmo", "olmo_core", "neox", "deepnet",
          "t-fixup", "mup")


def register(scheme: Scheme) -> Scheme:
    """Add ``scheme`` to the registry (every scheme also takes "overrides"); returns it."""
    defaults = {"overrides": None, **scheme.defaults}
    scheme = Scheme(scheme.name, scheme.build, defaults, scheme.summary, scheme.source,
                    scheme.checked, scheme.hint)
    SCHEMES[scheme.name] = scheme
    return scheme


def scheme_names() -> list[str]:
    """Return the names of the registered schemes, gpuinit's own first."""
    order = {name: i for i, name in enumerate(_ORDER)}
    return sorted(SCHEMES, key=lambda name: order.get(name, len(order)))


def _names() -> str:
    return ", ".join(map(repr, scheme_names()))


def resolve(scheme: Any) -> tuple[Scheme, dict[str, Any]]:
    """Return (Scheme, options with defaults filled in) for ``"name"`` or
    ``("name", {options})``.  ValueError listing the valid names for an unknown one,
    the valid options for an unknown option, and the required ones when missing."""
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
    return spec, merged


def choice(scheme: str, option: str, value: Any, valid: Collection[str]) -> str:
    """Return ``value`` when it is one of ``valid``, else raise ValueError listing them."""
    if value not in valid:
        raise ValueError(f"scheme {scheme!r}: {option}={value!r} is not valid; choose from "
                         f"{', '.join(map(repr, valid))}")
    return value


def positive(scheme: str, option: str, value: Any, *, allow_none: bool = False):
    """Return ``value`` when it is a positive number (or None when allowed), else raise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"scheme {scheme!r}: {option}={value!r} must be a positive number")
    return value


def count(scheme: str, option: str, value: Any) -> int:
    """Return ``value`` when it is a positive integer, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"scheme {scheme!r}: {option}={value!r} must be a positive integer")
    return value


def _override_targets(model: nn.Module, overrides: Mapping | None) -> set[str]:
    """Return the tensor names that the ``overrides`` dict gives a rule."""
    if not overrides:
        return set()
    if not isinstance(overrides, Mapping):
        raise TypeError("the 'overrides' option must be a dict {pattern: initializer}, got "
                        f"{type(overrides).__name__}")
    probe: dict[str, Fill] = {}
    _apply_mapping(model, overrides, probe)
    return set(probe)


def scheme_plan(model: nn.Module, scheme: Any, exempt: Collection[str] = ()) -> dict[str, Fill]:
    """Return {tensor name: fill} of a named scheme over ``model``: the torch defaults,
    the scheme's rules over them, then its "overrides".  ValueError, naming the
    scheme and the tensors, for any tensor (not in ``exempt``) left without a rule."""
    spec, options = resolve(scheme)
    overrides = options.pop("overrides")
    override_names = _override_targets(model, overrides)
    rules = spec.build(model, options, set(exempt) | override_names)
    plan = _rules_on_tensors(model, {**torch_plan(model), **rules})
    if overrides:
        _apply_mapping(model, overrides, plan)
    if spec.checked:
        masks = _pruning_masks(model)
        missing = [n for n in named_tensors(model)
                   if n not in plan and n not in exempt and n not in masks]
        if missing:
            raise ValueError(f"scheme {spec.name!r} has no rule for {missing}{spec.hint}; cover "
                             f"them with ({spec.name!r}, {{'overrides': {{'pattern': "
                             "initializer}})")
    return plan
