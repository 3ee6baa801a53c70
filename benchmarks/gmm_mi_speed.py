"""GMM-MI speed: jaxmi against the reference package (gmm-mi 0.8.2), side by side.

The reference's licence forbids importing it into jaxmi, so it runs as an external program in its
own environment, single-threaded (its fastest configuration on these machines)::

    python -m venv /tmp/gmmmi-ref
    /tmp/gmmmi-ref/bin/pip install "gmm-mi==0.8.2" "scikit-learn<1.6"
    python benchmarks/gmm_mi_speed.py --ref-python /tmp/gmmmi-ref/bin/python

Both get the same data (written to .npy files) and their default settings, which agree on what
matters here: n_init=3, n_folds=2, n_bootstrap=50, Monte Carlo integral with 1e5 draws.
Three figures per case:

* steady state: one full estimate (fit + bootstrap + integral) in a warm process;
* fresh process, cold: import + compilation + one estimate (jaxmi's compilation cache empty);
* fresh process, warm cache: the same with JAX's persistent cache filled by an earlier run.

Each figure is the best of ``--process-runs`` (default 2) fresh processes for both packages.

The warm-cache process uses jaxmi's export cache (:mod:`jaxmi._compile`), which needs the
``fast-start`` extra (``pip install -e ".[fast-start]"``, i.e. ``flatbuffers``); without it a
warm process still traces and lowers every program. The JSON records which was measured.

Targets (issue 3, 2-core CPU): steady state >= 50x faster than the reference; a fresh process
never slower than the reference's fresh process, and >= 2x faster with a warm cache.
Without ``--ref-python`` only jaxmi is timed. Writes ``benchmarks/results/gmm_mi_speed.json``.
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

RESULTS = Path(__file__).parent / "results" / "gmm_mi_speed.json"

_REF_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from gmm_mi.mi import EstimateMI
t1 = time.perf_counter()
X = np.load(sys.argv[1])
est = EstimateMI()
est.fit(X)
mi, std = est.estimate()
t2 = time.perf_counter()
print(json.dumps(dict(mi=float(mi), std=float(std), import_s=t1 - t0, estimate_s=t2 - t1)))
"""

_JAXMI_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np, jax, jaxmi
t1 = time.perf_counter()
X = np.load(sys.argv[1])
r = jaxmi.gmm_mi(jax.random.key(0), X[:, 0], X[:, 1])
jax.block_until_ready(r.mi)
t2 = time.perf_counter()
steady = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    r = jaxmi.gmm_mi(jax.random.key(0), X[:, 0], X[:, 1])
    jax.block_until_ready(r.mi)
    steady.append(time.perf_counter() - t)
# steady state over other keys: K* (and so the work) can depend on the key
by_key = []
for seed in range(1, int(sys.argv[3]) + 1) if steady else ():
    ts = []
    for _ in range(3):  # the first may compile another capacity
        t = time.perf_counter()
        rk = jaxmi.gmm_mi(jax.random.key(seed), X[:, 0], X[:, 1])
        jax.block_until_ready(rk.mi)
        ts.append(time.perf_counter() - t)
    by_key.append(dict(seed=seed, k=int(rk.n_components), s=min(ts[1:])))
from jaxmi import _compile
print(json.dumps(dict(mi=float(r.mi), std=float(r.std), k=int(r.n_components),
                      import_s=t1 - t0, first_s=t2 - t1, steady_s=min(steady) if steady else None,
                      by_key=[dict(seed=0, k=int(r.n_components), s=min(steady))] + by_key
                      if steady else [],
                      after_first_s=time.perf_counter() - t2,
                      export_cache=_compile._export_dir() is not None)))
