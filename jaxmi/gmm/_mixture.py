"""The Gaussian-mixture pytree and its densities, sampling, marginals and conditionals.

Kernels work in the "sample axis last" layout: data ``xt`` of shape ``(d, N)`` and per-component
quantities of shape ``(K, N)``. Public functions take the usual ``(N, d)`` and transpose once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp

from jaxmi import _compile
from jaxmi._validation import as_data_matrix, check_int, check_key, is_traced

__all__ = [
    "GMM",
    "conditional",
    "log_prob",
    "marginal",
    "responsibilities",
    "sample",
]

_LOG_2PI = math.log(2.0 * math.pi)


class GMM(NamedTuple):
    """A full-covariance Gaussian mixture (a pytree).

    Components ``k`` with ``active[k] == False`` are placeholders: weight exactly 0, mean 0,
    identity covariance. They let one compiled program serve every number of components up to
    the capacity ``Kc = weights.shape[-1]``. Active components form a prefix ``0..K-1``.

    Leading batch dimensions are allowed on every field (e.g. a batch of fitted mixtures).

    Attributes:
        weights: ``(..., Kc)`` mixture weights, summing to 1 over active components.
        means: ``(..., Kc, d)`` component means.
        covariances: ``(..., Kc, d, d)`` symmetric positive-definite covariances.
        prec_chol: ``(..., Kc, d, d)`` upper-triangular ``F`` with ``F @ F.T == inv(covariance)``.
        active: ``(..., Kc)`` boolean component mask.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi.gmm import GMM, log_prob
        >>> g = GMM.create(jnp.array([0.5, 0.5]), jnp.array([[-1.0], [1.0]]),
        ...                jnp.ones((2, 1, 1)))
        >>> float(log_prob(g, jnp.zeros((1, 1)))[0])  # doctest: +ELLIPSIS
        -1.418...
    """

    weights: jax.Array
    means: jax.Array
    covariances: jax.Array
    prec_chol: jax.Array
    active: jax.Array

    @property
    def n_components(self) -> jax.Array:
        """Number of active components (an array; batched like the mixture)."""
        return jnp.sum(self.active, axis=-1)

    @property
    def capacity(self) -> int:
        """Compiled component capacity ``Kc`` (static)."""
        return self.weights.shape[-1]

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the mixture's variable (static)."""
        return self.means.shape[-1]

    @classmethod
    def create(
        cls,
        weights: Any,
        means: Any,
        covariances: Any,
        active: Any = None,
        *,
        dtype: Any = None,
    ) -> GMM:
        """Build a mixture from weights, means and covariances, checking them.

        Args:
            weights: ``(K,)`` non-negative weights; renormalised to sum to 1 over active components.
            means: ``(K, d)`` component means.
            covariances: ``(K, d, d)`` symmetric positive-definite covariances.
            active: optional ``(K,)`` boolean mask (a prefix of True); default all active.
            dtype: float dtype; default follows ``means`` (float64 only with x64 enabled).

        Returns:
            The mixture, with ``prec_chol`` computed from the covariances.

        Raises:
            ValueError: inconsistent shapes, negative or all-zero weights, NaN/inf, covariances that
                are not symmetric positive definite.
        """
        from jaxmi._validation import float_dtype

        dt = float_dtype(dtype, like=means)
        w = jnp.asarray(weights, dtype=dt)
        mu = jnp.asarray(means, dtype=dt)
        cov = jnp.asarray(covariances, dtype=dt)
        if mu.ndim != 2:
            raise ValueError(f"means: expected shape (K, d), got {mu.shape}")
        k, d = mu.shape
        if w.shape != (k,):
            raise ValueError(f"weights: expected shape ({k},) to match means, got {w.shape}")
        if cov.shape != (k, d, d):
            raise ValueError(f"covariances: expected shape ({k}, {d}, {d}), got {cov.shape}")
        act = jnp.ones((k,), bool) if active is None else jnp.asarray(active, dtype=bool)
        if act.shape != (k,):
            raise ValueError(f"active: expected shape ({k},), got {act.shape}")
        concrete = not any(is_traced(a) for a in (weights, means, covariances, active))
        if concrete:
            a = np.asarray(act)
            if not a[0] or np.any(a[1:] & ~a[:-1]):
                raise ValueError("active: must be a non-empty prefix of True values")
            for name, arr in (("weights", w), ("means", mu), ("covariances", cov)):
                if not np.all(np.isfinite(np.asarray(arr))):
                    raise ValueError(f"{name}: contains NaN or infinite values")
            wn = np.asarray(w)
            if np.any(wn < 0):
                raise ValueError("weights: must be non-negative")
            if not np.sum(wn[a]) > 0:
                raise ValueError("weights: active weights sum to zero")
            cn = np.asarray(cov)[a]
            if not np.allclose(cn, np.swapaxes(cn, -1, -2), rtol=1e-5, atol=1e-8):
                raise ValueError("covariances: must be symmetric")
            if np.any(np.linalg.eigvalsh(cn.astype(np.float64)) <= 0):
                raise ValueError("covariances: must be positive definite")
        return cls(*_completed(w, mu, cov, act))


