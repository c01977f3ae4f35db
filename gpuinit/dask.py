"""Dask arrays made by gpuinit initializers, chunk by chunk, where the chunks run.

``gpuinit.dask.array("he_normal", (65536, 16384), chunks=(8192, 16384), seed=0)``
returns a lazy ``dask.array.Array``.  Each chunk is one initializer call with
``full_shape=``/``start=`` (the counter contract's blocks), so a chunk is the
same slice of the single-device tensor bit for bit, whatever the chunking, and
variance-scaling initializers take their fans from the whole logical shape.
Chunks are NumPy arrays on CPU workers and CuPy arrays with ``device="cuda"``
(one GPU per worker, as dask-cuda arranges).

Orthogonal matrices go through Dask's TSQR (``dask.array.linalg.qr``) on the
same Gaussian bits the single-device initializer uses, laid out by its
``column_axis``, so they equal it to within QR rounding.  The other initializers
that need the whole tensor (DeltaOrthogonal, Sparse, user classes with their own
``__call__``/``sample``) are made as one chunk, or as empty chunks of an empty
tensor.  Needs the ``dask`` extra.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
except ModuleNotFoundError as exc:  # the dask extra is not installed
    raise ModuleNotFoundError(f"gpuinit.dask needs Dask ({exc}): "
                              'pip install "gpuinit[dask]"', name=exc.name) from exc

from . import random as gr
from .arguments import check_int, check_shape
from .devices import device as resolve_device
from .dtypes import float_format, numeric_dtype
from .given_arrays import to_device
from .initializers import Initializer, Orthogonal, RandomInitializer, get, serialize
from .initializers.complex_laws import complex_parts
from .initializers.orthogonal import matrix_shape
from .qr import pivot_signs, working_dtype
from .seeding import SEED_LIMIT, check_seed, next_seed


def array(init: Any, shape: Any, chunks: Any = "auto", dtype: Any = "float32", *,
          seed: int | None = None, stream: int = 0, device: Any = "cpu") -> da.Array:
    """Return a lazy Dask array equal to ``init(shape, dtype, seed=seed, stream=stream)``.

    ``init`` is anything :func:`gpuinit.initializers.get` accepts.  ``chunks``
    is any Dask chunk specification that normalizes to positive integers (0 on an axis
    of length 0) adding up to ``shape``; a bool is refused.  The seed is fixed when the
    graph is built: the initializer's own seed, else ``seed``, else the next seed of
    :func:`gpuinit.manual_seed`'s sequence, so computing the array twice gives the same
    values.  Nothing is generated until the array is computed.

    Raises TypeError/ValueError naming the argument for a bad initializer, shape,
    dtype, stream, seed or chunks, ValueError when ``chunks`` splits a non-empty tensor
    of an initializer that needs the whole tensor (a real Orthogonal may be split; a
    complex one needs one chunk), and DeviceError for ``device="cuda"`` without CUDA.
    All of them before the graph's seed is drawn, and without computing any value: the
    arguments of Orthogonal, DeltaOrthogonal and Sparse are checked by a dry run that
    stops at their seed draw.  A user's class or ``(shape, dtype)`` callable is checked
    when the chunk is computed: what it returns must have ``shape``, and it is cast to
    ``dtype`` (finite values must stay finite).
    """
    initializer = get(init)
    if initializer is None:
        raise TypeError("init=None: give an initializer, a string id or a config dict")
    shape = check_shape(shape)
    stream = check_int(stream, "stream", 0, SEED_LIMIT)
    seed = None if seed is None else check_seed(seed)
    dev = resolve_device(device)
    where = str(dev)
    # The dtype is checked first: Dask's "auto" chunks would otherwise refuse it in its own words.
    normalized = _normalized_chunks(chunks, shape, numeric_dtype(dtype))
    n_blocks = math.prod(len(c) for c in normalized)
    makes_blocks = isinstance(initializer, Initializer) and initializer.makes_blocks
    empty = math.prod(shape) == 0
    # Every check comes before the graph's seed is drawn, so a refused call changes nothing.
    meta = None
    if makes_blocks and shape:
        # Validates every argument against the whole shape and gives the chunk type; the
        # block is empty, so any seed will do.
        meta = initializer(_empty_block(shape), full_shape=shape, start=(0,) * len(shape),
                           dtype=dtype, device=where, stream=stream, seed=0)
    elif not makes_blocks:
        _check_whole(initializer, shape, dtype, where, stream)
        if n_blocks > 1 and not empty:
            _check_split(initializer, chunks, n_blocks, dtype)
    call_seed = _graph_seed(initializer, seed)
    token = tokenize(_identity(initializer), shape, normalized, str(dtype), call_seed, stream,
                     where)
    call = {"dtype": dtype, "device": where, "stream": stream, "seed": call_seed}

    if makes_blocks:
        return da.map_blocks(_make_block, initializer, shape, call, dtype=_dtype_of(meta, dtype),
                             chunks=normalized, meta=_meta(meta, shape, dtype, dev),
                             name=f"gpuinit-{token}")
    if n_blocks > 1 and not empty:  # an Orthogonal (_check_split refuses the others)
        return _orthogonal_tsqr(initializer, shape, normalized, dtype, call_seed, stream, dev,
                                token)
    # One chunk, or an empty tensor: every chunk is its slice of the whole, which holds nothing.
    return da.map_blocks(_make_whole, initializer, shape, call, dtype=numeric_dtype(dtype),
                         chunks=normalized, meta=_meta(None, shape, dtype, dev),
                         name=f"gpuinit-{token}")


class _ChecksPassed(Exception):
    """Raised in place of a seed draw by :func:`_check_whole`'s dry run."""


