"""Samplers: the marginalisation models ``q(x_w | context)`` of the attribution sweeps.

Every sampler is a :class:`Sampler` (a pytree of parameters plus two pure functions, see its
docstring for the protocol) built by one of the constructors below:

============================  ============================================  ===========  ========
constructor                   ``q(x_w | ·)``                                fitted on    N needed
============================  ============================================  ===========  ========
:func:`constant`              point mass at a constant (scalar, per          nothing      1
                              channel, or a whole baseline image)
:func:`mean_image`            point mass at the data's mean image            images       1
:func:`blur`                  point mass at the Gaussian-blurred image       nothing      1
:func:`marginal`              the same window of a random data image         images       many
                              (``p(x_w)``, ignores the context)
:func:`gaussian_conditional`  ``N(mu_w + A (x_c - mu_c), S)`` given a        images       many
                              context ring around the window
:func:`fit_patch_sampler`     factorised categorical per pixel/channel from  images       many
                              a small conv net on the masked 3K x 3K crop
                              (Yi et al.'s patch sampler)
============================  ============================================  ===========  ========

Samples are in the images' own units; the fitted samplers clip to the range seen in the data.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jaxmi.attribution import samplers
    >>> bank = jax.random.uniform(jax.random.key(0), (20, 8, 8, 1))
    >>> s = samplers.marginal(bank)
    >>> s.draw(s.params, jax.random.key(1), bank[0], 3, 3, window=(2, 2), n=4).shape
    (4, 2, 2, 1)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi._validation import check_finite_scalar, check_int, check_key, is_traced
from jaxmi.attribution._learned import fit_patch_sampler
from jaxmi.attribution._protocol import (
    Sampler,
    check_images,
    slice_start,
    window_arg,
    window_gather,
    window_indices,
)

__all__ = [
    "Sampler",
    "blur",
    "constant",
    "fit_patch_sampler",
    "gaussian_conditional",
    "marginal",
    "mean_image",
]


# --------------------------------------------------------------------------------------------
# point masses
# --------------------------------------------------------------------------------------------


def _draw_constant(params, key, source, row, col, *, window, n):
    del key
    full = jnp.broadcast_to(params["value"], source.shape).astype(source.dtype)
    patch = window_gather(full, row, col, window)
    return jnp.broadcast_to(patch, (n, *patch.shape))


def constant(value: Any = 0.0) -> Sampler:
    """A point mass at a constant: every window is replaced by ``value`` (occlusion).

    Args:
        value: a scalar, a per-channel ``(C,)`` colour, or a baseline image ``(H, W, C)``
            (anything that broadcasts to the image shape), in the images' units.

    Returns:
        A deterministic :class:`Sampler`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmi.attribution import samplers
        >>> s = samplers.constant(jnp.array([0.1, 0.2, 0.3]))
        >>> s.draw(s.params, jax.random.key(0), jnp.zeros((4, 4, 3)), 0, 0,
        ...        window=(2, 2), n=1)[0, 0, 0].tolist()
        [0.10000000149011612, 0.20000000298023224, 0.30000001192092896]
    """
    v = value if hasattr(value, "shape") else np.asarray(value, np.float32)
    if v.ndim > 3:
        raise ValueError(f"value: expected a scalar, (C,) or (H, W, C), got shape {v.shape}")
    if not is_traced(v) and not np.isfinite(np.asarray(v)).all():
        raise ValueError("value: contains NaN or infinite values")
    return Sampler(
        {"value": jnp.asarray(v, jnp.float32)}, _draw_constant, deterministic=True, name="constant"
    )


def mean_image(images: Any) -> Sampler:
    """A point mass at the mean image of ``images`` (``(n, H, W, C)``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi.attribution import samplers
        >>> samplers.mean_image(jnp.ones((3, 4, 4, 1))).params["value"].shape
        (4, 4, 1)
    """
    x = check_images(images)
    s = constant(jnp.mean(x, axis=0))
    return Sampler(s.params, s.draw, deterministic=True, name="mean_image")


def _blur_prepare(params, image):
    g = params["kernel"]
    r = (g.shape[0] - 1) // 2
    x = jnp.pad(image, ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w = image.shape[0], image.shape[1]
    # separable: rows then columns, one shifted copy per tap
    x = sum(g[t] * x[t : t + h] for t in range(g.shape[0]))
    return sum(g[t] * x[:, t : t + w] for t in range(g.shape[0]))


def _draw_source(params, key, source, row, col, *, window, n):
    del params, key
    patch = window_gather(source, row, col, window)
    return jnp.broadcast_to(patch, (n, *patch.shape))


def blur(sigma: float = 2.0, *, radius: int | None = None) -> Sampler:
    """A point mass at the Gaussian-blurred image's window.

    Args:
        sigma: standard deviation of the Gaussian (pixels).
        radius: kernel half-width (default ``ceil(3 * sigma)``); the kernel has ``2 radius + 1``
            taps, normalised to sum 1, with reflection padding at the border.

    Returns:
        A deterministic :class:`Sampler`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmi.attribution import samplers
        >>> s = samplers.blur(1.0)
        >>> flat = jnp.full((6, 6, 1), 0.3)
        >>> bool(jnp.allclose(s.prepare(s.params, flat), 0.3))
        True
    """
    sigma = check_finite_scalar(sigma, "sigma", positive=True)
    r = math.ceil(3 * sigma) if radius is None else check_int(radius, "radius", minimum=0)
    t = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    g /= g.sum()
    return Sampler(
        {"kernel": jnp.asarray(g, jnp.float32)},
        _draw_source,
        prepare=_blur_prepare,
        deterministic=True,
        name="blur",
    )


# --------------------------------------------------------------------------------------------
# marginal resampling
# --------------------------------------------------------------------------------------------


def _draw_marginal(params, key, source, row, col, *, window, n):
    del source
    bank = params["bank"]
    _, h, w, _ = bank.shape
    idx = jax.random.randint(key, (n,), 0, bank.shape[0])
    rows, cols = window_indices(row, col, window, h, w)  # no (n, H, W, C) gather first
    return bank[idx[:, None, None], rows[None, :, None], cols[None, None, :]]


def marginal(images: Any) -> Sampler:
    """Marginal resampling: the same window taken from N random images of a bank.

    Draws ``p(x_w)`` (not ``p(x_w | context)``): each of the N samples is the window at the same
    position in an image drawn uniformly, with replacement, from ``images``.

    Args:
        images: the bank, ``(M, H, W, C)`` (typically the classifier's training images; the
            images explained must have the same ``H, W, C``).

    Returns:
        A stochastic :class:`Sampler`.

    Example:
        >>> import jax
        >>> from jaxmi.attribution import samplers
        >>> s = samplers.marginal(jax.random.uniform(jax.random.key(0), (10, 8, 8, 1)))
        >>> s.params["bank"].shape
        (10, 8, 8, 1)
    """
    return Sampler({"bank": check_images(images)}, _draw_marginal, name="marginal")


# --------------------------------------------------------------------------------------------
# Gaussian conditional on a context ring
# --------------------------------------------------------------------------------------------


def _crop(image: jax.Array, row, col, window, ring: int) -> jax.Array:
    """The ``(kh + 2 ring, kw + 2 ring, C)`` neighbourhood of a window (zeros outside)."""
    kh, kw = window
    x = jnp.pad(image, ((ring, ring + kh), (ring, ring + kw), (0, 0)))
    c = image.shape[-1]
    return jax.lax.dynamic_slice(x, slice_start(row, col), (kh + 2 * ring, kw + 2 * ring, c))


def _ring_mask(window, ring: int, channels: int) -> np.ndarray:
    kh, kw = window
    m = np.ones((kh + 2 * ring, kw + 2 * ring, channels), bool)
    m[ring : ring + kh, ring : ring + kw] = False
    return m.reshape(-1)


def _draw_gaussian(params, key, source, row, col, *, window, n, fitted, ring):
    if tuple(window) != fitted:
        raise ValueError(f"sampler: fitted for window {fitted}, used with window {tuple(window)}")
    crop = _crop(source, row, col, window, ring).reshape(-1)
    mask = _ring_mask(window, ring, source.shape[-1])
    ctx = crop[np.flatnonzero(mask)]
    mean = params["mu_w"] + params["gain"] @ (ctx - params["mu_c"])
    z = jax.random.normal(key, (n, mean.shape[0]), mean.dtype)
    x = mean[None] + z @ params["chol"].T
    x = jnp.clip(x, params["lo"], params["hi"])
    return x.reshape(n, *window, source.shape[-1])


def gaussian_conditional(
    key: jax.Array,
    images: Any,
    *,
    window: int | tuple[int, int],
    ring: int | None = None,
    ridge: float = 1e-3,
    max_patches: int = 20_000,
) -> Sampler:
    """Fit a Gaussian ``q(x_w | x_c)`` of a window given the ring of pixels around it.

    The window (``kh x kw x C`` values) and its context ring (``ring`` pixels on every side, all
    channels; zeros outside the image) are modelled jointly as one Gaussian, fitted on windows
    at random positions of random ``images`` and pooled over positions (stationarity). Sampling
    uses the conditional ``N(mu_w + S_wc S_cc^-1 (x_c - mu_c), S_ww - S_wc S_cc^-1 S_cw)``,
    clipped to the data's value range.

    Args:
        key: PRNG key choosing the fitting windows.
        images: ``(n, H, W, C)`` training images.
        window: window size ``K`` or ``(kh, kw)``; the sampler only serves this size.
        ring: context width in pixels (default ``K``: Yi et al.'s 3K x 3K neighbourhood).
        ridge: added to ``S_cc``'s diagonal, relative to its mean variance.
        max_patches: number of fitting windows drawn (with replacement).

    Returns:
        A stochastic :class:`Sampler`.

    Example:
        >>> import jax
        >>> from jaxmi.attribution import samplers
        >>> x = jax.random.uniform(jax.random.key(0), (50, 8, 8, 1))
        >>> s = samplers.gaussian_conditional(jax.random.key(1), x, window=2)
        >>> s.params["gain"].shape
        (4, 32)
    """
    key = check_key(key)
    x = check_images(images)
    win = window_arg(window, x.shape[1:3])
    ring = win[0] if ring is None else check_int(ring, "ring", minimum=1)
    ridge = check_finite_scalar(ridge, "ridge", nonnegative=True)
    m = check_int(max_patches, "max_patches", minimum=2)
    n, h, w, c = x.shape
    ki, kr, kc = jax.random.split(key, 3)
    idx = jax.random.randint(ki, (m,), 0, n)
    rows = jax.random.randint(kr, (m,), 0, h - win[0] + 1)
    cols = jax.random.randint(kc, (m,), 0, w - win[1] + 1)
    crops = jax.vmap(lambda i, r, q: _crop(x[i], r, q, win, ring).reshape(-1))(idx, rows, cols)
    mask = _ring_mask(win, ring, c)
    wi, ci = np.flatnonzero(~mask), np.flatnonzero(mask)
    crops = np.asarray(crops, np.float64)
    vec = np.concatenate([crops[:, wi], crops[:, ci]], axis=1)
    mu = vec.mean(0)
    cov = np.cov(vec, rowvar=False)
    dw = wi.size
    s_ww, s_wc, s_cc = cov[:dw, :dw], cov[:dw, dw:], cov[dw:, dw:]
    s_cc = s_cc + ridge * max(np.trace(s_cc) / s_cc.shape[0], 1e-12) * np.eye(s_cc.shape[0])
    gain = np.linalg.solve(s_cc, s_wc.T).T
    cond = s_ww - gain @ s_wc.T
    cond = 0.5 * (cond + cond.T) + 1e-8 * max(np.trace(s_ww) / dw, 1e-12) * np.eye(dw)
    chol = np.linalg.cholesky(cond)
    params = {
        "mu_w": mu[:dw],
        "mu_c": mu[dw:],
        "gain": gain,
        "chol": chol,
        "lo": float(np.min(np.asarray(x))),
        "hi": float(np.max(np.asarray(x))),
    }
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    draw = functools.partial(_draw_gaussian, fitted=win, ring=ring)
    return Sampler(params, draw, name="gaussian_conditional")
