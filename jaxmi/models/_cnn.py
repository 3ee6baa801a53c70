"""A small convolutional classifier and its fused training loop."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxmi._batches import chunk_batches
from jaxmi._optim import optax_step
from jaxmi._validation import check_finite_scalar, check_int, check_key, refuse_traced
from jaxmi.nn import conv_general_dilated
from jaxmi.nn._mlp import check_hidden

__all__ = ["SmallCNN", "TrainedClassifier", "host_init", "train_classifier"]


# LeCun-scaled uniform weights (variance 1 / fan_in, like Flax's default truncated normal)
_INIT = nnx.initializers.lecun_uniform()


def host_init(make: Callable[[], nnx.Module], key: jax.Array) -> tuple[Any, Any]:
    """``(graphdef, params)`` of ``make()`` with weights drawn on the host from ``key``.

    Same distribution as :data:`_INIT` (kernels ``U(±sqrt(3 / fan_in))``, fan-in = all but
    the last axis; biases 0), deterministic given ``key``. Drawing them with NumPy avoids
    compiling Threefry random-bit programs for every parameter shape, which costs several
    seconds of XLA compilation per model on a CPU (eagerly or inside the training program).
    """
    graphdef, abstract = nnx.split(nnx.eval_shape(make), nnx.Param)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())

    def one(path, leaf):
        shape, dtype = leaf.shape, leaf.dtype
        if getattr(path[-1], "key", None) == "bias" or len(shape) < 2:
            return jnp.zeros(shape, dtype)
        bound = np.sqrt(3.0 / np.prod(shape[:-1]))
        return jnp.asarray(rng.uniform(-bound, bound, shape), dtype)

    return graphdef, jax.tree.map_with_path(one, abstract)


def conv3x3(in_features: int, out_features: int, *, rngs: nnx.Rngs) -> nnx.Conv:
    """The 3x3 ``SAME`` convolution of jaxmi's CNNs.

    :data:`_INIT` kernels, and :func:`jaxmi.nn.conv_general_dilated`, whose backward pass stays
    fast in the ``lax.scan`` training loops on CPU.
    """
    return nnx.Conv(
        in_features,
        out_features,
        kernel_size=(3, 3),
        padding="SAME",
        kernel_init=_INIT,
        conv_general_dilated=conv_general_dilated,
        rngs=rngs,
    )


class SmallCNN(nnx.Module):
    """Conv 3x3 → ReLU → ... → global mean over pixels → Dense: logits of NHWC images.

    The default ``features=(16, 32)`` is the digits CNN of the attribution spec's CPU
    prototype (test accuracy about 0.94 on scikit-learn digits).

    Args:
        in_channels: image channels C.
        n_classes: number of classes (output logits).
        features: output channels of each 3x3 ``SAME`` convolution.
        rngs: NNX random streams for the initialisation.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from jaxmi.models import SmallCNN
        >>> SmallCNN(1, 10, rngs=nnx.Rngs(0))(jnp.zeros((2, 8, 8, 1))).shape
        (2, 10)
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        features: Sequence[int] = (16, 32),
        *,
        rngs: nnx.Rngs,
    ):
        features = check_hidden(features, "features")
        if not features:
            raise ValueError("features: needs at least one convolution")
        chans = (check_int(in_channels, "in_channels", minimum=1), *features)
        self.convs = nnx.List([conv3x3(a, b, rngs=rngs) for a, b in itertools.pairwise(chans)])
        self.head = nnx.Linear(
            features[-1],
            check_int(n_classes, "n_classes", minimum=2),
            kernel_init=_INIT,
            rngs=rngs,
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits ``(B, n_classes)`` of images ``(B, H, W, C)``."""
        for conv in self.convs:
            x = jax.nn.relu(conv(x))
        return self.head(jnp.mean(x, axis=(1, 2)))


@dataclasses.dataclass(frozen=True)
class _Apply:
    """``params, x -> softmax(model(x))`` (or logits): the static part of ``predict_fn``."""

    graphdef: Any
    probs: bool

    def __call__(self, params: Any, x: jax.Array) -> jax.Array:
        logits = nnx.merge(self.graphdef, params)(x)
        return jax.nn.softmax(logits, axis=-1) if self.probs else logits


class TrainedClassifier(NamedTuple):
    """Result of :func:`train_classifier`.

    Attributes:
        model: the trained :class:`SmallCNN`.
        predict_fn: ``(B, H, W, C) -> (B, n_classes)`` probabilities, a pure
            ``jax.tree_util.Partial`` whose leaves are the parameters (pass it to
            :func:`jaxmi.attribution.it_maps`; new weights do not recompile the sweep).
        logits_fn: the same, returning logits.
        losses: ``(steps,)`` training cross-entropy (nats) of every minibatch.
        train_accuracy: accuracy on the training images after training.
    """

    model: Any
    predict_fn: Any
    logits_fn: Any
    losses: Any
    train_accuracy: float


def train_classifier(
    key: jax.Array,
    images: Any,
    labels: Any,
    *,
    n_classes: int | None = None,
    features: Sequence[int] = (16, 32),
    epochs: int = 60,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
) -> TrainedClassifier:
    """Train a :class:`SmallCNN` by minibatch Adam on the cross-entropy.

    The model is split once (``nnx.split``); one jitted program runs all steps as a
    ``lax.scan`` of a pure optax step over epoch permutations of the data.

    Args:
        key: PRNG key (initialisation and minibatch order).
        images: ``(n, H, W, C)`` float images.
        labels: ``(n,)`` integer labels in ``[0, n_classes)``.
        n_classes: number of classes (default ``max(labels) + 1``, at least 2).
        features: convolution widths of the :class:`SmallCNN`.
        epochs: passes over the data (each ``n // batch_size`` steps).
        batch_size: minibatch size (at most n).
        learning_rate: Adam step size.

    Returns:
        A :class:`TrainedClassifier`.

    Raises:
        ValueError: malformed images or labels, labels out of range, non-positive sizes.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmi.models import train_classifier
        >>> x = jax.random.uniform(jax.random.key(0), (64, 6, 6, 1))
        >>> y = (x[:, :3].mean((1, 2, 3)) > x[:, 3:].mean((1, 2, 3))).astype(jnp.int32)
        >>> clf = train_classifier(jax.random.key(1), x, y, epochs=2, batch_size=16)
        >>> clf.predict_fn(x[:2]).shape
        (2, 2)
    """
    key = check_key(key)
    x = np.asarray(images) if not hasattr(images, "shape") else images
    if x.ndim != 4 or min(x.shape) < 1:
        raise ValueError(f"images: expected shape (n, H, W, C), got {tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating) and not jnp.issubdtype(x.dtype, jnp.integer):
        raise ValueError(f"images: expected a real numeric array, got dtype {x.dtype}")
    y = np.asarray(labels) if not hasattr(labels, "shape") else labels
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels: expected shape ({x.shape[0]},), got {tuple(y.shape)}")
    if y.dtype == np.bool_ or not jnp.issubdtype(y.dtype, jnp.integer):
        raise ValueError(f"labels: expected integers, got dtype {y.dtype}")
    for name, value in (("key", key), ("images", x), ("labels", y)):
        refuse_traced(name, value, "train_classifier checks the data and trains on the host")
    if not np.isfinite(np.asarray(x, np.float64)).all():
        raise ValueError("images: contains NaN or infinite values")
    yn = np.asarray(y)
    if yn.min() < 0:
        raise ValueError(f"labels: must be >= 0, got {yn.min()}")
    k = (
        max(int(yn.max()) + 1, 2)
        if n_classes is None
        else check_int(n_classes, "n_classes", minimum=2)
    )
    if yn.max() >= k:
        raise ValueError(f"labels: {yn.max()} out of range for n_classes={k}")
    n = x.shape[0]
    bs = check_int(batch_size, "batch_size", minimum=1)
    if bs > n:
        raise ValueError(f"batch_size: {bs} exceeds the number of images {n}")
    epochs = check_int(epochs, "epochs", minimum=1)
    lr = check_finite_scalar(learning_rate, "learning_rate", positive=True)
    k_init, k_train = jax.random.split(key)
    arch = (int(x.shape[-1]), k, check_hidden(features, "features"))
    graphdef, params = host_init(lambda: SmallCNN(*arch, rngs=nnx.Rngs(0)), k_init)
    steps = epochs * (n // bs)
    params, losses = _fit(
        graphdef, params, k_train, jnp.asarray(x, jnp.float32), jnp.asarray(yn, jnp.int32), lr,
        steps=steps, batch_size=bs,
    )  # fmt: skip
    logits_fn = jax.tree_util.Partial(_Apply(graphdef, False), params)
    predict_fn = jax.tree_util.Partial(_Apply(graphdef, True), params)
    acc = float(np.mean(_predict_labels(logits_fn, x) == yn))
    return TrainedClassifier(
        model=nnx.merge(graphdef, params),
        predict_fn=predict_fn,
        logits_fn=logits_fn,
        losses=np.asarray(losses),
        train_accuracy=acc,
    )


@jax.jit
def _argmax_logits(logits_fn: Any, x: jax.Array) -> jax.Array:
    # logits_fn is a Partial: its parameters are arguments, so every classifier shares one
    # program per shape (a jitted closure over them made them constants of a new program, traced
    # and compiled again at every train_classifier call)
    return jnp.argmax(logits_fn(x), axis=-1)


def _predict_labels(logits_fn: Any, x: Any, block: int = 1024) -> np.ndarray:
    x = jnp.asarray(x, jnp.float32)
    return np.concatenate(
        [
            np.asarray(_argmax_logits(logits_fn, x[i : i + block]))
            for i in range(0, x.shape[0], block)
        ]
    )


@functools.partial(jax.jit, static_argnames=("graphdef", "steps", "batch_size"))
def _fit(graphdef, params, k_train, x, y, lr, *, steps: int, batch_size: int):
    tx = optax.adam(lr)

    def loss_fn(p, idx):
        logits = nnx.merge(graphdef, p)(x[idx])
        return optax.softmax_cross_entropy_with_integer_labels(logits, y[idx]).mean()

    def step(carry, idx):
        p, opt = carry
        loss, grads = jax.value_and_grad(loss_fn)(p, idx)
        return optax_step(tx, grads, opt, p), loss

    batches = chunk_batches(k_train, x.shape[0], steps, batch_size)
    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), batches)
    return params, losses
