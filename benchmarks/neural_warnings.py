"""Which failed ``neural_mi`` runs its warnings name, and which healthy runs they leave alone.

``neural_mi`` checks every lower bound's result after training (``jaxmi.neural._train``): an
estimate clearly below 0 nats (``below_zero``), a critic constant at every evaluation after
training found dependence (``collapsed``), and, for estimates of at most 0.05 nats, the
returned critic's **pairing part** (the sd of its double-centred score matrix on the first 256
rows): below 1e-3 nats the critic is additive, its units dead (``dead``); above 5 nats it swings
with the pairing as a critic for several nats of MI would while the test split reads about 0
(``diverged``). This script trains the five main lower bounds (InfoNCE, NWJ, SMILE, DV, MINE;
three seeds each) in settings that fail (learning rates of 1 and 3 on a 1.04-nat pair) and in
healthy ones (independent, weakly dependent and heavy-tailed data at sane rates), and records
for every seed its estimate, its critic's pairing sd and the warnings that named it.

The figures ``neural_mi``'s docstrings quote for these checks come from this run:

    python benchmarks/neural_warnings.py           # ~15 min on a 2-core CPU
    python benchmarks/neural_warnings.py --quick   # two settings

Writes ``benchmarks/results/neural_warnings.json``.
"""

from __future__ import annotations

import argparse
import re
import time
import warnings
from pathlib import Path

import jax
import numpy as np
from _common import environment, write_results

import jaxmi
from jaxmi.neural import _train

HERE = Path(__file__).parent
BOUNDS = ["infonce", "nwj", "smile", "dv", "mine"]
N = 2000
SEEDS = 3

#: (label, data, options): the failing settings first
SETTINGS = [
    ("concat (64, 64), lr 1", "dep", dict(critic="concat", learning_rate=1.0)),
    ("bmi preset, lr 1", "dep", dict(preset="bmi", learning_rate=1.0)),
    ("bmi preset, lr 3", "dep", dict(preset="bmi", learning_rate=3.0)),
    ("bmi preset, lr 1", "ind", dict(preset="bmi", learning_rate=1.0)),
    ("separable, lr 0.03", "dep", dict(critic="separable", learning_rate=0.03)),
    ("separable (defaults)", "ind", dict(critic="separable")),
    ("bmi preset (lr 0.1)", "ind", dict(preset="bmi")),
    ("separable (defaults)", "weak", dict(critic="separable")),
    ("separable (defaults)", "cauchy", dict(critic="separable")),
    ("separable, lr 0.03", "cauchy", dict(critic="separable", learning_rate=0.03)),
    ("bmi preset (lr 0.1)", "cauchy", dict(preset="bmi")),
]
QUICK = [0, 5]

#: what each warning's message says, in the order neural_mi checks
KINDS = [
    ("no_checkpoint", "has no checkpoint"),
    ("first_eval", "the checkpoint is the first evaluation"),
    ("below_zero", "clearly below the 0 nats"),
    ("dead", "scores do not depend on which x"),
    ("diverged", "scores swing with which x"),
    ("collapsed", "scored like a constant one"),
]


def datasets() -> dict:
    """The four data sets: (x, y, true MI in nats)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, 3))
    dep = (x, x + rng.normal(size=(N, 3)), 1.5 * np.log(2.0))
    ind = (rng.normal(size=(N, 3)), rng.normal(size=(N, 3)), 0.0)
    x = rng.normal(size=(N, 3))
    weak = (x, 0.15 * x + rng.normal(size=(N, 3)), 1.5 * np.log1p(0.15**2))
    cauchy = (rng.standard_cauchy(size=(N, 2)), rng.standard_cauchy(size=(N, 2)), 0.0)
    return dict(dep=dep, ind=ind, weak=weak, cauchy=cauchy)


def named_by(messages: list[str]) -> dict:
    """``{(bound, seed): [kinds]}`` from the warnings' texts."""
    out: dict = {}
    for m in messages:
        head = re.match(r"neural_mi: bound '(\w+)' \(seeds \[([\d, ]+)\]\)", m)
        kind = next((k for k, text in KINDS if text in m), None)
        if head is None or kind is None:
            continue
        for e in head.group(2).split(", "):
            out.setdefault((head.group(1), int(e)), []).append(kind)
    return out


