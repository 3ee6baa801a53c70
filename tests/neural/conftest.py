"""Shared settings of the neural_mi tests."""

from types import MappingProxyType

import pytest

# small, quickly overfitting setting: seeds stop at different evaluations
_SMALL = MappingProxyType(
    {
        "batch_size": 64,
        "hidden": (16,),
        "embed_dim": 8,
        "max_steps": 1200,
        "eval_every": 100,
        "patience": 2,
        "learning_rate": 1e-2,
    }
)


@pytest.fixture(scope="session")
def small():
    """neural_mi options of a small, quickly overfitting run (read-only; ``dict(small, ...)``
    to change some). A fixture because test files cannot import conftest under importlib mode."""
    return _SMALL
