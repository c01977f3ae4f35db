"""Activations for the forward pass, on NumPy or CuPy arrays (Keras 3 names and formulas).

Each takes ``(x, xp)``: the array and its module.  :func:`get` resolves a name,
None (linear) or a callable ``f(x)``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def linear(x, xp):
    """Return ``x`` (Keras ``linear``)."""
    return x


def relu(x, xp):
    """Return max(x, 0) (Keras ``relu``)."""
    return xp.maximum(x, 0)


def relu6(x, xp):
    """Return min(max(x, 0), 6) (Keras ``relu6``)."""
    return xp.clip(x, 0, 6)


def leaky_relu(x, xp):
    """Return x for x > 0, 0.2 x otherwise (Keras ``leaky_relu``, negative_slope=0.2)."""
    return xp.where(x > 0, x, x * x.dtype.type(0.2))


def sigmoid(x, xp):
    """Return 1 / (1 + exp(-x)), computed without overflow (Keras ``sigmoid``)."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def hard_sigmoid(x, xp):
    """Return relu6(x + 3) / 6 (Keras 3 ``hard_sigmoid``)."""
    return xp.clip(x / 6 + x.dtype.type(0.5), 0, 1)


def tanh(x, xp):
    """Return tanh(x) (Keras ``tanh``)."""
    return xp.tanh(x)


def softplus(x, xp):
    """Return log(1 + exp(x)), computed without overflow (Keras ``softplus``)."""
    return xp.logaddexp(x, 0)


def softsign(x, xp):
    """Return x / (1 + |x|) (Keras ``softsign``)."""
    return x / (1 + xp.abs(x))


def swish(x, xp):
    """Return x * sigmoid(x) (Keras ``silu``/``swish``)."""
    return x * sigmoid(x, xp)


def elu(x, xp):
    """Return x for x > 0, exp(x) - 1 otherwise (Keras ``elu``, alpha=1)."""
    return xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)))


def selu(x, xp):
    """Return scale * elu(x, alpha) with the SELU constants (Keras ``selu``)."""
    negative = SELU_ALPHA * xp.expm1(xp.minimum(x, 0))
    return (SELU_SCALE * xp.where(x > 0, x, negative)).astype(x.dtype, copy=False)


def exponential(x, xp):
    """Return exp(x) (Keras ``exponential``)."""
    return xp.exp(x)


def gelu(x, xp):
    """Return x * Φ(x), the exact GELU (Keras ``gelu``, approximate=False)."""
    return (0.5 * x * (1 + _erf(x / math.sqrt(2.0), xp))).astype(x.dtype, copy=False)


def softmax(x, xp):
    """Return the softmax over the last axis (Keras ``softmax``)."""
    shifted = x - x.max(axis=-1, keepdims=True)
    e = xp.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _erf(x, xp):
    if xp is np:
        return _erf_cpu(x)
    from cupyx.scipy.special import erf

    return erf(x)


def _erf_cpu(x):
    from numba import vectorize

    global _ERF_UFUNC
    if _ERF_UFUNC is None:
        @vectorize(["float32(float32)", "float64(float64)"], cache=True)
        def erf_ufunc(v):
            return math.erf(v)

        _ERF_UFUNC = erf_ufunc
    return _ERF_UFUNC(x)


_ERF_UFUNC = None

ACTIVATIONS: dict[str, Callable] = {
    f.__name__: f
    for f in (linear, relu, relu6, leaky_relu, sigmoid, hard_sigmoid, tanh, softplus,
              softsign, swish, elu, selu, exponential, gelu, softmax)
}
ACTIVATIONS["silu"] = swish


def get(activation: Any) -> Callable:
    """Return the activation ``f(x, xp)`` for a Keras name, None (linear) or a callable
    ``f(x)``; ValueError listing close matches for an unknown name."""
    if activation is None:
        return linear
    if isinstance(activation, str):
        found = ACTIVATIONS.get(activation.lower())
        if found is None:
            close = difflib.get_close_matches(activation.lower(), list(ACTIVATIONS), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}" if close else ""
            raise ValueError(f"unknown activation {activation!r}{hint}. "
                             f"Known: {', '.join(sorted(ACTIVATIONS))}")
        return found
    if callable(activation):
        return lambda x, xp: activation(x)
    raise TypeError(f"activation must be a name, None or a callable, "
                    f"got {type(activation).__name__}")


def checked(activation: Any) -> Any:
    """Return ``activation`` unchanged after checking that :func:`get` resolves it."""
    get(activation)
    return activation


def name_of(activation: Any) -> Any:
    """Return what ``get_config`` records for an activation: its name, or the callable."""
    if activation is None:
        return "linear"
    return activation.lower() if isinstance(activation, str) else activation
