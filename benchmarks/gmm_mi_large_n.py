"""GMM-MI on long data: time and peak host memory of one estimate, N = 10^5 to 10^7.

Each configuration runs in a fresh process (so its peak resident memory is its own) with an
empty compilation cache of its own: the data are drawn, then two estimates run with the same
key, the first compiling every program (``first_s``), the second with all of them compiled
(``steady_s``). ``peak_rss_gb`` is the process's peak resident set (``ru_maxrss``), data and
JAX's runtime included.

Cases:

* ``gaussian``: the bivariate Gaussian of the invariance study (rho = 0.6, truth 0.2231 nats);
* ``mixture``: three bivariate Gaussian clusters (means (0, 0), (3, 1), (-2, 4), standard
  deviations 1 and 0.5), with the defaults and with ``restart_stalled=True``. Its MI, 0.5720
  nats, is a Monte Carlo mean over 4 x 10^6 draws with the exact densities (standard error
  0.0003; :func:`mixture_truth`).

``--old`` adds runs with ``chunk=64``, what every estimate used before the chunk was bounded by
the sample count (``jaxmi.gmm._em.CHUNK_SAMPLES``), up to ``--old-max`` samples (its memory grew
by about 3.2 KB per sample, so 10^7 would need about 32 GB).

    python benchmarks/gmm_mi_large_n.py --old  # about 6 min on 2 cores

Writes ``benchmarks/results/gmm_mi_large_n.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import environment, write_results

RESULTS = Path(__file__).parent / "results" / "gmm_mi_large_n.json"
TRUTH = {"gaussian": -0.5 * math.log(1 - 0.36)}
MEANS, SDS = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 4.0]]), np.array([1.0, 0.5])


def mixture_truth(draws: int = 4_000_000, seed: int = 123) -> tuple[float, float]:
    """MI of the ``mixture`` case (nats) and its standard error, by Monte Carlo."""
    rng = np.random.default_rng(seed)
    z = MEANS[rng.integers(0, 3, draws)] + rng.normal(size=(draws, 2)) * SDS
    # per component and column: log N(z; mean, sd) (the covariances are diagonal)
    logn = -0.5 * ((z[:, None, :] - MEANS[None]) / SDS) ** 2 - np.log(SDS * math.sqrt(2 * math.pi))

    def log_mix(a):  # log of the equal-weight mixture over the component axis
        top = a.max(axis=1, keepdims=True)
        return (top + np.log(np.mean(np.exp(a - top), axis=1, keepdims=True)))[:, 0]

    v = log_mix(logn.sum(-1)) - log_mix(logn[..., 0]) - log_mix(logn[..., 1])
    return float(v.mean()), float(v.std() / math.sqrt(draws))


_CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np
import jax
import jaxmi

case, n, opts = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
rng = np.random.default_rng(0)
if case == "gaussian":
    z = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=n).astype(np.float32)
else:
    means, sds = (np.array(a) for a in json.loads(sys.argv[4]))  # MEANS, SDS of the parent
    z = (means[rng.integers(0, 3, n)] + rng.normal(size=(n, 2)) * sds).astype(np.float32)
times = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(2):
        t = time.perf_counter()
        r = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], **opts)
        jax.block_until_ready(r.mi)
        times.append(time.perf_counter() - t)
print(json.dumps(dict(
    mi=float(r.mi), std=float(r.std), k=int(r.n_components), first_s=times[0],
    steady_s=times[1], peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    warnings=sorted({str(w.category.__name__) + ": " + str(w.message)[:80] for w in caught}),
)))
"""


def run(case: str, n: int, opts: dict) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                case,
                str(n),
                json.dumps(opts),
                json.dumps([MEANS.tolist(), SDS.tolist()]),
            ],
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ, JAXMI_CACHE_DIR=cache),
        )
    if out.returncode:
        return dict(error=out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000,4000000,10000000")
    ap.add_argument("--mixture-sizes", default="20000,100000,1000000")
    ap.add_argument("--old", action="store_true", help="also chunk=64 (the previous default)")
    ap.add_argument("--old-max", type=float, default=2e6)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    plan = []
    for n in (int(float(s)) for s in args.sizes.split(",")):
        plan.append(("gaussian", n, "default", {}))
        if args.old and n <= args.old_max:
            plan.append(("gaussian", n, "chunk=64", {"chunk": 64}))
    for n in (int(float(s)) for s in args.mixture_sizes.split(",")):
        plan.append(("mixture", n, "default", {}))
        plan.append(("mixture", n, "restart_stalled", {"restart_stalled": True}))
        if args.old and n <= args.old_max:
            plan.append(
                ("mixture", n, "restart_stalled, chunk=64", {"restart_stalled": True, "chunk": 64})
            )
    truth, truth_se = mixture_truth()
    TRUTH["mixture"] = truth
    print(f"mixture truth {truth:.4f} ± {truth_se:.4f} nats (Monte Carlo)")
    rows = []
    for case, n, name, opts in plan:
        row = dict(case=case, n=n, setting=name, truth=TRUTH.get(case), **run(case, n, opts))
        rows.append(row)
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        print(shown, flush=True)
    write_results(args.out, dict(**environment(), mixture_truth_se=truth_se, rows=rows))


if __name__ == "__main__":
    main()
