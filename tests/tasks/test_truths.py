"""Ground-truth values against the spec (docs: /shared/spec/tasks.md §2–§8, pinned in §10)."""

import math

import numpy as np
import pytest

from jaxmi import tasks

# (id, title, dx, dy, bmi 4-decimal value, exact value) — spec §4, in bmi's order
V1_TABLE = [
    ("1v1-normal-0.75", "Bivariate normal 1 × 1", 1, 1, 0.4133, 0.413339),
    ("normal_cdf-1v1-normal-0.75", "Normal CDF @ Bivariate normal 1 × 1", 1, 1, 0.4133, 0.413339),
    ("1v1-additive-0.1", "Uniform 1 × 1 (additive noise=0.1)", 1, 1, 1.7094, 1.709438),
    ("1v1-additive-0.75", "Uniform 1 × 1 (additive noise=0.75)", 1, 1, 0.3333, 0.333333),
    ("1v1-bimodal-0.75", "Bimodal 1 × 1", 1, 1, 0.4133, 0.413339),
    ("wiggly-1v1-normal-0.75", "Wiggly @ Bivariate normal 1 × 1", 1, 1, 0.4133, 0.413339),
    ("half_cube-1v1-normal-0.75", "Half-cube @ Bivariate normal 1 × 1", 1, 1, 0.4133, 0.413339),
    ("student-identity-1-1-1", "Student-t 1 × 1 (dof=1)", 1, 1, 0.2242, 0.224171),
    ("asinh-student-identity-1-1-1", "Asinh @ Student-t 1 × 1 (dof=1)", 1, 1, 0.2242, 0.224171),
    ("swissroll_x-normal_cdf-1v1-normal-0.75", "Swiss roll 2 × 1", 2, 1, 0.4133, 0.413339),
    ("multinormal-dense-2-2-0.5", "Multinormal 2 × 2 (dense)", 2, 2, 0.2939, 0.293893),
    ("multinormal-dense-3-3-0.5", "Multinormal 3 × 3 (dense)", 3, 3, 0.4133, 0.413339),
    ("multinormal-dense-5-5-0.5", "Multinormal 5 × 5 (dense)", 5, 5, 0.5928, 0.592812),
    ("multinormal-dense-25-25-0.5", "Multinormal 25 × 25 (dense)", 25, 25, 1.2922, 1.292184),
    ("multinormal-dense-50-50-0.5", "Multinormal 50 × 50 (dense)", 50, 50, 1.6243, 1.624265),
    ("multinormal-sparse-2-2-2-2.0", "Multinormal 2 × 2 (2-pair)", 2, 2, 1.0217, 1.021651),
    ("multinormal-sparse-3-3-2-2.0", "Multinormal 3 × 3 (2-pair)", 3, 3, 1.0217, 1.021651),
    ("multinormal-sparse-5-5-2-2.0", "Multinormal 5 × 5 (2-pair)", 5, 5, 1.0217, 1.021651),
    ("multinormal-sparse-25-25-2-2.0", "Multinormal 25 × 25 (2-pair)", 25, 25, 1.0217, 1.021651),
    ("student-identity-2-2-1", "Student-t 2 × 2 (dof=1)", 2, 2, 0.4319, 0.431946),
    ("student-identity-2-2-2", "Student-t 2 × 2 (dof=2)", 2, 2, 0.1931, 0.193147),
    ("student-identity-3-3-2", "Student-t 3 × 3 (dof=2)", 3, 3, 0.2909, 0.290922),
    ("student-identity-3-3-3", "Student-t 3 × 3 (dof=3)", 3, 3, 0.1787, 0.178712),
    ("student-identity-5-5-2", "Student-t 5 × 5 (dof=2)", 5, 5, 0.4482, 0.448151),
    ("student-identity-5-5-3", "Student-t 5 × 5 (dof=3)", 5, 5, 0.2985, 0.298544),
    *[
        (
            f"{pre}-multinormal-sparse-{d}-{d}-2-2.0",
            f"{label} @ Multinormal {d} × {d} (2-pair)",
            d,
            d,
            1.0217,
            1.021651,
        )
        for pre, label in (
            ("normal_cdf", "Normal CDF"),
            ("half_cube", "Half-cube"),
            ("spiral", "Spiral"),
            ("spiral-normal_cdf", "Spiral @ Normal CDF"),
        )
        for d in (3, 5, 25)
    ],
    ("asinh-student-identity-2-2-1", "Asinh @ Student-t 2 × 2 (dof=1)", 2, 2, 0.4319, 0.431946),
    ("asinh-student-identity-3-3-2", "Asinh @ Student-t 3 × 3 (dof=2)", 3, 3, 0.2909, 0.290922),
    ("asinh-student-identity-5-5-2", "Asinh @ Student-t 5 × 5 (dof=2)", 5, 5, 0.4482, 0.448151),
]
INHERITED = {row[0] for row in V1_TABLE[25:]} | {
    "normal_cdf-1v1-normal-0.75",
    "1v1-bimodal-0.75",
    "wiggly-1v1-normal-0.75",
    "half_cube-1v1-normal-0.75",
    "asinh-student-identity-1-1-1",
    "swissroll_x-normal_cdf-1v1-normal-0.75",
}


