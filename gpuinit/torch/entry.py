"""The entry points of :mod:`gpuinit.torch`: :func:`init_module`, :func:`materialize`,
:func:`describe` and :func:`verify`, over the plans of :mod:`gpuinit.schemes`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..schemes.describe import describe_plan
from ..schemes.plans import prepare_plan
from ..schemes.verify import verify_model
from ..seeding import check_seed
from .allocation import allocate_model, torch_device
from .dtensors import fsdp_padding
from .fills import run_plan
from .plan import named_tensors, put, refresh_computed, tensor_slots


def _wrapped_module(model: Any) -> nn.Module:
    """Return the module ``model`` wraps, through ``torch.compile``'s ``OptimizedModule``
    (``_orig_mod``) and ``DataParallel``/``DistributedDataParallel`` (``module``), so
    that tensors keep their own names, and with them their streams: a wrapped model
    gets the values the bare one gets.  TypeError unless it is a torch module."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    while True:
        if type(model).__name__ == "OptimizedModule" and isinstance(
                getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        else:
            return model


@torch.no_grad()
def init_module(model: nn.Module, *, seed: int = 0, scheme: Any = "torch",
                progress: Callable[[int, int, str], None] | None = None) -> nn.Module:
    """Re-initialize every parameter and buffer of ``model`` in place; returns ``model``.

    A model wrapped by ``torch.compile`` or ``(Distributed)DataParallel`` is initialized
    as the module it wraps: its tensors keep their names, so it gets the same values.

    ``scheme="torch"`` gives each built-in module the law of its own
    ``reset_parameters`` (Linear/Conv*/ConvTranspose* kaiming_uniform_(a=√5) and
    bias U(±1/√fan_in); Embedding N(0, 1) with the padding row zeroed; norms
    ones/zeros and running stats; RNN/LSTM/GRU U(±1/√hidden); MultiheadAttention
    xavier_uniform_ and zero biases; Transformer xavier_uniform_ on matrices;
    PReLU its init value).  "gpt2" and "llama" are the presets of those models;
    a dict layers patterns or module types over the torch defaults, e.g.
    ``{"*.weight": "he_normal", "*.bias": "zeros"}``.  Each tensor's stream is
    the hash of its qualified name.

    A tensor registered under several names (tied weights) is filled once, by the
    rule and stream of its first name; so is one memory viewed identically by two
    tensors (``b.weight = nn.Parameter(a.weight.data)``), while two tensors whose
    memory partly overlaps raise ValueError naming both.  A tensor pruned by
    ``torch.nn.utils.prune`` gets the rule and stream of its public name in its
    ``<name>_orig`` Parameter; its ``<name>_mask`` is pruning state and is kept
    unchanged (unless a scheme key covers it), and the pruned ``<name>`` is
    recomputed from both.  Every other tensor no built-in rule covers (tensors of
    custom modules, extra tensors of subclasses of built-ins, the tensors of subclasses
    with their own ``reset_parameters``, parametrization
    originals, the originals of legacy ``weight_norm``/``spectral_norm``, whose computed
    attribute is recomputed afterwards) must be covered by the dict, or ValueError names
    them before anything is written.  The plan is prepared, then filled: every fill is
    checked against its tensor and made into its write before the first tensor is
    written (no seed drawn), then each tensor is sampled once.  A callable scheme value
    ``f(tensor, *, seed, stream)`` cannot be checked without running it: it runs once,
    in plan order, after every check of the plan has passed; an error it raises keeps
    its type and gets a note naming its tensor (the tensors before it are written).
    ``progress(done_bytes, total_bytes, name)`` is called after each tensor (e.g.
    :class:`gpuinit.layers.ProgressBar`).

    Sharded parameters (DTensors: FSDP2 ``fully_shard``, ``parallelize_module``,
    ``distribute_tensor``, on any DeviceMesh) are filled by each rank alone, with no
    communication: its local tensor gets its block of the whole tensor, so
    ``p.full_tensor()`` equals, bit for bit, what an unsharded model gets from the same
    seed and scheme, and Replicate parameters are the same bits on every rank.  Laws,
    fans and bounds come from the whole shape; uneven shards work and FSDP2's padding is
    zeroed.  Memory: the local shard only, except for orthogonal_/sparse_ (each rank
    computes the whole matrix from the same Gaussian and keeps its block: temporaries
    of that parameter's whole size, in float32) and for rules that write the
    tensor with other torch ops (a callable scheme value calling torch's RNG, say),
    which are run on a whole-size temporary and sliced.  Placements other than Shard,
    Replicate and FSDP2's _StridedShard (Partial) raise ValueError naming the
    parameter before anything is written.
    """
    given, model = model, _wrapped_module(model)
    seed = check_seed(seed)
    meta = [n for n, t in named_tensors(model).items() if t.is_meta]
    if meta:
        raise ValueError(f"{meta[:3]} are on the meta device: use materialize(model, device), "
                         "which allocates and fills them (and keeps the tensors already "
                         "built)")
    prepared = prepare_plan(model, scheme, seed)
    run_plan(prepared.writes, prepared.filled, progress, fsdp_padding(model))
    refresh_computed(model)
    return given


def materialize(model: nn.Module, device: Any = "auto", *, seed: int = 0,
                scheme: Any = "torch",
                progress: Callable[[int, int, str], None] | None = None) -> nn.Module:
    """Allocate a meta-device ``model`` on ``device`` and initialize it there; returns it.

    ``device`` is a torch device or "auto" (the default: CUDA when torch can use it,
    else the CPU, as ``gpuinit.device("auto")`` and ``gpuinit init-torch`` choose).

    Every tensor is allocated uninitialized on the device (``model.to_empty``, no
    host tensors), then filled in place with gpuinit's kernels by the rules of
    :func:`init_module`.  A tensor registered under several names (tied weights)
    is allocated and filled once and stays tied; tensors viewing one meta storage
    (``b.weight = nn.Parameter(a.weight.view(...))``, detected by the storage they
    share on meta) get one device storage and the same views of it.

    Everything is checked before any memory is allocated, and a failure leaves the
    model on meta (a scheme's callable that raises while the tensors are filled, too:
    every tensor is put back as it came, and the memory allocated is released):
    ValueError for tensors no rule covers (as in :func:`init_module`, and pruning masks
    too: a meta mask has no values, so a scheme key must cover it), for views that
    partly overlap, or a bad option;
    :class:`gpuinit.OutOfMemoryError` (a MemoryError, with the bytes asked and free)
    when the model's bytes, each storage counted once, exceed the device's free
    memory, or when the allocation itself fails.

    A meta model whose parameters are DTensors (after FSDP2 ``fully_shard``, per block
    and root, or ``parallelize_module``) is allocated as each rank's local shards
    (FSDP2 pads them; the memory check counts this rank's bytes) and filled as in
    :func:`init_module`: each rank makes only its block of every whole tensor, with no
    communication and no whole-size temporary, and ``p.full_tensor()`` equals the
    single-process ``materialize`` of the unsharded model with the same seed and
    scheme, bit for bit.  Tied DTensors stay tied.

    A model only partly on meta (``accelerate.init_empty_weights()`` leaves buffers
    built) has its meta tensors allocated and filled; the tensors already built need no
    rule and are kept as they are, moved to ``device``.  A model with no meta tensor is
    refused (ValueError: use :func:`init_module`).  Attributes that legacy
    ``weight_norm``/``spectral_norm`` hooks and pruning compute are recomputed from the
    values written, after every fill (as :func:`init_module` does).
    """
    given, model = model, _wrapped_module(model)
    seed = check_seed(seed)
    target = torch_device(device)
    if target.type == "meta":
        raise ValueError("device='meta': materialize allocates a meta model on a real device "
                         "(e.g. 'cuda' or 'cpu'); nothing was moved")
    tensors = named_tensors(model)
    real = [n for n, t in tensors.items() if not t.is_meta]
    if real and len(real) == len(tensors):
        raise ValueError(f"{real[:3]} are not on the meta device, and no tensor is: materialize "
                         "takes a model built under torch.device('meta'); use init_module for "
                         "built tensors")
    # checked on the meta tensors (shapes and dtypes); the built ones are kept
    prepared = prepare_plan(model, scheme, seed, keep=real)
    as_given = tensor_slots(model)  # what a failed fill puts back
    allocate_model(model, target)
    try:
        filled = prepared.filled  # the meta tensors, now allocated: read them anew
        allocated = {n: t for n, t in named_tensors(model).items() if n in filled}
        run_plan(prepared.writes, allocated, progress, fsdp_padding(model))
        refresh_computed(model)
    except BaseException:
        # A scheme's callable (run last, unchecked) raised, or the fill was interrupted:
        # the model gets its meta tensors back rather than keep uninitialized memory.
        for slot in as_given:
            put(slot, slot.tensor)
        raise
    return given


def describe(model: nn.Module, scheme: Any = "torch"):
    """Return the plan of ``scheme`` over ``model`` as a table, writing nothing: a
    :class:`gpuinit.schemes.PlanTable`, a list of one dict per tensor (keys tensor,
    shape, dtype, role, law, std, bounds) whose ``str()`` is the aligned table.

    The plan is built and checked as :func:`init_module` builds and checks it, so
    the same errors are raised; a meta-device model works as well (nothing is
    allocated).  ``print(describe(model, scheme=("megatron", {"std": 0.01})))``.
    """
    return describe_plan(_wrapped_module(model), scheme)


def verify(model: nn.Module, scheme: Any = "torch", *, seed: int | None = None):
    """Return how plausible ``model``'s values are under ``scheme``'s laws, writing
    nothing: a :class:`gpuinit.schemes.verify.VerifyReport`, one row per tensor of the
    plan :func:`describe` prints (NaN/inf, never-written memory, bounds, constants
    exactly, mean and std against the law's by their sampling error), ``report.ok``
    True when no tensor is flagged; with ``seed``, each tensor is also compared bit for
    bit with gpuinit's fill for that seed.  See :mod:`gpuinit.schemes.verify`.
    """
    return verify_model(_wrapped_module(model), scheme, seed=seed)
