"""Initialize PyTorch modules in place with gpuinit's kernels, on whatever device they live.

``init_module(model, seed=0)`` re-initializes every parameter and buffer of an
``nn.Module`` with the law its own ``reset_parameters`` uses (``scheme="torch"``),
a GPT-2 preset (``scheme="gpt2"``), or a dict of name patterns / module types
to initializers layered over the torch defaults.  ``materialize(model, "cuda")``
takes a model built on the meta device, allocates it on the target device and
initializes it there: no CPU tensors, no host copies, no double initialization;
tied weights stay tied, and a model larger than the device's free memory raises
:class:`gpuinit.OutOfMemoryError` with nothing allocated.

Each tensor draws from its own stream, the hash of its qualified name
("encoder.layers.0.linear1.weight"), so values depend on (seed, name, law)
only, the same on every device and in every run.  Needs the ``torch`` extra.
"""

from __future__ import annotations

import contextvars
import fnmatch
import math
import sys
import threading
from collections.abc import Callable, Collection, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

try:
    import torch
    from torch import nn
    from torch.nn.utils import parametrize, prune
    from torch.utils._python_dispatch import TorchDispatchMode
except ModuleNotFoundError as exc:  # the torch extra is not installed
    raise ModuleNotFoundError(f"gpuinit.torch needs PyTorch ({exc}): "
                              'pip install "gpuinit[torch]"', name=exc.name) from exc

from . import init as gi_init
from . import inplace as gi_inplace
from . import laws
from . import random as gi_random
from .devices import device as resolve_device
from .dry_run import validate_only, validating
from .errors import DeviceError, OutOfMemoryError
from .fans import torch_fans
from .initializers import (
    Initializer,
    deterministic,
    get,
    orthogonal,
    sparse,
)
from .layers.parameter import path_stream
from .memory import check_fits, host_available_bytes
from .seeding import check_seed

# One filling action: fill(tensor, seed, stream) writes the tensor in place.
Fill = Callable[[torch.Tensor, int, int], None]


def _uniform(bound: float) -> Fill:
    return lambda t, seed, stream: gi_init.uniform_(t, -bound, bound, seed=seed, stream=stream)


def _normal(std: float) -> Fill:
    return lambda t, seed, stream: gi_init.normal_(t, 0.0, std, seed=seed, stream=stream)


def _constant(value: float) -> Fill:
    return lambda t, seed, stream: gi_init.constant_(t, value)


def _xavier_uniform(t, seed, stream):
    gi_init.xavier_uniform_(t, seed=seed, stream=stream)


def _xavier_normal(t, seed, stream):
    gi_init.xavier_normal_(t, seed=seed, stream=stream)


def _linear_like(module, prefix: str, plan: dict) -> None:
    """Linear, ConvNd, ConvTransposeNd: kaiming_uniform_(a=√5), bias U(±1/√fan_in)."""
    weight = module.weight
    fan_in = torch_fans(tuple(weight.shape))[0] if weight.dim() >= 2 else 0
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    plan[prefix + "weight"] = _uniform(bound)  # = kaiming_uniform_(a=√5)
    if getattr(module, "bias", None) is not None:
        plan[prefix + "bias"] = _uniform(bound)


def _torch_rules(module: nn.Module, prefix: str, plan: dict) -> bool:
    """Add the torch default of ``module``'s own tensors to ``plan``; False if unknown."""
    p = prefix
    if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
        _linear_like(module, p, plan)
    elif isinstance(module, nn.Bilinear):
        bound = 1.0 / math.sqrt(module.weight.size(1))
        plan[p + "weight"] = _uniform(bound)
        if module.bias is not None:
            plan[p + "bias"] = _uniform(bound)
    elif isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        padding = module.padding_idx

        def embedding(t, seed, stream, padding=padding):
            gi_init.normal_(t, 0.0, 1.0, seed=seed, stream=stream)
            if padding is not None and not validating():
                t.data[padding].zero_()  # torch's _fill_padding_idx_with_zero, on the device
        plan[p + "weight"] = embedding
    elif isinstance(module, nn.modules.batchnorm._NormBase):  # BatchNorm*, InstanceNorm*
        for name, fill in (("weight", _constant(1.0)), ("bias", _constant(0.0)),
                           ("running_mean", _constant(0.0)), ("running_var", _constant(1.0)),
                           ("num_batches_tracked", _constant(0))):
            if getattr(module, name, None) is not None:
                plan[p + name] = fill
    elif isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)):
        if getattr(module, "weight", None) is not None:
            plan[p + "weight"] = _constant(1.0)
        if getattr(module, "bias", None) is not None:
            plan[p + "bias"] = _constant(0.0)
    elif isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
        for name, _ in module.named_parameters(recurse=False):
            plan[p + name] = _uniform(bound)
    elif isinstance(module, nn.MultiheadAttention):
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            if getattr(module, name, None) is not None:
                plan[p + name] = _xavier_uniform
        if module.in_proj_bias is not None:
            plan[p + "in_proj_bias"] = _constant(0.0)
        if module.out_proj.bias is not None:
            plan[p + "out_proj.bias"] = _constant(0.0)
        for name in ("bias_k", "bias_v"):
            if getattr(module, name, None) is not None:
                plan[p + name] = _xavier_normal
    elif isinstance(module, nn.PReLU):
        plan[p + "weight"] = _constant(module.init)
    elif isinstance(module, nn.Transformer):
        for name, parameter in module.named_parameters():
            if parameter.dim() > 1:
                plan[p + name] = _xavier_uniform
    else:
        return False
    return True


