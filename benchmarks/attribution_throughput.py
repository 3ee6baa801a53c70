"""Throughput of ``it_maps`` against the raw batched throughput of the same ``predict_fn``.

IG/PMI maps need only forward passes: ``n_windows * N + 1`` classifier evaluations per image.
The sweep's overhead (drawing in-fills, writing them into the images, reducing the outputs,
spreading window scores over pixels) is what separates its forward passes per second from the
classifier's own. Measured side by side in one run, steady state (compiled, best of several
calls, ``block_until_ready``):

* raw: the jitted ``predict_fn`` on batches of ``batch_size`` images (the same batch size the
  sweep uses for its ``predict_fn`` calls);
* ``it_maps``: classifier evaluations per second = ``B * (n_windows * N + 1) / seconds``.

Target (issue 5): ``it_maps`` reaches at least 0.8 of the raw throughput.

Configurations: a :class:`jaxmi.models.SmallCNN` (16, 32 features) on 8x8x1 digits-sized
images (K = 2, S = 1, N = 8, the spec's CPU prototype) and on 32x32x3 images (K = 8, S = 4,
N = 8); samplers: ``marginal`` (N draws per window) and ``constant`` (deterministic, one draw).

    python benchmarks/attribution_throughput.py            # ~2 min on a 2-core CPU

Writes ``benchmarks/results/attribution_throughput.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np
from _common import best_time, environment, write_results

from jaxmi.attribution import it_maps, samplers
from jaxmi.attribution._it_maps import positions
from jaxmi.models import train_classifier

RESULTS = Path(__file__).parent / "results" / "attribution_throughput.json"

CONFIGS = (
    dict(name="digits 8x8x1", size=8, channels=1, window=2, stride=1, n=8, images=256),
    dict(name="32x32x3", size=32, channels=3, window=8, stride=4, n=8, images=32),
)


def measure(cfg: dict, batch_size: int, reps: int) -> list[dict]:
    rng = np.random.default_rng(0)
    shape = (cfg["size"], cfg["size"], cfg["channels"])
    x = rng.uniform(size=(cfg["images"], *shape)).astype(np.float32)
    labels = rng.integers(0, 10, cfg["images"])
    # weights do not change the cost of a forward pass: one short training run gives a predict_fn
    clf = train_classifier(jax.random.key(0), x, labels, n_classes=10, epochs=1, batch_size=16)
    predict = jax.jit(clf.predict_fn)
    batch = rng.uniform(size=(batch_size, *shape)).astype(np.float32)
    predict(batch).block_until_ready()
    raw_s = best_time(lambda: predict(batch), reps * 5)
    raw_fps = batch_size / raw_s
    n_win = len(positions(cfg["size"], cfg["window"], cfg["stride"], "cover")) ** 2
    rows = []
    for name, sampler in (("marginal", samplers.marginal(x)), ("constant", samplers.constant())):
        n = 1 if sampler.deterministic else cfg["n"]

        def run(sampler=sampler):
            return it_maps(
                jax.random.key(1),
                clf.predict_fn,
                x,
                window=cfg["window"],
                stride=cfg["stride"],
                n_samples=cfg["n"],
                sampler=sampler,
                batch_size=batch_size,
            ).ig

        t0 = time.perf_counter()
        run()
        first = time.perf_counter() - t0
        sweep_s = best_time(run, reps)
        passes = cfg["images"] * (n_win * n + 1)
        fps = passes / sweep_s
        row = dict(
            config=cfg["name"],
            sampler=name,
            images=cfg["images"],
            windows=n_win,
            n_samples=n,
            batch_size=batch_size,
            forward_passes=passes,
            raw_images_per_s=raw_fps,
            it_maps_s=sweep_s,
            it_maps_first_call_s=first,
            it_maps_passes_per_s=fps,
            ratio=fps / raw_fps,
        )
        print(
            f"{cfg['name']:14s} {name:9s} raw {raw_fps:10.0f}/s  it_maps {fps:10.0f}/s "
            f"({passes} passes in {sweep_s:.3f} s) ratio {row['ratio']:.2f}",
            flush=True,
        )
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    rows = [r for cfg in CONFIGS for r in measure(cfg, args.batch_size, args.reps)]
    write_results(
        args.out,
        dict(
            benchmark="attribution_throughput",
            target="it_maps forward passes per second >= 0.8 x raw batched predict_fn",
            **environment(),
            rows=rows,
            target_met=all(r["ratio"] >= 0.8 for r in rows),
        ),
    )


if __name__ == "__main__":
    main()
