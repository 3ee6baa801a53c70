"""The ``marginals`` option of the MI estimators: each column's normal scores.

MI is unchanged by a strictly increasing map of X alone and of Y alone. Replacing each column
by the normal scores of its ranks leaves an estimator Gaussian marginals to fit and the
dependence alone to model: heavy-tailed or skewed columns no longer drive the estimate
(``benchmarks/gmm_mi_marginals.py``).
"""

from __future__ import annotations

import statistics
import warnings

import numpy as np

from jaxmi._validation import user_stacklevel

__all__ = [
    "HEAVY_TAIL_RATIO",
    "MARGINALS",
    "check_marginals",
    "heavy_tailed",
    "normal_scores",
    "refuse_for",
    "tail_ratios",
    "warn_heavy_tails",
]

#: values of the ``marginals`` option: the data as given, or each column's normal scores
MARGINALS = ("data", "normal_scores")


def check_marginals(value: object) -> str:
    """``value`` if it names a ``marginals`` option, else a ``ValueError`` naming it."""
    if not (isinstance(value, str) and value in MARGINALS):
        raise ValueError(f"marginals: expected 'data' or 'normal_scores', got {value!r}")
    return value


def refuse_for(marginals: str, what: str) -> None:
    """A ``ValueError`` when ``marginals`` asks for the scores of ``what`` (not an MI)."""
    if marginals != "data":
        raise ValueError(
            f"marginals: {marginals!r} is for mutual information only; {what} changes under the map"
        )


def normal_scores(z: np.ndarray, marginals: str = "normal_scores") -> np.ndarray:
    """Each column of ``z (N, d)`` replaced by the normal scores of its ranks (same float dtype).

    The score of a value of average rank ``r`` (1-based; tied values share their average rank)
    is the standard normal quantile of ``(r - 0.5) / N``: a strictly increasing map of each
    column (ties stay tied), computed in float64 (and returned so for integer ``z``).
    ``marginals="data"`` returns ``z`` itself.

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
    return out.astype(z.dtype if np.issubdtype(z.dtype, np.floating) else np.float64)


#: a column counts as heavy-tailed above this :func:`tail_ratios` value. Medians over 200 samples
#: of N = 2,000: 3.8 for a Gaussian, 4.8 exponential, 9.1 log-normal, 13 for ``y + y**3 / 2``,
#: 54 for a cubed normal, 62 for a Cauchy; at N = 200 the 99th percentiles of the first four
#: stay below 20, and the 1st percentiles of the last two above 18
HEAVY_TAIL_RATIO = 25.0


def tail_ratios(z: np.ndarray) -> np.ndarray:
    """``(q99.5 - q0.5) / (q75 - q25)`` of each column of ``z (N, d)``; 0 where the IQR is 0.

    A robust tail measure: a single outlier does not move it, a heavy tail does (3.8 for a
    Gaussian, about 62 for a Cauchy).
    """
    q = np.quantile(np.asarray(z, np.float64), [0.005, 0.25, 0.75, 0.995], axis=0)
    iqr = q[2] - q[1]
    safe = np.where(iqr > 0, iqr, 1.0)
    return np.where(iqr > 0, (q[3] - q[0]) / safe, 0.0)


def heavy_tailed(parts: list[tuple[str, np.ndarray]]) -> str | None:
    """The heavy-tailed columns of ``parts`` (``(name, (N, d) array)`` each), as a phrase.

    ``"x: column(s) [0] (tail ratio up to 62); y: column(s) [1] (...)"``, or None when no
    column's :func:`tail_ratios` value exceeds :data:`HEAVY_TAIL_RATIO`.
    """
    named = []
    for name, z in parts:
        r = tail_ratios(z)
        cols = np.flatnonzero(r > HEAVY_TAIL_RATIO)
        if cols.size:
            named.append(
                f"{name}: column(s) {cols.tolist()} (tail ratio up to {r[cols].max():.0f})"
            )
    return "; ".join(named) or None


def warn_heavy_tails(parts: list[tuple[str, np.ndarray]], consequence: str) -> None:
    """A ``RuntimeWarning`` naming the heavy-tailed columns of ``parts``, if any.

    ``consequence``: what such columns did to the calling estimator (measured), ending the
    sentence before the advice to compare with ``marginals="normal_scores"``.
    """
    which = heavy_tailed(parts)
    if which is None:
        return
    warnings.warn(
        f"{which}: heavy tails (the 0.5-99.5% quantile range over the interquartile range; "
        f"3.8 for a Gaussian, {HEAVY_TAIL_RATIO:.0f} warns). {consequence} MI is unchanged by a "
        "strictly increasing map of each column: compare with marginals='normal_scores', "
        "which fits the normal scores of each column's ranks.",
        RuntimeWarning,
        stacklevel=user_stacklevel(),
    )
