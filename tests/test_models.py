"""jaxmi.models: the small CNN and its fused training loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxmi.models import SmallCNN, train_classifier


def _blob_or_dots(n=96, seed=0):
    """Class 1: a bright 2x2 blob; class 0: four bright pixels in a diagonal (same brightness)."""
    rng = np.random.default_rng(seed)
    x = 0.2 * rng.uniform(size=(n, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.int32)
    for i in range(n):
        r, c = rng.integers(0, 3, 2)
        if y[i]:
            x[i, r : r + 2, c : c + 2] = 1.0
        else:
            x[i, r + np.arange(4), c + np.arange(4)] = 1.0
    return x, y


def test_small_cnn_shapes():
    m = nnx.eval_shape(lambda: SmallCNN(3, 4, (4, 8, 8), rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(m)
    out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, jnp.zeros((5, 7, 9, 3)))
    assert out.shape == (5, 4)
    with pytest.raises(ValueError, match="features"):
        SmallCNN(1, 2, (), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="n_classes"):
        SmallCNN(1, 1, rngs=nnx.Rngs(0))


def test_train_classifier_learns_and_returns_a_pure_predict_fn():
    x, y = _blob_or_dots()
    clf = train_classifier(
        jax.random.key(0), x, y, epochs=40, batch_size=32, features=(4, 8), learning_rate=1e-2
    )
    assert clf.losses.shape == (40 * 3,)
    assert clf.losses[-10:].mean() < 0.5 * clf.losses[:3].mean()
    assert clf.train_accuracy >= 0.85
    xt, yt = _blob_or_dots(200, seed=1)
    p = np.asarray(clf.predict_fn(xt))
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    assert (p.argmax(1) == yt).mean() >= 0.8
    # the parameters are leaves of predict_fn: the same function under jit, as data
    leaves = jax.tree.leaves(clf.predict_fn)
    assert leaves and all(isinstance(a, jax.Array) for a in leaves)
    np.testing.assert_allclose(jax.jit(lambda f, a: f(a))(clf.predict_fn, xt), p, rtol=1e-5)
    np.testing.assert_allclose(jax.nn.softmax(clf.logits_fn(xt)), p, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(jax.nn.softmax(clf.model(xt)), p, rtol=1e-5, atol=1e-7)


def test_train_classifier_rejects_bad_input():
    x, y = _blob_or_dots(8)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="images"):
        train_classifier(key, x[0], y)
    with pytest.raises(ValueError, match="labels"):
        train_classifier(key, x, y[:-1])
    with pytest.raises(ValueError, match="labels"):
        train_classifier(key, x, y.astype(np.float32))
    with pytest.raises(ValueError, match="labels"):
        train_classifier(key, x, y + 5, n_classes=3)
    with pytest.raises(ValueError, match="batch_size"):
        train_classifier(key, x, y, batch_size=9)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="images"):
        train_classifier(key, bad, y)
    # under a user's jit/vmap, the traced argument is named (not JAX's tracer error)
    with pytest.raises(ValueError, match=r"^key: train_classifier .* cannot run under jit"):
        jax.vmap(lambda k: train_classifier(k, x, y).params)(jax.random.split(key, 2))
    with pytest.raises(ValueError, match=r"^labels: train_classifier .* cannot run under jit"):
        jax.jit(lambda lab: train_classifier(key, x, lab).params)(y)
