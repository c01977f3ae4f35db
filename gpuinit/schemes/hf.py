"""``scheme="hf"``: the laws of a transformers model's own ``_init_weights``.

std = ``config.initializer_range`` (0.02 when unset or 0; else ``init_std``, else
``initializer_factor``), as ``PreTrainedModel._init_weights`` reads it
(transformers/modeling_utils.py).  Over the torch defaults of every module (what
the constructor leaves where ``_init_weights`` does nothing):

- Linear, Conv1d/2d/3d, ConvTranspose1d/2d: weight N(0, std), bias 0;
- Embedding: N(0, std), the ``padding_idx`` row 0;
- LSTM: weights xavier_uniform, biases 0; MultiheadAttention: torch's own init;
- GroupNorm, BatchNorm* and classes named *LayerNorm*/*RMSNorm*: weight 1, bias 0,
  running mean 0, running var 1.

Families with their own ``_init_weights`` (which runs the generic one first, then
sets some tensors) add their rules (:mod:`gpuinit.schemes.hf_families`, read from
transformers 5.25): GPT-2 and GPTBigCode (residual ``c_proj`` N(0, std/√(2·n_layer))),
BERT, Gemma/Gemma2/Gemma3/VaultGemma (RMSNorm weights 0: the norm scales by 1 +
weight), T5/MT5/UMT5/LongT5 (factor-scaled per projection), Falcon, Nemotron, the MoE
families (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, GraniteMoE, GraniteMoeShared, PhiMoE,
DeepSeek-V2/V3/V3.2, GLM-4-MoE, dots1, ERNIE-4.5-MoE, HunYuan-MoE, Cohere2-MoE,
GPT-OSS, DBRX, JetMoE: fused expert tensors and routers N(0, initializer_range)),
Mamba/FalconMamba/Mamba2 and Jamba (S4D ``A_log``, ``D``, the time-step bias,
kaiming-uniform conv and out projections), Qwen3-Next/Qwen3.5 (gated delta nets),
GPT-Neo, GPT-J, CodeGen, OLMo3, Bart, mBART, Blenderbot, Pegasus, Marian, M2M100,
XGLM; Llama 4 (text and vision), Gemma3n (text and audio), Gemma 4 (text, vision
and audio), MiniMax, MiniMax-M2, SwitchTransformers, T5Gemma, Whisper, the Mamba-2
hybrids (Bamba, Falcon-H1, Zamba, Zamba2, Nemotron-H, GraniteMoeHybrid), OLMo-Hybrid,
Kimi-Linear, Bailing-Hybrid, MiniCPM3, MiniCPM5-MoE, GraniteSWA, GraniteMoeSWA,
DiffLlama, NanoChat, FlexOlmo, GLM-4-MoE-Lite, Mistral4, EXAONE-MoE, LongCat-Flash,
Solar-Open, LFM2-MoE, HY-V3, AFMoE, Doge, CTRL and NLLB-MoE; RWKV (time-decay, time-first
and time-mix values computed from each layer's index, orthogonal projections) and
RecurrentGemma (the RG-LRU's gates and recurrence parameter; :mod:`gpuinit.schemes.hf_recurrent`);
OpenAI GPT, XLNet, XLM, FlauBERT, CPM-Ant, GPT-NeoX-Japanese, Reformer, ModernBERT-decoder,
FSMT, the BERT-style encoders built as causal LMs (RoBERTa, CamemBERT, XLM-RoBERTa,
XLM-RoBERTa-XL, RoBERTa-PreLayerNorm, X-MOD, ERNIE, RoCBert, MegatronBERT, BigBird,
BertGeneration, RoFormer, Data2VecText, ELECTRA, RemBERT) and BlenderbotSmall, PLBart,
MVP, LED, BigBirdPegasus (:mod:`gpuinit.schemes.hf_classic_lms`); Mellum, Laguna, Flint,
Kolibri1, MiMo-V2-Flash, A.X K1/K2, GLM-MoE-DSA, Beam, Aria (text), Ergo, Dory, Lara-Mini,
Youtu, HRM-Text and LFM3 (:mod:`gpuinit.schemes.hf_recent_decoders`).  Llama, Mistral,
Qwen2/3, Phi/Phi-3, OLMo/OLMo2, GPT-NeoX, OPT, BLOOM, StableLM, Starcoder2, Cohere,
Granite, MPT ... use the generic rules (transformers 5 has no override for them).  As
``PreTrainedModel.initialize_weights`` does, modules are visited children first, each
by the ``_init_weights`` of the nearest transformers model holding it (a sub-model by
its own, with its own config), and a later rule of a tensor wins (T5Attention's over
its Linear's).  A tied input/output embedding is one tensor, filled once by the rule
of the tie's source (``tie_weights`` points the target at the source after the
init).  A model (or sub-model) whose ``_init_weights`` comes from another class
raises ValueError naming it before anything is allocated, since its laws are not
these; so does any tensor no rule places.  On transformers 4.x only the generic
families (Llama, Mistral, Qwen2, GPT-NeoX), GPT-2 and BERT are known.

Buffers that constructors compute (:func:`computed_buffers`, used by every named
scheme) are recomputed on the tensor's device, as the constructor computes them
when the model is built under ``torch.device(device)``: a rotary embedding's
``inv_freq`` and ``original_inv_freq`` by its ``rope_type``'s init function
(``compute_default_rope_parameters`` or ``ROPE_INIT_FUNCTIONS[rope_type]``, as the
generic ``_init_weights`` does; ``rope_init_fn`` on transformers 4.x), and Gemma3's
per-layer-type ``<layer type>_inv_freq`` likewise; GPT-J's and CodeGen's sinusoidal
``embed_positions``; a scaled word embedding's ``embed_scale``; ``position_ids`` =
arange, ``token_type_ids`` = 0, and the boolean causal-mask buffers ``bias`` of
attention layers = tril(ones) (GPT-Neo's local layers: less the part beyond
``window_size``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection

import torch
from torch import nn

from ..laws import Computed, Constant, Law, Normal, Rule, Uniform
from ..torch.plan import Fill
from .hf_context import Context
from .hf_families import HOOKS
from .registry import Scheme, register

# The _init_weights that scheme "hf" knows on transformers 4.x (its base one does nothing).
_LEGACY = {"LlamaPreTrainedModel", "MistralPreTrainedModel", "Qwen2PreTrainedModel",
           "GPTNeoXPreTrainedModel", "GPT2PreTrainedModel", "BertPreTrainedModel"}
_GENERIC_LINEAR = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                   nn.ConvTranspose2d)


def _pretrained_class():
    """Return transformers.PreTrainedModel; ValueError when transformers is not installed,
    ImportError (chained, with its message) when it is but its import fails."""
    try:
        from transformers import PreTrainedModel
    except ModuleNotFoundError as exc:
        if exc.name != "transformers":  # a module transformers imports is missing
            raise ImportError(f"scheme 'hf': importing transformers failed: "
                              f"{type(exc).__name__}: {exc}") from exc
        raise ValueError("scheme 'hf' needs transformers: pip install transformers") from None
    except Exception as exc:  # installed but broken: say why
        raise ImportError(f"scheme 'hf': importing transformers failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    return PreTrainedModel


def _init_owner(cls: type) -> type:
    return next(c for c in cls.__mro__ if "_init_weights" in vars(c))


def _known(owner: type) -> bool:
    if _transformers_major() < 5:
        return owner.__name__ in _LEGACY
    return owner.__name__ == "PreTrainedModel" or owner.__name__ in HOOKS


def family(model: nn.Module) -> tuple[str, str]:
    """Return (family, name of the class defining ``_init_weights``) of a transformers
    model: family "generic" for the base init (and the overrides that only recompute
    constructor buffers), else the class's name less "PreTrainedModel" in lower case
    ("gpt2", "t5", "mixtral").  ValueError for a model that is not one, or whose init
    (or a sub-model's) is not known here, or when transformers is not installed;
    ImportError, chained to the error and with its message, when transformers is
    installed but its import fails."""
    pretrained = _pretrained_class()
    if not isinstance(model, pretrained):
        raise ValueError(f"scheme 'hf' needs a transformers PreTrainedModel, got "
                         f"{type(model).__name__}")
    for sub in model.modules():
        if isinstance(sub, pretrained):
            owner = _init_owner(type(sub))
            if not _known(owner):
                of = type(sub).__name__ + ("" if sub is model else
                                           f", a part of {type(model).__name__}")
                raise ValueError(
                    f"scheme 'hf' does not know {owner.__module__}.{owner.__name__}."
                    f"_init_weights (the init of {of}); it knows the generic init and "
                    f"those of {_known_names()}; use a dict scheme or a named scheme instead")
    owner = _init_owner(type(model))
    if HOOKS.get(owner.__name__) is None:  # the base init, its 4.x copies, GPT-J, CodeGen
        return "generic", owner.__name__
    return owner.__name__.removesuffix("PreTrainedModel").lower(), owner.__name__


def _known_names() -> str:
    names = _LEGACY if _transformers_major() < 5 else HOOKS
    return ", ".join(sorted(n.removesuffix("PreTrainedModel") for n in names))
def _transformers_major() -> int:
    import transformers

    return int(transformers.__version__.split(".")[0])


def initializer_range(config) -> float:
    """Return the std of ``PreTrainedModel._init_weights``: initializer_range (0.02 when
    falsy), else init_std, else initializer_factor, else the text config's, else 0.02."""
    if hasattr(config, "initializer_range"):
        return config.initializer_range or 0.02
    if hasattr(config, "init_std"):
        return config.init_std
    if hasattr(config, "initializer_factor"):
        return config.initializer_factor
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return getattr(text, "initializer_range", 0.02)


def _rotary_values(module: nn.Module, attr: str):
    """Return compute(t) -> the rotary module's inv_freq on t's device."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        with torch.device(t.device):
            legacy = getattr(module, "rope_init_fn", None)  # transformers 4.x
            if legacy is not None:
                values, _ = legacy(module.config, device=t.device,
                                   **getattr(module, "rope_kwargs", {}))
            else:
                from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

                functions = {
                    "axial": getattr(module, "compute_axial_rope_parameters", None),
                    "ntk_alpha": getattr(module, "compute_ntk_alpha_rope_parameters", None),
                    "default": getattr(module, "compute_default_rope_parameters", None),
                    **ROPE_INIT_FUNCTIONS,
                }
                values, _ = functions[getattr(module, "rope_type", "default")](module.config)
        values = values.to(t.device)
        original = getattr(module, "original_inv_freq", None)
        if attr == "inv_freq" and "original_inv_freq" not in module._buffers and isinstance(
                original, torch.Tensor):
            module.original_inv_freq = values.clone()  # 4.x keeps it as a plain attribute
        return values
    return compute


def _positions(t: torch.Tensor) -> torch.Tensor:
    return torch.arange(t.shape[-1], dtype=t.dtype, device=t.device).expand(t.shape)


def _causal(t: torch.Tensor) -> torch.Tensor:
    n = t.shape[-1]
    return torch.tril(torch.ones((n, n), dtype=torch.bool, device=t.device)).view(t.shape)


def _in_device(module: nn.Module, function: str, *args):
    """Return compute(t): the function ``function`` of ``module``'s modeling module called
    with ``args`` under ``torch.device(t.device)`` (as the constructor runs there)."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        with torch.device(t.device):
            values = getattr(sys.modules[type(module).__module__], function)(*args)
        return values.to(device=t.device, dtype=t.dtype)
    return compute


def _layer_rotary_values(module: nn.Module, layer_type: str):
    """Return compute(t) -> the per-layer-type inv_freq of a rotary module with
    ``layer_types`` (Gemma3RotaryEmbedding), on t's device."""
    def compute(t: torch.Tensor) -> torch.Tensor:
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

        rope = module.rope_type[layer_type]
        function = module.compute_default_rope_parameters if rope == "default" \
            else ROPE_INIT_FUNCTIONS[rope]
        with torch.device(t.device):
            values, _ = function(module.config, layer_type=layer_type)
        return values.to(t.device)
    return compute


def _local_causal(window: int):
    def compute(t: torch.Tensor) -> torch.Tensor:
        causal = _causal(t)
        return torch.bitwise_xor(causal, torch.tril(causal, -window))
    return compute


def buffer_law(module: nn.Module, attr: str, t: torch.Tensor) -> Law | None:
    """Return the law of a buffer that a transformers constructor computes, None if
    it is none of those known here (see the module docstring)."""
    kind = type(module).__name__
    if "RotaryEmbedding" in kind:
        if attr in ("inv_freq", "original_inv_freq"):
            rope = getattr(module, "rope_type", "default")
            return Computed(f"rotary inv_freq ({rope})", _rotary_values(module, attr))
        for layer in getattr(module, "layer_types", None) or ():
            if attr in (f"{layer}_inv_freq", f"{layer}_original_inv_freq") and isinstance(
                    getattr(module, "rope_type", None), dict) and layer in module.rope_type:
                return Computed(f"rotary inv_freq of {layer} ({module.rope_type[layer]})",
                                _layer_rotary_values(module, layer))
        if attr == "embed_positions" and hasattr(module, "pos_embd_dim"):  # GPT-J, CodeGen
            return Computed("sinusoidal positions", _in_device(
                module, "create_sinusoidal_positions", module.max_positions,
                module.pos_embd_dim))
    if attr == "embed_scale" and isinstance(getattr(module, "scalar_embed_scale", None),
                                            (int, float)):
        return Constant(float(module.scalar_embed_scale))
    if attr == "position_ids":
        return Computed("position ids: arange", _positions)
    if attr == "token_type_ids":
        return Constant(0)
    if (attr == "bias" and t.dtype == torch.bool and t.dim() == 4 and t.shape[-1] == t.shape[-2]
            and t.shape[0] == t.shape[1] == 1):
        window = getattr(getattr(module, "config", None), "window_size", None)
        if getattr(module, "attention_type", None) == "local" and isinstance(window, int):
            return Computed(f"local causal mask (window {window})", _local_causal(window))
        return Computed("causal mask: tril(ones)", _causal)
    return None


def computed_buffers(model: nn.Module) -> dict[str, Fill]:
    """Return {buffer name: Rule} for the buffers of ``model`` that constructors compute
    (:func:`buffer_law`)."""
    rules: dict[str, Fill] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        for attr, t in module._buffers.items():
            law = buffer_law(module, attr, t) if t is not None else None
            if law is not None:
                rules[prefix + attr] = Rule(law, "buffer")
    return rules


def _generic(module: nn.Module, prefix: str, std: float, rules: dict) -> None:
    """PreTrainedModel._init_weights (transformers/modeling_utils.py)."""
    if isinstance(module, _GENERIC_LINEAR):
        if getattr(module, "weight", None) is not None:
            rules[prefix + "weight"] = Rule(Normal(std=std))
        if module.bias is not None:
            rules[prefix + "bias"] = Rule(Constant(0.0), "bias")
    elif isinstance(module, nn.LSTM):
        for name, p in module.named_parameters(recurse=False):
            if "weight" in name:
                fan_in, fan_out = p.shape[1], p.shape[0]
                rules[prefix + name] = Rule(Uniform.symmetric(math.sqrt(6.0 / (fan_in + fan_out))))
            elif "bias" in name:
                rules[prefix + name] = Rule(Constant(0.0), "bias")
    elif isinstance(module, nn.Embedding):
        padding = () if module.padding_idx is None else (module.padding_idx,)
        rules[prefix + "weight"] = Rule(Normal(std=std), zero_rows=padding)
    elif isinstance(module, nn.MultiheadAttention):
        pass  # module._reset_parameters(): torch's own rule, already in the base plan
    elif (isinstance(module, (nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))
          or "LayerNorm" in type(module).__name__ or "RMSNorm" in type(module).__name__):
        for attr, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0),
                            ("running_var", 1.0), ("num_batches_tracked", 0)):
            tensor = module._parameters.get(attr, module._buffers.get(attr))
            if tensor is not None:
                rules[prefix + attr] = Rule(Constant(value), "norm" if attr == "weight" else None)


