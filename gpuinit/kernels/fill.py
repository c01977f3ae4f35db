"""The work item shared by the CPU and CUDA fill kernels, as scalar source.

A request fills an output block of a larger logical tensor.  The host reduces
that block to ``n_rows`` rows of ``row_len`` elements that are contiguous both in
the output and in the whole tensor (a flat request is one row).  Row ``r``
starts at flat index :func:`row_start` of the whole tensor.

Kernels take a request as (dist, fmt) — compile-time constants of each kernel —
and four small tuples (built by :func:`gpuinit.random._sample`):

* key: (k0, k1, s0, s1), the Philox key and the stream's counter words;
* rows: (blocks_per_row, row_len, base, lead_shape, lead_stride);
* law: (a, b, lower, upper, reject, p_lower, q_upper, mass), float32 numbers for
  a, b, lower and upper in the 24-bit formats;
* clamp: (clamp_lo, clamp_hi), the representable bounds (float32 numbers in the 24-bit
  formats).

A work item is one Philox block of one row: it computes the block's words once
and writes the (up to 4, or 2 for float64) elements of that block which lie in
the row.  Element ``e`` of the whole tensor therefore always gets the same value,
whichever request, launch configuration or device produced it.
"""


from ._twin import scalar
from .convert import (
    float32_to_bfloat16_bits,
    float32_to_float16_bits,
    u01_f32,
    u01_f64,
)
from .distributions import (
    TRUNC_ATTEMPTS,
    box_muller_f32,
    box_muller_f64,
    laplace_f32,
    laplace_f64,
    truncated_normal_quantile,
)
from .philox import philox_block
from .primitives import float32, float64, fma, fma32, int64, select, store2, store4, uint64

DIST_UNIFORM = 0
DIST_NORMAL = 1
DIST_TRUNCATED_NORMAL = 2
DIST_LAPLACE = 3
# Each distribution's name (the PTX files and the CLI name the kernels after it).
DISTRIBUTION_NAMES = {DIST_UNIFORM: "uniform", DIST_NORMAL: "normal",
                      DIST_TRUNCATED_NORMAL: "truncated_normal", DIST_LAPLACE: "laplace"}

FMT_FLOAT32 = 0
FMT_FLOAT64 = 1
FMT_FLOAT16 = 2
FMT_BFLOAT16 = 3
# Each output format's name (the compiled CPU loops and the PTX files are named after it).
FORMAT_NAMES = {FMT_FLOAT32: "float32", FMT_FLOAT64: "float64", FMT_FLOAT16: "float16",
                FMT_BFLOAT16: "bfloat16"}


@scalar
def row_start(r, base, lead_shape, lead_stride):
    """Return the flat index in the whole tensor of the first element of row r.

    Row r < prod(lead_shape) is the C-order index over the leading dimensions; the
    first dimension needs no division (its index is what is left of r).
    """
    e = int64(base)
    for d in range(len(lead_shape) - 1, 0, -1):
        n = int64(lead_shape[d])
        q = r // n
        e += (r - q * n) * int64(lead_stride[d])
        r = q
    return e + r * int64(lead_stride[0])


@scalar(inline=True)
def standard_values(dist, wide, x0, x1, x2, x3, a, b):
    """Return four values made from one block's words: float32 numbers for the
    24-bit formats (``wide`` false; computed in float32), float64 for float64.

    Uniform: a + b·u, one fma (a = low, b = high - low, float32 numbers in the
    narrow case).  Normal family: standard normal deviates; Laplace: standard
    Laplace deviates, one per word (per word pair when wide).  Wide (float64) blocks
    fill only the first two values.
    """
    if dist == DIST_UNIFORM:
        if wide:
            return fma(b, u01_f64(x0, x1), a), fma(b, u01_f64(x2, x3), a), 0.0, 0.0
        return (
            fma32(b, u01_f32(x0), a),
            fma32(b, u01_f32(x1), a),
            fma32(b, u01_f32(x2), a),
            fma32(b, u01_f32(x3), a),
        )
    if dist == DIST_LAPLACE:
        if wide:
            return laplace_f64(x0, x1), laplace_f64(x2, x3), 0.0, 0.0
        return laplace_f32(x0), laplace_f32(x1), laplace_f32(x2), laplace_f32(x3)
    if wide:
        z0, z1 = box_muller_f64(x0, x1, x2, x3)
        return z0, z1, 0.0, 0.0
    z0, z1 = box_muller_f32(x0, x1)
    z2, z3 = box_muller_f32(x2, x3)
    return z0, z1, z2, z3


