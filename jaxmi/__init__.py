"""jaxmi: mutual information and information-theoretic interpretability in JAX."""

from jaxmi import gmm, plot, tasks
from jaxmi._config import enable_compilation_cache
from jaxmi._version import __version__

__all__ = ["__version__", "enable_compilation_cache", "gmm", "plot", "tasks"]
