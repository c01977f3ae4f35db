"""DTensor parameters (FSDP2 ``fully_shard``, tensor parallelism, ``distribute_tensor``):
which block of the whole tensor this rank's local tensor holds, its bytes, FSDP2's
padding, and ties.  Nothing here imports ``torch.distributed`` before a DTensor exists."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import nn

from .plan import Slot, put


def _dtensor_class() -> type | None:
    """Return torch's DTensor class once ``torch.distributed.tensor`` is imported, else None
    (no DTensor can exist before it is, so nothing is imported here)."""
    return getattr(sys.modules.get("torch.distributed.tensor"), "DTensor", None)


def is_dtensor(t: Any) -> bool:
    """Return True when ``t`` is a DTensor (a Parameter holding one included)."""
    cls = _dtensor_class()
    return cls is not None and isinstance(t, cls)


def plain(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return ``tensors`` less the DTensors (their ``data_ptr`` is 0 and their storage a
    stand-in, so the memory checks of plain tensors do not apply to them)."""
    return {n: t for n, t in tensors.items() if not is_dtensor(t)}


class LocalShard(NamedTuple):
    """This rank's part of a DTensor: ``local`` holds ``whole[start : start + local.shape]``."""

    name: str
    local: torch.Tensor  # the unpadded local tensor (FSDP2's is a view of a padded buffer)
    full_shape: tuple[int, ...]
    start: tuple[int, ...]

    @property
    def block(self) -> tuple[slice, ...]:
        """Return the slices of the whole tensor that the local tensor holds."""
        return tuple(slice(s, s + n) for s, n in zip(self.start, self.local.shape, strict=True))


def _placement_types() -> tuple[type, ...]:
    """Return (Shard, Replicate, _StridedShard) of this torch (_StridedShard, FSDP2's
    placement over tensor-parallel shards, is () where torch has none)."""
    from torch.distributed.tensor import Replicate, Shard, placement_types

    return Shard, Replicate, getattr(placement_types, "_StridedShard", ())


def _mesh_coordinate(name: str, t: Any) -> tuple[int, ...]:
    """Return this rank's coordinate in the mesh of the DTensor ``t``, after checking its
    placements: ValueError naming ``name`` for a placement other than Shard, FSDP2's
    _StridedShard and Replicate (Partial: its values are a sum over ranks, of which no
    block is a part) and for a rank outside the mesh."""
    shard, replicate, strided = _placement_types()
    for mesh_dim, placement in enumerate(t.placements):
        if not isinstance(placement, (shard, strided, replicate)):
            raise ValueError(
                f"{name}: DTensor placement {placement} on mesh dimension {mesh_dim} is not "
                "supported: gpuinit makes Shard, _StridedShard (FSDP2) and Replicate "
                "parameters, each rank its own block of the whole tensor; a Partial "
                "parameter's local values are terms of a sum, not a block"
            )
    coordinate = t.device_mesh.get_coordinate()
    if coordinate is None:
        raise ValueError(f"{name}: this rank is not in the parameter's device mesh "
                         f"{t.device_mesh}")
    return tuple(coordinate)


_BLOCKS: dict = {}  # (shape, placements, mesh shape, coordinate) -> _block_indices' result


