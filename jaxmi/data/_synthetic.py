"""Synthetic images whose class is decided by one object at a known location."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxmi._validation import check_finite_scalar, check_int, check_key
from jaxmi.data._datasets import SHAPES, ImageDataset, shape_templates

__all__ = ["synthetic_images"]


def _dilate(occupied: jax.Array) -> jax.Array:
    """8-neighbour dilation of a (H, W) bool map by one pixel."""
    h, w = occupied.shape
    p = jnp.pad(occupied, 1)
    out = occupied
    for di in range(3):
        for dj in range(3):
            out = out | p[di : di + h, dj : dj + w]
    return out


def _default_object_size(size: int) -> int:
    """Default footprint side: the odd number nearest above size / 3, at least 3."""
    return max(3, (size // 3) | 1)


def _one_image(u, templates, *, size, channels, n_distractors, noise, lo, hi):
    """One image from a vector ``u`` of independent U(0, 1) numbers (sliced, never reused)."""
    n_classes, k, _ = templates.shape
    m = (size - 1) ** 2
    label = jnp.minimum(jnp.floor(u[0] * n_classes), n_classes - 1).astype(jnp.int32)
    r = jnp.minimum(jnp.floor(u[1] * (size - k + 1)), size - k).astype(jnp.int32)
    c = jnp.minimum(jnp.floor(u[2] * (size - k + 1)), size - k).astype(jnp.int32)
    at = 3
    colour = lo + (hi - lo) * u[at : at + channels]
    at += channels
    background = noise * u[at : at + size * size * channels].reshape(size, size, channels)
    at += size * size * channels
    zeros = jnp.zeros((size, size), bool)
    footprint = jax.lax.dynamic_update_slice(zeros, jnp.ones((k, k), bool), (r, c))
    on = jax.lax.dynamic_update_slice(zeros, templates[label], (r, c))
    value = jnp.where(on[..., None], colour, 0.0)

    def place(carry, ud):
        occupied, on, value = carry
        scores, colour_u = ud[:m], ud[m:]
        forbidden = _dilate(occupied)
        valid = ~(forbidden[:-1, :-1] | forbidden[1:, :-1] | forbidden[:-1, 1:] | forbidden[1:, 1:])
        # the arg-max of i.i.d. uniform scores over the valid positions is a uniform choice
        pos = jnp.argmax(jnp.where(valid.ravel(), scores, -1.0))
        i, j = pos // (size - 1), pos % (size - 1)
        blob = jax.lax.dynamic_update_slice(zeros, jnp.ones((2, 2), bool), (i, j)) & valid.any()
        value = jnp.where(blob[..., None], lo + (hi - lo) * colour_u, value)
        return (occupied | blob, on | blob, value), None

    if n_distractors:
        per = u[at : at + n_distractors * (m + channels)].reshape(n_distractors, m + channels)
        (_, on, value), _ = jax.lax.scan(place, (footprint, on, value), per)
    image = jnp.where(on[..., None], value, background)
    return image.astype(jnp.float32), label, footprint


def _n_uniforms(size: int, channels: int, n_distractors: int) -> int:
    return 3 + channels + size * size * channels + n_distractors * ((size - 1) ** 2 + channels)


@functools.partial(
    jax.jit, static_argnames=("n", "size", "channels", "n_distractors", "noise", "lo", "hi")
)
def _generate(key, templates, *, n, size, channels, n_distractors, noise, lo, hi):
    one = functools.partial(
        _one_image,
        templates=templates,
        size=size,
        channels=channels,
        n_distractors=n_distractors,
        noise=noise,
        lo=lo,
        hi=hi,
    )
    u = jax.random.uniform(key, (n, _n_uniforms(size, channels, n_distractors)))
    return jax.vmap(one)(u)


def synthetic_images(
    key: jax.Array,
    n: int,
    *,
    size: int = 16,
    channels: int = 1,
    n_classes: int = 2,
    object_size: int | None = None,
    n_distractors: int = 2,
    noise: float = 0.25,
    intensity: tuple[float, float] = (0.6, 1.0),
) -> ImageDataset:
    """Images whose class is the shape of one object at a random location, with its exact mask.

    Design. Each image is a noise background with one *object*: a k×k footprint (k =
    ``object_size``) at a uniformly random position holding the template of its class
    (:data:`jaxmi.data.SHAPES`: class 0 a horizontal bar, 1 a vertical bar, then diagonal,
    anti-diagonal, plus, ring, cross, filled square). ``n_distractors`` 2×2 blobs are added at
    random positions that neither touch the footprint nor each other. Because the label, the
    object's position, the background noise and the distractors are drawn independently, the
    pixels outside the footprint are independent of the label: every piece of information about
    the class sits inside the footprint, which is the ground-truth mask. Inside it, the class is
    the pattern of bright ("on", >= ``intensity[0]``) versus background (< ``noise``) pixels, so
    both the object and the dark pixels around it within the footprint are relevant — that is why
    the mask is the whole footprint, not only the bright pixels.

    A small CNN learns the task (it needs translation-invariant pattern detection, not a fixed
    linear template): the templates differ in where their run of k bright pixels lies, while the
    distractors never contain a run longer than 2 (the smallest k is 3), so they can never look
    like an object. A fixed linear classifier on the pixels cannot solve it because the position
    is random. Pixel values: background ``noise * U(0, 1)`` per pixel and channel; each object and
    each distractor gets one colour ``U(intensity)`` per channel.

    Args:
        key: a typed PRNG key (``jax.random.key``); the data are a deterministic function of it.
        n: number of images (>= 1).
        size: image side H = W in pixels (>= ``object_size``).
        channels: number of channels C (>= 1).
        n_classes: number of classes, 1..8; labels are uniform on ``0..n_classes - 1``.
        object_size: odd side k >= 3 of the object's footprint; default ``max(3, (size // 3) | 1)``
            (5 for 16×16, 3 for 8×8, 11 for 32×32).
        n_distractors: number of 2×2 distractor blobs (>= 0; fewer are placed when the image has
            no room left).
        noise: background amplitude, in [0, ``intensity[0]``).
        intensity: (low, high) range of object and distractor colours, 0 < low <= high <= 1.

    Returns:
        ImageDataset with images (n, size, size, channels) float32 in [0, 1], labels (n,) int32
        and masks (n, size, size) bool (True on the object's k×k footprint).

    Raises:
        ValueError: naming the argument, for out-of-range sizes, counts or intensities.

    Example:
        >>> import jax
        >>> ds = synthetic_images(jax.random.key(0), 4, size=16)
        >>> ds.images.shape, ds.labels.shape, ds.masks.shape, int(ds.masks[0].sum())
        ((4, 16, 16, 1), (4,), (4, 16, 16), 25)
    """
    key = check_key(key)
    n = check_int(n, "n", minimum=1)
    size = check_int(size, "size", minimum=3)
    channels = check_int(channels, "channels", minimum=1)
    n_classes = check_int(n_classes, "n_classes", minimum=1)
    if n_classes > len(SHAPES):
        raise ValueError(f"n_classes: at most {len(SHAPES)} shapes are defined, got {n_classes}")
    if object_size is None:
        object_size = _default_object_size(size)
    object_size = check_int(object_size, "object_size", minimum=3)
    if object_size % 2 == 0:
        raise ValueError(f"object_size: must be odd, got {object_size}")
    if object_size > size:
        raise ValueError(f"object_size: {object_size} does not fit in size {size}")
    n_distractors = check_int(n_distractors, "n_distractors", minimum=0)
    if not isinstance(intensity, (tuple, list)) or len(intensity) != 2:
        raise ValueError(f"intensity: expected a (low, high) pair, got {intensity!r}")
    lo = check_finite_scalar(intensity[0], "intensity[0]", positive=True)
    hi = check_finite_scalar(intensity[1], "intensity[1]", positive=True)
    if not lo <= hi <= 1.0:
        raise ValueError(f"intensity: need 0 < low <= high <= 1, got {tuple(intensity)}")
    noise = check_finite_scalar(noise, "noise", nonnegative=True)
    if noise >= lo:
        raise ValueError(f"noise: must be below intensity[0] = {lo} to keep objects visible")
    templates = jnp.asarray(shape_templates(object_size)[:n_classes])
    images, labels, masks = _generate(
        key,
        templates,
        n=n,
        size=size,
        channels=channels,
        n_distractors=n_distractors,
        noise=float(noise),
        lo=float(lo),
        hi=float(hi),
    )
    return ImageDataset(images=images, labels=labels, masks=masks)
