"""Base families of the bmi v1 benchmark: split Gaussians, Student-t, additive uniform noise."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from jaxmi.tasks._base import (
    Task,
    dim,
    fmt,
    fmt_num,
    make_densities,
    positive,
    real,
    real_in,
    resolve_dtype,
    split_keys,
)

__all__ = [
    "additive_uniform",
    "bivariate_normal",
    "gaussian_mi",
    "multinormal",
    "multinormal_dense",
    "multinormal_lvm",
    "multinormal_sparse",
    "student_identity",
    "student_t",
    "student_t_entropy",
]

_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# Gaussian machinery
# --------------------------------------------------------------------------------------------


def check_covariance(covariance: Any, name: str = "covariance") -> np.ndarray:
    """A symmetric positive-definite float64 matrix, or ``ValueError``."""
    try:
        cov = np.asarray(covariance, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected a real square matrix") from err
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] < 2:
        raise ValueError(f"{name}: expected a square matrix of size >= 2, got shape {cov.shape}")
    if not np.all(np.isfinite(cov)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
        raise ValueError(f"{name}: must be symmetric")
    if np.min(np.linalg.eigvalsh(cov)) <= 0:
        raise ValueError(f"{name}: must be positive definite")
    return 0.5 * (cov + cov.T)


def gaussian_mi(covariance: Any, dim_x: int) -> float:
    """Mutual information of a split Gaussian ``N(0, Σ)``, X = the first ``dim_x`` coordinates.

    ``I = ½ [ln det Σ_XX + ln det Σ_YY − ln det Σ]`` (nats), computed with ``slogdet`` in float64.

    Args:
        covariance: ``(dim_x + dim_y, dim_x + dim_y)`` symmetric positive-definite matrix.
        dim_x: dimension of X (``1 <= dim_x < size``).

    Returns:
        The MI in nats (Python float).

    Example:
        >>> from jaxmi.tasks import gaussian_mi
        >>> round(gaussian_mi([[1.0, 0.75], [0.75, 1.0]], 1), 6)
        0.413339
    """
    cov = check_covariance(covariance)
    dx = dim(dim_x, "dim_x")
    if dx >= cov.shape[0]:
        raise ValueError(f"dim_x: must be < {cov.shape[0]} (the covariance size), got {dx}")
    ld = np.linalg.slogdet(cov)[1]
    ldx = np.linalg.slogdet(cov[:dx, :dx])[1]
    ldy = np.linalg.slogdet(cov[dx:, dx:])[1]
    return float(max(0.5 * (ldx + ldy - ld), 0.0))


def _gauss_logpdf_fn(cov: np.ndarray):
    chol = np.linalg.cholesky(cov)
    logdet_half = float(np.sum(np.log(np.diag(chol))))
    d = cov.shape[0]

    def logpdf(z: jax.Array) -> jax.Array:
        sol = solve_triangular(jnp.asarray(chol, z.dtype), z.T, lower=True)
        return -0.5 * (d * _LOG_2PI + jnp.sum(sol * sol, axis=0)) - logdet_half

    return logpdf


def split_normal_task(
    cov: np.ndarray,
    dim_x: int,
    *,
    name: str,
    title: str,
    params: dict[str, Any],
    dtype: Any = None,
    description: str = "",
    mi: float | None = None,
) -> Task:
    """A split Gaussian task ``N(0, cov)`` with X = the first ``dim_x`` coordinates."""
    dt = resolve_dtype(dtype)
    d = cov.shape[0]
    dx, dy = dim_x, d - dim_x
    chol = np.linalg.cholesky(cov)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        z = jax.random.normal(key, (n, d), dt) @ jnp.asarray(chol.T, dt)
        return z[:, :dx], z[:, dx:]

    lxy = _gauss_logpdf_fn(cov)
    lx = _gauss_logpdf_fn(cov[:dx, :dx])
    ly = _gauss_logpdf_fn(cov[dx:, dx:])
    dens = make_densities(dx, dy, lambda x, y: lxy(jnp.concatenate([x, y], axis=1)), lx, ly)
    return Task(
        name=name,
        title=title,
        dim_x=dx,
        dim_y=dy,
        mi=gaussian_mi(cov, dx) if mi is None else mi,
        mi_method="closed_form",
        params=params,
        dtype=dt,
        sampler=sampler,
        description=description,
        **dens,
    )


def multinormal(
    covariance: Any,
    dim_x: int,
    *,
    name: str | None = None,
    title: str | None = None,
    dtype: Any = None,
) -> Task:
    """A split multivariate normal task ``(X, Y) ~ N(0, Σ)``, X = the first ``dim_x`` coordinates.

    Args:
        covariance: ``(D, D)`` symmetric positive-definite covariance, ``D = dim_x + dim_y``.
        dim_x: dimension of X.
        name: task id (default ``"multinormal-{dim_x}-{dim_y}"``).
        title: human-readable name.
        dtype: sampling dtype (float32 default).

    Returns:
        A :class:`Task` with ``mi = ½ [ln det Σ_XX + ln det Σ_YY − ln det Σ]`` nats and exact
        log-densities.

    Example:
        >>> from jaxmi.tasks import multinormal
        >>> round(multinormal([[1.0, 0.6], [0.6, 1.0]], 1).mi, 6)
        0.223144
    """
    cov = check_covariance(covariance)
    dx = dim(dim_x, "dim_x")
    if dx >= cov.shape[0]:
        raise ValueError(f"dim_x: must be < {cov.shape[0]} (the covariance size), got {dx}")
    dy = cov.shape[0] - dx
    return split_normal_task(
        cov,
        dx,
        name=name or f"multinormal-{dx}-{dy}",
        title=title or f"Multinormal {dx} × {dy}",
        params={"covariance": cov.tolist(), "dim_x": dx},
        dtype=dtype,
    )


def bivariate_normal(rho: float = 0.75, *, dtype: Any = None) -> Task:
    """Bivariate normal ``N(0, [[1, ρ], [ρ, 1]])`` — id ``1v1-normal-{ρ}``.

    Args:
        rho: correlation in (-1, 1).
        dtype: sampling dtype (float32 default).

    Returns:
        A 1×1 :class:`Task` with ``mi = −½ ln(1 − ρ²)`` nats.

    Example:
        >>> from jaxmi.tasks import bivariate_normal
        >>> round(bivariate_normal(0.75).mi, 6)
        0.413339
    """
    r = real_in(rho, "rho", -1.0, 1.0)
    cov = np.array([[1.0, r], [r, 1.0]])
    return split_normal_task(
        cov,
        1,
        name=f"1v1-normal-{fmt(r)}",
        title="Bivariate normal 1 × 1",
        params={"rho": r},
        dtype=dtype,
        mi=-0.5 * math.log1p(-r * r),
    )


def multinormal_dense(dim_x: int, dim_y: int, off_diag: float = 0.5, *, dtype: Any = None) -> Task:
    """Dense split normal: Σ = (1 − c) I + c 11ᵀ — id ``multinormal-dense-{dx}-{dy}-{c}``.

    All pairwise correlations equal ``c`` (within X, within Y and across).

    Args:
        dim_x: dimension of X.
        dim_y: dimension of Y.
        off_diag: the common correlation ``c``; Σ must be positive definite, i.e.
            ``-1/(dim_x + dim_y - 1) < c < 1``.
        dtype: sampling dtype.

    Returns:
        A :class:`Task`; for ``dx = dy = d`` and ``c = ½``, ``mi = ½ ln((d+1)²/(2d+1))`` nats.

    Example:
        >>> from jaxmi.tasks import multinormal_dense
        >>> round(multinormal_dense(2, 2).mi, 6)
        0.293893
    """
    dx = dim(dim_x, "dim_x")
    dy = dim(dim_y, "dim_y")
    c = real(off_diag, "off_diag")
    d = dx + dy
    if not -1.0 / (d - 1) < c < 1.0:
        raise ValueError(
            f"off_diag: must lie in ({-1.0 / (d - 1):.6g}, 1) for a positive-definite "
            f"covariance of size {d}, got {c}"
        )
    cov = (1.0 - c) * np.eye(d) + c * np.ones((d, d))
    return split_normal_task(
        cov,
        dx,
        name=f"multinormal-dense-{dx}-{dy}-{fmt(c)}",
        title=f"Multinormal {dx} × {dy} (dense)",
        params={"dim_x": dx, "dim_y": dy, "off_diag": c},
        dtype=dtype,
    )


def _lvm_correlation(
    dx: int,
    dy: int,
    n: int,
    alpha: float,
    lambd: float,
    beta_x: float,
    beta_y: float,
    eta_x: float,
    eta_y: float,
    eps_x: float,
    eps_y: float,
) -> np.ndarray:
    d = dx + dy
    cov = np.full((d, d), alpha**2)
    cov[:dx, :dx] += beta_x**2
    cov[dx:, dx:] += beta_y**2
    for i in range(n):
        cov[i, i] += lambd**2
        cov[dx + i, dx + i] += lambd**2
        cov[i, dx + i] += lambd**2
        cov[dx + i, i] += lambd**2
    for i in range(dx):
        cov[i, i] += eps_x**2 + (eta_x**2 if i >= n else 0.0)
    for j in range(dy):
        cov[dx + j, dx + j] += eps_y**2 + (eta_y**2 if j >= n else 0.0)
    s = np.sqrt(np.diag(cov))
    return cov / np.outer(s, s)


def multinormal_lvm(
    dim_x: int,
    dim_y: int,
    n_interacting: int,
    alpha: float,
    lambd: float,
    beta: float = 0.0,
    eta: float | None = None,
    *,
    epsilon: float = 1.0,
    dtype: Any = None,
) -> Task:
    """Split normal from bmi's latent-variable parametrisation, normalised to correlations.

    ``X_i = α U + β U_X + λ Z_i [i < n] + ε E_i + η V_i [i >= n]`` and likewise for ``Y_j``
    (with ``U_Y``, ``F_j``, ``W_j``), all latents independent N(0, 1). The id prints α, λ, β, η
    with 5 decimals: ``multinormal-lvm-{dx}-{dy}-{n}-{α}-{λ}-{β}-{η}``.

    Args:
        dim_x: dimension of X.
        dim_y: dimension of Y.
        n_interacting: number of interacting pairs ``n <= min(dim_x, dim_y)``.
        alpha: loading of the latent shared by all coordinates.
        lambd: loading of the pair latents ``Z_i``.
        beta: loading of ``U_X`` (on X) and ``U_Y`` (on Y).
        eta: loading of the private latents of non-interacting coordinates (default ``lambd``).
        epsilon: noise loading, > 0.
        dtype: sampling dtype.

    Returns:
        A :class:`Task` with the closed-form Gaussian MI (nats).

    Example:
        >>> from jaxmi.tasks import multinormal_lvm
        >>> round(multinormal_lvm(3, 3, 2, 0.0, 2.0).mi, 6)
        1.021651
    """
    dx, dy, n = check_split(dim_x, dim_y, n_interacting)
    a = real(alpha, "alpha")
    lam = real(lambd, "lambd")
    b = real(beta, "beta")
    e = lam if eta is None else real(eta, "eta")
    eps = positive(epsilon, "epsilon")
    cov = _lvm_correlation(dx, dy, n, a, lam, b, b, e, e, eps, eps)
    return split_normal_task(
        cov,
        dx,
        name=f"multinormal-lvm-{dx}-{dy}-{n}-{a:.5f}-{lam:.5f}-{b:.5f}-{e:.5f}",
        title=f"Multinormal {dx} × {dy} (LVM)",
        params={
            "dim_x": dx,
            "dim_y": dy,
            "n_interacting": n,
            "alpha": a,
            "lambd": lam,
            "beta": b,
            "eta": e,
            "epsilon": eps,
        },
        dtype=dtype,
    )


def check_split(dim_x: Any, dim_y: Any, n_interacting: Any) -> tuple[int, int, int]:
    """Validate the dimensions of a split Gaussian with ``n_interacting`` coupled pairs."""
    dx = dim(dim_x, "dim_x")
    dy = dim(dim_y, "dim_y")
    n = dim(n_interacting, "n_interacting", minimum=0)
    if n > min(dx, dy):
        raise ValueError(f"n_interacting: must be <= min(dim_x, dim_y) = {min(dx, dy)}, got {n}")
    return dx, dy, n


def sparse_correlation(dx: int, dy: int, n: int, strength: float) -> np.ndarray:
    """The correlation matrix of bmi's sparse ("n-pair") task (α = β = 0, λ = η, ε = 1)."""
    return _lvm_correlation(dx, dy, n, 0.0, strength, 0.0, 0.0, strength, strength, 1.0, 1.0)


