"""CPU twins of the fill kernels: ``@njit(parallel=True)`` loops over work items."""

import contextlib
import os
import threading

import numpy as np
from numba import int64, njit, prange, types, uint32, uint64
from numba.core.extending import intrinsic

from . import convert, distributions, numpy_fill, philox, primitives  # noqa: F401
from . import fill as _work_item  # noqa: F401
from ._twin import SOURCE_FINGERPRINT, build
from .bitcasts import make_bitcasts
from .fill import DIST_TRUNCATED_NORMAL, FMT_FLOAT64
from .philox import MASK32, PHILOX_W0, PHILOX_W1, ROUNDS


def _float_intrinsic(float_type):
    """Return an intrinsic computing LLVM's fma in ``float_type``: a * b + c rounded
    once, like CUDA's fma.rn (arguments are converted to ``float_type`` first)."""

    def fused_multiply_add(typingctx, a, b, c):
        sig = float_type(a, b, c)

        def codegen(context, builder, signature, args):
            x, y, z = (
                context.cast(builder, v, t, float_type)
                for v, t in zip(args, signature.args, strict=True)
            )
            return builder.fma(x, y, z)

        return sig, codegen

    return intrinsic(fused_multiply_add)


# error_model="numpy": no ZeroDivisionError check on float division (none of
# ours can divide by zero), whose branch keeps LLVM from vectorizing the loops.
FMA = _float_intrinsic(types.float64)
FMA32 = _float_intrinsic(types.float32)
LIB = build(
    njit(error_model="numpy"),
    overrides={
        "fma": FMA,
        "fma32": FMA32,
        **make_bitcasts(intrinsic),
        # LLVM merges the four (two) stores itself where it vectorizes.
        "store4": njit(primitives.store4),
        "store2": njit(primitives.store2),
    },
    inline_jit=njit(error_model="numpy", inline="always"),
)
_philox_round = LIB.philox_round
_row_start = LIB.row_start
_first_attempt = LIB.first_attempt
_finish_block = LIB.finish_block
_philox_block = LIB.philox_block
_block_counter = LIB.block_counter
_store_whole_block = LIB.store_whole_block
_standard_values = LIB.standard_values
_store_block_values = LIB.store_block_values
_inside = LIB.inside
_block_inside = LIB.block_inside
_philox4x32_10 = LIB.philox4x32_10
_fill_block = LIB.fill_block


# Work items per batch: the batch's Philox counters live in small arrays that stay
# in the L1/L2 cache while the ten rounds sweep over them.
BATCH = 512


@njit  # not cached on its own: compiled into each (cached) fill loop
def _philox_batch(c0, c1, c2, c3, count, k0, k1):
    """Run Philox4x32-10 in place over counters (c0[i], c1[i], c2[i], c3[i]), i < count.

    Round by round over the whole batch, so that LLVM vectorizes each round across
    blocks (the same rounds as :func:`philox4x32_10`, in a different loop order).
    """
    key0 = uint32(k0)
    key1 = uint32(k1)
    for n in range(ROUNDS):
        for i in range(count):
            c0[i], c1[i], c2[i], c3[i] = _philox_round(c0[i], c1[i], c2[i], c3[i], key0, key1)
        if n < ROUNDS - 1:
            key0 = uint32((uint64(key0) + uint64(PHILOX_W0)) & uint64(MASK32))
            key1 = uint32((uint64(key1) + uint64(PHILOX_W1)) & uint64(MASK32))


