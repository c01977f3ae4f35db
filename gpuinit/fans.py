"""Fans and gains: the two weight layouts and PyTorch's nonlinearity gains, in one place.

* Keras layout, used by the initializer objects: dense kernels ``(..., in, out)``,
  convolution kernels ``(*spatial, in, out)``.  :func:`keras_fans` matches
  ``keras.src.initializers.random_initializers.compute_fans``; :func:`axes_fans`
  its ``input_axes``/``output_axes`` form.
* JAX's rule (in, out and batch axes; the rest is receptive field):
  :func:`jax_fans` matches ``jax.nn.initializers._compute_fans``.
* PyTorch layout, used by :mod:`gpuinit.init`: ``(out, in, *spatial)``.
  :func:`torch_fans` matches ``torch.nn.init._calculate_fan_in_and_fan_out``.
* :func:`calculate_gain` matches ``torch.nn.init.calculate_gain``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from .arguments import check_shape


def keras_fans(shape) -> tuple[int, int]:
    """Return (fan_in, fan_out) of a Keras-layout shape.

    Rank 0: (1, 1); rank 1: (n, n); rank 2: (in, out); higher ranks multiply
    in/out (the last two dimensions) by the receptive field (the others).
    Matches ``keras.src.initializers.random_initializers.compute_fans``.

    >>> keras_fans((3, 3, 16, 32))
    (144, 288)
    """
    shape = check_shape(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def axes_fans(shape, in_axes, out_axes) -> tuple[int, int]:
    """Return (fan_in, fan_out) with explicit input and output axes (Keras 3's rule).

    fan_in is the product of the ``in_axes`` dimensions and fan_out that of the
    ``out_axes`` dimensions; other axes do not count; an empty list of axes gives
    1.  Matches Keras 3's ``compute_fans(shape, input_axes, output_axes)``, except
    that an axis named twice (as both input and output, or twice in one list, also as
    ``0`` and ``-rank``) is refused (ValueError): Keras would count it twice, which
    is never what a layout means.

    >>> axes_fans((4, 8, 16), in_axes=(0,), out_axes=(1, 2))
    (4, 128)
    >>> axes_fans((2,), in_axes=[0], out_axes=[])
    (2, 1)
    """
    shape = check_shape(shape)
    ins = _axes(in_axes, len(shape), "input_axes")
    outs = _axes(out_axes, len(shape), "output_axes")
    for axes, given, name in ((ins, in_axes, "input_axes"), (outs, out_axes, "output_axes")):
        if len(set(axes)) != len(axes):
            raise ValueError(f"{name}={given} names an axis more than once (shape of rank "
                             f"{len(shape)}): its dimension would be counted twice")
    if set(ins) & set(outs):
        raise ValueError(f"input_axes={in_axes} and output_axes={out_axes} overlap")
    return math.prod(shape[i] for i in ins), math.prod(shape[i] for i in outs)


def jax_fans(shape, in_axis=-2, out_axis=-1, batch_axis=()) -> tuple[int, int]:
    """Return (fan_in, fan_out) by JAX's rule: every axis that is not an input, output
    or batch axis is a receptive-field axis.

    fan_in = prod(in axes) · receptive and fan_out = prod(out axes) · receptive,
    receptive the product of the other non-batch dimensions.  Each axis argument
    is an int or a sequence of ints (negative counts from the end; an empty
    sequence gives 1).  Shapes of rank 0 and 1 are refused with JAX's ValueError when
    ``in_axis`` is the default -2, and computed like any other with explicit axes.
    Matches ``jax.nn.initializers._compute_fans``, which computes receptive as
    ``size / in / out / batch`` in floats: the same numbers for every shape
    without zero dimensions, where JAX divides by zero and gpuinit returns the
    products.  An axis named twice (in two arguments or twice in one) is refused
    (ValueError), since JAX's division would then give a fractional receptive field.

    >>> jax_fans((3, 3, 16, 32))
    (144, 288)
    >>> jax_fans((8, 5, 16, 32), in_axis=1, out_axis=(2, 3), batch_axis=(0,))
    (5, 512)
    """
    shape = check_shape(shape)
    rank = len(shape)
    if isinstance(in_axis, Integral) and not isinstance(in_axis, bool) and in_axis == -2 \
            and rank <= 1:
        raise ValueError(f"Can't compute input and output sizes of a {rank}-dimensional "
                         "weights tensor with default in_axis. Must be at least 2D or "
                         "specify in_axis explicitly.")
    ins = _axes(in_axis, rank, "in_axis")
    outs = _axes(out_axis, rank, "out_axis")
    batch = _axes(batch_axis, rank, "batch_axis")
    named = ins + outs + batch
    if len(set(named)) != len(named):
        raise ValueError(f"in_axis={in_axis}, out_axis={out_axis} and batch_axis={batch_axis} "
                         f"name an axis more than once (shape of rank {rank})")
    receptive = math.prod(d for i, d in enumerate(shape) if i not in named)
    return (math.prod(shape[i] for i in ins) * receptive,
            math.prod(shape[i] for i in outs) * receptive)


def check_axes_spec(axes, name: str) -> int | tuple[int, ...]:
    """Return an axis argument (an int, or a sequence of ints as a tuple) checked for
    type only (TypeError naming ``name``); ranges are checked against a shape later."""
    if isinstance(axes, Integral) and not isinstance(axes, bool):
        return int(axes)
    if isinstance(axes, (str, bytes)):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {axes!r}")
    try:
        items = tuple(axes)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {axes!r}") from None
    for a in items:
        if isinstance(a, bool) or not isinstance(a, Integral):
            raise TypeError(f"{name} must hold ints, got {a!r}")
    return tuple(int(a) for a in items)


def _axes(axes, rank: int, name: str) -> tuple[int, ...]:
    """Return the axes of ``axes`` (int or sequence) as non-negative ints < rank."""
    spec = check_axes_spec(axes, name)
    items = (spec,) if isinstance(spec, int) else spec
    for a in items:
        if not -rank <= a < rank:
            raise ValueError(f"{name}={axes} is out of range for a shape of rank {rank}")
    return tuple(a % rank for a in items)


def torch_fans(shape) -> tuple[int, int]:
    """Return (fan_in, fan_out) of a PyTorch-layout shape ``(out, in, *spatial)``.

    Matches ``torch.nn.init._calculate_fan_in_and_fan_out``, including its
    ValueError for fewer than two dimensions.

    >>> torch_fans((32, 16, 3, 3))
    (144, 288)
    """
    shape = check_shape(shape)
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out can not be computed for a shape with fewer than 2 "
            f"dimensions: {shape}"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Return the recommended gain for ``nonlinearity`` (PyTorch's table).

    linear, conv*, conv_transpose*, sigmoid: 1; tanh: 5/3; relu: √2;
    leaky_relu: √(2 / (1 + slope²)) with slope ``param`` (default 0.01); selu: 3/4.
    Matches ``torch.nn.init.calculate_gain``.

    >>> round(calculate_gain("leaky_relu", 0.2), 6)
    1.38675
    """
    if not isinstance(nonlinearity, str):
        raise TypeError(f"nonlinearity must be a string, got {type(nonlinearity).__name__}")
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, Real) and not isinstance(param, bool):
            slope = float(param)
            if not math.isfinite(slope):
                raise ValueError(f"negative_slope (param, a=) {param!r} must be finite")
        else:
            # ValueError, as torch raises (its own tests check for it).
            raise ValueError(f"negative_slope (param, a=) {param!r} is not a valid number")
        return math.sqrt(2.0 / (1.0 + slope * slope))  # slope² = inf past 1e154: gain 0
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")
