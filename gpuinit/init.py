"""PyTorch-style in-place initializers: ``gpuinit.init.xavier_uniform_(w)`` and friends.

Every function of ``torch.nn.init``, with its signature and semantics (PyTorch's
layout ``(out, in, *spatial)`` for fans), plus keyword-only ``seed=`` and
``stream=``.  Each fills its tensor in place and returns the same object:
NumPy arrays, CuPy arrays and torch tensors on the CPU or CUDA, zero-copy
(kernels write into the tensor's memory; see :mod:`gpuinit.inplace`).
Each call is prepared, then run: every check first (:func:`prepare` returns the
checked write, a :class:`gpuinit.writes.Prepared`, without writing or drawing a
seed), then the write.  Under :func:`gpuinit.dry_run.validate_only` a call is
prepared and not run.

As in torch: the deprecated names without the trailing underscore (``uniform``,
``xavier_normal``, ...) call their fill after torch's FutureWarning; ``mode`` is read
in any case (``"FAN_OUT"``); a tensor on torch's meta device, every argument checked,
is returned unchanged (a module's ``reset_parameters`` runs under
``torch.device("meta")``); a complex64/complex128 tensor is filled through its real
view (``torch.view_as_real``, the parts as a last axis of 2, whose values obey the
counter contract as a float tensor's): the uniform fills (``uniform_``,
``xavier_uniform_``, ``kaiming_uniform_``) draw each part from their U[a, b), the normal
ones (``normal_``, ``xavier_normal_``, ``kaiming_normal_``, ``sparse_``) each part from
N(mean, std²/2), with fans from the complex shape, while ``trunc_normal_`` and
``orthogonal_`` raise NotImplementedError, torch's error.

Seeds.  Every random function (``uniform_``, ``normal_``, ``trunc_normal_``,
``xavier_*``, ``kaiming_*``, ``orthogonal_``, ``sparse_``) takes ``seed=`` (an
integer in [0, 2^64)) or ``generator=`` (a ``torch.Generator``, as
``torch.nn.init`` does), not both (ValueError).  Without ``seed=`` the seed is
one 64-bit integer drawn on the generator's device:

1. from ``generator`` when given;
2. else, for a torch tensor, from torch's default generator of the tensor's
   device, so ``torch.manual_seed(k)`` makes the result reproducible and the
   call advances torch's random state, by that one draw (a ``torch.nn.init`` call
   draws as many numbers as the tensor has: what follows in torch's sequence
   differs);
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

from . import laws
from .arguments import check_fill_value, check_int, check_nonnegative, check_real
from .devices import torch_stream_of
from .dry_run import validating
from .dtypes import check_representable, float_format, numeric_dtype
from .fans import calculate_gain, torch_fans
from .initializers.sparse import check_sparsity, sparse_columns
from .inplace import Target
from .inplace import wrap as wrap  # what a fill writes through, when its tensor carries none
from .qr import orthogonal_matrix
from .seeding import check_seed, next_seed
from .writes import Assign, Dirac, Draw, Eye, Matrix, Prepared, Sample, Skip, target_of

__all__ = [
    "calculate_gain", "constant_", "dirac_", "eye_", "kaiming_normal_", "kaiming_uniform_",
    "normal_", "ones_", "orthogonal_", "sparse_", "trunc_normal_", "uniform_",
    "xavier_normal_", "xavier_uniform_", "zeros_",
    # torch.nn.init's deprecated names, kept as torch keeps them
    "constant", "dirac", "eye", "kaiming_normal", "kaiming_uniform", "normal", "orthogonal",
    "sparse", "uniform", "xavier_normal", "xavier_uniform",
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


def _seed_rule(target: Target, seed: Any, generator: Any) -> tuple[int | None, Draw | None]:
    """Return (seed, draw) for one fill of ``target`` (the rule of the module docstring):
    ``seed`` checked when given, else a function that draws it when the fill runs, from
    ``generator``, or torch's default generator for a torch tensor, or
    :func:`gpuinit.manual_seed`'s sequence.  ValueError when both ``seed`` and
    ``generator`` are given; nothing is drawn here.
    """
    if generator is not None:
        if seed is not None:
            raise ValueError("pass seed= or generator=, not both")
        _check_generator(generator, target)
    if seed is not None:
        return check_seed(seed), None
    if generator is not None:
        return None, lambda: _torch_draw(generator, generator.device)
    if type(target.original).__module__.split(".")[0] == "torch":
        device = target.original.device
        return None, lambda: _torch_draw(None, device)
    return None, next_seed


def _done(tensor: Any, prepared: Prepared):
    """Run ``prepared`` (unless inside :func:`gpuinit.dry_run.validate_only`, the one place
    that reads it) and return ``tensor``.

    A torch meta tensor, every argument checked, is returned as it is, as
    ``torch.nn.init`` returns it: a module can then call its init in ``reset_parameters``
    while it is built under ``torch.device("meta")``.  It has no memory to write, and no
    seed is drawn; a zero-element one still gets Kaiming's warning, as in torch.
    """
    if validating():
        return tensor
    if prepared.target.has_memory or isinstance(prepared, Skip):
        prepared.run()
    return tensor


class _Parts(Prepared):
    """A complex tensor's write, made on its real view (:meth:`Target.real_view`, the real
    and imaginary parts as a last axis of 2): ``torch.nn.init`` fills a complex tensor
    through ``torch.view_as_real``, so its values are those of the real view, which obey
    the counter contract as any float tensor of that shape."""

    __slots__ = ("parts",)

    def __init__(self, target: Target, parts: Prepared) -> None:
        super().__init__(target)
        self.parts = parts

    def write(self, target: Target) -> None:
        """Make the write of ``parts`` on ``target``'s real view (the prepared view when
        ``target`` is the prepared target; another tensor's when run on another)."""
        self.parts.write(self.parts.target if target is self.target else target.real_view())


