"""Random initializers: uniform, normal, truncated normal and the variance-scaling family.

Each computes its law's parameters from the shape (the fans of the *whole*
tensor for a block) and calls :mod:`gpuinit.random`; the values are made on the
device by the fill kernels.  GlorotUniform ... LecunNormal are presets of
:class:`VarianceScaling`, as in Keras and JAX.  complex64 and complex128 follow
JAX's complex laws (:mod:`gpuinit.initializers.complex_laws`).
"""

from __future__ import annotations

import math
import sys

from .. import laws, random
from ..arguments import check_bound, check_nonnegative, check_real
from ..dtypes import FORMATS, FloatFormat, dtype_name, float_format
from ..fans import axes_fans, check_axes_spec, jax_fans, keras_fans
from ..seeding import initializer_seed
from . import complex_laws
from .base import RandomInitializer, Request
from .complex_laws import complex_parts

# Standard deviation of the standard normal truncated to [-2, 2]; Keras divides by it.
TRUNCATED_STDDEV_2SIGMA = 0.87962566103423978
# The constant JAX divides by for complex truncated normals (|z| < 2, E|z|² = 1 before
# truncation); JAX calls it the standard deviation of that law, which is in fact
# √0.92537 = 0.96196, so JAX's complex truncated normal has variance 1.0187·scale/n.
COMPLEX_TRUNCATED_STDDEV_2 = 0.95311164380491208


def _part_format(request: Request) -> FloatFormat:
    """Return the float format the values are made in: the dtype's, or for complex64/
    complex128 the format of their real and imaginary parts (float32/float64)."""
    part = complex_parts(request.dtype)
    return FORMATS[part] if part else float_format(request.dtype)


def _z_max(form: FloatFormat) -> float:
    """Return the largest |z| the normal sampler returns in ``form`` (Box-Muller's bound)."""
    return random.Z_MAX_WIDE if form.wide else random.Z_MAX_NARROW


def _check_reach(reach: float, form: FloatFormat, request: Request, what: str) -> None:
    """Raise ValueError naming ``what`` (the arguments, "mean=..., stddev=...") and the dtype
    when values as large as ``reach`` do not fit ``form``; checked before any sampling,
    so a refused call draws no seed and writes nothing."""
    if not reach <= form.max:
        raise ValueError(f"{what}: the values reach {reach:g}, beyond the largest {form.name} "
                         f"value {form.max:g} of dtype={dtype_name(request.dtype or 'float32')}")


def _sample_options(init: RandomInitializer, request: Request) -> dict:
    """Return the keyword arguments of the one sampling call a real law makes.  An
    unseeded call passes seed=None, and :func:`_sample` draws its seed only once the
    primitive's checks pass."""
    if init.seed_generator is not None:  # Keras draws from its generator on every call
        seed = init.call_seed(request)
    else:
        seed = init.seed if init.seed is not None else request.seed
    return {
        "seed": seed,
        "stream": request.stream,
        "dtype": request.dtype,
        "device": request.device,
        **request.block_arguments(),
    }


def _sample(init: RandomInitializer, request: Request, law: laws.Law, what: str):
    """Return the array of ``request`` drawn from ``law``, a real law: the sampling call is
    prepared (every check, the range of the values against the dtype's included), then
    made.  A range error names ``what`` (the initializer's arguments) and the dtype."""
    try:
        launch = law.launch(request.shape, **_sample_options(init, request))
    except random.OutOfRange as exc:
        raise random.OutOfRange(f"{what}: {exc} (dtype="
                                f"{dtype_name(request.dtype or 'float32')})") from None
    # An unseeded call draws its seed now that every check has passed, by the
    # initializers' rule (:func:`gpuinit.seeding.initializer_seed`).
    return launch.run(None if launch.seed is not None else initializer_seed())