def test_v1_ids_in_bmi_order():
    assert len(V1_TABLE) == 40
    assert tasks.BMI_V1 == tuple(row[0] for row in V1_TABLE)


@pytest.mark.parametrize("row", V1_TABLE, ids=[r[0] for r in V1_TABLE])
def test_v1_truth(row):
    name, title, dx, dy, bmi, exact = row
    t = tasks.get(name)
    assert t.name == name
    assert t.title == title
    assert (t.dim_x, t.dim_y) == (dx, dy)
    assert isinstance(t.mi, float)
    assert abs(t.mi - bmi) <= 1e-4
    assert abs(t.mi - exact) <= 1e-6
    assert t.mi_stderr == 0.0
    assert t.mi_method == ("inherited" if name in INHERITED else "closed_form")


def test_v1_transformed_tasks_keep_their_base():
    t = tasks.get("spiral-normal_cdf-multinormal-sparse-5-5-2-2.0")
    assert t.base.name == "normal_cdf-multinormal-sparse-5-5-2-2.0"
    assert t.base.base.name == "multinormal-sparse-5-5-2-2.0"
    assert t.base.base.base is None


# ---- §10 pins -------------------------------------------------------------------------------


@pytest.mark.parametrize(("rho", "mi"), [(0.75, 0.413339), (0.6, 0.223144), (-0.6, 0.223144)])
def test_bivariate_normal(rho, mi):
    assert tasks.bivariate_normal(rho).mi == pytest.approx(mi, abs=1e-6)


def test_bivariate_normal_paper_grid_ends():
    # GMM-MI Fig. 1: I from 1.9585 at |ρ| = 0.99 down to 0.0014 at |ρ| = 0.0521
    grid = np.linspace(-0.99, 0.99, 20)
    mis = [tasks.bivariate_normal(r).mi for r in grid]
    assert max(mis) == pytest.approx(1.9585, abs=1e-4)
    assert min(mis) == pytest.approx(0.0014, abs=1e-4)


@pytest.mark.parametrize(
    ("d", "mi"),
    [(2, 0.293893), (3, 0.413339), (5, 0.592812), (25, 1.292184), (50, 1.624265)],
)
def test_dense(d, mi):
    t = tasks.multinormal_dense(d, d, 0.5)
    assert t.mi == pytest.approx(mi, abs=1e-6)
    assert t.mi == pytest.approx(0.5 * math.log((d + 1) ** 2 / (2 * d + 1)), abs=1e-12)


@pytest.mark.parametrize("d", [2, 3, 4, 7, 25, 40])
def test_two_pair_any_dimension(d):
    assert tasks.multinormal_sparse(d, d).mi == pytest.approx(1.021651, abs=1e-6)
    assert tasks.multinormal_sparse(d, d + 3).mi == pytest.approx(-math.log(0.36), abs=1e-12)


def test_sparse_equals_lvm_parametrisation():
    t = tasks.multinormal_lvm(3, 3, 2, 0.0, 2.0)
    assert t.name == "multinormal-lvm-3-3-2-0.00000-2.00000-0.00000-2.00000"
    assert t.mi == pytest.approx(1.021651, abs=1e-6)
    # a shared latent adds dependence
    assert tasks.multinormal_lvm(3, 3, 2, 1.0, 2.0).mi > t.mi