@functools.partial(_compile.jit, kind="light")
def _completed(w: jax.Array, mu: jax.Array, cov: jax.Array, act: jax.Array) -> tuple:
    """:meth:`GMM.create`'s arithmetic as one program.

    Inactive components become neutral (identity covariance, zero mean and weight), the
    weights are normalised and ``prec_chol`` computed. Op by op, a first ``create`` compiled
    each of its operations separately (about 10 programs per shape): three mixtures of new
    shapes were built in 0.51-0.53 s instead of 1.65-1.75 s in fresh processes (2-core CPU).
    """
    eye = jnp.eye(mu.shape[-1], dtype=mu.dtype)
    cov = jnp.where(act[:, None, None], cov, eye)
    mu = jnp.where(act[:, None], mu, 0)
    w = jnp.where(act, w, 0)
    w = w / jnp.sum(w)
    return w, mu, cov, precision_cholesky(cov), act


# --------------------------------------------------------------------------------------------
# Kernels (sample axis last)
# --------------------------------------------------------------------------------------------


def precision_cholesky(cov: jax.Array) -> jax.Array:
    """Upper-triangular ``F`` with ``F @ F.T == inv(cov)`` (batched over leading axes).

    Computed as ``inv(chol(cov)).T`` like scikit-learn. A covariance that is not positive
    definite gives NaN entries (the EM loop detects them).
    """
    d = cov.shape[-1]
    chol = jnp.linalg.cholesky(cov)
    eye = jnp.broadcast_to(jnp.eye(d, dtype=cov.dtype), cov.shape)
    inv_chol = solve_triangular(chol, eye, lower=True)
    return jnp.swapaxes(inv_chol, -1, -2)


def quad_form(prec_chol: jax.Array, xc: list) -> jax.Array:
    """Squared Mahalanobis distances ``||F_k^T c_kn||^2`` as ``(K, N)``.

    Args:
        prec_chol: ``(K, d, d)`` upper-triangular precision factors ``F``.
        xc: ``d`` arrays ``(K, N)``: coordinate ``i`` of ``x_n - mu_k``.
    """
    d = len(xc)
    if d <= 8:
        # static loops over the (small) dimension: XLA fuses the quadratic form into one
        # elementwise pass over (K, N); F is upper triangular, so F[i, j] = 0 for i > j
        sq = None
        for j in range(d):
            yj = None
            for i in range(j + 1):
                term = prec_chol[:, i, j][:, None] * xc[i]
                yj = term if yj is None else yj + term
            sq = yj * yj if sq is None else sq + yj * yj
        return sq
    y = jnp.einsum("kij,kin->kjn", prec_chol, jnp.stack(xc, axis=1))
    return jnp.sum(y * y, axis=1)


def _masked_log_joint(gmm: GMM, sq: jax.Array) -> jax.Array:
    d = gmm.means.shape[-1]
    log_det = jnp.sum(jnp.log(jnp.diagonal(gmm.prec_chol, axis1=-2, axis2=-1)), axis=-1)
    logw = jnp.log(jnp.where(gmm.active, gmm.weights, 1.0))
    lj = -0.5 * (d * _LOG_2PI + sq) + (log_det + logw)[:, None]
    return jnp.where(gmm.active[:, None], lj, -jnp.inf)


#: Up to this many components, reductions over the (short, leading) component axis are unrolled
#: into elementwise chains. XLA:CPU emits a slow reduction over a short leading axis (measured:
#: the E-step at K = 4 took 2.5x longer than at K = 5); the chain fuses into one pass over samples.
_UNROLL_MAX_K = 16


def _kreduce(a: jax.Array, op, reduce) -> jax.Array:
    if a.shape[0] > _UNROLL_MAX_K:
        return reduce(a, axis=0)
    out = a[0]
    for k in range(1, a.shape[0]):
        out = op(out, a[k])
    return out


