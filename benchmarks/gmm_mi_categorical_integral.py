"""The categorical MI integral: plain Monte Carlo against randomised QMC per class.

``gmm_mi_categorical`` integrates, for every fitted set of class mixtures (the full-data fit
and each bootstrap replicate),

    I(X; C) = sum_c pi_c E_{x ~ p(x|c)}[ log p(x|c) - log sum_c' pi_c' p(x|c') ]

Each class's expectation needs every class's density at its points, so plain Monte Carlo with
S points per class (the reference's ``MC_samples`` = 1e5) costs ``C^2 * S`` component
densities per fit: 50 classes took 35 s of a 36 s estimate. This script measures, side by side
in one run:

* accuracy, in float64, on TRUE class mixtures with exact truths (1-D and 2-D by trapezoidal
  quadrature on a fine grid, which converges exponentially for these Gaussian integrands;
  3-6 dimensions by embedding a 1-D or 2-D case with shared, class-independent extra
  coordinates and a random rotation, which leaves I(X; C) unchanged; and genuinely 3-, 5- and 6-D
  class mixtures, whose truth is RQMC with 2^20 points per class over 4 keys, unbiased, with a
  standard error recorded and far below the errors compared): root-mean-square error
  over 20 keys of the library's plain MC (1e5 draws per class) and of per-class RQMC
  (:func:`jaxmi.gmm._mi._categorical_rqmc`, 8 randomisations) at several point counts per
  class, against the MC-1e5 error ``sqrt(sum_c pi_c^2 var_c / 1e5)`` (``var_c`` from a pilot);
* speed: ``gmm_mi_categorical`` steady state (compiled; the faster of 2 interleaved calls) with
  ``integral="mc"`` against the default, on ``categorical_gaussian`` tasks of 3, 10 and 50
  classes (N = 3,000), with both estimates against the truth.

The default points per class (``jaxmi.gmm._mi.CATEGORICAL_POINTS``) are, per dimension group,
the smallest count whose RMSE, raised by its own sampling uncertainty over 20 keys (x1.16), is
at most ``MARGIN`` (0.75) times the MC-1e5 error on every task.

    python benchmarks/gmm_mi_categorical_integral.py          # ~8 min on a 2-core CPU
    python benchmarks/gmm_mi_categorical_integral.py --quick  # accuracy of 2 tasks, no timing

Writes ``benchmarks/results/gmm_mi_categorical_integral.json``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _common import environment, write_results
from scipy.special import logsumexp
from scipy.stats import ortho_group

import jaxmi
from jaxmi.gmm import _mi
from jaxmi.gmm._mixture import GMM

RESULTS = Path(__file__).parent / "results" / "gmm_mi_categorical_integral.json"

POINTS = (1024, 2048, 4096, 8192, 16384, 32768, 65536)
MC_SAMPLES = 100_000
N_KEYS = 20
MARGIN = 0.75
PILOT = 1 << 18
#: classes x capacity above which a task's sweep stops at 16,384 points and skips the empirical
#: MC-1e5 RMSE (the C^2 cost; the bound from the pilot stays)
BIG = 100


def _class_mixtures(
    rng: np.random.Generator, n_cls: int, d: int, max_k: int, spread: float, min_k: int = 1
):
    """Random class-conditional mixtures: ``(weights, means, covariances)`` per class.

    Each class has ``min_k`` to ``max_k`` components.
    """
    out = []
    for _ in range(n_cls):
        k = int(rng.integers(min_k, max_k + 1))
        w = rng.dirichlet(np.full(k, 2.0))
        mu = rng.normal(0, spread, (k, d))
        a = rng.normal(size=(k, d, d)) * 0.4
        cov = a @ np.swapaxes(a, 1, 2) + np.eye(d) * rng.uniform(0.1, 0.6, (k, 1, 1))
        out.append((w, mu, cov))
    return out


def _gauss_classes(means, stds):
    return [
        (np.ones(1), np.array([[m]], float), np.array([[[s * s]]], float))
        for m, s in zip(means, stds, strict=True)
    ]


def _cases() -> dict:
    """Name -> (prior (C,), class mixtures [(w, mu (k, d), cov (k, d, d))], d0, d)."""
    rng = np.random.default_rng(5)
    cases = {}
    for name in (
        "cat-gauss-3-balanced",
        "cat-gauss-3-imbalanced",
        "cat-gauss-2-imbalanced",
        "cat-gauss-2-hetero",
    ):
        p = jaxmi.tasks.get(name).params
        stds = np.broadcast_to(p["stds"], (len(p["probs"]),))
        cases[name] = (np.asarray(p["probs"]), _gauss_classes(p["means"], stds))
    cases["1-D mixtures, 3 classes"] = (
        np.array([0.5, 0.3, 0.2]),
        [
            (np.array([0.6, 0.4]), np.array([[-1.0], [1.5]]), np.array([[[0.49]], [[0.25]]])),
            (
                np.array([0.3, 0.3, 0.4]),
                np.array([[0.0], [2.0], [4.0]]),
                np.array([[[0.16]], [[1.0]], [[0.36]]]),
            ),
            (np.ones(1), np.array([[3.0]]), np.array([[[1.44]]])),
        ],
    )
    cases["1-D Gaussians, 10 classes"] = (
        rng.dirichlet(np.full(10, 3.0)),
        _gauss_classes(np.linspace(0, 6, 10), rng.uniform(0.5, 1.5, 10)),
    )
    cases["1-D Gaussians, 50 near-identical classes"] = (
        np.full(50, 1 / 50),
        _gauss_classes(rng.normal(0, 0.1, 50), rng.uniform(0.9, 1.1, 50)),
    )
    cases["1-D mixtures, 50 classes"] = (
        rng.dirichlet(np.full(50, 5.0)),
        _class_mixtures(rng, 50, 1, 4, 1.0),
    )
    cases["2-D mixtures, 3 classes"] = (
        np.array([0.5, 0.3, 0.2]),
        _class_mixtures(rng, 3, 2, 3, 1.5),
    )
    cases["2-D mixtures, 10 classes"] = (
        rng.dirichlet(np.full(10, 3.0)),
        _class_mixtures(rng, 10, 2, 3, 1.0),
    )
    out = {name: (pi, cls, None) for name, (pi, cls) in cases.items()}
    # genuinely 3-D and 5-D class mixtures: truth by RQMC with 2^20 points per class
    for d, n_cls in ((3, 3), (5, 3), (6, 3)):
        out[f"{d}-D mixtures, {n_cls} classes"] = (
            rng.dirichlet(np.full(n_cls, 3.0)),
            _class_mixtures(rng, n_cls, d, 3, 1.0),
            "rqmc",
        )
    # 3-6 dimensions: a lower-dimensional case, shared N(0, s^2 I) extra coordinates, rotated
    for base, d in (
        ("1-D mixtures, 3 classes", 3),
        ("2-D mixtures, 3 classes", 4),
        ("1-D Gaussians, 10 classes", 6),
    ):
        out[f"{base} in {d}-D (rotated)"] = (*cases[base], (base, d))
    return out


def _embed(classes, d: int, rng: np.random.Generator):
    """The class mixtures with shared extra coordinates, rotated by a random orthogonal map."""
    d0 = classes[0][1].shape[1]
    extra = np.diag(rng.uniform(0.5, 2.0, d - d0))
    q = ortho_group.rvs(d, random_state=rng)
    out = []
    for w, mu, cov in classes:
        k = w.shape[0]
        mu_f = np.concatenate([mu, np.zeros((k, d - d0))], axis=1)
        cov_f = np.zeros((k, d, d))
        cov_f[:, :d0, :d0] = cov
        cov_f[:, d0:, d0:] = extra
        out.append((w, mu_f @ q.T, q @ cov_f @ q.T))
    return out


def _log_mixture(x: np.ndarray, w, mu, cov) -> np.ndarray:
    """Log density of a mixture at ``x (..., d)`` (float64 NumPy)."""
    terms = []
    for wk, mk, ck in zip(w, mu, cov, strict=True):
        diff = x - mk
        sol = np.linalg.solve(ck, np.moveaxis(diff, -1, 0).reshape(len(mk), -1))
        quad = np.sum(np.moveaxis(diff, -1, 0).reshape(len(mk), -1) * sol, axis=0)
        _, logdet = np.linalg.slogdet(ck)
        terms.append(
            np.log(wk) - 0.5 * (len(mk) * np.log(2 * np.pi) + logdet + quad.reshape(x.shape[:-1]))
        )
    return logsumexp(np.stack(terms), axis=0)


def truth(pi: np.ndarray, classes) -> float:
    """I(X; C) by the trapezoidal rule on a fine grid (1-D: 400,001 nodes; 2-D: 1,601^2)."""
    d = classes[0][1].shape[1]
    mus = np.concatenate([mu for _, mu, _ in classes])
    sds = np.sqrt(np.concatenate([np.diagonal(c, axis1=1, axis2=2) for _, _, c in classes]))
    lo, hi = (mus - 12 * sds).min(0), (mus + 12 * sds).max(0)
    nodes = 400_001 if d == 1 else 1_601
    axes = [np.linspace(lo[i], hi[i], nodes) for i in range(d)]
    cell = math.prod(a[1] - a[0] for a in axes)
    x = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    lps = np.stack([_log_mixture(x, *c) for c in classes])
    lmix = logsumexp(np.log(pi).reshape(-1, *([1] * d)) + lps, axis=0)
    per_class = [np.sum(np.exp(lps[c]) * (lps[c] - lmix)) for c in range(len(pi))]
    return float(np.dot(pi, per_class) * cell)


def stacked(classes) -> GMM:
    """The class mixtures as one float64 GMM batch ``(C, kc, ...)`` padded to a capacity."""
    kc = max(w.shape[0] for w, _, _ in classes)
    gs = [
        _mi._pad_components(jax.tree.map(np.asarray, GMM.create(w, mu, cov, dtype=jnp.float64)), kc)
        for w, mu, cov in classes
    ]
    return jax.tree.map(lambda *a: np.stack(a), *gs)


_mc = jax.jit(_mi._categorical_mi)
_rqmc = jax.jit(_mi._categorical_rqmc, static_argnames=("n_points",))


def rqmc_truth(g: GMM, log_prior, n_keys: int = 4) -> tuple[float, float]:
    """I(X; C) by RQMC with 2^20 points per class, averaged over independent keys (float64).

    Every randomised point is marginally uniform, so the estimate is unbiased; its standard
    error (recorded as ``truth_stderr``) is far below the errors compared at 1e3-1e5 points.
    """
    vals = [
        float(_rqmc(_keys(900 + s, g.weights.shape[0]), g, log_prior, n_points=1 << 20)[0])
        for s in range(n_keys)
    ]
    return float(np.mean(vals)), float(np.std(vals, ddof=1) / math.sqrt(n_keys))


def _keys(seed: int, n_cls: int):
    return jax.random.split(jax.random.key(seed), n_cls)


def accuracy(names: list[str] | None = None) -> list[dict]:
    rows = []
    with jax.enable_x64(True):
        cases = _cases()
        for name, (pi, classes, embed) in cases.items():
            if names is not None and name not in names:
                continue
            t0 = time.perf_counter()
            truth_se = 0.0
            if embed == "rqmc":
                g = stacked(classes)
                log_prior = jnp.log(jnp.asarray(pi))
                exact, truth_se = rqmc_truth(g, log_prior)
            else:
                exact = truth(pi, classes)  # the embedding leaves I(X; C) unchanged
                if embed is not None:
                    classes = _embed(classes, embed[1], np.random.default_rng(len(name)))
                g = stacked(classes)
                log_prior = jnp.log(jnp.asarray(pi))
            n_cls, kc = g.weights.shape
            d = g.dim
            big = n_cls * kc > BIG
            u, eps = _mi._class_noise(
                jax.random.key(99), n_cls=n_cls, n_samples=PILOT, d=d, dtype="float64"
            )
            _, se_pilot = _mc(u, eps, g, log_prior)
            bound = float(se_pilot) * math.sqrt(PILOT / MC_SAMPLES)
            row = dict(
                task=name,
                truth=exact,
                truth_stderr=truth_se,
                d=d,
                classes=int(n_cls),
                capacity=int(kc),
                mc_bound=bound,
                mc_rmse=None,
                rqmc={},
            )
            if not big:
                err = []
                for s in range(N_KEYS):
                    u, eps = _mi._class_noise(
                        jax.random.key(100 + s),
                        n_cls=n_cls,
                        n_samples=MC_SAMPLES,
                        d=d,
                        dtype="float64",
                    )
                    err.append(float(_mc(u, eps, g, log_prior)[0]) - exact)
                row["mc_rmse"] = float(np.sqrt(np.mean(np.square(err))))
            for n in POINTS:
                if big and n > 16384:
                    break
                err, ses = [], []
                for s in range(N_KEYS):
                    m, se = _rqmc(_keys(200 + s, n_cls), g, log_prior, n_points=n)
                    err.append(float(m) - exact)
                    ses.append(float(se))
                err, ses = np.asarray(err), np.asarray(ses)
                row["rqmc"][str(n)] = dict(
                    rmse=float(np.sqrt(np.mean(err**2))),
                    rms_stderr=float(np.sqrt(np.mean(ses**2))),
                    frac_within_2se=float(np.mean(np.abs(err) <= 2 * ses)),
                )
            rows.append(row)
            r = row["rqmc"]
            seen = f"{row['mc_rmse']:.1e}" if row["mc_rmse"] is not None else "-"
            print(
                f"{name:44s} d={d} C={n_cls:2d} truth {exact:.6f}  MC-1e5 {bound:.1e} (seen "
                f"{seen}) | "
                + " ".join(f"{n}: {v['rmse'] / bound:.2f}x" for n, v in r.items())
                + f"  [{time.perf_counter() - t0:.0f} s]",
                flush=True,
            )
    return rows


#: an RMSE over N_KEYS keys is itself uncertain by about 1 / sqrt(2 N_KEYS) (16% at 20 keys):
#: a point count passes only if its RMSE, raised by that much, is within the margin
SAMPLING = 1 + 1 / math.sqrt(2 * N_KEYS)


def choose(rows: list[dict]) -> int | None:
    """The smallest point count whose RMSE (x SAMPLING) is <= MARGIN x MC-1e5's on every task."""
    for n in POINTS:
        key = str(n)
        if all(
            key in r["rqmc"] and r["rqmc"][key]["rmse"] * SAMPLING <= MARGIN * r["mc_bound"]
            for r in rows
        ):
            return n
    return None


