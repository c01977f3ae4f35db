"""The compiled CPU target: one ``nogil`` loop per output format over work items, run on
a few threads (:mod:`.route` decides when: until a loop is ready, :mod:`.arrays`
serves).  Importing this module imports Numba."""

import platform

import numpy as np
from llvmlite import ir
from numba import int64, literally, njit, types, uint32, uint64
from numba.core import cgutils, config
from numba.core.codegen import get_host_cpu_features
from numba.core.extending import intrinsic

from . import convert, distributions, philox, primitives  # noqa: F401
from . import fill as _work_item  # noqa: F401
from ._twin import SOURCE_FINGERPRINT, build
from .bitcasts import make_bitcasts
from .distributions import TRUNC_ATTEMPTS
from .fill import (
    DIST_LAPLACE,
    DIST_NORMAL,
    DIST_TRUNCATED_NORMAL,
    DIST_UNIFORM,
    FMT_BFLOAT16,
    FMT_FLOAT16,
    FMT_FLOAT32,
    FMT_FLOAT64,
    FORMAT_NAMES,
)
from .philox import MASK32, PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1
from .threads import run_shared


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


@intrinsic
def _float16_bits(typingctx, x):
    """The float16 pattern of float32 ``x`` rounded to nearest even, by LLVM's
    ``fptrunc`` (one ``vcvtps2ph`` for 16 lanes with F16C): IEEE's rounding, the same
    bits as :func:`.convert.float32_to_float16_bits` for every float32 that is not a
    NaN (all 2^32 patterns compared), in a fifth of its instructions."""

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.float32)
        half = builder.fptrunc(value, ir.HalfType())
        return builder.zext(builder.bitcast(half, ir.IntType(16)), ir.IntType(32))

    return types.uint32(x), codegen


@intrinsic
def _fetch_add(typingctx, counters, index, value):
    """Add ``value`` to counters[index] (an int64 array) atomically; return the value it
    held (LLVM's ``atomicrmw add``, sequentially consistent)."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, array, [args[1]])
        return builder.atomic_rmw("add", pointer, args[2], "seq_cst")

    return types.int64(counters, types.intp, types.int64), codegen


def native_float16_conversion() -> bool:
    """Return whether the code Numba compiles here converts float32 to float16 in an
    instruction: x86-64 with F16C among the features it compiles for (NUMBA_CPU_FEATURES
    or the host's).  Elsewhere LLVM calls a library routine that Numba's JIT does not
    link (the process would crash), and the loops keep the integer conversion."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    features = config.CPU_FEATURES
    if features is None:
        features = get_host_cpu_features()
    return "+f16c" in features.split(",")


# error_model="numpy": no ZeroDivisionError check on float division (none of
# ours can divide by zero), whose branch keeps LLVM from vectorizing the loops.
FMA = _float_intrinsic(types.float64)
FMA32 = _float_intrinsic(types.float32)
LIB = build(
    njit(error_model="numpy"),
    overrides={
        **primitives.numba_types(),
        "fma": FMA,
        "fma32": FMA32,
        **make_bitcasts(intrinsic),
        # LLVM merges the four (two) stores itself where it vectorizes.
        "store4": njit(primitives.store4),
        "store2": njit(primitives.store2),
        "select": njit(primitives.select),
        **({"float32_to_float16_bits": _float16_bits} if native_float16_conversion() else {}),
    },
    # LLVM's alwaysinline, not Numba-IR inlining (inline="always"): stores inlined by
    # Numba kept LLVM from vectorizing the fill loop, and the loops compile in ~20 s
    # instead of ~35 s.
    inline_jit=njit(error_model="numpy", forceinline=True),
)
_philox_round = LIB.philox_round
_round_from_halves = LIB.round_from_halves
_product_halves = LIB.product_halves
_row_start = LIB.row_start
_first_attempt = LIB.first_attempt
_finish_block = LIB.finish_block
_philox_block = LIB.philox_block
_block_counter = LIB.block_counter
_standard_values = LIB.standard_values
_store_block_values = LIB.store_block_values
_block_inside = LIB.block_inside
_inside = LIB.inside
_philox4x32_10 = LIB.philox4x32_10


# Work items per batch: the scratch of a truncated normal's rejected blocks (sized for a
# whole batch) stays in the L1/L2 cache.
BATCH = 512


@njit(forceinline=True)
def _round_keys(k, weyl):
    """Return the ten round keys k + n·weyl (mod 2^32), n = 0..9, of one Philox key word."""
    k = uint64(k)
    w = uint64(weyl)
    m = uint64(MASK32)
    return (
        uint32(k & m), uint32((k + w) & m), uint32((k + 2 * w) & m),
        uint32((k + 3 * w) & m), uint32((k + 4 * w) & m), uint32((k + 5 * w) & m),
        uint32((k + 6 * w) & m), uint32((k + 7 * w) & m), uint32((k + 8 * w) & m),
        uint32((k + 9 * w) & m),
    )


@njit(forceinline=True)
def _ten_rounds(c0, c1, c2, c3, key0, key1):
    """Return Philox4x32-10 of counter c under the round keys ``key0``/``key1`` (from
    :func:`_round_keys`): the rounds of :func:`philox4x32_10`, written out so that the
    counter stays in vector registers through all ten."""
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, key0[0], key1[0])
    return _last_nine_rounds(c0, c1, c2, c3, key0, key1)


