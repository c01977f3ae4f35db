"""Sampling primitives: uniform, normal and truncated normal on any device.

Each function validates its arguments, allocates the output once on its device
(or checks ``out=``), and launches the fill kernel; it never copies through the
host.  Values obey the counter contract (README, "How values are made"): a value depends only on
(seed, stream, flat index in the whole tensor, distribution, parameters, dtype),
so any block generated with ``offset=`` or ``full_shape=``/``start=`` equals the
same block of the whole tensor bit for bit.

Returns NumPy arrays on the CPU and CuPy arrays on CUDA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import dtypes, launch
from .arguments import check_bound, check_int, check_nonnegative, check_real, check_shape
from .block_rows import plan
from .devices import device as resolve_device
from .dtypes import FloatFormat
from .kernels import TRUNC_ATTEMPTS, TRUNC_MIN_ACCEPTANCE
from .kernels.fill import DIST_LAPLACE, DIST_NORMAL, DIST_TRUNCATED_NORMAL, DIST_UNIFORM
from .seeding import SEED_LIMIT, check_seed, manual_seed, next_seed

__all__ = ["uniform", "normal", "truncated_normal", "laplace", "philox4x32", "manual_seed",
           "prepare", "Launch", "OutOfRange", "TRUNC_ATTEMPTS", "TRUNC_MIN_ACCEPTANCE",
           "MIN_INTERVAL_MASS"]

# Largest |z| Box-Muller can return: r = sqrt(-2 ln u) with u >= 2^-24 (2^-53 wide),
# with room for the rounding of the float32 (float64) logarithm and square root.
Z_MAX_NARROW = math.sqrt(2.0 * 24 * math.log(2.0)) * (1.0 + 2.0 ** -20)
Z_MAX_WIDE = math.sqrt(2.0 * 53 * math.log(2.0)) * (1.0 + 2.0 ** -40)
# Largest |z| of the Laplace transform: -ln u with u >= 2^-24 (2^-53 wide), with room for
# the rounding of the logarithm.
LAPLACE_MAX_NARROW = 24 * math.log(2.0) * (1.0 + 2.0 ** -20)
LAPLACE_MAX_WIDE = 53 * math.log(2.0) * (1.0 + 2.0 ** -40)
# The least probability a truncation interval may hold: its inverse CDF draws
# probabilities down to mass·2^-53, which must stay normal float64 numbers (2^-1022).
MIN_INTERVAL_MASS = 2.0 ** -969
# The farthest |z| the inverse CDF returns: Φ⁻¹(2^-1022) = -37.52 (kernels.distributions).
QUANTILE_Z_MAX = 37.6


def _normal_sf(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2.0))


@dataclass(frozen=True)
class Launch:
    """One sampling call, checked and not yet made: what :func:`prepare` returns.

    Every argument has been checked and turned into the kernel's values; nothing has been
    allocated, launched or drawn.  :meth:`run` makes the call.
    """

    dist: int
    form: FloatFormat
    shape: tuple[int, ...]
    layout: Any  # the rows of the block (gpuinit.block_rows.plan)
    law: tuple  # the kernel's law arguments
    clamp: tuple  # the kernel's clamp arguments
    seed: int | None
    stream: int
    device: Any
    out: Any

    def run(self, seed: int | None = None):
        """Make the call and return its array (``out`` when given).

        ``seed`` (checked by the caller) overrides the prepared one; with neither, the
        next seed of :func:`gpuinit.manual_seed`'s sequence is drawn, here and only here.
        """
        seed = self.seed if seed is None else seed
        seed = next_seed() if seed is None else seed
        form, layout = self.form, self.layout
        target = self.out if self.out is not None else launch.allocate(
            self.shape, form.numpy_dtype, self.device)
        bpr = layout.blocks_per_row(2 if form.wide else 4)
        # The kernels' arguments: (dist, fmt) and the tuples key, rows, law, clamp.
        args = (
            self.dist, form.fmt,
            (seed & 0xFFFFFFFF, seed >> 32, self.stream & 0xFFFFFFFF, self.stream >> 32),
            (bpr, layout.row_len, layout.base, layout.lead_shape, layout.lead_stride),
            self.law, self.clamp,
        )
        launch.fill(target, form, self.device, layout.n_rows * bpr, args,
                    n_values=layout.n_rows * layout.row_len)
        return target


def _prepare(dist: int, shape, params: tuple, clamp: tuple, *, seed, stream, offset,
             full_shape, start, device, out, form: FloatFormat) -> Launch:
    """Check the layout, seed, stream, device and ``out`` of a call; return its
    :class:`Launch`.  The shared tail of the samplers.

    ``shape`` is read once (it may be a generator); the kernel will be launched only on
    an output of exactly the size the layout writes.
    """
    shape = check_shape(shape)
    layout = plan(shape, offset, full_shape, start)
    if seed is not None:
        seed = check_seed(seed)
    stream = check_int(stream, "stream", 0, SEED_LIMIT)
    dev = None if device is None else resolve_device(device)
    if out is not None:
        dev = launch.check_out(out, shape, form, dev)
    elif dev is None:
        dev = resolve_device()
    return Launch(dist, form, shape, layout, _kernel_law(params, form),
                  _kernel_clamp(clamp, form), seed, stream, dev, out)


def _kernel_law(params: tuple, form: FloatFormat) -> tuple:
    """Return the law's kernel arguments for ``form``.

    The 24-bit formats compute in float32 (FP64 is slow on GPUs): a and b (low and span,
    or mean and std) are rounded to float32 here, once, and the truncation bounds
    (in units of std) rounded inward to float32, which accepts exactly the float32
    deviates that lie inside the float64 bounds.
    """
    a, b, lower, upper, *rest = params
    if form.wide:
        return (float(a), float(b), float(lower), float(upper), *rest)
    return (np.float32(a), np.float32(b),
            np.float32(dtypes.representable_at_least(lower, dtypes.FLOAT32)),
            np.float32(dtypes.representable_below(upper, dtypes.FLOAT32, inclusive=True)),
            *rest)


def _kernel_clamp(clamp: tuple, form: FloatFormat) -> tuple:
    """Return the kernel clamp arguments of the bounds ``clamp`` (both representable
    in ``form``): float32 numbers for the 24-bit formats, float64 for float64."""
    lo, hi = clamp
    if form.wide:
        return float(lo), float(hi)
    return np.float32(lo), np.float32(hi)


def _format(dtype: Any, out: Any) -> FloatFormat:
    if dtype is None and out is not None:
        return dtypes.float_format(getattr(out, "dtype", None), "out.dtype")
    return dtypes.float_format(dtype)


def _check_resolvable(value: float, argument: str, form: FloatFormat) -> None:
    """Raise ValueError naming ``argument`` when a positive scale (a std, or high - low)
    is below the smallest normal number the kernel computes in (float32 for the 24-bit
    formats, float64 otherwise): the values would be zeros and subnormals, not the law."""
    tiny = 2.0 ** -1022 if form.wide else 2.0 ** -126
    if 0.0 < value < tiny:
        computed = "float64" if form.wide else "float32"
        raise ValueError(f"{argument}={value:g} is below the smallest normal {computed} "
                         f"({tiny:g}), in which {form.name} values are computed: they would "
                         "round to zero")


class OutOfRange(ValueError):
    """The values a law reaches do not fit the dtype asked for (a ValueError)."""


def _range_check(values: tuple[float, ...], form: FloatFormat, what: str) -> None:
    """Raise :class:`OutOfRange` naming ``what`` when a value reaches past ``form``."""
    if max(abs(v) for v in values) > form.max:
        raise OutOfRange(f"{what} exceeds the largest {form.name} value {form.max:g}")


def _prepare_uniform(shape, low: float = 0.0, high: float = 1.0, *, seed: int | None = None,
                     stream: int = 0, offset: int = 0, full_shape=None, start=None, dtype=None,
                     device: Any = None, out=None) -> Launch:
    """Check a :func:`uniform` call and return its :class:`Launch`."""
    form = _format(dtype, out)
    low, high = check_real(low, "low"), check_real(high, "high")
    if low > high:
        raise ValueError(f"low={low} must be <= high={high}")
    _range_check((low, high), form, f"low/high ({low}, {high})")
    span = high - low
    _check_resolvable(span, "high - low", form)
    if not math.isfinite(span):
        raise ValueError(f"high - low = {high} - {low} overflows float64")
    if not form.wide:
        # The 24-bit formats compute low + span·u in float32.
        if span > dtypes.FLOAT32.max:
            raise ValueError(f"high - low = {span:g} overflows float32")
        span = float(np.float32(span))
    lo = dtypes.representable_at_least(low, form)
    hi = lo if low == high else dtypes.representable_below(high, form, inclusive=False)
    if hi < lo:
        raise ValueError(f"no {form.name} value lies in [low, high) = [{low}, {high})")
    params = (low, span, 0.0, 0.0, False, 0.0, 0.0, 0.0)
    return _prepare(DIST_UNIFORM, shape, params, (lo, hi), seed=seed, stream=stream,
                    offset=offset, full_shape=full_shape, start=start, device=device,
                    out=out, form=form)


def uniform(shape, low: float = 0.0, high: float = 1.0, *, seed: int | None = None,
            stream: int = 0, offset: int = 0, full_shape=None, start=None, dtype=None,
            device: Any = None, out=None):
    """Return an array of ``shape`` with values uniform in [low, high).

    Values never equal ``high`` in any dtype (outputs are clamped to the
    representable numbers inside [low, high)); ``low == high`` gives ``low``.
    Matches ``numpy.random.Generator.uniform`` / ``torch.Tensor.uniform_`` in law.

    >>> import gpuinit as gi
    >>> gi.random.uniform((2, 3), -1.0, 1.0, seed=0, device="cpu").shape
    (2, 3)
    """
    return _prepare_uniform(shape, low, high, seed=seed, stream=stream, offset=offset,
                            full_shape=full_shape, start=start, dtype=dtype, device=device,
                            out=out).run()


def _prepare_normal(shape, mean: float = 0.0, std: float = 1.0, *, seed: int | None = None,
                    stream: int = 0, offset: int = 0, full_shape=None, start=None, dtype=None,
                    device: Any = None, out=None) -> Launch:
    """Check a :func:`normal` call and return its :class:`Launch`."""
    form = _format(dtype, out)
    mean, std = check_real(mean, "mean"), check_nonnegative(std, "std")
    _check_resolvable(std, "std", form)
    z_max = Z_MAX_WIDE if form.wide else Z_MAX_NARROW
    _range_check((abs(mean) + std * z_max,), form, f"mean ± {z_max:.2f}·std")
    params = (mean, std, 0.0, 0.0, False, 0.0, 0.0, 0.0)
    return _prepare(DIST_NORMAL, shape, params, (-form.max, form.max), seed=seed, stream=stream,
                    offset=offset, full_shape=full_shape, start=start, device=device,
                    out=out, form=form)


def normal(shape, mean: float = 0.0, std: float = 1.0, *, seed: int | None = None,
           stream: int = 0, offset: int = 0, full_shape=None, start=None, dtype=None,
           device: Any = None, out=None):
    """Return an array of ``shape`` with values from N(mean, std²) (Box-Muller).

    Matches ``numpy.random.Generator.normal`` / ``torch.Tensor.normal_`` in law.

    >>> import gpuinit as gi
    >>> gi.random.normal(4, mean=1.0, std=0.0, seed=0, device="cpu").tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    return _prepare_normal(shape, mean, std, seed=seed, stream=stream, offset=offset,
                           full_shape=full_shape, start=start, dtype=dtype, device=device,
                           out=out).run()


