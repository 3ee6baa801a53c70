"""Flax NNX critics and variational densities for the neural MI bounds (``jaxmi.nn``).

Critics map a batch to a score matrix in jaxmi's orientation, the one every function of
:mod:`jaxmi.bounds` expects: ``critic.scores(x, y)[i, j] = f(x_i, y_j)`` (rows x, columns y,
joint pairs on the diagonal), and ``critic.pointwise(x, y)[i] = f(x_i, y_i)``.

* :class:`ConcatCritic` — ``MLP([x; y])`` on all pairs (first layer split for speed).
* :class:`SeparableCritic` — ``g(x)·h(y)`` (optionally ``+ a(x) + b(y)``).
* :class:`BilinearCritic` — ``φ(x)ᵀ W ψ(y)``, identity features by default.
* :class:`BaselineCritic` — a critic plus a learned baseline ``log a(y)`` (TUBA, I_α).
* :class:`GaussianConditional` — q(y|x) for :func:`jaxmi.bounds.club` / ``l1out``:
  ``log_prob_matrix(x, y)[i, j] = log q(y_j | x_i)``.
* :func:`conv_general_dilated` — ``lax.conv_general_dilated`` with a backward pass that stays
  fast inside ``lax.scan`` training loops on CPU (pass it to ``nnx.Conv``); jaxmi's CNNs use it.

All are plain NNX modules (state in ``nnx.Param``, no shared submodules): they pass through
``jax.jit``/``jax.vmap`` as pytrees and through ``nnx.split``/``nnx.merge`` for a functional
training loop.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from flax import nnx
    >>> from jaxmi import bounds, nn
    >>> critic = nn.SeparableCritic(2, 2, (32,), embed_dim=8, rngs=nnx.Rngs(0))
    >>> x, y = jax.random.normal(jax.random.key(0), (2, 64, 2))
    >>> graphdef, params = nnx.split(critic, nnx.Param)
    >>> def loss(params):
    ...     return -bounds.infonce(nnx.merge(graphdef, params).scores(x, y)).objective
    >>> grads = jax.grad(loss)(params)
"""

from jaxmi.nn._conditional import LOGVAR_PARAMETERISATIONS, GaussianConditional
from jaxmi.nn._conv import conv_general_dilated
from jaxmi.nn._critics import BaselineCritic, BilinearCritic, ConcatCritic, Critic, SeparableCritic
from jaxmi.nn._mlp import ACTIVATIONS, INITS, MLP

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "LOGVAR_PARAMETERISATIONS",
    "MLP",
    "BaselineCritic",
    "BilinearCritic",
    "ConcatCritic",
    "Critic",
    "GaussianConditional",
    "SeparableCritic",
    "conv_general_dilated",
]
