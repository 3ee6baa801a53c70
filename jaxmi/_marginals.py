"""The ``marginals`` option of the MI estimators: each column's normal scores.

MI is unchanged by a strictly increasing map of X alone and of Y alone. Replacing each column
by the normal scores of its ranks leaves an estimator Gaussian marginals to fit and the
dependence alone to model: heavy-tailed or bounded columns no longer drive the estimate
(``benchmarks/gmm_mi_marginals.py``).
"""

from __future__ import annotations

import statistics

import numpy as np

__all__ = ["MARGINALS", "check_marginals", "normal_scores"]

#: values of the ``marginals`` option: the data as given, or each column's normal scores
MARGINALS = ("data", "normal_scores")


def check_marginals(value: object) -> str:
    """``value`` if it names a ``marginals`` option, else a ``ValueError`` naming it."""
    if not (isinstance(value, str) and value in MARGINALS):
        raise ValueError(f"marginals: expected 'data' or 'normal_scores', got {value!r}")
    return value


def normal_scores(z: np.ndarray, marginals: str = "normal_scores") -> np.ndarray:
    """Each column of ``z (N, d)`` replaced by the normal scores of its ranks (same dtype).

    The score of a value of average rank ``r`` (1-based; tied values share their average rank)
    is the standard normal quantile of ``(r - 0.5) / N``: a strictly increasing map of each
    column (ties stay tied), computed in float64. ``marginals="data"`` returns ``z`` itself.

    Example:
        >>> import numpy as np
        >>> normal_scores(np.array([[10.0], [-3.0], [1e6]])).ravel().round(4)
        array([ 0.    , -0.9674,  0.9674])
    """
    if marginals == "data":
        return z
    n = z.shape[0]
    out = np.empty(z.shape, np.float64)
    inv_cdf = np.frompyfunc(statistics.NormalDist().inv_cdf, 1, 1)
    for j in range(z.shape[1]):
        _, where, counts = np.unique(z[:, j], return_inverse=True, return_counts=True)
        rank = np.cumsum(counts) - (counts - 1) / 2.0  # average rank of each distinct value
        out[:, j] = inv_cdf((rank - 0.5) / n).astype(np.float64)[where.ravel()]
    return out.astype(z.dtype)
