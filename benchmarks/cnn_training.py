"""Training steps per second of the digits CNN: jaxmi's convolution against lax's, side by side.

:func:`jaxmi.models.train_classifier` fuses its Adam steps in one ``lax.scan``. Inside a loop,
XLA:CPU runs the backward convolutions of ``lax.conv_general_dilated`` (kernel and input
gradients) many times slower than at the top level of a program, so jaxmi's models use
:func:`jaxmi.nn.conv_general_dilated`: the same forward convolution, the input gradient as
a forward convolution with the flipped kernel and the kernel gradient as a product of image
patches. This script trains the same :class:`jaxmi.models.SmallCNN` (default
``features=(16, 32)``, batch 64, scikit-learn's 8x8 digits) with each convolution and reports
the steady time per step (best of ``--reps`` compiled runs of ``--steps`` steps), the first call
(compilation included), the final training loss of each (the same trajectory up to float32
rounding), and one jitted gradient at the top level of a program for scale.

    python benchmarks/cnn_training.py     # ~1 min on a 2-core CPU

Writes ``benchmarks/results/cnn_training.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import best_time, environment, write_results
from flax import nnx

from jaxmi.data import load_digits
from jaxmi.models import SmallCNN
from jaxmi.models._cnn import _fit

RESULTS = Path(__file__).parent / "results" / "cnn_training.json"


def model(conv_fn):
    cnn = SmallCNN(1, 10, rngs=nnx.Rngs(0))
    if conv_fn is not None:
        for conv in cnn.convs:
            conv.conv_general_dilated = conv_fn
    return nnx.split(cnn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    data = load_digits()
    x = jnp.asarray(data.images[:1400], jnp.float32)
    y = jnp.asarray(data.labels[:1400], jnp.int32)
    key = jax.random.key(0)
    rows = []
    for name, conv_fn in (("lax.conv_general_dilated", jax.lax.conv_general_dilated),
                          ("jaxmi.nn.conv_general_dilated", None)):  # fmt: skip
        graphdef, params = model(conv_fn)

        def run(graphdef=graphdef, params=params):
            return _fit(graphdef, params, key, x, y, 3e-3, steps=args.steps, batch_size=64)

        t = time.perf_counter()
        _, losses = jax.block_until_ready(run())
        first = time.perf_counter() - t
        steady = best_time(run, args.reps)

        def loss(p, graphdef=graphdef):
            logits = nnx.merge(graphdef, p)(x[:64])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y[:64]).mean()

        grad = jax.jit(jax.grad(loss))
        jax.block_until_ready(grad(params))
        top = best_time(lambda grad=grad, params=params: grad(params), 20)
        rows.append(
            dict(
                conv=name,
                steps=args.steps,
                first_call_s=round(first, 3),
                ms_per_step=round(1e3 * steady / args.steps, 3),
                top_level_gradient_ms=round(1e3 * top, 3),
                final_loss=round(float(np.mean(np.asarray(losses)[-20:])), 5),
            )
        )
        print(rows[-1])
    speedup = rows[0]["ms_per_step"] / rows[1]["ms_per_step"]
    print(f"jaxmi conv: {speedup:.1f}x the steps per second of lax's in the scan")
    write_results(
        RESULTS,
        dict(**environment(), batch_size=64, rows=rows, speedup=round(speedup, 2)),
    )


if __name__ == "__main__":
    main()
