"""Randomised quasi-Monte Carlo (RQMC) integrals over Gaussian mixtures (spec gmm-mi §7.4).

Estimates ``E_{z ~ p}[f(z)]`` for a fitted mixture ``p = sum_k pi_k N(mu_k, Sigma_k)`` and an
integrand ``f`` such as the pointwise MI ``log p(x, y) - log p(x) - log p(y)``, stratified per
component:

    E_p[f] = sum_k pi_k E_{u ~ U(0,1)^d}[ f(mu_k + L_k Phi^-1(u)) ],   L_k = chol(Sigma_k),

with each inner expectation estimated on ``n_k`` points of a scrambled Sobol' sequence, mapped by
``Phi^-1`` (:func:`jax.scipy.special.ndtri`) and the component's affine map.

Point set. Sobol' (Joe & Kuo direction numbers, Gray-code order; the tests check them against
SciPy), randomised by a random linear matrix scramble (Matoušek's "LMS": a random unit
lower-triangular binary matrix per dimension applied to the generating matrices) plus a random
digital shift. Each point is then marginally uniform (the estimate is unbiased), and the first
``2^m`` points of a component remain a (t, m, d)-net. The scramble is drawn once per
randomisation and shared by all components; each component slot has its own digital shift (a
bijective mix of a random seed and the slot index: independent of the capacity). The uniforms are
centred on a grid of ``2^-23`` (float32) or ``2^-32`` (float64) cells, strictly inside (0, 1), so
``Phi^-1`` is finite (at most 5.3 or 6.3 standard deviations).

Allocation. The ``N = n_points / n_shifts`` points of one randomisation are split among the
``K`` active components: a floor of ``N // (8 K)`` points each (a component of tiny weight is
still integrated), the rest in proportion to the weights (cumulative rounding, so the counts sum
to ``N`` exactly). Component ``k`` uses the first ``n_k`` points of its sequence, weighted
``pi_k / n_k``, so the estimator is unbiased for any allocation. Shapes are static (``N`` points
per randomisation whatever the weights); inactive slots get no points and contribute nothing,
and the result depends only on the active components (a mixture padded with inactive slots gives
the same value). Proportional allocation is variance-optimal for equal within-component spreads
and spends nothing on masked capacity. (Rounding the counts to powers of two, where the nets are
exact, was measured and did not pay for the points it discards.)

Error. ``n_shifts`` independent randomisations of ``N`` points each; the estimate is their mean
and its standard error ``std(ddof=1) / sqrt(n_shifts)``. The RMSE against high-precision truths
falls roughly as ``N^-0.7`` to ``N^-1.1`` on the mixtures of ``tasks.md`` (plain MC:
``N^-0.5``); see ``benchmarks/gmm_mi_integral.py`` for the measurements behind
:data:`DEFAULT_POINTS`.

Common random numbers. The scrambles and shifts depend only on ``key`` (its key data, hashed in
counter mode: no threefry program to compile) and the slot index, so every mixture that shares a
key — e.g. the bootstrap replicates of one estimate — is integrated with the same randomisation,
and differences between replicates reflect the fits, not integration noise.

Batching. ``vmap`` over mixtures by default (on a 2-core CPU 4x faster than ``lax.map`` for 51
mixtures of 65,536 points), ``lax.map`` over vmapped chunks beyond ``2^22`` points in total.

Dimension. Validated against high-precision truths up to ``d = 6`` (:data:`RQMC_MAX_DIM`); higher
dimensions are refused (use plain Monte Carlo there, spec §7.4). The direction-number table
covers 16 dimensions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from jaxmi.gmm._mixture import GMM

__all__ = [
    "DEFAULT_POINTS",
    "DEFAULT_POINTS_2D",
    "DEFAULT_SHIFTS",
    "RQMC_MAX_DIM",
    "default_points",
    "rqmc_functional",
    "rqmc_functional_jit",
    "sobol_matrices",
]

#: Dimensions validated against high-precision truths (spec §7.4: "beyond ~6 use MC").
RQMC_MAX_DIM = 6

#: Default total number of integrand evaluations per mixture (all randomisations together): the
#: smallest power of two whose RMSE was at most 0.75x that of plain MC with 1e5 draws on every
#: high-precision task (D3, D5, AI, X, waves, galaxy, 4-D and 6-D concentric; waves needs it,
#: 32,768 sufficed elsewhere). 51 mixtures (capacity 4, d = 2, float32) took 0.067 s against
#: 0.458 s for MC 1e5 (``benchmarks/gmm_mi_integral.py``).
DEFAULT_POINTS = 65_536

#: The same choice made on the two-dimensional tasks alone (D3, D5, AI, X: RMSE at most 0.56x
#: that of MC 1e5 at 16,384 points); the common case, a pair of scalars, needs a quarter of the
#: points.
DEFAULT_POINTS_2D = 16_384


def default_points(d: int) -> int:
    """Default number of RQMC points for a ``d``-dimensional mixture (see the constants above)."""
    return DEFAULT_POINTS_2D if d <= 2 else DEFAULT_POINTS


#: Default number of independent randomisations (gives the standard error).
DEFAULT_SHIFTS = 8

_BITS = 32  # digits of the generating matrices (uint32 arithmetic)

#: Up to this capacity, per-point component tables are select chains (else a gather).
_SELECT_MAX_K = 16

#: ``batch="auto"`` vmaps while ``P * n_points`` is at most this, else maps over vmapped chunks
#: of this many points (memory). On a 2-core CPU vmap ran 2.1-6.9x faster than ``lax.map`` over
#: 51 mixtures: 6.9x at the 2-D default of 16,384 points each (``benchmarks/gmm_mi_integral.py``),
#: 2.1-4.0x at 32,768 and 65,536 points in 2 and 4 dimensions (2026-11-25, capacities 2 and 4).
_VMAP_MAX_POINTS = 1 << 22

# Joe & Kuo (2008) primitive polynomials and initial direction numbers for Sobol' dimensions
# 2..16: (degree s, coefficients a, m_1..m_s). Dimension 1 is the van der Corput sequence.
_JOE_KUO = (
    (1, 0, (1,)),
    (2, 1, (1, 3)),
    (3, 1, (1, 3, 1)),
    (3, 2, (1, 1, 1)),
    (4, 1, (1, 1, 3, 3)),
    (4, 4, (1, 3, 5, 13)),
    (5, 2, (1, 1, 5, 5, 17)),
    (5, 4, (1, 1, 5, 5, 5)),
    (5, 7, (1, 1, 7, 11, 19)),
    (5, 11, (1, 1, 5, 1, 1)),
    (5, 13, (1, 1, 1, 3, 11)),
    (5, 14, (1, 3, 5, 5, 31)),
    (6, 1, (1, 3, 3, 9, 7, 49)),
    (6, 13, (1, 1, 1, 15, 21, 21)),
    (6, 16, (1, 3, 1, 13, 27, 49)),
)
_SOBOL_MAX_DIM = len(_JOE_KUO) + 1


@functools.cache
def sobol_matrices(d: int) -> np.ndarray:
    """Generating matrices of the first ``d`` Sobol' dimensions as ``(d, 32)`` uint32 columns.

    Column ``b`` of dimension ``i`` is the integer whose binary digits (most significant first)
    are the digits of the point contributed by bit ``b`` of the (Gray-coded) index.

    Args:
        d: number of dimensions, ``1 <= d <= 16``.

    Returns:
        ``(d, 32)`` uint32 array (read-only).
    """
    if not 1 <= d <= _SOBOL_MAX_DIM:
        raise ValueError(
            f"d: Sobol' direction numbers cover 1..{_SOBOL_MAX_DIM} dimensions, got {d}"
        )
    out = np.zeros((d, _BITS), np.uint64)
    out[0] = [1 << (_BITS - 1 - b) for b in range(_BITS)]
    for i in range(1, d):
        s, a, m0 = _JOE_KUO[i - 1]
        m = list(m0)
        for k in range(s, _BITS):
            new = m[k - s] ^ (m[k - s] << s)
            for j in range(1, s):
                if (a >> (s - 1 - j)) & 1:
                    new ^= m[k - j] << j
            m.append(new)
        out[i] = [m[b] << (_BITS - 1 - b) for b in range(_BITS)]
    res = out.astype(np.uint32)
    res.flags.writeable = False
    return res


# bit position p = 31 - r of digit r (r = 0 is the most significant digit, 2^-1)
_POS = np.arange(_BITS - 1, -1, -1, dtype=np.uint64)
_DIAG = (np.uint64(1) << _POS).astype(np.uint32)
_ABOVE = (~((np.uint64(2) << _POS) - np.uint64(1)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _lead(a: jax.Array, ndim: int) -> jax.Array:
    """``a`` with leading axes of size 1 up to ``ndim`` axes (explicit broadcasting)."""
    return a.reshape((1,) * (ndim - a.ndim) + a.shape)


def _scramble(rows: jax.Array, cols: np.ndarray) -> jax.Array:
    """Random linear matrix scramble ``C' = L C`` of generating-matrix columns ``(d, B)``.

    ``rows (..., d, 32)`` are random words; they become the rows of a random unit
    lower-triangular binary matrix ``L`` per dimension, and digit ``r`` of a scrambled column is
    the parity of (row ``r`` of ``L``) AND (the column). Returns ``(..., d, B)``.
    """
    nd = rows.ndim + 1  # the constants' leading axes made explicit (rank promotion may raise)
    above, diag = (_lead(jnp.asarray(a), rows.ndim) for a in (_ABOVE, _DIAG))
    rows = (rows & above) | diag  # row r of L as a bit mask
    c = _lead(jnp.asarray(cols)[:, None, :], nd)  # (d, 1, B)
    parity = jax.lax.population_count(rows[..., None] & c) & jnp.uint32(1)  # (..., d, 32, B)
    pos = _lead(jnp.asarray(_POS.astype(np.uint32))[:, None], nd)
    digits = parity << pos  # digit r at bit 31 - r
    return jnp.sum(digits, axis=-2, dtype=jnp.uint32)  # distinct bits: the sum is the OR


def _mix32(h: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser: a bijective avalanche mix of uint32 words."""
    h = h ^ (h >> jnp.uint32(16))
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> jnp.uint32(13))
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> jnp.uint32(16))


