"""GMM pytree: densities against scipy, sampling moments, marginals, conditionals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import jaxmi
from jaxmi.gmm import GMM

W = np.array([0.2, 0.5, 0.3])
MU = np.array([[0.0, 1.0, -1.0], [2.0, -1.0, 0.5], [-2.0, 0.0, 1.0]])
A = np.array(
    [
        [[1.0, 0.3, 0.0], [0.3, 0.8, 0.2], [0.0, 0.2, 0.5]],
        [[0.4, -0.1, 0.05], [-0.1, 0.3, 0.0], [0.05, 0.0, 0.6]],
        [[1.5, 0.5, 0.2], [0.5, 1.0, -0.3], [0.2, -0.3, 0.9]],
    ]
)


def scipy_logpdf(w, mu, cov, x):
    dens = sum(wk * multivariate_normal(m, c).pdf(x) for wk, m, c in zip(w, mu, cov, strict=True))
    return np.log(dens)


@pytest.fixture
def g64():
    with jax.enable_x64(True):
        yield GMM.create(W, MU, A, dtype=np.float64)


def test_log_prob_matches_scipy_float64(g64):
    x = np.random.default_rng(0).normal(size=(50, 3)) * 2
    with jax.enable_x64(True):
        got = np.asarray(jaxmi.gmm.log_prob(g64, x))
    np.testing.assert_allclose(got, scipy_logpdf(W, MU, A, x), rtol=1e-12, atol=1e-12)


def test_log_prob_float32_and_single_point():
    g = GMM.create(W, MU, A)
    x = np.random.default_rng(1).normal(size=(20, 3))
    got = jaxmi.gmm.log_prob(g, x)
    assert got.dtype == jnp.float32 and got.shape == (20,)
    np.testing.assert_allclose(got, scipy_logpdf(W, MU, A, x), rtol=1e-5)
    one = jaxmi.gmm.log_prob(g, x[0])
    assert one.shape == ()
    np.testing.assert_allclose(one, got[0], rtol=1e-6)


def test_inactive_components_do_not_change_density(g64):
    with jax.enable_x64(True):
        from jaxmi.gmm._fit import _pad_components

        padded = _pad_components(g64, 7)
        x = np.random.default_rng(2).normal(size=(30, 3))
        np.testing.assert_allclose(
            jaxmi.gmm.log_prob(padded, x), jaxmi.gmm.log_prob(g64, x), rtol=0, atol=1e-13
        )
        r = np.asarray(jaxmi.gmm.responsibilities(padded, x))
        assert r.shape == (30, 7)
        np.testing.assert_allclose(r.sum(1), 1, atol=1e-12)
        assert np.all(r[:, 3:] == 0)
        assert int(padded.n_components) == 3 and padded.capacity == 7


def test_sample_moments():
    g = GMM.create(W, MU, A)
    xs = np.asarray(jaxmi.gmm.sample(jax.random.key(0), g, 200_000), np.float64)
    mean = W @ MU
    second = sum(w * (c + np.outer(m, m)) for w, m, c in zip(W, MU, A, strict=True))
    cov = second - np.outer(mean, mean)
    np.testing.assert_allclose(xs.mean(0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(xs.T), cov, atol=0.04)


def test_sample_common_random_numbers_and_reproducible():
    g = GMM.create(W, MU, A)
    a = jaxmi.gmm.sample(jax.random.key(3), g, 100)
    b = jaxmi.gmm.sample(jax.random.key(3), g, 100)
    c = jaxmi.gmm.sample(jax.random.key(4), g, 100)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # shifting every mean by the same vector shifts every sample by it (shared random numbers)
    shifted = g._replace(means=g.means + 1.5)
    np.testing.assert_allclose(
        jaxmi.gmm.sample(jax.random.key(3), shifted, 100), a + 1.5, atol=1e-5
    )


def test_marginal_matches_sliced_parameters(g64):
    with jax.enable_x64(True):
        m = jaxmi.gmm.marginal(g64, [2, 0])
        x = np.random.default_rng(5).normal(size=(40, 2))
        want = scipy_logpdf(W, MU[:, [2, 0]], A[:, [2, 0]][:, :, [2, 0]], x)
        np.testing.assert_allclose(jaxmi.gmm.log_prob(m, x), want, rtol=1e-12)
        # 1-D marginal accepts (N,) points
        m1 = jaxmi.gmm.marginal(g64, 1)
        x1 = np.linspace(-3, 3, 7)
        np.testing.assert_allclose(
            jaxmi.gmm.log_prob(m1, x1),
            scipy_logpdf(W, MU[:, [1]], A[:, [1]][:, :, [1]], x1[:, None]),
        )


def test_conditional_is_joint_over_marginal(g64):
    """log p(x_I | x_J) = log p(x) - log p_J(x_J) for every x_I."""
    with jax.enable_x64(True):
        xj = np.array([0.7])  # value of dimension 1
        cond = jaxmi.gmm.conditional(g64, [0, 2], xj)
        xi = np.random.default_rng(6).normal(size=(25, 2))
        full = np.concatenate([xi[:, :1], np.full((25, 1), xj[0]), xi[:, 1:]], axis=1)
        want = np.asarray(jaxmi.gmm.log_prob(g64, full)) - float(
            jaxmi.gmm.log_prob(jaxmi.gmm.marginal(g64, [1]), xj[None])[0]
        )
        np.testing.assert_allclose(jaxmi.gmm.log_prob(cond, xi), want, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(float(jnp.sum(cond.weights)), 1.0, atol=1e-14)


def test_conditional_single_gaussian_closed_form():
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    g = GMM.create(np.ones(1), np.array([[1.0, -1.0]]), cov[None])
    c = jaxmi.gmm.conditional(g, [0], np.array([1.0]))
    np.testing.assert_allclose(c.means[0, 0], 1.0 + 0.6 / 1.0 * (1.0 - -1.0), rtol=1e-6)
    np.testing.assert_allclose(c.covariances[0, 0, 0], 2.0 - 0.36, rtol=1e-6)


def test_functions_work_under_jit_and_vmap():
    g = GMM.create(W, MU, A)
    x = np.random.default_rng(7).normal(size=(10, 3)).astype(np.float32)
    f = jax.jit(jaxmi.gmm.log_prob)
    np.testing.assert_allclose(f(g, x), jaxmi.gmm.log_prob(g, x), rtol=1e-6)
    batch = jax.tree.map(lambda a: jnp.stack([a, a]), g)
    out = jax.vmap(jaxmi.gmm.log_prob, in_axes=(0, None))(batch, x)
    assert out.shape == (2, 10)
    s = jax.jit(jaxmi.gmm.sample, static_argnums=2)(jax.random.key(0), g, 4)
    assert s.shape == (4, 3)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((W[:2], MU, A), "weights"),
        ((W, MU[:, :2], A), "covariances"),
        ((-W, MU, A), "non-negative"),
        ((W, MU, A * np.array([1, -1, 1])[:, None, None]), "positive definite"),
        ((W, MU, A + np.triu(np.ones(3), 1)[None]), "symmetric"),
        ((W, MU * np.nan, A), "NaN"),
        ((W, MU[0], A), r"means"),
    ],
)
def test_create_rejects_bad_parameters(args, match):
    with pytest.raises(ValueError, match=match):
        GMM.create(*args)


def test_create_rejects_non_prefix_mask():
    with pytest.raises(ValueError, match="prefix"):
        GMM.create(W, MU, A, active=np.array([True, False, True]))


def test_public_functions_compile_once_per_shape():
    """log_prob, responsibilities, sample, marginal and conditional each run one compiled
    program per shape signature: new values of the same shapes reuse it (no op-by-op work)."""
    from jaxmi.gmm import _mixture as M

    programs = (
        M._log_prob_program,
        M._responsibilities_program,
        M._sample_program,
        M._marginal_program,
        M._conditional_program,
    )

    def compiled():
        return [p._plain._cache_size() + p._tuned._cache_size() for p in programs]

    def call_all(seed):
        rng = np.random.default_rng(seed)
        cov = np.eye(3) + 0.3
        g = GMM.create(rng.dirichlet(np.ones(2)), rng.normal(size=(2, 3)), np.stack([cov, cov]))
        x = rng.normal(size=(7, 3))
        jaxmi.gmm.log_prob(g, x)
        jaxmi.gmm.responsibilities(g, x)
        jaxmi.gmm.sample(jax.random.key(seed), g, 5)
        jaxmi.gmm.marginal(g, [0, 2])
        jaxmi.gmm.conditional(g, [1], rng.normal(size=2))

    call_all(0)
    first = compiled()
    assert all(c >= 1 for c in first), first
    call_all(1)  # other values, same shapes and dims: nothing new
    assert compiled() == first
    g = GMM.create(np.ones(1), np.zeros((1, 3)), np.eye(3)[None])
    jaxmi.gmm.marginal(g, [1])  # another shape: one more marginal program
    assert compiled()[3] == first[3] + 1
