"""``("mup", {"base": base_model, "delta": None, "std": σ})``: μP width scaling.

Matches microsoft/mup: mup/shape.py ``set_base_shapes`` (which dimensions are
"infinite": those that differ between ``base`` and ``delta``, or between
``base`` and the model when no delta is given), mup/infshape.py
``InfShape.width_mult`` (the model's size over the base's in the last infinite
dimension, the fan-in of a hidden matrix) and mup/init.py ``normal_`` (through
``constant_std_init_``), i.e. the model after ``set_base_shapes(model, base,
delta=delta)`` and ``mup.init.normal_(p, std=σ)`` on every weight:

- a weight with one infinite dimension or none (embeddings, the readout, any
  matrix of fixed width): N(0, σ)
- a weight with two infinite dimensions (hidden matrices: q/k/v/out, MLP):
  N(0, σ·width_mult^(-½))
- the readout: N(0, σ), or zero with ``readout_zero_init`` (``MuReadout``'s); its
  1/width_mult output multiplier is the model's (``mup.MuReadout``), not the init's
- norm gains 1, biases 0.

Tensors need no role beyond bias/norm/readout, so any linear weight is accepted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from torch import nn

from ..laws import Constant, Law, Normal
from .common import norm_or_bias, role_rules
from .options import BOOL, MAPPING_OR_NONE, POSITIVE, SHAPES, SHAPES_OR_NONE
from .registry import REQUIRED, Scheme, register
from .roles import analyze


def shapes_of(what, option: str) -> dict[str, tuple[int, ...]]:
    """Return {parameter name: shape} of a model, or of a {name: shape} dict."""
    if isinstance(what, nn.Module):
        return {n: tuple(p.shape) for n, p in what.named_parameters()}
    if isinstance(what, Mapping):
        return {n: tuple(s) for n, s in what.items()}
    raise TypeError(f"scheme 'mup': {option} must be an nn.Module or a dict {{name: shape}}, "
                    f"got {type(what).__name__}")


def infinite_dims(model_shapes, base_shapes, delta_shapes=None) -> dict[str, tuple[int, ...]]:
    """Return {name: indices of its infinite dimensions}, as ``set_base_shapes`` finds
    them; ValueError when the names differ."""
    reference = delta_shapes if delta_shapes is not None else model_shapes
    for label, other in (("base", base_shapes), ("delta", delta_shapes)):
        if other is not None and set(other) != set(model_shapes):
            extra, lacking = sorted(set(other) - set(model_shapes)), sorted(
                set(model_shapes) - set(other))
            raise ValueError(f"scheme 'mup': {label} has extra parameters {extra} and lacks "
                             f"{lacking}")
    dims = {}
    for name, shape in model_shapes.items():
        base, ref = base_shapes[name], reference[name]
        if len(base) != len(shape) or len(ref) != len(shape):
            raise ValueError(f"scheme 'mup': {name!r} has shape {shape} but {base} in base")
        dims[name] = tuple(i for i, (b, r) in enumerate(zip(base, ref, strict=True)) if b != r)
    return dims


def width_mult(shape, base, infinite) -> float:
    """Return InfShape.width_mult(): size over base size in the last infinite dimension."""
    if not infinite:
        return 1.0
    i = infinite[-1]
    if base[i] <= 0:
        raise ValueError(f"scheme 'mup': base dimension {base[i]} of {tuple(base)} is not positive")
    return shape[i] / base[i]


def mup_rules(model: nn.Module, options: dict, skip: Collection[str] = ()):
    """Return {tensor name: Rule} of μP's init from base shapes (see the module docstring)."""
    sigma = options["std"]  # options are checked against the scheme's checks already
    base = shapes_of(options["base"], "base")
    delta = shapes_of(options["delta"], "delta") if options["delta"] is not None else None
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    infinite = infinite_dims(shapes, base, delta)
    infos = analyze(model, options["roles"])

    def law(info) -> Law:
        fixed = norm_or_bias(info)
        if fixed is not None:
            return fixed
        if info.role == "readout" and options["readout_zero_init"]:
            return Constant(0.0)
        dims = infinite[info.name]
        if len(dims) > 2:
            raise ValueError(f"scheme 'mup': {info.name!r} has {len(dims)} infinite "
                             "dimensions; mup's init handles two at most")
        if len(dims) == 2:
            return Normal(std=sigma * width_mult(info.shape, base[info.name], dims) ** -0.5)
        return Normal(std=sigma)

    return role_rules(model, "mup", None, law, skip, allow_linear=True, infos=infos)


register(Scheme(
    "mup", mup_rules,
    {"base": REQUIRED, "delta": None, "std": 0.02, "readout_zero_init": False, "roles": None},
    "muP: hidden weights N(0, std/sqrt(width_mult)) from base shapes, others N(0, std)",
    "microsoft/mup mup/init.py, mup/shape.py",
    checks={"base": SHAPES, "delta": SHAPES_OR_NONE, "std": POSITIVE, "readout_zero_init": BOOL,
            "roles": MAPPING_OR_NONE}))