def _prepare_truncated_normal(shape, mean: float = 0.0, std: float = 1.0,
                              lower: float = -2.0, upper: float = 2.0, *,
                              seed: int | None = None, stream: int = 0, offset: int = 0,
                              full_shape=None, start=None, dtype=None, device: Any = None,
                              out=None) -> Launch:
    """Check a :func:`truncated_normal` call and return its :class:`Launch`."""
    form = _format(dtype, out)
    mean = check_real(mean, "mean")
    std = check_nonnegative(std, "std")
    _check_resolvable(std, "std", form)
    lower, upper = check_bound(lower, "lower"), check_bound(upper, "upper")
    if lower >= upper:
        raise ValueError(f"lower={lower} must be < upper={upper}")
    p_lower, q_upper, mass = check_truncation(lower, upper)
    reject = mass >= TRUNC_MIN_ACCEPTANCE
    # The values the sampler can reach: the bounds, or for an infinite bound the
    # farthest value its method returns.
    reach = (Z_MAX_WIDE if form.wide else Z_MAX_NARROW) if reject else QUANTILE_Z_MAX
    lo_value = mean + max(lower, -reach) * std
    hi_value = mean + min(upper, reach) * std
    _range_check((lo_value, hi_value, mean), form, "mean + [lower, upper]·std")
    if std == 0:
        lo = hi = dtypes.round_to(mean, form)
    else:
        # Outputs are clamped to the bounds themselves (within the dtype's range), not to
        # the reach: the inverse CDF that follows rejected attempts goes past it.
        lo = dtypes.representable_at_least(max(mean + lower * std, -form.max), form)
        hi = dtypes.representable_below(min(mean + upper * std, form.max), form,
                                        inclusive=True)
        if hi < lo:
            raise ValueError(
                f"no {form.name} value lies in [{lo_value}, {hi_value}]; widen [lower, upper]"
            )
    params = (mean, std, lower, upper, reject, p_lower, q_upper, mass)
    dist = DIST_TRUNCATED_NORMAL
    if reject and _holds_every_deviate(_kernel_law(params, form), form):
        # No deviate can be rejected: every element keeps its attempt-0 value, the normal
        # deviate of its block, so the normal kernel with these bounds as its clamp gives
        # the same bits without the rejection bookkeeping (torch's trunc_normal_(std=0.02)
        # with its default a=-2, b=2 is this case: ±100σ; 1.2-1.3x on the CPU).
        dist, params = DIST_NORMAL, (mean, std, 0.0, 0.0, False, 0.0, 0.0, 0.0)
    return _prepare(dist, shape, params, (lo, hi), seed=seed, stream=stream, offset=offset,
                    full_shape=full_shape, start=start, device=device, out=out, form=form)


