"""Initialization schemes of the large-model codebases, for :mod:`gpuinit.torch`.

``init_module(model, scheme=...)``, ``materialize(model, device, scheme=...)`` and
``describe(model, scheme=...)`` take a registered name or ``(name, {options})``:

==============  ==============================================================
"torch"         each built-in module's own ``reset_parameters`` (the default)
"gpt2"          N(0, 0.02), residual projections 0.02/√(2·n_layer)
"llama"         N(0, 0.02) Linear/Embedding weights
"hf"            a transformers model's own ``_init_weights`` (:mod:`.hf`)
"megatron"      Megatron-LM, with its MuP variant (:mod:`.megatron`)
"olmo"          OLMo: normal, mitchell, full_megatron (:mod:`.olmo`)
"olmo_core"     OLMo-core: normal, llama, llama_depth, fan_in (:mod:`.olmo`)
"neox"          gpt-neox init_method / output_layer_init_method (:mod:`.neox`)
"deepnet"       DeepNorm (torchscale) (:mod:`.deepnet`)
"t-fixup"       T-Fixup (:mod:`.deepnet`)
"mup"           μP width scaling from base shapes (:mod:`.mup`)
"torchtitan"    torchtitan's Llama 3 init_weights / param_init (:mod:`.torchtitan`)
"litgpt"        LitGPT's pretrain initialize_weights (:mod:`.litgpt`)
"torchtune"     torchtune's models from scratch, LoRA/DoRA (:mod:`.torchtune`)
==============  ==============================================================

Role-based schemes find each tensor's role by its name (:mod:`.roles`); the
option ``{"roles": {pattern: role}}`` places anything else, and a parameter with
no role raises ValueError naming it before anything is written.  Every scheme
takes ``{"overrides": {pattern: initializer}}``, layered last as a dict scheme (a
pattern that matches no tensor raises ValueError naming it).  Every option has a
constraint, as data (:mod:`.options`): booleans are True/False only, scales finite
positive numbers, counts integers in [1, 2**63), NumPy scalars and 0-d arrays are
numbers; a bad one raises TypeError/ValueError naming it, and so does a law whose std
underflows, overflows or divides by zero, all before anything is written.
Each fill is gpuinit's own (:mod:`gpuinit.init`) on the stream of its tensor's name.
"""

from ..laws import Computed, Constant, Law, Normal, Orthogonal, Rule, TruncatedNormal, Uniform
from . import (  # noqa: F401
    deepnet,
    hf,
    litgpt,
    megatron,
    mup,
    neox,
    olmo,
    presets,
    torchtitan,
    torchtune,
)
from .describe import PlanTable, describe_plan
from .registry import SCHEMES, Scheme, register, resolve, scheme_names, scheme_plan
from .roles import ROLES, TensorInfo, analyze

__all__ = [
    "ROLES", "SCHEMES", "Computed", "Constant", "Law", "Normal", "Orthogonal", "PlanTable",
    "Rule", "Scheme", "TensorInfo", "TruncatedNormal", "Uniform", "analyze", "describe_plan",
    "register", "resolve", "scheme_names", "scheme_plan",
]
