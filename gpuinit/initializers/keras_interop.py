"""gpuinit's initializers in Keras' own serialization, so Keras models that use them load.

Keras finds a class that is not its own by its registered name, ``"package>Class"``,
in its global custom-object registry.  :func:`register_with_keras` puts every
built-in gpuinit initializer there as ``"gpuinit>Class"`` (Keras then saves a model
using, say, ``Dirac`` under that name, and ``keras.models.load_model`` and
``keras.initializers.deserialize`` build gpuinit's class back from its config).

A gpuinit class that shares its name with a Keras class (``TruncatedNormal``,
``VarianceScaling`` ...) may hold options Keras' class does not take (JAX's
``lower``/``upper``, ``column_axis``, ``in_axis``; ``mode="fan_geo_avg"``).
:func:`keras_reads_config` tells, from :data:`KERAS_ARGUMENTS`, whether Keras' class
reads a config as gpuinit does; :func:`gpuinit.initializers.serialize` names gpuinit's
class by its registered name whenever it does not.

Keras is never imported for this: importing it takes seconds.  gpuinit registers
its classes by itself when Keras is already imported (at ``import gpuinit``, and
whenever :func:`gpuinit.initializers.serialize`/``deserialize``/``get`` run); a
process that imports gpuinit first and Keras later calls :func:`register_with_keras`
once before loading a model (``keras.models.load_model`` needs no other argument).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .base import Initializer
from .catalogue import builtin_classes

PACKAGE = "gpuinit"


def _keras_reads_seed(seed: Any) -> bool:
    """Return whether Keras reads ``seed`` (a gpuinit config's) as a seed on every backend:
    None, or below 2^32 (Keras' JAX backend makes a uint32 key of it; a larger one
    overflows when the initializer is called)."""
    return seed is None or (isinstance(seed, int) and seed < 1 << 32)


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
_SEED = _keras_reads_seed
_FAN_AXES = {"seed": _SEED, "input_axes": None, "output_axes": None}

# Keras 3's initializer classes that share a gpuinit class's name, each with the
# constructor arguments it takes and, per argument, the values it reads as gpuinit does:
# None for every value gpuinit's class accepts, a tuple of those values, or a function
# that tells.  (A seed is read as a seed: Keras' random streams differ from gpuinit's
# for every seed.)
KERAS_ARGUMENTS: dict[str, dict[str, tuple | Callable[[Any], bool] | None]] = {
    "Zeros": {},
    "Ones": {},
    "Constant": {"value": None},
    "Identity": {"gain": None},
    "STFT": {"side": None, "window": None, "scaling": None, "periodic": None},
    "RandomUniform": {"minval": None, "maxval": None, "seed": _SEED},
    "RandomNormal": {"mean": None, "stddev": None, "seed": _SEED},
    "TruncatedNormal": {"mean": None, "stddev": None, "seed": _SEED},
    "Orthogonal": {"gain": None, "seed": _SEED},
    "VarianceScaling": {"scale": None, "mode": _MODES, "distribution": _DISTRIBUTIONS,
                        **_FAN_AXES},
    "GlorotUniform": _FAN_AXES,
    "GlorotNormal": _FAN_AXES,
    "HeUniform": _FAN_AXES,
    "HeNormal": _FAN_AXES,
    "LecunUniform": _FAN_AXES,
    "LecunNormal": _FAN_AXES,
}

_registered: set[type] = set()


def registered_name(cls: type[Initializer]) -> str:
    """Return the name Keras registers ``cls`` under: ``"gpuinit>ClassName"``."""
    return f"{PACKAGE}>{cls.__name__}"


def keras_reads_config(class_name: str, config: dict[str, Any]) -> bool:
    """Return True when Keras 3's initializer class named ``class_name`` takes every key of
    ``config`` (a gpuinit ``get_config()``) as a constructor argument and reads every
    value as gpuinit's class does (:data:`KERAS_ARGUMENTS`), so that
    ``keras.initializers.deserialize`` may build Keras' class from it; False when Keras
    has no class of that name, or lacks an argument, or refuses or reads otherwise a
    value (``mode="fan_geo_avg"``)."""
    arguments = KERAS_ARGUMENTS.get(class_name)
    if arguments is None:
        return False
    return all(key in arguments and _reads(arguments[key], value)
               for key, value in config.items())


def _reads(accepted: tuple | Callable[[Any], bool] | None, value: Any) -> bool:
    """Return whether ``value`` is one of ``accepted`` (a :data:`KERAS_ARGUMENTS` entry)."""
    if accepted is None:
        return True
    if callable(accepted):
        return accepted(value)
    return value in accepted


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
