"""Prepared writes of one in-place target: every check made, nothing written, no seed drawn.

A :class:`Prepared` is what :func:`gpuinit.init.prepare` returns (and what the laws of a
:mod:`gpuinit.torch` plan prepare): the values of one write, checked against the target's
shape and dtype.  ``prepared.run()`` makes the write, into the target it was prepared on
or, with ``run(tensor)``, into another tensor of the same shape and dtype (a meta tensor's
fill prepared before the tensor is allocated, then run on the allocated one).  A seed not
given is drawn by ``run`` only, so a preparation that fails draws nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from .devices import torch_stream_of
from .inplace import Target, wrap

# Draws one seed when the write runs (torch's generator, gpuinit's sequence).
Draw = Callable[[], int]


def target_of(tensor: Any, *, meta: bool = False) -> Target:
    """Return the :class:`~gpuinit.inplace.Target` a write of ``tensor`` goes through: the
    one ``tensor`` carries, when it has a ``gpuinit_target()`` method (gpuinit.torch gives
    a DTensor shard's stand-in one, returning the Target of its block), else
    :func:`gpuinit.inplace.wrap`'s (``meta=True``: a meta tensor gives a target to
    prepare on)."""
    carried = getattr(tensor, "gpuinit_target", None)
    return wrap(tensor, meta=meta) if carried is None else carried()


class Prepared:
    """One checked write of ``target``; :meth:`run` makes it."""

    __slots__ = ("target",)

    def __init__(self, target: Target) -> None:
        self.target = target

    def run(self, tensor: Any = None) -> None:
        """Write the target (or ``tensor``, of the prepared shape and dtype) and return None.

        ValueError when it has no memory (a meta tensor)."""
        target = self.target
        if tensor is not None and tensor is not target.original:
            target = target_of(tensor)
        target.check_writable()
        with torch_stream_of(target.original):
            self.write(target)
        target.mark_written()

    def write(self, target: Target) -> None:
        raise NotImplementedError


def _seed(seed: int | None, draw: Draw | None) -> int:
    return seed if seed is not None else draw()


class Sample(Prepared):
    """A :mod:`gpuinit.random` sampler's values: ``sampler(shape, *args, seed, stream)`` in
    the target's dtype and device, with the seed given or drawn by ``draw`` at run."""

    __slots__ = ("sampler", "args", "stream", "seed", "draw", "launch")

    def __init__(self, target: Target, sampler, args: tuple, stream: int, seed: int | None,
                 draw: Draw | None) -> None:
        super().__init__(target)
        self.sampler, self.args, self.stream = sampler, args, stream
        self.seed, self.draw = seed, draw
        self.launch = target.prepare_sample(sampler, *args, seed=seed, stream=stream,
                                            device=target.device, dtype=target.compute_dtype)

    def write(self, target: Target) -> None:
        seed = _seed(self.seed, self.draw)
        if target is self.target:
            target.run_sample(self.launch, seed)
        else:
            target.sample(self.sampler, *self.args, seed=seed, stream=self.stream,
                          device=target.device, dtype=target.compute_dtype)


class Assign(Prepared):
    """Every element ``value`` (constant_, ones_, zeros_)."""

    __slots__ = ("value",)

    def __init__(self, target: Target, value: int | float) -> None:
        super().__init__(target)
        self.value = value

    def write(self, target: Target) -> None:
        target.assign(..., self.value)


class Eye(Prepared):
    """The identity matrix of a 2-D target (eye_)."""

    __slots__ = ()

    def write(self, target: Target) -> None:
        xp = target.xp
        target.assign(..., 0)
        n = min(target.shape)
        target.assign((xp.arange(n), xp.arange(n)), 1)


class Dirac(Prepared):
    """The Dirac delta of a 3-, 4- or 5-D target, per group (dirac_)."""

    __slots__ = ("groups",)

    def __init__(self, target: Target, groups: int) -> None:
        super().__init__(target)
        self.groups = groups

    def write(self, target: Target) -> None:
        shape, xp = target.shape, target.xp
        per_group = shape[0] // self.groups
        d = xp.arange(min(per_group, shape[1]))
        centre = tuple(k // 2 for k in shape[2:])
        target.assign(..., 0)
        for g in range(self.groups):
            target.assign((g * per_group + d, d, *centre), 1)


class Matrix(Prepared):
    """Values computed apart and copied in (orthogonal_, sparse_): ``make(target, seed)``
    returns them, with the seed given or drawn by ``draw`` at run."""

    __slots__ = ("make", "seed", "draw")

    def __init__(self, target: Target, make: Callable[[Target, int], Any], seed: int | None,
                 draw: Draw | None) -> None:
        super().__init__(target)
        self.make, self.seed, self.draw = make, seed, draw

    def write(self, target: Target) -> None:
        target.write(self.make(target, _seed(self.seed, self.draw)))


class Skip(Prepared):
    """Nothing to write (a zero-element tensor), with ``warning`` (or None) issued at run."""

    __slots__ = ("warning",)

    def __init__(self, target: Target, warning: str | None = None) -> None:
        super().__init__(target)
        self.warning = warning

    def run(self, tensor: Any = None) -> None:
        """Issue the warning, if any; returns None."""
        if self.warning is not None:
            warnings.warn(self.warning, stacklevel=5)  # the caller of a gpuinit.init fill

    def write(self, target: Target) -> None:
        """Write nothing."""