def chosen_by_dimension(rows: list[dict]) -> dict:
    """The smallest passing point count (:func:`choose`) of each dimension group."""
    groups = {
        "d=1": [r for r in rows if r["d"] == 1],
        "d=2": [r for r in rows if r["d"] == 2],
        "d=3..6": [r for r in rows if r["d"] > 2],
    }
    return {g: choose(rs) if rs else None for g, rs in groups.items()}


RULES = {"mc_1e5": dict(integral="mc"), "default": {}}


def time_rules(call) -> tuple[dict, dict, dict, dict]:
    """``call(**rule)`` timed for plain MC and for the default rule.

    Returns, each by rule: the first call's time, the best steady time, the estimate (``mi``,
    ``std``, ``point_stderr``) and the result. Steady state: the faster of 2 calls each,
    interleaved; every call waits for its arrays.
    """
    first, best, res = {}, {k: math.inf for k in RULES}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, kw in RULES.items():
            t = time.perf_counter()
            res[name] = jax.block_until_ready(call(**kw))
            first[name] = time.perf_counter() - t
        for _ in range(2):  # interleaved
            for name, kw in RULES.items():
                t = time.perf_counter()
                jax.block_until_ready(call(**kw))
                best[name] = min(best[name], time.perf_counter() - t)
    estimates = {
        k: dict(mi=float(r.mi), std=float(r.std), point_stderr=float(r.point_stderr))
        for k, r in res.items()
    }
    return first, best, estimates, res


