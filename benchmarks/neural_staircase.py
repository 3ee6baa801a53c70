"""The Gaussian staircase of Poole et al. (2019) / Song & Ermon (2020) for every lower bound.

Spec ``neural-bounds.md`` §5.2 (``poole_staircase``): x ~ N(0, I_20), y = ρx + √(1−ρ²)ε with a
fresh minibatch of K = 64 pairs drawn in-graph at every step; the true MI steps through 2, 4, 6,
8, 10 nats (ρ per step from :func:`jaxmi.tasks.staircase_schedule`, clean blocks of equal
length); Adam lr 5e-4; critics with 2 hidden layers of 256 ReLU units (Keras/Glorot init as in
Poole's notebook): separable (embed_dim 32) and concat. The recorded value is the bound on the
training batch at every step (plots smooth it with an EMA of span 200, α = 2/201).

Bounds (one critic each, trained from the same key): InfoNCE, NWJ, DV, MINE (β = 0.9), TUBA
(learned MLP baseline log a(y), 2 × 512 ReLU as Poole), JS (f-GAN training, jaxmi's tight
``tuba1`` read-out), I_α (learned baseline, alpha_logit = −5, i.e. α ≈ 0.01), SMILE τ = 5 — every
lower bound of :mod:`jaxmi.bounds` that trains a critic. (UBA needs the exact log-partition and
BA a normalised decoder with a known h(X); they train no critic and are not run.)

``jaxmi.neural_mi`` trains on fixed data, so the training loop is written here with jaxmi's
public pieces: :mod:`jaxmi.nn` critics, :mod:`jaxmi.bounds`, optax; ``nnx.split`` once, the
parameters of the run initialised from a key inside one jitted ``lax.scan`` over all steps
(ρ and the step keys are the scanned inputs), one compilation per (bound, critic).

Step counts. The spec's protocol is 4,000 steps per stair (20,000 steps). On a 2-core CPU a
separable-critic step costs ~1.2 ms (8 bounds × 20,000 steps ≈ 3–4 min), a concat-critic step
~30 ms (every step scores all 64² = 4,096 pairs through the 256 × 256 layer: 8 bounds × 20,000
steps ≈ 80 min). The default therefore runs the spec protocol for the separable critic and 500
steps per stair for the concat critic (≈ 10 min); ``--concat-steps-per-stage 4000`` is the full
protocol (GPU recommended).

Usage::

    python benchmarks/neural_staircase.py                 # ~15 min on a 2-core CPU
    python benchmarks/neural_staircase.py --quick         # 200 steps per stair, ~1 min
    python benchmarks/neural_staircase.py --steps-per-stage 4000 --concat-steps-per-stage 4000

Writes ``benchmarks/results/neural_staircase.json`` (per bound and critic, per stair: mean and
sd of the per-step estimate over the last quarter of the stair, bias against the truth, the
EMA-smoothed value at the end of the stair) and ``benchmarks/results/neural_staircase.png``.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import environment, write_results
from flax import nnx

from jaxmi import bounds, nn
from jaxmi.tasks import STAIRCASE_LEVELS, staircase_schedule

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "neural_staircase.json"
FIGURE = HERE / "results" / "neural_staircase.png"

DIM, BATCH, LR, HIDDEN, EMBED, BASELINE_HIDDEN = 20, 64, 5e-4, (256, 256), 32, (512, 512)
EMA_SPAN = 200
TAIL = 0.25  # statistics over the last quarter of every stair
ALPHA_LOGIT = -5.0  # I_α with α = sigmoid(−5) ≈ 0.0067 (Poole's "α = 0.01")
TAU = 5.0
CRITICS = ("separable", "concat")
# name: (label, learned baseline?)
BOUNDS = {
    "infonce": ("InfoNCE", False),
    "nwj": ("NWJ", False),
    "dv": ("DV", False),
    "mine": ("MINE (β=0.9)", False),
    "tuba": ("TUBA (learned a(y))", True),
    "js": ("JS (tuba1 read-out)", False),
    "interpolated": ("I_α (α=0.01)", True),
    "smile": ("SMILE τ=5", False),
}


def make_model(bound: str, critic: str, key: jax.Array | int) -> nnx.Module:
    rngs = nnx.Rngs(key)
    if critic == "separable":
        model = nn.SeparableCritic(DIM, DIM, HIDDEN, embed_dim=EMBED, init="glorot", rngs=rngs)
    else:
        model = nn.ConcatCritic(DIM, DIM, HIDDEN, init="glorot", rngs=rngs)
    if BOUNDS[bound][1]:
        model = nn.BaselineCritic(model, BASELINE_HIDDEN, init="glorot", rngs=rngs)
    return model


def bound_out(bound: str, model: nnx.Module, x, y, mstate):
    """``(BoundOut, new MINE state)`` of one training batch."""
    s = model.scores(x, y)
    if bound == "infonce":
        return bounds.infonce(s), mstate
    if bound == "nwj":
        return bounds.nwj(s), mstate
    if bound == "dv":
        return bounds.dv(s), mstate
    if bound == "mine":
        return bounds.mine(s, mstate, 0.9)
    if bound == "tuba":
        return bounds.tuba(s, model.log_baseline(y)), mstate
    if bound == "js":
        return bounds.js(s), mstate
    if bound == "interpolated":
        return bounds.interpolated(s, model.log_baseline(y), ALPHA_LOGIT), mstate
    if bound == "smile":
        return bounds.smile(s, TAU), mstate
    raise ValueError(bound)


@functools.cache
def program(bound: str, critic: str):
    """Jitted ``run(key, rhos) -> (n_steps,)`` training-batch values (one compile per shape)."""
    graphdef, _ = nnx.split(make_model(bound, critic, 0), nnx.Param)
    tx = optax.adam(LR)

    def loss(params, x, y, mstate):
        out, mstate = bound_out(bound, nnx.merge(graphdef, params), x, y, mstate)
        return -out.objective, (out.value, mstate)

    def step(carry, inp):
        params, opt, mstate = carry
        rho, key = inp
        kx, ke = jax.random.split(key)
        x = jax.random.normal(kx, (BATCH, DIM))
        y = rho * x + jnp.sqrt(1.0 - rho**2) * jax.random.normal(ke, (BATCH, DIM))
        grads, (value, mstate) = jax.grad(loss, has_aux=True)(params, x, y, mstate)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt, mstate), value

    @jax.jit
    def run(key, rhos):
        k_init, k_data = jax.random.split(key)
        params = nnx.state(make_model(bound, critic, k_init), nnx.Param)
        carry = (params, tx.init(params), bounds.mine_init())
        keys = jax.random.split(k_data, rhos.shape[0])
        _, values = jax.lax.scan(step, carry, (rhos.astype(jnp.float32), keys))
        return values

    return run


def ema(v: np.ndarray, span: int = EMA_SPAN) -> np.ndarray:
    a = 2.0 / (span + 1)
    out = np.empty_like(v, dtype=np.float64)
    acc = v[0]
    for i, x in enumerate(v):
        acc = a * x + (1 - a) * acc
        out[i] = acc
    return out


def stage_stats(values: np.ndarray, steps: int) -> list[dict]:
    smooth = ema(values)
    rows = []
    for s, level in enumerate(STAIRCASE_LEVELS):
        seg = values[s * steps : (s + 1) * steps]
        tail = seg[-max(1, round(TAIL * steps)) :]
        finite = np.isfinite(tail)
        m = float(np.mean(tail[finite])) if finite.any() else float("nan")
        rows.append(
            dict(
                true_mi=level,
                mean=m,
                sd=float(np.std(tail[finite])) if finite.any() else float("nan"),
                bias=m - level,
                ema_end=float(smooth[(s + 1) * steps - 1]),
                n_tail=int(tail.size),
                n_nonfinite=int((~finite).sum()),
                max=float(np.nanmax(seg)),
            )
        )
    return rows


def plot(runs: dict, path: Path, steps: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    critics = [c for c in CRITICS if any(k[1] == c for k in runs)]
    names = [b for b in BOUNDS if any(k[0] == b for k in runs)]
    fig, axes = plt.subplots(
        len(critics),
        len(names),
        figsize=(2.6 * len(names), 2.6 * len(critics)),
        sharey=True,
        squeeze=False,
    )
    log_k = math.log(BATCH)
    for r, critic in enumerate(critics):
        n = steps[critic]
        truth = np.repeat(STAIRCASE_LEVELS, n)
        t = np.arange(truth.size)
        for c, bound in enumerate(names):
            ax = axes[r, c]
            v = runs.get((bound, critic))
            if v is not None:
                ax.plot(t, v, color="C0", alpha=0.25, lw=0.4)
                ax.plot(t, ema(v), color="C0", lw=1.2)
            ax.plot(t, truth, color="k", lw=1.0)
            ax.axhline(log_k, color="C3", ls="--", lw=0.8)
            ax.set_ylim(-1, 12)
            if r == 0:
                ax.set_title(BOUNDS[bound][0], fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{critic}\nMI (nats)", fontsize=9)
            if r == len(critics) - 1:
                ax.set_xlabel("training step", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(
        f"Gaussian staircase, d={DIM}, batch {BATCH}: estimate per step (light), EMA span "
        f"{EMA_SPAN} (blue), true MI (black), log {BATCH} (red dashed)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps-per-stage", type=int, default=None, help="both critics")
    p.add_argument("--separable-steps-per-stage", type=int, default=4000)
    p.add_argument("--concat-steps-per-stage", type=int, default=500)
    p.add_argument("--quick", action="store_true", help="200 steps per stair for both critics")
    p.add_argument("--bounds", default=",".join(BOUNDS))
    p.add_argument("--critics", default=",".join(CRITICS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--figure", default=str(FIGURE))
    a = p.parse_args()
    steps = {"separable": a.separable_steps_per_stage, "concat": a.concat_steps_per_stage}
    if a.steps_per_stage is not None:
        steps = dict.fromkeys(steps, a.steps_per_stage)
    if a.quick:
        steps = dict.fromkeys(steps, 200)
    names = [b.strip() for b in a.bounds.split(",") if b.strip()]
    critics = [c.strip() for c in a.critics.split(",") if c.strip()]
    for b in names:
        if b not in BOUNDS:
            p.error(f"--bounds: unknown {b!r}; choose from {list(BOUNDS)}")
    for c in critics:
        if c not in CRITICS:
            p.error(f"--critics: unknown {c!r}; choose from {list(CRITICS)}")

    load_before = os.getloadavg()
    key = jax.random.key(a.seed)
    runs, rows = {}, []
    t_all = time.perf_counter()
    for critic in critics:
        n = steps[critic]
        rhos = jnp.asarray(staircase_schedule(n * len(STAIRCASE_LEVELS)), jnp.float32)
        for bound in names:
            t0 = time.perf_counter()
            # every bound and critic from the same key: same initialisation of shared shapes and
            # the same minibatches (common random numbers)
            values = np.asarray(jax.block_until_ready(program(bound, critic)(key, rhos)))
            wall = time.perf_counter() - t0
            runs[(bound, critic)] = values
            stats = stage_stats(values, n)
            rows.append(
                dict(
                    bound=bound,
                    label=BOUNDS[bound][0],
                    critic=critic,
                    steps_per_stage=n,
                    wall_s=wall,
                    ms_per_step=1e3 * wall / values.size,
                    max_value=float(np.nanmax(values)),
                    n_nonfinite=int((~np.isfinite(values)).sum()),
                    stages=stats,
                )
            )
            cells = "  ".join(f"{s['true_mi']:.0f}:{s['mean']:6.2f}±{s['sd']:.2f}" for s in stats)
            print(f"{critic:9s} {bound:12s} {wall:6.1f}s  {cells}", flush=True)
    total = time.perf_counter() - t_all
    plot(runs, Path(a.figure), steps)

    out = environment()
    out["load_average"] = dict(before=list(load_before), after=list(os.getloadavg()))
    out["settings"] = dict(
        protocol="poole_staircase (spec neural-bounds.md §5.2)",
        dim=DIM,
        batch=BATCH,
        levels=list(STAIRCASE_LEVELS),
        steps_per_stage=steps,
        spec_steps_per_stage=4000,
        optimizer=f"adam lr {LR}",
        hidden=list(HIDDEN),
        embed_dim=EMBED,
        init="glorot (Keras default, as Poole's notebook)",
        baseline_hidden=list(BASELINE_HIDDEN),
        alpha_logit=ALPHA_LOGIT,
        smile_tau=TAU,
        mine_momentum=0.9,
        js_readout="tuba1",
        tail_fraction=TAIL,
        ema_span=EMA_SPAN,
        log_batch=math.log(BATCH),
        interpolated_ceiling=1 + math.log((BATCH - 1) / (1 / (1 + math.exp(-ALPHA_LOGIT)))),
        seed=a.seed,
        figure=Path(a.figure).name,
        quick=a.quick,
    )
    out["total_s"] = total
    out["rows"] = rows
    write_results(a.out, out)


if __name__ == "__main__":
    main()