def multinormal_sparse(
    dim_x: int,
    dim_y: int,
    n_interacting: int = 2,
    strength: float = 2.0,
    *,
    dtype: Any = None,
) -> Task:
    """Sparse ("n-pair") split normal — id ``multinormal-sparse-{dx}-{dy}-{n}-{λ}``.

    Pairs ``(X_i, Y_i)``, ``i < n``, have correlation ``λ²/(1 + λ²)`` (0.8 for λ = 2); every other
    off-diagonal entry is 0.

    Args:
        dim_x: dimension of X.
        dim_y: dimension of Y.
        n_interacting: number of interacting pairs, ``<= min(dim_x, dim_y)``.
        strength: λ (a real; only λ² matters).
        dtype: sampling dtype.

    Returns:
        A :class:`Task` with ``mi = −(n/2) ln(1 − r²)``, ``r = λ²/(1 + λ²)`` (nats).

    Example:
        >>> from jaxmi.tasks import multinormal_sparse
        >>> round(multinormal_sparse(5, 5).mi, 6)
        1.021651
    """
    dx, dy, n = check_split(dim_x, dim_y, n_interacting)
    lam = real(strength, "strength")
    cov = sparse_correlation(dx, dy, n, lam)
    return split_normal_task(
        cov,
        dx,
        name=f"multinormal-sparse-{dx}-{dy}-{n}-{fmt(lam)}",
        title=f"Multinormal {dx} × {dy} ({n}-pair)",
        params={"dim_x": dx, "dim_y": dy, "n_interacting": n, "strength": lam},
        dtype=dtype,
    )


