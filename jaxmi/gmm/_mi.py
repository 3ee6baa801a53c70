"""GMM-MI (Piras et al. 2023): information quantities from fitted Gaussian mixtures.

Pipeline for one dataset ``z`` (columns standardised once):

1. choose the number of components K* by k-fold cross-validation on held-out log-likelihood
   (``n_init`` starts x ``n_folds`` folds per K, one batched EM call per K, sequential stopping
   rule with the reference's patience bug fixed);
2. refit on the full data from the selected fold fit (``theta_full``);
3. ``n_bootstrap`` replicates: multinomial counts as sample weights, one batched EM call, each
   started from ``theta_full`` at fixed K*;
4. integrate the functional (MI, conditional MI, entropy) of every fitted mixture by Monte Carlo
   with analytic marginals and common random numbers across replicates;
5. report the bootstrap mean, its standard deviation (ddof 1), the replicates and the
   full-data point estimate.
"""

from __future__ import annotations

import difflib
import functools
import math
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jaxmi import _compile, _sharding
from jaxmi._marginals import check_marginals, refuse_for, warn_heavy_tails
from jaxmi._marginals import normal_scores as _normal_scores
from jaxmi._progress import Progress
from jaxmi._validation import (
    as_data_matrix,
    available_memory,
    check_bool,
    check_finite_scalar,
    check_int,
    check_key,
    refuse_traced,
    scaled_moments,
    unmasked,
    user_stacklevel,
)
from jaxmi.gmm import _em, _init
from jaxmi.gmm import _integrate as _integrate_mod
from jaxmi.gmm._fit import (
    _common_settings,
    _pad_components,
    _take,
    resolve_capacity,
)
from jaxmi.gmm._mixture import (
    GMM,
    _slice,
    component_logsumexp,
    log_prob_t,
    sample_noise,
    sample_t,
    sample_with,
)

__all__ = [
    "CategoricalMIResult",
    "MIResult",
    "PairwiseMIResult",
    "gmm_cmi",
    "gmm_entropy",
    "gmm_kl",
    "gmm_mi",
    "gmm_mi_categorical",
    "gmm_mi_pairwise",
    "select_components",
]

_TAG_FOLDS, _TAG_INIT, _TAG_BOOT, _TAG_MC = 0, 1, 2, 3


class MIResult(NamedTuple):
    """Result of a GMM-based information estimate (a pytree).

    Attributes:
        mi: bootstrap mean of the quantity (nats, or ``base`` units); the full-data value when
            ``n_bootstrap=0``.
        std: standard deviation over bootstrap replicates (ddof 1); None when ``n_bootstrap < 2``.
        samples: ``(n_bootstrap,)`` value of each replicate.
        point: the quantity of the full-data refit. ``mi`` is the bootstrap mean, as the
            reference reports it; each replicate refits resampled data, which adds the
            estimator's small-sample bias once more, so ``point`` is the less biased value.
            In the rho = 0.6 invariance study (``benchmarks/gmm_mi_accuracy.py``, 500 data
            sets per cell) at N = 200 ``point`` was off by +0.014 nats against ``mi``'s
            +0.036 (cube-transformed y) and +0.005 against +0.013 (log), and ``point +- 2 std``
            held the truth in 0.94 and 0.93 of the data sets against 0.89 and 0.92 for
            ``mi +- 2 std``. Where the mixture itself underestimates, the two biases cancel
            in ``mi`` instead: on the Weinman tasks (N = 2,000) ``mi`` was within 0.001 nats
            and ``point`` 0.005-0.010 low. Where ``mi`` and ``point`` differ by more than 1.5
            ``std`` (e.g. many classes of few samples each), the estimators warn: ``mi +- 2 std``
            then rarely holds the truth, and ``2 * point - mi`` is the safer value.
        point_stderr: Monte Carlo standard error of ``point``.
        n_components: the selected number of components K*.
        cv_scores: ``(K_evaluated,)`` selection metric per evaluated K (higher is better).
        selection_converged: False if ``max_components`` was reached without the stopping rule
            firing.
        n_iter: ``(n_bootstrap,)`` EM iterations of each replicate.
        converged: ``(n_bootstrap,)`` convergence flag of each replicate.
    """

    mi: jax.Array
    std: jax.Array | None
    samples: jax.Array
    point: jax.Array
    point_stderr: jax.Array
    n_components: jax.Array
    cv_scores: jax.Array
    selection_converged: jax.Array
    n_iter: jax.Array
    converged: jax.Array


# --------------------------------------------------------------------------------------------
# compiled pieces
# --------------------------------------------------------------------------------------------


@_compile.jit(kind="light")
def _score(gmms: GMM, xs: jax.Array, data_index: jax.Array, s_valid: jax.Array) -> jax.Array:
    """Held-out mean log-likelihood of each fitted mixture ``(P,)`` (-inf for non-finite)."""
    tot = jnp.sum(s_valid, axis=1)
    inv = 1 / jnp.where(tot > 0, tot, 1)
    if xs.shape[0] == 1:
        out = jax.vmap(_em.mean_log_likelihood, in_axes=(0, None, 0, 0))(gmms, xs[0], s_valid, inv)
    else:
        out = jax.vmap(_em.mean_log_likelihood)(gmms, xs[data_index], s_valid, inv)
    return jnp.where(jnp.isfinite(out), out, -jnp.inf)


def _score_padded(gmms: GMM, xs, idx: np.ndarray, s_valid: Any, chunk: int) -> np.ndarray:
    """:func:`_score` in programs of ``chunk`` problems, the last padded (one program).

    At most :data:`jaxmi.gmm._em.SMALL_ROWS` problems are padded to that many instead (one
    short program, as for the initialisation). ``s_valid``: ``(P, N_pad)`` weights, or rows
    gathered on demand (:class:`_Rows`). Chunks bound the memory: one program over all P
    problems gathered P x d x N_pad data and P x K x N_pad log-densities (200 pairs at
    N = 20,000 scored 1,200 problems at once).
    """
    p = idx.shape[0]
    if p <= _em.SMALL_ROWS < chunk:
        chunk = _em.SMALL_ROWS
    out = []
    for lo in range(0, p, chunk):
        rows = _em.padded_rows(lo, min(lo + chunk, p), chunk)
        g = jax.tree.map(lambda a, rows=rows: a[rows], gmms)
        out.append(np.asarray(_score(g, xs, idx[rows], np.asarray(s_valid[rows])))[: p - lo])
    return np.concatenate(out)


def _integrand(gmm: GMM, z: jax.Array, kind: str, blocks: tuple) -> jax.Array:
    """Pointwise integrand at points ``z (d, S)`` drawn from ``gmm``."""
    lp = log_prob_t
    if kind == "mi":
        ix, iy = (np.asarray(b) for b in blocks)
        return lp(gmm, z) - lp(_slice(gmm, ix), z[ix]) - lp(_slice(gmm, iy), z[iy])
    if kind == "cmi":
        ix, iy, iz = (np.asarray(b) for b in blocks)
        ixz, iyz = np.concatenate([ix, iz]), np.concatenate([iy, iz])
        return (
            lp(gmm, z)
            + lp(_slice(gmm, iz), z[iz])
            - lp(_slice(gmm, ixz), z[ixz])
            - lp(_slice(gmm, iyz), z[iyz])
        )
    if kind == "entropy":
        (ii,) = (np.asarray(b) for b in blocks)
        return -lp(_slice(gmm, ii), z[ii])
    if kind in ("kl_forward", "kl_reverse"):  # KL between the two marginals of a joint fit
        ix, iy = (np.asarray(b) for b in blocks)
        src, other = (ix, iy) if kind == "kl_forward" else (iy, ix)
        return lp(_slice(gmm, src), z[src]) - lp(_slice(gmm, other), z[src])
    raise ValueError(f"unknown functional {kind!r}")  # pragma: no cover


def _gaussian_kl(mu_p, cov_p, mu_q, cov_q) -> np.ndarray:
    """``KL[N(mu_p, cov_p) || N(mu_q, cov_q)]`` for batches ``(..., d)``, ``(..., d, d)``."""
    d = mu_p.shape[-1]
    diff = (mu_q - mu_p)[..., None]
    solved = np.linalg.solve(cov_q, np.concatenate([cov_p, diff], axis=-1))
    trace = np.trace(solved[..., :d], axis1=-2, axis2=-1)
    quad = np.sum(diff[..., 0] * solved[..., d], axis=-1)
    logdets = np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1]
    return 0.5 * (trace + quad - d + logdets)


def _gaussian_functional(gmms: GMM, kind: str, blocks: tuple) -> np.ndarray:
    """The functional of single-Gaussian fits in closed form, ``(D, R)`` in float64 NumPy.

    A fit of one component is a Gaussian, whose MI, conditional MI, entropy and the KL between
    its marginals are exact expressions of its covariance (and means): no integral, no
    compiled program, and no integration error. ``gmms`` have capacity 1. The values are in
    the fitted (standardised) coordinates, as the integrals': an entropy's shift back to the
    data's units is added by the caller.
    """
    cov = np.asarray(gmms.covariances, np.float64)[..., 0, :, :]
    mu = np.asarray(gmms.means, np.float64)[..., 0, :]

    def sub(idx):
        idx = np.asarray(idx)
        return cov[..., idx[:, None], idx[None, :]]

    def logdet(*parts):
        return np.linalg.slogdet(sub(np.concatenate([np.asarray(b) for b in parts])))[1]

    if kind == "mi":
        ix, iy = blocks
        return 0.5 * (logdet(ix) + logdet(iy) - logdet(ix, iy))
    if kind == "cmi":
        ix, iy, iz = blocks
        return 0.5 * (logdet(ix, iz) + logdet(iy, iz) - logdet(iz) - logdet(ix, iy, iz))
    if kind == "entropy":
        (ii,) = blocks
        return 0.5 * (len(ii) * (1.0 + math.log(2 * math.pi)) + logdet(ii))
    if kind in ("kl_forward", "kl_reverse"):
        ix, iy = (np.asarray(b) for b in blocks)
        src, other = (ix, iy) if kind == "kl_forward" else (iy, ix)
        return _gaussian_kl(mu[..., src], sub(src), mu[..., other], sub(other))
    raise ValueError(f"unknown functional {kind!r}")  # pragma: no cover


def _mc_functional(keys, gmms: GMM, *, n_samples: int, kind: str, blocks: tuple):
    """Monte Carlo mean and standard error of the functional, ``(D, R)`` each.

    ``keys (D,)`` and ``gmms`` with leading axes ``(D, R)``: the R mixtures of dataset ``i`` (its
    full fit and bootstrap replicates) share common random numbers drawn once from ``keys[i]``:
    components by inverse CDF of the same uniforms and the same normal draws.
    """
    d, dt = gmms.means.shape[-1], gmms.means.dtype
    keys = _em.as_keys(keys)

    def dataset(args):
        key, gs = args
        u, eps = sample_noise(key, n_samples, d, dt)

        def one(g):
            v = _integrand(g, sample_with(u, eps, g), kind, blocks)
            return jnp.mean(v), jnp.std(v) / math.sqrt(n_samples)

        return jax.lax.map(one, gs)

    return jax.lax.map(dataset, (keys, gmms))


_mc_functional_jit = _compile.jit(
    _mc_functional, kind="loops", static_argnames=("n_samples", "kind", "blocks")
)


@functools.lru_cache(maxsize=64)
def _integrand_of(kind: str, blocks: tuple):
    """One function object per functional (a static argument of the RQMC program)."""
    return functools.partial(_integrand, kind=kind, blocks=blocks)


def _rqmc(keys, gmms: GMM, *, n_samples: int, kind: str, blocks: tuple):
    return _integrate_mod.rqmc_functional(
        _em.as_keys(keys), gmms, _integrand_of(kind, blocks), n_points=n_samples
    )


_rqmc_jit = _compile.jit(_rqmc, kind="hot", static_argnames=("n_samples", "kind", "blocks"))
#: the same program with the loop emitters, for data sets whose replicates it maps over in more
#: than 2 chunks (:func:`_integrate`)
_rqmc_loops_jit = _compile.jit(_rqmc, kind="loops", static_argnames=("n_samples", "kind", "blocks"))


@functools.lru_cache(maxsize=32)
def _sharded_integral(mesh, rule: str, loops: bool, n_samples: int, kind: str, blocks: tuple):
    """The integral program with its dataset axis split over every device of ``mesh``.

    ``loops``: the RQMC program with the loop emitters (see :func:`_rqmc_calls`).
    """
    spec = PartitionSpec(mesh.axis_names)
    body = _rqmc if rule == "rqmc" else _mc_functional
    fn = functools.partial(body, n_samples=n_samples, kind=kind, blocks=blocks)
    return _compile.jit(
        jax.shard_map(fn, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False),
        kind="hot" if rule == "rqmc" and not loops else "loops",
        export=False,
    )


