"""The initializer catalogue: Keras 3, PyTorch and JAX initializers on any device.

``init = gpuinit.initializers.get("glorot_uniform")`` then ``init((784, 256))``
returns a NumPy array on the CPU or a CuPy array on CUDA, made on its device.
"""

from .base import Initializer, RandomInitializer, Request
from .deterministic import Constant, Dirac, FixedValue, Identity, Ones, Zeros
from .keras_interop import register_if_keras_imported, register_with_keras
from .orthogonal import DeltaOrthogonal, Orthogonal
from .random_laws import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)
from .registry import ALIASES, deserialize, get, ids, register, serialize
from .sparse import Sparse
from .stft import STFT

IdentityInitializer = Identity
OrthogonalInitializer = Orthogonal
STFTInitializer = STFT

__all__ = [
    "ALIASES", "Constant", "DeltaOrthogonal", "Dirac", "FixedValue", "GlorotNormal",
    "GlorotUniform", "HeNormal", "HeUniform", "Identity", "IdentityInitializer", "Initializer",
    "LecunNormal", "LecunUniform", "Ones", "Orthogonal", "OrthogonalInitializer",
    "RandomInitializer", "RandomNormal", "RandomUniform", "Request", "STFT", "STFTInitializer",
    "Sparse", "TruncatedNormal", "VarianceScaling", "Zeros", "deserialize", "get", "ids",
    "register", "register_with_keras", "serialize",
]

# A process that imported Keras first gets gpuinit's classes in Keras' registry now.
register_if_keras_imported()
