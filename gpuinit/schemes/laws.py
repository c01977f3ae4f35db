"""The laws the schemes give tensors: those of :mod:`gpuinit.torch.laws`, by the names
the scheme modules import them by."""

from ..torch.laws import (
    Bounds,
    Computed,
    Constant,
    Law,
    Normal,
    Orthogonal,
    Rule,
    Sampled,
    TruncNormal,
    Uniform,
    from_value_law,
    truncated_std,
)

__all__ = [
    "Bounds", "Computed", "Constant", "Law", "Normal", "Orthogonal", "Rule", "Sampled",
    "TruncNormal", "Uniform", "from_value_law", "truncated_std",
]