"""


def make_case(name: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if name in ("gaussian", "cube"):
        z = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], n)
        if name == "cube":
            z[:, 1] = z[:, 1] + 0.5 * z[:, 1] ** 3
        return z
    if name == "D3":
        w = np.array([0.3, 0.45, 0.25])
        mu = np.array([[-1.0, 1.0], [0.0, 2.0], [-1.5, 2.0]])
        cov = np.array([[[1, 0], [0, 0.1]], [[0.5, 0.2], [0.2, 0.5]], [[0.1, 0.05], [0.05, 0.1]]])
        c = rng.choice(3, size=n, p=w)
        return mu[c] + np.einsum("nij,nj->ni", np.linalg.cholesky(cov)[c], rng.normal(size=(n, 2)))
    if name == "gamma-exp":
        x = rng.gamma(1.0, 1.0, n)
        y = rng.exponential(1 / x)
        return np.log(np.stack([x, y], axis=1))
    raise ValueError(f"unknown case {name!r}")


TRUTH = {"gaussian": 0.223144, "cube": 0.223144, "D3": 0.132387, "gamma-exp": 0.422784}


def run(cmd: list[str], env: dict) -> tuple[dict, float]:
    """Run a script; its JSON and the process's wall time up to its first estimate.

    A jaxmi process that goes on to time steady-state repeats reports how long they took
    (``after_first_s``), and that is not part of "a whole fresh process" (the reference's
    process makes one estimate).
    """
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"{cmd[0]} failed:\n{out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res, wall - res.get("after_first_s", 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--ref-python",
        default=os.environ.get("GMMMI_REF_PYTHON"),
        help="python of an environment with gmm-mi==0.8.2 and scikit-learn<1.6",
    )
    ap.add_argument("--cases", default="gaussian,D3,cube,gamma-exp")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--process-runs", type=int, default=2, help="fresh processes per figure")
    ap.add_argument("--keys", type=int, default=4, help="more keys (1..KEYS) timed in steady state")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    single = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    rows = []
    keys = args.keys
    with tempfile.TemporaryDirectory() as tmp:
        for case in [c for c in args.cases.split(",") if c]:
            path = Path(tmp) / f"{case}.npy"
            np.save(path, make_case(case, args.n))
            row = dict(case=case, n=args.n, truth=TRUTH[case])
            # a cache of its own per case and run: "cold" must not reuse programs an earlier
            # case compiled; each process figure is the best of --process-runs (single runs on
            # a shared 2-core machine vary by up to 1.5x)
            colds, warms = [], []
            for rep in range(args.process_runs):
                cache = Path(tmp) / f"xla-cache-{case}-{rep}"
                env = dict(os.environ, JAXMI_CACHE_DIR=str(cache), JAXMI_COMPILATION_CACHE="1")
                colds.append(
                    run([sys.executable, "-c", _JAXMI_SCRIPT, str(path), "5", str(keys)], env)
                )
                warms.append(run([sys.executable, "-c", _JAXMI_SCRIPT, str(path), "0", "0"], env))
            cold, cold_wall = min(colds, key=lambda r: r[1])
            warm, warm_wall = min(warms, key=lambda r: r[1])
            cold = dict(cold, steady_s=min(c["steady_s"] for c, _ in colds))
            # per key: the best over the process runs
            by_key = [
                dict(row, s=min(c["by_key"][i]["s"] for c, _ in colds))
                for i, row in enumerate(colds[0][0]["by_key"])
            ]
            keys_mean = float(np.mean([r["s"] for r in by_key]))
            row.update(
                jaxmi_mi=cold["mi"],
                jaxmi_std=cold["std"],
                jaxmi_k=cold["k"],
                jaxmi_steady_s=cold["steady_s"],
                jaxmi_steady_by_key=by_key,
                jaxmi_steady_keys_mean_s=keys_mean,
                jaxmi_process_cold_s=cold_wall,
                jaxmi_process_warm_s=warm_wall,
                jaxmi_first_call_cold_s=cold["first_s"],
                jaxmi_first_call_warm_s=warm["first_s"],
                export_cache=warm["export_cache"],
            )
            if args.ref_python:
                refs = [
                    run([args.ref_python, "-c", _REF_SCRIPT, str(path)], dict(os.environ, **single))
                    for _ in range(args.process_runs)
                ]
                ref, ref_wall = min(refs, key=lambda r: r[1])
                ref = dict(ref, estimate_s=min(r["estimate_s"] for r, _ in refs))
                row.update(
                    ref_mi=ref["mi"],
                    ref_std=ref["std"],
                    ref_estimate_s=ref["estimate_s"],
                    ref_process_s=ref_wall,
                    ratio_steady=ref["estimate_s"] / cold["steady_s"],
                    ratio_steady_keys_mean=ref["estimate_s"] / keys_mean,
                    ratio_process_cold=ref_wall / cold_wall,
                    ratio_process_warm=ref_wall / warm_wall,
                )
            rows.append(row)
            msg = (
                f"{case:10s} N={args.n}: jaxmi {row['jaxmi_mi']:.4f} ± {row['jaxmi_std']:.4f} "
                f"steady {row['jaxmi_steady_s']:.3f}s, process cold {cold_wall:.1f}s / warm "
                f"{warm_wall:.1f}s"
            )
            if args.ref_python:
                msg += (
                    f" | reference {row['ref_mi']:.4f} ± {row['ref_std']:.4f} "
                    f"{row['ref_estimate_s']:.2f}s (process {row['ref_process_s']:.1f}s) | "
                    f"steady {row['ratio_steady']:.0f}x (mean over {len(by_key)} keys "
                    f"{row['ratio_steady_keys_mean']:.0f}x), process cold "
                    f"{row['ratio_process_cold']:.2f}x, warm {row['ratio_process_warm']:.2f}x"
                )
            print(msg, flush=True)

    out = dict(
        benchmark="gmm_mi_speed",
        settings=dict(
            n=args.n,
            defaults=(
                "n_init=3, n_folds=2, n_bootstrap=50; integral: reference 1e5 MC draws, jaxmi "
                "RQMC with 16,384 points (d <= 2), at least as accurate (gmm_mi_integral.py)"
            ),
            reference="gmm-mi 0.8.2, single-threaded" if args.ref_python else None,
            process_runs=args.process_runs,
        ),
        targets="steady >= 50x; process cold >= 1x; process warm >= 2x",
        **environment(),
        rows=rows,
    )
    write_results(args.out, out)


if __name__ == "__main__":
    main()
