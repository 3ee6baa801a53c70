"""One optax step, traced under JAX's standard dtype promotion."""

from __future__ import annotations

from typing import Any

import jax
import optax


def optax_step(tx: optax.GradientTransformation, grads: Any, opt_state: Any, params: Any):
    """Apply one update of ``tx``: returns ``(new_params, new_opt_state)``.

    optax's transformations mix integer step counts with float hyperparameters (``adam``'s bias
    correction multiplies a float by an int32 count), which JAX refuses under
    ``jax_numpy_dtype_promotion="strict"``. The update is traced under the standard rules, so
    jaxmi trains for users who hold their own code to strict promotion; under the standard
    rules (the default) it is the plain optax step.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> p = {"w": jnp.ones(2)}
        >>> tx = optax.sgd(0.5)
        >>> with jax.numpy_dtype_promotion("strict"):
        ...     p, _ = optax_step(tx, {"w": jnp.ones(2)}, tx.init(p), p)
        >>> p["w"].tolist()
        [0.5, 0.5]
    """
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state