def _stop_at_seed(request) -> int:
    raise _ChecksPassed


def _check_whole(initializer: Any, shape: tuple[int, ...], dtype: Any, where: str,
                 stream: int) -> None:
    """Return None when the whole-tensor call ``initializer(shape, dtype)`` would pass its
    argument checks; else raise its error.  Nothing is drawn or computed.

    gpuinit's own whole-tensor initializers (Orthogonal, DeltaOrthogonal, Sparse) draw their
    seed after every check and before any value, so a copy whose seed draw stops the call
    runs every check and no more.  User classes and callables are checked when computed."""
    if not _draws_seed_after_checks(initializer):
        return
    probe = copy.copy(initializer)
    probe.call_seed = _stop_at_seed  # an instance attribute: the original is untouched
    try:
        probe(shape, dtype, where, stream=stream)
    except _ChecksPassed:
        pass


def _draws_seed_after_checks(initializer: Any) -> bool:
    """Return True for initializers whose ``generate`` is gpuinit's own random one."""
    cls = type(initializer)
    return (isinstance(initializer, RandomInitializer) and cls.__call__ is Initializer.__call__
            and cls.generate is not Initializer.generate
            and cls.generate.__module__.startswith(f"{__package__}."))


def _check_split(initializer: Any, chunks: Any, n_blocks: int, dtype: Any) -> None:
    """Return None when ``initializer``, which needs the whole tensor, can be split into
    ``n_blocks`` chunks; else raise ValueError naming ``chunks``.  Only gpuinit's real
    Orthogonal can (through TSQR); a complex Orthogonal needs one chunk."""
    if type(initializer).generate is not Orthogonal.generate:
        name = type(initializer).__name__
        raise ValueError(
            f"chunks={chunks!r} splits the tensor into {n_blocks} chunks, but {name} needs the "
            "whole tensor: use chunks=-1 (one chunk)"
        )
    if complex_parts(dtype):
        raise ValueError(
            f"chunks={chunks!r} splits the tensor into {n_blocks} chunks, but a complex "
            f"Orthogonal (dtype={dtype!r}) is made by one complex QR of the whole matrix: "
            "use chunks=-1 (one chunk)"
        )