@scalar
def lane_uniform(wide, lane, x0, x1, x2, x3):
    """Return the uniform in [0, 1) of one lane: word ``lane`` or word pair ``lane``
    (a float32 number, as a float64, in the narrow case)."""
    if wide:
        if lane == 0:
            return u01_f64(x0, x1)
        return u01_f64(x2, x3)
    if lane == 0:
        return float64(u01_f32(x0))
    if lane == 1:
        return float64(u01_f32(x1))
    if lane == 2:
        return float64(u01_f32(x2))
    return float64(u01_f32(x3))


@scalar
def lane_pending(lane, ok0, ok1, ok2, ok3):
    """Return whether lane ``lane`` still needs a value."""
    if lane == 0:
        return not ok0
    if lane == 1:
        return not ok1
    if lane == 2:
        return not ok2
    return not ok3


@scalar
def inside(z, lower, upper):
    """Return whether lower <= z <= upper."""
    return (z >= lower) & (z <= upper)


@scalar
def accept(done, value, candidate, lower, upper):
    """Return (done, value) after offering a lane ``candidate``: a pending lane
    takes it when it lies in [lower, upper]."""
    take = inside(candidate, lower, upper) & (not done)
    return done | take, select(take, candidate, value)


@scalar
def scale_shift(wide, b, t, a):
    """Return a + b·t rounded once: in float64 if ``wide``, else in float32 (t then
    holds a float32 number)."""
    if wide:
        return fma(b, t, a)
    return float64(fma32(b, float32(t), a))


@scalar
def clamped(x, lo, hi):
    """Return ``x`` clamped to [lo, hi] (all three of one float type): replaced only when
    strictly outside, so a signed zero stays as it is."""
    x = select(x < lo, lo, x)
    return select(x > hi, hi, x)


@scalar
def clamped_bits16(v, fmt, lo, hi):
    """Return the float16 or bfloat16 pattern of ``v`` (a float32 number) clamped to
    [lo, hi] (float32 numbers the format represents, see :func:`clamped`), then rounded
    once to nearest even: rounding is monotonic and the bounds are representable, so
    the pattern's value lies in [lo, hi] too."""
    x = clamped(float32(v), float32(lo), float32(hi))
    if fmt == FMT_FLOAT16:
        return float32_to_float16_bits(x)
    return float32_to_bfloat16_bits(x)


@scalar(inline=True)
def store(out, i, v, fmt, clamp_lo, clamp_hi):
    """Write ``v`` to out[i] in the output format, clamped to the representable
    bounds [clamp_lo, clamp_hi] (before rounding for the 16-bit formats).

    For the 24-bit formats ``v`` is a float32 number (held in a float64 or not):
    float32 stores it, float16 and bfloat16 round it once.
    """
    if fmt == FMT_FLOAT32:
        out[i] = clamped(float32(v), float32(clamp_lo), float32(clamp_hi))
    elif fmt == FMT_FLOAT64:
        out[i] = clamped(float64(v), float64(clamp_lo), float64(clamp_hi))
    else:
        out[i] = clamped_bits16(v, fmt, clamp_lo, clamp_hi)


