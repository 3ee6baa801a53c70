"""Placing host data on a mesh and reading results back, also across processes (private)."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

__all__ = ["fetch", "place"]


def place(tree: Any, sharding: NamedSharding) -> Any:
    """Put every leaf of ``tree`` on ``sharding``, also when the mesh spans several processes.

    Within one process this is :func:`jax.device_put`. Across processes (``jax.distributed``)
    every process holds the same global value, so each builds the global array from its own
    copy with :func:`jax.make_array_from_callback`, reading only the shards of its devices.
    """
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)

    def one(a):
        if jnp.issubdtype(jnp.result_type(a), jax.dtypes.prng_key):
            impl = jax.random.key_impl(a)
            return jax.random.wrap_key_data(one(jax.random.key_data(a)), impl=impl)
        host = np.asarray(a)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree.map(one, tree)


def fetch(tree: Any) -> Any:
    """Every leaf as NumPy; an array spread over several processes is gathered on each first."""

    def one(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(a)

    return jax.tree.map(one, tree)
