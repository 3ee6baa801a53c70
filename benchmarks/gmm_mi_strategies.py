"""GMM-MI: the EM engine's batching strategies on this machine's default backend.

``jaxmi.gmm.fit`` and the GMM-MI estimators batch their EM problems one of three ways
(``strategy=``): ``"vmap"`` (lockstep: a chunk runs until its slowest problem converges),
``"queue"`` (a few vmapped workers that take the next problem as one converges) and ``"map"``
(``lax.map`` over the chunk). The defaults are ``"queue"`` on CPU (measured in
``gmm_em.py``) and ``"vmap"`` elsewhere; this script measures the choice on an accelerator.

Per strategy, steady state (compilation done by a first call): a whole ``gmm_mi`` estimate on
the bivariate Gaussian and the D3 mixture of ``gmm_mi_speed.py`` (N = 2,000), and
``--pairwise`` a whole 10 x 10 ``gmm_mi_pairwise`` matrix at N = 5,000 (``gmm_mi_pairwise.py``).
Each figure is the best of ``--repeats`` calls.

    python benchmarks/gmm_mi_strategies.py --pairwise

Writes ``benchmarks/results/gmm_mi_strategies.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np
from _common import best_time, environment, write_results
from gmm_mi_pairwise import make_data
from gmm_mi_speed import make_case

import jaxmi

RESULTS = Path(__file__).parent / "results" / "gmm_mi_strategies.json"


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """First call's seconds (compiles), best of ``repeats`` further calls, first result."""
    t = time.perf_counter()
    r = jax.block_until_ready(fn())
    return time.perf_counter() - t, best_time(fn, repeats), r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strategies", default="vmap,queue,map")
    ap.add_argument("--pairwise", action="store_true", help="also the 10 x 10 matrix (slow)")
    ap.add_argument(
        "--pairwise-strategies",
        default="vmap,queue",
        help="strategies of the matrix (map runs a chunk's fits one after the other)",
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    key = jax.random.key(0)
    rows = []
    for strategy in args.strategies.split(","):
        for case in ("gaussian", "D3"):
            xy = make_case(case, 2000)
            first, best, r = timed(
                lambda xy=xy, s=strategy: jaxmi.gmm_mi(key, xy[:, 0], xy[:, 1], strategy=s),
                args.repeats,
            )
            rows.append(
                dict(strategy=strategy, case=case, first_s=first, steady_s=best, mi=float(r.mi))
            )
            print(f"{strategy:6s} {case:9s} first {first:6.2f}s steady {best * 1e3:7.1f} ms")
        if args.pairwise and strategy in args.pairwise_strategies.split(","):
            a, b = make_data(5000, 10, 10)
            first, best, r = timed(
                lambda a=a, b=b, s=strategy: jaxmi.gmm_mi_pairwise(key, a, b, strategy=s),
                max(1, args.repeats // 3),
            )
            rows.append(
                dict(
                    strategy=strategy,
                    case="pairwise 10x10 N=5000",
                    first_s=first,
                    steady_s=best,
                    mi_diagonal=np.diag(np.asarray(r.mi)).tolist(),
                )
            )
            print(f"{strategy:6s} pairwise  first {first:6.2f}s steady {best:6.2f} s", flush=True)
    write_results(args.out, dict(benchmark="gmm_mi_strategies", **environment(), rows=rows))


if __name__ == "__main__":
    main()
