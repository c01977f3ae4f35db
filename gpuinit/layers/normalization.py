"""LayerNormalization and BatchNormalization (Keras 3 parameters and defaults).

The forward pass is inference: LayerNormalization normalizes each sample over
its last axis; BatchNormalization uses the moving statistics, as Keras does
with ``training=False``.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

from ..arguments import check_bool, check_nonnegative
from .base import Layer
from .core import as_compute, values_of


def _check_axis(axis: Any) -> int:
    """Return -1 when ``axis`` is the integer -1 (NumPy's included); TypeError for a
    non-integer, ValueError for another axis, both naming ``axis``."""
    if isinstance(axis, bool) or not isinstance(axis, Integral):
        raise TypeError(f"axis must be an integer, got {type(axis).__name__}")
    if axis != -1:
        raise ValueError(f"axis={axis!r}: only the last axis (-1) is supported")
    return -1


def _declare_scale_and_center(layer: Layer, scale: Any, center: Any, gamma: Any, beta: Any,
                              gamma_initializer: Any, beta_initializer: Any) -> None:
    """Declare ``gamma`` (ones) when ``scale`` and ``beta`` (zeros) when ``center``."""
    layer.scale = check_bool(scale, "scale")
    layer.center = check_bool(center, "center")
    if layer.scale:
        layer.declare("gamma", gamma, "ones", keras_keyword="gamma_initializer",
                      keras_value=gamma_initializer)
    if layer.center:
        layer.declare("beta", beta, "zeros", keras_keyword="beta_initializer",
                      keras_value=beta_initializer)


def _scale_and_shift(layer: Layer, y, xp):
    """Return ``gamma * y + beta``, each factor only where the layer has it."""
    if layer.scale:
        y = y * values_of(layer, "gamma", xp)
    if layer.center:
        y = y + values_of(layer, "beta", xp)
    return y


class LayerNormalization(Layer):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` over the last axis.

    ``gamma`` (default ones) and ``beta`` (default zeros) have shape
    ``(features,)``; ``gamma_initializer=``/``beta_initializer=`` are the Keras
    spellings.  Matches ``keras.layers.LayerNormalization`` (epsilon=1e-3).
    """

    base_name = "layer_normalization"

    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, *, gamma: Any = None, beta: Any = None,
                 gamma_initializer: Any = None, beta_initializer: Any = None,
                 initial_weights: Any = None, **options):
        super().__init__(**options)
        self.axis = _check_axis(axis)
        self.epsilon = check_nonnegative(epsilon, "epsilon")
        _declare_scale_and_center(self, scale, center, gamma, beta, gamma_initializer,
                                  beta_initializer)
        self.apply_initial_weights(initial_weights)

    def parameter_shapes(self, input_shape):
        if not input_shape:
            raise ValueError(f"{self.name}: normalization needs an input with a feature axis")
        return {key: (input_shape[-1],) for key in self._specs}

    def forward(self, x, xp):
        x = as_compute(x, xp)
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return _scale_and_shift(self, (x - mean) / xp.sqrt(var + self.epsilon), xp)

    def get_config(self) -> dict:
        return {"axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, **super().get_config()}


class BatchNormalization(Layer):
    """``gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta`` (inference).

    Parameters of shape ``(features,)``: ``gamma`` (ones), ``beta`` (zeros), and
    the non-trainable ``moving_mean`` (zeros) and ``moving_variance`` (ones);
    Keras' ``*_initializer`` spellings work too.  Matches
    ``keras.layers.BatchNormalization`` (momentum=0.99, epsilon=1e-3).
    """

    base_name = "batch_normalization"

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, *, gamma: Any = None,
                 beta: Any = None, moving_mean: Any = None, moving_variance: Any = None,
                 gamma_initializer: Any = None, beta_initializer: Any = None,
                 moving_mean_initializer: Any = None, moving_variance_initializer: Any = None,
                 initial_weights: Any = None, **options):
        super().__init__(**options)
        self.axis = _check_axis(axis)
        self.momentum = check_nonnegative(momentum, "momentum")
        self.epsilon = check_nonnegative(epsilon, "epsilon")
        _declare_scale_and_center(self, scale, center, gamma, beta, gamma_initializer,
                                  beta_initializer)
        self.declare("moving_mean", moving_mean, "zeros",
                     keras_keyword="moving_mean_initializer",
                     keras_value=moving_mean_initializer, trainable=False)
        self.declare("moving_variance", moving_variance, "ones",
                     keras_keyword="moving_variance_initializer",
                     keras_value=moving_variance_initializer, trainable=False)
        self.apply_initial_weights(initial_weights)

    parameter_shapes = LayerNormalization.parameter_shapes

    def forward(self, x, xp):
        x = as_compute(x, xp)
        inverse = 1 / xp.sqrt(values_of(self, "moving_variance", xp) + self.epsilon)
        y = _scale_and_shift(self, (x - values_of(self, "moving_mean", xp)) * inverse, xp)
        return y.astype(x.dtype, copy=False)

    def get_config(self) -> dict:
        return {"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, **super().get_config()}


LayerNorm = LayerNormalization
BatchNorm = BatchNormalization