@njit(forceinline=True)
def _last_nine_rounds(c0, c1, c2, c3, key0, key1):
    """Return Philox4x32-10 of a counter from its state c after the first round: rounds
    two to ten of :func:`_ten_rounds`."""
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, key0[1], key1[1])
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, key0[2], key1[2])
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, key0[3], key1[3])
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, key0[4], key1[4])
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, key0[5], key1[5])
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, key0[6], key1[6])
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, key0[7], key1[7])
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, key0[8], key1[8])
    return _philox_round(c0, c1, c2, c3, key0[9], key1[9])


@njit(error_model="numpy")  # not cached on its own: compiled into each fill loop
def _fill_batch(batch_out, standard, rejected, first_block, count, dist, fmt, s0, s1, k0, k1,
                a, b, lower, upper, clamp_lo, clamp_hi):
    """Write blocks first_block .. first_block+count-1 at attempt 0 to batch_out[per_block
    * i + lane] (block i of the batch) and, for a truncated normal, each lane's state to
    standard[lane * BATCH + i] (its standard value, or NaN, pending, where the value lies
    outside [lower, upper], bounds in the standard values' type) and whether a lane is
    pending to rejected[i] (1 or 0).

    :func:`_fill_blocks` writes the blocks, in two parts where the batch crosses a
    multiple of 2^32 blocks (counter word 1 changes there).
    """
    per_block = 2 if fmt == FMT_FLOAT64 else 4
    first = min(count, (1 << 32) - (first_block & MASK32))
    _fill_blocks(batch_out, standard, rejected, first_block, first, dist, fmt, s0, s1, k0,
                 k1, a, b, lower, upper, clamp_lo, clamp_hi)
    if first < count:
        _fill_blocks(batch_out[per_block * first:], standard[first:], rejected[first:],
                     first_block + first, count - first, dist, fmt, s0, s1, k0, k1, a, b,
                     lower, upper, clamp_lo, clamp_hi)