class RandomUniform(RandomInitializer):
    """Return values uniform in [minval, maxval).  Matches ``keras.initializers.RandomUniform``.

    complex64/complex128: real and imaginary parts independent U[minval, maxval),
    as ``torch.Tensor.uniform_`` makes them (Keras and JAX have no complex uniform).

    >>> import gpuinit as gi
    >>> w = gi.initializers.RandomUniform(-1.0, 1.0, seed=0)((2, 3), device="cpu")
    >>> bool((w >= -1).all() and (w < 1).all())
    True
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval = check_real(minval, "minval")
        self.maxval = check_real(maxval, "maxval")
        if self.minval > self.maxval:
            raise ValueError(f"minval={minval} must be <= maxval={maxval}")
        super().__init__(seed)

    def generate(self, request: Request):
        what = f"minval={self.minval}, maxval={self.maxval}"
        if complex_parts(request.dtype):
            _check_reach(max(abs(self.minval), abs(self.maxval)), _part_format(request),
                         request, what)
            return complex_laws.box_uniform(request, self.call_seed(request), self.minval,
                                            self.maxval)
        return _sample(self, request, self.law(request.full_shape), what)

    def law(self, shape, fans=None) -> laws.Uniform:
        """Return U[minval, maxval) (the same for every shape)."""
        return laws.Uniform(self.minval, self.maxval)

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(RandomInitializer):
    """Return values from N(mean, stddev²).  Matches ``keras.initializers.RandomNormal``.

    complex64/complex128: mean + stddev·z with z a standard complex normal (parts
    N(0, 1/2), E|z|² = 1), as ``jax.nn.initializers.normal(stddev)`` makes it.

    >>> import gpuinit as gi
    >>> gi.initializers.RandomNormal(stddev=0.02, seed=0)((4, 4), device="cpu").dtype
    dtype('float32')
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = check_real(mean, "mean")
        self.stddev = check_nonnegative(stddev, "stddev")
        super().__init__(seed)

    def generate(self, request: Request):
        what = f"mean={self.mean}, stddev={self.stddev}"
        if complex_parts(request.dtype):
            form = _part_format(request)
            # Each complex part is N(0, stddev²/2); the mean shifts the real part.
            _check_reach(abs(self.mean) + self.stddev / math.sqrt(2.0) * _z_max(form), form,
                         request, what)
            return complex_laws.normal(request, self.call_seed(request), self.mean, self.stddev)
        return _sample(self, request, self.law(request.full_shape), what)

    def law(self, shape, fans=None) -> laws.Normal:
        """Return N(mean, stddev²) (the same for every shape)."""
        return laws.Normal(self.mean, self.stddev)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomInitializer):
    """Return N(mean, stddev²) values redrawn until within [lower, upper] stddev of the
    mean (default ±2).

    Matches ``keras.initializers.TruncatedNormal`` (bounds ±2σ; the standard
    deviation of the result is 0.88·stddev) and, with ``lower``/``upper`` in units of
    stddev and mean 0, ``jax.nn.initializers.truncated_normal(stddev, lower=, upper=)``
    (either bound may be infinite).  ``get_config`` holds ``lower``/``upper`` only when
    they differ from ±2, so Keras reads the configs it knows.

    complex64/complex128: the complex normal of :class:`RandomNormal` with its
    modulus truncated, |z - mean| <= 2·stddev (JAX's ``_complex_truncated_normal``
    scaled by stddev; JAX's own ``truncated_normal`` refuses complex dtypes).
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None,
                 lower: float = -2.0, upper: float = 2.0):
        self.mean = check_real(mean, "mean")
        self.stddev = check_nonnegative(stddev, "stddev")
        self.lower, self.upper = check_bound(lower, "lower"), check_bound(upper, "upper")
        if self.lower >= self.upper:
            raise ValueError(f"lower={self.lower} must be < upper={self.upper}")
        random.check_truncation(self.lower, self.upper)
        super().__init__(seed)

    @property
    def _default_bounds(self) -> bool:
        return (self.lower, self.upper) == (-2.0, 2.0)

    def generate(self, request: Request):
        if complex_parts(request.dtype):
            if not self._default_bounds:
                raise ValueError(f"lower={self.lower}, upper={self.upper}: complex dtypes "
                                 "truncate the modulus at 2·stddev only")
            # |z - mean| <= 2·stddev.
            _check_reach(abs(self.mean) + 2.0 * self.stddev, _part_format(request), request,
                         f"mean={self.mean}, stddev={self.stddev}")
            return complex_laws.truncated_normal(request, self.call_seed(request), self.mean,
                                                 self.stddev, 2.0)
        return _sample(self, request, self.law(request.full_shape),
                       f"mean={self.mean}, stddev={self.stddev}, [lower, upper] = "
                       f"[{self.lower}, {self.upper}]")

    def law(self, shape, fans=None) -> laws.TruncatedNormal:
        """Return N(mean, stddev²) truncated to [lower, upper] stddev (the same for every
        shape)."""
        return laws.TruncatedNormal(self.mean, self.stddev, self.lower, self.upper)

    def get_config(self) -> dict:
        config = {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}
        if not self._default_bounds:
            config.update(lower=self.lower, upper=self.upper)
        return config


_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
# What distribution="normal" means: tf.keras 2's spelling of the truncated normal (Keras 3
# keeps it), and JAX's untruncated normal.
_NORMAL = {"keras": "truncated_normal", "jax": "untruncated_normal"}


def check_scale(scale) -> float:
    """Return ``scale`` as a positive finite float; Keras' ValueError (TypeError for a
    non-number)."""
    value = check_real(scale, "scale")
    if value <= 0.0:
        raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
    return value


def check_mode(mode) -> str:
    """Return ``mode`` when it is one of fan_in, fan_out, fan_avg (Keras and JAX) or
    fan_geo_avg (JAX); ValueError in Keras' words otherwise."""
    if not isinstance(mode, str) or mode not in _MODES:
        raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {_MODES}")
    return mode


