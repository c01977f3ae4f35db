"""``("megatron", {options})``: Megatron-LM's init, by role.

Matches NVIDIA/Megatron-LM megatron/core/transformer/transformer_config.py
(``TransformerConfig.__post_init__``: init_method, output_layer_init_method,
embedding_init_method and the MuP block) with megatron/core/utils.py
(``init_method_normal``, ``scaled_init_method_normal``,
``mup_scaled_init_method_normal``), where the readout's init is chosen in
megatron/core/models/gpt/gpt_model.py and the embeddings' in
megatron/core/models/common/embeddings/language_model_embedding.py.

With σ = ``std`` (init_method_std, 0.02), σₑ = ``embedding_std`` (default σ),
L = ``num_layers`` (default: the model's blocks), k = ``multiplier`` (2; 1 for
hybrid models) and m = the MuP width multiplier (hidden / ``mup_base_hidden_size``,
or ``mup_width_mult``; 1 without ``use_mup``):

- embedding, pos_embedding: N(0, σₑ)
- attn_q/k/v/qkv, mlp_in/gate/up: N(0, σ) — with MuP N(0, σ/√m)
- attn_out, mlp_out: N(0, σ/√(k·L)) — with MuP N(0, σ/(√(k·L)·√m))
- readout (untied): N(0, σ) — with MuP N(0, σₑ)
- norm: 1 (0 with ``zero_centered_gamma``, Megatron's --apply-layernorm-1p); bias: 0

Megatron-core's own module names are found without a ``roles`` option (see
:mod:`.roles`): ``embedding.word_embeddings`` (VocabParallelEmbedding),
``embedding.position_embeddings``, ``decoder.layers.N.self_attention.linear_qkv``
(with ``layer_norm_weight``/``_bias`` when TE fuses the input norm into it),
``self_attention.linear_proj`` (scaled), ``mlp.linear_fc1``, ``mlp.linear_fc2``
(scaled), ``input_layernorm``, ``pre_mlp_layernorm``, ``decoder.final_layernorm``,
``output_layer``, and the multi-latent and cross attention projections.

Megatron-core's mixture-of-experts layers (megatron/core/transformer/moe/, placed by
their classes, which must come from the ``megatron`` package; a ``roles`` pattern
that names such a tensor wins):

- ``mlp.router.weight`` (``Router``/``TopKRouter``, router.py ``reset_parameters``): role
  "router", ``config.init_method``: N(0, σ) (with MuP N(0, σ/√m)); its ``bias`` (with
  ``add_bias_linear``) is drawn by the same ``init_method``, N(0, σ), not zeroed;
- ``mlp.shared_experts.gate_weight`` (``SharedExpertMLP``, shared_experts.py): role
  "router", ``config.init_method``;
- ``mlp.experts.weight1`` / ``weight2`` (legacy ``GroupedMLP``, experts.py): mlp_in with
  ``init_method`` / mlp_out with ``output_layer_init_method``;
- ``mlp.experts.linear_fc1.weight<i>`` / ``linear_fc2.weight<i>`` (``TEGroupedMLP``'s
  ``TEColumnParallelGroupedLinear`` / ``TERowParallelGroupedLinear``, one weight per
  local expert): mlp_in / mlp_out as their linear's name says; ``bias<i>`` 0
  (Transformer Engine's ``GroupedLinear`` zeroes them);
- ``mlp.experts.local_experts.<e>.linear_fc1/2`` (``SequentialMLP``) and
  ``mlp.shared_experts.linear_fc1/2``: by their names, as a dense MLP's;
- ``mlp.fc1_latent_proj`` / ``fc2_latent_proj`` (``MoELayer`` with ``moe_latent_size``):
  mlp_in / mlp_out.

The router's ``expert_bias`` (``moe_router_enable_expert_bias``) is a buffer of zeros,
made on the GPU by Megatron-core.

A model holding Megatron-core's ``TransformerConfig`` as ``model.config`` (GPTModel,
MambaModel, a pipeline stage of either) gives the options left unset: ``std`` its
``init_method_std``, ``embedding_std`` its ``embedding_init_method_std``,
``num_layers`` its ``num_layers`` (the whole model's, as Megatron scales by it on
every pipeline stage), ``multiplier`` 1 when ``is_hybrid_model`` (an ``embedding_std``
equal to the config's ``init_method_std`` is its default, so a ``std`` option sets
both, as in Megatron); and its
``layernorm_zero_centered_gamma`` turns ``zero_centered_gamma`` on (the gain is
stored zero-centered by the model's forward).  A custom ``init_method`` callable in
the config is not read: give its law with ``overrides``.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from torch import nn

from ..laws import Constant, Normal
from .common import norm_or_bias, role_rules
from .options import (
    BOOL,
    COUNT,
    COUNT_OR_NONE,
    MAPPING_OR_NONE,
    POSITIVE,
    POSITIVE_OR_NONE,
    check_option,
)
from .registry import Scheme, register
from .roles import TensorInfo, analyze, depth, hidden_size, linear_role

DEFAULTS = {"std": None, "embedding_std": None, "num_layers": None, "multiplier": None,
            "use_mup": False, "mup_base_hidden_size": None, "mup_width_mult": None,
            "zero_centered_gamma": False, "roles": None}
CHECKS = {"std": POSITIVE_OR_NONE, "embedding_std": POSITIVE_OR_NONE,
          "num_layers": COUNT_OR_NONE, "multiplier": POSITIVE_OR_NONE, "use_mup": BOOL,
          "mup_base_hidden_size": COUNT_OR_NONE,
          "mup_width_mult": POSITIVE_OR_NONE, "zero_centered_gamma": BOOL,
          "roles": MAPPING_OR_NONE}


STD, MULTIPLIER = 0.02, 2.0  # Megatron's init_method_std and scaled init's multiplier


def megatron_config(model: nn.Module) -> Any:
    """Return ``model.config`` when it is a config of Megatron-core (its class defined
    under the ``megatron`` package: TransformerConfig and its subclasses), else None."""
    config = getattr(model, "config", None)
    module = getattr(type(config), "__module__", "") or ""
    return config if module == "megatron" or module.startswith("megatron.") else None


def _from_config(config: Any, field: str, constraint) -> Any:
    """Return ``config.<field>`` checked against ``constraint`` (None when the config has
    no such field or leaves it None); TypeError/ValueError naming the field."""
    value = getattr(config, field, None)
    if value is None:
        return None
    return check_option("megatron", f"model.config.{field}", value, constraint)


def config_options(model: nn.Module, options: dict) -> dict:
    """Return ``options`` with the ones left None (std, embedding_std, num_layers,
    multiplier) read off a Megatron-core ``model.config`` (see the module docstring),
    then Megatron's defaults: std 0.02, multiplier 2."""
    options = dict(options)
    config = megatron_config(model)
    if config is not None:
        std = _from_config(config, "init_method_std", POSITIVE)
        embedding_std = _from_config(config, "embedding_init_method_std", POSITIVE)
        if options["std"] is not None and embedding_std == std:
            embedding_std = None  # the config's follows its std; the option's std wins
        read = {"std": std, "embedding_std": embedding_std,
                "num_layers": _from_config(config, "num_layers", COUNT),
                "multiplier": (1.0 if _from_config(config, "is_hybrid_model", BOOL) else None)}
        for key, value in read.items():
            if options[key] is None:
                options[key] = value
        if _from_config(config, "layernorm_zero_centered_gamma", BOOL):
            options["zero_centered_gamma"] = True
    options["std"] = STD if options["std"] is None else options["std"]
    options["multiplier"] = MULTIPLIER if options["multiplier"] is None else options["multiplier"]
    return options


