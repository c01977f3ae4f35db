"""Random initializers: uniform, normal, truncated normal and the variance-scaling family.

Each computes its law's parameters from the shape (the fans of the *whole*
tensor for a block) and calls :mod:`gpuinit.random`; the values are made on the
device by the fill kernels.  GlorotUniform ... LecunNormal are presets of
:class:`VarianceScaling`, as in Keras and JAX.
"""

from __future__ import annotations

import math

from .. import random
from ..checks import check_nonnegative, check_real
from ..fans import axes_fans, keras_fans
from .base import RandomInitializer, Request

# Standard deviation of the standard normal truncated to [-2, 2]; Keras divides by it.
TRUNCATED_STDDEV_2SIGMA = 0.87962566103423978


def _sample_options(init: RandomInitializer, request: Request) -> dict:
    return {
        "seed": init.call_seed(request),
        "stream": request.stream,
        "dtype": request.dtype,
        "device": request.device,
        **request.block_arguments(),
    }


class RandomUniform(RandomInitializer):
    """Return values uniform in [minval, maxval).  Matches ``keras.initializers.RandomUniform``.

    >>> import gpuinit as gi
    >>> w = gi.initializers.RandomUniform(-1.0, 1.0, seed=0)((2, 3), device="cpu")
    >>> bool((w >= -1).all() and (w < 1).all())
    True
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval = check_real(minval, "minval")
        self.maxval = check_real(maxval, "maxval")
        if self.minval > self.maxval:
            raise ValueError(f"minval={minval} must be <= maxval={maxval}")
        super().__init__(seed)

    def generate(self, request: Request):
        return random.uniform(request.shape, self.minval, self.maxval,
                              **_sample_options(self, request))

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(RandomInitializer):
    """Return values from N(mean, stddev²).  Matches ``keras.initializers.RandomNormal``.

    >>> import gpuinit as gi
    >>> gi.initializers.RandomNormal(stddev=0.02, seed=0)((4, 4), device="cpu").dtype
    dtype('float32')
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = check_real(mean, "mean")
        self.stddev = check_nonnegative(stddev, "stddev")
        super().__init__(seed)

    def generate(self, request: Request):
        return random.normal(request.shape, self.mean, self.stddev,
                             **_sample_options(self, request))

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomInitializer):
    """Return N(mean, stddev²) values redrawn until within 2 stddev of the mean.

    Matches ``keras.initializers.TruncatedNormal`` (bounds ±2σ; the standard
    deviation of the result is 0.88·stddev).
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = check_real(mean, "mean")
        self.stddev = check_nonnegative(stddev, "stddev")
        super().__init__(seed)

    def generate(self, request: Request):
        return random.truncated_normal(request.shape, self.mean, self.stddev, -2.0, 2.0,
                                       **_sample_options(self, request))

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Return values whose variance is ``scale / n``, n the fan picked by ``mode``.

    * ``distribution="truncated_normal"``: N(0, σ²) truncated to ±2σ with
      σ = √(scale/n) / 0.87962566103423978 (so the truncated law has variance scale/n);
    * ``"untruncated_normal"`` (also ``"normal"``): N(0, scale/n);
    * ``"uniform"``: U[-limit, limit) with limit = √(3·scale/n).

    n is fan_in, fan_out or (fan_in + fan_out)/2 of the Keras layout
    (:func:`gpuinit.fans.keras_fans`), or of ``input_axes``/``output_axes`` when
    given (products of those dimensions, as in Keras 3).  Matches
    ``keras.initializers.VarianceScaling``.

    >>> import gpuinit as gi
    >>> init = gi.initializers.VarianceScaling(2.0, "fan_in", "uniform", seed=0)
    >>> float(abs(init((100, 10), device="cpu")).max()) < (6 / 100) ** 0.5
    True
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None,
                 input_axes=None, output_axes=None):
        scale = check_real(scale, "scale")
        if scale <= 0.0:
            raise ValueError(f"scale={scale} must be a positive float")
        if mode not in _MODES:
            raise ValueError(f"mode={mode!r} must be one of {_MODES}")
        if not isinstance(distribution, str):
            raise TypeError(f"distribution must be a string, got {type(distribution).__name__}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"  # the tf.keras 2 spelling
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"distribution={distribution!r} must be one of {_DISTRIBUTIONS}")
        if (input_axes is None) != (output_axes is None):
            raise ValueError("input_axes= and output_axes= must be given together")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = None if input_axes is None else _axes_tuple(input_axes)
        self.output_axes = None if output_axes is None else _axes_tuple(output_axes)
        super().__init__(seed)

    def fans(self, shape) -> tuple[int, int]:
        """Return (fan_in, fan_out) of the whole tensor ``shape``."""
        if self.input_axes is None:
            return keras_fans(shape)
        return axes_fans(shape, self.input_axes, self.output_axes)

    def variance(self, shape) -> float:
        """Return scale / n for the whole tensor ``shape`` (n at least 1, as in Keras)."""
        fan_in, fan_out = self.fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        return self.scale / max(1.0, n[self.mode])

    def generate(self, request: Request):
        variance = self.variance(request.full_shape)
        options = _sample_options(self, request)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return random.uniform(request.shape, -limit, limit, **options)
        if self.distribution == "untruncated_normal":
            return random.normal(request.shape, 0.0, math.sqrt(variance), **options)
        stddev = math.sqrt(variance) / TRUNCATED_STDDEV_2SIGMA
        return random.truncated_normal(request.shape, 0.0, stddev, -2.0, 2.0, **options)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed, **self._axes_config()}

    def _axes_config(self) -> dict:
        if self.input_axes is None:
            return {"input_axes": None, "output_axes": None}
        return {"input_axes": list(self.input_axes), "output_axes": list(self.output_axes)}


def _axes_tuple(axes) -> tuple[int, ...]:
    if isinstance(axes, int) and not isinstance(axes, bool):
        return (axes,)
    return tuple(axes)


class _Preset(VarianceScaling):
    """A named VarianceScaling whose config is its seed and fan axes (as in Keras)."""

    SCALE = 1.0
    MODE = "fan_in"
    DISTRIBUTION = "truncated_normal"

    def __init__(self, seed: int | None = None, input_axes=None, output_axes=None):
        super().__init__(self.SCALE, self.MODE, self.DISTRIBUTION, seed, input_axes, output_axes)

    def get_config(self) -> dict:
        return {"seed": self.seed, **self._axes_config()}


class GlorotUniform(_Preset):
    """U[-limit, limit), limit = √(6 / (fan_in + fan_out)).

    Matches ``keras.initializers.GlorotUniform``.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_avg", "uniform"


class GlorotNormal(_Preset):
    """Truncated normal with variance 2 / (fan_in + fan_out).

    Matches ``keras.initializers.GlorotNormal``.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_avg", "truncated_normal"


class HeUniform(_Preset):
    """U[-limit, limit), limit = √(6 / fan_in).  Matches ``keras.initializers.HeUniform``."""

    SCALE, MODE, DISTRIBUTION = 2.0, "fan_in", "uniform"


class HeNormal(_Preset):
    """Truncated normal with variance 2 / fan_in.  Matches ``keras.initializers.HeNormal``."""

    SCALE, MODE, DISTRIBUTION = 2.0, "fan_in", "truncated_normal"


class LecunUniform(_Preset):
    """U[-limit, limit), limit = √(3 / fan_in).  Matches ``keras.initializers.LecunUniform``."""

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "uniform"


class LecunNormal(_Preset):
    """Truncated normal with variance 1 / fan_in.  Matches ``keras.initializers.LecunNormal``."""

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "truncated_normal"
