"""Samplers: the protocol (shapes, jit/vmap), point masses, marginal and Gaussian conditional."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmi.attribution import samplers
from jaxmi.attribution.samplers import Sampler

_RNG = np.random.default_rng(0)
_BANK = _RNG.uniform(size=(12, 6, 5, 2)).astype(np.float32)


def _all_samplers():
    return [
        samplers.constant(0.25),
        samplers.mean_image(_BANK),
        samplers.blur(1.0),
        samplers.marginal(_BANK),
        samplers.gaussian_conditional(jax.random.key(0), _BANK, window=2, max_patches=500),
    ]


def test_protocol_shapes_and_vmapped_draws_equal_single_draws():
    img = _BANK[0]
    rows, cols = jnp.array([0, 3, 4]), jnp.array([1, 3, 4])  # (4, 4) overhangs the border
    keys = jax.random.split(jax.random.key(1), 3)
    for s in _all_samplers():
        assert isinstance(s, Sampler)

        @jax.jit
        def many(params, image, keys, rows, cols, s=s):
            src = s.prepare(params, image)
            draws = jax.vmap(lambda k, r, c: s.draw(params, k, src, r, c, window=(2, 2), n=3))
            return src, draws(keys, rows, cols), s.draw(params, keys[1], src, rows[1], cols[1],
                                                          window=(2, 2), n=3)  # fmt: skip

        src, out, one = many(s.params, img, keys, rows, cols)
        assert src.shape == img.shape
        assert out.shape == (3, 3, 2, 2, 2) and np.isfinite(out).all(), s.name
        np.testing.assert_allclose(out[1], one, rtol=1e-6, atol=1e-7)


def test_draws_under_x64_take_int32_window_positions():
    # it_maps passes int32 positions; under jax_enable_x64 the literal 0 of a dynamic_slice's
    # start was int64, and the Gaussian conditional sampler failed
    img, key, at = _BANK[0], jax.random.key(1), (jnp.int32(3), jnp.int32(1))
    for s in _all_samplers():
        draw = jax.jit(lambda p, k, x, r, c, s=s: s.draw(p, k, s.prepare(p, x), r, c,
                                                          window=(2, 2), n=3))  # fmt: skip
        want = draw(s.params, key, img, *at)
        with jax.enable_x64(True):
            got = draw(s.params, key, img, *at)
            with jax.numpy_dtype_promotion("strict"):  # int64 window offsets met int32 positions
                np.testing.assert_array_equal(draw(s.params, key, img, *at), got, err_msg=s.name)
        assert got.shape == want.shape and got.dtype == np.float32, s.name
        assert np.isfinite(got).all(), s.name
        if s.deterministic:  # (integer draws follow x64: the marginal's bank images differ)
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=s.name)


def test_constant_and_mean_image_values():
    img = np.zeros((4, 4, 3), np.float32)
    c = samplers.constant(np.array([0.1, 0.2, 0.3], np.float32))
    p = c.draw(c.params, jax.random.key(0), img, 3, 3, window=(2, 2), n=2)
    np.testing.assert_allclose(p, np.broadcast_to([0.1, 0.2, 0.3], (2, 2, 2, 3)), rtol=1e-6)
    m = samplers.mean_image(_BANK)
    assert m.deterministic and c.deterministic
    p = m.draw(m.params, jax.random.key(0), _BANK[0], 1, 2, window=(3, 2), n=1)
    np.testing.assert_allclose(p[0], _BANK.mean(0)[1:4, 2:4], rtol=1e-6)


def test_blur_matches_scipy_gaussian_filter_with_mirror_borders():
    ndimage = pytest.importorskip("scipy.ndimage")
    img = _RNG.uniform(size=(9, 8, 2)).astype(np.float32)
    s = samplers.blur(1.2)
    got = s.prepare(s.params, img)
    want = np.stack(
        [ndimage.gaussian_filter(img[..., c], 1.2, mode="mirror", truncate=3.0) for c in (0, 1)],
        axis=-1,
    )
    # scipy's radius int(3 * 1.2 + 0.5) = 4 = ceil(3 * 1.2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    flat = np.full((5, 5, 1), 0.3, np.float32)
    np.testing.assert_allclose(s.prepare(s.params, flat), flat, rtol=1e-6)


def test_marginal_draws_the_same_window_of_bank_images():
    s = samplers.marginal(_BANK)
    p = s.draw(s.params, jax.random.key(3), _BANK[0], 2, 1, window=(3, 2), n=50)
    windows = _BANK[:, 2:5, 1:3]  # (12, 3, 2, 2)
    match = np.all(np.isclose(p[:, None], windows[None]), axis=(2, 3, 4))
    assert match.any(axis=1).all()  # every sample is a bank window at the same position
    assert len(set(match.argmax(1).tolist())) >= 8  # drawn from many images


def test_gaussian_conditional_recovers_a_smooth_context():
    # every image is one grey level v plus small noise: the window given its ring is ~ v
    n = 400
    v = _RNG.uniform(0.2, 0.8, size=(n, 1, 1, 1))
    imgs = (v + 0.01 * _RNG.normal(size=(n, 8, 8, 1))).astype(np.float32)
    s = samplers.gaussian_conditional(jax.random.key(0), imgs, window=2, max_patches=4000)
    test = np.full((8, 8, 1), 0.37, np.float32)
    p = np.asarray(s.draw(s.params, jax.random.key(1), test, 3, 3, window=(2, 2), n=400))
    assert abs(p.mean() - 0.37) < 0.01
    # the conditional spread is far below the spread of v (0.17); it exceeds the noise (0.01)
    # because the moments are pooled over border windows whose ring is partly zero padding
    assert 0.005 < p.std() < 0.25 * imgs.std()
    assert p.min() >= imgs.min() and p.max() <= imgs.max()
    with pytest.raises(ValueError, match="sampler"):
        s.draw(s.params, jax.random.key(1), test, 3, 3, window=(3, 3), n=1)


def test_bad_sampler_arguments_raise():
    with pytest.raises(ValueError, match="sigma"):
        samplers.blur(0.0)
    with pytest.raises(ValueError, match="images"):
        samplers.marginal(np.zeros((4, 4, 1)))
    with pytest.raises(ValueError, match="images"):
        samplers.mean_image(np.full((2, 4, 4, 1), np.nan))
    with pytest.raises(ValueError, match="value"):
        samplers.constant(np.zeros((1, 2, 2, 2, 1)))
    with pytest.raises(ValueError, match="window"):
        samplers.gaussian_conditional(jax.random.key(0), _BANK, window=7)
    with pytest.raises(ValueError, match="key"):
        samplers.gaussian_conditional(0, _BANK, window=2)


def test_learned_patch_sampler_reads_the_context():
    # every image is all black or all white: the window's level follows from its ring
    rng = np.random.default_rng(1)
    imgs = np.repeat(rng.integers(0, 2, 64).astype(np.float32), 36).reshape(64, 6, 6, 1)
    s = samplers.fit_patch_sampler(
        jax.random.key(0), imgs, window=2, levels=2, features=(8,), steps=60,
        batch_size=32, eval_every=30, learning_rate=1e-2,
    )  # fmt: skip
    assert s.name == "learned_categorical" and not s.deterministic
    curve = np.asarray(s.params["val_nll"])
    assert curve.shape == (2,) and curve.min() < 0.5 * np.log(2)
    draw = jax.jit(lambda p, k, x, r, c: s.draw(p, k, x, r, c, window=(2, 2), n=40))
    white = draw(s.params, jax.random.key(1), np.ones((6, 6, 1), np.float32), 2, 1)
    black = draw(s.params, jax.random.key(1), np.zeros((6, 6, 1), np.float32), 4, 4)
    assert white.shape == (40, 2, 2, 1)
    assert (np.asarray(white) == 1.0).mean() > 0.9 and (np.asarray(black) == 0.0).mean() > 0.9
    with pytest.raises(ValueError, match="levels"):
        samplers.fit_patch_sampler(jax.random.key(0), imgs, window=2, levels=1)
    with pytest.raises(ValueError, match="value_range"):
        samplers.fit_patch_sampler(jax.random.key(0), imgs, window=2, value_range=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"^key: fit_patch_sampler .* cannot run under jit"):
        jax.jit(lambda k: samplers.fit_patch_sampler(k, imgs, window=2).params)(jax.random.key(0))
