"""The 24-bit fills (float32, float16, bfloat16) as NumPy array arithmetic: no compiling.

A first call in a new process would otherwise wait seconds for Numba to compile
the one-core loop.  This module computes the same values with the same
operations as the scalar source (:mod:`.philox`, :mod:`.convert`,
:mod:`.distributions`, :mod:`.fill`), element-wise over arrays: Philox in uint64
arithmetic masked to 32 bits, float32 products, divisions and square roots
(IEEE single operations in NumPy as on the other targets), and each fma rounded
once to float32 by :func:`fma32` (exact float64 product, TwoSum, round to odd,
then to float32).  The values are therefore the CPU loops' bits, which the tests
check on every law, dtype and layout.

Handles uniform, normal and the truncated normal by rejection.  A truncated
normal that needs its inverse CDF (an interval sampled by it alone, or an element
rejected ``TRUNC_ATTEMPTS`` times) is left to the compiled loops: :func:`fill`
returns False and writes nothing.
"""

from __future__ import annotations

import numpy as np

from .convert import TWO_POW_M24
from .distributions import (
    _ATANH_C1,
    _ATANH_C2,
    _ATANH_C3,
    _ATANH_C4,
    _COS_C1,
    _COS_C2,
    _COS_C3,
    _COS_C4,
    _COS_C5,
    _SIN_C1,
    _SIN_C2,
    _SIN_C3,
    _SIN_C4,
    _SQRT_HALF_F32_BITS,
    LN2_HI_F32,
    LN2_LO_F32,
    TRUNC_ATTEMPTS,
    TWO_PI_OVER_2_24,
)
from .fill import DIST_NORMAL, DIST_TRUNCATED_NORMAL, DIST_UNIFORM, FMT_FLOAT16, FMT_FLOAT64
from .philox import MASK32, PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1, ROUNDS

F32 = np.float32
_M32 = np.uint64(MASK32)


# A float64 whose low 29 significand bits are 1 followed by zeros lies halfway between
# two float32 numbers (normal ones; |x| below _TINY is treated apart).
_HALFWAY_MASK, _HALFWAY = np.uint64((1 << 29) - 1), np.uint64(1 << 28)
_TINY = 2.0 ** -125


def fma32(a, b, c) -> np.ndarray:
    """Return a·b + c rounded once to float32, for float32 operands (at least one an
    array; the others broadcast).

    The product of two float32 numbers is exact in float64, so the float64 sum s is
    the exact value rounded once.  Rounding s to float32 is then correct unless s lies
    exactly halfway between two float32 numbers while the exact value does not (then
    the exact value decides): only there is the exact error computed (TwoSum) and s
    rounded to odd (moved one float64 step toward the exact value), which makes the
    final rounding correct (53 >= 2·24 + 2).  Values near float32's subnormals take
    the same path.
    """
    p = np.multiply(a, b, dtype=np.float64)
    s = np.add(p, c, dtype=np.float64)
    halfway = (s.view(np.uint64) & _HALFWAY_MASK) == _HALFWAY
    suspect = halfway | (np.abs(s) < _TINY)
    if suspect.any():
        at = np.nonzero(suspect)
        pa = p[at] if p.shape == s.shape else np.broadcast_to(p, s.shape)[at]
        ca = np.broadcast_to(np.asarray(c, np.float64), s.shape)[at]
        sa = s[at]
        t = sa - pa
        err = (pa - (sa - t)) + (ca - t)
        to_odd = (err != 0) & ((sa.view(np.uint64) & np.uint64(1)) == 0)
        s[at] = np.where(to_odd, np.nextafter(sa, np.where(err > 0, np.inf, -np.inf)), sa)
    return s.astype(F32)


def philox(c0, c1, c2, c3, k0: int, k1: int):
    """Return the four words (uint64 arrays below 2^32) of Philox4x32-10."""
    c0, c1, c2, c3 = (np.asarray(c, np.uint64) for c in (c0, c1, c2, c3))
    key0, key1 = np.uint64(k0), np.uint64(k1)
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    thirty_two = np.uint64(32)
    for n in range(ROUNDS):
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = ((p1 >> thirty_two) ^ c1 ^ key0, p1 & _M32,
                          (p0 >> thirty_two) ^ c3 ^ key1, p0 & _M32)
        if n < ROUNDS - 1:
            key0 = (key0 + np.uint64(PHILOX_W0)) & _M32
            key1 = (key1 + np.uint64(PHILOX_W1)) & _M32
    return c0, c1, c2, c3


def _top24(word) -> np.ndarray:
    return (word >> np.uint64(8)).astype(F32)  # below 2^24: exact


