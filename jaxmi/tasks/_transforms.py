"""MI-preserving transforms of tasks: injective maps of X and Y applied to the samples.

A transformed task inherits ``mi`` from its base (``I(f(X); g(Y)) = I(X; Y)`` for injective
smooth ``f``, ``g``), its id is ``"<transform>-" + base id`` and ``task.base`` is the base task.
Where both inverses are known the transformed task has an exact ``pmi`` (the base PMI at the
inverted points); log-densities are not carried over.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri

from jaxmi.tasks._base import Task, check_task, dim, fmt, positive, real, wrap_joint

__all__ = [
    "asinh",
    "half_cube",
    "normal_cdf",
    "power",
    "spiral",
    "swissroll_x",
    "transformed",
    "wiggly",
]

Fn = Callable[[jax.Array], jax.Array]


def transformed(
    task: Task,
    x_fn: Fn | None = None,
    y_fn: Fn | None = None,
    *,
    name: str,
    title: str | None = None,
    x_inverse: Fn | None = None,
    y_inverse: Fn | None = None,
    dim_x: int | None = None,
    dim_y: int | None = None,
    params: dict[str, Any] | None = None,
) -> Task:
    """Apply injective maps to the samples of a task (the MI is inherited).

    The caller vouches that ``x_fn`` and ``y_fn`` are injective (smooth with smooth inverses on
    their images); the MI is then unchanged and the result's ``mi_method`` is ``"inherited"``.

    Args:
        task: the base task (continuous variables only for the transformed side).
        x_fn: map of X samples ``(n, dim_x) -> (n, new dim_x)``; None leaves X unchanged.
        y_fn: map of Y samples; None leaves Y unchanged.
        name: id of the new task.
        title: human-readable name (default ``name``).
        x_inverse: inverse of ``x_fn`` (optional; enables ``pmi``).
        y_inverse: inverse of ``y_fn`` (optional; enables ``pmi``).
        dim_x: new dimension of X when ``x_fn`` changes it.
        dim_y: new dimension of Y when ``y_fn`` changes it.
        params: extra parameters merged into ``params`` (the base id is stored as ``"base"``).

    Returns:
        The transformed :class:`Task` (``task.base`` is the input).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi import tasks
        >>> t = tasks.transformed(tasks.get("1v1-normal-0.75"), jnp.exp, name="exp-x")
        >>> t.mi == tasks.get("1v1-normal-0.75").mi, t.mi_method
        (True, 'inherited')
    """
    base = check_task(task)
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    for fn, label, kind in ((x_fn, "x_fn", base.x_kind), (y_fn, "y_fn", base.y_kind)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{label}: expected a callable, got {type(fn).__name__}")
        if fn is not None and kind != "continuous":
            raise ValueError(f"{label}: the base task's variable is {kind}; only continuous ones")
    dx = base.dim_x if dim_x is None else dim(dim_x, "dim_x")
    dy = base.dim_y if dim_y is None else dim(dim_y, "dim_y")
    fx = x_fn or (lambda v: v)
    fy = y_fn or (lambda v: v)

    def sampler(key: jax.Array, n: int, dt: np.dtype) -> tuple[jax.Array, jax.Array]:
        x, y = base.sampler(key, n, dt)
        return fx(x), fy(y)

    pmi = None
    x_ok = x_fn is None or x_inverse is not None
    y_ok = y_fn is None or y_inverse is not None
    if base.pmi is not None and x_ok and y_ok:
        ix = x_inverse or (lambda v: v)
        iy = y_inverse or (lambda v: v)
        base_pmi = base.pmi

        def raw_pmi(x: jax.Array, y: jax.Array) -> jax.Array:
            return base_pmi(ix(x), iy(y))

        pmi = wrap_joint(raw_pmi, dx, dy)
    merged = {"base": base.name}
    merged.update(params or {})
    return Task(
        name=name,
        title=title or name,
        dim_x=dx,
        dim_y=dy,
        mi=base.mi,
        mi_stderr=base.mi_stderr,
        mi_method="inherited",
        params=merged,
        dtype=base.dtype,
        x_kind=base.x_kind,
        y_kind=base.y_kind,
        pmi=pmi,
        base=base,
        sampler=sampler,
        description=base.description,
        jit_sampler=base.jit_sampler,
    )


def _elementwise(task: Task, prefix: str, label: str, f: Fn, finv: Fn | None) -> Task:
    task = check_task(task)
    return transformed(
        task,
        f,
        f,
        name=f"{prefix}-{task.name}",
        title=f"{label} @ {task.title}",
        x_inverse=finv,
        y_inverse=finv,
    )


def normal_cdf(task: Task) -> Task:
    """Apply the standard normal CDF Φ elementwise to X and Y (uniform margins for N(0, 1)).

    Example:
        >>> from jaxmi import tasks
        >>> tasks.normal_cdf(tasks.bivariate_normal(0.75)).name
        'normal_cdf-1v1-normal-0.75'
    """
    return _elementwise(task, "normal_cdf", "Normal CDF", ndtr, ndtri)


def half_cube_fn(t: jax.Array) -> jax.Array:
    """``t · sqrt(|t|)`` (signed ``|t|^{3/2}``)."""
    return t * jnp.sqrt(jnp.abs(t))


def half_cube_inverse(u: jax.Array) -> jax.Array:
    """Inverse of :func:`half_cube_fn`: ``sign(u) |u|^{2/3}``."""
    return jnp.sign(u) * jnp.cbrt(jnp.abs(u)) ** 2


def half_cube(task: Task) -> Task:
    """Apply ``t ↦ t·sqrt(|t|)`` elementwise (heavier tails) to X and Y.

    Example:
        >>> from jaxmi import tasks
        >>> tasks.half_cube(tasks.bivariate_normal(0.75)).title
        'Half-cube @ Bivariate normal 1 × 1'
    """
    return _elementwise(task, "half_cube", "Half-cube", half_cube_fn, half_cube_inverse)


def asinh(task: Task) -> Task:
    """Apply ``arcsinh`` elementwise (shorter tails) to X and Y.

    Example:
        >>> from jaxmi import tasks
        >>> tasks.asinh(tasks.student_identity(1, 1, 1)).name
        'asinh-student-identity-1-1-1'
    """
    return _elementwise(task, "asinh", "Asinh", jnp.arcsinh, jnp.sinh)


def wiggly_x(t: jax.Array) -> jax.Array:
    """Bmi's wiggly map of X (strictly increasing, derivative >= 0.161)."""
    return t + 0.4 * jnp.sin(t) + 0.2 * jnp.sin(1.7 * t + 1) + 0.03 * jnp.sin(3.3 * t - 2.5)


