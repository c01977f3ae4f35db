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

import fnmatch
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any, NamedTuple

try:
    import torch
    from torch import nn
    from torch.nn.utils import parametrize, prune
except ModuleNotFoundError as exc:  # the torch extra is not installed
    raise ModuleNotFoundError(f"gpuinit.torch needs PyTorch ({exc}): "
                              'pip install "gpuinit[torch]"', name=exc.name) from exc

from . import init as gi_init
from .devices import device as resolve_device
from .errors import DeviceError, OutOfMemoryError
from .fans import torch_fans
from .initializers import (
    Initializer,
    VarianceScaling,
    deterministic,
    get,
    orthogonal,
    random_laws,
    sparse,
)
from .layers.parameter import path_stream
from .memory import check_fits, host_available_bytes
from .seeding import check_seed
from .validation import validate_only, validating

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


def _catalogue_fill(init: Initializer) -> tuple[Fill, bool]:
    """Return the fill of a catalogue initializer with PyTorch's layout: the same law,
    fans from ``torch_fans``; orthogonal/identity/dirac/sparse as their gi.init twins."""
    if isinstance(init, VarianceScaling):
        def fill(t, seed, stream, init=init):
            fan_in, fan_out = torch_fans(tuple(t.shape))
            fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
                   "fan_geo_avg": math.sqrt(fan_in * fan_out)}[init.mode]
            scale = init.scale / max(1.0, fan)
            if init.distribution == "uniform":
                bound = math.sqrt(3.0 * scale)
                gi_init.uniform_(t, -bound, bound, seed=seed, stream=stream)
            elif init.distribution == "untruncated_normal":
                gi_init.normal_(t, 0.0, math.sqrt(scale), seed=seed, stream=stream)
            else:
                std = math.sqrt(scale) / random_laws.TRUNCATED_STDDEV_2SIGMA
                gi_init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std, seed=seed, stream=stream)
        return fill, True
    if isinstance(init, random_laws.RandomUniform):
        lo, hi = init.minval, init.maxval
        return (lambda t, s, k: gi_init.uniform_(t, lo, hi, seed=s, stream=k)), False
    if isinstance(init, random_laws.RandomNormal):
        mean, std = init.mean, init.stddev
        return (lambda t, s, k: gi_init.normal_(t, mean, std, seed=s, stream=k)), False
    if isinstance(init, random_laws.TruncatedNormal):
        mean, std = init.mean, init.stddev
        return (lambda t, s, k: gi_init.trunc_normal_(t, mean, std, mean - 2 * std,
                                                      mean + 2 * std, seed=s, stream=k)), False
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