def _neg2_log_u24(m) -> np.ndarray:
    """:func:`.distributions.neg2_log_u24` over an array of whole numbers 1..2^24."""
    x = np.asarray(m).astype(F32)
    bits = x.view(np.uint32).astype(np.int64)
    k = (bits - _SQRT_HALF_F32_BITS) >> 23
    f = (bits - (k << 23)).astype(np.uint32).view(F32)
    one = F32(1.0)
    s = (f - one) / (f + one)
    s2 = s * s
    series = fma32(s2, F32(_ATANH_C4), F32(_ATANH_C3))
    series = fma32(s2, series, F32(_ATANH_C2))
    series = fma32(s2, series, F32(_ATANH_C1))
    twice_s = s + s
    ln_f = fma32(twice_s * s2, series, twice_s)
    n = (24 - k).astype(F32)
    ln_u = fma32(n, F32(LN2_HI_F32), fma32(n, F32(LN2_LO_F32), -ln_f))
    return ln_u + ln_u


def _sincos_2pi_u24(k) -> tuple[np.ndarray, np.ndarray]:
    """:func:`.distributions.sincos_2pi_u24` over an array of integers 0..2^24-1."""
    k = np.asarray(k).astype(np.int32)  # below 2^24
    quadrant = k >> 22
    t = k & 0x3FFFFF
    upper_octant = t > 0x200000
    j = np.where(upper_octant, 0x400000 - t, t)
    x = j.astype(F32) * F32(TWO_PI_OVER_2_24)
    x2 = x * x
    sin_p = fma32(x2, F32(_SIN_C4), F32(_SIN_C3))
    sin_p = fma32(x2, sin_p, F32(_SIN_C2))
    sin_p = fma32(x2, sin_p, F32(_SIN_C1))
    sin_x = fma32(x * x2, sin_p, x)
    cos_p = fma32(x2, F32(_COS_C5), F32(_COS_C4))
    cos_p = fma32(x2, cos_p, F32(_COS_C3))
    cos_p = fma32(x2, cos_p, F32(_COS_C2))
    cos_p = fma32(x2, cos_p, F32(_COS_C1))
    cos_x = fma32(x2, cos_p, F32(1.0))
    s = np.where(upper_octant, cos_x, sin_x)
    c = np.where(upper_octant, sin_x, cos_x)
    odd = (quadrant & 1) == 1
    sin_abs, cos_abs = np.where(odd, c, s), np.where(odd, s, c)
    sin_t = np.where(quadrant >= 2, -sin_abs, sin_abs)
    cos_t = np.where(((quadrant + 1) & 2) != 0, -cos_abs, cos_abs)
    return sin_t, cos_t


def _box_muller(w_radius, w_angle) -> tuple[np.ndarray, np.ndarray]:
    """:func:`.distributions.box_muller_f32`: (r cos θ, r sin θ) in float32."""
    r = np.sqrt(_neg2_log_u24((w_radius >> np.uint64(8)) + np.uint64(1)))
    sin_t, cos_t = _sincos_2pi_u24(w_angle >> np.uint64(8))
    return r * cos_t, r * sin_t


def _block_values(dist: int, words, a, b) -> np.ndarray:
    """Return the float32 standard values (uniform: a + b·u) of the four lanes of each
    block, shape (4, blocks), from the blocks' words (:func:`.fill.standard_values`)."""
    if dist == DIST_UNIFORM:
        return np.stack([fma32(b, _top24(w) * F32(TWO_POW_M24), a) for w in words])
    w0, w1, w2, w3 = words
    z0, z1 = _box_muller(w0, w1)
    z2, z3 = _box_muller(w2, w3)
    return np.stack([z0, z1, z2, z3])


def _flat_indices(n_rows: int, rows) -> np.ndarray:
    """Return the whole tensor's flat index of every output element, in output order."""
    _, row_len, base, lead_shape, lead_stride = rows
    index = np.unravel_index(np.arange(n_rows, dtype=np.int64), lead_shape)
    starts = np.full(n_rows, base, dtype=np.int64)
    for i, stride in zip(index, lead_stride, strict=True):
        starts += i * stride
    return (starts[:, None] + np.arange(row_len, dtype=np.int64)[None, :]).reshape(-1)