def _kmax(a: jax.Array) -> jax.Array:
    """Max over the leading (component) axis."""
    return _kreduce(a, jnp.maximum, jnp.max)


def _ksum(a: jax.Array) -> jax.Array:
    """Sum over the leading (component) axis."""
    return _kreduce(a, jnp.add, jnp.sum)


def component_logsumexp(lj: jax.Array) -> jax.Array:
    """``log sum_k exp(lj[k])`` over the leading axis of ``lj (K, ...)`` (all ``-inf``: ``-inf``).

    Every log-sum-exp over components in jaxmi goes through here (EM, densities, Monte Carlo
    integrals), so all of them get the unrolled short-axis reduction.
    """
    if lj.shape[0] == 1 or lj.shape[0] > _UNROLL_MAX_K:  # measured: the library is faster here
        return logsumexp(lj, axis=0)
    m = _kmax(lj)
    m = jnp.where(jnp.isfinite(m), m, 0)
    return m + jnp.log(_ksum(jnp.exp(lj - m[None])))


def log_joint(gmm: GMM, xt: jax.Array) -> jax.Array:
    """``log pi_k + log N(x_n | k)`` as ``(K, N)`` for ``xt (d, N)``; inactive components: -inf."""
    xc = [xt[i][None, :] - gmm.means[:, i][:, None] for i in range(xt.shape[0])]
    return _masked_log_joint(gmm, quad_form(gmm.prec_chol, xc))


def log_prob_t(gmm: GMM, xt: jax.Array) -> jax.Array:
    """Mixture log-density ``(N,)`` at points ``xt (d, N)``."""
    return component_logsumexp(log_joint(gmm, xt))


def sample_t(key: jax.Array, gmm: GMM, n: int) -> jax.Array:
    """Draw ``n`` points as ``(d, n)``; components by inverse CDF (common-random-number safe)."""
    u, eps = sample_noise(key, n, gmm.means.shape[-1], gmm.weights.dtype)
    return sample_with(u, eps, gmm)


def sample_noise(key: jax.Array, n: int, d: int, dtype) -> tuple[jax.Array, jax.Array]:
    """The random numbers behind :func:`sample_t`: uniforms ``(n,)`` and normals ``(d, n)``."""
    u = jax.random.uniform(jax.random.fold_in(key, 0), (n,), dtype=dtype)
    eps = jax.random.normal(jax.random.fold_in(key, 1), (d, n), dtype=dtype)
    return u, eps


def sample_with(u: jax.Array, eps: jax.Array, gmm: GMM) -> jax.Array:
    """Points ``(d, n)`` of ``gmm`` from given uniforms (component choice) and normals.

    Mixtures sampled from the same ``(u, eps)`` share common random numbers.
    """
    w = jnp.where(gmm.active, gmm.weights, 0)
    cum = jnp.cumsum(w)
    comp = jnp.searchsorted(cum, u * cum[-1], side="right")
    # guard u at the very end of the CDF
    comp = jnp.minimum(comp, jnp.sum(gmm.active, dtype=comp.dtype) - 1)
    chol = jnp.linalg.cholesky(gmm.covariances)  # (K, d, d)

    # one component at a time: memory stays (d, n) (gathering chol[comp] would be (n, d, d))
    def body(k, out):
        z = chol[k] @ eps + gmm.means[k][:, None]
        return jnp.where(comp[None, :] == k, z, out)

    return jax.lax.fori_loop(0, gmm.weights.shape[-1], body, jnp.zeros_like(eps))


def _slice(gmm: GMM, idx: np.ndarray) -> GMM:
    means = gmm.means[..., idx]
    cov = gmm.covariances[..., idx[:, None], idx[None, :]]
    return GMM(gmm.weights, means, cov, precision_cholesky(cov), gmm.active)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _check_gmm(gmm: Any, name: str = "gmm") -> GMM:
    if not isinstance(gmm, GMM):
        raise ValueError(f"{name}: expected a jaxmi.gmm.GMM, got {type(gmm).__name__}")
    if gmm.means.ndim != 2:
        raise ValueError(
            f"{name}: expected an unbatched mixture (means of shape (K, d)), got means of shape "
            f"{gmm.means.shape}; use jax.vmap for batches of mixtures"
        )
    return gmm


