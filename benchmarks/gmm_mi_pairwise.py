"""GMM-MI pairwise matrix: jaxmi's batched ``gmm_mi_pairwise`` against the reference per pair.

A 10 x 10 matrix (10 latents against 10 factors, N = 5,000) with the full default bootstrap
(n_init=3, n_folds=2, n_bootstrap=50, 1e5-draw MC integral). The reference (gmm-mi 0.8.2) has
no pairwise mode: it runs one pair at a time, so its throughput is measured on a sample of the
pairs (``--ref-pairs``, spread over the matrix) and reported per pair. It runs in its own
environment, single-threaded (its fastest configuration on these machines)::

    python -m venv /tmp/gmmmi-ref
    /tmp/gmmmi-ref/bin/pip install "gmm-mi==0.8.2" "scikit-learn<1.6"
    python benchmarks/gmm_mi_pairwise.py --ref-python /tmp/gmmmi-ref/bin/python

The dependent pairs (latent i against factor i) have a known MI (:func:`true_mi`), so the
run also reports their errors in units of their std, and the independent pairs' MI;
``--ref-diagonal`` runs the reference on the dependent pairs too, ``--restart-stalled``
jaxmi with ``restart_stalled=True``, ``--normal-scores`` with ``marginals="normal_scores"``.

Target (issue 3, 2-core CPU): at least 200x the reference's throughput per pair. Writes
``benchmarks/results/gmm_mi_pairwise.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import environment, write_results

RESULTS = Path(__file__).parent / "results" / "gmm_mi_pairwise.json"

_REF_SCRIPT = """
import json, sys, time
import numpy as np
from gmm_mi.mi import EstimateMI
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
out = []
for pair in sys.argv[3].split(";"):
    i, j = map(int, pair.split(","))
    t = time.perf_counter()
    est = EstimateMI()
    est.fit(np.stack([a[:, i], b[:, j]], axis=1))
    mi, std = est.estimate()
    out.append(dict(i=i, j=j, mi=float(mi), std=float(std), s=time.perf_counter() - t))
print(json.dumps(out))
"""


def make_data(n: int, p: int, q: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Latents ``(n, p)`` and factors ``(n, q)`` with a known dependence pattern.

    Latent i depends on factor i (i < min(p, q)) through a different nonlinearity each, plus
    noise; the other latents are noise.
    """
    rng = np.random.default_rng(seed)
    f = rng.uniform(-2, 2, size=(n, q))
    a = rng.normal(size=(n, p))
    maps = (np.tanh, np.sin, lambda v: v, lambda v: v**3 / 4, np.abs)
    for i in range(min(p, q)):
        a[:, i] = maps[i % len(maps)](f[:, i]) + 0.5 * rng.normal(size=n)
    return a, f


#: the nonlinearities of make_data, by name (latent i uses MAPS[i % 5]) and noise sd
MAP_NAMES = ("tanh", "sin", "identity", "cube / 4", "abs")
NOISE = 0.5


def true_mi(i: int) -> float:
    """I(latent i; factor i) in nats for ``i < min(p, q)``, by numerical integration.

    latent = g(f) + NOISE * e with f ~ U(-2, 2), e ~ N(0, 1): I = h(latent) - h(NOISE * e),
    the density of the latent being the average of N(g(f), NOISE^2) over f (trapezoid rule on
    a 4,001 x 24,001 grid; within 1e-6 nats of a 4x coarser grid).
    """
    g = (np.tanh, np.sin, lambda v: v, lambda v: v**3 / 4, np.abs)[i % 5]
    f = np.linspace(-2, 2, 4001)
    u = np.linspace(-8, 8, 24001)
    dens = np.exp(-0.5 * ((u[:, None] - g(f)[None]) / NOISE) ** 2) / (NOISE * np.sqrt(2 * np.pi))
    p = np.trapezoid(dens, f, axis=1) / 4
    h = -np.trapezoid(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), u)
    return float(h - 0.5 * np.log(2 * np.pi * np.e * NOISE**2))


