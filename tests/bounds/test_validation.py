"""Malformed inputs to every public bound raise a ValueError naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxmi import bounds

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GOOD = np.array([[1.0, 0.2, -0.3], [0.1, 0.8, 0.0], [-0.5, 0.4, 1.2]], np.float32)


def _matrix_calls(s):
    """Every public function taking a (K, K) matrix, as callables of it."""
    return [
        lambda: bounds.infonce(s),
        lambda: bounds.infonce(s, axis=0),
        lambda: bounds.dv(s),
        lambda: bounds.nwj(s),
        lambda: bounds.tuba(s, 0.0),
        lambda: bounds.uba(s, 0.0),
        lambda: bounds.js(s),
        lambda: bounds.js_fgan(s),
        lambda: bounds.smile(s, 5.0),
        lambda: bounds.interpolated(s, 0.0, 0.0),
        lambda: bounds.mine(s, bounds.mine_init()),
        lambda: bounds.club(s),
        lambda: bounds.club_sampled(jax.random.key(0), s),
        lambda: bounds.l1out(s),
    ]


def _expect_error(calls, match):
    for call in calls:
        with pytest.raises(ValueError, match=match):
            call()


@st.composite
def non_finite_square(draw):
    k = draw(st.integers(2, 6))
    s = draw(hnp.arrays(np.float64, (k, k), elements=st.floats(-10, 10)))
    idx = draw(st.lists(st.integers(0, k * k - 1), min_size=1, max_size=k * k))
    s.flat[idx] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return s.astype(draw(st.sampled_from([np.float32, np.float64])))


@SETTINGS
@given(non_finite_square())
def test_non_finite_scores(s):
    _expect_error(_matrix_calls(s), r"(scores|log_probs): contains \d+ NaN or infinite")


@st.composite
def bad_shapes(draw):
    kind = draw(st.sampled_from(["rank", "rect", "small"]))
    if kind == "rank":
        ndim = draw(st.sampled_from([0, 1, 3]))
        shape = draw(hnp.array_shapes(min_dims=ndim, max_dims=ndim, min_side=1, max_side=4))
    elif kind == "rect":
        a, b = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        shape = (a, b + 1 if a == b else b)
    else:
        shape = draw(st.sampled_from([(1, 1), (0, 0)]))
    return np.zeros(shape, np.float32)


@SETTINGS
@given(bad_shapes())
def test_wrong_shapes(s):
    _expect_error(_matrix_calls(s), r"(scores|log_probs): (expected a square|needs K >= 2)")


NON_FLOAT = [
    np.ones((3, 3), np.int32),
    np.eye(3, dtype=bool),
    np.eye(3, dtype=np.complex64),
    np.array([["a", "b"], ["c", "d"]]),
    np.array([[object(), 1], [2, 3]], dtype=object),
    "not an array",
    None,
    3.0,
]


@pytest.mark.parametrize(
    "s", NON_FLOAT, ids=lambda a: type(a).__name__ + str(getattr(a, "dtype", ""))
)
def test_non_floating_scores(s):
    _expect_error(_matrix_calls(s), r"(scores|log_probs): expected a")


def test_ragged_nested_list():
    _expect_error(_matrix_calls([[1.0, 2.0], [3.0]]), "(scores|log_probs): ragged")


@SETTINGS
@given(
    st.one_of(
        st.integers(1, 5).filter(lambda n: n != 3).map(lambda n: np.zeros(n, np.float32)),
        st.just(np.zeros((3, 1), np.float32)),
        st.just(np.array([0.0, np.nan, 1.0], np.float32)),
        st.just(np.ones(3, np.int64)),
    )
)
def test_bad_baselines(b):
    calls = [
        lambda: bounds.tuba(GOOD, b),
        lambda: bounds.interpolated(GOOD, b, 0.0),
    ]
    _expect_error(calls, "log_baseline:")
    with pytest.raises(ValueError, match="log_partition:"):
        bounds.uba(GOOD, b)


@pytest.mark.parametrize("bad", [np.nan, np.inf, np.zeros(2), "a", True])
def test_bad_scalars(bad):
    with pytest.raises(ValueError, match="alpha_logit:"):
        bounds.interpolated(GOOD, 0.0, bad)
    with pytest.raises(ValueError, match="clip:"):
        bounds.smile(GOOD, bad)
    with pytest.raises(ValueError, match="momentum:"):
        bounds.mine(GOOD, bounds.mine_init(), bad)
    with pytest.raises(ValueError, match="entropy_x:"):
        bounds.barber_agakov(np.zeros(3, np.float32), bad)


def test_bad_options():
    with pytest.raises(ValueError, match="clip: must be > 0"):
        bounds.smile(GOOD, 0.0)
    with pytest.raises(ValueError, match="clip: must be > 0"):
        bounds.smile(GOOD, -1.0)
    for m in (1.0, -0.1, 2.0):
        with pytest.raises(ValueError, match=r"momentum: must be in \[0, 1\)"):
            bounds.mine(GOOD, bounds.mine_init(), m)
    for axis in (2, -1, "rows", True, None, 1.0, np.float32(0)):  # 1.0: a TypeError before
        with pytest.raises(ValueError, match="axis:"):
            bounds.infonce(GOOD, axis=axis)
    with pytest.raises(ValueError, match="readout:"):
        bounds.js(GOOD, "NWJ")
    with pytest.raises(ValueError, match="init:"):
        bounds.mine_init("smile")
    with pytest.raises(ValueError, match="state:"):
        bounds.mine(GOOD, (0.0, False))
    with pytest.raises(ValueError, match="key:"):
        bounds.club_sampled(0, GOOD)
    with pytest.raises(ValueError, match=r"scores: expected a .* or a pair"):
        bounds.dv((np.zeros(3), np.zeros(3), np.zeros(3)))
    with pytest.raises(ValueError, match=r"scores\[1\] \(marginal_scores\): contains"):
        bounds.dv((np.zeros(3, np.float32), np.array([0.0, np.inf], np.float32)))
    with pytest.raises(ValueError, match="log_marginal: expected length 3"):
        bounds.variational_upper(np.zeros(3, np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="log_p_cond: expected a vector"):
        bounds.variational_upper(np.zeros((3, 3), np.float32), np.zeros(3, np.float32))


def test_under_jit_only_static_checks_run():
    """Inside a user's jit the values are unknown: shapes still fail, NaN flows through."""
    with pytest.raises(ValueError, match="scores: expected a square"):
        jax.jit(lambda s: bounds.dv(s).value)(jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match="scores: expected a floating"):
        jax.jit(lambda s: bounds.nwj(s).value)(jnp.zeros((3, 3), jnp.int32))
    out = jax.jit(lambda s: bounds.dv(s).value)(jnp.full((3, 3), jnp.nan))
    assert np.isnan(float(out))
    # traced options are accepted (their values are unknown)
    v = jax.jit(lambda s, t, a: bounds.smile(s, t).value + bounds.interpolated(s, 0.0, a).value)(
        GOOD, 5.0, 0.0
    )
    assert np.isfinite(float(v))
    vm = jax.vmap(lambda t: bounds.interpolated(GOOD, 0.0, t).value)(jnp.array([-5.0, 0.0, 5.0]))
    assert vm.shape == (3,) and np.isfinite(np.asarray(vm)).all()
