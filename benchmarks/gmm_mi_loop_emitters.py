"""XLA:CPU's fusion emitters against its loop emitters in GMM-MI's integral programs.

XLA:CPU has two code generators for fused elementwise work: the newer fusion emitters (the
default) and the older loop emitters (``xla_cpu_use_fusion_emitters=False``). Inside a
``lax.map`` loop the fusion emitters' code ran several times slower on a 2-core CPU in some
shapes, and compiled in twice the time; in loop-free (vmapped) programs it was the faster. So
``jaxmi._compile`` gives the integrals that loop over replicates or classes the option kind
``"loops"`` (plain Monte Carlo MI/entropy/KL, the MC categorical integral, the RQMC categorical
integral where :func:`jaxmi.gmm._mi._categorical_rqmc_kind` picks it) and runs the vmapped RQMC
integral in calls that stay within its vmapped size (with the loop emitters where one data set's
replicates alone take more than 2 chunks of it).

Part 1 (``programs``) compiles each program both ways in this process and times them
interleaved (the fastest of 3 runs each), with the largest difference of their values. Part 2
(``estimates``) times whole estimates in fresh processes (the first fills a compilation cache of
its own, the second is timed: the steady estimate); ``--old DIR`` runs the same children against
another checkout side by side (the recorded run: a worktree of de87d3d, before these changes):

    git worktree add /tmp/jaxmi-old de87d3d
    python benchmarks/gmm_mi_loop_emitters.py --old /tmp/jaxmi-old   # about 9 min on 2 cores

Writes ``benchmarks/results/gmm_mi_loop_emitters.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# compile every program of part 1 in this process (a persistent cache would serve the
# compilation times of an earlier run); part 2's children set their own cache
os.environ["JAXMI_COMPILATION_CACHE"] = "0"

import jax
import jax.numpy as jnp
import numpy as np
from _common import environment, write_results

from jaxmi.gmm import _integrate as integrate_mod
from jaxmi.gmm import _mi
from jaxmi.gmm._mixture import GMM, precision_cholesky

RESULTS = Path(__file__).parent / "results" / "gmm_mi_loop_emitters.json"
ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"fusion": None, "loops": {"xla_cpu_use_fusion_emitters": False}}


def mixtures(rng, shape: tuple, kc: int, d: int) -> GMM:
    """Random float32 mixtures with leading axes ``shape``."""
    w = rng.dirichlet(np.ones(kc), size=shape).astype(np.float32)
    mu = rng.normal(size=(*shape, kc, d)).astype(np.float32)
    a = 0.3 * rng.normal(size=(*shape, kc, d, d)).astype(np.float32)
    cov = a @ np.swapaxes(a, -1, -2) + 0.3 * np.eye(d, dtype=np.float32)
    return GMM(w, mu, cov, np.asarray(precision_cholesky(jnp.asarray(cov))), np.ones(w.shape, bool))


def both_ways(fn, args: tuple, static: dict, reps: int = 3) -> dict:
    """Compile ``fn`` with each option set, time them interleaved, compare their values."""
    compiled, values, compile_s = {}, {}, {}
    for name, opts in OPTIONS.items():
        jitted = jax.jit(fn, static_argnames=tuple(static), compiler_options=opts)
        t = time.perf_counter()
        compiled[name] = jitted.lower(*args, **static).compile()
        compile_s[name] = time.perf_counter() - t
        values[name] = np.asarray(jax.block_until_ready(compiled[name](*args))[0])
    runs = {name: [] for name in OPTIONS}
    for _ in range(reps):
        for name, c in compiled.items():
            t = time.perf_counter()
            jax.block_until_ready(c(*args))
            runs[name].append(time.perf_counter() - t)
    ms = {name: 1e3 * min(v) for name, v in runs.items()}
    return dict(
        fusion_ms=round(ms["fusion"], 2),
        loops_ms=round(ms["loops"], 2),
        speedup=round(ms["fusion"] / ms["loops"], 2),
        fusion_compile_s=round(compile_s["fusion"], 2),
        loops_compile_s=round(compile_s["loops"], 2),
        max_abs_diff=float(np.max(np.abs(values["fusion"] - values["loops"]))),
    )


def programs(rng) -> list[dict]:
    rows = []

    def add(program: str, case: dict, res: dict) -> None:
        rows.append(dict(program=program, **case, **res))
        print(rows[-1], flush=True)

    mc = _mi._mc_functional
    for n_data, kc, d in ((1, 2, 2), (4, 3, 2), (1, 3, 8)):
        g = mixtures(rng, (n_data, 51), kc, d)
        keys = jax.random.split(jax.random.key(1), n_data)
        blocks = (tuple(range(d // 2)), tuple(range(d // 2, d)))
        static = dict(n_samples=100_000, kind="mi", blocks=blocks)
        add("mc_mi", dict(datasets=n_data, capacity=kc, d=d), both_ways(mc, (keys, g), static))
    for kc, d in ((2, 1), (3, 2)):
        ps, qs = mixtures(rng, (51,), kc, d), mixtures(rng, (51,), kc, d)
        res = both_ways(_mi._kl_pairs, (jax.random.key(0), ps, qs), dict(n_samples=100_000))
        add("mc_kl", dict(capacity=kc, d=d), res)

    def categorical_mc(u, eps, gmms, log_prior):
        return jax.lax.map(lambda g: _mi._categorical_mi(u, eps, g, log_prior), gmms)

    for n_cls, kc in ((3, 2), (4, 1), (10, 2)):
        g = mixtures(rng, (51, n_cls), kc, 1)
        lp = np.log(np.full(n_cls, 1 / n_cls, np.float32))
        u, eps = _mi._class_noise_jit(
            jax.random.key(0), n_cls=n_cls, n_samples=100_000, d=1, dtype="float32"
        )
        add(
            "mc_categorical",
            dict(classes=n_cls, capacity=kc),
            both_ways(categorical_mc, (u, eps, g, lp), {}),
        )
    for n_cls in (2, 4, 8, 12, 16, 20):
        for kc in (1, 2, 4):
            step = _mi._categorical_fits_per_step(n_cls, kc, 8192)
            g = mixtures(rng, (48, n_cls), kc, 1)
            lp = np.log(rng.dirichlet(np.ones(n_cls))).astype(np.float32)
            keys = jax.random.split(jax.random.key(1), n_cls)
            static = dict(n_points=8192, fits_per_step=step)
            res = both_ways(_mi._categorical_rqmc_fits, (keys, g, lp), static)
            case = dict(classes=n_cls, capacity=kc, chosen=_mi._categorical_rqmc_kind(n_cls, kc))
            add("rqmc_categorical", case, res)
    # the vmapped RQMC program: one call over every data set (a lax.map over chunks inside once
    # they exceed 2^22 points) against calls within it (what _integrate does)
    n_points = integrate_mod.default_points(2)
    per_call = integrate_mod._VMAP_MAX_POINTS // (51 * n_points)
    for n_data in (5, 10, 15, 25):
        g = mixtures(rng, (n_data, 51), 2, 2)
        keys = jax.random.split(jax.random.key(2), n_data)
        mc_kw = dict(n_samples=n_points, kind="mi", blocks=((0,), (1,)))
        one = jax.jit(_mi._rqmc, static_argnames=tuple(mc_kw))
        parts = [(lo, min(lo + per_call, n_data)) for lo in range(0, n_data, per_call)]

        def split(one=one, g=g, keys=keys, mc_kw=mc_kw, parts=parts):
            take = [
                np.concatenate([np.arange(lo, hi), np.full(per_call - (hi - lo), lo)])
                for lo, hi in parts
            ]
            return [one(keys[t], jax.tree.map(lambda a, t=t: a[t], g), **mc_kw) for t in take]

        whole = lambda one=one, g=g, keys=keys, mc_kw=mc_kw: one(keys, g, **mc_kw)  # noqa: E731
        jax.block_until_ready((whole(), split()))
        t_whole = min(_timed(whole) for _ in range(3))
        t_split = min(_timed(split) for _ in range(3))
        res = dict(
            one_call_ms=round(1e3 * t_whole, 1),
            calls_ms=round(1e3 * t_split, 1),
            calls=len(parts),
            speedup=round(t_whole / t_split, 2),
        )
        add("rqmc_mi_calls", dict(datasets=n_data, capacity=2, d=2), res)
    # one data set whose replicates alone exceed 2^22 points: the program maps over chunks of
    # them inside its call (_integrate picks the loop emitters from 3 chunks on)
    for n_fits, d in ((201, 3), (501, 2), (1001, 2)):
        n_points = integrate_mod.default_points(d)
        g = mixtures(rng, (1, n_fits), 3, d)
        blocks = (tuple(range(d - 1)), (d - 1,))
        static = dict(n_samples=n_points, kind="mi", blocks=blocks)
        chunks = -(-n_fits // (integrate_mod._VMAP_MAX_POINTS // n_points))
        res = both_ways(_mi._rqmc, (jax.random.split(jax.random.key(3), 1), g), static)
        add("rqmc_mi_replicates", dict(replicates=n_fits, d=d, chunks=chunks), res)
    return rows


def _timed(fn) -> float:
    t = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t


_CHILD = r"""
import json, sys, time, types, warnings
import jax, numpy as np, jaxmi
assert jaxmi.__file__.startswith(sys.argv[2]), (jaxmi.__file__, sys.argv[2])
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
case = sys.argv[1]
if case == "categorical_pairwise":  # 10 latents against 3 label columns of 4 classes
    n = 5000
    lab = rng.integers(0, 4, size=(n, 3))
    a = rng.normal(size=(n, 10)) + 0.5 * lab[:, :1]
    run = lambda: jaxmi.gmm_mi_pairwise(jax.random.key(0), a, lab, categorical=True)
