"""GMM-MI bias against the reference package on the SAME data sets (invariance study, identity).

``gmm_mi_accuracy.py`` compares jaxmi's bias with the reference's *published* table, which was
measured on other random data. At small N the data's own noise is as large as the difference
being judged: the closed-form MLE of each realisation (the "oracle") is itself biased upwards by
O(1/N), and by how much depends on the draw (+0.0035 to +0.0076 nats at N = 200 in our draws,
against an expected ~+0.004). This script removes that noise: both packages estimate the same
``R`` bivariate Gaussian data sets (rho = 0.6, truth 0.2231 nats), and the per-realisation
difference jaxmi - reference is reported with its standard error.

The reference runs as an external program in its own environment, single-threaded (its licence
forbids importing it)::

    python -m venv /tmp/gmmmi-ref
    /tmp/gmmmi-ref/bin/pip install "gmm-mi==0.8.2" "scikit-learn<1.6"
    python benchmarks/gmm_mi_same_data.py --ref-python /tmp/gmmmi-ref/bin/python  # ~8 min

Writes ``benchmarks/results/gmm_mi_same_data.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from _common import environment, write_results

import jaxmi

RESULTS = Path(__file__).parent / "results" / "gmm_mi_same_data.json"
RHO = 0.6
TRUTH = -0.5 * np.log(1 - RHO**2)

_REF_SCRIPT = """
import json, sys
import numpy as np
from gmm_mi.mi import EstimateMI
z = np.load(sys.argv[1])
out = []
for i in range(z.shape[0]):
    est = EstimateMI()
    est.fit(z[i])
    mi, std = est.estimate()
    out.append([float(mi), float(std), int(est.best_components)])
json.dump(out, open(sys.argv[2], "w"))
"""


def summary(mi: np.ndarray, std: np.ndarray, k: np.ndarray, oracle: np.ndarray) -> dict:
    r = mi.shape[0]
    return dict(
        bias=float(mi.mean() - TRUTH),
        se=float(mi.std(ddof=1) / np.sqrt(r)),
        sd=float(mi.std(ddof=1)),
        mean_sigma=float(std.mean()),
        excess_over_oracle=float((mi - oracle).mean()),
        cov2=float(np.mean(np.abs(mi - TRUTH) < 2 * std)),
        k_above_1=int(np.sum(k > 1)),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ref-python", default=os.environ.get("GMMMI_REF_PYTHON"), required=False)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--realisations", type=int, default=150)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if not args.ref_python:
        ap.error("--ref-python (or GMMMI_REF_PYTHON) is required: this is a side-by-side study")

    rng = np.random.default_rng(args.seed)
    z = rng.multivariate_normal([0, 0], [[1, RHO], [RHO, 1]], size=(args.realisations, args.n))
    oracle = np.array([-0.5 * np.log(1 - np.corrcoef(zz.T)[0, 1] ** 2) for zz in z])

    t0 = time.perf_counter()
    r = jaxmi.gmm_mi_batch(
        jax.random.key(0), z[..., 0].astype(np.float32), z[..., 1].astype(np.float32)
    )
    jx_s = time.perf_counter() - t0
    jx = (np.asarray(r.mi), np.asarray(r.std), np.asarray(r.n_components))

    single = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "z.npy", Path(tmp) / "ref.json"
        np.save(data, z)
        t0 = time.perf_counter()
        subprocess.run(
            [args.ref_python, "-c", _REF_SCRIPT, str(data), str(out)],
            env=dict(os.environ, **single),
            check=True,
            capture_output=True,
        )
        ref_s = time.perf_counter() - t0
        ref = np.array(json.loads(out.read_text()))
    rf = (ref[:, 0], ref[:, 1], ref[:, 2].astype(int))

    diff = jx[0] - rf[0]
    both_k1 = (jx[2] == 1) & (rf[2] == 1)
    res = dict(
        jaxmi=summary(*jx, oracle),
        reference=summary(*rf, oracle),
        oracle_bias=float(oracle.mean() - TRUTH),
        difference=dict(
            mean=float(diff.mean()),
            se=float(diff.std(ddof=1) / np.sqrt(diff.size)),
            sd=float(diff.std(ddof=1)),
            both_k1=int(both_k1.sum()),
            mean_both_k1=float(diff[both_k1].mean()) if both_k1.any() else None,
        ),
        seconds=dict(jaxmi_batch=jx_s, reference=ref_s),
    )
    for name in ("jaxmi", "reference"):
        s = res[name]
        print(
            f"{name:9s} bias {s['bias']:+.4f} (SE {s['se']:.4f}) sd {s['sd']:.4f} mean σ "
            f"{s['mean_sigma']:.4f} cov2 {s['cov2']:.2f} excess over oracle "
            f"{s['excess_over_oracle']:+.4f}; K > 1 in {s['k_above_1']} of {args.realisations}"
        )
    d = res["difference"]
    print(
        f"oracle bias {res['oracle_bias']:+.4f}; jaxmi - reference {d['mean']:+.4f} ± {d['se']:.4f}"
        f" (sd {d['sd']:.4f}); both K = 1: {d['both_k1']}, mean difference {d['mean_both_k1']:+.5f}"
    )
    write_results(
        args.out,
        dict(
            benchmark="gmm_mi_same_data",
            settings=dict(
                n=args.n,
                realisations=args.realisations,
                rho=RHO,
                truth=TRUTH,
                seed=args.seed,
                options="both packages' defaults; jaxmi float32, gmm_mi_batch",
                reference="gmm-mi 0.8.2, single-threaded",
            ),
            **environment(),
            results=res,
        ),
    )


if __name__ == "__main__":
    main()
