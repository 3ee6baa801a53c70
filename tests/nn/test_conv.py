"""jaxmi's convolution (its own backward pass) equals lax.conv_general_dilated."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from jaxmi.nn import conv_general_dilated

DN = ("NHWC", "HWIO", "NHWC")


def _data(kh, kw, dtype=np.float32):
    rng = np.random.default_rng(0)  # NumPy: no device program per shape
    x, w = rng.normal(size=(3, 7, 6, 2)), rng.normal(size=(kh, kw, 2, 4))
    return x.astype(dtype), w.astype(dtype)


@pytest.mark.parametrize(
    ("kh", "kw", "padding"),
    [
        (3, 3, "SAME"),
        (3, 2, "VALID"),
        (1, 1, "SAME"),
        (3, 3, ((2, 0), (1, 1))),
        (3, 3, ((3, 0), (0, 1))),
    ],
)
def test_values_and_gradients_equal_lax(kh, kw, padding):
    x, w = _data(kh, kw)

    @jax.jit
    def both(a, b):  # values and gradients under a non-trivial cotangent, one program
        out = []
        for conv in (conv_general_dilated, lax.conv_general_dilated):
            f = lambda a, b, conv=conv: conv(a, b, (1, 1), padding, dimension_numbers=DN)  # noqa: E731
            y = f(a, b)
            g = jnp.cos(jnp.arange(y.size, dtype=y.dtype)).reshape(y.shape)
            loss = lambda a, b, f=f, g=g: jnp.sum(f(a, b) * g)  # noqa: E731
            out.append((y, *jax.grad(loss, argnums=(0, 1))(a, b)))
        return out

    (y, dx, dw), (y_ref, dx_ref, dw_ref) = both(x, w)
    np.testing.assert_array_equal(y, y_ref)  # the same forward op
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
    per = jax.jit(jax.vmap(jax.grad(loss, argnums=1), in_axes=(None, None, 0)), static_argnums=0)
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
