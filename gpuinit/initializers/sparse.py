"""Sparse: normal values with a fixed fraction of zeros per output unit (PyTorch's sparse_)."""

from __future__ import annotations

import math

from .. import random
from ..arguments import check_nonnegative, check_real
from ..devices import Device, array_module
from .base import RandomInitializer, Request

# The uniform keys that pick the zeros use this stream, XOR the tensor's stream.
SPARSE_KEY_STREAM = 0x5350_4152_5345_4B59


def check_sparsity(sparsity) -> float:
    """Return ``sparsity`` as a float in [0, 1); ValueError otherwise."""
    sparsity = check_real(sparsity, "sparsity")
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity={sparsity} must lie in [0, 1)")
    return sparsity


def zeros_per_column(sparsity: float, rows: int) -> int:
    """Return how many of a column's ``rows`` entries are zero: ceil(sparsity·rows)."""
    return math.ceil(sparsity * rows)


def sparse_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """Return (n_in, n_out) of a Keras-layout Sparse kernel; ValueError unless 2-D."""
    if len(shape) != 2:
        raise ValueError(f"Sparse needs a 2-D shape, got shape={shape}")
    return shape[0], shape[1]


def sparse_columns(shape: tuple[int, ...], sparsity: float, std: float, seed: int, stream: int,
                   dtype, dev: Device):
    """Return a (rows, cols) array of N(0, std²) values with ceil(sparsity·rows) zeros in
    every column, at rows chosen uniformly at random.  Matches ``torch.nn.init.sparse_``
    in law (its randperm per column becomes an argsort of uniform keys, on the device).

    A shape (rows, cols, 2) is a complex matrix's real view: both parts of each entry are
    N(0, std²), and whole entries are zeroed, at the rows a (rows, cols) matrix of the
    same seed and stream has its zeros (the keys are the same).
    """
    rows, cols = shape[:2]
    values = random.normal(shape, 0.0, std, seed=seed, stream=stream, dtype=dtype, device=dev)
    n_zeros = zeros_per_column(sparsity, rows)
    if n_zeros and cols:
        # 53-bit keys: ties (which sorts may break differently) have probability ~0.
        keys = random.uniform((rows, cols), seed=seed, stream=stream ^ SPARSE_KEY_STREAM,
                              dtype="float64", device=dev)
        xp = array_module(dev)
        zero_rows = xp.argsort(keys, axis=0)[:n_zeros]
        values[zero_rows, xp.arange(cols)[None, :]] = 0
    return values


class Sparse(RandomInitializer):
    """Return a 2-D Keras-layout kernel ``(in, out)`` of N(0, std²) values in which each
    input unit is connected to all but ceil(sparsity·out) output units (the others 0).

    The Keras-layout counterpart of ``torch.nn.init.sparse_`` (Martens, 2010),
    which zeroes the same fraction of each column of a ``(out, in)`` weight; see
    :func:`gpuinit.init.sparse_` for PyTorch's layout.
    """

    needs_whole_tensor = True

    def __init__(self, sparsity: float = 0.1, std: float = 0.01, seed: int | None = None):
        self.sparsity = check_sparsity(sparsity)
        self.std = check_nonnegative(std, "std")
        super().__init__(seed)

    def generate(self, request: Request):
        request.whole("Sparse")
        n_in, n_out = sparse_shape(request.shape)
        # Every check of the sampling first: a refused call draws no seed.
        random.prepare(random.normal, (n_out, n_in), 0.0, self.std, dtype=request.dtype,
                       device=request.device)
        transposed = sparse_columns((n_out, n_in), self.sparsity, self.std, self.call_seed(request),
                                    request.stream, request.dtype, request.device)
        with request.on_device():
            return request.xp.ascontiguousarray(transposed.T)

    def get_config(self) -> dict:
        return {"sparsity": self.sparsity, "std": self.std, "seed": self.seed}
