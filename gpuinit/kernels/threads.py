"""One request split over threads: the calling thread takes the first part, a shared
pool the others.  Any split gives the same bits (each element's value depends on its
index only); the work must leave the interpreter lock to run side by side (the
compiled loops are ``nogil``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

_POOL: list = []  # made on the first split request, grown on demand
_POOL_LOCK = threading.Lock()


def _pool(workers: int):
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if not _POOL or _POOL[0]._max_workers < workers:
            _POOL[:] = [ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gpuinit")]
        return _POOL[0]


def run_split(work: Callable[[int, int], None], bounds: Sequence[int]) -> None:
    """Run ``work(bounds[k], bounds[k + 1])`` for every k, at the same time; returns when
    all are done, raising the first error any raised."""
    parts = list(zip(bounds[:-1], bounds[1:], strict=True))
    if len(parts) == 1:
        work(*parts[0])
        return
    futures = [_pool(len(parts) - 1).submit(work, lo, hi) for lo, hi in parts[1:]]
    try:
        work(*parts[0])
    finally:
        for future in futures:
            future.result()