def _normalized_chunks(chunks: Any, shape: tuple[int, ...], dtype: np.dtype) -> tuple:
    """Return Dask's normalized chunks, checked: on each axis at least one chunk, each a
    non-negative integer (positive on an axis of positive length), adding up to the axis'
    length.  TypeError for a bool, ValueError naming ``chunks`` when they do not fit."""
    if _holds_bool(chunks):  # Dask would read True as a chunk of 1
        raise TypeError(f"chunks={chunks!r}: a bool is not a chunk size")
    try:
        normalized = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise ValueError(f"chunks={chunks!r} do not fit shape={shape}: {exc}") from None
    # normalize_chunks passes negative, NaN and mismatched chunks through (a shape of -2 or
    # nan), so what it returns is checked here.
    problem = _chunks_problem(normalized, shape)
    if problem:
        raise ValueError(f"chunks={chunks!r} do not fit shape={shape}: Dask reads them as "
                         f"{normalized}, where {problem}")
    return tuple(tuple(int(c) for c in axis) for axis in normalized)


def _holds_bool(spec: Any) -> bool:
    """Return True when the chunk specification ``spec`` is or holds a bool."""
    if isinstance(spec, (bool, np.bool_)):
        return True
    if isinstance(spec, dict):
        spec = list(spec.values())
    return isinstance(spec, (tuple, list)) and any(_holds_bool(part) for part in spec)


def _chunks_problem(normalized: tuple, shape: tuple[int, ...]) -> str | None:
    """Return what is wrong with normalized chunks for ``shape``, or None."""
    if len(normalized) != len(shape):
        return f"{len(normalized)} axes of chunks for {len(shape)} dimensions"
    for axis, (sizes, length) in enumerate(zip(normalized, shape, strict=True)):
        if not sizes:
            return f"no chunk on axis {axis}"
        smallest = 1 if length else 0
        for size in sizes:
            if not isinstance(size, (int, np.integer)) or isinstance(size, (bool, np.bool_)) \
                    or size < smallest:
                kind = "positive" if length else "non-negative"
                return f"chunk {size!r} on axis {axis} is not a {kind} integer"
        if sum(int(size) for size in sizes) != length:
            return f"the chunks {tuple(sizes)} of axis {axis} add up to {sum(sizes)}, not {length}"
    return None


def _graph_seed(initializer: Any, seed: int | None) -> int | None:
    """Return the one seed every chunk uses (None for initializers without randomness):
    the initializer's own, else ``seed`` (already checked), else the next global seed."""
    if not isinstance(initializer, RandomInitializer):
        return seed
    if initializer.seed is not None:
        return initializer.seed
    return next_seed() if seed is None else seed


def _identity(initializer: Any) -> Any:
    """Return what names the initializer in the graph key: its config, else the object."""
    try:
        return serialize(initializer)
    except (TypeError, ValueError, AttributeError):
        return initializer


def _dtype_of(meta: Any, dtype: Any) -> np.dtype:
    return numeric_dtype(dtype) if meta is None else meta.dtype


