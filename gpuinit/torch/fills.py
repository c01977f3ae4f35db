"""Running a plan over a model's tensors: every fill checked first (:func:`check_plan`),
then each tensor filled on its own stream (:func:`run_plan`), DTensors by their block."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from ..dry_run import validate_only
from ..layers.parameter import path_stream
from .dtensors import is_dtensor, local_bytes, shard_of, zero_padding
from .mapping import UserFill
from .plan import Fill
from .shards import fill_shard


def check_plan(plan: dict[str, Fill], tensors: dict[str, torch.Tensor], seed: int,
               streams: Mapping[str, str] | None = None) -> None:
    """Run every fill of ``plan`` on its tensor under :func:`validate_only`: each bad
    option or unfit tensor raises here, its message prefixed with the tensor's name,
    and nothing is written; returns None.  A user's own callable is not run (it cannot
    be checked without running it).  ``streams`` maps a tensor name to the name whose
    hash is its stream (default: its own).  A DTensor's placements are checked first
    (ValueError naming it for Partial and other placements that hold no block of the
    whole tensor), then its fill as the block of the whole tensor it will make."""
    streams = streams or {}
    with validate_only():
        for name, tensor in tensors.items():
            sharded = is_dtensor(tensor)
            if sharded:
                shard_of(name, tensor)  # its placements, whatever its rule
            fill = plan.get(name)
            if fill is None or isinstance(fill, UserFill):
                continue
            stream = path_stream(streams.get(name, name))
            try:
                if sharded:
                    fill_shard(name, fill, tensor, seed, stream)
                else:
                    fill(tensor.data if isinstance(tensor, nn.Parameter) else tensor, seed,
                         stream)
            except (ValueError, TypeError) as exc:
                if type(exc) not in (ValueError, TypeError):
                    raise
                raise type(exc)(f"{name}: {exc}") from exc


def run_plan(plan: dict[str, Fill], tensors: dict[str, torch.Tensor], seed: int,
             progress: Callable[[int, int, str], None] | None,
             streams: Mapping[str, str],
             padded: Mapping[int, torch.Tensor] | None = None) -> None:
    """Fill every tensor that ``plan`` covers, in order, reporting bytes to ``progress``;
    returns None.  ``streams`` maps a tensor name to the name whose hash is its stream.

    A DTensor gets its block of the whole tensor's fill in its local tensor
    (:func:`fill_shard`), and the padding of its FSDP2 buffer (``padded``, from
    :func:`fsdp_padding`) is zeroed; bytes are this rank's.
    """
    total = sum(local_bytes(t) for t in tensors.values())
    done = 0
    for name, tensor in tensors.items():
        fill = plan.get(name)
        stream = path_stream(streams.get(name, name))
        if is_dtensor(tensor):
            with torch.no_grad():
                if fill is not None:
                    fill_shard(name, fill, tensor, seed, stream)
                zero_padding(tensor, padded or {})
        elif fill is not None:
            fill(tensor.data if isinstance(tensor, nn.Parameter) else tensor, seed, stream)
        done += local_bytes(tensor)
        if progress is not None:
            progress(done, total, name)
