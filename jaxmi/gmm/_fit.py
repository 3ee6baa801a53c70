"""Public EM entry points: :func:`fit`, :func:`fit_batch` and :func:`initialize`."""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmi import _compile
from jaxmi._validation import (
    as_data_matrix,
    check_finite_scalar,
    check_int,
    check_key,
    is_traced,
    user_stacklevel,
    warn_lost_digits,
)
from jaxmi.gmm import _em, _init
from jaxmi.gmm._em import EMResult, _take
from jaxmi.gmm._mixture import GMM, precision_cholesky

__all__ = ["ConvergenceWarning", "fit", "fit_batch", "initialize", "resolve_capacity"]


class ConvergenceWarning(UserWarning):
    """An EM fit stopped at ``max_iter`` or failed (covariance not positive definite)."""


def resolve_capacity(k_cap: Any, n_components: int) -> int:
    """Component capacity Kc for ``n_components`` under a ``k_cap`` policy.

    Args:
        k_cap: ``None`` (exactly ``n_components``), ``"bucket"`` (next power of two),
            ``"steps"`` (1, 2, 3, 4, 6, 8, 12, 16, ...: powers of two and 1.5 times them, fewer
            than 1.5x the components), ``"grow"`` (8, 16, 32, ...: the smallest that fits)
            or an integer cap.
        n_components: the number of active components K.

    Returns:
        Kc >= K.
    """
    if k_cap is None:
        return n_components
    if k_cap == "bucket":
        return 1 << (n_components - 1).bit_length()
    if k_cap == "steps":
        kc = 1
        while kc < n_components:  # 1 -> 2, 2^j -> 3 * 2^(j-1), 3 * 2^(j-1) -> 2^(j+1)
            kc = 2 if kc == 1 else (kc // 2 * 3 if kc & (kc - 1) == 0 else kc // 3 * 4)
        return kc
    if k_cap == "grow":
        kc = 8
        while kc < n_components:
            kc *= 2
        return kc
    if isinstance(k_cap, str):
        raise ValueError(
            f"k_cap: expected None, 'bucket', 'steps', 'grow' or an integer, got {k_cap!r}"
        )
    kc = check_int(k_cap, "k_cap", minimum=1)
    if kc < n_components:
        raise ValueError(f"k_cap: {kc} is smaller than n_components={n_components}")
    return kc


def _check_weights(weights: Any, n: int, dt, name: str = "weights", batch: int | None = None):
    shape = (n,) if batch is None else (batch, n)
    if weights is None:
        return np.ones(shape, dt)
    if not hasattr(weights, "shape"):
        weights = np.asarray(weights)
    if weights.dtype == bool or not (
        np.issubdtype(weights.dtype, np.floating) or np.issubdtype(weights.dtype, np.integer)
    ):
        raise ValueError(f"{name}: expected real numbers, got dtype {weights.dtype}")
    if tuple(weights.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(weights.shape)}")
    if not is_traced(weights):
        w = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{name}: contains NaN or infinite values")
        if np.any(w < 0):
            raise ValueError(f"{name}: must be non-negative")
        if np.any(np.sum(w, axis=-1) <= 0):
            raise ValueError(f"{name}: all weights of a problem are zero")
        return w.astype(dt)
    return jnp.asarray(weights, dt)


def _common_settings(tol, max_iter, reg_covar, strategy, batch_size, chunk, dt, kc, n_pad=None):
    tol = check_finite_scalar(tol, "tol", positive=True)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    reg_covar = check_finite_scalar(reg_covar, "reg_covar", nonnegative=True)
    strategy = _em.default_strategy(kc) if strategy is None else strategy
    if strategy not in ("map", "vmap", "queue"):
        raise ValueError(f"strategy: expected 'map', 'vmap' or 'queue', got {strategy!r}")
    if batch_size is not None:  # None: solve() picks one for the padded sample count
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    chunk = _em.default_chunk(n_pad) if chunk is None else check_int(chunk, "chunk", minimum=1)
    return (  # NumPy scalars: passed to the programs as arguments, with no conversion program
        np.asarray(tol, dt),
        np.asarray(max_iter, np.int32),
        np.asarray(reg_covar, dt),
        strategy,
        batch_size,
        chunk,
    )


def _pad_data(x: Any) -> Any:
    """``(..., N, d)`` -> ``(..., d, N_pad)`` with zero padding (in NumPy for host arrays)."""
    n = x.shape[-2]
    npad = _em.pad_length(n)
    if isinstance(x, np.ndarray):
        out = np.zeros((*x.shape[:-2], x.shape[-1], npad), x.dtype)
        out[..., :n] = np.swapaxes(x, -1, -2)
        return out
    xt = jnp.swapaxes(x, -1, -2)
    return jnp.pad(xt, [(0, 0)] * (xt.ndim - 1) + [(0, npad - n)])


def _pad_weights(s: Any, npad: int) -> Any:
    if isinstance(s, np.ndarray):
        out = np.zeros((*s.shape[:-1], npad), s.dtype)
        out[..., : s.shape[-1]] = s
        return out
    return jnp.pad(s, [(0, 0)] * (s.ndim - 1) + [(0, npad - s.shape[-1])])


def _pad_components(g: GMM, kc: int) -> GMM:
    """Append inactive placeholder components up to capacity ``kc``.

    NumPy in, NumPy out (no device program runs); anything else goes through ``jax.numpy``.
    """
    k = g.capacity
    if k == kc:
        return g
    xp = np if all(isinstance(a, np.ndarray) for a in g) else jnp
    extra = kc - k
    d = g.dim
    lead = g.weights.shape[:-1]
    eye = xp.broadcast_to(xp.eye(d, dtype=g.means.dtype), (*lead, extra, d, d))
    return GMM(
        xp.concatenate([g.weights, xp.zeros((*lead, extra), g.weights.dtype)], -1),
        xp.concatenate([g.means, xp.zeros((*lead, extra, d), g.means.dtype)], -2),
        xp.concatenate([g.covariances, eye], -3),
        xp.concatenate([g.prec_chol, eye], -3),
        xp.concatenate([g.active, xp.zeros((*lead, extra), bool)], -1),
    )


def _check_init_gmm(g: Any, d: int, dt, batched: bool, name: str = "init") -> GMM:
    if not isinstance(g, GMM):
        raise ValueError(f"{name}: expected a jaxmi.gmm.GMM, got {type(g).__name__}")
    want = 3 if batched else 2
    if g.means.ndim != want:
        raise ValueError(
            f"{name}: expected means of rank {want} ({'(P, K, d)' if batched else '(K, d)'}), "
            f"got shape {g.means.shape}"
        )
    if g.dim != d:
        raise ValueError(f"{name}: mixture has dimension {g.dim}, data has {d} column(s)")
    g = jax.tree.map(lambda a: a if a.dtype == bool else jnp.asarray(a, dt), g)
    if not any(is_traced(a) for a in g):
        for field in ("weights", "means", "covariances"):
            if not np.all(np.isfinite(np.asarray(getattr(g, field)))):
                raise ValueError(f"{name}: {field} contain NaN or infinite values")
    # recompute the factors in the working dtype (a mixture may come from another dtype)
    return g._replace(prec_chol=precision_cholesky(g.covariances))


def _warn(res: EMResult, what: str) -> None:
    if is_traced(res.converged):
        return
    failed = int(np.sum(np.asarray(res.failed)))
    not_conv = int(np.sum(~np.asarray(res.converged) & ~np.asarray(res.failed)))
    if failed:
        warnings.warn(
            f"{what}: {failed} fit(s) failed (a covariance lost positive definiteness); their "
            "parameters are frozen at the last finite state and log_likelihood is -inf. "
            "Increase reg_covar.",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
    if not_conv:
        warnings.warn(
            f"{what}: {not_conv} fit(s) did not converge within max_iter; increase max_iter or "
            "tol.",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )


def fit(
    key: jax.Array | None,
    x: Any,
    n_components: int | None = None,
    *,
    init: str | GMM = "random_responsibilities",
    n_init: int = 1,
    tol: float = 1e-5,
    max_iter: int = 10_000,
    reg_covar: float = 1e-6,
    weights: Any = None,
    k_cap: Any = None,
    strategy: str | None = None,
    batch_size: int | None = None,
    chunk: int | None = None,
    dtype: Any = None,
) -> EMResult:
    """Fit a full-covariance Gaussian mixture by EM.

    The ``n_init`` starts run as one batch in one compiled program and the fit with the largest
    final mean log-likelihood is kept. ``tol``, ``max_iter`` and ``reg_covar`` are traced values
    and never cause a recompilation; with ``k_cap`` a single program serves every
    ``n_components <= k_cap`` (inactive components are masked).

    Args:
        key: typed PRNG key (``jax.random.key``); may be None when ``init`` is a GMM.
        x: data ``(N, d)`` or ``(N,)``.
        n_components: number of components K (inferred from ``init`` when it is a GMM).
        init: an initialisation name (``"random_responsibilities"`` (default, the GMM-MI
            reference's default), ``"kmeans"``, ``"kmeans_scipy"``, ``"randomized_kmeans"``,
            ``"random_points"``, ``"minmax"``, ``"kmeans++"``) or a :class:`GMM` to start from.
            A bare ``"random"`` is refused as ambiguous.
        n_init: number of random starts (ignored for a GMM start, which must use 1).
        tol: convergence threshold on the change of the mean log-likelihood (nats/sample).
        max_iter: the most EM iterations per start.
        reg_covar: added to covariance diagonals in every M-step (and to initial covariances).
            The default 1e-6 assumes data of order-one scale (e.g. standardised).
        weights: optional ``(N,)`` non-negative sample weights (e.g. bootstrap counts).
        k_cap: component capacity policy: None (exactly K), ``"bucket"``, ``"grow"`` or an int.
        strategy: how the starts are batched: ``"queue"`` (default on CPU: a few vmapped
            workers that each take the next problem when theirs stops), ``"map"`` (``lax.map``;
            each group of ``batch_size`` problems stops on its own) or ``"vmap"`` (lockstep;
            default on accelerators and for one component).
        batch_size: workers for ``"queue"`` (default 4, 3 or 2 as N grows, see
            ``jaxmi.gmm._em.default_batch_size``) or ``lax.map`` batch size for ``"map"`` (1).
        chunk: problems per compiled call (default 64 on CPU, 256 on accelerators; fewer, down
            to 2, for data longer than 131,072 samples on CPU, 65,536 on accelerators, so that
            a chunk's memory stays bounded).
        dtype: float32 (default) or float64 (needs x64; default for float64 input when enabled).

    Returns:
        An :class:`EMResult` for the best start: ``gmm`` (with ``Kc`` component slots, the first
        K active), ``log_likelihood`` (mean per sample, nats), ``lower_bound``, ``n_iter``,
        ``converged``, ``failed``, ``suspicious``, ``reseeded``.

    Raises:
        ValueError: malformed data (NaN/inf, wrong rank, non-numeric), ``n_components < 1``,
            fewer samples than components, bad settings.

    Warns:
        RuntimeWarning: float64 or integer data whose cast to float32 rounds a column to steps
            above 1% of its standard deviation (``1.7e9 + 100 t``: steps of 128). The fit is in
            the data's coordinates; subtract the column means first or use float64.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> x = np.random.default_rng(0).normal(size=(500, 2))
        >>> res = jaxmi.gmm.fit(jax.random.key(0), x, 2, init="kmeans")
        >>> bool(res.converged), res.gmm.means.shape
        (True, (2, 2))
    """
    given = isinstance(init, GMM)
    xm = as_data_matrix(x, "x", dtype=dtype, host=True)
    warn_lost_digits(x, xm, "x")
    dt = xm.dtype
    n, d = xm.shape
    if given:
        init = _check_init_gmm(init, d, dt, batched=False)
        if n_components is None:
            if is_traced(init.active):
                n_components = init.capacity
            else:
                n_components = int(np.sum(np.asarray(init.active)))
        n_components = check_int(n_components, "n_components", minimum=1)
        if not is_traced(init.active) and int(np.sum(np.asarray(init.active))) != n_components:
            raise ValueError(
                f"n_components: {n_components} does not match the {int(np.sum(init.active))} "
                "active components of init"
            )
        if check_int(n_init, "n_init", minimum=1) != 1:
            raise ValueError("n_init: must be 1 when init is a GMM (the start is deterministic)")
    else:
        if n_components is None:
            raise ValueError("n_components: required unless init is a GMM")
        n_components = check_int(n_components, "n_components", minimum=1)
        method = _init.check_method(init)
        key = check_key(key)
        n_init = check_int(n_init, "n_init", minimum=1)
    s = _check_weights(weights, n, dt)
    n_eff = n if weights is None or is_traced(weights) else int(np.count_nonzero(s))
    if n_eff < n_components:
        raise ValueError(
            f"x: {n_eff} sample(s) with positive weight is fewer than n_components={n_components}"
        )
    kc = resolve_capacity(k_cap, n_components)
    xs = _pad_data(xm)[None]
    npad = xs.shape[-1]
    settings = _common_settings(
        tol, max_iter, reg_covar, strategy, batch_size, chunk, dt, kc, n_pad=npad
    )
    tol_, max_iter_, reg_, strategy, batch_size, chunk = settings

    s_pad = _pad_weights(s, npad)
    if given:
        if kc < init.capacity:
            raise ValueError(f"k_cap: {kc} is smaller than the capacity of init ({init.capacity})")
        g0 = _pad_components(init, kc)
        init_arg, method, p = jax.tree.map(lambda a: a[None], g0), "given", 1
    else:
        p = n_init
        keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(p))
        init_arg = (keys, jnp.full((p,), n_components, jnp.int32))
    xp = np if isinstance(s_pad, np.ndarray) else jnp
    s_pad = xp.broadcast_to(s_pad, (p, npad))
    res = _em.solve(
        xs,
        np.zeros(p, np.int32),
        s_pad,
        init_arg,
        tol=tol_,
        max_iter=max_iter_,
        reg_covar=reg_,
        method=method,
        kc=kc,
        strategy=strategy,
        batch_size=batch_size,
        chunk=chunk,
    )
    best = _take(res, jnp.argmax(res.log_likelihood))
    _warn(jax.tree.map(lambda a: a[None], best), "jaxmi.gmm.fit")
    if method == "random_responsibilities" and n_components > 1:
        _warn_stuck(best, p)
    return best


def _warn_stuck(best: EMResult, n_init: int) -> None:
    """Warn when the best fit from random responsibilities converged within 2 iterations.

    That start puts every component near the global mean, a stationary point of EM: on data
    that one Gaussian describes well that is where EM belongs, but on clearly bimodal 1-D data
    (N = 1,000) it stopped there after 2 iterations with two identical components (mean
    log-likelihood -1.890 against -1.727 from ``kmeans``), and so did the best of 5 starts.
    Other starts converging that fast have usually found the optimum (``kmeans`` on separated
    clusters), so they do not warn. In GMM-MI's cross-validation a stuck K scores as K - 1 and
    can end the search; ``restart_stalled=True`` in :func:`jaxmi.gmm_mi` fits such fits again
    from k-means++ seeding.
    """
    if is_traced(best.suspicious) or not bool(best.suspicious & best.converged):
        return
    warnings.warn(
        f"jaxmi.gmm.fit: the best of {n_init} 'random_responsibilities' start(s) converged "
        f"after {int(best.n_iter)} iterations with its components where they started, all "
        "near the global mean. That is where EM belongs if one Gaussian describes the data, "
        "but it can also be a saddle EM did not leave (e.g. bimodal data); compare with "
        "init='kmeans'.",
        ConvergenceWarning,
        stacklevel=user_stacklevel(),
    )


def fit_batch(
    x: Any,
    init: GMM,
    *,
    weights: Any = None,
    data_index: Any = None,
    tol: float = 1e-5,
    max_iter: int = 10_000,
    reg_covar: float = 1e-6,
    strategy: str | None = None,
    batch_size: int | None = None,
    chunk: int | None = None,
    dtype: Any = None,
) -> EMResult:
    """Fit many independent EM problems in one compiled program.

    A problem is (dataset, sample weights, initial mixture). Problems are split into chunks of a
    fixed size (the last padded with empty problems), so any number of problems reuses one
    executable per shape signature (chunk, N_pad, d, Kc, dtype, strategy, batch_size).

    Args:
        x: one dataset ``(N, d)`` shared by all problems, or ``(D, N, d)`` datasets selected per
            problem by ``data_index`` (pad datasets of different N with zero weights).
        init: batched initial mixtures: a :class:`GMM` whose fields carry a leading axis P
            (e.g. from :func:`initialize`); ``active`` masks set each problem's K.
        weights: ``(P, N)`` non-negative sample weights (default: all ones).
        data_index: ``(P,)`` dataset index of each problem (required when ``x`` is 3-D).
        tol: convergence threshold on the mean log-likelihood (see :func:`fit`).
        max_iter: the most EM iterations per problem.
        reg_covar: added to covariance diagonals in every M-step.
        strategy: ``"queue"`` (default on CPU: ``batch_size`` vmapped workers, each taking the
            next problem when its own stops), ``"map"`` (``lax.map``; each group of
            ``batch_size`` problems stops on its own) or ``"vmap"`` (all problems in lockstep;
            converged members are frozen; default on accelerators and for one component).
        batch_size: workers for ``"queue"`` (default 4, 3 or 2 as N grows), ``lax.map`` batch
            size for ``"map"`` (1).
        chunk: problems per compiled call (default: as in :func:`fit`).
        dtype: float dtype (see :func:`fit`).

    Returns:
        A batched :class:`EMResult` with leading axis P.

    Warns:
        RuntimeWarning: float64 or integer data whose cast to float32 rounds a column to steps
            above 1% of its standard deviation (``1.7e9 + 100 t``: steps of 128). The fit is in
            the data's coordinates; subtract the column means first or use float64.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> x = np.random.default_rng(0).normal(size=(300, 2))
        >>> keys = jax.random.split(jax.random.key(0), 4)
        >>> g0 = jax.vmap(lambda k: jaxmi.gmm.initialize(k, x, 2))(keys)
        >>> jaxmi.gmm.fit_batch(x, g0).n_iter.shape
        (4,)
    """
    xa = x if hasattr(x, "shape") else np.asarray(x)
    if getattr(xa, "ndim", 0) == 3:
        if xa.shape[0] < 1:
            raise ValueError("x: the stack of datasets is empty")
        # validate the stack as one (D*N, d) matrix, then restore the dataset axis
        flat_x = xa.reshape(-1, xa.shape[-1])
        flat = as_data_matrix(flat_x, "x", dtype=dtype, host=True)
        warn_lost_digits(flat_x, flat, "x")
        datasets = flat.reshape(xa.shape)
    else:
        datasets = as_data_matrix(xa, "x", dtype=dtype, host=True)[None]
        warn_lost_digits(xa, datasets[0], "x")
    dt = datasets.dtype
    n_data, n, d = datasets.shape
    init = _check_init_gmm(init, d, dt, batched=True)
    p = init.weights.shape[0]
    if p < 1:
        raise ValueError("init: the batch of initial mixtures is empty")
    s = _check_weights(weights, n, dt, batch=p)
    if data_index is None:
        if n_data != 1:
            raise ValueError("data_index: required when x holds several datasets")
        data_index = np.zeros(p, np.int32)
    else:
        di = np.asarray(data_index) if not is_traced(data_index) else data_index
        if tuple(di.shape) != (p,) or not jnp.issubdtype(di.dtype, jnp.integer):
            raise ValueError(f"data_index: expected ({p},) integers, got {di.shape} {di.dtype}")
        if not is_traced(di) and (np.any(di < 0) or np.any(di >= n_data)):
            raise ValueError(f"data_index: values must lie in [0, {n_data})")
        data_index = di
    xs = _pad_data(datasets)
    settings = _common_settings(
        tol, max_iter, reg_covar, strategy, batch_size, chunk, dt, init.capacity, n_pad=xs.shape[-1]
    )
    tol_, max_iter_, reg_, strategy, batch_size, chunk = settings
    res = _em.solve(
        xs,
        data_index,
        _pad_weights(s, xs.shape[-1]),
        init,
        tol=tol_,
        max_iter=max_iter_,
        reg_covar=reg_,
        method="given",
        kc=init.capacity,
        strategy=strategy,
        batch_size=batch_size,
        chunk=chunk,
    )
    _warn(res, "jaxmi.gmm.fit_batch")
    return res


def initialize(
    key: jax.Array,
    x: Any,
    n_components: int,
    *,
    method: str = "random_responsibilities",
    weights: Any = None,
    k_cap: Any = None,
    reg_covar: float = 1e-6,
    dtype: Any = None,
) -> GMM:
    """Initial mixture parameters for EM.

    Args:
        key: typed PRNG key.
        x: data ``(N, d)`` or ``(N,)``.
        n_components: number of active components K.
        method: an initialisation name (see :func:`fit`).
        weights: optional ``(N,)`` sample weights; zero-weight samples do not influence the start.
        k_cap: component capacity policy (see :func:`fit`).
        reg_covar: added to the initial covariances' diagonals (0 reproduces the GMM-MI
            reference, which adds none at initialisation).
        dtype: float dtype.

    Returns:
        A :class:`GMM` with capacity Kc and K active components.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> x = np.random.default_rng(0).normal(size=(100, 3))
        >>> g = jaxmi.gmm.initialize(jax.random.key(1), x, 4, method="kmeans++")
        >>> g.means.shape
        (4, 3)
    """
    key = check_key(key)
    xm = as_data_matrix(x, "x", dtype=dtype)
    n, _ = xm.shape
    n_components = check_int(n_components, "n_components", minimum=1)
    method = _init.check_method(method)
    s = _check_weights(weights, n, xm.dtype)
    if n < n_components:
        raise ValueError(f"x: {n} sample(s) is fewer than n_components={n_components}")
    reg = check_finite_scalar(reg_covar, "reg_covar", nonnegative=True)
    kc = resolve_capacity(k_cap, n_components)
    g, _ = _initialize_jit(
        key, xm.T, s, n_components, jnp.asarray(reg, xm.dtype), kc=kc, method=method
    )
    return g


_initialize_jit = _compile.jit(
    lambda key, xt, s, k, reg, *, kc, method: _init.initialize_t(key, xt, s, k, kc, method, reg),
    kind="light",
    static_argnames=("kc", "method"),
)