elif case == "categorical_10_classes":  # one latent against 10 classes
    n = 5000
    lab = rng.integers(0, 10, n)
    x = rng.normal(size=n) + 0.3 * lab + 0.8 * (rng.random(n) < 0.3)
    run = lambda: jaxmi.gmm_mi_categorical(jax.random.key(0), x, lab)
elif case == "batch_80":  # 80 data sets of clustered pairs, most with K* >= 2
    d, n = 80, 1000
    c = rng.integers(0, 2, size=(d, n))
    x = rng.normal(size=(d, n)) + 6 * c
    y = 0.6 * x + rng.normal(size=(d, n)) + 5 * c
    run = lambda: jaxmi.gmm_mi_batch(jax.random.key(0), x, y)
elif case == "mc_8d":  # an 8-D pair of two clusters (plain MC: RQMC is validated up to 6-D)
    c = rng.integers(0, 2, 2000)[:, None]
    z = rng.normal(size=(2000, 8)) + 3 * c * np.r_[1, -1, 1, 0, 1, 1, 0, -1]
    z[:, 4:] += 0.5 * z[:, :4]
    run = lambda: jaxmi.gmm_mi(jax.random.key(0), z[:, :4], z[:, 4:])
elif case == "replicates_200_3d":  # 200 bootstrap replicates of a clustered 3-D pair
    c = rng.integers(0, 2, 2000)[:, None]
    z = rng.normal(size=(2000, 3)) + 3 * c * np.r_[1, -1, 1]
    z[:, 2] += 0.5 * z[:, 0]
    run = lambda: jaxmi.gmm_mi(jax.random.key(0), z[:, :2], z[:, 2], n_bootstrap=200)
