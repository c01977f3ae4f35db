"""Build one scalar source for three targets.

The arithmetic of gpuinit (Philox, the integer-to-float maps, Box-Muller, the
truncated normal) is written once, as plain scalar Python functions marked with
:func:`scalar`.  :func:`build` makes every marked function for one target —
``numba.njit`` for the CPU, ``numba.cuda.jit(device=True, forceinline=True)``
for CUDA, or the functions themselves over NumPy arrays (:mod:`.arrays`) — into
a namespace in which the functions call each other's twins of that target, and
the target's own primitives (:mod:`.primitives`).  (The CPU uses plain ``njit``:
LLVM inlines the small functions anyway, and Numba-IR inlining made each CPU
kernel take minutes to compile.  CUDA's
``forceinline`` has NVVM inline them, which compiles a kernel in about 2 s where
Numba-IR inlining took 25 s.)  The CPU and CUDA launch loops are thin wrappers around
the same compiled work-item function, which is what makes both targets produce
the same numbers and lets the CUDA simulator test the GPU code on any machine.
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

_SOURCES: list[Callable] = []
# Names of the scalar functions marked ``inline=True``.
_INLINED: set[str] = set()


def scalar(func: Callable | None = None, *, inline: bool = False):
    """Mark ``func`` as part of the shared scalar source; returns it unchanged.

    ``inline=True`` marks a function that is too large for LLVM's inliner once its
    callees are inlined (Box-Muller, the block store): :func:`build` compiles it
    with ``inline_jit`` (LLVM's alwaysinline on the CPU), because a call left in a
    CPU loop keeps the loop from being vectorized.  Used as ``@scalar`` or
    ``@scalar(inline=True)``.
    """
    if func is None:
        return lambda f: scalar(f, inline=inline)
    if any(f.__name__ == func.__name__ for f in _SOURCES):
        raise RuntimeError(f"scalar function {func.__name__!r} defined twice")
    _SOURCES.append(func)
    if inline:
        _INLINED.add(func.__name__)
    return func


def build(
    jit: Callable[[Callable], Callable],
    overrides: dict | None = None,
    inline_jit: Callable[[Callable], Callable] | None = None,
) -> SimpleNamespace:
    """Return a namespace holding every scalar function compiled with ``jit``.

    Each function is rebuilt over one shared globals dictionary (the union of the
    defining modules' globals, then the compiled twins, then ``overrides``), so a
    call from one scalar function to another resolves to the same target.
    ``overrides`` binds target-specific primitives such as ``fma``; functions
    marked ``inline=True`` are compiled with ``inline_jit`` when it is given.
    """
    shared: dict = {}
    for func in _SOURCES:
        for name, value in func.__globals__.items():
            shared.setdefault(name, value)
    compiled = {}
    for func in _SOURCES:
        clone = types.FunctionType(
            func.__code__, shared, func.__name__, func.__defaults__, func.__closure__
        )
        clone.__qualname__ = func.__qualname__
        clone.__module__ = func.__module__
        clone.__doc__ = func.__doc__
        inlined = inline_jit is not None and func.__name__ in _INLINED
        compiled[func.__name__] = (inline_jit if inlined else jit)(clone)
    shared.update(compiled)
    if overrides:
        shared.update(overrides)
    return SimpleNamespace(**compiled)


def _source_fingerprint() -> int:
    """Return a 56-bit hash of the kernel source files (this folder's modules).

    Numba keys a cached function on its own bytecode and closure, not on the
    functions it calls.  The cached CPU loops and CUDA kernel carry this number
    in their closure, so an edit to any scalar source recompiles them instead of
    loading stale machine code from the on-disk cache.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return int.from_bytes(digest.digest()[:7], "little")


SOURCE_FINGERPRINT = _source_fingerprint()
