"""``("torchtitan", {...})``: torchtitan's Llama 3 init, by role.

Matches pytorch/torchtitan 0.3.0 torchtitan/models/llama3/__init__.py (``_LINEAR_INIT``,
``_NORM_INIT``, ``_EMBEDDING_INIT``, ``_EMBEDDING_SKIP_INIT``, ``_output_linear_init``,
``_depth_init``, ``_build_llama3_layers``) with torchtitan/models/common/param_init.py
(``depth_scaled_std``), torchtitan/models/common/config_utils.py (``make_gqa_config``,
``_fused_qkv_param_init``, ``make_ffn_config``) and torchtitan/models/common/rope.py
(``RoPE._init_self_buffers``), as torchtitan/protocols/module.py ``Module.init_states``
runs them; and the 0.1/0.2 releases' torchtitan/models/llama3/model/model.py
(``Transformer.init_weights``, ``TransformerBlock.__init__`` and ``init_weights``,
``Attention.init_weights``, ``FeedForward.init_weights``) with model/args.py
(``TransformerModelArgs.depth_init``), which give the same laws.

With σ = 0.02, d = ``dim``, L = ``n_layers``, i = the block index ("layers.i") and
TN(s; a, b) = ``torch.nn.init.trunc_normal_(std=s, a=a, b=b)``, whose bounds are
absolute (its defaults a=-2, b=2 stay when torchtitan passes only ``std``: ±100σ,
in effect untruncated for these stds):

=========================  ============================================================
role                       law
=========================  ============================================================
embedding (tok_embeddings) N(0, 1) (``nn.init.normal_(std=1.0)``)
embedding tied to the      the readout's law (``enable_weight_tying``: tok_embeddings is
readout                    ``skip_param_init``, the shared weight is lm_head's)
attn_q/k/v (wq, wk, wv),   TN(σ; -2, 2)
attn_qkv (fused wqkv),
mlp_gate (w1), mlp_in
attn_out (wo), mlp_up      TN(s_i; -2, 2): s_i = σ/√(2(i+1)) with ``depth_init`` (the
(w3), mlp_out (w2)         default; torchtitan 0.3.0 always), else σ/√(2L)
readout (lm_head, output)  TN(d^-½; -3·d^-½, 3·d^-½)
norm (RMSNorm, q/k norms)  1
bias                       0 (Linear has none by default)
=========================  ============================================================

A fused ``wqkv`` is drawn by torchtitan as separate q, k and v of one law and
interleaved per kv head (``_fused_qkv_param_init``); elementwise that is the same law
as one draw over the whole tensor, which is what gpuinit does.  A position
embedding (Llama has none) is treated as an embedding.

Options: ``depth_init`` (True), ``n_layers`` (L for ``depth_init=False``; default the
model's: ``model_args.n_layers`` (0.1/0.2), else ``len(config.layers)`` (0.3.0), else
its blocks), ``dim`` (default ``config.dim``, ``model_args.dim``, else the model's
width), ``roles``.

RoPE buffers are recomputed on the target device by the model's own code, as
``init_states``/``init_weights`` do under ``torch.device(buffer_device)``: the
``cache`` of every module with ``_precompute_cache()`` (0.3.0's ``ComplexRoPE`` /
``CosSinRoPE``) and the ``freqs_cis`` of a module with ``_precompute_freqs_cis()``
(0.1/0.2's ``Transformer``).  A RoPE buffer of a module without that method cannot be
recomputed: it has no rule, and ``materialize``/``init_module`` refuse the model naming
it before anything is written (cover it with ``{"overrides": {...}}``).
"""

from __future__ import annotations

import math
from collections.abc import Collection

import torch
from torch import nn

from ..laws import Computed, Law, Normal, Rule, TruncatedNormal
from ..torch.plan import Fill, named_tensors, tensor_slots
from .common import norm_or_bias, role_rules
from .options import BOOL, COUNT_OR_NONE, MAPPING_OR_NONE
from .registry import Scheme, count, register
from .roles import analyze, depth, hidden_size, tensor_role

STD = 0.02  # torchtitan's _LINEAR_INIT / depth_scaled_std base
BOUND = 2.0  # torch.nn.init.trunc_normal_'s default absolute bounds a=-2, b=2
CUTOFF = 3.0  # _output_linear_init / init_weights: cutoff_factor
DEFAULTS = {"depth_init": True, "n_layers": None, "dim": None, "roles": None}
CHECKS = {"depth_init": BOOL, "n_layers": COUNT_OR_NONE, "dim": COUNT_OR_NONE,
          "roles": MAPPING_OR_NONE}
_DEPTH_SCALED = ("attn_out", "mlp_up", "mlp_out")
_HINT = (" (torchtitan recomputes a RoPE buffer by its module's _precompute_cache() or the "
         "model's _precompute_freqs_cis(); a module without one cannot be recomputed)")


