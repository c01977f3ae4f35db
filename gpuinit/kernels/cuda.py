"""CUDA twins of the fill kernels: ``@cuda.jit`` grid-stride loops over work items.

Importing this module needs numba-cuda.  Under ``NUMBA_ENABLE_CUDASIM=1`` the same
kernels run in Numba's CUDA simulator (as Python, one thread at a time), which is
how the test suite checks the GPU code on machines without a GPU.
"""

import contextlib
import threading
import types

from numba import config, cuda, float32, float64, int64
from numba import types as nb_types

from . import convert, distributions, philox, primitives  # noqa: F401  (the scalar source)
from . import fill as _work_item  # noqa: F401
from ._twin import SOURCE_FINGERPRINT, build
from .bitcasts import make_bitcasts
from .numba_cuda_support import load_compiler

SIMULATED = bool(config.ENABLE_CUDASIM)


def _fused_multiply_add(a, b, c):
    """CUDA's fma.rn.f64: a * b + c rounded once, like LLVM's fma on the CPU."""
    return cuda.fma(float64(a), float64(b), float64(c))


def _fused_multiply_add32(a, b, c):
    """CUDA's fma.rn.f32: a * b + c rounded once to float32."""
    return cuda.fma(float32(a), float32(b), float32(c))


def _device_primitives() -> dict:
    """Return the CUDA versions of :mod:`.primitives`, for :func:`build`."""
    from llvmlite import ir
    from numba.cuda.extending import intrinsic

    def store_lanes(context, builder, signature, args):
        """out[index + k] = value k for every lane: one vector store (st.global.v2 /
        .v4) when the address is aligned to the whole, else one store per lane."""
        array_type, index_type, *value_types = signature.args
        element = context.get_data_type(array_type.dtype)
        data = context.make_array(array_type)(context, builder, args[0]).data
        pointer = builder.gep(data, [context.cast(builder, args[1], index_type, nb_types.intp)])
        values = [context.cast(builder, v, t, array_type.dtype)
                  for v, t in zip(args[2:], value_types, strict=True)]
        lanes = len(values)
        width = lanes * context.get_abi_sizeof(element)
        i64 = ir.IntType(64)
        misaligned = builder.and_(builder.ptrtoint(pointer, i64), ir.Constant(i64, width - 1))
        aligned = builder.icmp_unsigned("==", misaligned, ir.Constant(i64, 0))
        with builder.if_else(aligned, likely=True) as (whole, apart):
            with whole:
                vector_type = ir.VectorType(element, lanes)
                vector = ir.Constant(vector_type, ir.Undefined)
                for k, value in enumerate(values):
                    vector = builder.insert_element(vector, value, ir.Constant(ir.IntType(32), k))
                target = builder.bitcast(pointer, vector_type.as_pointer())
                builder.store(vector, target).align = width
            with apart:
                for k, value in enumerate(values):
                    builder.store(value, builder.gep(pointer, [ir.Constant(i64, k)]))
        return context.get_dummy_value()

    @intrinsic
    def store4(typingctx, array, index, v0, v1, v2, v3):
        return nb_types.void(array, index, v0, v1, v2, v3), store_lanes

    @intrinsic
    def store2(typingctx, array, index, v0, v1):
        return nb_types.void(array, index, v0, v1), store_lanes

    return {
        "fma": _DEVICE(_fused_multiply_add),
        "fma32": _DEVICE(_fused_multiply_add32),
        "select": _DEVICE(primitives.select),
        **make_bitcasts(intrinsic),
        "store4": store4,
        "store2": store2,
    }


# The simulator keeps the exact Python references of .primitives; real devices use
# fma.rn and register moves.
# forceinline: NVVM inlines the device functions into each kernel (no calls left in
# the PTX) at a fraction of the compile time of Numba-IR inlining (inline="always":
# about 25 s a kernel, against 1.5-2 s).
_DEVICE = cuda.jit(device=True) if SIMULATED else cuda.jit(device=True, forceinline=True)
LIB = build(_DEVICE, overrides={**primitives.numba_types(),
                                **({} if SIMULATED else _device_primitives())})
_fill_block = LIB.fill_block

THREADS_PER_BLOCK = 256