@scalar(inline=True)
def store_block(out, i, v0, v1, v2, v3, fmt, clamp_lo, clamp_hi):
    """Write a whole block's values to out[i..i+3] (out[i], out[i+1] for float64) as
    :func:`store` does, with one store of all lanes where the target has one:
    128 bits for float32 and float64, 64 bits for the 16-bit formats, when the
    address is aligned to it."""
    if fmt == FMT_FLOAT32:
        lo, hi = float32(clamp_lo), float32(clamp_hi)
        store4(out, i, clamped(float32(v0), lo, hi), clamped(float32(v1), lo, hi),
               clamped(float32(v2), lo, hi), clamped(float32(v3), lo, hi))
    elif fmt == FMT_FLOAT64:
        lo64, hi64 = float64(clamp_lo), float64(clamp_hi)
        store2(out, i, clamped(float64(v0), lo64, hi64), clamped(float64(v1), lo64, hi64))
    else:
        store4(out, i, clamped_bits16(v0, fmt, clamp_lo, clamp_hi),
               clamped_bits16(v1, fmt, clamp_lo, clamp_hi),
               clamped_bits16(v2, fmt, clamp_lo, clamp_hi),
               clamped_bits16(v3, fmt, clamp_lo, clamp_hi))


@scalar
def block_inside(wide, t0, t1, t2, t3, lower, upper):
    """Return whether every lane of a block (two lanes if wide) lies in [lower, upper]."""
    # Bitwise & rather than `and`: no branches in the vectorized CPU loops.
    every = inside(t0, lower, upper) & inside(t1, lower, upper)
    if not wide:
        every = every & inside(t2, lower, upper) & inside(t3, lower, upper)
    return every


@scalar(inline=True)
def store_block_values(
    t0, t1, t2, t3, dist, fmt, a, b, out, out_offset, clamp_lo, clamp_hi
):
    """Write a block's values (from :func:`standard_values`) to out[out_offset + lane]:
    as they are for uniform, a + b·t for the normal family; rounded and clamped."""
    wide = fmt == FMT_FLOAT64
    if dist != DIST_UNIFORM:
        t0 = scale_shift(wide, b, t0, a)
        t1 = scale_shift(wide, b, t1, a)
        t2 = scale_shift(wide, b, t2, a)
        t3 = scale_shift(wide, b, t3, a)
    # Unsigned indices: Numba adds a negative-index wraparound to signed ones,
    # which keeps LLVM from vectorizing the CPU loop.
    i0 = uint64(out_offset)
    store(out, i0, t0, fmt, clamp_lo, clamp_hi)
    store(out, i0 + uint64(1), t1, fmt, clamp_lo, clamp_hi)
    if not wide:
        store(out, i0 + uint64(2), t2, fmt, clamp_lo, clamp_hi)
        store(out, i0 + uint64(3), t3, fmt, clamp_lo, clamp_hi)


@scalar
def first_attempt(dist, reject):
    """Return the attempt whose words a block starts from: 0, or TRUNC_ATTEMPTS for
    a truncated normal sampled by inverse CDF alone."""
    if dist == DIST_TRUNCATED_NORMAL and not reject:
        return TRUNC_ATTEMPTS
    return 0


@scalar
def fill_block(r, j, out, dist, fmt, key, rows, law, clamp):
    """Fill the elements of work item (r, j): Philox block j of row r.

    dist/fmt select the distribution and output format; the request comes as the
    kernels' four tuples (see the module docstring): ``key`` (k0, k1, s0, s1),
    ``rows`` (blocks_per_row, row_len, base, lead_shape, lead_stride), ``law``
    (a, b, lower, upper, reject, p_lower, q_upper, mass) and ``clamp`` (clamp_lo,
    clamp_hi).  Uniform: value a + b·u.  Normal and Laplace:
    a + b·z.  Truncated normal: a + b·z with z in [lower, upper], by rejection (if
    ``reject``) then the inverse CDF with (p_lower, q_upper, mass).
    """
    k0, k1, s0, s1 = key
    _, row_len, base, lead_shape, lead_stride = rows
    a, b, lower, upper, reject, p_lower, q_upper, mass = law
    clamp_lo, clamp_hi = clamp
    wide = fmt == FMT_FLOAT64
    per_block = 2 if wide else 4
    start = row_start(r, base, lead_shape, lead_stride)
    block = start // per_block + j
    first = block * per_block
    lo = max(first, start) - first
    hi = min(first + per_block, start + int64(row_len)) - first
    if lo >= hi:
        return
    out_offset = r * int64(row_len) - start + first  # out index of lane 0
    attempt = first_attempt(dist, reject)
    x0, x1, x2, x3 = philox_block(block, attempt, k0, k1, s0, s1)
    finish_block(
        x0, x1, x2, x3, attempt, block, lo, hi, out, out_offset, dist, fmt, k0, k1, s0, s1,
        a, b, lower, upper, p_lower, q_upper, mass, clamp_lo, clamp_hi,
    )