@pytest.mark.parametrize(
    ("k", "nu", "h"),
    [(1, 1, 2.531024), (2, 1, 4.837877), (4, 1, 9.243809), (2, 2, 3.837877), (4, 2, 7.482607)],
)
def test_student_entropy_check_values(k, nu, h):
    assert tasks.student_t_entropy(k, nu) == pytest.approx(h, abs=1e-6)


def test_cauchy_entropy_is_log_4pi():
    assert tasks.student_t_entropy(1, 1) == pytest.approx(math.log(4 * math.pi), abs=1e-12)


@pytest.mark.parametrize(
    ("d", "nu", "mi"),
    [
        (1, 1, 0.224171),
        (2, 1, 0.431946),
        (2, 2, 0.193147),
        (3, 2, 0.290922),
        (3, 3, 0.178712),
        (5, 2, 0.448151),
        (5, 3, 0.298544),
    ],
)
def test_student_identity(d, nu, mi):
    assert tasks.student_identity(d, d, nu).mi == pytest.approx(mi, abs=1e-6)


def test_student_t_general_dispersion_adds_gaussian_mi():
    cov = np.array([[1.0, 0.6], [0.6, 1.0]])
    t = tasks.student_t(cov, 1, 3.0)
    base = tasks.student_identity(1, 1, 3.0).mi
    assert t.mi == pytest.approx(base + 0.223144, abs=1e-6)


def test_student_large_dof_is_finite_and_tends_to_zero():
    # gammaln, not log(gamma): no overflow at large ν
    assert 0.0 <= tasks.student_identity(5, 5, 1e4).mi < 1e-5


@pytest.mark.parametrize(("eps", "mi"), [(0.1, 1.709438), (0.75, 0.333333)])
def test_additive(eps, mi):
    assert tasks.additive_uniform(eps).mi == pytest.approx(mi, abs=1e-6)


def test_additive_continuous_at_half():
    assert tasks.additive_uniform(0.5).mi == pytest.approx(0.5, abs=1e-12)
    assert tasks.additive_uniform(0.5 + 1e-9).mi == pytest.approx(0.5, abs=1e-8)


# ---- GMM-MI families (§6) ---------------------------------------------------------------------

GRID = 10 ** np.linspace(-1, 2, 20)
GAMMA_EXP = [
    1.878830, 1.576379, 1.295140, 1.040010, 0.815398, 0.624319, 0.467604, 0.343610, 0.248633,
    0.177809, 0.126078, 0.088858, 0.062363, 0.043640, 0.030476, 0.021254, 0.014808, 0.010310,
    0.007175, 0.004992,
]  # fmt: skip
WEINMAN = [
    1.736056, 1.426435, 1.138663, 0.880149, 0.658804, 0.480221, 0.343891, 0.243625, 0.171462,
    0.120177, 0.084007, 0.058620, 0.040857, 0.028453, 0.019805, 0.013780, 0.009585, 0.006666,
    0.004636, 0.003223,
]  # fmt: skip


@pytest.mark.parametrize("i", range(20))
def test_gamma_exponential_and_weinman_paper_grid(i):
    a = float(GRID[i])
    assert tasks.gamma_exponential(a).mi == pytest.approx(GAMMA_EXP[i], abs=1e-6)
    assert tasks.weinman(a).mi == pytest.approx(WEINMAN[i], abs=1e-6)


@pytest.mark.parametrize(
    ("a", "ge", "w"),
    [(1.0, 0.422784, 0.306853), (0.5, 0.729637, 0.577216), (2.0, 0.229637, 0.157500),
     (10.0, 0.049167, 0.032103)],
)  # fmt: skip
def test_gamma_exponential_and_weinman_anchors(a, ge, w):
    assert tasks.gamma_exponential_mi(a) == pytest.approx(ge, abs=1e-6)
    assert tasks.weinman_mi(a) == pytest.approx(w, abs=1e-6)


def test_closed_form_identities():
    euler = 0.5772156649015329
    assert tasks.gamma_exponential_mi(1.0) == pytest.approx(1 - euler, abs=1e-12)
    assert tasks.weinman_mi(1.0) == pytest.approx(1 - math.log(2), abs=1e-12)
    assert tasks.weinman_mi(0.25) == pytest.approx(1.0, abs=1e-12)
    assert tasks.weinman_mi(0.5) == pytest.approx(euler, abs=1e-12)
    # continuity across α = ½ (no cancellation)
    for eps in (1e-6, 1e-9, 1e-12):
        assert tasks.weinman_mi(0.5 - eps) == pytest.approx(euler, abs=1e-5)
        assert tasks.weinman_mi(0.5 + eps) == pytest.approx(euler, abs=1e-5)