def _holds_every_deviate(kernel_law: tuple, form: FloatFormat) -> bool:
    """Return whether the truncation bounds the kernel compares with (``kernel_law``'s
    lower and upper, in units of std) hold every deviate Box-Muller returns in ``form``:
    then no attempt after the first is ever drawn."""
    z_max = Z_MAX_WIDE if form.wide else Z_MAX_NARROW
    return kernel_law[2] <= -z_max and kernel_law[3] >= z_max


def truncated_normal(shape, mean: float = 0.0, std: float = 1.0, lower: float = -2.0,
                     upper: float = 2.0, *, seed: int | None = None, stream: int = 0,
                     offset: int = 0, full_shape=None, start=None, dtype=None,
                     device: Any = None, out=None):
    """Return an array of ``shape`` from N(mean, std²) truncated to
    [mean + lower·std, mean + upper·std].

    ``lower``/``upper`` are in units of std, like Keras (default ±2σ); either may
    be infinite (``-inf``/``inf``: a half-truncated or an untruncated normal).
    Sampling is exact for any interval whose probability is at least
    :data:`MIN_INTERVAL_MASS` (2^-969: every interval short of the far tails past
    about 36.4σ); smaller ones raise ValueError, since their inverse CDF would
    need subnormal float64 probabilities.  Rejection for ``TRUNC_ATTEMPTS``
    attempts, then the inverse CDF; intervals with acceptance below
    ``TRUNC_MIN_ACCEPTANCE`` (far tails, narrow slices) use the inverse CDF
    directly.  Matches ``scipy.stats.truncnorm(lower, upper, mean, std)`` and, for
    ±2σ, ``keras.random.truncated_normal``.

    >>> import gpuinit as gi
    >>> x = gi.random.truncated_normal(1000, lower=3.0, upper=6.0, seed=0, device="cpu")
    >>> bool((x >= 3).all() and (x <= 6).all())
    True
    """
    return _prepare_truncated_normal(shape, mean, std, lower, upper, seed=seed, stream=stream,
                                     offset=offset, full_shape=full_shape, start=start,
                                     dtype=dtype, device=device, out=out).run()