def timing() -> list[dict]:
    """``gmm_mi_categorical`` steady state with plain MC (1e5 per class) and the default rule."""
    rows = []
    for n_cls in (3, 10, 50):
        rng = np.random.default_rng(n_cls)
        task = jaxmi.tasks.categorical_gaussian(
            rng.dirichlet(np.full(n_cls, 5.0)),
            np.linspace(0.0, 4.0, n_cls),
            rng.uniform(0.7, 1.3, n_cls),
        )
        x, labels = (np.asarray(v) for v in task.sample(jax.random.key(0), 3000))
        first, best, estimates, _ = time_rules(
            lambda **kw: jaxmi.gmm_mi_categorical(jax.random.key(1), x, labels[:, 0], **kw)  # noqa: B023
        )
        row = dict(
            classes=n_cls,
            n=3000,
            truth=float(task.mi),
            first_call_s=first,
            steady_s=best,
            speedup=best["mc_1e5"] / best["default"],
            estimates=estimates,
        )
        rows.append(row)
        e = row["estimates"]
        print(
            f"C={n_cls:2d} truth {row['truth']:.4f}: MC {e['mc_1e5']['mi']:.4f} ± "
            f"{e['mc_1e5']['std']:.4f} in {best['mc_1e5']:.2f} s; default "
            f"{e['default']['mi']:.4f} ± {e['default']['std']:.4f} in {best['default']:.2f} s "
            f"({row['speedup']:.1f}x)",
            flush=True,
        )
    return rows


