"""Allocation for :func:`gpuinit.torch.materialize`: a meta model's tensors on a real
device, uninitialized, each storage once, after checking they fit; built tensors moved."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..devices import device as resolve_device
from ..errors import DeviceError, OutOfMemoryError
from ..memory import check_fits, host_available_bytes
from .dtensors import is_dtensor, local_bytes, retie_dtensors
from .huge_pages import advise_huge_pages
from .plan import Slot, put, tensor_slots
from .storage import shared_storages, storage_stop


def torch_device(device: Any) -> torch.device:
    """Return ``device`` as a torch.device ("auto": CUDA's current device when this torch
    build can use one, else the CPU, as ``gpuinit.device("auto")``); ValueError for a bad
    name, DeviceError for a CUDA device this torch build cannot use."""
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    if target.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device={device!r}: this torch build has no usable CUDA device")
    return target



def allocate_model(model: nn.Module, target: torch.device) -> None:
    """Allocate every meta tensor of ``model`` on ``target``, uninitialized, and move the
    tensors already built there (kept as they are); returns None.

    Tensors sharing one meta storage get one storage on ``target`` (ties and views stay
    shared), tied DTensors stay tied.  :class:`gpuinit.OutOfMemoryError` before anything
    is allocated when the bytes (this rank's, each storage once) exceed the free memory
    of ``target``, or when the allocation fails (the model is then left on meta).
    """
    slots = tensor_slots(model)
    built = [slot for slot in slots if not slot.tensor.is_meta]
    slots = [slot for slot in slots if slot.tensor.is_meta]
    groups = shared_storages(slots)
    shared = [group for group in groups if not is_dtensor(group[0].tensor)]
    tied = [group for group in groups if is_dtensor(group[0].tensor)]
    nbytes = _local_allocation_bytes(slots, shared) + _moved_bytes(built, target)
    _check_memory(nbytes, target)
    for slot in built:
        put(slot, None)  # to_empty would replace them with uninitialized memory
    try:
        _allocate(model, slots, shared, target, nbytes)
        if target.type == "cpu":  # before the first write: see gpuinit.torch.huge_pages
            advise_huge_pages(t for t in (*model.parameters(), *model.buffers())
                              if not is_dtensor(t))
    finally:
        for slot in built:
            put(slot, slot.tensor)
    _move(built, target)
    retie_dtensors(tied)


def _local_allocation_bytes(slots: list[Slot], shared: list[list[Slot]]) -> int:
    """Return the bytes :func:`_allocate` asks of this rank: each tensor held in one slot
    once (a DTensor by its local buffer, :func:`~gpuinit.torch.dtensors.local_bytes`),
    plus one storage per shared group."""
    grouped = {id(slot.tensor) for group in shared for slot in group}
    single = {id(s.tensor): s.tensor for s in slots if id(s.tensor) not in grouped}
    total = sum(local_bytes(t) for t in single.values())
    return total + sum(max(storage_stop(s.tensor) for s in group) for group in shared)


def _moved_bytes(built: list[Slot], target: torch.device) -> int:
    """Return the bytes that moving the built tensors of ``built`` to ``target`` allocates
    there (each tensor once; none for those already on it)."""
    moved = {id(s.tensor): s.tensor for s in built
             if not _same_device(s.tensor.device, target)}
    return sum(local_bytes(t) for t in moved.values())


def _move(built: list[Slot], target: torch.device) -> None:
    """Register in each slot of ``built`` its tensor moved to ``target`` (a Parameter stays
    a Parameter, tied tensors stay tied, a tensor already there is kept as it is)."""
    moved: dict[int, torch.Tensor] = {}
    for slot in built:
        t = slot.tensor
        if id(t) not in moved:
            if _same_device(t.device, target):
                moved[id(t)] = t
            elif isinstance(t, nn.Parameter):
                moved[id(t)] = nn.Parameter(t.detach().to(target), t.requires_grad)
            else:
                moved[id(t)] = t.to(target)
        put(slot, moved[id(t)])


def _same_device(device: torch.device, target: torch.device) -> bool:
    """Return True when ``device`` is ``target`` (a CUDA target without an index is the
    current CUDA device)."""
    if target.type == "cuda" and target.index is None:
        target = torch.device("cuda", torch.cuda.current_device())
    return device == target


def _device_name(target: torch.device) -> str:
    """Return ``target`` as "cpu" or "cuda:N" (the current device when it has no index)."""
    if target.type == "cuda" and target.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(target)


def _free_bytes(target: torch.device) -> int | None:
    """Return the bytes free on ``target`` now, None when unknown: the OS's estimate on
    the CPU; on CUDA the driver's free memory plus what torch's cache holds unused."""
    if target.type == "cpu":
        return host_available_bytes()
    if target.type == "cuda":
        free, _ = torch.cuda.mem_get_info(target)
        cached = torch.cuda.memory_reserved(target) - torch.cuda.memory_allocated(target)
        return int(free) + int(cached)
    return None


def _check_memory(nbytes: int, target: torch.device) -> None:
    """Raise :class:`gpuinit.OutOfMemoryError` when ``nbytes`` do not fit on ``target``
    now; returns None when they do, or when its free memory is unknown."""
    if target.type == "cpu":
        check_fits(nbytes, resolve_device("cpu"))
    elif target.type == "cuda":
        free = _free_bytes(target)
        if nbytes > free:
            raise OutOfMemoryError(nbytes, free, _device_name(target))


def _is_out_of_memory(exc: BaseException) -> bool:
    """Return True when ``exc`` is torch's report of a failed allocation: CUDA's
    OutOfMemoryError, or the CPU allocator's "can't allocate memory" RuntimeError (not
    any RuntimeError whose message mentions allocation)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        phrase in message for phrase in ("can't allocate memory", "cannot allocate memory",
                                         "out of memory"))


