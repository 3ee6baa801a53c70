"""Information-theoretic attribution maps for black-box classifiers and their evaluation.

Public functions:
    it_maps: information-gain and PMI maps (Yi et al.), :class:`ITMaps`.
    occlusion: occlusion with Captum's ``Occlusion`` semantics.
    evaluate_faithfulness: several maps scored by deletion, insertion and ROAD under several
        substrates, with per-substrate ranks (:class:`FaithfulnessReport`).

Submodules:
    metrics: deletion/insertion AUC, MoRF/LeRF, Sensitivity-n, ROAD, pointing, effective heat ratio.
    samplers: pure functions drawing replacement patches for marginalisation (the
        :class:`~jaxmi.attribution.samplers.Sampler` protocol).
"""

import importlib

from jaxmi.attribution import samplers
from jaxmi.attribution._it_maps import ITMaps, it_maps, occlusion

__all__ = [
    "FaithfulnessReport",
    "ITMaps",
    "evaluate_faithfulness",
    "it_maps",
    "metrics",
    "occlusion",
    "samplers",
]

_SUBMODULES = ("metrics",)
_HARNESS = ("FaithfulnessReport", "evaluate_faithfulness")


def __getattr__(name: str):
    """Import submodules (and the harness, which needs the metrics) on first use."""
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxmi.attribution.{name}")
    if name in _HARNESS:
        return getattr(importlib.import_module("jaxmi.attribution._harness"), name)
    raise AttributeError(f"module 'jaxmi.attribution' has no attribute {name!r}")
