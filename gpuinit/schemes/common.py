"""What the role-based schemes share: the loop from roles to rules, and their common laws.

A role-based scheme is a function ``law(info) -> Law | Rule`` for each parameter
(see :mod:`gpuinit.schemes.roles`); :func:`role_rules` runs it over the model after
refusing, before anything is written, parameters that have no role.  Norm gains
are one and biases zero unless the scheme says otherwise; an embedding's
``padding_idx`` row is zeroed as torch's ``nn.Embedding`` does (the row is never
trained); buffers that constructors compute get :func:`computed_buffers`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from torch import nn

from ..laws import Constant, Law, Rule
from ..torch.plan import Fill
from .hf import computed_buffers
from .roles import TensorInfo, analyze, roles_error, unplaced


def padding_rows(info: TensorInfo) -> tuple[int, ...]:
    """Return (padding_idx,) for an nn.Embedding with one, else ()."""
    padding = getattr(info.module, "padding_idx", None)
    if isinstance(info.module, nn.Embedding) and padding is not None and info.attr == "weight":
        return (padding,)
    return ()


def norm_or_bias(info: TensorInfo) -> Law | None:
    """Return the law of a norm gain (one) or a bias (zero); None for other roles."""
    if info.role == "norm":
        return Constant(1.0)
    if info.role == "bias":
        return Constant(0.0)
    return None


def role_rules(model: nn.Module, scheme: str, roles: Mapping | None,
               law: Callable[[TensorInfo], Law | Rule], skip: Collection[str] = (), *,
               allow_linear: bool = False,
               infos: Mapping[str, TensorInfo] | None = None) -> dict[str, Fill]:
    """Return {tensor name: Rule} giving every parameter of ``model`` the law
    ``law(info)`` of its role, and every computed buffer its values.

    ValueError naming the parameters with no role (the catch-all "linear" too,
    unless ``allow_linear``) that ``skip`` does not cover, before any law is built;
    ValueError naming the tensor whose law cannot be computed (a division by zero: a
    layer of fan-in 0 under a law of 1/√fan_in, say).
    """
    infos = infos if infos is not None else analyze(model, roles)
    missing = [n for n in unplaced(infos, allow_linear) if n not in skip]
    if missing:
        raise roles_error(scheme, missing)
    rules: dict[str, Fill] = {}
    for name, info in infos.items():
        if not info.is_parameter or name in skip and info.role in (None, "linear"):
            continue
        try:
            made = law(info)
        except (ZeroDivisionError, OverflowError, ValueError) as exc:  # its numbers, say
            raise ValueError(f"scheme {scheme!r} cannot compute the law of {name!r} (shape "
                             f"{info.shape}, role {info.role}, fan-in {info.fan_in}): "
                             f"{type(exc).__name__}: {exc}") from exc
        rules[name] = made if isinstance(made, Rule) else Rule(
            made, info.role, zero_rows=padding_rows(info))
    rules.update(computed_buffers(model))
    return rules
