"""Lower bounds: analytic optimal critic, identities, orientation, gradients, numerics."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit, logsumexp

from jaxmi import bounds
from jaxmi.bounds._common import loo_logmeanexp

INV_E = math.exp(-1.0)
TOL = 0.05  # 4 Monte-Carlo standard deviations at K = 4000 (s.d. 0.0125, spec §3.7)
PROP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _val(out):
    return float(out.value)


# --------------------------------------------------------------------------------------------
# analytic optimal critic of a correlated Gaussian (rho = 0.75, I = 0.41334 nats, K = 4000)
# --------------------------------------------------------------------------------------------


def test_lower_bounds_with_the_analytic_critic(big_batch, gauss):
    _, _, s, _ = big_batch
    i = gauss.mi
    k = s.shape[0]
    assert abs(_val(bounds.infonce(s)) - i) < TOL
    assert abs(_val(bounds.infonce(s, axis=0)) - i) < TOL
    assert abs(_val(bounds.infonce(s, axis="both")) - i) < TOL
    assert abs(_val(bounds.dv(s)) - i) < TOL
    assert abs(_val(bounds.tuba(s, 0.0)) - i) < TOL  # f* - log a = log ratio with a = 1
    assert abs(_val(bounds.nwj(s + 1.0)) - i) < TOL  # NWJ-optimal critic is 1 + log ratio
    assert abs(_val(bounds.nwj(s)) - (i - INV_E)) < TOL  # ... so at f* NWJ is I - 1/e
    assert abs(_val(bounds.smile(s, 5.0)) - i) < TOL
    assert abs(_val(bounds.smile(s, None)) - i) < TOL
    for logit in (-5.0, 0.0, 5.0):
        assert abs(_val(bounds.interpolated(s, 0.0, logit)) - i) < TOL
    assert abs(_val(bounds.uba(s, 0.0)) - i) < TOL  # Z(y) = E_p(x)[ratio] = 1 exactly
    assert _val(bounds.infonce(s)) <= math.log(k)


def test_smile_clip_one_is_biased_low(big_batch, gauss):
    _, _, s, _ = big_batch
    low, high = _val(bounds.smile(s, 1.0)), _val(bounds.smile(s, 5.0))
    assert low < high - 0.01  # the clipping at tau = 1 removes mass from the marginal term
    assert low < gauss.mi


def test_js_readouts_pin_the_e_inverse_offset(big_batch, gauss):
    """The default read-out is tight at the JS-optimal critic; the reference's is I - 1/e."""
    _, _, s, _ = big_batch
    i = gauss.mi
    tuba1, nwj_ro, dv_ro = (bounds.js(s, r) for r in ("tuba1", "nwj", "dv"))
    assert abs(_val(tuba1) - i) < TOL
    assert abs(_val(nwj_ro) - (i - INV_E)) < TOL
    assert abs(_val(dv_ro) - i) < TOL
    assert _val(bounds.js(s)) == _val(tuba1)  # tuba1 is the default
    np.testing.assert_allclose(_val(tuba1), _val(bounds.nwj(s + 1.0)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_val(nwj_ro), _val(bounds.nwj(s)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_val(dv_ro), _val(bounds.dv(s)), rtol=1e-5, atol=1e-6)


def test_js_objective_gradient_is_the_fgan_gradient_for_every_readout(gauss):
    s = jnp.asarray(gauss.random_scores(1, 12))
    ref = jax.grad(bounds.js_fgan)(s)
    for r in bounds.JS_READOUTS:
        g = jax.grad(lambda m, r=r: bounds.js(m, r).objective)(s)
        np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-7)
        g = jax.grad(lambda m, r=r: bounds.surrogate(bounds.js(m, r)))(s)
        np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-7)
    gs = jax.grad(lambda m: bounds.smile(m, 5.0).objective)(s)
    np.testing.assert_allclose(gs, ref, rtol=1e-6, atol=1e-7)


