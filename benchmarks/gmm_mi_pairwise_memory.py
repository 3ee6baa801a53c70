"""Peak memory and time of ``gmm_mi_pairwise`` against the number of pairs (N = 20,000).

Each pair count runs in a fresh process twice with one compilation cache of its own: the first
process compiles and fills the cache, the second (reported) runs with every program cached, so
its time is the estimate's. ``peak_rss_gb`` is the second process's peak resident set
(``ru_maxrss``): data, JAX's runtime and the estimate. The latents ``a`` are ``P`` independent
standard normal columns and the factors ``b`` 10, so every entry is near 0 nats; the options
(``n_bootstrap=2``, ``max_components=2``, ``mc_samples=5000``) keep the EM work small, so the
memory of the estimate's bookkeeping shows.

Until 2026-11-25 the held-out scores of a cross-validation stage ran as one program over every
(pair, start, fold) problem, and the training and held-out weights of every problem were
materialised: the peak grew by 7.6 MB per pair at N = 20,000 (1.87 GB for 200 pairs, 3.37 GB
for 400); then 1.05 MB per pair (0.65 and 0.81 GB), both running per chunk of problems. The
padded datasets and packed training folds still grew with the pairs; since the next change the
pairs are fitted in blocks (``jaxmi.gmm._mi.PAIR_BLOCK_SAMPLES``: 409 pairs at N = 20,000), so
the peak stops growing beyond a block or two. ``--old DIR`` runs the same children against
another checkout side by side (the recorded run: a worktree of ee61946, the commit before the
blocks).

    git worktree add /tmp/jaxmi-old ee61946
    python benchmarks/gmm_mi_pairwise_memory.py --old /tmp/jaxmi-old   # about 5 min on 2 cores

Writes ``benchmarks/results/gmm_mi_pairwise_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import environment, write_results

RESULTS = Path(__file__).parent / "results" / "gmm_mi_pairwise_memory.json"
ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
import jax, numpy as np, jaxmi
assert jaxmi.__file__.startswith(sys.argv[4]), (jaxmi.__file__, sys.argv[4])
p, q, n = (int(v) for v in sys.argv[1:4])
rng = np.random.default_rng(0)
a = rng.normal(size=(n, p)).astype(np.float32)
b = rng.normal(size=(n, q)).astype(np.float32)
data_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
t = time.perf_counter()
r = jaxmi.gmm_mi_pairwise(jax.random.key(0), a, b, n_bootstrap=2, max_components=2,
                          mc_samples=5000)
r.mi.block_until_ready()
print(json.dumps(dict(seconds=time.perf_counter() - t, data_gb=data_gb,
                      peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                      max_abs_mi=float(np.max(np.abs(np.asarray(r.mi)))))))
"""


def run(p: int, q: int, n: int, checkout: str | None = None) -> dict:
    cache = tempfile.mkdtemp(prefix="jaxmi-pw-mem-")
    # this repository's jaxmi, or another checkout (a git worktree of an older commit); the
    # children run outside both (``python -c`` puts the working directory first on sys.path)
    env = dict(os.environ, JAXMI_CACHE_DIR=cache, PYTHONPATH=checkout or str(ROOT))
    cmd = [sys.executable, "-c", _CHILD, str(p), str(q), str(n), env["PYTHONPATH"]]
    kw = dict(env=env, cwd=cache, check=True, capture_output=True, text=True)
    subprocess.run(cmd, **kw)  # compiles, fills the cache
    out = subprocess.run(cmd, **kw)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--latents", type=int, nargs="+", default=[5, 20, 40, 80, 160])
    ap.add_argument("--old", help="a checkout of an older jaxmi to run side by side")
    args = ap.parse_args()
    if len(args.latents) < 2:
        ap.error("--latents: give at least two counts (the slope needs two points)")
    out = dict(**environment(), n=args.n)
    for name, checkout in (("current", None), ("old", args.old)):
        if name == "old" and not checkout:
            continue
        rows = []
        for p in args.latents:
            row = dict(pairs=p * 10, latents=p, **run(p, 10, args.n, checkout))
            rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
            print(name, rows[-1])

        def slope(r0, r1):  # MB of peak per added pair
            return 1e3 * (r1["peak_rss_gb"] - r0["peak_rss_gb"]) / (r1["pairs"] - r0["pairs"])

        first, last = slope(rows[0], rows[-1]), slope(rows[-2], rows[-1])
        print(f"{name}: peak memory per pair {first:.2f} MB overall, {last:.2f} MB at the end")
        out[name] = dict(
            checkout=checkout,
            rows=rows,
            mb_per_pair=round(first, 3),
            mb_per_pair_last_step=round(last, 3),
        )
    write_results(RESULTS, out)


if __name__ == "__main__":
    main()
