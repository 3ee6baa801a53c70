"""Monte Carlo ground truths (float64, jaxmi's own mixture log-densities) vs the spec."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmi import tasks
from jaxmi.gmm import GMM, log_prob

N = 200_000


@pytest.mark.parametrize(
    "name",
    [
        "1v1-X-0.9",
        "1v1-AI",
        "2v1-galaxy-0.5-3.0",  # spiralled: evaluated on the base points
        "2v1-waves-12-5.0-3.0",
        "3v1-concentric_gaussians-5",
        "mult-sparse-w-inliers-5-5-2-2.0-0.5",
        "gmmmi-D3p",
        "gmmmi-D5p",
    ],
)
def test_mixture_mc_within_4se(name):
    t = tasks.get(name)
    m, se = tasks.mc_mutual_information(jax.random.key(3), t, N, chunk=50_000)
    assert 0 < se < 0.01
    assert abs(m - t.mi) < 4 * math.sqrt(se**2 + t.mi_stderr**2)


@pytest.mark.parametrize("name", ["weinman-0.1", "1v1-bimodal-0.75"])
def test_plain_mc_checks_closed_forms_and_densities(name):
    t = tasks.get(name)
    m, se = tasks.mc_mutual_information(jax.random.key(4), t, 100_000)
    assert abs(m - t.mi) < 4 * se


def test_mc_se_shrinks_and_is_reproducible():
    t = tasks.get("gmmmi-D5")
    a = tasks.mc_mutual_information(jax.random.key(0), t, 20_000)
    b = tasks.mc_mutual_information(jax.random.key(0), t, 20_000)
    c = tasks.mc_mutual_information(jax.random.key(0), t, 80_000, chunk=7_000)
    assert a == b
    assert c[1] == pytest.approx(a[1] / 2, rel=0.1)


def test_mc_rejects_tasks_without_density():
    with pytest.raises(ValueError, match="pmi"):
        tasks.mc_mutual_information(jax.random.key(0), tasks.get("1v1-additive-0.1"), 100)


def test_mc_names_a_traced_key():
    """It returns Python floats: a vmap over keys gets a ValueError naming the key."""
    t = tasks.get("1v1-X-0.9")
    with pytest.raises(ValueError, match=r"^key: mc_mutual_information .* cannot run under jit"):
        jax.vmap(lambda k: tasks.mc_mutual_information(k, t, 100))(
            jax.random.split(jax.random.key(0), 2)
        )


def test_user_mixture_task_from_gmm():
    cov = jnp.array([[[1.0, 0.5], [0.5, 1.0]], [[1.0, -0.5], [-0.5, 1.0]]])
    gmm = GMM.create(jnp.array([0.5, 0.5]), jnp.array([[0.0, 0.0], [0.0, 0.0]]), cov)
    t = tasks.mixture_task(gmm, 1, mc_samples=50_000, seed=1)
    assert t.mi_method == "monte_carlo" and 0 < t.mi_stderr < 0.01
    ref = tasks.mixture_x(0.5, mc_samples=50_000)  # the same distribution, another route
    assert abs(t.mi - ref.mi) < 4 * math.hypot(t.mi_stderr, ref.mi_stderr)
    t2 = tasks.mixture_task(gmm, 1, mc_samples=50_000, seed=1)
    assert t2.mi == t.mi  # cached
    # single Gaussian component: MC agrees with the closed form
    g1 = tasks.mixture_task(([1.0], [[0.0, 0.0]], [[[1.0, 0.6], [0.6, 1.0]]]), 1, mc_samples=40_000)
    assert abs(g1.mi - 0.223144) < 4 * g1.mi_stderr


def test_mixture_densities_match_jaxmi_gmm(x64):
    t = tasks.get("gmmmi-D3rho")
    xy = np.random.default_rng(0).normal(size=(100, 2)) * 2 + np.array([-1.0, 1.5])
    x, y = jnp.asarray(xy[:, :1]), jnp.asarray(xy[:, 1:])
    p = t.params
    g = GMM.create(jnp.asarray(p["weights"]), jnp.asarray(p["means"]),
                   jnp.asarray(p["covariances"]), dtype="float64")  # fmt: skip
    np.testing.assert_allclose(np.asarray(t.log_prob_xy(x, y)), np.asarray(log_prob(g, xy)),
                               rtol=1e-12)  # fmt: skip
    pmi = t.log_prob_xy(x, y) - t.log_prob_x(x) - t.log_prob_y(y)
    np.testing.assert_allclose(np.asarray(t.pmi(x, y)), np.asarray(pmi), rtol=1e-12, atol=1e-12)


def test_gaussian_and_student_densities_match_scipy(x64):
    from scipy import stats

    xy = np.random.default_rng(1).standard_t(2, size=(50, 6))
    x, y = jnp.asarray(xy[:, :3]), jnp.asarray(xy[:, 3:])
    t = tasks.get("multinormal-dense-3-3-0.5")
    cov = 0.5 * np.eye(6) + 0.5
    ref = stats.multivariate_normal(np.zeros(6), cov).logpdf(xy)
    np.testing.assert_allclose(np.asarray(t.log_prob_xy(x, y)), ref, rtol=1e-10)
    ref_x = stats.multivariate_normal(np.zeros(3), cov[:3, :3]).logpdf(xy[:, :3])
    np.testing.assert_allclose(np.asarray(t.log_prob_x(x)), ref_x, rtol=1e-10)
    s = tasks.get("student-identity-3-3-3")
    ref = stats.multivariate_t(np.zeros(6), np.eye(6), df=3).logpdf(xy)
    np.testing.assert_allclose(np.asarray(s.log_prob_xy(x, y)), ref, rtol=1e-10)
    ref_y = stats.multivariate_t(np.zeros(3), np.eye(3), df=3).logpdf(xy[:, 3:])
    np.testing.assert_allclose(np.asarray(s.log_prob_y(y)), ref_y, rtol=1e-10)


@pytest.mark.parametrize("kind", ["gamma", "weinman"])
def test_log_scale_densities_normalised_and_consistent(kind, x64):
    t = tasks.gamma_exponential(1.5) if kind == "gamma" else tasks.weinman(0.7)
    h = 0.01
    grid = jnp.arange(-40, 25, h).reshape(-1, 1)
    assert float(jnp.exp(t.log_prob_x(grid)).sum() * h) == pytest.approx(1.0, abs=1e-6)
    assert float(jnp.exp(t.log_prob_y(grid)).sum() * h) == pytest.approx(1.0, abs=1e-6)
    # ∫ p(u, v) du = p(v), by Gauss–Legendre on u < v (Weinman's support ends at u = v)
    nodes, weights = np.polynomial.legendre.leggauss(60)
    for v in (-3.0, -0.4, 0.0, 0.9, 2.5):
        edges = np.linspace(-40.0, v if kind == "weinman" else 8.0, 401)
        half, mid = np.diff(edges) / 2, (edges[1:] + edges[:-1]) / 2
        u = (mid[:, None] + half[:, None] * nodes).reshape(-1, 1)
        w = (half[:, None] * weights).reshape(-1)
        dens = np.exp(np.asarray(t.log_prob_xy(jnp.asarray(u), jnp.full(u.shape, v))))
        marg = float(np.exp(np.asarray(t.log_prob_y(jnp.array([[v]])))[0]))
        assert np.sum(w * dens) == pytest.approx(marg, rel=1e-8)


def test_transformed_pmi_equals_base_pmi(x64):
    t = tasks.get("spiral-normal_cdf-multinormal-sparse-3-3-2-2.0")
    x, y = t.sample(jax.random.key(9), 100, dtype="float64")
    root = t.base.base
    xb, yb = root.sample(jax.random.key(9), 100, dtype="float64")
    np.testing.assert_allclose(np.asarray(t.pmi(x, y)), np.asarray(root.pmi(xb, yb)), atol=1e-7)
