"""``gpuinit.torch.describe``: a scheme's plan as a table, before anything is written.

Each row names a tensor, its shape, dtype and role, and the law its fill draws
from, with that law's standard deviation and bounds.  Every fill that gpuinit
builds is a value that says its law: the named schemes, the torch defaults and
dict-scheme values give laws and rules (:mod:`gpuinit.laws`), a catalogue
initializer's fill holds its law, a gpuinit.init function by name its options;
a user's own callable is shown by its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from ..laws import Law, Rule
from ..torch.mapping import CatalogueFill, InitFunction, UserFill
from .plans import prepare_plan
from .roles import analyze

COLUMNS = ("tensor", "shape", "dtype", "role", "law", "std", "bounds")


class PlanTable(list):
    """The rows of :func:`describe_plan`: a list of dicts with the keys of
    :data:`COLUMNS`; ``str(table)`` is the table as aligned text."""

    def __str__(self) -> str:
        cells = [COLUMNS] + [tuple(_cell(key, row[key]) for key in COLUMNS) for row in self]
        widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                 for line in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "std":
        return f"{value:.4g}"
    if key == "bounds":
        return f"[{value[0]:.4g}, {value[1]:.4g}]"
    if key == "shape":
        return str(tuple(value))
    return str(value)


def plain_law(fill, shape: tuple[int, ...]) -> Law | Rule | str:
    """Return the law of a fill of a tensor of ``shape`` (a law or a rule as it is, a
    catalogue initializer's fill by the law it holds), or a text naming it."""
    if isinstance(fill, (Law, Rule)):
        return fill
    if isinstance(fill, CatalogueFill):
        return fill.law(shape)
    if isinstance(fill, UserFill):
        function = fill.function
        return f"user fill {getattr(function, '__qualname__', repr(function))}"
    if isinstance(fill, InitFunction):
        return fill.text()
    return f"fill {getattr(fill, '__qualname__', type(fill).__name__)}"


def explain(fill, shape: tuple[int, ...]) -> tuple[str, float | None, tuple | None]:
    """Return (law text, std, bounds) of one tensor's fill."""
    law = fill if isinstance(fill, Rule) else plain_law(fill, shape)
    if isinstance(law, str):
        return law, None, None
    if isinstance(law, Law):
        law = Rule(law)
    moments = law.law.moments(shape)
    return law.text(), None if moments is None else moments[1], law.bounds


def _roles_option(scheme: Any) -> Mapping | None:
    if isinstance(scheme, tuple) and len(scheme) == 2 and isinstance(scheme[1], Mapping):
        return scheme[1].get("roles")
    return None


def describe_plan(model: nn.Module, scheme: Any = "torch") -> PlanTable:
    """Return the plan of ``scheme`` over ``model`` as a :class:`PlanTable` (one row per
    tensor: tensor, shape, dtype, role, law, std, bounds), checking it as
    ``init_module`` does first (errors are raised here, and nothing is written).
    Works on meta models."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    prepared = prepare_plan(model, scheme)
    tensors, same, plan = prepared.tensors, prepared.same, prepared.plan
    infos = analyze(model, _roles_option(scheme))
    table = PlanTable()
    for name, t in tensors.items():
        fill, shape = plan.get(name), tuple(t.shape)
        if name in same:
            law, std, bounds = f"same memory as {same[name]}", None, None
        elif fill is None:
            law, std, bounds = "kept (pruning mask)", None, None
        else:
            law, std, bounds = explain(fill, shape)
        role = getattr(fill, "role", None) or infos[name].role
        table.append({"tensor": name, "shape": shape,
                      "dtype": str(t.dtype).removeprefix("torch."), "role": role, "law": law,
                      "std": std, "bounds": bounds})
    return table