def _unit(x: jax.Array, dtype) -> jax.Array:
    """uint32 digits to cell-centred uniforms strictly inside (0, 1)."""
    if jnp.finfo(dtype).nmant >= _BITS:
        return (x.astype(dtype) + 0.5) * (2.0**-_BITS)
    bits = jnp.finfo(dtype).nmant  # float32: 23 bits, so that 1 - 2^-24 is representable
    return ((x >> jnp.uint32(_BITS - bits)).astype(dtype) + 0.5) * (2.0**-bits)


def _allocate(gmm: GMM, n: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Points per component for one randomisation of ``n`` points.

    Returns:
        ``(pi, counts, ends)``: normalised weights ``(Kc,)`` (0 for inactive slots), points per
        component ``(Kc,)`` int32 (0 for inactive slots, summing to ``n``), and their cumulative
        sums.
    """
    act = gmm.active
    w = jnp.where(act, gmm.weights, 0)
    pi = w / jnp.sum(w)
    kc = act.shape[0]
    i32 = jnp.int32
    k_act = jnp.sum(act, dtype=i32)
    floor = jnp.maximum(i32(1), i32(n) // (8 * k_act))
    rest = n - k_act * floor
    slot = jnp.arange(kc, dtype=i32)
    last = jnp.max(jnp.where(act, slot, -1))
    cum = jnp.clip(jnp.cumsum(pi), 0, 1)
    bound = jnp.round(rest.astype(cum.dtype) * cum).astype(i32)
    bound = jnp.where(slot >= last, rest, bound)
    share = bound - jnp.concatenate([jnp.zeros((1,), i32), bound[:-1]])
    counts = jnp.where(act, floor + share, 0).astype(i32)
    return pi, counts, jnp.cumsum(counts, dtype=i32)


def _check(gmms: GMM, key: jax.Array, n_points: int, n_shifts: int, batch: str) -> int:
    if not isinstance(gmms, GMM) or gmms.means.ndim < 3:
        raise ValueError("gmms: expected a jaxmi.gmm.GMM batch with means of shape (*B, K, d)")
    bshape = gmms.weights.shape[:-1]
    if (
        not isinstance(key, jax.Array)
        or not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        or key.shape != bshape[: key.ndim]
    ):
        raise ValueError(
            f"key: expected a typed PRNG key whose shape is a prefix of the batch shape {bshape}"
        )
    for name, v in (("n_points", n_points), ("n_shifts", n_shifts)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise ValueError(f"{name}: expected an integer >= 2, got {v!r}")
    if n_points % n_shifts:
        raise ValueError(f"n_points: {n_points} is not a multiple of n_shifts={n_shifts}")
    if batch not in ("auto", "map", "vmap"):
        raise ValueError(f"batch: expected 'auto', 'map' or 'vmap', got {batch!r}")
    d, kc = gmms.dim, gmms.capacity
    if d > RQMC_MAX_DIM:
        raise ValueError(
            f"gmms: RQMC is validated up to {RQMC_MAX_DIM} dimensions, got d={d}; "
            "use plain Monte Carlo"
        )
    n = n_points // n_shifts
    if n < kc:
        raise ValueError(
            f"n_points: {n} points per randomisation are fewer than the {kc} component slots"
        )
    if n > 2**_BITS:  # pragma: no cover - far beyond memory
        raise ValueError(f"n_points: at most 2^{_BITS} points per randomisation")
    return n


def _words(key: jax.Array, n: int) -> jax.Array:
    """``n`` random uint32 words from a typed key, by counter-mode hashing of its key data.

    Word ``c`` is the MurmurHash3 finaliser chained over the key's words:
    ``h = mix(c * 0x9E3779B9 + k_0)``, then ``h = mix(h ^ k_i)`` for the remaining words. For a
    uniformly random key every word is exactly uniform (each step is a bijection), and the
    finaliser's avalanche makes the words of different counters effectively independent. Used
    instead of ``jax.random.bits``, whose threefry program doubled the integral's compilation
    time (0.55 of 1.1 s measured) for a few hundred words.
    """
    data = jax.random.key_data(key).reshape(-1).astype(jnp.uint32)
    h = _mix32(jnp.arange(n, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9) + data[0])
    for i in range(1, data.shape[0]):
        h = _mix32(h ^ data[i])
    return h


def _randomisations(key: jax.Array, d: int, kc: int, n_bits: int, n_shifts: int):
    """Scrambled generating matrices ``(d, n_shifts, n_bits)`` and digital shifts.

    ``n_shifts * d * 33`` random words (:func:`_words`): per randomisation and dimension, 32 rows
    of the scramble matrix and one seed. The digital shift of component slot ``k`` is a bijective
    mix of ``seed + k * 0x9E3779B9``: uniform for every slot and independent of the capacity.
    Shifts are returned as ``(Kc, d, n_shifts)`` uint32.
    """
    words = _words(key, n_shifts * d * (_BITS + 1)).reshape(n_shifts, d, _BITS + 1)
    mats = _scramble(words[..., :_BITS], sobol_matrices(d)[:, :n_bits])  # (n_shifts, d, bits)
    slots = jnp.arange(kc, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9)
    shifts = _mix32(words[None, :, :, _BITS] + slots[:, None, None])  # (Kc, n_shifts, d)
    return jnp.transpose(mats, (1, 0, 2)), jnp.transpose(shifts, (0, 2, 1))


def _sobol_digits(j: jax.Array, mats: jax.Array, shift: jax.Array) -> jax.Array:
    """Scrambled, digitally shifted Sobol' points ``j`` (Gray-code order) as uint32 digits.

    Args:
        j: ``(n,)`` uint32 indices ``< 2^B``.
        mats: ``(d, m, B)`` scrambled generating-matrix columns of ``m`` randomisations.
        shift: digital shifts, broadcastable to ``(d, m, n)``.

    Returns:
        ``(d, m, n)`` uint32: binary digits of the points, most significant first.
    """
    gray = j ^ (j >> jnp.uint32(1))
    x = jnp.broadcast_to(shift, (*mats.shape[:2], j.shape[0]))
    for b in range(mats.shape[-1]):
        on = ((gray >> jnp.uint32(b)) & jnp.uint32(1)).astype(bool)
        x = x ^ jnp.where(on, mats[:, :, b, None], jnp.uint32(0))
    return x


def _component_pick(g: GMM, n: int):
    """Allocation of ``n`` points to components and a per-point reader of component tables.

    Points ``[start_k, end_k)`` belong to component ``k`` (contiguous blocks). Returns
    ``(pi, counts, start, ends, i, pick)`` where ``pick(table (Kc, ...)) -> (..., n)`` reads a
    per-component table per point: a select chain over the capacity (XLA:CPU's gather was
    slower) or, for a large capacity, a gather.
    """
    kc = g.capacity
    pi, counts, ends = _allocate(g, n)
    start = ends - counts
    i = jnp.arange(n, dtype=jnp.int32)
    if kc <= _SELECT_MAX_K:
        mask = [(i >= start[k]) & (i < ends[k]) for k in range(kc)]

        def pick(table):  # (Kc, ...) -> (..., n)
            out = jnp.zeros((*table.shape[1:], n), table.dtype)
            for k in range(kc):
                out = jnp.where(mask[k], table[k][..., None], out)
            return out

    else:
        comp = jnp.minimum(jnp.searchsorted(ends, i, side="right"), kc - 1)

        def pick(table):
            return jnp.moveaxis(table[comp], 0, -1)

    return pi, counts, start, ends, i, pick


def _affine_points(g: GMM, start, ends, i, normals_of, n_shifts: int) -> jax.Array:
    """The points ``(d, n_shifts, n)``: component ``k``'s affine map on its block's normals.

    ``normals_of(k)`` gives the standard normals ``(d, n_shifts, n)`` read by component ``k``
    (only its block ``[start_k, end_k)`` is used).
    """
    kc = g.capacity
    d = g.dim
    chol = jnp.linalg.cholesky(g.covariances)  # (Kc, d, d)

    # one component at a time, in a loop whose trip count (up to the last active slot) is not
    # static: XLA:CPU then materialises the normals and the points once. Fused elementwise, it
    # recomputed the point pipeline inside every use by the integrand (measured 5-30x slower);
    # an optimization barrier does not survive to fusion on the CPU
    def affine(k, z):
        eps = normals_of(k)
        zk = g.means[k][:, None, None] + sum(
            chol[k][:, c, None, None] * eps[c][None] for c in range(d)
        )
        inside = (i >= start[k]) & (i < ends[k])
        return jnp.where(inside, zk, z)

    last = jnp.max(jnp.where(g.active, jnp.arange(kc, dtype=jnp.int32), 0))
    z0 = jnp.zeros((d, n_shifts, i.shape[0]), g.means.dtype)
    return jax.lax.fori_loop(0, last + 1, affine, z0)


def _weighted_sum(g: GMM, zt, integrand, pi, counts, pick, n: int, n_shifts: int):
    """Per-randomisation estimates ``(n_shifts,)`` from the points ``(d, n_shifts, n)``."""
    dt = g.means.dtype
    f = integrand(g, zt.reshape(g.dim, n_shifts * n)).reshape(n_shifts, n)
    wpt = pick(pi / jnp.maximum(counts, 1).astype(dt))[None, :]  # pi_k / n_k, (1, n)
    # a zero-weight component contributes exactly 0 (even where the integrand is not finite); a
    # NaN weight (a failed fit) stays NaN
    return jnp.sum(jnp.where(wpt == 0, 0, f * wpt), axis=1)


def _one(g: GMM, mats, shifts, integrand, n: int, n_shifts: int):
    """Per-randomisation estimates ``(n_shifts,)`` for one mixture, its normals computed here."""
    dt = g.means.dtype
    pi, counts, start, ends, i, pick = _component_pick(g, n)
    j = (i - pick(start)).astype(jnp.uint32)  # index of the point in its component's sequence
    eps = ndtri(_unit(_sobol_digits(j, mats, pick(shifts)), dt))  # (d, n_shifts, n), finite
    zt = _affine_points(g, start, ends, i, lambda k: eps, n_shifts)
    return _weighted_sum(g, zt, integrand, pi, counts, pick, n, n_shifts)


def _normal_tables(mats, shifts, n: int, dt) -> jax.Array:
    """Each component slot's normals for sequence indices ``0..n-1``: ``(Kc, d, n_shifts, 2n)``.

    Left-padded with ``n`` zeros for :func:`_one_from_tables`'s slices. The same numbers as
    :func:`_one` computes per point (the digital shift is a final XOR), made once per key: the
    mixtures that share a key (a data set's full fit and its bootstrap replicates) differ only
    in how many points of each sequence they read.
    """
    j = jnp.arange(n, dtype=jnp.uint32)
    base = _sobol_digits(j, mats, jnp.uint32(0))  # (d, n_shifts, n)
    eps = ndtri(_unit(base[None] ^ shifts[..., None], dt))  # (Kc, d, n_shifts, n)
    return jnp.concatenate([jnp.zeros_like(eps), eps], axis=-1)


def _one_from_tables(g: GMM, tables, integrand, n: int, n_shifts: int):
    """:func:`_one` reading the normals from :func:`_normal_tables` of the mixture's key."""
    d = g.dim
    pi, counts, start, ends, i, pick = _component_pick(g, n)

    def normals_of(k):
        # sequence index i - start_k of point i sits at padded position n - start_k + i
        zero = jnp.int32(0)
        at = (jnp.asarray(k, jnp.int32), zero, zero, (n - start[k]).astype(jnp.int32))
        return jax.lax.dynamic_slice(tables, at, (1, d, n_shifts, n))[0]

    zt = _affine_points(g, start, ends, i, normals_of, n_shifts)
    return _weighted_sum(g, zt, integrand, pi, counts, pick, n, n_shifts)


#: Normals from per-key tables (:func:`_normal_tables`) when at least this many mixtures per
#: component slot share a key; else each mixture computes its own (one key per mixture).
_TABLES_MIN_SHARE = 1


def rqmc_functional(
    key: jax.Array,
    gmms: GMM,
    integrand: Callable[[GMM, jax.Array], jax.Array],
    *,
    n_points: int = DEFAULT_POINTS,
    n_shifts: int = DEFAULT_SHIFTS,
    batch: str = "auto",
) -> tuple[jax.Array, jax.Array]:
    """RQMC estimate of ``E_{z ~ p}[integrand(p, z)]`` for each mixture ``p`` of a batch.

    Pure and jittable (``integrand``, ``n_points``, ``n_shifts`` and ``batch`` static; see
    :data:`rqmc_functional_jit`). The same contract as the plain Monte Carlo integral over
    :func:`jaxmi.gmm._mixture.sample_with`: the same expectation, a standard error, and common
    random numbers for mixtures that share a key.

    Args:
        key: a typed PRNG key, the only source of randomness; its shape is a prefix of the batch
            shape ``B``. Mixtures that share a key are integrated with the same scrambles and
            shifts (common random numbers): one key ``()`` for the whole batch, or keys ``(D,)``
            for mixtures ``(D, R, ...)`` (dataset ``i``'s full fit and bootstrap replicates share
            ``key[i]``), or one key per mixture.
        gmms: mixtures with leading batch axes ``B`` (e.g. ``(P,)`` or ``(D, R)``): weights
            ``(*B, Kc)``, means ``(*B, Kc, d)``, covariances ``(*B, Kc, d, d)``, active
            ``(*B, Kc)``; ``d <= RQMC_MAX_DIM``. Inactive slots get no points; the result
            depends only on the active components.
        integrand: ``integrand(gmm, z) -> (S,)`` for ONE mixture and points ``z`` of shape
            ``(d, S)`` (sample axis last), e.g. the pointwise MI in nats. It is a static
            argument under ``jax.jit``: pass the same (hashable) function object each time to
            reuse the compiled program.
        n_points: integrand evaluations per mixture, all randomisations together; a multiple of
            ``n_shifts`` with at least ``Kc`` points per randomisation.
        n_shifts: independent randomisations (>= 2); the standard error is their spread.
        batch: how mixtures are batched: ``"vmap"`` (all at once: fastest, memory grows with
            ``prod(B) * n_points``), ``"map"`` (``jax.lax.map``, one mixture at a time: memory
            ``(d, n_points)`` per step, 2-7x slower on a CPU), or ``"auto"``: ``"vmap"`` while
            ``prod(B) * n_points <= 2^22``, else ``lax.map`` over vmapped chunks of at most
            ``2^22`` points.

    Returns:
        ``(mean, stderr)``, each of shape ``B``, in the integrand's units (nats for information
        quantities); ``stderr = std(per-randomisation estimates, ddof=1) / sqrt(n_shifts)``.

    Raises:
        ValueError: ``d > RQMC_MAX_DIM`` (use Monte Carlo), or invalid sizes or key.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmi.gmm import GMM
        >>> from jaxmi.gmm._mixture import log_prob_t
        >>> g = GMM.create(jnp.ones(1), jnp.zeros((1, 2)), jnp.eye(2)[None])
        >>> gb = jax.tree.map(lambda a: a[None], g)
        >>> neg_log_p = lambda g, z: -log_prob_t(g, z)  # entropy: 1 + log(2 pi) = 2.8379 nats
        >>> h, se = rqmc_functional_jit(jax.random.key(0), gb, neg_log_p, n_points=2048)
        >>> abs(float(h[0]) - 2.8379) < 3 * float(se[0]) < 0.01
        True
    """
    n = _check(gmms, key, n_points, n_shifts, batch)
    bshape = gmms.weights.shape[:-1]
    n_keys = math.prod(key.shape)
    n_mix = math.prod(bshape)
    d, kc = gmms.dim, gmms.capacity
    n_bits = max(1, (n - 1).bit_length())
    rand = functools.partial(_randomisations, d=d, kc=kc, n_bits=n_bits, n_shifts=n_shifts)
    mats, shifts = jax.vmap(rand)(key.reshape(n_keys))
    share = n_mix // n_keys  # mixtures per key, stored key-major
    flat = jax.tree.map(lambda a: a.reshape(n_mix, *a.shape[len(bshape) :]), gmms)

    def summary(est):
        return jnp.mean(est), jnp.std(est, ddof=1) / math.sqrt(n_shifts)

    def batched(fn, args, n_items: int, points_per_item: int):
        """``fn`` over the leading axis of ``args``: vmapped, or mapped in chunks (memory)."""
        if batch == "vmap" or (batch == "auto" and n_items * points_per_item <= _VMAP_MAX_POINTS):
            return jax.vmap(fn)(args)
        size = 1 if batch == "map" else max(1, _VMAP_MAX_POINTS // points_per_item)
        return jax.lax.map(fn, args, batch_size=size)

    if share >= _TABLES_MIN_SHARE * kc:  # the normals once per key
        per_key = jax.tree.map(lambda a: a.reshape(n_keys, share, *a.shape[1:]), flat)

        def key_block(args):
            m, s, gs = args
            tables = _normal_tables(m, s, n, gmms.means.dtype)

            def one(g):
                return summary(_one_from_tables(g, tables, integrand, n, n_shifts))

            return batched(one, gs, share, n_points)

        mean, se = batched(key_block, (mats, shifts, per_key), n_keys, share * n_points)
    else:
        owner = np.repeat(np.arange(n_keys), share)  # the key of each mixture

        def one(args):
            g, m, s = args
            return summary(_one(g, m, s, integrand, n, n_shifts))

        mean, se = batched(one, (flat, mats[owner], shifts[owner]), n_mix, n_points)
    return mean.reshape(bshape), se.reshape(bshape)


#: :func:`rqmc_functional` under ``jax.jit`` (``integrand``, sizes and ``batch`` static).
rqmc_functional_jit = jax.jit(
    rqmc_functional, static_argnames=("integrand", "n_points", "n_shifts", "batch")
)