@njit(error_model="numpy")  # not cached on its own: compiled into each fill loop
def _resample_rejected(
    c0, c1, c2, c3, final, n_fast, first_block, first_offset, index, values, words, out,
    dist, fmt, k0, k1, s0, s1, a, b, lower, upper, p_lower, q_upper, mass, clamp_lo,
    clamp_hi, bits_lo, bits_hi,
):
    """Rewrite the blocks i < n_fast of a truncated-normal batch that are not final
    (a lane outside [lower, upper] at attempt 0); c0..c3 hold the attempt-0 words.

    Attempt 1 runs for all of them at once, so Philox and the normal transform
    vectorize: each lane keeps its attempt-0 value if inside, else takes attempt
    1's.  A block with a lane outside at both attempts (about one in twenty at
    ±2σ) starts over with :func:`finish_block`, which goes on to the later
    attempts and the inverse CDF; the values are those of the per-block rule.
    ``index`` (n_fast), ``values`` (4, n_fast) and ``words`` (4, n_fast) are scratch.
    """
    wide = fmt == FMT_FLOAT64
    per_block = 2 if wide else 4
    n = 0
    for i in range(n_fast):  # gather the attempt-0 words of the rejected blocks
        if not final[i]:
            index[n] = i
            words[0, n], words[1, n], words[2, n], words[3, n] = c0[i], c1[i], c2[i], c3[i]
            n += 1
    for q in range(n):
        values[0, q], values[1, q], values[2, q], values[3, q] = _standard_values(
            dist, wide, words[0, q], words[1, q], words[2, q], words[3, q], a, b
        )
    for q in range(n):
        words[0, q], words[1, q] = _block_counter(first_block + index[q], 1)  # attempt 1
        words[2, q] = uint32(s0)
        words[3, q] = uint32(s1)
    _philox_batch(words[0], words[1], words[2], words[3], n, k0, k1)
    for q in range(n):
        t0, t1, t2, t3 = _standard_values(
            dist, wide, words[0, q], words[1, q], words[2, q], words[3, q], a, b
        )
        v0, v1, v2, v3 = values[0, q], values[1, q], values[2, q], values[3, q]
        # Selects and unconditional stores: the loop vectorizes.
        values[0, q] = v0 if _inside(v0, lower, upper) else t0
        values[1, q] = v1 if _inside(v1, lower, upper) else t1
        values[2, q] = v2 if _inside(v2, lower, upper) else t2
        values[3, q] = v3 if _inside(v3, lower, upper) else t3
    for q in range(n):
        i = index[q]
        offset = first_offset + per_block * i
        if _block_inside(
            wide, values[0, q], values[1, q], values[2, q], values[3, q], lower, upper
        ):
            _store_block_values(
                values[0, q], values[1, q], values[2, q], values[3, q], dist, fmt, a, b, out,
                offset, clamp_lo, clamp_hi, bits_lo, bits_hi,
            )
        else:
            _finish_block(
                c0[i], c1[i], c2[i], c3[i], 0, first_block + i, 0, per_block, out, offset,
                dist, fmt, k0, k1, s0, s1, a, b, lower, upper, p_lower, q_upper, mass,
                clamp_lo, clamp_hi, bits_lo, bits_hi,
            )


# Outputs of at most this many values are filled by :func:`serial_fill`: one loop
# for every distribution, compiled in about a tenth of the time of a parallel loop
# (a first call pays seconds, not tens of seconds) and fast enough at this size
# (a million normals in about 15 ms on one core) ...
SERIAL_MAX_VALUES = 1 << 20
# ... unless the output has more than this many values, enough for the cores to pay
# off, and the parallel loop of the law is compiled in this process or in Numba's
# on-disk cache (made by an earlier process, or by ``gpuinit compile``).
PARALLEL_MIN_VALUES = 1 << 15
# One parallel loop at a time.  Numba's workqueue threading layer (its fallback where
# neither TBB nor OpenMP loads) aborts the process when two threads run parallel
# loops at once; each loop already uses every core, so serializing them costs
# concurrent callers nothing but the wait.  The one-core loop needs no lock.
PARALLEL_LOCK = threading.Lock()


def _takes_serial(size: int, loop, args: tuple) -> bool:
    """Return whether an output of ``size`` values goes to the one-core loop, given the
    law's parallel loop and the arguments it would be called with."""
    if size > SERIAL_MAX_VALUES:
        return False
    if size <= PARALLEL_MIN_VALUES:
        return True
    return not _load_cached(loop, args)


# (dist, fmt, argument types) whose parallel loop was looked for on disk and not found.
_NOT_ON_DISK: set = set()


def _load_cached(loop, args: tuple) -> bool:
    """Return whether ``loop`` is ready for ``args`` without compiling: compiled in this
    process, or loaded now from Numba's on-disk cache (a previous process or
    ``gpuinit compile`` made it; loading takes a fraction of a second).

    This is the load step of numba's ``Dispatcher.compile`` without its compile
    step; should numba's internals differ, the answer is False and the output takes
    the one-core loop, with the same bits.
    """
    try:
        from numba.core.compiler_lock import global_compiler_lock

        if not loop.signatures and not os.path.exists(loop._cache._cache_file._index_path):
            # No index file, no entry: skip the lookup, which first sets up numba's
            # typing (a tenth of a second or more).
            return False
        sig = tuple(loop.typeof_pyval(a) for a in args)
        if sig in loop.overloads:
            return True
        key = (loop.__name__, sig)  # fill_loop_<dist>_<fmt>: one per law
        if key in _NOT_ON_DISK:
            return False
        with global_compiler_lock:
            if sig in loop.overloads:  # another thread loaded it meanwhile
                return True
            cres = loop._cache.load_overload(sig, loop.targetctx)
            if cres is None:
                _NOT_ON_DISK.add(key)
                return False
            loop.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
            loop.add_overload(cres)
        return True
    except Exception:  # an internal numba API changed: keep to the one-core loop
        return False


