"""Neural MI with the data's marginals against their normal scores (``marginals=...``).

``neural_mi`` standardises each column, which leaves a heavy-tailed column's outliers far out:
the critic's scores on them overflow or dominate a batch. MI is unchanged by a strictly
increasing map of each column, so ``marginals="normal_scores"`` trains on the normal scores of
each column's ranks instead. Both run on the same data and keys, with the defaults otherwise
(separable critic, Adam 1e-3, batch 256), for the five main lower bounds and 5 seeds in one
program each:

* independent: x and y standard Cauchy, 2 columns each (truth 0);
* dependent, Gaussian: x ~ N(0, I_3), y = x + e (truth 1.5 log 2 = 1.04 nats);
* dependent, heavy-tailed: the same pair with every column of x mapped to a standard Cauchy
  marginal and y cubed (strictly increasing maps: truth 1.04 nats).

Per bound: the seeds' estimates, how many are not finite, and how many seeds the run's warnings
named. About 3 minutes on a 2-core CPU::

    python benchmarks/neural_marginals.py [--max-steps 1000]

Writes ``benchmarks/results/neural_marginals.json``.
"""

from __future__ import annotations

import argparse
import math
import re
import time
import warnings
from pathlib import Path

import numpy as np
from _common import environment, write_results

HERE = Path(__file__).parent
BOUNDS = ["infonce", "nwj", "smile", "dv", "mine"]
N = 4000
SEEDS = 5
TRUTH = 1.5 * math.log(2.0)


def datasets() -> dict:
    """``{name: (x, y, true MI in nats)}``."""
    from scipy.stats import norm

    rng = np.random.default_rng(5)
    ind = (rng.standard_cauchy(size=(N, 2)), rng.standard_cauchy(size=(N, 2)), 0.0)
    x = rng.normal(size=(N, 3))
    y = x + rng.normal(size=(N, 3))
    heavy = (np.tan(np.pi * (norm.cdf(x) - 0.5)), y**3, TRUTH)
    return {
        "cauchy x cauchy (independent)": ind,
        "gaussian, y = x + e": (x, y, TRUTH),
        "same, x made Cauchy, y cubed": heavy,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--out", default=str(HERE / "results" / "neural_marginals.json"))
    args = ap.parse_args()

    import jax

    import jaxmi

    rows = []
    t0 = time.perf_counter()
    for name, (x, y, truth) in datasets().items():
        for marginals in ("data", "normal_scores"):
            t = time.perf_counter()
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                r = jaxmi.neural_mi(
                    jax.random.key(3),
                    x,
                    y,
                    bound=BOUNDS,
                    n_seeds=SEEDS,
                    max_steps=args.max_steps,
                    marginals=marginals,
                )
            seconds = time.perf_counter() - t
            named: dict[str, set] = {}
            for w in rec:
                m = re.match(r"neural_mi: bound '(\w+)' \(seeds \[([\d, ]+)\]\)", str(w.message))
                if m:
                    named.setdefault(m.group(1), set()).update(
                        int(e) for e in m.group(2).split(", ")
                    )
            for b, bound in enumerate(r.bound):
                mi = np.asarray(r.mi[b], np.float64)
                fin = mi[np.isfinite(mi)]
                row = dict(
                    data=name,
                    marginals=marginals,
                    truth=truth,
                    bound=bound,
                    mi=[float(v) if np.isfinite(v) else None for v in mi],
                    not_finite=int((~np.isfinite(mi)).sum()),
                    median=float(np.median(fin)) if fin.size else None,
                    worst_error=float(np.max(np.abs(fin - truth))) if fin.size else None,
                    seeds_warned=len(named.get(bound, ())),
                    seconds=seconds,
                )
                rows.append(row)
                med = "nan" if row["median"] is None else f"{row['median']:+.3f}"
                print(
                    f"{name:30s} {marginals:13s} {bound:8s} median {med} (truth {truth:.3f}), "
                    f"not finite {row['not_finite']}, warned {row['seeds_warned']}/{SEEDS}, "
                    f"values {np.round(mi, 3).tolist()} ({seconds:.0f} s)",
                    flush=True,
                )
    write_results(
        args.out,
        dict(
            **environment(),
            settings=dict(
                n=N, bounds=BOUNDS, seeds=SEEDS, key=3, max_steps=args.max_steps, defaults=True
            ),
            rows=rows,
            seconds=time.perf_counter() - t0,
        ),
    )


if __name__ == "__main__":
    main()
