"""Attribution quality: IG, PMI (each sampler), occlusion and a random map, scored side by side.

Two offline datasets (spec attribution.md §6):

* ``synthetic``: :func:`jaxmi.data.synthetic_images`, 16×16 grey, 4 classes (bar orientations)
  decided by one 5×5 object at a random place, with its exact ground-truth mask;
* ``digits``: scikit-learn's 8×8 digits (:func:`jaxmi.data.load_digits`), 1,400 train / 397
  test (the CPU prototype of spec §6.2), no masks.

A :class:`jaxmi.models.SmallCNN` is trained on each (``train_classifier``); the maps of the
first ``--n-eval`` test images, explaining the true label, are scored with

* deletion (lower is better) and insertion (higher is better) AUC under two substrates, zero and
  the training mean image (spec §5.7: report several; a method whose own in-fill matches the
  substrate is favoured), 1 pixel per step on digits and 3 on synthetic, trapezoid over the
  fraction of pixels;
* pointing game, top-n-in-mask and effective heat ratio against the object mask (synthetic).

Methods: IG and PMI maps of :func:`jaxmi.attribution.it_maps` (window K, stride 1, N in-fills)
with the samplers constant(0), mean image, blur, marginal, Gaussian conditional and the learned
patch sampler (``fit_patch_sampler``, only with ``--learned-steps``; 17 levels on digits, 32 on
synthetic); occlusion
(K×K, zero baseline, Captum semantics, probability drop); a uniform random map. PMI explains the
true label; IG is class-free. Maps are compared raw (no clipping) except for the localisation
scores, which only use the order (pointing, top-n) or min-max normalise (EHR).

    python benchmarks/attribution_quality.py            # ~13 min on the shared 2-core CPU (load ~8)
    python benchmarks/attribution_quality.py --learned-steps 2000   # ~22 min (the default steps)
    python benchmarks/attribution_quality.py --quick    # smaller run for smoke testing

Writes ``benchmarks/results/attribution_quality.json`` and example map images
``benchmarks/results/attribution_maps_{synthetic,digits}.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _common import environment, write_results

from jaxmi import data
from jaxmi.attribution import it_maps, metrics, occlusion, samplers
from jaxmi.models import train_classifier

RESULTS = Path(__file__).parent / "results"
SUBSTRATES = ("zero", "mean")


def _setups(quick: bool) -> dict:
    syn = data.synthetic_images(jax.random.key(0), 1200, size=16, n_classes=4)
    n_train_syn = 1000
    dig = data.load_digits()
    perm = np.random.default_rng(0).permutation(len(dig.labels))
    dig_x, dig_y = dig.images[perm], dig.labels[perm]
    return {
        "synthetic": dict(
            train=(np.asarray(syn.images[:n_train_syn]), np.asarray(syn.labels[:n_train_syn])),
            test=(
                np.asarray(syn.images[n_train_syn:]),
                np.asarray(syn.labels[n_train_syn:]),
                np.asarray(syn.masks[n_train_syn:]),
            ),
            window=3,
            levels=32,
            pixels_per_step=3,
            epochs=15,
        ),
        "digits": dict(
            train=(dig_x[:1400], dig_y[:1400]),
            test=(dig_x[1400:], dig_y[1400:], None),
            window=2,
            levels=17,
            pixels_per_step=1,
            epochs=20 if quick else 60,
        ),
    }


def _methods(train_x: np.ndarray, window: int, levels: int, learned_steps: int) -> dict:
    out = {
        "zero": samplers.constant(0.0),
        "mean": samplers.mean_image(train_x),
        "blur": samplers.blur(max(1.0, window / 2)),
        "marginal": samplers.marginal(train_x),
        "gauss_cond": samplers.gaussian_conditional(jax.random.key(3), train_x, window=window),
    }
    if learned_steps:
        learned, t = _timed(
            lambda: samplers.fit_patch_sampler(
                jax.random.key(5), train_x, window=window, levels=levels, steps=learned_steps
            )
        )
        print(f"learned patch sampler: {t:.1f} s to fit")
        out["learned"] = learned
    return out


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def run_dataset(
    name: str, cfg: dict, n_eval: int, n_samples: int, learned_steps: int
) -> tuple[dict, dict]:
    train_x, train_y = cfg["train"]
    test_x, test_y, test_m = cfg["test"]
    (clf, t_train) = _timed(
        lambda: train_classifier(
            jax.random.key(1), train_x, train_y, epochs=cfg["epochs"], batch_size=64
        )
    )
    pred = np.asarray(jnp.argmax(clf.logits_fn(jnp.asarray(test_x)), -1))
    test_acc = float(np.mean(pred == test_y))
    print(
        f"[{name}] train {t_train:.1f} s, train acc {clf.train_accuracy:.3f}, test {test_acc:.3f}"
    )
    x, y = test_x[:n_eval], test_y[:n_eval]
    masks = None if test_m is None else test_m[:n_eval]
    k = cfg["window"]

    maps: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for sname, sampler in _methods(train_x, k, cfg["levels"], learned_steps).items():
        # one warm-up on 2 images compiles; the timing is the steady state per image
        def run(xx, yy, sampler=sampler):
            return it_maps(
                jax.random.key(2), clf.predict_fn, xx, window=k, stride=1,
                n_samples=n_samples, sampler=sampler, classes=yy[:, None], batch_size=512,
            )  # fmt: skip

        run(x[:2], y[:2])
        res, t = _timed(lambda run=run: run(x, y))
        maps[f"IG ({sname})"] = np.asarray(res.ig)
        maps[f"PMI ({sname})"] = np.asarray(res.pmi[:, 0])
        seconds[f"IG ({sname})"] = seconds[f"PMI ({sname})"] = t / n_eval
        print(f"[{name}] it_maps {sname}: {t / n_eval * 1e3:.1f} ms/image")

    def occ(xx, yy):
        return occlusion(clf.predict_fn, xx, window=k, stride=1, baseline=0.0, target=yy)

    occ(x[:2], y[:2])
    res, t = _timed(lambda: occ(x, y))
    maps["occlusion (zero)"] = np.asarray(res)
    seconds["occlusion (zero)"] = t / n_eval
    maps["random"] = np.asarray(jax.random.uniform(jax.random.key(4), x.shape[:3]))
    seconds["random"] = 0.0

    mean_img = train_x.mean(0)
    subs = {"zero": "zero", "mean": mean_img}
    rows = []
    for mname, amap in maps.items():
        row = dict(method=mname, s_per_image=seconds[mname])
        for sub in SUBSTRATES:
            kw = dict(substrate=subs[sub], pixels_per_step=cfg["pixels_per_step"], batch_size=512)
            d = metrics.deletion(clf.predict_fn, x, amap, y, **kw)
            i = metrics.insertion(clf.predict_fn, x, amap, y, **kw)
            row[f"deletion_{sub}"] = float(np.mean(d.auc))
            row[f"insertion_{sub}"] = float(np.mean(i.auc))
        if masks is not None:
            row["pointing"] = float(metrics.pointing_game(amap, masks).accuracy)
            row["top_n_in_mask"] = float(np.mean(metrics.top_n_in_mask(amap, masks)))
            row["ehr"] = float(np.mean(metrics.effective_heat_ratio(amap, masks).ehr))
        rows.append(row)
        print(
            f"[{name}] {mname}: "
            + ", ".join(f"{k_}={v:.3f}" for k_, v in row.items() if k_ != "method")
        )
    # per-substrate ranks (1 = best) for deletion (lower better) and insertion (higher better)
    for sub in SUBSTRATES:
        for metric, sign in (("deletion", 1.0), ("insertion", -1.0)):
            vals = np.array([sign * r[f"{metric}_{sub}"] for r in rows])
            ranks = vals.argsort(kind="stable").argsort() + 1
            for r, rk in zip(rows, ranks, strict=True):
                r[f"rank_{metric}_{sub}"] = int(rk)
    summary = dict(
        n_train=len(train_y),
        n_test=len(test_y),
        n_eval=n_eval,
        image_shape=list(x.shape[1:]),
        n_classes=int(train_y.max()) + 1,
        window=k,
        n_samples=n_samples,
        pixels_per_step=cfg["pixels_per_step"],
        epochs=cfg["epochs"],
        train_seconds=t_train,
        train_accuracy=clf.train_accuracy,
        test_accuracy=test_acc,
        rows=rows,
    )
    return summary, dict(x=x, y=y, masks=masks, maps=maps)


def plot_examples(name: str, ex: dict, path: Path, n_show: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        "occlusion (zero)",
        "IG (marginal)",
        "PMI (marginal)",
        "PMI (gauss_cond)",
        "PMI (zero)",
        "random",
    ]
    fig, axes = plt.subplots(n_show, len(keys) + 1, figsize=(1.6 * (len(keys) + 1), 1.7 * n_show))
    for r in range(n_show):
        ax = axes[r, 0]
        ax.imshow(ex["x"][r, ..., 0], cmap="gray", vmin=0, vmax=1)
        if ex["masks"] is not None:
            ax.contour(ex["masks"][r], levels=[0.5], colors="r", linewidths=0.8)
        ax.set_title(f"label {ex['y'][r]}", fontsize=7)
        for c, key in enumerate(keys, start=1):
            m = ex["maps"][key][r]
            lim = float(np.abs(m).max()) or 1.0
            axes[r, c].imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
            if ex["masks"] is not None:
                axes[r, c].contour(ex["masks"][r], levels=[0.5], colors="k", linewidths=0.5)
            if r == 0:
                axes[r, c].set_title(key, fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{name}: maps explaining the true label (red = for, blue = against)", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(RESULTS / "attribution_quality.json"))
    ap.add_argument("--quick", action="store_true", help="fewer images and epochs")
    ap.add_argument("--n-eval", type=int, default=None, help="test images scored (default 100)")
    ap.add_argument("--n-samples", type=int, default=8, help="in-fills per window N")
    ap.add_argument(
        "--learned-steps",
        type=int,
        default=0,
        help="Adam steps of the learned patch sampler (0: no learned-sampler rows; its default, "
        "2000 steps, fit in 940 s on synthetic and 242 s on digits on a 2-core CPU)",
    )
    args = ap.parse_args()
    n_eval = args.n_eval or (20 if args.quick else 100)
    out = dict(
        **environment(),
        quick=args.quick,
        learned_steps=args.learned_steps,
        substrates=list(SUBSTRATES),
        datasets={},
    )
    for name, cfg in _setups(args.quick).items():
        summary, ex = run_dataset(name, cfg, n_eval, args.n_samples, args.learned_steps)
        out["datasets"][name] = summary
        plot_examples(name, ex, Path(args.out).parent / f"attribution_maps_{name}.png")
    write_results(args.out, out)


if __name__ == "__main__":
    main()