def fill(out, n_items, n_threads, dist, fmt, key, rows, law, clamp):
    """Fill ``out`` (1-D, contiguous) with work items 0..n_items-1 on ``n_threads`` cores.

    Work item w is Philox block j = w mod blocks_per_row of row r = w // blocks_per_row,
    as in the CUDA kernel; ``key``, ``rows``, ``law`` and ``clamp`` are the kernels'
    tuples (:mod:`.fill`).  Small outputs run :mod:`.numpy_fill` (no compiling) or
    :func:`serial_fill`; larger ones the parallel loop compiled for this (dist, fmt).
    All give the same bits: the loops run the same scalar source, and numpy_fill
    its operations as array arithmetic.
    """
    law_key = (int(dist), int(fmt))
    loop = _LOOPS.get(law_key)
    if loop is None:
        loop = _LOOPS[law_key] = _make_loop(*law_key)
    loop_args = (out, n_items, n_threads, key, rows, law, clamp)
    if _takes_serial(out.size, loop, loop_args):
        if _takes_numpy(out, dist, fmt, law) and numpy_fill.fill(
                out, n_items, dist, fmt, key, rows, law, clamp):
            _NUMPY_FILLED[0] += out.size
            return
        serial_fill(out, n_items, dist, fmt, key, rows, law, clamp)
        _SERIAL_READY.add(out.dtype)
        return
    with PARALLEL_LOCK:
        loop(*loop_args)


# Outputs of up to NUMPY_MAX_VALUES values, while the one-core loop of their dtype is
# not compiled in this process, are computed by NumPy array arithmetic with the same
# bits (numpy_fill): a first call pays no compiling.  NumPy is slower per value than
# the compiled loop, so a process hands over to it once NumPy has made
# NUMPY_BUDGET_VALUES values (about half a second's worth): short scripts never
# compile, model builds compile once.
NUMPY_MAX_VALUES = 1 << 20
NUMPY_BUDGET_VALUES = 1 << 22
_NUMPY_FILLED = [0]  # values made by numpy_fill in this process
_SERIAL_READY: set = set()  # output dtypes whose one-core loop this process has run


_COMPILING = threading.local()


@contextlib.contextmanager
def compiled_loops_only():
    """Within the block, this thread's fills skip :mod:`.numpy_fill`, so that they
    compile (or load) the loops: what ``gpuinit compile`` needs."""
    before = getattr(_COMPILING, "on", False)
    _COMPILING.on = True
    try:
        yield
    finally:
        _COMPILING.on = before


def _takes_numpy(out, dist, fmt, law) -> bool:
    """Return whether ``out`` goes to :mod:`.numpy_fill` before the one-core loop."""
    return (not getattr(_COMPILING, "on", False) and out.size <= NUMPY_MAX_VALUES
            and _NUMPY_FILLED[0] + out.size <= NUMPY_BUDGET_VALUES
            and out.dtype not in _SERIAL_READY and numpy_fill.supports(dist, fmt, law))


_LOOPS: dict = {}


