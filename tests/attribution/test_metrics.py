"""jaxmi.attribution.metrics on hand-computable cases.

Most cases use a linear "model" whose score is a known function of the pixels, so every curve
is computable by hand: f_0(x) = Σ w·x (class 0) and f_1 = -f_0 (class 1).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmi.attribution import metrics as M

H = W = 4
RNG = np.random.default_rng(0)
WEIGHTS = RNG.uniform(0.1, 1.0, (H, W, 1)).astype(np.float32)


def linear(x):
    s = (x * WEIGHTS[None]).sum((1, 2, 3))
    return jnp.stack([s, -s], axis=-1)


def _images(b=2, seed=1):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (b, H, W, 1)).astype(np.float32)


def _order(a):
    """Pixel order by decreasing value, ties by lower index (NumPy's stable sort)."""
    return np.argsort(-a.ravel(), kind="stable")


def test_deletion_insertion_curves_and_auc_conventions_by_hand():
    x = _images()
    a = np.round(RNG.normal(size=(2, H, W)), 0).astype(np.float32)  # many ties
    p = 3  # 16 pixels: counts 0, 3, ..., 15, 16 (last step partial)
    mean = x.mean((1, 2, 3))
    res = {
        conv: M.deletion(linear, x, a, 0, pixels_per_step=p, convention=conv)
        for conv in ("jaxmi", "rise", "inputiba")
    }
    ins = M.insertion(linear, x, a, 0, pixels_per_step=p, substrate="mean")
    counts = np.minimum(np.arange(7) * p, 16)
    np.testing.assert_allclose(res["jaxmi"].fractions, counts / 16)
    for i in range(2):
        contrib = (x[i] * WEIGHTS).ravel()
        order = _order(a[i])
        dele = np.array([contrib.sum() - contrib[order[:c]].sum() for c in counts])
        sub = (mean[i] * WEIGHTS).ravel()
        inse = np.array(
            [contrib[order[:c]].sum() + np.delete(sub, order[:c]).sum() for c in counts]
        )
        np.testing.assert_allclose(res["jaxmi"].curves[i], dele, rtol=1e-5)
        np.testing.assert_allclose(ins.curves[i], inse, rtol=1e-5)
        np.testing.assert_allclose(res["jaxmi"].auc[i], np.trapezoid(dele, counts / 16), rtol=1e-5)
        np.testing.assert_allclose(ins.auc[i], np.trapezoid(inse, counts / 16), rtol=1e-5)
        # RISE: (Σc − c0/2 − cn/2)/n; InputIBA: no c0, trapezoid with dx = 1/len
        n = len(counts) - 1
        np.testing.assert_allclose(res["rise"].auc[i], np.trapezoid(dele, dx=1 / n), rtol=1e-5)
        np.testing.assert_allclose(
            res["inputiba"].auc[i], np.trapezoid(dele[1:], dx=1 / n), rtol=1e-5
        )


def test_every_step_is_its_own_state():
    """Regression for InputIBA's in-place bug: a model counting the original pixels left must
    give exactly H·W − k at step k (one pixel per step), not a block-constant curve."""

    def count(x):
        s = x.sum((1, 2, 3))
        return jnp.stack([s, -s], -1)

    x = np.ones((1, H, W, 1), np.float32)
    r = M.deletion(count, x, np.zeros((1, H, W), np.float32), 0, pixels_per_step=1, batch_size=5)
    np.testing.assert_array_equal(r.curves[0], np.arange(16, -1, -1))
    np.testing.assert_allclose(r.auc, [8.0])


def test_top1_target_channel_reduction_and_jit():
    x = _images()
    a4 = RNG.normal(size=(2, H, W, 1)).astype(np.float32)
    r4 = M.deletion(linear, x, a4, "top1", reduce="sum", pixels_per_step=4)
    r3 = M.deletion(linear, x, a4[..., 0], np.array([0, 0]), pixels_per_step=4)
    np.testing.assert_allclose(r4.curves, r3.curves)  # f_0 > 0 = f_1 on positive images
    jitted = jax.jit(lambda xx, aa: M.deletion(linear, xx, aa, 0, pixels_per_step=4).auc)
    np.testing.assert_allclose(jitted(x, a4[..., 0]), r3.auc, rtol=1e-6)

    # a Partial predict_fn (parameters as leaves) is data: new weights, same program
    def lin_w(w, xx):
        s = (xx * w[None]).sum((1, 2, 3))
        return jnp.stack([s, -s], axis=-1)

    part = jax.tree_util.Partial(lin_w, jnp.asarray(WEIGHTS))
    r_p = M.deletion(part, x, a4[..., 0], 0, pixels_per_step=4)
    np.testing.assert_allclose(r_p.curves, r3.curves, rtol=1e-6)
    compiled = M._JITTED[M._curve_core][1]._cache_size()
    r_2 = M.deletion(
        jax.tree_util.Partial(lin_w, 2 * jnp.asarray(WEIGHTS)), x, a4[..., 0], 0, pixels_per_step=4
    )
    np.testing.assert_allclose(r_2.curves, 2 * r3.curves, rtol=1e-5)
    assert M._JITTED[M._curve_core][1]._cache_size() == compiled


def test_gaussian_blur_matches_scipy_zero_padding():
    ndimage = pytest.importorskip("scipy.ndimage")
    img = RNG.uniform(size=(1, 7, 6, 2)).astype(np.float32)
    r = np.arange(5) - 2
    g = np.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * 1.5**2))
    g /= g.sum()
    ref = np.stack(
        [ndimage.convolve(img[0, ..., c], g, mode="constant", cval=0.0) for c in range(2)], -1
    )
    np.testing.assert_allclose(M.gaussian_blur(img, 1.5, 5)[0], ref, atol=1e-6)
    s = M.substrate_images(img, "blur", blur_sigma=1.5, blur_size=5)
    np.testing.assert_allclose(s, M.gaussian_blur(img, 1.5, 5))
    np.testing.assert_allclose(M.substrate_images(img, np.array([0.5, 2.0]))[0, 3, 3], [0.5, 2.0])


