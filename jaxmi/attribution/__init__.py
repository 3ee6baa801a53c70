"""Information-theoretic attribution maps for black-box classifiers and their evaluation.

Submodules:
    metrics: deletion/insertion AUC, MoRF/LeRF, Sensitivity-n, ROAD, pointing, effective heat ratio.
    samplers: pure functions drawing replacement patches for marginalisation.
"""

import importlib

__all__ = ["metrics", "samplers"]


def __getattr__(name: str):
    """Import submodules on first use."""
    if name in __all__:
        return importlib.import_module(f"jaxmi.attribution.{name}")
    raise AttributeError(f"module 'jaxmi.attribution' has no attribute {name!r}")
