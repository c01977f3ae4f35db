"""``scheme="hf"``: the laws of a transformers model's own ``_init_weights``.

std = ``config.initializer_range`` (0.02 when unset or 0; else ``init_std``, else
``initializer_factor``), as ``PreTrainedModel._init_weights`` reads it
(transformers/modeling_utils.py).  Over the torch defaults of every module (what
the constructor leaves where ``_init_weights`` does nothing):

- Linear, Conv1d/2d/3d, ConvTranspose1d/2d: weight N(0, std), bias 0;
- Embedding: N(0, std), the ``padding_idx`` row 0;
- LSTM: weights xavier_uniform, biases 0; MultiheadAttention: torch's own init;
- GroupNorm, BatchNorm* and classes named *LayerNorm*/*RMSNorm*: weight 1, bias 0,
  running mean 0, running var 1;
- GPT-2 (models/gpt2/modeling_gpt2.py GPT2PreTrainedModel._init_weights): its Conv1D
  N(0, std), bias 0, and the ``c_proj`` weights of GPT2Attention and GPT2MLP
  N(0, std/√(2·n_layer));
- BERT (models/bert/modeling_bert.py BertPreTrainedModel._init_weights): the
  prediction head's bias 0, ``position_ids`` arange, ``token_type_ids`` 0.

Llama, Mistral, Qwen2 and GPT-NeoX use the generic rules (transformers 5 has no
override for them; the 4.x overrides have the same laws).  A tied input/output
embedding is one tensor, filled once by its first name's rule.  A model whose
``_init_weights`` comes from another class raises ValueError naming it, since its
laws are not these; so does any tensor no rule places.

Buffers that constructors compute (:func:`computed_buffers`, used by every named
scheme) are recomputed on the tensor's device, as the constructor computes them
when the model is built under ``torch.device(device)``: a rotary embedding's
``inv_freq`` and ``original_inv_freq`` by its ``rope_type``'s init function
(``compute_default_rope_parameters`` or ``ROPE_INIT_FUNCTIONS[rope_type]``, as the
generic ``_init_weights`` does; ``rope_init_fn`` on transformers 4.x),
``position_ids`` = arange, ``token_type_ids`` = 0, and the boolean causal-mask
buffers ``bias`` of transformers 4.x attention layers = tril(ones).
"""

from __future__ import annotations

import math
from collections.abc import Collection

import torch
from torch import nn

from ..torch import Fill
from .laws import Computed, Constant, Law, Normal, Rule, Uniform
from .registry import Scheme, register

# The class defining a model's _init_weights -> the rules of its family.
_FAMILIES = {
    "PreTrainedModel": "generic",  # transformers >= 5: Llama, Mistral, Qwen2, GPT-NeoX ...
    "LlamaPreTrainedModel": "generic",  # transformers 4.x
    "MistralPreTrainedModel": "generic",
    "Qwen2PreTrainedModel": "generic",
    "GPTNeoXPreTrainedModel": "generic",
    "GPT2PreTrainedModel": "gpt2",
    "BertPreTrainedModel": "bert",
}
_GENERIC_LINEAR = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                   nn.ConvTranspose2d)


def family(model: nn.Module) -> tuple[str, str]:
    """Return (family, name of the class defining ``_init_weights``) of a transformers
    model; ValueError for a model that is not one, or whose init is not known here, or
    when transformers is not installed; ImportError, chained to the error and with its
    message, when transformers is installed but its import fails."""
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
    if not isinstance(model, PreTrainedModel):
        raise ValueError(f"scheme 'hf' needs a transformers PreTrainedModel, got "
                         f"{type(model).__name__}")
    owner = next(c for c in type(model).__mro__ if "_init_weights" in vars(c))
    kind = _FAMILIES.get(owner.__name__)
    if owner.__name__ == "PreTrainedModel" and _transformers_major() < 5:
        kind = None  # 4.x's base _init_weights does nothing
    if kind is None:
        raise ValueError(f"scheme 'hf' does not know {owner.__module__}.{owner.__name__}."
                         f"_init_weights (the init of {type(model).__name__}); it knows the "
                         "generic init and GPT-2's and BERT's (Llama, Mistral, Qwen2, GPT-NeoX, "
                         "GPT-2, BERT ...); use a dict scheme or a named scheme instead")
    return kind, owner.__name__


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


