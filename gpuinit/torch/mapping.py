"""Dict schemes: ``{name pattern or module type: initializer}`` layered over a plan.

A value is a :mod:`gpuinit.init` function name (``"kaiming_normal_"``) or ``(name,
{kwargs})``, a catalogue initializer id or object (``"he_normal"``, ``("constant",
{"value": 0.5})``) applied with PyTorch's layout and fans, or a callable
``f(tensor, *, seed, stream)``.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from .. import init as gi_init
from ..errors import prefixed
from ..fans import torch_fans
from ..initializers import Initializer, deserialize, deterministic, get, orthogonal, sparse
from ..laws import Constant, Eye, Law, Orthogonal, Rule, Sparse
from .plan import Fill, alias_names, named_tensors, pruned_names, tensor_slots


def layered_fill(spec: Any) -> tuple[Fill, bool]:
    """Return (fill, needs_two_dims) for a scheme value: a gi.init function name
    ("kaiming_normal_") or ``(name, kwargs)``, a gpuinit/Keras initializer id or object,
    or ``(id, kwargs)`` (``("constant", {"value": 0.5})``; applied with PyTorch's layout
    and fans), a law or rule of :mod:`gpuinit.laws` (``gpuinit.laws.Normal(std=0.02)``),
    or a callable ``f(tensor, *, seed, stream)``.  TypeError for None."""
    if spec is None:
        raise TypeError("scheme value None: give an initializer (a gpuinit.init function "
                        "name, a catalogue id such as 'zeros', or a callable); a tensor is "
                        "never left unwritten")
    if isinstance(spec, (Law, Rule)):
        return spec, False
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        name, options = spec
        if not isinstance(options, Mapping):
            raise TypeError(f"scheme value {spec!r}: the options of {name} must be a dict of "
                            f"keyword arguments, got {type(options).__name__}")
        if not name.endswith("_"):  # a catalogue id with its arguments: ("constant", {...})
            return _catalogue_fill(deserialize({"class_name": name, "config": dict(options)}))
        return InitFunction(name, dict(options)), name not in _ELEMENTWISE
    if isinstance(spec, str) and spec.endswith("_"):
        return InitFunction(spec, {}), spec not in _ELEMENTWISE
    if callable(spec) and not isinstance(spec, (Initializer, type, str)):
        return UserFill(spec), False
    return _catalogue_fill(_unseeded(get(spec)))


def _unseeded(init: Initializer) -> Initializer:
    """Return ``init``, a catalogue initializer for a scheme; ValueError when it has a seed
    of its own: in a scheme every tensor draws from the model's seed (``init_module`` and
    ``materialize``'s ``seed=``) and its own stream, so that seed would be ignored."""
    own = getattr(init, "seed", None)
    if own is not None or getattr(init, "seed_generator", None) is not None:
        raise ValueError(f"scheme value {init!r} has its own seed: in a scheme every tensor "
                         "draws from the model's seed= and the stream of its name; build "
                         "the initializer without seed=")
    return init


class UserFill:
    """A user's ``f(tensor, *, seed, stream)``: opaque, so it has no ``prepare``; a plan
    runs it once, after every other fill of the plan has been prepared
    (:func:`gpuinit.torch.fills.prepare_fills`)."""

    def __init__(self, function: Callable) -> None:
        _check_callable(function)
        self.function = function

    def __call__(self, t, seed: int, stream: int) -> None:
        self.function(t, seed=seed, stream=stream)