@njit(error_model="numpy")  # not cached on its own: compiled into each fill loop
def _fill_blocks(batch_out, standard, rejected, first_block, count, dist, fmt, s0, s1, k0, k1,
                 a, b, lower, upper, clamp_lo, clamp_hi):
    """Write blocks as :func:`_fill_batch` does, for blocks that share counter word 1
    (the low words first_block mod 2^32 + i stay below 2^32).

    One loop makes each block's words, its values and its stores: LLVM vectorizes it
    across blocks (the ten rounds in registers, the transform, the four values of each
    block interleaved into consecutive stores).  It does so only when the round keys
    are made here (keys passed in as a tuple are re-read at every store), the stores
    are LLVM-inlined rather than Numba-inlined, the output index has no offset
    (``batch_out`` is a view starting at the batch's first element), and few arrays
    are written (each pair is checked for overlap at run time, and past a few pairs
    LLVM gives up); measured 1.2-1.5x the rate of separate Philox, transform and store
    loops for float32.

    The first round multiplies nothing in the loop: its product M1·s0 is the same for
    every block, and M0·x0 grows by M0 from one block to the next.  With counter word
    1 fixed, round two's first product is the same for every block too, and LLVM
    computes it once (float32 normal 1.06-1.09x).
    """
    key0 = _round_keys(k0, PHILOX_W0)
    key1 = _round_keys(k1, PHILOX_W1)
    w0 = uint32(s0)
    w1 = uint32(s1)
    wide = fmt == FMT_FLOAT64
    per_block = 2 if wide else 4
    x0, x1 = _block_counter(first_block, 0)
    p0 = uint64(PHILOX_M0) * uint64(x0)  # block i's: x0 + i < 2^32
    hi1, lo1 = _product_halves(uint64(PHILOX_M1) * uint64(w0))
    for i in range(count):
        hi0, lo0 = _product_halves(p0)
        c0, c1, c2, c3 = _round_from_halves(hi0, lo0, hi1, lo1, x1, w1, key0[0], key1[0])
        p0 += uint64(PHILOX_M0)
        c0, c1, c2, c3 = _last_nine_rounds(c0, c1, c2, c3, key0, key1)
        t0, t1, t2, t3 = _standard_values(dist, wide, c0, c1, c2, c3, a, b)
        _store_block_values(t0, t1, t2, t3, dist, fmt, a, b, batch_out, per_block * i,
                            clamp_lo, clamp_hi)
        if dist == DIST_TRUNCATED_NORMAL:
            # One row of BATCH states per lane, so that each lane's are stored as they
            # are computed (no interleaving); unsigned indices, as the output's (see
            # store_block_values).  A pending lane is NaN here (no standard value is
            # NaN), so the rejected blocks' lists take their states as they are.
            o = uint64(i)
            nan = standard.dtype.type(np.nan)
            standard[o] = _pending_unless_inside(t0, lower, upper, nan)
            standard[o + uint64(BATCH)] = _pending_unless_inside(t1, lower, upper, nan)
            if not wide:
                standard[o + uint64(2 * BATCH)] = _pending_unless_inside(t2, lower, upper, nan)
                standard[o + uint64(3 * BATCH)] = _pending_unless_inside(t3, lower, upper, nan)
            rejected[i] = not _block_inside(wide, t0, t1, t2, t3, lower, upper)


@njit(error_model="numpy")  # not cached on its own: compiled into each fill loop
def _philox_listed(c0, c1, c2, c3, first_block, index, count, attempt, s0, s1, k0, k1):
    """Write the words of blocks first_block + index[q], q < count, at ``attempt`` to
    (c0[q], c1[q], c2[q], c3[q]); vectorized across the list as :func:`_fill_batch`."""
    key0 = _round_keys(k0, PHILOX_W0)
    key1 = _round_keys(k1, PHILOX_W1)
    w0 = uint32(s0)
    w1 = uint32(s1)
    for q in range(count):
        x0, x1 = _block_counter(first_block + index[q], attempt)
        c0[q], c1[q], c2[q], c3[q] = _ten_rounds(x0, x1, w0, w1, key0, key1)


@njit(forceinline=True)
def _offer(value, candidate, lower, upper):
    """Return a lane's value after offering it ``candidate``: a pending lane (NaN: no
    standard value is NaN) takes it when it lies in [lower, upper] (the rule of
    :func:`accept`, with the lane's state in its value, so that the loop offering a
    whole list of lanes has float selects only and vectorizes)."""
    return candidate if (value != value) & _inside(candidate, lower, upper) else value


@njit(forceinline=True)
def _pending_unless_inside(value, lower, upper, nan):
    """Return ``value`` if it lies in [lower, upper], else ``nan`` (NaN of its type): the
    state of a lane that is still pending (no standard value is NaN)."""
    return value if _inside(value, lower, upper) else nan


