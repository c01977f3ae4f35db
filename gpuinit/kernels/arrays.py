"""The NumPy target: the scalar source evaluated over whole arrays, with nothing to compile.

:func:`gpuinit.kernels._twin.build` rebuilds the scalar source (:mod:`.philox`,
:mod:`.convert`, :mod:`.distributions`, :mod:`.fill`) with array versions of its
few primitives bound in place of Numba's: the integer and float casts are
``astype`` (C conversions, wrapping like the compiled code; :mod:`.primitives`), ``select`` is
``numpy.where``, ``min``/``max`` are ``numpy.minimum``/``maximum``, ``fma32`` is
an exact array fma (below), the bit casts are views, and ``math`` is the C
library's functions applied element by element (what the compiled CPU code
calls).  Every operation is therefore the one the CPU loop and the CUDA kernel
perform, written once; this module adds only :func:`fill`, which walks a request
in chunks the way the compiled loops walk their work items.

The compiled loops are faster per value; this target serves a process until they
are ready (:mod:`.route`), so that no call waits for a compiler.  It computes every
output format; NumPy has no fma, so :func:`fma32` and :func:`fma64` compute the
correctly rounded a·b + c from exact pieces.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from . import convert, distributions, philox, primitives  # noqa: F401  (the scalar source)
from . import fill as _work_item  # noqa: F401
from ._twin import build
from .distributions import TRUNC_ATTEMPTS
from .fill import DIST_TRUNCATED_NORMAL, DIST_UNIFORM, FMT_FLOAT16, FMT_FLOAT32, FMT_FLOAT64

F32 = np.float32
_MASK32 = np.uint64(0xFFFFFFFF)
_THIRTY_TWO = np.uint64(32)

# Output elements per step: NumPy's cost per call is small against a step's work, and
# a step's temporaries (a few dozen arrays of this length) bound the memory a request
# borrows to a few tens of megabytes.  (Measured: 2^16 to 2^17 make values fastest.)
CHUNK = 1 << 16


# A float64 whose low 29 significand bits are 1 followed by zeros lies halfway between
# two float32 numbers (normal ones; |x| below _TINY is treated apart).
_HALFWAY_MASK, _HALFWAY = np.uint64((1 << 29) - 1), np.uint64(1 << 28)
_TINY = 2.0 ** -125


def _two_sum(x, y):
    """Return (s, t): s = x + y rounded, and t the exact rest (x + y = s + t)."""
    s = x + y
    v = s - x
    return s, (x - (s - v)) + (y - v)


def _round_to_odd(s, rest):
    """Return s + rest rounded to odd, from (s, rest) of :func:`_two_sum` (float64
    arrays): s moved one step toward the rest when the sum was inexact and s is even."""
    to_odd = (rest != 0) & ((s.view(np.uint64) & np.uint64(1)) == 0)
    return np.where(to_odd, np.nextafter(s, np.where(rest > 0, np.inf, -np.inf)), s)


def fma32(a, b, c):
    """Return a·b + c rounded once to float32, element-wise (operands are converted to
    float32 first, as the compiled primitive does; they broadcast).

    The product of two float32 numbers is exact in float64, so the float64 sum s is
    the exact value rounded once.  Rounding s to float32 is then correct unless s lies
    exactly halfway between two float32 numbers while the exact value does not (then
    the exact value decides): only there is the exact error computed (TwoSum) and s
    rounded to odd (moved one float64 step toward the exact value), which makes the
    final rounding correct (53 >= 2·24 + 2).  Values near float32's subnormals take
    the same path.
    """
    a, b, c = (np.asarray(v).astype(F32, copy=False) for v in (a, b, c))
    p = np.multiply(a, b, dtype=np.float64)
    s = np.add(p, c, dtype=np.float64)
    # At least 1-D: the suspect elements are indexed (scalars give a scalar back).
    scalar = np.ndim(s) == 0
    s = np.atleast_1d(s)
    halfway = (s.view(np.uint64) & _HALFWAY_MASK) == _HALFWAY
    suspect = halfway | (np.abs(s) < _TINY)
    if suspect.any():
        at = np.nonzero(suspect)
        pa = np.broadcast_to(p, s.shape)[at]
        ca = np.broadcast_to(c, s.shape)[at].astype(np.float64)
        s[at] = _round_to_odd(*_two_sum(pa, ca))
    rounded = s.astype(F32)
    return rounded[0] if scalar else rounded


# Veltkamp's splitting constant 2^27 + 1, and the magnitudes between which the exact
# pieces of fma64 are normal numbers that cannot overflow.
_SPLIT = 134217729.0
_HUGE = 2.0 ** 995
_TINY64 = 2.0 ** -960


def _veltkamp(x):
    """Return (hi, lo), x = hi + lo exactly, each half with at most 26 significant bits."""
    t = _SPLIT * x
    hi = t - (t - x)
    return hi, x - hi


def fma64(a, b, c):
    """Return a·b + c rounded once to float64, element-wise (they broadcast).

    Dekker's product gives a·b = p + e exactly and a sum gives c + p = h + t exactly;
    t + e rounded to odd (rounded, then moved one step toward the rest when inexact
    and even), added to h with one rounding to nearest, is the correctly rounded
    result (Boldo and Melquiond's emulated fma, exact for binary64 while every piece
    is a normal number).  Elements outside those magnitudes (huge or tiny operands,
    results near underflow or overflow, infinities and NaNs) are computed from exact
    fractions instead.
    """
    shape = np.broadcast_shapes(np.shape(a), np.shape(b), np.shape(c))
    # At least 1-D: the awkward elements are indexed (scalars give a scalar back).
    a, b, c = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64))
                                    for v in (a, b, c)))
    with np.errstate(over="ignore", invalid="ignore"):
        p = a * b
        a_hi, a_lo = _veltkamp(a)
        b_hi, b_lo = _veltkamp(b)
        e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
        h, t = _two_sum(c, p)
        r = h + _round_to_odd(*_two_sum(t, e))
        fast = ((np.abs(a) < _HUGE) & (np.abs(b) < _HUGE) & (np.abs(c) < _HUGE)
                & ((p == 0) | (np.abs(p) > _TINY64)) & ((c == 0) | (np.abs(c) > _TINY64))
                & (np.abs(h) > _TINY64) & np.isfinite(r))
    if not fast.all():
        r = np.array(r)
        for at in zip(*np.nonzero(~fast), strict=True):
            r[at] = primitives.fma(a[at], b[at], c[at])
    return r.reshape(shape)[()]


def mulhilo32(a, b):
    """Return the (hi, lo) 32-bit halves of a·b for words below 2^32 (held in uint64)."""
    product = np.asarray(a).astype(np.uint64, copy=False) * np.asarray(b).astype(np.uint64)
    return product >> _THIRTY_TWO, product & _MASK32


def float32_bits(x):
    """Return the uint32 patterns of float32 values."""
    return np.asarray(x).astype(F32, copy=False).view(np.uint32)


def bits_float32(bits):
    """Return the float32 values of uint32 patterns."""
    return np.asarray(bits).astype(np.uint32, copy=False).view(F32)


def _libm(function):
    """Return ``function`` (a C library function of :mod:`math`) applied element by
    element: the compiled CPU code calls the same functions, so the results agree bit
    for bit (NumPy's own log and exp differ from them in the last bit)."""
    vectorized = np.vectorize(function, otypes=[np.float64])

    def apply(x):
        return vectorized(x) if isinstance(x, np.ndarray) else function(float(x))

    return apply


_MATH = SimpleNamespace(
    sqrt=np.sqrt,  # correctly rounded everywhere
    log=_libm(math.log),
    exp=_libm(math.exp),
    erfc=_libm(math.erfc),
    copysign=np.copysign,
    pi=math.pi,
)


def _identity(function):
    return function


LIB = build(_identity, overrides={
    "select": np.where,
    "min": np.minimum,
    "max": np.maximum,
    "fma": fma64,
    "fma32": fma32,
    "mulhilo32": mulhilo32,
    "float32_bits": float32_bits,
    "bits_float32": bits_float32,
    "math": _MATH,
})


def _element_indices(lo: int, hi: int, rows) -> np.ndarray:
    """Return the whole tensor's flat index of output elements lo..hi-1 (ascending)."""
    _, row_len, base, lead_shape, lead_stride = rows
    o = np.arange(lo, hi, dtype=np.int64)
    if lead_shape == (1,):
        return o + base
    r = o // row_len
    return LIB.row_start(r, base, lead_shape, lead_stride) + (o - r * row_len)


def _lane_values(dist: int, wide: bool, blocks: np.ndarray, attempt: int, key, a, b):
    """Return the standard values, shape (lanes, blocks), of ``blocks`` at ``attempt``
    (:func:`.fill.standard_values`: four float32 lanes, or two float64 ones if wide)."""
    k0, k1, s0, s1 = key
    words = LIB.philox_block(blocks, attempt, k0, k1, s0, s1)
    values = LIB.standard_values(dist, wide, *words, a, b)
    return np.stack(values[:2] if wide else values)


def _chunk_values(lo: int, hi: int, dist: int, wide: bool, key, rows, law) -> np.ndarray:
    """Return the values (float32 numbers for the 24-bit formats, float64 if ``wide``,
    before the output format) of output elements lo..hi-1, by the rules of
    :func:`.fill.finish_block`: each element takes its lane of its block at the first
    attempt inside [lower, upper] (truncated normal), else the inverse CDF of its
    lane's uniform at attempt TRUNC_ATTEMPTS."""
    a, b, lower, upper, reject, p_lower, q_upper, mass = law
    real = np.float64 if wide else F32
    a, b = real(a), real(b)
    shift = 1 if wide else 2  # log2 of a block's lanes
    e = _element_indices(lo, hi, rows)
    lane = e & ((1 << shift) - 1)
    if rows[3] == (1,):  # one row: consecutive elements of consecutive blocks
        first_block = e[0] >> shift
        blocks = np.arange(first_block, (e[-1] >> shift) + 1, dtype=np.uint64)
        where = (e >> shift) - first_block
    else:  # the blocks ascend: the distinct ones are where the block number changes
        block = e >> shift
        first = np.empty(block.size, dtype=bool)
        first[:1] = True
        np.not_equal(block[1:], block[:-1], out=first[1:])
        blocks = block[first].astype(np.uint64)
        where = np.cumsum(first) - 1
    attempt = LIB.first_attempt(dist, reject)
    if attempt < TRUNC_ATTEMPTS:
        by_lane = _lane_values(dist, wide, blocks, attempt, key, a, b)
        if rows[3] == (1,):  # the lanes of consecutive blocks, in order
            values = by_lane.T.reshape(-1)[lane[0]:lane[0] + e.size]
        else:
            values = by_lane[lane, where]
        if dist != DIST_TRUNCATED_NORMAL:
            return values
        index = np.flatnonzero(~LIB.inside(values, lower, upper))
        attempt += 1
    else:
        values = np.empty(e.size, real)
        index = np.arange(e.size)
    while attempt < TRUNC_ATTEMPTS and index.size:
        needed, inverse = np.unique(where[index], return_inverse=True)
        by_lane = _lane_values(dist, wide, blocks[needed], attempt, key, a, b)
        candidate = by_lane[lane[index], inverse.reshape(-1)]
        accepted = LIB.inside(candidate, lower, upper)
        values[index[accepted]] = candidate[accepted]
        index = index[~accepted]
        attempt += 1
    if index.size:  # the inverse CDF at attempt TRUNC_ATTEMPTS
        needed, inverse = np.unique(where[index], return_inverse=True)
        k0, k1, s0, s1 = key
        words = LIB.philox_block(blocks[needed], TRUNC_ATTEMPTS, k0, k1, s0, s1)
        words = [np.asarray(w)[inverse.reshape(-1)] for w in words]
        uniform = np.empty(index.size)
        for k in range(1 << shift):
            at = lane[index] == k
            uniform[at] = LIB.lane_uniform(wide, k, *(w[at] for w in words))
        z = LIB.truncated_normal_quantile(uniform, p_lower, q_upper, mass)
        values[index] = z.astype(real)
    return values


def _fill_chunk(out, lo: int, hi: int, dist: int, fmt: int, key, rows, law, clamp) -> None:
    """Write output elements lo..hi-1 of ``out`` in its format."""
    wide = fmt == FMT_FLOAT64
    real = np.float64 if wide else F32
    a, b = real(law[0]), real(law[1])
    v = _chunk_values(lo, hi, dist, wide, key, rows, law)
    if dist != DIST_UNIFORM:
        v = LIB.scale_shift(wide, b, v, a)
    v = v.astype(real, copy=False)
    lowest, highest = real(clamp[0]), real(clamp[1])
    # Rounding to nearest is monotonic and the bounds are representable: values inside
    # them stay inside after rounding, and the clamp (a select per bound) changes nothing.
    if v.size and not (v.min() >= lowest and v.max() <= highest):
        v = LIB.clamped(v, lowest, highest)
    if fmt in (FMT_FLOAT32, FMT_FLOAT64):
        out[lo:hi] = v
    else:  # rounded after the clamp, as clamped_bits16
        out[lo:hi] = (LIB.float32_to_float16_bits(v) if fmt == FMT_FLOAT16
                      else LIB.float32_to_bfloat16_bits(v))


def fill(out, dist: int, fmt: int, key, rows, law, clamp, start: int = 0,
         stop: int | None = None, should_stop=None) -> int:
    """Fill output elements ``start``..``stop``-1 of ``out`` (1-D: float32, float64, or
    uint16 patterns of float16/bfloat16) with the values the compiled loops give them;
    the arguments are the kernels' tuples (:mod:`.fill`).

    Works in chunks of :data:`CHUNK` on the calling thread (threads do not help: NumPy
    takes the interpreter lock back between its calls, and two threads measured
    slower than one); after each, ``should_stop()`` (if given) may end the walk early.
    Returns the index of the first element not written (``stop`` when done).
    """
    stop = out.size if stop is None else stop
    o = start
    while o < stop:
        hi = min(o + CHUNK, stop)
        _fill_chunk(out, o, hi, dist, fmt, key, rows, law, clamp)
        o = hi
        if should_stop is not None and o < stop and should_stop():
            break
    return o
