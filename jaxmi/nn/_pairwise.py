"""All-pairs evaluation of a small MLP whose first layer is split (private; used by ConcatCritic).

A concat critic scores every pair ``(x_i, y_j)``: ``f(x_i, y_j) = MLP(u_i + v_j)`` with
``u = X W_x + b`` and ``v = Y W_y`` (the first layer split). For the narrow networks of the bmi
protocol (widths (16, 8)), XLA:CPU runs the ``(K, K, H) @ (H, H')`` products of the plain
formulation slowly (short contractions over a long pair axis). :func:`pair_mlp` instead

* evaluates the output as one elementwise pass over the ``K x K`` pairs, with the hidden layers
  unrolled into scalar multiply-adds (a forward pass of a (16, 8) critic at K = 256: 1.4 ->
  0.2 ms on a 2-core CPU), and
* differentiates through a custom VJP that recomputes the activations as hidden-major
  ``(H, K*K)`` matrices, so that every reduction over pairs is one long contraction.

A training step of InfoNCE at K = 256 (value-and-grad + Adam in ``lax.scan``, 5-D data) went
from 5.1-6.6 to 3.9-4.5 ms (interleaved runs on a 2-core CPU); ``neural_mi(..., preset="bmi")``
for 1,000 steps, once compiled, from 5.31 to 3.69 s (InfoNCE) and from 5.77 to 3.28 s (NWJ). A
first call is about the same: tracing and compiling the unrolled pass cost about 1 s more.

Both are the same network as the plain formulation up to float rounding. Only named
(elementwise) activations take this path; the critic falls back to the plain one otherwise.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxmi.nn._mlp import ACTIVATIONS

__all__ = ["UNROLL_MAX", "eligible", "pair_mlp"]

#: the most multiply-adds per pair in the unrolled hidden layers (the (16, 8) critic has 136)
UNROLL_MAX = 512


def eligible(widths: Sequence[int], activation: object) -> str | None:
    """The activation's name if a network ``widths = (H1, ..., HL, 1)`` takes :func:`pair_mlp`.

    The hidden layers after the first must be narrow (their multiply-adds per pair unrolled
    into one elementwise pass) and the activation one of the named, elementwise ones (by name
    or as the function itself, e.g. ``jax.nn.relu``). None otherwise.
    """
    name = next((k for k, f in ACTIVATIONS.items() if activation in (k, f)), None)
    if name is None or len(widths) < 2:
        return None
    macs = sum(a * b for a, b in itertools.pairwise(widths))
    return name if macs <= UNROLL_MAX else None


def _unrolled(act, u, v, kernels, biases):
    """``(Kx, Ky)`` scores in one elementwise pass over the pairs.

    Every hidden unit is a separate ``(Kx, Ky)`` array and every layer scalar multiply-adds,
    which XLA fuses into one loop. Stacking the units as ``(H, Kx, Ky)`` arrays instead
    materialises them (8x slower at Ky = 2,500).
    """
    # rows and scalars taken apart by one unstack each: indexing them one by one (``w[m, k]``)
    # traced ~500 gathers, 0.7 s of a first bmi-preset call
    kx, ky = u.shape[1], v.shape[1]
    us, vs = jnp.unstack(u), jnp.unstack(v)
    h = [act(us[m].reshape(kx, 1) + vs[m].reshape(1, ky)) for m in range(u.shape[0])]
    last = len(kernels) - 1
    for layer, (w, b) in enumerate(zip(kernels, biases, strict=True)):
        n_in, n_out = w.shape
        ws, bs = jnp.unstack(w.reshape(n_in * n_out)), jnp.unstack(b)
        z = [bs[k] + sum(ws[m * n_out + k] * h[m] for m in range(n_in)) for k in range(n_out)]
        h = z if layer == last else [act(zk) for zk in z]
    # Computed once, then read: XLA:CPU copies cheap elementwise producers into each consumer,
    # so a bound that reads S three times (InfoNCE: row max, row sum of exp, the softmax of
    # its gradient) ran the whole unrolled pass three times. XLA never duplicates a division,
    # and a division by ones it cannot fold (1 + 0 sign(u_0) sign(v_0): NaN only where u or v
    # is, and S with them) keeps one copy: an InfoNCE step at K = 256 1.88 -> 1.66 ms (median
    # of 12 interleaved runs), the same numbers.
    ones = 1 + 0 * (jnp.sign(us[0]).reshape(kx, 1) * jnp.sign(vs[0]).reshape(1, ky))
    return h[0] / ones


def _hidden_major(act, u, v, kernels, biases):
    """Pre-activations and activations as ``(H, Kx*Ky)`` matrices (recomputed by the VJP)."""
    p = u.shape[1] * v.shape[1]
    z = u[:, :, None] + v[:, None, :]
    # the first layer's activations materialised once, as (H, Kx, Ky), then viewed flat; with
    # the barriers here and on the 3-D first-layer gradient below, a training step at K = 256
    # took 3.9-4.0 ms instead of 4.4-4.8 ms (XLA otherwise recomputes them in several consumers)
    h = jax.lax.optimization_barrier(act(z))
    zs, hs = [z.reshape(u.shape[0], p)], [h.reshape(u.shape[0], p)]
    for w, b in zip(kernels[:-1], biases[:-1], strict=True):
        z = w.T @ hs[-1] + b[:, None]
        zs.append(z)
        hs.append(act(z))
    return zs, hs


def pair_mlp(activation: str, u, v, kernels, biases):
    """``S[i, j] = MLP(u_i + v_j)``: the scores of a split-first-layer MLP over all pairs.

    Reverse-mode differentiable (a custom VJP); forward mode (``jax.jvp``) is not supported,
    which is why the public critic methods keep the plain formulation.

    Args:
        activation: a name in :data:`jaxmi.nn.ACTIVATIONS` (applied after every hidden layer).
        u: ``(H1, Kx)`` first-layer pre-activations of x, bias included (hidden-major).
        v: ``(H1, Ky)`` first-layer pre-activations of y.
        kernels: the later layers' kernels ``(H_l, H_{l+1})``, the last ``(H_L, 1)``.
        biases: their biases ``(H_{l+1},)``.

    Returns:
        ``(Kx, Ky)`` with ``S[i, j] = f(x_i, y_j)``.
    """
    return _pair_mlp(activation, u, v, tuple(kernels), tuple(biases))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _pair_mlp(activation, u, v, kernels, biases):
    return _unrolled(ACTIVATIONS[activation], u, v, list(kernels), list(biases))


def _pair_mlp_fwd(activation, u, v, kernels, biases):
    # barriers as in the measured configuration (module docstring)
    u, v = jax.lax.optimization_barrier((u, v))
    out = jax.lax.optimization_barrier(_pair_mlp(activation, u, v, kernels, biases))
    return out, (u, v, kernels, biases)


def _pair_mlp_bwd(activation, res, g):
    u, v, kernels, biases = res
    kernels, biases = list(kernels), list(biases)
    act = ACTIVATIONS[activation]
    kx, ky = u.shape[1], v.shape[1]
    # the activations again, hidden-major (H, Kx*Ky); every reduction over pairs below is then
    # one long contraction
    zs, hs = _hidden_major(act, u, v, kernels, biases)
    d_kernels, d_biases = [None] * len(kernels), [None] * len(biases)
    # the output layer (width 1): a matrix-vector product and a broadcast, no 1-deep contraction
    gv = g.reshape(kx * ky)
    d_kernels[-1] = (hs[-1] @ gv)[:, None]
    d_biases[-1] = jnp.sum(gv)[None]
    back = kernels[-1][:, 0][:, None] * gv[None, :]  # d loss / d hs[-1]
    for layer in range(len(hs) - 1, -1, -1):
        z = zs[layer]  # hs[layer] = act(z); delta = d loss / d z
        if activation == "relu":  # the slope as a select, for layer 0 from h (z is not kept)
            delta = jnp.where((hs[0] if layer == 0 else z) > 0, back, 0)
        else:
            delta = jax.jvp(act, (z,), (jnp.ones_like(z),))[1] * back
        if layer:  # z = kernels[layer - 1]^T hs[layer - 1] + biases[layer - 1]
            delta = jax.lax.optimization_barrier(delta)
            d_kernels[layer - 1] = hs[layer - 1] @ delta.T
            d_biases[layer - 1] = jnp.sum(delta, axis=1)
            back = kernels[layer - 1] @ delta
    delta = jax.lax.optimization_barrier(delta.reshape(-1, kx, ky))  # 3-D, see above
    return jnp.sum(delta, axis=2), jnp.sum(delta, axis=1), tuple(d_kernels), tuple(d_biases)


_pair_mlp.defvjp(_pair_mlp_fwd, _pair_mlp_bwd)
