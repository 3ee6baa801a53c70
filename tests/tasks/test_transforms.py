"""Round trips of every invertible transform, to dtype precision, and bimodal numerics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import log_ndtr, ndtr, ndtri

from jaxmi.tasks import _bimodal, _gmmmi, _transforms

KEY = jax.random.key(7)


def _normal(shape, dtype, scale=1.0):
    return scale * jax.random.normal(KEY, shape, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_half_cube_roundtrip(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    t = _normal((2000,), dtype, 3.0)
    back = _transforms.half_cube_inverse(_transforms.half_cube_fn(t))
    tol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(np.asarray(back), np.asarray(t), rtol=tol, atol=tol)


def test_spiral_roundtrip_float32():
    dtype = "float32"
    x = _normal((500, 5), dtype)
    fwd = _transforms.spiral_fn(x, 1 / 5, (1, 3))
    assert not np.allclose(np.asarray(fwd), np.asarray(x))
    back = _transforms.spiral_fn(fwd, -1 / 5, (1, 3))
    # θ = v‖x‖² is recomputed from the (norm-preserved) output: error ~ eps·v‖x‖²·|x|
    tol = 64 * np.finfo(dtype).eps
    np.testing.assert_allclose(np.asarray(back), np.asarray(x), rtol=tol, atol=tol * 10)


def test_spiral_matches_matrix_exponential(x64):
    from scipy.linalg import expm

    x = np.asarray(_normal((20, 4), "float64"))
    gen = np.zeros((4, 4))
    gen[0, 2], gen[2, 0] = -1.0, 1.0
    v = 0.7
    expected = np.stack([expm(v * (xi @ xi) * gen) @ xi for xi in x])
    got = np.asarray(_transforms.spiral_fn(jnp.asarray(x), v, (0, 2)))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    back = np.asarray(_transforms.spiral_fn(jnp.asarray(got), -v, (0, 2)))
    np.testing.assert_allclose(back, x, rtol=1e-13, atol=1e-13)


def test_swissroll_roundtrip(x64):
    u = jax.random.uniform(KEY, (1000, 1), jnp.float64)
    back = _transforms.swissroll_inverse(_transforms.swissroll_fn(u))
    np.testing.assert_allclose(np.asarray(back), np.asarray(u), atol=1e-13)


def test_elementwise_inverses(x64):
    t = _normal((1000,), "float64", 2.0)
    np.testing.assert_allclose(np.asarray(jnp.sinh(jnp.arcsinh(t))), np.asarray(t), rtol=1e-14)
    # Φ loses the upper tail (1 − Φ(t) below eps): the round trip is exact to ~1e-10 for |t| <= 5
    tc = jnp.clip(t, -5.0, 5.0)
    np.testing.assert_allclose(np.asarray(ndtri(ndtr(tc))), np.asarray(tc), atol=1e-9)
    cube = _gmmmi._GMMMI_TRANSFORMS["cube"]
    np.testing.assert_allclose(
        np.asarray(cube[1](cube[0](t))), np.asarray(t), rtol=1e-10, atol=1e-12
    )
    tt = jnp.abs(t) - 4.9  # log/square are defined for y > -5
    for kind in ("log", "square"):
        f, finv = _gmmmi._GMMMI_TRANSFORMS[kind]
        np.testing.assert_allclose(np.asarray(finv(f(tt))), np.asarray(tt), atol=1e-11)


def test_wiggly_strictly_increasing(x64):
    t = jnp.linspace(-50, 50, 200_001, dtype=jnp.float64)
    for f, bound in ((_transforms.wiggly_x, 0.161), (_transforms.wiggly_y, 0.533)):
        deriv = jax.vmap(jax.grad(f))(t)
        assert float(deriv.min()) >= bound - 1e-9


def test_waves_roundtrip(x64):
    from jaxmi.tasks import _mixtures

    x = _normal((1000, 2), "float64", 3.0)
    back = _mixtures.waves_unbend(_mixtures.waves_bend(x, 5.0, 3.0), 5.0, 3.0)
    np.testing.assert_allclose(np.asarray(back), np.asarray(x), atol=1e-12)


# ---- bimodal inverse CDF --------------------------------------------------------------------


def test_bimodal_cdf_of_inverse_cdf_float64(x64):
    t = jnp.linspace(-8.0, 8.0, 4001, dtype=jnp.float64)
    for w, m in (_bimodal.BIMODAL_X, _bimodal.BIMODAL_Y):
        s = _bimodal.mixture_quantile_of_normal(t, w, m)
        log_cdf, log_sf = _bimodal.mixture_log_cdf(s, w, m)
        # F(s) = Φ(t), compared in the accurate tail of each side
        lower = t <= 0
        got = jnp.where(lower, log_cdf, log_sf)
        want = jnp.where(lower, log_ndtr(t), log_ndtr(-t))
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-13)
        back = _bimodal._normal_of_mixture(s, w, m)
        np.testing.assert_allclose(np.asarray(back), np.asarray(t), atol=1e-9)


def test_bimodal_float32_no_saturation(x64):
    # Φ(t) rounds to 1 in float32 for t ≳ 5.3; the solver never forms Φ(t)
    t32 = jnp.asarray([-6.5, -5.6, -5.4, -1.0, 0.0, 1.0, 5.4, 5.6, 6.5], jnp.float32)
    assert float(ndtr(t32[-2])) == 1.0  # the saturation that must be avoided
    for w, m in (_bimodal.BIMODAL_X, _bimodal.BIMODAL_Y):
        s32 = _bimodal.mixture_quantile_of_normal(t32, w, m)
        s64 = _bimodal.mixture_quantile_of_normal(t32.astype(jnp.float64), w, m)
        assert s32.dtype == jnp.float32
        np.testing.assert_allclose(
            np.asarray(s32, np.float64),
            np.asarray(s64),
            rtol=8 * np.finfo(np.float32).eps,
            atol=1e-6,
        )
        assert np.all(np.diff(np.asarray(s32)) > 0)  # strictly monotone, no plateau at 10
        assert float(s32[-1]) > 10.0 or max(m) + 6.5 < 10.0
