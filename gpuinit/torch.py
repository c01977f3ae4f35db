"""Initialize PyTorch modules in place with gpuinit's kernels, on whatever device they live.

``init_module(model, seed=0)`` re-initializes every parameter and buffer of an
``nn.Module`` with the law its own ``reset_parameters`` uses (``scheme="torch"``),
a GPT-2 preset (``scheme="gpt2"``), or a dict of name patterns / module types
to initializers layered over the torch defaults.  ``materialize(model, "cuda")``
takes a model built on the meta device, allocates it on the target device and
initializes it there: no CPU tensors, no host copies, no double initialization.

Each tensor draws from its own stream, the hash of its qualified name
("encoder.layers.0.linear1.weight"), so values depend on (seed, name, law)
only, the same on every device and in every run.  Needs the ``torch`` extra.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from . import init as gi_init
from .errors import DeviceError
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


def _own_tensor_names(module: nn.Module) -> list[str]:
    names = [n for n, _ in module.named_parameters(recurse=False)]
    return names + [n for n, b in module.named_buffers(recurse=False) if b is not None]


def torch_plan(model: nn.Module) -> tuple[dict[str, Fill], list[str]]:
    """Return ({qualified name: fill} by each module's torch default, [names no rule covers]).

    Modules are visited children first, so a parent's rule (MultiheadAttention's
    zero ``out_proj.bias``, Transformer's xavier_uniform_) overrides its children's.
    """
    plan: dict[str, Fill] = {}
    unknown: list[str] = []
    for name, module in reversed(list(model.named_modules())):
        prefix = f"{name}." if name else ""
        known = _torch_rules(module, prefix, plan)
        if not known:
            unknown += [prefix + n for n in _own_tensor_names(module)]
    return plan, [n for n in unknown if n not in plan]


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
            fan = {"fan_in": fan_in, "fan_out": fan_out,
                   "fan_avg": (fan_in + fan_out) / 2}[init.mode]
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


def build_plan(model: nn.Module, scheme: Any = "torch") -> dict[str, Fill]:
    """Return {qualified name: fill} for every parameter and buffer of ``model``.

    ValueError naming the tensors that no rule covers, before anything is written.
    """
    plan, unknown = torch_plan(model)
    if isinstance(scheme, str) and scheme in ("gpt2", "llama"):
        _gpt2_plan(model, plan) if scheme == "gpt2" else _llama_plan(model, plan)
    elif isinstance(scheme, Mapping):
        _apply_mapping(model, scheme, plan)
    elif scheme != "torch":
        raise ValueError(f"scheme={scheme!r} must be 'torch', 'gpt2', 'llama' or a dict")
    missing = [n for n in unknown if n not in plan]
    if missing:
        raise ValueError(f"no initialization rule for {missing}: their modules are not torch "
                         "built-ins; cover them with scheme={'pattern': initializer}")
    return plan


def check_plan(plan: dict[str, Fill], tensors: dict[str, torch.Tensor], seed: int) -> None:
    """Run every fill of ``plan`` on its tensor under :func:`validate_only`: each bad
    option or unfit tensor raises here, its message prefixed with the tensor's name,
    and nothing is written.  A user's own callable is not run (it cannot be checked
    without running it)."""
    with validate_only():
        for name, tensor in tensors.items():
            fill = plan.get(name)
            if fill is None or isinstance(fill, _UserFill):
                continue
            try:
                fill(tensor.data if isinstance(tensor, nn.Parameter) else tensor, seed,
                     path_stream(name))
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
    keys win.  Fan-based initializers apply only to tensors of 2 or more dimensions
    (1-D tensors keep their default), as a Keras user writing "*.weight" expects."""
    tensors = named_tensors(model)
    for key, spec in scheme.items():
        if isinstance(key, type):
            targets = []
            for name, module in model.named_modules():
                if isinstance(module, key):
                    prefix = f"{name}." if name else ""
                    specs = spec if isinstance(spec, Mapping) else {"weight": spec}
                    targets += [(prefix + k, v) for k, v in specs.items()]
        elif isinstance(key, str):
            targets = [(n, spec) for n in tensors if fnmatch.fnmatchcase(n, key)]
        else:
            raise TypeError(f"scheme keys are name patterns or module types, got {key!r}")
        for name, value in targets:
            fill, needs_two_dims = _layered_fill(value)
            if name not in tensors:
                raise ValueError(f"scheme key {key!r}: the model has no tensor {name!r}")
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
    the hash of its qualified name; tied tensors are filled once.  Modules that
    are not torch built-ins must be covered by the dict, or ValueError names
    their tensors before anything is written; every fill's options are checked
    against its tensor before the first is written too.  ``progress(done_bytes, total_bytes,
    name)`` is called after each tensor (e.g. :class:`gpuinit.layers.ProgressBar`).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = check_seed(seed)
    plan = build_plan(model, scheme)
    tensors = named_tensors(model)
    meta = [n for n, t in tensors.items() if t.is_meta]
    if meta:
        raise ValueError(f"{meta[:3]} are on the meta device: use materialize(model, device)")
    check_plan(plan, tensors, seed)
    _run_plan(plan, tensors, seed, progress)
    return model


def _run_plan(plan: dict[str, Fill], tensors: dict[str, torch.Tensor], seed: int,
              progress: Callable[[int, int, str], None] | None) -> None:
    """Fill every tensor that ``plan`` covers, in order, reporting bytes to ``progress``."""
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    done = 0
    for name, tensor in tensors.items():
        fill = plan.get(name)
        if fill is not None:
            fill(tensor.data if isinstance(tensor, nn.Parameter) else tensor, seed,
                 path_stream(name))
        done += tensor.numel() * tensor.element_size()
        if progress is not None:
            progress(done, total, name)


def materialize(model: nn.Module, device: Any = "cuda", *, seed: int = 0,
                scheme: Any = "torch",
                progress: Callable[[int, int, str], None] | None = None) -> nn.Module:
    """Allocate a meta-device ``model`` on ``device`` and initialize it there; returns it.

    ``model.to_empty(device=...)`` allocates uninitialized storage on the device
    (no host tensors), then every tensor is filled in place with gpuinit's
    kernels by the rules of :func:`init_module`.  The rules are checked first, so a
    model with tensors no rule covers, or a bad option, raises before any memory
    is allocated.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = check_seed(seed)
    plan = build_plan(model, scheme)
    check_plan(plan, named_tensors(model), seed)  # on the meta tensors: shapes and dtypes
    model.to_empty(device=_torch_device(device))
    _run_plan(plan, named_tensors(model), seed, progress)
    return model