def wiggly_y(t: jax.Array) -> jax.Array:
    """Bmi's wiggly map of Y (strictly increasing, derivative >= 0.533)."""
    return (
        t - 0.4 * jnp.sin(0.4 * t) + 0.17 * jnp.sin(1.3 * t + 3.5) + 0.02 * jnp.sin(4.3 * t - 2.5)
    )


def wiggly(task: Task) -> Task:
    """Apply bmi's wiggly maps (strictly increasing sums of sines) elementwise to X and Y.

    Example:
        >>> from jaxmi import tasks
        >>> tasks.wiggly(tasks.bivariate_normal(0.75)).name
        'wiggly-1v1-normal-0.75'
    """
    task = check_task(task)
    return transformed(
        task, wiggly_x, wiggly_y, name=f"wiggly-{task.name}", title=f"Wiggly @ {task.title}"
    )


def power(task: Task, exponent: float) -> Task:
    """Apply ``t ↦ sign(t)|t|^a`` elementwise to X and Y (bmi's tails study), ``a > 0``.

    Example:
        >>> from jaxmi import tasks
        >>> tasks.power(tasks.bivariate_normal(0.75), 3.0).name
        'power_3.0-1v1-normal-0.75'
    """
    task = check_task(task)
    a = positive(exponent, "exponent")

    def f(t: jax.Array) -> jax.Array:
        return jnp.sign(t) * jnp.abs(t) ** a

    def finv(u: jax.Array) -> jax.Array:
        return jnp.sign(u) * jnp.abs(u) ** (1.0 / a)

    return transformed(
        task,
        f,
        f,
        name=f"power_{fmt(a)}-{task.name}",
        title=f"Power {fmt(a)} @ {task.title}",
        x_inverse=finv,
        y_inverse=finv,
        params={"exponent": a},
    )


def spiral_fn(x: jax.Array, speed: float, plane: tuple[int, int]) -> jax.Array:
    """Rotate coordinates ``plane = (i, j)`` of each row by ``θ = speed · ‖x‖²``.

    Equals ``expm(speed ‖x‖² A) x`` with ``A[i, j] = −1``, ``A[j, i] = 1``. Norm-preserving;
    the inverse is ``spiral_fn(u, -speed, plane)``.
    """
    i, j = plane
    theta = speed * jnp.sum(x * x, axis=-1)
    c, s = jnp.cos(theta), jnp.sin(theta)
    xi, xj = x[..., i], x[..., j]
    return x.at[..., i].set(c * xi - s * xj).at[..., j].set(s * xi + c * xj)


