"""Plots (matplotlib, imported lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxmi._validation import check_int
from jaxmi.gmm._mixture import GMM, marginal

__all__ = ["attribution", "plot_benchmark", "plot_gmm", "plot_mi_matrix", "plot_training"]


def plot_gmm(
    gmm: GMM,
    x: Any = None,
    *,
    dims: Sequence[int] | None = None,
    ax: Any = None,
    n_sigma: Sequence[float] = (1.0, 2.0),
    max_points: int = 5000,
) -> Any:
    """Draw a mixture over its data: covariance ellipses in 2-D, densities in 1-D.

    With two ``dims``, each component is drawn as ellipses at ``n_sigma`` standard deviations
    over a scatter of the data, annotated with its weight. With one (the default for a 1-D
    mixture), the mixture's density and each weighted component's are drawn as curves over a
    histogram of the data (density scale).

    Args:
        gmm: the mixture (unbatched), or a fit result with a ``gmm`` field (what
            :func:`jaxmi.gmm.fit` returns).
        x: optional data ``(N, d)`` (or ``(N,)`` for a 1-D mixture) to draw underneath; the
            scatter shows at most ``max_points`` of them, the histogram all.
        dims: one or two dimensions to draw; default ``(0, 1)``, or ``(0,)`` for a 1-D mixture.
        ax: a matplotlib ``Axes``; a new figure if None.
        n_sigma: radii of the ellipses in standard deviations (2-D).
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
        >>> ax = plot_gmm(GMM.create(jnp.ones(2) / 2, jnp.array([[-1.0], [2.0]]),
        ...                          jnp.ones((2, 1, 1))))  # 1-D: density curves
    """
    import matplotlib.pyplot as plt

    if not isinstance(gmm, GMM) and isinstance(getattr(gmm, "gmm", None), GMM):
        gmm = gmm.gmm  # a FitResult / EMResult
    if not isinstance(gmm, GMM) or gmm.means.ndim != 2:
        raise ValueError("gmm: expected an unbatched jaxmi.gmm.GMM (or a fit result holding one)")
    if dims is None:
        dims = (0,) if gmm.dim == 1 else (0, 1)
    dims = [int(i) for i in dims]
    if len(dims) not in (1, 2):
        raise ValueError(f"dims: expected one or two dimensions, got {dims}")
    if any(not 0 <= i < gmm.dim for i in dims):
        raise ValueError(f"dims: indices must lie in [0, {gmm.dim}), got {dims}")
    sub = marginal(gmm, dims)
    xa = None
    if x is not None:
        xa = np.asarray(x)
        if xa.ndim == 1 and gmm.dim == 1:
            xa = xa[:, None]
        if xa.ndim != 2 or xa.shape[1] != gmm.dim:
            raise ValueError(f"x: expected shape (N, {gmm.dim}), got {xa.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5) if len(dims) == 2 else (5.5, 3.5))
    w = np.asarray(sub.weights, np.float64)
    active = np.asarray(sub.active)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if len(dims) == 1:
        _densities_1d(ax, sub, w, active, None if xa is None else xa[:, dims[0]], colors)
        ax.set_xlabel(f"x[{dims[0]}]")
        ax.set_ylabel("density")
    else:
        _ellipses_2d(ax, sub, w, active, xa, dims, n_sigma, max_points, colors)
        ax.set_xlabel(f"x[{dims[0]}]")
        ax.set_ylabel(f"x[{dims[1]}]")
    ax.set_title(f"{int(active.sum())}-component Gaussian mixture")
    ax.autoscale_view()
    return ax


def _densities_1d(ax, sub: GMM, w, active, data, colors) -> None:
    """The 1-D mixture density, its weighted components and a histogram of ``data``."""
    mu = np.asarray(sub.means, np.float64)[:, 0]
    sd = np.sqrt(np.asarray(sub.covariances, np.float64)[:, 0, 0])
    on = np.flatnonzero(active)
    lo = np.min(mu[on] - 4 * sd[on])
    hi = np.max(mu[on] + 4 * sd[on])
    if data is not None:
        ax.hist(data, bins="auto", density=True, color="0.8", label="data")
        lo, hi = min(lo, float(np.min(data))), max(hi, float(np.max(data)))
    t = np.linspace(lo, hi, 512)
    comp = w[on, None] * np.exp(-0.5 * ((t - mu[on, None]) / sd[on, None]) ** 2)
    comp /= np.sqrt(2 * np.pi) * sd[on, None]
    for c, k in enumerate(on):
        ax.plot(t, comp[c], "--", lw=1, c=colors[k % len(colors)], label=f"w = {w[k]:.2f}")
    ax.plot(t, comp.sum(0), c="k", lw=1.8, label="mixture")
    ax.legend(fontsize=7)


def _ellipses_2d(ax, sub: GMM, w, active, xa, dims, n_sigma, max_points, colors) -> None:
    """Covariance ellipses of each active component over a scatter of ``xa``."""
    from matplotlib.patches import Ellipse

    if xa is not None:
        if len(xa) > max_points:
            xa = xa[np.random.default_rng(0).choice(len(xa), max_points, replace=False)]
        ax.scatter(xa[:, dims[0]], xa[:, dims[1]], s=3, c="0.6", alpha=0.5, lw=0)
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


def plot_benchmark(rows: Sequence[dict], *, ax: Any = None, n_sigma: float = 2.0) -> Any:
    """Estimates against ground truth, with error bars, one point per (task, seed).

    Args:
        rows: dicts with ``task``, ``truth``, ``estimate`` and ``std`` (as returned by
            :func:`jaxmi._benchmark.run_benchmark`, or the ``rows`` of the
            ``jaxmi_benchmark.json`` that ``jaxmi benchmark`` writes). A ``std`` that is NaN,
            None (JSON's null) or absent draws no error bar.
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
    for i, r in enumerate(rows):
        missing = [k for k in ("task", "truth", "estimate") if k not in r or r[k] is None]
        if missing:
            raise ValueError(f"rows[{i}]: missing {', '.join(missing)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5.5))
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^v<>ph*"
    for i, name in enumerate(tasks):
        sel = [r for r in rows if r["task"] == name]
        truth = np.array([r["truth"] for r in sel])
        est = np.array([r["estimate"] for r in sel])
        std = np.array([np.nan if r.get("std") is None else r["std"] for r in sel], float)
        err = n_sigma * np.where(np.isfinite(std), std, 0.0)
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


def plot_mi_matrix(
    result: Any,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    ax: Any = None,
    cmap: str = "viridis",
) -> Any:
    """The pairwise MI matrix as a heatmap, each cell annotated ``mi ± std``.

    Args:
        result: a :class:`jaxmi.gmm.PairwiseMIResult` (or anything with ``mi``, ``std`` and
            ``estimated`` arrays of shape ``(p, q)``). A ``std`` of None (``n_bootstrap < 2``)
            annotates the cells with ``mi`` alone.
        row_labels: names of the ``p`` rows (e.g. latents).
        col_labels: names of the ``q`` columns (e.g. factors).
        ax: a matplotlib ``Axes``; a new figure if None.
        cmap: colour map.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from jaxmi.plot import plot_mi_matrix
        >>> r = SimpleNamespace(mi=np.eye(2) * 0.5, std=np.full((2, 2), 0.01),
        ...                     estimated=np.ones((2, 2), bool))
        >>> ax = plot_mi_matrix(r, row_labels=["z0", "z1"], col_labels=["f0", "f1"])
    """
    import matplotlib.pyplot as plt

    if not all(hasattr(result, f) for f in ("mi", "std", "estimated")):
        raise ValueError(
            f"result: expected a PairwiseMIResult (mi, std and estimated arrays of shape "
            f"(p, q)), got {type(result).__name__}"
        )
    mi = np.asarray(result.mi, np.float64)
    std = None if result.std is None else np.asarray(result.std, np.float64)
    est = np.asarray(result.estimated, bool)
    if mi.ndim != 2 or (std is not None and std.shape != mi.shape) or est.shape != mi.shape:
        raise ValueError("result: expected (p, q) arrays mi, std and estimated")
    p, q = mi.shape
    for name, labels, n in (("row_labels", row_labels, p), ("col_labels", col_labels, q)):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{name}: expected {n} labels, got {len(labels)}")
    shown = np.where(est, mi, np.nan)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * q + 2.5, 0.8 * p + 1.8))
    im = ax.imshow(shown, cmap=cmap, vmin=0)
    ax.figure.colorbar(im, ax=ax, label="mutual information (nats)")
    top = np.nanmax(shown) if np.any(est) else 1.0
    for i in range(p):
        for j in range(q):
            if not est[i, j]:
                ax.text(j, i, "—", ha="center", va="center", color="0.5")
                continue
            color = "white" if mi[i, j] < 0.6 * top else "black"
            ax.text(
                j,
                i,
                f"{mi[i, j]:.3f}" if std is None else f"{mi[i, j]:.3f}\n±{std[i, j]:.3f}",
                ha="center",
                va="center",
                fontsize=8,
                color=color,
            )
    ax.set_xticks(range(q), col_labels if col_labels is not None else [str(j) for j in range(q)])
    ax.set_yticks(range(p), row_labels if row_labels is not None else [str(i) for i in range(p)])
    bars = "" if std is None else ", ± bootstrap std"
    ax.set_title(f"pairwise mutual information (GMM-MI{bars})")
    return ax


