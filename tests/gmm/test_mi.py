"""GMM-MI estimators: ground truth within error bars, invariances, stopping rule, bad input."""

import functools
import math
import re
import warnings

import jax
import numpy as np
import pytest

import jaxmi
from jaxmi.gmm._mi import select_components

N = 2048  # one padding bucket for every test here: compiled programs are shared
KEY0 = jax.random.key(0)
FAST = dict(n_bootstrap=16, mc_samples=20_000)
# the MC error is common to all replicates (common random numbers): allow for it separately
MC_ERR = 3 * 1.2 / math.sqrt(FAST["mc_samples"])


def gaussian(rho, n=N, seed=0):
    return np.random.default_rng(seed).multivariate_normal([0, 0], [[1, rho], [rho, 1]], n)


def within(res, truth, k=3.0):
    return abs(float(res.mi) - truth) <= k * float(res.std) + MC_ERR


RHO06_WARNINGS: list[str] = []


@pytest.fixture(scope="module")
def rho06():
    z = gaussian(0.6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], **FAST)
    RHO06_WARNINGS[:] = [str(w.message) for w in caught]
    return z, res


def test_bivariate_gaussian_within_error_bars(rho06):
    _, res = rho06
    assert RHO06_WARNINGS == []  # K* = 1 after stalled K = 2 fits, but the data are Gaussian
    truth = -0.5 * math.log(1 - 0.36)
    assert within(res, truth), (float(res.mi), float(res.std))
    assert int(res.n_components) == 1
    assert res.samples.shape == (16,) and bool(res.converged.all())
    np.testing.assert_allclose(float(res.std), np.std(np.asarray(res.samples), ddof=1), rtol=1e-5)
    np.testing.assert_allclose(float(res.mi), np.mean(np.asarray(res.samples)), rtol=1e-5)
    assert abs(float(res.point) - truth) < 0.05


def two_clusters_mi(sep: float, m: int = 400_000) -> float:
    """I(X;Y) of 0.5 N((0, 0), S) + 0.5 N((sep, 0), S), S = [[1, .6], [.6, 1]], by Monte Carlo
    with the exact densities (standard error about 7e-4 nats for sep = 3)."""
    rng = np.random.default_rng(123)
    z = gaussian(0.6, m, seed=124)
    z[:, 0] += sep * rng.integers(0, 2, m)
    x, y = z[:, 0], z[:, 1]

    def log_joint(dx):  # log N((x - dx, y); 0, S), det S = 0.64
        q = ((x - dx) ** 2 - 1.2 * (x - dx) * y + y**2) / 0.64
        return -0.5 * q - math.log(2 * math.pi * 0.8)

    def log_n(u):
        return -0.5 * u**2 - 0.5 * math.log(2 * math.pi)

    joint = np.logaddexp(log_joint(0.0), log_joint(sep)) - math.log(2)
    px = np.logaddexp(log_n(x), log_n(x - sep)) - math.log(2)
    return float(np.mean(joint - px - log_n(y)))


def test_clusters_that_random_responsibilities_leave_merged():
    """Two clusters 3 sigma apart in x. Random responsibilities (the reference's start) put
    every component at the global mean, and at this N the K = 2 fits stop there: by default
    (the reference's behaviour) the estimate is about 0.06 nats, as the reference's (0.8.2:
    0.0587 +- 0.0079 on another draw of them), against a truth of 0.1365.
    ``restart_stalled=True`` fits such stalled cross-validation fits again from k-means++
    seeding and keeps the better."""
    z = gaussian(0.6)
    z[:, 0] += 3.0 * np.random.default_rng(4).integers(0, 2, N)
    truth = two_clusters_mi(3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the restart leaves nothing to warn about
        res = jaxmi.gmm_mi(KEY0, z[:, 0], z[:, 1], restart_stalled=True, **FAST)
    assert int(res.n_components) >= 2
    assert within(res, truth), (float(res.mi), float(res.std), truth)
    # by default the stall is not silent: a k-means++ start at K = 2 scores far higher
    with pytest.warns(RuntimeWarning, match=r"stopped at K = 1 because .* at K = 2 stalled") as rec:
        stuck = jaxmi.gmm_mi(KEY0, z[:, 0], z[:, 1], **FAST)
    assert float(stuck.mi) < truth - 0.04, (float(stuck.mi), truth)
    (msg,) = [str(w.message) for w in rec if "stalled" in str(w.message)]
    gain = float(re.search(r"scores ([0-9.e-]+) nats/sample higher", msg).group(1))
    assert gain > 0.05 and msg.startswith("x, y: ") and "restart_stalled=True" in msg
    shift = float(re.search(r"moves the fit's MI by ([0-9.e-]+) nats", msg).group(1))
    assert shift > 0.01


def test_restart_refits_fits_below_the_previous_k():
    """With ``restart_stalled=True``, a K-component fit below the best (K - 1)-component fit on
    its training fold ended at a poor local optimum (K components can always do as well), so it
    is fitted again from k-means++ seeding too. On the sine of a uniform angle (plus noise)
    against the angle, every K = 3 start of this key ended there: the search stopped at K = 2
    and read 0.50 nats (the default: 1.145, K* = 7)."""
    rng = np.random.default_rng(0)
    angle = rng.uniform(-np.pi, np.pi, N)
    z = np.sin(angle) + 0.2 * rng.normal(size=N)
    # truth: h(z) - h(noise), z's density the arcsine law convolved with N(0, 0.2^2)
    grid, t = np.linspace(-2.5, 2.5, 4001), np.linspace(-np.pi / 2, np.pi / 2, 2001)
    dens = np.exp(-0.5 * ((grid[:, None] - np.sin(t)) / 0.2) ** 2).mean(1) / (
        0.2 * math.sqrt(2 * math.pi)
    )
    truth = -np.trapezoid(dens * np.log(dens), grid) - 0.5 * math.log(2 * math.pi * math.e * 0.04)
    res = jaxmi.gmm_mi(jax.random.key(1), z, angle, restart_stalled=True, **FAST)
    assert int(res.n_components) > 3
    assert within(res, truth), (float(res.mi), float(res.std), truth)


def test_plugin_mi_of_the_stall_check():
    """The stall check's cheap MI read of a fit: a correlated Gaussian's MI, and 0 for a
    mixture whose components factorise in the same way (independent x and y)."""
    from jaxmi.gmm import GMM
    from jaxmi.gmm._mi import _plugin_mi

    def mixture(means, covs):
        k = len(means)
        cov = np.array(covs, float)  # prec_chol: not read by _plugin_mi
        return GMM(np.full(k, 1 / k), np.array(means), cov, None, np.ones(k, bool))

    z = gaussian(0.6, 20_000).T
    one = mixture([[0.0, 0.0]], [[[1, 0.6], [0.6, 1]]])
    assert abs(_plugin_mi(one, z, ((0,), (1,))) - (-0.5 * math.log(1 - 0.36))) < 0.01
    flat = mixture([[-1.0, 0.0], [1.0, 0.0]], [np.eye(2) * 0.5] * 2)  # split along x only
    ind = np.random.default_rng(3).uniform(-2, 2, size=(2, 20_000))
    assert abs(_plugin_mi(flat, ind, ((0,), (1,)))) < 1e-9
    moved = mixture([[-1.0, -1.0], [1.0, 1.0]], [np.eye(2) * 0.5] * 2)  # coupled: MI > 0
    assert _plugin_mi(moved, z, ((0,), (1,))) > 0.1


def test_non_gaussian_gate_of_the_stall_check():
    """The stall check runs only on data that are not Gaussian along some coordinate or
    principal axis; a stalled fit describes a Gaussian well."""
    from jaxmi.gmm._mi import _non_gaussian

    n = 20_000
    rng = np.random.default_rng(7)
    for seed in range(5):  # Jarque-Bera above the 0.999 quantile: rare on Gaussian data
        assert not _non_gaussian(gaussian(0.6, n, seed=seed).T, n)
    z = gaussian(0.6, n).T
    clusters = z.copy()
    clusters[0] += 3.0 * rng.integers(0, 2, n)
    assert _non_gaussian(clusters, n)
    cube_root = np.stack([z[0], np.cbrt(z[1])])
    assert _non_gaussian(cube_root, n)
    heavy = z / np.sqrt(rng.chisquare(5, n) / 5)
    assert _non_gaussian(heavy, n)
    padded = np.zeros((2, n + 96))
    padded[:, :n] = z  # padding past n is ignored
    padded[:, n:] = 50.0
    assert not _non_gaussian(padded, n)


def test_stall_warning_names_every_data_set():
    from jaxmi.gmm._mi import _Fit, _warn_stalled

    def fit(k, stall):
        return _Fit(k, None, None, None, np.zeros(k), True, stall)

    fits = [fit(1, (2, 0.2, 0.05)), fit(3, None), fit(2, (3, 0.05, 0.02))]
    fits += [fit(1, (2, 0.01, None))] * 5
    labels = [f"pair ({i}, 0)" for i in range(8)]
    with pytest.warns(RuntimeWarning) as rec:
        _warn_stalled(fits, labels)
    (msg,) = [str(w.message) for w in rec]
    assert msg.startswith("7 of 8 data sets (pair (0, 0) (K* = 1), pair (2, 0) (K* = 2), ")
    assert ", ...):" in msg and "pair (1, 0)" not in msg
    assert (
        "(the most: pair (0, 0), stopped at K = 1, K = 2 by 0.2 and moves the fit's MI by " in msg
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_stalled([fit(1, None)], ["x, y"])


def test_multidimensional_dense_gaussian():
    task = jaxmi.tasks.get("multinormal-dense-2-2-0.5")
    x, y = task.sample(jax.random.key(1), N)
    res = jaxmi.gmm_mi(jax.random.key(2), x, y, **FAST)
    assert within(res, task.mi), (float(res.mi), float(res.std), task.mi)


def test_mixture_task_selects_several_components():
    task = jaxmi.tasks.get("gmmmi-D3")
    x, y = task.sample(jax.random.key(3), N)
    res = jaxmi.gmm_mi(jax.random.key(4), x, y, **FAST)
    assert int(res.n_components) >= 3
    assert within(res, task.mi), (float(res.mi), float(res.std), task.mi)


def test_independent_data_gives_near_zero():
    rng = np.random.default_rng(5)
    res = jaxmi.gmm_mi(jax.random.key(5), rng.normal(size=(N, 2)), rng.normal(size=N), **FAST)
    assert abs(float(res.mi)) < 3 * float(res.std) + MC_ERR
    assert abs(float(res.mi)) < 0.02


def test_normal_scores_are_normal_quantiles_of_average_ranks():
    from scipy.stats import norm, rankdata

    from jaxmi._marginals import normal_scores as _normal_scores

    rng = np.random.default_rng(2)
    z = np.c_[rng.standard_cauchy(501), rng.integers(0, 4, 501), rng.uniform(size=501)]
    for dt, rtol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        zd = z.astype(dt)
        got = _normal_scores(zd)
        assert got.dtype == dt
        want = norm.ppf((rankdata(zd, axis=0) - 0.5) / 501)  # ties: their average rank
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-7)
    assert _normal_scores(z, "data") is z


def test_normal_scores_make_the_estimate_invariant_to_monotone_maps(rho06):
    # the scores of x and of any strictly increasing map of x are the same numbers, so the
    # estimates agree exactly; the data's own marginals give another estimate
    z, res = rho06
    x, y = z[:, 0], z[:, 1]
    opts = dict(FAST, marginals="normal_scores")
    scored = jaxmi.gmm_mi(KEY0, x, y, **opts)
    mapped = jaxmi.gmm_mi(KEY0, np.exp(x), y + 0.5 * y**3, **opts)
    np.testing.assert_array_equal(np.asarray(mapped.samples), np.asarray(scored.samples))
    assert int(mapped.n_components) == int(scored.n_components)
    assert within(scored, -0.5 * math.log(1 - 0.36)), (float(scored.mi), float(scored.std))
    assert abs(float(scored.mi) - float(res.mi)) < 0.01  # Gaussian marginals: about the same


def test_normal_scores_read_independent_heavy_tails_as_independent():
    # with the data's marginals, independent Cauchy pairs read 0.075 nats on average, a median
    # 6.9 std above 0 (benchmarks/gmm_mi_marginals.py)
    rng = np.random.default_rng(8)
    x, y = rng.standard_cauchy(N), rng.standard_cauchy(N)
    res = jaxmi.gmm_mi(jax.random.key(8), x, y, marginals="normal_scores", **FAST)
    assert abs(float(res.mi)) < 3 * float(res.std) + MC_ERR and abs(float(res.mi)) < 0.01


def test_heavy_tailed_columns_warn_unless_normal_scores():
    from jaxmi._marginals import tail_ratios

    rng = np.random.default_rng(4)
    n = 400  # the shapes and options of test_degenerate_fits_warn (its programs)
    g, c = rng.normal(size=n), rng.standard_cauchy(n)
    r = tail_ratios(np.c_[g, c, np.r_[g[1:], 1e6], np.zeros(n)])
    assert 3 < r[0] < 5 and r[1] > 25 and abs(r[2] - r[0]) < 0.5 and r[3] == 0  # outlier: no
    opts = dict(n_bootstrap=2, mc_samples=2_000, n_components=1)
    with pytest.warns(
        RuntimeWarning, match=r"^x: column\(s\) \[0\] \(tail ratio up to \d+\)"
    ) as rec:
        jaxmi.gmm_mi(KEY0, c, g, **opts)
    assert [w.filename for w in rec if "heavy tails" in str(w.message)] == [__file__]
    with pytest.warns(RuntimeWarning, match=r"^a: column\(s\) \[1\] .*marginals='normal_scores'"):
        jaxmi.gmm_mi_pairwise(KEY0, np.c_[g, c], rng.normal(size=(n, 1)), **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the scores, a light tail, one outlier: no warning
        jaxmi.gmm_mi(KEY0, c, g, marginals="normal_scores", **opts)
        jaxmi.gmm_mi(KEY0, g, np.r_[g[1:], 40.0], **opts)


def test_every_mi_estimator_takes_the_normal_scores_of_its_columns(rho06):
    """Each MI estimator with ``marginals="normal_scores"`` equals itself on the scores
    (categorical labels and the conditioning variable's columns included where they are
    continuous); shapes and options of the tests above, so their programs are reused."""
    from jaxmi._marginals import normal_scores as _normal_scores

    z, _ = rho06
    rng = np.random.default_rng(31)
    noise = rng.standard_cauchy(N)
    a, b = np.stack([z[:, 0] ** 3, noise], 1), np.exp(z[:, 1:])
    ns = functools.partial(_normal_scores, marginals="normal_scores")

    def same(r1, r2):  # every field, to the bit
        leaves1, leaves2 = jax.tree.leaves(r1), jax.tree.leaves(r2)
        assert len(leaves1) == len(leaves2) > 3
        for u, v in zip(leaves1, leaves2, strict=True):
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v))

    opts = dict(FAST, marginals="normal_scores")
    same(
        jaxmi.gmm_mi_pairwise(KEY0, a, b, **opts), jaxmi.gmm_mi_pairwise(KEY0, ns(a), ns(b), **FAST)
    )
    same(
        jaxmi.gmm_mi_batch(KEY0, a.T, np.c_[b, b].T, **opts),
        jaxmi.gmm_mi_batch(KEY0, ns(a).T, np.c_[ns(b), ns(b)].T, **FAST),
    )
    same(jaxmi.gmm_mi_pairwise(KEY0, a, **opts), jaxmi.gmm_mi_pairwise(KEY0, ns(a), **FAST))
    labels = (z[:, 1] > 0).astype(int)
    same(
        jaxmi.gmm_mi_categorical(KEY0, a[:, 0], labels, **opts),
        jaxmi.gmm_mi_categorical(KEY0, ns(a[:, :1]), labels, **FAST),
    )
    same(  # the labels are not scored (one column of a: the programs of the call above; the
        # columns of a are scored by the line of gmm_mi_pairwise that the first call checks)
        jaxmi.gmm_mi_pairwise(KEY0, a[:, :1], labels[:, None], categorical=True, **opts),
        jaxmi.gmm_mi_pairwise(KEY0, ns(a[:, :1]), labels[:, None], categorical=True, **FAST),
    )
    w = np.c_[a[:, :1], b, noise**3]
    same(jaxmi.gmm_cmi(KEY0, *w.T, **opts), jaxmi.gmm_cmi(KEY0, *ns(w).T, **FAST))


