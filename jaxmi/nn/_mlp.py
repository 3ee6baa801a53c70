"""A configurable MLP (Flax NNX) and the argument checks shared by the critics."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxmi import _compile
from jaxmi._validation import check_int

__all__ = ["ACTIVATIONS", "INITS", "MLP"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,
    "softplus": jax.nn.softplus,
    "tanh": jnp.tanh,
}

INITS = ("lecun", "torch", "glorot")


def resolve_activation(activation: Any) -> Callable[[jax.Array], jax.Array]:
    """An activation by name (see :data:`ACTIVATIONS`) or a callable, as a callable."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation: must be one of {tuple(ACTIVATIONS)} or a callable, got {activation!r}"
            )
        return ACTIVATIONS[activation]
    if callable(activation):
        return activation
    raise ValueError(f"activation: expected a name or a callable, got {activation!r}")


def check_hidden(hidden: Any, name: str = "hidden") -> tuple[int, ...]:
    """A sequence of positive layer widths, as a tuple (empty allowed)."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise ValueError(f"{name}: expected a sequence of layer widths, got {hidden!r}")
    return tuple(check_int(h, f"{name}[{i}]", minimum=1) for i, h in enumerate(hidden))


def _draw(key: jax.Array, *, shape: tuple, dtype: Any, scheme: str, bound: float) -> jax.Array:
    if scheme == "lecun":
        return nnx.initializers.lecun_normal()(key, shape, dtype)
    if scheme == "glorot":
        return nnx.initializers.glorot_uniform()(key, shape, dtype)
    return jax.random.uniform(key, shape, dtype, -bound, bound)  # "torch"


# One parameter's draw, compiled with XLA's fast-compiling options (kind "light", see
# jaxmi._compile). A module built outside any transform compiles one draw per parameter shape,
# and Threefry's random-bit programs compile about 3x faster with these options (0.07 s against
# 0.2-0.4 s per shape, 2-core CPU): a separable, a concat critic and a Gaussian conditional
# were built in 0.95-1.1 s instead of 2.1-2.3 s in fresh processes. The values are those of
# Flax's eager initialisers, to the bit (tests/nn/test_critics.py); under a user's
# jit/vmap/nnx transform the draw is inlined.
_draw_jit = _compile.jit(
    _draw, kind="light", export=False, static_argnames=("shape", "dtype", "scheme", "bound")
)


def initializer(scheme: str, bound: float = 0.0) -> Callable[..., jax.Array]:
    """A Flax initialiser ``(key, shape, dtype) -> array`` drawing through :data:`_draw_jit`.

    ``scheme``: ``"lecun"`` (LeCun normal), ``"glorot"`` (Glorot uniform) or ``"torch"``
    (uniform on ``±bound``).
    """

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return _draw_jit(
            key, shape=tuple(shape), dtype=jnp.dtype(dtype), scheme=scheme, bound=bound
        )

    return init


def linear(fan_in: int, fan_out: int, init: str, rngs: nnx.Rngs) -> nnx.Linear:
    """An ``nnx.Linear`` with the requested initialisation scheme.

    ``"lecun"``: Flax's default (LeCun-normal weights, zero bias); ``"torch"``: PyTorch's
    ``nn.Linear`` (and Equinox's) uniform ±1/sqrt(fan_in) weights and bias; ``"glorot"``:
    Keras ``Dense`` (Glorot-uniform weights, zero bias).
    """
    if init not in INITS:
        raise ValueError(f"init: must be one of {INITS}, got {init!r}")
    if init != "torch":
        return nnx.Linear(fan_in, fan_out, kernel_init=initializer(init), rngs=rngs)
    u = initializer("torch", 1.0 / math.sqrt(fan_in))
    return nnx.Linear(fan_in, fan_out, kernel_init=u, bias_init=u, rngs=rngs)


class MLP(nnx.Module):
    """Fully connected network ``in_features → hidden... → out_features`` (linear output).

    Args:
        in_features: input width.
        out_features: output width.
        hidden: widths of the hidden layers (``()``: a single linear layer).
        activation: name in :data:`ACTIVATIONS` or a callable, applied after every hidden layer.
        init: ``"lecun"`` (Flax default), ``"torch"`` (uniform ±1/sqrt(fan_in), as PyTorch and
            Equinox) or ``"glorot"`` (Keras).
        rngs: ``nnx.Rngs`` for the initialisation.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from jaxmi.nn import MLP
        >>> mlp = MLP(3, 2, (16, 8), rngs=nnx.Rngs(0))
        >>> mlp(jnp.ones((5, 3))).shape
        (5, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (),
        *,
        activation: str | Callable[[jax.Array], jax.Array] = "relu",
        init: str = "lecun",
        rngs: nnx.Rngs,
    ) -> None:
        fi = check_int(in_features, "in_features", minimum=1)
        fo = check_int(out_features, "out_features", minimum=1)
        widths = (fi, *check_hidden(hidden), fo)
        if init not in INITS:
            raise ValueError(f"init: must be one of {INITS}, got {init!r}")
        self.activation = resolve_activation(activation)
        self.layers = nnx.List([linear(a, b, init, rngs) for a, b in itertools.pairwise(widths)])

    def __call__(self, x: jax.Array) -> jax.Array:
        """Apply the network to the last axis of ``x``."""
        return self.forward_from(self.layers[0](x), 1)

    def forward_from(self, pre: jax.Array, start: int) -> jax.Array:
        """Continue from the pre-activation ``pre`` of layer ``start − 1``."""
        h = pre
        for i in range(start, len(self.layers)):
            h = self.layers[i](self.activation(h))
        return h
