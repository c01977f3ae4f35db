"""Recurrent layers SimpleRNN, LSTM and GRU: Keras 3 weights, defaults and gate order.

Parameters: ``weight`` ``(features, gates * units)`` (Keras ``kernel``,
glorot_uniform), ``recurrent_weight`` ``(units, gates * units)`` (Keras
``recurrent_kernel``, orthogonal over the whole matrix) and ``bias`` (zeros).
Gate order as in Keras: LSTM i, f, c, o; GRU z, r, h.  The forward pass runs the
recurrence over the time axis of ``(batch, steps, features)``.
"""

from __future__ import annotations

from typing import Any

from ..arguments import check_bool, check_int
from . import activations
from .base import Layer
from .core import as_compute, values_of


class Recurrent(Layer):
    """Shared parts of the recurrent layers; ``gates`` is 1, 4 or 3."""

    gates = 1

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 return_sequences: bool = False, *, weight: Any = None,
                 recurrent_weight: Any = None, bias: Any = None, kernel_initializer: Any = None,
                 recurrent_initializer: Any = None, bias_initializer: Any = None,
                 initial_weights: Any = None, **options):
        super().__init__(**options)
        self.units = check_int(units, "units", 1)
        self.activation = activations.checked(activation)
        self.return_sequences = check_bool(return_sequences, "return_sequences")
        self.declare("weight", weight, "glorot_uniform", keras_keyword="kernel_initializer",
                     keras_value=kernel_initializer)
        self.declare("recurrent_weight", recurrent_weight, "orthogonal",
                     keras_keyword="recurrent_initializer", keras_value=recurrent_initializer)
        self.use_bias = self.declare_bias(use_bias, bias, bias_initializer)
        self.apply_initial_weights(initial_weights)

    def bias_shape(self) -> tuple[int, ...]:
        """Return the shape of ``bias``."""
        return (self.gates * self.units,)

    def parameter_shapes(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{self.name}: {type(self).__name__} needs inputs of shape "
                             f"(steps, features), got {input_shape}")
        width = self.gates * self.units
        shapes = {"weight": (input_shape[-1], width), "recurrent_weight": (self.units, width)}
        if self.use_bias:
            shapes["bias"] = self.bias_shape()
        return shapes

    def output_shape(self, input_shape):
        self.parameter_shapes(input_shape)
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def forward(self, x, xp):
        x = as_compute(x, xp)
        w = values_of(self, "weight", xp)
        u = values_of(self, "recurrent_weight", xp)
        b = values_of(self, "bias", xp) if self.use_bias else None
        projected = x @ w  # (batch, steps, gates * units): the input part of every step
        state = self.initial_state(x.shape[0], x.dtype, xp)
        outputs = []
        for step in range(x.shape[1]):
            state = self.step(projected[:, step], state, u, b, xp)
            outputs.append(state[0])
        if not outputs:
            return xp.zeros((x.shape[0], 0, self.units) if self.return_sequences
                            else (x.shape[0], self.units), dtype=x.dtype)
        return xp.stack(outputs, axis=1) if self.return_sequences else outputs[-1]

    def initial_state(self, batch: int, dtype, xp) -> tuple:
        """Return the zero state at the first step."""
        return (xp.zeros((batch, self.units), dtype=dtype),)

    def step(self, xw, state, u, b, xp) -> tuple:
        """Return the state after one step, given the projected input ``xw``."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"units": self.units, "activation": activations.name_of(self.activation),
                "use_bias": self.use_bias, "return_sequences": self.return_sequences,
                **super().get_config()}


class SimpleRNN(Recurrent):
    """``h = activation(x @ weight + h @ recurrent_weight + bias)``.
    Matches ``keras.layers.SimpleRNN``."""

    base_name = "simple_rnn"

    def step(self, xw, state, u, b, xp):
        z = xw + state[0] @ u
        if b is not None:
            z = z + b
        return (activations.get(self.activation)(z, xp),)


class LSTM(Recurrent):
    """Long short-term memory, gates i, f, c, o.  With ``unit_forget_bias=True`` (Keras'
    default) the forget-gate part of a bias made by an initializer is set to one.
    Matches ``keras.layers.LSTM``."""

    base_name = "lstm"
    gates = 4

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 unit_forget_bias: bool = True, return_sequences: bool = False, **options):
        super().__init__(units, activation, use_bias, return_sequences, **options)
        self.recurrent_activation = activations.checked(recurrent_activation)
        self.unit_forget_bias = check_bool(unit_forget_bias, "unit_forget_bias")

    def forget_bias_applies(self) -> bool:
        """Return True when the forget-gate quarter of ``bias`` is set to one after its
        initializer ran: ``use_bias`` and ``unit_forget_bias``, and a bias made by an
        initializer (not an array or a shared Parameter).  Keras applies it the same way,
        whatever ``bias_initializer`` is."""
        return self.use_bias and self.unit_forget_bias and self.from_initializer("bias")

    def after_build(self):
        if self.forget_bias_applies():
            self.parameters["bias"].data[self.units:2 * self.units] = 1

    def initializer_names(self) -> dict[str, str]:
        """Return the names of :meth:`Layer.initializer_names`, the bias named for what it
        holds when the forget gate was set to one: "zeros+unit_forget_bias" (Keras'
        ``unit_forget_bias``: the bias initializer, then ones for the forget gate)."""
        names = super().initializer_names()
        if self.forget_bias_applies():
            names["bias"] += "+unit_forget_bias"
        return names

    def initial_state(self, batch, dtype, xp):
        zeros = xp.zeros((batch, self.units), dtype=dtype)
        return (zeros, zeros.copy())

    def step(self, xw, state, u, b, xp):
        h, c = state
        z = xw + h @ u
        if b is not None:
            z = z + b
        n = self.units
        gate = activations.get(self.recurrent_activation)
        act = activations.get(self.activation)
        i, f, o = gate(z[:, :n], xp), gate(z[:, n:2 * n], xp), gate(z[:, 3 * n:], xp)
        c = f * c + i * act(z[:, 2 * n:3 * n], xp)
        return (o * act(c, xp), c)

    def get_config(self) -> dict:
        return {"recurrent_activation": activations.name_of(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias, **super().get_config()}


class GRU(Recurrent):
    """Gated recurrent unit, gates z, r, h.  With ``reset_after=True`` (Keras 3's default)
    ``bias`` has shape ``(2, 3 * units)``: input and recurrent biases.
    Matches ``keras.layers.GRU``."""

    base_name = "gru"
    gates = 3

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 return_sequences: bool = False, reset_after: bool = True, **options):
        super().__init__(units, activation, use_bias, return_sequences, **options)
        self.recurrent_activation = activations.checked(recurrent_activation)
        self.reset_after = check_bool(reset_after, "reset_after")

    def bias_shape(self):
        width = self.gates * self.units
        return (2, width) if self.reset_after else (width,)

    def step(self, xw, state, u, b, xp):
        (h,) = state
        n = self.units
        gate = activations.get(self.recurrent_activation)
        act = activations.get(self.activation)
        if b is not None:
            xw = xw + (b[0] if self.reset_after else b)
        if self.reset_after:
            inner = h @ u
            if b is not None:
                inner = inner + b[1]
            z = gate(xw[:, :n] + inner[:, :n], xp)
            r = gate(xw[:, n:2 * n] + inner[:, n:2 * n], xp)
            candidate = act(xw[:, 2 * n:] + r * inner[:, 2 * n:], xp)
        else:
            inner = h @ u[:, :2 * n]
            z = gate(xw[:, :n] + inner[:, :n], xp)
            r = gate(xw[:, n:2 * n] + inner[:, n:], xp)
            candidate = act(xw[:, 2 * n:] + (r * h) @ u[:, 2 * n:], xp)
        return (z * h + (1 - z) * candidate,)

    def get_config(self) -> dict:
        return {"recurrent_activation": activations.name_of(self.recurrent_activation),
                "reset_after": self.reset_after, **super().get_config()}
