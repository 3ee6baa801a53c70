"""neural_mi with a list of bounds: one program, a leading bound axis, == separate runs."""

import jax
import numpy as np
import optax
import pytest

import jaxmi
from jaxmi import tasks
from jaxmi.neural import _train

BOUNDS = ["infonce", "nwj", "smile"]
KEYS = jax.random.split(jax.random.key(11), 2)


@pytest.fixture(scope="module")
def data():
    x, y = tasks.staircase(2, 0.5).sample(jax.random.key(0), 1000)
    return np.asarray(x), np.asarray(y)


@pytest.fixture(scope="module")
def together(data, small):
    before = _train._TRACES[0]
    r = jaxmi.neural_mi(KEYS, *data, bound=BOUNDS, **small)
    assert _train._TRACES[0] - before == 1  # all bounds and seeds: one program
    return r


def test_shapes_and_fields(together):
    r = together
    assert r.bound == tuple(BOUNDS)
    assert r.mi.shape == r.stop_step.shape == r.early_stopped.shape == (3, 2)
    assert r.train_curve.shape == (3, 2, 1200) and r.val_curve.shape == (3, 2, 12)
    assert r.eval_steps.shape == (12,) and isinstance(r.n_eval_batches, int)
    assert len(r.params) == len(r.graphdef) == 3
    assert np.isfinite(r.mi).all()
    # each bound has its own critic: different bounds give different trained scores
    x = np.zeros((4, 2), np.float32) + np.arange(4, dtype=np.float32)[:, None]
    s = [np.asarray(r.critic(seed=1, bound=b).scores(x, x)) for b in range(3)]
    assert np.abs(s[0] - s[1]).max() > 1e-3 and np.abs(s[1] - s[2]).max() > 1e-3


def test_plot_training_picks_a_bound_by_name_or_index(together):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for which in ("smile", 2):
        ax = jaxmi.plot.plot_training(together, bound=which, seed=1)
        val = together.val_curve[2, 1]
        ydata = next(ln for ln in ax.get_lines() if ln.get_label() == "validation").get_ydata()
        np.testing.assert_allclose(ydata, val[~np.isnan(val)])
        assert ax.get_ylabel() == "smile (nats)"
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="bound:"):
        jaxmi.plot.plot_training(together, bound=3)
    with pytest.raises(ValueError, match="bound:"):
        jaxmi.plot.plot_training(together, bound="dv")


def test_equals_separate_runs(data, together, small):
    # the bounds stop at different evaluations, so the frozen-after-stopping logic is exercised
    assert len(set(together.stop_step.ravel().tolist())) > 1
    for b, name in enumerate(BOUNDS):
        alone = jaxmi.neural_mi(KEYS, *data, bound=name, **small)
        assert alone.bound == name and alone.mi.shape == (2,)
        for field in ("mi", "mi_batch_std", "max_val", "stop_val"):
            np.testing.assert_allclose(
                getattr(alone, field), getattr(together, field)[b], rtol=1e-4, err_msg=field
            )
        for field in ("best_step", "stop_step", "early_stopped"):
            np.testing.assert_array_equal(getattr(alone, field), getattr(together, field)[b])
        for field in ("train_curve", "val_curve", "test_curve", "select_curve"):
            a, t = getattr(alone, field), getattr(together, field)[b]
            np.testing.assert_array_equal(np.isnan(a), np.isnan(t))
            np.testing.assert_allclose(a, t, rtol=1e-4, atol=1e-5, err_msg=field)
        for a, t in zip(
            jax.tree.leaves(alone.params), jax.tree.leaves(together.params[b]), strict=True
        ):
            np.testing.assert_allclose(a, t, rtol=1e-4, atol=1e-5)


def test_optimizer_name_or_transformation(data, small):
    # the small program with Adam is already compiled by the separate runs above
    opts = dict(small, learning_rate=1e-3)
    by_name = jaxmi.neural_mi(KEYS[0], *data, bound="nwj", optimizer="sgd", **opts)
    by_tx = jaxmi.neural_mi(KEYS[0], *data, bound="nwj", optimizer=optax.sgd(1e-3), **opts)
    adam = jaxmi.neural_mi(KEYS[0], *data, bound="nwj", **opts)
    first = slice(0, small["eval_every"])  # before any stopping
    np.testing.assert_allclose(by_name.train_curve[first], by_tx.train_curve[first], rtol=1e-5)
    np.testing.assert_allclose(by_name.mi, by_tx.mi, rtol=1e-5)
    assert np.abs(by_name.train_curve[first] - adam.train_curve[first]).max() > 1e-3


@pytest.mark.parametrize(
    ("bound", "match"),
    [
        ([], "bound: expected"),
        (["nwj", "nope"], r"bound\[1\]: must be one of"),
        (["nwj", "nwj"], "bound: names must be distinct"),
        ("nope", "bound: must be one of"),
    ],
)
def test_bad_bound_lists(bound, match):
    x = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(ValueError, match=match):
        jaxmi.neural_mi(jax.random.key(0), x, x[:, :1], bound=bound)