def test_gamma_exponential_against_scipy_digamma():
    from scipy.special import digamma

    for a in (0.01, 0.3, 1.7, 55.0, 1e4):
        assert tasks.gamma_exponential_mi(a) == pytest.approx(
            digamma(a + 1) - math.log(a), abs=1e-11
        )


def test_gmmmi_normal_invariance_tasks():
    for t in ("identity", "log", "cube", "square"):
        task = tasks.get(f"gmmmi-normal-0.6-{t}")
        assert task.mi == pytest.approx(0.223144, abs=1e-6)
    assert "truncat" in tasks.get("gmmmi-normal-0.6-log").description


@pytest.mark.parametrize(
    ("which", "mi"),
    [("D1", 0.087177), ("D3", 0.132387), ("D3p", 0.388815), ("D3rho", 0.148267),
     ("D5", 0.168053), ("D5p", 0.179722)],
)  # fmt: skip
def test_dsets_quadrature_constants(which, mi):
    t = tasks.get(f"gmmmi-{which}")
    assert t.mi == pytest.approx(mi, abs=1e-5)
    assert t.mixture is not None
    # the reference's MC values agree within 2e-4 (spec §6.4)
    ref = {"D3": 0.13238, "D3p": 0.38893, "D3rho": 0.14825, "D5": 0.16811, "D5p": 0.17976}
    if which in ref:
        assert abs(t.mi - ref[which]) < 2e-4


# ---- bmi v2 (§5) -------------------------------------------------------------------------------

V2_TRUTH = {
    "1v1-X-0.9": (0.4088, 0.408443, 0.75),
    "1v1-AI": (0.7775, 0.775953, 0.86),
    "2v1-galaxy-0.5-3.0": (0.4933, 0.494298, 0.51),
    "2v1-waves-12-5.0-3.0": (1.3080, 1.307017, 0.38),
    "3v1-concentric_gaussians-5": (0.4563, 0.455423, 0.67),
    "5v1-concentric_gaussians-5": (0.6261, 0.627391, 0.71),
    "3v1-concentric_gaussians-10": (0.5563, 0.559916, 0.75),
    "5v1-concentric_gaussians-10": (0.7491, 0.751451, 0.80),
    "25v1-concentric_gaussians-5": (1.1902, 1.190768, 0.63),
    "mult-sparse-w-inliers-5-5-2-2.0-0.2": (0.6335, 0.63583, 1.16),
    "mult-sparse-w-inliers-25-25-2-2.0-0.2": (0.6345, 0.63583, 1.16),
    "mult-sparse-w-inliers-5-5-2-2.0-0.5": (0.2682, 0.26963, 0.84),
    "mult-sparse-w-inliers-25-25-2-2.0-0.5": (0.2707, 0.26963, 0.84),
}


def test_v2_group():
    assert len(tasks.BMI_V2) == 26
    assert len(set(tasks.BMI_V2)) == 26
    assert set(V2_TRUTH) <= set(tasks.BMI_V2)
    assert set(tasks.BMI_V2) - set(V2_TRUTH) <= set(tasks.BMI_V1)


@pytest.mark.parametrize("name", list(V2_TRUTH))
def test_v2_constants(name):
    bmi, hp, sd = V2_TRUTH[name]
    t = tasks.get(name)
    assert t.mi == pytest.approx(hp, abs=1e-6)
    # bmi's published MC value (1e5 samples) lies within 4 sd/sqrt(1e5) of the truth
    assert abs(bmi - t.mi) <= 4 * sd / math.sqrt(1e5)
    if "inliers" in name:
        assert t.mi_method == "monte_carlo" and t.mi_stderr > 0
    else:
        assert t.mi_method == "quadrature" and t.mi_stderr == 0.0


@pytest.mark.parametrize(
    ("d", "k", "mi"),
    [(3, 5, 0.455423), (5, 5, 0.627391), (3, 10, 0.559916), (5, 10, 0.751451),
     (25, 5, 1.190768), (25, 10, 1.387585)],
)  # fmt: skip
def test_concentric_quadrature_reproduces_spec(d, k, mi):
    # recomputed by jaxmi's own 1-D quadrature, not stored
    assert tasks.concentric_gaussians(d, k).mi == pytest.approx(mi, abs=1e-6)


