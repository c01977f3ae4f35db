"""Random orthogonal matrices: our Gaussian kernel, then QR (cuSOLVER on CUDA, LAPACK on CPU).

For a ``rows × cols`` result let m = max(rows, cols), n = min(rows, cols).  The
Gaussian matrix G (n × m, C order, so that it is the m × n matrix A = Gᵀ in
column-major order) is generated in place by the fill kernel from (seed, stream).
A = QR; Q (m × n) gets the signs of diag(R) so that the law is Haar (Mezzadri
2007), and the result is Q·gain (tall) or Qᵀ·gain (wide).  CPU and CUDA start
from the same bits of G.

On CUDA, geqrf and orgqr run in place on G's buffer; the extra device memory
is the cuSOLVER workspace, tau and the sign vector (plus the output itself when
a transpose or a dtype change is needed).  float16 and bfloat16 results are
computed in float32 and written once.  On the CPU, LAPACK (through SciPy, the
``cpu`` extra) runs the same two steps in place on G's buffer.
"""

from __future__ import annotations

import numpy as np

from . import random
from .devices import Device, on_device
from .dtypes import FloatFormat
from .launch import allocate


def orthogonal_matrix(rows: int, cols: int, gain: float, seed: int, stream: int,
                      form: FloatFormat, dev: Device):
    """Return gain · a Haar-random matrix with orthonormal columns (rows >= cols) or rows.

    Matches the law of ``torch.nn.init.orthogonal_`` and
    ``keras.initializers.Orthogonal`` on a 2-D shape.
    """
    m, n = max(rows, cols), min(rows, cols)
    if n == 0:  # an empty matrix: nothing to factor (torch returns it as it is)
        return allocate((rows, cols), form.numpy_dtype, dev)
    work = working_dtype(form)
    gaussian = random.normal((n, m), seed=seed, stream=stream, dtype=work, device=dev)
    if dev.is_cuda:
        return _orthogonal_cuda(gaussian, rows, cols, gain, form, dev)
    return _orthogonal_cpu(gaussian, rows, cols, gain, form)


def working_dtype(form: FloatFormat) -> str:
    """Return the dtype G and the QR are computed in: float64 for float64, else float32."""
    return "float64" if form.name == "float64" else "float32"


def _orthogonal_cpu(gaussian: np.ndarray, rows: int, cols: int, gain: float,
                    form: FloatFormat) -> np.ndarray:
    with one_blas_thread():
        diagonal = _householder_q_in_place(gaussian)  # G now holds Qᵀ
    return signed_q(gaussian, diagonal, rows, cols, gain, form, np)


