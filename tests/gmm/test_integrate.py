"""RQMC integrals over Gaussian mixtures (jaxmi.gmm._integrate) against high-precision truths."""

import doctest
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import ndtri

import jaxmi
from jaxmi.gmm import GMM
from jaxmi.gmm import _integrate as integ
from jaxmi.gmm._mixture import log_prob_t, precision_cholesky, sample_t

# sd(pmi) of the true mixtures (tasks.md §5.2; D3 and D5 from a 2^20-draw pilot in
# benchmarks/gmm_mi_integral.py): plain MC with 1e5 draws has RMSE sd / sqrt(1e5)
TRUTHS = {
    "gmmmi-D3": 0.456,
    "gmmmi-D5": 0.509,
    "1v1-AI": 0.86,
    "1v1-X-0.9": 0.75,
    "2v1-waves-12-5.0-3.0": 0.38,
    "2v1-galaxy-0.5-3.0": 0.51,
}
MC_SAMPLES = 100_000


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def block(g, a, b):
    """The marginal mixture of coordinates a..b-1 (Python slices: indexing with NumPy index
    arrays under vmap hit a JAX dtype bug once ``jax.enable_x64`` had been toggled)."""
    cov = g.covariances[..., a:b, a:b]
    return GMM(g.weights, g.means[..., a:b], cov, precision_cholesky(cov), g.active)


@functools.cache
def pmi(dx: int, d: int):
    """The pointwise MI of blocks (0..dx-1, dx..d-1): one function object per shape (a static
    argument: the same object reuses the compiled program)."""

    def f(g, z):
        lp = log_prob_t
        return lp(g, z) - lp(block(g, 0, dx), z[:dx]) - lp(block(g, dx, d), z[dx:])

    return f


def neg_log_p(g, z):
    return -log_prob_t(g, z)


def truth_mixture(name, dtype=jnp.float64):
    task = jaxmi.tasks.get(name)
    spec = task.mixture if task.mixture is not None else task.base.mixture
    return spec.gmm("xy", dtype), spec.dim_x, task.mi


def stack(g, n):
    return jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), g)


def pad(g, kc, junk=True):
    """``g`` in capacity ``kc``: inactive slots with junk parameters (and a junk weight)."""
    k, d = g.means.shape
    extra = kc - k
    w = jnp.concatenate([g.weights, jnp.full((extra,), 0.3 if junk else 0.0, g.weights.dtype)])
    mu = jnp.concatenate([g.means, jnp.full((extra, d), 50.0 if junk else 0.0, g.means.dtype)])
    eye = jnp.broadcast_to(jnp.eye(d, dtype=g.means.dtype), (extra, d, d))
    cov = jnp.concatenate([g.covariances, (3.0 if junk else 1.0) * eye])
    pc = jnp.concatenate([g.prec_chol, eye])
    act = jnp.concatenate([g.active, jnp.zeros((extra,), bool)])
    return GMM(w, mu, cov, pc, act)


def gaussian(cov, dtype=jnp.float64):
    cov = jnp.asarray(cov, dtype)
    return GMM.create(jnp.ones(1, dtype), jnp.zeros((1, cov.shape[0]), dtype), cov[None])


# --------------------------------------------------------------------------------------------
# point sets
# --------------------------------------------------------------------------------------------


def gray_points(cols, n):
    """Unscrambled Sobol' points from generating-matrix columns, Gray-code order (NumPy)."""
    out = np.zeros((n, cols.shape[0]), np.uint64)
    for j in range(n):
        g = j ^ (j >> 1)
        for b in range(32):
            if (g >> b) & 1:
                out[j] ^= cols[:, b].astype(np.uint64)
    return out / 2.0**32


def test_sobol_direction_numbers_match_scipy():
    from scipy.stats import qmc

    mine = gray_points(integ.sobol_matrices(16), 512)
    ref = qmc.Sobol(16, scramble=False).random(512)
    np.testing.assert_array_equal(mine, ref)
    with pytest.raises(ValueError, match="direction numbers"):
        integ.sobol_matrices(17)