def test_concentric_single_component_has_zero_mi():
    assert tasks.concentric_gaussians(4, 1).mi == 0.0


def test_galaxy_and_waves_mi_independent_of_bend_parameters():
    assert tasks.galaxy(2.0, 3.0).mi == tasks.galaxy().mi
    assert tasks.waves(12, 1.0, 0.5).mi == tasks.waves().mi


# ---- staircase (§7) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mi", "rho"),
    [(2.0, 0.425757), (4.0, 0.574178), (6.0, 0.671706), (8.0, 0.742072), (10.0, 0.795060)],
)
def test_staircase_rho(mi, rho):
    assert tasks.staircase_rho(mi, 20) == pytest.approx(rho, abs=1e-6)
    t = tasks.get(f"staircase-20-{mi}")
    assert t.params["rho"] == pytest.approx(rho, abs=1e-6)
    assert t.mi == mi
    # the covariance reproduces the target MI through the generic Gaussian formula
    d = 20
    cov = np.block(
        [[np.eye(d), t.params["rho"] * np.eye(d)], [t.params["rho"] * np.eye(d), np.eye(d)]]
    )
    assert tasks.gaussian_mi(cov, d) == pytest.approx(mi, abs=1e-9)
    assert tasks.get(f"cubic-staircase-20-{mi}").mi == mi


def test_staircase_schedule_clean_blocks():
    rho = tasks.staircase_schedule(20_000)
    assert rho.shape == (20_000,)
    levels = [tasks.staircase_rho(v, 20) for v in (2, 4, 6, 8, 10)]
    for b, r in enumerate(levels):
        block = rho[4000 * b : 4000 * (b + 1)]
        assert np.all(block == r)
    uneven = tasks.staircase_schedule(12, levels=(1.0, 2.0))
    assert np.sum(uneven == tasks.staircase_rho(1.0, 20)) == 6


# ---- discrete (§8) ---------------------------------------------------------------------------

GAO = [0.346574, 0.636514, 0.866434, 1.054920, 1.214137, 1.351784, 1.472938, 1.581094, 1.678753]


@pytest.mark.parametrize("m", range(2, 11))
def test_gao_uniform(m):
    t = tasks.get(f"gao-uniform-mixture-{m}")
    assert t.mi == pytest.approx(GAO[m - 2], abs=1e-6)
    assert t.x_kind == "discrete" and t.y_kind == "continuous"
    # the general-prior formula with a uniform prior gives the same value
    assert tasks.gao_uniform_mixture(m, np.full(m, 1 / m)).mi == pytest.approx(t.mi, abs=1e-12)


@pytest.mark.parametrize(
    ("prior", "mi"), [((0.5, 0.3, 0.2), 0.596775), ((0.7, 0.2, 0.1), 0.467974)]
)
def test_gao_general_prior(prior, mi):
    assert tasks.gao_uniform_mixture(3, prior).mi == pytest.approx(mi, abs=1e-6)


ZIP = {0.0: 0.301245, 0.1: 0.250807, 0.15: 0.229776, 0.2: 0.210468, 0.5: 0.116384, 0.9: 0.020906}
ZIP_BMI = {
    0.0: 0.301245,
    0.1: 0.271120,
    0.15: 0.256058,
    0.2: 0.240996,
    0.5: 0.150622,
    0.9: 0.030124,
}


@pytest.mark.parametrize("p", list(ZIP))
def test_zero_inflated_poisson_exact(p):
    t = tasks.get(f"zip-poisson-{p}")
    assert t.mi == pytest.approx(ZIP[p], abs=1e-6)
    assert t.params["bmi_mi"] == pytest.approx(ZIP_BMI[p], abs=1e-5)
    assert t.x_kind == "continuous" and t.y_kind == "discrete"


def test_zero_inflated_poisson_constants_and_limits():
    assert tasks.zero_inflated_poisson_mi(0.0) == pytest.approx(0.301245, abs=1e-6)
    assert tasks.zero_inflated_poisson_mi(1.0) == 0.0
    assert tasks.zero_inflated_poisson_mi(1 - 1e-9) == pytest.approx(0.0, abs=1e-7)