def _refuse_complex(target: Target, function: str) -> None:
    """Raise NotImplementedError, torch's error, for a complex ``target`` of ``function``
    (``trunc_normal_``, ``orthogonal_``: torch's raise on complex tensors)."""
    if target.is_complex:
        raise NotImplementedError(f"{function} is not implemented for complex tensors "
                                  f"(tensor.dtype={target.dtype!r}), as in torch.nn.init")


def _sampled(target: Target, law, seed, generator, stream: int) -> Prepared:
    """Return the prepared fill of ``target`` with the elementwise ``law`` (a
    :mod:`gpuinit.laws` value, drawn by its :mod:`gpuinit.random` sampler; made by
    :meth:`gpuinit.inplace.Target.sample`)."""
    float_format(target.dtype, "tensor.dtype")  # random values need a float tensor
    seed, draw = _seed_rule(target, seed, generator)
    if math.prod(target.shape) == 0:  # checked as any other, and nothing drawn
        seed, draw = (0 if seed is None else seed), None
    sampler, args = law.call()
    return Sample(target, sampler, args, stream, seed, draw)


def _elementwise(target: Target, law, seed, generator, stream: int) -> Prepared:
    """Return the prepared fill of ``target`` with ``law`` (:func:`_sampled`); a complex
    target's is its real view's, each part drawn from ``law.complex_parts()``, as torch
    draws it."""
    if not target.is_complex:
        return _sampled(target, law, seed, generator, stream)
    parts = law.complex_parts()  # NotImplementedError, torch's, for a law it has none of
    return _Parts(target, _sampled(target.real_view(), parts, seed, generator, stream))


def _uniform(target, a=0.0, b=1.0, generator=None, *, seed=None, stream=0) -> Prepared:
    a, b = check_real(a, "a"), check_real(b, "b")
    if a > b:
        raise ValueError(f"a={a} must be <= b={b}")
    # On a complex tensor torch draws the real and the imaginary part each from U[a, b).
    return _elementwise(target, laws.Uniform(a, b), seed, generator, stream)


@_on_the_tensors_stream
def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None, *,
             seed: int | None = None, stream: int = 0):
    """Fill ``tensor`` with U[a, b) values and return it.  Matches ``torch.nn.init.uniform_``."""
    return _done(tensor, _uniform(target_of(tensor, meta=True), a, b, generator, seed=seed,
                                  stream=stream))


def _normal(target, mean=0.0, std=1.0, generator=None, *, seed=None, stream=0) -> Prepared:
    mean, std = check_real(mean, "mean"), check_nonnegative(std, "std")
    # On a complex tensor each part is N(mean, std²/2), as torch draws it.
    return _elementwise(target, laws.Normal(mean, std), seed, generator, stream)


@_on_the_tensors_stream
def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None, *,
            seed: int | None = None, stream: int = 0):
    """Fill ``tensor`` with N(mean, std²) values and return it.

    Matches ``torch.nn.init.normal_`` (a complex tensor's real and imaginary parts are
    each N(mean, std²/2), as torch draws them).
    """
    return _done(tensor, _normal(target_of(tensor, meta=True), mean, std, generator,
                                 seed=seed, stream=stream))


