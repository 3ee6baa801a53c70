"""neural_mi: trained upper bounds (CLUB, L1Out), TUBA / I_alpha with baselines, preset="bmi"."""

import inspect

import jax
import numpy as np
import pytest

import jaxmi
from jaxmi import tasks
from jaxmi.neural import _train

TASK = tasks.staircase(2, 0.5)  # two coordinate pairs of 0.25 nats: I = 0.5 nats
# CLUB with the true conditional: sum over coordinates of rho^2 / (1 - rho^2)
RHO2 = 1 - np.exp(-2 * 0.25)
CLUB_TRUE_Q = 2 * RHO2 / (1 - RHO2)


@pytest.fixture(scope="module")
def data():
    x, y = TASK.sample(jax.random.key(0), 4000)
    return np.asarray(x), np.asarray(y)


def test_upper_bounds_lie_above_the_truth(data, small):
    opts = dict(small, batch_size=128, max_steps=800, patience=3)
    keys = jax.random.split(jax.random.key(1), 3)
    r = jaxmi.neural_mi(keys, *data, bound=["club", "l1out"], **opts)
    club, l1out = r.mi
    se = r.mi_batch_std / np.sqrt(r.n_eval_batches)
    assert (club > TASK.mi + 0.3).all() and abs(club.mean() - CLUB_TRUE_Q) < 0.3, club
    # with a learned q(y|x), L1Out is an upper bound only up to q's error: over 8 sets of 3 keys
    # its 3-seed mean was 0.490-0.531 (above the truth in 4) and 0.493-0.557 before the
    # minibatch order changed (above in 6), so the mean is held to its standard error here
    se_mean = np.sqrt(np.sum(se[1] ** 2)) / se[1].size
    assert (l1out > TASK.mi - 2 * se[1]).all() and l1out.mean() > TASK.mi - 2 * se_mean, l1out
    assert (l1out < 1.0).all()
    # q(y|x) is trained by maximum likelihood for both (same objective, same keys), and the
    # checkpoint is the best validation log-likelihood, not the smallest upper bound
    np.testing.assert_allclose(r.select_curve[0], r.select_curve[1], rtol=1e-4)
    for b in range(2):
        for s in range(3):
            sel = r.select_curve[b, s]
            best = int(np.nanargmax(sel))
            assert r.best_step[b, s] == r.eval_steps[best]
            np.testing.assert_allclose(r.mi[b, s], r.test_curve[b, s, best], rtol=1e-6)
    q = r.critic(seed=2, bound=1)
    assert isinstance(q, jaxmi.nn.GaussianConditional)
    assert q.log_prob_matrix(data[0][:5], data[1][:5]).shape == (5, 5)


def test_tuba_and_interpolated_with_a_learned_baseline(data, small):
    x, y = data[0][:2000], data[1][:2000]
    keys = jax.random.split(jax.random.key(1), 3)
    r = jaxmi.neural_mi(keys, x, y, bound=["tuba", "interpolated"], alpha_logit=0.0, **small)
    assert np.abs(r.mi.mean(axis=1) - TASK.mi).max() < 0.1, r.mi
    assert (r.mi < TASK.mi + 0.15).all()
    c = r.critic(seed=0, bound=0)
    assert isinstance(c, jaxmi.nn.BaselineCritic)
    la = np.asarray(c.log_baseline(y[:100]))
    assert la.std() > 1e-3  # the baseline is a trained, y-dependent network


