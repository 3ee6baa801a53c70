"""GMM-MI pairwise matrix: jaxmi's batched ``gmm_mi_pairwise`` against the reference per pair.

A 10 x 10 matrix (10 latents against 10 factors, N = 5,000) with the full default bootstrap
(n_init=3, n_folds=2, n_bootstrap=50, 1e5-draw MC integral). The reference (gmm-mi 0.8.2) has
no pairwise mode: it runs one pair at a time, so its throughput is measured on a sample of the
pairs (``--ref-pairs``, spread over the matrix) and reported per pair. It runs in its own
environment, single-threaded (its fastest configuration on these machines)::

    python -m venv /tmp/gmmmi-ref
    /tmp/gmmmi-ref/bin/pip install "gmm-mi==0.8.2" "scikit-learn<1.6"
    python benchmarks/gmm_mi_pairwise.py --ref-python /tmp/gmmmi-ref/bin/python

Target (issue 3, 2-core CPU): at least 200x the reference's throughput per pair. Writes
``benchmarks/results/gmm_mi_pairwise.json``.
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
    t0 = time.perf_counter()
    res = jaxmi.gmm_mi_pairwise(key, a, b)
    jax.block_until_ready(res.mi)
    first = time.perf_counter() - t0
    steady = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = jaxmi.gmm_mi_pairwise(key, a, b)
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
        with tempfile.TemporaryDirectory() as tmp:
            pa, pb = Path(tmp) / "a.npy", Path(tmp) / "b.npy"
            np.save(pa, a)
            np.save(pb, b)
            threads = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
            single = {v: "1" for v in threads}
            spec = ";".join(f"{i},{j}" for i, j in pairs)
            out = subprocess.run(
                [args.ref_python, "-c", _REF_SCRIPT, str(pa), str(pb), spec],
                env=dict(os.environ, **single),
                capture_output=True,
                text=True,
            )
            if out.returncode:
                raise RuntimeError(out.stderr[-2000:])
            ref = json.loads(out.stdout.strip().splitlines()[-1])
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