def check_distribution(distribution, fan_rule: str) -> str:
    """Return the canonical name of ``distribution`` (case ignored; "normal" is
    truncated under Keras' rules, untruncated under JAX's); TypeError for a non-string,
    ValueError in Keras' words for an unknown name."""
    if not isinstance(distribution, str):
        raise TypeError(f"distribution must be a string, got {type(distribution).__name__}")
    name = distribution.lower()
    name = _NORMAL[fan_rule] if name == "normal" else name
    if name not in _DISTRIBUTIONS:
        raise ValueError(f"Invalid `distribution` argument: {distribution}. "
                         f"Please use one of {_DISTRIBUTIONS + ('normal',)}")
    return name


class VarianceScaling(RandomInitializer):
    """Return values whose variance is ``scale / n``, n the fan picked by ``mode``.

    * ``distribution="truncated_normal"``: N(0, σ²) truncated to ±2σ with
      σ = √(scale/n) / 0.87962566103423978 (so the truncated law has variance scale/n);
    * ``"untruncated_normal"``: N(0, scale/n);
    * ``"normal"``: Keras' rules read it as ``"truncated_normal"`` (tf.keras 2's
      spelling, kept by Keras 3), JAX's rules as ``"untruncated_normal"`` (JAX's name);
    * ``"uniform"``: U[-limit, limit) with limit = √(3·scale/n).

    n is fan_in, fan_out, (fan_in + fan_out)/2 (``"fan_avg"``) or √(fan_in·fan_out)
    (``"fan_geo_avg"``, JAX's), at least 1 (Keras clamps; JAX divides by the fan,
    which differs only for empty tensors).  The fans follow one of two rules,
    chosen by the spelling of the axis arguments:

    * Keras' (``input_axes``/``output_axes``, or neither): without axes the Keras
      layout (:func:`gpuinit.fans.keras_fans`: rank 1 gives (n, n)); with both, the
      products of exactly those dimensions (empty lists give 1;
      :func:`gpuinit.fans.axes_fans`).  Matches ``keras.initializers.VarianceScaling``.
    * JAX's (any of the keyword-only ``in_axis``, ``out_axis``, ``batch_axis``;
      defaults -2, -1, ()): every other axis is receptive field, and shapes of
      rank < 2 are refused (:func:`gpuinit.fans.jax_fans`).  Matches
      ``jax.nn.initializers.variance_scaling(scale, mode, distribution, in_axis,
      out_axis, batch_axis)``; pass ``batch_axis=()`` to ask for JAX's rules (and
      its "normal") with the default axes.

    Mixing the two spellings raises ValueError.  Giving only one of
    ``input_axes``/``output_axes`` raises ValueError too (Keras silently ignores
    a lone one).  ``get_config`` holds the JAX arguments only when given, so
    Keras configs keep Keras' keys.

    complex64/complex128 follow JAX: ``"truncated_normal"`` is the complex normal
    truncated to |z| < 2σ, σ = √(scale/n) / 0.95311164380491208 (JAX's constant);
    ``"untruncated_normal"`` the complex normal with E|z|² = scale/n; ``"uniform"``
    uniform on the disk |z| <= √(2·scale/n) (E|z|² = scale/n).

    >>> import gpuinit as gi
    >>> init = gi.initializers.VarianceScaling(2.0, "fan_in", "uniform", seed=0)
    >>> float(abs(init((100, 10), device="cpu")).max()) < (6 / 100) ** 0.5
    True
    >>> jax_style = gi.initializers.VarianceScaling(1.0, "fan_in", "normal", in_axis=1,
    ...                                             out_axis=0)
    >>> jax_style.fans((64, 32, 3, 3)), jax_style.distribution
    ((288, 576), 'untruncated_normal')
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None,
                 input_axes=None, output_axes=None, *, in_axis=None, out_axis=None,
                 batch_axis=None):
        jax_axes = {name: check_axes_spec(axes, name) for name, axes in
                    (("in_axis", in_axis), ("out_axis", out_axis), ("batch_axis", batch_axis))
                    if axes is not None}
        if jax_axes and (input_axes is not None or output_axes is not None):
            raise ValueError(
                "give either Keras' input_axes=/output_axes= or JAX's in_axis=/out_axis=/"
                f"batch_axis=, not both: got input_axes={input_axes}, output_axes="
                f"{output_axes} and {', '.join(f'{k}={v}' for k, v in jax_axes.items())}"
            )
        if (input_axes is None) != (output_axes is None):
            raise ValueError("input_axes= and output_axes= must be given together")
        self.fan_rule = "jax" if jax_axes else "keras"
        self.scale = check_scale(scale)
        self.mode = check_mode(mode)
        self.distribution = check_distribution(distribution, self.fan_rule)
        self.input_axes = None if input_axes is None else _keras_axes(input_axes, "input_axes")
        self.output_axes = (None if output_axes is None
                            else _keras_axes(output_axes, "output_axes"))
        self.jax_axes = jax_axes
        super().__init__(seed)

    def fans(self, shape) -> tuple[int, int]:
        """Return (fan_in, fan_out) of the whole tensor ``shape`` by this initializer's rule."""
        if self.fan_rule == "jax":
            return jax_fans(shape, self.jax_axes.get("in_axis", -2),
                            self.jax_axes.get("out_axis", -1), self.jax_axes.get("batch_axis", ()))
        if self.input_axes is None:
            return keras_fans(shape)
        return axes_fans(shape, self.input_axes, self.output_axes)

    law_uses_fans = True

    def variance(self, shape, fans: tuple[float, float] | None = None) -> float:
        """Return scale / n for the whole tensor ``shape`` (n at least 1, as in Keras),
        the fans by this initializer's rule or ``fans`` when given."""
        fan_in, fan_out = self.fans(shape) if fans is None else _checked_fans(fans)
        # Halves and square roots first: the sum or product of two huge fans overflows.
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": fan_in / 2.0 + fan_out / 2.0,
             "fan_geo_avg": math.sqrt(fan_in) * math.sqrt(fan_out)}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.scale > 0 and variance < sys.float_info.min:
            raise ValueError(
                f"fans ({fan_in:g}, {fan_out:g}) with mode={self.mode!r} and scale={self.scale} "
                f"give variance scale/n = {variance:g}, below the smallest normal float64: "
                "every value would round to zero"
            )
        return variance

    def reach(self, variance: float, form: FloatFormat, is_complex: bool) -> float:
        """Return the largest |value| (|part| for complex dtypes) the law of this
        distribution with ``variance`` = scale/n can make in ``form``."""
        if self.distribution == "uniform":  # the box limit; the complex disk's radius
            return math.sqrt((2.0 if is_complex else 3.0) * variance)
        if self.distribution == "untruncated_normal":  # complex parts are N(0, variance/2)
            return math.sqrt(variance / 2.0 if is_complex else variance) * _z_max(form)
        divisor = COMPLEX_TRUNCATED_STDDEV_2 if is_complex else TRUNCATED_STDDEV_2SIGMA
        return 2.0 * math.sqrt(variance) / divisor

    def generate(self, request: Request):
        """Return the array of ``request``: the fans and scale/n of its whole tensor derived
        once, then its law sampled (JAX's complex laws for complex dtypes)."""
        variance = self.variance(request.full_shape)
        what = (f"scale={self.scale} (variance scale/n = {variance:g}, distribution="
                f"{self.distribution!r})")
        if complex_parts(request.dtype) is not None:
            form = _part_format(request)
            _check_reach(self.reach(variance, form, True), form, request, what)
            return self._complex(request, variance)
        return _sample(self, request, self._law_of(variance), what)

    def law(self, shape, fans=None) -> laws.Law:
        """Return the law of scale/n for ``shape``: U[-√(3·scale/n), √(3·scale/n)),
        N(0, scale/n), or the normal truncated to ±2σ with σ = √(scale/n)/0.8796
        (Keras' constant: the truncated values keep variance scale/n)."""
        return self._law_of(self.variance(shape, fans))

    def _law_of(self, variance: float) -> laws.Law:
        """Return the law of this distribution with ``variance`` = scale/n."""
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return laws.Uniform(-limit, limit)
        if self.distribution == "untruncated_normal":
            return laws.Normal(0.0, math.sqrt(variance))
        return laws.TruncatedNormal(0.0, math.sqrt(variance) / TRUNCATED_STDDEV_2SIGMA)

    def _complex(self, request: Request, variance: float):
        """Return JAX's complex law of this distribution with ``variance`` = scale/n."""
        seed = self.call_seed(request)
        if self.distribution == "uniform":
            return complex_laws.disk_uniform(request, seed, math.sqrt(2.0 * variance))
        if self.distribution == "untruncated_normal":
            return complex_laws.normal(request, seed, 0.0, math.sqrt(variance))
        stddev = math.sqrt(variance) / COMPLEX_TRUNCATED_STDDEV_2
        return complex_laws.truncated_normal(request, seed, 0.0, stddev, 2.0)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed, **self._axes_config()}

    def _axes_config(self) -> dict:
        """Return Keras' input_axes/output_axes (lists or None) and the JAX axes given."""
        config = {"input_axes": _as_list(self.input_axes),
                  "output_axes": _as_list(self.output_axes)}
        config.update({k: _as_list(v) for k, v in self.jax_axes.items()})
        return config


