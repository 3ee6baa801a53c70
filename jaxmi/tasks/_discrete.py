"""Discrete–continuous tasks (Gao et al.'s mixtures, categorical–Gaussian).

Gao et al.'s discrete uniform mixture and zero-inflated Poissonization, and categorical labels
with Gaussian class-conditionals.

Discrete variables are returned as ``(n, 1)`` int32 codes by default; with ``labels=...`` the
codes are mapped to the given label values (numeric labels stay JAX arrays and jittable; other
labels, e.g. strings, give a NumPy object array and cannot be traced).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi._validation import is_traced
from jaxmi.tasks._base import (
    EULER_GAMMA,
    Task,
    dim,
    fmt,
    gauss_legendre,
    np_logsumexp,
    real_in,
    resolve_dtype,
    split_keys,
)

__all__ = [
    "categorical_gaussian",
    "categorical_gaussian_mi",
    "gao_uniform_mixture",
    "gao_uniform_mixture_multivariate",
    "zero_inflated_poisson",
    "zero_inflated_poisson_mi",
]


def _probs(prior: Any, name: str, m: int | None = None) -> np.ndarray:
    try:
        p = np.asarray(prior, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected a sequence of probabilities") from err
    if p.ndim != 1 or p.size < 1:
        raise ValueError(f"{name}: expected a 1-D sequence of probabilities, got shape {p.shape}")
    if m is not None and p.size != m:
        raise ValueError(f"{name}: expected {m} probabilities, got {p.size}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name}: probabilities must be finite and non-negative")
    with np.errstate(over="ignore"):
        total = float(np.sum(p))
    if not abs(total - 1.0) <= 1e-9:
        raise ValueError(f"{name}: probabilities must sum to 1, got {total}")
    return p / np.sum(p)


def _labels(labels: Any, m: int) -> tuple | None:
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not isinstance(labels, (Sequence, np.ndarray)):
        raise ValueError(f"labels: expected a sequence of {m} label values, got {labels!r}")
    lab = tuple(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    if len(lab) != m:
        raise ValueError(f"labels: expected {m} label values, got {len(lab)}")
    try:
        distinct = len(set(lab)) == m
    except TypeError as err:
        raise ValueError("labels: label values must be hashable") from err
    if not distinct:
        raise ValueError(f"labels: label values must be distinct, got {lab!r}")
    return lab


def _numeric(labels: tuple | None) -> bool:
    return labels is None or all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in labels
    )


def _map_labels(codes: jax.Array, labels: tuple | None) -> Any:
    if labels is None:
        return codes
    if _numeric(labels):
        return jnp.asarray(np.asarray(labels))[codes]
    if is_traced(codes):
        raise ValueError("labels: non-numeric labels cannot be used under jit/vmap")
    return np.asarray(labels, dtype=object)[np.asarray(codes)]


# --------------------------------------------------------------------------------------------
# Gao et al.'s discrete uniform mixture
# --------------------------------------------------------------------------------------------


def gao_uniform_mixture(
    m: int = 5, prior: Any = None, *, labels: Any = None, dtype: Any = None
) -> Task:
    """Discrete uniform mixture (Gao et al. 2017) — id ``gao-uniform-mixture-{m}``.

    ``X ~ Categorical(π)`` on ``{0, …, m−1}`` (discrete; uniform by default), ``Y | X ~ U(X, X+2)``
    (continuous). ``p(y)`` is constant ``q_j = (π_{j−1} + π_j)/2`` on ``[j, j+1)``, so
    ``I = −Σ_j q_j ln q_j − ln 2``; uniform π gives ``ln m − ((m−1)/m) ln 2``.

    Args:
        m: number of values (>= 1).
        prior: optional ``(m,)`` probabilities π (id suffix ``-prior-{π_0}-...``).
        labels: optional m label values replacing the codes 0..m−1 in the samples.
        dtype: dtype of Y.

    Returns:
        A 1×1 :class:`Task` (``x_kind="discrete"``; X int32 codes unless ``labels``).

    Example:
        >>> from jaxmi.tasks import gao_uniform_mixture
        >>> round(gao_uniform_mixture(5).mi, 6)
        1.05492
    """
    m = dim(m, "m")
    pi = np.full(m, 1.0 / m) if prior is None else _probs(prior, "prior", m)
    lab = _labels(labels, m)
    dt = resolve_dtype(dtype)
    padded = np.concatenate([[0.0], pi, [0.0]])
    q = 0.5 * (padded[:-1] + padded[1:])
    q = q[q > 0]
    mi = float(-np.sum(q * np.log(q)) - math.log(2.0))
    if prior is None:
        mi = math.log(m) - (m - 1) / m * math.log(2.0)
    logits = np.log(np.where(pi > 0, pi, 1.0))
    logits = np.where(pi > 0, logits, -np.inf)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[Any, jax.Array]:
        kx, ky = split_keys(key, 2)
        x = jax.random.categorical(kx, jnp.asarray(logits, dt), shape=(n, 1)).astype(jnp.int32)
        y = x.astype(dt) + 2.0 * jax.random.uniform(ky, (n, 1), dt)
        return _map_labels(x, lab), y

    suffix = "" if prior is None else "-prior-" + "-".join(f"{v:.6g}" for v in pi)
    return Task(
        name=f"gao-uniform-mixture-{m}{suffix}",
        title=f"Discrete uniform mixture 1 × 1 (m={m})",
        dim_x=1,
        dim_y=1,
        mi=mi,
        mi_method="closed_form",
        params={"m": m, "prior": pi.tolist(), "labels": lab},
        dtype=dt,
        x_kind="discrete",
        sampler=sampler,
        jit_sampler=_numeric(lab),
    )


def gao_uniform_mixture_multivariate(ms: Sequence[int], *, dtype: Any = None) -> Task:
    """Independent coordinates of Gao's uniform mixture — id ``gao-uniform-mixture-mv-{m_1}-...``.

    Coordinate k: ``X_k ~ Uniform{0, …, m_k − 1}`` (discrete, int32),
    ``Y_k | X_k ~ U(X_k, X_k + 2)``, independent across k (bmi's
    ``MultivariateDiscreteUniformMixtureSampler``), so
    ``I = Σ_k (ln m_k − ((m_k − 1)/m_k) ln 2)`` nats.

    Args:
        ms: the numbers of values ``m_k >= 1`` (one per coordinate).
        dtype: dtype of Y.

    Returns:
        A k×k :class:`Task` (``x_kind="discrete"``).

    Example:
        >>> from jaxmi.tasks import gao_uniform_mixture_multivariate
        >>> round(gao_uniform_mixture_multivariate([2, 5]).mi, 6)  # 0.346574 + 1.054920
        1.401494
    """
    if isinstance(ms, (str, bytes)) or not isinstance(ms, (Sequence, np.ndarray)) or not len(ms):
        raise ValueError(f"ms: expected a non-empty sequence of integers, got {ms!r}")
    mk = [dim(m, "ms") for m in ms]
    dt = resolve_dtype(dtype)
    k = len(mk)
    mi = sum(math.log(m) - (m - 1) / m * math.log(2.0) for m in mk)
    sizes = np.asarray(mk, np.float64)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        kx, ky = split_keys(key, 2)
        u = jax.random.uniform(kx, (n, k), dt)
        x = jnp.minimum(
            jnp.floor(u * jnp.asarray(sizes, dt)[None]), jnp.asarray(sizes - 1, dt)[None]
        )
        y = x + 2.0 * jax.random.uniform(ky, (n, k), dt)
        return x.astype(jnp.int32), y

    return Task(
        name="gao-uniform-mixture-mv-" + "-".join(str(m) for m in mk),
        title=f"Discrete uniform mixture {k} × {k} (m={mk})",
        dim_x=k,
        dim_y=k,
        mi=mi,
        mi_method="closed_form",
        params={"ms": mk},
        dtype=dt,
        x_kind="discrete",
        sampler=sampler,
    )


# --------------------------------------------------------------------------------------------
# Zero-inflated Poissonization
# --------------------------------------------------------------------------------------------

_S = sum(2.0**-k * math.log(k) for k in range(1, 200))  # Σ 2^-k ln k = 0.507834...
_C = 1.5 * math.log(2.0) + 0.25 - EULER_GAMMA - _S


def zero_inflated_poisson_mi(p: float) -> float:
    """Exact MI (nats) of the zero-inflated Poissonization task (spec §8.2, corrected).

    ``I(p) = (1 − p) C + B(p)``, ``C = (3/2) ln 2 + 1/4 − γ − Σ_k 2^{−k} ln k``,
    ``B(p) = −(1+p)/4 − ((1+p)/2) ln((1+p)/2) + p² ln(1/p) / (2(1−p))``.
    (bmi uses ``(1 − p)·0.30124``, exact only at p = 0.)

    Example:
        >>> from jaxmi.tasks import zero_inflated_poisson_mi
        >>> round(zero_inflated_poisson_mi(0.15), 6)
        0.229776
    """
    q = real_in(p, "p", 0.0, 1.0, lo_open=False, hi_open=False)
    if q == 1.0:
        return 0.0
    b = -(1 + q) / 4 - (1 + q) / 2 * math.log((1 + q) / 2)
    if q > 0:
        b += q * q * math.log(1.0 / q) / (2.0 * (1.0 - q))
    return (1.0 - q) * _C + b


def _threefry(key: jax.Array) -> jax.Array:
    """``key``, or where it is of another implementation a threefry key drawn from it.

    ``jax.random.poisson`` is implemented for threefry keys only (``rbg``, a common choice on
    TPUs through ``jax_default_prng_impl``, raised ``NotImplementedError``).
    """
    if str(jax.random.key_impl(key)) == "threefry2x32":
        return key
    return jax.random.wrap_key_data(jax.random.bits(key, (2,), jnp.uint32), impl="threefry2x32")


def zero_inflated_poisson(p: float = 0.15, *, labels: Any = None, dtype: Any = None) -> Task:
    """Zero-inflated Poissonization (Gao et al.) — id ``zip-poisson-{p}``.

    ``X ~ Exponential(1)`` (continuous); ``Y = 0`` with probability p, else ``Y ~ Poisson(X)``
    (discrete, int32). The ground truth is the exact formula of
    :func:`zero_inflated_poisson_mi`; bmi's ``(1 − p)·0.30124`` is kept in
    ``params["bmi_mi"]`` for cross-reference (11% too high at p = 0.15).

    Args:
        p: zero-inflation probability in [0, 1].
        labels: optional label values for the counts 0, 1, 2, ... (a mapping is impossible for
            unbounded counts, so only None is accepted).
        dtype: dtype of X.

    Returns:
        A 1×1 :class:`Task` (``y_kind="discrete"``).

    Example:
        >>> from jaxmi.tasks import zero_inflated_poisson
        >>> round(zero_inflated_poisson(0.15).mi, 6)
        0.229776
    """
    q = real_in(p, "p", 0.0, 1.0, lo_open=False, hi_open=False)
    if labels is not None:
        raise ValueError("labels: Poisson counts are unbounded; label mapping is not supported")
    dt = resolve_dtype(dtype)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        kx, kz, ky = split_keys(key, 3)
        x = jax.random.exponential(kx, (n, 1), dt)
        zero = jax.random.uniform(kz, (n, 1), dt) < q
        y = jax.random.poisson(_threefry(ky), x, (n, 1), dtype=jnp.int32)
        return x, jnp.where(zero, 0, y).astype(jnp.int32)

    return Task(
        name=f"zip-poisson-{fmt(q)}",
        title=f"Zero-inflated Poissonization 1 × 1 (p={fmt(q)})",
        dim_x=1,
        dim_y=1,
        mi=zero_inflated_poisson_mi(q),
        mi_method="closed_form",
        params={"p": q, "bmi_mi": (1.0 - q) * (2 * math.log(2.0) - EULER_GAMMA - _S)},
        dtype=dt,
        y_kind="discrete",
        sampler=sampler,
    )


# --------------------------------------------------------------------------------------------
# Categorical label with Gaussian class-conditionals
# --------------------------------------------------------------------------------------------


def categorical_gaussian_mi(probs: Any, means: Any, stds: Any) -> float:
    """``I(X; C)`` (nats) for ``C ~ Categorical(π)``, ``X | C = c ~ N(μ_c, σ_c²)`` by quadrature.

    Composite 20-point Gauss–Legendre on ``[min μ − 40σ, max μ + 40σ]`` with panels no wider
    than ``min σ / 4`` (float64; accurate to ~1e-12 for these smooth integrands).

    Example:
        >>> from jaxmi.tasks import categorical_gaussian_mi
        >>> round(categorical_gaussian_mi([0.5, 0.5], [0.0, 2.0], [1.0, 0.5]), 6)
        0.474307
    """
    pi, mu, sd = _cat_params(probs, means, stds)
    keep = pi > 0
    pi, mu, sd = pi[keep], mu[keep], sd[keep]
    if pi.size == 1:
        return 0.0
    logpi = np.log(pi)

    def comp(x: np.ndarray) -> np.ndarray:  # (C, N) log N(x; μ_c, σ_c²)
        z = (x[None, :] - mu[:, None]) / sd[:, None]
        return -0.5 * z * z - np.log(sd)[:, None] - 0.5 * math.log(2.0 * math.pi)

    def integrand(x: np.ndarray) -> np.ndarray:
        lc = comp(x)
        lmix = np_logsumexp(logpi[:, None] + lc, axis=0)
        return np.sum(pi[:, None] * np.exp(lc) * (lc - lmix[None, :]), axis=0)

    lo = float(np.min(mu - 40.0 * sd))
    hi = float(np.max(mu + 40.0 * sd))
    panels = int(min(200_000, max(200, math.ceil((hi - lo) / (0.25 * float(np.min(sd)))))))
    return gauss_legendre(integrand, lo, hi, panels)


def _cat_params(probs: Any, means: Any, stds: Any) -> tuple[np.ndarray, ...]:
    pi = _probs(probs, "probs")
    c = pi.size
    try:
        mu = np.asarray(means, np.float64)
        sd = np.asarray(stds, np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError("means, stds: expected real sequences") from err
    if mu.shape != (c,):
        raise ValueError(f"means: expected {c} values to match probs, got shape {mu.shape}")
    sd = np.broadcast_to(sd, (c,)) if sd.ndim == 0 else sd
    if sd.shape != (c,):
        raise ValueError(f"stds: expected {c} values to match probs, got shape {sd.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError("means: must be finite")
    if not np.all(np.isfinite(sd)) or np.any(sd <= 0):
        raise ValueError("stds: must be finite and > 0")
    return pi, mu, np.array(sd)


def categorical_gaussian(
    probs: Any,
    means: Any,
    stds: Any = 1.0,
    *,
    name: str | None = None,
    title: str | None = None,
    labels: Any = None,
    dtype: Any = None,
) -> Task:
    """Categorical label with Gaussian class-conditionals (1-D) — ids ``cat-gauss-*``.

    ``C ~ Categorical(π)``, ``X | C = c ~ N(μ_c, σ_c²)``. Samples are ``(x, labels)``: X
    continuous (``(n, 1)`` floats), Y the labels (``(n, 1)`` int32 codes unless ``labels``) —
    the argument order of ``gmm_mi_categorical``. ``mi`` is ``I(X; C)`` by 1-D quadrature;
    ``params["uniform_prior_mi"]`` is the MI of the same class-conditionals under a uniform
    prior (what an estimator assuming π_c = 1/C converges to) and ``params["label_entropy"]`` is
    ``H(π)``.

    Args:
        probs: ``(C,)`` class probabilities π.
        means: ``(C,)`` class means μ_c.
        stds: ``(C,)`` class standard deviations σ_c (or one scalar for all).
        name: task id (default ``"cat-gauss-{C}-custom"``).
        title: human-readable name.
        labels: optional C label values replacing the codes 0..C−1.
        dtype: dtype of X.

    Returns:
        A 1×1 :class:`Task` (``y_kind="discrete"``, ``mi_method="quadrature"``).

    Example:
        >>> from jaxmi.tasks import categorical_gaussian
        >>> t = categorical_gaussian([0.7, 0.2, 0.1], [0.0, 2.0, 4.0])
        >>> round(t.mi, 6), round(t.params["uniform_prior_mi"], 6)
        (0.445116, 0.619144)
    """
    pi, mu, sd = _cat_params(probs, means, stds)
    c = pi.size
    lab = _labels(labels, c)
    dt = resolve_dtype(dtype)
    logits = np.where(pi > 0, np.log(np.where(pi > 0, pi, 1.0)), -np.inf)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, Any]:
        kc, kx = split_keys(key, 2)
        codes = jax.random.categorical(kc, jnp.asarray(logits, dt), shape=(n, 1))
        codes = codes.astype(jnp.int32)
        x = jnp.asarray(mu, dt)[codes] + jnp.asarray(sd, dt)[codes] * jax.random.normal(
            kx, (n, 1), dt
        )
        return x, _map_labels(codes, lab)

    ent = float(-np.sum(pi[pi > 0] * np.log(pi[pi > 0])))
    return Task(
        name=name or f"cat-gauss-{c}-custom",
        title=title or f"Categorical–Gaussian 1 × 1 ({c} classes)",
        dim_x=1,
        dim_y=1,
        mi=categorical_gaussian_mi(pi, mu, sd),
        mi_method="quadrature",
        params={
            "probs": pi.tolist(),
            "means": mu.tolist(),
            "stds": sd.tolist(),
            "labels": lab,
            "uniform_prior_mi": categorical_gaussian_mi(np.full(c, 1.0 / c), mu, sd),
            "label_entropy": ent,
        },
        dtype=dt,
        y_kind="discrete",
        sampler=sampler,
        jit_sampler=_numeric(lab),
    )