@njit(error_model="numpy")  # not cached on its own: compiled into each fill loop
def _resample_rejected(
    standard, rejected, n_fast, first_block, index, values, words, batch_out, dist, fmt, k0,
    k1, s0, s1, a, b, lower, upper, lower_t, upper_t, p_lower, q_upper, mass, clamp_lo,
    clamp_hi,
):
    """Rewrite the blocks i < n_fast of a truncated-normal batch that have a lane outside
    [lower, upper] at attempt 0 (rejected[i] is 1; standard[lane * BATCH + i] holds the
    lanes' attempt-0 states: a value, or NaN if pending), in batch_out[per_block * i +
    lane].  ``lower_t`` and ``upper_t``
    are the bounds in the standard values' type.

    The rejected blocks are gathered into a list, and each attempt from 1 on runs for
    the whole list at once, so that Philox and the normal transform vectorize: a
    pending lane takes the attempt's value when it lies inside, as in the per-block
    rule of :func:`finish_block`.  After each attempt the list's blocks are written and
    those with a lane still pending stay in the list (to be written again).  A block
    still pending after attempt TRUNC_ATTEMPTS - 1 (a lane is, with probability at
    most 0.75^16 = 1% for the intervals sampled by rejection) starts over with
    :func:`finish_block`, which ends with the inverse CDF; the values are those of the
    per-block rule.  ``index`` (n_fast), ``values`` (4, n_fast) and ``words`` (4,
    n_fast) are scratch.  The gathering and the list's updates have no branches: which
    blocks are rejected is random, and mispredicted branches cost more than the work.
    """
    wide = fmt == FMT_FLOAT64
    per_block = 2 if wide else 4
    v0, v1, v2, v3 = values[0], values[1], values[2], values[3]
    n = 0
    for i in range(n_fast):
        index[n] = i  # kept only if the block is rejected
        n += int64(rejected[i])
    for q in range(n):
        o = uint64(index[q])
        v0[q] = standard[o]
        v1[q] = standard[o + uint64(BATCH)]
        if wide:  # lanes 2 and 3 do not exist: never pending
            v2[q] = v3[q] = 0.0
        else:
            v2[q] = standard[o + uint64(2 * BATCH)]
            v3[q] = standard[o + uint64(3 * BATCH)]
    attempt = 1
    while n > 0 and attempt < TRUNC_ATTEMPTS:
        _philox_listed(words[0], words[1], words[2], words[3], first_block, index, n,
                       attempt, s0, s1, k0, k1)
        for q in range(n):
            t0, t1, t2, t3 = _standard_values(
                dist, wide, words[0, q], words[1, q], words[2, q], words[3, q], a, b
            )
            v0[q] = _offer(v0[q], t0, lower_t, upper_t)
            v1[q] = _offer(v1[q], t1, lower_t, upper_t)
            v2[q] = _offer(v2[q], t2, lower_t, upper_t)
            v3[q] = _offer(v3[q], t3, lower_t, upper_t)
        pending = 0
        for q in range(n):
            i = index[q]
            x0, x1, x2, x3 = v0[q], v1[q], v2[q], v3[q]
            _store_block_values(x0, x1, x2, x3, dist, fmt, a, b, batch_out, per_block * i,
                                clamp_lo, clamp_hi)
            index[pending] = i
            v0[pending], v1[pending], v2[pending], v3[pending] = x0, x1, x2, x3
            done = (x0 == x0) & (x1 == x1) & (x2 == x2) & (x3 == x3)  # no lane is NaN
            pending += 1 - int64(done)
        n = pending
        attempt += 1
    for q in range(n):
        block = first_block + index[q]
        x0, x1, x2, x3 = _philox_block(block, 0, k0, k1, s0, s1)
        _finish_block(
            x0, x1, x2, x3, 0, block, 0, per_block, batch_out, per_block * index[q], dist,
            fmt, k0, k1, s0, s1, a, b, lower, upper, p_lower, q_upper, mass, clamp_lo,
            clamp_hi,
        )


@njit(forceinline=True)
def _scratch(standard_dtype):
    """Return the scratch of :func:`_fill_range`: a truncated normal batch's attempt-0
    states (4·BATCH values or NaN, float32 or float64 as the format computes) and
    rejected blocks, and the index, values and words of :func:`_resample_rejected`."""
    return (np.empty(4 * BATCH, standard_dtype), np.empty(BATCH, np.uint8),
            np.empty(BATCH, np.int64), np.empty((4, BATCH), standard_dtype),
            np.empty((4, BATCH), np.uint32))


