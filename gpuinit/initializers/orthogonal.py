"""Orthogonal initializers: Orthogonal (Keras, PyTorch) and DeltaOrthogonal (JAX)."""

from __future__ import annotations

import math

import numpy as np

from ..arguments import MAX_RANK, check_int, check_real
from ..dtypes import check_representable, dtype_name, float_format
from ..launch import allocate
from ..qr import orthogonal_matrix
from .base import RandomInitializer, Request
from .complex_laws import complex_parts, unitary_matrix


def _matrix(rows: int, cols: int, gain: float, init: RandomInitializer, request: Request,
            argument: str = "gain"):
    """Return gain · a Haar-random (rows × cols) matrix of the request's dtype on its device:
    orthogonal for float dtypes (:func:`gpuinit.qr.orthogonal_matrix`), unitary for
    complex64/complex128 (:func:`gpuinit.initializers.complex_laws.unitary_matrix`).

    The seed (``init.call_seed``) is drawn after the dtype and ``gain`` checks, so a
    refused call leaves the global seed sequence as it was."""
    is_complex = complex_parts(request.dtype) is not None
    dtype = np.dtype(dtype_name(request.dtype)) if is_complex else \
        float_format(request.dtype).numpy_dtype
    # |entries of Q| <= 1, so gain·Q fits the dtype when gain does.
    check_representable(gain, dtype, argument)
    seed = init.call_seed(request)
    if is_complex:
        return unitary_matrix(rows, cols, gain, seed, request.stream, request.dtype,
                              request.device, request.xp)
    form = float_format(request.dtype)
    return orthogonal_matrix(rows, cols, gain, seed, request.stream, form, request.device)


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """Return (rows, cols) = (prod(shape[:-1]), shape[-1]), the matrix Orthogonal reads
    ``shape`` as; ValueError for fewer than 2 dimensions."""
    if len(shape) < 2:
        raise ValueError(f"Orthogonal needs a shape with at least 2 dimensions, got {shape}")
    return math.prod(shape[:-1]), shape[-1]


class Orthogonal(RandomInitializer):
    """Return gain · a random orthogonal matrix, reshaped to ``shape``.

    The shape (at least 2-D) is read as a ``prod(shape[:-1]) × shape[-1]``
    matrix; its columns are orthonormal if it is tall, its rows if it is wide.
    Made on the device: our Gaussian kernel, then QR (cuSOLVER on CUDA), signs
    of diag(R).  Matches ``keras.initializers.Orthogonal``.

    complex64/complex128: a Haar-random unitary matrix (orthonormal columns or
    rows under the Hermitian inner product), Q·diag(r_jj/|r_jj|) of the complex QR
    of a complex Gaussian matrix, as ``jax.nn.initializers.orthogonal`` makes it.

    ``column_axis`` (JAX's ``orthogonal(column_axis=)``) names the axis that holds the
    columns: the matrix is ``prod(other dims) × shape[column_axis]``, laid out with its
    column index on that axis.  ``get_config`` holds it only when it is not -1, so
    Keras reads the configs it knows.

    >>> import numpy as np, gpuinit as gi
    >>> q = gi.initializers.Orthogonal(seed=0)((6, 3), device="cpu")
    >>> bool(np.allclose(q.T @ q, np.eye(3), atol=1e-5))
    True
    """

    needs_whole_tensor = True

    def __init__(self, gain: float = 1.0, seed: int | None = None, column_axis: int = -1):
        self.gain = check_real(gain, "gain")
        self.column_axis = check_int(column_axis, "column_axis", -MAX_RANK, MAX_RANK)
        super().__init__(seed)

    def generate(self, request: Request):
        request.whole("Orthogonal")
        shape = request.shape
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape with at least 2 dimensions, got {shape}")
        if not -len(shape) <= self.column_axis < len(shape):
            raise ValueError(f"column_axis={self.column_axis} is out of range for shape {shape}")
        axis = self.column_axis % len(shape)
        moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
        rows, cols = matrix_shape(moved)
        matrix = _matrix(rows, cols, self.gain, self, request).reshape(moved)
        if axis == len(shape) - 1:
            return matrix
        with request.on_device():
            xp = request.xp
            return xp.ascontiguousarray(xp.moveaxis(matrix, -1, axis))

    def get_config(self) -> dict:
        config = {"gain": self.gain, "seed": self.seed}
        if self.column_axis != -1:
            config["column_axis"] = self.column_axis
        return config


class DeltaOrthogonal(RandomInitializer):
    """Return a convolution kernel that is zero except for an orthogonal matrix at the centre.

    Keras layout ``(*spatial, in, out)`` with 1 to 3 spatial dimensions and
    in <= out: W[(k₁-1)//2, ..., :, :] = scale · an orthogonal (in × out) matrix.  A
    zero spatial dimension gives the empty array (the arguments are checked all the same).
    Matches ``jax.nn.initializers.delta_orthogonal`` (Xiao et al., 2018), complex
    dtypes included (a unitary centre).
    """

    needs_whole_tensor = True

    def __init__(self, scale: float = 1.0, seed: int | None = None):
        self.scale = check_real(scale, "scale")
        super().__init__(seed)

    def generate(self, request: Request):
        request.whole("DeltaOrthogonal")
        shape = request.shape
        if len(shape) not in (3, 4, 5):
            raise ValueError(f"DeltaOrthogonal needs a 3-D, 4-D or 5-D shape, got {shape}")
        n_in, n_out = shape[-2], shape[-1]
        if n_in > n_out:
            raise ValueError(
                f"DeltaOrthogonal needs in <= out channels, got in={n_in}, out={n_out} "
                f"(shape={shape})"
            )
        centre = _matrix(n_in, n_out, self.scale, self, request, "scale")
        out = allocate(shape, centre.dtype, request.device)
        if 0 in shape[:-2]:  # a zero-size kernel has no centre: the empty array
            return out
        with request.on_device():  # CuPy works on the current GPU: make it the request's
            out.fill(0)
            out[tuple((k - 1) // 2 for k in shape[:-2])] = centre
        return out

    def get_config(self) -> dict:
        return {"scale": self.scale, "seed": self.seed}