def _model_setting(model: nn.Module, key: str):
    """Return ``model_args.<key>`` (torchtitan 0.1/0.2) or ``config.<key>`` (0.3.0), or None."""
    for holder in ("model_args", "config"):
        value = getattr(getattr(model, holder, None), key, None)
        if value is not None:
            return value
    return None


def _n_layers(model: nn.Module, infos, given) -> int:
    if given is not None:
        return given
    value = _model_setting(model, "n_layers")
    if value is None:
        layers = getattr(getattr(model, "config", None), "layers", None)
        value = len(layers) if isinstance(layers, (list, tuple)) else depth(infos)
    return count("torchtitan", "n_layers", value)


def _dim(model: nn.Module, infos, given) -> int:
    if given is not None:
        return given
    value = _model_setting(model, "dim")
    if value is None:
        value = hidden_size(model, infos)
    if value is None:
        raise ValueError("scheme 'torchtitan': cannot find the model dim; pass it as "
                         "('torchtitan', {'dim': ...})")
    return count("torchtitan", "dim", value)


def _readout_ids(model: nn.Module) -> set[int]:
    """Return the ids of the weights registered as a readout (lm_head, output) under any
    of their names: a tied embedding is one of them."""
    ids = set()
    for slot in tensor_slots(model):
        owner = slot.name.rpartition(".")[0]
        if slot.is_parameter and tensor_role(owner, slot.module, slot.attr, True) == "readout":
            ids.add(id(slot.tensor))
    return ids


def _compute(module: nn.Module, method: str):
    """Return compute(t) -> ``module.<method>()`` built under ``torch.device(t.device)``."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        with torch.device(t.device):
            return getattr(module, method)().to(t.device)
    return compute


def rope_buffers(model: nn.Module) -> dict[str, Fill]:
    """Return {buffer name: Rule} recomputing torchtitan's RoPE buffers by the model's own
    methods: ``cache`` by ``_precompute_cache()``, ``freqs_cis`` by
    ``_precompute_freqs_cis()`` (see the module docstring)."""
    rules: dict[str, Fill] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        for attr, t in module._buffers.items():
            method = {"cache": "_precompute_cache",
                      "freqs_cis": "_precompute_freqs_cis"}.get(attr)
            if t is not None and method and callable(getattr(module, method, None)):
                law = Computed(f"RoPE {attr}: {type(module).__name__}.{method}()",
                               _compute(module, method))
                rules[prefix + attr] = Rule(law, "buffer")
    return rules


def torchtitan_rules(model: nn.Module, options: dict, skip: Collection[str] = ()):
    """Return {tensor name: Rule} of torchtitan's Llama 3 init (the module docstring);
    ``options`` are checked against :data:`CHECKS` already."""
    infos = analyze(model, options["roles"])
    tensors = named_tensors(model)
    readout_ids = _readout_ids(model)
    facts: dict[str, int] = {}

    def readout() -> Law:
        if "dim" not in facts:
            facts["dim"] = _dim(model, infos, options["dim"])
        s = facts["dim"] ** -0.5
        return TruncatedNormal.absolute(s, -CUTOFF * s, CUTOFF * s)

    def law(info) -> Law | Rule:
        fixed = norm_or_bias(info)
        if fixed is not None:
            return fixed
        role = info.role
        if role == "readout" or (role == "embedding" and id(tensors[info.name]) in readout_ids):
            return Rule(readout(), role)
        if role in ("embedding", "pos_embedding"):
            return Rule(Normal(std=1.0), role)  # normal_ over the whole table: no padding row
        if role in _DEPTH_SCALED:
            if options["depth_init"]:
                i = info.layer if info.layer is not None else 0
                s = STD / (2 * (i + 1)) ** 0.5
            else:
                if "n_layers" not in facts:
                    facts["n_layers"] = _n_layers(model, infos, options["n_layers"])
                s = STD / math.sqrt(2 * facts["n_layers"])
            return TruncatedNormal.absolute(s, -BOUND, BOUND)
        return TruncatedNormal.absolute(STD, -BOUND, BOUND)

    rules = role_rules(model, "torchtitan", None, law, skip, infos=infos)
    rules.update(rope_buffers(model))
    return rules


register(Scheme(
    "torchtitan", torchtitan_rules, DEFAULTS,
    "torchtitan's Llama 3: trunc_normal 0.02, wo/w2/w3 depth-scaled, embeddings N(0, 1), "
    "output cut at 3/sqrt(dim)",
    "pytorch/torchtitan torchtitan/models/llama3/__init__.py (0.3.0), "
    "torchtitan/models/llama3/model/model.py Transformer.init_weights (0.1/0.2)",
    hint=_HINT, checks=CHECKS))
