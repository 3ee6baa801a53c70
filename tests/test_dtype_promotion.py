"""jaxmi under ``jax_numpy_dtype_promotion="strict"``, which users set to catch implicit casts in
their own code: every estimator must run there and give the numbers of the standard rules.

A whole-suite run with ``JAX_NUMPY_DTYPE_PROMOTION=strict`` (2026-11-25) failed 85 tests and
errored 17, on eleven places in jaxmi that mixed int32 with float32, bool with float32 or (under
x64) int64 with int32, and on optax, whose ``adam`` multiplies a float by its int32 step count
(jaxmi's training steps now trace the optax update under the standard rules). The tests here
compare each path under both rules, to the bit.
"""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmi

KEY = jax.random.key(0)


def _clusters(n, seed=0):
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 4.0]])
    z = means[rng.integers(0, 3, n)] + rng.normal(size=(n, 2)) * np.array([1.0, 0.5])
    return z.astype(np.float32)


def _both(fn):
    """``fn()`` under the standard rules and under strict ones."""
    out = []
    for rule in ("standard", "strict"):
        with jax.numpy_dtype_promotion(rule):
            out.append(fn())
    return out


def _same(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) > 0
    for u, v in zip(leaves_a, leaves_b, strict=True):
        if jax.dtypes.issubdtype(getattr(u, "dtype", np.float32), jax.dtypes.prng_key):
            continue
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def test_gmm_mi_gives_the_standard_numbers():
    z = _clusters(512)
    opts = dict(n_bootstrap=2, mc_samples=2000, init="kmeans")
    # K* > 1: the integral's points per component (int32 count times float32 weights); the
    # k-means start's Lloyd steps (a bool one-hot times float32 weights)
    std, strict = _both(lambda: jaxmi.gmm_mi(KEY, z[:, 0], z[:, 1], **opts))
    assert int(strict.n_components) > 1
    _same(std, strict)


def test_categorical_integral_in_blocks(monkeypatch):
    # many classes score their points in blocks, whose means divided by an int32 count
    from jaxmi.gmm import _mi
    from jaxmi.gmm._mixture import GMM

    rng = np.random.default_rng(6)
    u, eps = _mi._class_noise(jax.random.key(1), n_cls=3, n_samples=500, d=2, dtype="float32")
    covs = np.broadcast_to(np.eye(2) * rng.uniform(0.5, 1.5, (3, 2, 1, 1)), (3, 2, 2, 2))
    g = jax.vmap(GMM.create)(np.full((3, 2), 0.5), rng.normal(size=(3, 2, 2)), covs)
    log_prior = np.log(np.array([0.2, 0.3, 0.5], np.float32))
    monkeypatch.setattr(_mi, "_CATEGORICAL_BLOCK", 700)  # 5 blocks of 300 points
    std, strict = _both(lambda: jax.jit(_mi._categorical_mi)(u, eps, g, log_prior))
    _same(std, strict)


def test_the_engine_under_x64():
    # under x64 jnp.arange and sums of booleans are int64, next to int32 counts and positions
    x = _clusters(256).astype(np.float64)
    with jax.enable_x64(True):
        fits = _both(lambda: jaxmi.gmm.fit(KEY, x, 3))
        assert fits[0].gmm.means.dtype == np.float64
        _same(*fits)
        _same(*_both(lambda: jaxmi.gmm.sample(KEY, fits[0].gmm, 64)))


def test_neural_mi_trains_with_optax():
    z = _clusters(400)

    def run():
        opts = dict(bound="infonce", max_steps=20, eval_every=10, batch_size=32)
        return jaxmi.neural_mi(KEY, z[:, :1], z[:, 1:], **opts)

    _same(*_both(run))


@pytest.mark.parametrize("x64", [False, True])
def test_attribution_metrics(x64):
    rng = np.random.default_rng(3)
    maps = jnp.asarray(rng.normal(size=(2, 8, 8)).astype(np.float32))
    masks = jnp.asarray(rng.uniform(size=(2, 8, 8)) > 0.6)
    with jax.enable_x64(True) if x64 else contextlib.nullcontext():
        # integer distances against a float tolerance; quantile positions and pixel counts
        _same(*_both(lambda: jaxmi.attribution.metrics.pointing_game(maps, masks, tolerance=1.5)))
        _same(*_both(lambda: jaxmi.attribution.metrics.effective_heat_ratio(maps, masks)))
