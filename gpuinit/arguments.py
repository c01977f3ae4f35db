"""Argument checks shared by the public functions: each error names the argument."""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

from .fill_values import check_fill_values

# NumPy's (and CuPy's) limits on an array's rank and on one dimension.
MAX_RANK = 64
MAX_DIMENSION = 1 << 63


class Shape(tuple):
    """A shape :func:`check_shape` has checked (a tuple of non-negative ints): passed to it
    again, it is returned as it is, so a shape is checked once however many functions it
    goes through."""

    __slots__ = ()


def check_shape(shape: Any, argument: str = "shape") -> tuple[int, ...]:
    """Return ``shape`` as a :class:`Shape`, a tuple of non-negative ints (an int means a
    1-D shape); a :class:`Shape` is returned unchanged.  TypeError/ValueError naming
    ``argument`` otherwise."""
    if type(shape) is Shape:
        return shape
    return _checked_shape(shape, argument)


def _checked_shape(shape: Any, argument: str) -> Shape:
    """Check ``shape`` and return it as a :class:`Shape` (the one check of a shape)."""
    if type(shape) is not tuple:  # a tuple needs none of these (abstract-class) checks
        if isinstance(shape, Integral) and not isinstance(shape, bool):
            shape = (shape,)
        if isinstance(shape, (str, bytes, bytearray, set, frozenset, Mapping)):
            # Iterable, but not a shape: characters, bytes, or an order that is not kept.
            raise TypeError(f"{argument} must be an int or a sequence of ints, got "
                            f"{type(shape).__name__}")
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"{argument} must be an int or a sequence of ints, got {type(shape).__name__}"
        ) from None
    for dim in dims:
        if type(dim) is not int and (isinstance(dim, bool) or not isinstance(dim, Integral)):
            raise TypeError(f"{argument}={dims!r}: dimensions must be integers, got {dim!r}")
        if dim < 0:
            raise ValueError(f"{argument}={dims!r}: dimensions must be >= 0")
        if dim >= MAX_DIMENSION:
            raise ValueError(f"{argument}={dims!r}: dimensions must be below 2**63")
    if len(dims) > MAX_RANK:
        raise ValueError(f"{argument} has {len(dims)} dimensions; arrays have at most {MAX_RANK}")
    return Shape(int(d) for d in dims)


def scalar(value: Any) -> Any:
    """Return the Python number a 0-d array holds (NumPy, CuPy, JAX or torch: a
    hyperparameter such as ``scale=jnp.array(2.0)``, as Keras and JAX accept them), and
    anything else unchanged."""
    if (getattr(value, "ndim", None) == 0 and hasattr(value, "item")
            and not isinstance(value, (bool, Real))):
        return value.item()
    return value


def check_int(value: Any, argument: str, minimum: int = 0, limit: int | None = None) -> int:
    """Return ``value`` (or a 0-d integer array) as an int in [minimum, limit);
    TypeError/ValueError otherwise."""
    if type(value) is int:  # the common case, without the abstract-class checks
        number = value
    else:
        value = scalar(value)
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{argument} must be an integer, got {type(value).__name__}")
        number = int(value)
    if number < minimum or (limit is not None and number >= limit):
        upper = "" if limit is None else f", below {limit}"
        raise ValueError(f"{argument}={number} must be >= {minimum}{upper}")
    return number


def check_bool(value: Any, argument: str) -> bool:
    """Return ``value`` when it is a bool; TypeError naming ``argument`` otherwise."""
    if not isinstance(value, bool):
        raise TypeError(f"{argument} must be a bool, got {type(value).__name__}")
    return value


def check_real(value: Any, argument: str) -> float:
    """Return ``value`` (or a 0-d array) as a finite float; TypeError/ValueError otherwise."""
    if type(value) is float:  # the common case, without the abstract-class checks
        if not math.isfinite(value):
            raise ValueError(f"{argument}={value} must be finite")
        return value
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{argument} must be a real number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int past float64's range
        raise ValueError(f"{argument}, an integer of {int(value).bit_length()} bits, is beyond "
                         "float64's range") from None
    if not math.isfinite(number):
        raise ValueError(f"{argument}={number} must be finite")
    return number


def check_bound(value: Any, argument: str) -> float:
    """Return a truncation bound as a float: finite or ±inf; TypeError for a non-number,
    ValueError for NaN."""
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{argument} must be a real number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    if math.isnan(number):
        raise ValueError(f"{argument}=nan must be a number or ±inf")
    return number


def check_nonnegative(value: Any, argument: str) -> float:
    """Return ``value`` as a finite float >= 0 (a std, say); TypeError/ValueError otherwise."""
    number = check_real(value, argument)
    if number < 0:
        raise ValueError(f"{argument}={number} must be >= 0")
    return number


def check_fill_value(value: Any, argument: str) -> int | float:
    """Return a constant fill value (a real scalar, a bool or a 0-d array of them) as an
    int (True as 1, False as 0) or a finite float, under the rule of
    :mod:`gpuinit.fill_values`, as ``torch.nn.init.constant_`` and
    ``keras.initializers.Constant`` take them; TypeError for other types, ValueError for
    NaN and infinities."""
    value = scalar(value)
    check_fill_values(value, argument, constant=True)
    if isinstance(value, Integral):  # bool included: True is 1
        return int(value)
    return check_real(value, argument)


def size_of(shape: tuple[int, ...]) -> int:
    """Return the number of elements of ``shape``."""
    return math.prod(shape)
