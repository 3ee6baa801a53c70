"""Malformed inputs to every public jaxmi.gmm function end in a ValueError before compiling."""

import warnings

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jaxmi
from jaxmi.gmm import GMM, _em

KEY = jax.random.key(0)
GOOD_X = np.random.default_rng(0).normal(size=(40, 2))
G = GMM.create(np.ones(2) / 2, np.zeros((2, 2)), np.stack([np.eye(2)] * 2))
G_BATCH = jax.tree.map(lambda a: np.stack([a, a]), G)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _with_bad_values(draw, shape):
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-10, 10)))
    n_bad = draw(st.integers(1, max(1, x.size)))
    idx = draw(st.lists(st.integers(0, x.size - 1), min_size=n_bad, max_size=n_bad))
    bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    x.flat[idx] = bad
    return x


@st.composite
def non_finite_data(draw):
    shape = draw(st.tuples(st.integers(3, 30), st.integers(1, 4)))
    return _with_bad_values(draw, shape)


@st.composite
def wrong_rank_data(draw):
    ndim = draw(st.sampled_from([0, 3, 4]))
    shape = draw(hnp.array_shapes(min_dims=ndim, max_dims=ndim, min_side=1, max_side=4))
    return np.zeros(shape)


NON_NUMERIC = [
    np.array([["a", "b"], ["c", "d"]]),
    np.array([[True, False], [False, True], [True, True]]),
    np.array([[1 + 2j, 0], [0, 1j], [1, 1]]),
    np.array([[object(), 1], [2, 3]], dtype=object),
    "not an array",
    3.0,
    None,
]


def _fit_calls(x):
    """Every public entry that takes data, as callables of the data."""
    return [
        lambda: jaxmi.gmm.fit(KEY, x, 1),
        lambda: jaxmi.gmm.initialize(KEY, x, 1),
        lambda: jaxmi.gmm.fit_batch(x, G_BATCH),
        lambda: jaxmi.gmm.log_prob(G, x),
        lambda: jaxmi.gmm.responsibilities(G, x),
    ]


@pytest.fixture(autouse=True)
def _no_compilation():
    """Validation must fail before any EM program is traced."""
    before = _em.TRACE_COUNT["chunk"]
    yield
    assert _em.TRACE_COUNT["chunk"] == before


@SETTINGS
@given(non_finite_data())
def test_non_finite_data_is_rejected(x):
    for call in _fit_calls(x):
        with pytest.raises(ValueError, match="NaN or inf"):
            call()


@SETTINGS
@given(wrong_rank_data())
def test_wrong_rank_is_rejected(x):
    calls = _fit_calls(x)
    if x.ndim == 3:  # fit_batch takes a (D, N, d) stack of datasets
        calls.pop(2)
    for call in calls:
        with pytest.raises(ValueError, match=r"x: expected|x: the stack|shape"):
            call()


@pytest.mark.parametrize(
    "x", NON_NUMERIC, ids=lambda v: type(v).__name__ + str(getattr(v, "dtype", ""))
)
def test_non_numeric_data_is_rejected(x):
    for call in _fit_calls(x):
        with pytest.raises(ValueError, match="x: "):
            call()


@SETTINGS
@given(
    st.one_of(
        st.integers(-5, 0),
        st.floats(0.5, 3.5).filter(lambda v: v != int(v)),
        st.just(True),
        st.just("3"),
    )
)
def test_bad_n_components(k):
    with pytest.raises(ValueError, match="n_components"):
        jaxmi.gmm.fit(KEY, GOOD_X, k)
    with pytest.raises(ValueError, match="n_components"):
        jaxmi.gmm.initialize(KEY, GOOD_X, k)


@SETTINGS
@given(st.integers(1, 10), st.integers(1, 5))
def test_fewer_samples_than_components(n, extra):
    x = np.random.default_rng(n).normal(size=(n, 2))
    with pytest.raises(ValueError, match="fewer than n_components"):
        jaxmi.gmm.fit(KEY, x, n + extra)
    with pytest.raises(ValueError, match="fewer than n_components"):
        jaxmi.gmm.initialize(KEY, x, n + extra)


