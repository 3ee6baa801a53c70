"""Batched EM for full-covariance Gaussian mixtures (``jaxmi.gmm``)."""

from jaxmi.gmm._mixture import GMM, conditional, log_prob, marginal, responsibilities, sample

__all__ = ["GMM", "conditional", "log_prob", "marginal", "responsibilities", "sample"]