def test_symmetry(rho06):
    z, res = rho06
    swapped = jaxmi.gmm_mi(jax.random.key(0), z[:, 1], z[:, 0], **FAST)
    assert int(swapped.n_components) == int(res.n_components)
    assert abs(float(swapped.mi) - float(res.mi)) < 2 * MC_ERR


def test_invariance_under_positive_affine_maps(rho06):
    z, res = rho06
    moved = jaxmi.gmm_mi(jax.random.key(0), 3.0 * z[:, 0] + 1.0, 0.5 * z[:, 1] - 2.0, **FAST)
    np.testing.assert_allclose(float(moved.mi), float(res.mi), atol=2e-3)
    flipped = jaxmi.gmm_mi(jax.random.key(0), -2.0 * z[:, 0], z[:, 1], **FAST)
    assert abs(float(flipped.mi) - float(res.mi)) < 2 * MC_ERR
    # extreme scales: the standardisation's statistics are float64 (in float32 the squares of
    # values near 1e18 overflowed, the column became zeros and the MI 0; near 1e-23 they
    # underflowed and the column was rejected as constant)
    far = jaxmi.gmm_mi(jax.random.key(0), 1e18 * z[:, 0], 1e-23 * z[:, 1] + 3e-23, **FAST)
    np.testing.assert_allclose(float(far.mi), float(res.mi), atol=2e-3)


def test_data_far_from_zero_keep_their_digits(rho06):
    # float32 keeps about 7 digits: cast as it came, 1.7e9 + 100 x (timestamps) kept 6 distinct
    # values of 2,048 and the MI read 0.175 of 0.215 nats. Float64 and integer input is centred
    # in float64 before the cast (every estimate is unchanged by the shift).
    z, res = rho06
    stamps = 1.7e9 + 100.0 * z[:, 0]
    assert len(np.unique(stamps.astype(np.float32))) < 10  # what the plain cast kept
    millis = np.round(1e3 * stamps).astype(np.int64)
    for x in (stamps, millis):
        np.testing.assert_allclose(
            float(jaxmi.gmm_mi(KEY0, x, z[:, 1], **FAST).mi), float(res.mi), atol=2e-3
        )
    # an entropy is unchanged by the shift; a KL divergence by one shift of both samples
    ent = jaxmi.gmm_entropy(jax.random.key(7), z[:, 0], **FAST)
    far = jaxmi.gmm_entropy(jax.random.key(7), 1e9 + z[:, 0], **FAST)
    np.testing.assert_allclose(float(far.mi), float(ent.mi), atol=2e-3)
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(N, 2)), rng.normal(0.5, 1.0, size=(1500, 2))
    kl = jaxmi.gmm_kl(jax.random.key(12), a, b, **FAST)
    far = jaxmi.gmm_kl(jax.random.key(12), a + 1e9, b + 1e9, **FAST)
    np.testing.assert_allclose(float(far.mi), float(kl.mi), atol=2e-3)
    assert abs(float(kl.mi) - 0.25) < 0.05  # |mean difference|^2 / 2 over two coordinates


def test_data_beyond_float32s_range_are_estimated(rho06):
    # standardising estimates divide float64 columns by a power of two near their std before
    # the cast (exact): cast first, 1e-45 x became a few float32 subnormals (MI 0.170 of 0.215
    # nats, silently) and 1e40 x was refused as overflowing float32
    z, res = rho06
    for s in (1e-45, 1e40):
        got = jaxmi.gmm_mi(KEY0, s * z[:, 0], z[:, 1], **FAST)
        np.testing.assert_allclose(float(got.mi), float(res.mi), rtol=1e-4)
        np.testing.assert_allclose(float(got.std), float(res.std), rtol=1e-3)
    ent = jaxmi.gmm_entropy(jax.random.key(7), z[:, 0], **FAST)
    tiny = jaxmi.gmm_entropy(jax.random.key(7), 1e-45 * z[:, 0], **FAST)  # h(sX) = h(X) + log s
    np.testing.assert_allclose(float(tiny.mi), float(ent.mi) + math.log(1e-45), rtol=1e-5)
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(N, 2)), rng.normal(0.5, 1.0, size=(1500, 2))
    kl = jaxmi.gmm_kl(jax.random.key(12), a, b, **FAST)
    huge = jaxmi.gmm_kl(jax.random.key(12), 1e40 * a, 1e40 * b, **FAST)  # one map for both
    np.testing.assert_allclose(float(huge.mi), float(kl.mi), rtol=1e-4)
    # without standardisation the data's own units are fitted: still refused
    with pytest.raises(ValueError, match=r"^x: values overflow float32"):
        jaxmi.gmm_mi(KEY0, 1e40 * z[:, 0], z[:, 1], standardize=False, **FAST)
    # in float64 computation, squares of values around 1e160 overflowed (MI 0, a warning about
    # reg_covar) and values around 1e-300 were read as a constant column
    opts = dict(dtype="float64", n_components=1, n_bootstrap=2)  # closed form: no integral
    with jax.enable_x64(True):
        r64 = jaxmi.gmm_mi(KEY0, z[:, 0], z[:, 1], **opts)
        for s in (1e160, 1e-300):
            got = jaxmi.gmm_mi(KEY0, s * z[:, 0], z[:, 1], **opts)
            np.testing.assert_allclose(float(got.mi), float(r64.mi), rtol=1e-9)


