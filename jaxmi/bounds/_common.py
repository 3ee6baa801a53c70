"""Shared pieces of the bounds: the return type, input checks and stable reductions.

Orientation (every function in :mod:`jaxmi.bounds`): ``scores[i, j] = f(x_i, y_j)``, rows index
x and columns index y; the diagonal holds the K joint samples and the K(K−1) off-diagonal
entries are samples from the product of the marginals. Per-y quantities (baselines, partition
functions) are indexed by the column.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from jaxmi._validation import is_traced

__all__ = [
    "BoundOut",
    "joint_mean",
    "logmeanexp_offdiag",
    "loo_logmeanexp",
    "surrogate",
]


class BoundOut(NamedTuple):
    """What every bound returns (a pytree).

    Attributes:
        value: the MI estimate to report, in nats (scalar).
        objective: the scalar to **maximise** during training; its gradient is the training
            gradient. Equal to ``value`` for most bounds; different for ``js``, ``smile`` and
            ``mine`` (lower bounds) and for the upper bounds, whose objective is the
            log-likelihood that trains the variational density (see each function).
    """

    value: jax.Array
    objective: jax.Array


def surrogate(out: BoundOut) -> jax.Array:
    """One scalar whose value is ``out.value`` and whose gradient is that of ``out.objective``.

    ``objective + stop_gradient(value − objective)`` (the straight-through device of Poole et al.
    and SMILE): log it as the estimate and differentiate it as the training objective.

    Args:
        out: a :class:`BoundOut`.

    Returns:
        A scalar (nats).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> s = jnp.array([[2.0, 0.1], [-0.3, 1.5]])  # s[i, j] = f(x_i, y_j)
        >>> out = bounds.js(s)
        >>> bool(jnp.isclose(bounds.surrogate(out), out.value))
        True
    """
    return out.objective + jax.lax.stop_gradient(out.value - out.objective)


# --------------------------------------------------------------------------------------------
# validation (static checks always; value checks only for concrete arrays)
# --------------------------------------------------------------------------------------------


def _is_float_dtype(dt: Any) -> bool:
    try:
        return bool(jnp.issubdtype(dt, jnp.floating))
    except TypeError:
        return False


def _as_array(a: Any, name: str) -> Any:
    if isinstance(a, (list, tuple)):
        try:
            a = np.asarray(a)
        except ValueError as err:
            raise ValueError(f"{name}: ragged or malformed nested sequence") from err
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise ValueError(f"{name}: expected an array, got {type(a).__name__}")
    if not _is_float_dtype(a.dtype):
        raise ValueError(f"{name}: expected a floating-point array, got dtype {a.dtype}")
    return a


def _check_finite(a: Any, name: str) -> None:
    if is_traced(a):
        return
    ok = np.isfinite(np.asarray(a, dtype=np.float64 if a.dtype != jnp.bfloat16 else np.float32))
    if not ok.all():
        bad = int(ok.size - np.count_nonzero(ok))
        raise ValueError(f"{name}: contains {bad} NaN or infinite value(s)")


def check_matrix(a: Any, name: str = "scores") -> jax.Array:
    """A square ``(K, K)`` floating matrix with K >= 2, finite when concrete."""
    a = _as_array(a, name)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name}: expected a square (K, K) matrix, got shape {tuple(a.shape)}")
    if a.shape[0] < 2:
        raise ValueError(f"{name}: needs K >= 2 samples (a {a.shape[0]}x{a.shape[0]} matrix)")
    _check_finite(a, name)
    return jnp.asarray(a)


def check_vector(a: Any, name: str, k: int | None = None, *, min_len: int = 1) -> jax.Array:
    """A floating ``(K,)`` vector (length ``k`` if given), finite when concrete."""
    a = _as_array(a, name)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a vector of shape (K,), got shape {tuple(a.shape)}")
    if k is not None and a.shape[0] != k:
        raise ValueError(f"{name}: expected length {k}, got shape {tuple(a.shape)}")
    if a.shape[0] < min_len:
        raise ValueError(f"{name}: needs at least {min_len} entries, got {a.shape[0]}")
    _check_finite(a, name)
    return jnp.asarray(a)


def check_scalar(a: Any, name: str) -> jax.Array:
    """A real scalar (Python number or 0-d float array), finite when concrete."""
    if isinstance(a, bool):
        raise ValueError(f"{name}: expected a real number, got {a!r}")
    if isinstance(a, numbers.Real):
        if not math.isfinite(float(a)):
            raise ValueError(f"{name}: must be finite, got {a}")
        return jnp.asarray(float(a))
    a = _as_array(a, name)
    if a.ndim != 0:
        raise ValueError(f"{name}: expected a scalar, got shape {tuple(a.shape)}")
    _check_finite(a, name)
    return jnp.asarray(a)


def check_baseline(a: Any, k: int, name: str = "log_baseline") -> jax.Array:
    """A per-column baseline: a real scalar or a ``(K,)`` vector (entry j belongs to y_j)."""
    if isinstance(a, numbers.Real) or (hasattr(a, "ndim") and a.ndim == 0):
        return check_scalar(a, name)
    a = _as_array(a, name)
    if a.ndim != 1 or a.shape[0] != k:
        raise ValueError(
            f"{name}: expected a scalar or a ({k},) vector indexed by column (y_j), "
            f"got shape {tuple(a.shape)}"
        )
    _check_finite(a, name)
    return jnp.asarray(a)


# --------------------------------------------------------------------------------------------
# reductions
# --------------------------------------------------------------------------------------------


def joint_mean(scores: jax.Array) -> jax.Array:
    """Mean of the diagonal (the joint samples): ``(1/K) Σ_i scores[i, i]``."""
    return jnp.mean(jnp.diagonal(scores))


def logmeanexp_offdiag(scores: jax.Array) -> jax.Array:
    """``log( (1/(K(K−1))) Σ_{i≠j} exp scores[i, j] )``, the diagonal masked by −inf.

    The masked entries get an exactly zero gradient.
    """
    k = scores.shape[0]
    masked = jnp.where(jnp.eye(k, dtype=bool), -jnp.inf, scores)
    return logsumexp(masked) - jnp.log(jnp.asarray(k * (k - 1), scores.dtype))


def loo_logmeanexp(scores: jax.Array) -> jax.Array:
    """Leave-one-out log-mean-exp down every column, in O(K²).

    ``LOO[h, c] = log( (1/(K−1)) Σ_{k≠h} exp scores[k, c] )``. Per column, ``lse_c`` (all rows)
    and ``lse_c`` with the column's arg-max row masked are computed once; for ``h`` not the
    arg-max the leave-one-out sum is ``lse_c + log1p(−exp(scores[h, c] − lse_c))`` (stable:
    the exponent is <= −log 2), for the arg-max row it is the masked value.

    Args:
        scores: ``(K, K)`` matrix, K >= 2.

    Returns:
        ``(K, K)`` matrix ``LOO[h, c]``.
    """
    k = scores.shape[0]
    lse = logsumexp(scores, axis=0)
    top = jnp.argmax(scores, axis=0)
    is_top = jnp.arange(k)[:, None] == top[None, :]
    lse_without_top = logsumexp(jnp.where(is_top, -jnp.inf, scores), axis=0)
    z = scores - lse[None, :]
    z = jnp.where(is_top, -1.0, z)  # keep the unused branch finite (its gradient would be NaN)
    loo_sum = jnp.where(is_top, lse_without_top[None, :], lse[None, :] + jnp.log1p(-jnp.exp(z)))
    return loo_sum - jnp.log(jnp.asarray(k - 1, scores.dtype))


def offdiag_mean(m: jax.Array) -> jax.Array:
    """Mean over the K(K−1) off-diagonal entries."""
    k = m.shape[0]
    return jnp.sum(jnp.where(jnp.eye(k, dtype=bool), 0.0, m)) / (k * (k - 1))
