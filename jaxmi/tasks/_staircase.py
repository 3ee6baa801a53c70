"""The Gaussian staircase of Poole et al. (2019) and SMILE (Song & Ermon, 2020)."""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxmi._validation import check_bool, check_int
from jaxmi.tasks._base import Task, dim, fmt, real
from jaxmi.tasks._bmi import split_normal_task
from jaxmi.tasks._transforms import transformed

__all__ = ["STAIRCASE_LEVELS", "staircase", "staircase_rho", "staircase_schedule"]

STAIRCASE_LEVELS = (2.0, 4.0, 6.0, 8.0, 10.0)


def staircase_rho(mi: float, dim: int = 20) -> float:
    """Per-pair correlation ``ρ = sqrt(1 − exp(−2I/d))`` giving total MI ``I`` over ``d`` pairs.

    Example:
        >>> from jaxmi.tasks import staircase_rho
        >>> round(staircase_rho(2.0, 20), 6)
        0.425757
    """
    i = real(mi, "mi")
    if i < 0:
        raise ValueError(f"mi: must be >= 0, got {i}")
    d = check_int(dim, "dim", minimum=1)
    return math.sqrt(-math.expm1(-2.0 * i / d))


def staircase(dim: int = 20, mi: float = 2.0, *, cubic: bool = False, dtype: Any = None) -> Task:
    """Gaussian staircase task — id ``staircase-{d}-{I}`` (``cubic-staircase-{d}-{I}``).

    ``x ~ N(0, I_d)``, ``y = ρx + sqrt(1 − ρ²) ε``: d independent pairs with correlation
    ``ρ = staircase_rho(I, d)``, so ``I(X; Y) = −(d/2) ln(1 − ρ²) = I``. With ``cubic=True``
    (SMILE's variant) ``y ↦ y³`` elementwise (same MI).

    Args:
        dim: d, the dimension of X and of Y.
        mi: the target MI I >= 0 in nats (the reference experiments use 2, 4, 6, 8, 10).
        cubic: apply ``y ↦ y³``.
        dtype: sampling dtype.

    Returns:
        A d×d :class:`Task` with ``mi = I`` nats (exact densities unless cubic; cubic has
        ``pmi``).

    Example:
        >>> from jaxmi.tasks import staircase
        >>> t = staircase(20, 4.0)
        >>> t.name, round(t.params["rho"], 6)
        ('staircase-20-4.0', 0.574178)
    """
    d = _dim(dim)
    i = real(mi, "mi")
    if i < 0:
        raise ValueError(f"mi: must be >= 0, got {i}")
    cubic = check_bool(cubic, "cubic")
    rho = staircase_rho(i, d)
    if rho >= 1.0:
        raise ValueError(f"mi: {i} nats over {d} pairs needs ρ = 1 in float64; too large")
    eye = np.eye(d)
    cov = np.block([[eye, rho * eye], [rho * eye, eye]])
    base = split_normal_task(
        cov,
        d,
        name=f"staircase-{d}-{fmt(i)}",
        title=f"Staircase {d} × {d} ({fmt(i)} nats)",
        params={"dim": d, "mi": i, "rho": rho},
        dtype=dtype,
        mi=i,
    )
    if not cubic:
        return base
    return transformed(
        base,
        None,
        lambda y: y**3,
        name=f"cubic-{base.name}",
        title=f"Cubic @ {base.title}",
        y_inverse=jnp.cbrt,
        params={"dim": d, "mi": i, "rho": rho, "cubic": True},
    )


def _dim(value: Any) -> int:
    return dim(value, "dim")


def staircase_schedule(
    n_steps: int, levels: tuple[float, ...] = STAIRCASE_LEVELS, dim: int = 20
) -> np.ndarray:
    """Per-step correlation ρ of the staircase training schedule.

    The reference notebooks give 20,000 steps, 4,000 each at 2, 4, 6, 8, 10 nats, computed with
    ``round(linspace(...))`` (whose round-half-to-even puts the very first step at 0 nats).
    jaxmi uses clean blocks instead: step ``s`` has level ``levels[floor(s · L / n_steps)]``, so
    each of the L levels gets ``n_steps / L`` steps when that divides evenly (block sizes differ
    by at most one otherwise).

    Args:
        n_steps: number of training steps (>= number of levels).
        levels: target MI of each block, in nats (increasing in the reference).
        dim: d, the number of pairs.

    Returns:
        ``(n_steps,)`` float64 array of ρ (use ``staircase(dim, level)`` for the tasks).

    Example:
        >>> from jaxmi.tasks import staircase_schedule
        >>> rho = staircase_schedule(10)
        >>> rho.round(6).tolist()[:3]
        [0.425757, 0.425757, 0.574178]
    """
    lv = tuple(levels) if isinstance(levels, (list, tuple, np.ndarray)) else None
    if not lv:
        raise ValueError(f"levels: expected a non-empty sequence of MI values, got {levels!r}")
    try:
        rhos = [staircase_rho(v, dim) for v in lv]
    except ValueError as err:
        if str(err).startswith("dim"):
            raise
        raise ValueError(f"levels: each level must be a finite MI >= 0 ({err})") from err
    n = check_int(n_steps, "n_steps", minimum=len(lv))
    block = (np.arange(n) * len(lv)) // n
    return np.asarray(rhos, np.float64)[block]
