"""``("olmo", {...})`` and ``("olmo_core", {...})``: AI2's OLMo and OLMo-core inits, by role.

"olmo" matches allenai/OLMo olmo/model.py (``OLMo.reset_parameters``,
``OLMoSequentialBlock.reset_parameters``, ``OLMoLlamaBlock.reset_parameters``,
``OLMoBlock.reset_parameters``) with olmo/initialization.py ``init_normal`` and
olmo/config.py ``InitFnType``.  Every weight is N(0, s²), truncated at ±c·s when
the cutoff factor c is set (``cutoff_factor``; default none for "normal", 3 for
"mitchell" and "full_megatron"); d = d_model, L = n_layers, i = the block index:

=============  ===========================  ========================  =================
role           normal                       mitchell                  full_megatron
=============  ===========================  ========================  =================
embedding      emb_std or std               emb_std or 1/√d           emb_std, or std·√d
                                                                      (scale_emb_init),
                                                                      or std
pos_embedding  std                          1/√d                      std
q/k/v, mlp_in  std                          1/√d                      std
attn_out       std                          1/√(2·d·(i+1))            std/√(2L)
mlp_out        std                          1/√(2·fan_in·(i+1))       std/√(2L)
readout        std                          1/√d                      1/√d
=============  ===========================  ========================  =================

"olmo_core" matches allenai/OLMo-core src/olmo_core/nn/transformer/init.py
(``InitMethod``: ``init_embeddings``, ``init_final_w_out``, ``init_feed_forward``),
src/olmo_core/nn/attention/__init__.py (``Attention.init_weights``) and
src/olmo_core/nn/transformer/model.py (``Transformer.init_weights``).  Linear
weights are ``init_linear``'s N(0, s²) truncated at ±3s; embeddings as listed:

=============  ==================  ===============  ===============  ===============
role           normal              llama            llama_depth      fan_in
=============  ==================  ===============  ===============  ===============
embedding      TN(emb_std or std)  N(0, 1)          N(0, 1)          N(0, 1/scale²)
q/k/v          std                 std              std              1/√fan_in
attn_out       std                 std/√(2L)        std/√(2(i+1))    1/√fan_in
mlp_gate (w1)  std                 std              std              1/√fan_in
mlp_up (w3)    std                 std/√(2L)        std/√(2(i+1))    1/√fan_in
mlp_out (w2)   std                 std/√(2L)        std/√(2(i+1))    1/√fan_in
readout        std                 1/√d             1/√d             1/√d
=============  ==================  ===============  ===============  ===============

(OLMo-core's w2 inherits the std just computed for w3, hence llama's scaled w2; a
plain MLP's input projection ``mlp_in`` is treated as w1, position embeddings as
embeddings.)  Norm gains are 1 and biases 0 in both.

On an OLMo-core ``Transformer`` (src/olmo_core/nn/transformer/model.py; found as the
model or one of its modules) "olmo_core" reads the options ``Transformer.init_weights``
passes to ``InitMethod`` off the model, as ``init_weights`` does: ``method`` from
``init_method``, ``std`` from ``init_std``, ``embedding_std`` from
``embedding_init_std``, ``embed_scale`` from ``embed_scale``, ``d_model`` from
``d_model`` and ``n_layers`` (``num_blocks``) from ``n_layers``.  An option given
explicitly wins over the model's value; an option neither given nor on the model
takes the default (method "normal", std 0.02; d_model and n_layers then come from
the shapes and the blocks).  A model whose ``init_method`` is "normalized" (nGPT) is
refused: that init is not reproduced.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from torch import nn

from ..laws import Law, Normal, TruncatedNormal
from .common import norm_or_bias, role_rules
from .options import (
    BOOL,
    COUNT_OR_NONE,
    MAPPING_OR_NONE,
    POSITIVE,
    POSITIVE_OR_NONE,
    check_option,
    one_of,
)
from .registry import Scheme, count, register
from .roles import analyze, depth, hidden_size

OLMO_METHODS = ("normal", "mitchell", "full_megatron")
OLMO_CORE_METHODS = ("normal", "llama", "llama_depth", "fan_in")
OLMO_CHECKS = {"method": one_of(*OLMO_METHODS), "std": POSITIVE,
               "cutoff_factor": POSITIVE_OR_NONE, "emb_std": POSITIVE_OR_NONE,
               "scale_emb_init": BOOL, "d_model": COUNT_OR_NONE, "n_layers": COUNT_OR_NONE,
               "roles": MAPPING_OR_NONE}
OLMO_CORE_CHECKS = {"method": one_of(*OLMO_CORE_METHODS, optional=True), "std": POSITIVE_OR_NONE,
                    "embedding_std": POSITIVE_OR_NONE, "embed_scale": POSITIVE_OR_NONE,
                    "d_model": COUNT_OR_NONE, "n_layers": COUNT_OR_NONE,
                    "roles": MAPPING_OR_NONE}


# Transformer.init_weights' attribute for each option of "olmo_core".
OLMO_CORE_ATTRIBUTES = {"method": "init_method", "std": "init_std",
                        "embedding_std": "embedding_init_std", "embed_scale": "embed_scale",
                        "d_model": "d_model", "n_layers": "n_layers"}
OLMO_CORE_DEFAULTS = {"method": "normal", "std": 0.02}


def olmo_core_transformer(model: nn.Module) -> nn.Module | None:
    """Return the OLMo-core ``Transformer`` in ``model`` (the model itself or the first
    of its modules defined in ``olmo_core`` with ``init_method`` and ``init_std``), or
    None.  olmo_core is not imported."""
    for module in model.modules():
        if type(module).__module__.startswith("olmo_core.") \
                and hasattr(module, "init_method") and hasattr(module, "init_std"):
            return module
    return None


def olmo_core_options(model: nn.Module, options: dict) -> dict:
    """Return ``options`` (checked against :data:`OLMO_CORE_CHECKS`) with every option
    left None filled from the OLMo-core ``Transformer`` in ``model`` (its attribute in
    :data:`OLMO_CORE_ATTRIBUTES`), then from :data:`OLMO_CORE_DEFAULTS`.  A value read
    off the model is checked as the option is (TypeError/ValueError naming the
    attribute); ValueError for an ``init_method`` that is not reproduced."""
    found = olmo_core_transformer(model)
    filled = dict(options)
    for option, attribute in OLMO_CORE_ATTRIBUTES.items():
        if filled[option] is not None or found is None:
            continue
        value = getattr(found, attribute, None)
        if option == "method" and value is not None:
            value = getattr(value, "value", value)  # olmo_core's InitMethod is a StrEnum
            if value not in OLMO_CORE_METHODS:
                raise ValueError(
                    f"scheme 'olmo_core': the model's init_method={value!r} is not reproduced "
                    f"(methods: {', '.join(map(repr, OLMO_CORE_METHODS))}); pass one as the "
                    "'method' option to use it instead")
        filled[option] = check_option("olmo_core", f"{option} (the model's {attribute})",
                                      value, OLMO_CORE_CHECKS[option])
    for option, default in OLMO_CORE_DEFAULTS.items():
        if filled[option] is None:
            filled[option] = default
    return filled


def _facts(scheme: str, model: nn.Module, options: dict):
    """Return (infos, d_model, n_layers) with the options' overrides (checked options;
    a d_model read off the model is checked here)."""
    infos = analyze(model, options["roles"])
    d = options["d_model"] if options["d_model"] is not None else hidden_size(model, infos)
    if d is None:
        raise ValueError(f"scheme {scheme!r}: cannot find d_model; pass it as an option")
    d = count(scheme, "d_model", d)
    layers = options["n_layers"] if options["n_layers"] is not None else depth(infos)
    return infos, d, layers


def _index(info) -> int:
    return info.layer if info.layer is not None else 0


def olmo_rules(model: nn.Module, options: dict, skip: Collection[str] = ()):
    """Return {tensor name: Rule} of OLMo's ``reset_parameters`` (module docstring);
    ``options`` are checked against :data:`OLMO_CHECKS` already."""
    method, std, cutoff = options["method"], options["std"], options["cutoff_factor"]
    emb_std = options["emb_std"]
    infos, d, layers = _facts("olmo", model, options)
    if method != "normal" and cutoff is None:
        cutoff = 3.0

    def s(info) -> float:
        role, i = info.role, _index(info)
        if method == "normal":
            return (emb_std or std) if role == "embedding" else std
        if method == "mitchell":
            if role == "embedding":
                return emb_std or 1.0 / math.sqrt(d)
            if role == "attn_out":
                return 1.0 / math.sqrt(2 * d * (i + 1))
            if role == "mlp_out":
                return 1.0 / math.sqrt(2 * info.fan_in * (i + 1))
            return 1.0 / math.sqrt(d)
        if role == "embedding":  # full_megatron
            if emb_std is not None:
                return emb_std
            return std * math.sqrt(d) if options["scale_emb_init"] else std
        if role in ("attn_out", "mlp_out"):
            return std / math.sqrt(2.0 * layers)
        return 1.0 / math.sqrt(d) if role == "readout" else std

    def law(info) -> Law:
        return norm_or_bias(info) or TruncatedNormal.cutoff(s(info), cutoff)

    return role_rules(model, "olmo", None, law, skip, infos=infos)


def olmo_core_rules(model: nn.Module, options: dict, skip: Collection[str] = ()):
    """Return {tensor name: Rule} of OLMo-core's ``InitMethod`` (module docstring);
    ``options`` are checked against :data:`OLMO_CORE_CHECKS` already; those left None
    are read off an OLMo-core model (:func:`olmo_core_options`)."""
    options = olmo_core_options(model, options)
    method, std = options["method"], options["std"]
    emb_std, scale = options["embedding_std"], options["embed_scale"]
    infos, d, layers = _facts("olmo_core", model, options)

    def linear(s: float) -> Law:
        return TruncatedNormal.absolute(s, -3 * s, 3 * s)

    def law(info) -> Law:
        fixed = norm_or_bias(info)
        if fixed is not None:
            return fixed
        role, i = info.role, _index(info)
        if role in ("embedding", "pos_embedding"):
            if method in ("llama", "llama_depth"):
                return Normal(std=1.0)
            if method == "fan_in":
                return Normal(std=1.0 / scale if scale is not None else 1.0)
            return linear(emb_std if emb_std is not None else std)
        if role == "readout":  # init_final_w_out
            return linear(std if method == "normal" else d ** -0.5)
        if method == "fan_in":
            return linear(info.fan_in ** -0.5)
        if role in ("attn_out", "mlp_up", "mlp_out"):
            if method == "llama":
                return linear(std / math.sqrt(2 * layers))
            if method == "llama_depth":
                return linear(std / math.sqrt(2 * (i + 1)))
        return linear(std)

    return role_rules(model, "olmo_core", None, law, skip, infos=infos)


register(Scheme(
    "olmo", olmo_rules,
    {"method": "normal", "std": 0.02, "cutoff_factor": None, "emb_std": None,
     "scale_emb_init": False, "d_model": None, "n_layers": None, "roles": None},
    "OLMo's reset_parameters: normal, mitchell or full_megatron, truncated at cutoff·std",
    "allenai/OLMo olmo/model.py, olmo/initialization.py, olmo/config.py", checks=OLMO_CHECKS))
register(Scheme(
    "olmo_core", olmo_core_rules,
    {"method": None, "std": None, "embedding_std": None, "embed_scale": None,
     "d_model": None, "n_layers": None, "roles": None},
    "OLMo-core's InitMethod: normal, llama, llama_depth or fan_in (linears cut at 3 std); "
    "options read off an OLMo-core model",
    "allenai/OLMo-core src/olmo_core/nn/transformer/init.py", checks=OLMO_CORE_CHECKS))
