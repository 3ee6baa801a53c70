"""Variational lower bounds (and estimators) of mutual information from a critic score matrix.

Orientation: ``scores[i, j] = f(x_i, y_j)`` — rows index x, columns index y, the diagonal holds
the K joint pairs, the off-diagonal entries are samples of p(x)p(y). Values are in nats.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from jaxmi._validation import is_traced
from jaxmi.bounds._common import (
    BoundOut,
    check_baseline,
    check_matrix,
    check_scalar,
    check_vector,
    joint_mean,
    logmeanexp_offdiag,
    loo_logmeanexp,
    offdiag_mean,
)

__all__ = [
    "JS_READOUTS",
    "MINE_INITS",
    "MineState",
    "barber_agakov",
    "dv",
    "infonce",
    "interpolated",
    "js",
    "js_fgan",
    "mine",
    "mine_init",
    "nwj",
    "smile",
    "tuba",
    "uba",
]

JS_READOUTS = ("tuba1", "nwj", "dv")


def _out(value: jax.Array, objective: jax.Array | None = None) -> BoundOut:
    return BoundOut(value, value if objective is None else objective)


def _log_k(k: int, dtype: Any) -> jax.Array:
    return jnp.asarray(math.log(k), dtype)


# --------------------------------------------------------------------------------------------
# InfoNCE
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("axis",))
def _infonce(s: jax.Array, axis: int | str) -> jax.Array:
    k = s.shape[0]
    diag = jnp.diagonal(s)
    if axis == "both":
        rows = jnp.mean(diag - logsumexp(s, axis=1))
        cols = jnp.mean(diag - logsumexp(s, axis=0))
        return _log_k(k, s.dtype) + 0.5 * (rows + cols)
    return _log_k(k, s.dtype) + jnp.mean(diag - logsumexp(s, axis=axis))


def infonce(scores: Any, axis: int | str = 1) -> BoundOut:
    """InfoNCE (CPC) multi-sample lower bound; never above ``log K``.

    ``log K + (1/K) Σ_i (scores[i, i] − logsumexp over the contrast axis)`` with the
    orientation ``scores[i, j] = f(x_i, y_j)`` (rows x, columns y, positives on the diagonal).

    Args:
        scores: ``(K, K)`` critic scores, ``scores[i, j] = f(x_i, y_j)``.
        axis: ``1`` (default): contrast over ``y_j`` for a fixed ``x_i`` (bmi, TFP); ``0``:
            over ``x_j`` for a fixed ``y_i`` (the formula as written by Poole et al.; with the
            true ``log p(y|x)`` as critic this is TNCE); ``"both"``: the mean of the two.

    Returns:
        :class:`BoundOut` with ``value == objective`` (nats), at most ``log K`` for every batch.
        Tight when ``f = log p(x,y)/(p(x)p(y)) + c(x)`` (axis 1) and K → ∞.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> s = jnp.array([[3.0, 0.0], [0.0, 3.0]])  # s[i, j] = f(x_i, y_j)
        >>> round(float(bounds.infonce(s).value), 4)  # <= log 2 = 0.6931
        0.6446
    """
    index = isinstance(axis, (int, np.integer)) and not isinstance(axis, (bool, np.bool_))
    if not ((isinstance(axis, str) and axis == "both") or (index and axis in (0, 1))):
        raise ValueError(f"axis: must be 0, 1 or 'both', got {axis!r}")
    s = check_matrix(scores)
    return _out(_infonce(s, axis))


# --------------------------------------------------------------------------------------------
# DV, NWJ, TUBA, UBA, BA
# --------------------------------------------------------------------------------------------


def _split_scores(scores: Any, name: str = "scores") -> tuple[jax.Array, jax.Array | None]:
    """A ``(K, K)`` matrix, or a pair ``(joint (K,), marginal (M,))`` of score vectors."""
    if isinstance(scores, tuple):
        if len(scores) != 2:
            raise ValueError(
                f"{name}: expected a (K, K) matrix or a pair (joint_scores, marginal_scores), "
                f"got a tuple of length {len(scores)}"
            )
        joint = check_vector(scores[0], f"{name}[0] (joint_scores)")
        marg = check_vector(scores[1], f"{name}[1] (marginal_scores)")
        return joint, marg
    return check_matrix(scores, name), None


@jax.jit
def _dv_matrix(s: jax.Array) -> tuple[jax.Array, jax.Array]:
    return joint_mean(s), logmeanexp_offdiag(s)


@jax.jit
def _dv_pair(joint: jax.Array, marg: jax.Array) -> tuple[jax.Array, jax.Array]:
    lme = logsumexp(marg) - jnp.log(jnp.asarray(marg.shape[0], marg.dtype))
    return jnp.mean(joint), lme


def _dv_terms(scores: Any) -> tuple[jax.Array, jax.Array]:
    s, marg = _split_scores(scores)
    return _dv_matrix(s) if marg is None else _dv_pair(s, marg)


def dv(scores: Any) -> BoundOut:
    """Donsker–Varadhan estimate ``d − log mean_{i≠j} exp scores[i, j]``.

    ``d`` is the mean of the diagonal (joint pairs) of ``scores[i, j] = f(x_i, y_j)``; all
    K(K−1) off-diagonal entries serve as samples of p(x)p(y). Shift invariant. The population DV
    bound is a lower bound, but the minibatch estimate is biased **upward** (Jensen on the
    log-mean), so it is an estimate, not a guaranteed bound.

    Args:
        scores: ``(K, K)`` critic scores, ``scores[i, j] = f(x_i, y_j)``; or a pair
            ``(joint_scores (K,), marginal_scores (M,))`` when the negatives come from a
            separately shuffled batch (bmi's MINE).

    Returns:
        :class:`BoundOut` with ``value == objective`` (nats).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> s = jnp.array([[1.0, 0.0], [0.0, 1.0]])
        >>> float(bounds.dv(s).value), float(bounds.dv(s + 7.0).value)
        (1.0, 1.0)
    """
    d, lme = _dv_terms(scores)
    return _out(d - lme)


@jax.jit
def _tuba(s: jax.Array, log_a: jax.Array) -> jax.Array:
    log_a = jnp.broadcast_to(jnp.asarray(log_a, s.dtype), (s.shape[1],))
    shifted = s - log_a[None, :]
    return 1.0 + joint_mean(shifted) - jnp.exp(logmeanexp_offdiag(shifted))


def tuba(scores: Any, log_baseline: Any) -> BoundOut:
    """Tractable unnormalised Barber–Agakov bound (Poole et al.) with a baseline ``a(y)``.

    ``1 + (1/K) Σ_i (scores[i, i] − log a(y_i)) − mean_{i≠j} exp(scores[i, j] − log a(y_j))``
    with ``scores[i, j] = f(x_i, y_j)``: the baseline belongs to y, so it is subtracted down
    each **column** (``log_baseline[j]`` for column j). A valid lower bound for any critic and
    any ``a > 0``; tight when ``f − log a(y) = log p(x,y)/(p(x)p(y))``.

    Args:
        scores: ``(K, K)`` critic scores, ``scores[i, j] = f(x_i, y_j)``.
        log_baseline: ``log a``: a scalar (constant baseline; 1.0 gives NWJ) or a ``(K,)``
            vector with ``log_baseline[j] = log a(y_j)``.

    Returns:
        :class:`BoundOut` with ``value == objective`` (nats).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> s = jnp.array([[1.0, -0.5], [0.2, 0.8]])
        >>> bool(jnp.isclose(bounds.tuba(s, 1.0).value, bounds.nwj(s).value))
        True
    """
    s = check_matrix(scores)
    log_a = check_baseline(log_baseline, s.shape[0])
    return _out(_tuba(s, log_a))


@jax.jit
def _nwj(s: jax.Array) -> jax.Array:
    return joint_mean(s) - jnp.exp(logmeanexp_offdiag(s) - 1.0)


def nwj(scores: Any) -> BoundOut:
    """NWJ (f-divergence, "MINE-f") lower bound ``d − e^{−1} mean_{i≠j} exp scores[i, j]``.

    ``d`` is the mean diagonal of ``scores[i, j] = f(x_i, y_j)``. Equals ``tuba(scores, 1.0)``;
    an unbiased estimate of a lower bound, tight at ``f = 1 + log p(x,y)/(p(x)p(y))``.

    Args:
        scores: ``(K, K)`` critic scores, ``scores[i, j] = f(x_i, y_j)``.

    Returns:
        :class:`BoundOut` with ``value == objective`` (nats).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> round(float(bounds.nwj(jnp.eye(2) + 1.0).value), 4)
        1.0
    """
    return _out(_nwj(check_matrix(scores)))


@jax.jit
def _uba(s: jax.Array, log_z: jax.Array) -> jax.Array:
    log_z = jnp.broadcast_to(jnp.asarray(log_z, s.dtype), (s.shape[1],))
    return joint_mean(s) - jnp.mean(log_z)


def uba(scores: Any, log_partition: Any) -> BoundOut:
    """Unnormalised Barber–Agakov bound with a caller-supplied partition function.

    ``(1/K) Σ_i scores[i, i] − (1/K) Σ_j log Z(y_j)``, ``Z(y) = E_{p(x)}[exp f(x, y)]``, with
    ``scores[i, j] = f(x_i, y_j)``. A lower bound only when ``log Z`` is exact; a Monte-Carlo
    ``log Ẑ`` is biased low (``E[log Ẑ] <= log Z``), so plugging it in biases the value upward.

    Args:
        scores: ``(K, K)`` critic scores, ``scores[i, j] = f(x_i, y_j)`` (only the diagonal is
            used).
        log_partition: ``log Z(y_j)``: a scalar or a ``(K,)`` vector indexed by column.

    Returns:
        :class:`BoundOut` with ``value == objective`` (nats).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> float(bounds.uba(jnp.eye(3), 0.0).value)
        1.0
    """
    s = check_matrix(scores)
    log_z = check_baseline(log_partition, s.shape[0], "log_partition")
    return _out(_uba(s, log_z))


def barber_agakov(log_q_joint: Any, entropy_x: Any) -> BoundOut:
    """Barber–Agakov bound ``h(X) + (1/K) Σ_i log q(x_i | y_i)``.

    Needs a **normalised** decoder q(x|y) and the exact differential entropy h(X); tight at
    q(x|y) = p(x|y). (The decoder log-likelihood matrix would be ``L[i, j] = log q(x_i | y_j)``;
    only its diagonal enters.)

    Args:
        log_q_joint: ``(K,)`` with ``log_q_joint[i] = log q(x_i | y_i)`` (nats).
        entropy_x: h(X) in nats (scalar).

    Returns:
        :class:`BoundOut` with ``value == objective`` (nats).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> float(bounds.barber_agakov(jnp.array([-1.0, -2.0]), 2.0).value)
        0.5
    """
    lq = check_vector(log_q_joint, "log_q_joint")
    h = check_scalar(entropy_x, "entropy_x")
    return _out(h.astype(lq.dtype) + jnp.mean(lq))


# --------------------------------------------------------------------------------------------
# JS (f-GAN) training, SMILE
# --------------------------------------------------------------------------------------------


@jax.jit
def _js_fgan(s: jax.Array) -> jax.Array:
    return -jnp.mean(jax.nn.softplus(-jnp.diagonal(s))) - offdiag_mean(jax.nn.softplus(s))


def js_fgan(scores: Any) -> jax.Array:
    """The f-GAN Jensen–Shannon objective ``mean_i −softplus(−s_ii) − mean_{i≠j} softplus(s_ij)``.

    With ``scores[i, j] = f(x_i, y_j)``. It lower-bounds ``2·JSD(p(x,y) ‖ p(x)p(y)) − log 4``,
    **not** MI; it is the training objective of :func:`js` and :func:`smile`. Its pointwise
    maximiser is ``f* = log p(x,y)/(p(x)p(y))`` (no +1).

    Args:
        scores: ``(K, K)`` critic scores, ``scores[i, j] = f(x_i, y_j)``.

    Returns:
        A scalar (nats of the JS objective, not of MI).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> round(float(bounds.js_fgan(jnp.zeros((2, 2)))), 4)  # −2 log 2
        -1.3863
    """
    return _js_fgan(check_matrix(scores))


@functools.partial(jax.jit, static_argnames=("readout",))
def _js(s: jax.Array, readout: str) -> tuple[jax.Array, jax.Array]:
    d, lme = joint_mean(s), logmeanexp_offdiag(s)
    if readout == "tuba1":
        value = 1.0 + d - jnp.exp(lme)
    elif readout == "nwj":
        value = d - jnp.exp(lme - 1.0)
    else:
        value = d - lme
    return value, _js_fgan(s)


def js(scores: Any, readout: str = "tuba1") -> BoundOut:
    """MI read out from a critic trained with the Jensen–Shannon (f-GAN) objective.

    ``objective = js_fgan(scores)`` trains the critic towards ``f* = log p(x,y)/(p(x)p(y))``.
    The reported MI depends on the read-out (``scores[i, j] = f(x_i, y_j)``, ``d`` the mean
    diagonal, ``lme`` the off-diagonal log-mean-exp):

    * ``"tuba1"`` (default) ``= tuba(scores, 0) = nwj(scores + 1) = 1 + d − exp(lme)``; tight
      (equals I) at the JS-optimal critic.
    * ``"nwj"`` ``= d − e^{−1}·exp(lme)``: what the reference code of Poole et al. and SMILE
      report; at the JS-optimal critic it is ``I − e^{−1}`` (≈ 0.368 nats low). Offered for
      reproducing their numbers.
    * ``"dv"`` ``= d − lme`` (= ``smile`` with ``clip=None``).

    Args:
        scores: ``(K, K)`` critic scores, ``scores[i, j] = f(x_i, y_j)``.
        readout: ``"tuba1"``, ``"nwj"`` or ``"dv"``.

    Returns:
        :class:`BoundOut`: ``value`` the read-out (nats), ``objective`` the JS objective.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> s = jnp.array([[1.0, -0.5], [0.2, 0.8]])
        >>> a, b = bounds.js(s).value, bounds.nwj(s + 1.0).value
        >>> bool(jnp.isclose(a, b))
        True
    """
    if readout not in JS_READOUTS:
        raise ValueError(f"readout: must be one of {JS_READOUTS}, got {readout!r}")
    return BoundOut(*_js(check_matrix(scores), readout))


@jax.jit
def _smile(s: jax.Array, clip: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    marg = s if clip is None else jnp.clip(s, -clip, clip)
    return joint_mean(s) - logmeanexp_offdiag(marg), _js_fgan(s)


def smile(scores: Any, clip: Any) -> BoundOut:
    """SMILE (Song & Ermon 2020): DV with the marginal term clipped to ``[−τ, τ]``.

    ``value = d − log mean_{i≠j} exp(clip(scores[i, j], −τ, τ))`` with ``scores[i, j] =
    f(x_i, y_j)`` and ``d`` the **unclipped** mean diagonal; the critic is trained with the JS
    objective (:func:`js_fgan`). Clipping lowers the variance at the price of a bias (not a
    guaranteed bound). ``clip=None`` (τ = ∞) is DV read out from a JS-trained critic.

    Args:
        scores: ``(K, K)`` critic scores, ``scores[i, j] = f(x_i, y_j)``.
        clip: τ > 0 (the reference experiments use 1 and 5), or None for no clipping.

    Returns:
        :class:`BoundOut`: ``value`` the clipped DV (nats), ``objective`` the JS objective.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> s = jnp.array([[9.0, -9.0], [-9.0, 9.0]])
        >>> round(float(bounds.smile(s, 5.0).value), 4)  # 9 − (−5)
        14.0
    """
    s = check_matrix(scores)
    if clip is not None:
        tau = check_scalar(clip, "clip")
        if not is_traced(tau) and not float(tau) > 0:
            raise ValueError(f"clip: must be > 0 (or None), got {float(tau)}")
        clip = tau.astype(s.dtype)
    return BoundOut(*_smile(s, clip))


# --------------------------------------------------------------------------------------------
# Interpolated bound I_alpha
# --------------------------------------------------------------------------------------------


@jax.jit
def _interpolated(s: jax.Array, log_a: jax.Array, alpha_logit: jax.Array) -> jax.Array:
    k = s.shape[0]
    log_a = jnp.broadcast_to(jnp.asarray(log_a, s.dtype), (k,))
    alpha_logit = jnp.asarray(alpha_logit, s.dtype)
    loo = loo_logmeanexp(s)  # [h, c]: baseline of y_c without x_h
    base = jnp.logaddexp(
        jax.nn.log_sigmoid(alpha_logit) + loo,
        jax.nn.log_sigmoid(-alpha_logit) + log_a[None, :],
    )
    joint = offdiag_mean(jnp.diagonal(s)[None, :] - base)
    marginal = jnp.exp(logmeanexp_offdiag(s - jnp.diagonal(base)[None, :]))
    return 1.0 + joint - marginal


def interpolated(scores: Any, log_baseline: Any, alpha_logit: Any) -> BoundOut:
    """Interpolated multi-sample bound I_α of Poole et al. (between TUBA and InfoNCE).

    With ``scores[i, j] = f(x_i, y_j)`` (rows x, columns y) and ``α = sigmoid(alpha_logit)``, the
    baseline of ``y_c`` computed without ``x_h`` is

        ``B[h, c] = log( α·(1/(K−1)) Σ_{k≠h} exp scores[k, c] + (1 − α)·a(y_c) )``

    and ``value = 1 + mean_{h≠c}(scores[c, c] − B[h, c]) − mean_{i≠j} exp(scores[i, j] −
    B[j, j])``. A valid lower bound for every batch below ``1 + log((K − 1)/α)``.

    **Direction of alpha_logit** (as in the reference *code*, whose docstring says the
    opposite): ``alpha_logit → +∞`` (α → 1) gives the pure leave-one-out InfoNCE baseline
    (bounded, low variance); ``alpha_logit → −∞`` (α → 0) gives ``tuba(scores, log_baseline)``
    (high variance). Poole et al. use alpha_logit ∈ {−5, 0, 5}.

    Args:
        scores: ``(K, K)`` critic scores, ``scores[i, j] = f(x_i, y_j)``.
        log_baseline: ``log a``: a scalar or a ``(K,)`` vector, ``log_baseline[j] = log a(y_j)``.
        alpha_logit: logit of the weight α of the InfoNCE (leave-one-out) baseline; a scalar
            (may be traced, e.g. vmapped over a sweep).

    Returns:
        :class:`BoundOut` with ``value == objective`` (nats).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> s = jnp.array([[2.0, 0.1, -1.0], [0.3, 1.5, 0.2], [-0.4, 0.0, 1.0]])
        >>> a = bounds.interpolated(s, 0.0, -30.0).value  # alpha -> 0: TUBA
        >>> bool(jnp.isclose(a, bounds.tuba(s, 0.0).value))
        True
    """
    s = check_matrix(scores)
    log_a = check_baseline(log_baseline, s.shape[0])
    logit = check_scalar(alpha_logit, "alpha_logit")
    return _out(_interpolated(s, log_a, logit))


# --------------------------------------------------------------------------------------------
# MINE
# --------------------------------------------------------------------------------------------


class MineState(NamedTuple):
    """Moving-average state of :func:`mine` (a pytree; carry it through ``lax.scan``).

    Attributes:
        log_ema: log of the exponential moving average of ``mean exp(marginal scores)``.
        initialised: False before the first batch (the first batch then sets the EMA).
    """

    log_ema: jax.Array
    initialised: jax.Array


MINE_INITS = ("jaxmi", "bmi")


def mine_init(init: str = "jaxmi", dtype: Any = jnp.float32) -> MineState:
    """The state :func:`mine` starts from.

    Args:
        init: ``"jaxmi"`` (default): the first batch's value initialises the EMA, so the first
            gradient correction factor is 1. ``"bmi"``: the EMA starts at 0 (log −∞) and is not
            debiased, as in bmi, so the first correction factor is ``1/(1 − momentum)`` (10 at
            0.9), decaying over a few tens of steps.
        dtype: floating dtype of ``log_ema``.

    Returns:
        A :class:`MineState`.

    Example:
        >>> from jaxmi import bounds
        >>> bounds.mine_init().initialised
        Array(False, dtype=bool)
    """
    if init not in MINE_INITS:
        raise ValueError(f"init: must be one of {MINE_INITS}, got {init!r}")
    if init == "jaxmi":
        return MineState(jnp.zeros((), dtype), jnp.asarray(False))
    return MineState(jnp.full((), -jnp.inf, dtype), jnp.asarray(True))


@jax.jit
def _mine(d, lme, state: MineState, momentum) -> tuple[BoundOut, MineState]:
    beta = jnp.asarray(momentum, lme.dtype)
    log_m = jax.lax.stop_gradient(lme)
    prev = jnp.asarray(state.log_ema, lme.dtype)
    updated = jnp.logaddexp(jnp.log(beta) + prev, jnp.log1p(-beta) + log_m)
    log_ema = jax.lax.stop_gradient(jnp.where(state.initialised, updated, log_m))
    objective = d - jnp.exp(lme - log_ema)
    return BoundOut(d - lme, objective), MineState(log_ema, jnp.asarray(True))


def mine(scores: Any, state: MineState, momentum: Any = 0.9) -> tuple[BoundOut, MineState]:
    """MINE (Belghazi et al. 2018): DV with a moving-average correction of its gradient.

    The minibatch gradient of ``log E_q[e^f]`` is biased; MINE divides the gradient of
    ``m_t = mean exp(marginal scores)`` by an exponential moving average instead of ``m_t``:

    ``log_ema_t = logaddexp(log β + log_ema_{t−1}, log(1 − β) + log m_t)`` (the current batch
    included), training gradient ``∇d − ∇m_t / ema_t``, reported value the batch DV
    ``d − log m_t``. The objective ``d − exp(log m_t − stop_gradient(log_ema_t))`` has exactly
    that gradient.

    Args:
        scores: ``(K, K)`` critic scores with ``scores[i, j] = f(x_i, y_j)`` (negatives: all
            K(K−1) off-diagonal pairs), or a pair ``(joint_scores (K,), marginal_scores (M,))``
            (negatives from one shuffled pairing, as bmi does).
        state: the :class:`MineState` from :func:`mine_init` or the previous step.
        momentum: β in [0, 1), the weight on the history (0.9 in bmi and SMILE).

    Returns:
        ``(BoundOut, MineState)``: ``value`` the batch DV (nats), ``objective`` the corrected
        surrogate; the updated state (no gradient flows through it).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import bounds
        >>> s = jnp.array([[1.0, 0.0], [0.0, 1.0]])
        >>> out, state = bounds.mine(s, bounds.mine_init())
        >>> float(out.value), bool(state.initialised)
        (1.0, True)
    """
    if not isinstance(state, MineState):
        raise ValueError(f"state: expected a MineState (see mine_init), got {type(state).__name__}")
    beta = check_scalar(momentum, "momentum")
    if not is_traced(beta) and not 0.0 <= float(beta) < 1.0:
        raise ValueError(f"momentum: must be in [0, 1), got {float(beta)}")
    d, lme = _dv_terms(scores)
    return _mine(d, lme, state, beta)
