"""The law of a tensor's entries, as a value.

An elementwise initializer turns a shape (and its fans) into one of these frozen
records; :mod:`gpuinit.initializers` samples it through :meth:`sample`, and
:mod:`gpuinit.torch` (which fills torch tensors in PyTorch's layout) and
:mod:`gpuinit.plot` (which draws the density) read the same record, so no module
derives an initializer's law a second time.  Each record samples with the
primitive of :mod:`gpuinit.random` of the same name, whose argument checks apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import random


def _normal_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    z = (np.asarray(x, dtype=np.float64) - mean) / std
    return np.exp(-0.5 * z * z) / (std * math.sqrt(2.0 * math.pi))


@dataclass(frozen=True)
class Uniform:
    """U[low, high): :func:`gpuinit.random.uniform`."""

    low: float
    high: float

    def call(self) -> tuple[Any, tuple]:
        """Return (sampler, args): the :mod:`gpuinit.random` call that draws this law,
        ``sampler(shape, *args, **options)`` (what :func:`gpuinit.init.prepare_law`
        writes in place)."""
        return random.uniform, (self.low, self.high)

    def launch(self, shape, **options: Any) -> random.Launch:
        """Return the checked call :meth:`sample` makes (:func:`gpuinit.random.prepare`)."""
        sampler, args = self.call()
        return random.prepare(sampler, shape, *args, **options)

    @property
    def bounds(self) -> tuple[float, float]:
        """Return the bounds [low, high] the values lie in."""
        return (self.low, self.high)

    def sample(self, shape, **options: Any):
        """Return an array of ``shape`` from this law (``options``: seed, stream, dtype,
        device, out, offset/full_shape/start)."""
        return self.launch(shape, **options).run()

    @property
    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def density(self, x: np.ndarray) -> np.ndarray:
        """Return the density at ``x``."""
        x = np.asarray(x, dtype=np.float64)
        return np.where((x >= self.low) & (x <= self.high), 1.0 / (self.high - self.low), 0.0)

    def moments(self) -> tuple[float, float]:
        """Return the (mean, standard deviation) of the values."""
        return (self.low + self.high) / 2.0, (self.high - self.low) / math.sqrt(12.0)

    def text(self) -> str:
        return f"U[{self.low:.4g}, {self.high:.4g})"


@dataclass(frozen=True)
class Normal:
    """N(mean, std²): :func:`gpuinit.random.normal`."""

    mean: float
    std: float

    def call(self) -> tuple[Any, tuple]:
        """Return (sampler, args), as :meth:`Uniform.call`."""
        return random.normal, (self.mean, self.std)

    def launch(self, shape, **options: Any) -> random.Launch:
        """Return the checked call :meth:`sample` makes (:func:`gpuinit.random.prepare`)."""
        sampler, args = self.call()
        return random.prepare(sampler, shape, *args, **options)

    def sample(self, shape, **options: Any):
        """Return an array of ``shape`` from this law (options as :meth:`Uniform.sample`)."""
        return self.launch(shape, **options).run()

    @property
    def support(self) -> tuple[float, float]:
        return (self.mean - 5.0 * self.std, self.mean + 5.0 * self.std)

    def density(self, x: np.ndarray) -> np.ndarray:
        """Return the density at ``x``."""
        return _normal_pdf(x, self.mean, self.std)

    def moments(self) -> tuple[float, float]:
        """Return the (mean, standard deviation) of the values."""
        return self.mean, self.std

    def text(self) -> str:
        return f"N({self.mean:.4g}, {self.std:.4g}²)"


@dataclass(frozen=True)
class TruncatedNormal:
    """N(mean, std²) conditioned on [mean + lower·std, mean + upper·std] (bounds in units
    of std, like Keras): :func:`gpuinit.random.truncated_normal`."""

    mean: float
    std: float
    lower: float = -2.0
    upper: float = 2.0

    def call(self) -> tuple[Any, tuple]:
        """Return (sampler, args), as :meth:`Uniform.call`."""
        return random.truncated_normal, (self.mean, self.std, self.lower, self.upper)

    def launch(self, shape, **options: Any) -> random.Launch:
        """Return the checked call :meth:`sample` makes (:func:`gpuinit.random.prepare`)."""
        sampler, args = self.call()
        return random.prepare(sampler, shape, *args, **options)

    def sample(self, shape, **options: Any):
        """Return an array of ``shape`` from this law (options as :meth:`Uniform.sample`)."""
        return self.launch(shape, **options).run()

    @property
    def bounds(self) -> tuple[float, float]:
        """Return the absolute bounds [mean + lower·std, mean + upper·std] (the mean
        itself, for both, when std is 0: the law is a point there)."""
        if self.std == 0:
            return (self.mean, self.mean)
        return (self.mean + self.lower * self.std, self.mean + self.upper * self.std)

    @property
    def mass(self) -> float:
        """Return the probability of [lower, upper] under the standard normal."""
        return random.interval_probabilities(self.lower, self.upper)[2]

    @property
    def support(self) -> tuple[float, float]:
        low, high = self.bounds
        return (max(low, self.mean - 5.0 * self.std), min(high, self.mean + 5.0 * self.std))

    def density(self, x: np.ndarray) -> np.ndarray:
        """Return the density at ``x``."""
        x = np.asarray(x, dtype=np.float64)
        low, high = self.bounds
        inside = (x >= low) & (x <= high)
        return np.where(inside, _normal_pdf(x, self.mean, self.std) / self.mass, 0.0)

    def moments(self) -> tuple[float, float]:
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

    def text(self) -> str:
        low, high = self.bounds
        return f"N({self.mean:.4g}, {self.std:.4g}²) truncated to [{low:.4g}, {high:.4g}]"


Law = Uniform | Normal | TruncatedNormal