def run(label: str, data: str, opts: dict, sets: dict, max_steps: int) -> list[dict]:
    x, y, truth = sets[data]
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = jaxmi.neural_mi(
            jax.random.key(3), x, y, bound=BOUNDS, n_seeds=SEEDS, max_steps=max_steps, **opts
        )
    seconds = time.perf_counter() - t
    names = named_by([str(w.message) for w in rec])
    # the probe rows as the check reads them: the first 256, standardised
    px, py = (((a - a.mean(0)) / a.std(0))[:256].astype(np.float32) for a in (x, y))
    rows = []
    for b, bound in enumerate(r.bound):
        for e in range(SEEDS):
            params = jax.tree.map(lambda a, b=b, e=e: a[e], r.params[b])
            sd = float(_train._pairing_sd(r.graphdef[b], params, px, py))
            mi = float(r.mi[b, e])
            rows.append(
                dict(
                    setting=label,
                    data=data,
                    true_mi=truth,
                    bound=bound,
                    seed=e,
                    mi=mi if np.isfinite(mi) else None,
                    pairing_sd=sd if np.isfinite(sd) else None,
                    warned=names.get((bound, e), []),
                    seconds=seconds,
                )
            )
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Per setting: seeds, estimates at most the gate, and what named those."""
    out = []
    for key in dict.fromkeys((r["setting"], r["data"]) for r in rows):
        rs = [r for r in rows if (r["setting"], r["data"]) == key]
        gated = [r for r in rs if r["mi"] is not None and r["mi"] <= _train._DEAD_GATE]
        sds = [r["pairing_sd"] for r in gated if r["pairing_sd"] is not None]
        # no below-zero, dead, diverged or collapse warning (an overfitting one may)
        checks = {"below_zero", "dead", "diverged", "collapsed"}
        unnamed = [r for r in gated if not checks & set(r["warned"])]

        def count(kind, group=gated):
            return sum(kind in r["warned"] for r in group)

        out.append(
            dict(
                setting=key[0],
                data=key[1],
                true_mi=rs[0]["true_mi"],
                seeds=len(rs),
                nan=sum(r["mi"] is None for r in rs),
                gated=len(gated),
                below_zero=count("below_zero"),
                dead=count("dead"),
                diverged=count("diverged"),
                collapsed=count("collapsed"),
                unnamed=len(unnamed),
                unnamed_sd=[r["pairing_sd"] for r in unnamed],
                gated_sd_range=[min(sds), max(sds)] if sds else None,
                seconds=rs[0]["seconds"],
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="two settings only")
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--out", default=str(HERE / "results" / "neural_warnings.json"))
    args = ap.parse_args()
    sets = datasets()
    chosen = [SETTINGS[i] for i in QUICK] if args.quick else SETTINGS
    rows = []
    t0 = time.perf_counter()
    for label, data, opts in chosen:
        rows += run(label, data, opts, sets, args.max_steps)
        s = summarise(rows)[-1]
        print(
            f"{label:24s} {data:6s} gated {s['gated']:2d}/{s['seeds']}: below_zero "
            f"{s['below_zero']}, dead {s['dead']}, diverged {s['diverged']}, collapsed "
            f"{s['collapsed']}, unnamed {s['unnamed']} ({s['seconds']:.0f} s)",
            flush=True,
        )
    out = dict(
        **environment(),
        settings=dict(
            n=N,
            bounds=BOUNDS,
            seeds=SEEDS,
            key=3,
            max_steps=args.max_steps,
            gate=_train._DEAD_GATE,
            dead_below=_train._DEAD,
            diverged_above=_train._WILD,
            probe_rows=_train._PROBE_ROWS,
        ),
        summary=summarise(rows),
        rows=rows,
        seconds=time.perf_counter() - t0,
    )
    write_results(args.out, out)


if __name__ == "__main__":
    main()
