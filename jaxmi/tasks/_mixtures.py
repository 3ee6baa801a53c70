"""Gaussian-mixture tasks ("Bend and Mix Models", bmi v2) and Monte Carlo ground truths.

The densities are jaxmi's own mixture log-densities (:func:`jaxmi.gmm._mixture.log_prob_t` on
:class:`jaxmi.gmm.GMM` pytrees built from float64 NumPy parameters at call time). The MC truth
``I = E_p[log p(x, y) − log p(x) − log p(y)]`` is evaluated in float64, in chunks, stratified over
components (``n_k ≈ n π_k`` draws from component k, mean ``Σ π_k m_k``, variance
``Σ π_k² s_k² / n_k``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi._validation import check_int, check_key, refuse_traced
from jaxmi.gmm._mixture import GMM, log_prob_t
from jaxmi.tasks._base import (
    Task,
    check_task,
    dim,
    fmt,
    gauss_legendre,
    make_densities,
    np_logsumexp,
    real,
    real_in,
    resolve_dtype,
    split_keys,
)
from jaxmi.tasks._bmi import check_split, sparse_correlation
from jaxmi.tasks._transforms import spiral, transformed

__all__ = [
    "concentric_gaussians",
    "galaxy",
    "mc_mutual_information",
    "mixture_ai",
    "mixture_task",
    "mixture_x",
    "sparse_with_inliers",
    "waves",
]


# --------------------------------------------------------------------------------------------
# Mixture parameters
# --------------------------------------------------------------------------------------------


def _prec_chol(cov: np.ndarray) -> np.ndarray:
    """Upper-triangular ``F`` with ``F Fᵀ = cov⁻¹`` (jaxmi.gmm's convention), batched."""
    chol = np.linalg.cholesky(cov)
    eye = np.broadcast_to(np.eye(cov.shape[-1]), cov.shape)
    return np.swapaxes(np.linalg.solve(chol, eye), -1, -2)


@dataclasses.dataclass(frozen=True, eq=False)
class MixtureSpec:
    """Float64 NumPy parameters of a Gaussian mixture on the joint ``(X, Y)`` space."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, D)
    covariances: np.ndarray  # (K, D, D)
    dim_x: int

    def __post_init__(self) -> None:
        d = self.means.shape[1]
        blocks = {
            "xy": np.arange(d),
            "x": np.arange(self.dim_x),
            "y": np.arange(self.dim_x, d),
        }
        cache = {}
        for key, idx in blocks.items():
            cov = self.covariances[:, idx[:, None], idx[None, :]]
            cache[key] = (self.means[:, idx], cov, _prec_chol(cov))
        object.__setattr__(self, "_blocks", cache)
        object.__setattr__(self, "chol", np.linalg.cholesky(self.covariances))

    def gmm(self, block: str, dtype: Any) -> GMM:
        """The :class:`GMM` of the joint (``"xy"``) or a marginal (``"x"``/``"y"``) in ``dtype``."""
        mu, cov, pc = self._blocks[block]
        k = self.weights.shape[0]
        return GMM(
            jnp.asarray(self.weights, dtype),
            jnp.asarray(mu, dtype),
            jnp.asarray(cov, dtype),
            jnp.asarray(pc, dtype),
            jnp.ones((k,), bool),
        )

    def cache_key(self) -> tuple:
        """Hashable identity of the parameters."""
        return (
            self.weights.tobytes(),
            self.means.tobytes(),
            self.covariances.tobytes(),
            self.means.shape,
            self.dim_x,
        )


def _as_spec(gmm: Any, dim_x: Any) -> MixtureSpec:
    if isinstance(gmm, GMM):
        if gmm.means.ndim != 2:
            raise ValueError(f"gmm: expected an unbatched mixture, got means {gmm.means.shape}")
        act = np.asarray(gmm.active, bool)
        w, mu, cov = (np.asarray(a, np.float64)[act] for a in gmm[:3])
    elif isinstance(gmm, (tuple, list)) and len(gmm) == 3:
        try:
            w, mu, cov = (np.asarray(a, np.float64) for a in gmm)
        except (TypeError, ValueError) as err:
            raise ValueError("gmm: (weights, means, covariances) must be real arrays") from err
    else:
        raise ValueError(
            "gmm: expected a jaxmi.gmm.GMM or a (weights, means, covariances) tuple, got "
            f"{type(gmm).__name__}"
        )
    if mu.ndim != 2 or mu.shape[0] < 1:
        raise ValueError(f"gmm: means must have shape (K, D), got {mu.shape}")
    k, d = mu.shape
    if w.shape != (k,) or cov.shape != (k, d, d):
        raise ValueError(
            f"gmm: inconsistent shapes weights {w.shape}, means {mu.shape}, covariances {cov.shape}"
        )
    for label, a in (("weights", w), ("means", mu), ("covariances", cov)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"gmm: {label} contain NaN or infinite values")
    if np.any(w < 0) or not np.sum(w) > 0:
        raise ValueError("gmm: weights must be non-negative with a positive sum")
    if not np.allclose(cov, np.swapaxes(cov, -1, -2), rtol=1e-6, atol=1e-10):
        raise ValueError("gmm: covariances must be symmetric")
    if np.min(np.linalg.eigvalsh(cov)) <= 0:
        raise ValueError("gmm: covariances must be positive definite")
    dx = dim(dim_x, "dim_x")
    if dx >= d:
        raise ValueError(f"dim_x: must be < {d} (the mixture dimension), got {dx}")
    keep = w > 0
    w = w[keep] / np.sum(w)
    cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))
    return MixtureSpec(w, mu[keep], cov[keep], dx)


def _mixture_sampler(spec: MixtureSpec):
    k, d = spec.means.shape
    dx = spec.dim_x
    cum = np.cumsum(spec.weights)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        ku, ke = split_keys(key, 2)
        cumj = jnp.asarray(cum, dt)
        u = jax.random.uniform(ku, (n,), dt) * cumj[-1]
        comp = jnp.minimum(jnp.searchsorted(cumj, u, side="right"), k - 1)
        eps = jax.random.normal(ke, (n, d), dt)
        z = jnp.zeros((n, d), dt)
        for c in range(k):  # memory O(n d): one component at a time
            zc = jnp.asarray(spec.means[c], dt)[None, :] + eps @ jnp.asarray(spec.chol[c].T, dt)
            z = jnp.where((comp == c)[:, None], zc, z)
        return z[:, :dx], z[:, dx:]

    return sampler


# --------------------------------------------------------------------------------------------
# Monte Carlo ground truth
# --------------------------------------------------------------------------------------------

_MC_CACHE: dict[tuple, tuple[float, float]] = {}


@functools.partial(jax.jit, static_argnames=("size", "dx"))
def _mixture_pmi_stats(key, mu, chol, m, g, gx, gy, *, size: int, dx: int):
    """Sum and sum of squares of the PMI over ``m <= size`` float64 draws of one component."""
    z = mu[None, :] + jax.random.normal(key, (size, mu.shape[0]), mu.dtype) @ chol.T
    zt = z.T
    p = log_prob_t(g, zt) - log_prob_t(gx, zt[:dx]) - log_prob_t(gy, zt[dx:])
    p = jnp.where(jnp.arange(size) < m, p, 0.0)
    return jnp.sum(p), jnp.sum(p * p)


def _mc_mixture(spec: MixtureSpec, key: jax.Array, n: int, chunk: int) -> tuple[float, float]:
    k = spec.means.shape[0]
    counts = [max(2, round(n * float(w))) for w in spec.weights]
    size = min(chunk, max(counts))
    with jax.enable_x64(True):
        f64 = jnp.float64
        g, gx, gy = (spec.gmm(b, f64) for b in ("xy", "x", "y"))
        mean = 0.0
        var = 0.0
        for c in range(k):
            kc = jax.random.fold_in(key, c)
            mu = jnp.asarray(spec.means[c], f64)
            ch = jnp.asarray(spec.chol[c], f64)
            s1 = s2 = 0.0
            for j, start in enumerate(range(0, counts[c], size)):
                m = min(size, counts[c] - start)
                a, b = _mixture_pmi_stats(
                    jax.random.fold_in(kc, j), mu, ch, m, g, gx, gy, size=size, dx=spec.dim_x
                )
                s1 += float(a)
                s2 += float(b)
            nc = counts[c]
            mc = s1 / nc
            vc = max(s2 / nc - mc * mc, 0.0) * nc / (nc - 1)
            mean += float(spec.weights[c]) * mc
            var += float(spec.weights[c]) ** 2 * vc / nc
    return mean, math.sqrt(var)


def _mc_plain(root: Task, key: jax.Array, n: int, chunk: int) -> tuple[float, float]:
    size = min(chunk, n)
    pmi = root.pmi
    with jax.enable_x64(True):

        @jax.jit
        def stats(key, m):
            x, y = root.sampler(key, size, np.dtype(np.float64))
            p = pmi(x, y)
            p = jnp.where(jnp.arange(size) < m, p, 0.0)
            return jnp.sum(p), jnp.sum(p * p)

        s1 = s2 = 0.0
        for j, start in enumerate(range(0, n, size)):
            a, b = stats(jax.random.fold_in(key, j), min(size, n - start))
            s1 += float(a)
            s2 += float(b)
    mean = s1 / n
    var = max(s2 / n - mean * mean, 0.0) * n / (n - 1)
    return mean, math.sqrt(var / n)


def mc_mutual_information(
    key: jax.Array, task: Task, n: int = 1_000_000, chunk: int = 100_000
) -> tuple[float, float]:
    """Monte Carlo mutual information of a task with exact log-densities (float64, chunked).

    Draws ``n`` points from the untransformed base of ``task`` (transforms of a task do not change
    its PMI) and averages ``log p(x, y) − log p(x) − log p(y)`` in float64. Gaussian-mixture bases
    are stratified over components (``n_k ≈ n π_k`` draws each).

    Args:
        key: a typed PRNG key.
        task: a task whose base has exact densities (Gaussian, Student-t, mixtures, GMM-MI
            gamma–exponential and Weinman tasks, and mixture tasks built by the user).
        n: number of samples (>= 2).
        chunk: samples evaluated per compiled call (bounds memory).

    Returns:
        ``(mean, stderr)`` in nats (Python floats); ``stderr = sd(pmi)/sqrt(n)``.

    Raises:
        ValueError: bad key/n/chunk, or a task without exact log-densities.

    Example:
        >>> import jax
        >>> from jaxmi import tasks
        >>> m, se = tasks.mc_mutual_information(jax.random.key(0), tasks.get("1v1-X-0.9"), 20_000)
        >>> abs(m - 0.408443) < 5 * se
        True
    """
    key = check_key(key, "key")
    refuse_traced("key", key, "mc_mutual_information returns Python floats")
    task = check_task(task)
    n = check_int(n, "n", minimum=2)
    chunk = check_int(chunk, "chunk", minimum=1)
    root = task
    while root.base is not None:
        root = root.base
    if root.mixture is not None:
        return _mc_mixture(root.mixture, key, n, chunk)
    if root.pmi is None:
        raise ValueError(
            f"task: {task.name!r} has no exact pointwise mutual information (pmi), so its MI "
            "cannot be estimated by Monte Carlo here"
        )
    return _mc_plain(root, key, n, chunk)


def mixture_truth(spec: MixtureSpec, n: int, seed: int, chunk: int = 100_000) -> tuple:
    """Cached stratified MC truth of a mixture (float64)."""
    ck = (*spec.cache_key(), n, seed, chunk)
    if ck not in _MC_CACHE:
        _MC_CACHE[ck] = _mc_mixture(spec, jax.random.key(seed), n, chunk)
    return _MC_CACHE[ck]


# --------------------------------------------------------------------------------------------
# User-built mixture tasks
# --------------------------------------------------------------------------------------------


def mixture_task(
    gmm: Any,
    dim_x: int,
    *,
    name: str | None = None,
    title: str | None = None,
    mi: float | None = None,
    mi_stderr: float = 0.0,
    mi_method: str | None = None,
    mc_samples: int = 1_000_000,
    seed: int = 0,
    dtype: Any = None,
    params: dict[str, Any] | None = None,
    description: str = "",
) -> Task:
    """A task whose joint distribution of ``(X, Y)`` is a Gaussian mixture.

    X is the first ``dim_x`` coordinates, Y the rest. Exact log-densities (log-sum-exp over
    components) come with it. Without ``mi`` the ground truth is computed by stratified Monte
    Carlo in float64 with ``mc_samples`` draws (cached per parameters, ``n`` and ``seed``), and
    ``mi_stderr`` is its standard error.

    Args:
        gmm: a :class:`jaxmi.gmm.GMM` (unbatched; inactive components are dropped) or a tuple
            ``(weights (K,), means (K, D), covariances (K, D, D))``.
        dim_x: dimension of X (``1 <= dim_x < D``).
        name: task id (default ``"mixture-{dx}-{dy}-{K}"``).
        title: human-readable name.
        mi: a known MI in nats (skips the Monte Carlo).
        mi_stderr: its standard error (0 for exact values).
        mi_method: how ``mi`` was obtained (default ``"quadrature"`` when given, else
            ``"monte_carlo"``).
        mc_samples: Monte Carlo sample size when ``mi`` is None.
        seed: Monte Carlo seed.
        dtype: sampling dtype.
        params: extra parameters to record.
        description: notes.

    Returns:
        A :class:`Task` with exact ``log_prob_xy``, ``log_prob_x``, ``log_prob_y`` and ``pmi``.

    Example:
        >>> import numpy as np
        >>> from jaxmi.tasks import mixture_task
        >>> cov = np.array([[1.0, 0.5], [0.5, 1.0]])
        >>> t = mixture_task(([1.0], [[0.0, 0.0]], [cov]), 1, mc_samples=10_000)
        >>> abs(t.mi - 0.143841) < 5 * t.mi_stderr
        True
    """
    spec = _as_spec(gmm, dim_x)
    dt = resolve_dtype(dtype)
    k, d = spec.means.shape
    dx, dy = spec.dim_x, d - spec.dim_x
    if mi is None:
        n = check_int(mc_samples, "mc_samples", minimum=2)
        s = check_int(seed, "seed", minimum=0)
        mi, mi_stderr = mixture_truth(spec, n, s)
        mi_method = mi_method or "monte_carlo"
    else:
        mi = real(mi, "mi")
        mi_stderr = real(mi_stderr, "mi_stderr")
        mi_method = mi_method or "quadrature"

    def log_xy(x: jax.Array, y: jax.Array) -> jax.Array:
        return log_prob_t(spec.gmm("xy", x.dtype), jnp.concatenate([x, y], axis=1).T)

    def log_x(x: jax.Array) -> jax.Array:
        return log_prob_t(spec.gmm("x", x.dtype), x.T)

    def log_y(y: jax.Array) -> jax.Array:
        return log_prob_t(spec.gmm("y", y.dtype), y.T)

    p = {
        "weights": spec.weights.tolist(),
        "means": spec.means.tolist(),
        "covariances": spec.covariances.tolist(),
        "dim_x": dx,
    }
    p.update(params or {})
    return Task(
        name=name or f"mixture-{dx}-{dy}-{k}",
        title=title or f"Gaussian mixture {dx} × {dy} ({k} components)",
        dim_x=dx,
        dim_y=dy,
        mi=float(mi),
        mi_stderr=float(mi_stderr),
        mi_method=mi_method,
        params=p,
        dtype=dt,
        sampler=_mixture_sampler(spec),
        mixture=spec,
        description=description,
        **make_densities(dx, dy, log_xy, log_x, log_y),
    )


# --------------------------------------------------------------------------------------------
# bmi v2 families
# --------------------------------------------------------------------------------------------

# High-precision truths (nats) of the spec, keyed by the parameters that determine the MI.
_X_MI = {0.9: 0.408443}
_AI_MI = 0.775953
_GALAXY_MI = {3.0: 0.494298}
_WAVES_MI = {12: 1.307017}
# (n_interacting, strength², inlier fraction) -> (mi, stderr); MC with 1e8 samples
_INLIERS_MI = {(2, 4.0, 0.2): (0.63583, 0.00008), (2, 4.0, 0.5): (0.26963, 0.00005)}


def mixture_x(correlation: float = 0.9, *, dtype: Any = None, mc_samples: int = 1_000_000) -> Task:
    """Bmi's "X" mixture — id ``1v1-X-{c}``.

    Weights (½, ½), components ``N(0, [[1, −c], [−c, 1]])`` and ``N(0, [[1, c], [c, 1]])``: both
    marginals N(0, 1), zero correlation, positive MI.

    Args:
        correlation: c in (-1, 1).
        dtype: sampling dtype.
        mc_samples: Monte Carlo size for values of c without a stored high-precision truth.

    Returns:
        A 1×1 mixture :class:`Task` (c = 0.9: ``mi = 0.408443`` nats by 2-D quadrature).

    Example:
        >>> from jaxmi.tasks import mixture_x
        >>> mixture_x(0.9).mi
        0.408443
    """
    c = real_in(correlation, "correlation", -1.0, 1.0)
    cov = np.array([[[1.0, -c], [-c, 1.0]], [[1.0, c], [c, 1.0]]])
    return mixture_task(
        (np.array([0.5, 0.5]), np.zeros((2, 2)), cov),
        1,
        name=f"1v1-X-{fmt(c)}",
        title=f"X 1 × 1 (correlation={fmt(c)})",
        mi=_X_MI.get(abs(c)),
        mc_samples=mc_samples,
        dtype=dtype,
        params={"correlation": c},
    )


def mixture_ai(*, dtype: Any = None) -> Task:
    """Bmi's "AI" mixture — id ``1v1-AI``: six Gaussians drawing the letters A and I.

    Returns:
        A 1×1 mixture :class:`Task` with ``mi = 0.775953`` nats (2-D quadrature).

    Example:
        >>> from jaxmi.tasks import mixture_ai
        >>> mixture_ai().mi
        0.775953
    """
    c = 0.95 * math.sqrt(0.04 * 0.2)
    means = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, -1.0], [-0.8, -0.2], [-1.2, 0.0], [-0.4, 0.0]])
    covs = np.array(
        [
            np.diag([0.01, 0.2]),
            np.diag([0.05, 0.001]),
            np.diag([0.05, 0.001]),
            np.diag([0.03, 0.001]),
            [[0.04, c], [c, 0.2]],
            [[0.04, -c], [-c, 0.2]],
        ]
    )
    return mixture_task(
        (np.full(6, 1.0 / 6.0), means, covs),
        1,
        name="1v1-AI",
        title="AI 1 × 1",
        mi=_AI_MI,
        dtype=dtype,
    )


def galaxy(
    speed: float = 0.5, distance: float = 3.0, *, dtype: Any = None, mc_samples: int = 1_000_000
) -> Task:
    """Bmi's "galaxy" — id ``2v1-galaxy-{v}-{D}``: two spiralled Gaussian blobs.

    Base: weights (½, ½), components ``N(∓(D/2)(1, 1, 1), I₃)``; X = first two coordinates,
    Y = the third. X is then spiralled by ``x ↦ R(v‖x‖²) x`` (speed not divided by the dimension).
    The MI depends on D only.

    Args:
        speed: spiral speed v.
        distance: distance parameter D (> 0).
        dtype: sampling dtype.
        mc_samples: Monte Carlo size when D has no stored high-precision truth.

    Returns:
        A 2×1 :class:`Task` (D = 3: ``mi = 0.494298`` nats by 2-D quadrature).

    Example:
        >>> from jaxmi.tasks import galaxy
        >>> galaxy().name
        '2v1-galaxy-0.5-3.0'
    """
    v = real(speed, "speed")
    dd = real_in(distance, "distance", 0.0)
    mu = 0.5 * dd * np.ones(3)
    base = mixture_task(
        (np.array([0.5, 0.5]), np.stack([-mu, mu]), np.stack([np.eye(3)] * 2)),
        2,
        name=f"2v1-galaxy-base-{fmt(dd)}",
        title="Galaxy base 2 × 1",
        mi=_GALAXY_MI.get(dd),
        mc_samples=mc_samples,
        dtype=dtype,
        params={"distance": dd},
    )
    t = spiral(base, v, normalize_speed=False, plane_x=(0, 1), plane_y=None)
    return t.replace(
        name=f"2v1-galaxy-{fmt(v)}-{fmt(dd)}",
        title=f"Galaxy 2 × 1 (speed={fmt(v)}, distance={fmt(dd)})",
        mi_method=base.mi_method,
        params={"speed": v, "distance": dd, "base": base.name},
    )


def waves_bend(x: jax.Array, amplitude: float, frequency: float) -> jax.Array:
    """Bmi's waves map of ``x (n, 2)``: ``x₀ + a sin(f x₁)``, then ``(0.1 x₀ − 0.8, 0.5 x₁)``."""
    x0 = x[:, 0] + amplitude * jnp.sin(frequency * x[:, 1])
    return jnp.stack([0.1 * x0 - 0.8, 0.5 * x[:, 1]], axis=1)


def waves_unbend(u: jax.Array, amplitude: float, frequency: float) -> jax.Array:
    """Inverse of :func:`waves_bend`."""
    x1 = u[:, 1] / 0.5
    x0 = (u[:, 0] + 0.8) / 0.1 - amplitude * jnp.sin(frequency * x1)
    return jnp.stack([x0, x1], axis=1)


def waves(
    n_components: int = 12,
    amplitude: float = 5.0,
    frequency: float = 3.0,
    *,
    dtype: Any = None,
    mc_samples: int = 1_000_000,
) -> Task:
    """Bmi's "waves" — id ``2v1-waves-{K}-{a}-{f}``.

    Base: K components of weight 1/K, mean ``1.5 (i, 0, i mod 4)``, covariance
    ``diag(0.1, 1, 0.1)``; X = coordinates (0, 1), Y = coordinate 2. X is bent,
    ``x₀ ← x₀ + a sin(f x₁)``, then mapped affinely ``(x₀, x₁) ← (0.1 x₀ − 0.8, 0.5 x₁)``.
    The MI depends on K only.

    Args:
        n_components: K >= 1.
        amplitude: a.
        frequency: f.
        dtype: sampling dtype.
        mc_samples: Monte Carlo size when K has no stored high-precision truth.

    Returns:
        A 2×1 :class:`Task` (K = 12: ``mi = 1.307017`` nats by 2-D quadrature).

    Example:
        >>> from jaxmi.tasks import waves
        >>> round(waves().mi, 6)
        1.307017
    """
    k = dim(n_components, "n_components")
    a = real(amplitude, "amplitude")
    f = real(frequency, "frequency")
    i = np.arange(k, dtype=np.float64)
    means = 1.5 * np.stack([i, np.zeros(k), i % 4], axis=1)
    covs = np.stack([np.diag([0.1, 1.0, 0.1])] * k)
    base = mixture_task(
        (np.full(k, 1.0 / k), means, covs),
        2,
        name=f"2v1-waves-base-{k}",
        title=f"Waves base 2 × 1 ({k} components)",
        mi=_WAVES_MI.get(k),
        mc_samples=mc_samples,
        dtype=dtype,
        params={"n_components": k},
    )

    t = transformed(
        base,
        lambda x: waves_bend(x, a, f),
        None,
        name="waves",
        x_inverse=lambda u: waves_unbend(u, a, f),
    )
    return t.replace(
        name=f"2v1-waves-{k}-{fmt(a)}-{fmt(f)}",
        title=f"Waves 2 × 1 ({k} components, amplitude={fmt(a)}, frequency={fmt(f)})",
        mi_method=base.mi_method,
        params={"n_components": k, "amplitude": a, "frequency": f, "base": base.name},
    )


def concentric_mi(dim_x: int, n_components: int) -> float:
    """I(X; C) of K concentric isotropic Gaussians ``N(0, i² I_d)``, i = 1..K, equal weights.

    A 1-D integral over ``r = ‖X‖`` (``r/i ~ χ_d``), by composite Gauss–Legendre (float64).
    """
    d, k = dim_x, n_components
    if k == 1:
        return 0.0
    scales = np.arange(1, k + 1, dtype=np.float64)
    const = -(0.5 * d - 1.0) * math.log(2.0) - math.lgamma(0.5 * d)

    def logp(r: np.ndarray) -> np.ndarray:  # (K, N): log p(r | i)
        s = r[None, :] / scales[:, None]
        return const + (d - 1) * np.log(s) - 0.5 * s * s - np.log(scales)[:, None]

    total = 0.0
    lo_s = max(0.0, math.sqrt(max(d - 1.0, 0.0)) - 12.0)
    hi_s = math.sqrt(d) + 12.0
    for i in range(k):

        def integrand(r: np.ndarray, i: int = i) -> np.ndarray:
            lp = logp(r)
            return np.exp(lp[i]) * (lp[i] - np_logsumexp(lp, axis=0) + math.log(k))

        total += gauss_legendre(integrand, scales[i] * lo_s, scales[i] * hi_s, 200) / k
    return total


def concentric_gaussians(dim_x: int = 3, n_components: int = 5, *, dtype: Any = None) -> Task:
    """Bmi's concentric Gaussians — id ``{d}v1-concentric_gaussians-{K}``.

    K components of weight 1/K; component i = 1..K: ``X ~ N(0, i² I_d)``, ``Y ~ N(i, 1e-4)``,
    independent within the component. Y identifies the component (100 sd apart), so
    ``I(X; Y) = I(X; C)``, a 1-D integral computed by quadrature at construction.

    Args:
        dim_x: d >= 1.
        n_components: K >= 1.
        dtype: sampling dtype.

    Returns:
        A d×1 mixture :class:`Task` (``mi_method = "quadrature"``).

    Example:
        >>> from jaxmi.tasks import concentric_gaussians
        >>> round(concentric_gaussians(3, 5).mi, 6)
        0.455423
    """
    d = dim(dim_x, "dim_x")
    k = dim(n_components, "n_components")
    i = np.arange(1, k + 1, dtype=np.float64)
    means = np.zeros((k, d + 1))
    means[:, d] = i
    covs = np.zeros((k, d + 1, d + 1))
    for c in range(k):
        covs[c, :d, :d] = np.eye(d) * i[c] ** 2
        covs[c, d, d] = 1e-4
    return mixture_task(
        (np.full(k, 1.0 / k), means, covs),
        d,
        name=f"{d}v1-concentric_gaussians-{k}",
        title=f"Concentric Gaussians {d} × 1 ({k} components)",
        mi=concentric_mi(d, k),
        mi_method="quadrature",
        dtype=dtype,
        params={"dim_x": d, "n_components": k},
    )


def sparse_with_inliers(
    dim_x: int = 5,
    dim_y: int = 5,
    n_interacting: int = 2,
    strength: float = 2.0,
    inlier_fraction: float = 0.2,
    *,
    dtype: Any = None,
    mc_samples: int = 1_000_000,
) -> Task:
    """Bmi's sparse Gaussian with inliers — id ``mult-sparse-w-inliers-{dx}-{dy}-{n}-{λ}-{f}``.

    Weights ``(1 − f, f)``: the n-pair Gaussian of :func:`multinormal_sparse` and the product
    of its marginals ``N(0, I)`` (dependence-free "inliers" hidden in the bulk). The MI does not
    depend on the dimensions: only the interacting pairs matter, so variants are computed by
    stratified MC on the reduced ``n × n`` mixture.

    Args:
        dim_x: dimension of X.
        dim_y: dimension of Y.
        n_interacting: number of interacting pairs ``<= min(dim_x, dim_y)``.
        strength: λ (pair correlation λ²/(1 + λ²)).
        inlier_fraction: f in [0, 1).
        dtype: sampling dtype.
        mc_samples: MC size when the parameters have no stored high-precision truth.

    Returns:
        A mixture :class:`Task` (n = 2, λ = 2: f = 0.2 → 0.63583 ± 8e-5, f = 0.5 → 0.26963 ± 5e-5
        nats, MC with 1e8 samples).

    Example:
        >>> from jaxmi.tasks import sparse_with_inliers
        >>> sparse_with_inliers(5, 5).mi
        0.63583
    """
    dx, dy, n = check_split(dim_x, dim_y, n_interacting)
    lam = real(strength, "strength")
    f = real_in(inlier_fraction, "inlier_fraction", 0.0, 1.0, lo_open=False)
    known = _INLIERS_MI.get((n, lam * lam, f))
    if known is not None:
        mi, se, method = known[0], known[1], "monte_carlo"
    elif n == 0:
        mi, se, method = 0.0, 0.0, "closed_form"
    else:
        cov_r = sparse_correlation(n, n, n, lam)
        reduced = _as_spec(
            (np.array([1.0 - f, f]), np.zeros((2, 2 * n)), np.stack([cov_r, np.eye(2 * n)])), n
        )
        mi, se = mixture_truth(reduced, check_int(mc_samples, "mc_samples", minimum=2), 0)
        method = "monte_carlo"
    cov = sparse_correlation(dx, dy, n, lam)
    d = dx + dy
    return mixture_task(
        (np.array([1.0 - f, f]), np.zeros((2, d)), np.stack([cov, np.eye(d)])),
        dx,
        name=f"mult-sparse-w-inliers-{dx}-{dy}-{n}-{fmt(lam)}-{fmt(f)}",
        title=f"Multinormal {dx} × {dy} ({n}-pair) with {fmt(f)} inliers",
        mi=mi,
        mi_stderr=se,
        mi_method=method,
        dtype=dtype,
        params={
            "dim_x": dx,
            "dim_y": dy,
            "n_interacting": n,
            "strength": lam,
            "inlier_fraction": f,
        },
    )
