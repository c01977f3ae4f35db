"""What the family hooks of ``scheme="hf"`` share (:mod:`gpuinit.schemes.hf_families`):
the :class:`Context` a hook runs in, the laws of tensors computed as a family computes
them (:func:`computed`), and the hooks made from tables (a class, its tensors, their
laws), which the MoE families' ``_init_weights`` are."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import nn

from ..laws import Computed, Constant, Law, Normal, Rule


class Context:
    """What a family hook needs: the config of the model whose ``_init_weights`` runs
    (``self.config`` there), the family's modeling module, and the rules being built
    (``{tensor name: Rule}``, later assignments winning)."""

    __slots__ = ("config", "namespace", "rules")

    def __init__(self, owner: type, config, rules: dict) -> None:
        self.config, self.rules = config, rules
        self.namespace = sys.modules.get(owner.__module__)

    def classes(self, *names: str) -> tuple[type, ...]:
        """Return the classes of the family's modeling module with these names (those
        that exist in the installed version)."""
        found = (getattr(self.namespace, n, None) for n in names)
        return tuple(c for c in found if isinstance(c, type))

    def isinstance(self, module: nn.Module, *names: str) -> bool:
        return isinstance(module, self.classes(*names))

    def set(self, module: nn.Module, prefix: str, path: str, law: Law, role: str | None = None,
            **edits) -> None:
        """Give the tensor ``path`` ("weight", "c_proj.weight") of ``module`` the rule
        ``Rule(law, role, **edits)``; nothing when the module has no such tensor (a
        ``bias`` that is None)."""
        *parts, attr = path.split(".")
        owner = module
        for part in parts:
            owner = getattr(owner, part, None)
            if not isinstance(owner, nn.Module):
                return
        tensor = owner._parameters.get(attr, owner._buffers.get(attr))
        if tensor is not None:
            self.rules[prefix + path] = Rule(law, role, **edits)

    @property
    def std(self) -> float:
        """``self.config.initializer_range``, as the family hooks read it (not "or 0.02")."""
        return self.config.initializer_range


Hook = Callable[[Context, nn.Module, str], None]
ZERO, ONE = Constant(0.0), Constant(1.0)


def computed(what: str, make: Callable[[], torch.Tensor]) -> Computed:
    """Return the Computed law named ``what`` of ``make()``: the values computed on the
    host, as a family's ``_init_weights`` computes them, moved to the tensor's device and
    dtype and reshaped to its shape."""
    return Computed(what, lambda t: make().to(device=t.device, dtype=t.dtype).reshape(t.shape))


def stds(what: str, compute: Callable[[], float]) -> float:
    """Return compute(), a ValueError naming ``what`` for a division by zero or an
    overflow (a config of d_model=0, n_layer=0 ...)."""
    try:
        return compute()
    except (ZeroDivisionError, ValueError, OverflowError, TypeError) as exc:
        raise ValueError(f"scheme 'hf': cannot compute the std of {what}: "
                         f"{type(exc).__name__}: {exc}") from exc


def table(entries: dict[str, dict[str, str]]) -> Hook:
    """Return the hook of a family whose ``_init_weights`` gives, for each class named in
    ``entries``, each listed tensor a law: "std" N(0, config.initializer_range), "zero"
    or "one" (the routers and fused experts of the MoE families, FalconLinear ...)."""
    laws = {"zero": lambda ctx: ZERO, "one": lambda ctx: ONE,
            "std": lambda ctx: Normal(std=ctx.std)}

    def hook(ctx: Context, module: nn.Module, prefix: str) -> None:
        for name, tensors in entries.items():
            if ctx.isinstance(module, name):
                for path, law in tensors.items():
                    role = "bias" if path.endswith("bias") and law == "zero" else None
                    ctx.set(module, prefix, path, laws[law](ctx), role)
    return hook


EXPERTS = {"gate_up_proj": "std", "down_proj": "std"}
ROUTER = {"weight": "std"}


def moe(family: str, router: str = "TopKRouter", **extra: dict[str, str]) -> Hook:
    """<F>PreTrainedModel._init_weights of the MoE families (Mixtral, Qwen2-MoE,
    Qwen3-MoE, DeepSeek-V2/V3, OLMoE ...): the fused expert tensors ``gate_up_proj``
    (experts, 2·intermediate, hidden) and ``down_proj`` (experts, hidden, intermediate)
    and the router's ``weight`` N(0, initializer_range); ``extra``: {class suffix:
    {tensor: law}} for the rest (DeepSeek-V3's ``e_score_correction_bias`` 0)."""
    entries = {f"{family}Experts": EXPERTS}
    if router:
        entries[f"{family}{router}"] = ROUTER
    for suffix, tensors in extra.items():
        entries[f"{family}{suffix}"] = {**entries.get(f"{family}{suffix}", {}), **tensors}
    return table(entries)