# Megatron-core's MoE tensors that are not found by their names: {class: {attribute: role}}.
_MOE_ATTRIBUTES = {"GroupedMLP": {"weight1": "mlp_in", "weight2": "mlp_out"},
                   "SharedExpertMLP": {"gate_weight": "router"}}
_MOE_LATENT = {"fc1_latent_proj": "mlp_in", "fc2_latent_proj": "mlp_out"}
_GROUPED = re.compile(r"(weight|bias)\d+")


def _from_megatron(module: nn.Module) -> bool:
    module_name = type(module).__module__ or ""
    return module_name == "megatron" or module_name.startswith("megatron.")


def _moe_role(info: TensorInfo) -> str | None:
    """Return the role of a tensor of Megatron-core's MoE modules (module docstring),
    or None when it is not one."""
    module, kind, attr = info.module, type(info.module).__name__, info.attr
    if not (info.is_parameter and _from_megatron(module)):
        return None
    if kind.endswith("Router") and attr in ("weight", "bias"):
        return "router"
    if attr in _MOE_ATTRIBUTES.get(kind, {}):
        return _MOE_ATTRIBUTES[kind][attr]
    grouped = _GROUPED.fullmatch(attr)
    if kind.endswith("GroupedLinear") and grouped:
        role = linear_role(info.module_name, module)
        info.module_role = role
        return role if grouped[1] == "weight" else "bias"
    last = info.module_name.rsplit(".", 1)[-1]
    if attr == "weight" and last in _MOE_LATENT:
        return _MOE_LATENT[last]
    return None


