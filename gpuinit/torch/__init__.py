"""Initialize PyTorch modules in place with gpuinit's kernels, on whatever device they live.

``init_module(model, seed=0)`` re-initializes every parameter and buffer of an
``nn.Module`` with the law its own ``reset_parameters`` uses (``scheme="torch"``),
a GPT-2 preset (``scheme="gpt2"``), or a dict of name patterns / module types
to initializers layered over the torch defaults.  ``materialize(model, "cuda")``
takes a model built on the meta device, allocates it on the target device and
initializes it there: no CPU tensors, no host copies, no double initialization;
tied weights stay tied, and a model larger than the device's free memory raises
:class:`gpuinit.OutOfMemoryError` with nothing allocated.

Each tensor draws from its own stream, the hash of its qualified name
("encoder.layers.0.linear1.weight"), so values depend on (seed, name, law)
only, the same on every device and in every run.  Needs the ``torch`` extra.
"""

try:
    import torch  # noqa: F401
except ModuleNotFoundError as exc:  # the torch extra is not installed
    raise ModuleNotFoundError(f"gpuinit.torch needs PyTorch ({exc}): "
                              'pip install "gpuinit[torch]"', name=exc.name) from exc

from ..schemes.plans import PreparedPlan, build_plan, prepare_plan
from .defaults import torch_plan
from .entry import describe, init_module, materialize, verify
from .fills import check_plan
from .mapping import CatalogueFill
from .plan import Fill, gpt2_depth, named_tensors

__all__ = [
    "CatalogueFill", "Fill", "PreparedPlan", "build_plan", "check_plan", "describe",
    "gpt2_depth", "init_module", "materialize", "named_tensors", "prepare_plan", "torch_plan",
    "verify",
]
