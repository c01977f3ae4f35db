"""Core layers: Dense, Embedding, Activation and Flatten (Keras 3 layouts and defaults)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arguments import check_int, size_of
from . import activations
from .base import Layer


def values_of(layer: Layer, name: str, xp):
    """Return parameter ``name`` of ``layer`` for the forward pass: float32 for 16-bit
    storage (NumPy has no fast float16/bfloat16 matmul), the array itself otherwise."""
    data = layer.parameters[name].data
    return data.astype(xp.float32) if data.dtype.itemsize == 2 else data


def as_compute(x, xp):
    """Return the batch ``x`` as a float array of module ``xp`` (float32 unless float64)."""
    x = xp.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(xp.float32)


class Dense(Layer):
    """A densely connected layer: ``activation(x @ weight + bias)``.

    ``weight`` has the Keras layout ``(input_dim, units)``; defaults follow Keras:
    weight glorot_uniform, bias zeros.  Each of ``weight=``/``bias=`` (or Keras'
    ``kernel_initializer=``/``bias_initializer=``) takes a string id, an
    Initializer, a callable, an array or a shared :class:`~gpuinit.Parameter`.
    Matches ``keras.layers.Dense`` (and NeuPy's ``Linear``/``Sigmoid`` layers with
    an activation).
    """

    base_name = "dense"

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True, *,
                 weight: Any = None, bias: Any = None, kernel_initializer: Any = None,
                 bias_initializer: Any = None, initial_weights: Any = None, **options):
        super().__init__(**options)
        self.units = check_int(units, "units", 1)
        self.activation = activations.checked(activation)
        self.declare("weight", weight, "glorot_uniform", keras_keyword="kernel_initializer",
                     keras_value=kernel_initializer)
        self.use_bias = self.declare_bias(use_bias, bias, bias_initializer)
        self.apply_initial_weights(initial_weights)

    def parameter_shapes(self, input_shape):
        if not input_shape:
            raise ValueError(f"{self.name}: Dense needs an input with at least one axis")
        shapes = {"weight": (input_shape[-1], self.units)}
        if self.use_bias:
            shapes["bias"] = (self.units,)
        return shapes

    def output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def forward(self, x, xp):
        y = as_compute(x, xp) @ values_of(self, "weight", xp)
        if self.use_bias:
            y = y + values_of(self, "bias", xp)
        return activations.get(self.activation)(y, xp)

    def get_config(self) -> dict:
        return {"units": self.units, "activation": activations.name_of(self.activation),
                "use_bias": self.use_bias, **super().get_config()}


class Embedding(Layer):
    """A lookup table ``weight[indices]`` of shape ``(input_dim, output_dim)``.

    Default ``weight`` (Keras ``embeddings_initializer``) is "uniform", i.e.
    RandomUniform(-0.05, 0.05), as in ``keras.layers.Embedding``.
    """

    base_name = "embedding"

    def __init__(self, input_dim: int, output_dim: int, *, weight: Any = None,
                 embeddings_initializer: Any = None, initial_weights: Any = None, **options):
        super().__init__(**options)
        self.input_dim = check_int(input_dim, "input_dim", 1)
        self.output_dim = check_int(output_dim, "output_dim", 1)
        self.declare("weight", weight, "uniform", keras_keyword="embeddings_initializer",
                     keras_value=embeddings_initializer)
        self.apply_initial_weights(initial_weights)

    def parameter_shapes(self, input_shape):
        return {"weight": (self.input_dim, self.output_dim)}

    def output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def forward(self, x, xp):
        indices = xp.asarray(x)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: Embedding needs integer indices, got {indices.dtype}")
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= self.input_dim):
            raise ValueError(f"{self.name}: indices must lie in [0, {self.input_dim})")
        return values_of(self, "weight", xp)[indices]

    def get_config(self) -> dict:
        return {"input_dim": self.input_dim, "output_dim": self.output_dim,
                **super().get_config()}


class Activation(Layer):
    """Applies an activation by name or callable.  Matches ``keras.layers.Activation``."""

    base_name = "activation"

    def __init__(self, activation: Any, **options):
        super().__init__(**options)
        self.activation = activations.checked(activation)

    def forward(self, x, xp):
        return activations.get(self.activation)(as_compute(x, xp), xp)

    def get_config(self) -> dict:
        return {"activation": activations.name_of(self.activation), **super().get_config()}


class Flatten(Layer):
    """Flattens every axis but the batch axis.  Matches ``keras.layers.Flatten``."""

    base_name = "flatten"

    def output_shape(self, input_shape):
        return (size_of(input_shape),)

    def forward(self, x, xp):
        return x.reshape(x.shape[0], -1)
