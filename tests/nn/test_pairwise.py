"""The fused all-pairs pass of narrow concat critics (``jaxmi.nn._pairwise``)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxmi.nn import BaselineCritic, ConcatCritic
from jaxmi.nn._pairwise import UNROLL_MAX, eligible, pair_mlp


def _critic(hidden, activation, dim_x=3, dim_y=2, seed=0):
    return ConcatCritic(
        dim_x, dim_y, hidden, activation=activation, init="torch", rngs=nnx.Rngs(seed)
    )


def _data(kx, ky, dim_x=3, dim_y=2, seed=1):
    kx_, ky_ = jax.random.split(jax.random.key(seed))
    return jax.random.normal(kx_, (kx, dim_x)), jax.random.normal(ky_, (ky, dim_y))


@pytest.mark.parametrize(
    "hidden, activation",
    [((16, 8), "relu"), ((6,), "tanh"), ((5, 4, 3), "gelu"), ((7, 5), "softplus"), ((4, 4), "elu")],
)
def test_fused_scores_and_gradients_equal_the_plain_network(hidden, activation):
    """Values and reverse-mode gradients (w.r.t. every parameter and the inputs) of the fused
    pass equal the plain formulation's, in float64, for rectangular batches (Kx != Ky)."""
    with jax.enable_x64(True):
        critic = _critic(hidden, activation)
        assert critic.pair_activation == activation
        graphdef, params = nnx.split(critic, nnx.Param)
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        x, y = (a.astype(jnp.float64) for a in _data(7, 5))
        g = jax.random.normal(jax.random.key(2), (7, 5), jnp.float64)

        def loss(method, p, x, y):
            return jnp.sum(g * getattr(nnx.merge(graphdef, p), method)(x, y))

        # jitted: eager dispatch of the unrolled pass (~1,000 small ops) is slow to test
        plain = jax.jit(lambda p, x, y: nnx.merge(graphdef, p).scores(x, y))(params, x, y)
        fused = jax.jit(lambda p, x, y: nnx.merge(graphdef, p)._train_scores(x, y))(params, x, y)
        np.testing.assert_allclose(fused, plain, rtol=1e-12, atol=1e-12)
        grad_plain = jax.jit(jax.grad(functools.partial(loss, "scores"), argnums=(0, 1, 2)))(
            params, x, y
        )
        grad_fused = jax.jit(jax.grad(functools.partial(loss, "_train_scores"), argnums=(0, 1, 2)))(
            params, x, y
        )
        for a, b in zip(jax.tree.leaves(grad_fused), jax.tree.leaves(grad_plain), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        # a wrong backward (e.g. rows and columns of the first layer swapped) would fail here
        assert float(jnp.max(jnp.abs(grad_plain[1]))) > 1e-3


def test_fused_scores_under_vmap_and_in_float32():
    """An ensemble (vmapped parameters), float32: the fused pass agrees to rounding."""
    critics = nnx.vmap(lambda k: _critic((16, 8), "relu", seed=0))(jnp.arange(3))
    graphdef, params = nnx.split(critics, nnx.Param)
    x, y = _data(256, 256)

    def both(p):
        m = nnx.merge(graphdef, p)
        return m.scores(x, y), m._train_scores(x, y)

    plain, fused = jax.jit(jax.vmap(both))(params)
    np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-5)

    def grads(method):
        def f(p):
            return jnp.mean(jax.nn.log_softmax(getattr(nnx.merge(graphdef, p), method)(x, y)))

        return jax.jit(jax.vmap(jax.grad(f)))(params)

    fused, plain = jax.tree.leaves(grads("_train_scores")), jax.tree.leaves(grads("scores"))
    for a, b in zip(fused, plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)


def test_eligibility():
    """Narrow networks with a named (or the named function's) activation take the fused pass;
    wide ones, no hidden layer and unknown callables keep the plain one."""
    assert eligible((16, 8, 1), "relu") == "relu"
    assert eligible((16, 8, 1), jax.nn.relu) == "relu"
    assert eligible((16, 8, 1), lambda a: jnp.maximum(a, 0)) is None
    assert eligible((1,), "relu") is None  # no hidden layer
    assert eligible((256, 256, 1), "relu") is None
    assert eligible((UNROLL_MAX - 1, 1), "relu") == "relu"
    assert eligible((UNROLL_MAX, 1, 1), "relu") is None
    assert _critic((), "relu").pair_activation is None
    assert _critic((64, 64), "relu").pair_activation is None
    wide = _critic((64, 64), "relu")
    x, y = _data(4, 5)
    np.testing.assert_array_equal(wide._train_scores(x, y), wide.scores(x, y))
    based = BaselineCritic(_critic((16, 8), "relu"), (8,), rngs=nnx.Rngs(3))
    both = nnx.jit(lambda m, x, y: (m._train_scores(x, y), m.scores(x, y)))(based, x, y)
    np.testing.assert_allclose(*both, rtol=1e-5, atol=1e-6)


def test_pair_mlp_orientation():
    """``S[i, j]`` pairs row i of ``u`` (x) with row j of ``v`` (y)."""
    u = jnp.array([[0.0, 1.0, 2.0]])  # H1 = 1, Kx = 3
    v = jnp.array([[10.0, 20.0]])  # Ky = 2
    s = pair_mlp("relu", u, v, [jnp.ones((1, 1))], [jnp.zeros(1)])
    np.testing.assert_array_equal(s, u[0][:, None] + v[0][None, :])