def test_unstandardized_extreme_scales_warn(rho06):
    # standardize=False on data far from unit scale used to be silently wrong: 1e-20 * x gave
    # MI 0 (reg_covar dominates the variance), 1e18 * x a bootstrap std of exactly 0 (float32
    # second moments overflow); now each warns, and data at unit scale do not
    z, _ = rho06
    x, y = z[:300, 0], z[:300, 1]
    opts = dict(standardize=False, n_bootstrap=2, n_components=1)
    with pytest.warns(RuntimeWarning) as rec:
        jaxmi.gmm_mi(jax.random.key(0), 1e-20 * x, y, **opts)  # a warning: the estimate runs
    texts = [str(w.message) for w in rec]
    assert any(
        re.search(r"column\(s\) \[0\] .* not well above reg_covar.*\(MI toward 0\)", t)
        for t in texts
    ), texts
    assert any("mostly reg_covar" in t for t in texts)  # and the fit is degenerate
    assert {w.filename for w in rec} == {__file__}  # both point at the user's line
    # the other estimators warn before any fit (as errors here, so nothing else runs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match=r"values up to .* too little room in float32"):
            jaxmi.gmm_mi(jax.random.key(0), x, 1e18 * y, **opts)
        with pytest.raises(RuntimeWarning, match=r"^a: with standardize=False"):
            jaxmi.gmm_mi_pairwise(jax.random.key(0), 1e-20 * z[:300], z[:300], **opts)
        with pytest.raises(RuntimeWarning, match=r"^x: with standardize=False"):
            jaxmi.gmm_mi_categorical(jax.random.key(0), 1e-20 * x, (y > 0).astype(int), **opts)
        # each estimator names its own quantity's bias
        for mode in ("separate", "joint"):
            with pytest.raises(RuntimeWarning, match=r"^x, y: with .*\(divergence toward 0\)"):
                jaxmi.gmm_kl(jax.random.key(0), 1e-20 * x, 1e-20 * y, mode=mode, **opts)
        with pytest.raises(RuntimeWarning, match=r"^x: with .*\(entropy toward that of the reg"):
            jaxmi.gmm_entropy(jax.random.key(0), 1e-20 * x, **opts)
        with pytest.raises(RuntimeWarning, match=r"^x, y: with standardize=False"):
            jaxmi.gmm_mi_batch(KEY0, 1e-20 * x[None, :, None], y[None, :, None], **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jaxmi.gmm_mi(jax.random.key(0), x, y, **opts)  # unit scale: no warning


def test_degenerate_fits_warn(rho06):
    # data that hardly vary along some direction leave a fit that is mostly reg_covar there;
    # it used to give a finite, confident-looking number without a word (x == y: 6.56 +-
    # 0.04 nats, where the MI is infinite; the reference raises LinAlgError). One size (400)
    # and capacities 1-3 throughout, so the calls share their compiled programs
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=n)
    opts = dict(n_bootstrap=2, mc_samples=2_000)
    outlier = np.r_[x[:-1], 1e6]  # standardisation squeezes the other points to ~1e-5
    discrete = rng.integers(0, 3, n).astype(float)  # (3 values: components on each)
    y = rng.normal(size=n)
    for a, b, k in ((x, x, 1), (outlier, y, 2), (discrete, y, 3)):
        with pytest.warns(RuntimeWarning, match=r"^x, y: \d+% of .* mostly reg_covar") as rec:
            r = jaxmi.gmm_mi(KEY0, a, b, n_components=k, **opts)
        # the warning names the user's line, not jaxmi's
        assert {w.filename for w in rec if "mostly reg_covar" in str(w.message)} == {__file__}
        if a is b:
            assert float(r.mi) > 5  # set by reg_covar (1e-6), not by the data
    z = rho06[0][:n]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # continuous data, and an outlier's own 0.25% component
        jaxmi.gmm_mi(KEY0, z[:, 0], z[:, 1], n_components=1, **opts)
        jaxmi.gmm_mi(KEY0, np.r_[z[:-1, 0], 40.0], z[:, 1], n_components=2, **opts)
    # the other estimators name their data sets, in one warning
    both = r"^2 of 2 data sets \(pair \(0, 0\), pair \(1, 0\)\): "
    with pytest.warns(RuntimeWarning, match=both) as rec:
        jaxmi.gmm_mi_pairwise(KEY0, np.stack([x, x], 1), x[:, None], n_components=1, **opts)
    assert sum("mostly reg_covar" in str(w.message) for w in rec) == 1
    labels = np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(int)
    with pytest.warns(RuntimeWarning, match=r"^x of class 1: "):
        xc = np.r_[x[: n // 2], np.ones(n // 2)]
        jaxmi.gmm_mi_categorical(KEY0, xc, labels, n_components=1, **opts)


def test_bits(rho06):
    z, res = rho06
    bits = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], base=2, **FAST)
    np.testing.assert_allclose(float(bits.mi), float(res.mi) / math.log(2), rtol=1e-5)
    np.testing.assert_allclose(float(bits.std), float(res.std) / math.log(2), rtol=1e-5)


def test_float64_agrees_with_float32(rho06):
    """The dtypes draw different random streams, so their MC errors are independent."""
    z, _ = rho06
    # K is fixed here: on a single Gaussian, K = 2 may beat K = 1 by about the threshold (1e-5
    # nats) in one dtype and not the other; selection parity is checked on a clear case below
    opts = dict(n_bootstrap=16, mc_samples=100_000, n_components=1)
    r32 = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], **opts)
    with jax.enable_x64(True):
        r64 = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], dtype="float64", **opts)
    assert r64.mi.dtype == np.float64 and r32.mi.dtype == np.float32
    mc_sd = 0.6 / math.sqrt(opts["mc_samples"])  # sd(pmi) = 0.6 nats at rho = 0.6
    assert abs(float(r64.mi) - float(r32.mi)) < 4 * math.sqrt(2) * mc_sd
    # the same bootstrap replicates in both dtypes (the random streams must not follow x64):
    # per-replicate differences are one common MC offset
    diff = np.asarray(r64.samples, np.float64) - np.asarray(r32.samples, np.float64)
    assert np.std(diff) < 1e-3
    np.testing.assert_allclose(float(r64.std), float(r32.std), rtol=0.05)


def test_float64_and_float32_select_the_same_components():
    rng = np.random.default_rng(5)
    means = np.array([[-4.0, 0.0], [0.0, 3.0], [4.0, 0.0]])
    z = means[rng.integers(0, 3, 1500)] + rng.normal(size=(1500, 2)) * 0.5
    opts = dict(n_bootstrap=4, mc_samples=2_000)
    r32 = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], **opts)
    with jax.enable_x64(True):
        r64 = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], dtype="float64", **opts)
    assert int(r32.n_components) == int(r64.n_components) == 3
    # the chosen K's held-out score agrees (other K may reach different local optima)
    np.testing.assert_allclose(r32.cv_scores[:1], r64.cv_scores[:1], rtol=1e-5)
    np.testing.assert_allclose(r32.cv_scores[2], r64.cv_scores[2], rtol=1e-4)


def test_no_bootstrap_gives_point_estimate_without_std():
    z = gaussian(0.6)
    res = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], n_bootstrap=0, mc_samples=20_000)
    assert res.std is None and res.samples.shape == (0,)
    assert float(res.mi) == float(res.point)


def test_cross_validation_programs_of_a_single_estimate(rho06, monkeypatch):
    """K = 2 fits run at capacity 4 (one compilation fewer) and select as at capacity 2; a
    single estimate's 6 fits per K run in chunks of 8 rows (not the bootstrap's 64)."""
    from jaxmi.gmm import _em, _mi

    assert _mi._cv_capacity("bucket", 2) == 4 and _mi._cv_capacity("bucket", 5) == 8
    assert _mi._cv_capacity(None, 2) == 2  # an explicit policy is kept
    z, ref = rho06
    seen, chunks = [], []
    solve = _em.solve

    def spy(*args, **kw):
        seen.append((kw["kc"], kw["method"]))
        chunks.append((kw["method"], kw["chunk"]))
        return solve(*args, **kw)

    scored = []
    score = _mi._score_padded

    def score_spy(gmms, *args):
        scored.append(gmms.weights.shape[-1])
        return score(gmms, *args)

    monkeypatch.setattr(_em, "solve", spy)
    monkeypatch.setattr(_mi, "_score_padded", score_spy)
    again = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], **FAST)
    cv = [kc for kc, method in seen if method != "given"]  # CV stages start from named inits
    assert cv[:2] == [1, 4]  # K = 3 and 4 run at capacity 4 as well: one EM program
    assert set(scored) == {4}  # K = 1 fits too are scored by the capacity-4 program
    assert {c for method, c in chunks if method != "given"} == {8}
    assert float(again.mi) == float(ref.mi)
    # the exact power-of-two capacity for every K selects the same K with the same scores
    monkeypatch.setattr(_mi, "_cv_capacity", _mi.resolve_capacity)
    seen.clear()
    exact = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], **dict(FAST, n_bootstrap=0))
    assert [kc for kc, method in seen if method != "given"][:2] == [1, 2]
    assert int(exact.n_components) == int(ref.n_components)
    np.testing.assert_allclose(exact.cv_scores, ref.cv_scores, rtol=1e-6)


def test_a_masked_single_gaussian_scores_the_same(rho06):
    """K = 1 CV fits are scored by the K = 2 stage's program, padded with masked components."""
    from jaxmi.gmm import GMM
    from jaxmi.gmm._fit import _pad_components
    from jaxmi.gmm._mi import _cv_capacity, _score_padded
    from jaxmi.gmm._mixture import precision_cholesky

    z, _ = rho06
    z = z.astype(np.float32)
    rng = np.random.default_rng(1)
    p = 6
    means = (z.mean(0) + 0.1 * rng.normal(size=(p, 1, 2))).astype(np.float32)
    cov = np.broadcast_to(np.cov(z.T).astype(np.float32), (p, 1, 2, 2)) * rng.uniform(
        0.5, 2, (p, 1, 1, 1)
    ).astype(np.float32)
    g = GMM(
        np.ones((p, 1), np.float32),
        means,
        cov,
        np.asarray(precision_cholesky(cov)),
        np.ones((p, 1), bool),
    )
    xs = jax.device_put(z.T[None])
    valid = (rng.uniform(size=(p, z.shape[0])) < 0.5).astype(np.float32)
    idx = np.zeros(p, np.int32)
    one = _score_padded(g, xs, idx, valid, 64)
    padded = _score_padded(_pad_components(g, _cv_capacity("bucket", 2)), xs, idx, valid, 64)
    assert np.all(np.isfinite(one)) and np.array_equal(one, padded)


def test_fixed_number_of_components():
    z = gaussian(0.6)
    res = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], n_components=2, **FAST)
    assert int(res.n_components) == 2 and res.cv_scores.shape == (1,)


def test_conditional_mi_gaussian():
    cov = np.array([[1, 0.6, 0.3], [0.6, 1, 0.4], [0.3, 0.4, 1]])
    w = np.random.default_rng(6).multivariate_normal(np.zeros(3), cov, N)
    res = jaxmi.gmm_cmi(jax.random.key(6), w[:, 0], w[:, 1], w[:, 2], **FAST)
    assert within(res, 0.179348), (float(res.mi), float(res.std))


def test_entropy_adds_back_the_scale():
    x = np.random.default_rng(7).normal(size=N) * 2.0
    res = jaxmi.gmm_entropy(jax.random.key(7), x, **FAST)
    truth = 0.5 * math.log(2 * math.pi * math.e * 4.0)
    assert within(res, truth), (float(res.mi), float(res.std), truth)


