"""Information-theoretic attribution maps for black-box classifiers and their evaluation.

Public functions:
    it_maps: information-gain and PMI maps (Yi et al.), :class:`ITMaps`.
    occlusion: occlusion with Captum's ``Occlusion`` semantics.

Submodules:
    metrics: deletion/insertion AUC, MoRF/LeRF, Sensitivity-n, ROAD, pointing, effective heat ratio.
    samplers: pure functions drawing replacement patches for marginalisation (the
        :class:`~jaxmi.attribution.samplers.Sampler` protocol).
"""

import importlib

from jaxmi.attribution import samplers
from jaxmi.attribution._it_maps import ITMaps, it_maps, occlusion

__all__ = ["ITMaps", "it_maps", "metrics", "occlusion", "samplers"]

_SUBMODULES = ("metrics",)


def __getattr__(name: str):
    """Import submodules on first use."""
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxmi.attribution.{name}")
    raise AttributeError(f"module 'jaxmi.attribution' has no attribute {name!r}")
