"""Upper bounds (and estimates) of mutual information from a conditional log-likelihood matrix.

Orientation: ``log_probs[i, j] = log q(y_j | x_i)`` — row = the conditioning x, column = the
evaluated y, the same as ``scores[i, j] = f(x_i, y_j)`` for the lower bounds. Values in nats.

For these functions :attr:`BoundOut.objective` is the mean log-likelihood that trains the
variational density by maximum likelihood (q(y|x) on the joint pairs for CLUB/L1Out, m(y) for
the variational upper bound); the representation being regularised minimises ``value``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from jaxmi._validation import check_key
from jaxmi.bounds._common import BoundOut, check_matrix, check_vector, joint_mean

__all__ = ["club", "club_sampled", "l1out", "variational_upper"]


@jax.jit
def _club(lp: jax.Array) -> tuple[jax.Array, jax.Array]:
    d = joint_mean(lp)
    return d - jnp.mean(lp), d


def club(log_probs: Any) -> BoundOut:
    """CLUB (vCLUB, Cheng et al. 2020) over all pairs: ``mean_i L[i, i] − mean_{i,j} L[i, j]``.

    ``L[i, j] = log q(y_j | x_i)`` (rows x, columns y; joint pairs on the diagonal). The second
    mean runs over all K² entries, diagonal included, as in the reference code. An upper bound
    when q is the true conditional p(y|x) (then loose: ``d·ρ²/(1 − ρ²)`` for d Gaussian pairs
    of correlation ρ); with a learned q only under a condition on q.

    Args:
        log_probs: ``(K, K)`` with ``log_probs[i, j] = log q(y_j | x_i)``.

    Returns:
        :class:`BoundOut`: ``value`` the CLUB estimate (nats), ``objective`` the mean joint
        log-likelihood ``mean_i L[i, i]`` that trains q.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> lp = jnp.array([[-1.0, -3.0], [-5.0, -1.0]])  # lp[i, j] = log q(y_j | x_i)
        >>> float(bounds.club(lp).value)
        1.5
    """
    return BoundOut(*_club(check_matrix(log_probs, "log_probs")))


@jax.jit
def _club_sampled(key: jax.Array, lp: jax.Array) -> tuple[jax.Array, jax.Array]:
    k = lp.shape[0]
    perm = jax.random.permutation(key, k)
    d = joint_mean(lp)
    return d - jnp.mean(lp[jnp.arange(k), perm]), d


def club_sampled(key: jax.Array, log_probs: Any) -> BoundOut:
    """CLUB (vCLUB) with one random negative per row: ``mean_i (L[i, i] − L[i, π(i)])``.

    ``L[i, j] = log q(y_j | x_i)``; π is a uniform random permutation, so this is an unbiased
    estimate of :func:`club` (diagonal-included version) at O(K) cost per row.

    Args:
        key: a typed PRNG key (``jax.random.key``).
        log_probs: ``(K, K)`` with ``log_probs[i, j] = log q(y_j | x_i)``.

    Returns:
        :class:`BoundOut`: ``value`` (nats), ``objective`` the mean joint log-likelihood.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> lp = jnp.array([[-1.0, -3.0], [-5.0, -1.0]])
        >>> v = float(bounds.club_sampled(jax.random.key(0), lp).value)
        >>> v in (0.0, 3.0)
        True
    """
    k = check_key(key)
    return BoundOut(*_club_sampled(k, check_matrix(log_probs, "log_probs")))


@jax.jit
def _l1out(lp: jax.Array) -> tuple[jax.Array, jax.Array]:
    k = lp.shape[0]
    diag = jnp.diagonal(lp)
    others = jnp.where(jnp.eye(k, dtype=bool), -jnp.inf, lp)
    log_marg = logsumexp(others, axis=0) - jnp.log(jnp.asarray(k - 1, lp.dtype))
    return jnp.mean(diag - log_marg), jnp.mean(diag)


def l1out(log_probs: Any) -> BoundOut:
    """Leave-one-out ("minibatch") upper bound of Poole et al. (``L1OutUB`` in CLUB's code).

    ``(1/K) Σ_j ( L[j, j] − log( (1/(K−1)) Σ_{i≠j} exp L[i, j] ) )`` with ``L[i, j] =
    log q(y_j | x_i)``: for each y_j, the marginal p(y_j) is estimated from the other x's
    (down column j, the diagonal masked by −inf — not by a finite −20, which leaks the positive
    term at high MI). An upper bound in expectation with the true conditional; with a learned q
    it is an estimate. With the diagonal *included* (normaliser K) it becomes TNCE, a lower
    bound: ``infonce(log_probs, axis=0)``.

    Args:
        log_probs: ``(K, K)`` with ``log_probs[i, j] = log q(y_j | x_i)``.

    Returns:
        :class:`BoundOut`: ``value`` (nats), ``objective`` the mean joint log-likelihood.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> lp = jnp.array([[-1.0, -3.0], [-5.0, -1.0]])
        >>> float(bounds.l1out(lp).value)
        3.0
    """
    return BoundOut(*_l1out(check_matrix(log_probs, "log_probs")))


@jax.jit
def _variational_upper(lp: jax.Array, lm: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jnp.mean(lp - lm), jnp.mean(lm)


def variational_upper(log_p_cond: Any, log_marginal: Any) -> BoundOut:
    """Variational upper bound with a known conditional, ``mean_i log p(y_i|x_i) − log m(y_i)``.

    ``I(X; Y) <= E_{p(x)}[KL(p(y|x) ‖ m(y))]`` for any normalised density m(y), tight at
    ``m = p(y)``. The inputs are the diagonal of ``L[i, j] = log p(y_j | x_i)`` and ``m`` at the
    same y's.

    Args:
        log_p_cond: ``(K,)`` with ``log_p_cond[i] = log p(y_i | x_i)`` (the true conditional).
        log_marginal: ``(K,)`` with ``log_marginal[i] = log m(y_i)``.

    Returns:
        :class:`BoundOut`: ``value`` (nats), ``objective`` ``mean log m(y_i)`` (maximising it
        trains m towards p(y) and tightens the bound).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> float(bounds.variational_upper(jnp.array([-1.0, -1.0]), jnp.array([-2.0, -3.0])).value)
        1.5
    """
    lp = check_vector(log_p_cond, "log_p_cond")
    lm = check_vector(log_marginal, "log_marginal", lp.shape[0])
    return BoundOut(*_variational_upper(lp, lm.astype(lp.dtype)))
