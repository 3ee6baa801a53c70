"""Plots (matplotlib, imported lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxmi.gmm._mixture import GMM, marginal

__all__ = ["plot_benchmark", "plot_gmm"]


def plot_gmm(
    gmm: GMM,
    x: Any = None,
    *,
    dims: Sequence[int] = (0, 1),
    ax: Any = None,
    n_sigma: Sequence[float] = (1.0, 2.0),
    max_points: int = 5000,
) -> Any:
    """Draw a mixture's components as covariance ellipses over a scatter of the data.

    Args:
        gmm: the mixture (unbatched).
        x: optional data ``(N, d)`` to scatter underneath (at most ``max_points`` shown).
        dims: the two dimensions to draw.
        ax: a matplotlib ``Axes``; a new figure if None.
        n_sigma: radii of the ellipses in standard deviations.
        max_points: subsample the scatter to this many points.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jax.numpy as jnp
        >>> from jaxmi.gmm import GMM
        >>> from jaxmi.plot import plot_gmm
        >>> ax = plot_gmm(GMM.create(jnp.ones(1), jnp.zeros((1, 2)), jnp.eye(2)[None]))
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    if not isinstance(gmm, GMM) or gmm.means.ndim != 2:
        raise ValueError("gmm: expected an unbatched jaxmi.gmm.GMM")
    if len(dims) != 2:
        raise ValueError(f"dims: expected two dimensions, got {list(dims)}")
    sub = marginal(gmm, list(dims))
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    if x is not None:
        xa = np.asarray(x)
        if xa.ndim != 2 or xa.shape[1] != gmm.dim:
            raise ValueError(f"x: expected shape (N, {gmm.dim}), got {xa.shape}")
        if len(xa) > max_points:
            xa = xa[np.random.default_rng(0).choice(len(xa), max_points, replace=False)]
        ax.scatter(xa[:, dims[0]], xa[:, dims[1]], s=3, c="0.6", alpha=0.5, lw=0)
    w = np.asarray(sub.weights)
    active = np.asarray(sub.active)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k in np.flatnonzero(active):
        mu = np.asarray(sub.means[k])
        vals, vecs = np.linalg.eigh(np.asarray(sub.covariances[k], np.float64))
        angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
        c = colors[k % len(colors)]
        for r in n_sigma:
            ax.add_patch(
                Ellipse(
                    mu,
                    2 * r * np.sqrt(vals[-1]),
                    2 * r * np.sqrt(vals[0]),
                    angle=angle,
                    fill=False,
                    ec=c,
                    lw=1.5 / r,
                )
            )
        ax.plot(*mu, "+", c=c, ms=9)
        ax.annotate(f"{w[k]:.2f}", mu, textcoords="offset points", xytext=(4, 4), color=c)
    ax.set_xlabel(f"x[{dims[0]}]")
    ax.set_ylabel(f"x[{dims[1]}]")
    ax.set_title(f"{int(active.sum())}-component Gaussian mixture")
    ax.autoscale_view()
    return ax


def plot_benchmark(rows: Sequence[dict], *, ax: Any = None, n_sigma: float = 2.0) -> Any:
    """Estimates against ground truth, with error bars, one point per (task, seed).

    Args:
        rows: dicts with ``task``, ``truth``, ``estimate`` and ``std`` (as returned by
            ``jaxmi benchmark`` / :func:`jaxmi._benchmark.run_benchmark`).
        ax: a matplotlib ``Axes``; a new figure if None.
        n_sigma: half-width of the error bars in standard deviations.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from jaxmi.plot import plot_benchmark
        >>> ax = plot_benchmark([dict(task="t", truth=0.4, estimate=0.41, std=0.01)])
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows: nothing to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5.5))
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^v<>ph*"
    for i, name in enumerate(tasks):
        sel = [r for r in rows if r["task"] == name]
        truth = np.array([r["truth"] for r in sel])
        est = np.array([r["estimate"] for r in sel])
        err = np.array([n_sigma * (r["std"] if r["std"] == r["std"] else 0.0) for r in sel])
        ax.errorbar(
            truth,
            est,
            yerr=err,
            fmt=markers[i % len(markers)],
            ms=6,
            capsize=3,
            color=colors[i % len(colors)],
            label=name,
        )
    lo = min(min(r["truth"], r["estimate"]) for r in rows)
    hi = max(max(r["truth"], r["estimate"]) for r in rows)
    pad = 0.05 * (hi - lo + 1e-9)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="estimate = truth")
    ax.set_xlabel("true mutual information (nats)")
    ax.set_ylabel(f"GMM-MI estimate (nats, ±{n_sigma:g} std)")
    ax.set_title("jaxmi GMM-MI against ground truth")
    ax.legend(fontsize=7, loc="upper left")
    return ax