@pytest.mark.parametrize("d", [2, 5])
def test_scrambled_points_are_nets(d):
    """After LMS + digital shift the first 2^m points stay a net: every dimension's 2^m strata
    hold one point each, and in 2-D (t = 0) every elementary box of volume 2^-m holds one."""
    m = 8

    @jax.jit
    def points(key):
        mats, shifts = integ._randomisations(key, d, 1, m, 4)
        x = integ._sobol_digits(jnp.arange(2**m, dtype=jnp.uint32), mats, shifts[0][:, :, None])
        return integ._unit(x, jnp.float32)

    u = np.asarray(points(jax.random.key(3)))  # (d, 4, 2^m)
    assert np.all((u > 0) & (u < 1))
    cells = np.floor(u * 2**m).astype(int)
    for r in range(4):
        for i in range(d):
            assert sorted(cells[i, r]) == list(range(2**m))
        if d == 2:
            for a in range(m + 1):
                box = np.floor(u[0, r] * 2**a).astype(int) * 2 ** (m - a) + np.floor(
                    u[1, r] * 2 ** (m - a)
                ).astype(int)
                assert len(set(box.tolist())) == 2**m, a
    # randomisations differ (the scramble is not the identity)
    assert not np.array_equal(cells[:, 0], cells[:, 1])


@pytest.mark.parametrize("dt", [jnp.float32, jnp.float64])
def test_uniforms_strictly_inside_unit_interval(dt):
    with jax.enable_x64(dt == jnp.float64):
        u = jax.jit(lambda x: integ._unit(x, dt))(jnp.array([0, 1, 2**31, 2**32 - 1], jnp.uint32))
        assert u.dtype == dt
        z = np.asarray(jax.jit(ndtri)(u))
    u = np.asarray(u)
    assert np.all((u > 0) & (u < 1)) and np.all(np.isfinite(z)), (u, z)
    assert 5 < -z[0] < 7 and z[0] == -z[-1]


