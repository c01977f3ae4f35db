"""Which tensors of a model share memory: identical views (filled once), partial
overlaps (refused), and the storages several registrations hold."""

from __future__ import annotations

from typing import Any

import torch

from .plan import Slot


def storage_id(t: torch.Tensor) -> int | None:
    """Return a key equal for tensors on one storage, None for a tensor without one (a
    wrapper subclass): its StorageImpl's address, which views of one meta storage
    share too (their ``data_ptr`` is 0 there)."""
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError, TypeError):
        return None


def storage_stop(t: torch.Tensor) -> int:
    """Return the byte after the last one ``t`` views in its storage (0 when empty)."""
    if t.numel() == 0:
        return 0
    steps = zip(t.shape, t.stride(), strict=True)
    last = t.storage_offset() + sum((n - 1) * step for n, step in steps)
    return (last + 1) * t.element_size()


def _extent(t: torch.Tensor) -> tuple[Any, int, int] | None:
    """Return (memory key, first byte, byte after the last) of the memory ``t`` views,
    None when it is empty.  On real devices the bytes are addresses and the key the
    device; on meta (no addresses) they are offsets in the storage, the key the storage."""
    storage = storage_id(t)
    if t.numel() == 0 or storage is None:
        return None
    start, stop = t.storage_offset() * t.element_size(), storage_stop(t)
    if t.is_meta:
        return ("meta", storage), start, stop
    return t.device, t.data_ptr(), t.data_ptr() + stop - start


def same_memory(tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    """Return {name: first name} for each tensor that is exactly the view of an earlier
    one (same memory, dtype, shape and strides): filling the first fills it.

    ValueError naming both for two tensors whose bytes overlap otherwise, since
    filling one would overwrite part of the other (decided on byte ranges, so two
    interleaved views of one buffer are refused too).
    """
    spans: dict[Any, list] = {}
    for index, (name, t) in enumerate(tensors.items()):
        extent = _extent(t)
        if extent is not None:
            key, start, stop = extent
            spans.setdefault(key, []).append((start, stop, index, name, t))
    same: dict[str, str] = {}
    for group in spans.values():
        group.sort(key=lambda span: span[:3])
        reach = None  # the span reaching furthest so far
        for span in group:
            start, stop, _, name, t = span
            if reach is not None and start < reach[1]:
                first, other = reach[3], reach[4]
                if (start, stop) == reach[:2] and (t.dtype, t.shape, t.stride()) == (
                        other.dtype, other.shape, other.stride()):
                    same[name] = first
                    continue
                first, name = sorted((first, name), key=list(tensors).index)
                raise ValueError(f"{first!r} and {name!r} overlap in memory but are not the "
                                 "same view of it (offset, shape, strides or dtype differ): "
                                 "filling one would overwrite part of the other; give them "
                                 "separate storage")
            if reach is None or stop > reach[1]:
                reach = span
    return same


def shared_storages(slots: list[Slot]) -> list[list[Slot]]:
    """Return the slots of each storage held in more than one slot: a tied tensor, or
    several tensors viewing one storage."""
    groups: dict[Any, list[Slot]] = {}
    for slot in slots:
        storage = storage_id(slot.tensor)
        key = ("tensor", id(slot.tensor)) if storage is None else storage
        groups.setdefault(key, []).append(slot)
    return [group for group in groups.values() if len(group) > 1]