def _check_callable(function: Callable) -> None:
    """Raise TypeError, before anything is written, when ``function`` cannot be called as
    ``f(tensor, *, seed, stream)`` (``torch.nn.init.zeros_``, say, which would fail only
    after the plan's other tensors are written); a callable without a signature to read
    is taken as it comes."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(None, seed=0, stream=0)
    except TypeError as exc:
        raise TypeError(f"scheme value {function!r}: a callable is called as f(tensor, *, "
                        f"seed, stream), which this one cannot take ({exc}); for a "
                        "torch.nn.init function give gpuinit.init's name instead, such as "
                        "'zeros_' or ('normal_', {'std': 0.02})") from None


_ELEMENTWISE = {"uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_"}


_NO_SEED = {"constant_", "ones_", "zeros_", "eye_", "dirac_"}


class InitFunction:
    """A :mod:`gpuinit.init` function by name with its keyword arguments
    (``("kaiming_normal_", {"mode": "fan_out"})`` in a dict scheme):
    ``fill(t, seed, stream)`` calls it, with ``seed`` and ``stream`` unless it draws
    nothing.  ValueError for a name that is no gpuinit.init function."""

    __slots__ = ("name", "options", "function")

    def __init__(self, name: str, options: Mapping) -> None:
        function = getattr(gi_init, name, None)
        if function is None or name not in gi_init.__all__ or not name.endswith("_"):
            raise ValueError(f"unknown gpuinit.init function {name!r}")
        self.name, self.options, self.function = name, dict(options), function

    def __call__(self, t, seed: int, stream: int) -> None:
        """Prepare, then run, the call on ``t``; returns None."""
        self.prepare(t, seed, stream).run(t)

    def prepare(self, t, seed: int, stream: int):
        """Return the checked write of the call on ``t`` (:func:`gpuinit.init.prepare`)."""
        if self.name in _NO_SEED:
            return gi_init.prepare(self.function, t, **self.options)
        return gi_init.prepare(self.function, t, **self.options, seed=seed, stream=stream)

    def text(self) -> str:
        """Return the call in words, e.g. ``kaiming_normal_(mode='fan_out')``."""
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.name}({options})"

    def __repr__(self) -> str:
        return f"InitFunction({self.text()})"


class CatalogueFill:
    """The fill of a catalogue initializer that has a law (``"he_normal"`` in a dict
    scheme), in PyTorch's layout: ``law(shape)`` is the law it draws a tensor of
    ``shape`` from (fans from ``torch_fans``); ``fill(t, seed, stream)`` fills ``t``."""

    __slots__ = ("init",)

    def __init__(self, init: Initializer) -> None:
        self.init = init

    def law(self, shape: tuple[int, ...]) -> Law:
        """Return the :mod:`gpuinit.laws` law of a tensor of ``shape``."""
        shape = tuple(shape)
        return self.init.law(shape, torch_fans(shape) if self.init.law_uses_fans else None)

    def __call__(self, t, seed: int, stream: int) -> None:
        """Prepare, then run, the fill of ``t``; returns None."""
        self.prepare(t, seed, stream).run(t)

    def prepare(self, t, seed: int, stream: int):
        """Return the checked write of ``t`` from its law."""
        return self.law(tuple(t.shape)).prepare(t, seed, stream)

    def __repr__(self) -> str:
        return f"CatalogueFill({self.init!r})"


def _catalogue_fill(init: Initializer) -> tuple[Fill, bool]:
    """Return the fill of a catalogue initializer with PyTorch's layout: the same law,
    fans from ``torch_fans``; orthogonal, identity and sparse as the laws of their
    torch.nn.init twins."""
    if init.has_law:
        return CatalogueFill(init), init.law_uses_fans
    if isinstance(init, (deterministic.Zeros, deterministic.Ones, deterministic.Constant)):
        value = {deterministic.Zeros: 0.0, deterministic.Ones: 1.0}.get(type(init))
        value = init.value if value is None else value
        if deterministic.is_array_value(value):
            raise ValueError(f"{type(init).__name__} with an array value has no PyTorch-layout "
                             "form; pass a callable f(tensor, *, seed, stream) that copies it")
        return Constant(value), False
    if isinstance(init, orthogonal.Orthogonal):
        return Orthogonal(init.gain), True
    if isinstance(init, deterministic.Identity):
        return Eye(init.gain), True
    if isinstance(init, sparse.Sparse):
        return Sparse(init.sparsity, init.std), True
    raise ValueError(f"{type(init).__name__} has no PyTorch-layout form; pass a gpuinit.init "
                     "function name or a callable f(tensor, *, seed, stream)")


def apply_mapping(model: nn.Module, scheme: Mapping, plan: dict[str, Fill]) -> None:
    """Layer a dict scheme over ``plan``: keys are fnmatch patterns of qualified names
    or module types (value: one spec for ``weight``, or {tensor name: spec}); later
    keys win.  A key may name a tensor by any of its names (a tied tensor's second
    name, a pruned tensor's public name); the rule goes to the tensor.  Fan-based
    initializers apply only to tensors of 2 or more dimensions (1-D tensors keep
    their default), as a Keras user writing "*.weight" expects.  ValueError for a
    pattern that matches no tensor, a type that matches no module, and a key whose
    fan-based initializer would skip every tensor it matches (a misspelt or misplaced
    key would otherwise leave its tensors at their defaults unnoticed)."""
    tensors = named_tensors(model)
    resolve = {name: name for name in tensors}
    resolve.update(alias_names(tensor_slots(model)))
    resolve.update(pruned_names(model))
    for key, spec in scheme.items():
        if isinstance(key, type):
            targets = []
            for name, module in model.named_modules():
                if isinstance(module, key):
                    prefix = f"{name}." if name else ""
                    specs = spec if isinstance(spec, Mapping) else {"weight": spec}
                    targets += [(prefix + k, v) for k, v in specs.items()]
            if not any(isinstance(module, key) for module in model.modules()):
                raise ValueError(f"scheme key {key.__name__} matches no module of the model")
        elif isinstance(key, str):
            targets = [(n, spec) for n in resolve if fnmatch.fnmatchcase(n, key)]
            if not targets:
                raise ValueError(f"scheme key {key!r} matches no tensor of the model (its "
                                 f"tensors are named {_some_names(resolve)})")
        else:
            raise TypeError(f"scheme keys are name patterns or module types, got {key!r}")
        skipped = []
        for name, value in targets:
            try:
                fill, needs_two_dims = layered_fill(value)
            except (TypeError, ValueError) as exc:
                named = prefixed(exc, f"scheme key {_key_text(key)} ({name}): ")
                if named is None:
                    raise
                raise named from None
            if name not in resolve:
                raise ValueError(f"scheme key {key!r}: the model has no tensor {name!r}")
            name = resolve[name]
            if needs_two_dims and tensors[name].dim() < 2:
                skipped.append(name)
                continue
            plan[name] = fill
        if targets and len(skipped) == len(targets):
            raise ValueError(f"scheme key {_key_text(key)} gives {_value_text(targets[0][1])}, "
                             f"which needs 2 or more dimensions, only to 1-D tensors "
                             f"{skipped[:3]}: it would change nothing")


def _value_text(value: Any) -> str:
    """Return a scheme value as a message names it."""
    return repr(value) if isinstance(value, (str, tuple)) else type(value).__name__


def _some_names(names) -> str:
    """Return a few of ``names`` for a message: up to three, then how many more."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _key_text(key: Any) -> str:
    """Return a scheme key as its message names it: a pattern's repr, a type's name."""
    return key.__name__ if isinstance(key, type) else repr(key)
