"""bmi's bimodal task: Gaussian copula with two-component mixture margins, saturation-free.

``X = F_X⁻¹(Φ(t))`` for a standard-normal ``t`` is solved as ``log F_X(s) = log Φ(t)`` for
``t <= 0`` and ``log(1 − F_X(s)) = log Φ(−t)`` for ``t > 0`` (``log_ndtr`` on both sides), by a
fixed number of bisection steps on a bracket reaching about 13 (float32) or 38 (float64) standard
deviations beyond the outer components. ``Φ(t)`` itself is never formed, so nothing rounds to 1.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr, logsumexp, ndtri

from jaxmi.tasks._base import Task, fmt, real_in
from jaxmi.tasks._bmi import bivariate_normal
from jaxmi.tasks._transforms import transformed

__all__ = ["BIMODAL_X", "BIMODAL_Y", "bimodal", "mixture_log_cdf", "mixture_quantile_of_normal"]

# (weights, means) of the unit-variance margins
BIMODAL_X = ((0.3, 0.7), (0.0, 5.0))
BIMODAL_Y = ((0.5, 0.5), (-1.0, 3.0))


@jax.jit
def mixture_log_cdf(
    s: jax.Array, weights: tuple[float, ...], means: tuple[float, ...]
) -> tuple[jax.Array, jax.Array]:
    """``(log F(s), log(1 − F(s)))`` of ``Σ_k w_k N(μ_k, 1)``, both accurate in the tails."""
    lead = (1,) * s.ndim  # the components' axis last, the leading axes explicit
    z = s[..., None] - jnp.asarray(means, s.dtype).reshape(*lead, -1)
    logw = jnp.log(jnp.asarray(weights, s.dtype)).reshape(*lead, -1)
    return logsumexp(logw + log_ndtr(z), axis=-1), logsumexp(logw + log_ndtr(-z), axis=-1)


@jax.jit
def mixture_quantile_of_normal(
    t: jax.Array, weights: tuple[float, ...], means: tuple[float, ...]
) -> jax.Array:
    """Solve ``F(s) = Φ(t)`` for ``s`` elementwise, with ``F`` a unit-variance normal mixture.

    Args:
        t: standard-normal values (any shape, float32 or float64).
        weights: mixture weights.
        means: component means.

    Returns:
        ``s`` with the shape and dtype of ``t``.
    """
    dt = t.dtype
    f64 = dt == jnp.float64
    reach = 38.0 if f64 else 13.0
    n_iter = 64 if f64 else 40
    lower = t <= 0
    target = log_ndtr(-jnp.abs(t))
    mu = jnp.asarray(means, dt)
    lo = jnp.full(t.shape, jnp.min(mu) - reach, dt)
    hi = jnp.full(t.shape, jnp.max(mu) + reach, dt)

    def body(_: int, bracket: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        log_cdf, log_sf = mixture_log_cdf(mid, weights, means)
        right = jnp.where(lower, log_cdf < target, log_sf > target)
        return jnp.where(right, mid, lo), jnp.where(right, hi, mid)

    lo, hi = jax.lax.fori_loop(0, n_iter, body, (lo, hi))
    return 0.5 * (lo + hi)


def _normal_of_mixture(s: jax.Array, weights: tuple, means: tuple) -> jax.Array:
    """Inverse of :func:`mixture_quantile_of_normal`: ``t = Φ⁻¹(F(s))`` (tails via ``log``)."""
    log_cdf, log_sf = mixture_log_cdf(s, weights, means)
    return jnp.where(log_cdf <= log_sf, ndtri(jnp.exp(log_cdf)), -ndtri(jnp.exp(log_sf)))


def bimodal(rho: float = 0.75, *, dtype: Any = None) -> Task:
    """Bmi's bimodal task — id ``1v1-bimodal-{ρ}``.

    Uniforms ``(u, v) = (Φ(t), Φ(s))`` of a bivariate normal with correlation ρ are mapped through
    the inverse CDFs of ``0.3 N(0, 1) + 0.7 N(5, 1)`` (X) and ``0.5 N(−1, 1) + 0.5 N(3, 1)`` (Y).
    The inverse is computed without saturation in float32 (see the module notes).

    Args:
        rho: correlation of the underlying bivariate normal, in (-1, 1).
        dtype: sampling dtype.

    Returns:
        A 1×1 :class:`Task` with ``mi = −½ ln(1 − ρ²)`` nats (inherited).

    Example:
        >>> import jax
        >>> from jaxmi.tasks import bimodal
        >>> x, y = bimodal(0.75).sample(jax.random.key(0), 1000)
        >>> bool(x.mean() > 2.5)
        True
    """
    r = real_in(rho, "rho", -1.0, 1.0)
    base = bivariate_normal(r, dtype=dtype)
    wx, mx = BIMODAL_X
    wy, my = BIMODAL_Y
    return transformed(
        base,
        lambda t: mixture_quantile_of_normal(t, wx, mx),
        lambda t: mixture_quantile_of_normal(t, wy, my),
        name=f"1v1-bimodal-{fmt(r)}",
        title="Bimodal 1 × 1",
        x_inverse=lambda s: _normal_of_mixture(s, wx, mx),
        y_inverse=lambda s: _normal_of_mixture(s, wy, my),
        params={"rho": r, "x_mixture": BIMODAL_X, "y_mixture": BIMODAL_Y},
    )
