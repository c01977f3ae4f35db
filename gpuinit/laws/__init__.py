"""The law of a tensor's values, as a value: the one currency of gpuinit's host side.

Initializers, the in-place functions' plans, the torch defaults and schemes,
``describe``, ``verify`` and ``gpuinit plot`` all produce and read these frozen
values.  Each law checks itself against a target before anything is written
(``law.prepare(target, seed, stream)`` returns the write) and describes itself
(``text``, ``moments``, ``density``, ``bounds``):

- elementwise: :class:`Uniform`, :class:`Normal`, :class:`TruncatedNormal`;
- structured: :class:`Constant`, :class:`Eye`, :class:`Dirac`, :class:`Orthogonal`,
  :class:`Sparse`, and :class:`Computed` buffers;
- :class:`Rule`: a law with the row edits and role a scheme gives one tensor.

>>> import numpy as np, gpuinit as gi
>>> w = np.empty((256, 128), np.float32)
>>> gi.laws.Normal(std=0.02).fill(w, seed=0)
>>> gi.laws.TruncatedNormal.absolute(0.02, -0.04, 0.04).text()
'trunc_normal(mean=0, std=0.02, a=-0.04, b=0.04)'
"""

from .base import Bounds, Deferred, Law, Then
from .elementwise import Elementwise, Normal, TruncatedNormal, Uniform, truncated_std
from .rules import Rule
from .structured import Computed, Constant, Dirac, Eye, Orthogonal, Sparse

__all__ = [
    "Bounds", "Computed", "Constant", "Deferred", "Dirac", "Elementwise", "Eye", "Law",
    "Normal", "Orthogonal", "Rule", "Sparse", "Then", "TruncatedNormal", "Uniform",
    "truncated_std",
]
