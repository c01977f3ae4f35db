"""CPU twins of the fill kernels: ``@njit(parallel=True)`` loops over work items."""

from numba import njit, prange, types
from numba.core.extending import intrinsic

from . import convert, distributions, philox  # noqa: F401  (registers the scalar source)
from . import fill as _work_item  # noqa: F401
from ._twin import build


@intrinsic
def _fused_multiply_add(typingctx, a, b, c):
    """LLVM's fma: a * b + c rounded once, like CUDA's fma.rn."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        x, y, z = (
            context.cast(builder, v, t, types.float64)
            for v, t in zip(args, signature.args, strict=True)
        )
        return builder.fma(x, y, z)

    return sig, codegen


LIB = build(njit, overrides={"fma": _fused_multiply_add})
_fill_block = LIB.fill_block

# Work items per parallel task: large enough to amortize scheduling, small enough
# to balance the cores.
CHUNK = 4096
_philox4x32_10 = LIB.philox4x32_10


@njit(parallel=True, cache=True)
def fill(
    out, n_items, dist, fmt, k0, k1, s0, s1, blocks_per_row, row_len, base, lead_shape, lead_stride,
    a, b, lower, upper, reject, p_lower, q_upper, mass, clamp_lo, clamp_hi, bits_lo, bits_hi,
):
    """Fill ``out`` (1-D, contiguous) with work items 0..n_items-1 on all cores.

    Work item w is block j = w mod blocks_per_row of row r = w // blocks_per_row;
    each chunk divides once and then steps through its items.
    """
    n_chunks = (n_items + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        w = c * CHUNK
        end = min(w + CHUNK, n_items)
        r = w // blocks_per_row
        j = w - r * blocks_per_row
        for _ in range(end - w):
            _fill_block(
                r, j, out, dist, fmt, k0, k1, s0, s1, blocks_per_row, row_len, base, lead_shape,
                lead_stride, a, b, lower, upper, reject, p_lower, q_upper, mass, clamp_lo,
                clamp_hi, bits_lo, bits_hi,
            )
            j += 1
            if j == blocks_per_row:
                j = 0
                r += 1


@njit(cache=True)
def philox4x32(counters, keys, out):
    """Write Philox4x32-10 of each (counter[i], key[i]) row into out[i]."""
    for i in range(counters.shape[0]):
        x0, x1, x2, x3 = _philox4x32_10(
            counters[i, 0], counters[i, 1], counters[i, 2], counters[i, 3], keys[i, 0], keys[i, 1]
        )
        out[i, 0] = x0
        out[i, 1] = x1
        out[i, 2] = x2
        out[i, 3] = x3
