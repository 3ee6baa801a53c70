"""Batched EM for full-covariance Gaussian mixtures (``jaxmi.gmm``).

Pure, jittable functions: :func:`fit` (one dataset, ``n_init`` starts batched), :func:`fit_batch`
(many independent problems in one compiled program), :func:`initialize`, and the mixture
utilities :func:`log_prob`, :func:`sample`, :func:`marginal`, :func:`conditional`,
:func:`responsibilities`.
"""

from jaxmi.gmm._em import EMResult, pad_length
from jaxmi.gmm._fit import ConvergenceWarning, fit, fit_batch, initialize, resolve_capacity
from jaxmi.gmm._init import METHODS as INIT_METHODS
from jaxmi.gmm._mi import MIResult, gmm_cmi, gmm_entropy, gmm_mi
from jaxmi.gmm._mixture import GMM, conditional, log_prob, marginal, responsibilities, sample

__all__ = [
    "GMM",
    "INIT_METHODS",
    "ConvergenceWarning",
    "EMResult",
    "MIResult",
    "conditional",
    "fit",
    "fit_batch",
    "gmm_cmi",
    "gmm_entropy",
    "gmm_mi",
    "initialize",
    "log_prob",
    "marginal",
    "pad_length",
    "resolve_capacity",
    "responsibilities",
    "sample",
]
