"""Convolutions Conv1D/Conv2D/Conv3D: channels-last, Keras kernel layout (*kernel, in, out).

The forward pass sums one matrix product per kernel tap over strided views of
the (padded) input: no im2col buffer, any array module.
"""

from __future__ import annotations

import itertools
from numbers import Integral
from typing import Any

from ..arguments import check_int
from . import activations
from .base import Layer
from .core import as_compute, values_of

PADDINGS = ("valid", "same", "causal")


def _tuple(value: Any, rank: int, argument: str) -> tuple[int, ...]:
    """Return ``value`` (an integer, NumPy's included, or a sequence of ``rank`` of them) as
    ``rank`` Python ints >= 1; TypeError/ValueError naming ``argument`` otherwise."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        values: tuple = (value,) * rank
    elif isinstance(value, (list, tuple)) or getattr(value, "ndim", None) == 1:
        values = tuple(value)
    else:
        raise TypeError(f"{argument}={value!r} must be an integer or a sequence of {rank} "
                        f"integers, got {type(value).__name__}")
    if len(values) != rank:
        raise ValueError(f"{argument}={value!r} must be an integer or {rank} integers")
    return tuple(check_int(v, argument, 1) for v in values)


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Return the output length of one spatial axis (Keras/TensorFlow rules)."""
    if padding == "same":
        return -(-size // stride)
    span = dilation * (kernel - 1) + 1
    if padding == "causal":
        size += span - 1
    return max((size - span) // stride + 1, 0)


def _pads(size: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    span = dilation * (kernel - 1) + 1
    if padding == "causal":
        return span - 1, 0
    if padding == "valid":
        return 0, 0
    out = conv_output_size(size, kernel, stride, dilation, padding)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


class Conv(Layer):
    """An N-D convolution over channels-last input ``(batch, *spatial, channels)``.

    Kernel ``weight`` of shape ``(*kernel_size, channels, filters)`` (Keras
    layout; fans as Keras computes them), default glorot_uniform; ``bias`` of
    shape ``(filters,)``, default zeros.  ``padding`` is "valid", "same" or
    (1-D only) "causal".  Matches ``keras.layers.ConvND``.
    """

    rank = 0

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True, *,
                 weight: Any = None, bias: Any = None, kernel_initializer: Any = None,
                 bias_initializer: Any = None, initial_weights: Any = None, **options):
        super().__init__(**options)
        self.filters = check_int(filters, "filters", 1)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _tuple(strides, self.rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate")
        if not isinstance(padding, str) or padding.lower() not in PADDINGS:
            raise ValueError(f"padding={padding!r} must be one of {PADDINGS}")
        self.padding = padding.lower()
        if self.padding == "causal" and self.rank != 1:
            raise ValueError("padding='causal' is for Conv1D only")
        self.activation = activations.checked(activation)
        self.declare("weight", weight, "glorot_uniform", keras_keyword="kernel_initializer",
                     keras_value=kernel_initializer)
        self.use_bias = self.declare_bias(use_bias, bias, bias_initializer)
        self.apply_initial_weights(initial_weights)

    def _check_input(self, input_shape):
        if len(input_shape) != self.rank + 1:
            raise ValueError(f"{self.name}: {type(self).__name__} needs inputs of shape "
                             f"(*{self.rank} spatial axes, channels), got {input_shape}")

    def parameter_shapes(self, input_shape):
        self._check_input(input_shape)
        shapes = {"weight": (*self.kernel_size, input_shape[-1], self.filters)}
        if self.use_bias:
            shapes["bias"] = (self.filters,)
        return shapes

    def output_shape(self, input_shape):
        self._check_input(input_shape)
        spatial = tuple(conv_output_size(n, k, s, d, self.padding) for n, k, s, d in zip(
            input_shape[:-1], self.kernel_size, self.strides, self.dilation_rate, strict=True))
        if 0 in spatial and 0 not in input_shape[:-1]:
            raise ValueError(f"{self.name}: the input {input_shape} is smaller than the "
                             f"kernel {self.kernel_size} (dilation {self.dilation_rate})")
        return (*spatial, self.filters)

    def forward(self, x, xp):
        x = as_compute(x, xp)
        weight = values_of(self, "weight", xp)
        spatial_in = x.shape[1:-1]
        pads = [_pads(n, k, s, d, self.padding) for n, k, s, d in zip(
            spatial_in, self.kernel_size, self.strides, self.dilation_rate, strict=True)]
        if any(p != (0, 0) for p in pads):
            x = xp.pad(x, [(0, 0), *pads, (0, 0)])
        out = self.output_shape(tuple(spatial_in) + (x.shape[-1],))[:-1]
        y = xp.zeros((x.shape[0], *out, self.filters), dtype=x.dtype)
        for tap in itertools.product(*(range(k) for k in self.kernel_size)):
            window = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(
                tap, self.dilation_rate, out, self.strides, strict=True))
            y += x[(slice(None), *window)] @ weight[tap]
        if self.use_bias:
            y += values_of(self, "bias", xp)
        return activations.get(self.activation)(y, xp)

    def get_config(self) -> dict:
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "dilation_rate": list(self.dilation_rate),
                "activation": activations.name_of(self.activation), "use_bias": self.use_bias,
                **super().get_config()}


class Conv1D(Conv):
    """1-D convolution over ``(batch, steps, channels)``.  Matches ``keras.layers.Conv1D``."""

    rank = 1
    base_name = "conv1d"


class Conv2D(Conv):
    """2-D convolution over ``(batch, rows, cols, channels)``.  Matches ``keras.layers.Conv2D``."""

    rank = 2
    base_name = "conv2d"


class Conv3D(Conv):
    """3-D convolution over ``(batch, d1, d2, d3, channels)``.  Matches ``keras.layers.Conv3D``."""

    rank = 3
    base_name = "conv3d"
