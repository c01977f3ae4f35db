"""The elementwise laws: every value drawn independently from one distribution.

An elementwise initializer turns a shape (and its fans) into one of these; the
initializers sample it (:meth:`sample`), the in-place functions and the torch plans
fill a target with it (:meth:`prepare`), and ``describe``, ``verify`` and ``gpuinit
plot`` read its moments, bounds and density.  Each samples with the primitive of
:mod:`gpuinit.random` of the same name, whose argument checks apply.

Arguments come as the peers name them: ``Normal(mean, std)`` as
``torch.nn.init.normal_`` and Keras' ``RandomNormal`` (``std`` has no default, so
``Normal(0.02)`` is refused rather than read as a mean); ``TruncatedNormal`` keeps its
bounds in units of std, as Keras does, and :meth:`TruncatedNormal.absolute` takes
``torch.nn.init.trunc_normal_``'s absolute ``a``, ``b``.

Each law checks its arguments when it is made, by the rules (and in the words) of its
sampler's checks that do not depend on the dtype: a law that is made can be drawn, and
states its moments, bounds and density.  TypeError or ValueError naming the argument
otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import random
from ..arguments import check_bound, check_nonnegative, check_real
from .base import Bounds, Law, keep, law_arguments

__all__ = ["Elementwise", "Laplace", "Normal", "TruncatedNormal", "Uniform", "truncated_std"]


def _normal_peak(std: float) -> float:
    """Return the largest value of the density of N(·, std²) (inf for std 0)."""
    return 1.0 / (std * math.sqrt(2.0 * math.pi)) if std else math.inf


def _normal_two_sided(probability: float) -> float:
    """Return z with P(|Z| > z) = ``probability`` for a standard normal Z (bisection)."""
    low, high = 0.0, 40.0
    for _ in range(200):
        mid = (low + high) / 2
        if math.erfc(mid / math.sqrt(2.0)) > probability:
            low = mid
        else:
            high = mid
    return high


def _normal_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    z = (np.asarray(x, dtype=np.float64) - mean) / std
    return np.exp(-0.5 * z * z) / (std * math.sqrt(2.0 * math.pi))


# Gauss-Legendre nodes and weights of 8 points on [-1, 1].
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
# The truncated normal's moments are integrated where its density is above e^-60 of its
# largest value: what lies beyond changes none of them by 1e-18 of itself.
_MOMENT_CUT = 60.0


def _standard_truncated_moments(lower: float, upper: float) -> tuple[float, float, float]:
    """Return the mean, the variance and the fourth central moment of the standard normal
    conditioned on [lower, upper] (lower < upper; either may be infinite).

    They are integrated in y = z - c, c the point of [lower, upper] nearest 0, where the
    density is proportional to exp(-c·y - y²/2) (largest, 1, at y = 0), by 8-point
    Gauss-Legendre on panels of width 1/(1 + |c|); the variance and fourth moment are
    then summed about the mean found.  Nothing underflows or cancels, however far in a
    tail or narrow the interval (within 1e-14 of the exact values)."""
    c = min(max(0.0, lower), upper)
    # Where c·|y| + y²/2 reaches the cut, written so that it does not cancel.
    reach = 2.0 * _MOMENT_CUT / (abs(c) + math.sqrt(c * c + 2.0 * _MOMENT_CUT))
    low, high = max(lower - c, -reach), min(upper - c, reach)
    panels = max(1, math.ceil((high - low) * (1.0 + abs(c))))
    edges = np.linspace(low, high, panels + 1)
    half = 0.5 * np.diff(edges)[:, None]
    y = (0.5 * (edges[1:] + edges[:-1]))[:, None] + half * _GL_NODES
    weights = (half * _GL_WEIGHTS * np.exp(-c * y - 0.5 * y * y)).ravel()
    y = y.ravel()
    total = weights.sum()
    # A symmetric interval's mean is 0 exactly (the nodes' rounding would leave ~1e-18).
    shift = 0.0 if lower == -upper else float(weights @ y / total)
    d2 = (y - shift) ** 2
    return c + shift, float(weights @ d2 / total), float(weights @ (d2 * d2) / total)


class Elementwise(Law):
    """A law sampled by one :mod:`gpuinit.random` primitive (:meth:`call`)."""

    def call(self) -> tuple[Any, tuple]:
        """Return (sampler, args): the :mod:`gpuinit.random` call that draws this law,
        ``sampler(shape, *args, **options)``."""
        raise NotImplementedError

    def launch(self, shape, **options: Any) -> random.Launch:
        """Return the checked call :meth:`sample` makes (:func:`gpuinit.random.prepare`)."""
        sampler, args = self.call()
        return random.prepare(sampler, shape, *args, **options)

    def sample(self, shape, **options: Any):
        """Return an array of ``shape`` from this law (``options``: seed, stream, dtype,
        device, out, offset/full_shape/start)."""
        return self.launch(shape, **options).run()

    def prepare(self, target, seed=None, stream=0):
        """Return the checked in-place fill of ``target`` (:func:`gpuinit.init.prepare_law`):
        the values :meth:`sample` makes for its shape, in its dtype, on its device."""
        from .. import init  # here: gpuinit.init imports this package

        return init.prepare_law(target, self, seed=seed, stream=stream)

    @property
    def support(self) -> tuple[float, float]:
        """The interval a plot of the density spans."""
        raise NotImplementedError

    def complex_parts(self) -> Elementwise:
        """Return the law of each part, real and imaginary, of a complex tensor filled with
        this law as torch fills one (through ``torch.view_as_real``).  NotImplementedError,
        torch's, for a law torch does not fill complex tensors with (only ``uniform_``
        and ``normal_`` do)."""
        raise NotImplementedError(f"{self.text()}: torch fills complex tensors with uniform "
                                  "and normal laws only")


@dataclass(frozen=True)
class Uniform(Elementwise):
    """U[low, high): :func:`gpuinit.random.uniform`, ``torch.nn.init.uniform_(a, b)``."""

    low: float
    high: float

    @law_arguments
    def __post_init__(self) -> None:
        low, high = check_real(self.low, "low"), check_real(self.high, "high")
        if low > high:
            raise ValueError(f"low={low} must be <= high={high}")
        if not math.isfinite(high - low):
            raise ValueError(f"high - low = {high} - {low} overflows float64")
        keep(self, low=low, high=high)

    @classmethod
    @law_arguments
    def symmetric(cls, bound: float) -> Uniform:
        """Return U[-bound, bound); ValueError unless ``bound`` is finite and >= 0."""
        bound = check_nonnegative(bound, "bound")
        return cls(-bound, bound)

    def call(self):
        return random.uniform, (self.low, self.high)

    @property
    def bounds(self) -> Bounds:
        return (self.low, self.high)

    @property
    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def density(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where((x >= self.low) & (x <= self.high), 1.0 / (self.high - self.low), 0.0)

    def moments(self, shape=None) -> tuple[float, float]:
        return (self.low + self.high) / 2.0, (self.high - self.low) / math.sqrt(12.0)

    def fourth_moment(self, shape=None) -> float:
        return (self.high - self.low) ** 4 / 80.0

    def peak_density(self, shape=None) -> float:
        width = self.high - self.low
        return 1.0 / width if width else math.inf

    def text(self) -> str:
        return f"uniform(a={self.low:.4g}, b={self.high:.4g})"

    def complex_parts(self) -> Uniform:
        """Return this law: torch's ``uniform_`` draws each part of a complex tensor from
        U[low, high)."""
        return self

    @law_arguments
    def scaled(self, factor: float) -> Uniform:
        factor = check_real(factor, "factor")
        low, high = sorted((self.low * factor, self.high * factor))
        return Uniform(low, high)


@dataclass(frozen=True)
class Normal(Elementwise):
    """N(mean, std²): :func:`gpuinit.random.normal`, ``torch.nn.init.normal_(mean, std)``.
    ``std`` has no default: ``Normal(std=0.02)``, or ``Normal(0.0, 0.02)``."""

    mean: float = 0.0
    std: float | None = None

    @law_arguments
    def __post_init__(self) -> None:
        if self.std is None:
            raise TypeError(f"Normal(mean, std) needs std: Normal(std=...) (got only "
                            f"mean={self.mean!r})")
        keep(self, mean=check_real(self.mean, "mean"), std=check_nonnegative(self.std, "std"))

    def call(self):
        return random.normal, (self.mean, self.std)

    @property
    def support(self) -> tuple[float, float]:
        return (self.mean - 5.0 * self.std, self.mean + 5.0 * self.std)

    def density(self, x: np.ndarray) -> np.ndarray:
        return _normal_pdf(x, self.mean, self.std)

    def moments(self, shape=None) -> tuple[float, float]:
        return self.mean, self.std

    def fourth_moment(self, shape=None) -> float:
        return 3.0 * self.std ** 4

    def peak_density(self, shape=None) -> float:
        return _normal_peak(self.std)

    def tail_reach(self, probability, shape=None) -> float:
        return _normal_two_sided(probability)

    def text(self) -> str:
        return f"normal(mean={self.mean:.4g}, std={self.std:.4g})"

    def complex_parts(self) -> Normal:
        """Return N(mean, std²/2): torch's ``normal_`` draws each part of a complex tensor
        so, which makes E|z - mean·(1+i)|² = std²."""
        return Normal(self.mean, self.std / math.sqrt(2.0))

    @law_arguments
    def scaled(self, factor: float) -> Normal:
        factor = check_real(factor, "factor")
        return Normal(self.mean * factor, self.std * abs(factor))


@dataclass(frozen=True)
class TruncatedNormal(Elementwise):
    """N(mean, std²) conditioned on [mean + lower·std, mean + upper·std] (bounds in units
    of std, like Keras' ``TruncatedNormal``): :func:`gpuinit.random.truncated_normal`.
    As there: mean finite, std finite and >= 0 (0: the point ``mean``), lower < upper
    (either may be infinite), and an interval that float64 samples exactly
    (:func:`gpuinit.random.check_truncation`)."""

    mean: float
    std: float
    lower: float = -2.0
    upper: float = 2.0

    @law_arguments
    def __post_init__(self) -> None:
        mean, std = check_real(self.mean, "mean"), check_nonnegative(self.std, "std")
        lower, upper = check_bound(self.lower, "lower"), check_bound(self.upper, "upper")
        if lower >= upper:
            raise ValueError(f"lower={lower} must be < upper={upper}")
        random.check_truncation(lower, upper)
        keep(self, mean=mean, std=std, lower=lower, upper=upper)

    @classmethod
    @law_arguments
    def absolute(cls, std: float, a: float, b: float, *, mean: float = 0.0) -> TruncatedNormal:
        """Return N(mean, std²) truncated to the absolute bounds [a, b], as
        ``torch.nn.init.trunc_normal_(mean, std, a, b)`` takes them: std > 0, a < b,
        either bound may be infinite, and the interval (a − mean)/std, (b − mean)/std
        sampled exactly (the checks of :func:`gpuinit.init.trunc_normal_`, which makes
        its law here); TypeError or ValueError naming the argument otherwise."""
        mean, std = check_real(mean, "mean"), check_real(std, "std")
        a, b = check_bound(a, "a"), check_bound(b, "b")
        if std <= 0:
            raise ValueError(f"std={std} must be > 0")
        if a >= b:
            raise ValueError(f"a={a} must be < b={b}")
        lower, upper = (a - mean) / std, (b - mean) / std
        random.check_truncation(lower, upper, f"[a, b] = [{a}, {b}] with mean={mean}, std={std} "
                                              f"([{lower:.4g}, {upper:.4g}] in units of std)")
        return cls(mean, std, lower, upper)

    @classmethod
    @law_arguments
    def cutoff(cls, std: float, factor: float | None) -> Law:
        """Return N(0, std²) cut at ±factor·std, or the plain normal when ``factor`` is
        None (OLMo's ``init_normal`` with ``init_cutoff_factor``); ValueError unless
        ``factor`` is > 0 (inf: no cut)."""
        if factor is None:
            return Normal(0.0, std)
        factor = check_bound(factor, "factor")
        if factor <= 0:
            raise ValueError(f"factor={factor} must be > 0")
        return cls(0.0, std, -factor, factor)

    def call(self):
        return random.truncated_normal, (self.mean, self.std, self.lower, self.upper)

    @property
    def bounds(self) -> tuple[float, float]:
        """The absolute bounds [mean + lower·std, mean + upper·std] (the mean itself, for
        both, when std is 0: the law is a point there)."""
        if self.std == 0:
            return (self.mean, self.mean)
        return (self.mean + self.lower * self.std, self.mean + self.upper * self.std)

    @property
    def mass(self) -> float:
        """The probability of [lower, upper] under the standard normal."""
        return random.interval_probabilities(self.lower, self.upper)[2]

    @property
    def support(self) -> tuple[float, float]:
        low, high = self.bounds
        return (max(low, self.mean - 5.0 * self.std), min(high, self.mean + 5.0 * self.std))

    def density(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        low, high = self.bounds
        inside = (x >= low) & (x <= high)
        return np.where(inside, _normal_pdf(x, self.mean, self.std) / self.mass, 0.0)

    def moments(self, shape=None) -> tuple[float, float]:
        """Return the (mean, standard deviation) of the values: mean + std·m and std·s,
        m and s² those of the standard normal conditioned on [lower, upper]
        (:func:`_standard_truncated_moments`: finite and exact to rounding for every
        interval, far tails and narrow slices included)."""
        shift, variance, _ = _standard_truncated_moments(self.lower, self.upper)
        return self.mean + self.std * shift, self.std * math.sqrt(variance)

    def fourth_moment(self, shape=None) -> float:
        """Return the fourth central moment: std⁴ times the standard one."""
        return self.std ** 4 * _standard_truncated_moments(self.lower, self.upper)[2]

    def peak_density(self, shape=None) -> float:
        """Return the density's largest value: at the mean when it lies inside the bounds,
        else at the bound nearest to it."""
        nearest = min(max(0.0, self.lower), self.upper)
        if not self.std:
            return math.inf
        return math.exp(-0.5 * nearest * nearest) * _normal_peak(self.std) / self.mass

    def text(self) -> str:
        low, high = self.bounds
        return (f"trunc_normal(mean={self.mean:.4g}, std={self.std:.4g}, a={low:.4g}, "
                f"b={high:.4g})")

    @law_arguments
    def scaled(self, factor: float) -> TruncatedNormal:
        """Return the law of ``factor`` times a value (a negative factor flips the
        bounds); ValueError for 0, whose law is a point."""
        factor = check_real(factor, "factor")
        if factor == 0:
            raise ValueError(f"{self.text()} scaled by 0 is the constant 0, not a "
                             "truncated normal")
        if factor > 0:
            return TruncatedNormal(self.mean * factor, self.std * factor, self.lower, self.upper)
        return TruncatedNormal(self.mean * factor, -self.std * factor, -self.upper, -self.lower)


@dataclass(frozen=True)
class Laplace(Elementwise):
    """The Laplace law of location ``loc`` and scale ``scale`` (density
    exp(-|x - loc|/scale) / (2·scale)): :func:`gpuinit.random.laplace`, as
    ``numpy.random.Generator.laplace(loc, scale)``."""

    loc: float = 0.0
    scale: float = 1.0

    @law_arguments
    def __post_init__(self) -> None:
        keep(self, loc=check_real(self.loc, "loc"), scale=check_nonnegative(self.scale, "scale"))

    def call(self):
        return random.laplace, (self.loc, self.scale)

    @property
    def support(self) -> tuple[float, float]:
        return (self.loc - 8.0 * self.scale, self.loc + 8.0 * self.scale)

    def density(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.exp(-np.abs(x - self.loc) / self.scale) / (2.0 * self.scale)

    def moments(self, shape=None) -> tuple[float, float]:
        return self.loc, self.scale * math.sqrt(2.0)

    def fourth_moment(self, shape=None) -> float:
        return 24.0 * self.scale ** 4

    def peak_density(self, shape=None) -> float:
        return 1.0 / (2.0 * self.scale) if self.scale else math.inf

    def tail_reach(self, probability, shape=None) -> float:
        # P(|X - loc| > t) = exp(-t/scale), and the std is scale·√2.
        return math.log(1.0 / probability) / math.sqrt(2.0)

    def text(self) -> str:
        return f"laplace(loc={self.loc:.4g}, scale={self.scale:.4g})"

    @law_arguments
    def scaled(self, factor: float) -> Laplace:
        factor = check_real(factor, "factor")
        return Laplace(self.loc * factor, self.scale * abs(factor))


def truncated_std(std: float, low: float, high: float, mean: float = 0.0) -> float:
    """Return the standard deviation of N(mean, std²) truncated to the absolute bounds
    [low, high]; the errors of :meth:`TruncatedNormal.absolute` for invalid arguments."""
    return TruncatedNormal.absolute(std, low, high, mean=mean).moments()[1]