# --------------------------------------------------------------------------------------------
# Student-t
# --------------------------------------------------------------------------------------------


def student_t_entropy(k: int, dof: float) -> float:
    """Differential entropy (nats) of the standard ``k``-dimensional Student-t with ``dof`` ν.

    ``h = −ln Γ((ν+k)/2) + ln Γ(ν/2) + (k/2) ln(νπ) + ((ν+k)/2) [ψ((ν+k)/2) − ψ(ν/2)]``.

    Example:
        >>> from jaxmi.tasks import student_t_entropy
        >>> round(student_t_entropy(1, 1.0), 6)  # Cauchy: ln 4π
        2.531024
    """
    from jaxmi.tasks._base import digamma

    k = dim(k, "k")
    nu = positive(dof, "dof")
    a, b = 0.5 * (nu + k), 0.5 * nu
    return (
        -math.lgamma(a)
        + math.lgamma(b)
        + 0.5 * k * math.log(nu * math.pi)
        + a * (digamma(a) - digamma(b))
    )


def _student_logpdf_fn(cov: np.ndarray, nu: float):
    chol = np.linalg.cholesky(cov)
    k = cov.shape[0]
    const = (
        math.lgamma(0.5 * (nu + k))
        - math.lgamma(0.5 * nu)
        - 0.5 * k * math.log(nu * math.pi)
        - float(np.sum(np.log(np.diag(chol))))
    )

    def logpdf(z: jax.Array) -> jax.Array:
        sol = solve_triangular(jnp.asarray(chol, z.dtype), z.T, lower=True)
        return const - 0.5 * (nu + k) * jnp.log1p(jnp.sum(sol * sol, axis=0) / nu)

    return logpdf


