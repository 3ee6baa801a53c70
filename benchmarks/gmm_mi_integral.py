"""The MI integral of fitted mixtures: plain Monte Carlo against randomised QMC (spec §7.4).

GMM-MI integrates the pointwise MI ``log p(x, y) - log p(x) - log p(y)`` of every fitted mixture
(the full-data fit and 50 bootstrap replicates). This script measures, side by side in one run:

* accuracy, in float64, on the TRUE mixtures of the high-precision tasks of ``tasks.md`` (D3,
  D5, AI, X, waves, galaxy; plus the 4-D and 6-D concentric tasks, which validate the RQMC
  dimension limit): root-mean-square error against the truth over 20 keys of plain MC with 1e5
  draws (the library default) and of RQMC (:func:`jaxmi.gmm._integrate.rqmc_functional`,
  8 randomisations) at several point counts, plus the RQMC standard errors' calibration;
* speed, in float32 (the library default), steady state (compiled, ``block_until_ready``, best of
  several interleaved runs): 51 mixtures of capacity 4 with 3 active components in 2-D (the D3
  mixture with perturbed means, as bootstrap replicates), plain MC with 1e5 draws (the library's
  current program) against RQMC at the 2-D default.

The default point count (for 2-D mixtures, and for all dimensions) is the smallest of those
tried whose RMSE is at most ``MARGIN`` times
the MC-1e5 error ``sd(pmi) / sqrt(1e5)`` on every task (``sd(pmi)`` from a 2^20-draw pilot).

    python benchmarks/gmm_mi_integral.py            # ~3 min on a 2-core CPU

Writes ``benchmarks/results/gmm_mi_integral.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _common import best_time, environment, write_results

import jaxmi
from jaxmi.gmm import _integrate, _mi
from jaxmi.gmm._mixture import GMM, sample_t

RESULTS = Path(__file__).parent / "results" / "gmm_mi_integral.json"

TASKS = (
    "gmmmi-D3",
    "gmmmi-D5",
    "1v1-AI",
    "1v1-X-0.9",
    "2v1-waves-12-5.0-3.0",
    "2v1-galaxy-0.5-3.0",
    "3v1-concentric_gaussians-5",
    "5v1-concentric_gaussians-5",
)
POINTS = (1024, 2048, 4096, 8192, 16384, 32768, 65536)
MC_SAMPLES = 100_000
N_SHIFTS = 8
N_KEYS = 20
MARGIN = 0.75
PILOT = 1 << 20


def true_mixture(name: str):
    """``(parameters, truth)`` of a task's joint mixture (the base task's if transformed).

    The parameters (float64 NumPy ``weights``, ``means``, ``covariances``, ``dim_x``) are those
    of the transforms' base: the PMI is invariant under the injective transforms of X.
    """
    task = jaxmi.tasks.get(name)
    spec = task.mixture if task.mixture is not None else task.base.mixture
    return spec, float(task.mi)


@functools.cache
def pmi_integrand(dx: int, d: int):
    """The library's pointwise-MI integrand for blocks (0..dx-1, dx..d-1), one object per shape."""
    blocks = (tuple(range(dx)), tuple(range(dx, d)))
    return functools.partial(_mi._integrand, kind="mi", blocks=blocks)


def stack(tree, n: int):
    return jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), tree)


@functools.partial(jax.jit, static_argnames=("integrand", "n"))
def mc_means(keys, gmm: GMM, integrand, n: int):
    """Plain MC means (one per key) of ``integrand`` over ``n`` draws of one mixture."""
    return jax.lax.map(lambda k: jnp.mean(integrand(gmm, sample_t(k, gmm, n))), keys)


@functools.partial(jax.jit, static_argnames=("integrand",))
def pilot_sd(key, gmm: GMM, integrand):
    return jnp.std(integrand(gmm, sample_t(key, gmm, PILOT)))


def accuracy(keys_seed: int = 1) -> list[dict]:
    rows = []
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.key(keys_seed), N_KEYS)
        for name in TASKS:
            spec, truth = true_mixture(name)
            g = spec.gmm("xy", jnp.float64)
            dx, d, k = spec.dim_x, g.dim, g.capacity
            f = pmi_integrand(dx, d)
            sd = float(pilot_sd(jax.random.key(99), g, f))
            mc = np.asarray(mc_means(keys, g, f, MC_SAMPLES)) - truth
            row = dict(
                task=name,
                truth=truth,
                d=d,
                components=k,
                sd_pmi=sd,
                mc_bound=sd / math.sqrt(MC_SAMPLES),
                mc_rmse=float(np.sqrt(np.mean(mc**2))),
                rqmc={},
            )
            gb = stack(g, N_KEYS)
            for n in POINTS:
                m, se = _integrate.rqmc_functional_jit(keys, gb, f, n_points=n, n_shifts=N_SHIFTS)
                err = np.asarray(m) - truth
                z = np.abs(err) / np.asarray(se)
                row["rqmc"][str(n)] = dict(
                    rmse=float(np.sqrt(np.mean(err**2))),
                    mean_abs_err=float(np.mean(np.abs(err))),
                    rms_stderr=float(np.sqrt(np.mean(np.asarray(se) ** 2))),
                    frac_within_2se=float(np.mean(z <= 2)),
                    max_abs_z=float(np.max(z)),
                )
            rows.append(row)
            r = row["rqmc"]
            print(
                f"{name:28s} MC-1e5 bound {row['mc_bound']:.1e} (seen {row['mc_rmse']:.1e}) | "
                + " ".join(f"{n}: {r[str(n)]['rmse']:.1e}" for n in POINTS),
                flush=True,
            )
    return rows


