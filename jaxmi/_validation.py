"""Input validation shared by jaxmi's public functions.

Public functions validate eagerly, before anything is compiled. Under a user's ``jit``/``vmap``
their array arguments are tracers: then only what is static (shapes, dtypes) is checked and the
value checks (NaN/inf, signs) are left to concrete calls.
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "as_data_matrix",
    "available_memory",
    "check_finite_scalar",
    "check_int",
    "check_key",
    "float_dtype",
    "is_traced",
    "scaled_moments",
    "unmasked",
    "user_stacklevel",
    "warn_lost_digits",
]


def user_stacklevel() -> int:
    """The ``stacklevel`` of a warning raised here that points at the first caller outside jaxmi.

    Counted from the function that calls :func:`warnings.warn` (level 1), so a warning from
    deep inside the package still names the user's line.
    """
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep  # not a sibling "jaxmi_x/"
    frame = sys._getframe(1)  # the caller of this helper: warnings.warn's level 1
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        level += 1
    return level


def is_traced(x: Any) -> bool:
    """Whether ``x`` is a JAX tracer (inside a user's ``jit``/``vmap``/``grad``)."""
    return isinstance(x, jax.core.Tracer)


def refuse_traced(name: str, value: Any, why: str, hint: str = "pass concrete values") -> None:
    """A ``ValueError`` naming ``name`` when any leaf of ``value`` is traced.

    For functions that run on the host (loops, early stopping, Python results): under a user's
    ``jit``/``vmap`` they would otherwise fail deep inside with JAX's tracer-conversion error.
    ``why``: the function and what keeps it on the host, e.g. ``"gmm_mi draws its folds on the
    host"``; the message adds "and cannot run under jit/vmap", then ``hint``.
    """
    if any(is_traced(leaf) for leaf in jax.tree.leaves(value)):
        raise ValueError(f"{name}: {why} and cannot run under jit/vmap; {hint}")


def float_dtype(dtype: Any = None, like: Any = None) -> np.dtype:
    """Resolve the floating dtype of a computation.

    Args:
        dtype: an explicit request (``"float32"``, ``jnp.float64``, ...) or None.
        like: an array whose dtype decides when ``dtype`` is None: float64 input gives float64
            when x64 is enabled, everything else float32.

    Returns:
        ``np.dtype('float32')`` or ``np.dtype('float64')``.

    Raises:
        ValueError: for a non-floating request, or float64 while x64 is disabled.
    """
    x64 = bool(jax.config.jax_enable_x64)
    if dtype is None:
        if like is not None and np.dtype(getattr(like, "dtype", np.float32)) == np.float64 and x64:
            return np.dtype(np.float64)
        return np.dtype(np.float32)
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype: {dtype!r} is not a dtype") from err
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype: must be float32 or float64, got {dt}")
    if dt == np.float64 and not x64:
        raise ValueError(
            "dtype: float64 requested but x64 is disabled; call "
            "jax.config.update('jax_enable_x64', True) first"
        )
    return dt


def _check_numeric_dtype(dt: np.dtype, name: str) -> None:
    if dt == np.bool_ or not (
        np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer) or dt == jnp.bfloat16
    ):
        raise ValueError(f"{name}: expected a real numeric array, got dtype {dt}")


def unmasked(x: Any, name: str) -> Any:
    """``x`` itself, or the data of a NumPy masked array that has no masked entry.

    jaxmi reads no masks (``np.asarray`` would silently keep the values under them), so a
    masked array with masked entries is refused rather than read with its placeholders.

    Raises:
        ValueError: ``x`` is a masked array with masked entries (naming how many).
    """
    if not isinstance(x, np.ma.MaskedArray):
        return x
    mask = np.ma.getmaskarray(x)
    if mask.any():
        raise ValueError(
            f"{name}: a masked array with {int(mask.sum())} masked value(s); jaxmi reads no "
            "masks, so drop those samples first (e.g. keep x[~np.ma.getmaskarray(x).any(axis="
            "-1)] and the same rows of the other variables) or fill them (x.filled(...))"
        )
    return np.ma.getdata(x)


