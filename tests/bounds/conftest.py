"""Correlated Gaussian fixtures with the analytic optimal critic and the true conditional."""

import math
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

RHO = 0.75
TRUE_MI = -0.5 * math.log(1 - RHO**2)  # 0.41334 nats per pair


def gaussian_pairs(key, k, rho=RHO, dim=1, dtype=jnp.float32):
    """K pairs of d independent coordinates with correlation rho: x, y of shape (K, d)."""
    kx, ke = jax.random.split(key)
    x = jax.random.normal(kx, (k, dim), dtype)
    y = rho * x + math.sqrt(1 - rho**2) * jax.random.normal(ke, (k, dim), dtype)
    return x, y


def log_ratio_matrix(x, y, rho=RHO):
    """S[i, j] = log p(x_i, y_j) / (p(x_i) p(y_j)) summed over coordinates (rows x, cols y)."""
    xi, yj = x[:, None, :], y[None, :, :]
    q = rho**2 * xi**2 - 2 * rho * xi * yj + rho**2 * yj**2
    return jnp.sum(-0.5 * math.log(1 - rho**2) - q / (2 * (1 - rho**2)), axis=-1)


def log_cond_matrix(x, y, rho=RHO):
    """L[i, j] = log p(y_j | x_i) (rows: conditioning x, columns: evaluated y)."""
    var = 1 - rho**2
    r = y[None, :, :] - rho * x[:, None, :]
    return jnp.sum(-0.5 * math.log(2 * math.pi * var) - r**2 / (2 * var), axis=-1)


def log_std_normal(y):
    return jnp.sum(-0.5 * math.log(2 * math.pi) - y**2 / 2, axis=-1)


@pytest.fixture(scope="session")
def gauss():
    """The helpers of this module (test files cannot import conftest under importlib mode)."""
    return SimpleNamespace(
        rho=RHO,
        mi=TRUE_MI,
        pairs=gaussian_pairs,
        log_ratio=log_ratio_matrix,
        log_cond=log_cond_matrix,
        log_std_normal=log_std_normal,
        random_scores=random_scores,
    )


@pytest.fixture(scope="session")
def big_batch():
    """K = 4000 bivariate pairs (rho = 0.75) and their analytic score / log-likelihood matrices."""
    x, y = gaussian_pairs(jax.random.key(20240), 4000)
    return x, y, log_ratio_matrix(x, y), log_cond_matrix(x, y)


@pytest.fixture
def x64():
    """Enable float64 for one test only (never flipped globally)."""
    with jax.enable_x64(True):
        yield


def random_scores(seed, k, scale=3.0, dtype=np.float32):
    """A non-symmetric random score matrix."""
    rng = np.random.default_rng(seed)
    return (scale * rng.normal(size=(k, k)) + rng.normal(size=(1, k))).astype(dtype)