def test_zero_inflated_poisson_formula_by_independent_monte_carlo():
    # I = E[ln p(y|x) − ln p(y)], with p(y) = ∫ e^{-x} Pois(y; x) dx = 2^{-(y+1)} (inflated at 0)
    from scipy.stats import poisson

    rng = np.random.default_rng(0)
    p, n = 0.15, 400_000
    x = rng.exponential(size=n)
    y = np.where(rng.random(n) < p, 0, rng.poisson(x))
    py_x = (1 - p) * poisson.pmf(y, x) + p * (y == 0)
    py = (1 - p) * 0.5 ** (y + 1.0) + p * (y == 0)
    pmi = np.log(py_x) - np.log(py)
    se = pmi.std() / math.sqrt(n)
    assert abs(pmi.mean() - tasks.zero_inflated_poisson_mi(p)) < 4 * se
    # and bmi's linear formula is clearly off at p = 0.15
    assert abs(pmi.mean() - 0.256058) > 10 * se


CAT = {
    "cat-gauss-3-balanced": (0.619144, 0.619144, 1.098612),
    "cat-gauss-3-imbalanced": (0.445116, 0.619144, 0.801819),
    "cat-gauss-2-imbalanced": (0.042742, 0.111421, 0.325083),
    "cat-gauss-2-hetero": (0.474307, 0.474307, 0.693147),
}


@pytest.mark.parametrize("name", list(CAT))
def test_categorical_gaussian(name):
    mi, uniform, ent = CAT[name]
    t = tasks.get(name)
    assert t.mi == pytest.approx(mi, abs=1e-6)
    assert t.params["uniform_prior_mi"] == pytest.approx(uniform, abs=1e-6)
    assert t.params["label_entropy"] == pytest.approx(ent, abs=1e-6)
    assert t.mi_method == "quadrature"
    assert t.x_kind == "continuous" and t.y_kind == "discrete"


def test_categorical_gaussian_quadrature_against_scipy():
    from scipy.integrate import quad
    from scipy.stats import norm

    pi, mu, sd = np.array([0.2, 0.5, 0.3]), np.array([-1.0, 0.3, 2.5]), np.array([0.4, 1.3, 0.7])

    def f(x):
        comps = pi * norm.pdf(x, mu, sd)
        mix = comps.sum()
        return sum(c * math.log(c / (pi[i] * mix)) for i, c in enumerate(comps) if c > 0)

    ref = quad(f, -30, 30, limit=400, epsabs=1e-13, points=list(mu))[0]
    assert tasks.categorical_gaussian_mi(pi, mu, sd) == pytest.approx(ref, abs=1e-9)


# ---- registry ------------------------------------------------------------------------------


def test_groups_are_registered_and_disjoint_ids_unique():
    all_names = tasks.names()
    assert len(all_names) == len(set(all_names))
    for group in (tasks.BMI_V1, tasks.BMI_V2, tasks.GMMMI, tasks.STAIRCASE, tasks.DISCRETE):
        assert isinstance(group, tuple) and group
        assert set(group) <= set(all_names)
    assert len(tasks.STAIRCASE) == 10
    assert {f"gmmmi-{w}" for w in ("D1", "D3", "D3p", "D3rho", "D5", "D5p")} <= set(tasks.GMMMI)


def test_every_registered_task_is_well_formed():
    for name in tasks.names():
        t = tasks.get(name)
        assert t.name == name
        assert tasks.get(name) is t  # cached
        assert isinstance(t.mi, float) and math.isfinite(t.mi) and t.mi >= 0
        assert t.mi_method in ("closed_form", "inherited", "quadrature", "monte_carlo")
        assert (t.mi_stderr > 0) == (t.mi_method == "monte_carlo")
        assert isinstance(t.params, dict)
        assert name in repr(t) and "nats" in repr(t)


def test_variant_mi_follows_formula():
    assert tasks.bivariate_normal(0.3).name == "1v1-normal-0.3"
    assert tasks.bivariate_normal(0.3).mi == pytest.approx(-0.5 * math.log(1 - 0.09), abs=1e-12)
    assert tasks.spiral(tasks.multinormal_dense(3, 4, 0.2), speed=2.0).mi == pytest.approx(
        tasks.multinormal_dense(3, 4, 0.2).mi, abs=0
    )