# ----------------------------------------------------------------------------------------------
# stopping rule (spec §6.4)
# ----------------------------------------------------------------------------------------------


def test_stopping_rule_patience_example():
    """K=1 improves, 2 fails, 3 improves, 4 fails: the reference stops at K*=2 with patience 2."""
    seq = {1: -3.0, 2: -3.5, 3: -2.0, 4: -2.5, 5: -1.0, 6: -5.0, 7: -5.0, 8: -5.0}
    k, scores, stopped = select_components(seq.get, 8, 1e-5, 2)
    assert (k, len(scores), stopped) == (5, 7, True)
    k, scores, stopped = select_components(seq.get, 8, 1e-5, 2, legacy_patience=True)
    assert (k, len(scores), stopped) == (2, 4, True)
    # with patience 1 both rules agree
    assert select_components(seq.get, 8, 1e-5, 1)[0] == 1
    assert select_components(seq.get, 8, 1e-5, 1, legacy_patience=True)[0] == 1


def test_stopping_rule_threshold_and_max():
    rising = {k: -1.0 / k for k in range(1, 6)}
    assert select_components(rising.get, 5, 1e-5, 1) == (5, list(rising.values()), False)
    # gains 0.5, 0.167, 0.083: with threshold 0.1 the last improvement is K = 3
    assert select_components(rising.get, 5, 0.1, 1)[0] == 3
    assert select_components({1: 0.0, 2: 1e-6}.get, 2, 1e-5, 1)[0] == 1  # below threshold


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros(10), np.zeros(11)), {}, "y: has 11 samples"),
        ((np.ones(50), np.arange(50.0)), {}, r"^x: constant column\(s\) \[0\]"),
        # a constant y is named as y's own column, not as column 1 of the stacked (x, y)
        ((np.arange(50.0), np.ones(50)), {}, r"^y: constant column\(s\) \[0\]:"),
        ((np.ones(50), np.c_[np.arange(50.0), np.ones(50)]), {}, r"^x: .* \[0\]; y: .* \[1\]:"),
        ((np.arange(50.0), np.arange(50.0)), {"bogus": 1}, r"^unknown option\(s\): bogus$"),
        # a misspelt option gets its close match; the reference's name gets jaxmi's
        ((np.arange(50.0), np.arange(50.0)), {"n_boot": 1}, r"n_boot \(did you mean n_bootstrap\?"),
        ((np.arange(50.0), np.arange(50.0)), {"MC_samples": 10}, "gmm-mi's name; jaxmi's is mc_"),
        # more folds than samples: the folds are at fault, not "too few samples per fold"
        ((np.arange(3.0), np.arange(3.0) ** 2), {"n_folds": 5}, "^n_folds: 5 folds need .* got 3"),
        ((np.arange(6.0), np.arange(6.0) ** 2), {"n_components": 4}, "too few"),
        # a 2-D component needs 3 points; 2 per training fold gave a fit of reg_covar alone
        ((np.arange(4.0), np.arange(4.0) ** 2), {}, "too few .* 3 needed"),
        ((np.arange(50.0), np.arange(50.0) ** 2), {"standardize": "no"}, "standardize"),
        ((np.arange(50.0), np.arange(50.0) ** 2), {"progress": 1}, "progress"),
        ((np.arange(50.0), np.arange(50.0)), {"metric": "r2"}, "metric"),
        ((np.arange(50.0), np.arange(50.0)), {"n_folds": 1}, "n_folds"),
        ((np.arange(50.0), np.arange(50.0)), {"base": 1}, "base"),
        # a worse score would count as an improvement: the search overfits to max_components
        ((np.arange(50.0), np.arange(50.0)), {"threshold": -1e-3}, "^threshold: must be >= 0"),
        ((np.arange(50.0), np.arange(50.0)), {"init": "random"}, "ambiguous"),
        ((np.array([1.0, np.nan] * 25), np.arange(50.0)), {}, "NaN"),
    ],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxmi.gmm_mi(jax.random.key(0), *args, **kwargs)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        # option errors are the option's, not blamed on a class's labels
        (lambda x, c: jaxmi.gmm_mi_categorical(KEY0, x, c, bogus=1), "^unknown option"),
        (lambda x, c: jaxmi.gmm_mi_categorical(KEY0, x, c, n_bootstrap=-1), "^n_bootstrap"),
        # RQMC is validated up to 6 dimensions; two point counts contradict each other
        (
            lambda x, c: jaxmi.gmm_mi_categorical(
                KEY0, np.random.default_rng(1).normal(size=(300, 7)), c, integral="rqmc"
            ),
            "^integral: 'rqmc' is validated up to 6",
        ),
        (
            lambda x, c: jaxmi.gmm_mi_categorical(KEY0, x, c, rqmc_points=64, mc_samples=100),
            "^mc_samples, rqmc_points",
        ),
        (
            lambda x, c: jaxmi.gmm_mi_pairwise(
                KEY0, x[:, None], c, categorical=True, integral="mc", rqmc_points=64
            ),
            "^rqmc_points",
        ),
        # a class too small to fit is named by its label (the code, 3, was named before)
        (
            lambda x, c: jaxmi.gmm_mi_pairwise(
                KEY0, x[:, None], np.r_[["z"], c[1:]][:, None], categorical=True
            ),
            r"^b\[:, 0\]: class 'z' has 1 samples",
        ),
        # the separate KL's integral options are gmm_mi's, checked before any fit
        (
            lambda x, c: jaxmi.gmm_kl(
                KEY0, *np.random.default_rng(1).normal(size=(2, 300, 7)), integral="rqmc"
            ),
            "^integral: 'rqmc' is validated up to 6",
        ),
        (
            lambda x, c: jaxmi.gmm_kl(KEY0, x, x[::-1] + 1, rqmc_points=64, mc_samples=100),
            "^mc_samples, rqmc_points",
        ),
        (lambda x, c: jaxmi.gmm_kl(KEY0, x, x[::-1] + 1, rqmc_points=1001), "^rqmc_points"),
        # the pooled standardisation read the option before it was checked ('no' was True)
        (lambda x, c: jaxmi.gmm_kl(KEY0, x, x[::-1] + 1, standardize="no"), "^standardize"),
        (lambda x, c: jaxmi.gmm_mi_categorical(KEY0, x, c, standardize="no"), "^standardize"),
        # normal scores keep an MI, not an entropy or a divergence
        (lambda x, c: jaxmi.gmm_mi(KEY0, x, x[::-1], marginals="rank"), "^marginals: expected"),
        (lambda x, c: jaxmi.gmm_mi_categorical(KEY0, x, c, marginals=True), "^marginals"),
        (
            lambda x, c: jaxmi.gmm_entropy(KEY0, x, marginals="normal_scores"),
            "^marginals: 'normal_scores' is for mutual information only; an entropy",
        ),
        (
            lambda x, c: jaxmi.gmm_kl(KEY0, x, x[::-1] + 1, marginals="normal_scores"),
            "^marginals: 'normal_scores' is for mutual information only; a KL",
        ),
    ],
)
def test_bad_options_of_the_categorical_and_kl_estimators(call, match):
    rng = np.random.default_rng(0)
    x, c = rng.normal(size=300), rng.choice(["a", "b", "c"], 300)
    with pytest.raises(ValueError, match=match):
        call(x, c)


def test_more_replicates_than_memory_holds_fail_before_any_fit(monkeypatch):
    # the resampling counts are chunked, but every replicate returns its mixture and value: a
    # request of 1e12 replicates (5.8e5 GiB) was killed by the operating system at 1e9
    from jaxmi.gmm import _mi

    def no_fit(*args, **kwargs):
        raise AssertionError("selection started")

    monkeypatch.setattr(_mi, "_select_many", no_fit)
    rng = np.random.default_rng(0)
    x, c = rng.normal(size=300), rng.choice(["a", "b"], 300)
    calls = [
        lambda b: jaxmi.gmm_mi(KEY0, x, x[::-1], n_bootstrap=b),
        lambda b: jaxmi.gmm_mi_categorical(KEY0, x, c, n_bootstrap=b),
        lambda b: jaxmi.gmm_mi_pairwise(KEY0, np.c_[x, x], x[::-1, None], n_bootstrap=b),
        lambda b: jaxmi.gmm_kl(KEY0, x, x[::-1], n_bootstrap=b),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"^n_bootstrap: 1,000,000,000,000 replicates"):
            call(10**12)
    # the bound: 512 B per replicate and 4 copies of a mixture's parameters (K >= 1, d = 2:
    # 7 float32), here against 1 MiB of free memory
    monkeypatch.setattr(_mi, "available_memory", lambda: 2**20)
    need = 1_000 * (512 + 4 * 7 * 4)
    assert need < 2**20 < 2 * need
    with pytest.raises(ValueError, match=r"need at least 1\.19 MiB .* 1 MiB are free"):
        jaxmi.gmm_mi(KEY0, x, x[::-1], n_bootstrap=2_000)
    with pytest.raises(AssertionError, match="selection started"):  # 1,000 pass the check
        jaxmi.gmm_mi(KEY0, x, x[::-1], n_bootstrap=1_000)
    monkeypatch.setattr(_mi, "available_memory", lambda: None)  # unknown: no check
    with pytest.raises(AssertionError, match="selection started"):
        jaxmi.gmm_mi(KEY0, x, x[::-1], n_bootstrap=10**12)


def test_cv_weights_made_per_chunk_are_the_fold_masks():
    """_FoldWeights / _Rows (weights gathered per chunk, 7.6 -> 1.05 MB per pair) give the rows
    that were materialised before: 0/1 masks of the samples outside (training) or inside
    (held out) each fold, zero on the padding, repeated for every start."""
    from jaxmi.gmm._mi import _FoldWeights, _Rows

    rng = np.random.default_rng(0)
    n_folds, n_init, n_pad, ns = 3, 2, 16, [16, 11, 7]
    folds = np.full((len(ns), n_pad), -1, np.int8)
    want = {False: np.zeros((len(ns), n_folds, n_pad)), True: np.zeros((len(ns), n_folds, n_pad))}
    for i, n in enumerate(ns):
        folds[i, :n] = rng.permutation(n) % n_folds
        for f in range(n_folds):  # the former construction
            want[False][i, f, :n] = folds[i, :n] != f
            want[True][i, f, :n] = folds[i, :n] == f
    act = np.array([2, 0])  # datasets still searching, in stage order
    fold_rows = (act[:, None, None] * n_folds + np.arange(n_folds)[None, None, :]
                 + np.zeros((1, n_init, 1), int)).reshape(-1)  # fmt: skip
    for held_out in (False, True):
        rows = _Rows(_FoldWeights(folds, n_folds, np.float32, held_out=held_out), fold_rows)
        full = np.broadcast_to(want[held_out][act][:, None], (2, n_init, n_folds, n_pad))
        full = full.reshape(-1, n_pad)
        np.testing.assert_array_equal(rows[:], full)
        np.testing.assert_array_equal(rows(3, 9), full[3:9])
        np.testing.assert_array_equal(rows[np.array([5, 0, 7])], full[[5, 0, 7]])
        assert rows[:].dtype == np.float32


