"""Filling a DTensor's local tensor with its block of the whole tensor's fill, bit for
bit, with no communication."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .. import inplace as gi_inplace
from ..random import Launch, prepare
from .dtensors import LocalShard, shard_of
from .plan import Fill
from .storage import storage_id

# A DTensor's local tensor holds one block of the whole logical tensor (its placements and
# this rank's mesh coordinate say which).  Its fill runs on a meta "stand-in" of the whole
# tensor's shape, so that the rule and gpuinit.init take fans, bounds and stds from the
# whole shape, while the stand-in's target puts the values, and only those of the block,
# into the local tensor:
#   1. the stand-in (and every view of it the fill makes) carries ``gpuinit_target()``,
#      which gpuinit.init asks before ``gpuinit.inplace.wrap``: a _BlockTarget, the whole
#      shape and the block's memory;
#   2. its ``sample`` makes each sampling call as that block of the whole tensor
#      (``full_shape=``/``start=``: the counter contract), whatever the sampler;
#      constants, eye_ and dirac_ write through _BlockArray in whole-tensor coordinates;
#      orthogonal_ and sparse_ hand over the whole matrix, of which the block is kept;
#   3. a rule's own writes to the stand-in (torch's Embedding padding row, Identity's
#      gain) are seen by _ShardWrites, a TorchDispatchMode, and applied to the block.
# A rule that writes another way (a user's callable calling torch's RNG, or gpuinit.init
# on part of the stand-in) raises _NotShardable inside, and its tensor is then made whole
# on the rank and sliced.


class _NotShardable(Exception):
    """A fill wrote to a shard's stand-in in a way its block target cannot place."""


