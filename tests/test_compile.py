"""jaxmi._compile: XLA options per program kind, only where JAX accepts them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmi import _compile


def test_options_by_kind_and_backend():
    assert _compile.options("light", "cpu") == {
        "xla_cpu_use_fusion_emitters": False,
        "xla_backend_optimization_level": 1,
    }
    assert _compile.options("hot", "cpu") is None  # EM and integrals keep XLA's defaults
    assert _compile.options("light", "gpu") is None
    with pytest.raises(ValueError, match="kind"):
        _compile.options("fast", "cpu")
    with pytest.raises(ValueError, match="kind"):
        _compile.jit(lambda x: x, kind="fast")


def test_tuned_program_agrees_and_nests_under_user_transforms():
    f = _compile.jit(lambda x, *, p: jnp.sum(x**p, axis=-1), kind="light", static_argnames="p")
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    want = (x**2).sum(-1)
    np.testing.assert_allclose(f(x, p=2), want)
    if jax.default_backend() == "cpu":  # top level on CPU: the program with the options
        assert f._pick() is f._tuned
    # under a user's jit or vmap JAX refuses compiler options on nested programs
    np.testing.assert_allclose(jax.jit(lambda a: f(a, p=2))(x), want)
    np.testing.assert_allclose(jax.vmap(lambda a: f(a, p=2))(x), want)
    assert f.__name__ == "<lambda>"
