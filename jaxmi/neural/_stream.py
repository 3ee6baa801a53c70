"""Host-side data handling of a streamed :func:`jaxmi.neural_mi` run.

Validation, column statistics and row gathers in row blocks, so that x and y can stay in host
memory or on disk (``np.memmap``). Nothing here copies a whole data array: values are checked
and column statistics accumulated (float64) over blocks of rows, and training / evaluation
batches are gathered row by row from the host array into small float arrays that are then sent
to the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxmi._validation import check_samples_array, is_traced

__all__ = [
    "STREAM_BYTES",
    "column_stats",
    "gather_rows",
    "host_matrix",
    "standardise_array",
    "standardise_rows",
]

STREAM_BYTES = 1 << 30  # stream="auto": stream when x and y together exceed 1 GiB
_BLOCK_BYTES = 1 << 23  # rows per block of the host passes: about 8 MiB of float64


def host_matrix(x: Any, name: str) -> np.ndarray:
    """``x`` as a 2-D NumPy array ``(N, d)`` without copying it (a memmap stays a memmap).

    Checks rank and dtype only; values are checked by :func:`column_stats` block by block.

    Raises:
        ValueError: traced, non-array, non-numeric, wrong rank or empty input.
    """
    if is_traced(x):
        raise ValueError(f"{name}: streaming needs concrete host arrays, got a traced value")
    x = check_samples_array(x, name)
    a = x if isinstance(x, np.ndarray) else np.asarray(x)  # a jax.Array is copied to the host
    if a.ndim == 1:
        a = a.reshape(-1, 1)  # a view, also of a memmap
    if a.shape[1] < 1:
        raise ValueError(f"{name}: has zero columns (shape {tuple(a.shape)})")
    return a


def _blocks(a: np.ndarray):
    rows = max(1, _BLOCK_BYTES // (8 * a.shape[1]))
    for i in range(0, a.shape[0], rows):
        yield a[i : i + rows]


def column_stats(
    a: np.ndarray, name: str, dtype: np.dtype, *, moments: bool = True
) -> tuple[np.ndarray, np.ndarray] | None:
    """Check every value of ``a`` and return its column means and standard deviations.

    Two passes over row blocks in float64 (mean, then the centred second moment) on the values
    as given, not as ``dtype`` rounds them: float32 keeps about 7 digits, and ``1.7e9 + 100 t``
    (timestamps) rounded to 6 distinct values of 2,000. Both passes sum each column divided by
    a power of two at its largest magnitude so far (exact; see
    :func:`jaxmi._validation.scaled_moments`): squares of float64 values around 1e160
    overflowed (the data standardised to zeros) and those of values around 1e-300 underflowed
    (read as constant). The statistics are returned in float64 (see :func:`standardise_rows`),
    and the standardised values are in ``dtype``'s range whatever the data's. With
    ``moments=False`` the values themselves are cast: they are checked to fit ``dtype`` (one
    pass) and None is returned.

    Raises:
        ValueError: NaN or infinite values, values overflowing ``dtype`` (``moments=False``),
            constant columns.
    """
    n, d = a.shape
    total, exp = np.zeros(d), np.full(d, -1100)  # the sum in units of 2**exp (none yet)
    bad = 0
    for blk in _blocks(a):
        b = np.asarray(blk)
        finite = np.isfinite(b)
        bad += int(finite.size - np.count_nonzero(finite))
        if bad:
            continue
        if not moments:
            with np.errstate(over="ignore"):
                if not np.isfinite(b.astype(dtype, copy=False)).all():
                    raise ValueError(
                        f"{name}: values overflow {dtype} (largest magnitude {np.abs(b).max():.3g})"
                    )
            continue
        e = np.maximum(exp, np.frexp(np.abs(b).max(axis=0))[1])
        total = np.ldexp(total, exp - e) + np.ldexp(b.astype(np.float64), -e).sum(axis=0)
        exp = e
    if bad:
        raise ValueError(f"{name}: contains {bad} NaN or infinite value(s)")
    if not moments:
        return None
    mean = np.ldexp(total / n, exp)
    sq = np.zeros(d)
    for blk in _blocks(a):
        dev = np.ldexp(np.asarray(blk).astype(np.float64) - mean, -exp)  # one block, |dev| <= 2
        dev *= dev
        sq += dev.sum(axis=0)
    sd = np.ldexp(np.sqrt(sq / n), exp)
    if np.any(sd == 0):
        raise ValueError(f"{name}: column(s) {np.flatnonzero(sd == 0).tolist()} are constant")
    return mean, sd


def standardise_rows(
    a: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None, dtype: np.dtype
) -> np.ndarray:
    """``(a − mean) / sd`` cast to ``dtype`` (the same arithmetic for whole arrays and batches).

    Taken in float64 on the values as given, then cast: the cast keeps the standardised values'
    digits, not those of data far from 0.
    """
    if stats is None:
        return np.asarray(a).astype(dtype, copy=False)
    mean, sd = stats
    return ((np.asarray(a).astype(np.float64) - mean) / sd).astype(dtype)


def standardise_array(
    a: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None, dtype: np.dtype
) -> np.ndarray:
    """:func:`standardise_rows` of the whole of ``a``, one row block at a time.

    The float64 arithmetic then holds one block (about 8 MiB) beyond the ``dtype`` result.
    """
    out = np.empty(a.shape, dtype)
    i = 0
    for blk in _blocks(a):
        out[i : i + blk.shape[0]] = standardise_rows(blk, stats, dtype)
        i += blk.shape[0]
    return out


def gather_rows(
    a: np.ndarray,
    rows: np.ndarray,
    stats: tuple[np.ndarray, np.ndarray] | None,
    dtype: np.dtype,
) -> np.ndarray:
    """``a[rows]`` standardised, shape ``rows.shape + (d,)``.

    Rows are read in sorted order (sequential reads of a memmap) and put back in the requested
    order.
    """
    flat = rows.reshape(-1)
    order = np.argsort(flat, kind="stable")
    out = np.empty((flat.size, a.shape[1]), dtype)
    out[order] = standardise_rows(a[flat[order]], stats, dtype)
    return out.reshape(*rows.shape, a.shape[1])