def test_allocation_sums_floors_and_masks():
    rng = np.random.default_rng(0)
    kc = 8
    for trial in range(12):
        k = int(rng.integers(1, kc + 1))
        w = np.zeros(kc)
        w[:k] = rng.dirichlet(np.full(k, 0.3))
        w[rng.integers(k)] = 1e-7 if trial % 3 == 0 else w[0]  # a tiny component now and then
        w[k:] = 0.5 * (trial % 2)  # junk weights in inactive slots must not matter
        act = np.arange(kc) < k
        g = GMM(
            jnp.asarray(w),
            jnp.zeros((kc, 1)),
            jnp.ones((kc, 1, 1)),
            jnp.ones((kc, 1, 1)),
            jnp.asarray(act),
        )
        n = int(rng.integers(kc, 5000))
        pi, counts, ends = (np.asarray(a) for a in integ._allocate(g, n))
        assert counts.sum() == n and ends[-1] == n
        assert np.all(counts[k:] == 0) and np.all(pi[k:] == 0)
        assert np.all(counts[:k] >= max(1, n // (8 * k)))
        np.testing.assert_allclose(pi.sum(), 1, rtol=1e-6)
        # the rest is proportional to the weights up to rounding
        share = counts[:k] - max(1, n // (8 * k))
        np.testing.assert_allclose(share, pi[:k] * share.sum(), atol=1.01)


def test_random_words_look_uniform():
    keys = jax.random.split(jax.random.key(1), 256)
    w = np.asarray(jax.vmap(lambda k: integ._words(k, 64))(keys)).astype(np.float64)
    u = (w + 0.5) / 2**32
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.003
    # neighbouring counters and neighbouring keys are uncorrelated
    assert abs(np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]) < 0.03
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < 0.03
    bits = (w.astype(np.uint64)[..., None] >> np.arange(32, dtype=np.uint64)) & 1
    assert np.all(np.abs(bits.mean(axis=(0, 1)) - 0.5) < 0.03)
    # seeds 0 and 1 (key data differing in one bit) give unrelated words
    a, b = (np.asarray(integ._words(jax.random.key(s), 64)) for s in (0, 1))
    assert np.mean(a == b) == 0


# --------------------------------------------------------------------------------------------
# accuracy on the high-precision truths
# --------------------------------------------------------------------------------------------
# Every 2-D float64 check below runs one compiled program (12 keys, capacity 8, the default point
# count) and every 3-D one another (capacity 16): compilation dominates this file's run time.

R = 12  # keys per accuracy check


def run_truth_program(g, dx, seed=2024, **kw):
    """RQMC of the pointwise MI of ``g`` (padded with junk slots) over ``R`` keys, float64."""
    g = pad(g, 8 if g.dim == 2 else 16)
    keys = jax.random.split(jax.random.key(seed), R)
    mean, se = integ.rqmc_functional_jit(keys, stack(g, R), pmi(dx, g.dim), **kw)
    return np.asarray(mean), np.asarray(se)


@pytest.mark.parametrize("name", list(TRUTHS))
def test_truth_tasks_beat_plain_mc_1e5(name, x64):
    """At the default point count the RMSE over 12 keys is at most 3/4 of plain MC's with 1e5
    draws (sd(pmi) / sqrt(1e5)), and the errors are within a few reported standard errors."""
    g, dx, truth = truth_mixture(name)
    mean, se = run_truth_program(g, dx)
    err = mean - truth
    rmse = float(np.sqrt(np.mean(err**2)))
    mc = TRUTHS[name] / math.sqrt(MC_SAMPLES)
    assert rmse <= 0.75 * mc, (rmse, mc)
    # per key: |error| / stderr follows t(7) (8 randomisations): P(|t| <= 3) = 0.98
    z = np.abs(err) / se
    assert np.mean(z <= 3) >= 0.75 and np.all(z < 8), z
    # the mean over keys is consistent with the truth at its own (smaller) standard error
    assert abs(err.mean()) <= 4 * np.sqrt(np.mean(se**2) / R), (err.mean(), se)


def test_rqmc_beats_mc_at_equal_points(x64):
    """At the same number of integrand evaluations RQMC is several times closer than MC."""
    g, dx, truth = truth_mixture("1v1-X-0.9")
    f = pmi(dx, 2)
    rq = run_truth_program(g, dx)[0] - truth
    keys = jax.random.split(jax.random.key(15), R)
    mc_fn = jax.jit(jax.vmap(lambda k: jnp.mean(f(g, sample_t(k, g, integ.DEFAULT_POINTS)))))
    mc = np.asarray(mc_fn(keys)) - truth
    assert np.sqrt(np.mean(rq**2)) < 0.25 * np.sqrt(np.mean(mc**2))


def test_bivariate_gaussian_closed_form(x64):
    rho = 0.8
    mean, se = run_truth_program(gaussian([[1.0, rho], [rho, 1.0]]), 1)
    err = mean - (-0.5 * math.log(1 - rho**2))
    assert np.sqrt(np.mean(err**2)) < 1e-3 and np.mean(np.abs(err) <= 3 * se) >= 0.75


def test_independent_product_mixture_has_zero_mi(x64):
    """A product of two mixtures (components: all pairs, block-diagonal) has PMI = 0 pointwise."""
    wx, mx, vx = np.array([0.3, 0.7]), np.array([-1.0, 2.0]), np.array([0.5, 1.5])
    wy, my, vy = np.array([0.6, 0.4]), np.array([0.0, 3.0]), np.array([1.0, 0.2])
    w = np.outer(wx, wy).ravel()
    mu = np.array([[a, b] for a in mx for b in my])
    cov = np.array([np.diag([a, b]) for a in vx for b in vy])
    mean, se = run_truth_program(GMM.create(w, mu, cov, dtype=jnp.float64), 1)
    assert np.all(np.isfinite(se)) and np.max(np.abs(mean)) < 1e-12


def test_entropy_of_a_gaussian_closed_form(x64):
    cov = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, -0.3], [0.1, -0.3, 0.5]])
    h, se = integ.rqmc_functional_jit(
        jax.random.key(6), stack(gaussian(cov), 1), neg_log_p, n_points=8192
    )
    truth = 0.5 * math.log(np.linalg.det(2 * math.pi * math.e * cov))
    assert abs(float(h[0]) - truth) <= 4 * float(se[0]) < 5e-3


# --------------------------------------------------------------------------------------------
# standard error, masking, dtypes, common random numbers
# --------------------------------------------------------------------------------------------


def test_standard_error_is_honest(x64):
    """Over 200 keys the error / stderr ratios of a small point set behave like t(7)."""
    g, dx, truth = truth_mixture("1v1-X-0.9")
    r = 200
    keys = jax.random.split(jax.random.key(8), r)
    mean, se = integ.rqmc_functional_jit(keys, stack(g, r), pmi(dx, 2), n_points=2048)
    err, se = np.asarray(mean) - truth, np.asarray(se)
    z = err / se
    within = np.mean(np.abs(z) <= 2)  # t(7): 0.914
    assert 0.85 <= within <= 0.97, within
    ratio = np.sqrt(np.mean(err**2) / np.mean(se**2))
    assert 0.75 <= ratio <= 1.3, ratio
    assert abs(np.mean(z)) < 0.25  # unbiased