def _gpt2_plan(model: nn.Module, plan: dict[str, Fill]) -> None:
    """GPT-2: Linear/Conv/Embedding weights N(0, 0.02), biases zeros, and residual output
    projections N(0, 0.02/√(2·n_layer)).

    Residual projections are the weights of Linear layers named ``c_proj``,
    ``out_proj``, ``o_proj``, ``down_proj`` or ``proj``, and ``linear2`` of torch's
    Transformer*Layer.  n_layer is the number of blocks holding them: a block is
    the path up to the first index of a ModuleList/Sequential ("h.3", "layers.11");
    projections outside any indexed block count as half a layer each (a block has
    two, attention's and the MLP's, as in GPT-2 and nanoGPT).
    """
    residual_suffixes = (".c_proj.weight", ".out_proj.weight", ".o_proj.weight",
                         ".down_proj.weight", ".proj.weight")
    linear_like = (nn.Linear, nn.modules.conv._ConvNd, nn.Embedding)
    weights = [f"{name}.weight" if name else "weight" for name, m in model.named_modules()
               if isinstance(m, linear_like)]
    residual = {w for w in weights if w.endswith(residual_suffixes)}
    residual.update(f"{name}.linear2.weight" for name, m in model.named_modules()
                    if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)))
    depth = max(1, gpt2_depth(residual))
    for name in weights:
        plan[name] = _normal(0.02 / math.sqrt(2 * depth) if name in residual else 0.02)
    for name, module in model.named_modules():
        if isinstance(module, linear_like[:2]) and getattr(module, "bias", None) is not None:
            plan[f"{name}.bias" if name else "bias"] = _constant(0.0)


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

    Tensors are named as :func:`named_tensors` names them: a tied tensor by its first
    name, a pruned one by its ``<name>_orig`` Parameter (which takes the rule of
    ``<name>``).  ValueError naming every tensor that no rule covers, except those in
    ``exempt``, before anything is written: tensors of modules that are not torch
    built-ins, extra tensors of subclasses of built-ins, parametrization originals and
    pruning masks all need a scheme dict rule.
    """
    if not (isinstance(scheme, Mapping)
            or (isinstance(scheme, str) and scheme in ("torch", "gpt2", "llama"))):
        raise ValueError(f"scheme={scheme!r} must be 'torch', 'gpt2', 'llama' or a dict")
    plan = torch_plan(model)
    if scheme == "gpt2":
        _gpt2_plan(model, plan)
    elif scheme == "llama":
        _llama_plan(model, plan)
    plan = _rules_on_tensors(model, plan)
    if isinstance(scheme, Mapping):
        _apply_mapping(model, scheme, plan)
    _check_covered(model, plan, exempt)
    return plan


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
    hash is its stream (default: its own)."""
    streams = streams or {}
    with validate_only():
        for name, tensor in tensors.items():
            fill = plan.get(name)
            if fill is None or isinstance(fill, _UserFill):
                continue
            try:
                fill(tensor.data if isinstance(tensor, nn.Parameter) else tensor, seed,
                     path_stream(streams.get(name, name)))
            except (ValueError, TypeError) as exc:
                if type(exc) not in (ValueError, TypeError):
                    raise
                raise type(exc)(f"{name}: {exc}") from exc


def _llama_plan(model: nn.Module, plan: dict[str, Fill]) -> None:
    """Llama (Hugging Face): Linear and Embedding weights N(0, 0.02), biases zeros."""
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            plan[prefix + "weight"] = _normal(0.02)
            if getattr(module, "bias", None) is not None:
                plan[prefix + "bias"] = _constant(0.0)


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
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = check_seed(seed)
    tensors = named_tensors(model)
    meta = [n for n, t in tensors.items() if t.is_meta]
    if meta:
        raise ValueError(f"{meta[:3]} are on the meta device: use materialize(model, device)")
    same = _same_memory(tensors)
    plan = build_plan(model, scheme, exempt=set(same) | _pruning_masks(model))
    tensors, streams = _without(tensors, same), _stream_names(model)
    check_plan(plan, tensors, seed, streams)
    _run_plan(plan, tensors, seed, progress, streams)
    _refresh_pruned(model)
    return model


def _run_plan(plan: dict[str, Fill], tensors: dict[str, torch.Tensor], seed: int,
              progress: Callable[[int, int, str], None] | None,
              streams: Mapping[str, str]) -> None:
    """Fill every tensor that ``plan`` covers, in order, reporting bytes to ``progress``;
    returns None.  ``streams`` maps a tensor name to the name whose hash is its stream."""
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    done = 0
    for name, tensor in tensors.items():
        fill = plan.get(name)
        if fill is not None:
            fill(tensor.data if isinstance(tensor, nn.Parameter) else tensor, seed,
                 path_stream(streams.get(name, name)))
        done += tensor.numel() * tensor.element_size()
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
    """Return True when ``exc`` is torch's report of a failed allocation."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("alloc" in message or "out of memory" in message)


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
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = check_seed(seed)
    target = _torch_device(device)
    tensors = named_tensors(model)
    same = _same_memory(tensors)
    plan = build_plan(model, scheme, exempt=same)
    tensors, streams = _without(tensors, same), _stream_names(model)
    check_plan(plan, tensors, seed, streams)  # on the meta tensors: shapes and dtypes
    slots = _slots(model)
    shared = _shared_storages(slots)
    nbytes = _allocation_bytes(slots, shared)
    _check_memory(nbytes, target)
    _allocate(model, slots, shared, target, nbytes)
    _run_plan(plan, _without(named_tensors(model), same), seed, progress, streams)
    _refresh_pruned(model)
    return model