@njit(nogil=True, error_model="numpy")  # compiled into each format's loop
def _fill_range(out, first_item, stop_item, dist, fmt, key, rows, law, clamp, scratch):
    """Fill work items first_item..stop_item-1 (work item w is Philox block j = w mod
    blocks_per_row of row r = w // blocks_per_row, as in the CUDA kernel); ``scratch``
    is :func:`_scratch`'s.

    The items are walked in batches of whole consecutive blocks of one row, which
    :func:`_fill_batch` writes in one vectorized loop; the blocks at a row's edges
    are written one by one.
    Compiled once per (dist, fmt) value (``literally``): Numba drops the other laws'
    and formats' code, and LLVM vectorizes the batch loops.
    """
    literally(dist)
    literally(fmt)
    k0, k1, s0, s1 = key
    blocks_per_row, row_len, base, lead_shape, lead_stride = rows
    a, b, lower, upper, reject, p_lower, q_upper, mass = law
    clamp_lo, clamp_hi = clamp
    per_block = 2 if fmt == FMT_FLOAT64 else 4
    attempt = _first_attempt(dist, reject)
    standard, rejected, index, values, words = scratch
    # The bounds in the standard values' type (``standard``'s): float32 for the 24-bit
    # formats, whose bounds are float32 numbers (rounded inward on the host, see
    # gpuinit.random), so the conversion is exact and the comparisons run at float32's
    # vector width (the truncated normal's loop 1.1x).
    lower_t, upper_t = standard.dtype.type(lower), standard.dtype.type(upper)
    for w in range(first_item, stop_item, BATCH):
        count = min(BATCH, stop_item - w)
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
                # The common case: whole consecutive blocks of one row, which fill
                # consecutive elements of out.  Philox, the transform and the stores
                # run in one vectorized loop over them; a truncated normal block with a
                # rejected lane is written, then rewritten by _resample_rejected.
                n_fast = fast_hi - fast_lo
                first_block = row_block + fast_lo
                first_offset = r * int64(row_len) - start + first_block * per_block
                batch_out = out[first_offset:first_offset + per_block * n_fast]
                _fill_batch(batch_out, standard, rejected, first_block, n_fast, dist, fmt, s0,
                            s1, k0, k1, a, b, lower_t, upper_t, clamp_lo, clamp_hi)
                if dist == DIST_TRUNCATED_NORMAL:
                    _resample_rejected(
                        standard, rejected, n_fast, first_block, index, values, words,
                        batch_out, dist, fmt, k0, k1, s0, s1, a, b, lower, upper, lower_t,
                        upper_t, p_lower, q_upper, mass, clamp_lo, clamp_hi,
                    )
            # Blocks at the row's edges, or all of them by inverse CDF: one by one.
            for edge in range(2):
                for jj in range(j if edge == 0 else fast_hi, fast_lo if edge == 0 else j + seg):
                    block = row_block + jj
                    first = block * per_block
                    lo = max(first, start) - first
                    hi = min(first + per_block, start + int64(row_len)) - first
                    if lo < hi:
                        x0, x1, x2, x3 = _philox_block(block, attempt, k0, k1, s0, s1)
                        _finish_block(
                            x0, x1, x2, x3, attempt, block, lo, hi, out,
                            r * int64(row_len) - start + first, dist, fmt, k0, k1, s0, s1,
                            a, b, lower, upper, p_lower, q_upper, mass, clamp_lo, clamp_hi,
                        )
            done += seg
            j += seg
            if j == blocks_per_row and done < count:
                j = 0
                r += 1
                start = _row_start(r, base, lead_shape, lead_stride)


_STORAGE = {FMT_FLOAT32: types.float32, FMT_FLOAT64: types.float64,
            FMT_FLOAT16: types.uint16, FMT_BFLOAT16: types.uint16}


@njit(forceinline=True)
def _all_written(progress, total, spins):
    """Return whether ``total`` items are written (progress[1]), asking up to ``spins``
    more times while they are not: the others' last chunks take microseconds, less than
    a sleeping thread takes to wake."""
    for _ in range(spins):
        if _fetch_add(progress, 1, 0) >= total:
            return True
    return _fetch_add(progress, 1, 0) >= total


def make_loop(fmt: int):
    """Return the fill loop of output format ``fmt``: one compiled function serving every
    law, calling the walk (:func:`_fill_range`) compiled once per distribution.

    ``loop(out, first_item, stop_item, chunk, progress, spins, dist, *arguments)`` takes
    chunks of ``chunk`` work items from progress[0] (the next item, first_item at the
    start) until none is left below stop_item, adds the items it wrote to progress[1],
    and returns whether all stop_item - first_item items are written (asking up to
    ``spins`` times).  ``nogil``: threads run it side by side on one request, sharing
    ``progress`` (:func:`run_loop`); taking a chunk costs one atomic addition, not a
    call from Python.
    ``cache=True``: later processes load it from Numba's on-disk cache, keyed on the
    kernel sources' fingerprint.
    """
    fingerprint = SOURCE_FINGERPRINT
    # A truncated normal batch keeps its attempt-0 values in the precision the format
    # computes in (float32 halves the stores of the 24-bit formats: 1.12-1.15x).
    standard_dtype = np.float64 if fmt == FMT_FLOAT64 else np.float32

    @njit(nogil=True, cache=True, error_model="numpy")
    def loop(out, first_item, stop_item, chunk, progress, spins, dist, key, rows, law, clamp):
        _ = fingerprint  # part of the cache key: see SOURCE_FINGERPRINT
        scratch = _scratch(standard_dtype)
        while True:
            lo = _fetch_add(progress, 0, chunk)
            if lo >= stop_item:
                break
            hi = min(lo + chunk, stop_item)
            if dist == DIST_UNIFORM:
                _fill_range(out, lo, hi, DIST_UNIFORM, fmt, key, rows, law, clamp, scratch)
            elif dist == DIST_NORMAL:
                _fill_range(out, lo, hi, DIST_NORMAL, fmt, key, rows, law, clamp, scratch)
            elif dist == DIST_LAPLACE:
                _fill_range(out, lo, hi, DIST_LAPLACE, fmt, key, rows, law, clamp, scratch)
            else:
                _fill_range(out, lo, hi, DIST_TRUNCATED_NORMAL, fmt, key, rows, law, clamp,
                            scratch)
            _fetch_add(progress, 1, hi - lo)
        return _all_written(progress, stop_item - first_item, spins)

    loop.__qualname__ = loop.__name__ = f"fill_loop_{FORMAT_NAMES[fmt]}"
    return loop