def _check_dims(dims: Any, d: int, name: str = "dims") -> np.ndarray:
    if isinstance(dims, (int, np.integer)):
        dims = [int(dims)]
    try:
        idx = np.asarray(list(dims))
    except TypeError as err:
        raise ValueError(f"{name}: expected a sequence of integers, got {dims!r}") from err
    if idx.size == 0:
        raise ValueError(f"{name}: must name at least one dimension")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{name}: expected integers, got {dims!r}")
    if np.any(idx < 0) or np.any(idx >= d):
        raise ValueError(f"{name}: indices must lie in [0, {d}), got {idx.tolist()}")
    if len(np.unique(idx)) != idx.size:
        raise ValueError(f"{name}: repeated indices {idx.tolist()}")
    return idx


def _points(gmm: GMM, x: Any, name: str = "x") -> tuple[jax.Array, bool]:
    d = gmm.dim
    arr = x if hasattr(x, "shape") else np.asarray(x)
    single = getattr(arr, "ndim", None) == 1 and d > 1
    if single:
        arr = arr[None, :]
    xm = as_data_matrix(arr, name, dtype=gmm.means.dtype)
    if xm.shape[1] != d:
        raise ValueError(f"{name}: expected {d} column(s) to match the mixture, got {xm.shape[1]}")
    return xm, single


def log_prob(gmm: GMM, x: Any) -> jax.Array:
    """Log-density of a mixture.

    Args:
        gmm: the mixture (unbatched; ``jax.vmap`` over batches).
        x: points ``(N, d)``, or ``(N,)`` for a one-dimensional mixture, or one point ``(d,)``.

    Returns:
        ``(N,)`` log-densities in nats (a scalar for a single point of a multi-dimensional mixture).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi.gmm import GMM, log_prob
        >>> g = GMM.create(jnp.ones(1), jnp.zeros((1, 2)), jnp.eye(2)[None])
        >>> round(float(log_prob(g, jnp.zeros(2))), 6)  # -log(2 pi)
        -1.837877
    """
    gmm = _check_gmm(gmm)
    xm, single = _points(gmm, x)
    out = _log_prob_program(gmm, xm)
    return out[0] if single else out


# The public functions of this module run their arithmetic as one compiled program per shape
# signature: op by op, a first call compiled each of its ~30-180 small operations separately.


@functools.partial(_compile.jit, kind="light")
def _log_prob_program(gmm: GMM, xm: jax.Array) -> jax.Array:
    return log_prob_t(gmm, xm.T)


@functools.partial(_compile.jit, kind="light")
def _responsibilities_program(gmm: GMM, xm: jax.Array) -> jax.Array:
    lj = log_joint(gmm, xm.T)
    return jnp.exp(lj - component_logsumexp(lj)[None]).T


@functools.partial(_compile.jit, kind="light", static_argnames=("n",))
def _sample_program(key: jax.Array, gmm: GMM, n: int) -> jax.Array:
    return sample_t(key, gmm, n).T


@functools.partial(_compile.jit, kind="light", static_argnames=("idx",))
def _marginal_program(gmm: GMM, idx: tuple) -> GMM:
    return _slice(gmm, np.asarray(idx))


def responsibilities(gmm: GMM, x: Any) -> jax.Array:
    """Posterior component probabilities ``p(k | x)`` as ``(N, Kc)`` (0 for inactive components)."""
    gmm = _check_gmm(gmm)
    xm, single = _points(gmm, x)
    r = _responsibilities_program(gmm, xm)
    return r[0] if single else r


def sample(key: jax.Array, gmm: GMM, n: int) -> jax.Array:
    """Draw samples from a mixture.

    Components are chosen by inverse CDF of one uniform per sample, so mixtures sampled with the
    same key share their random numbers (common random numbers).

    Args:
        key: a typed PRNG key (``jax.random.key``).
        gmm: the mixture.
        n: number of samples (static).

    Returns:
        ``(n, d)`` samples.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmi.gmm import GMM, sample
        >>> g = GMM.create(jnp.ones(1), jnp.zeros((1, 2)), jnp.eye(2)[None])
        >>> sample(jax.random.key(0), g, 5).shape
        (5, 2)
    """
    key = check_key(key)
    gmm = _check_gmm(gmm)
    n = check_int(n, "n", minimum=1)
    return _sample_program(key, gmm, n=n)