def test_morf_lerf_tiles_by_hand():
    x = _images()
    a = RNG.normal(size=(2, H, W)).astype(np.float32)
    r = M.morf_lerf(linear, x, a, 0, tile_size=2, substrate="zero")
    np.testing.assert_allclose(r.fractions, np.arange(5) / 4)
    for i in range(2):
        contrib = (x[i, ..., 0] * WEIGHTS[..., 0]).reshape(2, 2, 2, 2).sum((1, 3)).ravel()
        rel = a[i].reshape(2, 2, 2, 2).mean((1, 3)).ravel()
        order = _order(rel)
        morf = [contrib.sum() - contrib[order[:k]].sum() for k in range(5)]
        lerf = [contrib.sum() - contrib[order[::-1][:k]].sum() for k in range(5)]
        np.testing.assert_allclose(r.morf[i], morf, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(r.lerf[i], lerf, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(r.area[i], np.mean(np.subtract(lerf, morf)), rtol=1e-5)
    np.testing.assert_allclose(r.mean_area, (r.lerf.mean(0) - r.morf.mean(0)).mean(), rtol=1e-5)


def test_sensitivity_n_linear_model():
    """f = Σ w·x with the zero substrate: the output drop of a set S is exactly Σ_S w·x, so the
    gradient×input map has correlation 1, its negation −1 and a random map about 0."""
    x = _images(3)
    perfect = x[..., 0] * WEIGHTS[..., 0]
    key = jax.random.key(0)
    kw = dict(n_values=[1, 3, 8], n_sets=30)
    good = M.sensitivity_n(key, linear, x, perfect, 0, **kw)
    bad = M.sensitivity_n(key, linear, x, -perfect, 0, **kw)
    rand = M.sensitivity_n(key, linear, x, RNG.normal(size=(3, H, W)).astype(np.float32), 0, **kw)
    np.testing.assert_allclose(good.attribution_sums, good.output_drops, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(good.correlation, 1.0, atol=1e-5)
    np.testing.assert_allclose(bad.correlation, -1.0, atol=1e-5)
    assert good.mean > rand.mean > bad.mean
    assert np.all(np.abs(rand.correlation) < 0.6)
    # each set holds exactly n pixels: the sums of a map of ones count them
    ones = M.sensitivity_n(key, linear, x, np.ones((3, H, W), np.float32), 0, **kw)
    np.testing.assert_array_equal(ones.attribution_sums, np.broadcast_to([1, 3, 8], (3, 30, 3)))
    assert good.n.tolist() == [1, 3, 8]


def test_noisy_linear_impute_matches_scipy_sparse_solve():
    sparse = pytest.importorskip("scipy.sparse")
    spla = pytest.importorskip("scipy.sparse.linalg")
    h, w, c = 6, 5, 2
    img = RNG.uniform(size=(h, w, c)).astype(np.float32)
    removed = RNG.uniform(size=(h, w)) < 0.6
    removed[0, 0] = False
    # reference: every removed pixel = weighted mean of its in-image neighbours (1/6, 1/12)
    idx = -np.ones((h, w), int)
    idx[removed] = np.arange(removed.sum())
    n = removed.sum()
    a = sparse.lil_matrix((n, n))
    b = np.zeros((n, c))
    for i, j in zip(*np.nonzero(removed), strict=True):
        row = idx[i, j]
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                ii, jj = i + di, j + dj
                if (di or dj) and 0 <= ii < h and 0 <= jj < w:
                    wt = 1 / 12 if di and dj else 1 / 6
                    a[row, row] += wt
                    if removed[ii, jj]:
                        a[row, idx[ii, jj]] -= wt
                    else:
                        b[row] += wt * img[ii, jj]
    sol = spla.spsolve(a.tocsc(), b)
    ref = img.astype(np.float64).copy()
    ref[removed] = sol
    out = M.noisy_linear_impute(jax.random.key(0), img, removed, noise=0.0)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    noisy = M.noisy_linear_impute(jax.random.key(1), img, removed, noise=0.01)
    diff = np.asarray(noisy - out)
    assert np.all(diff[~removed] == 0)
    assert 0.007 < diff[removed].std() < 0.013


def test_road_states_are_imputations_in_map_order():
    x = _images(2)
    a = RNG.normal(size=(2, H, W)).astype(np.float32)
    r = M.road(jax.random.key(0), linear, x, a, 0, percentages=[25, 50, 90], noise=0.0)
    np.testing.assert_allclose(r.fractions, [4 / 16, 8 / 16, 14 / 16])
    for i in range(2):
        order = _order(a[i])
        for k, n_rm in enumerate((4, 8, 14)):
            for curve, o in ((r.morf, order), (r.lerf, order[::-1])):
                gone = np.zeros(16, bool)
                gone[o[:n_rm]] = True
                state = M.noisy_linear_impute(
                    jax.random.key(0), x[i], gone.reshape(H, W), noise=0.0
                )
                np.testing.assert_allclose(curve[i, k], linear(state[None])[0, 0], rtol=1e-4)
    # f_0 > f_1 on every imputed positive image: the arg-max stays the target
    np.testing.assert_array_equal(r.morf_accuracy, 1.0)
    np.testing.assert_allclose(r.area, (r.lerf - r.morf).mean(-1), rtol=1e-6)


def test_localisation_by_hand():
    a = np.zeros((3, 4, 4), np.float32)
    masks = np.zeros((3, 4, 4), bool)
    masks[:, 1:3, 1:3] = True  # 4 pixels
    a[0, 2, 2] = 1.0  # maximum inside
    a[1, 0, 0] = 1.0  # diagonal neighbour of (1, 1): distance √2
    a[2, 3, 1] = 1.0  # straight below (2, 1): distance 1
    assert M.pointing_game(a, masks).hits.tolist() == [True, False, False]
    assert M.pointing_game(a, masks, tolerance=1).hits.tolist() == [True, False, True]
    assert M.pointing_game(a, masks, tolerance=1.5).accuracy == 1.0
    # top-4: a ramp whose 4 largest pixels are 2 inside + 2 outside
    ramp = np.zeros((1, 4, 4), np.float32)
    ramp[0, 1, 1], ramp[0, 2, 2], ramp[0, 0, 0], ramp[0, 3, 3] = 4, 3, 2, 1
    np.testing.assert_allclose(M.top_n_in_mask(ramp, masks[:1]), [0.5])
    np.testing.assert_allclose(M.heat_share(ramp, masks[:1]), [0.7])
    # ties broken by lower index: a flat map takes the first 4 pixels (row 0) -> none inside
    np.testing.assert_allclose(M.top_n_in_mask(np.ones((1, 4, 4)), masks[:1]), [0.0])


def _ehr_reference(a, m, base=0.1, weight=True):
    """The EHR rule written out with NumPy."""
    h = (a - a.min()) / (a.max() - a.min())
    h[h < base] = 0
    poi = np.sort(h[h >= base])
    ratios = []
    for q in np.linspace(0, 1, 11):
        pos = round(q * (len(poi) - 1), 9)  # exact positions stay exact (0.3 · 20 = 6)
        lo = int(np.floor(pos))
        quantile = poi[lo] + (pos - lo) * (poi[min(lo + 1, len(poi) - 1)] - poi[lo])
        t = min(quantile, 0.99 * h.max())
        sel = h >= t
        inside = (h if weight else np.ones_like(h))[sel & m].sum()
        ratios.append(inside / sel.sum())
    return np.trapezoid(ratios, np.linspace(0, 1, 11)), ratios


def test_effective_heat_ratio_matches_the_rule():
    a = RNG.uniform(size=(3, 6, 6)).astype(np.float32) ** 3
    # image 0: 5 zeros and 31 points of interest in [0.2, 1]: q · 30 is an integer for every q,
    # so every threshold is exactly a pixel value (the >= boundary case)
    a[0] = RNG.uniform(0.2, 1.0, (6, 6))
    a[0].flat[:5] = 0.0
    a[0, 5, 5] = 1.0
    m = RNG.uniform(size=(3, 6, 6)) < 0.4
    for weight in (True, False):
        r = M.effective_heat_ratio(a, m, weight_by_heat=weight)
        for i in range(3):
            ehr, ratios = _ehr_reference(a[i].astype(np.float64), m[i], weight=weight)
            np.testing.assert_allclose(r.ratios[i], ratios, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(r.ehr[i], ehr, rtol=1e-4)
    flat = M.effective_heat_ratio(np.ones((3, 6, 6), np.float32), m)
    np.testing.assert_array_equal(flat.ehr, 0.0)


def test_perfect_beats_random_beats_inverted():
    """Deletion/insertion/MoRF on the linear model (the contribution map w·x is the greedy
    optimum at every step) and localisation against object masks (the mask is the perfect map)."""
    x = _images(4, seed=5)
    perfect = x[..., 0] * WEIGHTS[..., 0]
    maps = dict(
        perfect=perfect, random=RNG.uniform(size=perfect.shape).astype(np.float32), inv=-perfect
    )

    def sig(xx):
        s = jax.nn.sigmoid(4.0 * ((xx * WEIGHTS[None]).sum((1, 2, 3)) - 2.0))
        return jnp.stack([s, 1 - s], -1)

    dele = {k: M.deletion(sig, x, v, 0, pixels_per_step=2).auc for k, v in maps.items()}
    ins = {
        k: M.insertion(sig, x, v, 0, pixels_per_step=2, substrate="zero").auc
        for k, v in maps.items()
    }
    deg = {
        k: M.morf_lerf(sig, x, v, 0, tile_size=1, substrate="zero").area for k, v in maps.items()
    }
    assert np.all(dele["perfect"] <= dele["random"]) and np.all(dele["random"] <= dele["inv"])
    assert np.all(ins["perfect"] >= ins["random"]) and np.all(ins["random"] >= ins["inv"])
    assert np.all(deg["perfect"] > deg["random"]) and np.all(deg["random"] > deg["inv"])
    assert dele["perfect"].mean() < dele["random"].mean() < dele["inv"].mean()

    m = np.zeros((16, 12, 12), bool)  # 3×3 object footprints at random places
    for i, (r, c) in enumerate(RNG.integers(0, 10, (16, 2))):
        m[i, r : r + 3, c : c + 3] = True
    loc = dict(
        perfect=m.astype(np.float32),
        random=RNG.uniform(size=m.shape).astype(np.float32),
        inv=(~m).astype(np.float32),
    )
    point = {k: float(M.pointing_game(v, m).accuracy) for k, v in loc.items()}
    ehr = {k: float(M.effective_heat_ratio(v, m).ehr.mean()) for k, v in loc.items()}
    top = {k: float(M.top_n_in_mask(v, m).mean()) for k, v in loc.items()}
    for score in (point, ehr, top):
        assert score["perfect"] == 1.0 and score["inv"] == 0.0
        assert 0.0 <= score["random"] < 1.0
    assert 0.0 < top["random"] < 0.5 and 0.0 < ehr["random"] < 0.5


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda x, a: M.deletion(linear, x[0], a, 0), "images"),
        (lambda x, a: M.deletion(linear, x, a[:, :3], 0), "attributions"),
        (lambda x, a: M.deletion(linear, x, a[..., None], 0), "attributions"),
        (lambda x, a: M.deletion(linear, x, a, 2), "target"),
        (lambda x, a: M.deletion(linear, x, a, "top2"), "target"),
        (lambda x, a: M.deletion(linear, x, a, 0, pixels_per_step=0), "pixels_per_step"),
        (lambda x, a: M.deletion(linear, x, a, 0, substrate="grey"), "substrate"),
        (lambda x, a: M.deletion(linear, x, a, 0, convention="auc"), "convention"),
        (lambda x, a: M.deletion(lambda b: b.sum((1, 2, 3)), x, a, 0), "predict_fn"),
        # a batch collapsed to one row: caught by a probe batch of 2 (one row would pass)
        (
            lambda x, a: M.deletion(lambda b: linear(b).mean(0, keepdims=True), x, a, 0),
            "predict_fn",
        ),
        (lambda x, a: M.morf_lerf(lambda b: linear(b)[:1], x, a, 0), "predict_fn"),
        (lambda x, a: M.deletion(linear, x * np.nan, a, 0), "images"),
        (lambda x, a: M.insertion(linear, x, a, 0, blur_size=4), "blur_size"),
        (lambda x, a: M.morf_lerf(linear, x, a, 0, tile_size=9), "tile_size"),
        (
            lambda x, a: M.sensitivity_n(jax.random.key(0), linear, x, a, 0, n_values=[17]),
            "n_values",
        ),
        (lambda x, a: M.sensitivity_n(0, linear, x, a, 0), "key"),
        (lambda x, a: M.road(jax.random.key(0), linear, x, a, 0, percentages=[100]), "percentages"),
        (lambda x, a: M.pointing_game(a, np.zeros(a.shape, bool)), "masks"),
        (lambda x, a: M.heat_share(a - 2.0, np.ones(a.shape, bool)), "attributions"),
        (
            lambda x, a: M.noisy_linear_impute(jax.random.key(0), x[0], np.ones((H, W), bool)),
            "removed",
        ),
    ],
)
def test_validation_names_the_argument(call, name):
    x = _images()
    a = np.ones((2, H, W), np.float32)
    with pytest.raises(ValueError, match=name):
        call(x, a)