def test_constant_baseline_limits_equal_nwj(data, small):
    # tuba(S, 1) == nwj(S) exactly, and I_alpha with alpha -> 0 is TUBA
    x, y = data[0][:1000], data[1][:1000]
    r = jaxmi.neural_mi(
        jax.random.key(4),
        x,
        y,
        bound=["nwj", "tuba", "interpolated"],
        baseline=1.0,
        alpha_logit=-30.0,
        **small,
    )
    assert r.early_stopped.all()
    for b in (1, 2):
        # float32 drift over hundreds of steps; a wrong baseline differs by ~0.1-1 nats
        np.testing.assert_allclose(r.train_curve[b], r.train_curve[0], rtol=1e-2, atol=2e-3)
        np.testing.assert_allclose(r.mi[b], r.mi[0], rtol=1e-2)
        assert not isinstance(r.critic(bound=b), jaxmi.nn.BaselineCritic)
    # a different constant changes TUBA (the option is used)
    other = jaxmi.neural_mi(jax.random.key(4), x, y, bound="tuba", baseline=0.0, **small)
    assert np.nanmax(np.abs(other.train_curve[:100] - r.train_curve[1][:100])) > 1e-3


def test_bmi_preset_runs_with_its_protocol(data):
    # 2,000 samples: with 1,000 (500 to train on) lr 0.1 stalled near 0.19 nats for 2 of 6 keys
    # on one core, while 2,000 gave 0.45-0.50 for all 6 on one core and on two
    x, y = data[0][:2000], data[1][:2000]
    r = jaxmi.neural_mi(jax.random.key(0), x, y, bound="infonce", preset="bmi", max_steps=500)
    assert r.eval_steps.tolist() == [250, 500]  # every 250 steps; max_steps overridden
    assert r.n_eval_batches == 1  # the whole test half at once
    assert r.train_curve.shape == (500,)
    c = r.critic()
    assert isinstance(c, jaxmi.nn.ConcatCritic)
    assert [layer.kernel.shape for layer in c.mlp.layers] == [(4, 16), (16, 8), (8, 1)]
    np.testing.assert_allclose(r.mi, r.max_val)  # two-way split: bmi's number
    assert TASK.mi - 0.1 < float(r.mi) < TASK.mi + 0.1


def test_preset_settings_and_overrides():
    defaults = {
        name: p.default
        for name, p in inspect.signature(jaxmi.neural_mi).parameters.items()
        if name in _train.PRESETS["bmi"]
    }
    assert set(defaults) == set(_train.PRESETS["bmi"])  # every preset option can be left out
    plain = {name: d.value for name, d in defaults.items()}
    assert plain["max_steps"] == 2000 and plain["learning_rate"] == 1e-3
    assert _train._apply_preset(None, defaults) == plain
    assert _train._apply_preset("bmi", defaults) == _train.PRESETS["bmi"]
    got = _train._apply_preset("bmi", dict(defaults, critic="bilinear", split=[0.8, 0.2]))
    assert got["critic"] == "bilinear" and got["split"] == [0.8, 0.2]
    assert got["learning_rate"] == 0.1 and got["hidden"] == (16, 8)
    # a value passed explicitly wins even when it equals the plain default (it used to be
    # taken for "left out": preset="bmi", max_steps=2000 ran the preset's 10,000 steps)
    got = _train._apply_preset("bmi", dict(defaults, max_steps=2000, learning_rate=1e-3))
    assert got["max_steps"] == 2000 and got["learning_rate"] == 1e-3
    assert got["batch_size"] == 256 and got["critic"] == "concat"
    x = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(ValueError, match="preset:"):
        jaxmi.neural_mi(jax.random.key(0), x, x[:, :1], preset="poole")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"baseline": "gauss"}, "baseline:"),
        ({"baseline": float("nan")}, "baseline:"),
        ({"alpha_logit": float("inf")}, "alpha_logit:"),
        ({"optimizer": "lion"}, "optimizer:"),
        ({"optimizer": 3}, "optimizer:"),
        ({"eval_batch": "half"}, "eval_batch:"),
        ({"eval_batch": 1}, "eval_batch:"),
    ],
)
def test_bad_new_options(kwargs, match):
    x = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(ValueError, match=match):
        jaxmi.neural_mi(jax.random.key(0), x, x[:, :1], **kwargs)