def test_masked_padding_changes_nothing(x64):
    """Capacity 3 (no padding), 8 (select chains) and 20 (> 16: gathers), junk in the inactive
    slots: the same numbers."""
    g, dx, _ = truth_mixture("gmmmi-D3")
    keys = jax.random.split(jax.random.key(2024), R)
    ref = run_truth_program(g, dx)  # capacity 8
    for kc in (3, 20):
        gk = pad(g, kc) if kc > 3 else g
        out = integ.rqmc_functional_jit(keys, stack(gk, R), pmi(dx, 2))
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-11, atol=1e-15)


def test_float32_agrees_with_float64():
    """The same program in float32 (padded to 8, 12 keys, default points) as in float64."""
    with jax.enable_x64(True):
        g, dx, _ = truth_mixture("gmmmi-D3")
        m64, s64 = run_truth_program(g, dx)
    g32, _, _ = truth_mixture("gmmmi-D3", jnp.float32)
    keys = jax.random.split(jax.random.key(2024), R)
    mean, se = integ.rqmc_functional_jit(keys, stack(pad(g32, 8), R), pmi(dx, 2))
    assert mean.dtype == jnp.float32
    m32, s32 = np.asarray(mean), np.asarray(se)
    assert np.max(np.abs(m32 - m64)) < 2e-5 and np.max(np.abs(s32 - s64)) < 2e-5
    assert np.max(np.abs(m32 - m64)) < 0.2 * np.min(s64)


def test_common_random_numbers_and_key_layouts():
    """Mixtures that share a key share their random numbers, whatever the key layout."""
    g, dx, _ = truth_mixture("gmmmi-D3", jnp.float32)
    f = pmi(dx, 2)
    rng = np.random.default_rng(0)
    perturbed = g._replace(means=g.means + jnp.asarray(0.05 * rng.normal(size=g.means.shape)))
    r = 16
    keys = jax.random.split(jax.random.key(12), (r, 2))
    keys = keys.at[1:3, 0].set(keys[0, 0])  # rows 0-2 share one key
    rows = [(g, perturbed), (perturbed, g), (g, g)] + [(g, perturbed)] * (r - 3)
    mix = jax.tree.map(
        lambda *a: jnp.stack(a),
        *[jax.tree.map(lambda u, v: jnp.stack([u, v]), a, b) for a, b in rows],
    )
    # keys (r,): row i's two mixtures share keys[i, 0] (the layout of a dataset's replicates)
    m, s = (np.asarray(a) for a in integ.rqmc_functional_jit(keys[:, 0], mix, f, n_points=2048))
    assert m.shape == s.shape == (r, 2)
    # a mixture's value depends on its key only, not on the batch around it
    assert m[0, 0] == m[1, 1] == m[2, 0] == m[2, 1] and m[0, 1] == m[1, 0] and s[0, 0] == s[2, 1]
    assert m[0, 0] != m[3, 0]  # different keys, different numbers
    # keys (r, 2), one per mixture: equal keys reproduce the shared layout exactly
    rep = jnp.stack([keys[:, 0], keys[:, 0]], axis=1)
    m_rep = np.asarray(integ.rqmc_functional_jit(rep, mix, f, n_points=2048)[0])
    np.testing.assert_array_equal(m_rep, m)
    # independent keys: the difference between two close mixtures is far noisier
    m_ind = np.asarray(integ.rqmc_functional_jit(keys, mix, f, n_points=2048)[0])
    d_shared, d_indep = (m[3:, 1] - m[3:, 0]), (m_ind[3:, 1] - m_ind[3:, 0])
    assert np.std(d_shared) < 0.3 * np.std(d_indep), (np.std(d_shared), np.std(d_indep))
    assert abs(d_shared.mean() - d_indep.mean()) < 4 * np.std(d_indep) / np.sqrt(r - 3)
    # lax.map gives the same numbers as vmap
    m_map = integ.rqmc_functional_jit(keys[:, 0], mix, f, n_points=2048, batch="map")[0]
    np.testing.assert_allclose(np.asarray(m_map), m, rtol=1e-6)


