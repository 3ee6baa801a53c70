"""Yi et al.'s learned patch sampler: a factorised categorical over quantised window pixels.

Input contract as in the reference ``PatchSampler``: the ``(kh + 2r) x (kw + 2r)`` crop around
the window (the image zero-padded by ``r``, default ``r = K``: the 3K x 3K neighbourhood) with the
window itself masked to 0; output ``L`` logits per window pixel and channel, every pixel and
channel drawn independently. The network is jaxmi's own (small, configurable): 3x3 convolutions
on the crop plus an "observed" channel (1 for real context pixels, 0 for the hole and the
padding), a global-mean context vector added back to every position, and a 1x1 head on the
window's positions. Trained by maximum likelihood on windows at random positions of the user's
images (Adam, ``nnx.split`` once, a pure step fused with ``lax.scan``); the checkpoint with the
lowest validation NLL (on held-out images) is kept.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxmi._optim import optax_step
from jaxmi._validation import check_finite_scalar, check_int, check_key, refuse_traced
from jaxmi.attribution._protocol import Sampler, check_images, slice_start, window_arg
from jaxmi.models._cnn import _INIT, conv3x3, host_init
from jaxmi.nn import conv_general_dilated
from jaxmi.nn._mlp import check_hidden

__all__ = ["PatchSamplerNet", "fit_patch_sampler"]


class PatchSamplerNet(nnx.Module):
    """Logits ``(B, kh, kw, C, L)`` of the window's pixel levels given its masked context crop.

    Args:
        window: ``(kh, kw)``.
        ring: context width r (the crop is ``(kh + 2r, kw + 2r)``).
        channels: image channels C.
        levels: intensity levels L.
        features: widths of the 3x3 convolutions.
        rngs: NNX random streams.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from jaxmi.attribution._learned import PatchSamplerNet
        >>> net = PatchSamplerNet((2, 2), 2, 1, 17, (8, 8), rngs=nnx.Rngs(0))
        >>> net(jnp.zeros((3, 6, 6, 2))).shape  # input: C values + 1 observed channel
        (3, 2, 2, 1, 17)
    """

    def __init__(self, window, ring, channels, levels, features=(32, 32, 32), *, rngs):
        self.window, self.ring = tuple(window), int(ring)
        self.channels, self.levels = int(channels), int(levels)
        chans = (self.channels + 1, *features)
        self.convs = nnx.List([conv3x3(a, b, rngs=rngs) for a, b in itertools.pairwise(chans)])
        self.context = nnx.Linear(features[-1], features[-1], kernel_init=_INIT, rngs=rngs)
        self.head = nnx.Conv(
            features[-1],
            self.channels * self.levels,
            kernel_size=(1, 1),
            kernel_init=_INIT,
            conv_general_dilated=conv_general_dilated,
            rngs=rngs,
        )

    def __call__(self, crop: jax.Array) -> jax.Array:
        """``crop``: ``(B, kh + 2r, kw + 2r, C + 1)`` masked values and the observed channel."""
        h = crop
        for conv in self.convs:
            h = jax.nn.leaky_relu(conv(h))
        h = h + self.context(jnp.mean(h, axis=(1, 2)))[:, None, None, :]
        r, (kh, kw) = self.ring, self.window
        logits = self.head(h[:, r : r + kh, r : r + kw])
        return logits.reshape(*logits.shape[:3], self.channels, self.levels)


def _masked_crop(image: jax.Array, row, col, window, ring: int) -> jax.Array:
    """``(kh + 2r, kw + 2r, C + 1)``: context values (hole and padding 0) and the observed flag."""
    kh, kw = window
    h, w, c = image.shape
    x = jnp.concatenate([image, jnp.ones((h, w, 1), image.dtype)], axis=-1)
    x = jnp.pad(x, ((ring, ring + kh), (ring, ring + kw), (0, 0)))
    crop = jax.lax.dynamic_slice(x, slice_start(row, col), (kh + 2 * ring, kw + 2 * ring, c + 1))
    return crop.at[ring : ring + kh, ring : ring + kw].set(0.0)


def _to_levels(v, lo, hi, levels: int):
    return jnp.clip(jnp.round((v - lo) / (hi - lo) * (levels - 1)), 0, levels - 1).astype(jnp.int32)


def _draw_learned(params, key, source, row, col, *, window, n, graphdef, fitted, ring, levels):
    if tuple(window) != fitted:
        raise ValueError(f"sampler: fitted for window {fitted}, used with window {tuple(window)}")
    crop = _masked_crop(source, row, col, window, ring)
    logits = nnx.merge(graphdef, params["net"])(crop[None])[0]  # (kh, kw, C, L)
    lv = jax.random.categorical(key, logits, shape=(n, *logits.shape[:-1]))
    return params["lo"] + lv.astype(source.dtype) * (params["hi"] - params["lo"]) / (levels - 1)


def fit_patch_sampler(
    key: jax.Array,
    images: Any,
    *,
    window: int | tuple[int, int],
    ring: int | None = None,
    levels: int = 32,
    value_range: tuple[float, float] | None = None,
    features: tuple[int, ...] = (32, 32, 32),
    steps: int = 2000,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    eval_every: int = 100,
    validation: float = 0.1,
) -> Sampler:
    """Train the learned patch sampler on ``images`` and return it as a :class:`Sampler`.

    Args:
        key: PRNG key (initialisation, split, training windows).
        images: ``(n, H, W, C)`` training images (the classifier's training set).
        window: window size ``K`` or ``(kh, kw)``; the sampler serves only this size.
        ring: context width (default ``K``: the 3K x 3K crop of Yi et al.).
        levels: intensity levels L (256 for 8-bit images, 17 for scikit-learn digits).
        value_range: ``(lo, hi)`` mapped to levels ``0 .. L - 1``; default the data's range.
        features: widths of the 3x3 convolutions.
        steps: Adam steps (each on ``batch_size`` windows at random positions).
        batch_size: windows per step.
        learning_rate: Adam step size.
        eval_every: steps between validation NLL evaluations (the checkpoint is chosen there).
        validation: fraction of the images held out for the validation NLL.

    Returns:
        A stochastic :class:`Sampler` (``name="learned_categorical"``); ``params["val_nll"]``
        holds the validation NLL curve (nats per window value) and ``params["best"]`` the index
        of the kept checkpoint in it.

    Example:
        >>> import jax
        >>> from jaxmi.attribution import samplers
        >>> x = jax.random.uniform(jax.random.key(0), (40, 8, 8, 1))
        >>> s = samplers.fit_patch_sampler(jax.random.key(1), x, window=2, levels=8,
        ...                                features=(8,), steps=20, eval_every=10)
        >>> s.draw(s.params, jax.random.key(2), x[0], 3, 3, window=(2, 2), n=5).shape
        (5, 2, 2, 1)
    """
    key = check_key(key)
    why = "fit_patch_sampler splits the images and keeps checkpoints on the host"
    refuse_traced("key", key, why)
    refuse_traced("images", images, why)
    x = check_images(images, min_n=2)
    win = window_arg(window, x.shape[1:3])
    ring = win[0] if ring is None else check_int(ring, "ring", minimum=1)
    levels = check_int(levels, "levels", minimum=2)
    features = check_hidden(features, "features")
    if not features:
        raise ValueError("features: needs at least one convolution")
    steps = check_int(steps, "steps", minimum=1)
    bs = check_int(batch_size, "batch_size", minimum=1)
    every = min(check_int(eval_every, "eval_every", minimum=1), steps)
    lr = check_finite_scalar(learning_rate, "learning_rate", positive=True)
    frac = check_finite_scalar(validation, "validation", positive=True)
    if frac >= 1:
        raise ValueError(f"validation: must be in (0, 1), got {frac}")
    xn = np.asarray(x)
    lo, hi = (float(xn.min()), float(xn.max())) if value_range is None else value_range
    lo = check_finite_scalar(lo, "value_range")
    hi = check_finite_scalar(hi, "value_range")
    if hi <= lo:
        raise ValueError(f"value_range: needs lo < hi, got ({lo}, {hi})")
    n = x.shape[0]
    n_val = min(max(1, round(frac * n)), n - 1)
    k_split, k_init, k_train, k_val = jax.random.split(key, 4)
    perm = np.asarray(jax.random.permutation(k_split, n))
    arch = (win, ring, int(x.shape[-1]), levels, features)
    graphdef, state = host_init(lambda: PatchSamplerNet(*arch, rngs=nnx.Rngs(0)), k_init)
    best, curve = _train(
        graphdef, state, k_train, k_val, x[perm[n_val:]], x[perm[:n_val]],
        jnp.float32(lo), jnp.float32(hi), jnp.float32(lr),
        arch=arch, steps=steps, batch_size=bs, every=every,
    )  # fmt: skip
    params = {
        "net": best,
        "lo": jnp.float32(lo),
        "hi": jnp.float32(hi),
        "val_nll": curve,
        "best": jnp.argmin(curve),
    }
    draw = functools.partial(_draw_learned, graphdef=graphdef, fitted=win, ring=ring, levels=levels)
    return Sampler(params, draw, name="learned_categorical")


@functools.partial(jax.jit, static_argnames=("graphdef", "arch", "steps", "batch_size", "every"))
def _train(graphdef, state, key, k_val, train, val, lo, hi, lr, *, arch, steps, batch_size,
           every):  # fmt: skip
    window, ring, _, levels, _ = arch
    tx = optax.adam(lr)
    kh, kw = window
    _, h, w, _ = train.shape

    def windows(k, data, m):
        ki, kr, kc = jax.random.split(k, 3)
        idx = jax.random.randint(ki, (m,), 0, data.shape[0])
        rows = jax.random.randint(kr, (m,), 0, h - kh + 1)
        cols = jax.random.randint(kc, (m,), 0, w - kw + 1)

        def one(i, r, c):
            img = data[i]
            target = jax.lax.dynamic_slice(img, slice_start(r, c), (kh, kw, img.shape[-1]))
            return _masked_crop(img, r, c, window, ring), _to_levels(target, lo, hi, levels)

        return jax.vmap(one)(idx, rows, cols)

    def nll(p, crops, target):
        logits = nnx.merge(graphdef, p)(crops)
        return optax.softmax_cross_entropy_with_integer_labels(logits, target).mean()

    val_crops, val_target = windows(k_val, val, 512)

    def step(carry, k):
        p, opt = carry
        loss, grads = jax.value_and_grad(nll)(p, *windows(k, train, batch_size))
        return optax_step(tx, grads, opt, p), loss

    def chunk(carry, keys):
        (p, opt, best_p, best_v) = carry
        (p, opt), _ = jax.lax.scan(step, (p, opt), keys)
        v = nll(p, val_crops, val_target)
        better = v < best_v
        best_p = jax.tree.map(lambda a, b: jnp.where(better, a, b), p, best_p)
        return (p, opt, best_p, jnp.minimum(v, best_v)), v

    n_chunks = steps // every
    keys = jax.random.split(key, n_chunks * every).reshape(n_chunks, every)
    init = (state, tx.init(state), state, jnp.asarray(jnp.inf, jnp.float32))
    (_, _, best, _), curve = jax.lax.scan(chunk, init, keys)
    return best, curve