class _BlockTarget(gi_inplace.Target):
    """gpuinit.init's view of a shard: the shape of the whole tensor, the memory of the block.

    ``local`` is the Target of the local tensor (what ``gpuinit.inplace.wrap`` gives);
    sampling calls are made as the block (:meth:`sample`), item assignment goes through
    :class:`_BlockArray`, and :meth:`write` of a whole-tensor array keeps the block.
    """

    def __init__(self, stand_in: torch.Tensor, shard: LocalShard) -> None:
        self.shard = shard
        self.local = gi_inplace.wrap(shard.local)
        super().__init__(stand_in, _BlockArray(self), self.local.device, self.local.dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.shard.full_shape

    @property
    def compute_dtype(self) -> str:
        return self.local.compute_dtype

    @property
    def value_dtype(self) -> str:
        return self.local.value_dtype

    def direct_out(self) -> None:
        """Return None: a block is filled by :meth:`sample` and :meth:`write`, never as the
        ``out=`` of a whole-tensor call."""
        return None

    def sample(self, sampler, *args, **options) -> None:
        """Fill the local tensor with its block of ``sampler(whole shape, *args, **options)``:
        the call made as ``sampler(block shape, *args, full_shape=, start=, out=local)``,
        bit for bit that block (the counter contract); returns None."""
        shard, local = self.shard, self.local
        out = local.direct_out()
        values = sampler(local.shape, *args, full_shape=shard.full_shape, start=shard.start,
                         out=out, **options)
        if out is None:
            local.write(values)

    def prepare_sample(self, sampler, *args, **options) -> Launch:
        """Check the block's call of :meth:`sample` and return its launch."""
        shard = self.shard
        return prepare(sampler, self.local.shape, *args, full_shape=shard.full_shape,
                       start=shard.start, out=self.local.direct_out(), **options)

    def run_sample(self, launch: Launch, seed: int | None = None) -> None:
        """Make the block's call of a :meth:`prepare_sample` launch; returns None."""
        self.local.run_sample(launch, seed)

    def real_view(self) -> _BlockTarget:
        """Return the block target of a complex tensor's real view (``torch.view_as_real``):
        the whole shape and the block's start with a last axis of 2 added, and the local
        tensor's real view, so a fill of the parts is made as that block of the whole."""
        shard = self.shard
        parts = shard._replace(local=torch.view_as_real(shard.local),
                               full_shape=(*shard.full_shape, 2), start=(*shard.start, 0))
        return _BlockTarget(self.original, parts)

    def of_view(self, view: torch.Tensor) -> _BlockTarget:
        """Return this target for ``view``, a view of the stand-in, when it is the whole of
        it (the stand-in itself, ``.data``, ``.detach()``); _NotShardable for a part."""
        stand_in = self.original
        if (view.storage_offset(), view.shape, view.stride()) != (0, stand_in.shape,
                                                                   stand_in.stride()):
            raise _NotShardable("a gpuinit.init call on part of the whole tensor")
        return self

    def write(self, values) -> None:
        """Copy the block of ``values``, an array of the whole tensor, into the local tensor."""
        self.local.write(values[self.shard.block])

    def local_region(self, view: torch.Tensor) -> tuple[slice, ...] | None:
        """Return the slices of the local tensor holding the elements of ``view``, a view of
        the stand-in, or None when it holds none of them.

        The view's elements must form a box of the whole tensor (a select/slice/narrow of
        it, with step 1); _NotShardable otherwise.
        """
        full, strides = self.shard.full_shape, self.original.stride()
        offset = view.storage_offset()
        low = [(offset // s) % n if n else 0 for n, s in zip(full, strides, strict=True)]
        high = [i + 1 for i in low]
        for size, stride in zip(view.shape, view.stride(), strict=True):
            if size == 0:
                return None
            if size == 1:
                continue
            dims = [d for d, (n, s) in enumerate(zip(full, strides, strict=True))
                    if s == stride and n > 1 and high[d] == low[d] + 1]
            if len(dims) != 1:
                raise _NotShardable(f"a view of shape {tuple(view.shape)} and strides "
                                    f"{view.stride()} is not a box of the whole tensor")
            high[dims[0]] = low[dims[0]] + size
        slices = []
        for lo, hi, first, n in zip(low, high, self.shard.start, self.shard.local.shape,
                                    strict=True):
            lo, hi = max(lo - first, 0), min(hi - first, n)
            if hi <= lo:
                return None
            slices.append(slice(lo, hi))
        return tuple(slices)


class _BlockArray:
    """``array`` of a :class:`_BlockTarget`: item assignment in whole-tensor coordinates,
    applied to the elements the block holds (constant_ assigns ``[...]``; eye_ and dirac_
    assign index arrays)."""

    def __init__(self, target: _BlockTarget) -> None:
        self.target = target

    @property
    def shape(self) -> tuple[int, ...]:
        return self.target.shard.full_shape

    @property
    def dtype(self):
        return self.target.local.array.dtype

    def __setitem__(self, key, value) -> None:
        local = self.target.local.array
        if key is Ellipsis:
            self.target.local.assign(..., value)
            return
        xp, start = self.target.xp, self.target.shard.start
        if not (isinstance(key, tuple) and len(key) == len(start)
                and isinstance(value, (int, float))):
            raise _NotShardable(f"an assignment to [{key!r}] of a whole-tensor view")
        coordinates = xp.broadcast_arrays(*(xp.asarray(k) for k in key))
        inside = xp.ones(coordinates[0].shape, dtype=bool)
        for c, first, n in zip(coordinates, start, local.shape, strict=True):
            inside &= (c >= first) & (c < first + n)
        self.target.local.assign(
            tuple(c[inside] - first for c, first in zip(coordinates, start, strict=True)), value)


# In-place ops whose effect on each element does not depend on where it is: a rule's own
# writes of these to the stand-in are applied to the block's part of the view written.
_SCALAR_WRITES = {torch.ops.aten.zero_, torch.ops.aten.fill_, torch.ops.aten.mul_,
                  torch.ops.aten.div_, torch.ops.aten.add_, torch.ops.aten.sub_,
                  torch.ops.aten.clamp_}


def _written(func, args: tuple, kwargs: dict) -> list:
    """Return the tensors that the aten op ``func`` writes in place (its schema's mutable
    arguments)."""
    written = []
    for i, argument in enumerate(func._schema.arguments):
        if argument.alias_info is not None and argument.alias_info.is_write:
            value = args[i] if i < len(args) else kwargs.get(argument.name)
            written += [value] if isinstance(value, torch.Tensor) else []
    return written


class _ShardWrites(TorchDispatchMode):
    """While a shard's fill runs: applies the rule's own in-place writes to the stand-in to
    the part of the block they cover, and raises _NotShardable for writes it cannot place
    (other ops than :data:`_SCALAR_WRITES`, tensor operands, views that are no box)."""

    def __init__(self, target: _BlockTarget) -> None:
        super().__init__()
        self.target = target
        self.storage = storage_id(target.original)

    def carry(self, view: torch.Tensor) -> torch.Tensor:
        """Give ``view``, a view of the stand-in, its ``gpuinit_target()`` (what gpuinit.init
        asks first) and return it."""
        view.gpuinit_target = lambda: self.target.of_view(view)
        return view

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        hits = [t for t in _written(func, args, kwargs)
                if t.is_meta and storage_id(t) == self.storage]
        if not hits:
            result = func(*args, **kwargs)
            if (isinstance(result, torch.Tensor) and result.is_meta
                    and storage_id(result) == self.storage):
                self.carry(result)  # a view of the stand-in: .data, .detach(), t[0]
            return result
        operands = [*args[1:], *kwargs.values()]
        if (func.overloadpacket not in _SCALAR_WRITES or hits != [args[0]]
                or any(isinstance(a, torch.Tensor) and a.dim() > 0 for a in operands)):
            raise _NotShardable(f"the rule writes the tensor with {func}")
        region = self.target.local_region(args[0])
        if region is not None:
            func(self.target.shard.local[region], *args[1:], **kwargs)
        return args[0]


def _fill_whole(shard: LocalShard, fill: Fill, seed: int, stream: int) -> None:
    """Fill ``shard``'s local tensor with its block of ``fill`` run on the whole tensor, made
    on this rank (a temporary of the whole tensor's size); returns None."""
    local = shard.local
    whole = torch.empty(shard.full_shape, dtype=local.dtype, device=local.device)
    fill(whole, seed, stream)
    local.copy_(whole[shard.block])


def fill_shard(name: str, fill: Fill, t: Any, seed: int, stream: int) -> None:
    """Fill this rank's local tensor of the DTensor ``t`` with its block of what ``fill``
    makes of the whole tensor, bit for bit, with no communication; returns None.

    The fill runs on a meta stand-in of the whole shape that carries its block's target
    (see the comment above :class:`_NotShardable`); a fill that writes in a way the
    block cannot place is run on the whole tensor instead (:func:`_fill_whole`).
    ValueError naming ``name`` for unsupported placements.
    """
    shard = shard_of(name, t)
    stand_in = torch.empty(shard.full_shape, dtype=shard.local.dtype, device="meta")
    writes = _ShardWrites(_BlockTarget(stand_in, shard))
    try:
        with writes:
            fill(writes.carry(stand_in), seed, stream)
        return
    except _NotShardable:
        pass
    _fill_whole(shard, fill, seed, stream)