def named_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return {qualified name: tensor} of every parameter and buffer (tied ones once)."""
    tensors: dict[str, torch.Tensor] = dict(model.named_parameters())
    tensors.update({n: b for n, b in model.named_buffers() if b is not None})
    return tensors


class _Slot(NamedTuple):
    """One registration of a tensor: ``module._parameters[attr]`` or ``module._buffers[attr]``."""

    name: str  # the qualified name, e.g. "head.weight"
    module: nn.Module
    attr: str
    is_parameter: bool
    tensor: torch.Tensor


def _slots(model: nn.Module) -> list[_Slot]:
    """Return every registration of a parameter or buffer of ``model``, a tied tensor once
    under each of its names, in ``named_modules`` order (so a tensor's first slot carries
    the name that :func:`named_tensors` gives it)."""
    slots = []
    for prefix, module in model.named_modules(remove_duplicate=False):
        prefix = f"{prefix}." if prefix else ""
        for table, is_parameter in ((module._parameters, True), (module._buffers, False)):
            slots += [_Slot(prefix + attr, module, attr, is_parameter, t)
                      for attr, t in table.items() if t is not None]
    return slots


def _put(slot: _Slot, tensor: torch.Tensor | None) -> None:
    """Register ``tensor`` in ``slot`` (through ``setattr`` for parameters, so modules that
    mirror their parameters, as RNNs do in ``_flat_weights``, see it)."""
    if slot.is_parameter:
        setattr(slot.module, slot.attr, tensor)
    else:
        slot.module._buffers[slot.attr] = tensor


def _aliases(slots: list[_Slot]) -> dict[str, str]:
    """Return {second name: first name} for each tensor registered under several names."""
    first: dict[int, str] = {}
    aliases = {}
    for slot in slots:
        name = first.setdefault(id(slot.tensor), slot.name)
        if name != slot.name:
            aliases[slot.name] = name
    return aliases


def _pruning_hooks(model: nn.Module):
    """Yield (prefix, module, hook) for each tensor that ``torch.nn.utils.prune``
    reparametrizes (``hook._tensor_name``): its Parameter is ``<name>_orig``, its mask
    the buffer ``<name>_mask``, and ``hook`` recomputes ``<name>`` before each forward."""
    for name, module in model.named_modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):  # PruningContainer included
                yield (f"{name}." if name else ""), module, hook


def _pruned(model: nn.Module) -> dict[str, str]:
    """Return {public name: name of its ``_orig`` Parameter} of every pruned tensor."""
    return {p + h._tensor_name: f"{p}{h._tensor_name}_orig" for p, _, h in _pruning_hooks(model)}


def _pruning_masks(model: nn.Module) -> set[str]:
    """Return the qualified names of the pruning masks (``<name>_mask`` buffers)."""
    return {f"{p}{h._tensor_name}_mask" for p, _, h in _pruning_hooks(model)}


def _parametrized(model: nn.Module) -> set[str]:
    """Return the qualified names of tensors computed by ``torch.nn.utils.parametrize``
    (their tensors are the ``parametrizations.<name>.original*`` Parameters)."""
    names = set()
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module):
            prefix = f"{name}." if name else ""
            names.update(prefix + t for t in module.parametrizations)
    return names


def _refresh_pruned(model: nn.Module) -> None:
    """Recompute each pruned attribute (``weight = weight_orig * weight_mask``) from the
    new values, as the pruning forward-pre-hook does before each forward."""
    with torch.enable_grad():  # as prune computes it: a function of <name>_orig
        for _, module, hook in list(_pruning_hooks(model)):
            hook(module, None)


def torch_plan(model: nn.Module) -> dict[str, Fill]:
    """Return {name: fill} by each built-in module's torch default, keyed as the modules
    name their tensors (``weight`` of a pruned Linear, not ``weight_orig``).

    Modules are visited children first, so a parent's rule (MultiheadAttention's
    zero ``out_proj.bias``, Transformer's xavier_uniform_) overrides its children's.
    Tensors of other modules, and extra tensors of built-in subclasses, get no rule.
    """
    plan: dict[str, Fill] = {}
    for name, module in reversed(list(model.named_modules())):
        _torch_rules(module, f"{name}." if name else "", plan)
    return plan


def _rules_on_tensors(model: nn.Module, plan: dict[str, Fill]) -> dict[str, Fill]:
    """Return ``plan`` keyed by tensor names: a pruned tensor's rule moves to its ``_orig``
    Parameter; rules for the second names of tied tensors are dropped (a tied tensor
    takes its first name's rule) and so are rules for parametrized tensors (their
    ``original`` Parameters need a scheme rule).  RuntimeError for a rule naming
    anything else that is not a tensor of the model: that is a bug of this module.
    """
    slots = _slots(model)
    tensor_names = {slot.name for slot in slots}
    aliases, pruned, parametrized = _aliases(slots), _pruned(model), _parametrized(model)
    result: dict[str, Fill] = {}
    for name, fill in plan.items():
        name = pruned.get(name, name)
        if name in aliases or name in parametrized:
            continue
        if name not in tensor_names:
            raise RuntimeError(f"gpuinit.torch bug: a rule names {name!r}, which is not a "
                               "parameter or buffer of the model; please report it")
        result[name] = fill
    return result


def _layered_fill(spec: Any) -> tuple[Fill, bool]:
    """Return (fill, needs_two_dims) for a scheme value: a gi.init function name
    ("kaiming_normal_") or ``(name, kwargs)``, a gpuinit/Keras initializer id or object
    (applied with PyTorch's layout and fans), or a callable ``f(tensor, *, seed, stream)``."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        name, options = spec
        if not isinstance(options, Mapping):
            raise TypeError(f"scheme value {spec!r}: the options of {name} must be a dict of "
                            f"keyword arguments, got {type(options).__name__}")
        return _init_function(name, dict(options)), name not in _ELEMENTWISE
    if isinstance(spec, str) and spec.endswith("_"):
        return _init_function(spec, {}), spec not in _ELEMENTWISE
    if callable(spec) and not isinstance(spec, (Initializer, type, str)):
        return _UserFill(spec), False
    return _catalogue_fill(get(spec))


class _UserFill:
    """A user's ``f(tensor, *, seed, stream)``: opaque, so it is not run while validating."""

    def __init__(self, function: Callable) -> None:
        self.function = function

    def __call__(self, t, seed: int, stream: int) -> None:
        self.function(t, seed=seed, stream=stream)


_ELEMENTWISE = {"uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_"}
_NO_SEED = {"constant_", "ones_", "zeros_", "eye_", "dirac_"}


def _init_function(name: str, options: dict) -> Fill:
    function = getattr(gi_init, name, None)
    if function is None or name not in gi_init.__all__ or not name.endswith("_"):
        raise ValueError(f"unknown gpuinit.init function {name!r}")
    if name in _NO_SEED:
        return lambda t, seed, stream: function(t, **options)
    return lambda t, seed, stream: function(t, **options, seed=seed, stream=stream)


def _fill_law(t, law: laws.Law, seed: int, stream: int) -> None:
    """Fill ``t`` in place from ``law`` by the gpuinit.init function of its kind."""
    if isinstance(law, laws.Uniform):
        gi_init.uniform_(t, law.low, law.high, seed=seed, stream=stream)
    elif isinstance(law, laws.Normal):
        gi_init.normal_(t, law.mean, law.std, seed=seed, stream=stream)
    else:
        low, high = law.bounds
        gi_init.trunc_normal_(t, law.mean, law.std, low, high, seed=seed, stream=stream)


def _catalogue_fill(init: Initializer) -> tuple[Fill, bool]:
    """Return the fill of a catalogue initializer with PyTorch's layout: the same law,
    fans from ``torch_fans``; orthogonal/identity/dirac/sparse as their gi.init twins."""
    if init.has_law:
        def fill(t, seed, stream, init=init):
            shape = tuple(t.shape)
            _fill_law(t, init.law(shape, torch_fans(shape) if init.law_uses_fans else None),
                      seed, stream)
        return fill, init.law_uses_fans
    if isinstance(init, (deterministic.Zeros, deterministic.Ones, deterministic.Constant)):
        value = {deterministic.Zeros: 0.0, deterministic.Ones: 1.0}.get(type(init))
        value = init.value if value is None else value
        if deterministic.is_array_value(value):
            raise ValueError(f"{type(init).__name__} with an array value has no PyTorch-layout "
                             "form; pass a callable f(tensor, *, seed, stream) that copies it")
        return _constant(value), False
    if isinstance(init, orthogonal.Orthogonal):
        gain = init.gain
        return (lambda t, s, k: gi_init.orthogonal_(t, gain, seed=s, stream=k)), True
    if isinstance(init, deterministic.Identity):
        def identity(t, seed, stream, gain=init.gain):
            gi_init.eye_(t)
            if not validating():
                t.mul_(gain)
        return identity, True
    if isinstance(init, sparse.Sparse):
        sparsity, std = init.sparsity, init.std
        return (lambda t, s, k: gi_init.sparse_(t, sparsity, std, seed=s, stream=k)), True
    raise ValueError(f"{type(init).__name__} has no PyTorch-layout form; pass a gpuinit.init "
                     "function name or a callable f(tensor, *, seed, stream)")


def gpt2_depth(residual_names) -> int:
    """Return n_layer for the GPT-2 preset: the distinct indexed blocks holding the
    residual projections, plus half the count of those outside any block."""
    blocks, loose = set(), 0
    for name in residual_names:
        parts = name.split(".")
        index = next((i for i, part in enumerate(parts) if part.isdigit()), None)
        if index is None:
            loose += 1
        else:
            blocks.add(".".join(parts[:index + 1]))
    return len(blocks) + loose // 2


def build_plan(model: nn.Module, scheme: Any = "torch", *,
               exempt: Collection[str] = ()) -> dict[str, Fill]:
    """Return {tensor name: fill} for every parameter and buffer of ``model``.

    ``scheme`` is a dict ({pattern or module type: initializer}, layered over the
    torch defaults), a registered name ("torch", "gpt2", "llama", "hf", "megatron",
    "olmo", "olmo_core", "neox", "deepnet", "t-fixup", "mup") or ``(name,
    {options})``: see :mod:`gpuinit.schemes`, whose ValueError lists the valid
    names or options for an unknown one.  Tensors are named as
    :func:`named_tensors` names them: a tied tensor by its first name, a pruned one
    by its ``<name>_orig`` Parameter (which takes the rule of ``<name>``).
    ValueError naming every tensor that no rule covers, except those in ``exempt``,
    before anything is written: tensors of modules that are not torch built-ins,
    extra tensors of subclasses of built-ins, parametrization originals and pruning
    masks all need a scheme dict rule (or, for a named scheme, a role or an override).
    """
    from .schemes import scheme_plan  # imported here: gpuinit.schemes imports this module

    if isinstance(scheme, Mapping):
        plan = _rules_on_tensors(model, torch_plan(model))
        _apply_mapping(model, scheme, plan)
    else:
        plan = scheme_plan(model, scheme, exempt)
    _check_covered(model, plan, exempt)
    return plan


def describe(model: nn.Module, scheme: Any = "torch"):
    """Return the plan of ``scheme`` over ``model`` as a table, writing nothing: a
    :class:`gpuinit.schemes.PlanTable`, a list of one dict per tensor (keys tensor,
    shape, dtype, role, law, std, bounds) whose ``str()`` is the aligned table.

    The plan is built and checked as :func:`init_module` builds and checks it, so
    the same errors are raised; a meta-device model works as well (nothing is
    allocated).  ``print(describe(model, scheme=("megatron", {"std": 0.01})))``.
    """
    from .schemes import describe_plan

    return describe_plan(model, scheme)


def verify(model: nn.Module, scheme: Any = "torch", *, seed: int | None = None):
    """Return how plausible ``model``'s values are under ``scheme``'s laws, writing
    nothing: a :class:`gpuinit.schemes.verify.VerifyReport`, one row per tensor of the
    plan :func:`describe` prints (NaN/inf, never-written memory, bounds, constants
    exactly, mean and std against the law's by their sampling error), ``report.ok``
    True when no tensor is flagged; with ``seed``, each tensor is also compared bit for
    bit with gpuinit's fill for that seed.  See :mod:`gpuinit.schemes.verify`.
    """
    from .schemes.verify import verify_model

    return verify_model(model, scheme, seed=seed)


def _check_covered(model: nn.Module, plan: dict[str, Fill], exempt: Collection[str]) -> None:
    """Raise ValueError naming the tensors of ``model`` that neither ``plan`` nor
    ``exempt`` covers; returns None when there are none."""
    missing = [n for n in named_tensors(model) if n not in plan and n not in exempt]
    masks = _pruning_masks(model)
    others = [n for n in missing if n not in masks]
    if others:
        raise ValueError(f"no initialization rule for {others}: no torch built-in rule covers "
                         "them (tensors of custom modules, extra tensors of subclasses of "
                         "built-in modules, parametrizations); cover them with "
                         "scheme={'pattern': initializer}")
    if missing:
        raise ValueError(f"no initialization rule for the pruning masks {missing}: a mask is "
                         "pruning state, not an initial value, and a meta mask has no values; "
                         "cover them with scheme={'*_mask': 'ones'} or prune after "
                         "materializing")


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
            sharded = _is_dtensor(tensor)
            if sharded:
                _shard_of(name, tensor)  # its placements, whatever its rule
            fill = plan.get(name)
            if fill is None or isinstance(fill, _UserFill):
                continue
            stream = path_stream(streams.get(name, name))
            try:
                if sharded:
                    _fill_shard(name, fill, tensor, seed, stream)
                else:
                    fill(tensor.data if isinstance(tensor, nn.Parameter) else tensor, seed,
                         stream)
            except (ValueError, TypeError) as exc:
                if type(exc) not in (ValueError, TypeError):
                    raise
                raise type(exc)(f"{name}: {exc}") from exc


def _apply_mapping(model: nn.Module, scheme: Mapping, plan: dict[str, Fill]) -> None:
    """Layer a dict scheme over ``plan``: keys are fnmatch patterns of qualified names
    or module types (value: one spec for ``weight``, or {tensor name: spec}); later
    keys win.  A key may name a tensor by any of its names (a tied tensor's second
    name, a pruned tensor's public name); the rule goes to the tensor.  Fan-based
    initializers apply only to tensors of 2 or more dimensions (1-D tensors keep
    their default), as a Keras user writing "*.weight" expects."""
    tensors = named_tensors(model)
    resolve = {name: name for name in tensors}
    resolve.update(_aliases(_slots(model)))
    resolve.update(_pruned(model))
    for key, spec in scheme.items():
        if isinstance(key, type):
            targets = []
            for name, module in model.named_modules():
                if isinstance(module, key):
                    prefix = f"{name}." if name else ""
                    specs = spec if isinstance(spec, Mapping) else {"weight": spec}
                    targets += [(prefix + k, v) for k, v in specs.items()]
        elif isinstance(key, str):
            targets = [(n, spec) for n in resolve if fnmatch.fnmatchcase(n, key)]
        else:
            raise TypeError(f"scheme keys are name patterns or module types, got {key!r}")
        for name, value in targets:
            fill, needs_two_dims = _layered_fill(value)
            if name not in resolve:
                raise ValueError(f"scheme key {key!r}: the model has no tensor {name!r}")
            name = resolve[name]
            if needs_two_dims and tensors[name].dim() < 2:
                continue
            plan[name] = fill


def _torch_device(device: Any) -> torch.device:
    """Return ``device`` as a torch.device; ValueError for a bad name, DeviceError for a
    CUDA device this torch build cannot use."""
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    if target.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device={device!r}: this torch build has no usable CUDA device")
    return target


def _storage_id(t: torch.Tensor) -> int | None:
    """Return a key equal for tensors on one storage, None for a tensor without one (a
    wrapper subclass): its StorageImpl's address, which views of one meta storage
    share too (their ``data_ptr`` is 0 there)."""
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError, TypeError):
        return None