def _checked_fans(fans) -> tuple[float, float]:
    """Return ``fans`` as (fan_in, fan_out), two finite numbers >= 0; TypeError or
    ValueError naming ``fans`` otherwise."""
    if isinstance(fans, (str, bytes)) or not hasattr(fans, "__len__") or len(fans) != 2:
        raise TypeError(f"fans={fans!r} must be a pair (fan_in, fan_out)")
    return (check_nonnegative(fans[0], "fans[0] (fan_in)"),
            check_nonnegative(fans[1], "fans[1] (fan_out)"))


def _keras_axes(axes, name: str) -> tuple[int, ...]:
    """Return Keras' axes (an int or a sequence of ints) as a tuple; TypeError otherwise."""
    spec = check_axes_spec(axes, name)
    return (spec,) if isinstance(spec, int) else spec


def _as_list(axes):
    """Return a tuple of axes as a list (JSON-friendly); ints and None as they are."""
    return list(axes) if isinstance(axes, tuple) else axes


class _Preset(VarianceScaling):
    """A named VarianceScaling whose config is its seed and fan axes (as in Keras)."""

    SCALE = 1.0
    MODE = "fan_in"
    DISTRIBUTION = "truncated_normal"

    def __init__(self, seed: int | None = None, input_axes=None, output_axes=None, *,
                 in_axis=None, out_axis=None, batch_axis=None):
        super().__init__(self.SCALE, self.MODE, self.DISTRIBUTION, seed, input_axes, output_axes,
                         in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis)

    def get_config(self) -> dict:
        return {"seed": self.seed, **self._axes_config()}


