"""GMM-MI accuracy: the reference's invariance study, side by side with its published table.

Bivariate Gaussian, rho = 0.6 (true MI 0.223144 nats), y transformed by identity, ln(y + 5) or
y + 0.5 y^3 (the ``gmmmi-normal-0.6-*`` tasks), at N = 200, 2,000, 20,000, many realisations.
Per cell: bias = mean(estimate) - truth, sd (spread of the estimates), mean reported std, and
the coverage of the +-1 and +-2 std bars. The reference's numbers (GMM-MI 0.8.2 with its study
settings, 500 realisations; spec gmm-mi.md §11.1) are printed next to them.

Acceptance (spec §11.4 and issue 3), per cell with SE = sd / sqrt(realisations):
|bias| <= |bias_ref| + 2 SE; sd <= 1.10 sd_ref; +-2 std coverage >= 0.93.

An oracle column separates the data's own noise from the estimator's: ``oracle_sd`` is the spread
of the closed-form MI of each realisation's untransformed Gaussian pair (``-0.5 log(1 - r^2)``,
the maximum-likelihood estimate), ``minus_oracle_sd`` that of estimate minus oracle;
``oracle_bias`` is the oracle's own mean error (the MLE is biased upwards by O(1/N)) and
``excess_bias`` the estimator's mean distance above the oracle on the same data. A set of
realisations that happens to spread more than theory (sd of the MLE ~ rho / sqrt(N), 0.0042 at
N = 20,000) drags coverage down for every estimator alike.

The same statistics on other ground-truth tasks (``--suite bmi``: the bmi 1x1 and
low-dimensional tasks; ``--suite paper``: the GMM-MI paper's D-sets, gamma-exponential and
Weinman families; ``--suite tasks``: both, the table in ``benchmarks/README.md``;
``--tasks a,b,c``: any ``jaxmi.tasks`` names). There is no published reference
table for those; the rows report bias (in units of its standard error too), spread and coverage.
``--suite mixtures`` is the reference's own study of its 2-D mixtures D3, D5, D5', D3'
(spec §11.2; N = 1,000, 10,000, 50,000), printed next to its published table.

All realisations of a cell run as one batched computation (:func:`jaxmi.gmm_mi_batch`); entry r
equals ``gmm_mi(fold_in(key(10_000 + N), r), x_r, y_r)`` with ``x_r, y_r`` drawn with key
``fold_in(key(N), r)``.

Usage::

    python benchmarks/gmm_mi_accuracy.py                      # 100 realisations, jaxmi defaults
    python benchmarks/gmm_mi_accuracy.py --realisations 20 --sizes 200,2000   # quicker
    python benchmarks/gmm_mi_accuracy.py --reference-settings \
        --realisations 200:500,2000:500,20000:100 \
        --out benchmarks/results/gmm_mi_accuracy_reference.json   # n_init=5, n_folds=3, B=100
    python benchmarks/gmm_mi_accuracy.py --suite mixtures --reference-settings \
        --out benchmarks/results/gmm_mi_accuracy_mixtures.json    # spec §11.2, its table

The JSON is written after every cell, so a long run that is stopped keeps the cells it finished.
    python benchmarks/gmm_mi_accuracy.py --suite bmi --sizes 2000 --realisations 50 \
        --out benchmarks/results/gmm_mi_accuracy_bmi.json

Writes ``benchmarks/results/gmm_mi_accuracy.json`` and, next to it,
``gmm_mi_accuracy_values.npz``: each cell's per-realisation ``mi``, ``std``, ``point`` and the
2.5 and 97.5 percentiles of its bootstrap replicates, ``q025`` and ``q975`` (keys
``{transform}_{N}_{field}``), so that other read-outs of the same bootstraps can be judged
without a rerun.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import jax
import numpy as np
from _common import environment, write_results

import jaxmi

RESULTS = Path(__file__).parent / "results" / "gmm_mi_accuracy.json"

#: spec §11.1: (bias, sd, mean sigma, cov1, cov2) of GMM-MI 0.8.2, 500 realisations
REFERENCE = {
    ("identity", 200): (0.0065, 0.0447, 0.0423, 0.660, 0.930),
    ("identity", 2000): (0.0016, 0.0144, 0.0134, 0.638, 0.936),
    ("identity", 20000): (0.0003, 0.0041, 0.0042, 0.686, 0.960),
    ("log", 200): (0.0199, 0.0528, 0.0477, 0.618, 0.916),
    ("log", 2000): (0.0038, 0.0149, 0.0137, 0.608, 0.922),
    ("log", 20000): (-0.0003, 0.0047, 0.0043, 0.628, 0.930),
    ("cube", 200): (0.0383, 0.0592, 0.0521, 0.570, 0.904),
    ("cube", 2000): (0.0067, 0.0148, 0.0137, 0.580, 0.900),
    ("cube", 20000): (0.0007, 0.0043, 0.0042, 0.638, 0.958),
    # spec §11.2: the 2-D mixtures (threshold_fit=1e-6, n_inits=10, n_folds=5, n_bootstrap=100;
    # 501 realisations)
    ("D3", 1000): (0.0083, 0.0144, 0.0136, 0.58, 0.92),
    ("D3", 10000): (0.0012, 0.0045, 0.0041, 0.63, 0.93),
    ("D3", 50000): (0.0003, 0.0023, 0.0018, 0.58, 0.88),
    ("D5", 1000): (0.0170, 0.0172, 0.0159, 0.44, 0.82),
    ("D5", 10000): (0.0013, 0.0051, 0.0048, 0.62, 0.94),
    ("D5", 50000): (0.0003, 0.0028, 0.0021, 0.54, 0.88),
    ("D5p", 1000): (0.0179, 0.0175, 0.0167, 0.45, 0.84),
    ("D3p", 10000): (0.0015, 0.0062, 0.0055, 0.61, 0.91),
}

#: the reference's study settings in jaxmi's option names (spec §11.1 and §11.2; its
#: ``threshold_fit`` is jaxmi's EM ``tol``). Its ``reg_covar=1e-12`` is a float64 value; jaxmi
#: keeps its float32 default.
REFERENCE_SETTINGS = {
    "invariance": dict(n_init=5, n_folds=3, n_bootstrap=100),
    "mixtures": dict(n_init=10, n_folds=5, n_bootstrap=100, tol=1e-6),
}


#: ``--suite`` task lists (``jaxmi.tasks`` names)
SUITES = {
    "invariance": [f"gmmmi-normal-0.6-{t}" for t in ("identity", "log", "cube")],
    "bmi": [
        "1v1-normal-0.75",
        "normal_cdf-1v1-normal-0.75",
        "half_cube-1v1-normal-0.75",
        "wiggly-1v1-normal-0.75",
        "1v1-additive-0.1",
        "1v1-additive-0.75",
        "1v1-bimodal-0.75",
        "student-identity-1-1-1",
        "asinh-student-identity-1-1-1",
        "swissroll_x-normal_cdf-1v1-normal-0.75",
        "multinormal-dense-2-2-0.5",
        "student-identity-2-2-1",
        "1v1-X-0.9",
        "1v1-AI",
        "2v1-waves-12-5.0-3.0",
        "2v1-galaxy-0.5-3.0",
    ],
    "paper": [
        "gmmmi-D1",
        "gmmmi-D3",
        "gmmmi-D5",
        "gamma-exponential-0.5",
        "gamma-exponential-1.0",
        "gamma-exponential-10.0",
        "weinman-0.5",
        "weinman-1.0",
        "weinman-10.0",
    ],
}
SUITES["tasks"] = SUITES["bmi"] + SUITES["paper"]
#: spec §11.2: the reference's own study of its 2-D mixtures, with a published table
SUITES["mixtures"] = ["gmmmi-D3", "gmmmi-D5", "gmmmi-D5p", "gmmmi-D3p"]
#: the sizes of the published §11.2 table (D5' only at 1,000, D3' only at 10,000)
MIXTURE_SIZES = {"gmmmi-D5p": (1000,), "gmmmi-D3p": (10000,)}


def oracle_cell(task, n: int, realisations: int) -> np.ndarray | None:
    """The closed-form MI of each realisation's untransformed Gaussian pair (the MLE).

    For the invariance study only (a bivariate Gaussian, possibly transformed): the same keys
    draw the base pair, and ``-0.5 log(1 - r^2)`` of its sample correlation is what an ideal
    estimator would return. Its spread over the realisations is the sampling noise of the data
    themselves; an estimator's spread can only be judged against it.
    """
    base = getattr(task, "base", None) or task
    if not (base.name.startswith("1v1-normal") or base.name == "gmmmi-normal-0.6-identity"):
        return None
    out = []
    for r in range(realisations):
        x, y = base.sample(jax.random.fold_in(jax.random.key(n), r), n)
        rho = np.corrcoef(np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel())
        out.append(-0.5 * math.log(1 - rho[0, 1] ** 2))
    return np.array(out)


def estimate_cell(task, n: int, realisations: int, options: dict) -> tuple[np.ndarray, ...]:
    """Estimates, reported stds, full-data point estimates and replicates of independent data.

    ``realisations`` data sets in one batch; the estimates are the bootstrap means (``mi``);
    the last array holds each realisation's bootstrap replicates ``(realisations, B)``.
    """
    xs, ys = [], []
    for r in range(realisations):
        x, y = task.sample(jax.random.fold_in(jax.random.key(n), r), n)
        xs.append(np.asarray(x).reshape(n, -1))
        ys.append(np.asarray(y).reshape(n, -1))
    res = jaxmi.gmm_mi_batch(jax.random.key(10_000 + n), np.stack(xs), np.stack(ys), **options)
    return tuple(np.asarray(a, np.float64) for a in (res.mi, res.std, res.point, res.samples))


def interval_rules(
    est: np.ndarray,
    sig: np.ndarray,
    point: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    truth: float,
) -> dict:
    """Other ways to read the same bootstrap, for spec §7.5's open question.

    * ``corrected``: the bootstrap bias correction ``2 point - mi`` with the same ``± 2 std``;
    * ``percentile``: the 2.5 and 97.5 percentiles of the replicates (95% percentile interval);
    * ``basic``: the basic (reflected) bootstrap interval ``[2 point - q97.5, 2 point - q2.5]``.

    ``lo`` and ``hi`` are each realisation's 2.5 and 97.5 percentiles of its replicates.
    Returns bias, spread and coverage of the truth for each (the ``mi`` and ``point`` columns
    are the row's own).
    """
    corrected = 2 * point - est
    basic_lo, basic_hi = 2 * point - hi, 2 * point - lo
    return dict(
        corrected_bias=float(corrected.mean() - truth),
        corrected_sd=float(corrected.std(ddof=1)),
        corrected_cov2=coverage(corrected, sig, truth, 2),
        percentile_cov=float(np.mean((lo < truth) & (truth < hi))),
        basic_cov=float(np.mean((basic_lo < truth) & (truth < basic_hi))),
        mean_percentile_width=float((hi - lo).mean()),
    )


def coverage(values: np.ndarray, sigma: np.ndarray, truth: float, k: float) -> float:
    """Share of the bars ``values ± k * sigma`` that hold ``truth``."""
    return float(np.mean(np.abs(values - truth) < k * sigma))


def _realisations(spec: str):
    """``--realisations``: one count for every cell, or ``N:R`` pairs (a count per size)."""
    if ":" not in spec:
        return lambda n: int(spec)
    table = {int(k): int(v) for k, v in (pair.split(":") for pair in spec.split(",") if pair)}
    return lambda n: table[n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--realisations",
        default="100",
        help="per cell: a number, or N:R pairs such as 200:500,2000:500,20000:100",
    )
    ap.add_argument(
        "--sizes", default=None, help="default 200,2000,20000 (1000,10000,50000 for mixtures)"
    )
    ap.add_argument("--transforms", default="identity,log,cube", help="invariance study")
    ap.add_argument("--suite", choices=sorted(SUITES), default="invariance")
    ap.add_argument("--tasks", default="", help="comma-separated jaxmi.tasks names (any suite)")
    ap.add_argument(
        "--reference-settings",
        action="store_true",
        help="the reference's study settings: n_init=5, n_folds=3, n_bootstrap=100 (invariance);"
        " n_init=10, n_folds=5, n_bootstrap=100, tol=1e-6 (mixtures)",
    )
    ap.add_argument(
        "--restart-stalled",
        action="store_true",
        help="restart_stalled=True: CV fits stalled at the random-responsibility start are "
        "fitted again from k-means++ seeding",
    )
    ap.add_argument(
        "--normal-scores",
        action="store_true",
        help="marginals='normal_scores': each column is replaced by the normal scores of its "
        "ranks before the fit (MI is unchanged by such maps)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    study = "mixtures" if args.suite == "mixtures" else "invariance"
    options = dict(REFERENCE_SETTINGS[study]) if args.reference_settings else {}
    if args.restart_stalled:
        options["restart_stalled"] = True
    if args.normal_scores:
        options["marginals"] = "normal_scores"
    if args.sizes is None:
        args.sizes = "1000,10000,50000" if study == "mixtures" else "200,2000,20000"
    per_size = _realisations(args.realisations)
    rows = []
    values: dict[str, np.ndarray] = {}  # per-realisation arrays, written next to the JSON

    def save() -> None:  # after every cell, so a long run that is stopped keeps its cells
        out = dict(
            benchmark="gmm_mi_accuracy",
            settings=dict(
                options=options or "jaxmi defaults",
                reference_settings=bool(args.reference_settings),
                suite=args.suite,
                tasks=names,
                sizes=args.sizes,
                realisations=args.realisations,
            ),
            criteria="|bias| <= |bias_ref| + 2 SE; sd <= 1.10 sd_ref; cov2 >= 0.93",
            **environment(),
            rows=rows,
        )
        write_results(args.out, out)
        np.savez_compressed(args.out.with_name(args.out.stem + "_values.npz"), **values)

    if args.tasks:
        names = [t for t in args.tasks.split(",") if t]
    elif args.suite == "invariance":
        names = [f"gmmmi-normal-0.6-{t}" for t in args.transforms.split(",") if t]
    else:
        names = SUITES[args.suite]
    for name in names:
        task = jaxmi.tasks.get(name)
        truth = float(task.mi)
        transform = name.removeprefix("gmmmi-normal-0.6-").removeprefix("gmmmi-")
        for n in [int(v) for v in args.sizes.split(",") if v]:
            if study == "mixtures" and not args.tasks and n not in MIXTURE_SIZES.get(name, (n,)):
                continue  # only the cells of the published table
            t0 = time.perf_counter()
            realisations = per_size(n)
            est, sig, point, samples = estimate_cell(task, n, realisations, options)
            q025, q975 = np.quantile(samples, [0.025, 0.975], axis=1)
            sd = float(est.std(ddof=1))
            se = sd / math.sqrt(len(est))
            bias = float(est.mean() - truth)
            row = dict(
                task=name,
                transform=transform,
                n=n,
                truth=truth,
                realisations=len(est),
                bias=bias,
                bias_in_se=bias / se if se > 0 else float("nan"),
                sd=sd,
                mean_sigma=float(sig.mean()),
                cov1=coverage(est, sig, truth, 1),
                cov2=coverage(est, sig, truth, 2),
                # the full-data fit's MI (``MIResult.point``) with the same bootstrap sigma
                point_bias=float(point.mean() - truth),
                point_sd=float(point.std(ddof=1)),
                point_cov1=coverage(point, sig, truth, 1),
                point_cov2=coverage(point, sig, truth, 2),
                seconds=time.perf_counter() - t0,
                **interval_rules(est, sig, point, q025, q975, truth),
            )
            # per realisation, so that other read-outs can be judged without a rerun
            cell = f"{transform}_{n}"
            values.update(
                {
                    f"{cell}_mi": est,
                    f"{cell}_std": sig,
                    f"{cell}_point": point,
                    f"{cell}_q025": q025,
                    f"{cell}_q975": q975,
                }
            )
            oracle = oracle_cell(task, n, realisations)
            if oracle is not None:
                # the data's own spread, and how far the estimates sit from the ideal ones
                row.update(
                    oracle_bias=float(oracle.mean() - truth),
                    excess_bias=float((est - oracle).mean()),
                    oracle_sd=float(oracle.std(ddof=1)),
                    minus_oracle_sd=float((est - oracle).std(ddof=1)),
                    cov2_vs_oracle=float(np.mean(np.abs(est - oracle) < 2 * sig)),
                )
            ref = REFERENCE.get((transform, n))
            if ref is not None:
                row.update(
                    ref_bias=ref[0],
                    ref_sd=ref[1],
                    ref_mean_sigma=ref[2],
                    ref_cov1=ref[3],
                    ref_cov2=ref[4],
                    ok_bias=abs(row["bias"]) <= abs(ref[0]) + 2 * se,
                    ok_sd=sd <= 1.10 * ref[1],
                )
            row["ok_cov2"] = row["cov2"] >= 0.93
            rows.append(row)
            print(
                f"{transform:28s} N={n:6d} R={len(est)}: truth {truth:.4f} bias {bias:+.4f} "
                f"({row['bias_in_se']:+.1f} SE) sd {sd:.4f} "
                f"mean σ {row['mean_sigma']:.4f} cov1 {row['cov1']:.2f} cov2 {row['cov2']:.2f}"
                f" | point bias {row['point_bias']:+.4f} sd {row['point_sd']:.4f}"
                f" cov2 {row['point_cov2']:.2f}"
                f" | 2 point - mi bias {row['corrected_bias']:+.4f}"
                f" cov2 {row['corrected_cov2']:.2f};"
                f" percentile {row['percentile_cov']:.2f}, basic {row['basic_cov']:.2f}"
                + (
                    f" | ref bias {ref[0]:+.4f} sd {ref[1]:.4f} σ {ref[2]:.4f} cov1 {ref[3]:.2f}"
                    f" cov2 {ref[4]:.2f}"
                    if ref
                    else ""
                )
                + (
                    f" | oracle bias {row['oracle_bias']:+.4f} sd {row['oracle_sd']:.4f}, "
                    f"est - oracle mean {row['excess_bias']:+.4f} sd {row['minus_oracle_sd']:.4f}"
                    if oracle is not None
                    else ""
                )
                + f" | {row['seconds']:.0f} s",
                flush=True,
            )
            save()


if __name__ == "__main__":
    main()