def _storage_stop(t: torch.Tensor) -> int:
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
    storage = _storage_id(t)
    if t.numel() == 0 or storage is None:
        return None
    start, stop = t.storage_offset() * t.element_size(), _storage_stop(t)
    if t.is_meta:
        return ("meta", storage), start, stop
    return t.device, t.data_ptr(), t.data_ptr() + stop - start


def _same_memory(tensors: dict[str, torch.Tensor]) -> dict[str, str]:
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


def _stream_names(model: nn.Module) -> dict[str, str]:
    """Return {tensor name: name whose hash is its stream} where they differ: a pruned
    ``<name>_orig`` draws the stream of ``<name>``, as it would unpruned."""
    return {orig: public for public, orig in _pruned(model).items()}


def _without(tensors: dict[str, torch.Tensor], names: Collection[str]) -> dict[str, torch.Tensor]:
    """Return ``tensors`` less the entries named in ``names``."""
    return {n: t for n, t in tensors.items() if n not in names}


@torch.no_grad()
def init_module(model: nn.Module, *, seed: int = 0, scheme: Any = "torch",
                progress: Callable[[int, int, str], None] | None = None) -> nn.Module:
    """Re-initialize every parameter and buffer of ``model`` in place; returns ``model``.

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
    custom modules, extra tensors of subclasses of built-ins, parametrization
    originals) must be covered by the dict, or ValueError names them before
    anything is written; every fill's options are checked against its tensor
    before the first is written too.  ``progress(done_bytes, total_bytes, name)``
    is called after each tensor (e.g. :class:`gpuinit.layers.ProgressBar`).

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
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = check_seed(seed)
    tensors = named_tensors(model)
    meta = [n for n, t in tensors.items() if t.is_meta]
    if meta:
        raise ValueError(f"{meta[:3]} are on the meta device: use materialize(model, device)")
    same = _same_memory(_plain(tensors))
    plan = build_plan(model, scheme, exempt=set(same) | _pruning_masks(model))
    tensors, streams = _without(tensors, same), _stream_names(model)
    check_plan(plan, tensors, seed, streams)
    _run_plan(plan, tensors, seed, progress, streams, _fsdp_padding(model))
    _refresh_pruned(model)
    return model


def _run_plan(plan: dict[str, Fill], tensors: dict[str, torch.Tensor], seed: int,
              progress: Callable[[int, int, str], None] | None,
              streams: Mapping[str, str],
              padded: Mapping[int, torch.Tensor] | None = None) -> None:
    """Fill every tensor that ``plan`` covers, in order, reporting bytes to ``progress``;
    returns None.  ``streams`` maps a tensor name to the name whose hash is its stream.

    A DTensor gets its block of the whole tensor's fill in its local tensor
    (:func:`_fill_shard`), and the padding of its FSDP2 buffer (``padded``, from
    :func:`_fsdp_padding`) is zeroed; bytes are this rank's.
    """
    total = sum(_local_bytes(t) for t in tensors.values())
    done = 0
    for name, tensor in tensors.items():
        fill = plan.get(name)
        stream = path_stream(streams.get(name, name))
        if _is_dtensor(tensor):
            with torch.no_grad():
                if fill is not None:
                    _fill_shard(name, fill, tensor, seed, stream)
                _zero_padding(tensor, padded or {})
        elif fill is not None:
            fill(tensor.data if isinstance(tensor, nn.Parameter) else tensor, seed, stream)
        done += _local_bytes(tensor)
        if progress is not None:
            progress(done, total, name)


def _shared_storages(slots: list[_Slot]) -> list[list[_Slot]]:
    """Return the slots of each storage held in more than one slot: a tied tensor, or
    several tensors viewing one storage."""
    groups: dict[Any, list[_Slot]] = {}
    for slot in slots:
        storage = _storage_id(slot.tensor)
        key = ("tensor", id(slot.tensor)) if storage is None else storage
        groups.setdefault(key, []).append(slot)
    return [group for group in groups.values() if len(group) > 1]


def _allocation_bytes(slots: list[_Slot], shared: list[list[_Slot]]) -> int:
    """Return the bytes :func:`_allocate` asks for: each tensor held in one slot once,
    plus one storage per shared group."""
    grouped = {id(slot.tensor) for group in shared for slot in group}
    single = {id(s.tensor): s.tensor for s in slots if id(s.tensor) not in grouped}
    total = sum(t.numel() * t.element_size() for t in single.values())
    return total + sum(max(_storage_stop(s.tensor) for s in group) for group in shared)


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


def _allocate_shared(group: list[_Slot], target: torch.device) -> None:
    """Allocate one storage on ``target`` for the tensors of ``group`` and register, in
    each slot, its tensor's view of it (same offset, shape and strides as on meta)."""
    distinct = {id(slot.tensor): slot.tensor for slot in group}
    nbytes = max(_storage_stop(t) for t in distinct.values())
    storage = torch.empty(nbytes, dtype=torch.uint8, device=target).untyped_storage()
    views = {}
    for key, t in distinct.items():
        view = torch.empty(0, dtype=t.dtype, device=target).set_(
            storage, t.storage_offset(), t.shape, t.stride())
        views[key] = nn.Parameter(view, t.requires_grad) if isinstance(t, nn.Parameter) else view
    for slot in group:
        _put(slot, views[id(slot.tensor)])