def _trunc_normal(target, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None, *, seed=None,
                  stream=0) -> Prepared:
    # The law checks torch's absolute bounds (and names a, b, mean, std) as it is made.
    law = laws.TruncatedNormal.absolute(std, a, b, mean=mean)
    _refuse_complex(target, "trunc_normal_")
    return _sampled(target, law, seed, generator, stream)


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
    return _done(tensor, _trunc_normal(target_of(tensor, meta=True), mean, std, a, b,
                                       generator, seed=seed, stream=stream))


def _constant(target, val) -> Prepared:
    value = check_fill_value(val, "val")
    check_representable(value, numeric_dtype(target.dtype, "tensor.dtype"), "val")
    return Assign(target, value)


@_on_the_tensors_stream
def constant_(tensor, val: float):
    """Fill ``tensor`` with ``val`` and return it.  Matches ``torch.nn.init.constant_``."""
    return _done(tensor, _constant(target_of(tensor, meta=True), val))


def _ones(target) -> Prepared:
    return _constant(target, 1)


@_on_the_tensors_stream
def ones_(tensor):
    """Fill ``tensor`` with ones and return it.  Matches ``torch.nn.init.ones_``."""
    return constant_(tensor, 1)


def _zeros(target) -> Prepared:
    return _constant(target, 0)


@_on_the_tensors_stream
def zeros_(tensor):
    """Fill ``tensor`` with zeros and return it.  Matches ``torch.nn.init.zeros_``."""
    return constant_(tensor, 0)


def _eye(target) -> Prepared:
    if len(target.shape) != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {target.shape}")
    return Eye(target)


@_on_the_tensors_stream
def eye_(tensor):
    """Fill the 2-D ``tensor`` with the identity matrix (ones on the main diagonal) and
    return it.  Matches ``torch.nn.init.eye_``."""
    return _done(tensor, _eye(target_of(tensor, meta=True)))


def _dirac(target, groups=1) -> Prepared:
    shape = target.shape
    groups = check_int(groups, "groups", 1)
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"dirac_ needs a 3-, 4- or 5-D tensor, got shape {shape}")
    if shape[0] % groups:
        raise ValueError(f"dim 0 of shape {shape} must be divisible by groups={groups}")
    return Dirac(target, groups)


@_on_the_tensors_stream
def dirac_(tensor, groups: int = 1):
    """Fill the 3-, 4- or 5-D ``tensor`` (PyTorch layout ``(out, in, *spatial)``) with the
    Dirac delta, preserving the identity of the inputs in convolutions (per group), and
    return it.  Matches ``torch.nn.init.dirac_``."""
    return _done(tensor, _dirac(target_of(tensor, meta=True), groups))


def _fan(shape, mode: str) -> int:
    """Return the fan ``mode`` names of ``shape``; ``mode`` in any case ("FAN_OUT"), as
    torch lowercases it.  TypeError unless a str, ValueError for another mode."""
    if not isinstance(mode, str):
        raise TypeError(f"mode must be 'fan_in' or 'fan_out', got {type(mode).__name__}")
    if mode.lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} is not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = torch_fans(shape)
    return fan_in if mode.lower() == "fan_in" else fan_out


def _xavier_uniform(target, gain=1.0, generator=None, *, seed=None, stream=0) -> Prepared:
    fan_in, fan_out = torch_fans(target.shape)
    bound = check_nonnegative(gain, "gain") * math.sqrt(6.0 / max(1, fan_in + fan_out))
    return _uniform(target, -bound, bound, generator, seed=seed, stream=stream)


@_on_the_tensors_stream
def xavier_uniform_(tensor, gain: float = 1.0, generator=None, *, seed: int | None = None,
                    stream: int = 0):
    """Fill ``tensor`` with U[-a, a), a = gain·√(6 / (fan_in + fan_out)), and return it.
    Matches ``torch.nn.init.xavier_uniform_``."""
    return _done(tensor, _xavier_uniform(target_of(tensor, meta=True), gain, generator,
                                         seed=seed, stream=stream))


def _xavier_normal(target, gain=1.0, generator=None, *, seed=None, stream=0) -> Prepared:
    fan_in, fan_out = torch_fans(target.shape)
    std = check_nonnegative(gain, "gain") * math.sqrt(2.0 / max(1, fan_in + fan_out))
    return _normal(target, 0.0, std, generator, seed=seed, stream=stream)