def _block_indices(shape: tuple[int, ...], placements: tuple, mesh_shape: tuple[int, ...],
                   coordinate: tuple[int, ...]) -> tuple[range | list[int], ...]:
    """Return, per dimension, the indices into a whole tensor of ``shape`` that the rank at
    ``coordinate`` of a mesh of ``mesh_shape`` holds under ``placements``, in order: a
    ``range`` when they are one run, else a list (remembered, as a model repeats few
    layouts).

    Each placement splits its dimension's current indices with the placement's own split
    (``torch.chunk`` for Shard, FSDP2's strided order for _StridedShard) and the rank
    keeps the piece of its coordinate: what torch's
    ``compute_local_shape_and_global_offset`` computes, with every offset kept.
    """
    key = (shape, placements, mesh_shape, coordinate)
    if key not in _BLOCKS:
        _, replicate, _ = _placement_types()
        # Index arithmetic on the CPU, whatever torch's default device (torch.device("meta")
        # would leave no values to read).
        indices = [torch.arange(n, device="cpu") for n in shape]
        for mesh_dim, placement in enumerate(placements):
            if isinstance(placement, replicate):
                continue
            d = placement.dim
            column = indices[d].reshape((1,) * d + (-1,))
            pieces, _ = placement._split_tensor(column, mesh_shape[mesh_dim],
                                                with_padding=False)
            indices[d] = pieces[coordinate[mesh_dim]].reshape(-1)
        runs = []
        for index in indices:
            first = int(index[0]) if len(index) else 0
            run = range(first, first + len(index))
            runs.append(run if torch.equal(index, torch.arange(run.start, run.stop, device="cpu"))
                        else index.tolist())
        _BLOCKS[key] = tuple(runs)
    return _BLOCKS[key]


def shard_of(name: str, t: Any) -> LocalShard:
    """Return the :class:`LocalShard` of this rank's local tensor of the DTensor ``t``.

    ValueError naming ``name`` for an unsupported placement or a rank outside the mesh
    (:func:`_mesh_coordinate`), when this rank's indices of a dimension are not one run
    (the local tensor is then no block of the whole), or when the local tensor's shape is
    not the block's.
    """
    coordinate = _mesh_coordinate(name, t)
    indices = _block_indices(tuple(t.shape), tuple(t.placements), tuple(t.device_mesh.shape),
                             coordinate)
    for d, index in enumerate(indices):
        if not isinstance(index, range):
            raise ValueError(f"{name}: placements {t.placements} give this rank indices "
                             f"{index} of dimension {d}, which are not one block")
    start = tuple(index.start for index in indices)
    local = t._local_tensor
    shape = tuple(len(index) for index in indices)
    if tuple(local.shape) != shape:
        raise ValueError(f"{name}: the local tensor has shape {tuple(local.shape)}, but the "
                         f"placements {t.placements} give this rank a block of shape {shape}")
    return LocalShard(name, local, tuple(t.shape), start)


def local_bytes(t: torch.Tensor) -> int:
    """Return the bytes this rank holds of ``t``: a DTensor's local buffer (FSDP2's padding
    included), a plain tensor's elements."""
    if is_dtensor(t):
        local = t._local_tensor
        return max(local.untyped_storage().nbytes(), local.numel() * local.element_size())
    return t.numel() * t.element_size()


def fsdp_padding(model: nn.Module) -> dict[int, torch.Tensor]:
    """Return {id(parameter): its flat padded buffer} for each FSDP2 (``fully_shard``)
    parameter: FSDP2 keeps a rank's shard of an uneven dimension 0 as the front of a
    buffer padded to the largest shard's size; the rest is padding, which must be zero."""
    buffers = {}
    for module in model.modules():
        state = getattr(module, "_get_fsdp_state", None)
        group = getattr(state(), "_fsdp_param_group", None) if state is not None else None
        for fsdp_param in getattr(group, "fsdp_params", ()):
            data = getattr(fsdp_param, "_sharded_param_data", None)
            if isinstance(data, torch.Tensor):
                buffers[id(fsdp_param.sharded_param)] = data
    return buffers


def zero_padding(t: Any, padded: Mapping[int, torch.Tensor]) -> None:
    """Zero the padding of a DTensor's FSDP2 buffer behind its local tensor; returns None."""
    buffer = padded.get(id(t))
    if buffer is not None and not buffer.is_meta:
        buffer[t._local_tensor.numel():].zero_()


def retie_dtensors(groups: list[list[Slot]]) -> None:
    """Register, in every slot of each group (one DTensor held in several slots: tied
    weights), the tensor that ``to_empty`` left in the group's first slot; returns None."""
    for group in groups:
        first = group[0]
        tensor = (first.module._parameters if first.is_parameter else first.module._buffers)[
            first.attr]
        for slot in group[1:]:
            put(slot, tensor)
