"""jaxmi: mutual information and information-theoretic interpretability in JAX."""

from jaxmi import bounds, gmm, plot, tasks
from jaxmi._config import enable_compilation_cache, enable_default_compilation_cache
from jaxmi._version import __version__
from jaxmi.gmm import (
    CategoricalMIResult,
    MIResult,
    PairwiseMIResult,
    gmm_cmi,
    gmm_entropy,
    gmm_kl,
    gmm_mi,
    gmm_mi_categorical,
    gmm_mi_pairwise,
)

__all__ = [
    "CategoricalMIResult",
    "MIResult",
    "PairwiseMIResult",
    "__version__",
    "bounds",
    "enable_compilation_cache",
    "gmm",
    "gmm_cmi",
    "gmm_entropy",
    "gmm_kl",
    "gmm_mi",
    "gmm_mi_categorical",
    "gmm_mi_pairwise",
    "nn",
    "plot",
    "tasks",
]

enable_default_compilation_cache()


def __getattr__(name: str):
    """Import ``jaxmi.nn`` (and with it Flax) on first use, not with ``import jaxmi``."""
    if name == "nn":
        import importlib

        return importlib.import_module("jaxmi.nn")
    raise AttributeError(f"module 'jaxmi' has no attribute {name!r}")
