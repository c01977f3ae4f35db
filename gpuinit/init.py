"""PyTorch-style in-place initializers: ``gpuinit.init.xavier_uniform_(w)`` and friends.

Every function of ``torch.nn.init``, with its signature and semantics (PyTorch's
layout ``(out, in, *spatial)`` for fans), plus keyword-only ``seed=`` and
``stream=``.  Each fills its tensor in place and returns the same object:
NumPy arrays, CuPy arrays and torch tensors on the CPU or CUDA, zero-copy
(kernels write into the tensor's memory; see :mod:`gpuinit.inplace`).
Under :func:`gpuinit.dry_run.validate_only` they check everything, write
nothing and draw no seed.

Seeds.  Every random function (``uniform_``, ``normal_``, ``trunc_normal_``,
``xavier_*``, ``kaiming_*``, ``orthogonal_``, ``sparse_``) takes ``seed=`` (an
integer in [0, 2^64)) or ``generator=`` (a ``torch.Generator``, as
``torch.nn.init`` does), not both (ValueError).  Without ``seed=`` the seed is
one 64-bit integer drawn on the generator's device:

1. from ``generator`` when given;
2. else, for a torch tensor, from torch's default generator of the tensor's
   device, so ``torch.manual_seed(k)`` makes the result reproducible and the
   call advances torch's random state as a ``torch.nn.init`` call would;
3. else (NumPy and CuPy arrays) from :func:`gpuinit.manual_seed`'s sequence.

As in torch, the generator must be on the tensor's device type (a CPU generator
for NumPy arrays and CPU tensors, a CUDA one for CuPy arrays and CUDA tensors);
otherwise RuntimeError, torch's error.  A zero-element tensor draws nothing and
is returned unchanged; ``kaiming_uniform_`` and ``kaiming_normal_`` also warn
``Initializing zero-element tensors is a no-op``, as torch's do.

>>> import numpy as np, gpuinit as gi
>>> w = np.empty((256, 128), dtype=np.float32)
>>> gi.init.kaiming_uniform_(w, a=5 ** 0.5, seed=0) is w
True
"""

from __future__ import annotations

import functools
import math
import sys
import warnings
from typing import Any

from . import random
from .arguments import check_bound, check_fill_value, check_int, check_nonnegative, check_real
from .devices import torch_stream_of
from .dry_run import validate_only, validating
from .dtypes import check_representable, float_format, numeric_dtype
from .fans import calculate_gain, torch_fans
from .initializers.sparse import check_sparsity, sparse_columns
from .inplace import Target, wrap
from .qr import orthogonal_matrix
from .seeding import check_seed, next_seed

__all__ = [
    "calculate_gain", "constant_", "dirac_", "eye_", "kaiming_normal_", "kaiming_uniform_",
    "normal_", "ones_", "orthogonal_", "sparse_", "trunc_normal_", "uniform_",
    "xavier_normal_", "xavier_uniform_", "zeros_",
]

_INT64_MIN = -(1 << 63)


def _on_the_tensors_stream(function):
    """Return ``function`` run on the stream torch uses for its tensor argument (for a
    torch CUDA tensor: torch's current stream, see :func:`gpuinit.devices.torch_stream_of`),
    so a fill is ordered after the work already queued there, as torch's in-place ops are."""
    @functools.wraps(function)
    def ordered(tensor, *args, **kwargs):
        with torch_stream_of(tensor):
            return function(tensor, *args, **kwargs)
    return ordered


def _check_generator(generator: Any, target: Target) -> None:
    """Raise TypeError unless ``generator`` is a torch.Generator, and RuntimeError (torch's
    error) unless it lives on the tensor's device type."""
    torch = sys.modules.get("torch")  # a torch.Generator exists only once torch is imported
    if torch is None or not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if generator.device.type != target.device.kind:
        raise RuntimeError(
            f"Expected a '{target.device.kind}' device type for generator but found "
            f"'{generator.device.type}' (the tensor is on {target.device})"
        )