def test_long_data_run_fewer_problems_per_chunk_to_the_same_bits(rho06, monkeypatch):
    """A chunk holds at most _em.CHUNK_SAMPLES problem-samples (and at least 2 problems), so a
    chunk's memory no longer grows with N. With 64 problems per chunk a bivariate Gaussian's
    estimate peaked at 3.5 GB of host memory at N = 10^6 and 12.8 GB at 4 x 10^6 (its closed-form
    refit vmapped 64 problems of N samples); 10^7 samples could not run in 23 GB."""
    from jaxmi.gmm import _em

    full = _em.default_chunk()
    assert full == (64 if jax.default_backend() == "cpu" else 256)
    if jax.default_backend() == "cpu":  # 2^23 problem-samples
        assert [_em.default_chunk(n) for n in (2048, 131_072, 132_096, 1 << 20, 1 << 22)] == [
            64,
            64,
            32,
            8,
            2,
        ]
        assert _em.default_chunk(10**9) == 2  # not 1: see the next block
    # a budget of 2^12 problem-samples at N_pad = 2,048: chunks of 2 (a chunk of 1 rounds some
    # float32 sums differently, so the estimate would move by up to 3e-4 nats)
    budget = {"cpu": 1 << 12, "accelerator": 1 << 12}
    monkeypatch.setattr(_em, "CHUNK_SAMPLES", budget)
    assert _em.default_chunk(2048) == 2 and _em.default_chunk(1 << 20) == 2
    from jaxmi.gmm._fit import _common_settings  # the engine's fit and fit_batch

    assert _common_settings(1e-3, 10, 1e-6, None, None, None, np.float32, 2, n_pad=2048)[-1] == 2
    chunks = []
    solve = _em.solve

    def spy(*args, **kw):
        chunks.append(kw["chunk"])
        return solve(*args, **kw)

    monkeypatch.setattr(_em, "solve", spy)
    from jaxmi.gmm import _mi

    scored, score = [], _mi._score  # held-out scores run in chunks too (all P problems at once
    # before: 200 pairs at N = 20,000 peaked at 1.9 GB, 400 pairs at 3.4 GB; now 0.65 and 0.81)

    def score_spy(gmms, xs, idx, s_valid):
        scored.append(idx.shape[0])
        return score(gmms, xs, idx, s_valid)

    monkeypatch.setattr(_mi, "_score", score_spy)
    z, ref = rho06
    again = jaxmi.gmm_mi(KEY0, z[:, 0], z[:, 1], **FAST)
    assert chunks and max(chunks) == 2  # CV (8 rows before), refit and bootstrap (16 before)
    assert scored and set(scored) == {2}  # 6 CV problems: 3 programs of 2 (one of 6 before)
    for u, v in zip(jax.tree.leaves(ref), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    chunks.clear()  # an explicit chunk is kept
    jaxmi.gmm_mi(KEY0, z[:, 0], z[:, 1], **dict(FAST, n_bootstrap=4, chunk=4))
    assert max(chunks) == 4


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x, c: jaxmi.gmm_cmi(KEY0, x, x**2, c), r"^z: constant column\(s\) \[0\]:"),
        # KL pools both samples for standardisation; each still needs a density of its own
        (lambda x, c: jaxmi.gmm_kl(KEY0, x, c), r"^y: constant column\(s\) \[0\]:"),
        (
            lambda x, c: jaxmi.gmm_mi_batch(KEY0, np.stack([x, x]), np.stack([x**2, c])),
            r"^y\[1\]: constant column\(s\) \[0\]:",
        ),
        (lambda x, c: jaxmi.gmm_entropy(KEY0, np.c_[x, c]), r"^x: constant column\(s\) \[1\]:"),
    ],
)
def test_constant_columns_are_named_by_their_argument(call, match):
    x = np.random.default_rng(0).normal(size=60)
    with pytest.raises(ValueError, match=match):
        call(x, np.full(60, 2.0))


def test_refuses_tracing():
    with pytest.raises(ValueError, match="cannot run under jit"):
        jax.jit(lambda x: jaxmi.gmm_mi(jax.random.key(0), x, x).mi)(np.arange(50.0))


@pytest.mark.parametrize(
    "call",
    [
        lambda k, x, y: jaxmi.gmm_mi(k, x, y),
        lambda k, x, y: jaxmi.gmm_mi_batch(k, x[None], y[None]),
        lambda k, x, y: jaxmi.gmm_mi_pairwise(k, x, y),
        lambda k, x, y: jaxmi.gmm_mi_categorical(k, x, y > 0),
        lambda k, x, y: jaxmi.gmm_cmi(k, x, y, x + y),
        lambda k, x, y: jaxmi.gmm_entropy(k, x),
        lambda k, x, y: jaxmi.gmm_kl(k, x, y),
    ],
)
def test_a_traced_key_alone_is_refused_by_name(call):
    """A vmap over keys with concrete data: the key is named (not JAX's tracer error)."""
    x, y = np.random.default_rng(0).normal(size=(2, 60))
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match=r"^key: GMM-MI .* cannot run under jit/vmap"):
        jax.vmap(lambda k: call(k, x, y).mi)(keys)


# ----------------------------------------------------------------------------------------------
# categorical labels (spec §8.3)
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imbalanced():
    task = jaxmi.tasks.get("cat-gauss-3-imbalanced")
    x, y = task.sample(jax.random.key(8), 3000)
    names = np.array(["low", "mid", "high"])[np.asarray(y)[:, 0]]  # string labels, unsorted
    return task, np.asarray(x), names


@pytest.mark.parametrize("opts", [FAST, dict(n_bootstrap=16)], ids=["mc", "default-rqmc"])
def test_categorical_empirical_prior_matches_truth(imbalanced, opts):
    task, x, names = imbalanced
    res = jaxmi.gmm_mi_categorical(jax.random.key(9), x, names, **opts)
    assert res.classes.tolist() == ["high", "low", "mid"]
    np.testing.assert_allclose(np.asarray(res.prior), [0.1, 0.7, 0.2], atol=0.03)
    assert within(res, task.mi), (float(res.mi), float(res.std), task.mi)
    assert res.n_components.shape == (3,) and res.n_iter.shape == (16, 3)
    assert 0 <= float(res.mi) <= task.params["label_entropy"]


def test_categorical_uniform_prior_gives_the_reference_functional(imbalanced):
    task, x, names = imbalanced
    res = jaxmi.gmm_mi_categorical(jax.random.key(9), x, names, prior="uniform", **FAST)
    assert within(res, task.params["uniform_prior_mi"]), float(res.mi)
    assert float(res.mi) > task.mi + 0.1  # the reference's bias with imbalanced classes


def test_categorical_integral_takes_its_noise_from_one_shared_program():
    # the class noise is drawn once per (C, S, d) by a small program of its own; the integral
    # programs (one per mixture capacity) hold no random draws, whose threefry code compiled for
    # 0.4-0.6 s in each of them
    from jaxmi.gmm import _mi
    from jaxmi.gmm._mixture import GMM, sample_noise

    key, n_cls, n, d = jax.random.key(5), 3, 64, 2
    noise = functools.partial(_mi._class_noise, n_cls=n_cls, n_samples=n, d=d, dtype="float32")
    u, eps = noise(key)
    for c in range(n_cls):  # the draws of class c are sample_noise's with fold_in(key, c)
        u_c, eps_c = sample_noise(jax.random.fold_in(key, c), n, d, "float32")
        np.testing.assert_array_equal(u[c], u_c)
        np.testing.assert_array_equal(eps[c], eps_c)
    assert "random_bits" in str(jax.make_jaxpr(noise)(key))  # the check below can see draws
    g = GMM.create(np.ones(2) / 2, np.zeros((2, d)), np.stack([np.eye(d)] * 2))
    gmms = jax.tree.map(lambda a: np.broadcast_to(a, (4, n_cls, *a.shape)), g)
    log_prior = np.log(np.full(n_cls, 1 / n_cls, np.float32))
    integral = jax.make_jaxpr(_mi._categorical_mi_batch._fn)(u, eps, gmms, log_prior)
    assert "random_bits" not in str(integral)


def test_categorical_integral_in_blocks_equals_one_pass(monkeypatch):
    # many classes score their points in blocks (a (C, S) pass per class left the CPU caches:
    # 50 classes took 28-30 s instead of 7.3 s); the blocks, one of them padded, must merge to
    # the single pass's mean and standard error
    from jaxmi.gmm import _mi
    from jaxmi.gmm._mixture import GMM

    rng = np.random.default_rng(6)
    n_cls, n, d, kc = 4, 1000, 2, 2
    u, eps = _mi._class_noise(jax.random.key(1), n_cls=n_cls, n_samples=n, d=d, dtype="float32")
    means = rng.normal(size=(n_cls, kc, d))
    covs = np.broadcast_to(np.eye(d) * rng.uniform(0.5, 1.5, (n_cls, kc, 1, 1)), (n_cls, kc, d, d))
    g = jax.vmap(GMM.create)(np.full((n_cls, kc), 1 / kc), means, covs)
    log_prior = np.log(np.array([0.1, 0.2, 0.3, 0.4], np.float32))
    out, text = {}, {}
    # one pass; ceil(4 * 2 * 1000 / 1200) = 7 blocks of 143 (one point padded)
    for budget in (1 << 30, 1200):
        monkeypatch.setattr(_mi, "_CATEGORICAL_BLOCK", budget)
        fresh = lambda *a: _mi._categorical_mi(*a)  # noqa: E731 - no trace cached across budgets
        out[budget] = np.asarray(jax.jit(fresh)(u, eps, g, log_prior))
        text[budget] = str(jax.make_jaxpr(fresh)(u, eps, g, log_prior))
    ref = out[1 << 30]
    assert ref[0] > 0.1
    for budget, size in ((1200, 143),):
        assert f"{size}]" in text[budget] and f"{size}]" not in text[1 << 30]  # blocks ran
        np.testing.assert_allclose(out[budget], ref, rtol=2e-6)


def _true_class_mixtures(name: str, kc: int = 1, dtype=np.float64):
    """A cat-gauss task's class-conditionals as a GMM batch ``(C, kc, 1)`` (padded to kc)."""
    from jaxmi.gmm import _mi
    from jaxmi.gmm._mixture import GMM

    p = jaxmi.tasks.get(name).params
    n_cls = len(p["probs"])
    sd = np.broadcast_to(np.asarray(p["stds"], float), (n_cls,))
    gs = [
        _mi._pad_components(
            jax.tree.map(np.asarray, GMM.create(np.ones(1), [[m]], [[[s * s]]], dtype=dtype)), kc
        )
        for m, s in zip(p["means"], sd, strict=True)
    ]
    stacked = jax.tree.map(lambda *a: np.stack(a), *gs)
    return stacked, np.log(np.asarray(p["probs"], dtype))