def one_blas_thread():
    """Return a context manager running the BLAS/LAPACK libraries loaded in the process on
    one thread inside the block (threadpoolctl).

    A multi-threaded LAPACK QR splits its panel updates by the thread count, and the
    rounding of the sums follows the split: the same matrix could factor to different
    bits on machines or settings with other thread counts.  One thread makes the CPU
    orthogonal matrices a function of the seed alone.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def signed_q(q_t, diagonal, rows: int, cols: int, gain: float, form: FloatFormat, xp):
    """Return the (rows × cols) result from Qᵀ (``q_t``, n × m, C order) and diag(R):
    gain · Q with each column's sign made that of its pivot (the Haar measure), laid out
    and rounded once to ``form``.  Shared by the CPU and CUDA routes (``xp`` is numpy or
    cupy); Qᵀ is scaled in place when it already is the result."""
    scale = pivot_signs(diagonal, xp) * q_t.dtype.type(gain)
    if rows < cols and np.dtype(form.numpy_dtype) == q_t.dtype:
        xp.multiply(q_t, scale[:, None], out=q_t)  # Qᵀ in place
        return q_t
    # Row j of Qᵀ is column j of Q.
    source = q_t if rows < cols else q_t.T
    factor = scale[:, None] if rows < cols else scale[None, :]
    out = xp.empty((rows, cols), dtype=q_t.dtype)
    xp.multiply(source, factor, out=out)
    return out.astype(form.numpy_dtype, copy=False)


def _householder_q_in_place(gaussian: np.ndarray) -> np.ndarray:
    """Overwrite G (n × m, C order) with Qᵀ, where Gᵀ = QR; return diag(R).

    With SciPy, LAPACK's geqrf and orgqr run in G's own dtype on G's own buffer
    (Gᵀ is m × n in Fortran order), like cuSOLVER on CUDA.  Without SciPy,
    ``numpy.linalg.qr`` does the work; it computes float32 input in float64
    (about twice the time) and returns new arrays, which are copied back.
    """
    a = gaussian.T
    try:
        from scipy.linalg import lapack
    except ImportError:
        q, r = np.linalg.qr(a)
        a[...] = q
        return np.diagonal(r).copy()
    geqrf, orgqr = lapack.get_lapack_funcs(("geqrf", "orgqr"), (a,))
    # lwork=-1 asks for the blocked algorithm's workspace; the wrappers' default
    # is the unblocked minimum, several times slower.
    lwork = int(geqrf(a, lwork=-1)[2][0])
    factored, tau, _, info = geqrf(a, lwork=lwork, overwrite_a=1)
    _check_lapack(info, "geqrf")
    diagonal = np.diagonal(factored).copy()
    lwork = int(orgqr(factored, tau, lwork=-1)[1][0])
    q, _, info = orgqr(factored, tau, lwork=lwork, overwrite_a=1)
    _check_lapack(info, "orgqr")
    if not np.shares_memory(q, a):
        a[...] = q
    return diagonal


def _check_lapack(info: int, routine: str) -> None:
    if info != 0:
        raise RuntimeError(f"LAPACK {routine} failed with info={info}")


def pivot_signs(diagonal, xp):
    """Return the signs of diag(R) (+1 for a zero pivot) in its dtype; ``xp`` is the
    array module (numpy, cupy or dask.array)."""
    # sign(0) would zero a column; a zero pivot has probability 0 but gets +1.
    return xp.where(diagonal < 0, -1.0, 1.0).astype(diagonal.dtype)


def _orthogonal_cuda(gaussian, rows: int, cols: int, gain: float, form: FloatFormat,
                     dev: Device):
    import cupy
    from cupy_backends.cuda.libs import cusolver

    n, m = gaussian.shape
    with on_device(dev):
        handle = cupy.cuda.device.get_cusolver_handle()
        cusolver.setStream(handle, cupy.cuda.get_current_stream().ptr)
        double = gaussian.dtype == np.float64
        geqrf_size = cusolver.dgeqrf_bufferSize if double else cusolver.sgeqrf_bufferSize
        geqrf = cusolver.dgeqrf if double else cusolver.sgeqrf
        orgqr_size = cusolver.dorgqr_bufferSize if double else cusolver.sorgqr_bufferSize
        orgqr = cusolver.dorgqr if double else cusolver.sorgqr
        a = gaussian.data.ptr
        tau = cupy.empty(n, dtype=gaussian.dtype)
        info = cupy.zeros(1, dtype=np.int32)
        lwork = max(geqrf_size(handle, m, n, a, m),
                    orgqr_size(handle, m, n, n, a, m, tau.data.ptr))
        work = cupy.empty(max(lwork, 1), dtype=gaussian.dtype)
        geqrf(handle, m, n, a, m, tau.data.ptr, work.data.ptr, lwork, info.data.ptr)
        # diag(R) sits on G's diagonal until orgqr overwrites it with Q.
        diagonal = cupy.diagonal(gaussian).copy()
        orgqr(handle, m, n, n, a, m, tau.data.ptr, work.data.ptr, lwork, info.data.ptr)
        del work, tau
        if int(info.get()[0]) != 0:
            raise RuntimeError(f"cuSOLVER QR failed with info={int(info.get()[0])}")
        # G now holds Qᵀ (n × m, C order).
        return signed_q(gaussian, diagonal, rows, cols, gain, form, cupy)