def moe_roles(infos: Mapping[str, TensorInfo], roles: Mapping | None) -> None:
    """Give the tensors of Megatron-core's MoE layers their roles in ``infos`` (in place;
    module docstring); a tensor that a pattern of the ``roles`` option names keeps the
    role it gave."""
    patterns = list(roles or {})
    for name, info in infos.items():
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            continue
        role = _moe_role(info)
        if role is not None:
            info.role = role


def width_multiplier(scheme: str, model: nn.Module, infos, base_hidden, width_mult) -> float:
    """Return the MuP width multiplier: ``width_mult`` when given, else hidden size /
    ``base_hidden`` (1 when neither is given; both are checked options)."""
    if width_mult is not None:
        return width_mult
    if base_hidden is None:
        return 1.0
    hidden = hidden_size(model, infos)
    if hidden is None:
        raise ValueError(f"scheme {scheme!r}: cannot find the model's hidden size; pass "
                         "mup_width_mult")
    return hidden / base_hidden


def megatron_rules(model: nn.Module, options: dict, skip: Collection[str] = ()):
    """Return {tensor name: Rule} of Megatron-LM's init (see the module docstring);
    ``options`` are checked against :data:`CHECKS` already."""
    options = config_options(model, options)
    sigma, multiplier = options["std"], options["multiplier"]
    sigma_e = sigma if options["embedding_std"] is None else options["embedding_std"]
    infos = analyze(model, options["roles"])
    moe_roles(infos, options["roles"])
    layers = options["num_layers"] if options["num_layers"] is not None else depth(infos)
    mup = options["use_mup"]
    m = width_multiplier("megatron", model, infos, options["mup_base_hidden_size"],
                         options["mup_width_mult"]) if mup else 1.0
    hidden = Normal(std=sigma / math.sqrt(m))
    output = Normal(std=sigma / (math.sqrt(multiplier * layers) * math.sqrt(m)))
    by_role = {
        "embedding": Normal(std=sigma_e), "pos_embedding": Normal(std=sigma_e),
        "attn_q": hidden, "attn_k": hidden, "attn_v": hidden, "attn_qkv": hidden,
        "mlp_in": hidden, "mlp_gate": hidden, "mlp_up": hidden,
        "attn_out": output, "mlp_out": output,
        "readout": Normal(std=sigma_e) if mup else Normal(std=sigma), "router": hidden,
    }

    def law(info):
        if info.role == "norm" and options["zero_centered_gamma"]:
            return Constant(0.0)
        if info.role == "router":  # Router.reset_parameters: init_method on the bias too
            return hidden
        return norm_or_bias(info) or by_role[info.role]

    return role_rules(model, "megatron", None, law, skip, infos=infos)


register(Scheme("megatron", megatron_rules, DEFAULTS,
                "N(0, std); attention/MLP output projections std/sqrt(2L); MoE routers and "
                "experts; optional MuP",
                "NVIDIA/Megatron-LM megatron/core/transformer/transformer_config.py, "
                "megatron/core/utils.py", checks=CHECKS))