def _prepare_laplace(shape, loc: float = 0.0, scale: float = 1.0, *, seed: int | None = None,
                     stream: int = 0, offset: int = 0, full_shape=None, start=None, dtype=None,
                     device: Any = None, out=None) -> Launch:
    """Check a :func:`laplace` call and return its :class:`Launch`."""
    form = _format(dtype, out)
    loc, scale = check_real(loc, "loc"), check_nonnegative(scale, "scale")
    _check_resolvable(scale, "scale", form)
    z_max = LAPLACE_MAX_WIDE if form.wide else LAPLACE_MAX_NARROW
    _range_check((abs(loc) + scale * z_max,), form, f"loc ± {z_max:.2f}·scale")
    params = (loc, scale, 0.0, 0.0, False, 0.0, 0.0, 0.0)
    return _prepare(DIST_LAPLACE, shape, params, (-form.max, form.max), seed=seed,
                    stream=stream, offset=offset, full_shape=full_shape, start=start,
                    device=device, out=out, form=form)


def laplace(shape, loc: float = 0.0, scale: float = 1.0, *, seed: int | None = None,
            stream: int = 0, offset: int = 0, full_shape=None, start=None, dtype=None,
            device: Any = None, out=None):
    """Return an array of ``shape`` from the Laplace law of location ``loc`` and scale
    ``scale`` (density exp(-|x - loc|/scale) / (2·scale)).

    Each value is loc ± scale·(-ln u): u in (0, 1] from the top 24 bits of one Philox
    word (53 bits of two for float64), the sign from a bit the uniform does not use.
    Matches ``numpy.random.Generator.laplace`` and ``jax.random.laplace`` in law.

    >>> import gpuinit as gi
    >>> gi.random.laplace(3, loc=2.0, scale=0.0, seed=0, device="cpu").tolist()
    [2.0, 2.0, 2.0]
    """
    return _prepare_laplace(shape, loc, scale, seed=seed, stream=stream, offset=offset,
                            full_shape=full_shape, start=start, dtype=dtype, device=device,
                            out=out).run()


