"""jaxmi's convolution (its own backward pass) equals lax.conv_general_dilated."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from jaxmi.nn._conv import conv_general_dilated

DN = ("NHWC", "HWIO", "NHWC")


def _data(kh, kw, dtype=jnp.float32):
    kx, kw_ = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (3, 7, 6, 2), dtype)
    w = jax.random.normal(kw_, (kh, kw, 2, 4), dtype)
    return x, w


@pytest.mark.parametrize(
    ("kh", "kw", "padding"),
    [
        (3, 3, "SAME"),
        (3, 2, "SAME"),
        (3, 3, "VALID"),
        (1, 1, "SAME"),
        (3, 3, ((2, 0), (1, 1))),
        (3, 3, ((3, 0), (0, 1))),
    ],
)
def test_values_and_gradients_equal_lax(kh, kw, padding):
    x, w = _data(kh, kw)
    ours = lambda a, b: conv_general_dilated(a, b, (1, 1), padding, dimension_numbers=DN)  # noqa: E731
    ref = lambda a, b: lax.conv_general_dilated(a, b, (1, 1), padding, dimension_numbers=DN)  # noqa: E731
    np.testing.assert_array_equal(ours(x, w), ref(x, w))  # the same forward op
    g = jax.random.normal(jax.random.key(1), ref(x, w).shape)

    def grads(f):  # a non-trivial cotangent, through jit
        return jax.jit(jax.grad(lambda a, b: jnp.sum(f(a, b) * g), argnums=(0, 1)))(x, w)

    (dx, dw), (dx_ref, dw_ref) = grads(ours), grads(ref)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-6, atol=1e-6)  # a flipped-kernel convolution
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-5, atol=1e-5)
    assert dw.dtype == w.dtype and dw.shape == w.shape


def test_float64_kernel_gradient_to_rounding():
    with jax.enable_x64(True):
        x, w = _data(3, 3, jnp.float64)
        f = lambda c: lambda b: jnp.sum(c(x, b, (1, 1), "SAME", dimension_numbers=DN) ** 2)  # noqa: E731
        np.testing.assert_allclose(
            jax.grad(f(conv_general_dilated))(w),
            jax.grad(f(lax.conv_general_dilated))(w),
            rtol=1e-12,
        )


def test_inside_scan_and_vmap():
    x, w = _data(3, 3)
    xs = jnp.stack([x, 2 * x])

    def loss(f, b, a):
        return jnp.sum(jnp.tanh(f(a, b, (1, 1), "SAME", dimension_numbers=DN)))

    def scan(f):
        def step(b, a):
            return b - 0.1 * jax.grad(loss, argnums=1)(f, b, a), None

        return jax.jit(lambda: jax.lax.scan(step, w, xs)[0])()

    np.testing.assert_allclose(
        scan(conv_general_dilated), scan(lax.conv_general_dilated), rtol=1e-5, atol=1e-5
    )
    per = jax.vmap(jax.grad(loss, argnums=1), in_axes=(None, None, 0))
    np.testing.assert_allclose(
        per(conv_general_dilated, w, xs), per(lax.conv_general_dilated, w, xs), rtol=1e-5, atol=1e-5
    )


def test_other_convolutions_are_passed_to_lax():
    x, w = _data(3, 3)
    for kw in (dict(window_strides=(2, 1)), dict(window_strides=(1, 1), rhs_dilation=(2, 2))):
        args = dict(padding="SAME", dimension_numbers=DN, **kw)
        np.testing.assert_array_equal(
            conv_general_dilated(x, w, **args), lax.conv_general_dilated(x, w, **args)
        )
        gw = [
            jax.grad(lambda b, c=c, args=args: jnp.sum(c(x, b, **args) ** 2))(w)
            for c in (conv_general_dilated, lax.conv_general_dilated)
        ]
        np.testing.assert_array_equal(*gw)
    nchw = ("NCHW", "OIHW", "NCHW")
    xt, wt = jnp.transpose(x, (0, 3, 1, 2)), jnp.transpose(w, (3, 2, 0, 1))
    np.testing.assert_array_equal(
        conv_general_dilated(xt, wt, (1, 1), "SAME", dimension_numbers=nchw),
        lax.conv_general_dilated(xt, wt, (1, 1), "SAME", dimension_numbers=nchw),
    )


def test_nnx_conv_takes_it():
    x, _ = _data(3, 3)
    a = nnx.Conv(2, 4, (3, 3), conv_general_dilated=conv_general_dilated, rngs=nnx.Rngs(0))
    b = nnx.Conv(2, 4, (3, 3), rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(a(x), b(x))
