"""Transparent huge pages for freshly allocated host tensors (Linux).

A model materialized on the CPU is written once, right after allocation: the kernels'
first touch of each 4 KiB page costs a page fault, which for a model of hundreds of
megabytes takes about as long as the sampling itself.  Advising the kernel that these
ranges want huge pages (``madvise(MADV_HUGEPAGE)``, honoured when
``/sys/kernel/mm/transparent_hugepage/enabled`` is ``madvise`` or ``always``) makes the
first touch fault 2 MiB at a time.  Nothing else changes: the values, the memory and its
owner stay the same; where the call is unavailable it does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterable

import torch

_MADV_HUGEPAGE = 14
_HUGE = 1 << 21
_MIN_BYTES = 4 * _HUGE  # below this a range holds too few huge pages to matter


def _madvise():
    """Return libc's ``madvise``, or None where there is none (not Linux, no libc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_CALL = _madvise()


def advise_huge_pages(tensors: Iterable[torch.Tensor]) -> int:
    """Advise huge pages for the 2 MiB-aligned part of each CPU tensor's storage of at
    least 8 MiB, each storage once, before its first write; returns how many ranges were
    advised (0 where ``madvise`` is unavailable).  A refused call changes nothing."""
    if _CALL is None:
        return 0
    advised, seen = 0, set()
    for tensor in tensors:
        if tensor.device.type != "cpu" or tensor.is_meta:
            continue
        storage = tensor.untyped_storage()
        start, nbytes = storage.data_ptr(), storage.nbytes()
        if start in seen or nbytes < _MIN_BYTES:
            continue
        seen.add(start)
        low = (start + _HUGE - 1) & ~(_HUGE - 1)
        high = (start + nbytes) & ~(_HUGE - 1)
        if high > low and _CALL(low, high - low, _MADV_HUGEPAGE) == 0:
            advised += 1
    return advised
