"""Named tasks: ``get(name)``, ``names()`` and the benchmark groups."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from typing import Any

from jaxmi.tasks import _bimodal, _bmi, _discrete, _gmmmi, _mixtures, _staircase
from jaxmi.tasks import _transforms as tr
from jaxmi.tasks._base import Task

__all__ = ["BMI_V1", "BMI_V2", "DISCRETE", "GMMMI", "STAIRCASE", "get", "names"]

_FACTORIES: dict[str, Callable[[], Task]] = {}


def _add(name: str, factory: Callable[[], Task]) -> str:
    if name in _FACTORIES:
        raise RuntimeError(f"duplicate task id {name!r}")
    _FACTORIES[name] = factory
    return name


def _normal() -> Task:
    return _bmi.bivariate_normal(0.75)


def _sparse(d: int) -> Task:
    return _bmi.multinormal_sparse(d, d, 2, 2.0)


def _student(d: int, nu: int) -> Task:
    return _bmi.student_identity(d, d, nu)


_SPARSE_DIMS = (3, 5, 25)
_V1_FACTORIES: list[tuple[str, Callable[[], Task]]] = [
    ("1v1-normal-0.75", _normal),
    ("normal_cdf-1v1-normal-0.75", lambda: tr.normal_cdf(_normal())),
    ("1v1-additive-0.1", lambda: _bmi.additive_uniform(0.1)),
    ("1v1-additive-0.75", lambda: _bmi.additive_uniform(0.75)),
    ("1v1-bimodal-0.75", lambda: _bimodal.bimodal(0.75)),
    ("wiggly-1v1-normal-0.75", lambda: tr.wiggly(_normal())),
    ("half_cube-1v1-normal-0.75", lambda: tr.half_cube(_normal())),
    ("student-identity-1-1-1", lambda: _student(1, 1)),
    ("asinh-student-identity-1-1-1", lambda: tr.asinh(_student(1, 1))),
    (
        "swissroll_x-normal_cdf-1v1-normal-0.75",
        lambda: tr.swissroll_x(tr.normal_cdf(_normal())),
    ),
    *[
        (f"multinormal-dense-{d}-{d}-0.5", functools.partial(_bmi.multinormal_dense, d, d, 0.5))
        for d in (2, 3, 5, 25, 50)
    ],
    *[(f"multinormal-sparse-{d}-{d}-2-2.0", functools.partial(_sparse, d)) for d in (2, 3, 5, 25)],
    *[
        (f"student-identity-{d}-{d}-{nu}", functools.partial(_student, d, nu))
        for d, nu in ((2, 1), (2, 2), (3, 2), (3, 3), (5, 2), (5, 3))
    ],
    *[
        (f"normal_cdf-multinormal-sparse-{d}-{d}-2-2.0", lambda d=d: tr.normal_cdf(_sparse(d)))
        for d in _SPARSE_DIMS
    ],
    *[
        (f"half_cube-multinormal-sparse-{d}-{d}-2-2.0", lambda d=d: tr.half_cube(_sparse(d)))
        for d in _SPARSE_DIMS
    ],
    *[
        (f"spiral-multinormal-sparse-{d}-{d}-2-2.0", lambda d=d: tr.spiral(_sparse(d)))
        for d in _SPARSE_DIMS
    ],
    *[
        (
            f"spiral-normal_cdf-multinormal-sparse-{d}-{d}-2-2.0",
            lambda d=d: tr.spiral(tr.normal_cdf(_sparse(d))),
        )
        for d in _SPARSE_DIMS
    ],
    *[
        (f"asinh-student-identity-{d}-{d}-{nu}", lambda d=d, nu=nu: tr.asinh(_student(d, nu)))
        for d, nu in ((2, 1), (3, 2), (5, 2))
    ],
]

#: The 40 bmi v1 ("Beyond Normal") task ids in bmi's order.
BMI_V1: tuple[str, ...] = tuple(_add(n, f) for n, f in _V1_FACTORIES)

_V2_NEW: list[tuple[str, Callable[[], Task]]] = [
    ("1v1-X-0.9", lambda: _mixtures.mixture_x(0.9)),
    ("1v1-AI", _mixtures.mixture_ai),
    ("2v1-waves-12-5.0-3.0", lambda: _mixtures.waves(12, 5.0, 3.0)),
    ("2v1-galaxy-0.5-3.0", lambda: _mixtures.galaxy(0.5, 3.0)),
    *[
        (
            f"{d}v1-concentric_gaussians-{k}",
            functools.partial(_mixtures.concentric_gaussians, d, k),
        )
        for d, k in ((3, 5), (5, 5), (3, 10), (5, 10), (25, 5), (25, 10))
    ],
    *[
        (
            f"mult-sparse-w-inliers-{d}-{d}-2-2.0-{f}",
            functools.partial(_mixtures.sparse_with_inliers, d, d, 2, 2.0, f),
        )
        for f in (0.2, 0.5)
        for d in (5, 25)
    ],
]
for _n, _f in _V2_NEW:
    _add(_n, _f)

#: The 26 task ids of bmi's v2 benchmark (``workflows/benchmark/v2/config.py``).
BMI_V2: tuple[str, ...] = (
    "1v1-additive-0.75",
    "asinh-student-identity-1-1-1",
    "1v1-X-0.9",
    "1v1-AI",
    "swissroll_x-normal_cdf-1v1-normal-0.75",
    "2v1-waves-12-5.0-3.0",
    "2v1-galaxy-0.5-3.0",
    "3v1-concentric_gaussians-5",
    "5v1-concentric_gaussians-5",
    "3v1-concentric_gaussians-10",
    "5v1-concentric_gaussians-10",
    "25v1-concentric_gaussians-5",
    "multinormal-dense-5-5-0.5",
    "multinormal-dense-25-25-0.5",
    "multinormal-dense-50-50-0.5",
    "multinormal-sparse-5-5-2-2.0",
    "multinormal-sparse-25-25-2-2.0",
    "mult-sparse-w-inliers-5-5-2-2.0-0.2",
    "mult-sparse-w-inliers-25-25-2-2.0-0.2",
    "mult-sparse-w-inliers-5-5-2-2.0-0.5",
    "mult-sparse-w-inliers-25-25-2-2.0-0.5",
    "asinh-student-identity-2-2-1",
    "asinh-student-identity-3-3-2",
    "asinh-student-identity-5-5-2",
    "spiral-multinormal-sparse-3-3-2-2.0",
    "spiral-multinormal-sparse-5-5-2-2.0",
)

_GMMMI_ALPHAS = (0.1, 0.5, 1.0, 2.0, 10.0, 100.0)
#: GMM-MI paper distributions (§6): transformed bivariate Gaussians, gamma–exponential and
#: Weinman at a few α, and the D-set mixtures.
GMMMI: tuple[str, ...] = (
    *[
        _add(f"gmmmi-normal-0.6-{t}", functools.partial(_gmmmi.gmmmi_normal, 0.6, t))
        for t in ("identity", "log", "cube", "square")
    ],
    *[
        _add(f"gamma-exponential-{a}", functools.partial(_gmmmi.gamma_exponential, a))
        for a in _GMMMI_ALPHAS
    ],
    *[_add(f"weinman-{a}", functools.partial(_gmmmi.weinman, a)) for a in _GMMMI_ALPHAS],
    *[
        _add(f"gmmmi-{w}", functools.partial(_gmmmi.gmmmi_dataset, w))
        for w in _gmmmi.GMMMI_DATASETS
    ],
)

#: Gaussian staircase tasks: d = 20 at 2, 4, 6, 8, 10 nats, then the cubic (y ↦ y³) versions.
STAIRCASE: tuple[str, ...] = (
    *[
        _add(f"staircase-20-{i}", functools.partial(_staircase.staircase, 20, i))
        for i in _staircase.STAIRCASE_LEVELS
    ],
    *[
        _add(
            f"cubic-staircase-20-{i}",
            functools.partial(_staircase.staircase, 20, i, cubic=True),
        )
        for i in _staircase.STAIRCASE_LEVELS
    ],
)

_CAT_GAUSS = {
    "cat-gauss-3-balanced": ((1 / 3, 1 / 3, 1 / 3), (0.0, 2.0, 4.0), 1.0),
    "cat-gauss-3-imbalanced": ((0.7, 0.2, 0.1), (0.0, 2.0, 4.0), 1.0),
    "cat-gauss-2-imbalanced": ((0.9, 0.1), (0.0, 1.0), 1.0),
    "cat-gauss-2-hetero": ((0.5, 0.5), (0.0, 2.0), (1.0, 0.5)),
}


def _cat(name: str) -> Task:
    p, m, s = _CAT_GAUSS[name]
    return _discrete.categorical_gaussian(p, m, s, name=name, title=f"Categorical–Gaussian {name}")


#: Discrete–continuous tasks (§8).
DISCRETE: tuple[str, ...] = (
    *[
        _add(f"gao-uniform-mixture-{m}", functools.partial(_discrete.gao_uniform_mixture, m))
        for m in range(2, 11)
    ],
    _add(
        "gao-uniform-mixture-3-prior-0.5-0.3-0.2",
        functools.partial(_discrete.gao_uniform_mixture, 3, (0.5, 0.3, 0.2)),
    ),
    _add(
        "gao-uniform-mixture-3-prior-0.7-0.2-0.1",
        functools.partial(_discrete.gao_uniform_mixture, 3, (0.7, 0.2, 0.1)),
    ),
    *[
        _add(f"zip-poisson-{p}", functools.partial(_discrete.zero_inflated_poisson, p))
        for p in (0.0, 0.1, 0.15, 0.2, 0.5, 0.9)
    ],
    *[_add(n, functools.partial(_cat, n)) for n in _CAT_GAUSS],
)


def names() -> tuple[str, ...]:
    """All registered task ids (bmi v1, v2 additions, GMM-MI, staircase, discrete).

    Example:
        >>> from jaxmi import tasks
        >>> "1v1-normal-0.75" in tasks.names()
        True
    """
    return tuple(_FACTORIES)


@functools.cache
def _build(name: str) -> Task:
    task = _FACTORIES[name]()
    if task.name != name:  # a registry entry must reproduce its id
        raise RuntimeError(f"task factory for {name!r} built {task.name!r}")
    return task


def get(name: Any) -> Task:
    """The registered task with id ``name`` (built once, then cached; tasks are immutable).

    Args:
        name: a task id from :func:`names`.

    Returns:
        The :class:`Task`.

    Raises:
        ValueError: ``name`` is not a string or not a registered id (close matches are
            suggested).

    Example:
        >>> from jaxmi import tasks
        >>> tasks.get("student-identity-2-2-1").dim_x
        2
    """
    if not isinstance(name, str):
        raise ValueError(f"name: expected a task id string, got {type(name).__name__}")
    if name not in _FACTORIES:
        raise ValueError(
            f"name: {unknown_task(name)} (jaxmi.tasks.names() lists all {len(_FACTORIES)} ids)"
        )
    return _build(name)


def unknown_task(name: str) -> str:
    """``"unknown task 'x'"``, with up to three close matches among the registered ids."""
    close = difflib.get_close_matches(name, list(_FACTORIES), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown task {name!r}{hint}"
