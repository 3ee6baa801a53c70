"""Minibatch index streams (jaxmi._batches): permutations and epoch-ordered chunks."""

import jax
import numpy as np
import pytest
from scipy import stats

from jaxmi._batches import _permutations, chunk_batches, permutation


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


@pytest.mark.parametrize("keys", ["split", "sequential seeds"])
def test_all_orders_equally_likely_and_streams_independent(keys):
    # the 120 orders of 5 over 6,000 keys (split ones, and the near-identical key words of
    # jax.random.key(0), key(1), ...): chi-square against uniform; a hash that mixed the key
    # words poorly would favour some orders
    if keys == "split":
        ks = jax.random.split(jax.random.key(3), 6000)
    else:
        ks = jax.vmap(jax.random.key)(np.arange(6000))
    perms = np.asarray(jax.vmap(lambda k: _permutations(k, 5, 2))(ks))  # (6000, 2, 5)
    code = lambda p: (p * 5 ** np.arange(5)).sum(-1)  # noqa: E731
    orders = np.unique(code(perms[:, 0]), return_inverse=True)[1]
    counts = np.bincount(orders, minlength=120)
    assert counts.size == 120 and stats.chisquare(counts).pvalue > 1e-3, counts
    # the two streams of one key (a chunk's successive epochs) are independent: the pair of
    # first elements is uniform over 25 cells
    pair = perms[:, 0, 0] * 5 + perms[:, 1, 0]
    assert stats.chisquare(np.bincount(pair, minlength=25)).pvalue > 1e-3
    # a longer permutation has no memory of the index order: position of i vs i + 1
    long = np.asarray(jax.vmap(lambda k: permutation(k, 200))(ks[:300]))
    pos = np.argsort(long, axis=1)
    r = np.corrcoef(pos[:, :-1].ravel(), pos[:, 1:].ravel())[0, 1]
    assert abs(r) < 0.02, r