def accuracy(mi: np.ndarray, std: np.ndarray) -> dict:
    """Dependent pairs against their truth; independent pairs against 0."""
    m = min(mi.shape)
    dep = []
    for i in range(m):
        t = true_mi(i)
        dep.append(
            dict(
                pair=[i, i],
                map=MAP_NAMES[i % 5],
                truth=t,
                mi=float(mi[i, i]),
                std=float(std[i, i]),
                z=float((mi[i, i] - t) / std[i, i]),
            )
        )
    off = np.ones(mi.shape, bool)
    off[np.arange(m), np.arange(m)] = False
    return dict(
        dependent=dep,
        independent=dict(
            count=int(off.sum()),
            median_mi=float(np.median(mi[off])),
            max_mi=float(mi[off].max()),
            share_above_2std=float(np.mean(mi[off] > 2 * std[off])),
        ),
    )


def stall_pairs(messages: list[str]) -> int:
    """How many pairs the stall warning names: "94 of 100 data sets (...)" or one pair."""
    if not messages:
        return 0
    many = re.match(r"(\d+) of \d+ data sets", messages[0])
    return int(many.group(1)) if many else 1


def run_reference(python: str, a: np.ndarray, b: np.ndarray, pairs: list) -> list[dict]:
    """The reference on ``pairs`` one after the other, single-threaded, in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        pa, pb = Path(tmp) / "a.npy", Path(tmp) / "b.npy"
        np.save(pa, a)
        np.save(pb, b)
        threads = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        spec = ";".join(f"{i},{j}" for i, j in pairs)
        out = subprocess.run(
            [python, "-c", _REF_SCRIPT, str(pa), str(pb), spec],
            env=dict(os.environ, **{v: "1" for v in threads}),
            capture_output=True,
            text=True,
        )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ref-python", default=os.environ.get("GMMMI_REF_PYTHON"))
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--q", type=int, default=10)
    ap.add_argument(
        "--ref-pairs", type=int, default=7, help="pairs the reference runs (split over K* strata)"
    )
    ap.add_argument("--repeats", type=int, default=2, help="steady-state repeats of jaxmi")
    ap.add_argument(
        "--ref-diagonal",
        action="store_true",
        help="also run the reference on the dependent pairs (i, i), for accuracy (+2 min)",
    )
    ap.add_argument(
        "--restart-stalled",
        action="store_true",
        help="gmm_mi_pairwise(..., restart_stalled=True) (write to another --out)",
    )
    ap.add_argument(
        "--normal-scores",
        action="store_true",
        help="gmm_mi_pairwise(..., marginals='normal_scores') (write to another --out)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    # "first call" must compile: an empty compilation cache of this run's own (the user cache
    # may hold the programs of an earlier run; an earlier figure of 24 s was partly warm)
    cache = tempfile.TemporaryDirectory(prefix="jaxmi-pairwise-cache-")
    os.environ["JAXMI_CACHE_DIR"] = cache.name
    import jax

    import jaxmi

    a, b = make_data(args.n, args.p, args.q)
    key = jax.random.key(0)
    opts = dict(restart_stalled=True) if args.restart_stalled else {}
    if args.normal_scores:
        opts["marginals"] = "normal_scores"
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = jaxmi.gmm_mi_pairwise(key, a, b, **opts)
        jax.block_until_ready(res.mi)
    first = time.perf_counter() - t0
    caught = [str(w.message) for w in caught]
    for msg in caught:
        print(f"warning: {msg[:300]}", flush=True)
    stall = [m for m in caught if "stalled" in m]
    steady = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = jaxmi.gmm_mi_pairwise(key, a, b, **opts)
        jax.block_until_ready(res.mi)
        steady.append(time.perf_counter() - t0)
    n_pairs = args.p * args.q
    per_pair = min(steady) / n_pairs
    mi, std, k = (np.asarray(v) for v in (res.mi, res.std, res.n_components))
    print(
        f"jaxmi: {n_pairs} pairs at N={args.n}: first call {first:.1f}s, steady "
        f"{min(steady):.1f}s ({per_pair * 1e3:.0f} ms per pair); K* histogram "
        f"{np.bincount(k.ravel()).tolist()}",
        flush=True,
    )
    row = dict(
        n=args.n,
        p=args.p,
        q=args.q,
        jaxmi_first_s=first,
        jaxmi_steady_s=min(steady),
        jaxmi_per_pair_s=per_pair,
        jaxmi_k_hist=np.bincount(k.ravel()).tolist(),
        jaxmi_mi=mi.tolist(),
        jaxmi_std=std.tolist(),
        restart_stalled=bool(args.restart_stalled),
        marginals=opts.get("marginals", "data"),
        stall_warning_pairs=stall_pairs(stall),
        accuracy=accuracy(mi, std),
    )
    acc = row["accuracy"]
    for r in acc["dependent"]:
        print(
            f"  pair ({r['pair'][0]}, {r['pair'][1]}) {r['map']}: truth {r['truth']:.4f}, jaxmi "
            f"{r['mi']:.4f} ± {r['std']:.4f} ({r['z']:+.1f} std)"
        )
    ind = acc["independent"]
    print(
        f"  {ind['count']} independent pairs: median {ind['median_mi']:.4f}, max "
        f"{ind['max_mi']:.4f} nats, {ind['share_above_2std']:.0%} above 2 std",
        flush=True,
    )
    if args.ref_python:
        # stratified by jaxmi's K*: most pairs are independent (K* = 1, the cheapest for both
        # libraries), so a uniform sample would miss the expensive ones; the reference's time
        # per pair is the stratum times weighted by the strata's sizes
        rng = np.random.default_rng(1)
        strata = {int(kk): np.flatnonzero(k.ravel() == kk) for kk in np.unique(k)}
        per = max(1, args.ref_pairs // len(strata))
        flat = np.concatenate(
            [rng.choice(m, size=min(per, len(m)), replace=False) for m in strata.values()]
        )
        pairs = [(int(f) // args.q, int(f) % args.q) for f in sorted(flat)]
        ref = run_reference(args.ref_python, a, b, pairs)
        by_k: dict[int, list[float]] = {}
        for r in ref:
            r["k"] = int(k[r["i"], r["j"]])
            by_k.setdefault(r["k"], []).append(r["s"])
        ref_per_pair = sum(len(strata[kk]) * float(np.mean(v)) for kk, v in by_k.items()) / sum(
            len(strata[kk]) for kk in by_k
        )
        for r in ref:
            r["jaxmi_mi"], r["jaxmi_std"] = float(mi[r["i"], r["j"]]), float(std[r["i"], r["j"]])
        row.update(
            ref_pairs=ref,
            ref_per_pair_s=ref_per_pair,
            ratio_per_pair=ref_per_pair / per_pair,
        )
        print(
            f"reference: {ref_per_pair:.1f}s per pair ({len(ref)} pairs, stratified by K*); jaxmi "
            "throughput "
            f"{row['ratio_per_pair']:.0f}x per pair (target 200x)",
            flush=True,
        )
        for r in ref:
            print(
                f"  pair ({r['i']}, {r['j']}): reference {r['mi']:.4f} ± {r['std']:.4f} "
                f"({r['s']:.1f}s), jaxmi {r['jaxmi_mi']:.4f} ± {r['jaxmi_std']:.4f}"
            )
    if args.ref_python and args.ref_diagonal:
        diag = run_reference(args.ref_python, a, b, [(i, i) for i in range(min(args.p, args.q))])
        for r, d in zip(diag, row["accuracy"]["dependent"], strict=True):
            r["truth"] = d["truth"]
            r["z"] = (r["mi"] - d["truth"]) / r["std"]
            print(
                f"  reference, pair ({r['i']}, {r['j']}): {r['mi']:.4f} ± {r['std']:.4f} "
                f"({r['z']:+.1f} std)",
                flush=True,
            )
        row["accuracy"]["reference_dependent"] = diag
    out = dict(
        benchmark="gmm_mi_pairwise",
        settings=dict(
            defaults="n_init=3, n_folds=2, n_bootstrap=50, 1e5 MC draws",
            reference="gmm-mi 0.8.2, single-threaded, one pair at a time"
            if args.ref_python
            else None,
        ),
        target="throughput per pair >= 200x the reference",
        **environment(),
        row=row,
    )
    write_results(args.out, out)


if __name__ == "__main__":
    sys.exit(main())
