"""Where a CPU fill runs: the NumPy target (:mod:`.arrays`) or the format's compiled loop
(:mod:`.cpu`), which this module imports only once a loop is wanted, so that a first
fill waits neither for a compiler nor for importing Numba."""

from __future__ import annotations

import os
import threading
import time

from . import arrays
from .fill import FMT_FLOAT64, FORMAT_NAMES
from .preparation import PreparedLoop, loop_mode

_LOOPS: dict[int, PreparedLoop] = {}
_LOOPS_LOCK = threading.Lock()

# A format's compiled loop is prepared once the NumPy target has made this many of its
# values in the process (a quarter of a second's work or so): a short script never pays
# for preparing a loop it would not use, and never waits while one loads.
PREPARE_AFTER_VALUES = 1 << 22
# A float64 normal costs the NumPy target about ten times as much per value (its fma is
# made of exact pieces): float64's loop is prepared sooner.
PREPARE_AFTER_FLOAT64_VALUES = 1 << 19
# Or once the NumPy target has spent this much processor time on the format's requests
# (its thread's: time waiting for the interpreter lock does not count): many small
# requests (a model's biases and norms) cost it most in their fixed part, about half a
# millisecond each, however few values they make.
PREPARE_AFTER_SECONDS = 0.5
_NUMPY_VALUES: dict[int, int] = {}  # values of each format made by the NumPy target
_NUMPY_SECONDS: dict[int, float] = {}  # and the time it took


def compiled_loop(fmt: int) -> PreparedLoop:
    """Return the :class:`.preparation.PreparedLoop` of output format ``fmt`` (one per
    process; nothing is imported or compiled until it is prepared)."""
    with _LOOPS_LOCK:
        loop = _LOOPS.get(fmt)
        if loop is None:
            loop = _LOOPS[fmt] = PreparedLoop(
                f"fill_loop_{FORMAT_NAMES[fmt]}", lambda: _dispatcher_and_signature(fmt),
                f"from gpuinit.kernels import route\nroute.compiled_loop({int(fmt)}).prepare()")
        return loop


def _dispatcher_and_signature(fmt: int):
    from . import cpu

    return cpu.make_loop(fmt), cpu.loop_signature(fmt)


def default_threads() -> int:
    """Return how many threads a CPU fill uses: NUMBA_NUM_THREADS when it is set (as for
    Numba's own parallel code), else the cores this process may run on.  (Numba's
    runtime setting is not read: asking for it starts Numba's threading layer.)"""
    try:
        return max(1, int(os.environ.get("NUMBA_NUM_THREADS", "")))
    except ValueError:
        pass
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def switch_item(o: int, fmt: int, rows) -> tuple[int, int]:
    """Return (o2, w): the first output element o2 >= o at which a work item begins
    (a row's start, or a block boundary inside a row), and that work item w."""
    blocks_per_row, row_len, base, lead_shape, lead_stride = rows
    per_block = 2 if fmt == FMT_FLOAT64 else 4
    r, c = divmod(o, row_len)
    start = int(arrays.LIB.row_start(r, base, tuple(lead_shape), tuple(lead_stride)))
    if c:
        c += -(start + c) % per_block
        if c >= row_len:
            r, c = r + 1, 0
    if c == 0:
        return r * row_len, r * blocks_per_row
    return r * row_len + c, r * blocks_per_row + (start + c) // per_block - start // per_block


def fill(out, n_items, dist, fmt, key, rows, law, clamp):
    """Fill ``out`` (1-D, contiguous) with work items 0..n_items-1; returns None.

    ``key``, ``rows``, ``law`` and ``clamp`` are the kernels' tuples (:mod:`.fill`).
    The format's compiled loop runs the request once it is ready, on
    :func:`default_threads` threads when the request is large enough to share.  Until
    then the NumPy target computes it, chunk by chunk, while the loop is prepared in
    the background (:meth:`.preparation.PreparedLoop.start`, once the process has asked
    for :data:`PREPARE_AFTER_VALUES` values of the format or the NumPy target has spent
    :data:`PREPARE_AFTER_SECONDS` on them), and hands the rest of the request over as
    soon as the loop is ready.  Every route gives the same bits; GPUINIT_CPU_LOOPS
    chooses other policies (:func:`.preparation.loop_mode`).
    """
    mode = loop_mode()
    if mode == "numpy":
        arrays.fill(out, dist, fmt, key, rows, law, clamp)
        return
    loop = compiled_loop(fmt)
    first_item = 0
    if not loop.usable():
        if mode == "background":
            with _LOOPS_LOCK:
                made = _NUMPY_VALUES[fmt] = _NUMPY_VALUES.get(fmt, 0) + out.size
                spent = _NUMPY_SECONDS.get(fmt, 0.0)
            if made >= (PREPARE_AFTER_FLOAT64_VALUES if fmt == FMT_FLOAT64
                        else PREPARE_AFTER_VALUES) or spent >= PREPARE_AFTER_SECONDS:
                loop.start()
            began = time.thread_time()
            stopped = arrays.fill(out, dist, fmt, key, rows, law, clamp,
                                  should_stop=loop.usable)
            with _LOOPS_LOCK:
                _NUMPY_SECONDS[fmt] = (_NUMPY_SECONDS.get(fmt, 0.0)
                                       + time.thread_time() - began)
            if stopped >= out.size:
                return
            # The loop is ready: it takes over at the next work item's first element.
            o, first_item = switch_item(stopped, fmt, rows)
            if o > stopped:
                arrays.fill(out, dist, fmt, key, rows, law, clamp, start=stopped, stop=o)
            if first_item >= n_items:
                return
        else:
            loop.prepare()
    from . import cpu

    # The thread count (environment and affinity lookups) only for a request to share.
    n_threads = (default_threads() if n_items - first_item >= 2 * cpu.MIN_ITEMS_PER_THREAD
                 else 1)
    cpu.run_loop(loop.dispatcher, out, first_item, n_items, n_threads, dist,
                 cpu.loop_arguments(key, rows, law, clamp))