@pytest.mark.parametrize("name", ["cat-gauss-3-imbalanced", "cat-gauss-2-hetero"])
def test_categorical_rqmc_integral_of_the_true_classes_matches_quadrature(name):
    # the default rule of gmm_mi_categorical on the true class-conditionals: within 4 of its
    # standard errors of the quadrature truth, and those errors below plain MC's with 1e5
    # draws per class (sd(pmi) ~ 0.3-1 nats here: ~1e-3 for MC-1e5)
    from jaxmi.gmm import _mi

    truth = jaxmi.tasks.get(name).mi
    with jax.enable_x64(True):
        g, log_prior = _true_class_mixtures(name)
        keys = jax.random.split(jax.random.key(3), g.weights.shape[0])
        mi, se = jax.jit(_mi._categorical_rqmc, static_argnames="n_points")(
            keys, g, log_prior, n_points=_mi.categorical_points(1)
        )
    assert 0 < float(se) < 5e-4, float(se)
    assert abs(float(mi) - truth) < 4 * float(se), (float(mi), truth, float(se))


def test_categorical_rqmc_blocks_and_padding_give_the_one_pass_value(monkeypatch):
    # a huge class count scores its points in blocks (memory); blocks and inactive padded
    # slots must not change the value beyond float rounding
    from jaxmi.gmm import _mi

    name = "cat-gauss-3-imbalanced"
    out, text = {}, {}
    for budget, kc in ((1 << 30, 1), (1200, 1), (1 << 30, 3)):
        monkeypatch.setattr(_mi, "_CATEGORICAL_RQMC_BLOCK", budget)
        g, log_prior = _true_class_mixtures(name, kc, np.float32)
        keys = jax.random.split(jax.random.key(4), 3)

        def fresh(k, g, lp):  # no trace cached across budgets
            return _mi._categorical_rqmc(k, g, lp, n_points=1024)

        out[budget, kc] = np.asarray(jax.jit(fresh)(keys, g, log_prior))
        text[budget, kc] = str(jax.make_jaxpr(fresh)(keys, g, log_prior))
    ref = out[1 << 30, 1]
    assert abs(ref[0] - jaxmi.tasks.get(name).mi) < 0.01
    # 3 x 1 x 1024 scores per point set, budget 1200: ceil(3072 / 1200) = 3 blocks of 342
    assert "342]" in text[1200, 1] and "342]" not in text[1 << 30, 1]
    np.testing.assert_allclose(out[1200, 1], ref, rtol=1e-5)
    np.testing.assert_allclose(out[1 << 30, 3], ref, rtol=1e-5)


def test_categorical_rqmc_fits_in_steps_give_the_one_at_a_time_values():
    # several fits per step (vmapped, the last step padded with copies) must give each fit's
    # own value: a mix-up of fits or of the padding would move them
    from jaxmi.gmm import _mi

    g, log_prior = _true_class_mixtures("cat-gauss-3-imbalanced", 2, np.float32)
    rng = np.random.default_rng(0)
    shifts = 1 + 0.2 * rng.normal(size=(7, 1, 1, 1)).astype(np.float32)  # 7 different fits
    fits = jax.tree.map(lambda a: np.stack([np.asarray(a)] * 7), g)
    fits = fits._replace(means=fits.means * shifts)
    keys = jax.random.split(jax.random.key(5), 3)
    assert _mi._categorical_fits_per_step(3, 2, 1024) == 4  # 7 fits: two steps, one padded
    assert _mi._categorical_fits_per_step(50, 4, 8192) == 1  # memory: one at a time
    mi, se = _mi._categorical_rqmc_batch(keys, fits, log_prior, n_points=1024)
    assert mi.shape == se.shape == (7,)
    one = jax.jit(_mi._categorical_rqmc, static_argnames="n_points")
    for f in range(7):
        m1, s1 = one(keys, jax.tree.map(lambda a, f=f: a[f], fits), log_prior, n_points=1024)
        np.testing.assert_allclose([mi[f], se[f]], [m1, s1], rtol=2e-6)
    assert len(set(np.round(np.asarray(mi), 6))) == 7


def test_bootstrap_bias_warning_names_the_worst_estimate():
    from jaxmi.gmm import _mi

    labels = ["a", "b", "c"]
    mi, point, std = np.array([0.50, 0.30, 0.1]), np.array([0.46, 0.20, 0.1]), np.full(3, 0.02)
    with pytest.warns(RuntimeWarning, match=r"^2 of 3 estimates \(b, a\): .*the most: b, where "):
        _mi._warn_bootstrap_bias(labels, mi, point, std, n_bootstrap=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # within 1.5 std; too few replicates to read; no spread (0 or inf) is not a ratio
        _mi._warn_bootstrap_bias(labels[:1], [0.5], [0.48], [0.02], n_bootstrap=50)
        _mi._warn_bootstrap_bias(labels[:1], [0.5], [0.40], [0.02], n_bootstrap=9)
        _mi._warn_bootstrap_bias(labels[:2], [0.5, 1.0], [0.4, 0.0], [0.0, np.inf], n_bootstrap=50)


def test_many_small_classes_warn_of_the_bootstraps_bias():
    # 20 classes of ~40 samples: each class's refits of resampled data overfit, and the
    # bootstrap mean lies 1.7 std above the full fit; the warning's advice, 2 * point - mi,
    # is closer to the truth than mi
    task = jaxmi.tasks.categorical_gaussian(np.full(20, 0.05), np.linspace(0, 4, 20), np.ones(20))
    x, labels = (np.asarray(v) for v in task.sample(jax.random.key(1), 800))
    with pytest.warns(RuntimeWarning, match=r"^x, labels: the bootstrap mean .* 1\.\d std above"):
        r = jaxmi.gmm_mi_categorical(jax.random.key(1), x, labels[:, 0], n_bootstrap=16)
    mi, point = float(r.mi), float(r.point)
    assert abs(2 * point - mi - task.mi) < abs(mi - task.mi) - float(r.std)


@pytest.mark.parametrize(
    ("opts", "rule", "points"),
    [
        ({}, "rqmc", "default"),
        ({"integral": "mc"}, "mc", 100_000),
        ({"mc_samples": 500}, "mc", 500),
        ({"rqmc_points": 2048}, "rqmc", 2048),
    ],
)
def test_categorical_integral_rule_and_points(imbalanced, monkeypatch, opts, rule, points):
    # which integral program runs, with how many points per class: RQMC by default (the
    # categorical default, far fewer points than MC's 1e5), MC where asked for
    from jaxmi.gmm import _mi

    _, x, names = imbalanced
    calls = []

    def fake(name):
        def program(*args, **kw):
            n_fits = args[1].weights.shape[0] if name == "rqmc" else args[2].weights.shape[0]
            calls.append((name, kw.get("n_points", args[0].shape[-1])))
            return np.full(n_fits, 0.4), np.full(n_fits, 1e-3)

        return program

    monkeypatch.setattr(_mi, "_categorical_rqmc_batch", fake("rqmc"))
    monkeypatch.setattr(_mi, "_categorical_mi_batch", fake("mc"))
    res = jaxmi.gmm_mi_categorical(jax.random.key(9), x, names, n_bootstrap=16, **opts)
    expected = _mi.categorical_points(1) if points == "default" else points
    assert calls == [(rule, expected)] and float(res.mi) == pytest.approx(0.4)
    assert _mi.categorical_points(1) <= _mi.MC_SAMPLES // 10


@pytest.mark.parametrize(
    ("labels", "kwargs", "match"),
    [
        (np.zeros(60), {}, "at least 2 classes"),
        (
            np.array([0] * 58 + [1, 1]),
            {"n_folds": 3},
            r"class 1 has 2 samples: n_folds: 3 folds need .*, got 2$",
        ),
        # continuous labels: one class per sample, and a hint to use gmm_mi
        (np.linspace(0, 1, 60), {}, "class 0.0 has 1 samples: .*60 distinct labels in 60 samples"),
        (np.zeros(59), {}, "labels: expected shape"),
        (np.array([0, 1] * 30), {"prior": [0.5, 0.6]}, "sum to 1"),
        (np.array([0, 1] * 30), {"prior": [1.0]}, "prior"),
        (np.array([0, 1] * 30), {"prior": "flat"}, "prior"),
        (np.array([0.0, np.nan] * 30), {}, "NaN"),
    ],
)
def test_categorical_bad_input(labels, kwargs, match):
    x = np.random.default_rng(0).normal(size=60)
    with pytest.raises(ValueError, match=match):
        jaxmi.gmm_mi_categorical(jax.random.key(0), x, labels, **kwargs)


# ----------------------------------------------------------------------------------------------
# KL divergence (spec §8.4)
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kl_anchor():
    rng = np.random.default_rng(10)
    return rng.normal(7, 4, N), rng.normal(-3, 5, N)


@pytest.mark.parametrize("mode", ["separate", "joint"])
@pytest.mark.parametrize(
    ("order", "truth"),
    [("forward", math.log(5 / 4) + 116 / 50 - 0.5), ("reverse", math.log(4 / 5) + 125 / 32 - 0.5)],
)
def test_kl_reference_anchor(kl_anchor, mode, order, truth):
    a, b = kl_anchor
    res = jaxmi.gmm_kl(jax.random.key(11), a, b, mode=mode, order=order, **FAST)
    # the log-ratio has sd ~1.5-2.5 nats here: a larger MC allowance than for MI
    assert abs(float(res.mi) - truth) <= 3 * float(res.std) + 3 * 2.5 / math.sqrt(20_000), (
        float(res.mi),
        float(res.std),
        truth,
    )


@pytest.mark.parametrize("d", [2, 5])
def test_kl_rqmc_integral_of_true_gaussians_matches_the_closed_form(d):
    # the separate mode's default rule on two true Gaussians: within 4 of its standard errors
    # of the closed form (p's points, log p - log q: the order matters, KL is not symmetric),
    # and those errors below plain MC's with 1e5 draws
    from jaxmi.gmm import _mi
    from jaxmi.gmm._mixture import GMM

    rng = np.random.default_rng(d)
    mp, mq = rng.normal(0, 0.7, (2, d))
    a, b = rng.normal(size=(2, d, d)) * 0.5
    cp, cq = a @ a.T + 0.5 * np.eye(d), b @ b.T + 0.3 * np.eye(d)
    iq, diff = np.linalg.inv(cq), mq - mp
    logdets = np.linalg.slogdet(cq)[1] - np.linalg.slogdet(cp)[1]
    truth = 0.5 * (np.trace(iq @ cp) + diff @ iq @ diff - d + logdets)
    with jax.enable_x64(True):
        one = functools.partial(GMM.create, np.ones(1), dtype="float64")
        p, q = (
            jax.tree.map(lambda v: v[None], one(m[None], c[None])) for m, c in ((mp, cp), (mq, cq))
        )
        kl, se = jax.jit(_mi._kl_rqmc, static_argnames="n_points")(
            jax.random.key(5), p, q, n_points=_mi.kl_points(d)
        )
        _, se_mc = jax.jit(_mi._kl_pairs, static_argnames="n_samples")(
            jax.random.key(5), p, q, n_samples=100_000
        )
    assert 0 < float(se[0]) < 0.75 * float(se_mc[0]), (float(se[0]), float(se_mc[0]))
    assert abs(float(kl[0]) - truth) < 4 * float(se[0]), (float(kl[0]), truth, float(se[0]))


def test_kl_integral_rules_agree_and_rqmc_is_the_default(kl_anchor):
    a, b = kl_anchor
    opts = dict(n_bootstrap=8, n_components=2)  # (one component takes the closed form)
    auto = jaxmi.gmm_kl(jax.random.key(2), a, b, **opts)
    rq = jaxmi.gmm_kl(jax.random.key(2), a, b, integral="rqmc", **opts)
    mc = jaxmi.gmm_kl(jax.random.key(2), a, b, integral="mc", **opts)
    np.testing.assert_array_equal(auto.samples, rq.samples)  # auto = rqmc in 1-D
    # the same fits integrated by both rules: within MC-1e5's error of each other
    np.testing.assert_array_equal(rq.n_iter, mc.n_iter)
    assert abs(float(rq.point) - float(mc.point)) < 4 * float(mc.point_stderr)
    diff = np.asarray(rq.samples, np.float64) - np.asarray(mc.samples, np.float64)
    assert np.max(np.abs(diff)) < 4 * float(mc.point_stderr) * 1.5
    # (the default points were chosen at <= 0.75x the error of MC-1e5: gmm_kl_integral.py)
    assert float(rq.point_stderr) < 0.75 * float(mc.point_stderr)


def test_single_gaussian_fits_take_the_closed_form():
    # K = 1 fits are Gaussians with the sample's mean and covariance (standardised, plus
    # reg_covar): under the default rule every estimator returns the closed form of the
    # sample's moments, with no integration error; an explicit rule still integrates
    rng = np.random.default_rng(21)
    w = rng.multivariate_normal([1, -2, 0.5], [[1, 0.6, 0.3], [0.6, 2, 0.4], [0.3, 0.4, 1]], N)
    cov = np.cov(w.T, bias=True)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))

    def ld(m, idx):
        return np.linalg.slogdet(m[np.ix_(idx, idx)])[1]

    one = dict(n_components=1, n_bootstrap=10)
    mi = jaxmi.gmm_mi(KEY0, w[:, 0], w[:, 1:], **one)
    cmi = jaxmi.gmm_cmi(KEY0, w[:, 0], w[:, 1], w[:, 2], **one)
    ent = jaxmi.gmm_entropy(KEY0, w, **one)
    a, b = w[:, 0], w[:, 1]
    kl = jaxmi.gmm_kl(KEY0, a, b, **one)
    kl_joint = jaxmi.gmm_kl(KEY0, a, b, mode="joint", **one)  # the same marginal moments
    pooled = np.concatenate([a, b])
    ma, mb, sd = (
        (a.mean() - pooled.mean()) / pooled.std(),
        (b.mean() - pooled.mean()) / pooled.std(),
        pooled.std(),
    )
    va, vb = a.var() / sd**2, b.var() / sd**2
    expected = {
        "mi": 0.5 * (ld(corr, [1, 2]) - ld(corr, [0, 1, 2])),
        "cmi": 0.5 * (ld(corr, [0, 2]) + ld(corr, [1, 2]) - ld(corr, [2]) - ld(corr, [0, 1, 2])),
        "entropy": 0.5 * (3 * (1 + np.log(2 * np.pi)) + ld(cov, [0, 1, 2])),
        "kl": 0.5 * (va / vb + (mb - ma) ** 2 / vb - 1 + np.log(vb / va)),
    }
    for name, r in (("mi", mi), ("cmi", cmi), ("entropy", ent), ("kl", kl), ("kl", kl_joint)):
        assert float(r.point_stderr) == 0.0, name
        assert abs(float(r.point) - expected[name]) < 2e-5 * max(1.0, abs(expected[name])), name
    # an explicit rule integrates the same fits
    rq = jaxmi.gmm_mi(KEY0, w[:, 0], w[:, 1:], integral="rqmc", **one)
    assert 0 < float(rq.point_stderr) and abs(float(rq.point) - float(mi.point)) < 4 * float(
        rq.point_stderr
    )