def run_sweep(doc: str, out: Path, quick: list[str], accuracy, timing, **record) -> None:
    """The command line of an integral sweep: accuracy, the chosen counts, timing, the JSON.

    ``record``: ``called`` (the timed function), ``error`` (the MC-1e5 error's formula) and
    ``library_points`` (the library's defaults, by the largest dimension each covers).
    """
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--out", default=str(out))
    ap.add_argument("--quick", action="store_true", help="two tasks' accuracy, no timing")
    args = ap.parse_args()
    rows = accuracy(quick if args.quick else None)
    chosen = chosen_by_dimension(rows)
    print(f"smallest passing points (RMSE x {SAMPLING:.2f} <= {MARGIN} x MC-1e5 error): {chosen}")
    settings = dict(
        mc_samples=MC_SAMPLES,
        n_shifts=8,
        keys=N_KEYS,
        points=list(POINTS),
        margin=MARGIN,
        sampling=SAMPLING,
        pilot=PILOT,
        accuracy_dtype="float64",
        timing=f"{record['called']} steady state: the faster of 2 interleaved calls",
        library_default_points={str(k): v for k, v in record["library_points"].items()},
    )
    result = dict(
        **environment(),
        settings=settings,
        criterion=f"RQMC RMSE x {SAMPLING:.3f} <= {MARGIN} x {record['error']} on every task",
        chosen_points=chosen,
        rows=rows,
        timing=[] if args.quick else timing(),
    )
    write_results(args.out, result)


def main() -> None:
    run_sweep(
        __doc__,
        RESULTS,
        ["cat-gauss-3-imbalanced", "2-D mixtures, 3 classes"],
        accuracy,
        timing,
        called="gmm_mi_categorical",
        error=f"sqrt(sum_c pi_c^2 var_c / {MC_SAMPLES})",
        library_points=_mi.CATEGORICAL_POINTS,
    )


if __name__ == "__main__":
    main()