def _allocate(model: nn.Module, slots: list[_Slot], shared: list[list[_Slot]],
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
            _put(slot, None)  # to_empty would allocate each slot separately
    try:
        model.to_empty(device=target)
        for group in shared:
            _allocate_shared(group, target)
    except BaseException as exc:
        for slot in slots:
            _put(slot, slot.tensor)
        if _is_out_of_memory(exc):
            try:
                free = _free_bytes(target)
            except Exception:  # the device is in no state to say
                free = None
            raise OutOfMemoryError(nbytes, free, _device_name(target)) from exc
        raise


def materialize(model: nn.Module, device: Any = "cuda", *, seed: int = 0,
                scheme: Any = "torch",
                progress: Callable[[int, int, str], None] | None = None) -> nn.Module:
    """Allocate a meta-device ``model`` on ``device`` and initialize it there; returns it.

    Every tensor is allocated uninitialized on the device (``model.to_empty``, no
    host tensors), then filled in place with gpuinit's kernels by the rules of
    :func:`init_module`.  A tensor registered under several names (tied weights)
    is allocated and filled once and stays tied; tensors viewing one meta storage
    (``b.weight = nn.Parameter(a.weight.view(...))``, detected by the storage they
    share on meta) get one device storage and the same views of it.

    Everything is checked before any memory is allocated, and a failure leaves the
    model on meta: ValueError for tensors no rule covers (as in :func:`init_module`,
    and pruning masks too: a meta mask has no values, so a scheme key must cover
    it), for views that partly overlap, or a bad option;
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
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = check_seed(seed)
    target = _torch_device(device)
    if target.type == "meta":
        raise ValueError("device='meta': materialize allocates a meta model on a real device "
                         "(e.g. 'cuda' or 'cpu'); nothing was moved")
    real = [n for n, t in named_tensors(model).items() if not t.is_meta]
    if real:
        raise ValueError(f"{real[:3]} are not on the meta device: materialize takes a model "
                         "built under torch.device('meta'); use init_module for built tensors")
    tensors = named_tensors(model)
    same = _same_memory(_plain(tensors))
    plan = build_plan(model, scheme, exempt=same)
    tensors, streams = _without(tensors, same), _stream_names(model)
    check_plan(plan, tensors, seed, streams)  # on the meta tensors: shapes and dtypes
    slots = _slots(model)
    groups = _shared_storages(slots)
    shared = [group for group in groups if not _is_dtensor(group[0].tensor)]
    tied = [group for group in groups if _is_dtensor(group[0].tensor)]
    nbytes = _local_allocation_bytes(slots, shared)
    _check_memory(nbytes, target)
    _allocate(model, slots, shared, target, nbytes)
    _retie_dtensors(tied)
    _run_plan(plan, _without(named_tensors(model), same), seed, progress, streams,
              _fsdp_padding(model))
    _refresh_pruned(model)
    return model


def _local_allocation_bytes(slots: list[_Slot], shared: list[list[_Slot]]) -> int:
    """Return the bytes :func:`_allocate` asks of this rank: as :func:`_allocation_bytes`,
    with each DTensor counted by its local buffer (:func:`_local_bytes`), not its whole."""
    grouped = {id(slot.tensor) for group in shared for slot in group}
    single = {id(s.tensor): s.tensor for s in slots if id(s.tensor) not in grouped}
    total = sum(_local_bytes(t) for t in single.values())
    return total + sum(max(_storage_stop(s.tensor) for s in group) for group in shared)


# --- Sharded parameters: torch.distributed DTensors (FSDP2 fully_shard, tensor parallel) ---
#
# A DTensor's local tensor holds one block of the whole logical tensor (its placements and
# this rank's mesh coordinate say which).  Its fill runs on a meta "stand-in" of the whole
# tensor's shape, so that the rule and gpuinit.init take fans, bounds and stds from the
# whole shape, while three redirections put the values, and only those of the block, into
# the local tensor:
#   1. gpuinit.init's ``wrap`` gives the stand-in a _BlockTarget: the whole shape, the
#      block's memory;
#   2. its sampling calls reach gpuinit.random with ``out=`` a _BlockOut and are made as
#      that block of the whole tensor (``full_shape=``/``start=``: the counter contract);
#      constants, eye_ and dirac_ write through _BlockArray in whole-tensor coordinates;
#      orthogonal_ and sparse_ hand over the whole matrix, of which the block is kept;
#   3. a rule's own writes to the stand-in (torch's Embedding padding row, Identity's
#      gain) are seen by _ShardWrites, a TorchDispatchMode, and applied to the block.
# A rule that writes another way (a user's callable calling torch's RNG, say) raises
# _NotShardable inside, and its tensor is then made whole on the rank and sliced.


class _NotShardable(Exception):
    """A fill wrote to a shard's stand-in in a way the block seams cannot place."""


def _dtensor_class() -> type | None:
    """Return torch's DTensor class once ``torch.distributed.tensor`` is imported, else None
    (no DTensor can exist before it is, so nothing is imported here)."""
    return getattr(sys.modules.get("torch.distributed.tensor"), "DTensor", None)


def _is_dtensor(t: Any) -> bool:
    """Return True when ``t`` is a DTensor (a Parameter holding one included)."""
    cls = _dtensor_class()
    return cls is not None and isinstance(t, cls)


def _plain(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return ``tensors`` less the DTensors (their ``data_ptr`` is 0 and their storage a
    stand-in, so the memory checks of plain tensors do not apply to them)."""
    return {n: t for n, t in tensors.items() if not _is_dtensor(t)}


class _Shard(NamedTuple):
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
        indices = [torch.arange(n) for n in shape]
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
            runs.append(run if torch.equal(index, torch.arange(run.start, run.stop))
                        else index.tolist())
        _BLOCKS[key] = tuple(runs)
    return _BLOCKS[key]


def _shard_of(name: str, t: Any) -> _Shard:
    """Return the :class:`_Shard` of this rank's local tensor of the DTensor ``t``.

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
    return _Shard(name, local, tuple(t.shape), start)


def _local_bytes(t: torch.Tensor) -> int:
    """Return the bytes this rank holds of ``t``: a DTensor's local buffer (FSDP2's padding
    included), a plain tensor's elements."""
    if _is_dtensor(t):
        local = t._local_tensor
        return max(local.untyped_storage().nbytes(), local.numel() * local.element_size())
    return t.numel() * t.element_size()


class _BlockTarget(gi_inplace.Target):
    """gpuinit.init's view of a shard: the shape of the whole tensor, the memory of the block.

    ``local`` is the Target of the local tensor (what ``gpuinit.inplace.wrap`` gives);
    sampling goes through :class:`_BlockOut`, item assignment through
    :class:`_BlockArray`, and :meth:`write` of a whole-tensor array keeps the block.
    """

    def __init__(self, stand_in: torch.Tensor, shard: _Shard) -> None:
        self.shard = shard
        self.local = _REAL_INIT_SEAMS[0](shard.local)  # gpuinit.inplace.wrap
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

    def direct_out(self) -> _BlockOut:
        return _BlockOut(self)

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


class _BlockOut:
    """The ``out=`` that a :class:`_BlockTarget` gives gpuinit.init's sampling calls: the
    random seam makes them as the block of the whole tensor, into the local tensor."""

    def __init__(self, target: _BlockTarget) -> None:
        self.target = target

    def sample(self, function: Callable, shape, args: tuple, kwargs: dict):
        """Return ``function(block shape, *args, full_shape=, start=, out=local, **kwargs)``,
        written into the local tensor: the block of ``function(shape, *args, **kwargs)``."""
        shard, local = self.target.shard, self.target.local
        if tuple(shape) != shard.full_shape:
            raise RuntimeError(f"gpuinit.torch bug: {shard.name} sampled as {tuple(shape)}, "
                               f"not its whole shape {shard.full_shape}; please report it")
        out = None if validating() else local.direct_out()
        values = function(local.shape, *args, full_shape=shard.full_shape, start=shard.start,
                          out=out, **kwargs)
        if out is None and not validating():
            local.write(values)
        return values


def _seam_sampler(name: str) -> Callable:
    """Return gpuinit.random's ``name`` as the random seam serves it: a call with a
    :class:`_BlockOut` is made as its block, every other call is passed on unchanged."""
    def sample(shape, *args, out=None, **kwargs):
        function = getattr(gi_random, name)
        if isinstance(out, _BlockOut):
            return out.sample(function, shape, args, kwargs)
        return function(shape, *args, out=out, **kwargs)
    sample.__name__ = name
    return sample


class _RandomSeam:
    """Stands for the gpuinit.random module inside gpuinit.init while shards are filled."""

    uniform = staticmethod(_seam_sampler("uniform"))
    normal = staticmethod(_seam_sampler("normal"))
    truncated_normal = staticmethod(_seam_sampler("truncated_normal"))

    def __getattr__(self, name: str):
        return getattr(gi_random, name)


_STAND_IN: contextvars.ContextVar = contextvars.ContextVar("gpuinit_torch_stand_in",
                                                           default=None)
_SEAM_LOCK = threading.Lock()
_SEAM_USERS = [0]  # how many threads are inside _init_seams()
_REAL_INIT_SEAMS = [gi_inplace.wrap, gi_random]  # what gpuinit.init uses outside them


def _seam_wrap(t: Any) -> gi_inplace.Target:
    """Return gpuinit.init's Target of ``t``: the current stand-in's :class:`_BlockTarget`
    for the stand-in (or an identical view of it, as ``t.data``), the real wrap's
    otherwise; _NotShardable for a partial view of the stand-in."""
    current = _STAND_IN.get()
    if current is not None and isinstance(t, torch.Tensor) and t.is_meta:
        stand_in, target = current
        if _storage_id(t) == _storage_id(stand_in):
            if (t.storage_offset(), t.shape, t.stride()) != (0, stand_in.shape,
                                                              stand_in.stride()):
                raise _NotShardable("a gpuinit.init call on part of the whole tensor")
            return target
    return _REAL_INIT_SEAMS[0](t)


@contextmanager
def _init_seams():
    """Within the block, gpuinit.init reaches ``wrap`` and ``random`` through the shard
    seams (:func:`_seam_wrap`, :class:`_RandomSeam`), which pass every call that is not
    about a shard's stand-in on to the real ones, so other threads are unaffected."""
    with _SEAM_LOCK:
        if _SEAM_USERS[0] == 0:
            _REAL_INIT_SEAMS[:] = [gi_init.wrap, gi_init.random]
            gi_init.wrap, gi_init.random = _seam_wrap, _RandomSeam()
        _SEAM_USERS[0] += 1
    try:
        yield
    finally:
        with _SEAM_LOCK:
            _SEAM_USERS[0] -= 1
            if _SEAM_USERS[0] == 0:
                gi_init.wrap, gi_init.random = _REAL_INIT_SEAMS


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
    (other ops than :data:`_SCALAR_WRITES`, tensor operands, views that are no box).
    Under validate_only the writes only run on the meta stand-in."""

    def __init__(self, target: _BlockTarget) -> None:
        super().__init__()
        self.target = target
        self.storage = _storage_id(target.original)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        hits = [t for t in _written(func, args, kwargs)
                if t.is_meta and _storage_id(t) == self.storage]
        if not hits or validating():
            return func(*args, **kwargs)
        operands = [*args[1:], *kwargs.values()]
        if (func.overloadpacket not in _SCALAR_WRITES or hits != [args[0]]
                or any(isinstance(a, torch.Tensor) and a.dim() > 0 for a in operands)):
            raise _NotShardable(f"the rule writes the tensor with {func}")
        region = self.target.local_region(args[0])
        if region is not None:
            func(self.target.shard.local[region], *args[1:], **kwargs)
        return args[0]


def _fill_whole(shard: _Shard, fill: Fill, seed: int, stream: int) -> None:
    """Fill ``shard``'s local tensor with its block of ``fill`` run on the whole tensor, made
    on this rank (a temporary of the whole tensor's size); returns None.  Under
    validate_only the fill is checked on a meta tensor of the whole shape instead."""
    local = shard.local
    if validating():
        fill(torch.empty(shard.full_shape, dtype=local.dtype, device="meta"), seed, stream)
        return
    whole = torch.empty(shard.full_shape, dtype=local.dtype, device=local.device)
    fill(whole, seed, stream)
    local.copy_(whole[shard.block])


def _fill_shard(name: str, fill: Fill, t: Any, seed: int, stream: int) -> None:
    """Fill this rank's local tensor of the DTensor ``t`` with its block of what ``fill``
    makes of the whole tensor, bit for bit, with no communication; returns None.

    The fill runs on a meta stand-in of the whole shape through the block seams (see
    the comment above :class:`_NotShardable`); a fill that writes in a way they cannot
    place is run on the whole tensor instead (:func:`_fill_whole`).  Under validate_only
    it checks and writes nothing.  ValueError naming ``name`` for unsupported placements.
    """
    shard = _shard_of(name, t)
    stand_in = torch.empty(shard.full_shape, dtype=shard.local.dtype, device="meta")
    target = _BlockTarget(stand_in, shard)
    token = _STAND_IN.set((stand_in, target))
    try:
        with _init_seams(), _ShardWrites(target):
            fill(stand_in, seed, stream)
        return
    except _NotShardable:
        pass
    finally:
        _STAND_IN.reset(token)
    _fill_whole(shard, fill, seed, stream)


def _fsdp_padding(model: nn.Module) -> dict[int, torch.Tensor]:
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


def _zero_padding(t: Any, padded: Mapping[int, torch.Tensor]) -> None:
    """Zero the padding of a DTensor's FSDP2 buffer behind its local tensor; returns None."""
    buffer = padded.get(id(t))
    if buffer is not None and not buffer.is_meta:
        buffer[t._local_tensor.numel():].zero_()


def _retie_dtensors(groups: list[list[_Slot]]) -> None:
    """Register, in every slot of each group (one DTensor held in several slots: tied
    weights), the tensor that ``to_empty`` left in the group's first slot; returns None."""
    for group in groups:
        first = group[0]
        tensor = (first.module._parameters if first.is_parameter else first.module._buffers)[
            first.attr]
        for slot in group[1:]:
            _put(slot, tensor)