def _children_first(model: nn.Module) -> list[tuple[str, nn.Module, nn.Module]]:
    """Return (name, module, owner) for each module of ``model`` once (by its first name),
    in the order of ``PreTrainedModel.initialize_weights``: each module after its
    children, children in order; ``owner`` is the nearest transformers model holding it
    (itself included), whose ``_init_weights`` runs on it."""
    pretrained = _pretrained_class()
    seen: set[int] = set()
    order: list[tuple[str, nn.Module, nn.Module]] = []

    def visit(name: str, module: nn.Module, owner: nn.Module) -> None:
        if id(module) in seen:
            return  # initialized at its first visit (_is_hf_initialized)
        seen.add(id(module))
        owner = module if isinstance(module, pretrained) else owner
        for child_name, child in module._modules.items():
            if child is not None:
                visit(f"{name}.{child_name}" if name else child_name, child, owner)
        order.append((name, module, owner))

    visit("", model, model)
    return order


def hf_rules(model: nn.Module, options: dict, skip: Collection[str] = ()) -> dict[str, Fill]:
    """Return {tensor name: Rule} with the laws of ``model``'s own ``_init_weights``
    (see the module docstring); ValueError for a model that is not a known family."""
    family(model)
    rules: dict[str, Fill] = {}
    contexts: dict[int, tuple[Context, object]] = {}
    for name, module, owner in _children_first(model):
        if id(owner) not in contexts:
            cls = _init_owner(type(owner))
            contexts[id(owner)] = (Context(cls, owner.config, rules), HOOKS.get(cls.__name__))
        ctx, hook = contexts[id(owner)]
        prefix = f"{name}." if name else ""
        _generic(module, prefix, initializer_range(owner.config), rules)
        if hook is not None:
            hook(ctx, module, prefix)
    _tie_to_sources(model, rules)
    return {**computed_buffers(model), **rules}


def _tie_to_sources(model: nn.Module, rules: dict) -> None:
    """Give each tied tensor the rule of its tie's source: transformers 5 initializes the
    tied names apart and then points the target (``lm_head.decoder.weight``) at the
    source's tensor (``all_tied_weights_keys``: {target: source}), so the source's law
    is the tensor's, whichever name the model registers first (CamemBERT's and
    XLM-RoBERTa's heads come before their encoders)."""
    for target, source in (getattr(model, "all_tied_weights_keys", None) or {}).items():
        try:
            tied = model.get_parameter(target) is model.get_parameter(source)
        except AttributeError:  # a name the model does not have (an untied head)
            continue
        if tied and source in rules:
            rules[target] = rules[source]


register(Scheme(
    "hf", lambda model, options, skip: hf_rules(model, options, skip), {},
    "the laws of a transformers model's own _init_weights, read from its config",
    "huggingface/transformers modeling_utils.py PreTrainedModel._init_weights; the "
    "_init_weights of models/<family>/modeling_<family>.py (gpuinit/schemes/hf_families.py)",
    hint=" (its _init_weights places no such tensor, and neither do the torch defaults)"))