def _allocate_shared(group: list[Slot], target: torch.device) -> None:
    """Allocate one storage on ``target`` for the tensors of ``group`` and register, in
    each slot, its tensor's view of it (same offset, shape and strides as on meta)."""
    distinct = {id(slot.tensor): slot.tensor for slot in group}
    nbytes = max(storage_stop(t) for t in distinct.values())
    storage = torch.empty(nbytes, dtype=torch.uint8, device=target).untyped_storage()
    views = {}
    for key, t in distinct.items():
        view = torch.empty(0, dtype=t.dtype, device=target).set_(
            storage, t.storage_offset(), t.shape, t.stride())
        views[key] = nn.Parameter(view, t.requires_grad) if isinstance(t, nn.Parameter) else view
    for slot in group:
        put(slot, views[id(slot.tensor)])


def _allocate(model: nn.Module, slots: list[Slot], shared: list[list[Slot]],
              target: torch.device, nbytes: int) -> None:
    """Allocate every tensor of ``model`` on ``target``, uninitialized; returns None.

    ``to_empty`` allocates the tensors held in one slot; each shared group gets one
    storage (:func:`_allocate_shared`), so ties and views stay shared and nothing is
    allocated twice.  On any failure every slot gets its old tensor back (the model
    stays on meta; not under ``torch.__future__.set_swap_module_params_on_conversion``,
    which swaps tensors in place), and a failed allocation is raised as
    OutOfMemoryError.
    """
    for group in shared:
        for slot in group:
            put(slot, None)  # to_empty would allocate each slot separately
    try:
        model.to_empty(device=target)
        for group in shared:
            _allocate_shared(group, target)
    except BaseException as exc:
        for slot in slots:
            put(slot, slot.tensor)
        if _is_out_of_memory(exc):
            try:
                free = _free_bytes(target)
            except Exception:  # the device is in no state to say
                free = None
            raise OutOfMemoryError(nbytes, free, _device_name(target)) from exc
        raise
