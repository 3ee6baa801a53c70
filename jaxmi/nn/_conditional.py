"""The variational Gaussian conditional q(y | x) used by the CLUB and L1Out upper bounds."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxmi._validation import check_finite_scalar, check_int, check_key
from jaxmi.nn._critics import check_inputs
from jaxmi.nn._mlp import MLP

__all__ = ["LOGVAR_PARAMETERISATIONS", "GaussianConditional"]

LOGVAR_PARAMETERISATIONS = ("softplus", "tanh")
_LOG_2PI = math.log(2.0 * math.pi)


class GaussianConditional(nnx.Module):
    """Diagonal Gaussian ``q(y | x) = N(y; μ(x), diag σ²(x))`` with MLP mean and log-variance.

    ``log_prob_matrix(x, y)[i, j] = log q(y_j | x_i)`` (row = conditioning x, column = evaluated
    y): the matrix :func:`jaxmi.bounds.club` and :func:`jaxmi.bounds.l1out` take, in the same
    orientation as critic scores. Trained by maximum likelihood on joint pairs
    (``mean log_prob(x, y)``, the bounds' ``objective``).

    Log-variance parameterisations (``logvar``):

    * ``"softplus"`` (default): unbounded above with a smooth floor,
      ``log σ² = min_logvar + softplus(raw − min_logvar)``.
    * ``"tanh"``: ``log σ² = tanh(raw)`` as in the CLUB reference code; it confines σ² to
      [e⁻¹, e], so with standardised high-MI data (small residual variance) q is misspecified.

    Args:
        dim_x: dimension of x.
        dim_y: dimension of y.
        hidden: hidden widths of the mean and log-variance networks (the CLUB reference uses one
            hidden layer of half its ``hidden_size``).
        logvar: ``"softplus"`` or ``"tanh"``.
        min_logvar: the floor of the ``"softplus"`` parameterisation (nats of log-variance).
        activation: name or callable.
        init: ``"lecun"``, ``"torch"`` or ``"glorot"``.
        rngs: ``nnx.Rngs``.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from jaxmi import bounds
        >>> from jaxmi.nn import GaussianConditional
        >>> q = GaussianConditional(3, 2, (32,), rngs=nnx.Rngs(0))
        >>> x, y = jnp.ones((6, 3)), jnp.zeros((6, 2))
        >>> lp = q.log_prob_matrix(x, y)  # lp[i, j] = log q(y_j | x_i)
        >>> lp.shape, bounds.club(lp).value.shape
        ((6, 6), ())
    """

    def __init__(
        self,
        dim_x: int,
        dim_y: int,
        hidden: Sequence[int] = (64,),
        *,
        logvar: str = "softplus",
        min_logvar: float = -10.0,
        activation: str | Callable[[jax.Array], jax.Array] = "relu",
        init: str = "lecun",
        rngs: nnx.Rngs,
    ) -> None:
        self.dim_x = check_int(dim_x, "dim_x", minimum=1)
        self.dim_y = check_int(dim_y, "dim_y", minimum=1)
        if logvar not in LOGVAR_PARAMETERISATIONS:
            raise ValueError(f"logvar: must be one of {LOGVAR_PARAMETERISATIONS}, got {logvar!r}")
        self.logvar_kind = logvar
        self.min_logvar = float(check_finite_scalar(min_logvar, "min_logvar"))
        kw = {"activation": activation, "init": init, "rngs": rngs}
        self.mean_net = MLP(self.dim_x, self.dim_y, hidden, **kw)
        self.logvar_net = MLP(self.dim_x, self.dim_y, hidden, **kw)

    def mean_logvar(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``μ(x)`` and ``log σ²(x)``, each ``(K, dim_y)``."""
        shape = getattr(x, "shape", None)
        if shape is None or len(shape) != 2 or shape[1] != self.dim_x:
            raise ValueError(f"x: expected shape (K, {self.dim_x}), got {shape}")
        raw = self.logvar_net(x)
        if self.logvar_kind == "tanh":
            lv = jnp.tanh(raw)
        else:
            lv = self.min_logvar + jax.nn.softplus(raw - self.min_logvar)
        return self.mean_net(x), lv

    def log_prob(self, x: jax.Array, y: jax.Array) -> jax.Array:
        """``log q(y_i | x_i)`` for paired rows, ``(K,)`` in nats."""
        check_inputs(x, y, self.dim_x, self.dim_y, paired=True)
        mu, lv = self.mean_logvar(x)
        return -0.5 * jnp.sum(_LOG_2PI + lv + (y - mu) ** 2 * jnp.exp(-lv), axis=-1)

    def log_prob_matrix(self, x: jax.Array, y: jax.Array) -> jax.Array:
        """``L[i, j] = log q(y_j | x_i)``, ``(Kx, Ky)`` in nats (rows x, columns y)."""
        check_inputs(x, y, self.dim_x, self.dim_y, paired=False)
        mu, lv = self.mean_logvar(x)
        sq = (y[None, :, :] - mu[:, None, :]) ** 2 * jnp.exp(-lv)[:, None, :]
        return -0.5 * (jnp.sum(_LOG_2PI + lv, axis=-1)[:, None] + jnp.sum(sq, axis=-1))

    def sample(self, key: Any, x: jax.Array) -> jax.Array:
        """One draw ``y_i ~ q(y | x_i)`` per row, ``(K, dim_y)``."""
        k = check_key(key)
        mu, lv = self.mean_logvar(x)
        return mu + jnp.exp(0.5 * lv) * jax.random.normal(k, mu.shape, mu.dtype)

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        """Same as :meth:`log_prob_matrix`."""
        return self.log_prob_matrix(x, y)
