"""it_maps: hand-computable cases, the formulas' identities, localisation by a trained CNN."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxmi
from jaxmi.attribution import ITMaps, it_maps, occlusion, samplers
from jaxmi.attribution._it_maps import positions
from jaxmi.attribution._protocol import Sampler

_W = np.asarray(jax.random.normal(jax.random.key(0), (5 * 5 * 2, 3)))


def _linear_logits(x):
    """A toy 3-class linear classifier on (B, 5, 5, 2) images."""
    return x.reshape(x.shape[0], -1) @ _W


def _linear_probs(x):
    return jax.nn.softmax(_linear_logits(x), axis=-1)


def _images(n=3, seed=1):
    return np.asarray(jax.random.uniform(jax.random.key(seed), (n, 5, 5, 2)))


# one marginal-sampler configuration shared by several tests (one compilation)
_MARGINAL = dict(window=2, n_samples=3, sampler=samplers.marginal(_images(20, seed=2)))


# ---------------------------------------------------------------------------------------------
# hand-computable cases
# ---------------------------------------------------------------------------------------------


def _two_values_sampler(lo, hi):
    """A 'stochastic' sampler whose N = 2 draws are always lo and hi (key ignored)."""

    def draw(params, key, source, row, col, *, window, n):
        vals = jnp.resize(jnp.asarray([lo, hi], source.dtype), (n,))
        return jnp.broadcast_to(vals[:, None, None, None], (n, *window, source.shape[-1]))

    return Sampler({}, draw, name="two_values")


def _one_pixel(x):
    """Two classes from one pixel v: p(y=1 | v) = sigmoid(4 v - 2)."""
    z = 4.0 * x[:, 0, 0, 0] - 2.0
    return jnp.stack([jax.nn.sigmoid(-z), jax.nn.sigmoid(z)], axis=1)


def test_probabilities_are_averaged_before_the_log():
    # one pixel, one window; in-fills 0 and 1
    predict = _one_pixel
    v = 0.7
    x = np.full((1, 1, 1, 1), v, np.float32)
    m = it_maps(
        jax.random.key(0), predict, x, window=1, n_samples=2,
        sampler=_two_values_sampler(0.0, 1.0), classes=[[0, 1]],
    )  # fmt: skip
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    p = np.array([sig(-(4 * v - 2)), sig(4 * v - 2)])
    p0, p1 = np.array([sig(2), sig(-2)]), np.array([sig(-2), sig(2)])
    p_hat = (p0 + p1) / 2  # = (0.5, 0.5)
    np.testing.assert_allclose(m.pmi[0, :, 0, 0], np.log(p) - np.log(p_hat), rtol=1e-5)
    np.testing.assert_allclose(m.ig[0, 0, 0], np.sum(p * np.log(p / p_hat)), rtol=1e-5)
    wrong = np.log(p) - (np.log(p0) + np.log(p1)) / 2  # averaging log-probabilities
    assert np.abs(m.pmi[0, :, 0, 0] - wrong).min() > 0.1
    np.testing.assert_allclose(m.probs[0], p, rtol=1e-6)


def test_binary_ig_and_parity_on_the_hand_computable_case():
    # the same one-pixel classifier and in-fills: p_hat = (0.5, 0.5) exactly
    predict = _one_pixel
    v = 0.7
    x = np.full((1, 1, 1, 1), v, np.float32)
    kw = dict(window=1, n_samples=2, sampler=_two_values_sampler(0.0, 1.0), classes=[[1, 0]])
    m = it_maps(jax.random.key(0), predict, x, binary=True, **kw)
    q = it_maps(jax.random.key(0), predict, x, parity=True, **kw)
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    p1 = sig(4 * v - 2)
    # two classes: {y, not y} is Y itself, so the binary IG of either class equals IG
    bern = p1 * math.log(p1 / 0.5) + (1 - p1) * math.log((1 - p1) / 0.5)
    np.testing.assert_allclose(m.binary_ig[0, :, 0, 0], [bern, bern], rtol=1e-5)
    np.testing.assert_allclose(m.ig[0, 0, 0], bern, rtol=1e-5)
    assert it_maps(jax.random.key(0), predict, x, **kw).binary_ig is None
    # the reference's guarded ratio, restated: log(eps + p / (p_hat + eps sign(p_hat)))
    eps, p = 1e-13, np.array([p1, 1 - p1])
    want = np.log(eps + p / (0.5 + eps))
    np.testing.assert_allclose(q.pmi[0, :, 0, 0], want, rtol=1e-5)
    np.testing.assert_allclose(q.ig[0, 0, 0], np.sum(p[::-1] * want[::-1]), rtol=1e-5)


def test_binary_ig_matches_a_numpy_restatement_and_never_exceeds_ig():
    # non-overlapping 2x2 windows with a constant in-fill: every pixel's value is its window's
    x = _images(2, seed=5)[:, :4, :4, :]
    w = _W[: 4 * 4 * 2]
    predict = lambda a: jax.nn.softmax(a.reshape(a.shape[0], -1) @ w, axis=-1)  # noqa: E731
    m = it_maps(
        jax.random.key(0), predict, x, window=2, stride=2, sampler=samplers.constant(0.3),
        edge_policy="reference", binary=True, top_k=3,
    )  # fmt: skip
    p = np.asarray(predict(x), np.float64)
    for b in range(2):
        for r in (0, 2):
            for c in (0, 2):
                xf = np.array(x[b])
                xf[r : r + 2, c : c + 2] = 0.3
                q = np.asarray(predict(xf[None]), np.float64)[0]
                for j, y in enumerate(m.classes[b]):
                    a, e = p[b, y], q[y]
                    want = a * np.log(a / e) + (1 - a) * np.log((1 - a) / (1 - e))
                    np.testing.assert_allclose(m.binary_ig[b, j, r, c], want, rtol=2e-3, atol=1e-6)
    # coarsening Y to {y, not y} cannot increase a KL divergence
    assert np.all(m.binary_ig <= m.ig[:, None] + 1e-6)
    assert np.all(m.binary_ig >= -1e-7)


def test_pixel_value_is_the_mean_over_covering_windows():
    # 1 x 3 image, window (1, 2), stride 1: windows at columns 0 and 1
    x = np.array([[[[0.2], [0.9], [0.4]]]], np.float32)
    a = np.array([1.5, -2.0, 0.7])

    def predict(img):
        z = img[:, 0, :, 0] @ a
        return jnp.stack([jax.nn.sigmoid(-z), jax.nn.sigmoid(z)], axis=1)

    m = it_maps(
        jax.random.key(0), predict, x, window=(1, 2), sampler=samplers.constant(0.0), top_k=2
    )

    def probs(v):
        z = float(v @ a)
        return np.array([1 / (1 + np.exp(z)), 1 / (1 + np.exp(-z))])

    p = probs(x[0, 0, :, 0])
    q = [probs(np.array([0, 0, 0.4])), probs(np.array([0.2, 0, 0]))]
    ig_w = [np.sum(p * np.log(p / qq)) for qq in q]
    np.testing.assert_allclose(m.ig[0, 0], [ig_w[0], (ig_w[0] + ig_w[1]) / 2, ig_w[1]], rtol=1e-5)
    top = int(np.argmax(p))
    pmi_w = [np.log(p[top]) - np.log(qq[top]) for qq in q]
    np.testing.assert_allclose(m.pmi[0, 0, 0], [pmi_w[0], np.mean(pmi_w), pmi_w[1]], rtol=1e-5)
    assert m.classes.tolist() == [[top, 1 - top]]


def test_window_positions_and_edge_policies():
    assert positions(5, 2, 2, "reference").tolist() == [0, 2]
    assert positions(5, 2, 2, "cover").tolist() == [0, 2, 3]
    assert positions(5, 2, 2, "captum").tolist() == [0, 2, 4]
    assert positions(6, 2, 2, "cover").tolist() == [0, 2, 4]
    x = _images(1)
    kw = dict(window=2, stride=2, sampler=samplers.constant(0.0))
    ref = it_maps(jax.random.key(0), _linear_probs, x, edge_policy="reference", **kw)
    cov = it_maps(jax.random.key(0), _linear_probs, x, **kw)
    nan = np.isnan(ref.ig[0])
    assert nan[4].all() and nan[:, 4].all() and not nan[:4, :4].any()  # row/col 4 uncovered
    assert np.isfinite(cov.ig).all() and np.isfinite(cov.pmi).all()
    np.testing.assert_allclose(ref.ig[0, :2, :2], cov.ig[0, :2, :2], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# identities of the formulas
# ---------------------------------------------------------------------------------------------


def test_ig_is_the_probability_weighted_sum_of_all_pmi_maps():
    m = it_maps(jax.random.key(3), _linear_probs, _images(4), **_MARGINAL)
    assert isinstance(m, ITMaps)
    assert m.ig.shape == (4, 5, 5) and m.pmi.shape == (4, 3, 5, 5) and m.classes.shape == (4, 3)
    assert (m.ig >= 0).all()
    # per window IG = sum_y p(y) PMI(y); pixel maps are the same linear average of windows
    p = np.take_along_axis(m.probs, m.classes, axis=1)
    np.testing.assert_allclose(np.einsum("bk,bkhw->bhw", p, m.pmi), m.ig, atol=1e-5)
    np.testing.assert_array_equal(m.classes, np.argsort(-m.probs, axis=1))
    assert (m.pmi < 0).any() and (m.pmi > 0).any()


def test_an_infill_equal_to_the_image_carries_no_information():
    x = _images(1)
    m = it_maps(jax.random.key(0), _linear_probs, x, window=3, sampler=samplers.constant(x[0]))
    np.testing.assert_allclose(m.ig, 0.0, atol=1e-6)
    np.testing.assert_allclose(m.pmi, 0.0, atol=1e-6)


def test_maps_do_not_depend_on_batch_size_or_blocks():
    x = _images(4)
    a = it_maps(jax.random.key(5), _linear_probs, x, **_MARGINAL)
    b = it_maps(jax.random.key(5), _linear_probs, x[:2], batch_size=2, **_MARGINAL)
    np.testing.assert_allclose(a.pmi[:2], b.pmi, rtol=1e-5, atol=1e-6)
    d = it_maps(jax.random.key(6), _linear_probs, x, **_MARGINAL)
    assert np.abs(a.ig - d.ig).max() > 1e-4  # the key matters for a stochastic sampler


def test_progress_bar_over_blocks_and_the_same_maps(capsys):
    x = _images(6)
    kw = dict(window=3, stride=2, sampler=samplers.blur(1.0))
    quiet = it_maps(jax.random.key(0), _linear_probs, x, **kw)
    assert capsys.readouterr().err == ""
    loud = it_maps(jax.random.key(0), _linear_probs, x, progress=True, **kw)
    err = capsys.readouterr().err
    assert "it_maps" in err and "6/6" in err  # one image per block: 6 blocks
    np.testing.assert_allclose(loud.ig, quiet.ig, rtol=1e-5, atol=1e-7)


def test_constant_sampler_pmi_is_occlusion_of_log_probabilities():
    x = _images(2)
    b = np.array([0.3, 0.6], np.float32)
    m = it_maps(
        jax.random.key(0), _linear_logits, x, window=3, stride=2, edge_policy="captum",
        sampler=samplers.constant(b), outputs="logits", classes=[[2], [0]],
    )  # fmt: skip
    occ = occlusion(
        lambda a: jax.nn.log_softmax(_linear_logits(a)), x, window=3, stride=2,
        baseline=b, target=[2, 0],
    )  # fmt: skip
    np.testing.assert_allclose(m.pmi[:, 0], occ, rtol=1e-5, atol=1e-6)


def test_works_under_a_users_jit():
    x = _images(4)
    eager = it_maps(jax.random.key(1), _linear_probs, x, **_MARGINAL)
    traced = jax.jit(lambda a: it_maps(jax.random.key(1), _linear_probs, a, **_MARGINAL).ig)(x)
    np.testing.assert_allclose(traced, eager.ig, rtol=1e-5, atol=1e-7)


def test_a_vmap_over_keys_alone_gives_each_keys_maps():
    """Only the key traced (concrete images): the maps of every key, as separate calls give."""
    x = _images(2)
    keys = jax.random.split(jax.random.key(3), 2)
    batched = jax.vmap(lambda k: it_maps(k, _linear_probs, x, **_MARGINAL).ig)(keys)
    for i in range(2):
        one = it_maps(keys[i], _linear_probs, x, **_MARGINAL).ig
        np.testing.assert_allclose(batched[i], one, rtol=1e-5, atol=1e-7)
    assert not np.allclose(batched[0], batched[1])  # the keys draw different samples


# ---------------------------------------------------------------------------------------------
# a trained CNN on images whose class is decided by one object
# ---------------------------------------------------------------------------------------------


def test_pmi_of_the_true_class_points_into_the_object():
    data = jaxmi.data.synthetic_images(jax.random.key(0), 400, size=10, n_distractors=1)
    train = jax.tree.map(lambda a: a[:384], data)
    test = jax.tree.map(lambda a: a[384:], data)
    clf = jaxmi.models.train_classifier(
        jax.random.key(1), train.images, train.labels, epochs=6, batch_size=32,
        features=(8, 16), learning_rate=1e-2,
    )  # fmt: skip
    m = it_maps(
        jax.random.key(2), clf.predict_fn, test.images, window=2, n_samples=4,
        sampler=samplers.marginal(train.images[:100]), top_k=2,
    )  # fmt: skip
    n = test.images.shape[0]
    assert (np.argmax(m.probs, 1) == test.labels).mean() >= 0.9
    true = np.argmax(m.classes == test.labels[:, None], axis=1)
    pmi_true = m.pmi[np.arange(n), true].reshape(n, -1)
    masks = np.asarray(test.masks).reshape(n, -1)
    hits = masks[np.arange(n), pmi_true.argmax(1)].mean()
    chance = masks.mean()  # 9 of 100 pixels
    assert hits >= 0.75 > 5 * chance, (hits, chance)
    ig_hits = masks[np.arange(n), m.ig.reshape(n, -1).argmax(1)].mean()
    assert ig_hits >= 0.75
    # most of the positive PMI mass of the true class lies in the object's footprint
    pos = np.clip(pmi_true, 0, None)
    assert np.mean((pos * masks).sum(1) / pos.sum(1)) > 0.5


# ---------------------------------------------------------------------------------------------
# malformed inputs
# ---------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=5))
def test_images_of_the_wrong_shape_raise(shape):
    x = np.zeros(shape, np.float32)
    if x.ndim == 4 and min(x.shape) > 0:
        return
    with pytest.raises(ValueError, match="images"):
        it_maps(jax.random.key(0), _linear_probs, x, window=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(window=6), "window"),
        (dict(window=0), "window"),
        (dict(window=(2, 2, 2)), "window"),
        (dict(stride=0), "stride"),
        (dict(n_samples=0), "n_samples"),
        (dict(top_k=4), "top_k"),
        (dict(classes=[[3]]), "classes"),
        (dict(classes=[0.5]), "classes"),
        (dict(batch_size=0), "batch_size"),
        (dict(edge_policy="wrap"), "edge_policy"),
        (dict(outputs="probabilities"), "outputs"),
        (dict(sampler=lambda *a: a), "sampler"),
        (dict(mesh="cpu"), "mesh"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, match):
    kw = dict(window=2, sampler=samplers.constant(0.0))
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        it_maps(jax.random.key(0), _linear_probs, _images(1), **kw)


def test_bad_images_predict_fn_and_key_raise():
    x = _images(1)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="images"):
        it_maps(jax.random.key(0), _linear_probs, bad, window=2)
    with pytest.raises(ValueError, match="images"):
        it_maps(jax.random.key(0), _linear_probs, x.astype(bool), window=2)
    with pytest.raises(ValueError, match="predict_fn"):
        it_maps(jax.random.key(0), lambda a: a.sum((1, 2, 3)), x, window=2)
    with pytest.raises(ValueError, match="predict_fn"):
        it_maps(jax.random.key(0), lambda a: a[:, :, :, 0].reshape(3), x, window=2)
    with pytest.raises(ValueError, match=r"predict_fn.*sum"):
        it_maps(jax.random.key(0), _linear_logits, x, window=2, sampler=samplers.constant(0.0))
    with pytest.raises(ValueError, match="key"):
        it_maps(0, _linear_probs, x, window=2)


def test_plot_attribution_draws_image_ig_and_pmi_panels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxmi.plot import attribution

    m = ITMaps(
        ig=np.random.default_rng(0).uniform(size=(2, 5, 5)),
        pmi=np.linspace(-1, 2, 2 * 3 * 25).reshape(2, 3, 5, 5),
        classes=np.array([[2, 0, 1], [1, 2, 0]]),
        probs=np.array([[0.2, 0.1, 0.7], [0.1, 0.6, 0.3]]),
    )
    axes = attribution(_images(2), m, index=1, class_names=["a", "b", "c"])
    assert len(axes) == 5
    assert "PMI b" in axes[2].get_title() and "p=0.60" in axes[2].get_title()
    assert axes[2].images[1].get_clim() == (-2.0, 2.0)  # symmetric, shared over PMI panels
    with pytest.raises(ValueError, match="image"):
        attribution(np.zeros((5, 5)), m)
    with pytest.raises(ValueError, match="axes"):
        attribution(_images(2)[..., :1], m, axes=axes[:2])
    with pytest.raises(ValueError, match="maps"):
        attribution(np.zeros((4, 4, 3)), m)
    plt.close("all")
