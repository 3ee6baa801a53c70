"""The :class:`Task` object, argument checks and small float64 numerics shared by the families.

Ground truths are Python floats computed in float64 with :mod:`math`/NumPy at construction time;
sampling and log-densities are JAX code that follows the task's dtype (float32 by default).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi import _compile
from jaxmi._validation import as_data_matrix, check_int, check_key, float_dtype, is_traced

__all__ = ["Task"]

MI_METHODS = ("closed_form", "inherited", "quadrature", "monte_carlo")
EULER_GAMMA = 0.57721566490153286060651209
_FLOAT32 = np.dtype(np.float32)


# --------------------------------------------------------------------------------------------
# The Task object
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class Task:
    """A joint distribution of ``(X, Y)`` with known mutual information.

    Attributes:
        name: task id (bmi's ids verbatim for the bmi families).
        title: human-readable name.
        dim_x: dimension of ``X``.
        dim_y: dimension of ``Y``.
        mi: ground-truth mutual information ``I(X; Y)`` in nats (a Python float).
        mi_stderr: 0.0 for closed-form, inherited and quadrature truths; the Monte Carlo standard
            error (nats) otherwise.
        mi_method: ``"closed_form"``, ``"inherited"`` (MI of the base task, unchanged by an
            injective transform), ``"quadrature"`` or ``"monte_carlo"``.
        params: the defining parameters (a dict).
        dtype: default floating dtype of samples (float32 unless asked otherwise).
        x_kind: ``"continuous"`` or ``"discrete"``.
        y_kind: ``"continuous"`` or ``"discrete"``.
        log_prob_xy: exact joint log-density ``(x (N, dim_x), y (N, dim_y)) -> (N,)`` in nats,
            or None where not available.
        log_prob_x: exact marginal log-density ``x (N, dim_x) -> (N,)``, or None.
        log_prob_y: exact marginal log-density ``y (N, dim_y) -> (N,)``, or None.
        pmi: pointwise mutual information ``(x, y) -> (N,)`` in nats, or None.
        base: for a transformed task, the task it was built from (else None).
        description: notes on the construction and the ground truth.

    Example:
        >>> import jax
        >>> from jaxmi import tasks
        >>> task = tasks.get("1v1-normal-0.75")
        >>> round(task.mi, 6)
        0.413339
        >>> x, y = task.sample(jax.random.key(0), 100)
        >>> x.shape, y.shape
        ((100, 1), (100, 1))
    """

    name: str
    title: str
    dim_x: int
    dim_y: int
    mi: float
    mi_stderr: float = 0.0
    mi_method: str = "closed_form"
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    dtype: np.dtype = _FLOAT32
    x_kind: str = "continuous"
    y_kind: str = "continuous"
    log_prob_xy: Callable[..., jax.Array] | None = None
    log_prob_x: Callable[..., jax.Array] | None = None
    log_prob_y: Callable[..., jax.Array] | None = None
    pmi: Callable[..., jax.Array] | None = None
    base: Task | None = None
    description: str = ""
    sampler: Callable[[jax.Array, int, np.dtype], tuple[Any, Any]] = dataclasses.field(
        default=None, repr=False
    )
    mixture: Any = dataclasses.field(default=None, repr=False)  # MixtureSpec of mixture roots
    jit_sampler: bool = dataclasses.field(default=True, repr=False)

    def __post_init__(self) -> None:
        if self.mi_method not in MI_METHODS:
            raise ValueError(f"mi_method: must be one of {MI_METHODS}, got {self.mi_method!r}")
        if self.sampler is None:
            raise ValueError("sampler: a task needs a sampling function")
        # compiled once per (n, dtype), with XLA's fast-compiling options (kind "light", see
        # jaxmi._compile): a draw runs once per call, and every task's sampler compiled in
        # 25 s instead of 61 s (all 107 at n = 3,000, 2-core CPU) to the same bits. Nested
        # inside a user's jit/vmap it is simply inlined.
        fn = (
            _compile.jit(self.sampler, kind="light", static_argnums=(1, 2))
            if self.jit_sampler
            else self.sampler
        )
        object.__setattr__(self, "_sample_fn", fn)

    def __repr__(self) -> str:
        err = f" ± {self.mi_stderr:.2g}" if self.mi_stderr else ""
        return (
            f"Task(name={self.name!r}, title={self.title!r}, dim_x={self.dim_x}, "
            f"dim_y={self.dim_y}, mi={self.mi:.6f}{err} nats, mi_method={self.mi_method!r})"
        )

    def sample(self, key: jax.Array, n: int, *, dtype: Any = None) -> tuple[jax.Array, jax.Array]:
        """Draw ``n`` independent pairs.

        Jittable with ``n`` (and ``dtype``) static and vmappable over keys.

        Args:
            key: a typed PRNG key from ``jax.random.key(seed)``.
            n: number of samples, a positive integer (static under ``jit``).
            dtype: floating dtype of continuous variables; default the task's ``dtype``.
                Discrete variables are int32 (or the label values the task was built with).

        Returns:
            ``(x, y)`` with ``x`` of shape ``(n, dim_x)`` and ``y`` of shape ``(n, dim_y)``.

        Raises:
            ValueError: ``key`` is not a PRNG key, ``n`` is not an integer >= 1, bad ``dtype``.

        Example:
            >>> import jax
            >>> from jaxmi import tasks
            >>> task = tasks.get("multinormal-dense-2-2-0.5")
            >>> keys = jax.random.split(jax.random.key(0), 3)
            >>> xs, ys = jax.vmap(lambda k: task.sample(k, 50))(keys)
            >>> xs.shape
            (3, 50, 2)
        """
        key = check_key(key, "key")
        n = check_int(n, "n", minimum=1)
        dt = float_dtype(self.dtype if dtype is None else dtype)
        return self._sample_fn(key, n, dt)

    def replace(self, **changes: Any) -> Task:
        """A copy with some fields changed (``dataclasses.replace``).

        Example:
            >>> from jaxmi import tasks
            >>> tasks.get("1v1-normal-0.75").replace(title="my title").title
            'my title'
        """
        return dataclasses.replace(self, **changes)

    @property
    def has_density(self) -> bool:
        """Whether exact joint and marginal log-densities are available."""
        return None not in (self.log_prob_xy, self.log_prob_x, self.log_prob_y)


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def real(value: Any, name: str) -> float:
    """A finite real Python float, or ``ValueError`` naming ``name``."""
    if is_traced(value):
        raise ValueError(f"{name}: must be a concrete number (task parameters cannot be traced)")
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, jax.Array)):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    if np.ndim(value) != 0:
        raise ValueError(f"{name}: expected a scalar, got shape {np.shape(value)}")
    if isinstance(value, (np.ndarray, jax.Array)) and not (
        np.issubdtype(np.asarray(value).dtype, np.floating)
        or np.issubdtype(np.asarray(value).dtype, np.integer)
    ):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    return v


def real_in(
    value: Any,
    name: str,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    lo_open: bool = True,
    hi_open: bool = True,
) -> float:
    """A real in an interval (open by default), or ``ValueError`` naming ``name``."""
    v = real(value, name)
    bad_lo = v <= lo if lo_open else v < lo
    bad_hi = v >= hi if hi_open else v > hi
    if bad_lo or bad_hi:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ValueError(f"{name}: must lie in {lb}{lo}, {hi}{rb}, got {v}")
    return v


def positive(value: Any, name: str) -> float:
    """A real > 0, or ``ValueError``."""
    v = real(value, name)
    if v <= 0:
        raise ValueError(f"{name}: must be > 0, got {v}")
    return v


def dim(value: Any, name: str, minimum: int = 1) -> int:
    """A dimension (integer >= minimum), or ``ValueError``."""
    return check_int(value, name, minimum=minimum)


def check_task(task: Any, name: str = "task") -> Task:
    """A :class:`Task`, or ``ValueError``."""
    if not isinstance(task, Task):
        raise ValueError(f"{name}: expected a jaxmi.tasks.Task, got {type(task).__name__}")
    return task


def resolve_dtype(dtype: Any) -> np.dtype:
    """The sampling dtype of a constructor (float32 default; float64 needs x64)."""
    return float_dtype(np.float32 if dtype is None else dtype)


def fmt(v: float) -> str:
    """Format a parameter for a task id the way bmi does (Python's float repr, e.g. ``0.75``)."""
    return repr(float(v))


def fmt_num(v: float) -> str:
    """Integers without a decimal point (``1``), other values as :func:`fmt`."""
    return str(int(v)) if float(v).is_integer() else fmt(v)


# --------------------------------------------------------------------------------------------
# Density wrappers
# --------------------------------------------------------------------------------------------


def points(a: Any, d: int, name: str) -> jax.Array:
    """Validate evaluation points: ``(N, d)`` (or ``(N,)`` when ``d == 1``)."""
    arr = a if hasattr(a, "shape") else np.asarray(a)
    if getattr(arr, "ndim", None) == 2 and arr.shape[1] != d:
        raise ValueError(f"{name}: expected {d} column(s), got shape {tuple(arr.shape)}")
    if getattr(arr, "ndim", None) == 1 and d != 1:
        raise ValueError(f"{name}: expected shape (N, {d}), got shape {tuple(arr.shape)}")
    return as_data_matrix(arr, name)


def wrap_joint(fn: Callable, dx: int, dy: int) -> Callable:
    """Wrap ``fn(x, y)`` (validated arrays) into a public two-argument density (jitted)."""
    fn = jax.jit(fn)

    def wrapped(x: Any, y: Any) -> jax.Array:
        xm = points(x, dx, "x")
        ym = points(y, dy, "y")
        if xm.shape[0] != ym.shape[0]:
            raise ValueError(
                f"x, y: need the same number of rows, got {xm.shape[0]} and {ym.shape[0]}"
            )
        dt = jnp.result_type(xm.dtype, ym.dtype)
        return fn(xm.astype(dt), ym.astype(dt))

    return wrapped


def wrap_single(fn: Callable, d: int, name: str) -> Callable:
    """Wrap ``fn(z)`` into a public one-argument density (jitted)."""
    fn = jax.jit(fn)

    def wrapped(z: Any) -> jax.Array:
        return fn(points(z, d, name))

    return wrapped


def make_densities(
    dx: int,
    dy: int,
    log_xy: Callable | None,
    log_x: Callable | None,
    log_y: Callable | None,
    pmi: Callable | None = None,
) -> dict[str, Callable | None]:
    """Public density callables (validated) from raw ones; ``pmi`` defaults to the difference."""
    if pmi is None and None not in (log_xy, log_x, log_y):

        def pmi(x: jax.Array, y: jax.Array) -> jax.Array:
            return log_xy(x, y) - log_x(x) - log_y(y)

    return {
        "log_prob_xy": None if log_xy is None else wrap_joint(log_xy, dx, dy),
        "log_prob_x": None if log_x is None else wrap_single(log_x, dx, "x"),
        "log_prob_y": None if log_y is None else wrap_single(log_y, dy, "y"),
        "pmi": None if pmi is None else wrap_joint(pmi, dx, dy),
    }


# --------------------------------------------------------------------------------------------
# float64 special functions and quadrature (pure Python / NumPy)
# --------------------------------------------------------------------------------------------


def psi_minus_log(z: float) -> float:
    """``digamma(z) - log(z)`` for ``z > 0`` without cancellation (abs. error ~1e-15)."""
    if not z > 0:
        raise ValueError(f"z: digamma needs z > 0, got {z}")
    acc = 0.0
    while z < 10.0:
        # psi(z) - ln z = psi(z+1) - ln(z+1) + ln((z+1)/z) - 1/z
        acc += math.log1p(1.0 / z) - 1.0 / z
        z += 1.0
    z2 = 1.0 / (z * z)
    series = -0.5 / z - z2 * (
        1.0 / 12 - z2 * (1.0 / 120 - z2 * (1.0 / 252 - z2 * (1.0 / 240 - z2 * (1.0 / 132))))
    )
    return acc + series


def digamma(z: float) -> float:
    """The digamma function ``psi(z)`` for ``z > 0`` in float64."""
    return math.log(z) + psi_minus_log(z)


def gauss_legendre(f: Callable[[np.ndarray], np.ndarray], a: float, b: float, panels: int) -> float:
    """Composite 20-point Gauss–Legendre quadrature of a vectorised ``f`` on ``[a, b]``."""
    nodes, weights = np.polynomial.legendre.leggauss(20)
    edges = np.linspace(a, b, panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    x = (mid[:, None] + half[:, None] * nodes[None, :]).ravel()
    w = (half[:, None] * weights[None, :]).ravel()
    return float(np.sum(w * f(x)))


def np_logsumexp(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """``log(sum(exp(a), axis))`` in NumPy, stable."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def split_keys(key: jax.Array, k: int) -> tuple[jax.Array, ...]:
    """``k`` independent keys (``fold_in`` so adding a stream never changes the others)."""
    return tuple(jax.random.fold_in(key, i) for i in range(k))
