"""Shared helpers of the test suite."""

import contextlib
import os
import socket

import numpy as np

import gpuinit as gi
from gpuinit import dtypes

DTYPES = ["float32", "float64", "float16", "bfloat16"]
DISTRIBUTIONS = {
    "uniform": lambda shape, **kw: gi.random.uniform(shape, -1.5, 2.0, **kw),
    "normal": lambda shape, **kw: gi.random.normal(shape, 0.5, 2.0, **kw),
    "truncated_normal": lambda shape, **kw: gi.random.truncated_normal(shape, 0.0, 1.0, **kw),
    "truncated_tail": lambda shape, **kw: gi.random.truncated_normal(
        shape, 1.0, 0.5, 3.0, 6.0, **kw
    ),
    "laplace": lambda shape, **kw: gi.random.laplace(shape, 0.25, 1.5, **kw),
}


def as_float64(array) -> np.ndarray:
    """Return a host float64 copy of a NumPy or CuPy array of any float dtype."""
    if hasattr(array, "get"):
        array = array.get()
    return np.asarray(array).astype(np.float64)


def bits(array) -> np.ndarray:
    """Return the raw bit patterns of an array, for bit-for-bit comparisons."""
    if hasattr(array, "get"):
        array = array.get()
    array = np.ascontiguousarray(array)
    return array.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[array.dtype.itemsize])


def ulp_distance(a, b, dtype: str) -> np.ndarray:
    """Return |a - b| in units in the last place of ``dtype`` at max(|a|, |b|)."""
    a, b = as_float64(a), as_float64(b)
    form = dtypes.float_format(dtype)
    mantissa = {"float32": 23, "float64": 52, "float16": 10, "bfloat16": 7}[form.name]
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 2.0 ** -126)
    ulp = 2.0 ** (np.floor(np.log2(scale)) - mantissa)
    return np.abs(a - b) / ulp


@contextlib.contextmanager
def one_process_group():
    """Within the block, a torch.distributed gloo group of this process alone (rank 0 of 1)
    on a free local port; destroyed afterwards.  Skips the test when torch.distributed is
    missing or a group already exists in this process."""
    import pytest
    import torch

    dist = torch.distributed
    if not dist.is_available() or dist.is_initialized():
        pytest.skip("needs torch.distributed and no process group in this process")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0,
                            world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()
