"""A drop-in ``conv_general_dilated`` whose gradients stay fast inside loops on CPU.

XLA:CPU runs the two convolutions of a convolution's gradient, as JAX writes them, far slower
inside a loop than at the top level of a program. Measured on one 16 -> 32 channel 3x3 layer
(batch 64, 8x8 images) in a ``lax.map`` against one jitted call (jaxlib 0.10, 2-core CPU,
2026-11-25): the kernel gradient 46 ms against 0.85 ms, the input gradient 8.0 ms against 2.1
ms. A ``lax.scan`` training loop of the digits :class:`~jaxmi.models.SmallCNN` took 55 ms per
step where one jitted gradient step took 2.3 ms. The forward convolution runs at full speed in
loops.

:func:`conv_general_dilated` keeps the forward pass (``lax.conv_general_dilated``, so outputs
are unchanged to the bit) and writes the backward pass with a custom VJP:

* input gradient: a forward convolution of the cotangent with the flipped kernel, input and
  output channels swapped (1.45 ms in the loop above);
* kernel gradient: one matrix product of image patches and the cotangent (1.4 ms).

The training loop above then takes 1.6 ms per step (``benchmarks/cnn_training.py``). It takes
over plain 2-D channels-last convolutions (unit strides, no dilation, one feature group: the
ones jaxmi's models use) and passes anything else to :func:`jax.lax.conv_general_dilated`. Pass
it to :class:`flax.nnx.Conv` as ``conv_general_dilated=`` (exported as
:func:`jaxmi.nn.conv_general_dilated`).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["conv_general_dilated"]

_NHWC = ("NHWC", "HWIO", "NHWC")


def _patches(x: jax.Array, kh: int, kw: int, pads: tuple) -> jax.Array:
    """``(B, H', W', kh * kw * C)`` patches of ``x`` (``(B, H, W, C)``), in HWIO kernel order."""
    xp = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    h = xp.shape[1] - kh + 1
    w = xp.shape[2] - kw + 1
    cols = [xp[:, i : i + h, j : j + w, :] for i in range(kh) for j in range(kw)]
    return jnp.concatenate(cols, axis=-1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv(x: jax.Array, w: jax.Array, pads: tuple, precision: Any) -> jax.Array:
    return lax.conv_general_dilated(
        x, w, (1, 1), pads, dimension_numbers=_NHWC, precision=precision
    )


def _conv_fwd(x, w, pads, precision):
    return _conv(x, w, pads, precision), (x, w)


def _conv_bwd(pads, precision, res, g):
    x, w = res
    kh, kw, ci, co = w.shape
    # the transpose of a unit-stride convolution: the flipped kernel, in and out swapped, over
    # the cotangent padded by (k - 1 - lo, k - 1 - hi)
    back = tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip((kh, kw), pads, strict=True))
    if min(min(p) for p in back) >= 0:
        w_t = jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2)
        dx = lax.conv_general_dilated(
            g, w_t, (1, 1), back, dimension_numbers=_NHWC, precision=precision
        )
    else:  # padding beyond the kernel: JAX's own transpose
        _, vjp_x = jax.vjp(
            lambda a: lax.conv_general_dilated(
                a, w, (1, 1), pads, dimension_numbers=_NHWC, precision=precision
            ),
            x,
        )
        (dx,) = vjp_x(g)
    cols = _patches(x, kh, kw, pads)
    dw = jnp.matmul(cols.reshape(-1, kh * kw * ci).T, g.reshape(-1, co), precision=precision)
    return dx, dw.reshape(kh, kw, ci, co).astype(w.dtype)


_conv.defvjp(_conv_fwd, _conv_bwd)


def conv_general_dilated(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Any,
    padding: Any,
    lhs_dilation: Any = None,
    rhs_dilation: Any = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    precision: Any = None,
    **kwargs: Any,
) -> jax.Array:
    """:func:`jax.lax.conv_general_dilated`, with gradients that stay fast inside loops on CPU.

    Same arguments and forward result. Plain 2-D channels-last convolutions (``NHWC`` images,
    ``HWIO`` kernels, unit strides and dilations, one feature group, no further keyword
    arguments set) get the backward pass described in the module docstring;
    any other call is passed to :func:`jax.lax.conv_general_dilated` unchanged.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from flax import nnx
        >>> from jaxmi.nn import conv_general_dilated
        >>> conv = nnx.Conv(1, 4, (3, 3), conv_general_dilated=conv_general_dilated,
        ...                 rngs=nnx.Rngs(0))
        >>> conv(jnp.ones((2, 8, 8, 1))).shape
        (2, 8, 8, 4)
    """
    ones = (None, 1, (1, 1))
    plain = (
        lhs.ndim == 4
        and rhs.ndim == 4
        and tuple(window_strides) == (1, 1)
        and (lhs_dilation in ones or tuple(lhs_dilation) == (1, 1))
        and (rhs_dilation in ones or tuple(rhs_dilation) == (1, 1))
        and feature_group_count == 1
        and all(v is None for v in kwargs.values())
        and lhs.dtype == rhs.dtype
        and dimension_numbers is not None
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
    )
    if not plain:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation,
            dimension_numbers=dimension_numbers,
            feature_group_count=feature_group_count,
            precision=precision,
            **kwargs,
        )
    if isinstance(padding, str):
        pads = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], (1, 1), padding)
    else:
        pads = padding
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    return _conv(lhs, rhs, pads, precision)
