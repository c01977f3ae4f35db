"""Seeds: validation, and the global sequence that unseeded calls draw from."""

from __future__ import annotations

import secrets
import threading
from numbers import Integral
from typing import Any

from .arguments import scalar
from .kernels.philox import philox4x32_10

SEED_LIMIT = 1 << 64
_lock = threading.Lock()
_state = {"seed": secrets.randbits(64), "count": 0}


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


def next_seed() -> int:
    """Return the next 64-bit seed of the global sequence (Philox of a counter)."""
    with _lock:
        seed, count = _state["seed"], _state["count"]
        _state["count"] = count + 1
    words = philox4x32_10(
        count & 0xFFFFFFFF, count >> 32, 0x5EED5EED, 0, seed & 0xFFFFFFFF, seed >> 32
    )
    return (int(words[0]) << 32) | int(words[1])


def resolve_seed(seed: Any) -> int:
    """Return ``seed`` checked, or the next seed of the global sequence if None."""
    if seed is not None:
        return check_seed(seed)
    return next_seed()