_PREPARERS = {uniform: _prepare_uniform, normal: _prepare_normal,
              truncated_normal: _prepare_truncated_normal, laplace: _prepare_laplace}


def prepare(sampler, shape, *args, **options) -> Launch:
    """Check the call ``sampler(shape, *args, **options)`` of :func:`uniform`,
    :func:`normal` or :func:`truncated_normal` and return its :class:`Launch`, without
    allocating, launching or drawing a seed: every error the call would raise is raised
    here, and ``prepare(sampler, ...).run()`` returns what the call returns.  TypeError
    naming ``sampler`` for any other function."""
    preparer = _PREPARERS.get(sampler)
    if preparer is None:
        raise TypeError(f"sampler must be gpuinit.random.uniform, normal or truncated_normal, "
                        f"got {sampler!r}")
    return preparer(shape, *args, **options)


def interval_probabilities(lower: float, upper: float) -> tuple[float, float, float]:
    """Return (Φ(lower), 1 - Φ(upper), Φ(upper) - Φ(lower)) for the standard normal,
    each computed from the tail it lies in, so that none cancels; the mass of a
    narrow interval is the integral of the density (8-point Gauss-Legendre)."""
    p_lower = 1.0 - _normal_sf(lower) if lower > 0 else _normal_sf(-lower)
    q_upper = _normal_sf(upper)
    if (upper - lower) * (1.0 + max(abs(lower), abs(upper))) <= 0.25:
        mass = _narrow_mass(lower, upper)
    elif lower >= 0:
        mass = _normal_sf(lower) - q_upper
    elif upper <= 0:
        mass = _normal_sf(-upper) - p_lower
    else:
        mass = 1.0 - p_lower - q_upper
    return p_lower, q_upper, mass