@_on_the_tensors_stream
def xavier_normal_(tensor, gain: float = 1.0, generator=None, *, seed: int | None = None,
                   stream: int = 0):
    """Fill ``tensor`` with N(0, gain²·2 / (fan_in + fan_out)) and return it.
    Matches ``torch.nn.init.xavier_normal_``."""
    return _done(tensor, _xavier_normal(target_of(tensor, meta=True), gain, generator,
                                        seed=seed, stream=stream))


_ZERO_ELEMENTS = "Initializing zero-element tensors is a no-op"


def _kaiming(target, a, mode, nonlinearity, generator, seed, stream, uniform) -> Prepared:
    """Return the prepared Kaiming fill of ``target``: U[-√3·std, √3·std) when ``uniform``,
    else N(0, std²), std = gain / √fan; for a zero-element tensor, nothing but torch's
    warning when it runs."""
    if 0 in target.shape:
        _seed_rule(target, seed, generator)  # checks seed= and generator=; draws nothing
        return Skip(target, _ZERO_ELEMENTS)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(target.shape, mode))
    if uniform:
        bound = math.sqrt(3.0) * std
        return _uniform(target, -bound, bound, generator, seed=seed, stream=stream)
    return _normal(target, 0.0, std, generator, seed=seed, stream=stream)


def _kaiming_uniform(target, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None,
                     *, seed=None, stream=0) -> Prepared:
    return _kaiming(target, a, mode, nonlinearity, generator, seed, stream, True)


@_on_the_tensors_stream
def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None, *,
                     seed: int | None = None, stream: int = 0):
    """Fill ``tensor`` with U[-b, b), b = gain·√(3 / fan), gain = calculate_gain(nonlinearity, a),
    and return it.  Matches ``torch.nn.init.kaiming_uniform_`` (a zero-element tensor is
    returned unchanged, with torch's warning)."""
    return _done(tensor, _kaiming_uniform(target_of(tensor, meta=True), a, mode, nonlinearity,
                                          generator, seed=seed, stream=stream))


def _kaiming_normal(target, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None,
                    *, seed=None, stream=0) -> Prepared:
    return _kaiming(target, a, mode, nonlinearity, generator, seed, stream, False)


@_on_the_tensors_stream
def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None, *,
                    seed: int | None = None, stream: int = 0):
    """Fill ``tensor`` with N(0, (gain / √fan)²) and return it.
    Matches ``torch.nn.init.kaiming_normal_`` (a zero-element tensor is returned
    unchanged, with torch's warning)."""
    return _done(tensor, _kaiming_normal(target_of(tensor, meta=True), a, mode, nonlinearity,
                                         generator, seed=seed, stream=stream))


def _orthogonal(target, gain=1.0, generator=None, *, seed=None, stream=0) -> Prepared:
    shape = target.shape
    gain = check_real(gain, "gain")
    if len(shape) < 2:
        raise ValueError(f"orthogonal_ needs a tensor with 2 or more dimensions, got {shape}")
    if 0 in shape:
        _seed_rule(target, seed, generator)  # checks seed= and generator=; draws nothing
        return Skip(target)
    _refuse_complex(target, "orthogonal_")
    form = float_format(target.value_dtype, "tensor.dtype")
    # |entries of Q| <= 1, so gain·Q fits the tensor's dtype when gain does.
    check_representable(gain, float_format(target.dtype).numpy_dtype, "gain")
    seed, draw = _seed_rule(target, seed, generator)
    rows = shape[0]
    cols = math.prod(shape) // rows

    def make(t: Target, seed: int):
        return orthogonal_matrix(rows, cols, gain, seed, stream, form, t.device).reshape(shape)
    return Matrix(target, make, seed, draw)


@_on_the_tensors_stream
def orthogonal_(tensor, gain: float = 1.0, generator=None, *, seed: int | None = None,
                stream: int = 0):
    """Fill ``tensor`` (at least 2-D, read as ``shape[0] × rest``) with gain · a random
    (semi-)orthogonal matrix and return it.  Matches ``torch.nn.init.orthogonal_``.

    The Gaussian matrix is made by our kernel on the tensor's device and factored
    there (cuSOLVER on CUDA); see :mod:`gpuinit.qr`.
    """
    return _done(tensor, _orthogonal(target_of(tensor, meta=True), gain, generator, seed=seed,
                                     stream=stream))