class GlorotUniform(_Preset):
    """U[-limit, limit), limit = √(6 / (fan_in + fan_out)).

    Matches ``keras.initializers.GlorotUniform`` and, with ``in_axis``/``out_axis``/
    ``batch_axis``, ``jax.nn.initializers.glorot_uniform``.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_avg", "uniform"


class GlorotNormal(_Preset):
    """Truncated normal with variance 2 / (fan_in + fan_out).

    Matches ``keras.initializers.GlorotNormal`` and, with JAX's axis arguments,
    ``jax.nn.initializers.glorot_normal``.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_avg", "truncated_normal"


class HeUniform(_Preset):
    """U[-limit, limit), limit = √(6 / fan_in).

    Matches ``keras.initializers.HeUniform`` and, with JAX's axis arguments,
    ``jax.nn.initializers.he_uniform``.
    """

    SCALE, MODE, DISTRIBUTION = 2.0, "fan_in", "uniform"


class HeNormal(_Preset):
    """Truncated normal with variance 2 / fan_in.

    Matches ``keras.initializers.HeNormal`` and, with JAX's axis arguments,
    ``jax.nn.initializers.he_normal``.
    """

    SCALE, MODE, DISTRIBUTION = 2.0, "fan_in", "truncated_normal"


class LecunUniform(_Preset):
    """U[-limit, limit), limit = √(3 / fan_in).

    Matches ``keras.initializers.LecunUniform`` and, with JAX's axis arguments,
    ``jax.nn.initializers.lecun_uniform``.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "uniform"


class LecunNormal(_Preset):
    """Truncated normal with variance 1 / fan_in.

    Matches ``keras.initializers.LecunNormal`` and, with JAX's axis arguments,
    ``jax.nn.initializers.lecun_normal``.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "truncated_normal"
