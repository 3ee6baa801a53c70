"""Minibatch index streams shared by the fused training loops (private).

Used by :func:`jaxmi.neural_mi` (critics) and :func:`jaxmi.models.train_classifier`.
"""

import jax
import jax.numpy as jnp

__all__ = ["chunk_batches", "permutation"]


def permutation(key: jax.Array, n: int) -> jax.Array:
    """A uniformly random permutation of ``0..n-1``: one sort by 64 random bits per index.

    ``jax.random.permutation`` shuffles in a loop of sort rounds; inside a training program one
    sort compiles faster (0.16 s against 0.45 s for n = 2,000 on a 2-core CPU). Two indices
    share their 64-bit key with probability below ``n**2 / 2**65`` (a tie keeps index order),
    so the bias is far below anything a minibatch order can show.

    Args:
        key: typed PRNG key.
        n: number of indices (static).

    Returns:
        ``(n,)`` int32 permutation.

    Example:
        >>> import jax
        >>> sorted(permutation(jax.random.key(0), 5).tolist())
        [0, 1, 2, 3, 4]
    """
    bits = jax.random.bits(key, (2, n), jnp.uint32)
    return jax.lax.sort((bits[0], bits[1], jnp.arange(n, dtype=jnp.int32)), num_keys=2)[2]


def chunk_batches(key: jax.Array, n: int, steps: int, k: int) -> jax.Array:
    """Minibatch indices ``(steps, k)`` for one chunk: consecutive slices of fresh permutations.

    Within a batch the indices are distinct (drawn without replacement); across the chunk every
    training sample is used once before any is reused (epochs), one permutation per ``n``
    samples. Per-step ``jax.random.choice(..., replace=False)`` sorts all n indices at every
    step instead (~20 ms for n = 32,000 on a CPU, far more than a small critic's step).

    Args:
        key: typed PRNG key of the chunk.
        n: number of training samples (indices lie in ``[0, n)``).
        steps: number of minibatches.
        k: minibatch size (``1 <= k <= n``).

    Returns:
        ``(steps, k)`` int32 sample indices.

    Example:
        >>> import jax
        >>> idx = chunk_batches(jax.random.key(0), 10, 7, 4)  # 2 batches per permutation
        >>> idx.shape, len(set(idx[:2].ravel().tolist()))  # the first 8 come from one permutation
        ((7, 4), 8)
    """
    per_perm = n // k  # whole batches per permutation
    n_perm = -(-steps // per_perm)
    keys = jax.random.split(key, n_perm)
    perms = jax.vmap(lambda kk: permutation(kk, n)[: per_perm * k])(keys)
    return perms.reshape(n_perm * per_perm, k)[:steps]
