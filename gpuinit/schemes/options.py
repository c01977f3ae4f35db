"""What each option of a named scheme may be: its constraint as data, and the one routine
that checks every scheme's options against theirs.

A scheme declares ``{option: constraint}`` (:class:`Scheme.checks`); :func:`check_options`
runs them all when the scheme is resolved, before the model is looked at and long
before anything is written, and returns the options normalized: NumPy scalars and 0-d
arrays become Python numbers (``np.float32(0.25)`` gives the same tensors as ``0.25``),
``np.bool_`` a bool.  Each error names the scheme and the option:

- :data:`BOOL`: True or False (or a NumPy bool) only; TypeError for anything else,
  ``"false"`` and ``"no"`` included (they are truthy).
- :data:`POSITIVE`: a finite real number > 0; TypeError for a non-number (a bool is
  not one), ValueError for NaN, ±inf, an int beyond float64 and numbers <= 0.
- :data:`COUNT`: an integer in [1, 2**63); TypeError for a non-integer (bools and
  integral floats included), ValueError outside the range.
- :func:`one_of` (names), :data:`MAPPING` (a dict), :data:`SHAPES` (an nn.Module or a
  {name: shape} dict); the ``*_OR_NONE`` variants also take None.

:func:`check_law` is the check after the laws are computed: every scale a tensor's law
draws with (a std, a uniform half-width, an orthogonal gain, a slice factor) must be a
normal positive float, so that no option can make a tensor silently all zeros (a std
underflowing to 0 or to a subnormal) or infinite.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any

from ..arguments import MAX_DIMENSION, check_bool, check_real, scalar
from ..laws import Constant, Law, Normal, Orthogonal, Rule, TruncatedNormal, Uniform


@dataclass(frozen=True)
class Constraint:
    """What one option may be: ``kind`` ("bool", "positive", "count", "choice",
    "mapping", "shapes" or "any"), whether None is allowed (``optional``: None means
    "the scheme's default, or read off the model"), and for "choice" the ``choices``."""

    kind: str
    optional: bool = False
    choices: tuple[str, ...] = ()


BOOL = Constraint("bool")
POSITIVE = Constraint("positive")
POSITIVE_OR_NONE = Constraint("positive", optional=True)
COUNT = Constraint("count")
COUNT_OR_NONE = Constraint("count", optional=True)
MAPPING_OR_NONE = Constraint("mapping", optional=True)
SHAPES = Constraint("shapes")
SHAPES_OR_NONE = Constraint("shapes", optional=True)
ANY = Constraint("any", optional=True)
NUMERIC = ("positive", "count")


def one_of(*choices: str, optional: bool = False) -> Constraint:
    """Return the constraint "one of these names" (or None when ``optional``)."""
    return Constraint("choice", optional, tuple(choices))


def _shown(value: Any) -> str:
    """Return repr(value), an int of many digits as its size."""
    if isinstance(value, Integral) and not isinstance(value, bool) and abs(int(value)) >= 1 << 64:
        return f"<an integer of {int(value).bit_length()} bits>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bool(scheme: str, option: str, value: Any, constraint: Constraint) -> bool:
    return check_bool(scalar(value), f"scheme {scheme!r}: {option} (True or False)")


def _positive(scheme: str, option: str, value: Any, constraint: Constraint) -> float:
    number = check_real(scalar(value), f"scheme {scheme!r}: {option}")
    if not number > 0:
        raise ValueError(f"scheme {scheme!r}: {option}={_shown(value)} must be a positive number")
    return number


def _count(scheme: str, option: str, value: Any, constraint: Constraint) -> int:
    number = scalar(value)
    if isinstance(number, bool) or not isinstance(number, Integral):
        raise TypeError(f"scheme {scheme!r}: {option} must be an integer, got "
                        f"{type(value).__name__} {_shown(value)}")
    if not 1 <= number < MAX_DIMENSION:
        raise ValueError(f"scheme {scheme!r}: {option}={_shown(value)} must be a positive "
                         "integer below 2**63")
    return int(number)


def _choice(scheme: str, option: str, value: Any, constraint: Constraint) -> str:
    valid = ", ".join(map(repr, constraint.choices))
    if not isinstance(value, str):
        raise TypeError(f"scheme {scheme!r}: {option} must be a name, one of {valid}; got "
                        f"{type(value).__name__} {_shown(value)}")
    if value not in constraint.choices:
        raise ValueError(f"scheme {scheme!r}: {option}={value!r} is not valid; choose from "
                         f"{valid}")
    return str(value)


def _mapping(scheme: str, option: str, value: Any, constraint: Constraint) -> Mapping:
    if not isinstance(value, Mapping):
        raise TypeError(f"scheme {scheme!r}: the {option!r} option must be a dict, got "
                        f"{type(value).__name__}")
    return value


def _shapes(scheme: str, option: str, value: Any, constraint: Constraint) -> Any:
    from torch import nn

    if not isinstance(value, (nn.Module, Mapping)):
        raise TypeError(f"scheme {scheme!r}: {option} must be an nn.Module or a dict "
                        f"{{name: shape}}, got {type(value).__name__}")
    return value


_CHECKS = {"bool": _bool, "positive": _positive, "count": _count, "choice": _choice,
           "mapping": _mapping, "shapes": _shapes, "any": lambda s, o, value, c: value}


def check_option(scheme: str, option: str, value: Any, constraint: Constraint) -> Any:
    """Return ``value`` checked against ``constraint`` and normalized (NumPy scalars as
    Python ones); TypeError/ValueError naming the scheme and the option."""
    if value is None and constraint.optional:
        return None
    return _CHECKS[constraint.kind](scheme, option, value, constraint)


def check_options(scheme: str, options: Mapping[str, Any],
                  constraints: Mapping[str, Constraint]) -> dict[str, Any]:
    """Return ``options`` with every one that ``constraints`` names checked and normalized
    (:func:`check_option`); options with no constraint are passed through unchanged."""
    return {option: check_option(scheme, option, value, constraints[option])
            if option in constraints else value for option, value in options.items()}


def numeric_options(options: Mapping[str, Any], constraints: Mapping[str, Constraint]) -> str:
    """Return the numeric options given, as "a=1, b=2" (what a law's scale follows from)."""
    return ", ".join(f"{k}={_shown(v)}" for k, v in options.items()
                     if v is not None and k in constraints and constraints[k].kind in NUMERIC)


def _scales(law: Law) -> dict[str, float]:
    """Return {label: value} of the scales ``law`` draws with (each must be a normal
    positive float), and of the values it writes (each must be finite, as "value")."""
    if isinstance(law, (Normal, TruncatedNormal)):
        return {"std": law.std}
    if isinstance(law, Uniform):
        return {"half-width": (law.high - law.low) / 2}
    if isinstance(law, Orthogonal):
        return {"gain": abs(law.gain)}
    if isinstance(law, Constant):
        return {"value": law.value}
    return {}


def _normal_positive(x: Any) -> bool:
    try:
        x = float(x)
    except (TypeError, ValueError, OverflowError):
        return False
    return math.isfinite(x) and x >= sys.float_info.min


def check_law(scheme: str, name: str, fill: Any, given: str) -> None:
    """Raise ValueError naming the tensor ``name`` (and ``given``, the options its law
    follows from) when a scale of its rule is not a normal positive float: zero or a
    subnormal (an underflow: a tensor of zeros), infinite or NaN.  Returns None."""
    rule = fill if isinstance(fill, Rule) else Rule(fill) if isinstance(fill, Law) else None
    if rule is None:
        return  # a dict scheme's fill: gpuinit.init checks its arguments
    scales = _scales(rule.law)
    scales.update({f"factor of slice {a}:{b}": f for _, a, b, f in rule.scales})
    for label, value in scales.items():
        ok = (isinstance(value, (int, float)) and math.isfinite(value)) if label == "value" \
            else _normal_positive(value)
        if not ok:
            source = f"the options {given}" if given else "the model (its config and shapes)"
            want = "finite" if label == "value" else \
                f"a normal positive float (>= {sys.float_info.min:.4g}, finite)"
            raise ValueError(f"scheme {scheme!r}: {name!r} would be drawn with {label}="
                             f"{value!r} ({rule.text()}), not {want}; it follows from "
                             f"{source}")
