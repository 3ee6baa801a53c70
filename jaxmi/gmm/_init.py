"""Initialisations of Gaussian mixtures for EM (weighted, masked, sample axis last).

Every initialisation works on the weighted data of the problem it starts (sample weights ``s``;
zero-weight samples never influence it) and on a component capacity ``Kc`` with a traced number
of active components ``K``. Randomness for component ``k`` comes from ``fold_in(key, k)``, so a
start does not depend on ``Kc``.

Names (jaxmi name, with the GMM-MI reference's ``init_type`` in brackets):

* ``random_responsibilities`` [``'random_sklearn'``, the reference default]
* ``kmeans`` [``'kmeans_sklearn'``]: k-means++ (greedy) seeding + Lloyd, one-hot M-step
* ``kmeans_scipy`` [``'kmeans'``]: scipy ``kmeans2``-style start, covariance scatter / N quirk
* ``randomized_kmeans`` [``'randomized_kmeans'``]: k-means, then every mean kicked by its covariance
* ``random_points`` [``'random'``]: means at random data points plus noise, isotropic covariances
* ``minmax`` [``'minmax'``]: means uniform in the bounding box, isotropic covariances
* ``kmeans++``: k-means++ seeding only, hard assignment, one M-step

A bare ``"random"`` is refused: the reference's ``'random'`` is *not* random responsibilities.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from jaxmi.gmm._mixture import GMM, precision_cholesky

__all__ = ["METHODS", "check_method", "initialize_t"]

METHODS = (
    "random_responsibilities",
    "kmeans",
    "kmeans_scipy",
    "randomized_kmeans",
    "random_points",
    "minmax",
    "kmeans++",
)

_REFERENCE_NAMES = {
    "random_sklearn": "random_responsibilities",
    "kmeans_sklearn": "kmeans",
}

#: Lloyd iterations for the scikit-learn-style k-means (its ``max_iter``) and its relative tol.
_KMEANS_MAX_ITER = 300
_KMEANS_TOL = 1e-4
#: scipy ``kmeans2`` runs a fixed number of iterations.
_KMEANS_SCIPY_ITER = 10
#: Scale of the kick in ``randomized_kmeans``.
_RANDOMIZED_SCALE = 1.0


def check_method(init: str) -> str:
    """Validate an initialisation name, with helpful errors for the reference's names."""
    if not isinstance(init, str):
        raise ValueError(f"init: expected a method name or a GMM, got {type(init).__name__}")
    if init == "random":
        raise ValueError(
            "init: 'random' is ambiguous. The GMM-MI reference's 'random' places means at random "
            "data points (jaxmi: 'random_points'); its default 'random_sklearn' draws random "
            "responsibilities (jaxmi: 'random_responsibilities'). Name one of them."
        )
    if init in _REFERENCE_NAMES:
        raise ValueError(
            f"init: {init!r} is the GMM-MI reference's name; jaxmi calls it "
            f"{_REFERENCE_NAMES[init]!r}"
        )
    if init not in METHODS:
        raise ValueError(f"init: unknown method {init!r}; choose one of {', '.join(METHODS)}")
    return init


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _comp_keys(key: jax.Array, kc: int) -> jax.Array:
    return jax.vmap(lambda k: jax.random.fold_in(key, k))(jnp.arange(kc))


def _global_moments(xt, s):
    w = s / jnp.sum(s)
    mean = xt @ w
    diff = xt - mean[:, None]
    cov = (diff * w[None, :]) @ diff.T
    return mean, cov


def _finalize(weights, means, cov, active, reg_covar):
    d = means.shape[-1]
    eye = jnp.eye(d, dtype=means.dtype)
    cov = jnp.where(active[:, None, None], cov + reg_covar * eye[None], eye[None])
    cov = 0.5 * (cov + jnp.swapaxes(cov, -1, -2))
    means = jnp.where(active[:, None], means, 0)
    weights = jnp.where(active, weights, 0)
    return GMM(weights, means, cov, precision_cholesky(cov), active)


def _moments_from_resp(xt, s, resp, active, divisor_n: bool):
    """Weighted M-step without regularisation; ``divisor_n``: pi_k = N_k / W instead of sum N_k."""
    eps = jnp.finfo(xt.dtype).eps
    w = resp * s[None, :]
    nk = jnp.where(active, jnp.sum(w, axis=1) + 10 * eps, 0)
    nk_safe = jnp.where(active, nk, 1)
    weights = nk / (jnp.sum(s) if divisor_n else jnp.sum(nk))
    means = (w @ xt.T) / nk_safe[:, None]
    diff = xt[None, :, :] - means[:, :, None]
    cov = jnp.einsum("kin,kjn->kij", diff * w[:, None, :], diff) / nk_safe[:, None, None]
    return nk, weights, means, cov


