"""The parameter stack of a GPT-style decoder-only transformer, made on the device.

Parameters only (no forward pass): token and position embeddings, then per
block a pre-norm attention (``qkv`` and ``proj``) and MLP (``fc`` and ``proj``)
with their LayerNorms, then a final LayerNorm; the output projection is tied to
the token embedding.  Initialization follows GPT-2: normal(0, 0.02) weights,
residual projections normal(0, 0.02 / sqrt(2 * depth)), zero biases, LayerNorm
gamma ones and beta zeros.  Dense weights use the Keras layout ``(in, out)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..arguments import check_int
from ..initializers import RandomNormal
from .parameter import Parameter, ParameterSpec, make_parameters


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a GPT-style stack: vocabulary, context length, width, depth, MLP ratio."""

    vocab_size: int = 50257
    context: int = 1024
    width: int = 768
    depth: int = 12
    mlp_ratio: int = 4

    def __post_init__(self):
        for name in ("vocab_size", "context", "width", "depth", "mlp_ratio"):
            check_int(getattr(self, name), name, 1)

    def count(self) -> int:
        """Return the number of parameter values of the stack."""
        return sum(math.prod(spec.shape) for spec in gpt_specs(self))


PRESETS = {
    "gpt2-small": GPTConfig(),  # 124M
    "gpt2-medium": GPTConfig(width=1024, depth=24),  # 355M
    "gpt2-xl": GPTConfig(width=1600, depth=48),  # 1.56B
    "7b": GPTConfig(vocab_size=50257, context=2048, width=4096, depth=32),  # 6.65B
    "tiny": GPTConfig(vocab_size=1000, context=64, width=64, depth=2),
}


def gpt_specs(config: GPTConfig) -> list[ParameterSpec]:
    """Return the :class:`ParameterSpec` list of the stack, in model order."""
    d, hidden = config.width, config.width * config.mlp_ratio
    weight = RandomNormal(stddev=0.02)
    residual = RandomNormal(stddev=0.02 / math.sqrt(2 * config.depth))
    specs = [ParameterSpec("token_embedding/weight", (config.vocab_size, d), weight),
             ParameterSpec("position_embedding/weight", (config.context, d), weight)]
    for i in range(config.depth):
        block = f"block_{i}"
        specs += [
            ParameterSpec(f"{block}/attention_norm/gamma", (d,), "ones"),
            ParameterSpec(f"{block}/attention_norm/beta", (d,), "zeros"),
            ParameterSpec(f"{block}/attention/qkv/weight", (d, 3 * d), weight),
            ParameterSpec(f"{block}/attention/qkv/bias", (3 * d,), "zeros"),
            ParameterSpec(f"{block}/attention/proj/weight", (d, d), residual),
            ParameterSpec(f"{block}/attention/proj/bias", (d,), "zeros"),
            ParameterSpec(f"{block}/mlp_norm/gamma", (d,), "ones"),
            ParameterSpec(f"{block}/mlp_norm/beta", (d,), "zeros"),
            ParameterSpec(f"{block}/mlp/fc/weight", (d, hidden), weight),
            ParameterSpec(f"{block}/mlp/fc/bias", (hidden,), "zeros"),
            ParameterSpec(f"{block}/mlp/proj/weight", (hidden, d), residual),
            ParameterSpec(f"{block}/mlp/proj/bias", (d,), "zeros"),
        ]
    specs += [ParameterSpec("final_norm/gamma", (d,), "ones"),
              ParameterSpec("final_norm/beta", (d,), "zeros")]
    return specs


def build_gpt(config: GPTConfig | str = "gpt2-small", *, seed: int = 0, device: Any = None,
              dtype: Any = "float32",
              progress: Callable[[int, int, str], None] | None = None) -> dict[str, Parameter]:
    """Return {path: Parameter} of a GPT-style stack, every array made on ``device``.

    ``config`` is a :class:`GPTConfig` or a preset name (``PRESETS``: "tiny",
    "gpt2-small" (124M), "gpt2-medium", "gpt2-xl", "7b").  Each parameter has its
    own stream (a hash of its path), so the stack depends on (seed, config) only.
    """
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown preset {config!r}; presets: {', '.join(PRESETS)}")
        config = PRESETS[config]
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig or a preset name, got {config!r}")
    return make_parameters(gpt_specs(config), seed=seed, device=device, dtype=dtype,
                           progress=progress)
