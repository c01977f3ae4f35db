"""Where a requested block lies in its whole logical tensor (counter contract §3).

A request for ``shape`` may be the whole tensor, the flat range starting at
``offset``, or the block ``whole[start[0]:start[0]+shape[0], ...]`` of a tensor of
``full_shape``.  :func:`plan` reduces each to rows that are contiguous in both the
output and the whole tensor, which is what the fill kernels walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .arguments import check_int, check_shape, size_of
from .kernels import MAX_BLOCKS


@dataclass(frozen=True)
class Layout:
    """Rows of a request: row r starts at flat index row_start(r) of the whole tensor."""

    n_rows: int
    row_len: int
    base: int  # flat index of the first element of row 0
    lead_shape: tuple[int, ...]  # the output's dimensions above the rows
    lead_stride: tuple[int, ...]  # their strides in the whole tensor

    def blocks_per_row(self, per_block: int) -> int:
        """Return how many Philox blocks (of ``per_block`` elements) a row can touch."""
        if all(s % per_block == 0 for s in self.lead_stride):
            return -(-(self.base % per_block + self.row_len) // per_block)
        return -(-(per_block - 1 + self.row_len) // per_block)


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


def check_block(shape: tuple[int, ...], full_shape: Any, start: Any):
    """Return (full_shape, start) checked: the block ``shape`` at ``start`` (zeros when
    None) must lie inside ``full_shape``, all of one rank; ValueError/TypeError naming
    the bad argument otherwise."""
    full_shape = check_shape(full_shape, "full_shape")
    start = (0,) * len(full_shape) if start is None else check_shape(start, "start")
    if not len(shape) == len(full_shape) == len(start):
        raise ValueError(
            f"shape={shape}, full_shape={full_shape} and start={start} "
            "must have the same number of dimensions"
        )
    for d, (n, f, s) in enumerate(zip(shape, full_shape, start, strict=True)):
        if s + n > f:
            raise ValueError(
                f"start={start} with shape={shape} leaves full_shape={full_shape} "
                f"in dimension {d}"
            )
    return full_shape, start


def plan(shape: Any, offset: Any = 0, full_shape: Any = None, start: Any = None) -> Layout:
    """Return the Layout of a request; ValueError/TypeError naming a bad argument."""
    shape = check_shape(shape)
    offset = check_int(offset, "offset")
    if full_shape is None:
        if start is not None:
            raise ValueError("start= needs full_shape=, the shape of the whole tensor")
        total = offset + size_of(shape)
        layout = Layout(1, size_of(shape), offset, (1,), (0,))
    else:
        full_shape = check_shape(full_shape, "full_shape")
        if offset:
            raise ValueError("offset= and full_shape= cannot be combined; use start=")
        full_shape, start = check_block(shape, full_shape, start)
        total = size_of(full_shape)
        strides = _c_strides(full_shape)
        k = len(shape) - 1
        while k > 0 and shape[k] == full_shape[k]:
            k -= 1
        row_dims = max(k, 0)
        base = sum(s * st for s, st in zip(start, strides, strict=True))
        lead_shape = shape[:row_dims] or (1,)
        lead_stride = strides[:row_dims] or (0,)
        row_len = size_of(shape[row_dims:]) if shape else 1
        layout = Layout(size_of(lead_shape), row_len, base, lead_shape, lead_stride)
    _check_size(shape, offset, full_shape, total)
    return layout


# The most elements a logical tensor can have: float64 takes two per Philox block,
# and the counter contract numbers blocks below 2**48.
MAX_ELEMENTS = MAX_BLOCKS * 2


def _check_size(shape, offset, full_shape, total) -> None:
    """Raise ValueError naming the argument that takes the tensor past MAX_ELEMENTS."""
    if total <= MAX_ELEMENTS:
        return
    limit = "the 2**49 elements the counter contract numbers"
    if full_shape is not None:
        raise ValueError(f"full_shape={full_shape} has {total} elements, more than {limit}")
    if offset == 0:
        raise ValueError(f"shape={shape} has {total} elements, more than {limit}")
    raise ValueError(f"offset={offset} with shape={shape} reaches element {total}, past {limit}")