def student_t(
    dispersion: Any,
    dim_x: int,
    dof: float,
    *,
    name: str | None = None,
    title: str | None = None,
    dtype: Any = None,
) -> Task:
    """Split multivariate Student-t: ``(X, Y) = Z / sqrt(W/ν)``, ``Z ~ N(0, Σ)``, ``W ~ χ²_ν``.

    One ``W`` per sample is shared by all coordinates, so X and Y are dependent even for a
    block-diagonal dispersion. ``I = I_Gauss(Σ) + h(dx, ν) + h(dy, ν) − h(dx + dy, ν)`` (nats),
    with ``h`` the standard Student-t entropy (:func:`student_t_entropy`).

    Args:
        dispersion: ``(D, D)`` symmetric positive-definite dispersion matrix.
        dim_x: dimension of X.
        dof: degrees of freedom ν > 0.
        name: task id (default ``"student-{dx}-{dy}-{ν}"``).
        title: human-readable name.
        dtype: sampling dtype.

    Returns:
        A :class:`Task` with exact log-densities.

    Example:
        >>> import numpy as np
        >>> from jaxmi.tasks import student_t
        >>> round(student_t(np.eye(2), 1, 1).mi, 6)
        0.224171
    """
    cov = check_covariance(dispersion, "dispersion")
    dx = dim(dim_x, "dim_x")
    if dx >= cov.shape[0]:
        raise ValueError(f"dim_x: must be < {cov.shape[0]} (the dispersion size), got {dx}")
    nu = positive(dof, "dof")
    dy = cov.shape[0] - dx
    mi = (
        gaussian_mi(cov, dx)
        + student_t_entropy(dx, nu)
        + student_t_entropy(dy, nu)
        - student_t_entropy(dx + dy, nu)
    )
    return _student_task(
        cov,
        dx,
        nu,
        mi,
        name=name or f"student-{dx}-{dy}-{fmt_num(nu)}",
        title=title or f"Student-t {dx} × {dy} (dof={fmt_num(nu)})",
        params={"dispersion": cov.tolist(), "dim_x": dx, "dof": nu},
        dtype=dtype,
    )


