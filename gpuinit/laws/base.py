"""What every law of a tensor's values is: a frozen value that checks itself against a
target, then writes it.

``law.prepare(target, seed, stream)`` makes every check (shape, dtype, arguments) and
returns the write, without writing anything or drawing a seed; ``write.run(target)``
makes it.  ``law.fill(target, seed, stream)`` (or calling the law) does both.  A target
is anything the in-place functions of :mod:`gpuinit.init` accept: a NumPy or CuPy
array, a torch tensor (a meta tensor will do for ``prepare``; its write then runs on
another tensor of its shape and dtype).

The same value describes itself: :meth:`Law.text` (in ``torch.nn.init``'s words),
:meth:`Law.moments`, :meth:`Law.density` and :attr:`Law.bounds`, which
``gpuinit.torch.describe``, ``verify`` and ``gpuinit plot`` read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..errors import LawError

__all__ = ["Bounds", "Deferred", "Law", "Then"]

Bounds = tuple[float, float] | None


class Then:
    """A prepared write followed by edits of the target written (a rule's row edits, a
    law's transform): ``run(t)`` runs ``first`` on ``t``, then ``after(t)``; returns None."""

    __slots__ = ("first", "after")

    def __init__(self, first, after: Callable[[Any], None]) -> None:
        self.first, self.after = first, after

    def run(self, t: Any = None) -> None:
        """Write ``t``; returns None."""
        self.first.run(t)
        self.after(self.first.target.original if t is None else t)


class Deferred:
    """A write with nothing to check before it runs (a computed buffer): ``run(t)`` calls
    ``write(t)``; returns None."""

    __slots__ = ("write",)

    def __init__(self, write: Callable[[Any], None]) -> None:
        self.write = write

    def run(self, t: Any) -> None:
        """Write ``t``; returns None."""
        self.write(t)


class Law:
    """A law of one tensor's values (subclasses are frozen dataclasses, which check their
    arguments when they are made: a law that is made is a law that can be drawn)."""

    def prepare(self, target: Any, seed: int | None = None, stream: int = 0):
        """Return the checked write of ``target`` (``run(target)`` makes it); raises what
        the fill would raise, and writes nothing and draws no seed."""
        raise NotImplementedError

    def fill(self, target: Any, seed: int | None = None, stream: int = 0) -> None:
        """Prepare, then run, the fill of ``target``; returns None."""
        self.prepare(target, seed, stream).run(target)

    def __call__(self, target: Any, seed: int | None = None, stream: int = 0) -> None:
        """Fill ``target`` in place (a law is a plan's fill by itself); returns None."""
        self.fill(target, seed, stream)

    def text(self) -> str:
        """Return the law in words, as ``torch.nn.init`` names it."""
        raise NotImplementedError

    def moments(self, shape: tuple[int, ...] | None = None) -> tuple[float, float] | None:
        """Return the (mean, standard deviation) of one value of a tensor of ``shape``
        (needed only by laws whose values depend on it, such as orthogonal), or None
        when they are not known."""
        return None

    def fourth_moment(self, shape: tuple[int, ...] | None = None) -> float | None:
        """Return the fourth central moment of one value (what the spread of a sample's
        variance follows from), or None when the law does not state it."""
        return None

    def peak_density(self, shape: tuple[int, ...] | None = None) -> float | None:
        """Return the largest value of the density (inf for a point mass), or None when
        the law does not state it."""
        return None

    def tail_reach(self, probability: float, shape: tuple[int, ...] | None = None
                   ) -> float | None:
        """Return how many standard deviations from the mean a value lies beyond with
        ``probability`` (what a sample may reach), or None when the law does not state
        its tails."""
        return None

    def density(self, x):
        """Return the density at ``x`` (a NumPy array); ValueError for a law without one."""
        raise ValueError(f"{self.text()} has no density")

    @property
    def bounds(self) -> Bounds:
        """The interval [low, high] every value lies in, or None when unbounded."""
        return None

    def scaled(self, factor: float) -> Law:
        """Return the law of ``factor`` times a value of this one; ValueError when that is
        not a law of this family."""
        raise ValueError(f"{self.text()} cannot be scaled")


def law_arguments(make: Callable) -> Callable:
    """Return ``make`` (a law's ``__post_init__``, or a method making a law from numbers)
    raising :class:`~gpuinit.errors.LawError` where its checks raise a plain ValueError
    (the message unchanged); TypeError and other errors pass as they are."""

    @functools.wraps(make)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return make(*args, **kwargs)
        except ValueError as exc:
            if type(exc) is not ValueError:
                raise
            raise LawError(str(exc)) from None

    return checked


def keep(law: Law, **values: Any) -> None:
    """Store the checked ``values`` (field name: value) in the frozen dataclass ``law``, in
    place of the arguments it was made with (from its ``__post_init__``); returns None."""
    for name, value in values.items():
        object.__setattr__(law, name, value)
