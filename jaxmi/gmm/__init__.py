"""Batched EM for full-covariance Gaussian mixtures (``jaxmi.gmm``).

Pure, jittable functions: :func:`fit` (one dataset, ``n_init`` starts batched), :func:`fit_batch`
(many independent problems in one compiled program), :func:`initialize`, and the mixture
utilities :func:`log_prob`, :func:`sample`, :func:`marginal`, :func:`conditional`,
:func:`responsibilities`. Results of the GMM-MI estimators are saved and loaded portably
(``.npz`` or ``.json``, no pickle) with :func:`save_result` and :func:`load_result`.
"""

from jaxmi.gmm._em import EMResult, pad_length
from jaxmi.gmm._fit import ConvergenceWarning, fit, fit_batch, initialize, resolve_capacity
from jaxmi.gmm._init import METHODS as INIT_METHODS
from jaxmi.gmm._io import load_result, save_result
from jaxmi.gmm._mi import (
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
from jaxmi.gmm._mixture import GMM, conditional, log_prob, marginal, responsibilities, sample

__all__ = [
    "GMM",
    "INIT_METHODS",
    "CategoricalMIResult",
    "ConvergenceWarning",
    "EMResult",
    "MIResult",
    "PairwiseMIResult",
    "conditional",
    "fit",
    "fit_batch",
    "gmm_cmi",
    "gmm_entropy",
    "gmm_kl",
    "gmm_mi",
    "gmm_mi_batch",
    "gmm_mi_categorical",
    "gmm_mi_pairwise",
    "initialize",
    "load_result",
    "log_prob",
    "marginal",
    "pad_length",
    "resolve_capacity",
    "responsibilities",
    "sample",
    "save_result",
]
