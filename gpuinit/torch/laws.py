"""The laws of a torch plan's fills, as values, and the fill that applies one.

A law knows how to fill a tensor in place with gpuinit's own kernels
(:mod:`gpuinit.init`, each tensor on its own stream) and how to describe itself
(text, standard deviation, bounds) for :func:`gpuinit.torch.describe`: the torch
defaults, dict-scheme values and the named schemes of :mod:`gpuinit.schemes` all
give their tensors these.  A :class:`Rule` is a law with the tensor's role and the
row edits some schemes make after drawing (torch's zeroed padding row, the value
rows of a fused ``in_proj_weight`` that DeepNet and T-Fixup scale).

A location (``mean``) is always a keyword: ``Normal(0.02)`` is N(0, 0.02²) and
``Normal(0.02, mean=1.0)`` N(1, 0.02²), never a (mean, std) pair by position as
:class:`gpuinit.laws.Normal` takes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .. import init as gi_init
from .. import laws as value_laws
from ..writes import Prepared

Bounds = tuple[float, float] | None


class Then:
    """A prepared write followed by torch ops on the tensor written (a rule's row edits, a
    law's transform): ``run(t)`` runs ``first`` on ``t``, then ``after(t)``; returns None."""

    __slots__ = ("first", "after")

    def __init__(self, first, after: Callable[[torch.Tensor], None]) -> None:
        self.first, self.after = first, after

    def run(self, t: torch.Tensor) -> None:
        """Write ``t``; returns None."""
        self.first.run(t)
        self.after(t)


class Deferred:
    """A write with nothing to check before it runs (a computed buffer): ``run(t)`` calls
    ``write(t)``; returns None."""

    __slots__ = ("write",)

    def __init__(self, write: Callable[[torch.Tensor], None]) -> None:
        self.write = write

    def run(self, t: torch.Tensor) -> None:
        """Write ``t``; returns None."""
        self.write(t)


def truncated_std(sigma: float, low: float, high: float, mean: float = 0.0) -> float:
    """Return the standard deviation of N(mean, sigma²) truncated to [low, high] (absolute
    bounds): that of :class:`TruncNormal`'s record."""
    return TruncNormal(sigma, low, high, mean=mean).moments()[1]


class Law:
    """A law of one tensor's values.  ``prepare(t, seed, stream)`` checks it against ``t``
    (a meta tensor will do) and returns its write, whose ``run(t)`` fills ``t`` in place;
    ``fill(t, seed, stream)`` (or calling the law) does both and returns None; ``text``,
    ``std`` and ``bounds`` describe it for a tensor of ``shape``."""

    def prepare(self, t: torch.Tensor, seed: int, stream: int) -> Prepared:
        raise NotImplementedError

    def fill(self, t: torch.Tensor, seed: int, stream: int) -> None:
        """Prepare, then run, the fill of ``t``; returns None."""
        self.prepare(t, seed, stream).run(t)

    def __call__(self, t: torch.Tensor, seed: int, stream: int) -> None:
        """Fill ``t`` in place (a law is a plan's fill by itself); returns None."""
        self.fill(t, seed, stream)

    def text(self) -> str:
        raise NotImplementedError

    def record(self) -> value_laws.Law | None:
        """Return the :mod:`gpuinit.laws` record of the values (sampling, density,
        moments), or None for a law with no elementwise record (constants, orthogonal,
        computed buffers)."""
        return None

    def moments(self) -> tuple[float, float] | None:
        """Return the (mean, standard deviation) of the values, from :meth:`record`, or
        None without one."""
        record = self.record()
        return None if record is None else record.moments()

    def density(self, x):
        """Return the density at ``x`` (a NumPy array), from :meth:`record`; ValueError
        without one."""
        record = self.record()
        if record is None:
            raise ValueError(f"{self.text()} has no density")
        return record.density(x)

    def std(self, shape: tuple[int, ...]) -> float | None:
        """Return the standard deviation of the values of a tensor of ``shape`` (None when
        unknown): the record's when there is one."""
        moments = self.moments()
        return None if moments is None else moments[1]

    def bounds(self) -> Bounds:
        return None

    def scaled(self, factor: float) -> Law:
        """Return the law of ``factor`` times a draw of this one."""
        raise ValueError(f"{self.text()} cannot be scaled")


@dataclass(frozen=True)
class Normal(Law):
    """N(mean, std²): ``gpuinit.init.normal_``."""

    std_: float
    mean: float = field(default=0.0, kw_only=True)

    def prepare(self, t, seed, stream):
        return gi_init.prepare(gi_init.normal_, t, self.mean, self.std_, seed=seed,
                               stream=stream)

    def text(self):
        return f"normal(mean={self.mean:.4g}, std={self.std_:.4g})"

    def record(self):
        return value_laws.Normal(self.mean, self.std_)

    def scaled(self, factor):
        return Normal(self.std_ * abs(factor), mean=self.mean * factor)


@dataclass(frozen=True)
class TruncNormal(Law):
    """N(mean, sigma²) truncated to the absolute bounds [low, high]:
    ``gpuinit.init.trunc_normal_`` (as ``torch.nn.init.trunc_normal_``)."""

    sigma: float
    low: float
    high: float
    mean: float = field(default=0.0, kw_only=True)

    @classmethod
    def cutoff(cls, sigma: float, factor: float | None) -> Law:
        """Return N(0, sigma²) cut at ±factor·sigma, or the plain normal when factor is
        None (OLMo's ``init_normal`` with ``init_cutoff_factor``)."""
        if factor is None:
            return Normal(sigma)
        return cls(sigma, -factor * sigma, factor * sigma)

    def prepare(self, t, seed, stream):
        return gi_init.prepare(gi_init.trunc_normal_, t, self.mean, self.sigma, self.low,
                               self.high, seed=seed, stream=stream)

    def text(self):
        return (f"trunc_normal(mean={self.mean:.4g}, std={self.sigma:.4g}, "
                f"a={self.low:.4g}, b={self.high:.4g})")

    def record(self):
        lower, upper = (self.low - self.mean) / self.sigma, (self.high - self.mean) / self.sigma
        return value_laws.TruncatedNormal(self.mean, self.sigma, lower, upper)

    def bounds(self):
        return (self.low, self.high)

    def scaled(self, factor):
        if factor <= 0:
            raise ValueError("a truncated normal is scaled by a positive factor only")
        return TruncNormal(self.sigma * factor, self.low * factor, self.high * factor,
                           mean=self.mean * factor)


@dataclass(frozen=True)
class Uniform(Law):
    """U[low, high): ``gpuinit.init.uniform_``."""

    low: float
    high: float

    @classmethod
    def symmetric(cls, bound: float) -> Uniform:
        return cls(-bound, bound)

    def prepare(self, t, seed, stream):
        return gi_init.prepare(gi_init.uniform_, t, self.low, self.high, seed=seed,
                               stream=stream)

    def text(self):
        return f"uniform(a={self.low:.4g}, b={self.high:.4g})"

    def record(self):
        return value_laws.Uniform(self.low, self.high)

    def bounds(self):
        return (self.low, self.high)

    def scaled(self, factor):
        low, high = sorted((self.low * factor, self.high * factor))
        return Uniform(low, high)


@dataclass(frozen=True)
class Constant(Law):
    """Every element ``value``: ``gpuinit.init.constant_``."""

    value: float

    def prepare(self, t, seed, stream):
        return gi_init.prepare(gi_init.constant_, t, self.value)

    def text(self):
        return f"constant({self.value:g})"

    def moments(self):
        return (self.value, 0.0)

    def std(self, shape):
        return 0.0

    def bounds(self):
        return (self.value, self.value)

    def scaled(self, factor):
        return Constant(self.value * factor)


@dataclass(frozen=True)
class Orthogonal(Law):
    """gain · a random (semi-)orthogonal matrix: ``gpuinit.init.orthogonal_``."""

    gain: float = 1.0

    def prepare(self, t, seed, stream):
        return gi_init.prepare(gi_init.orthogonal_, t, self.gain, seed=seed, stream=stream)

    def text(self):
        return f"orthogonal(gain={self.gain:.4g})"

    def std(self, shape):
        # Orthonormal rows (or columns) of length 1 over max(rows, cols) entries.
        if len(shape) < 2 or 0 in shape:
            return None
        rows, cols = shape[0], math.prod(shape[1:])
        return abs(self.gain) / math.sqrt(max(rows, cols))

    def bounds(self):
        return (-abs(self.gain), abs(self.gain))

    def scaled(self, factor):
        return Orthogonal(self.gain * factor)


@dataclass(frozen=True)
class Computed(Law):
    """A buffer whose values a constructor computes (rotary ``inv_freq``, position ids):
    ``compute(t)`` returns them on ``t``'s device, and they are copied into ``t``.
    Nothing is computed before the write runs."""

    what: str
    compute: Callable[[torch.Tensor], torch.Tensor] = field(compare=False)

    def prepare(self, t, seed, stream):
        return Deferred(self._copy)

    def _copy(self, t: torch.Tensor) -> None:
        values = self.compute(t)
        if tuple(values.shape) != tuple(t.shape):
            raise RuntimeError(f"gpuinit bug: computed {self.what} has shape "
                               f"{tuple(values.shape)}, the buffer {tuple(t.shape)}")
        t.copy_(values)

    def text(self):
        return f"computed: {self.what}"


@dataclass(frozen=True)
class Sampled(Law):
    """A :mod:`gpuinit.laws` record as a plan's law (``gpuinit.laws.Normal(0.0, 0.02)`` as
    a dict-scheme value): filled in place by :func:`gpuinit.init.prepare_law`, described
    by the record itself (its text, moments and, when it has them, bounds).  A new
    elementwise record needs nothing here."""

    law: value_laws.Law

    def prepare(self, t, seed, stream):
        return gi_init.prepare_law(t, self.law, seed=seed, stream=stream)

    def text(self):
        return self.law.text()

    def record(self):
        return self.law

    def bounds(self):
        bounds = getattr(self.law, "bounds", None)
        return None if bounds is None else tuple(bounds)


class Rule:
    """The fill of one tensor: its law, then the edits of slices (``zero_rows``: rows set
    to zero, as torch's ``Embedding`` does to its padding row; ``scales``: (dim, start,
    stop, factor) multiplying the slice start:stop of dimension dim).
    ``rule.prepare(t, seed, stream)`` checks the edits and the law against ``t`` and
    returns the write; ``rule(t, seed, stream)`` prepares and runs it, returning None."""

    __slots__ = ("law", "role", "zero_rows", "scales")

    def __init__(self, law: Law, role: str | None = None, *, zero_rows: tuple[int, ...] = (),
                 scales: tuple[tuple[int, int, int, float], ...] = ()) -> None:
        self.law, self.role = law, role
        self.zero_rows, self.scales = tuple(zero_rows), tuple(scales)

    def __call__(self, t: torch.Tensor, seed: int, stream: int) -> None:
        """Prepare, then run, the fill of ``t``; returns None."""
        self.prepare(t, seed, stream).run(t)

    def prepare(self, t: torch.Tensor, seed: int, stream: int):
        """Return the checked write of ``t``: its law's, then the edits; ValueError for a
        row or slice outside ``t``."""
        rows = t.shape[0] if t.dim() else 0
        for row in self.zero_rows:
            if not 0 <= row < rows:
                raise ValueError(f"row {row} to zero is outside the tensor's {rows} rows")
        for dim, start, stop, _ in self.scales:
            if not (dim < t.dim() and 0 <= start <= stop <= t.shape[dim]):
                raise ValueError(f"slice {start}:{stop} of dimension {dim} to scale lies "
                                 f"outside the shape {tuple(t.shape)}")
        first = self.law.prepare(t, seed, stream)
        return Then(first, self._edit) if self.scales or self.zero_rows else first

    def _edit(self, t: torch.Tensor) -> None:
        for dim, start, stop, factor in self.scales:
            t.narrow(dim, start, stop - start).mul_(factor)
        for row in self.zero_rows:
            t[row].zero_()

    def text(self) -> str:
        """Return the law and the row edits in words."""
        parts = [self.law.text()]
        parts += [f"{'rows' if d == 0 else f'dim {d}'} {a}:{b} x {f:.4g}"
                  for d, a, b, f in self.scales]
        parts += [f"row {r} zero" for r in self.zero_rows]
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"Rule({self.text()}, role={self.role!r})"


def from_value_law(law: value_laws.Law) -> Law | None:
    """Return the :class:`Law` of a :mod:`gpuinit.laws` law (what a catalogue
    initializer draws from), whose :meth:`Law.record` is that law again, or None for a
    kind this module has no law of."""
    if isinstance(law, value_laws.Uniform):
        return Uniform(law.low, law.high)
    if isinstance(law, value_laws.Normal):
        return Normal(law.std, mean=law.mean)
    if isinstance(law, value_laws.TruncatedNormal):
        low, high = law.bounds
        return TruncNormal(law.std, low, high, mean=law.mean)
    return None