def check_samples_array(x: Any, name: str) -> Any:
    """``x`` as an array of shape ``(N,)`` or ``(N, d)`` with a numeric dtype (not copied).

    Nested sequences become NumPy arrays; arrays (NumPy, memmaps, JAX) are returned as they
    are. Only the rank and the dtype are checked, not the values.

    Raises:
        ValueError: a ragged sequence, a scalar or non-array, a non-numeric dtype, another rank,
            a masked array with masked entries.
    """
    x = unmasked(x, name)
    if isinstance(x, (list, tuple)):
        try:
            x = np.asarray(x)
        except ValueError as err:
            raise ValueError(f"{name}: ragged or malformed nested sequence") from err
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        if isinstance(x, numbers.Number):
            raise ValueError(f"{name}: expected an array of shape (N,) or (N, d), got a scalar")
        raise ValueError(f"{name}: expected an array, got {type(x).__name__}")
    _check_numeric_dtype(np.dtype(x.dtype), name)
    if x.ndim not in (1, 2):
        raise ValueError(f"{name}: expected shape (N,) or (N, d), got shape {tuple(x.shape)}")
    return x


def as_data_matrix(
    x: Any,
    name: str = "x",
    *,
    dtype: Any = None,
    min_rows: int = 1,
    host: bool = False,
    check_overflow: bool = True,
) -> jax.Array | np.ndarray:
    """Validate a data array and return it as a float ``(N, d)`` JAX array.

    Accepts ``(N,)`` (one variable, returned as ``(N, 1)``) or ``(N, d)``.

    Args:
        x: array-like data.
        name: argument name used in error messages.
        dtype: requested float dtype (see :func:`float_dtype`).
        min_rows: the least number of rows (samples) accepted.
        host: return a NumPy array when ``x`` is concrete (cheap host-side preparation before a
            single transfer); traced inputs always come back as JAX arrays.
        check_overflow: refuse values beyond the dtype's range. ``False`` for callers that
            standardise the values as given (in float64) before their own cast; the cast
            returned then holds infinities there.

    Returns:
        The data of shape ``(N, d)`` in the resolved float dtype.

    Raises:
        ValueError: wrong rank, non-numeric dtype, empty, too few rows, NaN or inf values.
    """
    x = check_samples_array(x, name)
    n = x.shape[0]
    d = 1 if x.ndim == 1 else x.shape[1]
    if n < max(min_rows, 1):
        raise ValueError(f"{name}: needs at least {max(min_rows, 1)} samples, got {n}")
    if d < 1:
        raise ValueError(f"{name}: has zero columns (shape {tuple(x.shape)})")
    dt = float_dtype(dtype, like=x)
    if is_traced(x):
        return jnp.asarray(x, dtype=dt).reshape(n, d)
    xn = np.asarray(x)
    finite = np.isfinite(xn)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise ValueError(f"{name}: contains {bad} NaN or infinite value(s)")
    with np.errstate(over="ignore"):
        xc = xn.astype(dt, copy=False)
    if check_overflow and xc is not xn and not np.isfinite(xc).all():
        raise ValueError(f"{name}: values overflow {dt} (largest magnitude {np.abs(xn).max():.3g})")
    xc = xc.reshape(n, d)
    return xc if host else jnp.asarray(xc)


