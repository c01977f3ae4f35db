"""The presets gpuinit.torch always had: "torch", "gpt2" and "llama" (no options).

"torch" is each built-in module's own ``reset_parameters`` law
(:func:`gpuinit.torch.torch_plan`); "gpt2" and "llama" layer fixed-std normals over
it.  Unlike the named schemes they look at module types only, and tensors they
do not cover keep the torch default (or, for custom modules, are refused by
:func:`gpuinit.torch.build_plan`).
"""

from __future__ import annotations

import math
from collections.abc import Collection

from torch import nn

from ..laws import Constant, Normal, Rule
from ..torch.plan import Fill, gpt2_depth
from .registry import Scheme, register


def _padding_rows(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """Return {weight name: (padding_idx,)} of the model's Embeddings with a padding row:
    the row torch's default, Hugging Face's ``_init_weights`` and these presets zero
    (it gets no gradient, so a random one would stay random through training)."""
    return {f"{name}.weight" if name else "weight": (module.padding_idx,)
            for name, module in model.named_modules()
            if isinstance(module, nn.Embedding) and module.padding_idx is not None}


def gpt2_rules(model: nn.Module, options: dict | None = None,
               skip: Collection[str] = ()) -> dict[str, Fill]:
    """Return the GPT-2 preset's rules: Linear/Conv/Embedding weights N(0, 0.02) (an
    Embedding's padding row zero), biases zeros, and residual output projections
    N(0, 0.02/√(2·n_layer)).

    Residual projections are the weights of Linear layers named ``c_proj``,
    ``out_proj``, ``o_proj``, ``down_proj`` or ``proj``, and ``linear2`` of torch's
    Transformer*Layer.  n_layer is :func:`gpuinit.torch.gpt2_depth` of them: the
    number of blocks holding them, a block being the path up to the first index of a
    ModuleList/Sequential ("h.3", "layers.11"); projections outside any indexed block
    count as half a layer each (a block has two, attention's and the MLP's, as in
    GPT-2 and nanoGPT).
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
    padding = _padding_rows(model)
    rules: dict[str, Fill] = {}
    for name in weights:
        rules[name] = Rule(Normal(std=0.02 / math.sqrt(2 * depth) if name in residual else 0.02),
                           zero_rows=padding.get(name, ()))
    for name, module in model.named_modules():
        if isinstance(module, linear_like[:2]) and getattr(module, "bias", None) is not None:
            rules[f"{name}.bias" if name else "bias"] = Rule(Constant(0.0), "bias")
    return rules


def llama_rules(model: nn.Module, options: dict | None = None,
                skip: Collection[str] = ()) -> dict[str, Fill]:
    """Return the Llama preset's rules (Hugging Face's std 0.02): Linear and Embedding
    weights N(0, 0.02) (an Embedding's padding row zero), biases zeros."""
    padding = _padding_rows(model)
    rules: dict[str, Fill] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            rules[prefix + "weight"] = Rule(Normal(std=0.02),
                                            zero_rows=padding.get(prefix + "weight", ()))
            if getattr(module, "bias", None) is not None:
                rules[prefix + "bias"] = Rule(Constant(0.0), "bias")
    return rules


register(Scheme("torch", lambda model, options, skip: {}, {},
                "each built-in module's own reset_parameters law", "pytorch torch/nn/modules",
                checked=False))
register(Scheme("gpt2", gpt2_rules, {},
                "N(0, 0.02) weights, zero biases, residual projections 0.02/sqrt(2 n_layer)",
                "openai/gpt-2, karpathy/nanoGPT model.py", checked=False))
register(Scheme("llama", llama_rules, {}, "N(0, 0.02) Linear/Embedding weights, zero biases",
                "huggingface/transformers models/llama", checked=False))
