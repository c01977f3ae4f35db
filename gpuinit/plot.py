"""The exact law of one entry of an initializer's tensor, and ``gpuinit plot``'s figure.

:func:`law_of` returns the distribution an entry of ``init(shape)`` follows
(its density, mean, standard deviation, support and the fans and limits it was
derived from); :func:`plot_samples` draws the histogram of a sample over that
density, with its legend and statistics beside the axes, off the histogram.  The
figure needs matplotlib (the ``plot`` extra); the laws do not.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import laws
from .initializers import Constant, Initializer, Orthogonal, Sparse
from .initializers.orthogonal import matrix_shape
from .initializers.sparse import sparse_shape, zeros_per_column


@dataclass
class Law:
    """The distribution of one entry: a density on ``support`` plus point masses."""

    name: str  # e.g. "U[-0.108, 0.108)"
    mean: float
    std: float
    support: tuple[float, float]
    density: Callable[[np.ndarray], np.ndarray] | None  # of the continuous part
    atoms: dict[float, float] = field(default_factory=dict)  # value -> probability
    notes: list[str] = field(default_factory=list)  # fans, limits, how it was derived


def _sphere_coordinate(dimension: int, gain: float) -> Callable[[np.ndarray], np.ndarray]:
    """Return the density of gain·u₁ for u uniform on the unit sphere of R^dimension:
    Γ(d/2) / (√π Γ((d-1)/2)) (1 - t²)^((d-3)/2) / gain with t = x/gain."""
    d = dimension
    log_c = math.lgamma(d / 2.0) - 0.5 * math.log(math.pi) - math.lgamma((d - 1) / 2.0)

    def density(x: np.ndarray) -> np.ndarray:
        t = np.clip(np.asarray(x, dtype=np.float64) / gain, -1.0, 1.0)
        inside = np.abs(t) < 1.0
        with np.errstate(divide="ignore"):
            log_p = log_c + 0.5 * (d - 3) * np.log1p(-t * t) - math.log(gain)
        return np.where(inside, np.exp(log_p), 0.0)
    return density


def law_of(init: Any, shape: tuple[int, ...]) -> Law:
    """Return the exact law of one entry of ``init(shape)`` (Keras layout fans).

    Covers uniform, normal and truncated normal laws (RandomUniform,
    RandomNormal, TruncatedNormal and every VarianceScaling preset), constants,
    Orthogonal (a coordinate of a uniform point on a sphere) and Sparse (zeros
    plus a normal).  ValueError for initializers whose entries have no
    elementwise law (Identity, Dirac, DeltaOrthogonal, user classes).
    """
    shape = tuple(int(d) for d in shape)
    if isinstance(init, Initializer) and init.has_law:
        law = init.law(shape)
        notes = []
        if init.law_uses_fans:
            fan_in, fan_out = init.fans(shape)
            notes.append(f"fan_in {fan_in}, fan_out {fan_out}; mode {init.mode}, "
                         f"scale {init.scale:g} -> variance {init.variance(shape):.4g}")
            if isinstance(law, laws.Uniform):
                notes.append(f"limit √(3·variance) = {law.high:.4g}")
        if isinstance(law, laws.TruncatedNormal):
            low, high = law.bounds
            notes.append(f"limits [{low:.4g}, {high:.4g}]")
        mean, std = law.moments()
        return Law(law.text(), mean, std, law.support, law.density, notes=notes)
    if isinstance(init, Constant):
        if np.ndim(init.value) != 0:
            raise ValueError(f"{type(init).__name__} with an array value has no single "
                             "elementwise law to plot")
        value = float(init.value)
        return Law(f"constant {value:g}", value, 0.0, (value - 1.0, value + 1.0), None,
                   {value: 1.0})
    if isinstance(init, Orthogonal):
        rows, cols = matrix_shape(shape)
        d = max(rows, cols)
        if d < 2:
            raise ValueError(f"shape={shape}: a 1 × 1 orthogonal matrix is ±gain, not a density")
        gain = init.gain
        return Law(f"gain · coordinate of a uniform point on S^{d - 1}", 0.0,
                   abs(gain) / math.sqrt(d), (-abs(gain), abs(gain)),
                   _sphere_coordinate(d, abs(gain)),
                   notes=[f"{rows} × {cols} matrix: orthonormal "
                          f"{'columns' if rows >= cols else 'rows'} of length {d}",
                          f"gain {gain:g}; variance gain²/{d}"])
    if isinstance(init, Sparse):
        n_in, n_out = sparse_shape(shape)
        n_zero = zeros_per_column(init.sparsity, n_out)
        zero = n_zero / n_out
        normal = laws.Normal(0.0, init.std)
        return Law(f"0 with p={zero:.3g}, else N(0, {init.std:.4g}²)", 0.0,
                   init.std * math.sqrt(1.0 - zero), normal.support,
                   lambda x: (1.0 - zero) * normal.density(x), {0.0: zero},
                   [f"{n_zero} of {n_out} outputs zero per input"])
    raise ValueError(
        f"{type(init).__name__} has no elementwise law to plot: its entries are not "
        "identically distributed (or it is not a catalogue initializer)"
    )


def figure_of(samples: np.ndarray, law: Law, *, title: str, bins: int = 200):
    """Return a matplotlib Figure: the histogram of ``samples`` (density scale) over the
    law's density, point masses as stems, and the fans, limits and moments annotated.

    The histogram has its axes to itself: the legend and the statistics box sit in a
    panel to its right, so they never cover the peak, whatever the law's shape.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("gpuinit plot needs matplotlib: pip install 'gpuinit[plot]'") from exc
    if np.iscomplexobj(samples):
        raise ValueError(f"the samples are {np.asarray(samples).dtype}: a law of real values "
                         "cannot be drawn over complex ones (plot the real dtype)")
    values = np.asarray(samples, dtype=np.float64).reshape(-1)
    continuous = values
    figure, (axes, side) = plt.subplots(1, 2, figsize=(11, 5), width_ratios=(2.2, 1.0),
                                        layout="constrained")
    for value, probability in law.atoms.items():
        continuous = continuous[continuous != value]
        share = float(np.mean(values == value))
        axes.axvline(value, color="tab:red", lw=2,
                     label=f"P(x = {value:g}): {probability:.3g} (sample {share:.3g})")
    if continuous.size:
        # Heights are counts / (all samples × bin width): the continuous part's share of
        # the probability, on the scale of the law's density.
        counts, edges = np.histogram(continuous, bins=bins)
        heights = counts / (values.size * np.diff(edges))
        axes.stairs(heights, edges, fill=True, alpha=0.6, color="tab:blue",
                    label=f"samples (n={values.size:,})")
        if law.density is not None:
            low = max(law.support[0], edges[0] - 0.05 * (edges[-1] - edges[0]))
            high = min(law.support[1], edges[-1] + 0.05 * (edges[-1] - edges[0]))
            grid = np.linspace(low, high, 2001)
            axes.plot(grid, law.density(grid), color="black", lw=1.5,
                      label=f"exact: {law.name}")
    axes.set_title(title)
    axes.set_xlabel("value")
    axes.set_ylabel("density")
    side.axis("off")
    handles, labels = axes.get_legend_handles_labels()
    side.legend(handles, labels, loc="upper left", fontsize=8, frameon=False)
    notes = [part for note in law.notes for part in note.split("; ")]  # short lines
    text = [f"mean {values.mean():.4g} (exact {law.mean:.4g})",
            f"std {values.std():.4g} (exact {law.std:.4g})",
            f"min {values.min():.4g}, max {values.max():.4g}", *notes]
    side.text(0.0, 0.0, "\n".join(text), transform=side.transAxes, va="bottom", fontsize=8,
              family="monospace", wrap=True)
    return figure