def buffer_law(module: nn.Module, attr: str, t: torch.Tensor) -> Law | None:
    """Return the law of a buffer that a transformers constructor computes, None if
    it is none of those known here (see the module docstring)."""
    kind = type(module).__name__
    if "RotaryEmbedding" in kind and attr in ("inv_freq", "original_inv_freq"):
        rope = getattr(module, "rope_type", "default")
        return Computed(f"rotary inv_freq ({rope})", _rotary_values(module, attr))
    if attr == "position_ids":
        return Computed("position ids: arange", _positions)
    if attr == "token_type_ids":
        return Constant(0)
    if (attr == "bias" and t.dtype == torch.bool and t.dim() == 4 and t.shape[-1] == t.shape[-2]
            and t.shape[0] == t.shape[1] == 1):
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
            rules[prefix + "weight"] = Rule(Normal(std))
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
        rules[prefix + "weight"] = Rule(Normal(std), zero_rows=padding)
    elif isinstance(module, nn.MultiheadAttention):
        pass  # module._reset_parameters(): torch's own rule, already in the base plan
    elif (isinstance(module, (nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))
          or "LayerNorm" in type(module).__name__ or "RMSNorm" in type(module).__name__):
        for attr, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0),
                            ("running_var", 1.0), ("num_batches_tracked", 0)):
            tensor = module._parameters.get(attr, module._buffers.get(attr))
            if tensor is not None:
                rules[prefix + attr] = Rule(Constant(value), "norm" if attr == "weight" else None)


def _gpt2(model: nn.Module, config, rules: dict) -> None:
    """GPT2PreTrainedModel._init_weights (models/gpt2/modeling_gpt2.py), after the generic:
    Conv1D N(0, std) with zero bias, then the c_proj weights of GPT2Attention and GPT2MLP
    N(0, std/√(2·n_layer)) (those win over their Conv1D's own rule).  As there, the
    residual std is computed per block only: a model with no blocks (n_layer=0) needs
    none, and a block under n_layer <= 0 raises ValueError naming its tensor."""
    modules = list(model.named_modules())
    for name, module in modules:
        if type(module).__name__ == "Conv1D":
            rules[f"{name}.weight"] = Rule(Normal(config.initializer_range))
            if module.bias is not None:
                rules[f"{name}.bias"] = Rule(Constant(0.0), "bias")
    for name, module in modules:
        if type(module).__name__ in ("GPT2Attention", "GPT2MLP"):
            tensor = f"{name}.c_proj.weight"
            try:
                std = config.initializer_range / math.sqrt(2 * config.n_layer)
            except (ZeroDivisionError, ValueError, OverflowError, TypeError) as exc:
                raise ValueError(f"scheme 'hf': cannot compute the std of {tensor!r}, "
                                 f"initializer_range/sqrt(2*n_layer) with initializer_range="
                                 f"{config.initializer_range!r}, n_layer={config.n_layer!r}: "
                                 f"{type(exc).__name__}: {exc}") from exc
            rules[tensor] = Rule(Normal(std))


def _bert(module: nn.Module, prefix: str, rules: dict) -> None:
    """BertPreTrainedModel._init_weights (models/bert/modeling_bert.py), after the generic."""
    if type(module).__name__ == "BertLMPredictionHead" and module.bias is not None:
        rules[prefix + "bias"] = Rule(Constant(0.0), "bias")


def hf_rules(model: nn.Module, options: dict, skip: Collection[str] = ()) -> dict[str, Fill]:
    """Return {tensor name: Rule} with the laws of ``model``'s own ``_init_weights``
    (see the module docstring); ValueError for a model that is not a known family."""
    kind, _ = family(model)
    config = model.config
    std = initializer_range(config)
    rules: dict[str, Fill] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        _generic(module, prefix, std, rules)
        if kind == "bert":
            _bert(module, prefix, rules)
    if kind == "gpt2":
        _gpt2(model, config, rules)
    rules.update(computed_buffers(model))
    return rules


register(Scheme(
    "hf", lambda model, options, skip: hf_rules(model, options, skip), {},
    "the laws of a transformers model's own _init_weights, read from its config",
    "huggingface/transformers modeling_utils.py PreTrainedModel._init_weights; "
    "models/gpt2/modeling_gpt2.py, models/bert/modeling_bert.py",
    hint=" (its _init_weights places no such tensor, and neither do the torch defaults)"))
