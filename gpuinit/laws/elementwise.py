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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import random
from .base import Bounds, Law

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


@dataclass(frozen=True)
class Uniform(Elementwise):
    """U[low, high): :func:`gpuinit.random.uniform`, ``torch.nn.init.uniform_(a, b)``."""

    low: float
    high: float

    @classmethod
    def symmetric(cls, bound: float) -> Uniform:
        """Return U[-bound, bound)."""
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

    def scaled(self, factor: float) -> Uniform:
        low, high = sorted((self.low * factor, self.high * factor))
        return Uniform(low, high)


@dataclass(frozen=True)
class Normal(Elementwise):
    """N(mean, std²): :func:`gpuinit.random.normal`, ``torch.nn.init.normal_(mean, std)``.
    ``std`` has no default: ``Normal(std=0.02)``, or ``Normal(0.0, 0.02)``."""

    mean: float = 0.0
    std: float | None = None

    def __post_init__(self) -> None:
        # The numbers are checked where the law is used (prepare, sample), which name
        # the tensor or the options they came from.
        if self.std is None:
            raise TypeError(f"Normal(mean, std) needs std: Normal(std=...) (got only "
                            f"mean={self.mean!r})")

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

    def scaled(self, factor: float) -> Normal:
        return Normal(self.mean * factor, self.std * abs(factor))


@dataclass(frozen=True)
class TruncatedNormal(Elementwise):
    """N(mean, std²) conditioned on [mean + lower·std, mean + upper·std] (bounds in units
    of std, like Keras' ``TruncatedNormal``): :func:`gpuinit.random.truncated_normal`."""

    mean: float
    std: float
    lower: float = -2.0
    upper: float = 2.0

    @classmethod
    def absolute(cls, std: float, a: float, b: float, *, mean: float = 0.0) -> TruncatedNormal:
        """Return N(mean, std²) truncated to the absolute bounds [a, b], as
        ``torch.nn.init.trunc_normal_(mean, std, a, b)`` takes them (the same
        (a − mean)/std, (b − mean)/std as :func:`gpuinit.init.trunc_normal_`).  A std of 0,
        refused where the law is used, makes the bounds ±inf here rather than fail."""
        if std == 0:
            return cls(mean, std, -math.inf, math.inf)
        return cls(mean, std, (a - mean) / std, (b - mean) / std)

    @classmethod
    def cutoff(cls, std: float, factor: float | None) -> Law:
        """Return N(0, std²) cut at ±factor·std, or the plain normal when ``factor`` is
        None (OLMo's ``init_normal`` with ``init_cutoff_factor``)."""
        if factor is None:
            return Normal(0.0, std)
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
        """Return the (mean, standard deviation) of the values: with α, β the bounds,
        Z the mass and φ the standard density, mean + std·(φ(α) − φ(β))/Z and
        std·√(1 + (αφ(α) − βφ(β))/Z − ((φ(α) − φ(β))/Z)²)."""
        def phi(z: float) -> float:
            return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) if math.isfinite(z) else 0.0

        def z_phi(z: float) -> float:
            return z * phi(z) if math.isfinite(z) else 0.0

        mass = self.mass
        shift = (phi(self.lower) - phi(self.upper)) / mass
        spread = 1.0 + (z_phi(self.lower) - z_phi(self.upper)) / mass - shift * shift
        return self.mean + self.std * shift, self.std * math.sqrt(max(0.0, spread))

    def _standard_raw_moments(self) -> list[float]:
        """Return E[Zᵏ], k = 0..4, of the standard normal Z conditioned on [lower, upper],
        by the recurrence E[Zᵏ] = (k−1)E[Zᵏ⁻²] + (αᵏ⁻¹φ(α) − βᵏ⁻¹φ(β))/mass."""
        def edge(z: float, power: int) -> float:
            if not math.isfinite(z):
                return 0.0
            return z ** power * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

        mass, alpha, beta = self.mass, self.lower, self.upper
        raw = [1.0, (edge(alpha, 0) - edge(beta, 0)) / mass]
        for k in range(2, 5):
            raw.append((k - 1) * raw[k - 2] + (edge(alpha, k - 1) - edge(beta, k - 1)) / mass)
        return raw

    def fourth_moment(self, shape=None) -> float:
        _, m1, r2, r3, r4 = self._standard_raw_moments()
        m4 = r4 - 4 * m1 * r3 + 6 * m1 ** 2 * r2 - 3 * m1 ** 4
        return self.std ** 4 * max(m4, 0.0)

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

    def scaled(self, factor: float) -> TruncatedNormal:
        """Return the law of ``factor`` times a value (a negative factor flips the
        bounds); ValueError for 0, whose law is a point."""
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

    def scaled(self, factor: float) -> Laplace:
        return Laplace(self.loc * factor, self.scale * abs(factor))


def truncated_std(std: float, low: float, high: float, mean: float = 0.0) -> float:
    """Return the standard deviation of N(mean, std²) truncated to the absolute bounds
    [low, high]."""
    return TruncatedNormal.absolute(std, low, high, mean=mean).moments()[1]