elif case == "mesh_integrals":  # the RQMC integral of 120 data sets over 8 virtual CPU devices
    from jaxmi.gmm import _mi
    from jaxmi.gmm._mixture import GMM, precision_cholesky
    w = rng.dirichlet(np.ones(2), size=(120, 51)).astype(np.float32)
    mu = rng.normal(size=(120, 51, 2, 2)).astype(np.float32)
    a = 0.3 * rng.normal(size=(120, 51, 2, 2, 2)).astype(np.float32)
    cov = a @ np.swapaxes(a, -1, -2) + 0.3 * np.eye(2, dtype=np.float32)
    g = GMM(w, mu, cov, np.asarray(precision_cholesky(cov)), np.ones(w.shape, bool))
    keys = jax.random.split(jax.random.key(1), 120)
    mesh = jax.make_mesh((8,), ("pairs",), axis_types=(jax.sharding.AxisType.Explicit,))
    mc = dict(n_samples=16384, kind="mi", blocks=((0,), (1,)))

    def run():  # the summed values in the place of an estimate's mi
        vals = _mi._integrate(keys, g, mesh=mesh, rule="rqmc", **mc)[0]
        return types.SimpleNamespace(mi=np.sum(vals))
times = []
for _ in range(3):
    t = time.perf_counter()
    r = run()
    jax.block_until_ready(r)
    times.append(time.perf_counter() - t)
k = np.asarray(r.n_components).ravel()[:4].tolist() if hasattr(r, "n_components") else None
print(json.dumps(dict(seconds=min(times), mi=np.asarray(r.mi).ravel()[:4].tolist(), k=k)))
"""

CASES = (
    "categorical_pairwise",
    "categorical_10_classes",
    "batch_80",
    "mc_8d",
    "replicates_200_3d",
    "mesh_integrals",
)


def estimate(case: str, checkout: str | None) -> dict:
    """Steady seconds of one case in a fresh process whose compilation cache is filled first."""
    cache = tempfile.mkdtemp(prefix="jaxmi-emit-")
    env = dict(os.environ, JAXMI_CACHE_DIR=cache, PYTHONPATH=checkout or str(ROOT))
    env.pop("JAXMI_COMPILATION_CACHE")  # this process's switch; the children cache
    if case.startswith("mesh"):
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    cmd = [sys.executable, "-c", _CHILD, case, env["PYTHONPATH"]]
    kw = dict(env=env, cwd=cache, check=True, capture_output=True, text=True)
    subprocess.run(cmd, **kw)
    out = subprocess.run(cmd, **kw)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="a checkout of an older jaxmi to run the estimates side by side")
    ap.add_argument("--skip-programs", action="store_true", help="the estimates only")
    args = ap.parse_args()
    out = dict(**environment())
    if not args.skip_programs:
        out["programs"] = programs(np.random.default_rng(0))
    rows = []
    for case in CASES:
        row = dict(case=case, current=estimate(case, None))
        if args.old:
            row["old"] = estimate(case, args.old)
            row["speedup"] = round(row["old"]["seconds"] / row["current"]["seconds"], 2)
        rows.append(row)
        print(row, flush=True)
    out["estimates"] = dict(old_checkout=args.old, rows=rows)
    write_results(RESULTS, out)


if __name__ == "__main__":
    main()