def test_js_fgan_closed_form_gradient_and_maximiser(gauss):
    s = gauss.random_scores(2, 7).astype(np.float64)
    k = s.shape[0]
    g = np.asarray(jax.grad(bounds.js_fgan)(jnp.asarray(s, jnp.float32)))
    expect = -expit(s) / (k * (k - 1))
    np.fill_diagonal(expect, expit(-np.diag(s)) / k)
    np.testing.assert_allclose(g, expect, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------------------------
# identities (random matrices)
# --------------------------------------------------------------------------------------------


def test_identities(gauss):
    s = jnp.asarray(gauss.random_scores(3, 9))
    close = lambda a, b: np.testing.assert_allclose(_val(a), _val(b), rtol=1e-5, atol=1e-5)  # noqa: E731
    close(bounds.nwj(s), bounds.tuba(s, 1.0))
    close(bounds.dv(s), bounds.dv(s + 13.0))  # shift invariance
    close(bounds.smile(s, None), bounds.dv(s))
    close(bounds.smile(s, 1e4), bounds.dv(s))  # a clip above every entry changes nothing
    close(bounds.interpolated(s, 0.3, -30.0), bounds.tuba(s, 0.3))
    log_a = jnp.linspace(-1.0, 2.0, 9)
    close(bounds.interpolated(s, log_a, -30.0), bounds.tuba(s, log_a))
    assert abs(_val(bounds.dv(s)) - _val(bounds.dv(s + 13.0))) < 1e-4
    # NWJ and TUBA are not shift invariant
    assert abs(_val(bounds.nwj(s)) - _val(bounds.nwj(s + 1.0))) > 1e-2


def test_dv_pair_form(gauss):
    rng = np.random.default_rng(4)
    joint, marg = rng.normal(size=6).astype(np.float32), rng.normal(size=11).astype(np.float32)
    expect = joint.mean() - (logsumexp(marg) - math.log(11))
    np.testing.assert_allclose(_val(bounds.dv((joint, marg))), expect, rtol=1e-5)
    # the matrix form is the pair form with the off-diagonal entries as negatives
    s = gauss.random_scores(5, 6)
    off = s[~np.eye(6, dtype=bool)]
    np.testing.assert_allclose(
        _val(bounds.dv(s)), _val(bounds.dv((np.diag(s).copy(), off))), rtol=1e-5
    )


@PROP
@given(
    hnp.arrays(
        np.float32,
        st.integers(2, 12).map(lambda k: (k, k)),
        elements=st.floats(-60, 60, width=32),
    ),
    st.sampled_from([-5.0, 0.0, 5.0]),
)
def test_ceilings_hold_for_every_batch(s, logit):
    k = s.shape[0]
    for axis in (0, 1, "both"):
        assert _val(bounds.infonce(s, axis=axis)) <= math.log(k) + 1e-4
    alpha = expit(logit)
    ceiling = 1 + math.log((k - 1) / alpha)
    v = _val(bounds.interpolated(s, 0.0, logit))
    assert v < ceiling + 1e-4 * max(1.0, abs(ceiling))


def test_ceilings_are_attained_by_a_separating_critic():
    """The caps are the real ceilings: a critic that separates positives reaches them."""
    k = 16
    s = np.where(np.eye(k, dtype=bool), 30.0, -30.0).astype(np.float32)
    np.testing.assert_allclose(_val(bounds.infonce(s)), math.log(k), atol=1e-4)
    logit = 5.0
    cap = 1 + math.log((k - 1) / expit(logit))
    v = _val(bounds.interpolated(s, 0.0, logit))
    assert v < cap and v > cap - 0.2


# --------------------------------------------------------------------------------------------
# orientation: per-y quantities belong to columns
# --------------------------------------------------------------------------------------------


def _nb_logmeanexp_nodiag(m):
    k = m.shape[0]
    return logsumexp(np.where(np.eye(k, dtype=bool), -np.inf, m)) - math.log(k * (k - 1))


def _reference_tuba(scores_t, log_a_rows):
    """Poole's notebook convention: scores_t[i, j] = f(x_j, y_i), baseline subtracted per row."""
    m = scores_t - log_a_rows[:, None]
    return 1 + np.mean(np.diag(m)) - math.exp(_nb_logmeanexp_nodiag(m))


def _reference_interpolated(scores_t, log_a_rows, alpha_logit):
    """The notebook's interpolated bound restated in numpy (rows = y, columns = x)."""
    k = scores_t.shape[0]
    loo = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            loo[i, j] = logsumexp(np.delete(scores_t[i], j)) - math.log(k - 1)
    la, l1a = -np.logaddexp(0, -alpha_logit), -np.logaddexp(0, alpha_logit)
    base = np.logaddexp(la + loo, l1a + np.broadcast_to(log_a_rows[:, None], (k, k)))
    marg = math.exp(_nb_logmeanexp_nodiag(scores_t - np.diag(base)[:, None]))
    joint_m = np.diag(scores_t)[:, None] - base
    joint = (joint_m.sum() - np.trace(joint_m)) / (k * (k - 1))
    return 1 + joint - marg


@pytest.mark.parametrize("logit", [-5.0, 0.0, 5.0])
def test_parity_with_the_reference_formulas_on_the_transpose(x64, gauss, logit):
    s = gauss.random_scores(6, 10, scale=2.0, dtype=np.float64)
    log_a = np.linspace(-1.5, 1.0, 10)
    ours = _val(bounds.interpolated(s, log_a, logit))
    assert abs(ours - _reference_interpolated(s.T, log_a, logit)) < 1e-10
    assert abs(_val(bounds.tuba(s, log_a)) - _reference_tuba(s.T, log_a)) < 1e-10
    # ... and a transposed implementation would not pass: S and S^T give different values
    assert abs(ours - _val(bounds.interpolated(s.T, log_a, logit))) > 1e-3
    assert abs(_val(bounds.tuba(s, log_a)) - _val(bounds.tuba(s.T, log_a))) > 1e-3


def test_a_column_baseline_is_undone_by_tuba_and_interpolated(big_batch, gauss):
    """S[i, j] = f*(x_i, y_j) + g(y_j): subtracting g down the columns recovers I."""
    _, y, s, _ = big_batch
    g = 2.0 * y[:, 0] + 0.5  # log a(y_j), indexed by column j
    shifted = s + g[None, :]
    assert abs(_val(bounds.tuba(shifted, g)) - gauss.mi) < TOL
    assert abs(_val(bounds.interpolated(shifted, g, -5.0)) - gauss.mi) < TOL
    # the row convention (subtracting g(y_i) from row x_i) is wrong by far more than MC error
    wrong = bounds.tuba(shifted - g[None, :] + g[:, None], g)
    assert abs(_val(wrong) - gauss.mi) > 10 * TOL


def test_infonce_axes(gauss):
    s_small = jnp.asarray(gauss.random_scores(7, 8))
    np.testing.assert_allclose(
        _val(bounds.infonce(s_small, axis=1)), _val(bounds.infonce(s_small.T, axis=0)), rtol=1e-6
    )
    both = 0.5 * (_val(bounds.infonce(s_small, axis=0)) + _val(bounds.infonce(s_small, axis=1)))
    np.testing.assert_allclose(_val(bounds.infonce(s_small, axis="both")), both, rtol=1e-6)
    # axis 1 contrasts over y for a fixed x: any c(x_i) added to row i cancels; not for axis 0
    c = 3.0 * jnp.sin(jnp.arange(8.0))
    np.testing.assert_allclose(
        _val(bounds.infonce(s_small + c[:, None])), _val(bounds.infonce(s_small)), rtol=1e-5
    )
    assert (
        abs(_val(bounds.infonce(s_small + c[:, None], 0)) - _val(bounds.infonce(s_small, 0))) > 0.1
    )


# --------------------------------------------------------------------------------------------
# leave-one-out reduction of the interpolated bound
# --------------------------------------------------------------------------------------------


def _loo_oracle(s):
    k = s.shape[0]
    out = np.empty_like(s, dtype=np.float64)
    for h in range(k):
        out[h] = logsumexp(np.delete(s, h, axis=0), axis=0) - math.log(k - 1)
    return out


def test_loo_logmeanexp_matches_the_cubic_oracle(gauss):
    s = gauss.random_scores(8, 9, scale=4.0, dtype=np.float32)
    s[3, 2] = 200.0  # one entry dominates its column to float precision
    s[5, 4] = s[6, 4] = 40.0  # a tie at the maximum
    got = np.asarray(loo_logmeanexp(jnp.asarray(s)))
    np.testing.assert_allclose(got, _loo_oracle(s.astype(np.float64)), rtol=1e-5, atol=1e-4)
    g = jax.grad(lambda m: jnp.sum(loo_logmeanexp(m)))(jnp.asarray(s))
    assert np.isfinite(np.asarray(g)).all()


# --------------------------------------------------------------------------------------------
# gradients with closed forms
# --------------------------------------------------------------------------------------------


def test_closed_form_gradients(gauss):
    s64 = gauss.random_scores(9, 6, scale=1.5, dtype=np.float64)
    s = jnp.asarray(s64, jnp.float32)
    k = 6
    eye = np.eye(k, dtype=bool)
    w = np.where(eye, 0.0, np.exp(s64))
    soft_off = w / w.sum()

    g_dv = np.asarray(jax.grad(lambda m: bounds.dv(m).value)(s))
    np.testing.assert_allclose(g_dv, np.where(eye, 1 / k, -soft_off), rtol=1e-5, atol=1e-7)

    g_nwj = np.asarray(jax.grad(lambda m: bounds.nwj(m).value)(s))
    expect = np.where(eye, 1 / k, -INV_E * np.exp(s64) / (k * (k - 1)))
    np.testing.assert_allclose(g_nwj, expect, rtol=1e-5, atol=1e-7)

    g_nce = np.asarray(jax.grad(lambda m: bounds.infonce(m).value)(s))
    soft_rows = np.exp(s64 - logsumexp(s64, axis=1, keepdims=True))
    np.testing.assert_allclose(g_nce, (np.eye(k) - soft_rows) / k, rtol=1e-5, atol=1e-7)

    g_nce0 = np.asarray(jax.grad(lambda m: bounds.infonce(m, axis=0).value)(s))
    soft_cols = np.exp(s64 - logsumexp(s64, axis=0, keepdims=True))
    np.testing.assert_allclose(g_nce0, (np.eye(k) - soft_cols) / k, rtol=1e-5, atol=1e-7)

    log_a = np.linspace(-0.5, 0.5, k)
    g_a = np.asarray(jax.grad(lambda a: bounds.tuba(s, a).value)(jnp.asarray(log_a, jnp.float32)))
    e = np.where(eye, 0.0, np.exp(s64 - log_a[None, :]))
    np.testing.assert_allclose(g_a, -1 / k + e.sum(0) / (k * (k - 1)), rtol=1e-5, atol=1e-7)


def test_interpolated_gradient_by_finite_differences(x64, gauss):
    s = jnp.asarray(gauss.random_scores(10, 5, scale=1.0, dtype=np.float64))
    log_a = jnp.linspace(-0.3, 0.4, 5)
    args = (s, log_a, jnp.asarray(0.7))
    f = lambda *a: bounds.interpolated(*a).value  # noqa: E731
    grads = jax.grad(f, argnums=(0, 1, 2))(*args)
    eps = 1e-6
    for n, (arg, g) in enumerate(zip(args, grads, strict=True)):
        flat = np.asarray(arg, np.float64).ravel()
        for idx in range(flat.size):
            up, down = flat.copy(), flat.copy()
            up[idx] += eps
            down[idx] -= eps
            shaped = [list(args), list(args)]
            shaped[0][n] = jnp.asarray(up.reshape(np.shape(arg)))
            shaped[1][n] = jnp.asarray(down.reshape(np.shape(arg)))
            fd = (float(f(*shaped[0])) - float(f(*shaped[1]))) / (2 * eps)
            assert abs(fd - float(np.ravel(g)[idx])) < 1e-6, (n, idx)


# --------------------------------------------------------------------------------------------
# MINE
# --------------------------------------------------------------------------------------------


def _offdiag_softmax_grad(s):
    k = s.shape[0]
    return jax.grad(lambda m: bounds.dv(m).value)(s) - jnp.eye(k) / k


def test_mine_value_and_first_step_corrections(gauss):
    s = jnp.asarray(gauss.random_scores(11, 8, scale=1.0))
    k = 8
    out, state = bounds.mine(s, bounds.mine_init())
    np.testing.assert_allclose(_val(out), _val(bounds.dv(s)), rtol=1e-6)
    assert bool(state.initialised)
    # jaxmi init: the EMA starts at the first batch, so the first gradient is DV's (factor 1)
    g1 = jax.grad(lambda m: bounds.mine(m, bounds.mine_init())[0].objective)(s)
    np.testing.assert_allclose(g1, jax.grad(lambda m: bounds.dv(m).value)(s), rtol=1e-5, atol=1e-7)
    # bmi init: EMA from zero without debiasing, so the marginal gradient is 1/(1 - 0.9) = 10x
    g10 = jax.grad(lambda m: bounds.mine(m, bounds.mine_init("bmi"))[0].objective)(s)
    np.testing.assert_allclose(
        np.asarray(g10) - np.eye(k) / k, 10 * _offdiag_softmax_grad(s), rtol=1e-4, atol=1e-7
    )


def test_mine_gradient_is_grad_d_minus_grad_m_over_ema(gauss):
    s1 = jnp.asarray(gauss.random_scores(12, 8, scale=1.0))
    s2 = jnp.asarray(gauss.random_scores(13, 8, scale=1.0))
    k, beta = 8, 0.9
    _, st1 = bounds.mine(s1, bounds.mine_init(), beta)
    m1 = float(np.mean(np.exp(np.asarray(s1)[~np.eye(k, dtype=bool)])))
    np.testing.assert_allclose(math.exp(float(st1.log_ema)), m1, rtol=1e-5)  # jaxmi init
    _, st2 = bounds.mine(s2, st1, beta)
    m2 = float(np.mean(np.exp(np.asarray(s2)[~np.eye(k, dtype=bool)])))
    ema2 = beta * m1 + (1 - beta) * m2
    np.testing.assert_allclose(math.exp(float(st2.log_ema)), ema2, rtol=1e-5)
    grad = jax.grad(lambda m: bounds.mine(m, st1, beta)[0].objective)(s2)
    grad_m = np.where(np.eye(k, dtype=bool), 0.0, np.exp(np.asarray(s2)) / (k * (k - 1)))
    expect = np.eye(k) / k - grad_m / ema2
    np.testing.assert_allclose(grad, expect, rtol=1e-4, atol=1e-7)
    # no gradient reaches the carried state
    g_state = jax.grad(lambda le: bounds.mine(s2, st1._replace(log_ema=le), beta)[0].objective)(
        st1.log_ema
    )
    assert float(g_state) == 0.0


def test_mine_pair_form_and_scan(gauss):
    rng = np.random.default_rng(14)
    joint = rng.normal(size=(5, 6)).astype(np.float32)
    marg = rng.normal(size=(5, 6)).astype(np.float32)

    def step(state, batch):
        out, state = bounds.mine(batch, state)
        return state, out.value

    final, values = jax.lax.scan(step, bounds.mine_init(), (joint, marg))
    expect = [_val(bounds.dv((j, m))) for j, m in zip(joint, marg, strict=True)]
    np.testing.assert_allclose(values, expect, rtol=1e-5)
    assert bool(final.initialised) and np.isfinite(float(final.log_ema))


# --------------------------------------------------------------------------------------------
# numerics: float32 vs float64, large scores
# --------------------------------------------------------------------------------------------


def _all_values(s, log_a):
    return np.array(
        [
            _val(bounds.infonce(s)),
            _val(bounds.infonce(s, axis=0)),
            _val(bounds.dv(s)),
            _val(bounds.nwj(s - 70.0)),
            _val(bounds.tuba(s, log_a)),
            _val(bounds.js(s - 70.0)),
            _val(bounds.smile(s, 5.0)),
            _val(bounds.interpolated(s, log_a, 0.0)),
            _val(bounds.interpolated(s, log_a, -5.0)),
            _val(bounds.mine(s, bounds.mine_init())[0]),
        ]
    )


def test_float32_matches_float64_with_large_scores(gauss):
    s64 = gauss.random_scores(15, 64, scale=10.0, dtype=np.float64)
    s64 = np.clip(s64, -80.0, 80.0)
    np.fill_diagonal(s64, 79.0)
    log_a = np.linspace(60.0, 75.0, 64)
    v32 = _all_values(jnp.asarray(s64, jnp.float32), jnp.asarray(log_a, jnp.float32))
    with jax.enable_x64(True):
        v64 = _all_values(jnp.asarray(s64), jnp.asarray(log_a))
    assert np.isfinite(v32).all()
    np.testing.assert_allclose(v32, v64, rtol=1e-5, atol=1e-4)
