"""Evaluation metrics for attribution maps: faithfulness (perturbation) and localisation.

Faithfulness metrics perturb the image in the order given by the map and watch the model's score
of a target class:

* :func:`deletion` / :func:`insertion` (RISE): pixels removed from / restored into the image,
  ``pixels_per_step`` at a time; area under the score curve.
* :func:`morf_lerf` (Samek et al.; IBA paper code): tiles removed most-relevant-first and
  least-relevant-first; the area between the two curves (higher is better).
* :func:`sensitivity_n` (Ancona et al.): Pearson correlation between the attribution mass of
  random feature sets and the output drop when they are removed.
* :func:`road` (Rong et al.): removal by noisy linear imputation (:func:`noisy_linear_impute`)
  instead of a constant, MoRF and LeRF.

Localisation metrics compare the map with a ground-truth mask (e.g.
:func:`jaxmi.data.synthetic_images`): :func:`pointing_game`, :func:`top_n_in_mask`,
:func:`heat_share` and :func:`effective_heat_ratio`.

Conventions shared by all functions:

* ``images`` are NHWC ``(B, H, W, C)`` in the model's input space; ``attributions`` are
  ``(B, H, W)`` (a channel-resolved ``(B, H, W, C)`` map needs ``reduce=``).
* ``predict_fn`` maps an NHWC batch ``(b, H, W, C)`` to ``(b, n_classes)`` scores; column
  ``target`` is the curve's ordinate. Pass softmax probabilities for the RISE/IBA conventions,
  or logits for a logit score (IBA's Sensitivity-n uses the pre-softmax logit). It must be a pure
  JAX function (it is traced once and called on chunks of ``batch_size`` perturbed images, so
  memory stays bounded by ``batch_size`` images whatever the number of steps).
* ``target`` is an int array ``(B,)`` (or one int for all images) or ``"top1"``, the arg-max of
  ``predict_fn`` on the clean image.
* Ordering: pixels (tiles) are sorted by decreasing attribution, ties broken by the lower flat
  (row-major) index first. For random tie-breaking average over keys with :func:`tie_break`.
* Every perturbed state is built as a new array from the clean image and the substrate (no state
  is mutated in place), so step ``k`` of a curve is exactly the score after ``k`` steps — unlike
  the InputIBA evaluation loop, which appends one mutated tensor and gets block-constant curves.
* "Zero" means 0 in the model's input space: black for [0, 1] images, the mean colour for
  normalised ImageNet inputs.

The public functions validate eagerly (``ValueError`` naming the argument) and also work under a
user's ``jax.jit`` (value checks are then skipped). Internally each call is compiled once per
(``predict_fn``, shapes, static options), with ``predict_fn`` hashed by identity: reuse the same
function object to reuse the compiled program. A ``jax.tree_util.Partial`` (like
:func:`jaxmi.models.train_classifier`'s ``predict_fn``) is passed as data instead: new
parameters reuse the program.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi._validation import check_finite_scalar, check_int, check_key, is_traced
from jaxmi.attribution._protocol import check_predict_fn

__all__ = [
    "CurveResult",
    "DegradationResult",
    "EHRResult",
    "PointingResult",
    "ROADResult",
    "SensitivityNResult",
    "deletion",
    "effective_heat_ratio",
    "gaussian_blur",
    "heat_share",
    "insertion",
    "morf_lerf",
    "noisy_linear_impute",
    "pointing_game",
    "road",
    "sensitivity_n",
    "substrate_images",
    "tie_break",
    "top_n_in_mask",
]

PredictFn = Callable[[jax.Array], jax.Array]


# --------------------------------------------------------------------------------------------
# result types


class CurveResult(NamedTuple):
    """A deletion or insertion curve and its area.

    Attributes:
        fractions: (K,) abscissa, fraction of pixels perturbed, t_0 = 0 ... t_{K-1} = 1.
        curves: (B, K) score of the target after each step (index 0: the unperturbed start,
            the image for deletion and the substrate for insertion).
        auc: (B,) area under each curve (convention of the call); deletion: lower is better,
            insertion: higher is better.
    """

    fractions: jax.Array
    curves: jax.Array
    auc: jax.Array


class DegradationResult(NamedTuple):
    """MoRF and LeRF tile-degradation curves and the area between them.

    Attributes:
        fractions: (K,) fraction of tiles replaced at each step (0 first).
        morf: (B, K) target score, most relevant tiles first.
        lerf: (B, K) target score, least relevant tiles first.
        area: (B,) mean over steps of (lerf - morf) per image.
        mean_area: scalar mean of ``area`` = mean over steps of the difference of the
            image-averaged curves (IBA's ``integrals``); higher is better.
    """

    fractions: jax.Array
    morf: jax.Array
    lerf: jax.Array
    area: jax.Array
    mean_area: jax.Array


class SensitivityNResult(NamedTuple):
    """Sensitivity-n curve.

    Attributes:
        n: (M,) int32 set sizes (in features: tiles or pixels).
        correlation: (M,) Pearson correlation between ``attribution_sums`` and ``output_drops``
            pooled over images and sets, per n (0 where either has zero variance).
        mean: scalar mean of ``correlation`` over n; higher is better.
        attribution_sums: (B, S, M) sum of attributions over each random set.
        output_drops: (B, S, M) f_t(x) - f_t(x with the set replaced by the substrate).
    """

    n: jax.Array
    correlation: jax.Array
    mean: jax.Array
    attribution_sums: jax.Array
    output_drops: jax.Array


class ROADResult(NamedTuple):
    """ROAD curves (removal by noisy linear imputation).

    Attributes:
        fractions: (P,) fraction of pixels removed (percentages / 100).
        morf: (B, P) target score, most relevant pixels removed first.
        lerf: (B, P) target score, least relevant pixels removed first.
        morf_accuracy: (P,) fraction of images whose arg-max is still the target (MoRF).
        lerf_accuracy: (P,) same for LeRF.
        area: (B,) mean over percentages of (lerf - morf); higher is better.
        mean_area: scalar mean of ``area``.
    """

    fractions: jax.Array
    morf: jax.Array
    lerf: jax.Array
    morf_accuracy: jax.Array
    lerf_accuracy: jax.Array
    area: jax.Array
    mean_area: jax.Array


class PointingResult(NamedTuple):
    """Pointing game.

    Attributes:
        hits: (B,) bool, the map's arg-max lies within ``tolerance`` pixels of the mask.
        accuracy: scalar hits / B.
    """

    hits: jax.Array
    accuracy: jax.Array


class EHRResult(NamedTuple):
    """Effective heat ratio.

    Attributes:
        quantiles: (Q,) quantile levels q (0, 0.1, ..., 1 by default).
        ratios: (B, Q) ratio(q) per image.
        ehr: (B,) trapezoid area of ratio(q) over q in [0, 1]; higher is better.
    """

    quantiles: jax.Array
    ratios: jax.Array
    ehr: jax.Array


# --------------------------------------------------------------------------------------------
# validation


def _as_images(images: Any) -> jax.Array:
    if not hasattr(images, "shape") or not hasattr(images, "dtype"):
        raise ValueError(f"images: expected an array (B, H, W, C), got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images: expected shape (B, H, W, C), got {tuple(images.shape)}")
    if not jnp.issubdtype(images.dtype, jnp.floating) and not jnp.issubdtype(
        images.dtype, jnp.integer
    ):
        raise ValueError(f"images: expected a real numeric array, got dtype {images.dtype}")
    if 0 in images.shape:
        raise ValueError(f"images: empty shape {tuple(images.shape)}")
    if not is_traced(images) and not np.isfinite(np.asarray(images)).all():
        raise ValueError("images: contains NaN or infinite values")
    return jnp.asarray(images, jnp.float32)


def _as_map(attributions: Any, images_shape: tuple, reduce: str | None) -> jax.Array:
    """(B, H, W) float32 attribution maps; channel-resolved maps reduced explicitly."""
    name = "attributions"
    if not hasattr(attributions, "shape") or not hasattr(attributions, "dtype"):
        raise ValueError(f"{name}: expected an array (B, H, W), got {type(attributions).__name__}")
    a = attributions
    b, h, w, c = images_shape
    if a.ndim == 4:
        if reduce is None:
            raise ValueError(
                f"{name}: channel-resolved maps {tuple(a.shape)} need reduce='sum', 'mean' or "
                "'abs_sum'"
            )
        if tuple(a.shape) != (b, h, w, c):
            raise ValueError(f"{name}: shape {tuple(a.shape)} does not match images {images_shape}")
    elif a.ndim != 3:
        raise ValueError(f"{name}: expected shape (B, H, W), got {tuple(a.shape)}")
    elif tuple(a.shape) != (b, h, w):
        raise ValueError(
            f"{name}: shape {tuple(a.shape)} does not match images (B, H, W) = {(b, h, w)}"
        )
    if reduce not in (None, "sum", "mean", "abs_sum"):
        raise ValueError(f"reduce: expected None, 'sum', 'mean' or 'abs_sum', got {reduce!r}")
    if not is_traced(a) and not np.isfinite(np.asarray(a, np.float64)).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    a = jnp.asarray(a, jnp.float32)
    if a.ndim == 4:
        a = {"sum": a.sum(-1), "mean": a.mean(-1), "abs_sum": jnp.abs(a).sum(-1)}[reduce]
    return a


def _as_masks(masks: Any, shape: tuple) -> jax.Array:
    if not hasattr(masks, "shape"):
        raise ValueError(f"masks: expected a bool array (B, H, W), got {type(masks).__name__}")
    if tuple(masks.shape) != tuple(shape):
        raise ValueError(f"masks: shape {tuple(masks.shape)} does not match attributions {shape}")
    m = jnp.asarray(masks).astype(bool)
    if not is_traced(masks) and not np.asarray(m).reshape(shape[0], -1).any(-1).all():
        raise ValueError("masks: every image needs at least one True pixel")
    return m


def _as_target(target: Any, n_images: int, n_classes: int) -> jax.Array | None:
    """(B,) int32 targets, or None for ``"top1"``."""
    if isinstance(target, str):
        if target != "top1":
            raise ValueError(f"target: expected class indices or 'top1', got {target!r}")
        return None
    if not hasattr(target, "dtype"):
        if isinstance(target, bool):
            raise ValueError(f"target: expected class indices, got {target!r}")
        target = np.asarray(target)
    if not jnp.issubdtype(target.dtype, jnp.integer):
        raise ValueError(f"target: expected integer class indices, got dtype {target.dtype}")
    if target.ndim == 0:
        target = jnp.broadcast_to(target, (n_images,))
    if tuple(target.shape) != (n_images,):
        raise ValueError(f"target: expected shape ({n_images},), got {tuple(target.shape)}")
    if not is_traced(target):
        t = np.asarray(target)
        if t.min() < 0 or t.max() >= n_classes:
            raise ValueError(
                f"target: class indices must lie in [0, {n_classes}), got {t.tolist()}"
            )
    return jnp.asarray(target, jnp.int32)


def _hashable(fn: Any) -> bool:
    try:
        hash(fn)
    except TypeError:
        return False
    return True


def _maybe_jit(core: Callable, predict_fn: Any) -> Callable:
    """``core`` compiled once per static configuration.

    A ``jax.tree_util.Partial`` ``predict_fn`` (e.g. :func:`jaxmi.models.train_classifier`'s,
    whose leaves are the parameters) is passed as data, so new weights do not recompile; other
    hashable callables are static (cached by identity); anything else runs uncompiled.
    """
    if isinstance(predict_fn, jax.tree_util.Partial):
        return functools.partial(_JITTED[core][1], predict_fn)
    if _hashable(predict_fn):
        return functools.partial(_JITTED[core][0], predict_fn)
    return functools.partial(core, predict_fn)


_JITTED: dict[Callable, tuple[Callable, Callable]] = {}


def _register(*static: str) -> Callable:
    def wrap(core: Callable) -> Callable:
        _JITTED[core] = (
            jax.jit(core, static_argnums=0, static_argnames=static),
            jax.jit(core, static_argnames=static),
        )
        return core

    return wrap


# --------------------------------------------------------------------------------------------
# substrates and orderings


def gaussian_blur(images: jax.Array, sigma: float = 5.0, size: int = 11) -> jax.Array:
    """Per-channel Gaussian blur with zero padding (RISE's insertion substrate).

    The kernel is the sampled Gaussian exp(-d²/2σ²) on a ``size``×``size`` grid, normalised to
    sum 1; pixels beyond the border count as 0 (as RISE's ``conv2d(padding=size // 2)``), so
    borders darken towards 0.

    Args:
        images: (B, H, W, C) images.
        sigma: standard deviation in pixels (> 0); RISE: 5.
        size: odd kernel side (>= 1); RISE: 11.

    Returns:
        (B, H, W, C) float32 blurred images.

    Example:
        >>> import jax.numpy as jnp
        >>> out = gaussian_blur(jnp.ones((1, 4, 4, 1)), sigma=1.0, size=3)
        >>> out.shape, bool(out[0, 1, 1, 0] > out[0, 0, 0, 0])
        ((1, 4, 4, 1), True)
    """
    sigma = check_finite_scalar(sigma, "blur_sigma", positive=True)
    size = check_int(size, "blur_size", minimum=1)
    if size % 2 == 0:
        raise ValueError(f"blur_size: must be odd, got {size}")
    x = jnp.asarray(images, jnp.float32)
    r = np.arange(size) - size // 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * float(sigma) ** 2))
    g = (g / g.sum()).astype(np.float32)
    c = x.shape[-1]
    kernel = jnp.asarray(np.broadcast_to(g[:, :, None, None], (size, size, 1, c)))
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=c,
    )


def substrate_images(
    images: jax.Array,
    substrate: str | jax.Array = "zero",
    *,
    blur_sigma: float = 5.0,
    blur_size: int = 11,
) -> jax.Array:
    """The replacement values of a perturbation metric, one image per input.

    Args:
        images: (B, H, W, C) images.
        substrate: ``"zero"`` (0 in the input space), ``"mean"`` (each image's per-channel mean
            colour, IBA's ``Mean`` baseline), ``"blur"`` (:func:`gaussian_blur` with
            ``blur_sigma``/``blur_size``), or an array broadcastable to (B, H, W, C) (e.g. a
            dataset mean image (H, W, C), or one colour (C,)).
        blur_sigma: Gaussian σ in pixels for ``"blur"``.
        blur_size: odd kernel side for ``"blur"``.

    Returns:
        (B, H, W, C) float32.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.arange(8.0).reshape(1, 2, 2, 2)
        >>> substrate_images(x, "mean")[0, 0, 0].tolist()
        [3.0, 4.0]
    """
    x = jnp.asarray(images, jnp.float32)
    if isinstance(substrate, str):
        if substrate == "zero":
            return jnp.zeros_like(x)
        if substrate == "mean":
            return jnp.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape)
        if substrate == "blur":
            return gaussian_blur(x, blur_sigma, blur_size)
        raise ValueError(
            f"substrate: expected 'zero', 'mean', 'blur' or an array, got {substrate!r}"
        )
    if not hasattr(substrate, "shape"):
        substrate = np.asarray(substrate, np.float32)
    try:
        s = jnp.broadcast_to(jnp.asarray(substrate, jnp.float32), x.shape)
    except ValueError as err:
        raise ValueError(
            f"substrate: shape {tuple(substrate.shape)} does not broadcast to images {x.shape}"
        ) from err
    if not is_traced(substrate) and not np.isfinite(np.asarray(substrate, np.float64)).all():
        raise ValueError("substrate: contains NaN or infinite values")
    return s


def _order_ranks(values: jax.Array) -> jax.Array:
    """Rank of each entry in the order of decreasing value, ties by lower index: (..., n) int32."""
    order = jnp.argsort(-values, axis=-1, stable=True)
    n = values.shape[-1]
    ranks = jnp.zeros(values.shape, jnp.int32)
    return jnp.put_along_axis(
        ranks,
        order,
        jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), values.shape),
        -1,
        inplace=False,
    )


def tie_break(key: jax.Array, attributions: jax.Array) -> jax.Array:
    """A map with the same order as ``attributions`` but ties broken at random.

    Deletion, insertion, ROAD and the localisation metrics break ties by pixel index; maps with
    flat regions (occlusion, IBA) then favour the top-left. Average a metric over several keys of
    this function for random tie-breaking: ``deletion(f, x, tie_break(k, a), t)``.

    Args:
        key: typed PRNG key.
        attributions: (B, H, W) maps.

    Returns:
        (B, H, W) float32: H·W - 1 - rank, where rank orders pixels by decreasing attribution
        with ties in a random order (independent per image); all values distinct.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> r = tie_break(jax.random.key(0), jnp.zeros((1, 2, 2)))
        >>> sorted(r.ravel().tolist())
        [0.0, 1.0, 2.0, 3.0]
    """
    key = check_key(key)
    a = jnp.asarray(attributions, jnp.float32)
    if a.ndim != 3:
        raise ValueError(f"attributions: expected shape (B, H, W), got {tuple(a.shape)}")
    b, h, w = a.shape
    flat = a.reshape(b, h * w)
    noise = jax.random.uniform(key, flat.shape)
    # lexicographic: decreasing attribution, then decreasing noise
    order = jnp.lexsort((-noise, -flat), axis=-1)
    ranks = jnp.zeros(flat.shape, jnp.int32)
    ranks = jnp.put_along_axis(
        ranks,
        order,
        jnp.broadcast_to(jnp.arange(h * w, dtype=jnp.int32), flat.shape),
        -1,
        inplace=False,
    )
    return (h * w - 1 - ranks).astype(jnp.float32).reshape(b, h, w)


# --------------------------------------------------------------------------------------------
# the chunked evaluation driver


def _evaluate(
    predict_fn: PredictFn,
    make_state: Callable[[jax.Array], jax.Array],
    n_items: int,
    targets_of: Callable[[jax.Array], jax.Array],
    batch_size: int,
    with_aux: bool = False,
) -> tuple[jax.Array, ...]:
    """Score ``n_items`` perturbed images, ``batch_size`` at a time.

    ``make_state(i)`` builds item ``i`` (a traced int32) as a fresh (H, W, C) array (with
    ``with_aux``: a pair (state, aux array)); it is vmapped over a chunk and the chunk goes
    through ``predict_fn`` as one batch. Returns the target score (n_items,), the arg-max class
    (n_items,) and, with ``with_aux``, the stacked aux (n_items, ...).
    """
    bs = min(batch_size, n_items)
    n_chunks = -(-n_items // bs)
    ids = jnp.minimum(jnp.arange(n_chunks * bs, dtype=jnp.int32), n_items - 1)

    def body(chunk):
        made = jax.vmap(make_state)(chunk)
        states, aux = made if with_aux else (made, jnp.zeros(chunk.shape))
        out = jnp.asarray(predict_fn(states), jnp.float32)
        t = targets_of(chunk)
        return jnp.take_along_axis(out, t[:, None], axis=1)[:, 0], jnp.argmax(out, axis=-1), aux

    scores, top, aux = jax.lax.map(body, ids.reshape(n_chunks, bs))
    flat = [v.reshape(n_chunks * bs, *v.shape[2:])[:n_items] for v in (scores, top, aux)]
    return tuple(flat) if with_aux else tuple(flat[:2])


def _resolve_targets(predict_fn, images, target, batch_size):
    """(B,) targets; ``None`` means the clean image's arg-max. Also the clean target scores."""
    b = images.shape[0]
    if target is None:
        _, top = _evaluate(predict_fn, lambda i: images[i], b, lambda c: c * 0, batch_size)
        target = top.astype(jnp.int32)
    scores, _ = _evaluate(predict_fn, lambda i: images[i], b, lambda c: target[c], batch_size)
    return target, scores


def _trapezoid(y: jax.Array, x: jax.Array) -> jax.Array:
    dx = jnp.diff(x, axis=-1)
    dx = dx.reshape((1,) * (y.ndim - dx.ndim) + dx.shape)  # explicit leading axes
    return jnp.sum(0.5 * (y[..., 1:] + y[..., :-1]) * dx, axis=-1)


# --------------------------------------------------------------------------------------------
# deletion / insertion


_CONVENTIONS = ("jaxmi", "rise", "inputiba")


@_register("insert", "pixels_per_step", "batch_size")
def _curve_core(predict_fn, images, subs, amap, target, *, insert, pixels_per_step, batch_size):
    b, h, w, _ = images.shape
    hw = h * w
    n_steps = -(-hw // pixels_per_step)
    counts = jnp.minimum(jnp.arange(n_steps + 1) * pixels_per_step, hw)
    ranks = _order_ranks(amap.reshape(b, hw)).reshape(b, h, w)
    target, _ = _resolve_targets(predict_fn, images, target, batch_size)
    k1 = n_steps + 1

    def make_state(i):
        bi, k = i // k1, i % k1
        first = ranks[bi] < counts[k]
        if insert:
            return jnp.where(first[..., None], images[bi], subs[bi])
        return jnp.where(first[..., None], subs[bi], images[bi])

    scores, _ = _evaluate(predict_fn, make_state, b * k1, lambda c: target[c // k1], batch_size)
    curves = scores.reshape(b, k1)
    return counts.astype(jnp.float32) / hw, curves


def _curve_auc(fractions: jax.Array, curves: jax.Array, convention: str) -> jax.Array:
    n_steps = curves.shape[1] - 1
    if convention == "jaxmi":
        return _trapezoid(curves, fractions)
    if convention == "rise":
        return (curves.sum(-1) - 0.5 * curves[:, 0] - 0.5 * curves[:, -1]) / n_steps
    # inputiba: no unperturbed point, trapezoid with dx = 1 / len over the rest
    rest = curves[:, 1:]
    return (rest.sum(-1) - 0.5 * rest[:, 0] - 0.5 * rest[:, -1]) / rest.shape[1]


def _deletion_insertion(
    predict_fn,
    images,
    attributions,
    target,
    *,
    insert,
    substrate,
    pixels_per_step,
    reduce,
    convention,
    batch_size,
    blur_sigma,
    blur_size,
):
    x = _as_images(images)
    amap = _as_map(attributions, x.shape, reduce)
    n_classes = check_predict_fn(predict_fn, x.shape, floats=False)
    t = _as_target(target, x.shape[0], n_classes)
    hw = x.shape[1] * x.shape[2]
    if pixels_per_step is None:
        pixels_per_step = max(1, math.ceil(hw / 100))
    pixels_per_step = check_int(pixels_per_step, "pixels_per_step", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if convention not in _CONVENTIONS:
        raise ValueError(f"convention: expected one of {_CONVENTIONS}, got {convention!r}")
    if convention == "inputiba" and -(-hw // pixels_per_step) < 2:
        raise ValueError("convention: 'inputiba' needs at least 2 steps (lower pixels_per_step)")
    subs = substrate_images(x, substrate, blur_sigma=blur_sigma, blur_size=blur_size)
    core = _maybe_jit(_curve_core, predict_fn)
    fractions, curves = core(
        x, subs, amap, t, insert=insert, pixels_per_step=pixels_per_step, batch_size=batch_size
    )
    return CurveResult(fractions, curves, _curve_auc(fractions, curves, convention))


def deletion(
    predict_fn: PredictFn,
    images: jax.Array,
    attributions: jax.Array,
    target: jax.Array | int | str,
    *,
    substrate: str | jax.Array = "zero",
    pixels_per_step: int | None = None,
    reduce: str | None = None,
    convention: str = "jaxmi",
    batch_size: int = 64,
    blur_sigma: float = 5.0,
    blur_size: int = 11,
) -> CurveResult:
    """Deletion curve and AUC (RISE): remove the most relevant pixels first; lower is better.

    Step k replaces the first min(k·p, H·W) pixels of the order (decreasing attribution, ties by
    lower index; p = ``pixels_per_step``, all channels) by the substrate; k = 0 … n with
    n = ⌈H·W / p⌉, abscissa t_k = min(k·p, H·W) / (H·W).

    Args:
        predict_fn: (b, H, W, C) -> (b, n_classes) scores (probabilities for RISE).
        images: (B, H, W, C) images in the model's input space.
        attributions: (B, H, W) maps (or (B, H, W, C) with ``reduce``).
        target: (B,) ints, one int, or ``"top1"`` (RISE: top-1 of the clean image).
        substrate: ``"zero"``, ``"mean"``, ``"blur"`` or an array (:func:`substrate_images`).
        pixels_per_step: p; default max(1, ⌈H·W / 100⌉) (about 100 steps). RISE/InputIBA
            parity: 224 / 10; the CPU prototype of the spec: 1.
        reduce: ``"sum"``, ``"mean"`` or ``"abs_sum"`` over channels for (B, H, W, C) maps.
        convention: AUC rule. ``"jaxmi"``: trapezoid of the curve over t (exact when the last
            step is partial). ``"rise"``: (Σc − c_0/2 − c_n/2)/n (trapezoid with dx = 1/n).
            ``"inputiba"``: c_0 dropped, trapezoid with dx = 1/len over c_1 … c_n (spans
            (n − 1)/n of the axis; the block-constant curve of InputIBA's in-place bug is not
            reproduced). ``curves`` always include c_0.
        batch_size: perturbed images per ``predict_fn`` call (memory bound).
        blur_sigma: σ of the ``"blur"`` substrate (pixels).
        blur_size: kernel side of the ``"blur"`` substrate.

    Returns:
        CurveResult(fractions (n + 1,), curves (B, n + 1), auc (B,)).

    Raises:
        ValueError: naming the argument for bad shapes, values or options.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.ones((1, 2, 2, 1))
        >>> f = lambda b: jnp.stack([b.sum((1, 2, 3)) / 4, 1 - b.sum((1, 2, 3)) / 4], -1)
        >>> r = deletion(f, x, jnp.arange(4.0).reshape(1, 2, 2), 0, pixels_per_step=1)
        >>> r.curves.tolist(), float(r.auc[0])
        ([[1.0, 0.75, 0.5, 0.25, 0.0]], 0.5)
    """
    return _deletion_insertion(
        predict_fn, images, attributions, target, insert=False, substrate=substrate,
        pixels_per_step=pixels_per_step, reduce=reduce, convention=convention,
        batch_size=batch_size, blur_sigma=blur_sigma, blur_size=blur_size,
    )  # fmt: skip


def insertion(
    predict_fn: PredictFn,
    images: jax.Array,
    attributions: jax.Array,
    target: jax.Array | int | str,
    *,
    substrate: str | jax.Array = "blur",
    pixels_per_step: int | None = None,
    reduce: str | None = None,
    convention: str = "jaxmi",
    batch_size: int = 64,
    blur_sigma: float = 5.0,
    blur_size: int = 11,
) -> CurveResult:
    """Insertion curve and AUC (RISE): restore the most relevant pixels first; higher is better.

    Starts from the substrate (default: RISE's Gaussian blur, 11×11, σ = 5) and restores the
    original pixels in the order of :func:`deletion`; c_0 is the substrate's score, c_n the
    clean image's. Arguments and conventions as :func:`deletion`.

    Returns:
        CurveResult(fractions (n + 1,), curves (B, n + 1), auc (B,)).

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.ones((1, 2, 2, 1))
        >>> f = lambda b: jnp.stack([b.sum((1, 2, 3)) / 4, 1 - b.sum((1, 2, 3)) / 4], -1)
        >>> r = insertion(f, x, jnp.arange(4.0).reshape(1, 2, 2), 0, substrate="zero",
        ...               pixels_per_step=2)
        >>> r.curves.tolist()
        [[0.0, 0.5, 1.0]]
    """
    return _deletion_insertion(
        predict_fn, images, attributions, target, insert=True, substrate=substrate,
        pixels_per_step=pixels_per_step, reduce=reduce, convention=convention,
        batch_size=batch_size, blur_sigma=blur_sigma, blur_size=blur_size,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# MoRF / LeRF with tiles


def _tiles(h: int, w: int, tile_size: int) -> tuple[np.ndarray, int]:
    """Tile index of each pixel (H, W) (row-major tiles; edge tiles may be partial), #tiles."""
    th, tw = -(-h // tile_size), -(-w // tile_size)
    rows = np.arange(h)[:, None] // tile_size
    cols = np.arange(w)[None, :] // tile_size
    return (rows * tw + cols).astype(np.int32), th * tw


def _tile_means(amap: jax.Array, tile_of: np.ndarray, n_tiles: int) -> jax.Array:
    """(B, T) mean attribution per tile."""
    b = amap.shape[0]
    flat = amap.reshape(b, -1)
    seg = jnp.asarray(tile_of.ravel())
    sums = jax.vmap(lambda a: jax.ops.segment_sum(a, seg, num_segments=n_tiles))(flat)
    counts = np.bincount(tile_of.ravel(), minlength=n_tiles).astype(np.float32)
    return sums / counts[None, :]


@_register("tile_size", "n_steps", "batch_size")
def _morf_core(predict_fn, images, subs, amap, target, *, tile_size, n_steps, batch_size):
    b, h, w, _ = images.shape
    tile_of, n_tiles = _tiles(h, w, tile_size)
    counts = jnp.asarray(np.round(np.linspace(0, n_tiles, n_steps)).astype(np.int32))
    tile_rank = _order_ranks(_tile_means(amap, tile_of, n_tiles))  # (B, T), MoRF position
    morf_ranks = tile_rank[:, jnp.asarray(tile_of)]  # (B, H, W)
    ranks = jnp.stack([morf_ranks, n_tiles - 1 - morf_ranks], axis=1)  # LeRF = reversed order
    target, _ = _resolve_targets(predict_fn, images, target, batch_size)
    per_image = 2 * n_steps

    def make_state(i):
        bi, r, k = i // per_image, (i // n_steps) % 2, i % n_steps
        gone = ranks[bi, r] < counts[k]
        return jnp.where(gone[..., None], subs[bi], images[bi])

    scores, _ = _evaluate(
        predict_fn, make_state, b * per_image, lambda c: target[c // per_image], batch_size
    )
    scores = scores.reshape(b, 2, n_steps)
    morf, lerf = scores[:, 0], scores[:, 1]
    area = (lerf - morf).mean(-1)
    return DegradationResult(
        fractions=counts.astype(jnp.float32) / n_tiles,
        morf=morf,
        lerf=lerf,
        area=area,
        mean_area=area.mean(),
    )


def morf_lerf(
    predict_fn: PredictFn,
    images: jax.Array,
    attributions: jax.Array,
    target: jax.Array | int | str,
    *,
    tile_size: int = 8,
    n_steps: int | None = None,
    substrate: str | jax.Array = "mean",
    reduce: str | None = None,
    batch_size: int = 64,
    blur_sigma: float = 5.0,
    blur_size: int = 11,
) -> DegradationResult:
    """MoRF / LeRF tile degradation and the LeRF − MoRF area (IBA paper code protocol).

    The image is cut into ``tile_size``² tiles (row-major; partial tiles at the bottom/right
    when H or W is not a multiple). Tile relevance = mean attribution over the tile. MoRF
    replaces tiles by the substrate in order of decreasing relevance (ties: lower tile index
    first), LeRF in exactly the reverse order. The score is recorded after
    round(j · T / (n_steps − 1)) tiles, j = 0 … n_steps − 1 (T tiles; the clean image first, the
    fully replaced image last). Summary: the mean over steps of LeRF − MoRF (IBA's
    ``integrals`` of the image-averaged curves); higher is better.

    Quantus' ``RegionPerturbation`` reports the drops c_0 − c_k of the MoRF curve instead
    (AOPC-like); they follow from ``morf`` directly.

    Args:
        predict_fn: (b, H, W, C) -> (b, n_classes) scores (IBA: softmax probabilities).
        images: (B, H, W, C).
        attributions: (B, H, W) (or (B, H, W, C) with ``reduce``).
        target: (B,) ints, one int, or ``"top1"``.
        tile_size: tile side t in pixels (IBA: 8 and 14 on 224² images).
        n_steps: number of recorded points; default min(100, T + 1).
        substrate: default ``"mean"``, the per-channel mean of each image (IBA's ``Mean``).
        reduce: channel reduction for (B, H, W, C) maps.
        batch_size: perturbed images per ``predict_fn`` call.
        blur_sigma: σ for ``substrate="blur"``.
        blur_size: kernel side for ``substrate="blur"``.

    Returns:
        DegradationResult(fractions (K,), morf (B, K), lerf (B, K), area (B,), mean_area).

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.ones((1, 2, 2, 1))
        >>> f = lambda b: jnp.stack([b[:, 0, 0, 0], 1 - b[:, 0, 0, 0]], -1)
        >>> r = morf_lerf(f, x, jnp.array([[[1.0, 0], [0, 0]]]), 0, tile_size=1,
        ...               substrate="zero")
        >>> r.morf.tolist(), r.lerf.tolist()
        ([[1.0, 0.0, 0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0, 1.0, 0.0]])
    """
    x = _as_images(images)
    amap = _as_map(attributions, x.shape, reduce)
    n_classes = check_predict_fn(predict_fn, x.shape, floats=False)
    t = _as_target(target, x.shape[0], n_classes)
    tile_size = check_int(tile_size, "tile_size", minimum=1)
    if tile_size > max(x.shape[1], x.shape[2]):
        raise ValueError(f"tile_size: {tile_size} exceeds the image size {x.shape[1:3]}")
    _, n_tiles = _tiles(x.shape[1], x.shape[2], tile_size)
    if n_steps is None:
        n_steps = min(100, n_tiles + 1)
    n_steps = check_int(n_steps, "n_steps", minimum=2)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    subs = substrate_images(x, substrate, blur_sigma=blur_sigma, blur_size=blur_size)
    core = _maybe_jit(_morf_core, predict_fn)
    return core(x, subs, amap, t, tile_size=tile_size, n_steps=n_steps, batch_size=batch_size)


# --------------------------------------------------------------------------------------------
# Sensitivity-n


def _pearson(a: jax.Array, b: jax.Array) -> jax.Array:
    """Pearson correlation over the last axis; 0 where either side has zero variance."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    saa, sbb = (a * a).sum(-1), (b * b).sum(-1)
    ok = (saa > 0) & (sbb > 0)
    return jnp.where(ok, (a * b).sum(-1) / jnp.sqrt(jnp.where(ok, saa * sbb, 1.0)), 0.0)


@_register("tile_size", "n_values", "n_sets", "batch_size")
def _sens_core(
    predict_fn, key, images, subs, amap, target, *, tile_size, n_values, n_sets, batch_size
):
    b, h, w, _ = images.shape
    tile_of, n_tiles = _tiles(h, w, tile_size)
    tile_sums = (
        _tile_means(amap, tile_of, n_tiles)
        * np.bincount(tile_of.ravel(), minlength=n_tiles).astype(np.float32)[None, :]
    )
    nv = jnp.asarray(np.asarray(n_values, np.int32))
    m = len(n_values)
    per_image = n_sets * m

    def tile_ranks(i):
        # an independent random set for every (image, set, n): a uniform random tile order
        u = jax.random.uniform(jax.random.fold_in(key, i), (n_tiles,))
        return _order_ranks(u)

    def make_state(i):
        chosen = tile_ranks(i) < nv[i % m]  # (T,)
        gone = chosen[jnp.asarray(tile_of)]
        state = jnp.where(gone[..., None], subs[i // per_image], images[i // per_image])
        return state, jnp.where(chosen, tile_sums[i // per_image], 0.0).sum()

    target, clean = _resolve_targets(predict_fn, images, target, batch_size)
    scores, _, sums = _evaluate(
        predict_fn,
        make_state,
        b * per_image,
        lambda c: target[c // per_image],
        batch_size,
        with_aux=True,
    )
    ids = jnp.arange(b * per_image, dtype=jnp.int32)
    drops = clean[ids // per_image] - scores
    sums = sums.reshape(b, n_sets, m)
    drops = drops.reshape(b, n_sets, m)
    pooled = lambda v: jnp.moveaxis(v, -1, 0).reshape(m, -1)  # noqa: E731
    corr = _pearson(pooled(sums), pooled(drops))
    return SensitivityNResult(
        n=nv, correlation=corr, mean=corr.mean(), attribution_sums=sums, output_drops=drops
    )


def sensitivity_n(
    key: jax.Array,
    predict_fn: PredictFn,
    images: jax.Array,
    attributions: jax.Array,
    target: jax.Array | int | str,
    *,
    tile_size: int | None = None,
    n_values: Sequence[int] | None = None,
    n_sets: int = 100,
    substrate: str | jax.Array = "zero",
    reduce: str | None = None,
    batch_size: int = 64,
    blur_sigma: float = 5.0,
    blur_size: int = 11,
) -> SensitivityNResult:
    """Sensitivity-n (Ancona et al.), IBA paper-code protocol by default.

    For each n and each of ``n_sets`` random sets S of n features (tiles, drawn independently
    per image, set and n): ε_S = Σ_{i∈S} a_i (sum of the attributions of the set's pixels) and
    Δ_S = f_t(x) − f_t(x with S replaced by the substrate). Sensitivity-n(n) is the Pearson
    correlation of ε_S and Δ_S pooled over images and sets.

    IBA protocol: tiles, 16 log-spaced n from 1 to 0.8·#tiles, 100 sets, zero substrate,
    pre-softmax target logit (pass a logit ``predict_fn``). InputIBA: pixels (``tile_size=1``),
    ``n_values`` = unique ints of logspace(0, 4.5, 45) below the pixel count.

    Args:
        key: typed PRNG key (the random sets).
        predict_fn: (b, H, W, C) -> (b, n_classes) scores.
        images: (B, H, W, C).
        attributions: (B, H, W) (or (B, H, W, C) with ``reduce``).
        target: (B,) ints, one int, or ``"top1"``.
        tile_size: feature tile side; default max(1, min(H, W) // 28) (8 px on 224², i.e. IBA's
            28×28 tile grid; single pixels on small images).
        n_values: set sizes (1 <= n <= #tiles); default unique(round(logspace(0,
            log10(0.8·T), 16))).
        n_sets: random sets per n (>= 2).
        substrate: replacement values (default zero).
        reduce: channel reduction for (B, H, W, C) maps.
        batch_size: perturbed images per ``predict_fn`` call.
        blur_sigma: σ for ``substrate="blur"``.
        blur_size: kernel side for ``substrate="blur"``.

    Returns:
        SensitivityNResult(n (M,), correlation (M,), mean, attribution_sums (B, S, M),
        output_drops (B, S, M)).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.ones((1, 3, 3, 1))
        >>> f = lambda b: b.sum((1, 2))  # one "class": the pixel sum
        >>> r = sensitivity_n(jax.random.key(0), f, x, jnp.ones((1, 3, 3)), 0,
        ...                   n_values=[1, 4], n_sets=5)
        >>> r.correlation.tolist()  # a constant map: ε_S is constant for each n
        [0.0, 0.0]
    """
    key = check_key(key)
    x = _as_images(images)
    amap = _as_map(attributions, x.shape, reduce)
    n_classes = check_predict_fn(predict_fn, x.shape, floats=False)
    t = _as_target(target, x.shape[0], n_classes)
    h, w = x.shape[1:3]
    if tile_size is None:
        tile_size = max(1, min(h, w) // 28)
    tile_size = check_int(tile_size, "tile_size", minimum=1)
    if tile_size > max(h, w):
        raise ValueError(f"tile_size: {tile_size} exceeds the image size {(h, w)}")
    _, n_tiles = _tiles(h, w, tile_size)
    if n_values is None:
        top = max(1.0, 0.8 * n_tiles)
        n_values = np.unique(np.round(np.logspace(0, np.log10(top), 16)).astype(int))
    n_values = np.asarray(n_values)
    if n_values.ndim != 1 or n_values.size == 0 or not np.issubdtype(n_values.dtype, np.integer):
        raise ValueError(f"n_values: expected a non-empty sequence of ints, got {n_values!r}")
    if n_values.min() < 1 or n_values.max() > n_tiles:
        raise ValueError(f"n_values: each n must lie in [1, {n_tiles}] (#tiles)")
    n_sets = check_int(n_sets, "n_sets", minimum=2)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    subs = substrate_images(x, substrate, blur_sigma=blur_sigma, blur_size=blur_size)
    core = _maybe_jit(_sens_core, predict_fn)
    return core(
        key,
        x,
        subs,
        amap,
        t,
        tile_size=tile_size,
        n_values=tuple(int(v) for v in n_values),
        n_sets=n_sets,
        batch_size=batch_size,
    )


# --------------------------------------------------------------------------------------------
# ROAD


_SIDE, _DIAG = 1.0 / 6.0, 1.0 / 12.0
_OFFSETS = tuple(
    (di, dj, _DIAG if di and dj else _SIDE) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj
)


def _stencil(u: jax.Array) -> jax.Array:
    """Σ_q w_q u_q over the 8 in-image neighbours of every pixel ((H, W, C), zero outside)."""
    h, w = u.shape[:2]
    p = jnp.pad(u, ((1, 1), (1, 1), (0, 0)))
    out = jnp.zeros_like(u)
    for di, dj, wt in _OFFSETS:
        out = out + wt * p[1 + di : 1 + di + h, 1 + dj : 1 + dj + w]
    return out


@jax.jit
def _impute(key, image, removed, noise, maxiter, tol):
    m = removed[..., None].astype(image.dtype)
    keep = 1.0 - m
    diag = _stencil(jnp.ones((*image.shape[:2], 1), image.dtype))  # Σ of in-image weights
    rhs = m * _stencil(image * keep)

    def op(u):
        return m * (diag * u - _stencil(m * u)) + keep * u

    def precond(r):
        return r / jnp.where(m > 0, diag, 1.0)

    n_keep = jnp.maximum(keep.sum((0, 1)), 1.0)
    start = m * ((image * keep).sum((0, 1)) / n_keep)[None, None, :]  # known-pixel mean colour
    sol, _ = jax.scipy.sparse.linalg.cg(op, rhs, x0=start, tol=tol, maxiter=maxiter, M=precond)
    filled = sol + noise * jax.random.normal(key, image.shape, image.dtype)
    return jnp.where(removed[..., None], filled, image)


def noisy_linear_impute(
    key: jax.Array,
    image: jax.Array,
    removed: jax.Array,
    *,
    noise: float = 0.01,
    maxiter: int | None = None,
    tol: float = 1e-6,
) -> jax.Array:
    """ROAD's noisy linear imputation of the removed pixels of one image.

    Each removed pixel p is set to the weighted mean of its in-image 8-neighbours (weights 1/6
    horizontal/vertical, 1/12 diagonal, renormalised when neighbours fall outside the image);
    neighbours may themselves be removed, which gives a sparse symmetric positive definite
    system in the removed pixels (per channel) as long as at least one pixel is kept. It is
    solved matrix-free by Jacobi-preconditioned conjugate gradients (3×3 stencil), then
    ``noise``·N(0, 1) is added to the imputed pixels only (absolute, in the image's units).

    Args:
        key: typed PRNG key (the noise).
        image: (H, W, C) image.
        removed: (H, W) bool, True where pixels are removed (not all of them).
        noise: standard deviation of the added Gaussian noise (ROAD: 0.01).
        maxiter: CG iteration cap; default 2·(H + W) + 100.
        tol: CG relative residual tolerance.

    Returns:
        (H, W, C) float32: kept pixels unchanged, removed ones imputed.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> img = jnp.ones((3, 3, 1))
        >>> out = noisy_linear_impute(jax.random.key(0), img, jnp.eye(3, dtype=bool), noise=0.0)
        >>> bool(jnp.allclose(out, 1.0, atol=1e-5))
        True
    """
    key = check_key(key)
    img = jnp.asarray(image, jnp.float32)
    if img.ndim != 3:
        raise ValueError(f"image: expected shape (H, W, C), got {tuple(img.shape)}")
    if not hasattr(removed, "shape") or tuple(removed.shape) != img.shape[:2]:
        raise ValueError(f"removed: expected a bool array of shape {img.shape[:2]}")
    rem = jnp.asarray(removed).astype(bool)
    if not is_traced(removed) and bool(np.asarray(rem).all()):
        raise ValueError("removed: at least one pixel must be kept (the system is singular)")
    noise = check_finite_scalar(noise, "noise", nonnegative=True)
    if maxiter is None:
        maxiter = 2 * (img.shape[0] + img.shape[1]) + 100
    maxiter = check_int(maxiter, "maxiter", minimum=1)
    tol = check_finite_scalar(tol, "tol", positive=True)
    return _impute(key, img, rem, noise, maxiter, tol)


@_register("counts", "noise", "maxiter", "tol", "batch_size")
def _road_core(predict_fn, key, images, amap, target, *, counts, noise, maxiter, tol, batch_size):
    b, h, w, _ = images.shape
    hw = h * w
    p = len(counts)
    cnt = jnp.asarray(np.asarray(counts, np.int32))
    morf = _order_ranks(amap.reshape(b, hw)).reshape(b, h, w)
    ranks = jnp.stack([morf, hw - 1 - morf], axis=1)
    target, _ = _resolve_targets(predict_fn, images, target, batch_size)
    per_image = 2 * p

    def make_state(i):
        bi, r, k = i // per_image, (i // p) % 2, i % p
        gone = ranks[bi, r] < cnt[k]
        return _impute(jax.random.fold_in(key, i), images[bi], gone, noise, maxiter, tol)

    scores, top = _evaluate(
        predict_fn, make_state, b * per_image, lambda c: target[c // per_image], batch_size
    )
    scores = scores.reshape(b, 2, p)
    correct = (top.reshape(b, 2, p) == target[:, None, None]).astype(jnp.float32)
    area = (scores[:, 1] - scores[:, 0]).mean(-1)
    return ROADResult(
        fractions=cnt.astype(jnp.float32) / hw,
        morf=scores[:, 0],
        lerf=scores[:, 1],
        morf_accuracy=correct[:, 0].mean(0),
        lerf_accuracy=correct[:, 1].mean(0),
        area=area,
        mean_area=area.mean(),
    )


def road(
    key: jax.Array,
    predict_fn: PredictFn,
    images: jax.Array,
    attributions: jax.Array,
    target: jax.Array | int | str,
    *,
    percentages: Sequence[float] = tuple(range(1, 100, 2)),
    noise: float = 0.01,
    reduce: str | None = None,
    batch_size: int = 16,
    maxiter: int | None = None,
    tol: float = 1e-6,
) -> ROADResult:
    """ROAD: remove pixels by noisy linear imputation, MoRF and LeRF.

    For each percentage p, round(p/100 · H·W) pixels (capped at H·W − 1) are removed — the most
    relevant first (MoRF; decreasing attribution, ties by lower index) or the least relevant
    first (LeRF; the exact reverse order) — and in-filled by :func:`noisy_linear_impute` (fresh
    noise for every image, order and percentage). Records the target score and whether the
    arg-max is still the target. 100 % removal is singular and not allowed.

    Args:
        key: typed PRNG key (the imputation noise).
        predict_fn: (b, H, W, C) -> (b, n_classes) scores.
        images: (B, H, W, C).
        attributions: (B, H, W) (or (B, H, W, C) with ``reduce``).
        target: (B,) ints, one int, or ``"top1"``.
        percentages: removal percentages in (0, 100); default Quantus' 1, 3, …, 99.
        noise: imputation noise standard deviation (ROAD: 0.01).
        reduce: channel reduction for (B, H, W, C) maps.
        batch_size: imputed images per ``predict_fn`` call (each one is a CG solve).
        maxiter: CG iteration cap; default 2·(H + W) + 100.
        tol: CG relative residual tolerance.

    Returns:
        ROADResult(fractions (P,), morf (B, P), lerf (B, P), morf_accuracy (P,),
        lerf_accuracy (P,), area (B,), mean_area).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.ones((1, 4, 4, 1))
        >>> f = lambda b: jnp.stack([b.mean((1, 2, 3)), 1 - b.mean((1, 2, 3))], -1)
        >>> r = road(jax.random.key(0), f, x, jnp.ones((1, 4, 4)), 0, percentages=[50],
        ...          noise=0.0)
        >>> round(float(r.morf[0, 0]), 4)  # a constant image is imputed exactly
        1.0
    """
    key = check_key(key)
    x = _as_images(images)
    amap = _as_map(attributions, x.shape, reduce)
    n_classes = check_predict_fn(predict_fn, x.shape, floats=False)
    t = _as_target(target, x.shape[0], n_classes)
    pct = np.asarray(percentages, np.float64)
    if pct.ndim != 1 or pct.size == 0 or not np.isfinite(pct).all():
        raise ValueError(
            f"percentages: expected a non-empty sequence of numbers, got {percentages}"
        )
    if pct.min() <= 0 or pct.max() >= 100:
        raise ValueError("percentages: each must lie strictly between 0 and 100")
    hw = x.shape[1] * x.shape[2]
    counts = tuple(int(c) for c in np.clip(np.round(pct / 100.0 * hw), 0, hw - 1))
    noise = check_finite_scalar(noise, "noise", nonnegative=True)
    if maxiter is None:
        maxiter = 2 * (x.shape[1] + x.shape[2]) + 100
    maxiter = check_int(maxiter, "maxiter", minimum=1)
    tol = check_finite_scalar(tol, "tol", positive=True)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    core = _maybe_jit(_road_core, predict_fn)
    return core(
        key,
        x,
        amap,
        t,
        counts=counts,
        noise=float(noise),
        maxiter=maxiter,
        tol=float(tol),
        batch_size=batch_size,
    )


# --------------------------------------------------------------------------------------------
# localisation


def _loc_inputs(attributions, masks, reduce, name="attributions"):
    if not hasattr(attributions, "shape"):
        raise ValueError(f"{name}: expected an array (B, H, W), got {type(attributions).__name__}")
    a = attributions
    if a.ndim == 4:
        shape = (*a.shape[:3], a.shape[3])
        a = _as_map(a, shape, reduce)
    else:
        if a.ndim != 3:
            raise ValueError(f"{name}: expected shape (B, H, W), got {tuple(a.shape)}")
        a = _as_map(a, (*a.shape, 1), reduce)
    return a, _as_masks(masks, a.shape)


def pointing_game(
    attributions: jax.Array,
    masks: jax.Array,
    *,
    tolerance: float = 0.0,
    reduce: str | None = None,
) -> PointingResult:
    """Pointing game (Zhang et al.): is the map's maximum on the object?

    A hit when the arg-max pixel of the map (first in row-major order on ties) lies within
    Euclidean distance ``tolerance`` (pixels) of a True pixel of the mask; the original protocol
    uses 15 pixels on ImageNet-size images, jaxmi's default is 0 (the arg-max inside the mask).

    Args:
        attributions: (B, H, W) maps (or (B, H, W, C) with ``reduce``).
        masks: (B, H, W) bool ground truth, at least one True pixel per image.
        tolerance: distance in pixels (>= 0).
        reduce: channel reduction for (B, H, W, C) maps.

    Returns:
        PointingResult(hits (B,) bool, accuracy scalar).

    Example:
        >>> import jax.numpy as jnp
        >>> a = jnp.array([[[0.0, 1.0], [0.0, 0.0]]])
        >>> pointing_game(a, jnp.array([[[False, True], [False, False]]])).hits.tolist()
        [True]
    """
    a, m = _loc_inputs(attributions, masks, reduce)
    tol = check_finite_scalar(tolerance, "tolerance", nonnegative=True)
    return _pointing_core(a, m, jnp.float32(tol))


@jax.jit
def _pointing_core(a, m, tol):
    b, h, w = a.shape
    idx = jnp.argmax(a.reshape(b, -1), axis=-1)
    ii, jj = jnp.meshgrid(
        jnp.arange(h, dtype=idx.dtype), jnp.arange(w, dtype=idx.dtype), indexing="ij"
    )
    d2 = (ii[None] - (idx // w)[:, None, None]) ** 2 + (jj[None] - (idx % w)[:, None, None]) ** 2
    hits = jnp.any(m & (d2.astype(tol.dtype) <= tol * tol), axis=(1, 2))
    return PointingResult(hits=hits, accuracy=hits.mean())


def top_n_in_mask(
    attributions: jax.Array, masks: jax.Array, *, reduce: str | None = None
) -> jax.Array:
    """Fraction of the n highest-scored pixels inside the mask, n = #mask pixels (IBA).

    IBA's ``ratio_top_in_bbox`` with a pixel mask instead of a box; ties broken by lower
    row-major index.

    Args:
        attributions: (B, H, W) maps (or (B, H, W, C) with ``reduce``).
        masks: (B, H, W) bool, at least one True pixel per image.
        reduce: channel reduction for (B, H, W, C) maps.

    Returns:
        (B,) float32 in [0, 1]; 1 for a map whose top-n pixels are exactly the mask.

    Example:
        >>> import jax.numpy as jnp
        >>> a = jnp.array([[[3.0, 2.0], [1.0, 0.0]]])
        >>> top_n_in_mask(a, jnp.array([[[True, False], [True, False]]])).tolist()
        [0.5]
    """
    a, m = _loc_inputs(attributions, masks, reduce)
    return _top_n_core(a, m)


@jax.jit
def _top_n_core(a, m):
    b = a.shape[0]
    ranks = _order_ranks(a.reshape(b, -1))
    mf = m.reshape(b, -1)
    n = mf.sum(-1)
    inside = (mf & (ranks < n[:, None])).sum(-1)
    return inside / jnp.maximum(n, 1)


def heat_share(
    attributions: jax.Array, masks: jax.Array, *, reduce: str | None = None
) -> jax.Array:
    """Σ heat inside the mask / Σ heat, for non-negative maps (0 for an all-zero map).

    Args:
        attributions: (B, H, W) non-negative maps (or (B, H, W, C) with ``reduce``).
        masks: (B, H, W) bool, at least one True pixel per image.
        reduce: channel reduction for (B, H, W, C) maps.

    Returns:
        (B,) float32 in [0, 1].

    Example:
        >>> import jax.numpy as jnp
        >>> a = jnp.array([[[3.0, 1.0], [0.0, 0.0]]])
        >>> heat_share(a, jnp.array([[[True, False], [False, False]]])).tolist()
        [0.75]
    """
    a, m = _loc_inputs(attributions, masks, reduce)
    if not is_traced(a) and bool((np.asarray(a) < 0).any()):
        raise ValueError("attributions: heat_share needs non-negative maps (clip or abs first)")
    return _heat_share_core(a, m)


@jax.jit
def _heat_share_core(a, m):
    total = a.sum((1, 2))
    inside = jnp.where(m, a, 0.0).sum((1, 2))
    return jnp.where(total > 0, inside / jnp.where(total > 0, total, 1.0), 0.0)


def _quantiles(values: jax.Array, keep: jax.Array, qs: jax.Array) -> jax.Array:
    """Linear-interpolation quantiles (NumPy's default) of ``values[keep]`` at levels ``qs``.

    The fractional position q·(n − 1) is snapped to the nearest integer when within 1e-4 of
    it, so levels such as 0.3 of 21 values hit a sample exactly (as in float64 arithmetic)
    instead of landing a float32 rounding error above it — EHR compares pixels with ``>=``.
    """
    n = keep.sum(dtype=jnp.int32)
    srt = jnp.sort(jnp.where(keep, values, jnp.inf))
    pos = qs * jnp.maximum(n - 1, 0).astype(qs.dtype)
    near = jnp.round(pos)
    pos = jnp.where(jnp.abs(pos - near) < 1e-4, near, pos)
    lo = jnp.floor(pos).astype(jnp.int32)
    hi = jnp.minimum(lo + 1, jnp.maximum(n - 1, 0))
    frac = pos - lo.astype(pos.dtype)
    v_lo, v_hi = srt[lo], srt[hi]
    out = jnp.where(frac > 0, v_lo + frac * (v_hi - v_lo), v_lo)
    return jnp.where(n > 0, out, 0.0)


def effective_heat_ratio(
    attributions: jax.Array,
    masks: jax.Array,
    *,
    base_threshold: float = 0.1,
    n_quantiles: int = 11,
    weight_by_heat: bool = True,
    reduce: str | None = None,
) -> EHRResult:
    """Effective heat ratio (InputIBA's ``effective_heat_ratios``) against a mask.

    The map is min-max normalised to [0, 1] per image; pixels below ``base_threshold`` are set
    to 0 and the rest (the points of interest, h >= ``base_threshold``) define quantiles. For
    q in linspace(0, 1, ``n_quantiles``): t = min(quantile_q(points of interest), 0.99) (linear
    interpolation, NumPy's default) and ratio(q) = Σ_{h_p >= t, p in mask} h_p / #{p: h_p >= t}
    (with ``weight_by_heat=False``, #{h_p >= t, p in mask} / #{h_p >= t}). EHR = trapezoid area
    of ratio(q) over q ∈ [0, 1]. A constant map scores 0.

    Args:
        attributions: (B, H, W) maps (or (B, H, W, C) with ``reduce``).
        masks: (B, H, W) bool region of interest (a box or a pixel mask).
        base_threshold: in [0, 1); InputIBA: 0.1.
        n_quantiles: number of quantile levels (>= 2); InputIBA: 11.
        weight_by_heat: sum heat (True, InputIBA's default) or count pixels.
        reduce: channel reduction for (B, H, W, C) maps.

    Returns:
        EHRResult(quantiles (Q,), ratios (B, Q), ehr (B,)).

    Example:
        >>> import jax.numpy as jnp
        >>> a = jnp.array([[[1.0, 0.0], [0.0, 0.0]]])
        >>> r = effective_heat_ratio(a, jnp.array([[[True, False], [False, False]]]))
        >>> float(r.ehr[0])
        1.0
    """
    a, m = _loc_inputs(attributions, masks, reduce)
    base = check_finite_scalar(base_threshold, "base_threshold", nonnegative=True)
    if base >= 1:
        raise ValueError(f"base_threshold: must be < 1, got {base}")
    nq = check_int(n_quantiles, "n_quantiles", minimum=2)
    return _ehr_core(a, m, jnp.float32(base), jnp.asarray(bool(weight_by_heat)), n_quantiles=nq)


@functools.partial(jax.jit, static_argnames=("n_quantiles",))
def _ehr_core(a, m, base, weight_by_heat, *, n_quantiles):
    qs = jnp.linspace(0.0, 1.0, n_quantiles, dtype=a.dtype)  # float32 under x64 too
    b = a.shape[0]
    flat = a.reshape(b, -1)
    lo, hi = flat.min(-1, keepdims=True), flat.max(-1, keepdims=True)
    span = hi - lo
    heat = jnp.where(span > 0, (flat - lo) / jnp.where(span > 0, span, 1.0), 0.0)
    heat = jnp.where(heat < base, 0.0, heat)
    has_poi = (span > 0)[:, 0]
    quant = jax.vmap(lambda h: _quantiles(h, h >= base, qs))(heat)
    thr = jnp.minimum(quant, 0.99)  # (B, Q); heat is normalised so 0.99 · max = 0.99
    above = heat[:, None, :] >= thr[:, :, None]  # (B, Q, HW)
    inside = m.reshape(b, 1, -1) & above
    weight = jnp.where(weight_by_heat, heat[:, None, :], 1.0)
    num = jnp.where(inside, weight, 0.0).sum(-1)
    den = above.sum(-1, dtype=num.dtype)  # exact: fewer than 2^24 pixels
    ratios = jnp.where(has_poi[:, None] & (den > 0), num / jnp.maximum(den, 1), 0.0)
    ehr = _trapezoid(ratios, qs)
    return EHRResult(quantiles=qs, ratios=ratios, ehr=ehr)