# Gauss-Legendre nodes and weights of 8 points on [-1, 1].
_GL_NODES, _GL_WEIGHTS = (tuple(float(v) for v in a) for a in np.polynomial.legendre.leggauss(8))


def _narrow_mass(lower: float, upper: float) -> float:
    """Return Φ(upper) - Φ(lower) for a narrow interval: on it the density varies by
    less than a factor e^0.25, where 8 Gauss-Legendre points are exact to rounding."""
    half, middle = 0.5 * (upper - lower), 0.5 * (upper + lower)
    total = sum(w * math.exp(-0.5 * (middle + half * x) ** 2)
                for x, w in zip(_GL_NODES, _GL_WEIGHTS, strict=True))
    return half * total / math.sqrt(2.0 * math.pi)


def check_truncation(lower: float, upper: float, described: str | None = None
                     ) -> tuple[float, float, float]:
    """Return :func:`interval_probabilities` of the standard-normal interval [lower, upper]
    once it is known to be sampled exactly; ValueError otherwise, its message starting
    with ``described`` (default: the interval in units of std).

    Refused: intervals holding less than :data:`MIN_INTERVAL_MASS` of the law, and
    intervals so narrow where they lie that the inverse CDF's p = Φ(lower) + u·mass
    (or the same from the upper tail) cannot resolve them: its float64 spacing must
    stay below 2^-30 of the interval's probability.
    """
    described = described or f"[lower, upper] = [{lower}, {upper}]"
    p_lower, q_upper, mass = interval_probabilities(lower, upper)
    if mass < MIN_INTERVAL_MASS:
        raise ValueError(
            f"{described} holds probability {mass:.3g} of the normal law, below the "
            "2**-969 that float64 can sample exactly; move the interval toward the mean"
        )
    spacing = 2.0 ** -52 * min(0.5, min(p_lower, q_upper) + mass)
    if spacing > 2.0 ** -30 * mass:
        raise ValueError(
            f"{described} is too narrow where it lies: its probability {mass:.3g} is below "
            "2**-30 of the probabilities around it, which float64 cannot resolve; widen it "
            "(across so narrow an interval the law's density varies by less than about "
            "2**-22 of its value: a uniform law on it is nearly the same)"
        )
    return p_lower, q_upper, mass


def philox4x32(counter, key) -> np.ndarray:
    """Return Philox4x32-10 of ``counter`` (4 words) under ``key`` (2 words).

    Accepts array-likes of shape (..., 4) and (..., 2) (broadcast together) and
    returns uint32 words of shape (..., 4).  Checked against the Random123
    known-answer vectors.

    >>> import gpuinit as gi
    >>> [hex(w) for w in gi.random.philox4x32([0, 0, 0, 0], [0, 0])]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    counters = _words(counter, 4, "counter")
    keys = _words(key, 2, "key")
    batch = np.broadcast_shapes(counters.shape[:-1], keys.shape[:-1])
    counters = np.broadcast_to(counters, batch + (4,)).reshape(-1, 4)
    keys = np.broadcast_to(keys, batch + (2,)).reshape(-1, 2)
    from .kernels.arrays import LIB  # the scalar source over arrays: nothing to compile

    words = LIB.philox4x32_10(*counters.T, *keys.T)
    result = np.stack([np.broadcast_to(w, counters.shape[:1]) for w in words], axis=-1)
    return result.astype(np.uint32).reshape(batch + (4,))


def _words(value, count: int, argument: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "iu" or array.ndim == 0 or array.shape[-1] != count:
        raise ValueError(f"{argument} must be integers with last dimension {count}")
    if array.size and (array.min() < 0 or array.max() > 0xFFFFFFFF):
        raise ValueError(f"{argument} words must lie in [0, 2**32)")
    return array.astype(np.uint32)