def _make_loop(dist: int, fmt: int):
    """Return the parallel fill loop with ``dist`` and ``fmt`` compiled in as constants.

    Constants let LLVM drop the other distributions' and formats' branches, so
    whole blocks are converted by straight-line code; numba caches each loop on
    disk (one file per (dist, fmt)).
    """

    fingerprint = SOURCE_FINGERPRINT

    @njit(parallel=True, cache=True, error_model="numpy")
    def loop(out, n_items, n_threads, key, rows, law, clamp):
        _ = fingerprint  # part of the cache key: see SOURCE_FINGERPRINT
        k0, k1, s0, s1 = key
        blocks_per_row, row_len, base, lead_shape, lead_stride = rows
        a, b, lower, upper, reject, p_lower, q_upper, mass = law
        clamp_lo, clamp_hi, bits_lo, bits_hi = clamp
        # Each core takes a contiguous range of items and walks it in batches: the
        # counters of a batch are laid out, Philox runs over the whole batch, and
        # each block's words become its elements.
        per_block = 2 if fmt == FMT_FLOAT64 else 4
        attempt = _first_attempt(dist, reject)
        n_batches = (n_items + BATCH - 1) // BATCH
        n_parts = min(n_threads, n_batches)
        for part in prange(n_parts):
            c0 = np.empty(BATCH, np.uint32)
            c1 = np.empty(BATCH, np.uint32)
            c2 = np.empty(BATCH, np.uint32)
            c3 = np.empty(BATCH, np.uint32)
            final = np.empty(BATCH, np.bool_)
            index = np.empty(BATCH, np.int64)  # scratch of _resample_rejected
            values = np.empty((4, BATCH), np.float64)
            words = np.empty((4, BATCH), np.uint32)
            for batch in range(part * n_batches // n_parts, (part + 1) * n_batches // n_parts):
                w = batch * BATCH
                count = min(BATCH, n_items - w)
                r = w // blocks_per_row
                j = w - r * blocks_per_row
                start = _row_start(r, base, lead_shape, lead_stride)
                done = 0
                while done < count:
                    # The part of the batch in row r: blocks j .. j+seg-1 of the row.
                    seg = min(count - done, blocks_per_row - j)
                    row_block = start // per_block  # the first block the row touches
                    fast_lo = max(j, (start + per_block - 1) // per_block - row_block)
                    fast_hi = min(j + seg, (start + int64(row_len)) // per_block - row_block)
                    if attempt != 0 or fast_lo >= fast_hi:
                        fast_lo = fast_hi = j + seg
                    if fast_lo < fast_hi:
                        # The common case: whole consecutive blocks of one row, which
                        # fill consecutive elements of out.  Philox runs vectorized
                        # over them; a truncated normal block with a rejected lane
                        # is written, then rewritten by _resample_rejected.
                        n_fast = fast_hi - fast_lo
                        first_block = row_block + fast_lo
                        first_offset = r * int64(row_len) - start + first_block * per_block
                        for i in range(n_fast):
                            c0[i], c1[i] = _block_counter(first_block + i, 0)
                            c2[i] = uint32(s0)
                            c3[i] = uint32(s1)
                        _philox_batch(c0, c1, c2, c3, n_fast, k0, k1)
                        for i in range(n_fast):
                            final[i] = _store_whole_block(
                                c0[i], c1[i], c2[i], c3[i], dist, fmt, a, b, lower, upper, out,
                                first_offset + per_block * i, clamp_lo, clamp_hi, bits_lo,
                                bits_hi,
                            )
                        if dist == DIST_TRUNCATED_NORMAL:
                            _resample_rejected(
                                c0, c1, c2, c3, final, n_fast, first_block, first_offset,
                                index, values, words, out, dist, fmt, k0, k1, s0, s1, a, b,
                                lower, upper, p_lower, q_upper, mass, clamp_lo, clamp_hi,
                                bits_lo, bits_hi,
                            )
                    # Blocks at the row's edges, or all of them by inverse CDF: one by one.
                    for edge in range(2):
                        for jj in range(j if edge == 0 else fast_hi,
                                        fast_lo if edge == 0 else j + seg):
                            block = row_block + jj
                            first = block * per_block
                            lo = max(first, start) - first
                            hi = min(first + per_block, start + int64(row_len)) - first
                            if lo < hi:
                                x0, x1, x2, x3 = _philox_block(block, attempt, k0, k1, s0, s1)
                                _finish_block(
                                    x0, x1, x2, x3, attempt, block, lo, hi, out,
                                    r * int64(row_len) - start + first, dist, fmt, k0, k1, s0,
                                    s1, a, b, lower, upper, p_lower, q_upper, mass, clamp_lo,
                                    clamp_hi, bits_lo, bits_hi,
                                )
                    done += seg
                    j += seg
                    if j == blocks_per_row and done < count:
                        j = 0
                        r += 1
                        start = _row_start(r, base, lead_shape, lead_stride)

    loop.__qualname__ = loop.__name__ = f"fill_loop_{dist}_{fmt}"
    return loop


def _make_serial_fill():
    """Return the one-core fill loop (a factory, to carry the fingerprint)."""
    fingerprint = SOURCE_FINGERPRINT

    @njit(cache=True, error_model="numpy")
    def serial_fill(out, n_items, dist, fmt, key, rows, law, clamp):
        """Fill ``out`` with work items 0..n_items-1 one after the other: the CUDA
        kernel's work item (:func:`fill_block`), with the distribution and format as
        arguments, so one compiled loop serves every law of an output dtype."""
        _ = fingerprint  # part of the cache key: see SOURCE_FINGERPRINT
        blocks_per_row = rows[0]
        for w in range(n_items):
            r = w // blocks_per_row
            _fill_block(r, w - r * blocks_per_row, out, dist, fmt, key, rows, law, clamp)

    return serial_fill


serial_fill = _make_serial_fill()


def _make_philox4x32():
    """Return the compiled :func:`philox4x32` (a factory, to carry the fingerprint)."""
    fingerprint = SOURCE_FINGERPRINT

    @njit(cache=True)
    def philox4x32(counters, keys, out):
        """Write Philox4x32-10 of each (counter[i], key[i]) row into out[i]."""
        _ = fingerprint  # part of the cache key: see SOURCE_FINGERPRINT
        for i in range(counters.shape[0]):
            x0, x1, x2, x3 = _philox4x32_10(
                counters[i, 0], counters[i, 1], counters[i, 2], counters[i, 3], keys[i, 0],
                keys[i, 1],
            )
            out[i, 0] = x0
            out[i, 1] = x1
            out[i, 2] = x2
            out[i, 3] = x3

    return philox4x32


philox4x32 = _make_philox4x32()