def _sq_dist(xt, centers):
    """Squared distances ``(K, N)`` between centres ``(K, d)`` and points ``xt (d, N)``."""
    out = None
    for i in range(xt.shape[0]):
        t = (xt[i][None, :] - centers[:, i][:, None]) ** 2
        out = t if out is None else out + t
    return out


def _weighted_choice(key, s, extra=None):
    """Index drawn with probability proportional to ``s * extra`` (falls back to ``s``)."""
    p = s if extra is None else s * extra
    p = jnp.where(jnp.sum(p) > 0, p, s)
    return jax.random.categorical(key, jnp.log(p))


def _isotropic_scale(xt, s, n_active):
    """Radius of a d-ball whose volume is the bounding-box volume divided by K (log space)."""
    d = xt.shape[0]
    lo, hi = _bounding_box(xt, s)
    span = hi - lo
    span = jnp.where(span > 0, span, 1.0)
    log_v = jnp.sum(jnp.log(span))
    log_s = (log_v - jnp.log(n_active.astype(xt.dtype)) + gammaln(d / 2 + 1)) / d
    return jnp.exp(log_s - 0.5 * math.log(math.pi))


def _bounding_box(xt, s):
    inside = (s > 0)[None, :]
    lo = jnp.min(jnp.where(inside, xt, jnp.inf), axis=1)
    hi = jnp.max(jnp.where(inside, xt, -jnp.inf), axis=1)
    return lo, hi


# --------------------------------------------------------------------------------------------
# k-means pieces
# --------------------------------------------------------------------------------------------


def _kmeanspp(key, xt, s, active, n_active, *, greedy: bool):
    """k-means++ D^2 seeding (greedy with 2 + floor(ln K) trials like scikit-learn, or plain)."""
    kc = active.shape[0]
    n = xt.shape[1]
    t_max = 2 + int(math.log(kc)) if greedy else 1
    n_trials = (
        (2 + jnp.floor(jnp.log(n_active.astype(jnp.float32))).astype(jnp.int32))
        if greedy
        else jnp.int32(1)
    )
    keys = _comp_keys(key, kc)
    first = _weighted_choice(keys[0], s)
    c0 = xt[:, first]
    closest = jnp.sum((xt - c0[:, None]) ** 2, axis=0)
    centers = jnp.zeros((kc, xt.shape[0]), xt.dtype).at[0].set(c0)

    def step(carry, k):
        centers, closest = carry
        tkeys = jax.vmap(lambda t: jax.random.fold_in(keys[k], t))(jnp.arange(t_max))
        cand = jax.vmap(lambda kk: _weighted_choice(kk, s, closest))(tkeys)  # (T,)
        cand_x = xt[:, cand].T  # (T, d)
        d2 = jnp.minimum(closest[None, :], _sq_dist(xt, cand_x))  # (T, N)
        pot = jnp.sum(d2 * s[None, :], axis=1)
        pot = jnp.where(jnp.arange(t_max) < n_trials, pot, jnp.inf)
        best = jnp.argmin(pot)
        is_active = k < n_active
        centers = centers.at[k].set(jnp.where(is_active, cand_x[best], 0))
        closest = jnp.where(is_active, d2[best], closest)
        return (centers, closest), None

    if kc > 1:
        (centers, _), _ = jax.lax.scan(step, (centers, closest), jnp.arange(1, kc))
    del n
    return centers


def _assign(xt, centers, active):
    d2 = jnp.where(active[:, None], _sq_dist(xt, centers), jnp.inf)
    return jnp.argmin(d2, axis=0)


def _lloyd(xt, s, centers, active, max_iter, tol_abs):
    """Weighted Lloyd iterations; stops when the total squared centre shift is <= tol_abs."""
    kc = centers.shape[0]

    def update(c):
        labels = _assign(xt, c, active)
        hit = labels[None, :] == jnp.arange(kc, dtype=labels.dtype)[:, None]
        onehot = hit.astype(s.dtype) * s[None, :]
        cnt = jnp.sum(onehot, axis=1)
        new = (onehot @ xt.T) / jnp.where(cnt > 0, cnt, 1)[:, None]
        return jnp.where(((cnt > 0) & active)[:, None], new, c)

    def cond(state):
        _, shift, it = state
        return (it < max_iter) & (shift > tol_abs)

    def body(state):
        c, _, it = state
        new = update(c)
        return new, jnp.sum((new - c) ** 2), it + 1

    c, _, _ = jax.lax.while_loop(cond, body, (centers, jnp.asarray(jnp.inf, xt.dtype), 0))
    return c


def _hard_resp(xt, centers, active):
    kc = centers.shape[0]
    labels = _assign(xt, centers, active)
    return (labels[None, :] == jnp.arange(kc)[:, None]).astype(xt.dtype)