def test_kl_of_one_distribution_is_near_zero():
    rng = np.random.default_rng(12)
    res = jaxmi.gmm_kl(
        jax.random.key(12), rng.normal(size=(N, 2)), rng.normal(size=(1500, 2)), **FAST
    )
    assert abs(float(res.mi)) < 0.02
    assert res.n_components.shape == (2,) and res.n_iter.shape == (16, 2)


def test_kl_of_a_sample_with_itself_is_exactly_zero():
    """Both fits share their random streams, so identical samples give identical fits."""
    rng = np.random.default_rng(13)
    x = np.concatenate([rng.normal(-2, 1, 300), rng.normal(2, 0.5, 300)])  # bimodal: K* > 1
    # (the default's K = 2 fits stall on these data, see the stall warning; the restart fits them)
    # (the default integral: RQMC with one key for every pair)
    res = jaxmi.gmm_kl(jax.random.key(13), x, x, restart_stalled=True, n_bootstrap=16)
    assert int(res.n_components[0]) > 1
    np.testing.assert_array_equal(res.n_components[0], res.n_components[1])
    assert float(res.point) == 0.0 and float(res.mi) == 0.0
    np.testing.assert_array_equal(res.samples, 0.0)


@pytest.mark.parametrize(
    ("kwargs", "y", "match"),
    [
        ({}, np.zeros((100, 2)), "same space"),
        ({"mode": "joint"}, np.arange(99.0), "y: has 99 samples"),
        ({"mode": "paired"}, np.arange(100.0), "mode"),
        ({"order": "backward"}, np.arange(100.0), "order"),
    ],
)
def test_kl_bad_input(kwargs, y, match):
    x = np.random.default_rng(0).normal(size=100)
    with pytest.raises(ValueError, match=match):
        jaxmi.gmm_kl(jax.random.key(0), x, y, **kwargs)


# ----------------------------------------------------------------------------------------------
# pairwise matrix
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pairwise_entries_equal_single_calls(rho06, dtype):
    """The batched pairs equal single calls: to rounding in float64; in float32 the batched and
    single programs round differently and EM (stopping at tol) carries that to ~1e-4 nats."""
    z, _ = rho06
    rng = np.random.default_rng(13)
    a = np.stack([z[:, 0], rng.normal(size=N)], axis=1)
    b = z[:, 1:]
    key = jax.random.key(14)
    with jax.enable_x64(dtype == "float64"):
        res = jaxmi.gmm_mi_pairwise(key, a, b, dtype=dtype, **FAST)
        assert res.mi.shape == (2, 1) and bool(res.estimated.all())
        assert res.mi.dtype == np.dtype(dtype)
        for i in range(2):
            single = jaxmi.gmm_mi(
                jax.random.fold_in(jax.random.fold_in(key, i), 0),
                a[:, i],
                b[:, 0],
                dtype=dtype,
                **FAST,
            )
            assert int(res.n_components[i, 0]) == int(single.n_components)
            if dtype == "float64":
                np.testing.assert_allclose(float(res.mi[i, 0]), float(single.mi), rtol=1e-6)
                np.testing.assert_allclose(float(res.std[i, 0]), float(single.std), rtol=1e-5)
            else:
                assert abs(float(res.mi[i, 0]) - float(single.mi)) < 0.05 * float(single.std)
                np.testing.assert_allclose(float(res.std[i, 0]), float(single.std), rtol=0.05)
    assert float(res.mi[0, 0]) > 0.15 > abs(float(res.mi[1, 0]))


def test_batch_entries_equal_single_calls(rho06):
    """Datasets of different difficulty (so they leave the K search at different candidates):
    entry i equals gmm_mi(fold_in(key, i), x[i], y[i]). float32 with the shapes and options of
    the tests above (their compiled programs are reused); batched and single programs round
    differently, as in the pairwise test, so values agree to a fraction of the error bar."""
    z, _ = rho06
    rng = np.random.default_rng(21)
    indep = rng.normal(size=(N, 2))
    x = np.stack([z[:, 0], indep[:, 0]])
    y = np.stack([z[:, 1], indep[:, 1]])
    key = jax.random.key(22)
    res = jaxmi.gmm_mi_batch(key, x, y, **FAST)
    assert res.mi.shape == (2,) and res.samples.shape == (2, FAST["n_bootstrap"])
    # the two datasets left the K search at different candidates: cv_scores is padded
    assert np.isneginf(np.asarray(res.cv_scores)).any()
    for i in range(2):
        single = jaxmi.gmm_mi(jax.random.fold_in(key, i), x[i], y[i], **FAST)
        assert int(res.n_components[i]) == int(single.n_components)
        assert abs(float(res.mi[i]) - float(single.mi)) < 0.05 * float(single.std)
        np.testing.assert_allclose(float(res.std[i]), float(single.std), rtol=0.05)
        k = single.cv_scores.shape[0]
        np.testing.assert_allclose(res.cv_scores[i, :k], single.cv_scores, rtol=1e-4)
        assert np.all(np.isneginf(np.asarray(res.cv_scores[i, k:])))
    assert float(res.mi[0]) > 0.15 > abs(float(res.mi[1]))


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((3,)), np.zeros((3,)), "x: expected"),
        (np.ones((2, 50)), np.ones((2, 40)), "y: has shape"),
        (np.ones((2, 50)), np.ones((3, 50)), "y: has shape"),
        (np.stack([np.arange(50.0), np.full(50, np.nan)]), np.ones((2, 50)), r"x\[1\]"),
    ],
)
def test_batch_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        jaxmi.gmm_mi_batch(jax.random.key(0), x, y)


def test_pairwise_within_one_array_is_symmetric_with_infinite_diagonal(rho06):
    z, _ = rho06
    a = np.concatenate([z, np.random.default_rng(15).normal(size=(N, 1))], axis=1)
    res = jaxmi.gmm_mi_pairwise(jax.random.key(16), a, **FAST)
    mi = np.asarray(res.mi)
    assert np.all(np.isinf(np.diag(mi))) and not np.any(np.diag(np.asarray(res.estimated)))
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_array_equal(mi[off], mi.T[off])
    assert np.all(np.isfinite(mi[off]))


