"""``gpuinit.torch.verify``: are a model's values what a scheme's laws would make?

:func:`verify_model` reads a model that is already initialized (by gpuinit or by anyone,
on any device; a DTensor by this rank's local shard, with no communication, its row
noting how many of the whole tensor's values it read) and checks each tensor against
the law that :func:`gpuinit.torch.describe` shows for it, writing nothing:

- every tensor: no NaN or infinite values;
- a constant law (norm gains, biases), a computed buffer and the deterministic fills
  (``eye_``, ``dirac_``, identity): the values the fill makes, exactly (computed
  buffers to a few units in the last place);
- a random law that states its moments up to the fourth (normal, truncated normal,
  uniform, Laplace, orthogonal: :meth:`gpuinit.laws.Law.fourth_moment`), with the row
  edits of its rule (padding rows exactly zero, scaled slices under the scaled law):

  - not all zeros, no subnormal values where the law makes none (uninitialized
    memory; a flagged tensor whose bytes are also those of two fresh
    ``torch.empty_like`` allocations, the second taken while the first is held, is said
    to be never written);
  - every value inside the law's bounds (to a unit in the last place of the dtype);
    for an unbounded law no value further from the mean than n draws reach, by the
    tails the law states (:meth:`gpuinit.laws.Law.tail_reach`: garbage);
  - the sample mean within the law's mean by its standard error σ/√n (plus the bias
    that rounding to the dtype can make), and the sum of squared deviations from the
    sample mean a chi-square draw of n − 1 degrees of freedom: exact for a normal law,
    moment-matched (Satterthwaite) from the law's fourth moment for the others (the
    lower tail never with more than n − 1 degrees, as small samples of any law with a
    density fall near zero as the normal's do), widened by the dtype's rounding error;
    tail probabilities from the regularized incomplete gamma function (Wilson–Hilferty
    past 2·10⁵ degrees of freedom).  Each test refuses at a two-sided false-alarm
    probability of :data:`ALPHA` (10⁻⁹), whatever the tensor's size, so an honest model
    of N tensors is flagged with a probability of about 3·N·10⁻⁹;
  - an orthogonal law on a whole matrix: the sum of squares gain²·min(rows, cols) and,
    when the matrix is small enough (:data:`GRAM_LIMIT`), W·Wᵀ = gain²·I;
  - where the dtype's spacing near the law is over half its std (a law far from zero
    in bfloat16, say) the mean and std are not tested, and the row says so.

Bytes equal to a fresh allocation's are no evidence on their own: fills that compute a
copy and copy it in (gpuinit's CPU fills, Megatron's CPU initialization) leave freed
blocks holding the very values, which fresh allocations hand back (measured: a few
percent of tensors for one allocation, a few per thousand for two held together), so
that comparison only names the cause of a tensor the law already refuses.  A tensor of
stale but plausible values (memory of a freed model initialized by the same law) cannot
be told from a fresh draw by its values; the ``seed`` comparison is the strict test.

With ``seed``, each tensor is also compared bit for bit with gpuinit's own fill of it
for that seed (made in a temporary of its size): a model materialized by gpuinit with
that seed and scheme matches exactly.  A user's own fill callable is not run (it may
draw from torch's global generator); its tensor, and those whose law is only known by
name (``sparse_``, a fill gpuinit cannot read), are checked for NaN and infinities only
and reported as "unchecked".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..fans import torch_fans
from ..init import calculate_gain
from ..initializers import Initializer
from ..laws import (
    Computed,
    Constant,
    Dirac,
    Eye,
    Law,
    Normal,
    Orthogonal,
    Rule,
    TruncatedNormal,
    Uniform,
)
from ..layers.parameter import path_stream
from ..seeding import check_seed
from ..torch.dtensors import is_dtensor, shard_of
from ..torch.mapping import InitFunction, UserFill
from ..torch.plan import named_tensors
from ..torch.shards import fill_shard
from .describe import _cell, _roles_option, plain_law
from .plans import prepare_plan
from .roles import analyze

ALPHA = 1e-9  # two-sided false-alarm probability of each statistical test of a tensor
CHUNK = 1 << 22  # values read at a time (in float64)
GRAM_LIMIT = 1 << 33  # largest min(r, c)² · max(r, c) whose Gram matrix is checked
EXACT_DOF = 200_000  # chi-square tails by the incomplete gamma up to these degrees
COLUMNS = ("tensor", "law", "n", "mean", "std", "law std", "check")
_DETERMINISTIC = {"constant_", "ones_", "zeros_", "eye_", "dirac_"}
_EXACT = (Constant, Computed, Eye, Dirac)  # laws whose values are compared exactly
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


class VerifyReport(list):
    """The rows of :func:`verify_model`, one dict per tensor: ``tensor``, ``shape``,
    ``dtype``, ``role``, ``law`` (text), ``n`` (values read), ``mean``, ``std`` (sample),
    ``law_mean``, ``law_std``, ``status`` ("ok", "flagged" or "unchecked"),
    ``problems`` and ``notes`` (lists of text) and ``exact`` (None, or whether the values
    equal gpuinit's fill with ``seed``).  ``ok`` is True when no row is flagged;
    ``str(report)`` is the aligned table with a summary line."""

    @property
    def ok(self) -> bool:
        """True when no tensor is flagged."""
        return not self.flagged

    @property
    def flagged(self) -> list[dict]:
        """The rows of the tensors whose values the law does not explain."""
        return [row for row in self if row["status"] == "flagged"]

    @property
    def unchecked(self) -> list[dict]:
        """The rows whose law gpuinit cannot test (only NaN/inf were looked for)."""
        return [row for row in self if row["status"] == "unchecked"]

    def __str__(self) -> str:
        cells = [COLUMNS] + [_cells(row) for row in self]
        widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                 for line in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        counts = {s: sum(row["status"] == s for row in self)
                  for s in ("ok", "flagged", "unchecked")}
        verdict = "OK" if self.ok else "FLAGGED"
        lines.append(f"{verdict}: {len(self)} tensors, {counts['ok']} ok, "
                     f"{counts['flagged']} flagged, {counts['unchecked']} unchecked")
        return "\n".join(lines)


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def _cells(row: dict) -> tuple[str, ...]:
    if row["status"] == "flagged":
        check = "FLAGGED: " + "; ".join(row["problems"])
    else:
        check = row["status"] + (f" ({'; '.join(row['notes'])})" if row["notes"] else "")
    return (row["tensor"], _cell("law", row["law"]), str(row["n"]), _number(row["mean"]),
            _number(row["std"]), _number(row["law_std"]), check)


# ----------------------------------------------------------------------------- statistics


def _normal_sf(z: float) -> float:
    """Return P(Z > z) for the standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


# z with P(|Z| > z) = ALPHA for a standard normal Z: the sample mean's test.
Z_MEAN = Normal(0.0, 1.0).tail_reach(ALPHA)


def _gamma_pq(a: float, x: float) -> tuple[float, float]:
    """Return the regularized incomplete gamma functions (P(a, x), Q(a, x)), each from the
    side where it is small (series below a + 1, Lentz's continued fraction above)."""
    if x <= 0:
        return 0.0, 1.0
    front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(1_000_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        p = total * math.exp(front)
        return p, 1.0 - p
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 1_000_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-16:
            break
    q = math.exp(front) * h
    return 1.0 - q, q


def chi2_tails(w: float, k: float) -> tuple[float, float]:
    """Return (P(X <= w), P(X >= w)) for X ~ chi-square with ``k`` degrees of freedom."""
    if k <= EXACT_DOF:
        return _gamma_pq(k / 2.0, w / 2.0)
    z = ((w / k) ** (1.0 / 3.0) - (1.0 - 2.0 / (9.0 * k))) / math.sqrt(2.0 / (9.0 * k))
    return _normal_sf(-z), _normal_sf(z)


@dataclass(frozen=True)
class _Moments:
    """Mean, variance, fourth central moment, bounds and largest density of a law."""

    mean: float
    var: float
    m4: float
    bounds: tuple[float, float] | None
    density: float  # the largest value of the density (inf for a point mass)


def _moments(law: Law, shape: tuple[int, ...]) -> _Moments | None:
    """The moments of a random law over a tensor of ``shape``, as the law states them;
    None for a law that does not state its fourth moment (only NaN/inf are checked)."""
    moments, m4 = law.moments(shape), law.fourth_moment(shape)
    if moments is None or m4 is None:
        return None
    peak = law.peak_density(shape)
    return _Moments(moments[0], moments[1] ** 2, m4, law.bounds,
                    math.inf if peak is None else peak)


# ----------------------------------------------------------------------------- laws


def _function_law(name: str, options: dict, shape: tuple[int, ...]) -> Law | None:
    """Return the law of ``gpuinit.init.<name>(t, **options)`` on a tensor of ``shape``,
    None when it has none gpuinit can test (sparse_, deterministic fills)."""
    get = options.get
    if name == "uniform_":
        return Uniform(float(get("a", 0.0)), float(get("b", 1.0)))
    if name == "normal_":
        return Normal(float(get("mean", 0.0)), float(get("std", 1.0)))
    if name == "trunc_normal_":
        return TruncatedNormal.absolute(float(get("std", 1.0)), float(get("a", -2.0)),
                                        float(get("b", 2.0)), mean=float(get("mean", 0.0)))
    if name == "orthogonal_":
        return Orthogonal(float(get("gain", 1.0)))
    if len(shape) < 2 or 0 in shape:
        return None
    fan_in, fan_out = torch_fans(shape)
    if name in ("xavier_uniform_", "xavier_normal_"):
        std = float(get("gain", 1.0)) * math.sqrt(2.0 / max(1, fan_in + fan_out))
        return Uniform.symmetric(math.sqrt(3.0) * std) if name == "xavier_uniform_" \
            else Normal(std=std)
    if name in ("kaiming_uniform_", "kaiming_normal_"):
        fan = fan_in if get("mode", "fan_in") == "fan_in" else fan_out
        std = calculate_gain(get("nonlinearity", "leaky_relu"), get("a", 0.0)) / math.sqrt(fan)
        return Uniform.symmetric(math.sqrt(3.0) * std) if name == "kaiming_uniform_" \
            else Normal(std=std)
    return None


def _catalogue_law(init: Any, shape: tuple[int, ...]) -> Law | None:
    """Return the law of a catalogue initializer's fill (``"he_normal"`` in a dict
    scheme) on a tensor of ``shape``, as gpuinit.torch draws it."""
    return init.law(shape, torch_fans(shape) if init.law_uses_fans else None)


def _catalogue_init(fill: Any) -> Initializer | None:
    """Return the catalogue initializer a fill of gpuinit.torch draws from (a
    :class:`gpuinit.torch.CatalogueFill` holds it), else None."""
    init = getattr(fill, "init", None)
    return init if isinstance(init, Initializer) else None


def _is_user_fill(fill: Any) -> bool:
    return isinstance(fill, UserFill)


def rule_of(fill: Any, shape: tuple[int, ...]) -> tuple[Rule | None, bool]:
    """Return (the Rule of ``fill`` on a tensor of ``shape`` or None when gpuinit cannot
    read its law, whether the fill is deterministic: it makes the same values for every
    seed, so they are compared exactly)."""
    if isinstance(fill, Rule):
        return fill, isinstance(fill.law, _EXACT)
    if isinstance(fill, Law):
        return Rule(fill), isinstance(fill, _EXACT)
    if _is_user_fill(fill):
        return None, False
    if isinstance(fill, InitFunction):  # a gpuinit.init function by name
        if fill.name in _DETERMINISTIC:
            return None, True
        law = _function_law(fill.name, fill.options, shape)
        return (Rule(law) if law is not None else None), False
    init = _catalogue_init(fill)
    if init is not None and init.has_law:
        law = _catalogue_law(init, shape)
        return (Rule(law) if law is not None else None), False
    law = plain_law(fill, shape)
    if isinstance(law, Rule):
        return law, isinstance(law.law, _EXACT)
    if isinstance(law, Law):
        return Rule(law), isinstance(law, _EXACT)
    return None, False


# ----------------------------------------------------------------------------- reading


def _chunks(view: torch.Tensor) -> Iterator[torch.Tensor]:
    """Yield views of the values of ``view`` in pieces of about :data:`CHUNK` values (1-D
    for a contiguous tensor, slices along dimension 0 otherwise: never a copy)."""
    if view.dim() == 0:
        yield view.reshape(1)
        return
    if view.is_contiguous():
        flat = view.view(-1)
        for i in range(0, flat.numel(), CHUNK):
            yield flat[i:i + CHUNK]
        return
    per = max(1, CHUNK // max(1, view[0].numel()))
    for i in range(0, view.shape[0], per):
        yield view[i:i + per]


@dataclass
class _Sums:
    """What one pass over a segment's values gathers, around the law's mean μ."""

    n: int = 0
    s1: float = 0.0  # Σ(x − μ)
    s2: float = 0.0  # Σ(x − μ)²
    low: float = math.inf  # min(x − μ)
    high: float = -math.inf  # max(x − μ)
    zeros: int = 0
    tiny: int = 0  # |x| below the dtype's smallest normal, zeros included
    nan: int = 0
    inf: int = 0


def _read(values: torch.Tensor, mu: float, tiny: float) -> _Sums:
    """Gather :class:`_Sums` of ``values`` (any shape) in float64, a chunk at a time.  The
    temporaries are float64 copies, changed in place, so none is left holding a copy of
    the tensor's bytes for a later fresh allocation to find."""
    sums = _Sums()
    for chunk in _chunks(values):
        x = chunk.to(torch.float64, copy=True)
        sums.n += x.numel()
        sums.nan += int(torch.isnan(x).sum())
        sums.inf += int(torch.isinf(x).sum())
        sums.zeros += int((x == 0).sum())
        sums.tiny += int(torch.logical_and(x > -tiny, x < tiny).sum())
        if sums.nan or sums.inf:
            x.zero_()
            continue
        x.sub_(mu)
        low, high = torch.aminmax(x)
        sums.low, sums.high = min(sums.low, float(low)), max(sums.high, float(high))
        sums.s1 += float(x.sum())
        x.square_()
        sums.s2 += float(x.sum())
    return sums


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return the elementwise bitwise equality of two tensors of one dtype and shape."""
    if a.dtype == torch.bool or a.element_size() not in _BITS:
        return a == b
    kind = _BITS[a.element_size()]
    return a.view(kind) == b.view(kind)


def _blank(local: torch.Tensor) -> bool:
    """True when ``local`` holds the bytes the allocator hands out for it: those of a fresh
    ``torch.empty_like``, and of a second one taken while the first is held, so that a
    single freed block holding a copy of the values (the temporary of an init that fills
    a copy and copies it in, as Megatron's CPU initialization does) is not mistaken for
    memory never written."""
    first = torch.empty_like(local)
    if not bool(_same_bits(local, first).all()):
        return False
    second = torch.empty_like(local)
    return bool(_same_bits(local, second).all())


@dataclass
class _Target:
    """One tensor to read: its name, the tensor registered (a DTensor or a plain
    tensor), the local values, and where they lie in the whole tensor."""

    name: str
    tensor: Any
    local: torch.Tensor
    start: tuple[int, ...]
    whole_shape: tuple[int, ...]
    sharded: bool


def _expected(target: _Target, fill: Any, seed: int, stream: int) -> torch.Tensor:
    """Return what ``fill`` makes of the target's local values with ``seed`` (a temporary
    of the local tensor's size; for a DTensor, its block of the whole tensor's fill)."""
    if target.sharded:
        made = torch.empty_like(target.tensor.detach())
        fill_shard(target.name, fill, made, seed, stream)
        return made.to_local()
    made = torch.empty_like(target.local)
    fill(made, seed, stream)
    return made


def _segments(rule: Rule, target: _Target) -> tuple[list[int], list[tuple[Any, Law]], bool]:
    """Return (local rows the rule zeroes, [(values, law)], whether the values are copies)
    of the target's local tensor: the values outside the rule's edits under its law, each
    scaled slice under the scaled law (the edits are in whole-tensor coordinates; a shard
    holds part of them)."""
    local = target.local
    rows = local.shape[0] if local.dim() else 0
    first = target.start[0] if target.start else 0
    zero = sorted({r - first for r in rule.zero_rows if first <= r < first + rows})
    if not rule.scales:
        pieces, begin = [], 0
        for r in zero + [rows]:
            if r > begin:
                pieces.append((local[begin:r], rule.law))
            begin = r + 1
        if local.dim() == 0:
            pieces = [(local, rule.law)]
        return zero, pieces, False
    factor = torch.ones(local.shape, dtype=torch.float64, device=local.device)
    for dim, a, b, f in rule.scales:
        lo = max(a, target.start[dim]) - target.start[dim]
        hi = min(b, target.start[dim] + local.shape[dim]) - target.start[dim]
        if hi > lo:
            factor.narrow(dim, lo, hi - lo).mul_(f)
    keep = torch.ones(local.shape, dtype=torch.bool, device=local.device)
    for r in zero:
        keep[r] = False
    pieces = []
    for f in torch.unique(factor[keep]).tolist():
        where = (factor == f) & keep
        pieces.append((local[where], rule.law if f == 1.0 else rule.law.scaled(f)))
    return zero, pieces, True


def _finite_only(target: _Target) -> list[str]:
    """Return the problems of a tensor whose law is unknown: NaN and infinite values."""
    local = target.local
    if not (local.is_floating_point() or local.is_complex()) or local.numel() == 0:
        return []
    nan = inf = 0
    for chunk in _chunks(local):
        nan += int(torch.isnan(chunk).sum())
        inf += int(torch.isinf(chunk).sum())
    return _nonfinite(nan, inf)


def _nonfinite(nan: int, inf: int) -> list[str]:
    """Return the problem of ``nan`` NaN and ``inf`` infinite values (none when both 0)."""
    if not (nan or inf):
        return []
    parts = [f"{nan} NaN" if nan else "", f"{inf} infinite" if inf else ""]
    return [" and ".join(p for p in parts if p) + (" values" if nan + inf > 1 else " value")]


def _eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps if dtype.is_floating_point else 0.0


def _check_piece(values: torch.Tensor, law: Law, shape: tuple[int, ...], dtype: torch.dtype,
                 whole: bool, label: str, notes: list[str]
                 ) -> tuple[list[str], _Sums, _Moments]:
    """Return (problems, sums, moments) of one segment's values under a random law;
    appends to ``notes`` what was not tested."""
    m = _moments(law, shape)
    tiny = torch.finfo(dtype).tiny
    sums = _read(values, m.mean, tiny)
    where = f" ({label})" if label else ""
    problems = _nonfinite(sums.nan, sums.inf)
    n = sums.n
    if problems or n == 0:
        return [p + where for p in problems], sums, m
    sigma = math.sqrt(m.var)
    if sums.zeros == n and m.var > 0:
        problems.append("all zeros: never initialized?")
        return [p + where for p in problems], sums, m
    subnormal = sums.tiny - sums.zeros
    if subnormal and n * 2 * tiny * m.density < ALPHA:
        problems.append(f"{subnormal} subnormal values: uninitialized memory?")
    if m.bounds is not None:
        low, high = m.bounds
        slack = 2 * _eps(dtype) * max(abs(low), abs(high)) + tiny
        lo, hi = sums.low + m.mean, sums.high + m.mean
        if lo < low - slack or hi > high + slack:
            problems.append(f"values in [{lo:.4g}, {hi:.4g}], outside the law's "
                            f"[{low:.4g}, {high:.4g}]")
    elif sigma > 0 and (limit := law.tail_reach(ALPHA / max(1, n), shape)) is not None:
        # K with n·P(|X − mean| > K·σ) = ALPHA: no draw of n values of the law reaches it.
        reach = max(-sums.low, sums.high) / sigma
        if reach > limit:
            problems.append(f"a value {reach:.3g} std from the mean (n={n} draws reach "
                            f"{limit:.2f}): garbage?")
    eps = _eps(dtype)
    if sigma > 0 and eps * (abs(m.mean) + 3 * sigma) > sigma / 2:
        notes.append(f"{dtype} too coarse for this law's moments")
        return [p + where for p in problems], sums, m
    if sigma > 0:
        # Rounding to the dtype moves the mean by at most about spacing²·density: a margin.
        shift = sums.s1 / n
        margin = eps * eps * (abs(m.mean) + 3 * sigma) ** 2 / sigma
        z = math.copysign(max(0.0, abs(shift) - margin), shift) / (sigma / math.sqrt(n))
        if abs(z) > Z_MEAN:
            problems.append(f"mean {m.mean + sums.s1 / n:.4g}, law {m.mean:.4g} "
                            f"({z:+.3g} standard errors)")
    if isinstance(law, Orthogonal) and whole and len(shape) >= 2:
        problems += _orthogonality(values, law, shape, dtype, sums)
    elif m.var > 0 and n > 1:
        excess = m.m4 - m.var * m.var
        if excess > 0:
            # Σ(x − x̄)² over n values: σ²·chi-square(n − 1) for a normal law; matched to
            # c·chi-square(k) by its mean (n − 1)σ² and its variance for the others.
            # The lower tail takes at most n − 1 degrees of freedom: near zero the spread of
            # n values of any law with a density falls as s^((n−1)/2), as the normal's does.
            spread = max(0.0, sums.s2 - sums.s1 * sums.s1 / n)
            dof = 2 * (n - 1) * m.var * m.var / excess
            low_dof = min(dof, n - 1.0)
            # Rounding to the dtype adds at most (spacing)²/12 per value: a margin, not noise.
            margin = n * (eps * eps * (m.var + m.mean * m.mean) + (tiny * eps) ** 2) / 3
            below, _ = chi2_tails((spread + margin) * low_dof / ((n - 1) * m.var), low_dof)
            _, above = chi2_tails(max(0.0, spread - margin) * dof / ((n - 1) * m.var), dof)
            if min(below, above) < ALPHA / 2:
                std = math.sqrt(spread / (n - 1))
                problems.append(f"std {std:.4g}, law {sigma:.4g} "
                                f"(chi-square tail {min(below, above):.2g})")
    return [p + where for p in problems], sums, m


def _orthogonality(values: torch.Tensor, law: Orthogonal, shape: tuple[int, ...],
                   dtype: torch.dtype, sums: _Sums) -> list[str]:
    """Return the problems of a whole matrix under gain · a (semi-)orthogonal matrix: its
    sum of squares must be gain²·min(r, c), and W·Wᵀ (or Wᵀ·W) gain²·I when small."""
    rows, cols = shape[0], math.prod(shape[1:])
    small, large = min(rows, cols), max(rows, cols)
    g2 = law.gain ** 2
    tol = max(1e-3, 16 * _eps(dtype))
    want = g2 * small
    if abs(sums.s2 - want) > tol * want:
        return [f"sum of squares {sums.s2:.4g}, an orthogonal matrix of gain "
                f"{law.gain:.4g} has {want:.4g}"]
    if small * small * large > GRAM_LIMIT:
        return []
    w = values.reshape(rows, cols).to(torch.float64, copy=True)
    gram = w @ w.T if rows <= cols else w.T @ w
    gram.diagonal().sub_(g2)
    w.zero_()  # no freed block keeps a copy of the tensor's values
    error = float(gram.abs().max()) / g2
    if error > tol:
        return [f"not orthogonal: max |W·Wᵀ − gain²·I| = {error:.3g}·gain²"]
    return []


def _exact_problems(target: _Target, expected: torch.Tensor, rtol: float,
                    what: str) -> list[str]:
    """Return the problem of local values that differ from ``expected`` (bit for bit when
    ``rtol`` is 0, else within ``rtol``); ``expected`` is zeroed afterwards, so that no
    freed block keeps a copy of the tensor's values."""
    local = target.local
    if rtol and local.is_floating_point():
        a, b = local.to(torch.float64), expected.to(torch.float64)
        differ = ~torch.isclose(a, b, rtol=rtol, atol=torch.finfo(local.dtype).tiny)
    else:
        differ = ~_same_bits(local, expected)
    count = int(differ.sum())
    expected.zero_()
    if not count:
        return []
    return [f"{count} of {local.numel()} values differ from {what}"]


def _check_deterministic(row: dict, target: _Target, rule: Rule | None, fill: Any,
                         stream: int, text: str) -> None:
    """Fill ``row`` with the checks of a fill that makes the same values for every seed:
    NaN/inf, then the values themselves (computed buffers within a few units in the
    last place, the rest bit for bit)."""
    local = target.local
    computed = rule is not None and isinstance(rule.law, Computed)
    if local.is_floating_point():
        center = rule.law.value if rule is not None and isinstance(rule.law, Constant) else 0.0
        sums = _read(local, center, torch.finfo(local.dtype).tiny)
        row["problems"] += _nonfinite(sums.nan, sums.inf)
        if sums.n and not (sums.nan or sums.inf):
            mean = sums.s1 / sums.n
            row["mean"] = center + mean
            row["std"] = math.sqrt(max(0.0, sums.s2 - sums.n * mean * mean)
                                   / max(1, sums.n - 1))
    if rule is not None and isinstance(rule.law, Constant):
        row["law_mean"], row["law_std"] = rule.law.value, 0.0
    rtol = 16 * _eps(local.dtype) if computed else 0.0
    expected = _expected(target, fill, 0, stream)
    row["problems"] += _exact_problems(target, expected, rtol, text)
    row["exact"] = not row["problems"]


def _row(name: str, tensor: Any, role: str | None, law_text: str) -> dict:
    return {"tensor": name, "shape": tuple(tensor.shape),
            "dtype": str(tensor.dtype).removeprefix("torch."), "role": role, "law": law_text,
            "n": 0, "mean": None, "std": None, "law_mean": None, "law_std": None,
            "status": "ok", "problems": [], "notes": [], "exact": None}


def _target(name: str, tensor: Any) -> _Target:
    if is_dtensor(tensor):
        shard = shard_of(name, tensor)
        return _Target(name, tensor, shard.local.detach(), shard.start, shard.full_shape, True)
    local = tensor.detach()
    return _Target(name, tensor, local, (0,) * local.dim(), tuple(local.shape), False)


def _check_random(row: dict, target: _Target, rule: Rule) -> None:
    """Fill ``row`` with the statistical checks of a random law's rule."""
    local = target.local
    if local.is_complex() or not local.is_floating_point():
        row["notes"].append(f"{local.dtype} values under a real law: not tested")
        row["status"] = "unchecked"
        return
    moments = _moments(rule.law, target.whole_shape)
    if moments is None:
        row["problems"] += _finite_only(target)
        row["status"] = "unchecked"
        return
    blank = moments.var > 0 and local.numel() > 1 and _blank(local)  # before temporaries
    zero, pieces, copies = _segments(rule, target)
    for r in zero:
        if bool((local[r] != 0).any()):
            row["problems"].append(f"row {r + (target.start[0] if target.start else 0)} "
                                   "is not zero")
    whole = not target.sharded and not zero and not rule.scales
    n = total = squares = 0.0
    for values, law in pieces:
        label = "" if law is rule.law else law.text()
        problems, sums, m = _check_piece(values, law, target.whole_shape, local.dtype, whole,
                                         label, row["notes"])
        row["problems"] += problems
        if copies:
            values.zero_()  # no freed block keeps a copy of the tensor's values
        if sums.n and not (sums.nan or sums.inf):
            n += sums.n
            total += sums.s1 + sums.n * m.mean
            squares += sums.s2 + 2 * m.mean * sums.s1 + sums.n * m.mean ** 2
    row["n"] = int(n) if n else row["n"]
    if n and not any("NaN" in p or "infinite" in p for p in row["problems"]):
        mean = total / n
        row["mean"] = mean
        row["std"] = math.sqrt(max(0.0, squares - n * mean * mean) / max(1.0, n - 1))
    row["law_mean"], row["law_std"] = moments.mean, math.sqrt(moments.var)
    if blank and row["problems"]:
        row["problems"].append("the bytes of fresh torch.empty_like allocations: never "
                               "written?")
    if zero:
        row["notes"].append(f"rows {zero} zero" if len(zero) > 1 else f"row {zero[0]} zero")


@torch.no_grad()
def verify_model(model: nn.Module, scheme: Any = "torch", *, seed: int | None = None
                 ) -> VerifyReport:
    """Return a :class:`VerifyReport` of ``model``'s values under ``scheme``'s laws (the
    plan :func:`gpuinit.torch.describe` prints), writing nothing: see the module
    docstring for the checks.  ``seed`` (optional) also compares every tensor bit for
    bit with gpuinit's fill of it for that seed.

    TypeError for a model that is not an ``nn.Module`` and for a seed that is not an
    integer; ValueError for a seed outside [0, 2**64), for tensors on the meta device
    (no values to read), and for what :func:`gpuinit.torch.describe` refuses (an
    unknown scheme, a bad option, tensors no rule covers).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if seed is not None:
        seed = check_seed(seed)
    meta = [n for n, t in named_tensors(model).items() if t.is_meta]
    if meta:
        raise ValueError(f"{meta[:3]} are on the meta device: there are no values to verify "
                         "(materialize the model first)")
    prepared = prepare_plan(model, scheme, 0 if seed is None else seed)
    tensors, same, plan, streams = (prepared.tensors, prepared.same, prepared.plan,
                                    prepared.streams)
    infos = analyze(model, _roles_option(scheme))
    report = VerifyReport()
    for name, tensor in tensors.items():
        fill = plan.get(name)
        role = getattr(fill, "role", None) or infos[name].role
        if name in same:
            first = next(r for r in report if r["tensor"] == same[name])
            row = _row(name, tensor, role, f"same memory as {same[name]}")
            row["status"], row["exact"] = first["status"], first["exact"]
            row["notes"].append(f"read as {same[name]}")
            if first["status"] == "flagged":
                row["problems"].append(f"{same[name]} is flagged")
            report.append(row)
            continue
        if fill is None:
            row = _row(name, tensor, role, "kept (pruning mask)")
            row["status"] = "unchecked"
            report.append(row)
            continue
        target = _target(name, tensor)
        rule, deterministic = rule_of(fill, target.whole_shape)
        text = rule.text() if rule is not None else plain_text(fill, target.whole_shape)
        row = _row(name, tensor, role, text)
        row["n"] = target.local.numel()
        if target.sharded:
            row["notes"].append(f"local shard: {target.local.numel()} of "
                                f"{math.prod(target.whole_shape)} values")
        stream = path_stream(streams.get(name, name))
        if target.local.numel() == 0:
            row["notes"].append("no values")
        elif deterministic:
            _check_deterministic(row, target, rule, fill, stream, text)
        elif rule is not None:
            _check_random(row, target, rule)
        else:
            row["problems"] += _finite_only(target)
            row["status"] = "unchecked"
            row["notes"].append("law not readable: NaN/inf only")
        if (seed is not None and not deterministic and not _is_user_fill(fill)
                and target.local.numel()):
            expected = _expected(target, fill, seed, stream)
            mismatch = _exact_problems(target, expected, 0.0,
                                       f"gpuinit's fill with seed={seed}")
            row["exact"] = not mismatch
            row["problems"] += mismatch
            if not mismatch:
                row["notes"].append(f"gpuinit's seed={seed} bit for bit")
        if row["problems"]:
            row["status"] = "flagged"
        report.append(row)
    return report


def plain_text(fill: Any, shape: tuple[int, ...]) -> str:
    """Return the law of a fill whose Rule gpuinit cannot read, in words."""
    law = plain_law(fill, shape)
    if isinstance(law, (Law, Rule)):
        return law.text()
    init = _catalogue_init(fill)
    return law if init is None else type(init).__name__
