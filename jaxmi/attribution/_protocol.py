"""The sampler protocol shared by every marginalisation model, window geometry, input checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi._validation import check_int, is_traced

__all__ = [
    "Sampler",
    "check_images",
    "check_predict_fn",
    "identity_prepare",
    "slice_start",
    "window_arg",
    "window_gather",
    "window_indices",
]


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


def window_indices(
    row: jax.Array, col: jax.Array, window: tuple[int, int], height: int, width: int
) -> tuple[jax.Array, jax.Array]:
    """Int32 row ``(kh,)`` and column ``(kw,)`` indices of the window at ``(row, col)``.

    Clipped to the ``height x width`` image, as in :func:`window_gather`.
    """
    kh, kw = window
    i32 = jnp.int32
    rows = jnp.clip(jnp.asarray(row, i32) + jnp.arange(kh, dtype=i32), 0, height - 1)
    cols = jnp.clip(jnp.asarray(col, i32) + jnp.arange(kw, dtype=i32), 0, width - 1)
    return rows, cols


def window_gather(
    image: jax.Array, row: jax.Array, col: jax.Array, window: tuple[int, int]
) -> jax.Array:
    """The ``(kh, kw, C)`` window of ``image`` at top-left ``(row, col)``.

    Indices past the bottom/right border are clipped (those values are discarded by the sweep),
    so a window is never shifted the way ``lax.dynamic_slice`` shifts an overhanging slice.
    """
    rows, cols = window_indices(row, col, window, image.shape[-3], image.shape[-2])
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


def check_predict_fn(
    predict_fn: Any, image_shape: tuple[int, ...], *, probe: int = 2, floats: bool = True
) -> int:
    """Trace ``predict_fn`` on a ``(probe, H, W, C)`` float32 batch; its number of classes.

    It must be callable and map the batch to a ``(probe, n_classes)`` array (of floats when
    ``floats``); only shapes are traced (:func:`jax.eval_shape`), nothing is computed.

    Args:
        predict_fn: the classifier, ``(B, H, W, C) -> (B, n_classes)``.
        image_shape: shape of the image batch, ``(B, H, W, C)`` (only ``H, W, C`` are used).
        probe: batch size of the traced call.
        floats: also require a floating-point output.

    Returns:
        ``n_classes``.

    Raises:
        ValueError: naming ``predict_fn``: not callable, fails on the batch, or returns the
            wrong shape or dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> check_predict_fn(lambda x: jnp.zeros((x.shape[0], 3)), (5, 4, 4, 1))
        3
    """
    if not callable(predict_fn):
        raise ValueError(f"predict_fn: expected a callable, got {type(predict_fn).__name__}")
    batch = jax.ShapeDtypeStruct((probe, *image_shape[1:]), jnp.float32)
    try:
        out = jax.eval_shape(predict_fn, batch)
    except Exception as err:
        raise ValueError(
            f"predict_fn: failed on a ({probe}, H, W, C) float32 batch: {type(err).__name__}: {err}"
        ) from err
    if not hasattr(out, "shape") or len(out.shape) != 2 or out.shape[0] != probe:
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"predict_fn: must map (B, H, W, C) to (B, n_classes), got {shape}")
    if floats and not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"predict_fn: must return floats, got {out.dtype}")
    return int(out.shape[1])


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


def slice_start(row, col) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(row, col, 0)`` as int32 start indices of a ``dynamic_slice``.

    It wants one integer type, and a literal 0 is int64 under ``jax_enable_x64`` (it_maps with
    the Gaussian sampler failed there).
    """
    return jnp.asarray(row, jnp.int32), jnp.asarray(col, jnp.int32), jnp.int32(0)