def output_path(out: Any) -> str:
    """Return the file a figure saved to ``out`` is written to: ``out`` itself, or ``out``
    with ``.png`` appended when it has no extension (as matplotlib names it).

    Raised before anything is sampled or drawn, each naming ``out``:
    IsADirectoryError when ``out`` (or the name with ``.png``) is an existing folder or
    ends with a path separator; FileNotFoundError when the folder it goes in does not
    exist; ValueError when matplotlib (if installed) cannot write its extension.
    """
    text = os.fspath(out)
    if not isinstance(text, str) or not text:
        raise ValueError(f"-o {out!r}: give the image file to write, e.g. figure.png")
    if text.endswith(("/", os.sep)) or os.path.isdir(text):
        raise IsADirectoryError(errno.EISDIR, "-o names a folder; give the image file to "
                                "write, e.g. figure.png", text)
    extension = os.path.splitext(text)[1][1:]
    if not extension:
        text = text.rstrip(".") + ".png"
        extension = "png"
        if os.path.isdir(text):
            raise IsADirectoryError(errno.EISDIR, "-o without an extension writes this "
                                    "name, which is a folder", text)
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"the folder {folder} of -o does not exist",
                                text)
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return text  # plot_samples says how to install it
    supported = FigureCanvasBase.get_supported_filetypes()
    if extension.lower() not in supported:
        raise ValueError(f"-o {text}: matplotlib cannot write .{extension} images; use one "
                         f"of {', '.join('.' + e for e in sorted(supported))}")
    return text


def plot_samples(samples: np.ndarray, law: Law, path: Any, *, title: str,
                 bins: int = 200) -> str:
    """Write :func:`figure_of`'s figure of ``samples`` over ``law`` to ``path`` (a PNG, or
    the format its extension names) and return the path written (:func:`output_path`:
    ``.png`` appended to a name without an extension).  ValueError for complex samples."""
    import matplotlib.pyplot as plt

    target = output_path(path)
    figure = figure_of(samples, law, title=title, bins=bins)
    try:
        figure.savefig(target, dpi=120)
    finally:
        plt.close(figure)
    return target
