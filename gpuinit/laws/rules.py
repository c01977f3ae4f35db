"""A law with the row edits some schemes make after drawing: torch's zeroed padding row
of an ``Embedding``, the value rows of a fused ``in_proj_weight`` that DeepNet and
T-Fixup scale."""

from __future__ import annotations

from typing import Any

from ..arguments import check_int, check_real
from .base import Bounds, Law, Then

__all__ = ["Rule"]


class Rule:
    """The fill of one tensor: its law, then the edits of slices (``zero_rows``: rows set
    to zero; ``scales``: (dim, start, stop, factor) multiplying the slice start:stop of
    dimension dim), and the tensor's role in its model.
    ``rule.prepare(t, seed, stream)`` checks the edits and the law against ``t`` and
    returns the write; ``rule(t, seed, stream)`` prepares and runs it, returning None.

    Made, a rule checks what does not depend on ``t``: TypeError unless ``law`` is a
    :class:`Law`, rows, dims, starts and stops are integers >= 0 (start <= stop) and the
    factors finite real numbers (TypeError or ValueError naming ``zero_rows`` or
    ``scales``)."""

    __slots__ = ("law", "role", "zero_rows", "scales")

    def __init__(self, law: Law, role: str | None = None, *, zero_rows: tuple[int, ...] = (),
                 scales: tuple[tuple[int, int, int, float], ...] = ()) -> None:
        if not isinstance(law, Law):
            raise TypeError(f"law must be a gpuinit.laws law, got {type(law).__name__}")
        self.law, self.role = law, role
        self.zero_rows = tuple(check_int(row, "zero_rows") for row in zero_rows)
        self.scales = tuple(_check_scale(scale) for scale in scales)

    def __call__(self, t: Any, seed: int | None = None, stream: int = 0) -> None:
        """Prepare, then run, the fill of ``t``; returns None."""
        self.prepare(t, seed, stream).run(t)

    def prepare(self, t: Any, seed: int | None = None, stream: int = 0):
        """Return the checked write of ``t``: its law's, then the edits; ValueError for a
        row or slice outside ``t``."""
        shape = tuple(t.shape)
        rows = shape[0] if shape else 0
        for row in self.zero_rows:
            if not 0 <= row < rows:
                raise ValueError(f"row {row} to zero is outside the tensor's {rows} rows")
        for dim, start, stop, _ in self.scales:
            if not (dim < len(shape) and 0 <= start <= stop <= shape[dim]):
                raise ValueError(f"slice {start}:{stop} of dimension {dim} to scale lies "
                                 f"outside the shape {shape}")
        first = self.law.prepare(t, seed, stream)
        return Then(first, self._edit) if self.scales or self.zero_rows else first

    def _edit(self, t: Any) -> None:
        # In-place operations on views (torch's mul_ and zero_), which a sharded fill
        # applies to the block of each shard it holds.
        for dim, start, stop, factor in self.scales:
            part = t[(slice(None),) * dim + (slice(start, stop),)]
            part *= factor
        for row in self.zero_rows:
            view = t[row]
            if hasattr(view, "zero_"):
                view.zero_()
            else:
                view[...] = 0

    @property
    def bounds(self) -> Bounds:
        """The law's bounds widened by the edits (scaled ends, a zeroed row's 0), or None."""
        bounds = self.law.bounds
        if bounds is None:
            return None
        factors = [f for *_, f in self.scales]
        ends = [e * f for e in bounds for f in [1.0, *factors]]
        ends += [0.0] if self.zero_rows else []
        return (min(ends), max(ends))

    def text(self) -> str:
        """Return the law and the row edits in words."""
        parts = [self.law.text()]
        parts += [f"{'rows' if d == 0 else f'dim {d}'} {a}:{b} x {f:.4g}"
                  for d, a, b, f in self.scales]
        parts += [f"row {r} zero" for r in self.zero_rows]
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"Rule({self.text()}, role={self.role!r})"


def _check_scale(scale: Any) -> tuple[int, int, int, float]:
    """Return one entry of ``scales``, (dim, start, stop, factor), checked: dim, start and
    stop integers >= 0 with start <= stop, factor a finite real number; TypeError or
    ValueError naming ``scales`` otherwise."""
    try:
        dim, start, stop, factor = scale
    except (TypeError, ValueError):
        raise TypeError(f"scales must hold (dim, start, stop, factor) tuples, got "
                        f"{scale!r}") from None
    dim, start, stop = (check_int(dim, "scales dim"), check_int(start, "scales start"),
                        check_int(stop, "scales stop"))
    if start > stop:
        raise ValueError(f"scales start={start} must be <= stop={stop}")
    return dim, start, stop, check_real(factor, "scales factor")