def _make_fill_kernel(dist: int, fmt: int):
    """Return the fill kernel of one (distribution, output format).

    ``dist`` and ``fmt`` are compile-time constants, so the compiler drops the
    other laws' and formats' code: a uniform kernel holds no Box-Muller and no
    inverse CDF, and compiles in a fraction of the time.  ``cache=True``: each
    kernel is compiled once per compute capability, and later processes load it
    from Numba's on-disk cache (keyed on the kernel sources' fingerprint).
    """
    fingerprint = SOURCE_FINGERPRINT

    def fill_kernel(out, n_items, key, rows, law, clamp):
        """Fill ``out`` (1-D, contiguous) with work items 0..n_items-1, grid-stride.

        Work item w is block j = w mod blocks_per_row of row r = w // blocks_per_row;
        ``key``, ``rows``, ``law`` and ``clamp`` are the tuples of :mod:`.fill`.
        """
        _ = fingerprint  # part of the cache key: see SOURCE_FINGERPRINT
        blocks_per_row = rows[0]
        w = int64(cuda.grid(1))
        stride = int64(cuda.gridsize(1))
        # (r, j) of work item w, kept up to date as w advances by the stride: two
        # 64-bit divisions per thread instead of one per work item.
        r = w // blocks_per_row
        j = w - r * blocks_per_row
        rows_step = stride // blocks_per_row
        j_step = stride - rows_step * blocks_per_row
        while w < n_items:
            _fill_block(r, j, out, dist, fmt, key, rows, law, clamp)
            w += stride
            r += rows_step
            j += j_step
            if j >= blocks_per_row:
                j -= blocks_per_row
                r += 1

    fill_kernel.__qualname__ = fill_kernel.__name__ = f"fill_kernel_{dist}_{fmt}"
    return fill_kernel


_KERNELS: dict = {}


def kernel_source(dist: int, fmt: int):
    """Return the Python function of the fill kernel of (dist, fmt), before ``cuda.jit``
    (what ``numba.cuda.compile_ptx`` compiles ahead of time)."""
    return _make_fill_kernel(int(dist), int(fmt))


def fill_kernel(dist: int, fmt: int):
    """Return the compiled (lazily, on first launch) fill kernel of (dist, fmt)."""
    key = (int(dist), int(fmt))
    kernel = _KERNELS.get(key)
    if kernel is None:
        if not SIMULATED:
            load_compiler()
        kernel = _KERNELS[key] = cuda.jit(cache=True)(kernel_source(*key))
    return kernel


def launch_config(n_items: int, max_blocks: int) -> tuple[int, int]:
    """Return (blocks, threads) for ``n_items`` work items, at most ``max_blocks`` blocks."""
    blocks = max(1, min(max_blocks, -(-n_items // THREADS_PER_BLOCK)))
    return blocks, THREADS_PER_BLOCK


def signature(dist: int, fmt: int, lead_dims: int = 1) -> tuple:
    """Return the Numba argument types of the (dist, fmt) kernel for rows with
    ``lead_dims`` leading dimensions (the length of ``lead_shape``)."""
    from numba import types as nb

    from .fill import FMT_FLOAT32, FMT_FLOAT64

    out = {FMT_FLOAT32: nb.float32, FMT_FLOAT64: nb.float64}.get(int(fmt), nb.uint16)
    i64, f64 = nb.int64, nb.float64
    # The 24-bit formats take the law's a, b, lower, upper and the clamp in float32.
    real = f64 if int(fmt) == FMT_FLOAT64 else nb.float32
    lead = nb.UniTuple(i64, lead_dims)
    key = nb.UniTuple(i64, 4)
    rows = nb.Tuple((i64, i64, i64, lead, lead))
    law = nb.Tuple((real, real, real, real, nb.boolean, f64, f64, f64))
    clamp = nb.UniTuple(real, 2)
    return (out[::1], i64, key, rows, law, clamp)


def compile_ptx(dist: int, fmt: int, cc: tuple[int, int], lead_dims: int = 1) -> str:
    """Return the PTX of the (dist, fmt) fill kernel for compute capability ``cc``,
    with no GPU and no driver (NVVM from pip)."""
    load_compiler()
    with _compute_capability(cc):
        ptx, _ = cuda.compile_ptx(kernel_source(dist, fmt), signature(dist, fmt, lead_dims),
                                  cc=cc)
    return ptx


@contextlib.contextmanager
def _compute_capability(cc: tuple[int, int]):
    """Within the block, device functions compile for ``cc`` whether or not a driver
    answers: numba-cuda asks the current device for it when it compiles a
    ``forceinline`` device function, which fails on a machine without a GPU."""
    from numba.cuda import dispatcher

    # The stand-in is numba-cuda's module-wide: one compile at a time installs it.
    with _CC_LOCK:
        asked = dispatcher.get_current_device
        dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
        try:
            yield
        finally:
            dispatcher.get_current_device = asked


_CC_LOCK = threading.Lock()
