"""Weight files: safetensors, ``.npz`` and Keras 3's ``.weights.h5``, the format picked
by the file name (:mod:`gpuinit.weightfiles.files`).

Layers and models call in here; nothing here imports them (a model and its parameters
are used through :mod:`gpuinit.weightfiles.protocols`).
"""

from . import keras_h5, npz, safetensors
from .files import SUFFIXES, format_of, load, save
from .protocols import KerasGroup, ParameterLike, WeightSource

__all__ = ["SUFFIXES", "KerasGroup", "ParameterLike", "WeightSource", "format_of", "keras_h5",
           "load", "npz", "safetensors", "save"]
