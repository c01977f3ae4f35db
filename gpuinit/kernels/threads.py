"""One request shared by threads: the calling thread and a shared pool's run the same
work, which takes the request's chunks from a counter they share, each the next chunk as
soon as it is done with its last, so that a core slowed by other work takes fewer.  Any
split gives the same bits (each element's value depends on its index only); the work
must leave the interpreter lock to run side by side (the compiled loops are ``nogil``
and take their chunks themselves, see :func:`.cpu.run_loop`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

_POOL: list = []  # made on the first shared request, grown on demand
_POOL_LOCK = threading.Lock()


def _pool(workers: int):
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if not _POOL or _POOL[0]._max_workers < workers:
            _POOL[:] = [ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gpuinit")]
        return _POOL[0]


def run_shared(work: Callable[[bool], bool], threads: int, stop: Callable[[], None]) -> None:
    """Run ``work`` on up to ``threads`` threads at once, the calling one among them;
    returns once every chunk of the request is written, raising the error of the calling
    thread's call, or the first of the pool's when a chunk was left unwritten (an error
    of a pool call that wrote nothing, its chunks taken by the others, is not raised).

    ``work(caller)`` takes chunks until none is left and returns whether every chunk of
    the request is written (the calling thread's call, ``caller`` true, waits a moment
    for the others' last ones).  ``stop()`` ends the taking of chunks: after an error
    in the calling thread, whose call then returns once the pool's calls that began
    have returned.  The pool's calls that have not begun when the calling thread's
    returns are cancelled, and those that began are waited for only while a chunk is
    unwritten (the pool is shared by every request, and may be running another's work;
    a call that begins late finds no chunk left).
    """
    if threads <= 1:
        work(True)
        return
    from concurrent.futures import wait

    futures = [_pool(threads - 1).submit(work, False) for _ in range(threads - 1)]
    try:
        written = work(True)
    except BaseException:
        stop()
        wait([future for future in futures if not future.cancel()])
        raise
    # A cancelled future counts as done only once a pool thread has reached it: those
    # are not waited for.
    begun = [future for future in futures if not future.cancel()]
    if written:
        return
    wait(begun)
    # Every call that took a chunk has returned: asked again, the calling thread finds
    # every chunk written unless a call failed inside one.
    if work(True):
        return
    errors = [future.exception() for future in begun if future.exception() is not None]
    if errors:
        raise errors[0]
    raise RuntimeError("gpuinit internal error: a shared request ended with chunks unwritten")