def _empty_block(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (0,) + shape[1:]


def _meta(sample: Any, shape: tuple[int, ...], dtype: Any, dev) -> Any:
    """Return a zero-size array of the chunks' type (NumPy or CuPy) and dtype."""
    if sample is not None:
        return sample[(slice(0, 0),) * len(shape)]
    empty = (0,) * len(shape)
    if dev.is_cuda:
        import cupy

        return cupy.empty(empty, dtype=numeric_dtype(dtype))
    return np.empty(empty, dtype=numeric_dtype(dtype))


def _block_location(block_info) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return (shape, start) of the output chunk Dask passes as ``block_info``."""
    info = block_info[None]
    return tuple(info["chunk-shape"]), tuple(int(lo) for lo, _ in info["array-location"])


def _make_block(initializer: Initializer, full_shape: tuple[int, ...], call: dict,
                block_info=None):
    """Return the chunk of ``block_info`` as that block of the whole tensor (runs on a worker)."""
    shape, start = _block_location(block_info)
    return initializer(shape, full_shape=full_shape, start=start, **call)


def _make_whole(initializer: Any, shape: tuple[int, ...], call: dict, block_info=None):
    """Return the chunk of ``block_info`` as its slice of the whole tensor, made whole
    (initializers that cannot make blocks): the whole tensor itself when it is one chunk,
    else an empty slice of an empty tensor."""
    values = _whole(initializer, shape, call)
    chunk, start = _block_location(block_info)
    if chunk == shape:
        return values
    pairs = zip(start, chunk, strict=True)
    return values[tuple(slice(first, first + size) for first, size in pairs)]


def _whole(initializer: Any, shape: tuple[int, ...], call: dict):
    """Return the whole tensor of an initializer that cannot make blocks.

    What a Keras-style ``(shape, dtype)`` callable returns must have ``shape`` (the
    graph's); it is cast to the declared dtype on the chunk's device, and a value that
    is finite in the result and not after the cast is refused (ValueError naming the
    initializer)."""
    if isinstance(initializer, Initializer) and type(initializer).__call__ is Initializer.__call__:
        return initializer(shape, **call)
    values = initializer(shape, call["dtype"])  # a Keras-style (shape, dtype) callable
    name = getattr(initializer, "__name__", type(initializer).__name__)
    return to_device(values, shape, call["dtype"], resolve_device(call["device"]),
                     f"the result of the initializer {name}")


def _gaussian_block(full_shape: tuple[int, ...], seed: int, stream: int, work: str, where: str,
                    block_info=None):
    shape, start = _block_location(block_info)
    return gr.normal(shape, seed=seed, stream=stream, full_shape=full_shape, start=start,
                     dtype=work, device=where)


def _orthogonal_tsqr(initializer: Orthogonal, shape: tuple[int, ...], chunks: tuple, dtype: Any,
                     seed: int, stream: int, dev, token: str) -> da.Array:
    """Return gain · a Haar-random orthogonal matrix through Dask's TSQR, laid out as
    ``Orthogonal.generate`` lays it out.

    The same construction as :func:`gpuinit.qr.orthogonal_matrix`: the Gaussian
    G (n × m, n = min, m = max of rows and cols) comes from (seed, stream); the
    m × n matrix A = Gᵀ, split into row blocks of at least n rows, is factored by
    TSQR; Q gets the signs of diag(R).  Tall results are Q·gain, wide ones Qᵀ·gain.
    The matrix is ``prod(other dims) × shape[column_axis]``, its column index moved to
    ``column_axis`` (the arguments were checked by :func:`_check_whole`).
    """
    axis = initializer.column_axis % len(shape)
    moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
    rows, cols = matrix_shape(moved)
    form = float_format(dtype)
    work = working_dtype(form)
    m, n = max(rows, cols), min(rows, cols)
    # Row blocks of A as large as the requested chunks (in elements), and at least n rows.
    block_elements = max(math.prod(max(c) for c in chunks), 1)
    block_rows = min(m, max(n, block_elements // max(n, 1)))
    where = str(dev)
    meta = _meta(None, (n, m), work, dev)
    gaussian = da.map_blocks(_gaussian_block, (n, m), seed, stream, work, where,
                             dtype=np.dtype(work), chunks=((n,), da.core.normalize_chunks(
                                 block_rows, (m,))[0]), meta=meta,
                             name=f"gpuinit-gaussian-{token}")
    q, r = da.linalg.qr(gaussian.T)
    diagonal = da.diagonal(r)
    q = q * (pivot_signs(diagonal, da) * initializer.gain)[None, :]
    matrix = (q if rows >= cols else q.T).astype(form.numpy_dtype).reshape(moved)
    if axis != len(shape) - 1:
        matrix = da.moveaxis(matrix, -1, axis)
    return matrix.rechunk(chunks)