def scaled_moments(a: Any) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (ddof 0) of ``(N, d)`` values, in float64.

    Each column is divided by the power of two at its largest magnitude first (exact), so the
    squares neither overflow (float64 values around 1e160 gave an infinite deviation and
    standardised to zeros) nor underflow (values around 1e-300 read as a constant column). Data
    in the ordinary range get the same bits as ``mean(0)`` and ``std(0)``.
    """
    a = np.asarray(a, np.float64)
    e = np.frexp(np.abs(a).max(axis=0))[1]
    s = np.ldexp(a, -e)
    return np.ldexp(s.mean(axis=0), e), np.ldexp(s.std(axis=0), e)


def warn_lost_digits(x: Any, arr: np.ndarray, name: str) -> None:
    """A ``RuntimeWarning`` where the cast of ``x`` to ``arr``'s dtype blurred a column.

    For estimates in the data's own coordinates (a fitted mixture's means and covariances),
    which cannot centre the data for the user. float32 keeps about 7 digits: ``1.7e9 + 100 t``
    (timestamps) becomes steps of 128, and a one-component fit's variance read 11,317 for
    10,004. Warns where the step of the cast dtype at a column's largest magnitude exceeds 1%
    of its standard deviation (the steps then add more than 1e-5 of its variance). Only for
    concrete input wider than ``arr`` (float64 or integers); ``arr`` is ``x`` cast, ``(N, d)``.
    """
    if is_traced(x):
        return
    src = np.asarray(x)
    if src.dtype == arr.dtype or arr.size == 0:
        return
    a = src.reshape(arr.shape).astype(np.float64)
    sd, top = a.std(0), np.abs(a).max(0)
    step = np.spacing(top.astype(arr.dtype)).astype(np.float64)
    bad = np.flatnonzero(step > 0.01 * sd)
    bad = bad[sd[bad] > 0]  # constant columns have errors of their own
    if bad.size:
        j = bad[np.argmax(step[bad] / sd[bad])]
        warnings.warn(
            f"{name}: column(s) {bad.tolist()} lose their digits in {arr.dtype}: column {j} "
            f"reaches {top[j]:.4g} but varies by {sd[j]:.3g} (std), and the cast rounds it to "
            f"steps of {step[j]:.3g}. Subtract each column's mean first (the fit is in the "
            "data's coordinates) or compute in float64",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )


def available_memory() -> int | None:
    """Bytes of host memory free for a new allocation, or None where it cannot be read.

    Linux's ``MemAvailable`` (free memory plus what the kernel can reclaim), else the physical
    memory (``sysconf``), else None.
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` as a Python bool; ``ValueError`` unless it is a bool (or NumPy bool).

    A string such as ``"no"`` or a number is refused, not read by its truth value.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected a bool, got {value!r}")
    return bool(value)


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int; ``ValueError`` unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, (np.ndarray, jax.Array)) and value.ndim == 0 and not is_traced(value):
            if np.issubdtype(np.asarray(value).dtype, np.integer):
                value = int(value)
            else:
                raise ValueError(f"{name}: expected an integer, got {value!r}")
        else:
            raise ValueError(f"{name}: expected an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return value


def check_finite_scalar(
    value: Any,
    name: str,
    *,
    positive: bool = False,
    nonnegative: bool = False,
) -> Any:
    """Check a real scalar; traced scalars pass through (their values are unknown)."""
    if is_traced(value):
        if jnp.ndim(value) != 0:
            raise ValueError(f"{name}: expected a scalar, got shape {jnp.shape(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, jax.Array)):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    if np.ndim(value) != 0:
        raise ValueError(f"{name}: expected a scalar, got shape {np.shape(value)}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    if positive and v <= 0:
        raise ValueError(f"{name}: must be > 0, got {v}")
    if nonnegative and v < 0:
        raise ValueError(f"{name}: must be >= 0, got {v}")
    return v


def check_key(key: Any, name: str = "key") -> jax.Array:
    """Check a PRNG key: a typed ``jax.random.key`` (or a legacy uint32 ``PRNGKey``, wrapped)."""
    if isinstance(key, (jax.Array, np.ndarray)) or is_traced(key):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            if key.ndim != 0:
                raise ValueError(f"{name}: expected a single key, got a batch of shape {key.shape}")
            return key
        if key.dtype == jnp.uint32 and key.shape == (2,):
            return jax.random.wrap_key_data(key)
    raise ValueError(
        f"{name}: expected a typed PRNG key from jax.random.key(seed), got {type(key).__name__}"
    )