def _torch_draw(generator: Any, device: Any) -> int:
    """Return one 64-bit seed in [0, 2^64) drawn from ``generator`` (None: torch's default
    generator of ``device``) on ``device``; the generator advances."""
    import torch

    draw = torch.empty((), dtype=torch.int64, device=device)
    draw.random_(_INT64_MIN, None, generator=generator)  # every int64 value, uniformly
    return int(draw.item()) % (1 << 64)


def _seed_for(target: Target, seed: Any, generator: Any) -> int:
    """Return the seed of one fill of ``target`` (the rule of the module docstring).

    ``seed`` checked when given; else one draw from ``generator``, or from torch's
    default generator for a torch tensor, or the next seed of
    :func:`gpuinit.manual_seed`'s sequence.  While validating, or for a zero-element
    tensor, nothing is drawn and 0 is returned.  ValueError when both ``seed`` and
    ``generator`` are given.
    """
    if generator is not None:
        if seed is not None:
            raise ValueError("pass seed= or generator=, not both")
        _check_generator(generator, target)
    if seed is not None:
        return check_seed(seed)
    if validating() or math.prod(target.shape) == 0:
        return 0
    if generator is not None:
        return _torch_draw(generator, generator.device)
    if type(target.original).__module__.split(".")[0] == "torch":
        return _torch_draw(None, target.original.device)
    return next_seed()


def _target_of(tensor: Any) -> Target:
    """Return the :class:`~gpuinit.inplace.Target` a fill of ``tensor`` writes through: the
    one ``tensor`` carries, when it has a ``gpuinit_target()`` method (gpuinit.torch gives
    a DTensor shard's stand-in one, returning the Target of its block), else
    :func:`gpuinit.inplace.wrap`'s."""
    carried = getattr(tensor, "gpuinit_target", None)
    return wrap(tensor) if carried is None else carried()


def _sampled(tensor: Any, sampler, args: tuple, seed, generator, stream: int):
    """Fill ``tensor`` with ``sampler(shape, *args, ...)``, a :mod:`gpuinit.random` sampler,
    made by its Target (:meth:`gpuinit.inplace.Target.sample`), and return it."""
    target = _target_of(tensor)
    float_format(target.dtype, "tensor.dtype")  # random values need a float tensor
    options = {"stream": stream, "device": target.device, "dtype": target.compute_dtype}
    if seed is None and not validating():
        # Every check first: a call that fails draws no seed from any generator.
        with validate_only():
            _seed_for(target, None, generator)
            target.sample(sampler, *args, seed=0, **options)
    target.sample(sampler, *args, seed=_seed_for(target, seed, generator), **options)
    if not validating():
        target.mark_written()
    return tensor


@_on_the_tensors_stream
def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None, *,
             seed: int | None = None, stream: int = 0):
    """Fill ``tensor`` with U[a, b) values and return it.  Matches ``torch.nn.init.uniform_``."""
    a, b = check_real(a, "a"), check_real(b, "b")
    if a > b:
        raise ValueError(f"a={a} must be <= b={b}")
    return _sampled(tensor, random.uniform, (a, b), seed, generator, stream)


@_on_the_tensors_stream
def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None, *,
            seed: int | None = None, stream: int = 0):
    """Fill ``tensor`` with N(mean, std²) values and return it.

    Matches ``torch.nn.init.normal_``.
    """
    mean, std = check_real(mean, "mean"), check_nonnegative(std, "std")
    return _sampled(tensor, random.normal, (mean, std), seed, generator, stream)


