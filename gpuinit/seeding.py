"""Seeds: validation, and the global sequence that unseeded calls draw from."""

from __future__ import annotations

import random
import secrets
import sys
import threading
from numbers import Integral
from typing import Any

from .arguments import scalar
from .kernels.philox import philox4x32_10

SEED_LIMIT = 1 << 64
_lock = threading.Lock()
# "manual": whether manual_seed has been called (then it rules unseeded initializers too).
_state = {"seed": secrets.randbits(64), "count": 0, "manual": False}


def check_seed(seed: Any, argument: str = "seed") -> int:
    """Return ``seed`` (or a 0-d integer array, as ``stream`` and ``offset`` take them) as an
    int in [0, 2^64); TypeError or ValueError otherwise."""
    if type(seed) is not int:
        seed = scalar(seed)
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(f"{argument} must be an integer, got {type(seed).__name__}")
    value = int(seed)
    if not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{argument}={value} is outside [0, 2**64)")
    return value


def manual_seed(seed: int) -> None:
    """Seed the sequence that calls without ``seed=`` draw their seeds from.

    After ``manual_seed(s)`` the n-th unseeded call gets the same seed in every
    process, like ``torch.manual_seed``.
    """
    value = check_seed(seed)
    with _lock:
        _state["seed"] = value
        _state["count"] = 0
        _state["manual"] = True


def next_seed() -> int:
    """Return the next 64-bit seed of the global sequence (Philox of a counter)."""
    with _lock:
        seed, count = _state["seed"], _state["count"]
        _state["count"] = count + 1
    words = philox4x32_10(
        count & 0xFFFFFFFF, count >> 32, 0x5EED5EED, 0, seed & 0xFFFFFFFF, seed >> 32
    )
    return (int(words[0]) << 32) | int(words[1])


def initializer_seed() -> int:
    """Return the seed of an unseeded initializer call (a ``gi.initializers`` object
    with no seed of its own or of its layer).

    Once ``keras.utils.set_random_seed`` has been called, and :func:`manual_seed` has
    not, it is drawn as Keras' unseeded initializers draw theirs: from Python's
    ``random`` module, which ``set_random_seed`` seeds, so that call makes a Keras model
    built with gpuinit's initializers reproducible, as it makes one built with Keras'.
    Else it is the next seed of the global sequence (:func:`next_seed`).
    """
    if not _state["manual"] and _keras_seed_is_set():
        return random.getrandbits(64)
    return next_seed()


def _keras_seed_is_set() -> bool:
    """Return whether Keras is imported and ``keras.utils.set_random_seed`` has been called
    (Keras keeps the seed in its own state, read where Keras reads it; False if that has
    moved)."""
    rng_utils = sys.modules.get("keras.src.utils.rng_utils")
    get_random_seed = getattr(rng_utils, "get_random_seed", None)
    return get_random_seed is not None and get_random_seed() is not None


def resolve_seed(seed: Any) -> int:
    """Return ``seed`` checked, or the next seed of the global sequence if None."""
    if seed is not None:
        return check_seed(seed)
    return next_seed()
