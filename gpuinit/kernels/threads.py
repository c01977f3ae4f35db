"""One request shared by threads: the calling thread and a shared pool take its chunks
in order, each the next one as soon as it is done with its last, so that a core slowed
by other work takes fewer.  Any split gives the same bits (each element's value depends
on its index only); the work must leave the interpreter lock to run side by side (the
compiled loops are ``nogil``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

_POOL: list = []  # made on the first shared request, grown on demand
_POOL_LOCK = threading.Lock()

# Chunks per thread: enough that a thread slowed by other work hands most of its share
# to the others, few enough that the calls cost nothing against the work.
CHUNKS_PER_THREAD = 8


def _pool(workers: int):
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if not _POOL or _POOL[0]._max_workers < workers:
            _POOL[:] = [ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gpuinit")]
        return _POOL[0]


def run_shared(work: Callable[[int, int], None], start: int, stop: int, threads: int,
               min_chunk: int) -> None:
    """Run ``work(lo, hi)`` over chunks that cover [start, stop) once, on up to
    ``threads`` threads (the calling one among them); returns when every call has
    returned, raising the first error any raised (after which no chunk is begun).

    Chunks hold at least ``min_chunk`` items (one thread does fewer items alone) and
    are taken in order from a shared counter.  The pool's threads that have not begun
    when the calling thread runs out of chunks are not waited for (the pool is shared
    by every request, and may be running another's work).
    """
    count = stop - start
    if count <= 0:
        return
    threads = max(1, min(threads, count // max(1, min_chunk)))
    if threads == 1:
        work(start, stop)
        return
    chunk = max(min_chunk, -(-count // (threads * CHUNKS_PER_THREAD)))
    taken = [start]
    errors: list[BaseException] = []
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                lo = taken[0]
                if errors or lo >= stop:
                    return
                taken[0] = min(lo + chunk, stop)
            try:
                work(lo, min(lo + chunk, stop))
            except BaseException as exc:  # raised on the calling thread below
                with lock:
                    errors.append(exc)
                return

    from concurrent.futures import wait

    futures = [_pool(threads - 1).submit(drain) for _ in range(threads - 1)]
    drain()
    # Those not begun are cancelled (there is nothing left to take), and not waited for:
    # a cancelled future counts as done only once a pool thread has reached it.
    wait([future for future in futures if not future.cancel()])
    if errors:
        raise errors[0]
