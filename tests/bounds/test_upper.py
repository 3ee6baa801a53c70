"""Upper bounds with the true Gaussian conditional: CLUB, L1Out, TNCE bracket, variational."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from jaxmi import bounds

TOL = 0.05


def _val(out):
    return float(out.value)


def test_club_with_the_true_conditional_is_an_upper_bound(big_batch, gauss):
    _, _, _, lp = big_batch
    k, rho = lp.shape[0], gauss.rho
    population = (1 - 1 / k) * rho**2 / (1 - rho**2)  # 1.2857 (diagonal included: x (1 - 1/K))
    v = _val(bounds.club(lp))
    assert abs(v - population) < 0.1  # ~3 Monte-Carlo s.d.
    assert v > gauss.mi + 0.5  # CLUB is loose here: far above I = 0.413


def test_l1out_and_tnce_with_the_true_conditional(big_batch, gauss):
    _, _, _, lp = big_batch
    assert abs(_val(bounds.l1out(lp)) - gauss.mi) < TOL
    assert abs(_val(bounds.infonce(lp, axis=0)) - gauss.mi) < TOL  # TNCE


def test_tnce_below_and_l1out_above_the_truth_on_average(gauss):
    """E[TNCE] <= I <= E[L1Out]; at K = 16 in 5-D (I = 2.07 nats) both gaps are wide."""
    k, dim, reps = 16, 5, 300
    truth = dim * gauss.mi

    @jax.jit
    @jax.vmap
    def one(key):
        x, y = gauss.pairs(key, k, dim=dim)
        lp = gauss.log_cond(x, y)
        return bounds.l1out(lp).value, bounds.infonce(lp, axis=0).value

    up, low = one(jax.random.split(jax.random.key(3), reps))
    se_up, se_low = (float(jnp.std(v)) / math.sqrt(reps) for v in (up, low))
    assert float(jnp.mean(up)) > truth + 5 * se_up
    assert float(jnp.mean(low)) < truth - 5 * se_low
    assert float(jnp.max(low)) <= math.log(k) + 1e-5


def test_l1out_masks_the_positive_exactly(gauss):
    """At high MI the leave-one-out term must not leak the positive (a -20 mask would cap it)."""
    k, dim, rho = 8, 20, 0.99
    x, y = gauss.pairs(jax.random.key(4), k, rho=rho, dim=dim)
    lp = gauss.log_cond(x, y, rho=rho)  # truth 39 nats
    assert _val(bounds.l1out(lp)) > 20 + math.log(k - 1) + 5


def test_variational_upper_bound(big_batch, gauss):
    _, y, _, lp = big_batch
    log_p = jnp.diagonal(lp)
    tight = bounds.variational_upper(log_p, gauss.log_std_normal(y))  # m = p(y)
    assert abs(_val(tight) - gauss.mi) < TOL
    wide = jnp.sum(-0.5 * math.log(2 * math.pi * 4.0) - y**2 / 8.0, axis=-1)  # m = N(0, 2^2)
    kl = math.log(2.0) + 1 / 8 - 0.5  # KL(N(0,1) || N(0,4)) = 0.318 nats
    loose = _val(bounds.variational_upper(log_p, wide))
    assert abs(loose - (gauss.mi + kl)) < TOL
    g = jax.grad(lambda m: bounds.variational_upper(log_p[:5], m).objective)(jnp.zeros(5))
    np.testing.assert_allclose(g, np.full(5, 0.2), rtol=1e-6)


def test_club_sampled_is_unbiased_for_club(gauss):
    x, y = gauss.pairs(jax.random.key(5), 12)
    lp = gauss.log_cond(x, y)
    keys = jax.random.split(jax.random.key(6), 4000)
    vals = jax.vmap(lambda kk: bounds.club_sampled(kk, lp).value)(keys)
    se = float(jnp.std(vals)) / math.sqrt(vals.shape[0])
    assert abs(float(jnp.mean(vals)) - _val(bounds.club(lp))) < 5 * se
    assert float(jnp.std(vals)) > 0  # the permutation really changes


def test_upper_bound_closed_form_gradients(gauss):
    lp64 = gauss.random_scores(16, 6, scale=2.0, dtype=np.float64)
    lp = jnp.asarray(lp64, jnp.float32)
    k = 6
    eye = np.eye(k, dtype=bool)
    g = np.asarray(jax.grad(lambda m: bounds.club(m).value)(lp))
    np.testing.assert_allclose(g, np.where(eye, 1 / k - 1 / k**2, -1 / k**2), rtol=1e-5)
    g_obj = np.asarray(jax.grad(lambda m: bounds.club(m).objective)(lp))
    np.testing.assert_allclose(g_obj, np.where(eye, 1 / k, 0.0), rtol=1e-6)
    g = np.asarray(jax.grad(lambda m: bounds.l1out(m).value)(lp))
    masked = np.where(eye, -np.inf, lp64)
    soft = np.exp(masked - logsumexp(masked, axis=0, keepdims=True))
    np.testing.assert_allclose(g, np.where(eye, 1 / k, -soft / k), rtol=1e-5, atol=1e-8)


def test_upper_bound_values_by_hand():
    lp = np.array([[-1.0, -3.0, -2.0], [-5.0, -1.5, -4.0], [-0.5, -2.5, -1.0]], np.float32)
    club = np.mean(np.diag(lp)) - np.mean(lp)
    np.testing.assert_allclose(_val(bounds.club(lp)), club, rtol=1e-6)
    l1 = np.mean(
        [np.diag(lp)[j] - (logsumexp(np.delete(lp[:, j], j)) - math.log(2)) for j in range(3)]
    )
    np.testing.assert_allclose(_val(bounds.l1out(lp)), l1, rtol=1e-6)
    # orientation: the marginal of y_j is estimated down column j, so L and L^T differ
    assert abs(_val(bounds.l1out(lp)) - _val(bounds.l1out(lp.T))) > 0.1
