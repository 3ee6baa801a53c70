"""Malformed inputs end in a clear ValueError naming the argument (never a silent NaN)."""

import math

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxmi import tasks

KEY = jax.random.key(0)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = set(tasks.names())
T = tasks.get("1v1-normal-0.75")

not_finite = st.sampled_from([math.nan, math.inf, -math.inf])
non_numbers = st.one_of(st.none(), st.text(max_size=5), st.lists(st.floats(), max_size=2))


@SETTINGS
@given(st.text(max_size=40).filter(lambda s: s not in NAMES))
def test_unknown_names(name):
    with pytest.raises(ValueError, match="name: unknown task"):
        tasks.get(name)


@given(st.one_of(st.integers(), st.floats(), st.none(), st.binary()))
@SETTINGS
def test_non_string_names(name):
    with pytest.raises(ValueError, match="name"):
        tasks.get(name)


def test_close_matches_are_suggested():
    with pytest.raises(ValueError, match=r"did you mean '1v1-normal-0\.75'"):
        tasks.get("1v1-normal-0.7")
    with pytest.raises(ValueError, match=r"multinormal-dense-5-5-0\.5"):
        tasks.get("multinormal-dense-5-5-0.50")


@SETTINGS
@given(st.integers(max_value=0))
def test_n_below_one(n):
    with pytest.raises(ValueError, match="n: must be >= 1"):
        T.sample(KEY, n)


@SETTINGS
@given(
    st.one_of(st.floats(), st.text(max_size=3), st.none(), st.booleans(), st.just(np.float32(3)))
)
def test_non_integer_n(n):
    with pytest.raises(ValueError, match="n:"):
        T.sample(KEY, n)


@SETTINGS
@given(st.one_of(st.integers(), st.floats(), st.none(), st.text(max_size=3)))
def test_non_keys(key):
    with pytest.raises(ValueError, match="key"):
        T.sample(key, 10)


def test_batched_or_float_keys_rejected():
    with pytest.raises(ValueError, match="key"):
        T.sample(jax.random.split(KEY, 2), 10)
    with pytest.raises(ValueError, match="key"):
        T.sample(np.zeros(2, np.float32), 10)


def test_legacy_uint32_key_accepted():
    x, _ = T.sample(jax.random.PRNGKey(0), 4)
    assert x.shape == (4, 1)


outside_unit = st.one_of(
    st.floats(min_value=1.0, allow_nan=False),
    st.floats(max_value=-1.0, allow_nan=False),
    not_finite,
)


@SETTINGS
@given(outside_unit)
def test_rho_outside_open_interval(rho):
    for ctor in (tasks.bivariate_normal, tasks.bimodal, tasks.gmmmi_normal, tasks.mixture_x):
        with pytest.raises(ValueError, match=r"rho|correlation"):
            ctor(rho)


@SETTINGS
@given(non_numbers)
def test_rho_not_a_number(rho):
    with pytest.raises(ValueError, match="rho"):
        tasks.bivariate_normal(rho)


@SETTINGS
@given(st.one_of(st.floats(max_value=0.0, allow_nan=False), not_finite))
def test_nonpositive_scalars(v):
    cases = [
        (lambda: tasks.additive_uniform(v), "eps"),
        (lambda: tasks.student_identity(2, 2, v), "dof"),
        (lambda: tasks.gamma_exponential(v), "alpha"),
        (lambda: tasks.weinman(v), "alpha"),
        (lambda: tasks.gamma_exponential_mi(v), "alpha"),
        (lambda: tasks.weinman_mi(v), "alpha"),
        (lambda: tasks.power(T, v), "exponent"),
    ]
    for fn, arg in cases:
        with pytest.raises(ValueError, match=arg):
            fn()


@SETTINGS
@given(st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=2)))
def test_bad_dimensions(d):
    for fn in (
        lambda: tasks.multinormal_dense(d, 2),
        lambda: tasks.multinormal_sparse(3, d),
        lambda: tasks.student_identity(d, 1, 3),
        lambda: tasks.staircase(d, 2.0),
        lambda: tasks.concentric_gaussians(d, 3),
        lambda: tasks.gao_uniform_mixture(d),
    ):
        with pytest.raises(ValueError, match=r"dim|m:"):
            fn()


@SETTINGS
@given(st.one_of(st.floats(min_value=1.0000001, allow_nan=False),
                 st.floats(max_value=-1e-12, allow_nan=False), not_finite))  # fmt: skip
