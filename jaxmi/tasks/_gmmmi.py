"""Distributions of the GMM-MI paper (Piras et al. 2023).

Transformed bivariate Gaussians, gamma–exponential, ordered Weinman exponential and the
synthetic D-set mixtures.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi._validation import check_bool
from jaxmi.tasks._base import (
    EULER_GAMMA,
    Task,
    fmt,
    make_densities,
    positive,
    psi_minus_log,
    real_in,
    resolve_dtype,
    split_keys,
)
from jaxmi.tasks._bmi import bivariate_normal
from jaxmi.tasks._mixtures import mixture_task
from jaxmi.tasks._transforms import transformed

__all__ = [
    "GMMMI_DATASETS",
    "gamma_exponential",
    "gamma_exponential_mi",
    "gmmmi_dataset",
    "gmmmi_normal",
    "weinman",
    "weinman_mi",
]


# --------------------------------------------------------------------------------------------
# Bivariate Gaussian with a transformed y
# --------------------------------------------------------------------------------------------


def _cube_inverse(u: jax.Array) -> jax.Array:
    # y + 0.5 y³ = u  <=>  y³ + 2y − 2u = 0 (one real root, Cardano)
    s = jnp.sqrt(u * u + 8.0 / 27.0)
    return jnp.cbrt(u + s) + jnp.cbrt(u - s)


_GMMMI_TRANSFORMS = {
    "identity": (None, None),
    "log": (lambda y: jnp.log(y + 5.0), lambda u: jnp.exp(u) - 5.0),
    "cube": (lambda y: y + 0.5 * y**3, _cube_inverse),
    "square": (lambda y: y + 0.1 * y**2, lambda u: (jnp.sqrt(1.0 + 0.4 * u) - 1.0) / 0.2),
}


def _truncated_bivariate_normal(r: float, dtype: Any) -> Task:
    dt = resolve_dtype(dtype)
    sd = math.sqrt(1.0 - r * r)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        ky, kx = split_keys(key, 2)
        y = jax.random.truncated_normal(ky, -5.0, jnp.inf, (n, 1), dt)
        x = r * y + sd * jax.random.normal(kx, (n, 1), dt)
        return x, y

    return Task(
        name=f"gmmmi-normal-{fmt(r)}-truncated",
        title="Bivariate normal 1 × 1 (y > −5)",
        dim_x=1,
        dim_y=1,
        mi=-0.5 * math.log1p(-r * r),
        mi_method="closed_form",
        params={"rho": r, "y_lower": -5.0},
        dtype=dt,
        sampler=sampler,
        description="y ~ N(0, 1) truncated to y > −5, x | y ~ N(ρy, 1 − ρ²); the truncation "
        "changes the MI by about −1.3e-6 nats at ρ = 0.6 (ignored in mi).",
    )


def gmmmi_normal(rho: float = 0.6, transform: str = "identity", *, dtype: Any = None) -> Task:
    """GMM-MI's bivariate Gaussian with a transformed y — id ``gmmmi-normal-{ρ}-{transform}``.

    ``transform`` acts on y only: ``"identity"`` (y), ``"log"`` (ln(y + 5)), ``"cube"``
    (y + 0.5 y³), ``"square"`` (y + 0.1 y²). ``log`` and ``square`` are defined/injective only for
    y > −5, so those tasks draw y from N(0, 1) truncated to y > −5 and x | y ~ N(ρy, 1 − ρ²).
    The truncation changes the MI by about −1.3e-6 nats at ρ = 0.6 (0.2231422 vs 0.2231436), far
    below any test tolerance; ``mi`` stays ``−½ ln(1 − ρ²)``.

    Args:
        rho: correlation in (-1, 1); the paper's invariance study uses 0.6.
        transform: one of ``"identity"``, ``"log"``, ``"cube"``, ``"square"``.
        dtype: sampling dtype.

    Returns:
        A 1×1 :class:`Task` with ``mi = −½ ln(1 − ρ²)`` nats (0.223144 at ρ = 0.6).

    Example:
        >>> from jaxmi.tasks import gmmmi_normal
        >>> round(gmmmi_normal(0.6, "cube").mi, 6)
        0.223144
    """
    r = real_in(rho, "rho", -1.0, 1.0)
    if transform not in _GMMMI_TRANSFORMS:
        raise ValueError(
            f"transform: must be one of {sorted(_GMMMI_TRANSFORMS)}, got {transform!r}"
        )
    name = f"gmmmi-normal-{fmt(r)}-{transform}"
    title = f"Bivariate normal 1 × 1 ({transform} y)"
    if transform == "identity":
        return bivariate_normal(r, dtype=dtype).replace(
            name=name, title=title, params={"rho": r, "transform": transform}
        )
    fwd, inv = _GMMMI_TRANSFORMS[transform]
    truncated = transform in ("log", "square")
    base = _truncated_bivariate_normal(r, dtype) if truncated else bivariate_normal(r, dtype=dtype)
    t = transformed(
        base,
        None,
        fwd,
        name=name,
        title=title,
        y_inverse=inv,
        params={"rho": r, "transform": transform},
    )
    return t.replace(description=base.description)


# --------------------------------------------------------------------------------------------
# Gamma–exponential
# --------------------------------------------------------------------------------------------


def gamma_exponential_mi(alpha: float) -> float:
    """``I = ψ(α + 1) − ln α`` nats for the gamma–exponential task (float64).

    Example:
        >>> from jaxmi.tasks import gamma_exponential_mi
        >>> round(gamma_exponential_mi(1.0), 6)  # 1 − γ
        0.422784
    """
    a = positive(alpha, "alpha")
    return psi_minus_log(a + 1.0) + math.log1p(1.0 / a)


def _log_scale_densities(log_xy, log_x, log_y, log_scale: bool) -> dict:
    """Densities on (ln x, ln y) from raw-scale ones taking (u, v) = (ln x, ln y)."""
    if log_scale:
        return make_densities(
            1,
            1,
            lambda u, v: (log_xy(u, v) + u + v)[:, 0],
            lambda u: (log_x(u) + u)[:, 0],
            lambda v: (log_y(v) + v)[:, 0],
        )

    def lg(z: jax.Array) -> jax.Array:
        return jnp.log(z)

    return make_densities(
        1,
        1,
        lambda x, y: log_xy(lg(x), lg(y))[:, 0],
        lambda x: log_x(lg(x))[:, 0],
        lambda y: log_y(lg(y))[:, 0],
    )


def gamma_exponential(alpha: float = 1.0, log_scale: bool = True, *, dtype: Any = None) -> Task:
    """Gamma–exponential task — id ``gamma-exponential-{α}`` (``...-raw`` on the raw scale).

    ``x ~ Gamma(shape α, rate 1)``, ``y | x ~ Exponential(rate x)``; ``p(y) = α(1 + y)^{−(α+1)}``.
    By default the task returns ``(ln x, ln y)`` as in the paper (MI unchanged). ``ln x`` is drawn
    directly with ``jax.random.loggamma`` and ``ln y = ln E − ln x`` (E ~ Exp(1), ``ln E`` from a
    Gumbel draw), so nothing underflows in float32. The raw scale exponentiates those values
    (which can underflow for small α in float32).

    Args:
        alpha: shape α > 0.
        log_scale: return ``(ln x, ln y)`` (default) or ``(x, y)``.
        dtype: sampling dtype.

    Returns:
        A 1×1 :class:`Task` with ``mi = ψ(α + 1) − ln α`` nats and exact densities.

    Example:
        >>> from jaxmi.tasks import gamma_exponential
        >>> round(gamma_exponential(1.0).mi, 6)
        0.422784
    """
    a = positive(alpha, "alpha")
    log_scale = check_bool(log_scale, "log_scale")
    dt = resolve_dtype(dtype)
    lga = math.lgamma(a)
    log_a = math.log(a)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        kx, ke = split_keys(key, 2)
        lx = jax.random.loggamma(kx, a, (n, 1), dt)
        ly = -jax.random.gumbel(ke, (n, 1), dt) - lx
        return (lx, ly) if log_scale else (jnp.exp(lx), jnp.exp(ly))

    # raw-scale log-densities written in (u, v) = (ln x, ln y)
    def log_xy(u: jax.Array, v: jax.Array) -> jax.Array:
        return a * u - jnp.exp(u) - jnp.exp(u + v) - lga

    def log_x(u: jax.Array) -> jax.Array:
        return (a - 1.0) * u - jnp.exp(u) - lga

    def log_y(v: jax.Array) -> jax.Array:
        return log_a - (a + 1.0) * jnp.logaddexp(0.0, v)

    suffix = "" if log_scale else "-raw"
    return Task(
        name=f"gamma-exponential-{fmt(a)}{suffix}",
        title=f"Gamma–exponential 1 × 1 (alpha={fmt(a)}{', log scale' if log_scale else ''})",
        dim_x=1,
        dim_y=1,
        mi=gamma_exponential_mi(a),
        mi_method="closed_form",
        params={"alpha": a, "log_scale": log_scale},
        dtype=dt,
        sampler=sampler,
        **_log_scale_densities(log_xy, log_x, log_y, log_scale),
    )


# --------------------------------------------------------------------------------------------
# Ordered Weinman exponential
# --------------------------------------------------------------------------------------------


def weinman_mi(alpha: float) -> float:
    """MI (nats) of the ordered Weinman exponential task (float64, stable near α = ½).

    ``α < ½: ln((1−2α)/(2α)) + ψ(1/(1−2α)) − ψ(1)``; ``α = ½: γ``;
    ``α > ½: ln((2α−1)/(2α)) + ψ(2α/(2α−1)) − ψ(1)``.

    Example:
        >>> from jaxmi.tasks import weinman_mi
        >>> round(weinman_mi(1.0), 6)  # 1 − ln 2
        0.306853
    """
    a = positive(alpha, "alpha")
    if a == 0.5:
        return EULER_GAMMA
    if a < 0.5:
        z = 1.0 / (1.0 - 2.0 * a)
        return -math.log(2.0 * a) + psi_minus_log(z) + EULER_GAMMA
    z = 2.0 * a / (2.0 * a - 1.0)
    return psi_minus_log(z) + EULER_GAMMA


def _log_expm1_ratio(t: jax.Array) -> jax.Array:
    """``ln(expm1(t)/t)`` for any real t (0 at t = 0), stable."""
    at = jnp.abs(t)
    small = at < 1e-3
    safe = jnp.where(small, 1.0, at)
    big = jnp.log(-jnp.expm1(-safe)) - jnp.log(safe) + jnp.maximum(t, 0.0)
    series = 0.5 * t + t * t / 24.0
    return jnp.where(small, series, big)


def weinman(alpha: float = 1.0, log_scale: bool = True, *, dtype: Any = None) -> Task:
    """Ordered Weinman exponential — id ``weinman-{α}`` (``...-raw`` on the raw scale).

    ``x ~ Exponential(mean ½)``, ``y = x + Exponential(mean α)`` (so 0 < x < y),
    ``p(x, y) = (2/α) exp(−2x − (y − x)/α)``. Returned as ``(ln x, ln y)`` by default.

    Args:
        alpha: mean α > 0 of the increment.
        log_scale: return ``(ln x, ln y)`` (default) or ``(x, y)``.
        dtype: sampling dtype.

    Returns:
        A 1×1 :class:`Task` with the closed-form MI (:func:`weinman_mi`, nats) and exact
        densities.

    Example:
        >>> from jaxmi.tasks import weinman
        >>> round(weinman(0.25).mi, 6)
        1.0
    """
    a = positive(alpha, "alpha")
    log_scale = check_bool(log_scale, "log_scale")
    dt = resolve_dtype(dtype)
    log_a = math.log(a)
    c = (2.0 * a - 1.0) / a
    ln2 = math.log(2.0)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        k1, k2 = split_keys(key, 2)
        lx = -jax.random.gumbel(k1, (n, 1), dt) - ln2  # ln of Exp(mean ½)
        le = -jax.random.gumbel(k2, (n, 1), dt) + log_a  # ln of Exp(mean α)
        ly = jnp.logaddexp(lx, le)
        return (lx, ly) if log_scale else (jnp.exp(lx), jnp.exp(ly))

    def log_xy(u: jax.Array, v: jax.Array) -> jax.Array:
        x, y = jnp.exp(u), jnp.exp(v)
        inside = y > x
        val = ln2 - log_a - 2.0 * x - (y - x) / a
        return jnp.where(inside, val, -jnp.inf)

    def log_x(u: jax.Array) -> jax.Array:
        return ln2 - 2.0 * jnp.exp(u)

    def log_y(v: jax.Array) -> jax.Array:
        y = jnp.exp(v)
        return ln2 - 2.0 * y + v - log_a + _log_expm1_ratio(c * y)

    suffix = "" if log_scale else "-raw"
    return Task(
        name=f"weinman-{fmt(a)}{suffix}",
        title=f"Ordered Weinman exponential 1 × 1 (alpha={fmt(a)}"
        f"{', log scale' if log_scale else ''})",
        dim_x=1,
        dim_y=1,
        mi=weinman_mi(a),
        mi_method="closed_form",
        params={"alpha": a, "log_scale": log_scale},
        dtype=dt,
        sampler=sampler,
        **_log_scale_densities(log_xy, log_x, log_y, log_scale),
    )


# --------------------------------------------------------------------------------------------
# Synthetic D-sets
# --------------------------------------------------------------------------------------------

_D3_COVS = [[[1.0, 0.0], [0.0, 0.1]], [[0.5, 0.2], [0.2, 0.5]], [[0.1, 0.05], [0.05, 0.1]]]
_D5_EXTRA = [[[0.5, -0.1], [-0.1, 0.9]], [[0.2, -0.05], [-0.05, 0.1]]]
_D3_W = [0.3, 0.45, 0.25]
_D5_W = [0.2, 0.35, 0.15, 0.12, 0.18]
_D5_MEANS = [[-1.0, 1.0], [0.0, 2.0], [-1.5, 2.0], [2.0, 1.0], [-0.25, 0.0]]

# name -> (weights, means, covariances, mi, mi_method); mi by 2-D quadrature (spec §6.4)
GMMMI_DATASETS: dict[str, tuple] = {
    "D1": ([1.0], [[-1.0, 1.0]], [[[0.5, 0.2], [0.2, 0.5]]], -0.5 * math.log(0.84), "closed_form"),
    "D3": (_D3_W, [[-1.0, 1.0], [0.0, 2.0], [-1.5, 2.0]], _D3_COVS, 0.132387, "quadrature"),
    "D3p": (_D3_W, [[-3.0, 3.0], [2.0, 4.0], [-2.5, 5.0]], _D3_COVS, 0.388815, "quadrature"),
    "D3rho": (
        _D3_W,
        [[-1.0, 1.0], [0.0, 2.0], [-1.5, 2.0]],
        [[[1.0, 0.1], [0.1, 0.1]], *_D3_COVS[1:]],
        0.148267,
        "quadrature",
    ),
    "D5": (_D5_W, _D5_MEANS, _D3_COVS + _D5_EXTRA, 0.168053, "quadrature"),
    "D5p": (
        _D5_W,
        [*_D5_MEANS[:3], [3.0, 1.0], _D5_MEANS[4]],
        _D3_COVS + _D5_EXTRA,
        0.179722,
        "quadrature",
    ),
}


def gmmmi_dataset(which: str, *, dtype: Any = None) -> Task:
    """A synthetic 2-D Gaussian mixture of the GMM-MI paper — id ``gmmmi-{which}``.

    Args:
        which: one of ``"D1"``, ``"D3"``, ``"D3p"``, ``"D3rho"``, ``"D5"``, ``"D5p"``
            (x = first coordinate, y = second).
        dtype: sampling dtype.

    Returns:
        A 1×1 mixture :class:`Task`; ``mi`` is the high-precision 2-D quadrature value (D1:
        closed form ``−½ ln 0.84``), in nats.

    Example:
        >>> from jaxmi.tasks import gmmmi_dataset
        >>> gmmmi_dataset("D3").mi
        0.132387
    """
    if not isinstance(which, str) or which not in GMMMI_DATASETS:
        raise ValueError(f"which: must be one of {list(GMMMI_DATASETS)}, got {which!r}")
    w, mu, cov, mi, method = GMMMI_DATASETS[which]
    return mixture_task(
        (np.asarray(w), np.asarray(mu), np.asarray(cov)),
        1,
        name=f"gmmmi-{which}",
        title=f"GMM-MI {which} mixture 1 × 1",
        mi=mi,
        mi_method=method,
        dtype=dtype,
        params={"which": which},
    )
