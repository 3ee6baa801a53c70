"""When the bootstrap mean and the full-data fit disagree: the bias warning's evidence.

Every GMM estimator returns ``mi`` (the bootstrap mean, the reference's report), ``point`` (the
full-data fit) and ``std``. ``mi - point`` is the bootstrap's estimate of the estimator's bias
at the sample size (the replicates against the full fit, as the full fit against the truth).
jaxmi warns when ``|mi - point| > 1.5 std`` (``jaxmi.gmm._mi._BIAS_WARN``). This script
measures, on data sets with a known truth, how often the ratio passes that threshold and how
well ``mi``, ``point`` and the bias-corrected ``2 point - mi``, each ``+- 2 std``, cover the
truth, overall and on the flagged data sets:

* ``gmm_mi_categorical`` on ``categorical_gaussian`` tasks with many small classes (50 classes
  at N = 3,000, ~60 samples per class) and with fewer (10 classes at N = 600 and 3,000);
* ``gmm_mi`` on independent Gaussian pairs (N = 2,000; truth 0), where the replicates are
  skewed because MI >= 0.

    python benchmarks/gmm_mi_bootstrap_bias.py            # ~4 min on a 2-core CPU
    python benchmarks/gmm_mi_bootstrap_bias.py --quick    # 5 data sets per case

Writes ``benchmarks/results/gmm_mi_bootstrap_bias.json``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import jax
import numpy as np
from _common import environment, write_results

import jaxmi
from jaxmi.gmm import _mi

RESULTS = Path(__file__).parent / "results" / "gmm_mi_bootstrap_bias.json"


def _categorical_case(n_cls: int, n: int, n_data: int) -> tuple[float, list]:
    rng = np.random.default_rng(n_cls)
    task = jaxmi.tasks.categorical_gaussian(
        rng.dirichlet(np.full(n_cls, 5.0)),
        np.linspace(0.0, 4.0, n_cls),
        rng.uniform(0.7, 1.3, n_cls),
    )
    rows = []
    for s in range(n_data):
        x, labels = (np.asarray(v) for v in task.sample(jax.random.key(100 + s), n))
        r = jaxmi.gmm_mi_categorical(jax.random.key(s), x, labels[:, 0])
        rows.append((float(r.mi), float(r.point), float(r.std)))
    return float(task.mi), rows


def _independent_case(n: int, n_data: int) -> tuple[float, list]:
    rows = []
    for s in range(n_data):
        x, y = np.random.default_rng(s).normal(size=(2, n))
        r = jaxmi.gmm_mi(jax.random.key(s), x, y)
        rows.append((float(r.mi), float(r.point), float(r.std)))
    return 0.0, rows


def summary(truth: float, rows: list) -> dict:
    mi, point, std = np.asarray(rows).T
    ratio = (mi - point) / std
    flagged = np.abs(ratio) > _mi._BIAS_WARN
    values = {"mi": mi, "point": point, "2 point - mi": 2 * point - mi}

    def cover(mask):
        if not mask.any():
            return None
        return {
            k: float(np.mean(np.abs(v - truth)[mask] <= 2 * std[mask])) for k, v in values.items()
        }

    return dict(
        truth=truth,
        n_data=len(rows),
        ratio_median=float(np.median(ratio)),
        ratio_max=float(np.max(np.abs(ratio))),
        flagged=int(flagged.sum()),
        bias={k: float(np.mean(v - truth)) for k, v in values.items()},
        mean_std=float(np.mean(std)),
        coverage=cover(np.ones_like(flagged)),
        coverage_flagged=cover(flagged),
        rows=rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--quick", action="store_true", help="5 data sets per case")
    args = ap.parse_args()
    n_data = 5 if args.quick else 20
    cases = {
        "categorical, 50 classes, N = 3000": lambda: _categorical_case(50, 3000, n_data),
        "categorical, 10 classes, N = 600": lambda: _categorical_case(10, 600, n_data),
        "categorical, 10 classes, N = 3000": lambda: _categorical_case(10, 3000, n_data),
        "independent Gaussians, N = 2000": lambda: _independent_case(2000, 2 * n_data),
    }
    out = {}
    for name, run in cases.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[name] = summary(*run())
        s = out[name]
        flagged = s["coverage_flagged"]
        print(
            f"{name}: ratio median {s['ratio_median']:.2f}, flagged {s['flagged']}/{s['n_data']}; "
            "coverage "
            + ", ".join(f"{k} {v:.2f}" for k, v in s["coverage"].items())
            + (
                "; flagged: " + ", ".join(f"{k} {v:.2f}" for k, v in flagged.items())
                if flagged
                else ""
            )
            + f"  [{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )
    write_results(
        args.out,
        dict(
            **environment(),
            settings=dict(threshold=_mi._BIAS_WARN, min_replicates=_mi._BIAS_MIN_REPLICATES),
            cases=out,
        ),
    )


if __name__ == "__main__":
    main()