def plot_training(
    result: Any,
    *,
    seed: int = 0,
    bound: int | str = 0,
    truth: float | None = None,
    smooth: int | None = None,
    ax: Any = None,
) -> Any:
    """A :func:`jaxmi.neural_mi` run's training: batch values, evaluations and the checkpoint.

    Draws the bound's value on every training batch (faint) with its moving average, the
    validation and test values at each evaluation, the selected checkpoint (``best_step``,
    dotted vertical line) and the returned estimate ``mi`` (horizontal line). Use it to see
    whether training had converged before it stopped (the ``still_rising`` and
    ``curve_decreased`` flags of the result summarise the same curve).

    Args:
        result: a :class:`jaxmi.neural.NeuralMIResult`.
        seed: which seed, when the result has a seed axis.
        bound: which bound (index or name), when ``neural_mi`` was given a list of bounds.
        truth: the true MI in nats, drawn as a dashed line if given.
        smooth: moving-average window in steps (default: 1/40 of the steps run, at least 1).
        ax: a matplotlib ``Axes``; a new figure if None.

    Returns:
        The matplotlib ``Axes``.

    Raises:
        ValueError: ``result`` is not a ``neural_mi`` result, or ``seed`` / ``bound`` /
            ``smooth`` is out of range.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jax, numpy as np, jaxmi
        >>> z = np.random.default_rng(0).multivariate_normal([0, 0], [[1, .8], [.8, 1]], 2000)
        >>> r = jaxmi.neural_mi(jax.random.key(0), z[:, 0], z[:, 1], bound="infonce",
        ...                     batch_size=128, learning_rate=3e-3, max_steps=500)
        >>> ax = jaxmi.plot.plot_training(r, truth=-0.5 * np.log(1 - 0.8**2))
    """
    import matplotlib.pyplot as plt

    fields = ("train_curve", "val_curve", "test_curve", "eval_steps", "best_step", "stop_step")
    if not all(hasattr(result, f) for f in (*fields, "mi", "bound")):
        raise ValueError("result: expected a jaxmi.neural_mi result (NeuralMIResult)")
    names, pick = result.bound, []
    if isinstance(names, tuple):  # a list of bounds: a leading bound axis
        if isinstance(bound, str):
            if bound not in names:
                raise ValueError(f"bound: {bound!r} is not one of the result's bounds {names}")
            bound = names.index(bound)
        pick.append(check_int(bound, "bound", minimum=0))
        if pick[0] >= len(names):
            raise ValueError(f"bound: expected 0 <= bound < {len(names)}, got {pick[0]}")
        name = names[pick[0]]
    elif bound not in (0, names):
        raise ValueError(f"bound: the result holds one bound ({names!r}), got {bound!r}")
    else:
        name = names
    if np.ndim(result.mi) > len(pick):  # a seed axis
        n_seeds = np.shape(result.mi)[len(pick)]
        pick.append(check_int(seed, "seed", minimum=0))
        if pick[-1] >= n_seeds:
            raise ValueError(f"seed: expected 0 <= seed < {n_seeds}, got {pick[-1]}")
    elif seed != 0:
        raise ValueError(f"seed: the result holds one seed, got {seed!r}")
    train, val, test, steps, best, run = (
        np.asarray(getattr(result, f))[tuple(pick) if f != "eval_steps" else ()] for f in fields
    )
    best, run, mi = int(best), int(run), float(np.asarray(result.mi)[tuple(pick)])
    smooth = max(1, run // 40) if smooth is None else check_int(smooth, "smooth", minimum=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    t = np.arange(1, run + 1)
    ax.plot(t, train[:run], color="C0", alpha=0.25, lw=0.6, label="training batch")
    if run >= smooth:
        avg = np.convolve(train[:run], np.ones(smooth) / smooth, mode="valid")
        ax.plot(t[smooth - 1 :], avg, color="C0", lw=1.6, label=f"moving average ({smooth} steps)")
    ok = ~np.isnan(val)
    ax.plot(steps[ok], val[ok], "o-", color="C1", ms=4, label="validation")
    if not np.allclose(val[ok], test[ok], equal_nan=True):
        ax.plot(steps[ok], test[ok], "s--", color="C2", ms=4, label="test")
    ax.axvline(best, color="0.4", ls=":", lw=1, label=f"checkpoint (step {best})")
    ax.axhline(mi, color="C3", lw=1.2, label=f"estimate {mi:.3f}")
    if truth is not None:
        ax.axhline(float(truth), color="k", ls="--", lw=1, label=f"truth {float(truth):.3f}")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{name} (nats)")
    ax.set_title(f"neural_mi, {name}: {mi:.3f} nats")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def attribution(
    image: Any,
    maps: Any,
    index: int = 0,
    *,
    class_names: Sequence[str] | None = None,
    axes: Any = None,
    alpha: float = 0.6,
    cmap_ig: str = "magma",
    cmap_pmi: str = "RdBu_r",
) -> Any:
    """One image with its IG map and the PMI maps of its explained classes overlaid.

    Panels: the image; the IG map (nats, ``cmap_ig``) over the image; one PMI map per explained
    class (nats, a diverging colour map centred on 0 with a symmetric range shared by the PMI
    panels), titled with the class and its clean probability.

    Args:
        image: ``(H, W, C)`` image (C = 3 drawn as RGB, otherwise the channel mean in grey)
            or a batch ``(B, H, W, C)`` from which ``index`` is taken.
        maps: a :class:`jaxmi.attribution.ITMaps` (batched) for the same images.
        index: which image of the batch.
        class_names: names of the classes (indexed by class number).
        axes: ``2 + k`` matplotlib Axes to draw into; a new figure if None.
        alpha: opacity of the overlays.
        cmap_ig: colour map of the IG panel.
        cmap_pmi: diverging colour map of the PMI panels.

    Returns:
        The array of Axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from jaxmi.attribution import ITMaps
        >>> from jaxmi.plot import attribution
        >>> m = ITMaps(ig=np.ones((1, 8, 8)), pmi=np.zeros((1, 2, 8, 8)),
        ...            classes=np.array([[3, 1]]), probs=np.full((1, 4), 0.25))
        >>> len(attribution(np.zeros((8, 8, 1)), m))
        4
    """
    import matplotlib.pyplot as plt

    img = np.asarray(image, np.float64)
    if img.ndim == 4:
        img = img[index]
    if img.ndim != 3:
        raise ValueError(f"image: expected (H, W, C) or a batch of them, got {img.shape}")
    ig = np.asarray(maps.ig, np.float64)
    pmi = np.asarray(maps.pmi, np.float64)
    if ig.ndim != 3 or pmi.ndim != 4 or not 0 <= index < ig.shape[0]:
        raise ValueError(f"maps/index: expected batched ITMaps and 0 <= index < {ig.shape[0]}")
    ig, pmi = ig[index], pmi[index]
    if ig.shape != img.shape[:2]:
        raise ValueError(f"maps: map size {ig.shape} differs from the image {img.shape[:2]}")
    classes = np.asarray(maps.classes)[index]
    probs = np.asarray(maps.probs)[index]
    k = pmi.shape[0]
    if axes is None:
        _, axes = plt.subplots(1, 2 + k, figsize=(2.4 * (2 + k), 2.7), squeeze=False)
        axes = axes[0]
    axes = np.asarray(axes).ravel()
    if axes.size != 2 + k:
        raise ValueError(f"axes: expected {2 + k} Axes, got {axes.size}")
    lo, hi = img.min(), img.max()
    shown = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    rgb = img.shape[-1] == 3
    gray = {} if rgb else dict(cmap="gray")
    base = shown if rgb else shown.mean(-1)

    def name(c):
        return class_names[c] if class_names is not None else str(c)

    axes[0].imshow(base, **gray)
    axes[0].set_title(f"image (top: {name(int(np.argmax(probs)))})", fontsize=9)
    axes[1].imshow(base, **gray)
    im = axes[1].imshow(ig, cmap=cmap_ig, alpha=alpha, vmin=0)
    axes[1].figure.colorbar(im, ax=axes[1], fraction=0.046)
    axes[1].set_title("IG (nats)", fontsize=9)
    finite = np.isfinite(pmi)
    lim = float(np.abs(pmi[finite]).max()) if finite.any() else 1.0
    lim = lim if lim > 0 else 1.0
    for j in range(k):
        ax = axes[2 + j]
        ax.imshow(base, **gray)
        im = ax.imshow(pmi[j], cmap=cmap_pmi, alpha=alpha, vmin=-lim, vmax=lim)
        ax.figure.colorbar(im, ax=ax, fraction=0.046)
        c = int(classes[j])
        ax.set_title(f"PMI {name(c)} (p={probs[c]:.2f})", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return axes