def marginal(gmm: GMM, dims: Sequence[int] | int) -> GMM:
    """Marginal mixture over a subset of dimensions.

    Args:
        gmm: the mixture over ``d`` dimensions (leading batch axes allowed).
        dims: the dimensions to keep, in the order wanted (static integers).

    Returns:
        A mixture with the same weights, means ``mu[dims]`` and covariances ``Sigma[dims, dims]``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi.gmm import GMM, marginal
        >>> g = GMM.create(jnp.ones(1), jnp.array([[1.0, 2.0]]), jnp.eye(2)[None])
        >>> marginal(g, [1]).means.tolist()
        [[2.0]]
    """
    if not isinstance(gmm, GMM):
        raise ValueError(f"gmm: expected a jaxmi.gmm.GMM, got {type(gmm).__name__}")
    idx = _check_dims(dims, gmm.dim)
    return _marginal_program(gmm, idx=tuple(int(i) for i in idx))


def conditional(gmm: GMM, dims: Sequence[int] | int, x_given: Any) -> GMM:
    """Conditional mixture ``p(x[dims] | x[rest] = x_given)``.

    ``rest`` is the complement of ``dims`` in increasing order. For a split (I, J) the result has
    component means ``mu_I + S_IJ S_JJ^-1 (x_J - mu_J)``, covariances ``S_II - S_IJ S_JJ^-1 S_JI``
    and weights proportional to ``pi_k N(x_J | mu_kJ, S_kJJ)``.

    Args:
        gmm: the mixture over ``d`` dimensions (unbatched; ``jax.vmap`` for batches).
        dims: the dimensions ``I`` of the conditional distribution (static integers).
        x_given: ``(d - len(dims),)`` values of the remaining dimensions ``J``.

    Returns:
        A mixture over ``len(dims)`` dimensions.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi.gmm import GMM, conditional
        >>> cov = jnp.array([[[1.0, 0.5], [0.5, 1.0]]])
        >>> c = conditional(GMM.create(jnp.ones(1), jnp.zeros((1, 2)), cov), [0], jnp.array([2.0]))
        >>> c.means.tolist(), c.covariances.tolist()
        ([[1.0]], [[[0.75]]])
    """
    gmm = _check_gmm(gmm)
    d = gmm.dim
    idx_i = _check_dims(dims, d)
    idx_j = np.setdiff1d(np.arange(d), idx_i)
    if idx_j.size == 0:
        raise ValueError("dims: must leave at least one dimension to condition on")
    xg = jnp.asarray(x_given, dtype=gmm.means.dtype)
    if xg.shape != (idx_j.size,):
        raise ValueError(f"x_given: expected shape ({idx_j.size},), got {tuple(xg.shape)}")
    if not is_traced(x_given) and not np.all(np.isfinite(np.asarray(xg))):
        raise ValueError("x_given: contains NaN or infinite values")
    return _conditional_program(
        gmm, xg, idx_i=tuple(int(i) for i in idx_i), idx_j=tuple(int(j) for j in idx_j)
    )


@functools.partial(_compile.jit, kind="light", static_argnames=("idx_i", "idx_j"))
def _conditional_program(gmm: GMM, xg: jax.Array, idx_i: tuple, idx_j: tuple) -> GMM:
    idx_i, idx_j = np.asarray(idx_i), np.asarray(idx_j)
    cov = gmm.covariances
    s_ii = cov[:, idx_i[:, None], idx_i[None, :]]
    s_ij = cov[:, idx_i[:, None], idx_j[None, :]]
    s_jj = cov[:, idx_j[:, None], idx_j[None, :]]
    chol_jj = jnp.linalg.cholesky(s_jj)
    # gain = S_IJ S_JJ^-1, via two triangular solves on S_JJ = L L^T
    tmp = solve_triangular(chol_jj, jnp.swapaxes(s_ij, -1, -2), lower=True)
    gain = jnp.swapaxes(solve_triangular(jnp.swapaxes(chol_jj, -1, -2), tmp, lower=False), -1, -2)
    resid = xg[None, :] - gmm.means[:, idx_j]
    means = gmm.means[:, idx_i] + jnp.einsum("kij,kj->ki", gain, resid)
    covs = s_ii - jnp.einsum("kij,kjl->kil", gain, jnp.swapaxes(s_ij, -1, -2))
    covs = 0.5 * (covs + jnp.swapaxes(covs, -1, -2))
    eye = jnp.eye(idx_i.size, dtype=covs.dtype)
    covs = jnp.where(gmm.active[:, None, None], covs, eye)
    means = jnp.where(gmm.active[:, None], means, 0)
    lj = log_joint(_slice(gmm, idx_j), xg[:, None])[:, 0]
    w = jnp.where(gmm.active, jnp.exp(lj - logsumexp(lj)), 0)
    return GMM(w, means, covs, precision_cholesky(covs), gmm.active)