@SETTINGS
@given(
    st.sampled_from(["tol", "max_iter", "reg_covar", "n_init", "batch_size", "chunk"]),
    st.sampled_from([-1, 0, -1e-3, np.nan, np.inf, "x", 1.5]),
)
def test_bad_settings(name, value):
    valid = {  # values that are fine for some settings
        "tol": lambda v: isinstance(v, (int, float)) and np.isfinite(v) and v > 0,
        "reg_covar": lambda v: isinstance(v, (int, float)) and np.isfinite(v) and v >= 0,
    }
    if name in valid and valid[name](value):
        return
    with pytest.raises(ValueError, match=name):
        jaxmi.gmm.fit(KEY, GOOD_X, 2, **{name: value})


@SETTINGS
@given(
    st.one_of(
        hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(-2, 2)).filter(
            lambda w: w.shape != (40,) or np.any(w < 0)
        ),
        st.just(np.zeros(40)),
        st.just(np.full(40, np.nan)),
        st.just(np.array(["a"] * 40)),
    )
)
def test_bad_weights(w):
    with pytest.raises(ValueError, match="weights"):
        jaxmi.gmm.fit(KEY, GOOD_X, 2, weights=w)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(init="nope"), "unknown method"),
        (dict(init="random"), "ambiguous"),
        (dict(init=3), "init"),
        (dict(k_cap=1), "k_cap"),
        (dict(k_cap="huge"), "k_cap"),
        (dict(strategy="pmap"), "strategy"),
        (dict(dtype="int32"), "dtype"),
        (dict(dtype="float64"), "x64"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxmi.gmm.fit(KEY, GOOD_X, 2, **kwargs)


def test_bad_keys():
    for key in (0, np.zeros(3, np.uint32), "key", jax.random.split(KEY, 2)):
        with pytest.raises(ValueError, match="key"):
            jaxmi.gmm.fit(key, GOOD_X, 2)
        with pytest.raises(ValueError, match="key"):
            jaxmi.gmm.sample(key, G, 3)
    # legacy uint32 keys are accepted (wrapped)
    assert jaxmi.gmm.sample(jax.random.PRNGKey(0), G, 3).shape == (3, 2)


def test_bad_init_mixtures():
    g3 = GMM.create(np.ones(1), np.zeros((1, 3)), np.eye(3)[None])
    with pytest.raises(ValueError, match="dimension"):
        jaxmi.gmm.fit(None, GOOD_X, init=g3)
    with pytest.raises(ValueError, match="n_components"):
        jaxmi.gmm.fit(None, GOOD_X, 3, init=G)
    with pytest.raises(ValueError, match="n_init"):
        jaxmi.gmm.fit(None, GOOD_X, init=G, n_init=2)
    with pytest.raises(ValueError, match="rank"):
        jaxmi.gmm.fit_batch(GOOD_X, G)
    with pytest.raises(ValueError, match="NaN"):
        jaxmi.gmm.fit(None, GOOD_X, init=G._replace(means=G.means * np.nan))
    with pytest.raises(ValueError, match="n_components: required"):
        jaxmi.gmm.fit(KEY, GOOD_X)


def test_fit_batch_argument_checks():
    with pytest.raises(ValueError, match="data_index"):
        jaxmi.gmm.fit_batch(np.stack([GOOD_X, GOOD_X]), G_BATCH)
    with pytest.raises(ValueError, match="data_index"):
        jaxmi.gmm.fit_batch(np.stack([GOOD_X, GOOD_X]), G_BATCH, data_index=np.array([0, 2]))
    with pytest.raises(ValueError, match="data_index"):
        jaxmi.gmm.fit_batch(GOOD_X, G_BATCH, data_index=np.array([0.0, 0.0]))
    with pytest.raises(ValueError, match="weights"):
        jaxmi.gmm.fit_batch(GOOD_X, G_BATCH, weights=np.ones(40))


@SETTINGS
@given(
    st.one_of(
        st.lists(st.integers(-3, 5), min_size=0, max_size=4).filter(
            lambda d: not d or len(set(d)) != len(d) or min(d) < 0 or max(d) > 1
        ),
        st.just("a"),
        st.just([0.5]),
    )
)
def test_bad_dims(dims):
    with pytest.raises(ValueError, match="dims"):
        jaxmi.gmm.marginal(G, dims)
    with pytest.raises(ValueError, match=r"dims|x_given"):
        jaxmi.gmm.conditional(G, dims, np.zeros(1))


def test_conditional_argument_checks():
    with pytest.raises(ValueError, match="at least one dimension"):
        jaxmi.gmm.conditional(G, [0, 1], np.zeros(0))
    with pytest.raises(ValueError, match="x_given"):
        jaxmi.gmm.conditional(G, [0], np.zeros(2))
    with pytest.raises(ValueError, match="x_given"):
        jaxmi.gmm.conditional(G, [0], np.array([np.nan]))
    with pytest.raises(ValueError, match=r"column\(s\) to match"):
        jaxmi.gmm.log_prob(G, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="n"):
        jaxmi.gmm.sample(KEY, G, 0)
    with pytest.raises(ValueError, match="gmm"):
        jaxmi.gmm.log_prob("gmm", GOOD_X)


# ----------------------------------------------------------------------------------------------
# the GMM-MI estimators: every data argument, malformed, is named before anything compiles
# ----------------------------------------------------------------------------------------------

MI_OPTS = dict(n_bootstrap=2, mc_samples=1000)
LABELS = np.arange(40) % 2


def _mi_calls(bad):
    """``(argument name, call)`` for every data argument of every GMM-MI estimator, with
    ``bad`` (an (N, d) or odd array) in that argument's place and good data elsewhere."""
    g, col = GOOD_X, GOOD_X[:, 0]
    return [
        ("x", lambda: jaxmi.gmm_mi(KEY, bad, col, **MI_OPTS)),
        ("y", lambda: jaxmi.gmm_mi(KEY, col, bad, **MI_OPTS)),
        ("z", lambda: jaxmi.gmm_cmi(KEY, col, GOOD_X[:, 1], bad, **MI_OPTS)),
        ("x", lambda: jaxmi.gmm_entropy(KEY, bad, **MI_OPTS)),
        ("x", lambda: jaxmi.gmm_kl(KEY, bad, g, **MI_OPTS)),
        ("y", lambda: jaxmi.gmm_kl(KEY, g, bad, **MI_OPTS)),
        ("x", lambda: jaxmi.gmm_mi_categorical(KEY, bad, LABELS, **MI_OPTS)),
        ("a", lambda: jaxmi.gmm_mi_pairwise(KEY, bad, g, **MI_OPTS)),
        ("b", lambda: jaxmi.gmm_mi_pairwise(KEY, g, bad, **MI_OPTS)),
    ]


@SETTINGS
@given(non_finite_data())
def test_mi_estimators_reject_non_finite_data_naming_the_argument(x):
    x = np.resize(x, (40, x.shape[1]))  # the good arguments' length, the bad values kept
    x.flat[0] = np.nan
    for name, call in _mi_calls(x):
        with pytest.raises(ValueError, match=rf"^{name}: contains \d+ NaN or infinite"):
            call()


@SETTINGS
@given(wrong_rank_data())
def test_mi_estimators_reject_wrong_ranks_naming_the_argument(x):
    for name, call in _mi_calls(x):
        with pytest.raises(ValueError, match=rf"^{name}: "):
            call()


@SETTINGS
@given(st.integers(1, 39))
def test_mi_estimators_reject_other_lengths_naming_an_argument(n):
    """Arguments of different lengths: one of them is named, with its length. gmm_kl's two
    samples may differ in length, but a too short one is named by its own argument (the size
    message said x for y's 5 samples)."""
    short = GOOD_X[:n]
    calls = _mi_calls(short)
    del calls[3:6]  # gmm_entropy (one argument) and gmm_kl: below
    for _, call in calls:
        with pytest.raises(ValueError, match=r"^(x|y|z|a|b|labels): .*(samples|shape)"):
            call()
    if 2 <= n < 6:  # 2 folds of a 2-D sample need 6 points (one point: constant columns)
        with pytest.raises(ValueError, match=rf"^y: {n} samples are too few"):
            jaxmi.gmm_kl(KEY, GOOD_X, short, **MI_OPTS)
        with pytest.raises(ValueError, match=rf"^x: {n} samples are too few"):
            jaxmi.gmm_kl(KEY, short, GOOD_X, **MI_OPTS)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_masked_values_are_refused_not_read(data):
    """np.asarray drops a mask and keeps the values under it, which were then read as samples:
    every data and label argument refuses masked entries, naming itself and the count; an
    array whose mask masks nothing is read as its data."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    labels = np.arange(60) % 3
    mask = data.draw(hnp.arrays(np.bool_, (60, 2)).filter(np.any))
    mx = np.ma.masked_array(np.where(mask, 1e20, x), mask=mask)
    n = int(mask.sum())
    calls = {
        "x": lambda: jaxmi.gmm_mi(KEY, mx, x[:, 0]),
        "y": lambda: jaxmi.gmm_mi(KEY, x[:, 0], mx),
        "labels": lambda: jaxmi.gmm_mi_categorical(
            KEY, x, np.ma.masked_array(labels, mask=mask.any(axis=1))
        ),
        "b": lambda: jaxmi.gmm_mi_pairwise(
            KEY, x, np.ma.masked_array(np.c_[labels, labels], mask=mask), categorical=True
        ),
        "a": lambda: jaxmi.gmm_mi_pairwise(KEY, mx),
        "neural y": lambda: jaxmi.neural_mi(KEY, x, mx),
    }
    for name, call in calls.items():
        count = int(mask.any(axis=1).sum()) if name == "labels" else n
        arg = name.split()[-1]
        with pytest.raises(ValueError, match=rf"^{arg}: a masked array with {count} masked"):
            call()
    from jaxmi._validation import as_data_matrix

    clean = np.ma.masked_array(x, mask=np.zeros_like(mask))
    np.testing.assert_array_equal(np.asarray(as_data_matrix(clean, "x", host=True)), np.float32(x))


def test_data_whose_digits_the_cast_loses_warn():
    # a fit is in the data's coordinates, so it cannot centre them for the user: float32 rounds
    # 1.7e9 + 100 t to steps of 128 (a one-component fit's variance read 11,317 for 10,004)
    t = np.random.default_rng(1).normal(size=(50, 2))
    stamps = np.c_[t[:, 0], 1.7e9 + 100.0 * t[:, 1]]
    calls = [
        lambda: jaxmi.gmm.fit(KEY, stamps, 1),
        lambda: jaxmi.gmm.fit_batch(stamps, G_BATCH),
        lambda: jaxmi.gmm.fit_batch(np.stack([stamps, stamps]), G_BATCH),
        lambda: jaxmi.gmm.fit(KEY, np.round(stamps).astype(np.int64), 1),
    ]
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # raised before any fit
            with pytest.raises(RuntimeWarning, match=r"x: column\(s\) \[1\] lose their digits"):
                call()
    from jaxmi._validation import warn_lost_digits

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for ok in (stamps - stamps.mean(0), stamps.astype(np.float32), 1e3 + 0.01 * t):
            # centred; already cast; steps of 6e-5 at 1e3, 0.6% of the std 0.01
            warn_lost_digits(ok, ok.astype(np.float32), "x")
