"""The built-in initializer classes by id: the table that :mod:`.registry` looks names up
in and that :mod:`.keras_interop` registers with Keras.

Ids are Keras' snake_case spellings; :data:`ALIASES` adds PyTorch's, NeuPy's and
Keraflow's names.  :data:`EXTRA` holds the names found by lookup but kept out of the
shape-agnostic catalogue of ids: Keras 3's ``STFT`` and the ``FixedValue`` that
``get`` makes of an array.
"""

from __future__ import annotations

from . import deterministic, orthogonal, random_laws, sparse, stft
from .base import Initializer

# id -> class.  Each id also names the class: "glorot_uniform" is GlorotUniform.
IDS: dict[str, type[Initializer]] = {
    "zeros": deterministic.Zeros,
    "ones": deterministic.Ones,
    "constant": deterministic.Constant,
    "random_uniform": random_laws.RandomUniform,
    "random_normal": random_laws.RandomNormal,
    "truncated_normal": random_laws.TruncatedNormal,
    "variance_scaling": random_laws.VarianceScaling,
    "glorot_uniform": random_laws.GlorotUniform,
    "glorot_normal": random_laws.GlorotNormal,
    "he_uniform": random_laws.HeUniform,
    "he_normal": random_laws.HeNormal,
    "lecun_uniform": random_laws.LecunUniform,
    "lecun_normal": random_laws.LecunNormal,
    "orthogonal": orthogonal.Orthogonal,
    "identity": deterministic.Identity,
    "dirac": deterministic.Dirac,
    "delta_orthogonal": orthogonal.DeltaOrthogonal,
    "sparse": sparse.Sparse,
}

ALIASES: dict[str, str] = {
    "uniform": "random_uniform",
    "normal": "random_normal",
    "zero": "zeros",
    "one": "ones",
    "eye": "identity",
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
    "kaiming_uniform": "he_uniform",
    "kaiming_normal": "he_normal",
    "orthogonal_initializer": "orthogonal",
    "identity_initializer": "identity",
}

# Names outside the catalogue of ids(): Keras 3's STFT (a 3-D kernel only, so it stays
# out of the catalogue's shape-agnostic sweeps) and the FixedValue that get() makes of
# an array (it has no default value).
EXTRA: dict[str, type[Initializer]] = {
    "stft": stft.STFT,
    "STFT": stft.STFT,
    "STFTInitializer": stft.STFT,
    "FixedValue": deterministic.FixedValue,
}


def builtin_classes() -> list[type[Initializer]]:
    """Return every built-in initializer class, once each."""
    return list(dict.fromkeys([*IDS.values(), *EXTRA.values()]))
