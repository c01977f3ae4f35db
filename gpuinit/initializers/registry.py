"""One registry for initializers: string ids, aliases, get, serialize and deserialize.

Ids are Keras' snake_case spellings; aliases add PyTorch's, NeuPy's and
Keraflow's names (xavier_*, kaiming_*, uniform, normal, zero, one, eye ...).
Class names (``"GlorotUniform"``) work too, and :func:`deserialize` reads Keras 3's
own ``keras.initializers.serialize()`` output.  Keras 3's ``STFT`` ("stft",
"STFTInitializer") and the ``FixedValue`` that :func:`get` makes of an array are
found by name but stay out of :func:`ids`, the shape-agnostic catalogue.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..fill_values import is_torch_tensor
from . import deterministic, orthogonal
from .base import Initializer
from .catalogue import ALIASES, EXTRA, IDS, builtin_classes
from .keras_interop import PACKAGE as KERAS_PACKAGE
from .keras_interop import keras_reads_config, register_if_keras_imported
from .keras_interop import registered_name as keras_registered_name

MODULE = "gpuinit.initializers"

_CUSTOM: dict[str, Any] = {}


def id_of(cls: type) -> str | None:
    """Return the built-in id of an initializer class ("glorot_uniform"), or None."""
    return next((key for key, value in {**IDS, **EXTRA}.items() if value is cls), None)


def ids() -> list[str]:
    """Return every built-in id, in catalogue order."""
    return list(IDS)


def _by_name() -> dict[str, Any]:
    names: dict[str, Any] = {}
    for key, cls in IDS.items():
        names[key] = cls
        names[cls.__name__] = cls
    for alias, key in ALIASES.items():
        names[alias] = IDS[key]
    names["IdentityInitializer"] = deterministic.Identity  # Keras 3 class aliases
    names["OrthogonalInitializer"] = orthogonal.Orthogonal
    names.update(EXTRA)
    names.update(_CUSTOM)
    return names


def builtin_names() -> set[str]:
    """Return every name :func:`get` knows without registrations: ids, aliases, class
    names and the names of :data:`.catalogue.EXTRA`."""
    names = set(IDS) | set(ALIASES) | set(EXTRA)
    names |= {cls.__name__ for cls in IDS.values()}
    names |= {"IdentityInitializer", "OrthogonalInitializer"}
    return names


def is_initializer_object(obj: Any) -> bool:
    """Return True for what can stand for an initializer: an :class:`Initializer`, a
    subclass of it, or a callable ``(shape, dtype)`` that is not a class (a class
    such as ``int`` or ``object`` is callable but makes no arrays)."""
    if isinstance(obj, Initializer):
        return True
    if isinstance(obj, type):
        return issubclass(obj, Initializer)
    return callable(obj)


def register(name: str | None = None, *, override: bool = False) -> Callable:
    """Return a decorator that registers a custom initializer class or function by
    ``name`` (default: its ``__name__``), so that :func:`get` and :func:`deserialize`
    find it.  Like ``keras.saving.register_keras_serializable``.

    TypeError when ``name`` is not a string (or None) and, from the decorator, when
    the object is not an Initializer subclass, an Initializer or a callable
    ``(shape, dtype)``.  A name that :func:`get` already knows as a built-in ("zeros",
    "GlorotUniform", an alias) is refused with ValueError unless ``override=True``;
    registering a custom name again replaces the earlier registration.
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string or None, got {type(name).__name__} {name!r}")
    if name == "":
        raise ValueError("name must be a non-empty string")
    if not isinstance(override, bool):
        raise TypeError(f"override must be a bool, got {type(override).__name__}")

    def decorate(obj):
        if not is_initializer_object(obj):
            raise TypeError(f"register({name!r}) got {obj!r}: give an Initializer subclass, "
                            "an Initializer or a callable (shape, dtype)")
        key = name or getattr(obj, "__name__", None)
        if not isinstance(key, str) or not key:
            raise TypeError(f"{obj!r} has no __name__: give register(name=...)")
        if key in builtin_names() and not override:
            raise ValueError(f"name={key!r} is a built-in initializer name; registering it "
                             "would hide the built-in: pick another name or pass "
                             "override=True")
        _CUSTOM[key] = obj
        return obj

    return decorate