@scalar
def finish_block(
    x0, x1, x2, x3, attempt, block, lo, hi, out, out_offset, dist, fmt, k0, k1, s0, s1,
    a, b, lower, upper, p_lower, q_upper, mass, clamp_lo, clamp_hi,
):
    """Write lanes lo..hi-1 of Philox block ``block`` to out[out_offset + lane],
    given the block's words (x0..x3) at ``attempt`` (:func:`first_attempt`).

    A lane is done when it lies outside [lo, hi) or has its value.  Uniform and
    normal finish at attempt 0; the truncated normal retries rejected lanes with
    the words of the next attempts and ends with the inverse CDF at attempt
    TRUNC_ATTEMPTS.
    """
    wide = fmt == FMT_FLOAT64
    ok0 = not (lo <= 0 < hi)
    ok1 = not (lo <= 1 < hi)
    ok2 = not (lo <= 2 < hi)
    ok3 = not (lo <= 3 < hi)
    v0 = v1 = v2 = v3 = 0.0
    truncated = dist == DIST_TRUNCATED_NORMAL
    while True:
        if attempt == TRUNC_ATTEMPTS:
            for lane in range(4):
                pending = lane_pending(lane, ok0, ok1, ok2, ok3)
                if pending:
                    z = truncated_normal_quantile(
                        lane_uniform(wide, lane, x0, x1, x2, x3), p_lower, q_upper, mass
                    )
                    if not wide:
                        z = float64(float32(z))  # the 24-bit formats compute in float32
                    if lane == 0:
                        v0 = z
                    elif lane == 1:
                        v1 = z
                    elif lane == 2:
                        v2 = z
                    else:
                        v3 = z
            break
        t0, t1, t2, t3 = standard_values(dist, wide, x0, x1, x2, x3, a, b)
        if not truncated:
            v0, v1, v2, v3 = t0, t1, t2, t3
            break
        ok0, v0 = accept(ok0, v0, t0, lower, upper)
        ok1, v1 = accept(ok1, v1, t1, lower, upper)
        ok2, v2 = accept(ok2, v2, t2, lower, upper)
        ok3, v3 = accept(ok3, v3, t3, lower, upper)
        if ok0 and ok1 and ok2 and ok3:
            break
        attempt += 1
        x0, x1, x2, x3 = philox_block(block, attempt, k0, k1, s0, s1)

    if dist != DIST_UNIFORM:
        v0 = scale_shift(wide, b, v0, a)
        v1 = scale_shift(wide, b, v1, a)
        v2 = scale_shift(wide, b, v2, a)
        v3 = scale_shift(wide, b, v3, a)

    if lo == 0 and hi == (2 if wide else 4):
        store_block(out, out_offset, v0, v1, v2, v3, fmt, clamp_lo, clamp_hi)
        return
    if lo <= 0 < hi:
        store(out, out_offset, v0, fmt, clamp_lo, clamp_hi)
    if lo <= 1 < hi:
        store(out, out_offset + 1, v1, fmt, clamp_lo, clamp_hi)
    if lo <= 2 < hi:
        store(out, out_offset + 2, v2, fmt, clamp_lo, clamp_hi)
    if lo <= 3 < hi:
        store(out, out_offset + 3, v3, fmt, clamp_lo, clamp_hi)
