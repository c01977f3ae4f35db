"""The law of a tensor's values, as a value: the one currency of gpuinit's host side.

Initializers, the in-place functions' plans, the torch defaults and schemes,
``describe``, ``verify`` and ``gpuinit plot`` all produce and read these frozen
values.  Each law checks itself against a target before anything is written
(``law.prepare(target, seed, stream)`` returns the write) and describes itself
(``text``, ``moments``, ``density``, ``bounds``):

- elementwise laws (:mod:`.elementwise`: uniform, normal, truncated normal, ...),
  each drawn by one :mod:`gpuinit.random` primitive;
- structured laws (:mod:`.structured`: constant, eye, dirac, orthogonal, sparse) and
  computed buffers;
- :class:`Rule`: a law with the row edits and role a scheme gives one tensor.

>>> import numpy as np, gpuinit as gi
>>> w = np.empty((256, 128), np.float32)
>>> gi.laws.Normal(std=0.02).fill(w, seed=0)
>>> gi.laws.TruncatedNormal.absolute(0.02, -0.04, 0.04).text()
'trunc_normal(mean=0, std=0.02, a=-0.04, b=0.04)'
"""

# Each module lists its laws in its __all__: a new law is added in its module alone.
from . import base, elementwise, rules, structured
from .base import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .rules import *  # noqa: F403
from .structured import *  # noqa: F403

__all__ = [*base.__all__, *elementwise.__all__, *rules.__all__, *structured.__all__]
