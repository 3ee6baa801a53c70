import jax
import pytest


@pytest.fixture
def x64():
    """Enable float64 for one test only (never flipped globally)."""
    with jax.enable_x64(True):
        yield