def choose_default(rows: list[dict]) -> int | None:
    for n in POINTS:
        if all(r["rqmc"][str(n)]["rmse"] <= MARGIN * r["mc_bound"] for r in rows):
            return n
    return None


def choose_defaults(rows: list[dict]) -> dict:
    """The smallest passing point count on all tasks, and on the two-dimensional ones alone."""
    return {
        "all": choose_default(rows),
        "d<=2": choose_default([r for r in rows if r["d"] <= 2]),
        "d>2": choose_default([r for r in rows if r["d"] > 2]),
    }


def replicates(n_mix: int = 51, kc: int = 4, seed: int = 0) -> GMM:
    """51 float32 mixtures like a D3 fit and its bootstrap replicates, capacity ``kc``."""
    g, _ = true_mixture("gmmmi-D3")
    k = g.weights.shape[0]
    rng = np.random.default_rng(seed)
    pad = kc - k
    w = np.concatenate([g.weights, np.zeros(pad)])
    mu = np.concatenate([g.means, np.zeros((pad, 2))])
    cov = np.concatenate([g.covariances, np.broadcast_to(np.eye(2), (pad, 2, 2))])
    act = np.arange(kc) < k
    out = []
    for _ in range(n_mix):
        m = np.where(act[:, None], mu + 0.02 * rng.normal(size=mu.shape), 0)
        out.append(GMM.create(w, m, cov, act, dtype=jnp.float32))
    return jax.tree.map(lambda *a: jnp.stack(a), *out)


def timing(default: int, rounds: int = 5) -> dict:
    gb = replicates()
    f = pmi_integrand(1, 2)
    key = jax.random.key(0)
    kw = dict(kind="mi", blocks=((0,), (1,)))
    nested = jax.tree.map(lambda a: a[None], gb)  # (1 dataset, 51 mixtures)
    progs = {
        "mc_1e5": lambda: _mi._mc_functional_jit(key[None], nested, n_samples=MC_SAMPLES, **kw),
        "rqmc_default": lambda: _integrate.rqmc_functional_jit(key, gb, f, n_points=default),
        "rqmc_default_map": lambda: _integrate.rqmc_functional_jit(
            key, gb, f, n_points=default, batch="map"
        ),
        "rqmc_half_default": lambda: _integrate.rqmc_functional_jit(
            key, gb, f, n_points=default // 2
        ),
    }
    first = {}
    for name, fn in progs.items():
        t = time.perf_counter()
        jax.block_until_ready(fn())
        first[name] = time.perf_counter() - t
    best = {name: math.inf for name in progs}
    for _ in range(rounds):  # interleaved, so load changes hit every program alike
        for name, fn in progs.items():
            best[name] = min(best[name], best_time(fn, 2))
    mc_val = np.asarray(progs["mc_1e5"]()[0]).ravel()
    rq_val = np.asarray(progs["rqmc_default"]()[0])
    return dict(
        mixtures=int(gb.weights.shape[0]),
        capacity=int(gb.capacity),
        active=3,
        d=2,
        dtype="float32",
        steady_s={k: float(v) for k, v in best.items()},
        first_call_s={k: float(v) for k, v in first.items()},
        speedup=float(best["mc_1e5"] / best["rqmc_default"]),
        speedup_map=float(best["mc_1e5"] / best["rqmc_default_map"]),
        max_abs_diff_mc_rqmc=float(np.max(np.abs(mc_val - rq_val))),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    rows = accuracy()
    defaults = choose_defaults(rows)
    default = defaults["all"]
    print(f"smallest passing points (RMSE <= {MARGIN} x MC-1e5 bound on every task): {defaults}")
    tim = timing(defaults["d<=2"] or _integrate.DEFAULT_POINTS_2D)
    print(json.dumps(tim, indent=1))
    result = dict(
        **environment(),
        settings=dict(
            mc_samples=MC_SAMPLES,
            n_shifts=N_SHIFTS,
            keys=N_KEYS,
            points=list(POINTS),
            margin=MARGIN,
            pilot=PILOT,
            accuracy_dtype="float64",
            timing="steady state: best of 5 interleaved rounds x 2 calls after a first call",
            library_default_points={
                "d<=2": _integrate.DEFAULT_POINTS_2D,
                "d>2": _integrate.DEFAULT_POINTS,
            },
        ),
        criterion=f"RQMC RMSE <= {MARGIN} x sd(pmi)/sqrt({MC_SAMPLES}) on every task",
        default_points=default,
        default_points_by_dim=defaults,
        rows=rows,
        timing=tim,
    )
    write_results(args.out, result)


if __name__ == "__main__":
    main()
