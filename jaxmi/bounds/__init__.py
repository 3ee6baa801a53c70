"""Variational bounds on mutual information as pure functions of a score matrix (``jaxmi.bounds``).

**Orientation** (the same for every function and every :mod:`jaxmi.nn` critic): a minibatch of K
joint pairs ``(x_i, y_i)`` gives the ``(K, K)`` matrix ``scores[i, j] = f(x_i, y_j)`` — rows
index x, columns index y, the K joint samples on the diagonal and the K(K−1) off-diagonal
entries as samples of p(x)p(y). Per-y baselines are indexed by the column. Upper bounds take the
log-likelihood matrix ``log_probs[i, j] = log q(y_j | x_i)`` in the same orientation.

Every bound returns :class:`BoundOut` ``(value, objective)``: the estimate to report (nats) and
the scalar to maximise in training (they differ for :func:`js`, :func:`smile`, :func:`mine` and
the upper bounds); :func:`surrogate` fuses them into one straight-through scalar. No function
calls a network, so they compose with ``jit``, ``vmap``, ``grad`` and ``lax.scan``. Arguments are
validated (square floating matrix, finite values) with a ``ValueError`` naming the argument;
under a user's ``jit`` only the static checks (shapes, dtypes) run.

Lower bounds and estimators: :func:`infonce` (≤ log K), :func:`nwj`, :func:`dv`,
:func:`tuba`, :func:`js` (three read-outs, default tight), :func:`smile`, :func:`interpolated`
(I_α), :func:`mine` (with :class:`MineState`), :func:`uba`, :func:`barber_agakov`. Upper
bounds: :func:`club`, :func:`club_sampled`, :func:`l1out`, :func:`variational_upper`.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jaxmi import bounds
    >>> k, rho = 512, 0.75
    >>> x, e = jax.random.normal(jax.random.key(0), (2, k))
    >>> y = rho * x + jnp.sqrt(1 - rho**2) * e
    >>> # the optimal critic log p(x,y)/(p(x)p(y)), scores[i, j] = f(x_i, y_j)
    >>> s = -0.5 * jnp.log(1 - rho**2) - (
    ...     rho**2 * x[:, None] ** 2 - 2 * rho * x[:, None] * y[None, :] + rho**2 * y[None, :] ** 2
    ... ) / (2 * (1 - rho**2))
    >>> round(float(bounds.infonce(s).value), 1)  # truth 0.41 nats
    0.4
"""

from jaxmi.bounds._common import BoundOut, surrogate
from jaxmi.bounds._lower import (
    JS_READOUTS,
    MINE_INITS,
    MineState,
    barber_agakov,
    dv,
    infonce,
    interpolated,
    js,
    js_fgan,
    mine,
    mine_init,
    nwj,
    smile,
    tuba,
    uba,
)
from jaxmi.bounds._upper import club, club_sampled, l1out, variational_upper

__all__ = [
    "JS_READOUTS",
    "MINE_INITS",
    "BoundOut",
    "MineState",
    "barber_agakov",
    "club",
    "club_sampled",
    "dv",
    "infonce",
    "interpolated",
    "js",
    "js_fgan",
    "l1out",
    "mine",
    "mine_init",
    "nwj",
    "smile",
    "surrogate",
    "tuba",
    "uba",
    "variational_upper",
]