def _sparse_matrix(target: Target, sparsity: float, std: float, generator, seed,
                   stream: int) -> Matrix:
    """Return the prepared sparse matrix of ``target``, 2-D or a complex one's real view."""
    seed, draw = _seed_rule(target, seed, generator)
    if 0 in target.shape:  # checked as any other, and nothing drawn
        return Skip(target)

    def make(t: Target, seed: int):
        return sparse_columns(t.shape, sparsity, std, seed, stream, t.value_dtype, t.device)
    return Matrix(target, make, seed, draw)


def _sparse(target, sparsity, std=0.01, generator=None, *, seed=None, stream=0) -> Prepared:
    if len(target.shape) != 2:
        raise ValueError(f"sparse_ needs a 2-D tensor, got shape {target.shape}")
    sparsity = check_sparsity(sparsity)
    std = check_nonnegative(std, "std")
    if target.is_complex:
        # torch fills a complex tensor with normal_(0, std), each part N(0, std²/2), and
        # zeroes whole entries.
        parts = _sparse_matrix(target.real_view(), sparsity, std / math.sqrt(2.0), generator,
                               seed, stream)
        return _Parts(target, parts)
    float_format(target.value_dtype, "tensor.dtype")
    return _sparse_matrix(target, sparsity, std, generator, seed, stream)


@_on_the_tensors_stream
def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None, *,
            seed: int | None = None, stream: int = 0):
    """Fill the 2-D ``tensor`` with N(0, std²) values, ceil(sparsity·rows) of each column
    set to zero, and return it.  Matches ``torch.nn.init.sparse_``."""
    return _done(tensor, _sparse(target_of(tensor, meta=True), sparsity, std, generator,
                                 seed=seed, stream=stream))


def _deprecated(function):
    """Return ``function``'s name without its trailing underscore, deprecated: the same
    call after a FutureWarning.  Matches torch.nn.init's deprecated names (``uniform``
    for ``uniform_``), with torch's warning."""
    new = function.__name__
    old = new[:-1]

    @functools.wraps(function)
    def deprecated(*args, **kwargs):
        warnings.warn(f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new}`.",
                      FutureWarning, stacklevel=2)
        return function(*args, **kwargs)
    deprecated.__name__ = deprecated.__qualname__ = old
    deprecated.__doc__ = (f"Fill ``tensor`` as :func:`{new}` does and return it, after a "
                          f"FutureWarning.  Matches ``torch.nn.init.{old}``, deprecated in "
                          f"favor of ``{new}``.")
    return deprecated


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)


def prepare_law(tensor, law, *, seed: int | None = None, stream: int = 0) -> Prepared:
    """Return the checked in-place fill of ``tensor`` with ``law``, an elementwise
    :mod:`gpuinit.laws` law (whose ``call() -> (sampler, args)`` names its
    :mod:`gpuinit.random` sampler): ``run()`` writes what
    ``law.sample(shape, seed=seed, stream=stream)`` makes, in the tensor's dtype and on
    its device.  Nothing is written or drawn here; without
    ``seed`` one is drawn when it runs, as for :func:`normal_`.  The in-place twin of
    ``law.sample``, as :func:`normal_` is of :func:`gpuinit.random.normal`.  A complex
    tensor is filled through its real view as torch fills one (``law.complex_parts()``),
    so a scheme's laws reach complex modules as torch's ``reset_parameters`` does."""
    return _elementwise(target_of(tensor, meta=True), law, seed, None, stream)


_PREPARERS = {
    uniform_: _uniform, normal_: _normal, trunc_normal_: _trunc_normal,
    constant_: _constant, ones_: _ones, zeros_: _zeros, eye_: _eye, dirac_: _dirac,
    xavier_uniform_: _xavier_uniform, xavier_normal_: _xavier_normal,
    kaiming_uniform_: _kaiming_uniform, kaiming_normal_: _kaiming_normal,
    orthogonal_: _orthogonal, sparse_: _sparse,
}


def prepare(function, tensor, *args, **kwargs) -> Prepared:
    """Return the checked write of ``function(tensor, *args, **kwargs)``, ``function`` one
    of this module's fills (``gpuinit.init.normal_``): every error the call would raise is
    raised here, and nothing is written or drawn; ``prepare(...).run()`` then makes the
    call's write (a seed not given is drawn then).  ``tensor`` may be a torch meta tensor:
    its write is then run on another tensor of its shape and dtype, ``run(tensor)``.
    TypeError naming ``function`` for anything else."""
    preparer = _PREPARERS.get(function)
    if preparer is None:
        raise TypeError(f"function must be a gpuinit.init fill such as normal_, got "
                        f"{function!r}")
    return preparer(target_of(tensor, meta=True), *args, **kwargs)