def test_zip_probability_outside_unit_interval(p):
    with pytest.raises(ValueError, match="p:"):
        tasks.zero_inflated_poisson(p)


@SETTINGS
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5))
def test_bad_priors(prior):
    p = np.asarray(prior)
    valid = np.all(np.isfinite(p)) and np.all(p >= 0) and abs(p.sum() - 1) <= 1e-9
    if valid:
        return
    with pytest.raises(ValueError, match="prior"):
        tasks.gao_uniform_mixture(len(prior), prior)
    with pytest.raises(ValueError, match="probs"):
        tasks.categorical_gaussian(prior, np.zeros(len(prior)))


def test_other_bad_parameters():
    cases = [
        (lambda: tasks.multinormal_dense(2, 2, 1.0), "off_diag"),
        (lambda: tasks.multinormal_dense(2, 2, -0.5), "off_diag"),
        (lambda: tasks.multinormal_sparse(2, 2, 3), "n_interacting"),
        (lambda: tasks.multinormal([[1.0, 2.0], [2.0, 1.0]], 1), "positive definite"),
        (lambda: tasks.multinormal([[1.0, 0.1], [0.2, 1.0]], 1), "symmetric"),
        (lambda: tasks.multinormal(np.eye(3), 3), "dim_x"),
        (lambda: tasks.staircase(20, -1.0), "mi"),
        (lambda: tasks.staircase(20, 2.0, cubic="yes"), "cubic"),
        (lambda: tasks.staircase_schedule(3), "n_steps"),
        (lambda: tasks.staircase_schedule(10, levels=()), "levels"),
        (lambda: tasks.staircase_schedule(10, levels=(2.0, -1.0)), "levels"),
        (lambda: tasks.gao_uniform_mixture_multivariate([]), "ms"),
        (lambda: tasks.gao_uniform_mixture_multivariate([2, 0]), "ms"),
        (lambda: tasks.gmmmi_normal(0.6, "sqrt"), "transform"),
        (lambda: tasks.gmmmi_dataset("D4"), "which"),
        (lambda: tasks.gamma_exponential(1.0, log_scale="no"), "log_scale"),
        (lambda: tasks.gao_uniform_mixture(3, labels=(1, 1, 2)), "labels"),
        (lambda: tasks.gao_uniform_mixture(3, labels=(1, 2)), "labels"),
        (lambda: tasks.categorical_gaussian([0.5, 0.5], [0.0, 1.0], [1.0, 0.0]), "stds"),
        (lambda: tasks.categorical_gaussian([0.5, 0.5], [0.0], 1.0), "means"),
        (lambda: tasks.sparse_with_inliers(inlier_fraction=1.0), "inlier_fraction"),
        (lambda: tasks.spiral(tasks.bivariate_normal(0.5)), "plane_x"),
        (lambda: tasks.spiral(tasks.multinormal_dense(2, 2)), "plane_y"),
        (lambda: tasks.swissroll_x(tasks.multinormal_dense(2, 2)), "dim_x"),
        (lambda: tasks.normal_cdf("1v1-normal-0.75"), "task"),
        (lambda: tasks.normal_cdf(tasks.get("gao-uniform-mixture-3")), "x_fn"),
        (lambda: tasks.mixture_task("gmm", 1), "gmm"),
        (lambda: tasks.mixture_task(([1.0], [[0.0, 0.0]], [np.eye(2)]), 2), "dim_x"),
        (lambda: tasks.mixture_task(([-1.0], [[0.0, 0.0]], [np.eye(2)]), 1), "weights"),
        (lambda: tasks.mixture_task(([1.0], [[0.0, 0.0]], [-np.eye(2)]), 1), "positive definite"),
        (lambda: tasks.mc_mutual_information(KEY, T, 1), "n:"),
        (lambda: tasks.mc_mutual_information(KEY, T, 100, chunk=0), "chunk"),
        (lambda: tasks.mc_mutual_information(0, T, 100), "key"),
        (lambda: tasks.mc_mutual_information(KEY, "1v1-normal-0.75", 100), "task"),
    ]
    for fn, msg in cases:
        with pytest.raises(ValueError, match=msg):
            fn()


def test_density_inputs_checked():
    with pytest.raises(ValueError, match="x"):
        T.log_prob_x(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="rows"):
        T.pmi(np.zeros((3, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="NaN"):
        T.log_prob_xy(np.full((2, 1), np.nan), np.zeros((2, 1)))


def test_task_is_frozen():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        T.mi = 1.0
