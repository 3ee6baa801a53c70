"""Minibatch index streams (jaxmi._batches): permutations and epoch-ordered chunks."""

import jax
import numpy as np
import pytest
from scipy import stats

from jaxmi._batches import chunk_batches, permutation


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_permutation_is_a_permutation(n):
    p = np.asarray(permutation(jax.random.key(n), n))
    assert p.dtype == np.int32 and p.shape == (n,)
    np.testing.assert_array_equal(np.sort(p), np.arange(n))


def test_permutation_positions_are_uniform():
    # where index 0 lands and which index comes first, over 4,000 keys: chi-square against
    # uniform (a sort by too few random bits, or an identity, fails)
    keys = jax.random.split(jax.random.key(0), 4000)
    perms = np.asarray(jax.vmap(lambda k: permutation(k, 5))(keys))
    where0 = np.argmax(perms == 0, axis=1)
    for sample in (where0, perms[:, 0]):
        counts = np.bincount(sample, minlength=5)
        assert stats.chisquare(counts).pvalue > 1e-3, counts
    # different keys give different orders: 50 draws of the 40,320 orders of 8 (a repeat has
    # probability 0.03)
    eights = np.asarray(jax.vmap(lambda k: permutation(k, 8))(keys[:50]))
    assert len({tuple(p) for p in eights.tolist()}) >= 49


def test_chunk_batches_are_epochs_of_distinct_indices():
    idx = np.asarray(chunk_batches(jax.random.key(1), 10, 7, 4))  # 2 batches per permutation
    assert idx.shape == (7, 4) and idx.min() >= 0 and idx.max() < 10
    for e in range(3):  # each epoch's 2 batches hold 8 distinct indices
        assert len(set(idx[2 * e : 2 * e + 2].ravel().tolist())) == 8
    assert len(set(idx[6].tolist())) == 4
