"""Malformed data thrown at ``jaxmi.neural_mi``: a ValueError naming the argument, before any
training program is traced."""

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jaxmi
from jaxmi.neural import _train

KEY = jax.random.key(0)
GOOD = np.random.default_rng(0).normal(size=(64, 3))
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _no_compilation():
    before = (_train._TRACES[0], dict(_train._STREAM_TRACES))
    yield
    assert (_train._TRACES[0], dict(_train._STREAM_TRACES)) == before


def _call(which, bad):
    x, y = (bad, GOOD[:, :1]) if which == "x" else (GOOD, bad)
    return lambda: jaxmi.neural_mi(KEY, x, y, max_steps=10, eval_every=5, batch_size=8)


@SETTINGS
@given(
    st.sampled_from(["x", "y"]),
    st.integers(1, 3),
    st.lists(st.tuples(st.integers(0, 63), st.sampled_from([np.nan, np.inf, -np.inf])), min_size=1),
)
def test_non_finite_values(which, d, bad_values):
    data = GOOD[:, :d].copy()
    for row, value in bad_values:
        data[row, row % d] = value
    n_bad = int(np.sum(~np.isfinite(data)))
    with pytest.raises(ValueError, match=rf"^{which}: contains {n_bad} NaN or infinite"):
        _call(which, data)()


@SETTINGS
@given(
    st.sampled_from(["x", "y"]),
    st.sampled_from([0, 3, 4]).flatmap(
        lambda nd: hnp.array_shapes(min_dims=nd, max_dims=nd, min_side=1, max_side=4)
    ),
)
def test_wrong_rank(which, shape):
    with pytest.raises(ValueError, match=rf"^{which}: expected shape \(N,\) or \(N, d\)"):
        _call(which, np.zeros(shape))()


@pytest.mark.parametrize("which", ["x", "y"])
@pytest.mark.parametrize(
    "bad",
    [
        np.array([["a", "b"]] * 64),
        np.ones((64, 2), bool),
        np.ones((64, 2)) * 1j,
        np.array([[object(), 1]] * 64, dtype=object),
        None,
        "data",
    ],
    ids=["str", "bool", "complex", "object", "None", "text"],
)
def test_non_numeric(which, bad):
    with pytest.raises(ValueError, match=rf"^{which}: "):
        _call(which, bad)()


@SETTINGS
@given(st.sampled_from(["x", "y"]), st.integers(0, 200).filter(lambda n: n != 64))
def test_other_lengths(which, n):
    data = np.random.default_rng(n).normal(size=(n, 2))
    with pytest.raises(ValueError, match=rf"^x, y: need the same number of samples|^{which}: "):
        _call(which, data)()
