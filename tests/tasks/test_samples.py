"""Sample-level checks: marginals, correlations, moments, label frequencies, jit/vmap."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxmi import tasks

KEY = jax.random.key(20240601)
P_MIN = 1e-3  # KS p-value floor (fixed seeds: deterministic)


def draw(name_or_task, n, key=KEY, **kw):
    t = tasks.get(name_or_task) if isinstance(name_or_task, str) else name_or_task
    x, y = t.sample(key, n, **kw)
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def test_shapes_dtypes_and_determinism():
    t = tasks.get("swissroll_x-normal_cdf-1v1-normal-0.75")
    x, y = t.sample(KEY, 2000)
    assert x.shape == (2000, 2) and y.shape == (2000, 1)
    assert x.dtype == jnp.float32 and y.dtype == jnp.float32
    x2, _ = t.sample(KEY, 2000)
    np.testing.assert_array_equal(x, x2)


def test_float64_option(x64):
    x, y = tasks.get("1v1-normal-0.75").sample(KEY, 5, dtype="float64")
    assert x.dtype == jnp.float64 and y.dtype == jnp.float64
    t = tasks.bivariate_normal(0.5, dtype="float64")
    assert t.sample(KEY, 3)[0].dtype == jnp.float64


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_compiling_sampler_draws_the_plain_programs_values(dtype, x64):
    # samplers compile with XLA's fast-compiling options (jaxmi._compile, kind "light"); they
    # change code generation only: the same values as a plain jax.jit program, to the bit (a
    # gamma draw's rejection loop, rotations, Student-t ratios and an inverse CDF here)
    for name in (
        "student-identity-2-2-1",
        "gamma-exponential-1.0",
        "spiral-multinormal-sparse-3-3-2-2.0",
    ):
        t = tasks.get(name)
        assert t._sample_fn._kind == "light"
        plain = jax.jit(t.sampler, static_argnums=(1, 2))(KEY, 500, np.dtype(dtype))
        fast = t.sample(KEY, 500, dtype=dtype)
        for a, b in zip(fast, plain, strict=True):
            assert a.dtype == b.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_task_deep_copies():
    # its compiled sampler (jaxmi._compile's wrapper, which holds a lock) is shared, as a
    # jax.jit function would be; the copy draws the same values
    import copy

    t = tasks.get("1v1-normal-0.75")
    c = copy.deepcopy(t)
    assert c.name == t.name and c._sample_fn is t._sample_fn
    np.testing.assert_array_equal(np.asarray(c.sample(KEY, 4)[0]), np.asarray(t.sample(KEY, 4)[0]))


def test_float64_without_x64_is_a_clear_error():
    with pytest.raises(ValueError, match="dtype"):
        tasks.get("1v1-normal-0.75").sample(KEY, 5, dtype="float64")


@pytest.mark.parametrize(
    "name",
    ["spiral-multinormal-sparse-3-3-2-2.0", "1v1-AI", "cat-gauss-2-hetero"],
)  # fmt: skip
def test_jit_and_vmap_over_keys(name):
    t = tasks.get(name)
    keys = jax.random.split(KEY, 4)
    xs, ys = jax.jit(jax.vmap(t.sample, in_axes=(0, None)), static_argnums=1)(keys, 32)
    assert xs.shape == (4, 32, t.dim_x) and ys.shape == (4, 32, t.dim_y)
    x0, y0 = t.sample(keys[0], 32)
    np.testing.assert_allclose(
        np.asarray(xs[0], float), np.asarray(x0, float), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(ys[0], float), np.asarray(y0, float), rtol=1e-5, atol=1e-5
    )
    assert not np.array_equal(np.asarray(xs[0]), np.asarray(xs[1]))


@pytest.mark.parametrize(
    "name", ["normal_cdf-1v1-normal-0.75", "normal_cdf-multinormal-sparse-3-3-2-2.0"]
)
def test_normal_cdf_coordinates_are_uniform(name):
    x, y = draw(name, 5000)
    for col in np.concatenate([x, y], axis=1).T:
        assert 0.0 < col.min() and col.max() < 1.0
        assert stats.kstest(col, "uniform").pvalue > P_MIN
    # and a non-uniform column is rejected by the same test (the check can fail)
    xb, _ = draw("1v1-normal-0.75", 5000)
    assert stats.kstest(xb[:, 0], "uniform").pvalue < P_MIN


def test_student_marginals_are_t():
    name, nu = "student-identity-2-2-1", 1
    x, y = draw(name, 4000)
    for col in np.concatenate([x, y], axis=1).T:
        assert stats.kstest(col, stats.t(df=nu).cdf).pvalue > P_MIN
    # no monotone dependence between coordinates (each is sign-symmetric given the shared scale)
    rho = stats.spearmanr(np.concatenate([x, y], axis=1)).statistic
    assert np.max(np.abs(rho - np.eye(len(rho)))) < 0.07


def test_dense_correlations():
    x, y = draw("multinormal-dense-5-5-0.5", 20_000)
    c = np.corrcoef(np.concatenate([x, y], axis=1).T)
    off = c[~np.eye(10, dtype=bool)]
    assert np.max(np.abs(off - 0.5)) < 0.03
    assert np.allclose(np.var(np.concatenate([x, y], axis=1), axis=0), 1.0, atol=0.05)


def test_two_pair_correlations():
    x, y = draw("multinormal-sparse-5-5-2-2.0", 20_000)
    c = np.corrcoef(np.concatenate([x, y], axis=1).T)
    expected = np.eye(10)
    expected[0, 5] = expected[5, 0] = expected[1, 6] = expected[6, 1] = 0.8
    assert np.max(np.abs(c - expected)) < 0.03


def test_staircase_correlations():
    t = tasks.get("staircase-20-4.0")
    x, y = draw(t, 10_000)
    rho = t.params["rho"]
    c = np.corrcoef(x.T, y.T)[:20, 20:]
    assert np.max(np.abs(np.diag(c) - rho)) < 0.04
    assert np.max(np.abs(c - np.diag(np.diag(c)))) < 0.05
    xc, yc = draw("cubic-staircase-20-4.0", 10_000)
    np.testing.assert_allclose(xc, x)
    np.testing.assert_allclose(yc, y**3, rtol=1e-5, atol=1e-6)


def test_additive_noise_support():
    x, y = draw("1v1-additive-0.1", 5000)
    assert np.all((x >= 0) & (x < 1))
    assert np.all(np.abs(y - x) <= 0.1 + 1e-6)
    assert stats.kstest((y - x)[:, 0], stats.uniform(-0.1, 0.2).cdf).pvalue > P_MIN


def test_bimodal_margins():
    x, y = draw("1v1-bimodal-0.75", 20_000)
    assert x.mean() == pytest.approx(3.5, abs=0.06)  # 0.3·0 + 0.7·5
    assert y.mean() == pytest.approx(1.0, abs=0.06)  # 0.5·(−1) + 0.5·3
    cdf_x = lambda s: 0.3 * stats.norm.cdf(s) + 0.7 * stats.norm.cdf(s - 5)  # noqa: E731
    assert stats.kstest(x[:, 0], cdf_x).pvalue > P_MIN
    assert np.max(np.abs(x)) < 12


def test_swissroll_radius_range():
    x, _ = draw("swissroll_x-normal_cdf-1v1-normal-0.75", 2000)
    r = np.linalg.norm(x, axis=1)
    assert np.all(r > 1.5 * math.pi / 21 - 1e-6) and np.all(r < 4.5 * math.pi / 21 + 1e-6)


def test_spiral_rotates_base_sample():
    t = tasks.get("spiral-multinormal-sparse-3-3-2-2.0")
    x, y = draw(t, 32)
    xb, yb = draw(t.base, 32)  # same key: the same base draw
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.linalg.norm(xb, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(x[:, 2:], xb[:, 2:])  # only plane (0, 1) moves in X
    np.testing.assert_array_equal(y[:, 0], yb[:, 0])  # plane (1, 2) in Y
    assert not np.allclose(x[:, :2], xb[:, :2])
    assert not np.allclose(y[:, 1:], yb[:, 1:])


@pytest.mark.parametrize("name", ["gmmmi-normal-0.6-log", "gmmmi-normal-0.6-square"])
def test_gmmmi_truncated_tasks_are_finite(name):
    x, y = draw(name, 100_000)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] > 0.5


def test_gamma_exponential_moments_and_no_underflow():
    a, n = 0.1, 40_000
    lx, ly = draw("gamma-exponential-0.1", n)  # log scale by default
    assert np.all(np.isfinite(lx)) and np.all(np.isfinite(ly))
    assert lx.min() < math.log(1e-38)  # values a float32 Gamma draw would flush to 0
    from scipy.special import digamma, polygamma

    assert lx.mean() == pytest.approx(digamma(a), abs=4 * math.sqrt(polygamma(1, a) / n))
    # ln y + ln x = ln E, E ~ Exp(1): mean −γ, sd π/√6
    assert (lx + ly).mean() == pytest.approx(-0.5772156649, abs=4 * 1.2825 / math.sqrt(n))
    x, y = np.exp(lx), np.exp(ly)
    assert x.mean() == pytest.approx(a, abs=4 * math.sqrt(a / n))
    assert (x * y).mean() == pytest.approx(1.0, abs=4 / math.sqrt(n))  # E[xy] = 1
    assert np.log1p(y).mean() == pytest.approx(1 / a, abs=4 / (a * math.sqrt(n)))  # Exp(rate α)
    raw = tasks.gamma_exponential(a, log_scale=False)
    assert (
        raw.name == "gamma-exponential-0.1-raw" and raw.mi == tasks.get("gamma-exponential-0.1").mi
    )


def test_weinman_moments():
    a, n = 2.0, 40_000
    lx, ly = draw("weinman-2.0", n)
    x, y = np.exp(lx), np.exp(ly)
    assert np.all(ly > lx)
    assert x.mean() == pytest.approx(0.5, abs=4 * 0.5 / math.sqrt(n))
    assert (y - x).mean() == pytest.approx(a, abs=4 * a / math.sqrt(n))
    assert stats.kstest(x, stats.expon(scale=0.5).cdf).pvalue > P_MIN


def _freq_ok(codes, probs, n):
    counts = np.bincount(codes.astype(int), minlength=len(probs)) / n
    se = np.sqrt(np.asarray(probs) * (1 - np.asarray(probs)) / n)
    return np.all(np.abs(counts - probs) <= 4 * se + 1e-12)


def test_gao_label_frequencies_and_support():
    n = 20_000
    t = tasks.get("gao-uniform-mixture-3-prior-0.5-0.3-0.2")
    x, y = t.sample(KEY, n)
    assert x.dtype == jnp.int32 and x.shape == (n, 1)
    assert _freq_ok(np.asarray(x[:, 0]), [0.5, 0.3, 0.2], n)
    d = np.asarray(y, float) - np.asarray(x, float)
    assert d.min() >= 0 and d.max() <= 2
    assert stats.kstest(d[:, 0] / 2, "uniform").pvalue > P_MIN


def test_gao_multivariate():
    t = tasks.gao_uniform_mixture_multivariate([2, 5])
    assert t.mi == pytest.approx(0.346574 + 1.054920, abs=1e-6)
    n = 10_000
    x, y = t.sample(KEY, n)
    assert x.dtype == jnp.int32 and x.shape == (n, 2) and y.shape == (n, 2)
    assert _freq_ok(np.asarray(x[:, 1]), [0.2] * 5, n)
    d = np.asarray(y, float) - np.asarray(x, float)
    assert d.min() >= 0 and d.max() <= 2


def test_gao_arbitrary_labels():
    t = tasks.gao_uniform_mixture(3, labels=(3, 7, 11))
    x, y = t.sample(KEY, 3000)
    assert set(np.unique(np.asarray(x)).tolist()) == {3, 7, 11}
    codes = (np.asarray(x[:, 0]) - 3) // 4
    d = np.asarray(y[:, 0]) - codes
    assert d.min() >= 0 and d.max() <= 2
    ts = tasks.gao_uniform_mixture(2, labels=("cat", "dog"))
    xs, _ = ts.sample(KEY, 100)
    assert isinstance(xs, np.ndarray) and set(xs[:, 0].tolist()) == {"cat", "dog"}
    with pytest.raises(ValueError, match="labels"):
        jax.jit(ts.sample, static_argnums=1)(KEY, 10)


@pytest.mark.parametrize("impl", [None, "rbg"])
def test_zip_zero_frequency(impl):
    # jax.random.poisson takes threefry keys only: an rbg key (jax_default_prng_impl="rbg", a
    # common TPU setting) raised NotImplementedError
    n, p = 40_000, 0.15
    key = KEY if impl is None else jax.random.key(0, impl=impl)
    x, y = tasks.get("zip-poisson-0.15").sample(key, n)
    assert y.dtype == jnp.int32
    p0 = p + (1 - p) * 0.5  # ∫ e^{-x} e^{-x} dx = ½
    assert np.mean(np.asarray(y) == 0) == pytest.approx(p0, abs=4 * math.sqrt(p0 * (1 - p0) / n))
    assert np.asarray(x).min() >= 0 and np.asarray(y).min() >= 0


def test_categorical_gaussian_frequencies_and_classes():
    n = 20_000
    x, c = tasks.get("cat-gauss-3-imbalanced").sample(KEY, n)
    codes = np.asarray(c[:, 0])
    assert c.dtype == jnp.int32
    assert _freq_ok(codes, [0.7, 0.2, 0.1], n)
    xs = np.asarray(x[:, 0], float)
    for k, mu in enumerate((0.0, 2.0, 4.0)):
        assert xs[codes == k].mean() == pytest.approx(mu, abs=0.1)
    t = tasks.categorical_gaussian([0.5, 0.5], [0.0, 3.0], labels=("a", "b"))
    _, lab = t.sample(KEY, 50)
    assert set(lab[:, 0].tolist()) <= {"a", "b"}