def test_pairwise_matrix_in_blocks_is_the_same(monkeypatch):
    """Pairs (and gmm_mi_batch's datasets) are fitted in blocks of PAIR_BLOCK_SAMPLES padded
    samples, so memory stays bounded: the same matrix to the bit (continuous, categorical,
    batch), and the warnings on the fits name datasets of every block in one warning, as
    without blocks."""
    from jaxmi.gmm import _mi

    rng = np.random.default_rng(31)
    x = rng.normal(size=(N, 2))
    # pairs (0, 0) and (1, 1): y = 2 x + 1, whose fits are mostly regulariser (warns)
    a, b = x, 2 * x + 1
    # classes of 1,024 and 682-683 samples: every block pads its classes to 1,024, as the whole
    # matrix does (a block pads to its own longest class, which rounds like a single call)
    labels = np.c_[x[:, 0] > np.median(x[:, 0]), rng.permutation(N) % 3]
    # batch datasets 0 and 3 are the two warned pairs, one in each block of two
    noise = rng.normal(size=(2, N))
    xb, yb = np.r_[x.T, x.T], np.r_[b[:, :1].T, noise, b[:, 1:].T]
    opts = dict(n_bootstrap=4, n_components=1)  # closed-form fits: few, light programs
    calls = []
    fit_many = _mi._fit_many
    monkeypatch.setattr(
        _mi,
        "_fit_many",
        lambda data, *a, **k: (calls.append(len(data.n)), fit_many(data, *a, **k))[1],
    )

    def run():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cont = jaxmi.gmm_mi_pairwise(KEY0, a, b, **opts)
            cat = jaxmi.gmm_mi_pairwise(KEY0, a, labels, categorical=True, **opts)
            batch = jaxmi.gmm_mi_batch(KEY0, xb, yb, **opts)
        return (cont, cat, batch), sorted(str(w.message) for w in caught)

    whole = run()
    # one block each: 4 pairs; 2 + 3 classes for each latent; 4 datasets
    assert calls == [4, 10, 4]
    monkeypatch.setattr(_mi, "PAIR_BLOCK_SAMPLES", 2 * N)
    calls.clear()
    blocked = run()
    # 2 pairs a block; categorical: 2 x 1,024 and 3 x 1,024 padded samples a pair, 3 blocks
    assert calls == [2, 2, 5, 2, 3, 2, 2]
    for one, other in zip(whole[0], blocked[0], strict=True):
        for field, value in one._asdict().items():
            np.testing.assert_array_equal(getattr(other, field), value, err_msg=field)
    degenerate = [w for w in whole[1] if "reg_covar" in w]
    pairs = [w for w in degenerate if "pair (0, 0)" in w]
    batch = [w for w in degenerate if "x[0], y[0]" in w]
    assert len(degenerate) == 2 and len(pairs) == len(batch) == 1
    assert "pair (1, 1)" in pairs[0] and "x[3], y[3]" in batch[0]
    assert blocked[1] == whole[1]


def test_pairwise_heatmap_renders(tmp_path, rho06):
    import matplotlib

    matplotlib.use("Agg")
    z, _ = rho06
    res = jaxmi.gmm_mi_pairwise(jax.random.key(17), z[:, :1], z[:, 1:], **FAST)
    ax = jaxmi.plot.plot_mi_matrix(res, row_labels=["x"], col_labels=["y"])
    ax.figure.savefig(tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 5000
    with pytest.raises(ValueError, match="row_labels"):
        jaxmi.plot.plot_mi_matrix(res, row_labels=["a", "b"])


def test_pairwise_without_replicates_has_no_std_like_gmm_mi(rho06):
    """With fewer than 2 replicates there is no spread: std is None, as in MIResult (it was a
    matrix of zeros, an error bar of 0), and the heatmap shows the MI alone."""
    import matplotlib

    matplotlib.use("Agg")
    z, _ = rho06
    key = jax.random.key(18)
    opts = dict(FAST, n_bootstrap=0)
    res = jaxmi.gmm_mi_pairwise(key, z[:, :1], z[:, 1:], **opts)
    single = jaxmi.gmm_mi(
        jax.random.fold_in(jax.random.fold_in(key, 0), 0), z[:, 0], z[:, 1], **opts
    )
    assert res.std is None and single.std is None
    assert abs(float(res.mi[0, 0]) - float(single.mi)) < 1e-3
    texts = [t.get_text() for t in jaxmi.plot.plot_mi_matrix(res).texts]
    assert texts == [f"{float(res.mi[0, 0]):.3f}"]


def _random_bivariate_mixtures(rng, shape: tuple, kc: int):
    """Random float32 bivariate mixtures of ``kc`` components with leading axes ``shape``."""
    from jaxmi.gmm._mixture import GMM, precision_cholesky

    w = rng.dirichlet(np.ones(kc), size=shape).astype(np.float32)
    mu = rng.normal(size=(*shape, kc, 2)).astype(np.float32)
    a = 0.5 * rng.normal(size=(*shape, kc, 2, 2)).astype(np.float32)
    cov = a @ np.swapaxes(a, -1, -2) + 0.2 * np.eye(2, dtype=np.float32)
    return GMM(w, mu, cov, np.asarray(precision_cholesky(cov)), np.ones(w.shape, bool))


def test_rqmc_integral_runs_in_calls_within_the_vmapped_points(monkeypatch):
    # beyond _VMAP_MAX_POINTS the RQMC program loops over chunks inside, which XLA:CPU ran
    # 3.5x slower: _integrate gives it calls of at most that many points, and the loop emitters
    # where one data set's replicates alone take more than 2 chunks, to the same values
    from jaxmi.gmm import _integrate as integrate_mod
    from jaxmi.gmm import _mi

    d_count, r = 7, 3  # 7 data sets, each a full fit and 2 replicates
    g = _random_bivariate_mixtures(np.random.default_rng(7), (d_count, r), 2)
    keys = jax.random.split(jax.random.key(8), d_count)
    mc = dict(n_samples=1024, kind="mi", blocks=((0,), (1,)))
    calls, real = [], _mi._rqmc_jit

    def spy(name, program):
        def call(k, gg, **kw):
            calls.append((name, gg.weights.shape[0]))
            return program(k, gg, **kw)

        return call

    monkeypatch.setattr(_mi, "_rqmc_jit", spy("fusion", real))
    monkeypatch.setattr(_mi, "_rqmc_loops_jit", spy("loops", _mi._rqmc_loops_jit))
    runs = {}
    # 2 data sets a call; then 1 mixture a chunk: a call maps over 3 chunks of replicates, with
    # the loop emitters
    for budget in (2 * r * 1024, 1024):
        monkeypatch.setattr(integrate_mod, "_VMAP_MAX_POINTS", budget)
        runs[budget] = _mi._integrate(keys, g, mesh=None, rule="rqmc", **mc)
    if jax.default_backend() == "cpu":
        assert calls == [("fusion", 2)] * 4 + [("loops", 1)] * 7  # the last call padded
    for vals, ses in runs.values():
        assert vals.shape == ses.shape == (d_count, r) and np.all(ses > 0)
        for i in range(d_count):  # each data set alone: one vmapped call
            one = jax.device_get(
                real(keys[i : i + 1], jax.tree.map(lambda t, i=i: t[i : i + 1], g), **mc)
            )
            np.testing.assert_allclose(vals[i], one[0][0], rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(ses[i], one[1][0], rtol=1e-5, atol=1e-8)


def test_rqmc_integral_over_a_cpu_mesh_runs_in_rounds(monkeypatch):
    # over a mesh of CPU devices the same bound holds per device: several rounds of one
    # sharded program, to the single-device values (a one-device mesh here; the 8-device and
    # two-process runs are tests/gmm/test_sharding.py)
    from jaxmi.gmm import _integrate as integrate_mod
    from jaxmi.gmm import _mi

    d_count, r = 5, 3
    g = _random_bivariate_mixtures(np.random.default_rng(9), (d_count, r), 2)
    keys = jax.random.split(jax.random.key(10), d_count)
    mc = dict(n_samples=1024, kind="mi", blocks=((0,), (1,)))
    mesh = jax.make_mesh((1,), ("pairs",), axis_types=(jax.sharding.AxisType.Explicit,))
    made, real = [], _mi._sharded_integral

    def spy(*args, **kw):
        program = real(*args, **kw)

        def call(k, gg):
            made.append((args[2], gg.weights.shape[0]))
            return program(k, gg)

        return call

    monkeypatch.setattr(_mi, "_sharded_integral", spy)
    monkeypatch.setattr(integrate_mod, "_VMAP_MAX_POINTS", 2 * r * 1024)  # 2 data sets a call
    vals, ses = _mi._integrate(keys, g, mesh=mesh, rule="rqmc", **mc)
    want = _mi._integrate(keys, g, mesh=None, rule="rqmc", **mc)
    assert made == [(False, 2)] * 3  # 3 rounds of one program, the last padded
    np.testing.assert_allclose(vals, want[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ses, want[1], rtol=1e-5, atol=1e-8)


def test_integral_rules_agree_and_rqmc_is_the_validated_default(rho06):
    z, _ = rho06
    opts = dict(n_bootstrap=8, n_components=2)  # (one component takes the closed form)
    auto = jaxmi.gmm_mi(jax.random.key(2), z[:, 0], z[:, 1], **opts)
    rq = jaxmi.gmm_mi(jax.random.key(2), z[:, 0], z[:, 1], integral="rqmc", **opts)
    mc = jaxmi.gmm_mi(jax.random.key(2), z[:, 0], z[:, 1], integral="mc", **opts)
    np.testing.assert_array_equal(auto.samples, rq.samples)  # auto = rqmc in 2-D
    # same fits, different rules: replicate values agree within the MC error of 1e5 draws
    diff = np.asarray(rq.samples, np.float64) - np.asarray(mc.samples, np.float64)
    assert np.max(np.abs(diff)) < 4 * 0.6 / math.sqrt(1e5)
    assert float(rq.point_stderr) < float(mc.point_stderr) / 5
    # a given point count names its rule: mc_samples under "auto" is plain Monte Carlo (it was
    # silently ignored, the RQMC default running instead); contradictions raise
    given = jaxmi.gmm_mi(jax.random.key(2), z[:, 0], z[:, 1], mc_samples=100_000, **opts)
    np.testing.assert_array_equal(given.samples, mc.samples)
    for bad, match in [
        (dict(integral="rqmc", mc_samples=1000), "^mc_samples: sets the points of integral='mc'"),
        (dict(integral="mc", rqmc_points=1024), "^rqmc_points: sets the points of"),
        (dict(mc_samples=1000, rqmc_points=1024), "^mc_samples, rqmc_points: give one"),
    ]:
        with pytest.raises(ValueError, match=match):
            jaxmi.gmm_mi(jax.random.key(2), z[:, 0], z[:, 1], **bad, **opts)
    with pytest.raises(ValueError, match="integral"):
        jaxmi.gmm_mi(jax.random.key(2), z[:, 0], z[:, 1], integral="gauss-hermite")
    with pytest.raises(ValueError, match="rqmc_points"):
        jaxmi.gmm_mi(jax.random.key(2), z[:, 0], z[:, 1], rqmc_points=1001)
    w = np.random.default_rng(0).normal(size=(300, 7))
    with pytest.raises(ValueError, match="integral: 'rqmc' is validated up to 6"):
        jaxmi.gmm_mi(jax.random.key(2), w[:, :3], w[:, 3:], integral="rqmc", n_bootstrap=2)
    with pytest.raises(ValueError, match="integral: 'rqmc' is validated up to 6"):
        jaxmi.gmm_mi(jax.random.key(2), w[:, :3], w[:, 3:], rqmc_points=1024, n_bootstrap=2)


@pytest.mark.parametrize("metric", ["aic", "bic"])
def test_information_criteria_select_the_planted_components(metric):
    rng = np.random.default_rng(7)
    means = np.array([[-4.0, 0.0], [0.0, 3.0], [4.0, 0.0]])
    z = means[rng.integers(0, 3, 1200)] + rng.normal(size=(1200, 2)) * 0.5
    r = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], metric=metric, n_bootstrap=3)
    assert int(r.n_components) == 3
    scores = np.asarray(r.cv_scores)
    assert np.all(np.isfinite(scores)) and np.argmax(scores) == 2
    # 2 n ll - penalty * params: on this scale, K = 3 beats K = 1 by hundreds of nats
    assert scores[2] - scores[0] > 100