def _lookup(name: str, custom_objects: dict | None):
    names = _by_name()
    if custom_objects is not None:
        if not isinstance(custom_objects, dict):
            raise TypeError(f"custom_objects must be a dict of name -> initializer, got "
                            f"{type(custom_objects).__name__}")
        for key, obj in custom_objects.items():
            if not is_initializer_object(obj):
                raise TypeError(f"custom_objects[{key!r}]={obj!r} is not an initializer: give "
                                "an Initializer subclass, an Initializer or a callable "
                                "(shape, dtype)")
        names.update(custom_objects)
    # A name as given, or without the prefix of the name Keras registers gpuinit's classes
    # under ("gpuinit>HeNormal"), which keras.initializers.get takes as a string too.
    prefix = f"{KERAS_PACKAGE}>"
    bare = name[len(prefix):] if name.startswith(prefix) else name
    for candidate in (name, name.lower(), bare, bare.lower()):
        if candidate in names:
            return names[candidate]
    close = close_spellings(name, [n for n in names if isinstance(n, str)])
    hint = f"; did you mean {', '.join(repr(c) for c in close)}" if close else ""
    raise ValueError(f"unknown initializer {name!r}{hint}. Known ids: {', '.join(ids())}")


def _instance(cls: type, label: str):
    """Return ``cls()`` for a string id or class given to :func:`get`; TypeError naming
    ``label`` when the class cannot be made without arguments (FixedValue needs its
    array)."""
    if cls is deterministic.FixedValue:
        raise TypeError(f"{label}: FixedValue needs a value, the array it returns: pass the "
                        "array itself to get() or use FixedValue(array)")
    try:
        inspect.signature(cls).bind()
    except TypeError as exc:
        raise TypeError(f"{label}: {cls.__name__} cannot be made without arguments ({exc}); "
                        "give it as a config dict or an instance") from None
    except ValueError:  # no signature to read: let the call itself decide
        pass
    return cls()


def close_spellings(name: str, spellings: list[str], n: int = 5) -> list[str]:
    """Return up to ``n`` of ``spellings`` closest to ``name``, best first.

    Case is ignored when comparing ("HeNormall" is close to "HeNormal" and to
    "he_normal"), but each suggestion is returned as it is spelled in
    ``spellings`` (an id, an alias or a class name), so every suggestion works
    when passed to :func:`get`.
    """
    by_lowered: dict[str, str] = {}
    for spelling in spellings:
        by_lowered.setdefault(spelling.lower(), spelling)
    close = difflib.get_close_matches(name.lower(), list(by_lowered), n=n, cutoff=0.6)
    return [by_lowered[c] for c in close]


def get(identifier: Any, custom_objects: dict | None = None):
    """Return an initializer for ``identifier``.

    None -> None; an :class:`Initializer` -> itself; a string id, alias or class
    name -> a new instance with default arguments; a dict -> :func:`deserialize`;
    an Initializer class -> an instance; an array (NumPy array or scalar, CuPy
    array, torch tensor, JAX array: :func:`is_array`) -> a
    :class:`~gpuinit.initializers.FixedValue` that returns a copy of it for its own
    shape and raises ValueError for another; another callable ``(shape, dtype)`` (not a
    class) -> itself.  Unknown ids raise ValueError listing close matches; a class that
    is not an Initializer subclass, a class that needs arguments (``"FixedValue"``) and
    a ``custom_objects`` that is not a dict of initializers raise TypeError.  Matches
    ``keras.initializers.get`` (which turns a tensor into a function with the same
    shape check).

    >>> import gpuinit as gi
    >>> gi.initializers.get("xavier_uniform")
    GlorotUniform(seed=None, input_axes=None, output_axes=None)
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        found = _lookup(identifier, custom_objects)
        return _instance(found, repr(identifier)) if isinstance(found, type) else found
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    if isinstance(identifier, type):
        if not issubclass(identifier, Initializer):
            raise TypeError(f"{identifier!r} is a class but not an Initializer subclass, so it "
                            "is not an initializer")
        return _instance(identifier, identifier.__name__)
    if is_array(identifier):
        return deterministic.FixedValue(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"cannot interpret {identifier!r} as an initializer: give a string id, a config "
        "dict, an Initializer, an array or a callable (shape, dtype)"
    )


def is_array(value: Any) -> bool:
    """Return True for the arrays :func:`get` turns into a FixedValue, as
    ``keras.initializers.get`` takes any backend tensor: NumPy arrays and scalars, torch
    tensors, CuPy and other CUDA arrays, and any other object with a ``shape``, a
    ``dtype`` and ``__array__`` (JAX and TensorFlow arrays, 0-d ones too).

    Lists are not arrays here (they are no tensors), nor are objects with a shape and
    dtype but no values NumPy can read (``jax.ShapeDtypeStruct``), nor objects that
    offer only ``__dlpack__``: a FixedValue copies its array through NumPy, CuPy or
    torch, which could not read them.  No array library is imported to decide.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    if is_torch_tensor(value):  # before __cuda_array_interface__, which torch raises for
        return True  # tensors that need grad
    if hasattr(value, "__cuda_array_interface__") and hasattr(value, "shape"):
        return True
    return _has_numpy_values(value)


