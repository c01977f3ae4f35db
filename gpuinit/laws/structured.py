"""The structured laws: values that are not drawn one by one (a constant, the identity,
the Dirac delta, a random orthogonal or sparse matrix) and computed buffers.

Each fills a target through its :mod:`gpuinit.init` twin (``constant_``, ``eye_``,
``dirac_``, ``orthogonal_``, ``sparse_``), in ``torch.nn.init``'s layout: dimension 0
is the output, the rest the input.  Each checks its arguments when it is made, by that
function's rules and in its words (those that do not depend on the target); TypeError or
ValueError naming the argument otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..arguments import check_fill_value, check_int, check_nonnegative, check_real
from .base import Bounds, Deferred, Law, Then, keep, law_arguments

__all__ = ["Computed", "Constant", "Dirac", "Eye", "Orthogonal", "Sparse"]


def _init():
    """Return :mod:`gpuinit.init`, imported when a law is used (it imports this package)."""
    from .. import init

    return init


def _matrix(shape) -> tuple[int, int] | None:
    """Return (rows, cols) of ``shape`` read as shape[0] × the rest, or None below 2-D or
    when empty."""
    if shape is None or len(shape) < 2 or 0 in shape:
        return None
    return shape[0], math.prod(shape[1:])


def _scale(write, factor: float):
    """Return ``write`` followed by an in-place multiplication by ``factor`` (none for 1)."""
    if factor == 1:
        return write

    def multiply(t: Any) -> None:
        t *= factor
    return Then(write, multiply)


@dataclass(frozen=True)
class Constant(Law):
    """Every value ``value``: ``torch.nn.init.constant_``."""

    value: float

    @law_arguments
    def __post_init__(self) -> None:
        keep(self, value=check_fill_value(self.value, "value"))

    def prepare(self, target, seed=None, stream=0):
        return _init().prepare(_init().constant_, target, self.value)

    def text(self) -> str:
        return f"constant({self.value:g})"

    def moments(self, shape=None) -> tuple[float, float]:
        return (self.value, 0.0)

    @property
    def bounds(self) -> Bounds:
        return (self.value, self.value)

    @law_arguments
    def scaled(self, factor: float) -> Constant:
        return Constant(self.value * check_real(factor, "factor"))


def _ones_among(count: int, total: int, gain: float) -> tuple[float, float]:
    """Return the (mean, std) of ``total`` values of which ``count`` are ``gain``, the rest 0."""
    p = count / total
    return gain * p, abs(gain) * math.sqrt(p * (1.0 - p))


@dataclass(frozen=True)
class Eye(Law):
    """gain · the identity matrix (ones on the main diagonal of a 2-D target):
    ``torch.nn.init.eye_``, then the gain (Keras' ``Identity(gain)``)."""

    gain: float = 1.0

    @law_arguments
    def __post_init__(self) -> None:
        keep(self, gain=check_real(self.gain, "gain"))

    def prepare(self, target, seed=None, stream=0):
        return _scale(_init().prepare(_init().eye_, target), self.gain)

    def text(self) -> str:
        return "eye" if self.gain == 1 else f"eye(gain={self.gain:.4g})"

    def moments(self, shape=None):
        matrix = _matrix(shape)
        if matrix is None or len(shape) != 2:
            return None
        return _ones_among(min(matrix), math.prod(matrix), self.gain)

    @property
    def bounds(self) -> Bounds:
        return (min(0.0, self.gain), max(0.0, self.gain))

    @law_arguments
    def scaled(self, factor: float) -> Eye:
        return Eye(self.gain * check_real(factor, "factor"))


@dataclass(frozen=True)
class Dirac(Law):
    """The Dirac delta of a 3-, 4- or 5-D convolution weight, per group:
    ``torch.nn.init.dirac_``."""

    groups: int = 1

    @law_arguments
    def __post_init__(self) -> None:
        keep(self, groups=check_int(self.groups, "groups", 1))

    def prepare(self, target, seed=None, stream=0):
        return _init().prepare(_init().dirac_, target, self.groups)

    def text(self) -> str:
        return "dirac" if self.groups == 1 else f"dirac(groups={self.groups})"

    def moments(self, shape=None):
        if shape is None or len(shape) not in (3, 4, 5) or 0 in shape:
            return None
        ones = min(shape[0] // self.groups, shape[1]) * self.groups
        return _ones_among(ones, math.prod(shape), 1.0)

    @property
    def bounds(self) -> Bounds:
        return (0.0, 1.0)


@dataclass(frozen=True)
class Orthogonal(Law):
    """gain · a random (semi-)orthogonal matrix: ``torch.nn.init.orthogonal_``."""

    gain: float = 1.0

    @law_arguments
    def __post_init__(self) -> None:
        keep(self, gain=check_real(self.gain, "gain"))

    def prepare(self, target, seed=None, stream=0):
        return _init().prepare(_init().orthogonal_, target, self.gain, seed=seed, stream=stream)

    def text(self) -> str:
        return f"orthogonal(gain={self.gain:.4g})"

    def moments(self, shape=None):
        # Orthonormal rows (or columns) of length 1 over max(rows, cols) entries.
        matrix = _matrix(shape)
        if matrix is None:
            return None
        return 0.0, abs(self.gain) / math.sqrt(max(matrix))

    # The entries of a random orthogonal matrix are N(0, gain²/max(rows, cols)) to first
    # order: their fourth moment and peak density are the normal's.
    def fourth_moment(self, shape=None):
        moments = self.moments(shape)
        return None if moments is None else 3.0 * moments[1] ** 4

    def peak_density(self, shape=None):
        moments = self.moments(shape)
        if moments is None:
            return None
        return 1.0 / (moments[1] * math.sqrt(2.0 * math.pi)) if moments[1] else math.inf

    @property
    def bounds(self) -> Bounds:
        return (-abs(self.gain), abs(self.gain))

    @law_arguments
    def scaled(self, factor: float) -> Orthogonal:
        return Orthogonal(self.gain * check_real(factor, "factor"))


@dataclass(frozen=True)
class Sparse(Law):
    """N(0, std²) values with ceil(sparsity · rows) of each column of a 2-D target set to
    zero: ``torch.nn.init.sparse_``."""

    sparsity: float
    std: float = 0.01

    @law_arguments
    def __post_init__(self) -> None:
        # Imported here: gpuinit.initializers imports this package.
        from ..initializers.sparse import check_sparsity

        keep(self, sparsity=check_sparsity(self.sparsity),
             std=check_nonnegative(self.std, "std"))

    def prepare(self, target, seed=None, stream=0):
        return _init().prepare(_init().sparse_, target, self.sparsity, self.std, seed=seed,
                               stream=stream)

    def text(self) -> str:
        return f"sparse(sparsity={self.sparsity:.4g}, std={self.std:.4g})"

    def moments(self, shape=None):
        if shape is None or len(shape) != 2 or shape[0] == 0:
            return None
        rows = shape[0]
        zero = min(rows, math.ceil(self.sparsity * rows)) / rows
        return 0.0, self.std * math.sqrt(1.0 - zero)

    @law_arguments
    def scaled(self, factor: float) -> Sparse:
        return Sparse(self.sparsity, self.std * abs(check_real(factor, "factor")))


@dataclass(frozen=True)
class Computed(Law):
    """A buffer whose values a constructor computes (rotary ``inv_freq``, position ids):
    ``compute(t)`` returns them on ``t``'s device, and they are copied into ``t``.
    Nothing is computed before the write runs."""

    what: str
    compute: Callable[[Any], Any] = field(compare=False)

    @law_arguments
    def __post_init__(self) -> None:
        if not isinstance(self.what, str):
            raise TypeError(f"what must be a str, got {type(self.what).__name__}")
        if not callable(self.compute):
            raise TypeError(f"compute must be callable, got {type(self.compute).__name__}")

    def prepare(self, target, seed=None, stream=0):
        return Deferred(self._copy)

    def _copy(self, t: Any) -> None:
        values = self.compute(t)
        if tuple(values.shape) != tuple(t.shape):
            raise RuntimeError(f"gpuinit bug: computed {self.what} has shape "
                               f"{tuple(values.shape)}, the buffer {tuple(t.shape)}")
        t[...] = values

    def text(self) -> str:
        return f"computed: {self.what}"