def loop_signature(fmt: int):
    """Return the one signature each format's loop is compiled for: the kernels' tuples
    as :func:`loop_arguments` normalizes them."""
    i64, f64 = types.int64, types.float64
    index_array = types.Array(i64, 1, "C")
    return (
        types.Array(_STORAGE[fmt], 1, "C"), i64, i64, i64, index_array, i64, i64,
        types.UniTuple(i64, 4),
        types.Tuple((i64, i64, i64, index_array, index_array)),
        types.Tuple((f64, f64, f64, f64, types.boolean, f64, f64, f64)),
        types.UniTuple(f64, 2),
    )


def loop_arguments(key, rows, law, clamp) -> tuple:
    """Return (key, rows, law, clamp) in the types of :func:`loop_signature`: every
    request of a format then runs the same compiled code (the leading dimensions of
    a block become int64 arrays, so their number does not make a new signature).

    For the 24-bit formats the law's a, b and bounds must be float32 numbers, as
    ``gpuinit.random`` makes them (the bounds rounded inward): the loop compares the
    float32 values with the bounds converted to float32, as the other targets compare
    them with the float64 ones.
    """
    blocks_per_row, row_len, base, lead_shape, lead_stride = rows
    return (
        tuple(int(k) for k in key),
        (int(blocks_per_row), int(row_len), int(base),
         np.asarray(lead_shape, dtype=np.int64), np.asarray(lead_stride, dtype=np.int64)),
        (*(float(v) for v in law[:4]), bool(law[4]), *(float(v) for v in law[5:])),
        (float(clamp[0]), float(clamp[1])),
    )


# Work items per thread below which a request is not shared (2^16 values): a thread of
# the pool takes longer to wake than one thread takes to write them.
MIN_ITEMS_PER_THREAD = 1 << 14
# Chunks per thread, and the largest chunk: a thread that other work slows takes fewer
# chunks, and the last ones end close together.
CHUNKS_PER_THREAD = 32
MAX_ITEMS_PER_CHUNK = 1 << 14
# How many times the calling thread asks whether the others' last chunks are written
# before it sleeps until their calls return (about a tenth of a millisecond of asking).
SPINS = 1 << 16


def run_loop(loop, out, first_item: int, n_items: int, n_threads: int, dist: int,
             arguments: tuple) -> None:
    """Run work items first_item..n_items-1 of the compiled ``loop`` (a dispatcher of
    :func:`make_loop`, ``arguments`` from :func:`loop_arguments`) on up to ``n_threads``
    threads (:func:`.threads.run_shared`), which take contiguous chunks of it in turn
    (any split gives the same bits: each element's value depends on its index only);
    returns None."""
    count = n_items - first_item
    if count <= 0:
        return
    threads = max(1, min(n_threads, count // max(1, MIN_ITEMS_PER_THREAD)))
    chunk = (count if threads == 1
             else min(MAX_ITEMS_PER_CHUNK, max(1, count // (threads * CHUNKS_PER_THREAD))))
    progress = np.array([first_item, 0], np.int64)

    def work(caller: bool) -> bool:
        return loop(out, first_item, n_items, chunk, progress, SPINS if caller else 0, dist,
                    *arguments)

    def stop() -> None:
        progress[0] = n_items  # no chunk is taken after this

    run_shared(work, threads, stop)


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