@_on_the_tensors_stream
def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None, *, seed: int | None = None,
                  stream: int = 0):
    """Fill ``tensor`` with N(mean, std²) truncated to the *absolute* bounds [a, b] and
    return it.

    Matches ``torch.nn.init.trunc_normal_`` (whose bounds are values, not
    multiples of std: the default [-2, 2] is ±2σ only when std = 1); ``a`` may be
    ``-inf`` and ``b`` ``inf``, as torch allows (both infinite: a plain normal).
    """
    mean, std = check_real(mean, "mean"), check_real(std, "std")
    a, b = check_bound(a, "a"), check_bound(b, "b")
    if std <= 0:
        raise ValueError(f"std={std} must be > 0")
    if a >= b:
        raise ValueError(f"a={a} must be < b={b}")
    lower, upper = (a - mean) / std, (b - mean) / std
    random.check_truncation(lower, upper, f"[a, b] = [{a}, {b}] with mean={mean}, std={std} "
                                          f"([{lower:.4g}, {upper:.4g}] in units of std)")
    return _sampled(tensor, random.truncated_normal, (mean, std, lower, upper), seed,
                    generator, stream)

@_on_the_tensors_stream
def constant_(tensor, val: float):
    """Fill ``tensor`` with ``val`` and return it.  Matches ``torch.nn.init.constant_``."""
    target = _target_of(tensor)
    value = check_fill_value(val, "val")
    check_representable(value, numeric_dtype(target.dtype, "tensor.dtype"), "val")
    if not validating():
        target.assign(..., value)
        target.mark_written()
    return tensor


@_on_the_tensors_stream
def ones_(tensor):
    """Fill ``tensor`` with ones and return it.  Matches ``torch.nn.init.ones_``."""
    return constant_(tensor, 1)


@_on_the_tensors_stream
def zeros_(tensor):
    """Fill ``tensor`` with zeros and return it.  Matches ``torch.nn.init.zeros_``."""
    return constant_(tensor, 0)


@_on_the_tensors_stream
def eye_(tensor):
    """Fill the 2-D ``tensor`` with the identity matrix (ones on the main diagonal) and
    return it.  Matches ``torch.nn.init.eye_``."""
    target = _target_of(tensor)
    if len(target.shape) != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {target.shape}")
    if validating():
        return tensor
    xp = target.xp
    target.assign(..., 0)
    n = min(target.shape)
    target.assign((xp.arange(n), xp.arange(n)), 1)
    target.mark_written()
    return tensor