def _rqmc_calls(gmms: GMM, mc: dict) -> tuple[int, bool]:
    """``(per_call, loops)`` of the RQMC integral of ``(D, R)`` mixtures on a CPU.

    ``per_call``: the most data sets of one call, so that the program vmaps them all (at most
    2^22 points) instead of looping over chunks of them inside, where XLA:CPU's code ran
    2.7-3.8x slower. ``loops``: a data set whose replicates alone exceed 2^22 points is still
    mapped over in chunks inside its call; from 3 chunks on the loop emitters ran 2.7-3.4x
    faster (a 3-D data set with 200 replicates: 727-744 -> 232-242 ms; 2-D with 1,000: 512-631
    -> 193-205 ms), at 2 chunks 0.75-0.85x (2-D, 500 replicates: 102-105 -> 119-140 ms; 2-core
    CPU, ``benchmarks/gmm_mi_loop_emitters.py``).
    """
    n_fits, vmap_max = gmms.weights.shape[1], _integrate_mod._VMAP_MAX_POINTS
    per_call = max(1, vmap_max // (n_fits * mc["n_samples"]))
    chunks = -(-n_fits // max(1, vmap_max // mc["n_samples"]))
    return per_call, chunks > 2


def _integrate(keys, gmms: GMM, *, mesh, rule: str = "mc", **mc) -> tuple[np.ndarray, np.ndarray]:
    """The functional of ``(D, R)`` mixtures (datasets split over ``mesh``), as NumPy.

    ``rule``: ``"mc"`` (plain Monte Carlo, ``n_samples`` draws) or ``"rqmc"`` (per-component
    scrambled Sobol' points, :mod:`jaxmi.gmm._integrate`, ``n_samples`` points). The RQMC rule
    runs in calls of at most :func:`_rqmc_calls` data sets per CPU device (several rounds over
    a CPU mesh).
    """
    per_call, loops = _rqmc_calls(gmms, mc) if rule == "rqmc" else (None, False)
    if mesh is None:
        if rule != "rqmc":
            return _integrate_on_threads(_mc_functional_jit, keys, gmms, mc)
        program = _rqmc_loops_jit if loops else _rqmc_jit
        return _integrate_on_threads(program, keys, gmms, mc, per_call)
    n = keys.shape[0]
    per_device = -(-n // mesh.size)
    if per_call is not None and all(d.platform == "cpu" for d in mesh.devices.flat):
        per_device = min(per_device, per_call)
    size = per_device * mesh.size  # data sets a round (the last padded)
    split, _ = _em._placements(mesh)
    program = _sharded_integral(mesh, rule, loops, **mc)
    keys, gmms = _em._host(keys), jax.tree.map(np.asarray, gmms)
    parts = []
    for lo in range(0, n, size):
        take = _em.padded_rows(lo, min(lo + size, n), size)
        placed = _sharding.place((keys[take], jax.tree.map(lambda a, t=take: a[t], gmms)), split)
        parts.append(_sharding.fetch(program(*placed)))
    return tuple(np.concatenate([p[i] for p in parts])[:n] for i in range(2))


def _integrate_on_threads(
    program, keys, gmms: GMM, mc: dict, per_call: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``program(keys, gmms)`` for ``(D, R)`` mixtures, in equal parts on the host's threads.

    On a CPU with several host threads (:func:`jaxmi.gmm._em.host_threads`) and several data
    sets (a pairwise matrix), the data sets are split in equal parts of one program shape that
    run at once. A data set's mixtures keep their key (common random numbers), so the values
    agree with one call up to float32 rounding (a batch of another size may vectorise the same
    sums differently: last-bit differences). The replicates of a single data set are not split:
    for one estimate (51 mixtures) the gain was within the noise of the extra calls.

    ``per_call``: the most data sets of one call (parts of at most that many, on a CPU). The
    RQMC program vmaps up to 2^22 points and loops over chunks beyond, where XLA:CPU's code ran
    2.7-3.8x slower (51 fits of 25 bivariate 2-component data sets, 16,384 points each:
    0.92-0.99 s in one call against 0.26-0.34 s in 5 calls of 5 data sets, 2-core CPU;
    ``benchmarks/gmm_mi_loop_emitters.py``).
    """
    concrete = not any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves((keys, gmms)))
    n_d = gmms.weights.shape[0]
    threads, size = 1, n_d
    if concrete and jax.default_backend() == "cpu":
        threads = min(_em.host_threads(), n_d)
        size = min(-(-n_d // threads), per_call or n_d)
    if size >= n_d:
        return jax.device_get(program(keys, gmms, **mc))
    keys = _em._host(keys)
    gmms = jax.tree.map(np.asarray, gmms)

    def run(lo: int, hi: int):
        take = _em.padded_rows(lo, hi, size)
        return program(keys[take], jax.tree.map(lambda a: a[take], gmms), **mc), hi - lo

    ranges = [(lo, min(lo + size, n_d)) for lo in range(0, n_d, size)]
    sig = (program, size, tuple(sorted(mc.items())), gmms.weights.shape[1:], gmms.means.dtype)
    outs = _em._run_ranges(run, ranges, threads, sig)
    parts = [(jax.device_get(vals), m) for vals, m in outs]
    return tuple(np.concatenate([v[i][:m] for v, m in parts]) for i in range(2))


# --------------------------------------------------------------------------------------------
# randomness: one NumPy stream per dataset and purpose, seeded by the dataset's key
# --------------------------------------------------------------------------------------------


def _key_words(key: jax.Array) -> tuple[int, ...]:
    """The raw words of a typed key (no device program runs)."""
    return tuple(int(w) for w in np.asarray(jax.random.key_data(key)).ravel())


def _rng(words: tuple, *tags: int) -> np.random.Generator:
    """A NumPy generator for one purpose (``tags``) of the dataset seeded by ``words``."""
    return np.random.default_rng(np.random.SeedSequence(list(words), spawn_key=tags))


def _child_words(words: tuple, *tags: int) -> tuple[int, ...]:
    """Seed words of a derived dataset (a class, a sample of a pair of samples)."""
    ss = np.random.SeedSequence(list(words), spawn_key=tags)
    return tuple(int(w) for w in ss.generate_state(len(words)))


def _class_words(words: tuple, n_cls: int) -> list[tuple[int, ...]]:
    """Seed words of each class's data set in a categorical problem seeded by ``words``."""
    return [_child_words(words, 1000 + c) for c in range(n_cls)]


def _keys_from(rng: np.random.Generator, like: jax.Array, shape: tuple) -> jax.Array:
    """Typed keys ``shape`` of the same implementation as ``like``, drawn from ``rng``."""
    n_words = np.asarray(jax.random.key_data(like)).size
    data = rng.integers(0, 1 << 32, size=(*shape, n_words), dtype=np.uint64).astype(np.uint32)
    return jax.random.wrap_key_data(data, impl=jax.random.key_impl(like))


def _bootstrap_counts(words: tuple, b: int, n: int, n_pad: int, dtype) -> np.ndarray:
    """Multinomial counts of replicate ``b``: ``n`` draws with replacement among the real rows."""
    draw = _rng(words, _TAG_BOOT, b).integers(0, n, n)
    return np.bincount(draw, minlength=n_pad).astype(dtype)


# --------------------------------------------------------------------------------------------
# driver: selection, refit and bootstrap of D datasets at once
# --------------------------------------------------------------------------------------------


def _point_and_replicates(full: GMM, boot: GMM | None) -> GMM:
    """The full-data fit followed by the bootstrap fits, ``(1 + B, ...)``: one MC program."""
    if boot is None:
        return _stack(full, 1)
    return jax.tree.map(
        lambda a, b: np.concatenate([np.asarray(a)[None], np.asarray(b)]), full, boot
    )


def _stack(tree: Any, n: int) -> Any:
    return jax.tree.map(lambda a: np.broadcast_to(np.asarray(a), (n, *np.shape(a))), tree)


def _cut(g: GMM, kc: int) -> GMM:
    """The first ``kc`` component slots of an unbatched host mixture."""
    return jax.tree.map(lambda a: np.asarray(a)[:kc], g)


def _n_params(k: int, d: int) -> int:
    return (k - 1) + k * d + k * d * (d + 1) // 2


class _StopRule:
    """The sequential stopping rule for the number of components (spec §6.4), one step at a time.

    An improvement by more than ``threshold`` resets a counter of failures (except with
    ``legacy_patience``, the reference's bug: the counter is never reset); the search stops
    after ``patience`` consecutive failures.
    """

    def __init__(self, max_components, threshold, patience, legacy_patience=False):
        self.max_components, self.threshold = max_components, threshold
        self.patience, self.legacy = patience, legacy_patience
        self.best, self.best_k, self.counter = -np.inf, 1, 0
        self.scores: list[float] = []
        self.done, self.stopped, self.result = False, False, None

    def update(self, k: int, metric: float) -> None:
        self.scores.append(metric)
        if metric - self.best > self.threshold:
            self.best, self.best_k = metric, k
            if not self.legacy:
                self.counter = 0
        else:
            self.counter += 1
        if self.counter >= self.patience:
            self.done, self.stopped = True, True
            self.result = k - self.patience if self.legacy else self.best_k
        elif k >= self.max_components:
            self.done = True
            self.result = self.max_components if self.legacy else self.best_k


def select_components(
    metric_of,
    max_components: int,
    threshold: float,
    patience: int,
    *,
    legacy_patience: bool = False,
):
    """The sequential stopping rule for the number of components (spec §6.4).

    Evaluates ``metric_of(K)`` for K = 1, 2, ... (higher is better). An improvement by more than
    ``threshold`` resets a counter of failures; the search stops after ``patience`` consecutive
    failures and returns the last K that improved. ``legacy_patience=True`` reproduces the
    GMM-MI reference (0.8.2), whose counter is never reset, so it counts *all* failures so far
    and returns ``K_stop - patience`` (and ``max_components`` if it never stops).

    Args:
        metric_of: callable ``K -> float``.
        max_components: the largest K evaluated.
        threshold: the least improvement that counts.
        patience: failures tolerated.
        legacy_patience: reproduce the reference's bug.

    Returns:
        ``(K*, metrics evaluated, stopped)``; ``stopped`` is False when ``max_components`` was
        reached without the rule firing.
    """
    rule = _StopRule(max_components, threshold, patience, legacy_patience)
    k = 0
    while not rule.done:
        k += 1
        rule.update(k, metric_of(k))
    return rule.result, rule.scores, rule.stopped


def _em_settings(o: dict, dt) -> dict:
    """Keyword arguments of :func:`_em.solve` from resolved options (the engine's defaults)."""
    tol, max_iter, reg, strategy, batch_size, chunk = _common_settings(
        o["tol"],
        o["max_iter"],
        o["reg_covar"],
        o["strategy"],
        o["batch_size"],
        o["chunk"],
        dt,
        kc=2,
    )
    return dict(
        tol=tol,
        max_iter=max_iter,
        reg_covar=reg,
        strategy=strategy,
        batch_size=batch_size,
        chunk=chunk,
    )


class _Fit(NamedTuple):
    """Selected, refitted and bootstrapped mixture of one dataset (host-side record)."""

    k: int
    cv: GMM
    full: GMM
    boot: _em.EMResult | None
    scores: np.ndarray
    converged: bool
    stall: tuple | None = None  # (K, gain, MI shift or None): see _stall_gains


class _Stage(NamedTuple):
    """The EM arguments of one cross-validation stage, for fitting some of its rows again.

    ``fit_args``: ``(xs, data index, training weights)`` of every row; ``keys``: every row's
    start key; ``k``/``kc``: components and capacity; ``cv_kw``: the EM settings.
    """

    fit_args: tuple
    keys: Any
    k: int
    kc: int
    mesh: Any
    cv_kw: dict


class _FoldWeights:
    """The 0/1 weights of (dataset, fold) row ``r = i * F + f``, from the samples' fold ids.

    ``held_out=False``: the samples of dataset ``i`` outside fold ``f`` (training); True: those
    in it. Indexing by row ids gives ``(len(r), N_pad)`` weights; stored as ``(D, F, N_pad)``
    floats they took two copies of every dataset's data per fold.
    """

    def __init__(self, folds: np.ndarray, n_folds: int, dtype: Any, *, held_out: bool):
        self.folds, self.n_folds, self.dtype, self.held_out = folds, n_folds, dtype, held_out

    def keep(self, r: Any) -> np.ndarray:
        """Boolean ``(..., N_pad)``: the samples that row(s) ``r`` weigh."""
        r = np.asarray(r)
        fold_ids = self.folds[r // self.n_folds]
        f = (r % self.n_folds)[..., None]
        return fold_ids == f if self.held_out else (fold_ids != f) & (fold_ids >= 0)

    def __getitem__(self, r: Any) -> np.ndarray:
        return self.keep(r).astype(self.dtype)


class _Rows:
    """``(P, N)`` weights whose row ``p`` is ``table[rows[p]]``, gathered only when asked for.

    The problems of a cross-validation stage are (dataset, start, fold) triples, and their
    training and held-out weights repeat for every start. Materialised they took P x N floats
    (datasets x ``n_init`` x ``n_folds`` rows: about 100 MB each for 200 pairs at N = 20,000).
    ``w[lo:hi]`` and ``w[rows]`` gather the rows asked for, and ``w(lo, hi)`` is the lazy form
    that :func:`jaxmi.gmm._em.solve` takes (one chunk of weights at a time).
    """

    def __init__(self, table: Any, rows: np.ndarray):  # an array or a _FoldWeights
        self.table, self.rows = table, rows

    def __getitem__(self, sel: Any) -> np.ndarray:
        return self.table[self.rows[sel]]

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        return self.table[self.rows[lo:hi]]


class _Datasets(NamedTuple):
    """D datasets of the same dimension, padded to one length (host arrays)."""

    xs: np.ndarray  # (D, d, N_pad)
    real: np.ndarray  # (D, N_pad) 1 for real rows
    n: np.ndarray  # (D,)
    words: list  # seed words of each dataset


def _datasets(zs: list[np.ndarray], words: list) -> _Datasets:
    n = np.array([z.shape[0] for z in zs])
    n_pad = _em.pad_length(int(n.max()))
    d = zs[0].shape[1]
    xs = np.zeros((len(zs), d, n_pad), zs[0].dtype)
    real = np.zeros((len(zs), n_pad), zs[0].dtype)
    for i, z in enumerate(zs):
        xs[i, :, : z.shape[0]] = z.T
        real[i, : z.shape[0]] = 1
    return _Datasets(xs, real, n, list(words))


def _select_many(
    data: _Datasets, like_key, o: dict, em_kw: dict, mesh, bar, mi_blocks=None
) -> list:
    """Cross-validated choice of K for every dataset, all datasets batched per K.

    For each K the problems of every dataset still searching (``n_init`` starts x ``n_folds``
    folds each) run as one batched EM call at the capacity of :func:`_cv_capacity`; a
    dataset leaves when its stopping rule fires.

    Capacities ``"steps"`` (1, 2, 3, 4, 6, 8, ...) would mask fewer components (the K = 3 stage
    of a bivariate Gaussian: 7.6-9.5 -> 6.7-7.8 ms), but the training folds are packed
    (:data:`_COMPACT_FOLDS`), so CV programs are never the refit's and every extra capacity is
    an extra compilation: a fresh process estimating cube-transformed data (K* = 5) compiled 16
    programs instead of 13 (10.8 -> 13.6 s).

    Returns per dataset ``(K*, theta_cv, metrics, converged, stall)``; ``stall`` is ``(K,
    gain, MI shift)`` where the search stopped below a stage of stalled fits that a k-means++
    start improves on (:func:`_stall_gains`; the shift None without ``mi_blocks``, the x and y
    columns of an MI), else None.
    """
    d_count, d, n_pad = data.xs.shape
    n_folds, n_init = o["n_folds"], o["n_init"]
    # the fold of every sample (-1: padding); the 0/1 training and held-out weights of a
    # (dataset, fold) are made from it when a chunk needs them (_FoldWeights)
    folds = np.full((d_count, n_pad), -1, np.int8 if n_folds <= 127 else np.int64)
    max_k = []
    for i, n in enumerate(data.n):
        perm = _rng(data.words[i], _TAG_FOLDS).permutation(n)
        folds[i, perm] = np.arange(n) % n_folds
        max_k.append(min(o["max_components"], n - -(-n // n_folds)))
    train = _FoldWeights(folds, n_folds, data.xs.dtype, held_out=False)
    valid = _FoldWeights(folds, n_folds, data.xs.dtype, held_out=True)
    fixed = o["n_components"]
    ks = [fixed] if fixed is not None else range(1, max(max_k) + 1)
    rules = [
        _StopRule(fixed or mk, o["threshold"], o["patience"], o["legacy_patience"]) for mk in max_k
    ]
    thetas: list[dict] = [{} for _ in range(d_count)]
    best_folds: list[dict] = [{} for _ in range(d_count)]  # held-out score per fold, best start
    # where the search may end at a stage of stalled fits (see _stall_gains); with
    # restart_stalled those fits are fitted again instead
    check_stall = fixed is None and o["metric"] == "valid" and not o["restart_stalled"]
    stall: list = [None] * d_count
    # restart_stalled, K searched: each data set's best training fit per fold at the last K
    floors = o["restart_stalled"] and fixed is None
    prev_ll: list = [None] * d_count
    non_gaussian = functools.cache(lambda i: _non_gaussian(data.xs[i], int(data.n[i])))
    xs_dev = jax.device_put(data.xs)  # one transfer (jnp.asarray would compile a copy)
    if _COMPACT_FOLDS:
        # each (dataset, fold)'s training samples packed into a shorter array: EM on a training
        # fold then costs its own length, not the full padded length with zero weights
        xs_fit, s_fit = _training_folds(data, train)
        fit_dev = jax.device_put(xs_fit)
    # one chunk size for every K: the first stage's problem count rounded up to a power of two
    # (later stages hold fewer). A single estimate's 6 fits run in chunks of 8 rows, not 64
    # (bivariate Gaussian, steady: selection 9.7-9.8 -> 8.5-8.9 ms, the same estimates), and
    # a sweep whose stages shrink as datasets stop still compiles one program per capacity.
    cv_kw = dict(em_kw, shrink=False)
    cv_kw["chunk"] = min(em_kw["chunk"], 1 << (d_count * n_init * n_folds - 1).bit_length())
    for k in ks:
        act = [i for i in range(d_count) if not rules[i].done]
        if not act:
            break
        a = len(act)
        kc = _cv_capacity(o["k_cap"], k)
        idx = np.repeat(np.asarray(act, np.int32), n_init * n_folds)
        # row (dataset, fold) of every problem (dataset, start, fold), starts repeating a row
        fold_rows = (
            np.asarray(act, np.int32)[:, None, None] * n_folds
            + np.arange(n_folds, dtype=np.int32)[None, None, :]
            + np.zeros((1, n_init, 1), np.int32)
        ).reshape(-1)
        keys = _keys_from_many(data.words, act, k, n_init, like_key)
        if isinstance(keys, np.ndarray):  # raw words (a, n_init, w)
            keys = np.repeat(keys.reshape(a * n_init, -1), n_folds, axis=0)
        else:
            keys = jnp.repeat(keys.reshape(a * n_init), n_folds, axis=0)
        if _COMPACT_FOLDS:
            fit_args = (fit_dev, fold_rows, _Rows(s_fit, fold_rows))
        else:
            fit_args = (xs_dev, idx, _Rows(train, fold_rows))
        res = _em.solve(
            *fit_args,
            (keys, np.full(idx.shape, k, np.int32)),
            method=o["init"],
            kc=kc,
            mesh=mesh,
            host=True,
            **cv_kw,
        )
        stage = _Stage(fit_args, keys, k, kc, mesh, cv_kw)
        if k > 1 and o["restart_stalled"]:
            floor = None
            if floors:  # per problem (dataset, start, fold): its fold's best at the last K
                floor = np.repeat(np.stack([prev_ll[i] for i in act])[:, None], n_init, 1)
            res = _restart_stalled(res, stage, None if floor is None else floor.reshape(-1))
        if floors:
            lls = np.asarray(res.log_likelihood).reshape(a, n_init, n_folds).max(1)
            for j, i in enumerate(act):
                prev_ll[i] = lls[j]
        s_valid = _Rows(valid, fold_rows)
        failed, gmms = res.failed, res.gmm  # NumPy (host=True)
        scored = gmms
        if k == 1 and len(ks) > 1:  # scored by the K = 2 stage's program (one fewer to compile):
            # a masked single Gaussian has the same log-likelihood to every bit
            scored = _pad_components(gmms, _cv_capacity(o["k_cap"], 2))
        scores = _score_padded(scored, xs_dev, idx, s_valid, em_kw["chunk"])
        scores = np.where(failed, -np.inf, scores).reshape(a, n_init, n_folds)
        metrics, chosen, picked, starts = [], [], [], []
        for j in range(a):
            r_best = int(np.argmax(scores[j].mean(1)))
            f_best = int(np.argmax(scores[j, r_best]))
            starts.append((j * n_init + r_best) * n_folds)  # row of the best start's fold 0
            chosen.append(_take(gmms, starts[-1] + f_best))
            metrics.append(float(scores[j, r_best].mean()))
            picked.append(scores[j, r_best])
        if o["metric"] != "valid":
            full = _refit_full(xs_dev, data, act, chosen, kc, mesh, em_kw)
            lls = np.asarray(full.log_likelihood)
            pen = 2.0 if o["metric"] == "aic" else None
            for j, i in enumerate(act):
                n = int(data.n[i])
                penalty = pen if pen is not None else math.log(n)
                metrics[j] = 2 * n * float(lls[j]) - penalty * _n_params(k, d)
        if check_stall and k > 1:
            ref = [best_folds[i][rules[i].best_k] for i in act]
            moved = None
            if mi_blocks is not None:

                def moved(i, g):
                    n = int(data.n[i])  # every ceil(n / 2,048)-th point (about 2 ms a call)
                    z = data.xs[i][:, : n : -(-n // _PLUGIN_POINTS)]
                    was = _plugin_mi(thetas[i][rules[i].best_k], z, mi_blocks)
                    return abs(_plugin_mi(g, z, mi_blocks) - was)

            gains = _stall_gains(
                non_gaussian,
                act,
                rules,
                np.asarray(starts),
                picked,
                ref,
                res,
                stage,
                (xs_dev, idx, s_valid, em_kw["chunk"]),
                moved,
            )
            for i, (gain, shift) in gains.items():
                stall[i] = (k, gain, shift)
        for j, i in enumerate(act):
            thetas[i][k] = chosen[j]
            best_folds[i][k] = picked[j]
            rules[i].update(k, metrics[j])
        if bar is not None:
            bar.update(note=f"choosing K: K={k}, {a} of {d_count} dataset(s) searching")
    out = []
    for i, rule in enumerate(rules):
        if not np.isfinite(np.max(rule.scores)):
            raise ValueError("x: every cross-validation fit failed; increase reg_covar")
        k_star = rule.result if fixed is None else fixed
        conv = rule.stopped if fixed is None else True
        gain = stall[i] if stall[i] is not None and stall[i][0] > k_star else None
        out.append((k_star, thetas[i][k_star], np.array(rule.scores), conv, gain))
    return out


#: a fit whose every component is within this KL divergence (nats) of the single Gaussian with
#: the mixture's mean and covariance has stayed at the start of random responsibilities
_STALLED_KL = 1e-2
#: the start of a stalled fit's second attempt (:func:`_restart_stalled`)
_RESTART_INIT = "kmeans++"


def _stalled(gmms: GMM) -> np.ndarray:
    """``(P,)``: the fit's active components are all nearly the same Gaussian.

    Each component's KL divergence from the moment-matched single Gaussian of its mixture is
    at most :data:`_STALLED_KL`. Random responsibilities start every component at the global
    mean and covariance, up to O(1/N) (KL about 0.4 / N for two components), a stationary point
    of EM whose escape direction is flat to second order: fits that left it ended 0.016-10
    nats from it, fits that stayed 5e-6 to 1.2e-3 (Gaussian, cube-root and cube-transformed
    pairs, N = 50 to 20,000, K = 2 and 3).
    """
    w = np.asarray(gmms.weights, np.float64) * np.asarray(gmms.active)
    m = np.asarray(gmms.means, np.float64)
    cov = np.asarray(gmms.covariances, np.float64)
    d = m.shape[-1]
    mu = np.einsum("pk,pkd->pd", w, m)
    dm = m - mu[:, None]
    pooled = np.einsum("pk,pkij->pij", w, cov + dm[..., :, None] * dm[..., None, :])
    with np.errstate(all="ignore"):
        inv = np.linalg.inv(pooled)
        kl = 0.5 * (
            np.einsum("pij,pkji->pk", inv, cov)
            + np.einsum("pki,pij,pkj->pk", dm, inv, dm)
            - d
            + np.linalg.slogdet(pooled)[1][:, None]
            - np.linalg.slogdet(cov)[1]
        )
    kl = np.where(np.asarray(gmms.active), kl, 0.0)
    return np.all(np.isfinite(kl), axis=1) & (np.max(kl, axis=1) <= _STALLED_KL)


def _refit(res, rows: np.ndarray, stage: _Stage):
    """Rows ``rows`` of a CV stage fitted again from :data:`_RESTART_INIT` seeding.

    The same training folds and keys, in the stage's EM program. Returns ``(again, better)``:
    the refits, and where a refit did not fail and has a higher training log-likelihood than
    the stage's fit ``res``.
    """
    xs, index, weights = stage.fit_args
    again = _em.solve(
        xs,
        index[rows],
        weights[rows],
        (stage.keys[rows], np.full(rows.shape, stage.k, np.int32)),
        method=_RESTART_INIT,
        kc=stage.kc,
        mesh=stage.mesh,
        host=True,
        **stage.cv_kw,
    )
    better = ~np.asarray(again.failed) & (
        np.asarray(again.log_likelihood) > np.asarray(res.log_likelihood)[rows]
    )
    return again, better


def _restart_stalled(res, stage: _Stage, floor: np.ndarray | None = None):
    """Fit the stalled problems of a CV stage again from k-means++ seeding; keep the better.

    Random responsibilities (the reference's start) put every component at the global mean.
    With many samples EM stops there within 2 iterations on data it should split: a cube root
    of a correlated Gaussian (a bimodal marginal) gained 0.57 nats/sample from K = 2 when
    started by k-means++ and nothing from random responsibilities at N = 20,000, so K* = 1
    and an MI of 0.185 nats against the truth 0.223 (the reference 0.8.2 reports the same).
    A fit that ended where it started (:func:`_stalled`) is therefore fitted again on the same
    training fold from :data:`_RESTART_INIT` seeding with the same key, and the fit with the
    higher training log-likelihood is kept. It runs in the stage's EM program.

    ``floor (P,)``: the highest training log-likelihood (nats/sample) of the stage before on
    each problem's training fold. K components can always do as well as K - 1 (one weight at
    zero), so a fit below it ended at a poor local optimum, and is fitted again the same way.
    Such fits, at every start of a K, ended the search there: the sine of a uniform angle
    (plus noise) against the angle read 0.52-0.65 nats at K* = 2-3 instead of 1.15, and bmi's
    ``1v1-AI`` 0.117 at K* = 2 for one of three keys instead of 0.78 (N = 5,000 and 2,000).
    """
    redo = _stalled(res.gmm)
    if floor is not None:
        redo |= np.asarray(res.log_likelihood) < floor
    redo = np.flatnonzero(redo & ~np.asarray(res.failed))
    if redo.size == 0:
        return res
    again, better = _refit(res, redo, stage)
    if not better.any():
        return res
    rows, src = redo[better], np.flatnonzero(better)

    def put(a, b):
        a = np.array(a)
        a[rows] = np.asarray(b)[src]
        return a

    return jax.tree.map(put, res, again)  # both from named starts at the same capacity


#: the search stopped below a stage whose every fit stalled, and a k-means++ start at that stage
#: scores more than this (nats/sample, held out) above the chosen K: warn (:func:`_stall_gains`)
_STALL_GAIN = 1e-2
#: for an MI, the refit must also move the plug-in MI (:func:`_plugin_mi`) by more than this
#: (nats) from that of the chosen K
_STALL_MI = 1e-2
#: the most points :func:`_plugin_mi` reads (a comparison of two fits on the same points)
_PLUGIN_POINTS = 2048
#: the most EM iterations of that k-means++ start (a check, not the estimate: 30 instead of
#: 100 took the 10 x 10 benchmark's check from 0.45 to 0.34 s and two clusters 2 sigma apart
#: from held-out gains of 0.029-0.039 to 0.023-0.029 nats/sample)
_STALL_MAX_ITER = 30
#: the Jarque-Bera statistic above which a direction of the data is not Gaussian (the 0.999
#: quantile of chi-square with 2 degrees of freedom)
_NON_GAUSSIAN_JB = 13.8


def _non_gaussian(xt: np.ndarray, n: int) -> bool:
    """Whether ``xt (d, N_pad)`` (its first ``n`` samples) is far from Gaussian in some direction.

    Skewness and excess kurtosis along each coordinate and each principal axis, combined as
    the Jarque-Bera statistic ``n/6 (S^2 + K^2/4)`` (about chi-square(2) for Gaussian data); a
    direction above :data:`_NON_GAUSSIAN_JB` counts. Two clusters 3 sigma apart in x gave
    excess kurtosis -0.96 along x (statistic 77 at n = 2,000).
    """
    z = np.asarray(xt[:, :n], np.float64)
    z = z - z.mean(1, keepdims=True)
    d = z.shape[0]
    axes = np.linalg.eigh(z @ z.T / n)[1]
    p = np.concatenate([np.eye(d), axes.T]) @ z  # (2d, n)
    p2 = p * p
    with np.errstate(all="ignore"):
        var = p2.mean(1)
        skew = (p2 * p).mean(1) / var**1.5
        kurt = (p2 * p2).mean(1) / var**2 - 3
        jb = n / 6 * (skew**2 + kurt**2 / 4)
    return bool(np.any(jb > _NON_GAUSSIAN_JB))


def _plugin_mi(g: GMM, z: np.ndarray, blocks: tuple) -> float:
    """Mean of ``log p(x, y) - log p(x) - log p(y)`` under the mixture ``g`` over points ``z``.

    ``z``: ``(d, n)`` host array; ``blocks``: the columns of x and of y. A cheap read of a
    mixture's MI (float64, NumPy) for comparing two fits on the same data, not an estimate.
    """
    act = np.asarray(g.active, bool)
    w = np.asarray(g.weights, np.float64)[act]
    mu = np.asarray(g.means, np.float64)[act]
    cov = np.asarray(g.covariances, np.float64)[act]
    z = np.asarray(z, np.float64)

    def log_density(cols):
        c = list(cols)
        chol = np.linalg.cholesky(cov[:, c][:, :, c])
        sol = np.linalg.solve(chol, z[c][None] - mu[:, c, None])  # (K, dc, n)
        logdet = np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        lj = np.log(w)[:, None] - 0.5 * np.sum(sol**2, 1) - logdet[:, None]
        lj -= 0.5 * len(c) * np.log(2 * np.pi)
        top = lj.max(0)
        return top + np.log(np.exp(lj - top).sum(0))

    x, y = blocks
    return float(np.mean(log_density(x + y) - log_density(x) - log_density(y)))


def _stall_gains(
    non_gaussian,
    act,
    rules,
    starts,
    picked,
    ref,
    res,
    stage,
    score,
    moved,
) -> dict:
    """Datasets whose search a stage of stalled fits may end too early.

    Returns ``{dataset: (gain, shift)}``, ``shift`` None where ``moved`` is None.

    A dataset is checked when its stage-``k`` score does not improve on the best so far (the
    stopping rule counts a failure; with ``patience=1`` the search ends), a fold of the start
    that defines that score stalled (:func:`_stalled`), and its data are not Gaussian
    (``non_gaussian(dataset)``, :func:`_non_gaussian`; a Gaussian is what a stalled fit
    describes). Each such fold is then fitted again from :data:`_RESTART_INIT` seeding in the
    stage's EM program (at most :data:`_STALL_MAX_ITER` iterations), and replaces the stalled
    fit if its training log-likelihood is higher, as ``restart_stalled=True`` would. ``gain``
    is the largest over those folds of the fold's held-out score minus the score of the best K
    so far on the same fold (nats/sample; one k-means++ start per fold can miss: a single fold
    gained 0.0007 where the other gained 0.15), reported where it exceeds
    :data:`_STALL_GAIN`. Measured at N = 2,000 and 20,000 (keys 0-2): 0.023-0.032 on two
    clusters 2 sigma apart, 0.13-0.16 at 3 sigma, 0.56-0.61 on the cube root of a correlated
    Gaussian.

    ``starts``: per dataset of ``act``, the stage's row of fold 0 of its best start (the start
    with the best mean held-out score; its folds follow it); ``picked``: that start's held-out
    scores ``(n_folds,)``; ``ref``: the held-out scores ``(n_folds,)`` of the best K so far;
    ``score``: ``(xs_dev, idx, s_valid, chunk)``, the arguments of the stage's held-out scores,
    row for row;
    ``res``, ``stage``: the stage's EM results and arguments (as for :func:`_restart_stalled`);
    ``moved``: None, or for an MI
    ``(dataset, refitted GMM) -> nats``, how far the refit's MI lies from that of the best K so
    far (:func:`_plugin_mi`): then only a gain whose refit moves the MI by more than
    :data:`_STALL_MI` is reported. Independent variables with flat marginals gain as much as
    dependent ones (0.02-0.14 against 0.08-0.23 nats/sample on the 10 x 10 benchmark) but their
    refits keep an MI near 0.
    """
    n_folds = len(picked[0])
    cand = [
        j
        for j, i in enumerate(act)
        if rules[i].counter == 0
        and picked[j].mean() - rules[i].best <= rules[i].threshold
        and non_gaussian(i)
    ]
    if not cand:
        return {}
    rows = (starts[cand][:, None] + np.arange(n_folds)).reshape(-1)
    gmms = jax.tree.map(lambda t: np.asarray(t)[rows], res.gmm)
    stalled = (_stalled(gmms) & ~np.asarray(res.failed)[rows]).reshape(len(cand), n_folds)
    where = [(j, f) for c, j in enumerate(cand) for f in np.flatnonzero(stalled[c])]
    if not where:
        return {}
    rows = np.array([starts[j] + f for j, f in where])
    capped = dict(stage.cv_kw, max_iter=min(stage.cv_kw["max_iter"], _STALL_MAX_ITER))
    again, better = _refit(res, rows, stage._replace(cv_kw=capped))
    xs_dev, idx, s_valid, chunk = score
    new = _score_padded(again.gmm, xs_dev, idx[rows], s_valid[rows], chunk)
    best: dict = {}  # a refit that is not better is not kept, so it gains nothing
    for r in np.flatnonzero(better):
        j, f = where[r]
        gain = float(new[r] - ref[j][f])
        if gain > max(_STALL_GAIN, best.get(act[j], (-np.inf,))[0]):
            best[act[j]] = (gain, r)
    out = {}
    for i, (gain, r) in best.items():
        shift = None if moved is None else moved(i, _take(again.gmm, r))
        if shift is None or shift > _STALL_MI:
            out[i] = (gain, shift)
    return out


def _cv_capacity(k_cap: Any, k: int) -> int:
    """Capacity of the cross-validation fits at K = ``k``: ``k_cap``, but 4 for K = 2.

    Under the default ``k_cap="bucket"`` (powers of two) the K = 2 stage runs at capacity 4 and
    shares the compiled EM program of K = 3 and 4. Masked components change a fit by float32
    rounding at most (``tests/gmm/test_em.py::test_masked_capacity_gives_the_same_fit``), so
    this saves a compilation: a fresh process's first estimate took 5.4-6.2 s instead of
    6.9-7.9 s for a bivariate Gaussian and 6.6-7.6 s instead of 8.4-9.3 s for the cube
    transform (N = 2,000, interleaved runs, the same estimates to every bit). The K = 2 stage
    costs more per EM step: about 0.4 ms per single estimate, and 3% of a steady 10 x 10
    pairwise matrix at N = 5,000 (4.14-4.28 s -> 4.32-4.52 s, interleaved), whose 100 pairs
    keep the same K* and MI to every bit. Pairwise entries and single calls keep the same
    capacities.
    """
    if k_cap == "bucket" and k == 2:
        return 4
    return resolve_capacity(k_cap, k)


def _fit_capacity(k: int) -> int:
    """Capacity of the refit, bootstrap and integral after selection: 1, 2, 3, 4, 6, 8, 12, ...

    Powers of two and 1.5x them (``k_cap="steps"``): fewer than 1.5x the active components, at
    most 1.33x up to K = 16 (the power-of-two bucket wastes up to 2x: K* = 5 at capacity 8 cost
    1.9x in an A/B run on gamma-exp), while a pairwise matrix whose pairs select many different
    K* compiles few programs.
    """
    return resolve_capacity("steps", k)


#: pack training folds (see :func:`_training_folds`); False fits on the full padded arrays
_COMPACT_FOLDS = True


def _training_folds(data: _Datasets, train: _FoldWeights) -> tuple[np.ndarray, np.ndarray]:
    """The training samples of every (dataset, fold), packed: ``(D * F, d, M_pad)``, weights.

    Row ``i * F + f`` holds dataset ``i``'s samples outside fold ``f``, in their order, padded
    to the bucket length of the largest training fold (:func:`jaxmi.gmm._em.pad_length`).
    """
    d_count, n_folds = data.xs.shape[0], train.n_folds
    per_fold = np.stack([np.sum(train.folds == f, axis=1) for f in range(n_folds)], axis=1)
    counts = data.n[:, None].astype(np.int64) - per_fold  # (D, F): samples outside fold f
    m_pad = _em.pad_length(int(counts.max()))
    xs = np.zeros((d_count * n_folds, data.xs.shape[1], m_pad), data.xs.dtype)
    real = np.zeros((d_count * n_folds, m_pad), data.xs.dtype)
    for i in range(d_count):
        for f in range(n_folds):
            keep = train.keep(i * n_folds + f)
            c = int(counts[i, f])
            xs[i * n_folds + f, :, :c] = data.xs[i][:, keep]
            real[i * n_folds + f, :c] = 1
    return xs, real


def _wrap_like(data: np.ndarray, like_key) -> Any:
    """Key data as keys of ``like_key``'s implementation.

    For the default implementation the raw ``uint32`` words are returned (NumPy): the programs
    wrap them (:func:`jaxmi.gmm._em.as_keys`), so indexing and padding them on the way run no
    device programs.
    """
    impl = jax.random.key_impl(like_key)
    if str(impl) == jax.config.jax_default_prng_impl:
        return data
    return jax.random.wrap_key_data(data, impl=impl)


def _keys_from_many(words: list, act: list, k: int, n_init: int, like_key) -> Any:
    """Init keys ``(A, n_init)`` for candidate K = ``k`` of the datasets ``act``."""
    n_words = np.asarray(jax.random.key_data(like_key)).size
    data = np.stack(
        [
            _rng(words[i], _TAG_INIT, k)
            .integers(0, 1 << 32, size=(n_init, n_words), dtype=np.uint64)
            .astype(np.uint32)
            for i in act
        ]
    )
    return _wrap_like(data, like_key)


def _refit_full(xs_dev, data: _Datasets, members: list, starts: list, kc: int, mesh, em_kw):
    """EM on all of each dataset ``members[j]`` from ``starts[j]`` (host :class:`EMResult`)."""
    return _em.solve(
        xs_dev,
        np.asarray(members, np.int32),
        data.real[members],
        jax.tree.map(lambda *t: np.stack(t), *starts),
        method="given",
        kc=kc,
        mesh=mesh,
        host=True,
        **em_kw,
    )


def _same_on_every_process(data: _Datasets, o: dict) -> None:
    """Raise unless every process of a multi-process mesh passed the same data, key and options.

    With ``jax.distributed`` each process runs the same call and the mesh splits the work; a
    process holding other data (or another key) would silently mix two problems.
    """
    import hashlib

    from jax.experimental import multihost_utils

    h = hashlib.sha256(np.ascontiguousarray(data.xs).tobytes())
    same = sorted((k, repr(v)) for k, v in o.items() if k not in ("mesh", "progress"))
    h.update(repr((data.words, same)).encode())
    digest = np.frombuffer(h.digest()[:8], np.int64)
    every = np.asarray(multihost_utils.process_allgather(digest))
    if not np.all(every == every[0]):
        raise ValueError(
            "mesh: the mesh spans several processes, and they passed different data, key or "
            "options; with jax.distributed every process must make the same call"
        )


# host bytes each bootstrap replicate holds until the result is built, beyond its mixture's
# parameters (start, fit and integral copies: 4x): EM diagnostics, counts, values. Measured
# 2026-11-24 (peak RSS, 2e4 against 2e5 replicates, N = 300, 2-D): 630 B per replicate at
# K = 1 and 980 B at K = 3
_REPLICATE_BYTES = 512
_REPLICATE_PARAM_COPIES = 4


def _size(n_bytes: float) -> str:
    """``n_bytes`` in MiB or GiB, e.g. ``'581 GiB'``."""
    unit, scale = ("GiB", 2**30) if n_bytes >= 2**30 else ("MiB", 2**20)
    v = n_bytes / scale
    return f"{v:,.0f} {unit}" if v >= 100 else f"{v:.3g} {unit}"


def _check_replicates_fit_in_memory(data: _Datasets, o: dict, mesh=None) -> None:
    """A ``ValueError`` when the replicates' results cannot fit in the host's free memory.

    The data's resampling counts are drawn in chunks, so their memory is bounded; what grows
    with ``n_bootstrap`` is what every replicate returns (its mixture, diagnostics and value).
    Checked at the least capacity the fits can have (``n_components``, else 1) before any
    fit, so a request of, say, 1e9 replicates fails at once instead of being killed by the
    operating system after the selection. Every process of a multi-host mesh holds the whole
    result: they check against the least free memory among them, so all raise or none does.
    """
    b = o["n_bootstrap"]
    if not b:
        return
    free = available_memory()
    if mesh is not None and mesh.is_multi_process:
        from jax.experimental import multihost_utils

        mine = np.array([-1 if free is None else free], np.int64)
        every = np.asarray(multihost_utils.process_allgather(mine))
        free = None if np.any(every < 0) else int(every.min())
    if free is None:
        return
    n_sets, d = data.xs.shape[0], data.xs.shape[1]
    k = o["n_components"] or 1
    params = k * (1 + d + d * d) * data.xs.dtype.itemsize
    need = n_sets * b * (_REPLICATE_BYTES + _REPLICATE_PARAM_COPIES * params)
    if need > free:
        sets = f" for each of {n_sets} data sets" if n_sets > 1 else ""
        raise ValueError(
            f"n_bootstrap: {b:,} replicates{sets} need at least {_size(need)} of host memory "
            f"for their fitted mixtures and values, and {_size(free)} are "
            "free; ask for fewer (the standard error of std shrinks as 1/sqrt(2 n_bootstrap): "
            "1,000 replicates already give std to about 2%)"
        )


def _fit_many(
    data: _Datasets, like_key, o: dict, em_kw: dict, mesh=None, bar=None, mi_blocks=None
) -> list[_Fit]:
    """Choose K by CV, refit on all the data and refit bootstrap replicates, for D datasets.

    The replicates of all datasets with the same capacity run as one batched EM call started
    from each dataset's full-data refit (or from the CV fit with ``bootstrap_start="cv"``), at
    fixed K*. Bootstrap counts are drawn per chunk, so only one chunk of ``(chunk, N_pad)``
    weights exists at a time.
    """
    if mesh is not None and mesh.is_multi_process:
        _same_on_every_process(data, o)
    _check_replicates_fit_in_memory(data, o, mesh)
    if o["chunk"] is None:  # fewer problems per chunk for long data (see _em.CHUNK_SAMPLES)
        em_kw = dict(em_kw, chunk=_em.default_chunk(data.xs.shape[-1]))
    sel = _select_many(data, like_key, o, em_kw, mesh, bar, mi_blocks)
    b = o["n_bootstrap"]
    n_pad = data.xs.shape[-1]
    xs_dev = jax.device_put(data.xs)  # one transfer (jnp.asarray would compile a copy)
    fits: list[_Fit | None] = [None] * len(sel)
    # after selection, refit, bootstrap and integrate at a capacity close to K* (masked
    # components cost as much as active ones; see _fit_capacity)
    groups: dict[int, list[int]] = {}
    for i, (k_star, theta, *_) in enumerate(sel):
        kc = min(theta.weights.shape[-1], _fit_capacity(k_star))
        groups.setdefault(kc, []).append(i)
    for kc, members in sorted(groups.items()):
        a = len(members)
        cv = [_cut(sel[i][1], kc) for i in members]
        # the refit (a problems) and the bootstrap (a * b problems) share one compiled program
        p_max = max(a * b, a)
        kw = dict(em_kw, shrink=False)
        kw["chunk"] = max(1, min(kw["chunk"], 1 << max(p_max - 1, 0).bit_length()))
        full = _refit_full(xs_dev, data, members, cv, kc, mesh, kw)
        boot = None
        if b:
            starts = cv if o["bootstrap_start"] == "cv" else [_take(full.gmm, j) for j in range(a)]
            start = jax.tree.map(lambda *t: np.repeat(np.stack(t), b, axis=0), *starts)
            dt = data.xs.dtype

            def counts(lo, hi, members=members, dt=dt, kc=kc, total=a * b, chunk=kw["chunk"]):
                if bar is not None and total > chunk:  # several chunks: how far they got
                    bar.update(0, note=f"bootstrap replicates {hi:,} of {total:,} at capacity {kc}")
                rows = []
                for p in range(lo, hi):
                    i = members[p // b]
                    rows.append(_bootstrap_counts(data.words[i], p % b, int(data.n[i]), n_pad, dt))
                return np.stack(rows)

            boot = _em.solve(
                xs_dev,
                np.repeat(np.asarray(members, np.int32), b),
                counts,
                start,
                method="given",
                kc=kc,
                mesh=mesh,
                host=True,
                **kw,
            )
        for j, i in enumerate(members):
            k_star, _, scores, conv, stall = sel[i]
            rep = (
                None if boot is None else jax.tree.map(lambda x, j=j: x[j * b : (j + 1) * b], boot)
            )
            fits[i] = _Fit(k_star, cv[j], _take(full.gmm, j), rep, scores, conv, stall)
        if bar is not None:
            bar.update(note=f"refit and {b} bootstrap replicates at capacity {kc}")
    return fits


def _integrate_fits(fits: list[_Fit], keys: jax.Array, mesh, **mc) -> list[tuple]:
    """The functional of every dataset's full fit and replicates.

    Returns per dataset ``(vals, ses)`` with the full-data value first. ``keys (D,)``: common
    random numbers within a dataset. Datasets of the same capacity form one batch. Under the
    default rule (``exact``), fits of one component take the closed form
    (:func:`_gaussian_functional`, standard error 0).
    """
    exact = mc.pop("exact", False)
    out: list = [None] * len(fits)
    groups: dict[int, list[int]] = {}
    for i, f in enumerate(fits):
        groups.setdefault(f.full.weights.shape[-1], []).append(i)
    for capacity, members in groups.items():
        gmms = [
            _point_and_replicates(fits[i].full, None if fits[i].boot is None else fits[i].boot.gmm)
            for i in members
        ]
        g_all = jax.tree.map(lambda *t: np.stack(t), *gmms)  # (A, 1 + B, ...)
        if exact and capacity == 1:  # single Gaussians: the closed form, no integral
            vals = _gaussian_functional(g_all, mc["kind"], mc["blocks"])
            ses = np.zeros_like(vals)
        else:
            vals, ses = _integrate(keys[np.asarray(members)], g_all, mesh=mesh, **mc)
        for j, i in enumerate(members):
            out[i] = (vals[j], ses[j])
    return out


def _check_not_constant(sd: np.ndarray, parts: tuple) -> None:
    """A ``ValueError`` naming the constant columns of ``z`` by the argument they came from.

    ``parts``: ``((name, width), ...)``, the arguments whose columns ``z`` stacks in order
    (``(("x", dx), ("y", dy))`` for a joint ``(x, y)``); the message gives each argument's
    own column indices ("y: constant column(s) [0]", not column ``dx`` of the stack).
    """
    if not np.any(sd <= 0):
        return
    msgs, lo = [], 0
    for name, width in parts:
        bad = np.flatnonzero(sd[lo : lo + width] <= 0).tolist()
        if bad:
            msgs.append(f"{name}: constant column(s) {bad}")
        lo += width
    raise ValueError("; ".join(msgs) + ": the density is degenerate")


def _standardize(
    z: np.ndarray, name: str = "x", parts: tuple | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns to zero mean and unit variance (ddof 0): ``(data, mean, scale)``.

    The statistics are taken in float64 (``mean`` and ``scale`` are float64): in float32 the
    sum of squares of values around 1e18 overflows (every column became zeros and the MI 0),
    and that of values around 1e-23 underflows (taken for a constant column); in float64 the
    same happened around 1e160 and 1e-300 (see :func:`jaxmi._validation.scaled_moments`).

    Args:
        z: ``(N, d)`` data.
        name: the argument ``z`` is, for a constant column's error.
        parts: ``((name, width), ...)`` when ``z`` stacks several arguments' columns (see
            :func:`_check_not_constant`); overrides ``name``.
    """
    z64 = z.astype(np.float64)
    mean, sd = scaled_moments(z64)
    _check_not_constant(sd, parts if parts is not None else ((name, z.shape[1]),))
    return ((z64 - mean) / sd).astype(z.dtype), mean, sd


#: what a fit that is mostly regulariser does to each estimated quantity
_REGULARISER_BIAS = {
    "mi": "MI toward 0",
    "entropy": "entropy toward that of the regulariser",
    "kl": "divergence toward 0",
}


def _warn_unstandardized(z: np.ndarray, name: str, o: dict, quantity: str = "mi") -> None:
    """With ``standardize=False``: warn where the data's scale makes the fit silently wrong.

    The warnings point at the user's call. ``quantity`` (``"mi"``, ``"entropy"`` or ``"kl"``)
    names the estimate in the message.

    ``z`` is ``(..., N, d)``. A column whose variance is not well above ``reg_covar`` is fitted
    mostly as regulariser (values ~1e-20 gave MI 0), and values whose squares overflow the
    float dtype's second moments gave a bootstrap std of exactly 0 (values ~1e18 in float32).
    """
    z64 = np.asarray(z, np.float64)
    var = z64.var(axis=-2)
    small = np.unique(np.nonzero(var < 100 * o["reg_covar"])[-1]).tolist()
    if small:
        warnings.warn(
            f"{name}: with standardize=False the variance of column(s) {small} "
            f"({float(np.min(var)):.3g}) is not well above reg_covar ({o['reg_covar']:g}): the "
            "fit is mostly regulariser and the estimate biased "
            f"({_REGULARISER_BIAS[quantity]}); use standardize=True (the default) or a smaller "
            "reg_covar",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )
    big = float(np.max(np.abs(z64))) if z64.size else 0.0
    limit = float(np.finfo(z.dtype).max) / max(z64.shape[-2], 1)
    if big * big > limit / 100:
        warnings.warn(
            f"{name}: with standardize=False values up to {big:.3g} leave too little room in "
            f"{z.dtype} for the fit's second moments (sums of squares over {z64.shape[-2]} "
            "samples); use standardize=True (the default) or float64",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )


#: a component is degenerate when along some direction its variance is at most this many
#: times ``reg_covar`` (the regulariser is at least half of it)
_DEGENERATE_FACTOR = 2.0
#: the least mixture weight in degenerate components that warns (an outlier's own component,
#: 0.2% of the weight, does not move the estimate)
_DEGENERATE_WEIGHT = 0.01


def _degenerate(g: GMM, reg_covar: float) -> tuple[float, float]:
    """``(weight, smallest eigenvalue)`` of the components of ``g`` that are mostly regulariser.

    Host-side check of a full-data fit: weight 0 (and eigenvalue inf) when none is.
    """
    act = np.asarray(g.active, bool)
    cov = np.asarray(g.covariances, np.float64)[act]
    ev = np.linalg.eigvalsh(cov)[:, 0]
    deg = ev <= _DEGENERATE_FACTOR * reg_covar
    if not deg.any():
        return 0.0, math.inf
    return float(np.sum(np.asarray(g.weights, np.float64)[act][deg])), float(np.min(ev[deg]))


def _warn_degenerate(fits: list, labels: list[str], o: dict) -> None:
    """Warn when a full-data fit is mostly regulariser along some direction.

    That happens when the data (after standardisation) vary less than ``reg_covar`` along some
    direction within a component: repeated values, one variable a function of the other
    (x == y: the MI is infinite and the estimate, ~6.6 nats at N = 500, comes from
    ``reg_covar``), or an outlier whose weight in the standard deviation squeezes the other
    points together. One warning names every data set concerned.
    """
    reg = float(o["reg_covar"])
    hits = []
    for fit, label in zip(fits, labels, strict=True):
        weight, ev = _degenerate(fit.full, reg)
        if weight >= _DEGENERATE_WEIGHT:
            hits.append((label, weight, ev))
    if not hits:
        return
    if len(hits) == 1:
        where = hits[0][0]
    else:
        names = ", ".join(h[0] for h in hits[:5]) + (", ..." if len(hits) > 5 else "")
        where = f"{len(hits)} of {len(fits)} data sets ({names})"
    weight = max(h[1] for h in hits)
    ev = min(h[2] for h in hits)
    warnings.warn(
        f"{where}: {weight:.0%} of the fitted mixture's weight is in components whose "
        f"covariance is mostly reg_covar (smallest variance {ev:.3g} against reg_covar "
        f"{reg:g}, in the fit's units): the data hardly vary along some direction, from "
        "repeated values (for a discrete variable use gmm_mi_categorical), a variable that "
        "is a function of the other (infinite MI), or an outlier that squeezes the rest "
        "under standardisation. The estimate then reflects reg_covar more than the data.",
        RuntimeWarning,
        stacklevel=user_stacklevel(),
    )


def _warn_stalled(fits: list, labels: list[str]) -> None:
    """Warn where the choice of K may come from stalled fits (:func:`_stall_gains`).

    One warning names every data set concerned (the first five), with the largest held-out
    gain of the k-means++ refit.
    """
    hits = [(label, f.k, f.stall) for f, label in zip(fits, labels, strict=True) if f.stall]
    if not hits:
        return
    label, k_star, (k, gain, shift) = max(hits, key=lambda h: h[2][1])
    moves = "" if shift is None else f" and moves the fit's MI by {shift:.3g} nats"
    stall = (
        "(their components ended at nearly the data's overall mean and covariance, where "
        "random responsibilities start them)"
    )
    if len(hits) == 1:
        what = (
            f"{label}: the search for the number of components stopped at K = {k_star} because "
            f"cross-validation fits at K = {k} stalled {stall}, yet K = {k} refitted from "
            f"k-means++ scores {gain:.3g} nats/sample higher on the held-out folds{moves}."
        )
    else:
        names = ", ".join(f"{h[0]} (K* = {h[1]})" for h in hits[:5])
        what = (
            f"{len(hits)} of {len(fits)} data sets ({names}{', ...' if len(hits) > 5 else ''}): "
            "the search for the number of components stopped because cross-validation fits at "
            f"the next K stalled {stall}, yet that K refitted from k-means++ scores more than "
            f"{_STALL_GAIN:g} nats/sample higher on the held-out folds (the most: {label}, "
            f"stopped at K = {k_star}, K = {k} by {gain:.3g}{moves})."
        )
    warnings.warn(
        f"{what} The data are not one Gaussian there, and the estimate may be far off: on two "
        "clusters 3 sigma apart (N = 20,000) such a stall gave 0.056 nats against a truth of "
        "0.137. Compare with restart_stalled=True or init='kmeans', which fit such data but can "
        "add about 0.01 nats to independent variables whose marginals are not Gaussian (compare "
        "with a shuffled copy of y there).",
        RuntimeWarning,
        stacklevel=user_stacklevel(),
    )


#: |mi - point| / std above which the bootstrap's own bias is warned about (see below), with
#: at least this many replicates (the ratio of fewer is too noisy to read)
_BIAS_WARN = 1.5
_BIAS_MIN_REPLICATES = 10


def _warn_bootstrap_bias(
    labels: list[str], mi: Any, point: Any, std: Any, n_bootstrap: int
) -> None:
    """Warn where the bootstrap mean lies far from the full-data fit's value.

    ``mi - point`` is the bootstrap's estimate of the estimator's bias at this sample size (the
    replicates' refits against the full fit, as the full fit against the truth). Beyond
    :data:`_BIAS_WARN` standard deviations, ``mi +- 2 std`` covers the truth poorly
    (``benchmarks/gmm_mi_bootstrap_bias.py``, 2026-11-24, defaults):

    * ``gmm_mi_categorical``, 50 classes of ~60 samples (N = 3,000), 20 data sets: median
      ratio 2.08, 19 of 20 above 1.5; ``mi +- 2 std`` covered the truth in 1 of 20 (bias
      +0.057 nats, std 0.013), ``point`` in 6, ``2 point - mi`` in 17 (bias +0.005). Ten classes
      (N = 600 and 3,000): medians 0.71 and 0.26, none above 1.5.
    * Independent Gaussian pairs (``gmm_mi``, N = 2,000), 40 data sets: median 0.64, none
      above 1.5 (near MI = 0 the replicates are skewed, harmlessly).
    * The invariance study (``benchmarks/gmm_mi_accuracy.py``, 500 data sets per cell): one
      data set of 4,500 passed 1.5 (cube-transformed y, N = 200).
    """
    if n_bootstrap < _BIAS_MIN_REPLICATES:
        return
    mi, point, std = (np.asarray(a, np.float64).ravel() for a in (mi, point, std))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((std > 0) & np.isfinite(std), (mi - point) / std, 0.0)
    hits = [i for i in np.argsort(-np.abs(ratio)) if abs(ratio[i]) > _BIAS_WARN]
    if not hits:
        return
    w = hits[0]
    side = "above" if ratio[w] > 0 else "below"
    worst = (
        f"the bootstrap mean (mi = {mi[w]:.4g}) lies {abs(ratio[w]):.1f} std {side} the "
        f"full-data fit's value (point = {point[w]:.4g})"
    )
    if len(hits) == 1:
        what = f"{labels[w]}: {worst}."
    else:
        names = ", ".join(labels[i] for i in hits[:5])
        what = (
            f"{len(hits)} of {len(labels)} estimates ({names}{', ...' if len(hits) > 5 else ''}): "
            f"the bootstrap mean lies more than {_BIAS_WARN:g} std from the full-data fit's "
            f"value (the most: {labels[w]}, where {worst})."
        )
    warnings.warn(
        f"{what} Refits of resampled data differ from the full fit by about that much (too few "
        "samples per component or per class: duplicated rows look like structure), so the full "
        "fit likely differs from the truth the same way and mi +- 2 std covers it poorly. "
        "The bias-corrected 2 * point - mi, or more samples, is safer there.",
        RuntimeWarning,
        stacklevel=user_stacklevel(),
    )


def _warn_results_bias(labels: list[str], results: list) -> None:
    """:func:`_warn_bootstrap_bias` over results with ``mi``, ``point`` and ``std``."""
    if results and results[0].std is not None:
        values = ([getattr(r, f) for r in results] for f in ("mi", "point", "std"))
        _warn_bootstrap_bias(labels, *values, n_bootstrap=results[0].samples.shape[0])


def _warn_fits(fits: list, labels: list[str], o: dict) -> None:
    """The warnings on fitted data sets: mostly regulariser, K chosen by stalled fits."""
    _warn_degenerate(fits, labels, o)
    _warn_stalled(fits, labels)


def _mc_keys(words: list, like_key) -> Any:
    """One integration key per dataset ``(D,)``."""
    n_words = np.asarray(jax.random.key_data(like_key)).size
    data = np.stack(
        [
            _rng(w, _TAG_MC).integers(0, 1 << 32, size=n_words, dtype=np.uint64).astype(np.uint32)
            for w in words
        ]
    )
    return _wrap_like(data, like_key)


def _result(fit: _Fit, vals, ses, scale: float, shift: float, dt, *, device=True) -> MIResult:
    """One dataset's :class:`MIResult` from its fit and integrated values (full fit first).

    Built in NumPy and put on the device in one transfer (no small device programs);
    ``device=False`` keeps the NumPy arrays, for callers that read or stack them on the host.
    """
    point = np.asarray((vals[0] + shift) * scale, dt)
    common = dict(
        point=point,
        point_stderr=np.asarray(ses[0] * scale, dt),
        n_components=np.asarray(fit.k),
        cv_scores=np.asarray(fit.scores),
        selection_converged=np.asarray(fit.converged),
    )
    if fit.boot is None:
        fields = dict(
            mi=point,
            std=None,
            samples=np.zeros((0,), dt),
            n_iter=np.zeros((0,), np.int32),
            converged=np.zeros((0,), bool),
        )
    else:
        reps = ((vals[1:] + shift) * scale).astype(dt)
        std = np.std(reps, ddof=1, dtype=np.float64) if reps.shape[0] > 1 else None
        fields = dict(
            mi=np.asarray(np.mean(reps, dtype=np.float64), dt),
            std=None if std is None else np.asarray(std, dt),
            samples=reps,
            n_iter=np.asarray(fit.boot.n_iter),
            converged=np.asarray(fit.boot.converged),
        )
    out = {**fields, **common}
    return MIResult(**(jax.device_put(out) if device else out))


#: what heavy-tailed columns did to GMM-MI (``benchmarks/gmm_mi_marginals.py``, N = 2,000)
_HEAVY_TAILS = (
    "A mixture spends many components on such tails, and the mixture of a product of such "
    "marginals does not factorise: independent Cauchy pairs (N = 2,000) read 0.075 nats on "
    "average, a median 6.9 std above 0, and a Gaussian pair with x mapped to a Cauchy marginal "
    "was 42 std below its MI once."
)


def _check_tails(parts: list[tuple[str, np.ndarray]], o: dict) -> None:
    """Warn of heavy-tailed columns (the data's own marginals only)."""
    if o["marginals"] == "data":
        warn_heavy_tails(parts, _HEAVY_TAILS)


def _estimate(
    key, z: np.ndarray, kind: str, blocks: tuple, options: dict, log_scale: float = 0.0
) -> MIResult:
    """One estimate of ``kind`` on ``z``; ``log_scale``: nats added to an entropy."""
    key = _concrete_key(key)
    n = z.shape[0]
    names = ("x", "y", "z")[: len(blocks)] if kind != "entropy" else ("x",)
    o = _resolve_options(options, n, z.shape[1], ", ".join(names))
    mesh = o["mesh"]
    dt = z.dtype
    name = ", ".join(names)
    if kind not in ("mi", "cmi"):
        refuse_for(o["marginals"], "an entropy" if kind == "entropy" else "a KL divergence")
    else:
        _check_tails([(nm, z[:, list(b)]) for nm, b in zip(names, blocks, strict=True)], o)
    if o["standardize"]:
        parts = (
            ((names[0], z.shape[1]),)
            if kind == "entropy"
            else tuple((nm, len(b)) for nm, b in zip(names, blocks, strict=True))
        )
        z, _, sd = _standardize(z, parts=parts)
        if kind == "entropy":
            log_scale += float(np.sum(np.log(sd.astype(np.float64))[list(blocks[0])]))
    else:
        quantity = "entropy" if kind == "entropy" else "kl" if kind.startswith("kl") else "mi"
        _warn_unstandardized(z, name, o, quantity=quantity)
    words = [_key_words(key)]
    bar = Progress(None, "GMM-MI", enabled=o["progress"])
    with bar:
        mi_blocks = blocks if kind == "mi" else None
        (fit,) = _fit_many(
            _datasets([z], words), key, o, _em_settings(o, dt), mesh, bar, mi_blocks=mi_blocks
        )
        _warn_fits([fit], [name], o)
        mc = dict(_integral_settings(o, z.shape[1]), kind=kind, blocks=blocks)
        ((vals, ses),) = _integrate_fits([fit], _mc_keys(words, key), mesh, **mc)
    scale = 1.0 / math.log(o["base"]) if o["base"] is not None else 1.0
    result = _result(fit, vals, ses, scale, log_scale, dt)
    _warn_results_bias([name], [result])
    return result


_DEFAULTS = dict(
    n_init=3,
    n_folds=2,
    max_components=50,
    threshold=1e-5,
    patience=1,
    metric="valid",
    n_components=None,
    n_bootstrap=50,
    mc_samples=None,  # None: MC_SAMPLES where the integral is plain Monte Carlo
    integral="auto",
    rqmc_points="auto",
    tol=1e-5,
    max_iter=10_000,
    reg_covar=1e-6,
    init="random_responsibilities",
    standardize=True,
    marginals="data",
    bootstrap_start="full",
    base=None,
    k_cap="bucket",
    strategy=None,
    batch_size=None,
    chunk=None,
    progress=False,
    legacy_patience=False,
    restart_stalled=False,
    mesh=None,
)


#: plain Monte Carlo draws when ``mc_samples`` is not given (the reference's ``MC_samples``)
MC_SAMPLES = 100_000


def _mc_samples(o: dict) -> int:
    return MC_SAMPLES if o["mc_samples"] is None else o["mc_samples"]


def _integral_settings(o: dict, d: int, default_points: Any = None) -> dict:
    """The integration rule for dimension ``d``: RQMC up to its validated dimension (6), else MC.

    ``integral="auto"`` (default) picks RQMC where it is validated: per-component scrambled
    Sobol' points matched or beat 1e5 plain MC draws on every high-precision truth task (RMSE
    <= 0.75x MC-1e5 at the default points; ``benchmarks/gmm_mi_integral.py``).
    ``default_points(d)``: the points for ``rqmc_points="auto"`` (default
    :func:`jaxmi.gmm._integrate.default_points`). ``exact``: the rule is the default one (no
    rule or point count asked for), under which single-Gaussian fits take their closed form
    (:func:`_gaussian_functional`).
    """
    default_points = default_points or _integrate_mod.default_points
    rule = o["integral"]
    if rule == "auto":
        rule = "rqmc" if d <= _integrate_mod.RQMC_MAX_DIM else "mc"
    if rule == "rqmc":
        if d > _integrate_mod.RQMC_MAX_DIM:
            raise ValueError(
                f"integral: 'rqmc' is validated up to {_integrate_mod.RQMC_MAX_DIM} dimensions, "
                f"the data have {d}; use 'mc'"
            )
        n = o["rqmc_points"]
        n = default_points(d) if n == "auto" else n
        return dict(rule="rqmc", n_samples=n, exact=o["integral"] == "auto")
    return dict(rule="mc", n_samples=_mc_samples(o), exact=o["integral"] == "auto")


#: the reference's (gmm-mi 0.8.2) names of the options, for a hint when one is passed here
_REFERENCE_NAMES = {
    "n_inits": "n_init",
    "threshold_components": "threshold",
    "threshold_fit": "tol",
    "fixed_components_number": "n_components",
    "MC_samples": "mc_samples",
    "init_type": "init",
}


def _unknown_option(name: str) -> str:
    """``"name"`` with a hint: the jaxmi name of a reference option, or close matches."""
    if name in _REFERENCE_NAMES:
        return f"{name} (gmm-mi's name; jaxmi's is {_REFERENCE_NAMES[name]})"
    close = difflib.get_close_matches(name, list(_DEFAULTS), n=2, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(name.lower(), list(_DEFAULTS), n=2, cutoff=0.6)
    return f"{name} (did you mean {' or '.join(close)}?)" if close else name


def _checked_options(options: dict) -> dict:
    """The options with defaults filled in and every value checked (sizes aside)."""
    unknown = set(options) - set(_DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown option(s): {', '.join(_unknown_option(u) for u in sorted(unknown))}"
        )
    o = {**_DEFAULTS, **options}
    for name in ("standardize", "progress", "legacy_patience", "restart_stalled"):
        o[name] = check_bool(o[name], name)
    o["n_init"] = check_int(o["n_init"], "n_init", minimum=1)
    o["n_folds"] = check_int(o["n_folds"], "n_folds", minimum=2)
    o["max_components"] = check_int(o["max_components"], "max_components", minimum=1)
    o["patience"] = check_int(o["patience"], "patience", minimum=1)
    o["n_bootstrap"] = check_int(o["n_bootstrap"], "n_bootstrap", minimum=0)
    if o["mc_samples"] is not None:
        o["mc_samples"] = check_int(o["mc_samples"], "mc_samples", minimum=2)
    if not (isinstance(o["rqmc_points"], str) and o["rqmc_points"] == "auto"):
        o["rqmc_points"] = check_int(o["rqmc_points"], "rqmc_points", minimum=16)
    if o["rqmc_points"] != "auto" and o["rqmc_points"] % _integrate_mod.DEFAULT_SHIFTS:
        raise ValueError(
            f"rqmc_points: must be a multiple of {_integrate_mod.DEFAULT_SHIFTS} (the number of "
            f"randomisations), got {o['rqmc_points']}"
        )
    o["marginals"] = check_marginals(o["marginals"])
    if o["integral"] not in ("auto", "mc", "rqmc"):
        raise ValueError(f"integral: expected 'auto', 'mc' or 'rqmc', got {o['integral']!r}")
    # a given point count names its rule ("auto" would otherwise ignore one of them silently);
    # the defaults are markers (None, "auto"), so a resolved dict passed again stays the same
    given = [k for k, unset in (("mc_samples", None), ("rqmc_points", "auto")) if o[k] != unset]
    if len(given) == 2:
        raise ValueError(
            "mc_samples, rqmc_points: give one (mc_samples for plain Monte Carlo, rqmc_points "
            "for RQMC)"
        )
    if given:
        rule = "mc" if given[0] == "mc_samples" else "rqmc"
        if o["integral"] == "auto":
            o["integral"] = rule
        elif o["integral"] != rule:
            raise ValueError(
                f"{given[0]}: sets the points of integral={rule!r}, but integral="
                f"{o['integral']!r} was asked for"
            )
    o["max_iter"] = check_int(o["max_iter"], "max_iter", minimum=1)
    # a negative threshold counts a worse score as an improvement: the search then runs to
    # max_components and overfits (0.99 nats for a 0.35-nat pair at N = 300)
    o["threshold"] = check_finite_scalar(o["threshold"], "threshold", nonnegative=True)
    o["tol"] = check_finite_scalar(o["tol"], "tol", positive=True)
    o["reg_covar"] = check_finite_scalar(o["reg_covar"], "reg_covar", nonnegative=True)
    if o["metric"] not in ("valid", "aic", "bic"):
        raise ValueError(f"metric: expected 'valid', 'aic' or 'bic', got {o['metric']!r}")
    if o["bootstrap_start"] not in ("full", "cv"):
        raise ValueError(f"bootstrap_start: expected 'full' or 'cv', got {o['bootstrap_start']!r}")
    o["init"] = _init.check_method(o["init"])
    if o["n_components"] is not None:
        o["n_components"] = check_int(o["n_components"], "n_components", minimum=1)
    if o["base"] is not None:
        o["base"] = check_finite_scalar(o["base"], "base", positive=True)
        if o["base"] == 1:
            raise ValueError("base: must not be 1")
    if o["mesh"] is not None and not isinstance(o["mesh"], jax.sharding.Mesh):
        raise ValueError(
            f"mesh: expected a jax.sharding.Mesh or None, got {type(o['mesh']).__name__}"
        )
    if o["strategy"] not in (None, "map", "vmap", "queue"):
        raise ValueError(f"strategy: expected 'map', 'vmap' or 'queue', got {o['strategy']!r}")
    return o


def _resolve_options(options: dict, n: int, d: int = 1, name: str = "x") -> dict:
    """:func:`_checked_options`, and the sizes checked for ``n`` samples in ``d`` dimensions.

    ``name``: the argument(s) that hold the samples, for the error message.
    """
    o = _checked_options(options)
    n_train = n - -(-n // o["n_folds"])  # the smallest training part of a fold
    k_min = o["n_components"] or 1
    # a full covariance in d dimensions needs d + 1 points (a simplex) per component: with
    # fewer, the fit is reg_covar alone and the MI meaningless (3 points gave 5.9 nats)
    per = d + 1
    if o["n_folds"] > n:
        raise ValueError(
            f"n_folds: {o['n_folds']} folds need at least {o['n_folds']} samples (one per "
            f"validation fold), got {n}"
        )
    if n_train < per * k_min:
        raise ValueError(
            f"{name}: {n} samples are too few for n_folds={o['n_folds']} with {k_min} component(s) "
            f"in {d} dimension(s) ({n_train} training samples per fold, at least "
            f"{per * k_min} needed: {per} per component)"
        )
    # never try more components than a training fold can support
    o["max_components"] = min(o["max_components"], n_train // per)
    return o


def _concrete_key(key: Any) -> jax.Array:
    """:func:`check_key`, refusing a traced key (a user's ``jit``/``vmap`` over keys).

    Folds, starts and bootstrap counts are drawn on the host from the key's words, so a traced
    key would otherwise fail deep inside with JAX's tracer-conversion error.
    """
    key = check_key(key)
    why = "GMM-MI draws its folds, starts and bootstrap counts on the host"
    refuse_traced("key", key, why, "pass a concrete key (one call per key for several seeds)")
    return key


def _refuse_traced_data(name: str, value: Any, what: str = "arrays") -> None:
    refuse_traced(name, value, "GMM-MI chooses its model from the data", f"pass concrete {what}")


def _columns(x: Any, name: str, dtype: Any, n: int | None = None, **how: Any) -> np.ndarray:
    """:func:`_scaled_columns` of ``x`` without the exponents (``how``: its keywords)."""
    return _scaled_columns(x, name, dtype, n, **how)[0]


def _scaled_columns(
    x: Any,
    name: str,
    dtype: Any,
    n: int | None = None,
    *,
    centre: bool = True,
    scale: bool = False,
    marginals: str = "data",
) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as a host ``(N, d)`` array of the compute dtype, and its columns' exponents.

    The exponents ``(d,)``: the powers of two the columns were divided by (see ``scale``).

    Every estimate but a KL divergence is unchanged by a shift of each column. Input of more
    precision than the compute dtype (float64 or integer data, float32 computation) is centred
    on its column means in float64 before the cast (``centre=False``: not; :func:`gmm_kl`
    shifts both samples alike): float32 keeps about 7 digits, so ``1.7e9 + 100 t``
    (timestamps) kept 6 distinct values of 2,000 and the MI fell from 0.215 to 0.175 nats.
    Data already in the compute dtype are returned as they are. ``marginals="normal_scores"``
    ranks the values as given, before the cast (which would tie values closer than its
    precision), so an estimate with that option equals the estimate on
    :func:`jaxmi._marginals.normal_scores` of the data.

    ``scale=True``, for estimates that standardise the data anyway, also divides each such
    column by the power of two at its standard deviation before the cast; the exponents are 0
    elsewhere. The division is exact, and the standardisation that follows divides by the
    standard deviation, so the estimate is the same; but cast first, float64 values around
    1e-45 became float32 subnormals of a few distinct values (MI 0.170 for 0.215 nats, an
    entropy 0.08 nats off), and values above 3.4e38 overflowed.
    """
    _refuse_traced_data(name, x)
    arr = as_data_matrix(x, name, dtype=dtype, host=True, check_overflow=not scale)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name}: has {arr.shape[0]} samples, expected {n} to match x")
    exps = np.zeros(arr.shape[1], int)
    src = np.asarray(x)
    if marginals != "data":
        src = _normal_scores(src.reshape(arr.shape), marginals)
        if src.dtype == arr.dtype:
            return src, exps
    if centre and src.dtype != arr.dtype:
        a = _as64(src)
        mean, sd = scaled_moments(a)  # one pass: the std is that of the centred values
        a -= mean
        if scale:
            exps = np.frexp(sd)[1]
            a = np.ldexp(a, -exps)
        arr = a.astype(arr.dtype)
    return arr, exps


def _scale_option(options: dict) -> bool:
    """Whether the estimate standardises its data (the checked ``standardize`` option)."""
    return check_bool(options.get("standardize", _DEFAULTS["standardize"]), "standardize")


def _marginals_option(options: dict) -> str:
    """The checked ``marginals`` option of ``options`` (applied by :func:`_columns`)."""
    return check_marginals(options.get("marginals", _DEFAULTS["marginals"]))


def _as64(x: Any) -> np.ndarray:
    """Validated ``x`` as a float64 ``(N, d)`` array."""
    a = np.asarray(x).astype(np.float64)
    return a.reshape(a.shape[0], -1)


def gmm_mi(key: jax.Array, x: Any, y: Any, **options: Any) -> MIResult:
    """Mutual information I(X; Y) with bootstrap error bars (GMM-MI, Piras et al. 2023).

    Fits one Gaussian mixture to the joint ``(x, y)`` (K chosen by cross-validation), refits it
    on ``n_bootstrap`` bootstrap replicates, and integrates the pointwise MI
    ``log p(x, y) - log p(x) - log p(y)`` of each fit by Monte Carlo with analytic marginals.

    Args:
        key: typed PRNG key (``jax.random.key``).
        x: ``(N,)`` or ``(N, dx)`` samples of X.
        y: ``(N,)`` or ``(N, dy)`` samples of Y, paired with ``x``.
        **options: ``n_init`` (3), ``n_folds`` (2), ``max_components`` (50), ``threshold``
            (1e-5, nats/sample for ``metric="valid"``), ``patience`` (1), ``metric``
            (``"valid"``, ``"aic"``, ``"bic"``), ``n_components`` (fix K and skip selection),
            ``n_bootstrap`` (50), ``integral`` (``"auto"``: randomised quasi-Monte Carlo,
            per-component scrambled Sobol' points, up to 6 dimensions, else ``"mc"``; it was at
            least as accurate as 1e5 plain draws on every high-precision truth task; fits of one
            component, Gaussians, take their closed form instead, with ``point_stderr`` 0),
            ``rqmc_points`` (``"auto"``: 16,384 up to two dimensions, 65,536 above, each the
            smallest power of two at most 0.75x as far off as 1e5 draws on the truth tasks),
            ``mc_samples`` (1e5, for ``integral="mc"``, the reference's rule; giving
            ``mc_samples`` selects ``"mc"`` and giving ``rqmc_points`` selects ``"rqmc"`` when
            ``integral="auto"``, and either contradicting the ``integral`` asked for raises),
            ``tol`` (1e-5),
            ``max_iter`` (10,000),
            ``reg_covar`` (1e-6, on standardised data; the reference's 1e-15 is below float32
            resolution), ``init`` (``"random_responsibilities"``), ``standardize`` (True),
            ``marginals`` (``"data"``, as the reference; ``"normal_scores"``: each column of x
            and y is first replaced by the standard normal quantiles of its ranks, see the
            note), ``bootstrap_start`` (``"full"``: from the full-data refit; ``"cv"``: the
            reference's fold fit), ``base`` (None = nats; 2 = bits), ``dtype``, ``strategy``,
            ``batch_size``, ``chunk``, ``progress`` (a progress bar on stderr),
            ``legacy_patience`` (False; True reproduces the reference's patience bug for parity
            runs), ``restart_stalled`` (False, as the reference; True: a cross-validation fit whose
            components all ended nearly identical, where random responsibilities start them, or
            whose training log-likelihood ended below the best fit with one component fewer on
            its fold, is fitted again from k-means++ seeding, and the better fit is kept; see
            the note),
            ``mesh`` (a :class:`jax.sharding.Mesh`: EM problems and integrals are split over its
            devices; a mesh over the devices of several hosts works under ``jax.distributed``,
            where every process makes the same call with the same data and key, each process's
            devices take their share of the work, and every process gets the whole result).

    Note:
        Random responsibilities, the reference's start, put every component at the global mean
        and covariance, and with thousands of samples EM often stops there after 2 iterations: K
        components score as one, and the search ends early. On two clusters 3 sigma apart
        (N = 2,000 and 20,000) the reference reports 0.059 and 0.054 nats against a truth of
        0.137, and so does jaxmi by default; on a cube root of a correlated Gaussian (N =
        20,000) 0.185 against 0.223. ``restart_stalled=True`` detects such fits (every component
        within 0.01 nats KL of their moment-matched Gaussian) and fits them again from k-means++
        seeding: 0.136-0.137 and 0.226 on the same data (``init="kmeans"``: 0.224 on the
        latter), and on bmi's ``1v1-additive-0.75`` (uniform noise, N = 2,000) it took the bias
        from -0.147 to -0.020 nats. It also refits the fits that ended below the best fit
        with one component fewer (a poor local optimum): where every start of a K ended there,
        the search stopped at K - 1, and bmi's ``1v1-AI`` (N = 2,000, 50 realisations) had a
        bias of -0.098 nats and a spread of 0.25 with the stalled fits' restart alone, +0.006
        and 0.020 with both. It is not the default (the reference's behaviour is) because
        the stall also keeps K small where that helps: on the 10 x 10 latent-vs-factor benchmark
        (N = 5,000), whose independent pairs have non-Gaussian marginals, the restart raised the
        median K* from 1 to 8, the independent pairs' MI from a median of 0.0002 to 0.0105 nats
        (the mixture of a product of non-Gaussian marginals does not factorise), and the time
        12x.

        With the reference's ``patience=1`` the search stops at the first K whose CV score
        does not improve. On multimodal data an unlucky set of K+1 fits (all ``n_init``
        starts in a poor local optimum) can end it early: on the bmi task ``1v1-AI``
        (N = 2,000) 4 of 50 realisations stopped at K = 2 and reported about 0.13 nats
        instead of 0.78; ``patience=2`` (or a larger ``n_init``) avoided it in all 50. On
        the 10 x 10 latent-vs-factor benchmark (N = 5,000) it brought the two pairs
        ``latent = factor**3 / 4 + noise`` from 10-13 std below their truth to within 1
        std, at 2.4x the time.

        A mixture fits heavy-tailed or skewed marginals with many components, and the
        mixture of a product of such marginals does not factorise: with the defaults,
        independent pairs read as dependent, far outside their error bars. Over 100
        realisations at N = 2,000, independent standard Cauchy pairs read 0.075 nats on average
        (a median 6.9 std above 0; 1 of 100 within 2 std; K* 2-12), a uniform against a cubed
        normal 0.058 (8.6 std; none within 2 std), and a rho = 0.6 Gaussian pair with x mapped
        to a Cauchy marginal was 42 std low once (coverage of the truth by +-2 std 0.78).
        Skewed marginals do the same: independent exponential pairs read 0.066 nats (none of
        100 within 2 std, K* 5-17), gamma(4) pairs 0.018 (none); a uniform pair is fine (96 of
        100). The heavy-tail warning below does not catch skewness: a skewness rule would also
        fire on the paper's gamma-exponential and Weinman tasks, which the defaults estimate
        well and the normal scores worse.
        MI is unchanged by a strictly increasing map of each column, so
        ``marginals="normal_scores"`` replaces each column by ``Phi^-1((r - 0.5) / N)`` (``r``:
        its rank; tied values share their average rank), and the mixture has the dependence
        alone to model: the independent pairs then read 0.0007-0.0008 nats (0.97-0.98 within
        2 std), and the Gaussian pair reads the same (bias +0.0009 against +0.0015 nats) whether
        its columns are Gaussian, cubed or Cauchy, with a median K* of 1
        (``benchmarks/gmm_mi_marginals.py``); so do the skewed pairs (0.98-0.99 within 2 std).
        Ties (discrete columns) stay tied, and the map is
        taken once on the full data, so the error bars leave out its own sampling noise (of
        order 1/N). It is no universal improvement, and not the default: on the 25 bmi and
        GMM-MI paper tasks (N = 2,000, 50 realisations each) it raised the +-2 std coverage of
        the truth to 0.93 or more in 12 tasks against 7 (monotone maps of Gaussians and
        Student-t from 0.22-0.92 to 0.80-0.94), but lowered it where the joint is a mixture of
        Gaussians or otherwise simple in the data's own coordinates (the paper's D5 0.92 ->
        0.74, Weinman 0.90-0.96 -> 0.38-0.74, bmi's ``1v1-AI`` 0.84 -> 0.00): use it for
        heavy-tailed, bounded or skewed marginals whose dependence is smooth, not for
        clustered data (``benchmarks/README.md``). In the rho = 0.6 invariance study (500 data
        sets per cell) it made the cube-transformed cells those of the untransformed pair: bias
        at N = 200 +0.008 nats against +0.036, and ``mi +- 2 std`` held the truth in 0.93 or
        more of the data sets in 6 of 9 cells (4 by default), ``point +- 2 std`` in all 9.

        Float64 and integer data are centred per column in float64 (and, with
        ``marginals="normal_scores"``, ranked) before the cast to a float32 computation: float32
        keeps about 7 digits, and cast first, ``1.7e9 + 100 t`` (timestamps) kept 6 distinct
        values of 2,000 and read 0.175 of 0.215 nats. With ``standardize=True`` each column is
        also divided by a power of two near its std there (exact), so values beyond float32's
        range, such as 1e40 or 1e-45 (which became a few subnormals: 0.170 nats), are estimated
        as at unit scale.

    Returns:
        An :class:`MIResult` (``mi``, ``std``, ``samples``, ``point``, ``n_components``, ...).

    Raises:
        ValueError: malformed or mismatched inputs, constant columns, too few samples for the
            folds and components, bad options, or more bootstrap replicates than the host's
            free memory can hold (checked before any fit: the resampling counts are drawn in
            chunks, but each replicate keeps its mixture and value, about 1 KB).

    Warns:
        RuntimeWarning: the fitted mixture is mostly ``reg_covar`` along some direction (at
            least 1% of its weight in components whose smallest variance is at most twice
            ``reg_covar``): repeated values, ``y`` a function of ``x`` (``x == y`` gives a
            finite number, ~6.6 nats at N = 500, where the MI is infinite), or an outlier
            that squeezes the other points under standardisation. The estimate then reflects
            ``reg_covar`` more than the data. Every estimator of this module warns the same way.
        RuntimeWarning: with ``marginals="data"``, a column has heavy tails: its 0.5-99.5%
            quantile range exceeds 25 times its interquartile range (3.8 for a Gaussian, 13
            for ``y + y**3 / 2``, about 54 for a cubed normal and 62 for a Cauchy; a single
            outlier does not move it). The MI estimators (not the entropy and KL ones) warn
            before fitting and point to ``marginals="normal_scores"`` (see the note).
        RuntimeWarning: the search for K stopped at a stage where the best start's fits
            stalled (see the note), the data are not Gaussian along some coordinate or
            principal axis (Jarque-Bera statistic above its 0.999 quantile), a stalled fold
            refitted from k-means++ (at most 30 EM iterations) scores more than 0.01
            nats/sample above K* on its held-out part, and (for an MI) that refit's MI, read
            on up to 2,048 of the points, differs from the chosen fit's by more than 0.01
            nats. The estimate is unchanged. It fired on the clusters and cube root of the
            note (N = 2,000 and 20,000; MI shifts 0.015-0.084 nats), not on Gaussian pairs,
            whose check is skipped, nor on independent variables with flat marginals (whose
            refits score higher but keep an MI near 0: at most 0.0073 nats on the 90
            independent pairs of ``benchmarks/gmm_mi_pairwise.py``, where it named 3 of the 10
            dependent pairs, the one 13 std off among them). ``gmm_entropy``, ``gmm_kl`` and
            ``gmm_mi_categorical`` check the held-out gain only. The check cost the 10 x 10
            benchmark about 10% of its time and single estimates nothing measurable.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> z = np.random.default_rng(0).multivariate_normal([0, 0], [[1, .6], [.6, 1]], 2000)
        >>> r = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], n_bootstrap=10)
        >>> abs(float(r.mi) - 0.2231) < 0.05   # true MI: -0.5 log(1 - 0.36) nats
        True
    """
    dtype = options.pop("dtype", None)
    ms, sc = _marginals_option(options), _scale_option(options)
    xa = _columns(x, "x", dtype, scale=sc, marginals=ms)
    ya = _columns(y, "y", xa.dtype, n=xa.shape[0], scale=sc, marginals=ms)
    z = np.concatenate([xa, ya], axis=1)
    dx = xa.shape[1]
    blocks = (tuple(range(dx)), tuple(range(dx, z.shape[1])))
    return _estimate(key, z, "mi", blocks, options)


def _stack_batch(
    arr: Any,
    name: str,
    dtype: Any,
    shape: tuple | None = None,
    marginals: str = "data",
    scale: bool = False,
) -> np.ndarray:
    """``(D, N)`` or ``(D, N, d)`` data as a host ``(D, N, d)`` array (see :func:`_columns`)."""
    _refuse_traced_data(name, arr)
    a = np.asarray(arr)
    if a.ndim not in (2, 3):
        raise ValueError(f"{name}: expected (D, N) or (D, N, d) datasets, got shape {a.shape}")
    if shape is not None and a.shape[:2] != shape:
        raise ValueError(f"{name}: has shape {a.shape}, expected {shape} (D, N) to match x")
    if a.shape[0] < 1:
        raise ValueError(f"{name}: no datasets (D = 0)")
    cols = [
        _columns(a[i], f"{name}[{i}]", dtype, scale=scale, marginals=marginals)
        for i in range(a.shape[0])
    ]
    return np.stack(cols)


@_compile.jit(kind="light")
def _fold_keys(key: jax.Array, i: jax.Array) -> jax.Array:
    """``fold_in(key, i)`` for every ``i``, in one program."""
    return jax.vmap(lambda a: jax.random.fold_in(key, a))(i)


def gmm_mi_batch(key: jax.Array, x: Any, y: Any, **options: Any) -> MIResult:
    """:func:`gmm_mi` of D datasets of the same shape, as one batched computation.

    Dataset ``i`` is ``(x[i], y[i])`` with key ``fold_in(key, i)``, so entry ``i`` equals
    ``gmm_mi(fold_in(key, i), x[i], y[i], **options)`` (up to the rounding of batched
    arithmetic). As in :func:`gmm_mi_pairwise`, the cross-validation fits of every dataset still
    searching for K form one batch per candidate K, the bootstrap refits of all datasets with the
    same capacity one batch, and all integrals one program: many realisations of a simulation,
    or one estimate per seed, cost far less than a Python loop over :func:`gmm_mi`. Many long
    datasets are fitted in consecutive blocks, as the pairs of :func:`gmm_mi_pairwise`, so the
    memory beyond the input's own copies stays that of one block.

    Args:
        key: typed PRNG key.
        x: ``(D, N)`` or ``(D, N, dx)``: D datasets of N samples of X.
        y: ``(D, N)`` or ``(D, N, dy)``, paired with ``x``.
        **options: as for :func:`gmm_mi` (including ``mesh`` and ``progress``).

    Returns:
        An :class:`MIResult` whose fields have a leading axis D: ``mi``, ``std``, ``point``,
        ``point_stderr``, ``n_components``, ``selection_converged`` ``(D,)``; ``samples``,
        ``n_iter``, ``converged`` ``(D, n_bootstrap)``; ``cv_scores`` ``(D, K_max)`` with the
        datasets that evaluated fewer candidates padded with ``-inf``.

    Raises:
        ValueError: as :func:`gmm_mi`, naming the dataset (``x[3]: ...``), and for mismatched
            ``x``/``y`` shapes.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(4, 500)); y = x + rng.normal(size=(4, 500))
        >>> r = jaxmi.gmm_mi_batch(jax.random.key(0), x, y, n_bootstrap=4)
        >>> r.mi.shape, r.samples.shape
        ((4,), (4, 4))
    """
    key = _concrete_key(key)
    dtype = options.pop("dtype", None)
    ms = _marginals_option(options)
    sc = _scale_option(options)
    xa = _stack_batch(x, "x", dtype, marginals=ms, scale=sc)
    ya = _stack_batch(y, "y", xa.dtype, shape=xa.shape[:2], marginals=ms, scale=sc)
    z = np.concatenate([xa, ya], axis=2)  # (D, N, d)
    n_data, n, dx = xa.shape
    d = z.shape[2]
    del xa, ya  # copies of the input: z holds them (as the blocks below, memory is bounded)
    blocks = (tuple(range(dx)), tuple(range(dx, d)))
    o = _resolve_options(options, n, d, "x, y")
    dt = z.dtype
    if not o["standardize"]:
        _warn_unstandardized(z, "x, y", o)
    _check_tails(
        [
            (f"{v}[{i}]", part)
            for i, zi in enumerate(z)
            for v, part in (("x", zi[:, :dx]), ("y", zi[:, dx:]))
        ],
        o,
    )
    zs = [
        _standardize(zi, parts=((f"x[{i}]", dx), (f"y[{i}]", d - dx)))[0]
        if o["standardize"]
        else zi
        for i, zi in enumerate(z)
    ]
    del z  # (standardised: one copy less)
    keys = np.asarray(jax.random.key_data(_fold_keys(key, np.arange(n_data, dtype=np.uint32))))
    words = [tuple(int(w) for w in row) for row in keys.reshape(n_data, -1)]
    mc = dict(_integral_settings(o, d), kind="mi", blocks=blocks)
    scale = 1.0 / math.log(o["base"]) if o["base"] is not None else 1.0
    host = []

    def finish(lo, hi, fits):
        ints = _integrate_fits(fits, _mc_keys(words[lo:hi], key), o["mesh"], **mc)
        host.extend(
            _result(fit, vals, ses, scale, 0.0, dt, device=False)
            for fit, (vals, ses) in zip(fits, ints, strict=True)
        )

    bar = Progress(None, "GMM-MI datasets", enabled=o["progress"])
    with bar:  # in blocks, as the pairs of gmm_mi_pairwise
        kept = _fit_in_blocks(
            [_em.pad_length(n)] * n_data,
            lambda lo, hi: _datasets(zs[lo:hi], words[lo:hi]),
            finish,
            key,
            o,
            dt,
            bar,
            "GMM-MI datasets",
            blocks,
        )
        _warn_fits(kept, [f"x[{i}], y[{i}]" for i in range(n_data)], o)
    _warn_results_bias([f"x[{i}], y[{i}]" for i in range(n_data)], host)  # (host values)
    k_max = max(r.cv_scores.shape[0] for r in host)
    host = [
        r._replace(
            cv_scores=np.pad(
                r.cv_scores, (0, k_max - r.cv_scores.shape[0]), constant_values=-np.inf
            )
        )
        for r in host
    ]
    return jax.device_put(jax.tree.map(lambda *a: np.stack(a), *host))


def gmm_cmi(key: jax.Array, x: Any, y: Any, z: Any, **options: Any) -> MIResult:
    """Conditional mutual information I(X; Y | Z) from one mixture fitted to ``(x, y, z)``.

    The integrand is ``log p(x,y,z) + log p(z) - log p(x,z) - log p(y,z)``; all four densities
    are analytic marginals of the same fit. Options as for :func:`gmm_mi`.

    Args:
        key: typed PRNG key.
        x: ``(N,)`` or ``(N, dx)``.
        y: ``(N,)`` or ``(N, dy)``.
        z: ``(N,)`` or ``(N, dz)``, the conditioning variable.
        **options: see :func:`gmm_mi`.

    Returns:
        An :class:`MIResult` whose ``mi`` is the conditional MI (nats, or ``base`` units).

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> cov = [[1, .6, .3], [.6, 1, .4], [.3, .4, 1]]
        >>> w = np.random.default_rng(0).multivariate_normal([0, 0, 0], cov, 3000)
        >>> r = jaxmi.gmm_cmi(jax.random.key(0), w[:, 0], w[:, 1], w[:, 2], n_bootstrap=5)
        >>> abs(float(r.mi) - 0.179348) < 0.05
        True
    """
    dtype = options.pop("dtype", None)
    ms, sc = _marginals_option(options), _scale_option(options)
    xa = _columns(x, "x", dtype, scale=sc, marginals=ms)
    n = xa.shape[0]
    ya = _columns(y, "y", xa.dtype, n=n, scale=sc, marginals=ms)
    za = _columns(z, "z", xa.dtype, n=n, scale=sc, marginals=ms)
    dx, dy = xa.shape[1], ya.shape[1]
    w = np.concatenate([xa, ya, za], axis=1)
    blocks = (
        tuple(range(dx)),
        tuple(range(dx, dx + dy)),
        tuple(range(dx + dy, w.shape[1])),
    )
    return _estimate(key, w, "cmi", blocks, options)


def gmm_entropy(key: jax.Array, x: Any, **options: Any) -> MIResult:
    """Differential entropy h(X) of the data's density, from a fitted Gaussian mixture.

    Entropy is not affine-invariant: the log-scales of the standardisation are added back, so
    the result is the entropy of ``x`` in its own units. Options as for :func:`gmm_mi`, plus
    ``dims`` (a subset of columns; default all).

    Args:
        key: typed PRNG key.
        x: ``(N,)`` or ``(N, d)``.
        **options: see :func:`gmm_mi`; ``dims`` picks the columns whose joint entropy is wanted.
            ``marginals="normal_scores"`` raises: an entropy changes under that map.

    Returns:
        An :class:`MIResult` whose ``mi`` field holds the entropy (nats, or ``base`` units).

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> x = np.random.default_rng(0).normal(size=4000) * 2.0
        >>> r = jaxmi.gmm_entropy(jax.random.key(0), x, n_bootstrap=5)
        >>> bool(abs(float(r.mi) - (1.418939 + np.log(2.0))) < 0.05)
        True
    """
    dtype = options.pop("dtype", None)
    dims = options.pop("dims", None)
    xa, exps = _scaled_columns(x, "x", dtype, scale=_scale_option(options))
    d = xa.shape[1]
    if dims is None:
        dims = tuple(range(d))
    else:
        from jaxmi.gmm._mixture import _check_dims

        dims = tuple(int(i) for i in _check_dims(dims, d))
    # the powers of two the columns were divided by (see _scaled_columns), in nats
    extra = float(np.sum(exps[list(dims)])) * math.log(2.0)
    return _estimate(key, xa, "entropy", (dims,), options, log_scale=extra)


# --------------------------------------------------------------------------------------------
# categorical labels
# --------------------------------------------------------------------------------------------


class CategoricalMIResult(NamedTuple):
    """Result of :func:`gmm_mi_categorical` (a pytree; ``classes`` is a NumPy array).

    Attributes:
        mi: bootstrap mean of I(X; C) (nats, or ``base`` units).
        std: standard deviation over replicates (ddof 1); None when ``n_bootstrap < 2``.
        samples: ``(n_bootstrap,)`` value of each replicate.
        point: I(X; C) of the full-data fits.
        point_stderr: Monte Carlo standard error of ``point``.
        classes: ``(C,)`` the distinct labels, in the order of every per-class field.
        prior: ``(C,)`` the class prior used.
        n_components: ``(C,)`` K* of each class-conditional mixture.
        selection_converged: ``(C,)``.
        n_iter: ``(n_bootstrap, C)`` EM iterations of each replicate and class.
        converged: ``(n_bootstrap, C)``.
    """

    mi: jax.Array
    std: jax.Array | None
    samples: jax.Array
    point: jax.Array
    point_stderr: jax.Array
    classes: np.ndarray
    prior: jax.Array
    n_components: jax.Array
    selection_converged: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def _class_noise(key, *, n_cls: int, n_samples: int, d: int, dtype: str):
    """The random numbers behind class ``c``'s ``n_samples`` draws, for every class at once.

    ``u (C, S)`` and ``eps (C, d, S)``, equal to :func:`sample_noise` with
    ``fold_in(key, c)``. They depend on neither the mixtures nor their capacity, so one small
    program per ``(C, S, d)`` serves the point estimate and all replicates of every pair (the
    threefry draws compiled for 0.4-0.6 s inside each integral program before). It compiles
    with XLA's fast-compiling options (kind ``"light"``): 0.19-0.20 s against 0.34-0.53 s
    for (C, S, d) = (2, 50000, 1), (3, 33334, 2), (10, 10000, 3); runs of 1.7, 2.2 and 2.7 ms
    against 2.0, 1.8 and 3.6 ms; the same numbers to the bit (2-core CPU).
    """
    key = _em.as_keys(key)
    return jax.vmap(lambda c: sample_noise(jax.random.fold_in(key, c), n_samples, d, dtype))(
        jnp.arange(n_cls)
    )


_class_noise_jit = _compile.jit(
    _class_noise, kind="light", static_argnames=("n_cls", "n_samples", "d", "dtype")
)


#: the most ``classes x capacity x points`` one block of the categorical integral scores at
#: once; its intermediates then stay in the CPU's caches
_CATEGORICAL_BLOCK = 1 << 19


def _categorical_mi(u, eps, gmms: GMM, log_prior):
    """I(X; C) and its MC standard error for class mixtures ``gmms (C, ...)``.

    Class ``c``'s points are drawn from its mixture with the noise ``u[c] (S,)``,
    ``eps[c] (d, S)`` and scored under every class mixture at once; one loop body serves every
    class, so the program does not grow with C (an unrolled C x C form compiled for 1-1.7 s at
    C = 2-3 and grew as C squared).

    When ``C x capacity x S`` exceeds :data:`_CATEGORICAL_BLOCK` the points are scored in
    blocks (means and squared deviations merged across blocks): 50 classes at capacity 2 with
    S = 1e5 and 11 fits took 27.6-30.3 s as one (C, S) pass, 7.3-7.4 s in blocks, with values
    equal to 1.5e-7 relative. Up to the threshold (C <= 2 at capacity 2, S = 1e5) the single
    pass runs, bit for bit as before.
    """
    n_cls, d, n_samples = eps.shape
    n_blocks = max(1, -(-n_cls * gmms.weights.shape[-1] * n_samples // _CATEGORICAL_BLOCK))

    def scores(c, g_c, u_c, eps_c):
        z = sample_with(u_c, eps_c, g_c)
        lps = jax.vmap(log_prob_t, in_axes=(0, None))(gmms, z)  # (C, S)
        return lps[c] - component_logsumexp(log_prior[:, None] + lps)

    def one_class(args):
        c, g_c, u_c, eps_c = args
        v = scores(c, g_c, u_c, eps_c)
        return jnp.mean(v), jnp.var(v) / n_samples

    def one_class_blocked(args):
        c, g_c, u_c, eps_c, valid = args

        def block(b):
            u_b, eps_b, ok = b
            v = scores(c, g_c, u_b, eps_b)
            cnt = jnp.sum(ok, dtype=v.dtype)  # exact: fewer than 2^24 points per block
            mean = jnp.sum(jnp.where(ok, v, 0)) / cnt
            return cnt, mean, jnp.sum(jnp.where(ok, (v - mean) ** 2, 0))

        cnt, means_b, m2_b = jax.lax.map(block, (u_c, eps_c, valid))
        mean = jnp.sum(cnt * means_b) / n_samples
        var = (jnp.sum(m2_b) + jnp.sum(cnt * (means_b - mean) ** 2)) / n_samples
        return mean, var / n_samples

    classes = jnp.arange(n_cls)
    if n_blocks == 1:
        means, variances = jax.lax.map(one_class, (classes, gmms, u, eps))
    else:
        size = -(-n_samples // n_blocks)
        pad = n_blocks * size - n_samples
        u_b = jnp.pad(u, ((0, 0), (0, pad))).reshape(n_cls, n_blocks, size)
        eps_b = jnp.pad(eps, ((0, 0), (0, 0), (0, pad))).reshape(n_cls, d, n_blocks, size)
        eps_b = eps_b.transpose(0, 2, 1, 3)  # (C, blocks, d, size)
        valid = (jnp.arange(n_blocks * size) < n_samples).reshape(n_blocks, size)
        valid = jnp.broadcast_to(valid, (n_cls, n_blocks, size))
        means, variances = jax.lax.map(one_class_blocked, (classes, gmms, u_b, eps_b, valid))
    prior = jnp.exp(log_prior)
    return jnp.sum(prior * means), jnp.sqrt(jnp.sum(prior**2 * variances))


_categorical_mi_batch = _compile.jit(
    lambda u, eps, gmms, log_prior: jax.lax.map(
        lambda g: _categorical_mi(u, eps, g, log_prior), gmms
    ),
    kind="loops",
)


#: the most ``classes x capacity x points`` one class of the RQMC categorical integral scores at
#: once (memory: 2^26 float32 values are 256 MiB); beyond it, in blocks (much slower)
_CATEGORICAL_RQMC_BLOCK = 1 << 26

#: RQMC points per class of the categorical integral (``rqmc_points="auto"``), by the largest
#: dimension each covers: the smallest power of two whose RMSE was at most 0.75x that of plain
#: MC with 1e5 draws per class on every categorical truth task of those dimensions, with a
#: margin for the RMSE's own sampling error (``benchmarks/gmm_mi_categorical_integral.py``).
#: Every point is scored under every class (C^2 x points per fit): 50 classes took 31 s per
#: estimate with MC against 2.4-2.6 s (two runs).
CATEGORICAL_POINTS = {2: 8192, 6: 65_536}


def categorical_points(d: int) -> int:
    """Default RQMC points per class of the categorical integral in ``d`` dimensions."""
    return next(v for dim, v in CATEGORICAL_POINTS.items() if d <= dim)


def _categorical_rqmc(keys, gmms: GMM, log_prior, *, n_points: int):
    """I(X; C) and its standard error for class mixtures ``gmms (C, ...)`` by RQMC.

    Class ``c``'s integral ``E_{x ~ p(x|c)}[log p(x|c) - log sum_c' pi_c' p(x|c')]`` runs on
    ``n_points`` per-component scrambled Sobol' points of its own mixture
    (:func:`jaxmi.gmm._integrate.rqmc_functional`) with its own key ``keys[c]``, so the classes'
    errors are independent and the standard errors combine as ``sqrt(sum_c pi_c^2 se_c^2)``.
    Mixtures that share ``keys`` (a data set's full fit and its bootstrap replicates) share
    the points (common random numbers).

    The classes run one at a time (``lax.map``), each scoring all its points under every class
    at once: ``C x capacity x n_points`` values per class. On a 2-core CPU (51 fits, capacity
    4, 8,192 points) that took 0.29 s at C = 10 and 2.6-2.8 s at C = 50, against 0.94 s and
    more for the classes vmapped, and 20-22 s for the points in blocks of 2^19 scores (a loop
    inside the integrand ran ~8x slower, with or without optimization barriers). Blocks are
    therefore kept for memory alone, beyond :data:`_CATEGORICAL_RQMC_BLOCK` scores per class.
    (Those times are from before :func:`_categorical_rqmc_batch` ran several fits per step
    with the XLA options of :func:`_categorical_rqmc_kind`: 48 fits at capacity 4 took 0.12 s
    at C = 8 and 0.30 s at C = 12; ``benchmarks/gmm_mi_loop_emitters.py``.)
    """
    n_cls, kc = gmms.weights.shape
    d = gmms.means.shape[-1]

    def pmi(g, z):
        lps = jax.vmap(log_prob_t, in_axes=(0, None))(gmms, z)  # (C, S)
        return log_prob_t(g, z) - component_logsumexp(log_prior[:, None] + lps)

    n_blocks = -(-n_cls * kc * n_points // _CATEGORICAL_RQMC_BLOCK)
    integrand = pmi
    if n_blocks > 1:
        size = -(-n_points // n_blocks)

        def integrand(g, z):
            s = z.shape[1]
            zb = jnp.pad(z, ((0, 0), (0, n_blocks * size - s)))  # padded points: finite, cut
            zb = zb.reshape(d, n_blocks, size).transpose(1, 0, 2)
            return jax.lax.map(lambda zz: pmi(g, zz), zb).reshape(n_blocks * size)[:s]

    means, ses = _integrate_mod.rqmc_functional(
        _em.as_keys(keys), gmms, integrand, n_points=n_points, batch="map"
    )
    prior = jnp.exp(log_prior)
    return jnp.sum(prior * means), jnp.sqrt(jnp.sum(prior**2 * ses**2))


#: the most ``fits x classes x classes x capacity x points`` scores one step of the RQMC
#: categorical integral computes when it vmaps several fits (the full fit and its replicates),
#: and the most fits it vmaps: see :func:`_categorical_fits_per_step`
_CATEGORICAL_RQMC_STEP = 1 << 24
_CATEGORICAL_RQMC_MAX_FITS = 4


def _categorical_fits_per_step(n_cls: int, kc: int, n_points: int) -> int:
    """Fits that one step of :func:`_categorical_rqmc_batch` integrates at once (vmapped).

    One fit at a time leaves each step small (a class's points under every class): on a 2-core
    CPU, 51 fits at C = 2, capacity 1, 8,192 points took 28 ms one at a time against 9 ms four at
    a time; C = 4 at capacity 3, 156 -> 80 ms; C = 10 at capacity 4, 500 -> 319 ms; C = 10 in
    2-D at capacity 2, 309 -> 285 ms. Eight or sixteen at a time was no faster than four, and
    C = 50 (8e7 scores per fit) stays at one (memory). The values are the same to the bit.
    """
    per_fit = n_cls * n_cls * kc * n_points
    return max(1, min(_CATEGORICAL_RQMC_MAX_FITS, _CATEGORICAL_RQMC_STEP // per_fit))


def _categorical_rqmc_fits(keys, gmms: GMM, log_prior, n_points: int, fits_per_step: int):
    """:func:`_categorical_rqmc` of each fit ``gmms (F, C, ...)``, ``fits_per_step`` at once.

    ``F`` is a multiple of ``fits_per_step`` (a remainder step would compile the body twice).
    """
    n_fits = gmms.weights.shape[0]
    steps = jax.tree.map(
        lambda a: a.reshape(n_fits // fits_per_step, fits_per_step, *a.shape[1:]), gmms
    )
    one = jax.vmap(lambda g: _categorical_rqmc(keys, g, log_prior, n_points=n_points))
    return jax.tree.map(lambda a: a.reshape(n_fits), jax.lax.map(one, steps))


#: the program of :func:`_categorical_rqmc_fits` by XLA option kind (see
#: :func:`_categorical_rqmc_kind`)
_categorical_rqmc_fits_jit = {
    kind: _compile.jit(
        _categorical_rqmc_fits, kind=kind, static_argnames=("n_points", "fits_per_step")
    )
    for kind in ("hot", "loops")
}


def _categorical_rqmc_kind(n_cls: int, kc: int) -> str:
    """XLA option kind of the categorical RQMC program: the loop emitters where they ran faster.

    The classes run in a ``lax.map`` loop, where XLA:CPU's fusion emitters ran slowly in some
    shapes and not others. On a 2-core CPU (48 fits, 1-D, 8,192 points, the fits per step of
    :func:`_categorical_fits_per_step`; ms with the fusion / the loop emitters): at capacity 2-4
    and C = 2-12 the loop emitters took 1.6-2.1x less time (C = 4, capacity 3: 83 / 40; C = 10,
    capacity 4: 332 / 194; C = 12, capacity 2: 349 / 201), at capacity 1 0.53-0.96x (C = 6: 25
    / 38), at C = 16-20 0.72-0.95x (C = 20, capacity 2: 412 / 507), and at C = 2, capacity 3
    0.6x (7 / 12 ms). They also compile in about half the time (0.4-0.6 s against 0.8-1.4 s).
    ``benchmarks/gmm_mi_loop_emitters.py`` measures this grid.
    """
    return "loops" if kc >= 2 and n_cls <= 12 else "hot"


def _categorical_rqmc_batch(keys, gmms: GMM, log_prior, *, n_points: int):
    """I(X; C) and its standard error of each fit ``gmms (F, C, kc, ...)`` (host arrays)."""
    n_fits, n_cls, kc = gmms.weights.shape
    step = min(_categorical_fits_per_step(n_cls, kc, n_points), n_fits)
    pad = -n_fits % step  # copies of the first fit, cut from the result
    if pad:
        gmms = _take(gmms, _em.padded_rows(0, n_fits, n_fits + pad))
    program = _categorical_rqmc_fits_jit[_categorical_rqmc_kind(n_cls, kc)]
    out = program(keys, gmms, log_prior, n_points=n_points, fits_per_step=step)
    mi, se = jax.device_get(out)  # cut on the host: no small device programs
    return mi[:n_fits], se[:n_fits]


def _class_prior(prior: Any, counts: np.ndarray, dt) -> np.ndarray:
    n_cls = counts.shape[0]
    if isinstance(prior, str):
        if prior == "empirical":
            return (counts / counts.sum()).astype(dt)
        if prior == "uniform":
            return np.full(n_cls, 1.0 / n_cls, dt)
        raise ValueError(f"prior: expected 'empirical', 'uniform' or a vector, got {prior!r}")
    p = np.asarray(prior, np.float64)
    if p.shape != (n_cls,) or not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError(f"prior: expected {n_cls} positive finite probabilities, got {prior!r}")
    if abs(p.sum() - 1) > 1e-6:
        raise ValueError(f"prior: must sum to 1, sums to {p.sum():.6g}")
    return p.astype(dt)


def gmm_mi_categorical(
    key: jax.Array, x: Any, labels: Any, *, prior: Any = "empirical", **options: Any
) -> CategoricalMIResult:
    """Mutual information I(X; C) between continuous ``x`` and discrete ``labels``.

    Each class-conditional density p(x | c) is a Gaussian mixture with its own K* (chosen by
    cross-validation within the class); the bootstrap is stratified (each class resampled within
    itself). ``I = sum_c pi_c E_{x ~ p(x|c)}[log p(x|c) - log sum_c' pi_c' p(x|c')]``, in log
    space throughout, each class's expectation over points of its own mixture: randomised
    quasi-Monte Carlo by default (per-component scrambled Sobol' points, 8,192 per class up to
    two dimensions of x and 65,536 up to six; plain Monte Carlo beyond), or plain Monte Carlo
    with ``mc_samples`` points per class, the reference's rule. Every point is scored under
    every class, so the integral costs ``C^2 x points`` per fit: with 50 classes an estimate
    took 31 s with MC 1e5 and 2.4-2.6 s with the default, whose error was at most 0.75x MC's on
    every truth task (``benchmarks/gmm_mi_categorical_integral.py``).

    Unlike the GMM-MI reference, labels may be any values (they are mapped to ``0..C-1`` and
    returned in ``classes``) and the class prior defaults to the empirical class frequencies.
    ``prior="uniform"`` reproduces the reference's implicit choice, which is biased when the
    classes are imbalanced.

    Args:
        key: typed PRNG key.
        x: ``(N,)`` or ``(N, d)`` continuous samples.
        labels: ``(N,)`` labels of any hashable, sortable values (ints, strings, ...).
        prior: ``"empirical"`` (``n_c / N``), ``"uniform"`` or a vector of C probabilities in the
            order of the sorted distinct labels.
        **options: as for :func:`gmm_mi`; ``integral``, ``rqmc_points`` and ``mc_samples``
            count points per class (defaults above).

    Returns:
        A :class:`CategoricalMIResult`.

    Raises:
        ValueError: fewer than two classes, a class too small for the folds and components,
            mismatched lengths, bad prior, and everything :func:`gmm_mi` rejects.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> rng = np.random.default_rng(0)
        >>> c = rng.choice(["a", "b", "c"], size=3000, p=[0.7, 0.2, 0.1])
        >>> x = rng.normal(size=3000) + 2.0 * np.searchsorted(["a", "b", "c"], c)
        >>> r = jaxmi.gmm_mi_categorical(jax.random.key(0), x, c, n_bootstrap=5)
        >>> r.classes.tolist(), abs(float(r.mi) - 0.445116) < 0.05
        (['a', 'b', 'c'], True)
    """
    key = _concrete_key(key)
    dtype = options.pop("dtype", None)
    xa = _columns(x, "x", dtype, scale=_scale_option(options), marginals=_marginals_option(options))
    n, dt = xa.shape[0], xa.dtype
    _refuse_traced_data("labels", labels, "labels")
    classes, codes = _label_codes(np.asarray(unmasked(labels, "labels")), "labels", n)
    n_cls = classes.shape[0]
    counts = np.bincount(codes, minlength=n_cls)
    pri = _class_prior(prior, counts, dt)
    # the options themselves once (their errors are not a class's), then each class's size
    checked = _checked_options(dict(options))
    _integral_settings(checked, xa.shape[1], categorical_points)  # its errors before any fit
    # standardise once over all classes; the same map for every class keeps I(X; C) unchanged
    _check_tails([("x", xa)], checked)
    if checked["standardize"]:
        xa, _, _ = _standardize(xa)
    else:
        _warn_unstandardized(xa, "x", checked)
    opts = {**options, "standardize": False, "marginals": "data"}
    per_class = []
    for c in range(n_cls):
        xc = xa[codes == c]
        try:
            per_class.append((xc, _resolve_options(dict(opts), xc.shape[0], xc.shape[1])))
        except ValueError as err:
            raise _small_class_error(
                "labels", classes[c].item(), int(counts[c]), n_cls, xa.shape[0], err
            ) from err
    o = max(per_class, key=lambda t: t[0].shape[0])[1]
    words = _key_words(key)
    class_words = _class_words(words, n_cls)
    bar = Progress(None, "GMM-MI categorical", enabled=o["progress"])
    with bar:
        data = _datasets([xc for xc, _ in per_class], class_words)
        fits = _fit_many(data, key, o, _em_settings(o, dt), o["mesh"], bar)
    _warn_fits(fits, [f"x of class {c.item()!r}" for c in classes], o)
    scale = 1.0 / math.log(o["base"]) if o["base"] is not None else 1.0
    result = _categorical_result(key, fits, pri, words, o, scale, dt, classes)
    _warn_results_bias(["x, labels"], [result])
    return result


def _label_codes(lab: np.ndarray, name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct labels (sorted) and the code ``0..C-1`` of every sample; at least 2 classes."""
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab[:, 0]
    if lab.ndim != 1 or lab.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n},) to match x, got {lab.shape}")
    if lab.dtype.kind == "f" and not np.all(np.isfinite(lab)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    try:
        classes, codes = np.unique(lab, return_inverse=True)
    except TypeError as err:
        raise ValueError(f"{name}: values cannot be sorted ({err})") from err
    if classes.shape[0] < 2:
        raise ValueError(
            f"{name}: needs at least 2 classes, got {classes.shape[0]} ({classes.tolist()})"
        )
    return classes, codes.reshape(-1)


def _small_class_error(name: str, label: Any, count: int, n_cls: int, n: int, err) -> ValueError:
    """The error for a class too small to fit, with a hint when the labels look continuous."""
    msg = f"{name}: class {label!r} has {count} samples: {err}"
    if n_cls > n // 4:
        msg += (
            f" ({n_cls} distinct labels in {n} samples: for a continuous variable use gmm_mi; "
            "categorical MI needs a few classes with many samples each)"
        )
    return ValueError(msg)


def _categorical_result(like_key, fits, pri, words, o, scale, dt, classes):
    """:class:`CategoricalMIResult` from the class fits of one (x, labels) problem."""
    n_cls = len(fits)
    kc = max(f.full.weights.shape[-1] for f in fits)

    def stack_classes(gmms, axis):
        padded = [_pad_components(jax.tree.map(np.asarray, g), kc) for g in gmms]
        return jax.tree.map(lambda *a: np.stack(a, axis=axis), *padded)

    log_prior = jnp.log(jnp.asarray(pri))
    full_stack = stack_classes([f.full for f in fits], 0)  # (C, kc, ...)
    boot_stack = None  # (B, C, kc, ...): the classes of each replicate
    if o["n_bootstrap"]:
        boot_stack = stack_classes([f.boot.gmm for f in fits], 1)
    d = full_stack.means.shape[-1]
    gmms = _point_and_replicates(full_stack, boot_stack)
    rule = _integral_settings(o, d, categorical_points)
    if rule["rule"] == "rqmc":
        # one key per class: the integration key of the class's own data set
        keys = _mc_keys(_class_words(words, n_cls), like_key)
        out = _categorical_rqmc_batch(keys, gmms, log_prior, n_points=rule["n_samples"])
    else:
        key_mc = _mc_keys([words], like_key)[0]
        u, eps = _class_noise_jit(
            key_mc, n_cls=n_cls, n_samples=rule["n_samples"], d=d, dtype=np.dtype(dt).name
        )
        out = _categorical_mi_batch(u, eps, gmms, log_prior)
    all_mi, all_se = jax.device_get(out)
    point = jnp.asarray(all_mi[0] * scale, dt)
    common = dict(
        point=point,
        point_stderr=jnp.asarray(all_se[0] * scale, dt),
        classes=classes,
        prior=jnp.asarray(pri),
        n_components=jnp.asarray([f.k for f in fits]),
        selection_converged=jnp.asarray([f.converged for f in fits]),
    )
    if o["n_bootstrap"] == 0:
        return CategoricalMIResult(
            mi=point,
            std=None,
            samples=jnp.zeros((0,), dt),
            n_iter=jnp.zeros((0, n_cls), jnp.int32),
            converged=jnp.zeros((0, n_cls), bool),
            **common,
        )
    vals = (all_mi[1:] * scale).astype(dt)
    return CategoricalMIResult(
        mi=jnp.asarray(np.mean(vals, dtype=np.float64), dt),
        std=jnp.asarray(np.std(vals, ddof=1, dtype=np.float64), dt) if vals.shape[0] > 1 else None,
        samples=jnp.asarray(vals),
        n_iter=jnp.asarray(np.stack([f.boot.n_iter for f in fits], axis=1)),
        converged=jnp.asarray(np.stack([f.boot.converged for f in fits], axis=1)),
        **common,
    )


# --------------------------------------------------------------------------------------------
# KL divergence
# --------------------------------------------------------------------------------------------


def _kl_pairs(key, ps: GMM, qs: GMM, n_samples: int):
    """``E_{z ~ p}[log p(z) - log q(z)]`` and its MC standard error for each pair (p, q)."""
    key = _em.as_keys(key)

    def one(pq):
        p, q = pq
        z = sample_t(key, p, n_samples)
        v = log_prob_t(p, z) - log_prob_t(q, z)
        return jnp.mean(v), jnp.std(v) / math.sqrt(n_samples)

    return jax.lax.map(one, (ps, qs))


_kl_pairs_jit = _compile.jit(_kl_pairs, kind="loops", static_argnames=("n_samples",))


def _kl_rqmc(key, ps: GMM, qs: GMM, n_points: int):
    """``E_{z ~ p}[log p(z) - log q(z)]`` and its standard error for each pair by RQMC.

    ``n_points`` per-component scrambled Sobol' points of each ``p``
    (:func:`jaxmi.gmm._integrate.rqmc_functional`), every pair with the same key: the full
    fit's pair and its bootstrap replicates share the randomisations (common random numbers),
    as the plain Monte Carlo rule shares its draws. The integrand is closed over the pair's
    ``q``; the pairs are vmapped in chunks of at most ``2^22`` points (``lax.map`` with a
    ``batch_size``): 51 pairs of 2-D mixtures at 8,192 points took 6 ms vmapped against 23 ms
    one pair at a time (2-core CPU).
    """
    key = _em.as_keys(key)

    def one(pq):
        p, q = pq

        def integrand(g, z):
            return log_prob_t(g, z) - log_prob_t(q, z)

        pb = jax.tree.map(lambda a: a[None], p)
        m, se = _integrate_mod.rqmc_functional(key, pb, integrand, n_points=n_points, batch="vmap")
        return m[0], se[0]

    size = max(1, _integrate_mod._VMAP_MAX_POINTS // n_points)
    return jax.lax.map(one, (ps, qs), batch_size=size)


_kl_rqmc_jit = _compile.jit(_kl_rqmc, kind="hot", static_argnames=("n_points",))

#: RQMC points of the separate-mode KL integral (``rqmc_points="auto"``), by the largest
#: dimension each covers: the smallest power of two whose RMSE was at most 0.75x that of plain
#: MC with 1e5 draws on every KL truth task of those dimensions, with a margin for the RMSE's
#: own sampling error (``benchmarks/gmm_kl_integral.py``).
KL_POINTS = {6: 8192}


def kl_points(d: int) -> int:
    """Default RQMC points of the separate-mode KL integral in ``d`` dimensions."""
    return next(v for dim, v in KL_POINTS.items() if d <= dim)


def gmm_kl(
    key: jax.Array,
    x: Any,
    y: Any,
    *,
    mode: str = "separate",
    order: str = "forward",
    **options: Any,
) -> MIResult:
    """KL divergence between the densities of two samples, with bootstrap error bars.

    ``order="forward"`` gives ``KL[p_x || p_y] = E_{p_x}[log p_x - log p_y]``, ``"reverse"``
    gives ``KL[p_y || p_x]``.

    * ``mode="separate"`` (default): ``x (N1, d)`` and ``y (N2, d)`` are independent samples,
      possibly of different sizes; each gets its own mixture (K by cross-validation) and its own
      bootstrap, replicate b pairing the b-th refits of both. Both samples draw their folds,
      starts and bootstrap counts from the same random streams (common random numbers), so a
      sample compared with itself gives exactly 0.
    * ``mode="joint"`` (the GMM-MI reference's ``include_kl``): ``x`` and ``y`` are paired samples
      of the same space; one mixture is fitted to ``(x, y)`` and the KL is between its two
      marginals.

    Both standardise with one pooled affine map per coordinate (KL is invariant only under the
    same map applied to both samples). Options as for :func:`gmm_mi`. The separate mode
    integrates ``E_{z ~ p}[log p(z) - log q(z)]`` over points of the first density's mixture:
    randomised quasi-Monte Carlo by default (8,192 per-component scrambled Sobol' points up to
    six dimensions; plain Monte Carlo beyond), or plain Monte Carlo with ``mc_samples`` draws
    (``integral="mc"``), the reference's rule. The default's error was at most 0.75x that of MC
    with 1e5 draws on every KL truth task (``benchmarks/gmm_kl_integral.py``).

    Args:
        key: typed PRNG key.
        x: ``(N1,)`` or ``(N1, d)``.
        y: ``(N2,)`` or ``(N2, d)``, the same dimension ``d`` (and ``N2 == N1`` in joint mode).
        mode: ``"separate"`` or ``"joint"``.
        order: ``"forward"`` or ``"reverse"``.
        **options: see :func:`gmm_mi`.

    Returns:
        An :class:`MIResult` whose ``mi`` holds the KL divergence (nats, or ``base`` units). In
        separate mode ``n_components``/``selection_converged`` are ``(2,)`` (x's fit, y's fit),
        ``n_iter``/``converged`` are ``(n_bootstrap, 2)``, and ``cv_scores`` are x's.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(7, 4, 4000), rng.normal(-3, 5, 4000)
        >>> r = jaxmi.gmm_kl(jax.random.key(0), a, b, n_bootstrap=5, mc_samples=20_000)
        >>> abs(float(r.mi) - 2.043144) < 0.15  # log(5/4) + (16 + 100) / 50 - 1/2
        True
    """
    key = _concrete_key(key)
    if mode not in ("separate", "joint"):
        raise ValueError(f"mode: expected 'separate' or 'joint', got {mode!r}")
    if order not in ("forward", "reverse"):
        raise ValueError(f"order: expected 'forward' or 'reverse', got {order!r}")
    dtype = options.pop("dtype", None)
    sc = _scale_option(options)
    xa = _columns(x, "x", dtype, centre=False, scale=sc)
    ya = _columns(
        y, "y", xa.dtype, n=xa.shape[0] if mode == "joint" else None, centre=False, scale=sc
    )
    if ya.shape[1] != xa.shape[1]:
        raise ValueError(
            f"y: has {ya.shape[1]} column(s), x has {xa.shape[1]}; KL needs the same space"
        )
    # one shift for both samples, which KL is invariant under (x's column means, float64), and
    # with standardisation one power of two per column near x's std (see _scaled_columns)
    shift, sd = scaled_moments(_as64(x))
    exps = np.frexp(sd)[1] if sc else np.zeros(xa.shape[1], int)
    xa, ya = (np.ldexp(_as64(a) - shift, -exps).astype(xa.dtype) for a in (x, y))
    checked = _checked_options(dict(options))
    refuse_for(checked["marginals"], "a KL divergence")
    if mode == "separate":  # the integral's option errors before any warning or fit
        rule = _integral_settings(checked, xa.shape[1], kl_points)
    if checked["standardize"]:  # one pooled map for both samples
        # each sample needs a density of its own: a constant y would pass the pooled check
        _check_not_constant(xa.astype(np.float64).std(0), (("x", xa.shape[1]),))
        _check_not_constant(ya.astype(np.float64).std(0), (("y", ya.shape[1]),))
        _, mean, sd = _standardize(np.concatenate([xa, ya]), "x, y")
        xa, ya = ((xa - mean) / sd).astype(xa.dtype), ((ya - mean) / sd).astype(xa.dtype)
    elif mode == "separate":  # (the joint mode's _estimate warns)
        _warn_unstandardized(np.concatenate([xa, ya]), "x, y", checked, quantity="kl")
    opts = {**options, "standardize": False}
    d = xa.shape[1]
    if mode == "joint":
        blocks = (tuple(range(d)), tuple(range(d, 2 * d)))
        return _estimate(key, np.concatenate([xa, ya], axis=1), f"kl_{order}", blocks, opts)
    ox = _resolve_options(dict(opts), xa.shape[0], d, "x")
    oy = _resolve_options(dict(opts), ya.shape[0], d, "y")
    o = ox if xa.shape[0] >= ya.shape[0] else oy
    words = _key_words(key)
    # common random numbers: the same streams for both fits (identical samples, identical fits)
    data = _datasets([xa, ya], [_child_words(words, 2000)] * 2)
    bar = Progress(None, "GMM KL", enabled=o["progress"])
    with bar:
        fx, fy = _fit_many(data, key, o, _em_settings(o, xa.dtype), o["mesh"], bar)
    _warn_fits([fx, fy], ["x", "y"], o)
    kc = max(fx.full.weights.shape[-1], fy.full.weights.shape[-1])
    pad = functools.partial(_pad_components, kc=kc)
    first, second = (fx, fy) if order == "forward" else (fy, fx)
    key_mc = _mc_keys([words], key)[0]
    scale = 1.0 / math.log(ox["base"]) if ox["base"] is not None else 1.0
    has_boot = fx.boot is not None
    pairs = (
        _point_and_replicates(pad(first.full), pad(first.boot.gmm) if has_boot else None),
        _point_and_replicates(pad(second.full), pad(second.boot.gmm) if has_boot else None),
    )
    if rule["exact"] and kc == 1:  # two single Gaussians per replicate: the closed form
        (p, q) = (
            (np.asarray(g.means, np.float64)[:, 0], np.asarray(g.covariances, np.float64)[:, 0])
            for g in pairs
        )
        p_kl = jnp.asarray(_gaussian_kl(*p, *q), xa.dtype)
        p_se = jnp.zeros_like(p_kl)
    elif rule["rule"] == "rqmc":
        p_kl, p_se = _kl_rqmc_jit(key_mc, *pairs, n_points=rule["n_samples"])
    else:
        p_kl, p_se = _kl_pairs_jit(key_mc, *pairs, n_samples=rule["n_samples"])
    common = dict(
        point=p_kl[0] * scale,
        point_stderr=p_se[0] * scale,
        n_components=jnp.asarray([fx.k, fy.k]),
        cv_scores=jnp.asarray(fx.scores),
        selection_converged=jnp.asarray([fx.converged, fy.converged]),
    )
    if not has_boot:
        return MIResult(
            mi=common["point"],
            std=None,
            samples=jnp.zeros((0,), xa.dtype),
            n_iter=jnp.zeros((0, 2), jnp.int32),
            converged=jnp.zeros((0, 2), bool),
            **common,
        )
    vals = p_kl[1:] * scale
    result = MIResult(
        mi=jnp.mean(vals),
        std=jnp.std(vals, ddof=1) if vals.shape[0] > 1 else None,
        samples=vals,
        n_iter=jnp.stack([fx.boot.n_iter, fy.boot.n_iter], axis=1),
        converged=jnp.stack([fx.boot.converged, fy.boot.converged], axis=1),
        **common,
    )
    _warn_results_bias(["x, y"], [result])
    return result


# --------------------------------------------------------------------------------------------
# pairwise MI matrix
# --------------------------------------------------------------------------------------------


class PairwiseMIResult(NamedTuple):
    """Result of :func:`gmm_mi_pairwise` (a pytree of ``(p, q)`` arrays).

    Attributes:
        mi: ``(p, q)`` bootstrap mean MI of each pair (nats, or ``base`` units); ``+inf`` on the
            diagonal when ``b`` is None (I(X;X) is infinite for continuous X).
        std: ``(p, q)`` bootstrap standard deviation (ddof 1; 0 where not estimated); None when
            ``n_bootstrap < 2``, as for :class:`MIResult` (one replicate has no spread).
        point: ``(p, q)`` MI of the full-data fits.
        n_components: ``(p, q)`` K* of each pair (0 where not estimated).
        estimated: ``(p, q)`` bool, False on the diagonal of a within-``a`` matrix.
        converged: ``(p, q)`` bool, all bootstrap refits of the pair converged.
    """

    mi: jax.Array
    std: jax.Array | None
    point: jax.Array
    n_components: jax.Array
    estimated: jax.Array
    converged: jax.Array


@_compile.jit(kind="light")
def _pair_keys(key: jax.Array, i: jax.Array, j: jax.Array) -> jax.Array:
    """``fold_in(fold_in(key, i), j)`` for every pair, in one program."""
    return jax.vmap(lambda a, b: jax.random.fold_in(jax.random.fold_in(key, a), b))(i, j)


def gmm_mi_pairwise(
    key: jax.Array,
    a: Any,
    b: Any = None,
    *,
    categorical: bool = False,
    prior: Any = "empirical",
    **options: Any,
) -> PairwiseMIResult:
    """MI with error bars between every column of ``a`` and every column of ``b``, batched.

    Pair ``(i, j)`` is the problem ``(a[:, i], b[:, j])`` with key
    ``fold_in(fold_in(key, i), j)``, so each entry equals
    ``gmm_mi(fold_in(fold_in(key, i), j), a[:, i], b[:, j], **options)`` (up to the rounding of
    batched arithmetic). With ``categorical=True`` the columns of ``b`` are discrete labels
    (generative factors, classes) and each entry is :func:`gmm_mi_categorical` of the pair
    instead. With ``b=None`` the pairs within ``a`` are estimated for ``i < j`` and mirrored;
    the diagonal is ``+inf`` and marked not ``estimated``.

    All pairs run as one batched computation: for each candidate K, the cross-validation fits of
    every pair still searching form one batch (a pair leaves when its stopping rule fires); the
    refits and bootstrap replicates of all pairs with the same capacity form one batch; the
    integrals of all fitted mixtures form one batch. Larger matrices are fitted in consecutive
    blocks of pairs, at most 2^23 padded samples each (pairs x padded length: about 400 pairs
    at N = 20,000; a 10 x 10 matrix at N = 5,000 is one block), so the memory stays near that
    of one block: a peak of 0.94-0.99 GB for 1,600 pairs at N = 20,000, where it grew by about
    1 MB per pair (``benchmarks/gmm_mi_pairwise_memory.py``). With ``mesh`` (a
    :class:`jax.sharding.Mesh`), every batch is split over all of the mesh's devices. The mesh
    may span several hosts: start each process with :func:`jax.distributed.initialize`, build
    the mesh from ``jax.devices()`` (all processes' devices) and make the same call with the
    same data and key in every process; each returns the whole matrix (a ``ValueError`` says
    so if the processes' inputs differ).

    Args:
        key: typed PRNG key.
        a: ``(N, p)`` (e.g. latent variables).
        b: ``(N, q)`` (e.g. generative factors), or None for the pairs within ``a``.
        categorical: the columns of ``b`` are labels of any values.
        prior: class prior in categorical mode (see :func:`gmm_mi_categorical`).
        **options: as for :func:`gmm_mi`, including ``mesh`` and ``progress``.

    Returns:
        A :class:`PairwiseMIResult` of ``(p, q)`` arrays.

    Raises:
        ValueError: as :func:`gmm_mi` (naming the column), and ``categorical=True`` without
            ``b``.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=(1000, 2)); b = a[:, :1] + rng.normal(size=(1000, 1))
        >>> r = jaxmi.gmm_mi_pairwise(jax.random.key(0), a, b, n_bootstrap=4)
        >>> r.mi.shape, bool(r.mi[0, 0] > r.mi[1, 0])
        ((2, 1), True)
    """
    key = _concrete_key(key)
    dtype = options.pop("dtype", None)
    ms, sc = _marginals_option(options), _scale_option(options)
    aa = _columns(a, "a", dtype, scale=sc, marginals=ms)
    within = b is None
    if categorical and within:
        raise ValueError("b: categorical=True needs the label columns b")
    n, p = aa.shape
    if categorical:
        _refuse_traced_data("b", b, "labels")
        bb = np.asarray(unmasked(b, "b"))
        if bb.ndim == 1:
            bb = bb[:, None]
        if bb.ndim != 2 or bb.shape[0] != n:
            raise ValueError(f"b: expected labels of shape ({n}, q), got {bb.shape}")
    else:
        bb = aa if within else _columns(b, "b", aa.dtype, n=n, scale=sc, marginals=ms)
    q = bb.shape[1]
    # a pair: 2-D, a class: 1-D
    o = _resolve_options(dict(options), n, 1 if categorical else 2, "a" if within else "a, b")
    dt = aa.dtype
    pairs = [(i, j) for i in range(p) for j in range(q) if not (within and j <= i)]
    _check_tails([("a", aa)] + ([] if within or categorical else [("b", bb)]), o)
    if o["standardize"]:
        aa = _standardize(aa, "a")[0]
        if not (within or categorical):
            bb = _standardize(bb, "b")[0]
        elif within:
            bb = aa
    else:
        _warn_unstandardized(aa, "a", o)
        if not (within or categorical):
            _warn_unstandardized(bb, "b", o)
    shape = (p, q)
    out = {
        "mi": np.zeros(shape, dt),
        "std": np.zeros(shape, dt),
        "point": np.zeros(shape, dt),
        "k": np.zeros(shape, np.int32),
        "est": np.zeros(shape, bool),
        "conv": np.zeros(shape, bool),
    }
    if pairs:
        ii, jj = (np.array(t, np.int32) for t in zip(*pairs, strict=True))
        words = [
            tuple(int(w) for w in row)
            for row in np.asarray(jax.random.key_data(_pair_keys(key, ii, jj))).reshape(
                len(pairs), -1
            )
        ]
        bar = Progress(None, "GMM-MI pairs", enabled=o["progress"])
        with bar:
            if categorical:
                _pairwise_categorical(key, aa, bb, pairs, words, o, prior, out, bar)
            else:
                _pairwise_continuous(key, aa, bb, pairs, words, o, out, bar)
        _warn_bootstrap_bias(
            [f"pair ({i}, {j})" for i, j in pairs],
            *(out[f][ii, jj] for f in ("mi", "point", "std")),
            n_bootstrap=o["n_bootstrap"],
        )
    mi, std, point, k, est, conv = (out[f] for f in ("mi", "std", "point", "k", "est", "conv"))
    if within:
        low = np.tril_indices(p, -1)
        for arr in (mi, std, point, k, conv):
            arr[low] = arr.T[low]
        est = est | est.T
        mi[np.diag_indices(p)] = np.inf
    return PairwiseMIResult(
        mi=jnp.asarray(mi),
        std=jnp.asarray(std) if o["n_bootstrap"] > 1 else None,
        point=jnp.asarray(point),
        n_components=jnp.asarray(k),
        estimated=jnp.asarray(est),
        converged=jnp.asarray(conv),
    )


def _record(out: dict, i: int, j: int, r) -> None:
    out["mi"][i, j], out["point"][i, j] = float(r.mi), float(r.point)
    out["std"][i, j] = 0.0 if r.std is None else float(r.std)
    out["k"][i, j] = int(np.max(np.asarray(r.n_components)))
    out["est"][i, j], out["conv"][i, j] = True, bool(np.all(np.asarray(r.converged)))


#: padded dataset-samples (datasets x padded length) that one block of ``gmm_mi_pairwise`` or
#: ``gmm_mi_batch`` fits at a time. The padded datasets, the packed training folds and their
#: copies on the device took about 50 bytes per dataset-sample (1.05 MB per pair at N = 20,000),
#: so an unblocked matrix grew without bound with its number of pairs; a block of 409 pairs at
#: N = 20,000 takes about 0.4 GB (a 10 x 10 matrix at N = 5,000 is one block). Pairs draw their
#: randomness from their own keys, so blocks give the same estimates: to the bit where the
#: padded length is the same (a categorical block pads its classes to its own longest class, as
#: a single call does).
PAIR_BLOCK_SAMPLES = 1 << 23


def _blocks(costs: list[int]) -> list[tuple[int, int]]:
    """Consecutive ``(lo, hi)`` blocks of pairs (or datasets) of near-equal total cost.

    ``costs``: each pair's padded dataset-samples. As few blocks as keep each within
    :data:`PAIR_BLOCK_SAMPLES` where the costs are equal (a block holds at least one pair).
    """
    total = sum(costs)
    n_blocks = max(1, -(-total // PAIR_BLOCK_SAMPLES))
    if n_blocks == 1:
        return [(0, len(costs))]
    blocks, lo, acc = [], 0, 0
    for i, c in enumerate(costs):
        acc += c
        if acc * n_blocks >= total * (len(blocks) + 1) and i + 1 < len(costs):
            blocks.append((lo, i + 1))
            lo = i + 1
    blocks.append((lo, len(costs)))
    return blocks


def _fit_in_blocks(costs, build, finish, key, o: dict, dt, bar, label: str, mi_blocks=None):
    """Fit datasets in consecutive blocks (:func:`_blocks` of their ``costs``).

    For each block ``(lo, hi)``: ``build(lo, hi)`` gives its :class:`_Datasets`, which are
    fitted (:func:`_fit_many`) and dropped; ``finish(lo, hi, fits)`` integrates and records
    them. Returns every fit without its replicates, for the warnings on all of them at once.
    """
    blocks = _blocks(costs)
    kept = []
    for b, (lo, hi) in enumerate(blocks):
        if bar is not None and len(blocks) > 1:
            bar.label = f"{label}, block {b + 1} of {len(blocks)}"
        data = build(lo, hi)
        fits = _fit_many(data, key, o, _em_settings(o, dt), o["mesh"], bar, mi_blocks=mi_blocks)
        del data  # the block's padded datasets, before its integrals
        finish(lo, hi, fits)
        kept += [f._replace(boot=None) for f in fits]
        del fits  # the block's replicates, before the next block's data
    return kept


def _pairwise_continuous(key, aa, bb, pairs, words, o, out, bar) -> None:
    dt = aa.dtype
    mc = dict(_integral_settings(o, 2), kind="mi", blocks=((0,), (1,)))
    scale = 1.0 / math.log(o["base"]) if o["base"] is not None else 1.0

    def build(lo, hi):
        # the list of pair copies lives only while the padded datasets are built (held through
        # the fits, it was one more copy of every pair's columns: 0.16 MB per pair at N = 20,000)
        return _datasets(
            [np.stack([aa[:, i], bb[:, j]], axis=1) for i, j in pairs[lo:hi]], words[lo:hi]
        )

    def finish(lo, hi, fits):
        ints = _integrate_fits(fits, _mc_keys(words[lo:hi], key), o["mesh"], **mc)
        for (i, j), fit, (vals, ses) in zip(pairs[lo:hi], fits, ints, strict=True):
            _record(out, i, j, _result(fit, vals, ses, scale, 0.0, dt, device=False))

    costs = [_em.pad_length(aa.shape[0])] * len(pairs)
    kept = _fit_in_blocks(costs, build, finish, key, o, dt, bar, "GMM-MI pairs", ((0,), (1,)))
    _warn_fits(kept, [f"pair ({i}, {j})" for i, j in pairs], o)


def _pairwise_categorical(key, aa, bb, pairs, words, o, prior, out, bar) -> None:
    dt = aa.dtype
    codes, priors, classes, costs = {}, {}, {}, {}
    for j in sorted({j for _, j in pairs}):
        classes[j], codes[j] = _label_codes(bb[:, j], f"b[:, {j}]", bb.shape[0])
        counts = np.bincount(codes[j])
        priors[j] = _class_prior(prior, counts, dt)
        for c, n_c in enumerate(counts):  # every class, before any fit
            try:
                _resolve_options({**o, "mesh": None}, int(n_c))
            except ValueError as err:
                label = classes[j][c].item()
                raise _small_class_error(
                    f"b[:, {j}]", label, int(n_c), len(counts), bb.shape[0], err
                ) from err
        costs[j] = len(counts) * _em.pad_length(int(counts.max()))
    scale = 1.0 / math.log(o["base"]) if o["base"] is not None else 1.0
    members, labels = [], []  # per pair: its classes' datasets within the block; for warnings

    def build(lo, hi):
        zs, cwords = [], []
        members.clear()
        for (i, j), w in zip(pairs[lo:hi], words[lo:hi], strict=True):
            first = len(zs)
            zs += [aa[codes[j] == c, i][:, None] for c in range(priors[j].shape[0])]
            cwords += _class_words(w, priors[j].shape[0])
            members.append(range(first, len(zs)))
        return _datasets(zs, cwords)  # (the per-class copies go with zs)

    def finish(lo, hi, fits):
        for (i, j), w, idx in zip(pairs[lo:hi], words[lo:hi], members, strict=True):
            r = _categorical_result(key, [fits[m] for m in idx], priors[j], w, o, scale, dt, None)
            _record(out, i, j, r)
            labels.extend(f"pair ({i}, {j}) class {c}" for c in range(len(idx)))

    kept = _fit_in_blocks(
        [costs[j] for _, j in pairs], build, finish, key, o, dt, bar, "GMM-MI pairs"
    )
    _warn_fits(kept, labels, o)