def _student_task(
    cov: np.ndarray,
    dx: int,
    nu: float,
    mi: float,
    *,
    name: str,
    title: str,
    params: dict[str, Any],
    dtype: Any,
) -> Task:
    dt = resolve_dtype(dtype)
    d = cov.shape[0]
    dy = d - dx
    chol = np.linalg.cholesky(cov)
    log_nu_half = math.log(0.5 * nu)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        kz, kw = split_keys(key, 2)
        z = jax.random.normal(kz, (n, d), dt) @ jnp.asarray(chol.T, dt)
        # W = 2 G, G ~ Gamma(ν/2); scale = sqrt(ν / W), drawn in log space (no underflow)
        log_g = jax.random.loggamma(kw, 0.5 * nu, (n, 1), dt)
        z = z * jnp.exp(0.5 * (log_nu_half - log_g))
        return z[:, :dx], z[:, dx:]

    lxy = _student_logpdf_fn(cov, nu)
    lx = _student_logpdf_fn(cov[:dx, :dx], nu)
    ly = _student_logpdf_fn(cov[dx:, dx:], nu)
    dens = make_densities(dx, dy, lambda x, y: lxy(jnp.concatenate([x, y], axis=1)), lx, ly)
    return Task(
        name=name,
        title=title,
        dim_x=dx,
        dim_y=dy,
        mi=float(mi),
        mi_method="closed_form",
        params=params,
        dtype=dt,
        sampler=sampler,
        **dens,
    )


def student_identity(dim_x: int, dim_y: int, dof: float, *, dtype: Any = None) -> Task:
    """Student-t with identity dispersion — id ``student-identity-{dx}-{dy}-{ν}``.

    No linear dependence (zero correlation where it exists) but positive MI through the shared
    chi-square scale: ``I = h(dx, ν) + h(dy, ν) − h(dx + dy, ν)`` nats.

    Args:
        dim_x: dimension of X.
        dim_y: dimension of Y.
        dof: degrees of freedom ν > 0.
        dtype: sampling dtype.

    Returns:
        A :class:`Task` with exact log-densities.

    Example:
        >>> from jaxmi.tasks import student_identity
        >>> round(student_identity(2, 2, 1).mi, 6)
        0.431946
    """
    dx = dim(dim_x, "dim_x")
    dy = dim(dim_y, "dim_y")
    nu = positive(dof, "dof")
    mi = student_t_entropy(dx, nu) + student_t_entropy(dy, nu) - student_t_entropy(dx + dy, nu)
    return _student_task(
        np.eye(dx + dy),
        dx,
        nu,
        mi,
        name=f"student-identity-{dx}-{dy}-{fmt_num(nu)}",
        title=f"Student-t {dx} × {dy} (dof={fmt_num(nu)})",
        params={"dim_x": dx, "dim_y": dy, "dof": nu},
        dtype=dtype,
    )


# --------------------------------------------------------------------------------------------
# Additive uniform noise
# --------------------------------------------------------------------------------------------


def additive_uniform(eps: float = 0.1, *, dtype: Any = None) -> Task:
    """``X ~ U(0, 1)``, ``Y = X + N``, ``N ~ U(−ε, ε)`` — id ``1v1-additive-{ε}``.

    Args:
        eps: noise half-width ε > 0.
        dtype: sampling dtype.

    Returns:
        A 1×1 :class:`Task` with ``mi = 1/(4ε)`` if ε > ½, else ``ε − ln(2ε)`` (nats).

    Example:
        >>> from jaxmi.tasks import additive_uniform
        >>> round(additive_uniform(0.1).mi, 6)
        1.709438
    """
    e = positive(eps, "eps")
    dt = resolve_dtype(dtype)
    mi = 1.0 / (4.0 * e) if e > 0.5 else e - math.log(2.0 * e)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        kx, kn = split_keys(key, 2)
        x = jax.random.uniform(kx, (n, 1), dt)
        noise = jax.random.uniform(kn, (n, 1), dt, minval=-e, maxval=e)
        return x, x + noise

    return Task(
        name=f"1v1-additive-{fmt(e)}",
        title=f"Uniform 1 × 1 (additive noise={fmt(e)})",
        dim_x=1,
        dim_y=1,
        mi=mi,
        mi_method="closed_form",
        params={"eps": e},
        dtype=dt,
        sampler=sampler,
    )