def _float16_bits(x) -> np.ndarray:
    """:func:`.convert.float32_to_float16_bits` over a float32 array."""
    u = x.view(np.uint32).astype(np.int64)
    sign = (u >> 16) & 0x8000
    magnitude = u & 0x7FFFFFFF
    rounded = ((magnitude + 0xFFF + ((magnitude >> 13) & 1)) >> 13) - ((127 - 15) << 10)
    normal = np.minimum(rounded, 0x7C00)
    small = np.minimum(magnitude.astype(np.uint32).view(F32), F32(2.0 ** -14))
    scaled = small * F32(1 << 24) + F32(1 << 23)
    subnormal = (scaled - F32(1 << 23)).astype(np.int64)
    return sign | np.where(magnitude < 0x38800000, subnormal, normal)


def _bfloat16_bits(x) -> np.ndarray:
    """:func:`.convert.float32_to_bfloat16_bits` over a float32 array."""
    u = x.view(np.uint32).astype(np.int64)
    return (u + 0x7FFF + ((u >> 16) & 1)) >> 16


def _order_key(bits) -> np.ndarray:
    """:func:`.convert.bits16_order_key`: an order of 16-bit patterns by value."""
    magnitude = bits & 0x7FFF
    return np.where((bits & 0x8000) != 0, -magnitude, magnitude)


def supports(dist: int, fmt: int, law) -> bool:
    """Return whether :func:`fill` computes this request (before trying it)."""
    if fmt == FMT_FLOAT64:
        return False
    return dist in (DIST_UNIFORM, DIST_NORMAL) or (dist == DIST_TRUNCATED_NORMAL and law[4])


def fill(out, n_items: int, dist: int, fmt: int, key, rows, law, clamp) -> bool:
    """Fill ``out`` (1-D: float32, or uint16 patterns) as the compiled loops would, with
    the kernels' tuples (:mod:`.fill`); return False, writing nothing, for requests
    this module leaves to them (float64; a truncated normal needing its inverse CDF)."""
    if not supports(dist, fmt, law):
        return False
    k0, k1, s0, s1 = key
    a, b, lower, upper = (F32(v) for v in law[:4])
    clamp_lo, clamp_hi, bits_lo, bits_hi = clamp
    e = _flat_indices(n_items // rows[0], rows)
    block = (e >> 2).astype(np.uint64)
    lane = e & 3
    # One Philox per distinct block.  Flat indices ascend in output order (rows of a
    # C-order block), so the distinct blocks are where the block number changes.
    first = np.empty(block.size, dtype=bool)
    first[:1] = True
    np.not_equal(block[1:], block[:-1], out=first[1:])
    blocks = block[first]
    one_row = rows[3] == (1,)  # consecutive elements of consecutive blocks
    # Each element's index into ``blocks`` (not needed to read one row straight).
    where = None if one_row and dist != DIST_TRUNCATED_NORMAL else np.cumsum(first) - 1
    low_words, high_words = blocks & _M32, blocks >> np.uint64(32)

    def block_values(attempt: int, which) -> np.ndarray:
        c1 = high_words[which] | np.uint64(attempt << 16)
        words = philox(low_words[which], c1, np.uint64(s0), np.uint64(s1), k0, k1)
        return _block_values(dist, words, a, b)

    first_values = block_values(0, slice(None))
    if one_row and e.size:
        skip = int(e[0] & 3)
        values = first_values.T.reshape(-1)[skip:skip + e.size]
    else:
        values = first_values[lane, where]
    if dist == DIST_TRUNCATED_NORMAL:
        pending = ~((values >= lower) & (values <= upper))
        for attempt in range(1, TRUNC_ATTEMPTS):
            if not pending.any():
                break
            redo = np.nonzero(pending)[0]
            needed, inverse = np.unique(where[redo], return_inverse=True)
            candidate = block_values(attempt, needed)[lane[redo], inverse]
            inside = (candidate >= lower) & (candidate <= upper)
            values[redo[inside]] = candidate[inside]
            pending[redo[inside]] = False
        if pending.any():
            return False  # the inverse CDF's turn: the compiled loops have it
    if dist != DIST_UNIFORM:
        values = fma32(b, values, a)
    if out.dtype == np.float32:
        # As the scalar clamp: replaced only when strictly outside (so -0 and +0 stay).
        values = np.where(values < F32(clamp_lo), F32(clamp_lo), values)
        out[:] = np.where(values > F32(clamp_hi), F32(clamp_hi), values)
        return True
    patterns = _float16_bits(values) if fmt == FMT_FLOAT16 else _bfloat16_bits(values)
    key_of = _order_key(patterns)
    patterns = np.where(key_of < _order_key(np.int64(bits_lo)), bits_lo, patterns)
    patterns = np.where(key_of > _order_key(np.int64(bits_hi)), bits_hi, patterns)
    out[:] = patterns.astype(np.uint16)
    return True
