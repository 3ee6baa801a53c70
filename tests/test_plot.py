"""jaxmi.plot: what the GMM and MI-matrix plots draw, and their errors."""

from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import jax.numpy as jnp
import matplotlib.pyplot as plt
from matplotlib.patches import Ellipse

from jaxmi.gmm import GMM
from jaxmi.plot import plot_benchmark, plot_gmm, plot_mi_matrix


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def mixture_1d():
    return GMM.create(
        jnp.array([0.3, 0.7]), jnp.array([[-2.0], [1.0]]), jnp.array([[[0.25]], [[1.0]]])
    )


def test_two_dims_draw_one_ellipse_per_component_and_radius():
    g = GMM.create(
        jnp.array([0.4, 0.6]),
        jnp.array([[0.0, 0.0, 1.0], [3.0, -1.0, 2.0]]),
        jnp.stack([jnp.eye(3), jnp.diag(jnp.array([4.0, 1.0, 9.0]))]),
    )
    x = np.random.default_rng(0).normal(size=(50, 3))
    ax = plot_gmm(g, x, dims=(0, 2), n_sigma=(1.0, 2.0, 3.0))
    ells = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ells) == 6
    assert {tuple(np.round(e.center, 6)) for e in ells} == {(0.0, 1.0), (3.0, 2.0)}
    # the second component's (0, 2) marginal has variances 4 and 9: axes 2 r sd
    widths = sorted({round(max(e.width, e.height), 6) for e in ells if e.center[0] == 3.0})
    assert widths == [6.0, 12.0, 18.0]
    assert ax.get_xlabel() == "x[0]" and ax.get_ylabel() == "x[2]"


def test_one_dim_draws_the_density_its_components_and_a_histogram():
    g = mixture_1d()
    x = np.random.default_rng(0).normal(size=400)
    ax = plot_gmm(g, x)  # a 1-D mixture defaults to dims (0,), and (N,) data is accepted
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    t, total = lines["mixture"].get_data()
    dens = 0.3 * np.exp(-0.5 * ((t + 2) / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))
    dens += 0.7 * np.exp(-0.5 * (t - 1) ** 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(total, dens, rtol=1e-6, atol=1e-12)
    parts = [lines["w = 0.30"].get_data()[1], lines["w = 0.70"].get_data()[1]]
    np.testing.assert_allclose(parts[0] + parts[1], total, rtol=1e-12)
    assert np.trapezoid(total, t) == pytest.approx(1.0, abs=1e-3)
    assert t.min() <= x.min() and t.max() >= x.max()  # the whole histogram is covered
    assert len(ax.patches) > 5  # the histogram's bars
    assert ax.get_ylabel() == "density"


def test_a_fit_result_and_one_dim_of_a_2d_mixture():
    g = GMM.create(jnp.ones(1), jnp.array([[1.0, 5.0]]), jnp.diag(jnp.array([1.0, 4.0]))[None])
    ax = plot_gmm(SimpleNamespace(gmm=g), dims=(1,))
    t, y = next(ln for ln in ax.get_lines() if ln.get_label() == "mixture").get_data()
    assert t[np.argmax(y)] == pytest.approx(5.0, abs=0.05)
    assert np.max(y) == pytest.approx(1 / (2 * np.sqrt(2 * np.pi)), rel=1e-4)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g: plot_gmm(g, dims=(0, 1)), r"dims: indices must lie in \[0, 1\)"),
        (lambda g: plot_gmm(g, dims=(0, 0, 0)), "one or two dimensions"),
        (lambda g: plot_gmm(g, np.zeros((5, 2))), r"x: expected shape \(N, 1\)"),
        (lambda g: plot_gmm(g.means), "expected an unbatched"),
        (lambda g: plot_mi_matrix(SimpleNamespace(mi=1.0, std=0.1)), "PairwiseMIResult"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(mixture_1d())


def test_benchmark_plot_from_the_saved_json_rows():
    """The rows of jaxmi_benchmark.json store a missing std as null: no error bar is drawn for
    it (a None std was a TypeError), and the others span estimate +- 2 std."""
    import json

    rows = json.loads(
        json.dumps(
            [
                dict(task="a", truth=0.2, estimate=0.25, std=0.01),
                dict(task="b", truth=0.5, estimate=0.45, std=float("nan")),
            ]
        ).replace("NaN", "null")
    )
    assert rows[1]["std"] is None
    ax = plot_benchmark(rows)
    spans = {}
    for c in ax.containers:  # one ErrorbarContainer per task
        (segments,) = c.lines[2]
        spans[c.get_label()] = [tuple(np.round(seg[:, 1], 6)) for seg in segments.get_segments()]
    assert spans == {"a": [(0.23, 0.27)], "b": [(0.45, 0.45)]}


@pytest.mark.parametrize(
    ("rows", "match"),
    [([], "rows: nothing to plot"), ([dict(task="t", truth=0.4)], r"rows\[0\]: missing estimate")],
)
def test_benchmark_plot_errors(rows, match):
    with pytest.raises(ValueError, match=match):
        plot_benchmark(rows)
