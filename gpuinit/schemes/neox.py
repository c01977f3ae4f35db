"""``("neox", {"init_method": ..., "output_layer_init_method": ...})``: GPT-NeoX's init.

Matches EleutherAI/gpt-neox megatron/model/init_functions.py (``get_init_methods``
and the methods it names), applied as in megatron/model/transformer.py,
megatron/model/word_embeddings.py and megatron/model/gpt2_model.py: the
``init_method`` gives the embeddings, the query/key/value and MLP input
projections and the final linear (readout); the ``output_layer_init_method`` gives
the attention and MLP output projections.  Defaults: Pythia's ``small_init`` and
``wang_init``.  With σ = ``init_method_std`` (0.02), d = ``hidden_size`` and
L = ``num_layers`` (default: the model's):

- normal: N(0, σ); scaled_normal: N(0, σ/√(2L));
  single_residual_scaled_normal: N(0, σ/√L)
- orthogonal: orthogonal, gain √2 (``orthogonal_init_method``'s default
  n_layers=1; ``get_init_methods`` passes ``use_mup`` there by position, which
  gpuinit does not copy); scaled_orthogonal: gain √(2/L)
- xavier_uniform: U(±√(6/(fan_in+fan_out))); xavier_normal: N(0, √(2/(fan_in+fan_out)))
- small_init: N(0, √(2/(5d))); wang_init: N(0, 2/(L·√d))

Norm gains 1, biases 0.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from torch import nn

from ..laws import Law, Normal, Orthogonal, Uniform
from .common import norm_or_bias, role_rules
from .options import COUNT_OR_NONE, MAPPING_OR_NONE, POSITIVE, one_of
from .registry import Scheme, count, register
from .roles import RESIDUAL_ROLES, analyze, depth, hidden_size


def _fans(info) -> tuple[int, int]:
    """Return (fan_in, fan_out) of a weight as torch computes them (HF's Conv1D: (in, out))."""
    fan_out, fan_in = info.shape[0], math.prod(info.shape[1:])
    return (fan_out, fan_in) if type(info.module).__name__ == "Conv1D" else (fan_in, fan_out)


def _xavier_std(info) -> float:
    return math.sqrt(2.0 / sum(_fans(info)))


# gpt-neox's init methods by name: f(sigma, layers, d, info) -> Law.
_METHODS = {
    "normal": lambda sigma, layers, d, info: Normal(std=sigma),
    "scaled_normal": lambda sigma, layers, d, info: Normal(std=sigma / math.sqrt(2 * layers)),
    "orthogonal": lambda sigma, layers, d, info: Orthogonal(math.sqrt(2.0)),
    "scaled_orthogonal": lambda sigma, layers, d, info: Orthogonal(math.sqrt(2.0 / layers)),
    "xavier_uniform": lambda sigma, layers, d, info: Uniform.symmetric(
        math.sqrt(3.0) * _xavier_std(info)),
    "xavier_normal": lambda sigma, layers, d, info: Normal(std=_xavier_std(info)),
    "small_init": lambda sigma, layers, d, info: Normal(std=math.sqrt(2.0 / (5 * d))),
    "wang_init": lambda sigma, layers, d, info: Normal(std=2.0 / layers / math.sqrt(d)),
    "single_residual_scaled_normal": lambda sigma, layers, d, info: Normal(
        std=sigma / math.sqrt(layers)),
}
METHODS = tuple(_METHODS)
CHECKS = {"init_method": one_of(*METHODS), "output_layer_init_method": one_of(*METHODS),
          "init_method_std": POSITIVE, "num_layers": COUNT_OR_NONE,
          "hidden_size": COUNT_OR_NONE, "roles": MAPPING_OR_NONE}


def method_law(method: str, sigma: float, layers: int, d: int, info) -> Law:
    """Return the law of gpt-neox's init method ``method`` for the tensor ``info``."""
    return _METHODS[method](sigma, layers, d, info)


def neox_rules(model: nn.Module, options: dict, skip: Collection[str] = ()):
    """Return {tensor name: Rule} of gpt-neox's init methods (see the module docstring);
    ``options`` are checked against :data:`CHECKS` already."""
    inner, outer = options["init_method"], options["output_layer_init_method"]
    sigma = options["init_method_std"]
    infos = analyze(model, options["roles"])
    layers = options["num_layers"] if options["num_layers"] is not None else depth(infos)
    d = options["hidden_size"] if options["hidden_size"] is not None else hidden_size(model,
                                                                                      infos)
    if d is None:
        raise ValueError("scheme 'neox': cannot find the hidden size; pass hidden_size")
    d = count("neox", "hidden_size", d)  # read off the model when not given

    def law(info) -> Law:
        fixed = norm_or_bias(info)
        if fixed is not None:
            return fixed
        method = outer if info.role in RESIDUAL_ROLES else inner
        return method_law(method, sigma, layers, d, info)

    return role_rules(model, "neox", None, law, skip, infos=infos)


register(Scheme(
    "neox", neox_rules,
    {"init_method": "small_init", "output_layer_init_method": "wang_init",
     "init_method_std": 0.02, "num_layers": None, "hidden_size": None, "roles": None},
    "gpt-neox init_method / output_layer_init_method (default Pythia's small_init + wang_init)",
    "EleutherAI/gpt-neox megatron/model/init_functions.py", checks=CHECKS))