def _has_numpy_values(value: Any) -> bool:
    """Return True when NumPy can read ``value`` as an array of its own shape and dtype:
    it has ``__array__``, ``shape`` and ``dtype``.  Requiring all three keeps out
    objects that merely convert (a pandas DataFrame has ``dtypes``, not ``dtype``)."""
    return all(hasattr(value, name) for name in ("__array__", "shape", "dtype"))


def serialize(initializer: Any) -> dict | str:
    """Return the Keras 3 style config dict of ``initializer``:
    ``{"module", "class_name", "config", "registered_name"}``.  Matches
    ``keras.initializers.serialize``.

    ``registered_name`` is the name :func:`register` gave a custom class; for a
    built-in class, None when Keras 3's class of the same name reads the config as
    gpuinit does (:func:`.keras_interop.keras_reads_config`: a Keras user's
    ``keras.initializers.deserialize`` then builds Keras' class, as from Keras' own
    output), else ``"gpuinit>ClassName"``, the name gpuinit's classes are registered
    with Keras under (``Dirac``; ``TruncatedNormal(lower=-3)``,
    ``VarianceScaling(mode="fan_geo_avg")``), so that both ``keras.initializers.deserialize``
    and :func:`deserialize` rebuild gpuinit's class.  A registered plain function
    serializes to its registered name.
    """
    register_if_keras_imported()
    if isinstance(initializer, Initializer):
        cls = type(initializer)
        config = initializer.get_config()
        registered = next((k for k, v in _CUSTOM.items() if v is cls), None)
        if registered is None and cls in builtin_classes() \
                and not keras_reads_config(cls.__name__, config):
            registered = keras_registered_name(cls)
        return {
            "module": MODULE if registered is None else cls.__module__,
            "class_name": cls.__name__,
            "config": config,
            "registered_name": registered,
        }
    for key, value in _CUSTOM.items():
        if value is initializer:
            return key
    raise TypeError(
        f"cannot serialize {initializer!r}: register it with "
        "gpuinit.initializers.register() or subclass Initializer with get_config()"
    )


def deserialize(config: Any, custom_objects: dict | None = None):
    """Return the initializer described by ``config``: our :func:`serialize` output,
    Keras 3's ``keras.initializers.serialize()`` output, a Keras 2 style
    ``{"class_name", "config"}`` dict, or a string id."""
    register_if_keras_imported()
    if isinstance(config, str):
        return get(config, custom_objects)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"an initializer config needs 'class_name', got {config!r}")
    for key in ("class_name", "registered_name"):
        if not isinstance(config.get(key, ""), (str, type(None))):
            raise TypeError(f"config[{key!r}] must be a string, got "
                            f"{type(config[key]).__name__} {config[key]!r}")
    if not isinstance(config["class_name"], str):
        raise TypeError("config['class_name'] must be a string, got None")
    options = config.get("config")
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"config['config'] must be a dict of constructor arguments, got "
                        f"{type(options).__name__} {options!r}")
    options = dict(options or {})
    bad_keys = [key for key in options if not isinstance(key, str)]
    if bad_keys:
        raise TypeError(f"config['config'] keys must be strings, got {bad_keys[0]!r}")
    found = _lookup(config.get("registered_name") or config["class_name"], custom_objects)
    if not isinstance(found, type):
        return found
    if getattr(found.from_config, "__func__", None) is Initializer.from_config.__func__:
        try:  # cls(**config): name a missing or unknown key before the call
            inspect.signature(found).bind(**options)
        except TypeError as exc:
            raise TypeError(f"config['config'] does not fit {found.__name__}: {exc}") from None
        except ValueError:  # no signature to read: let the call itself decide
            pass
    return found.from_config(options)
