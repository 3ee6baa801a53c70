"""GMM-MI (Piras et al. 2023): information quantities from fitted Gaussian mixtures.

Pipeline for one dataset ``z`` (columns standardised once):

1. choose the number of components K* by k-fold cross-validation on held-out log-likelihood
   (``n_init`` starts x ``n_folds`` folds per K, one batched EM call per K, sequential stopping
   rule with the reference's patience bug fixed);
2. refit on the full data from the selected fold fit (``theta_full``);
3. ``n_bootstrap`` replicates: multinomial counts as sample weights, one batched EM call, each
   started from ``theta_full`` at fixed K*;
4. integrate the functional (MI, conditional MI, entropy) of every fitted mixture by Monte Carlo
   with analytic marginals and common random numbers across replicates;
5. report the bootstrap mean, its standard deviation (ddof 1), the replicates and the
   full-data point estimate.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi._progress import Progress
from jaxmi._validation import (
    as_data_matrix,
    check_finite_scalar,
    check_int,
    check_key,
    is_traced,
)
from jaxmi.gmm import _em, _init
from jaxmi.gmm._fit import (
    _common_settings,
    _pad_components,
    _pad_data,
    _pad_weights,
    _take,
    resolve_capacity,
)
from jaxmi.gmm._mixture import GMM, _slice, component_logsumexp, log_prob_t, sample_t

__all__ = [
    "CategoricalMIResult",
    "MIResult",
    "PairwiseMIResult",
    "gmm_cmi",
    "gmm_entropy",
    "gmm_kl",
    "gmm_mi",
    "gmm_mi_categorical",
    "gmm_mi_pairwise",
    "select_components",
]

_TAG_FOLDS, _TAG_INIT, _TAG_BOOT, _TAG_MC = 0, 1, 2, 3


class MIResult(NamedTuple):
    """Result of a GMM-based information estimate (a pytree).

    Attributes:
        mi: bootstrap mean of the quantity (nats, or ``base`` units); the full-data value when
            ``n_bootstrap=0``.
        std: standard deviation over bootstrap replicates (ddof 1); None when ``n_bootstrap < 2``.
        samples: ``(n_bootstrap,)`` value of each replicate.
        point: the quantity of the full-data refit.
        point_stderr: Monte Carlo standard error of ``point``.
        n_components: the selected number of components K*.
        cv_scores: ``(K_evaluated,)`` selection metric per evaluated K (higher is better).
        selection_converged: False if ``max_components`` was reached without the stopping rule
            firing.
        n_iter: ``(n_bootstrap,)`` EM iterations of each replicate.
        converged: ``(n_bootstrap,)`` convergence flag of each replicate.
    """

    mi: jax.Array
    std: jax.Array | None
    samples: jax.Array
    point: jax.Array
    point_stderr: jax.Array
    n_components: jax.Array
    cv_scores: jax.Array
    selection_converged: jax.Array
    n_iter: jax.Array
    converged: jax.Array


# --------------------------------------------------------------------------------------------
# compiled pieces
# --------------------------------------------------------------------------------------------


@jax.jit
def _score(gmms: GMM, xt: jax.Array, s_valid: jax.Array) -> jax.Array:
    """Held-out mean log-likelihood of each fitted mixture ``(P,)`` (-inf for non-finite)."""
    tot = jnp.sum(s_valid, axis=1)
    inv = 1 / jnp.where(tot > 0, tot, 1)
    out = jax.vmap(_em.mean_log_likelihood, in_axes=(0, None, 0, 0))(gmms, xt, s_valid, inv)
    return jnp.where(jnp.isfinite(out), out, -jnp.inf)


@jax.jit
def _bootstrap_counts(key: jax.Array, weights_pad: jax.Array, idx_b: jax.Array) -> jax.Array:
    """Multinomial counts of replicate ``b``: N draws with replacement among the real samples."""
    n_pad = weights_pad.shape[0]
    n = jnp.sum(weights_pad > 0)

    def one(b):
        # int32 explicitly: the default follows x64, and another dtype draws another stream
        draw = jax.random.randint(jax.random.fold_in(key, b), (n_pad,), 0, n, dtype=jnp.int32)
        draw = jnp.where(jnp.arange(n_pad) < n, draw, n_pad)  # padding rows draw nothing
        return jnp.zeros((n_pad,), weights_pad.dtype).at[draw].add(1, mode="drop")

    return jax.vmap(one)(idx_b)


def _integrand(gmm: GMM, z: jax.Array, kind: str, blocks: tuple) -> jax.Array:
    """Pointwise integrand at points ``z (d, S)`` drawn from ``gmm``."""
    lp = log_prob_t
    if kind == "mi":
        ix, iy = (np.asarray(b) for b in blocks)
        return lp(gmm, z) - lp(_slice(gmm, ix), z[ix]) - lp(_slice(gmm, iy), z[iy])
    if kind == "cmi":
        ix, iy, iz = (np.asarray(b) for b in blocks)
        ixz, iyz = np.concatenate([ix, iz]), np.concatenate([iy, iz])
        return (
            lp(gmm, z)
            + lp(_slice(gmm, iz), z[iz])
            - lp(_slice(gmm, ixz), z[ixz])
            - lp(_slice(gmm, iyz), z[iyz])
        )
    if kind == "entropy":
        (ii,) = (np.asarray(b) for b in blocks)
        return -lp(_slice(gmm, ii), z[ii])
    if kind in ("kl_forward", "kl_reverse"):  # KL between the two marginals of a joint fit
        ix, iy = (np.asarray(b) for b in blocks)
        src, other = (ix, iy) if kind == "kl_forward" else (iy, ix)
        return lp(_slice(gmm, src), z[src]) - lp(_slice(gmm, other), z[src])
    raise ValueError(f"unknown functional {kind!r}")  # pragma: no cover


def _mc_functional(key, gmms: GMM, *, n_samples: int, kind: str, blocks: tuple):
    """Monte Carlo mean and standard error of the functional for a batch of mixtures.

    All mixtures share ``key`` (common random numbers): component choice by inverse CDF of the
    same uniforms and the same normal draws.
    """

    def one(g):
        z = sample_t(key, g, n_samples)
        v = _integrand(g, z, kind, blocks)
        mean = jnp.mean(v)
        return mean, jnp.std(v) / math.sqrt(n_samples)

    return jax.lax.map(one, gmms)


_mc_functional_jit = jax.jit(_mc_functional, static_argnames=("n_samples", "kind", "blocks"))


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------


def _point_and_replicates(full: GMM, boot: GMM | None) -> GMM:
    """The full-data fit followed by the bootstrap fits, ``(1 + B, ...)``: one MC program."""
    if boot is None:
        return _stack(full, 1)
    return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), full, boot)


def _stack(tree: Any, n: int) -> Any:
    return jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), tree)


def _n_params(k: int, d: int) -> int:
    return (k - 1) + k * d + k * d * (d + 1) // 2


def _select(key, xs, n, settings, em_kw):
    """Cross-validated choice of K. Returns (K*, theta_cv, scores, converged)."""
    n_pad = xs.shape[-1]
    n_folds, n_init = settings["n_folds"], settings["n_init"]
    perm = jax.random.permutation(
        jax.random.fold_in(key, _TAG_FOLDS), jnp.arange(n, dtype=jnp.int32)
    )
    fold_of = np.empty(n, np.int64)
    fold_of[np.asarray(perm)] = np.arange(n) % n_folds
    fold_of = np.concatenate([fold_of, np.full(n_pad - n, -1)])  # padding: in no fold
    real = fold_of >= 0
    train = np.stack([(fold_of != f) & real for f in range(n_folds)]).astype(xs.dtype)
    valid = np.stack([fold_of == f for f in range(n_folds)]).astype(xs.dtype)
    s_train = np.tile(train, (n_init, 1))  # problem p = r * F + f
    s_valid = np.tile(valid, (n_init, 1))
    key_init = jax.random.fold_in(key, _TAG_INIT)

    def evaluate(k):
        kc = resolve_capacity(settings["k_cap"], k)
        keys = jnp.stack(
            [jax.random.fold_in(jax.random.fold_in(key_init, k), r) for r in range(n_init)]
        )
        keys = jnp.repeat(keys, n_folds, axis=0)
        res = _em.solve(
            xs,
            np.zeros(n_init * n_folds, np.int32),
            s_train,
            (keys, jnp.full((n_init * n_folds,), k, jnp.int32)),
            method=settings["init"],
            kc=kc,
            **em_kw,
        )
        scores = np.asarray(_score(res.gmm, xs[0], s_valid))
        scores = np.where(np.asarray(res.failed), -np.inf, scores).reshape(n_init, n_folds)
        r_best = int(np.argmax(scores.mean(1)))
        f_best = int(np.argmax(scores[r_best]))
        theta = _take(res.gmm, r_best * n_folds + f_best)
        metric = float(scores[r_best].mean())
        if settings["metric"] != "valid":
            full = _em.solve(
                xs,
                np.zeros(1, np.int32),
                np.asarray(real, xs.dtype)[None],
                _stack(theta, 1),
                method="given",
                kc=kc,
                **em_kw,
            )
            ll = float(full.log_likelihood[0])
            pen = 2.0 if settings["metric"] == "aic" else math.log(n)
            metric = 2 * n * ll - pen * _n_params(k, xs.shape[1])
        return metric, theta

    if settings["n_components"] is not None:
        k = settings["n_components"]
        metric, theta = evaluate(k)
        return k, theta, np.array([metric]), True

    thetas = {}

    bar = Progress(None, "GMM-MI: choosing K", enabled=settings["progress"])

    def metric_of(k):
        metric, thetas[k] = evaluate(k)
        bar.update(note=f"K={k} metric {metric:.5f}")
        return metric

    with bar:
        best_k, scores, stopped = select_components(
            metric_of,
            settings["max_components"],
            settings["threshold"],
            settings["patience"],
            legacy_patience=settings["legacy_patience"],
        )
    if not np.isfinite(np.max(scores)):
        raise ValueError("x: every cross-validation fit failed; increase reg_covar")
    return best_k, thetas[best_k], np.array(scores), stopped


def select_components(
    metric_of,
    max_components: int,
    threshold: float,
    patience: int,
    *,
    legacy_patience: bool = False,
):
    """The sequential stopping rule for the number of components (spec §6.4).

    Evaluates ``metric_of(K)`` for K = 1, 2, ... (higher is better). An improvement by more than
    ``threshold`` resets a counter of failures; the search stops after ``patience`` consecutive
    failures and returns the last K that improved. ``legacy_patience=True`` reproduces the
    GMM-MI reference (0.8.2), whose counter is never reset, so it counts *all* failures so far
    and returns ``K_stop - patience`` (and ``max_components`` if it never stops).

    Args:
        metric_of: callable ``K -> float``.
        max_components: the largest K evaluated.
        threshold: the least improvement that counts.
        patience: failures tolerated.
        legacy_patience: reproduce the reference's bug.

    Returns:
        ``(K*, metrics evaluated, stopped)``; ``stopped`` is False when ``max_components`` was
        reached without the rule firing.
    """
    best, best_k, counter, scores = -np.inf, 1, 0, []
    for k in range(1, max_components + 1):
        m = metric_of(k)
        scores.append(m)
        if m - best > threshold:
            best, best_k = m, k
            if not legacy_patience:
                counter = 0
        else:
            counter += 1
        if counter >= patience:
            return (k - patience if legacy_patience else best_k), scores, True
    return (max_components if legacy_patience else best_k), scores, False


def _em_settings(o: dict, dt) -> dict:
    """Keyword arguments of :func:`_em.solve` from resolved options (the engine's defaults)."""
    tol, max_iter, reg, strategy, batch_size, chunk = _common_settings(
        o["tol"],
        o["max_iter"],
        o["reg_covar"],
        o["strategy"],
        o["batch_size"],
        o["chunk"],
        dt,
        kc=2,
    )
    return dict(
        tol=tol,
        max_iter=max_iter,
        reg_covar=reg,
        strategy=strategy,
        batch_size=batch_size,
        chunk=chunk,
    )


class _Fit(NamedTuple):
    """Selected, refitted and bootstrapped mixture of one dataset (host-side record)."""

    k: int
    cv: GMM
    full: GMM
    boot: _em.EMResult | None
    scores: np.ndarray
    converged: bool


def _fit_and_bootstrap(key, z: np.ndarray, o: dict, em_kw: dict) -> _Fit:
    """Choose K by CV, refit on all of ``z``, and refit ``n_bootstrap`` count-weighted replicates.

    The replicates are one batched EM call started from the full-data refit (or from the CV fit
    with ``bootstrap_start="cv"``), each at fixed K*.
    """
    n = z.shape[0]
    xs = _pad_data(z)[None]
    real = _pad_weights(np.ones((n,), z.dtype), xs.shape[-1])
    k_star, theta_cv, scores, conv = _select(key, xs, n, o, em_kw)
    # after selection, refit, bootstrap and integrate at the power-of-two bucket of K*: masked
    # components cost as much as active ones (8x waste at K* = 1 under the "grow" capacity)
    kc = min(theta_cv.capacity, resolve_capacity("bucket", k_star))
    theta_cv = jax.tree.map(lambda a: a[:kc], theta_cv)
    b = o["n_bootstrap"]
    # the refit (1 problem) and the bootstrap (b problems) share one compiled EM program: the
    # refit runs in the bootstrap's chunk size, padded with empty problems
    kw = dict(em_kw, chunk=max(1, min(em_kw["chunk"], 1 << max(b - 1, 0).bit_length())))
    full = _em.solve(
        xs,
        np.zeros(1, np.int32),
        real[None],
        _stack(theta_cv, 1),
        method="given",
        kc=kc,
        shrink=False,
        **kw,
    )
    theta_full = _take(full.gmm, 0)
    boot = None
    if b:
        start = theta_cv if o["bootstrap_start"] == "cv" else theta_full
        counts = _bootstrap_counts(
            jax.random.fold_in(key, _TAG_BOOT), jnp.asarray(real), jnp.arange(b)
        )
        boot = _em.solve(
            xs,
            np.zeros(b, np.int32),
            counts,
            _stack(start, b),
            method="given",
            kc=kc,
            shrink=False,
            **kw,
        )
    return _Fit(k_star, theta_cv, theta_full, boot, scores, conv)


def _standardize(z: np.ndarray, name: str = "x") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns to zero mean and unit variance (ddof 0): ``(data, mean, scale)``."""
    sd = z.std(0)
    if np.any(sd <= 0):
        bad = np.flatnonzero(sd <= 0).tolist()
        raise ValueError(f"{name}: constant column(s) {bad}: the density is degenerate")
    mean = z.mean(0)
    return ((z - mean) / sd).astype(z.dtype), mean, sd


def _estimate(key, z: np.ndarray, kind: str, blocks: tuple, options: dict) -> MIResult:
    key = check_key(key)
    n = z.shape[0]
    o = _resolve_options(options, n)
    dt = z.dtype
    log_scale = 0.0
    if o["standardize"]:
        z, _, sd = _standardize(z)
        if kind == "entropy":
            log_scale = float(np.sum(np.log(sd.astype(np.float64))[list(blocks[0])]))
    fit = _fit_and_bootstrap(key, z, o, _em_settings(o, dt))
    key_mc = jax.random.fold_in(key, _TAG_MC)
    mc = dict(n_samples=o["mc_samples"], kind=kind, blocks=blocks)
    boot = fit.boot
    all_vals, all_se = _mc_functional_jit(
        key_mc, _point_and_replicates(fit.full, None if boot is None else boot.gmm), **mc
    )
    scale = 1.0 / math.log(o["base"]) if o["base"] is not None else 1.0
    point = (all_vals[0] + log_scale) * scale
    common = dict(
        point=point,
        point_stderr=all_se[0] * scale,
        n_components=jnp.asarray(fit.k),
        cv_scores=jnp.asarray(fit.scores),
        selection_converged=jnp.asarray(fit.converged),
    )
    if boot is None:
        return MIResult(
            mi=point,
            std=None,
            samples=jnp.zeros((0,), dt),
            n_iter=jnp.zeros((0,), jnp.int32),
            converged=jnp.zeros((0,), bool),
            **common,
        )
    vals = (all_vals[1:] + log_scale) * scale
    return MIResult(
        mi=jnp.mean(vals),
        std=jnp.std(vals, ddof=1) if vals.shape[0] > 1 else None,
        samples=vals,
        n_iter=boot.n_iter,
        converged=boot.converged,
        **common,
    )


_DEFAULTS = dict(
    n_init=3,
    n_folds=2,
    max_components=50,
    threshold=1e-5,
    patience=1,
    metric="valid",
    n_components=None,
    n_bootstrap=50,
    mc_samples=100_000,
    tol=1e-5,
    max_iter=10_000,
    reg_covar=1e-6,
    init="random_responsibilities",
    standardize=True,
    bootstrap_start="full",
    base=None,
    k_cap="grow",
    strategy=None,
    batch_size=None,
    chunk=None,
    progress=False,
    legacy_patience=False,
)


def _resolve_options(options: dict, n: int) -> dict:
    unknown = set(options) - set(_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
    o = {**_DEFAULTS, **options}
    o["n_init"] = check_int(o["n_init"], "n_init", minimum=1)
    o["n_folds"] = check_int(o["n_folds"], "n_folds", minimum=2)
    o["max_components"] = check_int(o["max_components"], "max_components", minimum=1)
    o["patience"] = check_int(o["patience"], "patience", minimum=1)
    o["n_bootstrap"] = check_int(o["n_bootstrap"], "n_bootstrap", minimum=0)
    o["mc_samples"] = check_int(o["mc_samples"], "mc_samples", minimum=2)
    o["max_iter"] = check_int(o["max_iter"], "max_iter", minimum=1)
    o["threshold"] = check_finite_scalar(o["threshold"], "threshold")
    o["tol"] = check_finite_scalar(o["tol"], "tol", positive=True)
    o["reg_covar"] = check_finite_scalar(o["reg_covar"], "reg_covar", nonnegative=True)
    if o["metric"] not in ("valid", "aic", "bic"):
        raise ValueError(f"metric: expected 'valid', 'aic' or 'bic', got {o['metric']!r}")
    if o["bootstrap_start"] not in ("full", "cv"):
        raise ValueError(f"bootstrap_start: expected 'full' or 'cv', got {o['bootstrap_start']!r}")
    o["init"] = _init.check_method(o["init"])
    if o["n_components"] is not None:
        o["n_components"] = check_int(o["n_components"], "n_components", minimum=1)
    if o["base"] is not None:
        o["base"] = check_finite_scalar(o["base"], "base", positive=True)
        if o["base"] == 1:
            raise ValueError("base: must not be 1")
    if o["strategy"] not in (None, "map", "vmap", "queue"):
        raise ValueError(f"strategy: expected 'map', 'vmap' or 'queue', got {o['strategy']!r}")
    n_train = n - -(-n // o["n_folds"])  # the smallest training part of a fold
    k_min = o["n_components"] or 1
    if o["n_folds"] > n or n_train < k_min:
        raise ValueError(
            f"x: {n} samples are too few for n_folds={o['n_folds']} with {k_min} component(s) "
            f"({n_train} training samples per fold)"
        )
    # never try more components than a training fold has samples
    o["max_components"] = min(o["max_components"], n_train)
    return o


def _columns(x: Any, name: str, dtype: Any, n: int | None = None) -> np.ndarray:
    if is_traced(x):
        raise ValueError(
            f"{name}: GMM-MI chooses its model from the data and cannot run under jit/vmap; "
            "call it on concrete arrays"
        )
    arr = as_data_matrix(x, name, dtype=dtype, host=True)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name}: has {arr.shape[0]} samples, expected {n} to match x")
    return arr


def gmm_mi(key: jax.Array, x: Any, y: Any, **options: Any) -> MIResult:
    """Mutual information I(X; Y) with bootstrap error bars (GMM-MI, Piras et al. 2023).

    Fits one Gaussian mixture to the joint ``(x, y)`` (K chosen by cross-validation), refits it
    on ``n_bootstrap`` bootstrap replicates, and integrates the pointwise MI
    ``log p(x, y) - log p(x) - log p(y)`` of each fit by Monte Carlo with analytic marginals.

    Args:
        key: typed PRNG key (``jax.random.key``).
        x: ``(N,)`` or ``(N, dx)`` samples of X.
        y: ``(N,)`` or ``(N, dy)`` samples of Y, paired with ``x``.
        **options: ``n_init`` (3), ``n_folds`` (2), ``max_components`` (50), ``threshold``
            (1e-5, nats/sample for ``metric="valid"``), ``patience`` (1), ``metric``
            (``"valid"``, ``"aic"``, ``"bic"``), ``n_components`` (fix K and skip selection),
            ``n_bootstrap`` (50), ``mc_samples`` (1e5), ``tol`` (1e-5), ``max_iter`` (10,000),
            ``reg_covar`` (1e-6, on standardised data; the reference's 1e-15 is below float32
            resolution), ``init`` (``"random_responsibilities"``), ``standardize`` (True),
            ``bootstrap_start`` (``"full"``: from the full-data refit; ``"cv"``: the reference's
            fold fit), ``base`` (None = nats; 2 = bits), ``dtype``, ``strategy``,
            ``batch_size``, ``chunk``, ``progress`` (a progress bar on stderr),
            ``legacy_patience`` (False; True
            reproduces the reference's patience bug for parity runs).

    Returns:
        An :class:`MIResult` (``mi``, ``std``, ``samples``, ``point``, ``n_components``, ...).

    Raises:
        ValueError: malformed or mismatched inputs, constant columns, too few samples for the
            folds and components, bad options.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> z = np.random.default_rng(0).multivariate_normal([0, 0], [[1, .6], [.6, 1]], 2000)
        >>> r = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], n_bootstrap=10,
        ...                  mc_samples=20_000)
        >>> abs(float(r.mi) - 0.2231) < 0.05   # true MI: -0.5 log(1 - 0.36) nats
        True
    """
    dtype = options.pop("dtype", None)
    xa = _columns(x, "x", dtype)
    ya = _columns(y, "y", xa.dtype, n=xa.shape[0])
    z = np.concatenate([xa, ya], axis=1)
    dx = xa.shape[1]
    blocks = (tuple(range(dx)), tuple(range(dx, z.shape[1])))
    return _estimate(key, z, "mi", blocks, options)


def gmm_cmi(key: jax.Array, x: Any, y: Any, z: Any, **options: Any) -> MIResult:
    """Conditional mutual information I(X; Y | Z) from one mixture fitted to ``(x, y, z)``.

    The integrand is ``log p(x,y,z) + log p(z) - log p(x,z) - log p(y,z)``; all four densities
    are analytic marginals of the same fit. Options as for :func:`gmm_mi`.

    Args:
        key: typed PRNG key.
        x: ``(N,)`` or ``(N, dx)``.
        y: ``(N,)`` or ``(N, dy)``.
        z: ``(N,)`` or ``(N, dz)``, the conditioning variable.
        **options: see :func:`gmm_mi`.

    Returns:
        An :class:`MIResult` whose ``mi`` is the conditional MI (nats, or ``base`` units).

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> cov = [[1, .6, .3], [.6, 1, .4], [.3, .4, 1]]
        >>> w = np.random.default_rng(0).multivariate_normal([0, 0, 0], cov, 3000)
        >>> r = jaxmi.gmm_cmi(jax.random.key(0), w[:, 0], w[:, 1], w[:, 2], n_bootstrap=5,
        ...                   mc_samples=20_000)
        >>> abs(float(r.mi) - 0.179348) < 0.05
        True
    """
    dtype = options.pop("dtype", None)
    xa = _columns(x, "x", dtype)
    n = xa.shape[0]
    ya = _columns(y, "y", xa.dtype, n=n)
    za = _columns(z, "z", xa.dtype, n=n)
    dx, dy = xa.shape[1], ya.shape[1]
    w = np.concatenate([xa, ya, za], axis=1)
    blocks = (
        tuple(range(dx)),
        tuple(range(dx, dx + dy)),
        tuple(range(dx + dy, w.shape[1])),
    )
    return _estimate(key, w, "cmi", blocks, options)


def gmm_entropy(key: jax.Array, x: Any, **options: Any) -> MIResult:
    """Differential entropy h(X) of the data's density, from a fitted Gaussian mixture.

    Entropy is not affine-invariant: the log-scales of the standardisation are added back, so
    the result is the entropy of ``x`` in its own units. Options as for :func:`gmm_mi`, plus
    ``dims`` (a subset of columns; default all).

    Args:
        key: typed PRNG key.
        x: ``(N,)`` or ``(N, d)``.
        **options: see :func:`gmm_mi`; ``dims`` picks the columns whose joint entropy is wanted.

    Returns:
        An :class:`MIResult` whose ``mi`` field holds the entropy (nats, or ``base`` units).

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> x = np.random.default_rng(0).normal(size=4000) * 2.0
        >>> r = jaxmi.gmm_entropy(jax.random.key(0), x, n_bootstrap=5, mc_samples=20_000)
        >>> abs(float(r.mi) - (1.418939 + np.log(2.0))) < 0.05
        True
    """
    dtype = options.pop("dtype", None)
    dims = options.pop("dims", None)
    xa = _columns(x, "x", dtype)
    d = xa.shape[1]
    if dims is None:
        dims = tuple(range(d))
    else:
        from jaxmi.gmm._mixture import _check_dims

        dims = tuple(int(i) for i in _check_dims(dims, d))
    return _estimate(key, xa, "entropy", (dims,), options)


# --------------------------------------------------------------------------------------------
# categorical labels
# --------------------------------------------------------------------------------------------


class CategoricalMIResult(NamedTuple):
    """Result of :func:`gmm_mi_categorical` (a pytree; ``classes`` is a NumPy array).

    Attributes:
        mi: bootstrap mean of I(X; C) (nats, or ``base`` units).
        std: standard deviation over replicates (ddof 1); None when ``n_bootstrap < 2``.
        samples: ``(n_bootstrap,)`` value of each replicate.
        point: I(X; C) of the full-data fits.
        point_stderr: Monte Carlo standard error of ``point``.
        classes: ``(C,)`` the distinct labels, in the order of every per-class field.
        prior: ``(C,)`` the class prior used.
        n_components: ``(C,)`` K* of each class-conditional mixture.
        selection_converged: ``(C,)``.
        n_iter: ``(n_bootstrap, C)`` EM iterations of each replicate and class.
        converged: ``(n_bootstrap, C)``.
    """

    mi: jax.Array
    std: jax.Array | None
    samples: jax.Array
    point: jax.Array
    point_stderr: jax.Array
    classes: np.ndarray
    prior: jax.Array
    n_components: jax.Array
    selection_converged: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def _categorical_mi(key, gmms: GMM, log_prior, *, n_samples: int):
    """I(X; C) for class mixtures ``gmms`` (C, ...) by MC with ``n_samples`` points per class."""
    n_cls = log_prior.shape[0]
    means, variances = [], []
    for c in range(n_cls):
        g_c = _take(gmms, c)
        z = sample_t(jax.random.fold_in(key, c), g_c, n_samples)
        lps = jnp.stack([log_prob_t(_take(gmms, j), z) for j in range(n_cls)])  # (C, S)
        v = lps[c] - component_logsumexp(log_prior[:, None] + lps)
        means.append(jnp.mean(v))
        variances.append(jnp.var(v) / n_samples)
    prior = jnp.exp(log_prior)
    return jnp.sum(prior * jnp.stack(means)), jnp.sqrt(jnp.sum(prior**2 * jnp.stack(variances)))


_categorical_mi_batch = jax.jit(
    lambda key, gmms, log_prior, n_samples: jax.lax.map(
        lambda g: _categorical_mi(key, g, log_prior, n_samples=n_samples), gmms
    ),
    static_argnames=("n_samples",),
)


def _class_prior(prior: Any, counts: np.ndarray, dt) -> np.ndarray:
    n_cls = counts.shape[0]
    if isinstance(prior, str):
        if prior == "empirical":
            return (counts / counts.sum()).astype(dt)
        if prior == "uniform":
            return np.full(n_cls, 1.0 / n_cls, dt)
        raise ValueError(f"prior: expected 'empirical', 'uniform' or a vector, got {prior!r}")
    p = np.asarray(prior, np.float64)
    if p.shape != (n_cls,) or not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError(f"prior: expected {n_cls} positive finite probabilities, got {prior!r}")
    if abs(p.sum() - 1) > 1e-6:
        raise ValueError(f"prior: must sum to 1, sums to {p.sum():.6g}")
    return p.astype(dt)


def gmm_mi_categorical(
    key: jax.Array, x: Any, labels: Any, *, prior: Any = "empirical", **options: Any
) -> CategoricalMIResult:
    """Mutual information I(X; C) between continuous ``x`` and discrete ``labels``.

    Each class-conditional density p(x | c) is a Gaussian mixture with its own K* (chosen by
    cross-validation within the class); the bootstrap is stratified (each class resampled within
    itself). ``I = sum_c pi_c E_{x ~ p(x|c)}[log p(x|c) - log sum_c' pi_c' p(x|c')]`` by Monte
    Carlo with ``mc_samples`` points per class, in log space throughout.

    Unlike the GMM-MI reference, labels may be any values (they are mapped to ``0..C-1`` and
    returned in ``classes``) and the class prior defaults to the empirical class frequencies.
    ``prior="uniform"`` reproduces the reference's implicit choice, which is biased when the
    classes are imbalanced.

    Args:
        key: typed PRNG key.
        x: ``(N,)`` or ``(N, d)`` continuous samples.
        labels: ``(N,)`` labels of any hashable, sortable values (ints, strings, ...).
        prior: ``"empirical"`` (``n_c / N``), ``"uniform"`` or a vector of C probabilities in the
            order of the sorted distinct labels.
        **options: as for :func:`gmm_mi`.

    Returns:
        A :class:`CategoricalMIResult`.

    Raises:
        ValueError: fewer than two classes, a class too small for the folds and components,
            mismatched lengths, bad prior, and everything :func:`gmm_mi` rejects.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> rng = np.random.default_rng(0)
        >>> c = rng.choice(["a", "b", "c"], size=3000, p=[0.7, 0.2, 0.1])
        >>> x = rng.normal(size=3000) + 2.0 * np.searchsorted(["a", "b", "c"], c)
        >>> r = jaxmi.gmm_mi_categorical(jax.random.key(0), x, c, n_bootstrap=5,
        ...                              mc_samples=20_000)
        >>> r.classes.tolist(), abs(float(r.mi) - 0.445116) < 0.05
        (['a', 'b', 'c'], True)
    """
    key = check_key(key)
    dtype = options.pop("dtype", None)
    xa = _columns(x, "x", dtype)
    n, dt = xa.shape[0], xa.dtype
    if is_traced(labels):
        raise ValueError("labels: GMM-MI cannot run under jit/vmap; pass concrete labels")
    lab = np.asarray(labels)
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab[:, 0]
    if lab.ndim != 1 or lab.shape[0] != n:
        raise ValueError(f"labels: expected shape ({n},) to match x, got {lab.shape}")
    if lab.dtype.kind == "f" and not np.all(np.isfinite(lab)):
        raise ValueError("labels: contains NaN or infinite values")
    try:
        classes, codes = np.unique(lab, return_inverse=True)
    except TypeError as err:
        raise ValueError(f"labels: values cannot be sorted ({err})") from err
    n_cls = classes.shape[0]
    if n_cls < 2:
        raise ValueError(f"labels: needs at least 2 classes, got {n_cls} ({classes.tolist()})")
    counts = np.bincount(codes, minlength=n_cls)
    pri = _class_prior(prior, counts, dt)
    # standardise once over all classes; the same map for every class keeps I(X; C) unchanged
    if options.get("standardize", True):
        xa, _, _ = _standardize(xa)
    opts = {**options, "standardize": False}
    per_class = []
    for c in range(n_cls):
        xc = xa[codes == c]
        try:
            per_class.append((xc, _resolve_options(dict(opts), xc.shape[0])))
        except ValueError as err:
            raise ValueError(
                f"labels: class {classes[c].item()!r} has {counts[c]} samples: {err}"
            ) from err
    o = per_class[0][1]
    em_kw = _em_settings(o, dt)
    fits = [
        _fit_and_bootstrap(jax.random.fold_in(key, 1000 + c), xc, oc, em_kw)
        for c, (xc, oc) in enumerate(per_class)
    ]
    kc = max(f.full.capacity for f in fits)

    def stack_classes(gmms, axis):
        return jax.tree.map(
            lambda *a: jnp.stack(a, axis=axis), *[_pad_components(g, kc) for g in gmms]
        )

    scale = 1.0 / math.log(o["base"]) if o["base"] is not None else 1.0
    log_prior = jnp.log(jnp.asarray(pri))
    key_mc = jax.random.fold_in(key, _TAG_MC)
    full_stack = stack_classes([f.full for f in fits], 0)  # (C, kc, ...)
    boot_stack = None  # (B, C, kc, ...): the classes of each replicate
    if o["n_bootstrap"]:
        boot_stack = stack_classes([f.boot.gmm for f in fits], 1)
    all_mi, all_se = _categorical_mi_batch(
        key_mc, _point_and_replicates(full_stack, boot_stack), log_prior, o["mc_samples"]
    )
    point, point_se = all_mi[0] * scale, all_se[0] * scale
    common = dict(
        point=point,
        point_stderr=point_se,
        classes=classes,
        prior=jnp.asarray(pri),
        n_components=jnp.asarray([f.k for f in fits]),
        selection_converged=jnp.asarray([f.converged for f in fits]),
    )
    if o["n_bootstrap"] == 0:
        return CategoricalMIResult(
            mi=point,
            std=None,
            samples=jnp.zeros((0,), dt),
            n_iter=jnp.zeros((0, n_cls), jnp.int32),
            converged=jnp.zeros((0, n_cls), bool),
            **common,
        )
    boots = [f.boot for f in fits]
    vals = all_mi[1:] * scale
    return CategoricalMIResult(
        mi=jnp.mean(vals),
        std=jnp.std(vals, ddof=1) if vals.shape[0] > 1 else None,
        samples=vals,
        n_iter=jnp.stack([r.n_iter for r in boots], axis=1),
        converged=jnp.stack([r.converged for r in boots], axis=1),
        **common,
    )


# --------------------------------------------------------------------------------------------
# KL divergence
# --------------------------------------------------------------------------------------------


def _kl_pairs(key, ps: GMM, qs: GMM, n_samples: int):
    """``E_{z ~ p}[log p(z) - log q(z)]`` and its MC standard error for each pair (p, q)."""

    def one(pq):
        p, q = pq
        z = sample_t(key, p, n_samples)
        v = log_prob_t(p, z) - log_prob_t(q, z)
        return jnp.mean(v), jnp.std(v) / math.sqrt(n_samples)

    return jax.lax.map(one, (ps, qs))


_kl_pairs_jit = jax.jit(_kl_pairs, static_argnames=("n_samples",))


def gmm_kl(
    key: jax.Array,
    x: Any,
    y: Any,
    *,
    mode: str = "separate",
    order: str = "forward",
    **options: Any,
) -> MIResult:
    """KL divergence between the densities of two samples, with bootstrap error bars.

    ``order="forward"`` gives ``KL[p_x || p_y] = E_{p_x}[log p_x - log p_y]``, ``"reverse"``
    gives ``KL[p_y || p_x]``.

    * ``mode="separate"`` (default): ``x (N1, d)`` and ``y (N2, d)`` are independent samples,
      possibly of different sizes; each gets its own mixture (K by cross-validation) and its own
      bootstrap, replicate b pairing the b-th refits of both.
    * ``mode="joint"`` (the GMM-MI reference's ``include_kl``): ``x`` and ``y`` are paired samples
      of the same space; one mixture is fitted to ``(x, y)`` and the KL is between its two
      marginals.

    Both standardise with one pooled affine map per coordinate (KL is invariant only under the
    same map applied to both samples). Options as for :func:`gmm_mi`.

    Args:
        key: typed PRNG key.
        x: ``(N1,)`` or ``(N1, d)``.
        y: ``(N2,)`` or ``(N2, d)``, the same dimension ``d`` (and ``N2 == N1`` in joint mode).
        mode: ``"separate"`` or ``"joint"``.
        order: ``"forward"`` or ``"reverse"``.
        **options: see :func:`gmm_mi`.

    Returns:
        An :class:`MIResult` whose ``mi`` holds the KL divergence (nats, or ``base`` units). In
        separate mode ``n_components``/``selection_converged`` are ``(2,)`` (x's fit, y's fit),
        ``n_iter``/``converged`` are ``(n_bootstrap, 2)``, and ``cv_scores`` are x's.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(7, 4, 4000), rng.normal(-3, 5, 4000)
        >>> r = jaxmi.gmm_kl(jax.random.key(0), a, b, n_bootstrap=5, mc_samples=20_000)
        >>> abs(float(r.mi) - 2.043144) < 0.15  # log(5/4) + (16 + 100) / 50 - 1/2
        True
    """
    key = check_key(key)
    if mode not in ("separate", "joint"):
        raise ValueError(f"mode: expected 'separate' or 'joint', got {mode!r}")
    if order not in ("forward", "reverse"):
        raise ValueError(f"order: expected 'forward' or 'reverse', got {order!r}")
    dtype = options.pop("dtype", None)
    xa = _columns(x, "x", dtype)
    ya = _columns(y, "y", xa.dtype, n=xa.shape[0] if mode == "joint" else None)
    if ya.shape[1] != xa.shape[1]:
        raise ValueError(
            f"y: has {ya.shape[1]} column(s), x has {xa.shape[1]}; KL needs the same space"
        )
    if options.get("standardize", True):  # one pooled map for both samples
        _, mean, sd = _standardize(np.concatenate([xa, ya]), "x, y")
        xa, ya = ((xa - mean) / sd).astype(xa.dtype), ((ya - mean) / sd).astype(xa.dtype)
    opts = {**options, "standardize": False}
    d = xa.shape[1]
    if mode == "joint":
        blocks = (tuple(range(d)), tuple(range(d, 2 * d)))
        return _estimate(key, np.concatenate([xa, ya], axis=1), f"kl_{order}", blocks, opts)
    ox = _resolve_options(dict(opts), xa.shape[0])
    oy = _resolve_options(dict(opts), ya.shape[0])
    em_kw = _em_settings(ox, xa.dtype)
    fx = _fit_and_bootstrap(jax.random.fold_in(key, 2000), xa, ox, em_kw)
    fy = _fit_and_bootstrap(jax.random.fold_in(key, 2001), ya, oy, em_kw)
    kc = max(fx.full.capacity, fy.full.capacity)
    pad = functools.partial(_pad_components, kc=kc)
    first, second = (fx, fy) if order == "forward" else (fy, fx)
    key_mc = jax.random.fold_in(key, _TAG_MC)
    n_s = ox["mc_samples"]
    scale = 1.0 / math.log(ox["base"]) if ox["base"] is not None else 1.0
    has_boot = fx.boot is not None
    p_kl, p_se = _kl_pairs_jit(
        key_mc,
        _point_and_replicates(pad(first.full), pad(first.boot.gmm) if has_boot else None),
        _point_and_replicates(pad(second.full), pad(second.boot.gmm) if has_boot else None),
        n_samples=n_s,
    )
    common = dict(
        point=p_kl[0] * scale,
        point_stderr=p_se[0] * scale,
        n_components=jnp.asarray([fx.k, fy.k]),
        cv_scores=jnp.asarray(fx.scores),
        selection_converged=jnp.asarray([fx.converged, fy.converged]),
    )
    if not has_boot:
        return MIResult(
            mi=common["point"],
            std=None,
            samples=jnp.zeros((0,), xa.dtype),
            n_iter=jnp.zeros((0, 2), jnp.int32),
            converged=jnp.zeros((0, 2), bool),
            **common,
        )
    vals = p_kl[1:] * scale
    return MIResult(
        mi=jnp.mean(vals),
        std=jnp.std(vals, ddof=1) if vals.shape[0] > 1 else None,
        samples=vals,
        n_iter=jnp.stack([fx.boot.n_iter, fy.boot.n_iter], axis=1),
        converged=jnp.stack([fx.boot.converged, fy.boot.converged], axis=1),
        **common,
    )


# --------------------------------------------------------------------------------------------
# pairwise MI matrix
# --------------------------------------------------------------------------------------------


class PairwiseMIResult(NamedTuple):
    """Result of :func:`gmm_mi_pairwise` (a pytree of ``(p, q)`` arrays).

    Attributes:
        mi: ``(p, q)`` bootstrap mean MI of each pair (nats, or ``base`` units); ``+inf`` on the
            diagonal when ``b`` is None (I(X;X) is infinite for continuous X).
        std: ``(p, q)`` bootstrap standard deviation (0 where not estimated).
        point: ``(p, q)`` MI of the full-data fits.
        n_components: ``(p, q)`` K* of each pair (0 where not estimated).
        estimated: ``(p, q)`` bool, False on the diagonal of a within-``a`` matrix.
        converged: ``(p, q)`` bool, all bootstrap refits of the pair converged.
    """

    mi: jax.Array
    std: jax.Array
    point: jax.Array
    n_components: jax.Array
    estimated: jax.Array
    converged: jax.Array


def gmm_mi_pairwise(key: jax.Array, a: Any, b: Any = None, **options: Any) -> PairwiseMIResult:
    """MI with error bars between every column of ``a`` and every column of ``b``.

    Pair ``(i, j)`` is the two-dimensional problem ``(a[:, i], b[:, j])`` with key
    ``fold_in(fold_in(key, i), j)``, so each entry equals
    ``gmm_mi(fold_in(fold_in(key, i), j), a[:, i], b[:, j], **options)``. With ``b=None`` the
    pairs within ``a`` are estimated for ``i < j`` and mirrored; the diagonal is ``+inf`` and
    marked not ``estimated``.

    This version runs the pairs one after the other (every pair reuses the same compiled
    programs). A batched version over the pair axis, sharded over devices, is planned.

    Args:
        key: typed PRNG key.
        a: ``(N, p)`` (e.g. latent variables).
        b: ``(N, q)`` (e.g. generative factors), or None for the pairs within ``a``.
        **options: as for :func:`gmm_mi` (``progress=True`` shows a progress bar over the
            pairs on stderr).

    Returns:
        A :class:`PairwiseMIResult` of ``(p, q)`` arrays.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=(1000, 2)); b = a[:, :1] + rng.normal(size=(1000, 1))
        >>> r = jaxmi.gmm_mi_pairwise(jax.random.key(0), a, b, n_bootstrap=4, mc_samples=5000)
        >>> r.mi.shape, bool(r.mi[0, 0] > r.mi[1, 0])
        ((2, 1), True)
    """
    key = check_key(key)
    dtype = options.pop("dtype", None)
    progress = options.get("progress", False)
    aa = _columns(a, "a", dtype)
    within = b is None
    bb = aa if within else _columns(b, "b", aa.dtype, n=aa.shape[0])
    p, q = aa.shape[1], bb.shape[1]
    shape = (p, q)
    mi = np.zeros(shape, aa.dtype)
    std = np.zeros(shape, aa.dtype)
    point = np.zeros(shape, aa.dtype)
    k = np.zeros(shape, np.int32)
    est = np.zeros(shape, bool)
    conv = np.zeros(shape, bool)
    opts = {**options, "progress": False}
    n_pairs = p * (p - 1) // 2 if within else p * q
    bar = Progress(n_pairs, "GMM-MI pairs", enabled=progress)
    for i in range(p):
        for j in range(q):
            if within and j <= i:
                continue
            r = gmm_mi(
                jax.random.fold_in(jax.random.fold_in(key, i), j),
                aa[:, i],
                bb[:, j],
                dtype=aa.dtype,
                **opts,
            )
            mi[i, j], point[i, j], k[i, j] = float(r.mi), float(r.point), int(r.n_components)
            std[i, j] = 0.0 if r.std is None else float(r.std)
            est[i, j], conv[i, j] = True, bool(np.all(np.asarray(r.converged)))
            bar.update(note=f"({i}, {j}): {mi[i, j]:.3f} ± {std[i, j]:.3f}")
    bar.close()
    if within:
        for arr in (mi, std, point, k, conv):
            low = np.tril_indices(p, -1)
            arr[low] = arr.T[low]
        est = est | est.T
        mi[np.diag_indices(p)] = np.inf
    return PairwiseMIResult(
        mi=jnp.asarray(mi),
        std=jnp.asarray(std),
        point=jnp.asarray(point),
        n_components=jnp.asarray(k),
        estimated=jnp.asarray(est),
        converged=jnp.asarray(conv),
    )
