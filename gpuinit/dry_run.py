"""Dry runs (``validate_only``): every check of an in-place fill, and no write.

Inside ``with validate_only():`` the :mod:`gpuinit.init` functions and the
sampling primitives check their arguments, their target's shape, dtype and
device, and return without allocating, launching a kernel or drawing a seed
from the global sequence.  :func:`gpuinit.torch.init_module` runs its whole
plan this way first, so that a bad option anywhere raises before any tensor of
the model has been written.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_VALIDATING = contextvars.ContextVar("gpuinit_validate_only", default=False)


@contextmanager
def validate_only() -> Iterator[None]:
    """Within the block, fills check everything and write nothing."""
    token = _VALIDATING.set(True)
    try:
        yield
    finally:
        _VALIDATING.reset(token)


def validating() -> bool:
    """Return True inside :func:`validate_only`."""
    return _VALIDATING.get()
