"""How far jaxmi's bmi-preset estimates sit from bmi's, against the spread of the training key.

``neural_bmi.py`` trains each (task, bound) cell with one training key (42) per data seed and
compares the mean of three estimates with bmi's mean of three (spec ``neural-bounds.md`` §6).
Both means carry the noise of one initialisation and one minibatch order per data seed, so a
difference of a few hundredths of a nat may be the key's draw. This script trains every cell
with ``--keys`` training keys per data seed (``n_seeds``: keys ``jax.random.split(key(42),
E)``), same tasks, data seeds, preset and bounds as ``neural_bmi.py``, and reports:

* the mean over data seeds and keys, the spread over keys (sd within a data seed, pooled), and
  the difference from bmi's mean in units of its standard error (jaxmi's over its 3·E
  estimates, bmi's from its three estimates' sd);
* for MINE, how much of the difference comes from bmi's test evaluation. bmi pairs the test
  half with **a fresh random permutation of its y at every evaluation** and returns the maximum
  over evaluations; jaxmi pairs it with one fixed derangement (``mine_negatives="shuffled"``),
  so its evaluations differ only by training. For every trained critic the script evaluates
  MINE's DV value on an independent sample of the test half's size with ``--perms`` fresh
  permutations, and reports their sd and the expected excess of the maximum of ``m`` of them
  over their mean, ``m`` = the number of evaluations that seed ran: the optimism that bmi's
  rule adds on top of the same critic.

    python benchmarks/neural_bmi_spread.py             # ~10 min on a 2-core CPU
    python benchmarks/neural_bmi_spread.py --bounds mine --tasks multinormal-dense-5-5-0.5

Writes ``benchmarks/results/neural_bmi_spread.json``.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _common import environment, write_results
from flax import nnx
from jax.scipy.special import logsumexp
from neural_bmi import BMI, BOUNDS, SEEDS, TASKS, TRAIN_KEY, N

import jaxmi
from jaxmi import tasks

RESULTS = Path(__file__).parent / "results" / "neural_bmi_spread.json"


def _kwargs(bound: str) -> dict:
    # bmi's MINE, as in neural_bmi.py: one shuffled pairing as negatives, EMA from -inf
    return {"mine_negatives": "shuffled", "mine_init": "bmi"} if bound == "mine" else {}


def _standardise(a: np.ndarray) -> jax.Array:
    return jnp.asarray((a - a.mean(0)) / a.std(0))


def _mine_eval_noise(task, res, seed: int, n_perms: int) -> list[dict]:
    """Per trained critic: sd of bmi's fresh-permutation test value, and max-over-m excess."""
    n_test = N // 2
    xt, yt = (np.asarray(a) for a in task.sample(jax.random.key(10_000 + seed), n_test))
    xt, yt = _standardise(xt), _standardise(yt)
    keys = jax.random.split(jax.random.key(seed), n_perms)
    out = []
    for e in range(res.mi.shape[0]):
        params = jax.tree.map(lambda a, e=e: a[e], res.params)
        vals = np.asarray(_fresh_dv(res.graphdef, params, xt, yt, keys), np.float64)
        m = int(np.isfinite(np.asarray(res.val_curve[e])).sum())
        groups = vals[: n_perms // m * m].reshape(-1, m)
        out.append(
            dict(
                n_evals=m,
                perm_mean=float(vals.mean()),
                perm_sd=float(vals.std(ddof=1)),
                max_excess=float(groups.max(1).mean() - vals.mean()),
            )
        )
    return out


@functools.partial(jax.jit, static_argnums=0)
def _fresh_dv(graphdef, params, xt, yt, keys):
    """MINE's DV value on (xt, yt) with negatives from each key's permutation of yt (bmi's)."""
    critic = nnx.merge(graphdef, params)
    joint = jnp.mean(critic.pointwise(xt, yt))

    def one(k):
        neg = critic.pointwise(xt, yt[jax.random.permutation(k, yt.shape[0])])
        return joint - (logsumexp(neg) - jnp.log(yt.shape[0]))

    return jax.lax.map(one, keys)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--bounds", default=",".join(BOUNDS))
    p.add_argument("--keys", type=int, default=8, help="training keys per data seed")
    p.add_argument("--perms", type=int, default=120, help="fresh test permutations (MINE)")
    p.add_argument("--out", default=str(RESULTS))
    a = p.parse_args()
    if a.keys < 2:
        p.error("--keys: at least 2 (the spread over keys is the point)")
    rows = []
    t_start = time.perf_counter()
    for name in [v for v in a.tasks.split(",") if v]:
        task = tasks.get(name)
        data = {s: tuple(np.asarray(v) for v in task.sample(jax.random.key(s), N)) for s in SEEDS}
        for bound in [v for v in a.bounds.split(",") if v]:
            t0 = time.perf_counter()
            est, noise = [], []
            for s in SEEDS:
                res = jaxmi.neural_mi(
                    jax.random.key(TRAIN_KEY),
                    *data[s],
                    bound=bound,
                    preset="bmi",
                    n_seeds=a.keys,
                    **_kwargs(bound),
                )
                est.append(np.asarray(res.mi, dtype=np.float64))
                if bound == "mine":
                    noise += _mine_eval_noise(task, res, s, a.perms)
            est = np.stack(est)  # (data seeds, keys)
            bmi_vals = np.asarray(BMI[name][bound][0])
            mean, bmi_mean = float(est.mean()), float(bmi_vals.mean())
            key_sd = float(np.sqrt(est.var(axis=1, ddof=1).mean()))
            se = float(np.sqrt(est.var(ddof=1) / est.size + bmi_vals.var(ddof=1) / bmi_vals.size))
            row = dict(
                task=name,
                bound=bound,
                true_mi=float(task.mi),
                keys=a.keys,
                estimates=est.round(5).tolist(),
                mean=mean,
                seed_means=est.mean(axis=1).tolist(),
                key_sd=key_sd,
                bmi_mean=bmi_mean,
                diff_vs_bmi=mean - bmi_mean,
                se_diff=se,
                z=(mean - bmi_mean) / se,
                bias=mean - float(task.mi),
                bmi_bias=bmi_mean - float(task.mi),
                seconds=time.perf_counter() - t0,
            )
            if noise:
                row["mine_eval"] = dict(
                    perm_sd=float(np.mean([n["perm_sd"] for n in noise])),
                    max_excess=float(np.mean([n["max_excess"] for n in noise])),
                    n_evals=[n["n_evals"] for n in noise],
                    mean_with_bmi_rule=mean + float(np.mean([n["max_excess"] for n in noise])),
                )
            rows.append(row)
            extra = ""
            if noise:
                me = row["mine_eval"]
                extra = (
                    f"; bmi's fresh-permutation test value: sd {me['perm_sd']:.3f}, "
                    f"its max adds {me['max_excess']:+.3f}"
                )
            print(
                f"{name} {bound}: {mean:.3f} (key sd {key_sd:.3f}) vs bmi {bmi_mean:.3f}: "
                f"{mean - bmi_mean:+.3f} ({row['z']:+.1f} SE){extra}  [{row['seconds']:.0f} s]",
                flush=True,
            )
    out = dict(
        **environment(),
        settings=dict(
            protocol='preset="bmi" (spec neural-bounds.md §5.1)',
            n=N,
            data_seeds=list(SEEDS),
            keys_per_seed=a.keys,
            training_keys=f"jax.random.split(jax.random.key({TRAIN_KEY}), {a.keys})",
            mine="bmi's MINE (mine_negatives='shuffled', mine_init='bmi')",
            perms=a.perms,
        ),
        reference="bmi's estimates for data seeds 0/1/2 (spec neural-bounds.md §6)",
        rows=rows,
        summary=dict(
            within_0_03=sum(abs(r["diff_vs_bmi"]) <= 0.03 for r in rows),
            within_2se=sum(abs(r["z"]) <= 2 for r in rows),
            cells=len(rows),
            seconds=time.perf_counter() - t_start,
        ),
    )
    write_results(a.out, out)


if __name__ == "__main__":
    main()