def _guard_degenerate(key, xt, s, weights, means, cov, nk, active):
    """Restart components with fewer than d + 1 effective points (random point, global cov)."""
    d, kc = xt.shape[0], active.shape[0]
    g_mean, g_cov = _global_moments(xt, s)
    del g_mean
    bad = active & (nk < d + 1)
    keys = _comp_keys(jax.random.fold_in(key, 7919), kc)
    idx = jax.vmap(lambda kk: _weighted_choice(kk, s))(keys)
    means = jnp.where(bad[:, None], xt[:, idx].T, means)
    cov = jnp.where(bad[:, None, None], g_cov[None], cov)
    weights = jnp.where(bad, jnp.maximum(weights, 1.0 / jnp.sum(s)), weights)
    weights = jnp.where(active, weights, 0)
    weights = weights / jnp.sum(weights)
    return weights, means, cov, jnp.any(bad)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def initialize_t(key, xt, s, n_active, kc: int, method: str, reg_covar):
    """Initial mixture for one problem.

    Args:
        key: typed PRNG key of this start.
        xt: ``(d, N)`` data.
        s: ``(N,)`` sample weights (the training part of the problem).
        n_active: number of active components K (traced int, 1 <= K <= kc).
        kc: component capacity (static).
        method: an initialisation name of :data:`METHODS` (static).
        reg_covar: added to the initial covariances' diagonals.

    Returns:
        ``(gmm, reseeded)``.
    """
    dt = xt.dtype
    d = xt.shape[0]
    n_active = jnp.asarray(n_active, jnp.int32)
    active = jnp.arange(kc, dtype=jnp.int32) < n_active
    reg_covar = jnp.asarray(reg_covar, dt)
    keys = _comp_keys(key, kc)
    reseeded = jnp.bool_(False)

    if method == "random_responsibilities":
        u = jax.vmap(lambda k: jax.random.uniform(k, (xt.shape[1],), dtype=dt))(keys)
        u = jnp.where(active[:, None], u, 0)
        resp = u / jnp.sum(u, axis=0, keepdims=True)
        _, weights, means, cov = _moments_from_resp(xt, s, resp, active, divisor_n=True)
        return _finalize(weights, means, cov, active, reg_covar), reseeded

    if method in ("kmeans", "randomized_kmeans", "kmeans++", "kmeans_scipy"):
        if method == "kmeans_scipy":
            g_mean, g_cov = _global_moments(xt, s)
            chol = jnp.linalg.cholesky(g_cov + 1e-12 * jnp.eye(d, dtype=dt))
            z = jax.vmap(lambda k: jax.random.normal(k, (d,), dtype=dt))(keys)
            centers = g_mean[None, :] + z @ chol.T
            centers = _lloyd(xt, s, centers, active, _KMEANS_SCIPY_ITER, -1.0)
        else:
            centers = _kmeanspp(key, xt, s, active, n_active, greedy=method != "kmeans++")
            if method != "kmeans++":
                _, g_cov = _global_moments(xt, s)
                tol_abs = _KMEANS_TOL * jnp.trace(g_cov) / d
                centers = _lloyd(xt, s, centers, active, _KMEANS_MAX_ITER, tol_abs)
        resp = _hard_resp(xt, centers, active)
        nk, weights, means, cov = _moments_from_resp(xt, s, resp, active, divisor_n=False)
        if method == "kmeans_scipy":  # the reference's quirk: scatter divided by N, not n_k
            cov = cov * (nk / jnp.sum(s))[:, None, None]
        weights, means, cov, reseeded = _guard_degenerate(
            key, xt, s, weights, means, cov, nk, active
        )
        if method == "randomized_kmeans":
            chol = jnp.linalg.cholesky(cov + reg_covar * jnp.eye(d, dtype=dt)[None])
            eps = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 1), (d,), dtype=dt))(
                keys
            )
            means = means + _RANDOMIZED_SCALE * jnp.einsum("kij,kj->ki", chol, eps)
        return _finalize(weights, means, cov, active, reg_covar), reseeded

    if method in ("random_points", "minmax"):
        scale = _isotropic_scale(xt, s, n_active)
        if method == "random_points":
            idx = jax.vmap(lambda k: _weighted_choice(k, s))(keys)
            eps = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 1), (d,), dtype=dt))(
                keys
            )
            means = xt[:, idx].T + scale * eps
        else:
            lo, hi = _bounding_box(xt, s)
            u = jax.vmap(lambda k: jax.random.uniform(k, (d,), dtype=dt))(keys)
            means = lo[None, :] + u * (hi - lo)[None, :]
        cov = jnp.broadcast_to(scale**2 * jnp.eye(d, dtype=dt), (kc, d, d))
        weights = jnp.where(active, 1.0 / n_active.astype(dt), 0)
        return _finalize(weights, means, cov, active, reg_covar), reseeded

    raise ValueError(f"init: unknown method {method!r}")  # pragma: no cover (checked earlier)