@pytest.mark.parametrize("batch", ["vmap", "map", "chunks"])
def test_per_key_normal_tables_give_the_per_point_numbers(monkeypatch, batch):
    """Mixtures sharing a key read their normals from per-key tables: the same numbers as
    each mixture computing its own, in every batching (a data set's replicates, (D, R))."""
    g, dx, _ = truth_mixture("gmmmi-D3", jnp.float32)
    rng = np.random.default_rng(1)
    mixes = []
    for _ in range(3 * 6):  # D = 3 data sets of R = 6 perturbed mixtures (R >= capacity 4)
        w = np.asarray(g.weights) * rng.uniform(0.5, 1.5, 3)
        mixes.append(
            pad(
                g._replace(
                    weights=jnp.asarray(w / w.sum(), jnp.float32),
                    means=g.means + jnp.asarray(0.1 * rng.normal(size=g.means.shape), jnp.float32),
                ),
                4,
            )
        )
    mixes[4] = mixes[4]._replace(weights=mixes[4].weights.at[0].set(jnp.nan))  # a failed fit
    mix = jax.tree.map(lambda *a: jnp.stack(a).reshape(3, 6, *a[0].shape), *mixes)
    keys = jax.random.split(jax.random.key(7), 3)
    f = pmi(dx, 2)
    if batch == "chunks":  # lax.map over keys, and over chunks of mixtures within a key
        monkeypatch.setattr(integ, "_VMAP_MAX_POINTS", 2 * 2048)
    kw = dict(n_points=2048, batch="auto" if batch == "chunks" else batch)

    def run(keys, mix):  # a fresh program per call: the settings patched here are read in tracing
        return jax.jit(lambda k, m: integ.rqmc_functional(k, m, f, **kw))(keys, mix)

    tables = run(keys, mix)
    monkeypatch.setattr(integ, "_TABLES_MIN_SHARE", 10**6)  # each mixture its own normals
    direct = run(keys, mix)
    for a, b in zip(tables, direct, strict=True):
        assert a.shape == (3, 6)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    m = np.asarray(tables[0])
    assert np.isnan(m[0, 4]) and np.isfinite(np.delete(m.ravel(), 4)).all()
    assert (
        np.nanmax(m) - np.nanmin(m) > 1e-3
    )  # the mixtures differ, so a shared table did not merge them
    # one data set alone (a scalar key) gives its numbers within the batch
    monkeypatch.setattr(integ, "_TABLES_MIN_SHARE", 1)
    kw = dict(n_points=2048)
    one = run(keys[1], jax.tree.map(lambda a: a[1], mix))
    np.testing.assert_allclose(np.asarray(one[0]), m[1], rtol=1e-6, atol=1e-7)


def test_failed_fits_give_nan():
    g, dx, _ = truth_mixture("gmmmi-D3", jnp.float32)
    bad_w = g._replace(weights=g.weights.at[1].set(jnp.nan))
    bad_cov = g._replace(covariances=g.covariances.at[2].set(jnp.nan))
    batch = jax.tree.map(lambda *a: jnp.stack(a), g, bad_w, bad_cov)
    mean, _ = integ.rqmc_functional_jit(jax.random.key(0), batch, pmi(dx, 2), n_points=2048)
    assert np.isfinite(float(mean[0])) and np.all(np.isnan(np.asarray(mean[1:])))


def test_bad_arguments():
    g = stack(gaussian(np.eye(2), jnp.float32), 2)
    key = jax.random.key(0)
    f = pmi(1, 2)
    with pytest.raises(ValueError, match="validated up to 6"):
        integ.rqmc_functional(key, stack(gaussian(np.eye(7), jnp.float32), 1), neg_log_p)
    with pytest.raises(ValueError, match="multiple of n_shifts"):
        integ.rqmc_functional(key, g, f, n_points=1000, n_shifts=16)
    with pytest.raises(ValueError, match="n_shifts"):
        integ.rqmc_functional(key, g, f, n_shifts=1)
    with pytest.raises(ValueError, match="prefix of the batch shape"):
        integ.rqmc_functional(jax.random.split(key, 3), g, f)
    with pytest.raises(ValueError, match="typed PRNG key"):
        integ.rqmc_functional(jax.random.PRNGKey(0), g, f)
    with pytest.raises(ValueError, match="batch"):
        integ.rqmc_functional(key, g, f, batch="pmap")
    with pytest.raises(ValueError, match="component slots"):
        integ.rqmc_functional(
            key, stack(pad(gaussian(np.eye(2), jnp.float32), 40), 1), f, n_points=64, n_shifts=2
        )
    with pytest.raises(ValueError, match="GMM batch"):
        integ.rqmc_functional(key, gaussian(np.eye(2), jnp.float32), f)


def test_docstring_examples():
    res = doctest.testmod(integ, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0
