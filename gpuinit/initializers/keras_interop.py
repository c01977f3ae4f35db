"""gpuinit's initializers in Keras' own serialization, so Keras models that use them load.

Keras finds a class that is not its own by its registered name, ``"package>Class"``,
in its global custom-object registry.  :func:`register_with_keras` puts every
built-in gpuinit initializer there as ``"gpuinit>Class"`` (Keras then saves a model
using, say, ``Dirac`` under that name, and ``keras.models.load_model`` and
``keras.initializers.deserialize`` build gpuinit's class back from its config).

Keras is never imported for this: importing it takes seconds.  gpuinit registers
its classes by itself when Keras is already imported (at ``import gpuinit``, and
whenever :func:`gpuinit.initializers.serialize`/``deserialize``/``get`` run); a
process that imports gpuinit first and Keras later calls :func:`register_with_keras`
once before loading a model (``keras.models.load_model`` needs no other argument).
"""

from __future__ import annotations

import sys

from .base import Initializer
from .catalogue import builtin_classes

PACKAGE = "gpuinit"
# The classes Keras 3 has under the same names: gpuinit's configs of these stay
# readable by Keras' own classes (gpuinit.initializers.serialize leaves them unregistered).
KERAS_CLASS_NAMES = frozenset({
    "Constant", "Zeros", "Ones", "Identity", "IdentityInitializer", "Orthogonal",
    "OrthogonalInitializer", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform",
    "LecunNormal", "LecunUniform", "STFT", "STFTInitializer",
})

_registered: set[type] = set()


def registered_name(cls: type[Initializer]) -> str:
    """Return the name Keras registers ``cls`` under: ``"gpuinit>ClassName"``."""
    return f"{PACKAGE}>{cls.__name__}"


def register_with_keras() -> list[str]:
    """Register every built-in gpuinit initializer with Keras' serialization
    (``keras.saving.register_keras_serializable(package="gpuinit")``; imports Keras)
    and return their registered names.  Idempotent."""
    from keras.saving import register_keras_serializable

    names = []
    for cls in builtin_classes():
        register_keras_serializable(package=PACKAGE, name=cls.__name__)(cls)
        _registered.add(cls)
        names.append(registered_name(cls))
    return names


def register_if_keras_imported() -> None:
    """Register with Keras when Keras is already imported (never imports it)."""
    if sys.modules.get("keras") is not None:
        if not set(builtin_classes()) <= _registered:
            register_with_keras()
