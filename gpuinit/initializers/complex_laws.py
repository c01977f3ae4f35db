"""Complex laws (complex64, complex128) built from the real fill kernels.

The kernels make real numbers only.  A complex array of shape ``S`` is filled
through its real view of shape ``(*S, 2)`` (real part, imaginary part; what
``torch.view_as_real`` shows): complex element e is made of the real elements
2e and 2e + 1 of that ``(*S, 2)`` tensor, drawn by :mod:`gpuinit.random` with
the same seed and stream.  So a complex value is a pure function of (seed,
stream, e), and a block (``full_shape=``/``start=``) is the block
``[..., 0:2]`` at ``(*start, 0)`` of the ``(*full_shape, 2)`` real tensor: it
equals that block of the whole complex tensor, bit for bit.

* box uniform (RandomUniform): both parts from the real uniform kernel, as
  ``torch.Tensor.uniform_`` does on complex tensors (JAX refuses complex
  uniforms outside variance scaling);
* normal: both parts N(0, std²/2), so E|z - mean|² = std² (``jax.random.normal``
  and ``torch.randn`` of a complex dtype); the real ``mean`` shifts the real part;
* disk uniform and modulus-truncated normal (JAX's ``_complex_uniform`` and
  ``_complex_truncated_normal``): the pair (u, v) of uniforms in [0, 1) becomes
  the modulus r(u) and the angle 2πv; this polar step runs with the array module
  of the device (NumPy or CuPy) in the real dtype of the parts, on the whole
  array (three temporaries of the size of one part).
"""

from __future__ import annotations

import math

import numpy as np

from .. import random
from ..dtypes import dtype_name
from ..launch import allocate
from .base import Request

# The complex dtypes and the real dtype of their parts.
COMPLEX_PARTS = {"complex64": "float32", "complex128": "float64"}


def complex_parts(dtype) -> str | None:
    """Return the real dtype of the parts of a complex ``dtype`` ("complex64" ->
    "float32"), or None when ``dtype`` is not complex64/complex128."""
    if dtype is None:
        return None
    try:
        name = dtype_name(dtype)
    except TypeError:
        return None
    return COMPLEX_PARTS.get(name)


def complex_output(request: Request):
    """Return (out, pairs): a new uninitialized complex array of the request's shape and
    dtype on its device, and its real view of shape ``(*shape, 2)`` (same memory)."""
    name = dtype_name(request.dtype)
    out = allocate(request.shape, np.dtype(name), request.device)
    pairs = out.reshape(-1).view(COMPLEX_PARTS[name]).reshape(*request.shape, 2)
    return out, pairs


def pair_options(request: Request, seed: int) -> dict:
    """Return the keyword arguments that make a sampling primitive fill the ``pairs`` view
    of this request: its seed and stream, and for a block the block of ``(*full, 2)``."""
    options = {"seed": seed, "stream": request.stream}
    if request.is_block:
        options["full_shape"] = (*request.full_shape, 2)
        options["start"] = (*request.start, 0)
    return options


def box_uniform(request: Request, seed: int, low: float, high: float):
    """Return complex values whose real and imaginary parts are independent U[low, high).

    Matches ``torch.Tensor.uniform_(low, high)`` on a complex tensor (it fills
    ``view_as_real``)."""
    out, pairs = complex_output(request)
    random.uniform(pairs.shape, low, high, out=pairs, **pair_options(request, seed))
    return out


def normal(request: Request, seed: int, mean: float, std: float):
    """Return complex normal values: mean + std·z, z with independent N(0, 1/2) parts.

    E[z] = mean and E|z - mean|² = std².  Matches ``jax.random.normal`` of a
    complex dtype times std (and ``torch.randn``); a real ``mean`` is added to
    the real part only."""
    out, pairs = complex_output(request)
    random.normal(pairs.shape, 0.0, std / math.sqrt(2.0), out=pairs,
                  **pair_options(request, seed))
    if mean:
        with request.on_device():
            pairs[..., 0] += mean
    return out