def spiral(
    task: Task,
    speed: float = 1.0,
    *,
    normalize_speed: bool = True,
    plane_x: tuple[int, int] | None = (0, 1),
    plane_y: tuple[int, int] | None = (1, 2),
) -> Task:
    """Spiral diffeomorphism: rotate a coordinate plane by an angle ``v‖x‖²``.

    bmi v1 uses plane (0, 1) for X, plane (1, 2) for Y and speed 1 divided by the dimension
    (``v_X = 1/dim_x``, ``v_Y = 1/dim_y``); that needs ``dim_x >= 2`` and ``dim_y >= 3``.

    Args:
        task: base task.
        speed: base speed ``v`` (radians per unit squared norm).
        normalize_speed: divide the speed by the dimension of each variable.
        plane_x: the coordinate plane rotated in X, or None to leave X unchanged.
        plane_y: the coordinate plane rotated in Y, or None to leave Y unchanged.

    Returns:
        The transformed :class:`Task` (id ``"spiral-" + base id``) with an exact inverse.

    Example:
        >>> from jaxmi import tasks
        >>> tasks.spiral(tasks.multinormal_sparse(3, 3)).name
        'spiral-multinormal-sparse-3-3-2-2.0'
    """
    task = check_task(task)
    v = real(speed, "speed")
    planes = []
    for plane, d, label in ((plane_x, task.dim_x, "plane_x"), (plane_y, task.dim_y, "plane_y")):
        if plane is None:
            planes.append(None)
            continue
        try:
            i, j = (int(p) for p in plane)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{label}: expected a pair of coordinate indices") from err
        if not (0 <= i < d and 0 <= j < d and i != j):
            raise ValueError(
                f"{label}: needs two distinct coordinates in [0, {d}) (the variable has "
                f"dimension {d}), got {plane!r}"
            )
        planes.append((i, j))
    vx = v / task.dim_x if normalize_speed else v
    vy = v / task.dim_y if normalize_speed else v
    px, py = planes

    def mk(vv: float, p: tuple[int, int] | None) -> tuple[Fn | None, Fn | None]:
        if p is None:
            return None, None
        return (lambda x: spiral_fn(x, vv, p)), (lambda u: spiral_fn(u, -vv, p))

    fx, ix = mk(vx, px)
    fy, iy = mk(vy, py)
    return transformed(
        task,
        fx,
        fy,
        name=f"spiral-{task.name}",
        title=f"Spiral @ {task.title}",
        x_inverse=ix,
        y_inverse=iy,
        params={"speed_x": vx if px else None, "speed_y": vy if py else None},
    )


def swissroll_fn(u: jax.Array) -> jax.Array:
    """``u (n, 1) in (0, 1) -> (n, 2)``: ``t = 1.5π(1 + 2u)``, ``x = (t cos t, t sin t) / 21``."""
    t = 1.5 * math.pi * (1.0 + 2.0 * u[..., 0])
    return jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], axis=-1) / 21.0


def swissroll_inverse(x: jax.Array) -> jax.Array:
    """Inverse of :func:`swissroll_fn` on its image: ``u = (21‖x‖/(1.5π) − 1)/2``."""
    t = 21.0 * jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True))
    return (t / (1.5 * math.pi) - 1.0) / 2.0


def swissroll_x(task: Task) -> Task:
    """Embed a one-dimensional X in (0, 1) as a Swiss roll in the plane (``dim_x`` 1 → 2).

    Injective because the radius ``t/21`` increases with ``u``. In bmi the base is
    ``normal_cdf-1v1-normal-0.75``, so ``u`` is uniform.

    Example:
        >>> from jaxmi import tasks
        >>> t = tasks.swissroll_x(tasks.normal_cdf(tasks.bivariate_normal(0.75)))
        >>> t.name, t.dim_x, t.title
        ('swissroll_x-normal_cdf-1v1-normal-0.75', 2, 'Swiss roll 2 × 1')
    """
    task = check_task(task)
    if task.dim_x != 1:
        raise ValueError(f"task: swissroll_x needs a one-dimensional X, got dim_x={task.dim_x}")
    return transformed(
        task,
        swissroll_fn,
        None,
        name=f"swissroll_x-{task.name}",
        title=f"Swiss roll 2 × {task.dim_y}",
        x_inverse=swissroll_inverse,
        dim_x=2,
    )
