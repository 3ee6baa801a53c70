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
    gmm_mi_batch,
    gmm_mi_categorical,
    gmm_mi_pairwise,
)

__all__ = [
    "CategoricalMIResult",
    "MIResult",
    "NeuralMIResult",
    "PairwiseMIResult",
    "__version__",
    "attribution",
    "bounds",
    "data",
    "enable_compilation_cache",
    "gmm",
    "gmm_cmi",
    "gmm_entropy",
    "gmm_kl",
    "gmm_mi",
    "gmm_mi_batch",
    "gmm_mi_categorical",
    "gmm_mi_pairwise",
    "models",
    "neural",
    "neural_mi",
    "nn",
    "plot",
    "tasks",
]

enable_default_compilation_cache()


_LAZY = {
    "attribution": "jaxmi.attribution",
    "data": "jaxmi.data",
    "models": "jaxmi.models",
    "nn": "jaxmi.nn",
    "neural": "jaxmi.neural",
}
_LAZY_NAMES = {"NeuralMIResult": "jaxmi.neural", "neural_mi": "jaxmi.neural"}


def __getattr__(name: str):
    """Import the subpackages in ``_LAZY`` (some need Flax) on first use, not on import."""
    import importlib

    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jaxmi' has no attribute {name!r}")
