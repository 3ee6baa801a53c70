"""IG/PMI attribution maps (Yi et al.) on CPU: the digits prototype and localisation (spec §6.2).

Measured side by side in one run:

* **digits** (scikit-learn's 8x8 digits, bundled in ``jaxmi.data``): the prototype's CNN
  (Conv16 → ReLU → Conv32 → ReLU → mean → Dense 10; 1,400 train / 397 test, 60 epochs) and
  ``it_maps`` on 100 test images with K = 2, S = 1, N = 8 (49 windows, 392 CNN evaluations per
  image) for every sampler, plus zero-baseline 2x2 occlusion; steady-state seconds per image
  (compiled, best of 3) next to the prototype's 0.026 s (PMI/IG, marginal) and 0.015 s
  (occlusion); fitting times of the fitted samplers; mean |in-fill - true window| of each
  sampler at the image centre (how well it predicts the hidden window).
* **localisation** on ``jaxmi.data.synthetic_images`` (16x16, 2 classes, object 5x5, 2
  distractors): the same CNN recipe, then the pointing accuracy (arg-max inside the object's
  footprint) of the true class's PMI map and of the IG map for every sampler, and the share of
  positive PMI mass inside the footprint; chance = footprint area / image area.

    python benchmarks/attribution_it_maps.py        # ~12 min on a quiet 2-core CPU
    python benchmarks/attribution_it_maps.py --parts localisation --out /tmp/loc.json

Writes ``benchmarks/results/attribution_it_maps.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _common import environment, write_results

import jaxmi
from jaxmi.attribution import it_maps, occlusion, samplers

RESULTS = Path(__file__).parent / "results" / "attribution_it_maps.json"


def best_of(fn, repeats=3):
    fn()  # compile
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def make_samplers(key, train, window, learned_steps):
    out, fit_s = {}, {}
    out["constant(0)"] = samplers.constant(0.0)
    out["mean_image"] = samplers.mean_image(train)
    out["blur(1)"] = samplers.blur(1.0)
    out["marginal"] = samplers.marginal(train)
    t = time.perf_counter()
    out["gaussian_conditional"] = samplers.gaussian_conditional(key, train, window=window)
    jax.block_until_ready(out["gaussian_conditional"].params)  # the fit runs asynchronously
    fit_s["gaussian_conditional"] = time.perf_counter() - t
    t = time.perf_counter()
    out["learned_categorical"] = samplers.fit_patch_sampler(
        key, train, window=window, levels=17, steps=learned_steps
    )
    jax.block_until_ready(out["learned_categorical"].params)
    fit_s["learned_categorical"] = time.perf_counter() - t
    return out, fit_s


def infill_error(s, images, window):
    """Mean |in-fill - true window| at the centre window, 8 draws per image."""
    r = (images.shape[1] - window) // 2
    win = (window, window)

    def one(k, x):
        return s.draw(s.params, k, s.prepare(s.params, x), r, r, window=win, n=8)

    draw = jax.jit(jax.vmap(one))
    keys = jax.random.split(jax.random.key(0), images.shape[0])
    p = np.asarray(draw(keys, images))
    truth = np.asarray(images[:, r : r + window, r : r + window])
    return float(np.abs(p - truth[:, None]).mean())


def digits(args) -> dict:
    d = jaxmi.data.load_digits()
    perm = np.random.default_rng(0).permutation(d.images.shape[0])
    tr, te = perm[:1400], perm[1400:]
    xtr, ytr = d.images[tr], d.labels[tr]
    xte, yte = d.images[te], d.labels[te]
    t = time.perf_counter()
    clf = jaxmi.models.train_classifier(jax.random.key(0), xtr, ytr, epochs=60, batch_size=64)
    train_s = time.perf_counter() - t
    acc = float((np.argmax(clf.predict_fn(xte), 1) == yte).mean())
    print(f"digits CNN: test accuracy {acc:.3f}, training {train_s:.1f} s")
    sams, fit_s = make_samplers(jax.random.key(1), xtr, 2, args.learned_steps)
    x = xte[:100]
    rows = []
    for name, s in sams.items():
        sec = best_of(
            lambda s=s: (
                it_maps(
                    jax.random.key(2), clf.predict_fn, x, window=2, stride=1, n_samples=8, sampler=s
                ).ig
            )
        )
        err = infill_error(s, jnp.asarray(xte), 2)
        rows.append(
            dict(
                sampler=name,
                s_per_image=sec / x.shape[0],
                n_effective=1 if s.deterministic else 8,
                fit_s=fit_s.get(name),
                infill_abs_error=err,
            )
        )
        print(f"  {name:22s} {sec / x.shape[0] * 1e3:7.2f} ms/image  in-fill |err| {err:.3f}")
    sec = best_of(lambda: occlusion(clf.predict_fn, x, window=2, stride=1, baseline=0.0))
    rows.append(dict(sampler="occlusion 2x2 zero", s_per_image=sec / x.shape[0]))
    print(f"  occlusion 2x2 zero     {sec / x.shape[0] * 1e3:7.2f} ms/image")
    return dict(
        test_accuracy=acc,
        train_s=train_s,
        prototype=dict(test_accuracy=0.940, train_s=15.7, pmi_s_per_image=0.026, occ=0.015),
        rows=rows,
    )


def localisation(args) -> dict:
    data = jaxmi.data.synthetic_images(jax.random.key(0), 2000 + 50, size=16)
    train = jax.tree.map(lambda a: a[:2000], data)
    test = jax.tree.map(lambda a: a[2000:], data)
    clf = jaxmi.models.train_classifier(
        jax.random.key(1), train.images, train.labels, epochs=20, batch_size=64
    )
    acc = float((np.argmax(clf.predict_fn(test.images), 1) == test.labels).mean())
    print(f"synthetic CNN: test accuracy {acc:.3f}")
    sams, _ = make_samplers(jax.random.key(1), train.images, 3, args.learned_steps)
    n = test.images.shape[0]
    masks = np.asarray(test.masks).reshape(n, -1)
    rows = []
    for name, s in sams.items():
        m = it_maps(
            jax.random.key(2), clf.predict_fn, test.images, window=3, n_samples=8, sampler=s,
            classes=test.labels[:, None],
        )  # fmt: skip
        pmi = m.pmi[:, 0].reshape(n, -1)
        ig = m.ig.reshape(n, -1)
        pos = np.clip(pmi, 0, None)
        share = (pos * masks).sum(1) / np.maximum(pos.sum(1), 1e-30)
        row = dict(
            sampler=name,
            pointing_pmi=float(masks[np.arange(n), pmi.argmax(1)].mean()),
            pointing_ig=float(masks[np.arange(n), ig.argmax(1)].mean()),
            positive_pmi_share_in_mask=float(share.mean()),
        )
        rows.append(row)
        print(
            f"  {name:22s} pointing PMI {row['pointing_pmi']:.3f} IG {row['pointing_ig']:.3f}"
            f"  PMI+ share {row['positive_pmi_share_in_mask']:.3f}"
        )
    return dict(test_accuracy=acc, chance=float(masks.mean()), rows=rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--learned-steps", type=int, default=600)
    ap.add_argument("--parts", nargs="+", default=["digits", "localisation"])
    args = ap.parse_args()
    out = dict(environment(), learned_steps=args.learned_steps)
    parts = {"digits": digits, "localisation": localisation}
    for name in args.parts:
        out[name] = parts[name](args)
        write_results(args.out, out)  # after every part (a long run keeps what it finished)


if __name__ == "__main__":
    main()
