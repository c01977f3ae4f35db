"""Running a plan over a model's tensors, prepared then filled: every fill of the plan is
checked against its tensor and turned into its write first (:func:`prepare_fills`, nothing
written, no seed drawn), then each write runs once, each tensor on its own stream
(:func:`run_plan`), DTensors by their block."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import prefixed
from ..layers.parameter import path_stream
from .dtensors import is_dtensor, local_bytes, shard_of, zero_padding
from .plan import Fill
from .shards import fill_shard


def _data(tensor: torch.Tensor) -> torch.Tensor:
    """Return what a fill writes: a Parameter's ``.data``, else the tensor itself."""
    return tensor.data if isinstance(tensor, nn.Parameter) else tensor


def _record_write(tensor: torch.Tensor) -> None:
    """Advance the version counter of the plan's ``tensor`` itself, as torch's in-place
    init does: a fill writes a Parameter's ``.data`` (or a DTensor's local tensor), whose
    counter is not the Parameter's, and autograd must refuse a backward pass through the
    old values instead of using the new ones; returns None."""
    if not tensor.is_inference():
        from torch.autograd.graph import increment_version

        increment_version(tensor)


class PlannedWrite:
    """The write of one tensor of a plan: what :func:`prepare_fills` returns per tensor.

    ``write`` is the fill's prepared write (its ``run(t)`` fills ``t``), or None for a
    fill with no ``prepare`` (a user's callable in a dict scheme), which is run as
    ``fill(t, seed, stream)`` when the plan runs.  ``source`` is the tensor of the plan
    it was prepared for and ``on`` the tensor it was prepared on (its ``.data``).
    :meth:`run` writes ``t``; :meth:`tensor_of` picks what to write for a tensor of the
    plan.
    """

    __slots__ = ("name", "fill", "seed", "stream", "write", "source", "on")

    def __init__(self, name: str, fill: Fill, seed: int, stream: int, write: Any = None,
                 source: torch.Tensor | None = None, on: torch.Tensor | None = None) -> None:
        self.name, self.fill, self.seed, self.stream = name, fill, seed, stream
        self.write, self.source, self.on = write, source, on

    def tensor_of(self, tensor: torch.Tensor) -> torch.Tensor:
        """Return what to write for ``tensor``, the plan's tensor of this name: the tensor
        prepared on when it is the one prepared for, else its data."""
        return self.on if tensor is self.source and self.on is not None else _data(tensor)

    def __call__(self, t: torch.Tensor, seed: int, stream: int) -> None:
        """Write ``t`` (the fill protocol of :data:`gpuinit.torch.plan.Fill`, for
        :func:`fill_shard`: ``seed`` and ``stream`` are the prepared ones); returns None."""
        self.run(t)

    def run(self, t: torch.Tensor) -> None:
        """Write ``t``, the tensor prepared on or one of its shape and dtype; returns None.

        A user's callable runs here, once; an error it raises carries a note naming the
        tensor."""
        if self.write is not None:
            self.write.run(t)
            return
        try:
            self.fill(t, self.seed, self.stream)
        except Exception as exc:
            exc.add_note(f"raised by the scheme's callable filling {self.name}")
            raise


def _prepare_one(name: str, fill: Fill, tensor: torch.Tensor, seed: int,
                 stream: int) -> PlannedWrite:
    """Return the :class:`PlannedWrite` of ``fill`` on ``tensor``; its errors are prefixed
    with ``name``."""
    prepare = getattr(fill, "prepare", None)
    if prepare is None:
        return PlannedWrite(name, fill, seed, stream)
    if is_dtensor(tensor):
        shard = shard_of(name, tensor)
        on = torch.empty(shard.full_shape, dtype=shard.local.dtype, device="meta")
    else:
        on = _data(tensor)
    try:
        write = prepare(on, seed, stream)
    except (ValueError, TypeError) as exc:
        named = prefixed(exc, f"{name}: ")
        if named is None:
            raise
        raise named from exc
    if is_dtensor(tensor):
        return PlannedWrite(name, fill, seed, stream, write)
    return PlannedWrite(name, fill, seed, stream, write, tensor, on)


def prepare_fills(plan: dict[str, Fill], tensors: dict[str, torch.Tensor], seed: int,
                  streams: Mapping[str, str] | None = None) -> dict[str, PlannedWrite]:
    """Return {tensor name: :class:`PlannedWrite`} of every tensor of ``tensors`` that
    ``plan`` covers, each fill checked against its tensor (meta tensors will do: shapes
    and dtypes are what is checked) and turned into its write.  Nothing is written and no
    seed drawn; each bad option or unfit tensor raises here (ValueError or TypeError, its
    message prefixed with the tensor's name).

    A DTensor's placements are checked first (ValueError naming it for Partial and other
    placements that hold no block of the whole tensor), then its fill as the whole
    tensor's.  A user's callable (a dict-scheme value ``f(tensor, *, seed, stream)``, or
    any fill with no ``prepare``) cannot be checked without running it: it is run once,
    when the plan runs (:func:`run_plan`), after every check of the plan has passed, in
    plan order with the other writes, and an error it raises carries a note naming its
    tensor.  ``streams`` maps a tensor name to the name whose hash is its stream
    (default: its own).
    """
    streams = streams or {}
    writes = {}
    for name, tensor in tensors.items():
        if is_dtensor(tensor):
            shard_of(name, tensor)  # its placements, whatever its rule
        fill = plan.get(name)
        if fill is not None:
            writes[name] = _prepare_one(name, fill, tensor, seed,
                                        path_stream(streams.get(name, name)))
    return writes


def check_plan(plan: dict[str, Fill], tensors: dict[str, torch.Tensor], seed: int,
               streams: Mapping[str, str] | None = None) -> dict[str, PlannedWrite]:
    """Check every fill of ``plan`` against its tensor, writing nothing; returns the
    writes :func:`prepare_fills` prepares (the same checks and errors)."""
    return prepare_fills(plan, tensors, seed, streams)


def run_plan(writes: Mapping[str, PlannedWrite], tensors: dict[str, torch.Tensor],
             progress: Callable[[int, int, str], None] | None,
             padded: Mapping[int, torch.Tensor] | None = None) -> None:
    """Run the write of every tensor of ``tensors`` that ``writes`` (from
    :func:`prepare_fills`) covers, once each, in order, reporting bytes to ``progress``;
    returns None.  ``tensors`` are those prepared on, or (after :func:`materialize`
    allocates them) tensors of the same names, shapes and dtypes.

    A DTensor gets its block of the whole tensor's fill in its local tensor
    (:func:`fill_shard`), and the padding of its FSDP2 buffer (``padded``, from
    :func:`fsdp_padding`) is zeroed; bytes are this rank's.
    """
    total = sum(local_bytes(t) for t in tensors.values())
    done = 0
    for name, tensor in tensors.items():
        write = writes.get(name)
        if is_dtensor(tensor):
            with torch.no_grad():
                if write is not None:
                    fill_shard(name, write, tensor, write.seed, write.stream)
                zero_padding(tensor, padded or {})
        elif write is not None:
            write.run(write.tensor_of(tensor))
        if write is not None:
            _record_write(tensor)
        done += local_bytes(tensor)
        if progress is not None:
            progress(done, total, name)
