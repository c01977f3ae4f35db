"""CUDA twins of the fill kernels: ``@cuda.jit`` grid-stride loops over work items.

Importing this module needs numba-cuda.  Under ``NUMBA_ENABLE_CUDASIM=1`` the same
kernels run in Numba's CUDA simulator (as Python, one thread at a time), which is
how the test suite checks the GPU code on machines without a GPU.
"""

from numba import config, cuda, int64

from . import convert, distributions, philox  # noqa: F401  (registers the scalar source)
from . import fill as _work_item  # noqa: F401
from ._twin import SOURCE_FINGERPRINT, build

SIMULATED = bool(config.ENABLE_CUDASIM)



def _fused_multiply_add(a, b, c):
    """CUDA's fma.rn.f64: a * b + c rounded once, like LLVM's fma on the CPU."""
    return cuda.fma(a, b, c)


# The simulator keeps convert.fma, an exact Python fma; real devices use fma.rn.
_DEVICE = cuda.jit(device=True, inline="always")
_OVERRIDES = None if SIMULATED else {"fma": _DEVICE(_fused_multiply_add)}
LIB = build(_DEVICE, overrides=_OVERRIDES)
_fill_block = LIB.fill_block

THREADS_PER_BLOCK = 256


def _make_fill_kernel():
    """Return the fill kernel (a factory, to carry the source fingerprint).

    ``cache=True``: each (output dtype, compute capability) is compiled once,
    which takes about a minute of host time, and later processes load it from
    Numba's on-disk cache.
    """
    fingerprint = SOURCE_FINGERPRINT

    @cuda.jit(cache=True)
    def fill_kernel(
        out, n_items, dist, fmt, k0, k1, s0, s1, blocks_per_row, row_len, base, lead_shape,
        lead_stride, a, b, lower, upper, reject, p_lower, q_upper, mass, clamp_lo, clamp_hi,
        bits_lo, bits_hi,
    ):
        """Fill ``out`` (1-D, contiguous) with work items 0..n_items-1, grid-stride.

        Work item w is block w mod blocks_per_row of row w // blocks_per_row.
        """
        _ = fingerprint  # part of the cache key: see SOURCE_FINGERPRINT
        w = int64(cuda.grid(1))
        stride = int64(cuda.gridsize(1))
        while w < n_items:
            r = w // blocks_per_row
            _fill_block(
                r, w - r * blocks_per_row, out, dist, fmt, k0, k1, s0, s1, blocks_per_row,
                row_len, base, lead_shape, lead_stride, a, b, lower, upper, reject, p_lower,
                q_upper, mass, clamp_lo, clamp_hi, bits_lo, bits_hi,
            )
            w += stride

    return fill_kernel


fill_kernel = _make_fill_kernel()


def launch_config(n_items: int, max_blocks: int) -> tuple[int, int]:
    """Return (blocks, threads) for ``n_items`` work items, at most ``max_blocks`` blocks."""
    blocks = max(1, min(max_blocks, -(-n_items // THREADS_PER_BLOCK)))
    return blocks, THREADS_PER_BLOCK
