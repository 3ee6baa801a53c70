"""The sampler protocol shared by every marginalisation model, and window geometry helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi._validation import check_int, is_traced

__all__ = ["Sampler", "check_images", "identity_prepare", "window_arg", "window_gather"]


def identity_prepare(params: Any, image: jax.Array) -> jax.Array:
    """The default ``prepare``: the sampler reads the image itself."""
    del params
    return image


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Sampler:
    """A marginalisation model ``q(x_w | context)``: N in-fills for one window of one image.

    Every sampler in :mod:`jaxmi.attribution.samplers` is one of these: a pytree whose only
    leaves are ``params`` (arrays: a data bank, fitted moments, network weights), with two pure
    functions as static fields. The sweep calls, for each image ``x`` of shape ``(H, W, C)``,

    1. ``source = prepare(params, x)`` once (e.g. the blurred image; by default ``x`` itself),
    2. for each window with top-left corner ``(row, col)`` (traced int32 scalars),
       ``draw(params, key, source, row, col, window=(kh, kw), n=N)`` returning ``(N, kh, kw, C)``
       replacement patches (float, same units as the images).

    Both functions must be pure, jit-compatible and vmappable over images, windows and keys. A
    window may overhang the bottom/right border (``edge_policy="captum"``); patch values that
    fall outside the image are discarded, so ``draw`` may fill them with anything finite.

    Attributes:
        params: pytree of arrays (the only traced part).
        draw: ``(params, key, source, row, col, *, window, n) -> (n, kh, kw, C)``.
        prepare: ``(params, image) -> source`` (same shape as the image).
        deterministic: True for point masses (constant, mean image, blur): then one sample is
            exact and :func:`jaxmi.attribution.it_maps` draws ``N = 1`` whatever is asked.
        name: a label for reports.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmi.attribution import samplers
        >>> s = samplers.constant(0.5)
        >>> patch = s.draw(s.params, jax.random.key(0), jnp.zeros((8, 8, 1)), 2, 3,
        ...                window=(2, 2), n=1)
        >>> patch.shape
        (1, 2, 2, 1)
    """

    params: Any
    draw: Callable[..., jax.Array] = dataclasses.field(metadata={"static": True})
    prepare: Callable[[Any, jax.Array], jax.Array] = dataclasses.field(
        default=identity_prepare, metadata={"static": True}
    )
    deterministic: bool = dataclasses.field(default=False, metadata={"static": True})
    name: str = dataclasses.field(default="sampler", metadata={"static": True})


def window_gather(
    image: jax.Array, row: jax.Array, col: jax.Array, window: tuple[int, int]
) -> jax.Array:
    """The ``(kh, kw, C)`` window of ``image`` at top-left ``(row, col)``.

    Indices past the bottom/right border are clipped (those values are discarded by the sweep),
    so a window is never shifted the way ``lax.dynamic_slice`` shifts an overhanging slice.
    """
    kh, kw = window
    h, w = image.shape[-3], image.shape[-2]
    rows = jnp.clip(row + jnp.arange(kh), 0, h - 1)
    cols = jnp.clip(col + jnp.arange(kw), 0, w - 1)
    return image[..., rows[:, None], cols[None, :], :]


def check_images(x: Any, name: str = "images", *, min_n: int = 1) -> jax.Array:
    """Validate a ``(n, H, W, C)`` float image batch (finite when concrete)."""
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected shape (n, H, W, C), got {tuple(x.shape)}")
    if x.shape[0] < min_n or min(x.shape[1:]) < 1:
        raise ValueError(f"{name}: needs at least {min_n} non-empty images, got {tuple(x.shape)}")
    dt = np.dtype(x.dtype)
    if dt == np.bool_ or not (np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer)):
        raise ValueError(f"{name}: expected a real numeric array, got dtype {dt}")
    if not is_traced(x) and not np.isfinite(np.asarray(x)).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return jnp.asarray(x, jnp.float32)


def window_arg(window: Any, hw: tuple[int, int], name: str = "window") -> tuple[int, int]:
    """``K`` or ``(kh, kw)`` as a pair of ints within the image size ``hw``."""
    if isinstance(window, (tuple, list)):
        if len(window) != 2:
            raise ValueError(f"{name}: expected an int or a pair (kh, kw), got {window!r}")
        pair = tuple(check_int(v, name, minimum=1) for v in window)
    else:
        k = check_int(window, name, minimum=1)
        pair = (k, k)
    if pair[0] > hw[0] or pair[1] > hw[1]:
        raise ValueError(f"{name}: {pair} is larger than the image ({hw[0]}, {hw[1]})")
    return pair
