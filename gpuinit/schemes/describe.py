"""``gpuinit.torch.describe``: a scheme's plan as a table, before anything is written.

Each row names a tensor, its shape, dtype and role, and the law its fill draws
from, with that law's standard deviation and bounds.  Rules made by the named
schemes carry their law; the torch defaults and dict-scheme values built by
:mod:`gpuinit.torch` are read back from their closures (``_uniform``,
``_normal``, ``_constant``, xavier, Embedding, the catalogue's uniform/normal/
truncated normal/orthogonal), and any other fill is shown by its name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import nn

from ..fans import torch_fans
from .laws import Constant, Law, Normal, Orthogonal, Rule, TruncNormal, Uniform
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


def _closure(fill) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Return ({free variable: value}, names the code uses) of a function."""
    code = getattr(fill, "__code__", None)
    if code is None:
        return {}, ()
    cells = fill.__closure__ or ()
    return dict(zip(code.co_freevars, (c.cell_contents for c in cells), strict=True)), code.co_names


def plain_law(fill, shape: tuple[int, ...]) -> Law | Rule | str:
    """Return the law of a fill built by gpuinit.torch, or a text naming it."""
    qualname = getattr(fill, "__qualname__", type(fill).__name__)
    if qualname in ("_xavier_uniform", "_xavier_normal") and len(shape) >= 2:
        fan_in, fan_out = torch_fans(shape)
        std = math.sqrt(2.0 / max(1, fan_in + fan_out))
        return Uniform.symmetric(math.sqrt(3.0) * std) if qualname == "_xavier_uniform" \
            else Normal(std)
    if qualname.endswith("<locals>.embedding"):
        padding = (fill.__defaults__ or (None,))[0]
        return Rule(Normal(1.0), zero_rows=() if padding is None else (padding,))
    if type(fill).__name__ == "_UserFill":
        function = fill.function
        return f"user fill {getattr(function, '__qualname__', repr(function))}"
    free, names = _closure(fill)
    if "function" in free and "options" in free:  # a gpuinit.init function by name
        options = ", ".join(f"{k}={v!r}" for k, v in free["options"].items())
        return f"{free['function'].__name__}({options})"
    if "trunc_normal_" in names and {"mean", "std"} <= set(free):
        mean, std = free["mean"], free["std"]
        return TruncNormal(std, mean - 2 * std, mean + 2 * std, mean)
    if "normal_" in names and "std" in free:
        return Normal(free["std"], free.get("mean", 0.0))
    if "uniform_" in names and "bound" in free:
        return Uniform.symmetric(free["bound"])
    if "uniform_" in names and {"lo", "hi"} <= set(free):
        return Uniform(free["lo"], free["hi"])
    if "constant_" in names and "value" in free:
        return Constant(free["value"])
    if "orthogonal_" in names and "gain" in free:
        return Orthogonal(free["gain"])
    return f"fill {qualname}"


def explain(fill, shape: tuple[int, ...]) -> tuple[str, float | None, tuple | None]:
    """Return (law text, std, bounds) of one tensor's fill."""
    law = fill if isinstance(fill, Rule) else plain_law(fill, shape)
    if isinstance(law, str):
        return law, None, None
    if isinstance(law, Law):
        law = Rule(law)
    std, bounds = law.law.std(shape), law.law.bounds()
    if bounds is not None:
        factors = [f for *_, f in law.scales]
        ends = [e * f for e in bounds for f in [1.0, *factors]]
        ends += [0.0] if law.zero_rows else []
        bounds = (min(ends), max(ends))
    return law.text(), std, bounds


def _roles_option(scheme: Any) -> Mapping | None:
    if isinstance(scheme, tuple) and len(scheme) == 2 and isinstance(scheme[1], Mapping):
        return scheme[1].get("roles")
    return None


def describe_plan(model: nn.Module, scheme: Any = "torch") -> PlanTable:
    """Return the plan of ``scheme`` over ``model`` as a :class:`PlanTable` (one row per
    tensor: tensor, shape, dtype, role, law, std, bounds), checking it as
    ``init_module`` does first (errors are raised here, and nothing is written).
    Works on meta models."""
    from ..torch import (
        _pruning_masks,
        _same_memory,
        _without,
        build_plan,
        check_plan,
        named_tensors,
    )

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    tensors = named_tensors(model)
    same = _same_memory(tensors)
    plan = build_plan(model, scheme, exempt=set(same) | _pruning_masks(model))
    check_plan(plan, _without(tensors, same), 0)
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