@_on_the_tensors_stream
def dirac_(tensor, groups: int = 1):
    """Fill the 3-, 4- or 5-D ``tensor`` (PyTorch layout ``(out, in, *spatial)``) with the
    Dirac delta, preserving the identity of the inputs in convolutions (per group), and
    return it.  Matches ``torch.nn.init.dirac_``."""
    target = _target_of(tensor)
    shape = target.shape
    groups = check_int(groups, "groups", 1)
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"dirac_ needs a 3-, 4- or 5-D tensor, got shape {shape}")
    if shape[0] % groups:
        raise ValueError(f"dim 0 of shape {shape} must be divisible by groups={groups}")
    if validating():
        return tensor
    per_group = shape[0] // groups
    n = min(per_group, shape[1])
    xp = target.xp
    target.assign(..., 0)
    d = xp.arange(n)
    centre = tuple(k // 2 for k in shape[2:])
    for g in range(groups):
        target.assign((g * per_group + d, d, *centre), 1)
    target.mark_written()
    return tensor


def _fan(shape, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} is not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = torch_fans(shape)
    return fan_in if mode == "fan_in" else fan_out


@_on_the_tensors_stream
def xavier_uniform_(tensor, gain: float = 1.0, generator=None, *, seed: int | None = None,
                    stream: int = 0):
    """Fill ``tensor`` with U[-a, a), a = gain·√(6 / (fan_in + fan_out)), and return it.
    Matches ``torch.nn.init.xavier_uniform_``."""
    fan_in, fan_out = torch_fans(_target_of(tensor).shape)
    bound = check_nonnegative(gain, "gain") * math.sqrt(6.0 / max(1, fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator, seed=seed, stream=stream)


@_on_the_tensors_stream
def xavier_normal_(tensor, gain: float = 1.0, generator=None, *, seed: int | None = None,
                   stream: int = 0):
    """Fill ``tensor`` with N(0, gain²·2 / (fan_in + fan_out)) and return it.
    Matches ``torch.nn.init.xavier_normal_``."""
    fan_in, fan_out = torch_fans(_target_of(tensor).shape)
    std = check_nonnegative(gain, "gain") * math.sqrt(2.0 / max(1, fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator, seed=seed, stream=stream)


def _kaiming_std(tensor, a, mode, nonlinearity, seed, generator) -> float | None:
    """Return the Kaiming std of ``tensor``, or None (after torch's warning) when it has no
    elements and is to be left alone."""
    target = _target_of(tensor)
    if 0 in target.shape:
        _seed_for(target, seed, generator)  # checks seed= and generator=; draws nothing
        if not validating():  # the real call warns; its check-only pass does not
            warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=4)
        return None
    fan = _fan(target.shape, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


@_on_the_tensors_stream
def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None, *,
                     seed: int | None = None, stream: int = 0):
    """Fill ``tensor`` with U[-b, b), b = gain·√(3 / fan), gain = calculate_gain(nonlinearity, a),
    and return it.  Matches ``torch.nn.init.kaiming_uniform_`` (a zero-element tensor is
    returned unchanged, with torch's warning)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, seed, generator)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator, seed=seed, stream=stream)


@_on_the_tensors_stream
def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None, *,
                    seed: int | None = None, stream: int = 0):
    """Fill ``tensor`` with N(0, (gain / √fan)²) and return it.
    Matches ``torch.nn.init.kaiming_normal_`` (a zero-element tensor is returned
    unchanged, with torch's warning)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, seed, generator)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator, seed=seed, stream=stream)


@_on_the_tensors_stream
def orthogonal_(tensor, gain: float = 1.0, generator=None, *, seed: int | None = None,
                stream: int = 0):
    """Fill ``tensor`` (at least 2-D, read as ``shape[0] × rest``) with gain · a random
    (semi-)orthogonal matrix and return it.  Matches ``torch.nn.init.orthogonal_``.

    The Gaussian matrix is made by our kernel on the tensor's device and factored
    there (cuSOLVER on CUDA); see :mod:`gpuinit.qr`.
    """
    target = _target_of(tensor)
    shape = target.shape
    gain = check_real(gain, "gain")
    if len(shape) < 2:
        raise ValueError(f"orthogonal_ needs a tensor with 2 or more dimensions, got {shape}")
    if 0 in shape:
        _seed_for(target, seed, generator)  # checks seed= and generator=; draws nothing
        return tensor
    form = float_format(target.value_dtype, "tensor.dtype")
    # |entries of Q| <= 1, so gain·Q fits the tensor's dtype when gain does.
    check_representable(gain, float_format(target.dtype).numpy_dtype, "gain")
    seed = _seed_for(target, seed, generator)
    if validating():
        return tensor
    rows = shape[0]
    cols = math.prod(shape) // rows
    matrix = orthogonal_matrix(rows, cols, gain, seed, stream, form, target.device)
    target.write(matrix.reshape(shape))
    target.mark_written()
    return tensor


@_on_the_tensors_stream
def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None, *,
            seed: int | None = None, stream: int = 0):
    """Fill the 2-D ``tensor`` with N(0, std²) values, ceil(sparsity·rows) of each column
    set to zero, and return it.  Matches ``torch.nn.init.sparse_``."""
    target = _target_of(tensor)
    if len(target.shape) != 2:
        raise ValueError(f"sparse_ needs a 2-D tensor, got shape {target.shape}")
    sparsity = check_sparsity(sparsity)
    std = check_nonnegative(std, "std")
    float_format(target.value_dtype, "tensor.dtype")
    seed = _seed_for(target, seed, generator)
    if validating():
        return tensor
    values = sparse_columns(target.shape, sparsity, std, seed, stream,
                            target.value_dtype, target.device)
    target.write(values)
    target.mark_written()
    return tensor