def disk_uniform(request: Request, seed: int, radius: float):
    """Return complex values uniform on the disk |z| <= radius.

    z = radius·√u·e^{2πiv} with u, v uniform in [0, 1): P(|z| <= ρ) = (ρ/radius)²
    and E|z|² = radius²/2.  JAX's ``_complex_uniform`` is this law with
    radius √2 (E|z|² = 1); ``variance_scaling`` multiplies it by √variance."""
    return _polar(request, seed, lambda u, xp: xp.sqrt(u, out=u), radius)


def truncated_normal(request: Request, seed: int, mean: float, std: float,
                     upper: float = 2.0):
    """Return mean + std·z, z a complex normal with E|z|² = 1 whose modulus is
    truncated to ``upper`` (|z - mean| <= upper·std).

    |z|² of the untruncated law is Exp(1), so |z| = √(-log(1 - t)) with
    t = (1 - e^{-upper²})·u, and the angle is 2πv.  E|z|² after truncation is
    1 - upper²·e^{-upper²}/(1 - e^{-upper²}) (0.92537 for upper = 2).  Matches JAX's
    ``_complex_truncated_normal(key, upper, shape, dtype)``."""
    mass = -math.expm1(-upper * upper)

    def modulus(u, xp):
        u *= -mass
        xp.log1p(u, out=u)
        u *= -1.0
        xp.sqrt(u, out=u)
        return xp.minimum(u, upper, out=u)  # the rounding of the last step stays inside

    out = _polar(request, seed, modulus, std)
    if mean:
        with request.on_device():
            out += mean
    return out


def _polar(request: Request, seed: int, modulus, scale: float):
    """Return scale·r(u)·e^{2πiv} from the uniform pairs (u, v) of this request; ``modulus``
    maps a real array u to r(u) in place (``modulus(u, xp)``)."""
    xp = request.xp
    out, pairs = complex_output(request)
    random.uniform(pairs.shape, 0.0, 1.0, out=pairs, **pair_options(request, seed))
    with request.on_device():
        r = modulus(pairs[..., 0].copy(), xp)
        r *= scale
        theta = pairs[..., 1] * (2.0 * math.pi)
        cosine = xp.cos(theta)
        cosine *= r
        pairs[..., 0] = cosine
        del cosine
        xp.sin(theta, out=theta)
        theta *= r
        pairs[..., 1] = theta
    return out


def unitary_matrix(rows: int, cols: int, gain: float, seed: int, stream: int, dtype,
                   dev, xp):
    """Return gain · a Haar-random complex matrix with orthonormal columns (rows >= cols)
    or rows: Q·diag(r_jj/|r_jj|) of the QR of a complex Gaussian matrix (Mezzadri 2007).

    The Gaussian G (min × max, then A = Gᵀ is factored) comes from :func:`normal`
    with (seed, stream); the QR is ``xp.linalg.qr`` (LAPACK / cuSOLVER).  Matches
    ``jax.nn.initializers.orthogonal`` of a complex dtype (``jnp.sign`` of a
    complex pivot is its phase) and ``keras.initializers.Orthogonal``'s layout."""
    name = dtype_name(dtype)
    m, n = max(rows, cols), min(rows, cols)
    if n == 0:
        return allocate((rows, cols), np.dtype(name), dev)
    request = Request((n, m), (n, m), (0, 0), name, dev, stream)
    gaussian = normal(request, seed, 0.0, 1.0)
    with request.on_device():
        q, r = xp.linalg.qr(gaussian.T)
        pivots = xp.diagonal(r)
        size = xp.abs(pivots)
        phase = xp.where(size > 0, pivots / xp.where(size > 0, size, 1), 1)
        q = q * (phase * gain)[None, :]
        result = q if rows >= cols else q.T
        return xp.ascontiguousarray(result, dtype=np.dtype(name))
