"""The separate-mode KL integral: plain Monte Carlo against randomised QMC.

``gmm_kl(mode="separate")`` fits one mixture to each sample and integrates, for the full-data
pair and each bootstrap replicate,

    KL[p || q] = E_{z ~ p}[ log p(z) - log q(z) ]

over points of ``p``. This script measures, side by side in one run:

* accuracy, in float64, on TRUE mixture pairs with exact truths (Gaussian pairs in closed form;
  1-D and 2-D mixtures by trapezoidal quadrature on a fine grid; 3-6 dimensions by embedding a
  1-D or 2-D pair with shared extra coordinates and a random rotation, which leaves the KL
  unchanged; and genuinely 3-, 5- and 6-D mixtures, whose truth is RQMC with 2^20 points over 4
  keys, unbiased, with its standard error recorded): root-mean-square error over 20 keys of the
  library's plain MC (1e5 draws, ``jaxmi.gmm._mi._kl_pairs``) and of RQMC
  (``jaxmi.gmm._mi._kl_rqmc``, 8 randomisations) at several point counts, against the MC-1e5
  error ``sd_p[log p - log q] / sqrt(1e5)`` (the sd from a 2^18-draw pilot);
* speed: ``gmm_kl`` steady state (compiled; the faster of 2 interleaved calls) with
  ``integral="mc"`` against the default, on sample pairs of 1, 2 and 5 dimensions (N = 2,000
  each), with both estimates.

The default points (``jaxmi.gmm._mi.KL_POINTS``) are, per dimension group, the smallest count
whose RMSE, raised by its own sampling uncertainty over 20 keys (x1.16), is at most ``MARGIN``
(0.75) times the MC-1e5 error on every task: the rule of ``gmm_mi_integral.py`` and
``gmm_mi_categorical_integral.py``.

    python benchmarks/gmm_kl_integral.py          # ~1.5 min on a 2-core CPU
    python benchmarks/gmm_kl_integral.py --quick  # accuracy of 2 tasks, no timing

Writes ``benchmarks/results/gmm_kl_integral.json``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import numpy as np
from gmm_mi_categorical_integral import (
    MC_SAMPLES,
    N_KEYS,
    PILOT,
    POINTS,
    _class_mixtures,
    _embed,
    _log_mixture,
    run_sweep,
    stacked,
    time_rules,
)

import jaxmi
from jaxmi.gmm import _mi

RESULTS = Path(__file__).parent / "results" / "gmm_kl_integral.json"


def _gauss(mu, cov):
    mu = np.atleast_1d(np.asarray(mu, float))
    return (np.ones(1), mu[None], np.atleast_2d(np.asarray(cov, float))[None])


def _random_gauss(rng: np.random.Generator, d: int, shift: float):
    a = rng.normal(size=(d, d)) * 0.5
    return _gauss(rng.normal(0, shift, d), a @ a.T + np.eye(d) * rng.uniform(0.2, 0.8))


def _cases() -> dict:
    """Name -> (p, q, how the truth is found): p and q are ``(w, mu (k, d), cov (k, d, d))``.

    ``how``: ``"gauss"`` (closed form), ``"grid"`` (quadrature), ``"rqmc"`` (2^20 points), or
    ``(base, d)``: the base case's pair embedded in ``d`` dimensions.
    """
    rng = np.random.default_rng(11)
    one = lambda d, k, spread: _class_mixtures(rng, 1, d, k, spread, min_k=k)[0]  # noqa: E731
    cases = {
        # gmm_kl's docstring pair after pooled standardisation: N(7, 4^2) against N(-3, 5^2)
        "1-D Gaussians (docstring pair)": (
            _gauss(0.735, (4 / 6.8) ** 2),
            _gauss(-0.735, (5 / 6.8) ** 2),
            "gauss",
        ),
        "1-D Gaussians, q narrow": (_gauss(0.0, 1.0), _gauss(0.5, 0.09), "gauss"),
        "1-D mixtures": (one(1, 3, 1.0), one(1, 4, 1.0), "grid"),
        "1-D mixture against a Gaussian": (
            (np.array([0.5, 0.5]), np.array([[-1.5], [1.5]]), np.array([[[0.3]], [[0.3]]])),
            _gauss(0.0, 2.55),
            "grid",
        ),
        "2-D Gaussians": (_random_gauss(rng, 2, 1.0), _random_gauss(rng, 2, 1.0), "gauss"),
        "2-D mixtures": (one(2, 3, 1.0), one(2, 4, 1.0), "grid"),
        "2-D mixtures, q separated": (one(2, 2, 0.5), one(2, 4, 2.0), "grid"),
    }
    base = cases["2-D mixtures"]
    cases["2-D mixtures, near-identical"] = (
        base[0],
        (base[0][0], base[0][1] + rng.normal(0, 0.05, base[0][1].shape), base[0][2] * 1.05),
        "grid",
    )
    for d in (3, 5, 6):
        cases[f"{d}-D Gaussians"] = (
            _random_gauss(rng, d, 0.7),
            _random_gauss(rng, d, 0.7),
            "gauss",
        )
    for d in (3, 5, 6):
        cases[f"{d}-D mixtures"] = (one(d, 3, 1.0), one(d, 3, 1.0), "rqmc")
    for base_name, d in (("1-D mixtures", 3), ("2-D mixtures", 4), ("2-D mixtures", 6)):
        p, q, _ = cases[base_name]
        cases[f"{base_name} in {d}-D (rotated)"] = (p, q, (base_name, d))
    return cases


def gauss_kl(p, q) -> float:
    """KL between two Gaussians, closed form."""
    (_, mp, cp), (_, mq, cq) = p, q
    mp, cp, mq, cq = mp[0], cp[0], mq[0], cq[0]
    d = mp.shape[0]
    iq = np.linalg.inv(cq)
    diff = mq - mp
    return float(
        0.5
        * (
            np.trace(iq @ cp)
            + diff @ iq @ diff
            - d
            + np.linalg.slogdet(cq)[1]
            - np.linalg.slogdet(cp)[1]
        )
    )


def grid_kl(p, q) -> float:
    """KL by the trapezoidal rule on a fine grid (1-D: 400,001 nodes; 2-D: 1,601^2)."""
    d = p[1].shape[1]
    mus = np.concatenate([p[1], q[1]])
    sds = np.sqrt(np.concatenate([np.diagonal(c, axis1=1, axis2=2) for c in (p[2], q[2])]))
    lo, hi = (mus - 12 * sds).min(0), (mus + 12 * sds).max(0)
    nodes = 400_001 if d == 1 else 1_601
    axes = [np.linspace(lo[i], hi[i], nodes) for i in range(d)]
    cell = math.prod(a[1] - a[0] for a in axes)
    x = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    lp, lq = _log_mixture(x, *p), _log_mixture(x, *q)
    return float(np.sum(np.exp(lp) * (lp - lq)) * cell)


_mc = jax.jit(_mi._kl_pairs, static_argnames=("n_samples",))
_rqmc = jax.jit(_mi._kl_rqmc, static_argnames=("n_points",))


def rqmc_truth(ps, qs, n_keys: int = 4) -> tuple[float, float]:
    """KL by RQMC with 2^20 points, averaged over independent keys (float64, unbiased)."""
    vals = [
        float(_rqmc(jax.random.key(900 + s), ps, qs, n_points=1 << 20)[0][0]) for s in range(n_keys)
    ]
    return float(np.mean(vals)), float(np.std(vals, ddof=1) / math.sqrt(n_keys))


def accuracy(names: list[str] | None = None) -> list[dict]:
    rows = []
    with jax.enable_x64(True):
        cases = _cases()
        for name, (p, q, how) in cases.items():
            if names is not None and name not in names:
                continue
            t0 = time.perf_counter()
            truth_se = 0.0
            if isinstance(how, tuple):  # the base pair's truth; the embedding keeps the KL
                exact = grid_kl(p, q)
                p, q = _embed([p, q], how[1], np.random.default_rng(len(name)))
            elif how == "gauss":
                exact = gauss_kl(p, q)
            elif how == "grid":
                exact = grid_kl(p, q)
            ps, qs = stacked([p]), stacked([q])  # (1, kc, ...) each
            if how == "rqmc":
                exact, truth_se = rqmc_truth(ps, qs)
            d = ps.dim
            _, se_pilot = _mc(jax.random.key(99), ps, qs, n_samples=PILOT)
            bound = float(se_pilot[0]) * math.sqrt(PILOT / MC_SAMPLES)
            err = [
                float(_mc(jax.random.key(100 + s), ps, qs, n_samples=MC_SAMPLES)[0][0]) - exact
                for s in range(N_KEYS)
            ]
            row = dict(
                task=name,
                truth=exact,
                truth_stderr=truth_se,
                d=d,
                components=[int(p[0].shape[0]), int(q[0].shape[0])],
                mc_bound=bound,
                mc_rmse=float(np.sqrt(np.mean(np.square(err)))),
                rqmc={},
            )
            for n in POINTS:
                err, ses = [], []
                for s in range(N_KEYS):
                    m, se = _rqmc(jax.random.key(200 + s), ps, qs, n_points=n)
                    err.append(float(m[0]) - exact)
                    ses.append(float(se[0]))
                err, ses = np.asarray(err), np.asarray(ses)
                row["rqmc"][str(n)] = dict(
                    rmse=float(np.sqrt(np.mean(err**2))),
                    rms_stderr=float(np.sqrt(np.mean(ses**2))),
                    frac_within_2se=float(np.mean(np.abs(err) <= 2 * ses)),
                )
            rows.append(row)
            r = row["rqmc"]
            print(
                f"{name:38s} d={d} truth {exact:.6f}  MC-1e5 {bound:.1e} (seen "
                f"{row['mc_rmse']:.1e}) | "
                + " ".join(f"{n}: {v['rmse'] / bound:.2f}x" for n, v in r.items())
                + f"  [{time.perf_counter() - t0:.0f} s]",
                flush=True,
            )
    return rows


def _sample(w, mu, cov, n: int, rng: np.random.Generator) -> np.ndarray:
    comp = rng.choice(len(w), size=n, p=w)
    z = rng.standard_normal((n, mu.shape[1]))
    return mu[comp] + np.einsum("nij,nj->ni", np.linalg.cholesky(cov)[comp], z)


def timing() -> list[dict]:
    """``gmm_kl`` steady state with plain MC (1e5 draws) and the default rule."""
    rows = []
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        cases = _cases()
    pairs = {
        "1-D Gaussians (docstring pair)": cases["1-D Gaussians (docstring pair)"],
        "2-D mixtures": cases["2-D mixtures"],
        "5-D mixtures": cases["5-D mixtures"],
    }
    for name, (p, q, _) in pairs.items():
        x, y = _sample(*p, 2000, rng), _sample(*q, 2000, rng)
        first, best, estimates, res = time_rules(
            lambda **kw: jaxmi.gmm_kl(jax.random.key(1), x, y, **kw)  # noqa: B023
        )
        row = dict(
            task=name,
            d=int(x.shape[1]),
            n=2000,
            n_components=[int(k) for k in res["default"].n_components],
            first_call_s=first,
            steady_s=best,
            speedup=best["mc_1e5"] / best["default"],
            estimates=estimates,
        )
        rows.append(row)
        e = row["estimates"]
        print(
            f"{name} (K* {row['n_components']}): MC {e['mc_1e5']['mi']:.4f} ± "
            f"{e['mc_1e5']['std']:.4f} in {best['mc_1e5']:.3f} s; default "
            f"{e['default']['mi']:.4f} ± {e['default']['std']:.4f} in {best['default']:.3f} s "
            f"({row['speedup']:.1f}x)",
            flush=True,
        )
    return rows


def main() -> None:
    run_sweep(
        __doc__,
        RESULTS,
        ["1-D mixtures", "2-D mixtures"],
        accuracy,
        timing,
        called="gmm_kl(mode='separate')",
        error=f"sd_p[log p - log q] / sqrt({MC_SAMPLES})",
        library_points=_mi.KL_POINTS,
    )


if __name__ == "__main__":
    main()
