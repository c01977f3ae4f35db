"""gpuinit.plot.law_of: the exact law of an entry, checked against the kernels' samples."""

import math

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.plot import law_of

LAWS = [
    ("glorot_uniform", (300, 200)),
    ("he_normal", (784, 256)),
    ("lecun_normal", (3, 3, 16, 32)),
    ("he_uniform", (512, 64)),
    (gi.initializers.RandomUniform(-0.3, 0.7), (400, 100)),
    (gi.initializers.RandomNormal(1.0, 2.0), (400, 100)),
    (gi.initializers.TruncatedNormal(0.5, 0.1), (400, 100)),
    (gi.initializers.VarianceScaling(2.0, "fan_avg", "untruncated_normal"), (300, 500)),
    (gi.initializers.Orthogonal(gain=1.3), (500, 100)),
    (gi.initializers.Orthogonal(), (100, 50, 8)),   # a (5000, 8) matrix
    (gi.initializers.Orthogonal(), (60, 700)),      # wide: rows on S^699
]


def _cdf(law, x):
    """Return the law's CDF at sorted ``x``: its density integrated on a fine grid."""
    grid = np.linspace(*law.support, 40001)
    pdf = law.density(grid)
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(grid))])
    return np.interp(x, grid, cdf)


@pytest.mark.parametrize("identifier,shape", LAWS, ids=str)
def test_samples_follow_the_exact_law(identifier, shape):
    init = gi.initializers.get(identifier)
    law = law_of(init, shape)
    x = np.sort(init(shape, seed=0, device="cpu").astype(np.float64).reshape(-1))
    n = x.size
    assert abs(_cdf(law, np.array([law.support[1]]))[0] - 1.0) < 1e-3  # the density's mass
    cdf = _cdf(law, x)
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.8 / math.sqrt(n), f"KS distance {ks:.4g} from {law.name}"
    assert abs(x.mean() - law.mean) < 5 * law.std / math.sqrt(n)
    assert abs(x.std() / law.std - 1.0) < 0.02
    assert law.support[0] <= x[0] and x[-1] <= law.support[1]


def test_variance_scaling_laws_name_their_fans_and_limits():
    law = law_of(gi.initializers.get("glorot_uniform"), (3, 3, 16, 32))
    limit = math.sqrt(6.0 / (9 * 16 + 9 * 32))
    assert law.support == pytest.approx((-limit, limit))
    assert any("fan_in 144, fan_out 288" in note for note in law.notes)
    truncated = law_of(gi.initializers.get("he_normal"), (100, 10))
    assert truncated.std == pytest.approx(math.sqrt(2.0 / 100))


def test_sparse_is_zeros_plus_a_normal():
    init = gi.initializers.Sparse(sparsity=0.3, std=0.1)
    law = law_of(init, (200, 50))
    assert law.atoms == {0.0: pytest.approx(15 / 50)}
    x = init((200, 50), seed=1, device="cpu").astype(np.float64)
    assert np.mean(x == 0.0) == pytest.approx(15 / 50)
    assert x.std() == pytest.approx(law.std, rel=0.03)


def test_constants_are_point_masses_and_other_initializers_are_refused():
    law = law_of(gi.initializers.Constant(0.25), (4, 4))
    assert (law.mean, law.std, law.atoms, law.density) == (0.25, 0.0, {0.25: 1.0}, None)
    for name in ["identity", "dirac"]:
        with pytest.raises(ValueError, match="no elementwise law"):
            law_of(gi.initializers.get(name), (4, 4, 3))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        law_of(gi.initializers.Orthogonal(), (5,))


@pytest.mark.parametrize("identifier,shape", [("he_normal", (256, 64)),
                                              (gi.initializers.Sparse(0.5), (64, 32)),
                                              ("glorot_uniform", (3, 3, 16, 32))], ids=str)
def test_figure_keeps_its_legend_and_statistics_off_the_histogram(identifier, shape):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gpuinit.plot import figure_of

    init = gi.initializers.get(identifier)
    figure = figure_of(init(shape, seed=0, device="cpu"), law_of(init, shape), title="t")
    try:
        renderer = figure.canvas.get_renderer()
        figure.draw(renderer)
        histogram = figure.axes[0]
        plot_area = histogram.get_window_extent(renderer)
        legends = [a.get_legend() for a in figure.axes if a.get_legend() is not None]
        texts = [t for a in figure.axes for t in a.texts]
        assert len(legends) == 1 and len(texts) == 1
        assert histogram.get_legend() is None and not histogram.texts
        legend = legends[0].get_window_extent(renderer)
        stats = texts[0].get_window_extent(renderer)
        assert "mean" in texts[0].get_text() and "std" in texts[0].get_text()
        for box in (legend, stats):
            assert not box.overlaps(plot_area)
            assert box.x1 <= figure.bbox.x1 + 1 and box.y0 >= figure.bbox.y0 - 1  # on the page
        assert not legend.overlaps(stats)
    finally:
        plt.close(figure)


def test_plot_command_uses_a_fixed_seed_by_default(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from gpuinit.cli import main

    gi.manual_seed(1)
    pngs = []
    for name in ["a.png", "b.png"]:
        assert main(["plot", "he_normal", "--shape", "64,32", "-o", str(tmp_path / name),
                     "--device", "cpu"]) == 0
        pngs.append((tmp_path / name).read_bytes())
        gi.manual_seed(2)  # the global sequence plays no part
    assert pngs[0] == pngs[1]
    assert capsys.readouterr().out.rstrip().endswith("seed 0")
