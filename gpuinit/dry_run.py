"""Dry runs (``validate_only``): every check of an in-place fill, and no write.

Inside ``with validate_only():`` the :mod:`gpuinit.init` functions check their
arguments and their target's shape, dtype and device, and return without allocating,
launching a kernel or drawing a seed.  Each such function prepares its write first
(:func:`gpuinit.init.prepare`) and runs it second; this block only skips the run, and
:mod:`gpuinit.init` is the one module that reads it.  Plans and samplers do not need
it: they prepare (:func:`gpuinit.torch.fills.prepare_fills`,
:func:`gpuinit.random.prepare`) and run separately.
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
