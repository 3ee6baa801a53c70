"""``neural_mi``: train critics with a variational bound and estimate MI on held-out data.

One compiled training program per (bound, critic architecture, data shapes, number of seeds):

* the critic is built once as a template, ``nnx.split`` gives the static ``graphdef``; the
  parameters of every seed come from a vmapped pure init, a small program of its own
  (:func:`_init_program`, compiled for a fast compile);
* a training step is pure (``value_and_grad`` → optax ``update`` → ``apply_updates``); steps are
  fused with ``lax.scan`` into chunks of ``eval_every`` steps, each chunk ends with an evaluation
  on the validation and test splits;
* a ``lax.while_loop`` over chunks stops once every seed has early-stopped (or at
  ``max_steps``). Within a chunk the seeds are vmapped on accelerators; a seed that has stopped
  keeps running in lock-step there, but everything it reports is frozen at its stopping point,
  so a vmapped run equals separate runs with the same keys. On CPU (``_Static.seed_loop``) a
  ``lax.map`` runs the seeds one after the other, each through the single-seed code, and skips
  the seeds that have stopped: 8 seeds of the bmi preset for a fixed 500 steps took 6.1 s
  instead of 11.8 s with the vmap (one seed: 0.9 s), the vmap's (8, 16, K²) activations being
  8x the single seed's working set.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxmi import _compile, bounds
from jaxmi._batches import chunk_batches, permutation
from jaxmi._marginals import check_marginals, normal_scores, warn_heavy_tails
from jaxmi._optim import optax_step
from jaxmi._progress import Progress
from jaxmi._validation import (
    as_data_matrix,
    check_bool,
    check_finite_scalar,
    check_int,
    float_dtype,
    is_traced,
    refuse_traced,
    user_stacklevel,
)
from jaxmi.bounds._lower import JS_READOUTS, MINE_INITS
from jaxmi.neural._stream import (
    STREAM_BYTES,
    column_stats,
    gather_rows,
    host_matrix,
    standardise_array,
    standardise_rows,
)
from jaxmi.nn import (
    BaselineCritic,
    BilinearCritic,
    ConcatCritic,
    GaussianConditional,
    SeparableCritic,
)
from jaxmi.nn._mlp import INITS, check_hidden, resolve_activation

__all__ = ["BOUNDS", "CRITICS", "OPTIMIZERS", "PRESETS", "NeuralMIResult", "neural_mi"]

UPPER_BOUNDS = ("club", "l1out")
BASELINE_BOUNDS = ("tuba", "interpolated")
BOUNDS = ("infonce", "nwj", "dv", "js", "smile", "mine", *BASELINE_BOUNDS, *UPPER_BOUNDS)
CRITICS = ("separable", "concat", "bilinear")
MINE_NEGATIVES = ("all_pairs", "shuffled")
OPTIMIZERS = {
    "adam": optax.adam,
    "adamw": optax.adamw,
    "sgd": optax.sgd,
    "rmsprop": optax.rmsprop,
}
# bmi's neural-estimator protocol (spec §5.1): concat (16, 8) critic with Equinox-style uniform
# init, batch 256, Adam lr 0.1, 50/50 split, evaluation on the whole test half every 250 steps,
# stop after 2 evaluations without improvement, at most 10,000 steps
PRESETS = {
    "bmi": {
        "critic": "concat",
        "hidden": (16, 8),
        "init": "torch",
        "batch_size": 256,
        "learning_rate": 0.1,
        "optimizer": "adam",
        "max_steps": 10_000,
        "eval_every": 250,
        "patience": 2,
        "split": (0.5, 0.5),
        "eval_batch": "all",
        "standardize": True,
    }
}


class NeuralMIResult(NamedTuple):
    """Result of :func:`neural_mi`.

    Arrays have a leading seed axis ``(E, ...)`` when several seeds were trained (``n_seeds``
    or a batch of keys), and none for a single run. When ``bound`` was a list of B bounds every
    array gains a further leading bound axis, ``(B, E, ...)`` or ``(B, ...)``, in the order of
    the list; ``bound``, ``graphdef`` and ``params`` are then tuples over the bounds.

    **Estimate rule.** ``mi`` is the bound evaluated on the **test** split (mean over its
    evaluation batches) with the critic checkpoint chosen on the **validation** split: the
    evaluation with the highest validation value up to the early-stopping point. The test split
    takes no part in training, stopping or selection, so ``mi`` is not optimistically selected.
    bmi instead returns the maximum over repeated evaluations on the split that also decides the
    stopping, which can exceed the truth; that number is ``max_val`` here. With a two-way
    ``split`` the validation and test splits are the same data and ``mi`` is selected like
    bmi's.

    Attributes:
        mi: the estimate (nats), see the rule above.
        mi_batch_std: standard deviation of the bound across the test evaluation batches at the
            checkpoint (the spread of one batch's estimate; the standard error of ``mi`` is about
            ``mi_batch_std / sqrt(n_eval_batches)`` if batches were independent).
        n_eval_batches: number of disjoint test batches ``mi`` averages over.
        max_val: the largest validation value (bmi's returned estimate; optimistic).
        stop_val: validation value at the stopping evaluation (the last one run).
        best_step: training steps done at the selected checkpoint.
        stop_step: training steps done when the seed stopped (``max_steps`` if it never did).
        train_curve: ``(max_steps,)`` bound value of every training batch (NaN after
            stopping).
        val_curve: ``(n_evals,)`` validation value at each evaluation (NaN after stopping).
            For an upper bound (``"club"``, ``"l1out"``) ``max_val`` and ``stop_val`` are read
            from this curve too, but stopping and the checkpoint follow ``select_curve``.
        test_curve: ``(n_evals,)`` test value at each evaluation (NaN after stopping).
        select_curve: ``(n_evals,)`` the validation quantity that early stopping and the
            checkpoint maximise: the bound's value for lower bounds (same as ``val_curve``), the
            mean log-likelihood ``log q(y_i | x_i)`` (nats) of the variational conditional for
            upper bounds.
        eval_steps: ``(n_evals,)`` the training step of each evaluation.
        early_stopped: the validation value stopped improving for ``patience`` evaluations.
        still_rising: the smoothed training curve ends more than 5% above its value one
            smoothing window earlier (training was probably too short).
        curve_decreased: the smoothed training curve's maximum exceeds its final value by more
            than 5% (overfitting or instability).
        too_short: fewer than two smoothing windows of training history (flags unreliable).
        bound: the bound's name (a tuple of names for a list of bounds).
        graphdef: the trained module's ``nnx`` graph definition: a critic, a
            :class:`~jaxmi.nn.BaselineCritic` (TUBA, I_α with a learned baseline) or a
            :class:`~jaxmi.nn.GaussianConditional` (upper bounds).
        params: its parameters at the checkpoint (leading seed axis if several).
    """

    mi: Any
    mi_batch_std: Any
    n_eval_batches: int
    max_val: Any
    stop_val: Any
    best_step: Any
    stop_step: Any
    train_curve: Any
    val_curve: Any
    test_curve: Any
    select_curve: Any
    eval_steps: Any
    early_stopped: Any
    still_rising: Any
    curve_decreased: Any
    too_short: Any
    bound: str | tuple[str, ...]
    graphdef: Any
    params: Any

    def critic(self, seed: int = 0, bound: int = 0) -> nnx.Module:
        """The trained module (NNX) of one seed and one bound.

        Args:
            seed: index on the seed axis (ignored for a single run).
            bound: index into the list of bounds (ignored for a single bound).
        """
        many = isinstance(self.bound, tuple)
        graphdef = self.graphdef[bound] if many else self.graphdef
        p = self.params[bound] if many else self.params
        if np.ndim(self.mi) == 1 + many:
            p = jax.tree.map(lambda a: a[seed], p)
        return nnx.merge(graphdef, p)


# --------------------------------------------------------------------------------------------
# the compiled program
# --------------------------------------------------------------------------------------------


class _Static(NamedTuple):
    bounds: tuple[str, ...]
    critic: str
    dim_x: int
    dim_y: int
    hidden: tuple[int, ...]
    embed_dim: int
    marginal_terms: bool
    activation: Callable[[jax.Array], jax.Array]
    init: str
    batch_size: int
    eval_batch: int
    eval_block: int | None
    n_train: int
    n_val: int
    n_test: int
    same_val_test: bool
    eval_every: int
    n_chunks: int
    # max_steps (hyper["max_steps"], traced: one program per number of chunks) is not a multiple
    # of eval_every: the last chunk's steps past it are masked
    short_last: bool
    patience: int
    readout: str
    clip_none: bool
    mine_init: str
    mine_negatives: str
    learned_baseline: bool
    optimizer: Any
    progress: bool = False
    seed_loop: bool = False  # in-memory program: seeds one after the other (see _program)


#: seeds one after the other in the in-memory program (None: on CPU only); tests force either
_SEED_LOOP: bool | None = None

# the running call's progress bar: the programs are cached and shared between calls, so their
# host callback looks the bar up here (None: no bar)
_BAR: list[Progress | None] = [None]


def _tick(steps: Any, val: Any, ran: Any) -> None:
    """Host side of the progress bar: one evaluation done.

    ``val``: bound 0's validation value per seed; ``ran``: the seeds that trained in it.
    """
    bar = _BAR[0]
    if bar is not None:
        v = np.asarray(val, np.float64)[np.asarray(ran, bool)]
        shown = f", validation {np.nanmean(v):.3f}" if np.any(np.isfinite(v)) else ""
        bar.update(note=f"step {int(steps)}{shown}")


_TRACES = [0]  # how many times the training program was traced (tests count compilations)
_STREAM_TRACES = {"init": 0, "train": 0, "eval": 0, "advance": 0}  # traces per program


def _make_critic(st: _Static, rngs: nnx.Rngs) -> nnx.Module:
    kw = {"activation": st.activation, "init": st.init, "rngs": rngs}
    if st.critic == "separable":
        return SeparableCritic(
            st.dim_x,
            st.dim_y,
            st.hidden,
            embed_dim=st.embed_dim,
            marginal_terms=st.marginal_terms,
            **kw,
        )
    if st.critic == "concat":
        return ConcatCritic(st.dim_x, st.dim_y, st.hidden, **kw)
    return BilinearCritic(st.dim_x, st.dim_y, st.hidden, embed_dim=st.embed_dim, **kw)


def _make_model(st: _Static, bound: str, rngs: nnx.Rngs) -> nnx.Module:
    """The trained module of one bound: a critic, a critic with a baseline, or q(y|x)."""
    kw = {"activation": st.activation, "init": st.init, "rngs": rngs}
    if bound in UPPER_BOUNDS:
        return GaussianConditional(st.dim_x, st.dim_y, st.hidden, **kw)
    critic = _make_critic(st, rngs)
    if bound in BASELINE_BOUNDS and st.learned_baseline:
        return BaselineCritic(critic, st.hidden, **kw)
    return critic


def _matrix(st: _Static, bound: str, model: nnx.Module, x: jax.Array, y: jax.Array) -> jax.Array:
    """``scores[i, j] = f(x_i, y_j)`` (or ``log q(y_j | x_i)``), rows in blocks if configured."""
    f = model.log_prob_matrix if bound in UPPER_BOUNDS else model._train_scores
    blk = st.eval_block
    n = x.shape[0]
    if blk is None or n <= blk or n != y.shape[0]:
        return f(x, y)
    # row blocks of x bound the (block, K, hidden) activations of a concat critic
    n_blk = -(-n // blk)
    xp = jnp.pad(x, ((0, n_blk * blk - n), (0, 0)))
    rows = jax.lax.map(lambda xb: f(xb, y), xp.reshape(n_blk, blk, -1))
    return rows.reshape(n_blk * blk, -1)[:n]


def _bound(
    st: _Static, bound: str, model: nnx.Module, x: jax.Array, y: jax.Array, hyper: dict, mstate
) -> tuple[bounds.BoundOut, Any]:
    if bound == "mine" and st.mine_negatives == "shuffled":
        # bmi's MINE: K joint pairs and one independent pairing (x_i, y_{i+1}) as negatives;
        # the batch is a random draw, so a fixed derangement pairs independent samples
        joint = model.pointwise(x, y)
        marginal = model.pointwise(x, jnp.roll(y, -1, axis=0))  # row i: y_{i+1}
        return bounds.mine((joint, marginal), mstate, hyper["momentum"])
    s = _matrix(st, bound, model, x, y)
    if bound == "infonce":
        return bounds.infonce(s), mstate
    if bound == "nwj":
        return bounds.nwj(s), mstate
    if bound == "dv":
        return bounds.dv(s), mstate
    if bound == "js":
        return bounds.js(s, st.readout), mstate
    if bound == "smile":
        return bounds.smile(s, None if st.clip_none else hyper["clip"]), mstate
    if bound == "club":
        return bounds.club(s), mstate
    if bound == "l1out":
        return bounds.l1out(s), mstate
    if bound in BASELINE_BOUNDS:
        log_a = model.log_baseline(y) if st.learned_baseline else hyper["log_baseline"]
        if bound == "tuba":
            return bounds.tuba(s, log_a), mstate
        return bounds.interpolated(s, log_a, hyper["alpha_logit"]), mstate
    return bounds.mine(s, mstate, hyper["momentum"])


def _selection(bound: str, out: bounds.BoundOut) -> jax.Array:
    """What early stopping and the checkpoint maximise.

    The estimate for a lower bound; the log-likelihood of q(y|x) (its training objective) for an
    upper bound, whose estimate is not a quantity to maximise.
    """
    return out.objective if bound in UPPER_BOUNDS else out.value


def _optimizer(st: _Static, lr: jax.Array) -> optax.GradientTransformation:
    """The optimizer; a named one runs on the parameters raveled into one vector.

    The named optimizers are elementwise, so raveling changes no update; it gives XLA one set of
    update kernels instead of one per parameter array (the training program of two bounds
    compiled in 4.7 s instead of 5.3 s). A user's transformation keeps the parameter tree, which
    it may depend on (masks, per-layer settings).
    """
    if isinstance(st.optimizer, str):
        return optax.flatten(OPTIMIZERS[st.optimizer](lr))
    return st.optimizer


@functools.lru_cache(maxsize=64)
def _graphdef(st: _Static, bound: str) -> Any:
    """The module structure of one bound, from an abstract model.

    No initialiser runs: an eager init compiled every initialiser of every new layer shape
    (about 1 s of a first call).
    """
    return nnx.split(nnx.eval_shape(lambda: _make_model(st, bound, nnx.Rngs(0))), nnx.Param)[0]


def _graphdefs(st: _Static) -> list[Any]:
    return [_graphdef(st, b) for b in st.bounds]


def _init_carry(st: _Static, bound: str, tx, k_init: jax.Array, dtype) -> dict:
    """One seed's training state of one bound (every bound starts from the seed's ``k_init``).

    The parameters take the data's dtype: NNX initialises float32, and float64 data (under
    ``jax_enable_x64``) then promoted the steps' values and optimizer moments to float64, which
    the ``scan`` over steps refused for its float32 carry. No program returns NaN by design (so
    that ``jax_debug_nans`` flags only real ones): the best test value before any improvement
    is 0 here, and :func:`_assemble` makes it NaN where ``best_chunk`` is still -1.
    """
    params = nnx.state(_make_model(st, bound, nnx.Rngs(k_init)), nnx.Param)
    params = jax.tree.map(lambda p: p.astype(dtype), params)
    return {
        "params": params,
        "opt": tx.init(params),
        "mine": bounds.mine_init(st.mine_init, dtype),
        "best_params": params,
        "best_sel": jnp.asarray(-jnp.inf, dtype),
        "best_test": jnp.zeros((), dtype),
        "best_test_std": jnp.zeros((), dtype),
        "best_chunk": jnp.asarray(-1, jnp.int32),
        "max_val": jnp.asarray(-jnp.inf, dtype),
        "bad": jnp.asarray(0, jnp.int32),
        "stopped": jnp.asarray(False),
        "stop_chunk": jnp.asarray(st.n_chunks - 1, jnp.int32),
    }


def _shared(st: _Static) -> _Static:
    """``st`` without the fields that only the in-memory training program reads.

    The init and streamed programs are then cached once for both values of ``progress`` (a
    host callback in the in-memory loop) and ``seed_loop`` (how that loop batches seeds).
    """
    return st._replace(progress=False, seed_loop=False)


def _init_static(st: _Static) -> _Static:
    """The key of :func:`_init_program`: :func:`_shared` without ``short_last``.

    The starting state does not depend on whether the last chunk is masked (``max_steps`` of
    900 and 1,000, with ``eval_every=250``, share it).
    """
    return _shared(st)._replace(short_last=False)


@functools.lru_cache(maxsize=32)
def _init_program(st: _Static) -> Callable[..., Any]:
    """``init(keys, hyper)`` → ``(carries, k_split, chunk_keys)``, with a leading seed axis.

    ``carries``: every seed's starting state (a tuple over the bounds); ``k_split``: the key
    of the seed's train/validation/test permutation; ``chunk_keys`` ``(E, n_chunks)``: the key
    of each chunk's minibatches. A program of its own, shared by the in-memory and the streamed
    runs, compiled with XLA's fast-compiling options (``jaxmi._compile``, kind ``"light"``): the
    initialisers' and key derivations' threefry loops were more than half of the training
    program's generated code, and they run once per call. A first ``neural_mi`` call (bmi
    preset) compiled 2.0 -> 1.5 s.
    """

    def init(keys, hyper):
        _STREAM_TRACES["init"] += 1
        tx = _optimizer(st, hyper["learning_rate"])
        dt = hyper["learning_rate"].dtype

        def one(key):
            k_split, k_init, k_train = jax.random.split(key, 3)
            carries = tuple(_init_carry(st, bd, tx, k_init, dt) for bd in st.bounds)
            chunks = jnp.arange(st.n_chunks, dtype=jnp.int32)
            return carries, k_split, jax.vmap(lambda c: jax.random.fold_in(k_train, c))(chunks)

        return jax.vmap(one)(keys)

    return _compile.jit(init, kind="light", export=False)


def _train_steps(st: _Static, bound: str, graphdef, tx, hyper: dict, carry: dict, xs, get, c):
    """One seed's chunk of optimizer steps fused with ``lax.scan``.

    ``xs`` is scanned over (``eval_every`` items) and ``get(item)`` gives a step's minibatch
    ``(xb, yb)``. Returns ``((params, opt, mine), train_values (eval_every,))``. ``c``: the
    chunk's index; where ``max_steps`` is not a multiple of ``eval_every``, the steps of the last
    chunk past it leave the state as it was (their values are cut from the curve by
    :func:`_assemble`).
    """

    def loss(params, xb, yb, mstate):
        model = nnx.merge(graphdef, params)
        out, mstate = _bound(st, bound, model, xb, yb, hyper, mstate)
        return -out.objective, (out.value, mstate)

    def step(inner, item):
        params, opt, mstate = inner
        grads, (value, mstate) = jax.grad(loss, has_aux=True)(params, *get(item), mstate)
        params, opt = optax_step(tx, grads, opt, params)
        return (params, opt, mstate), value

    start = (carry["params"], carry["opt"], carry["mine"])
    if not st.short_last:
        return jax.lax.scan(step, start, xs)

    def masked(inner, item):  # a step past max_steps keeps the state it was given
        item, live = item
        new, value = step(inner, item)
        return jax.tree.map(lambda a, b: jnp.where(live, a, b), new, inner), value

    live = c * st.eval_every + jnp.arange(st.eval_every) < hyper["max_steps"]
    return jax.lax.scan(masked, start, (xs, live))


def _eval_values(st: _Static, bound: str, graphdef, params, xb, yb, hyper: dict):
    """The bound's value and selection quantity on each evaluation batch ``(n_b, ev, d)``."""
    model = nnx.merge(graphdef, params)

    def one(b):
        out, _ = _bound(st, bound, model, *b, hyper, bounds.mine_init(st.mine_init))
        return out.value, _selection(bound, out)

    return jax.lax.map(one, (xb, yb))


def _advance(st: _Static, carry: dict, inner, train_vals, val_vals, val_sel, test_vals, c):
    """One seed's state after chunk ``c``: early stopping, checkpoint, and the chunk's record.

    ``val_vals``, ``val_sel`` and ``test_vals`` are the per-batch evaluation values
    (``test_vals`` is None when validation and test are the same split).
    """
    params, opt, mstate = inner
    val, val_std, sel = jnp.mean(val_vals), jnp.std(val_vals), jnp.mean(val_sel)
    if test_vals is None:
        test, test_std = val, val_std
    else:
        test, test_std = jnp.mean(test_vals), jnp.std(test_vals)
    active = ~carry["stopped"]
    improved = active & (sel > carry["best_sel"])
    bad = jnp.where(improved, 0, carry["bad"] + 1)
    newly = active & (bad >= st.patience)

    def keep(new, old):
        return jnp.where(improved, new, old)

    new = {
        "params": params,
        "opt": opt,
        "mine": mstate,
        "best_params": jax.tree.map(keep, params, carry["best_params"]),
        "best_sel": keep(sel, carry["best_sel"]),
        "best_test": keep(test, carry["best_test"]),
        "best_test_std": keep(test_std, carry["best_test_std"]),
        "best_chunk": keep(c, carry["best_chunk"]),
        "max_val": jnp.where(active, jnp.fmax(val, carry["max_val"]), carry["max_val"]),
        "bad": jnp.where(active, bad, carry["bad"]),
        "stopped": carry["stopped"] | newly,
        "stop_chunk": jnp.where(newly, c, carry["stop_chunk"]),
    }
    # a stopped seed's records are 0 here and NaN in the result (see _assemble)
    record = tuple(jnp.where(active, v, 0) for v in (train_vals, val, test, sel))
    return new, record


@functools.lru_cache(maxsize=32)
def _program(st: _Static) -> Callable[..., Any]:
    """The in-memory program: the whole dataset on the device, a ``while_loop`` over chunks."""
    graphdefs = _graphdefs(st)
    k_b, ev = st.batch_size, st.eval_batch
    n_val_b, n_test_b = st.n_val // ev, st.n_test // ev

    def evaluate(bi, params, xe, ye, n_b, hyper):
        xb = xe[: n_b * ev].reshape(n_b, ev, -1)
        yb = ye[: n_b * ev].reshape(n_b, ev, -1)
        return _eval_values(st, st.bounds[bi], graphdefs[bi], params, xb, yb, hyper)

    def run(start, x, y, hyper):
        _TRACES[0] += 1
        tx = _optimizer(st, hyper["learning_rate"])
        n = x.shape[0]
        carries, k_split, chunk_keys = start

        def prepare(k_split):
            perm = permutation(k_split, n)
            xp, yp = x[perm], y[perm]
            a, b = st.n_train, st.n_train + st.n_val
            data = {"xtr": xp[:a], "ytr": yp[:a], "xva": xp[a:b], "yva": yp[a:b]}
            if not st.same_val_test:
                data.update(xte=xp[b:], yte=yp[b:])
            return data

        data = jax.vmap(prepare)(k_split)

        def chunk(bi, carry, data, chunk_keys, c):
            bound = st.bounds[bi]
            inner, train_vals = _train_steps(
                st,
                bound,
                graphdefs[bi],
                tx,
                hyper,
                carry,
                chunk_batches(chunk_keys[c], st.n_train, st.eval_every, k_b),
                lambda idx: (data["xtr"][idx], data["ytr"][idx]),
                c,
            )
            params = inner[0]
            val_vals, val_sel = evaluate(bi, params, data["xva"], data["yva"], n_val_b, hyper)
            test_vals = None
            if not st.same_val_test:
                test_vals, _ = evaluate(bi, params, data["xte"], data["yte"], n_test_b, hyper)
            return _advance(st, carry, inner, train_vals, val_vals, val_sel, test_vals, c)

        e = k_split.shape[0]

        def empty():  # chunks never run read NaN in the result (see _assemble)
            return (
                jnp.zeros((e, st.n_chunks * st.eval_every), x.dtype),
                *(jnp.zeros((e, st.n_chunks), x.dtype) for _ in range(3)),
            )

        curves = tuple(empty() for _ in st.bounds)

        def cond(state):
            c, carries, _ = state
            done = jnp.all(jnp.stack([jnp.all(cr["stopped"]) for cr in carries]))
            return (c < st.n_chunks) & ~done

        def seeds_chunk(bi, carry, c):
            """Chunk ``c`` of every seed: ``(carry, records)`` with a leading seed axis."""
            run_all = jax.vmap(functools.partial(chunk, bi), in_axes=(0, 0, 0, None))
            if not (st.seed_loop and e > 1):
                return run_all(carry, data, chunk_keys, c)

            # One seed at a time, each through the same vmap of one seed as a single-seed run
            # (so the same float operations), and a seed that has stopped is skipped: what it
            # reports is frozen at its stopping point either way (its records are NaN in the
            # result, and its running parameters and optimizer state are never reported).
            def one(args):
                def run(a):
                    out = run_all(*jax.tree.map(lambda v: v[None], a), c)
                    return jax.tree.map(lambda v: v[0], out)

                def skip(a):
                    zero = jnp.zeros((), x.dtype)
                    return a[0], (jnp.zeros((st.eval_every,), x.dtype), zero, zero, zero)

                return jax.lax.cond(args[0]["stopped"], skip, run, args)

            return jax.lax.map(one, (carry, data, chunk_keys))

        def body(state):
            c, carries, curves = state
            new_carries, new_curves = [], []
            for bi, (carry, (tr, va, te, se)) in enumerate(zip(carries, curves, strict=True)):
                ran = ~carry["stopped"]  # the seeds this chunk trains
                carry, (tr_c, va_c, te_c, se_c) = seeds_chunk(bi, carry, c)
                if st.progress and bi == 0:
                    steps = jnp.minimum((c + 1) * st.eval_every, hyper["max_steps"])
                    jax.debug.callback(_tick, steps, va_c, ran)
                # indices of one integer type (a literal 0 is int64 under jax_enable_x64)
                zero = jnp.zeros((), c.dtype)
                tr = jax.lax.dynamic_update_slice(tr, tr_c, (zero, c * st.eval_every))
                va, te, se = (
                    jax.lax.dynamic_update_slice(a, v[:, None], (zero, c))
                    for a, v in ((va, va_c), (te, te_c), (se, se_c))
                )
                new_carries.append(carry)
                new_curves.append((tr, va, te, se))
            return c + 1, tuple(new_carries), tuple(new_curves)

        _, carries, curves = jax.lax.while_loop(
            cond, body, (jnp.asarray(0, jnp.int32), carries, curves)
        )
        return carries, curves

    return jax.jit(run)


# --------------------------------------------------------------------------------------------
# the streamed programs: data on the host, one chunk of minibatches on the device at a time
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=1)
def _split_plan(k_split: jax.Array, n: int) -> jax.Array:
    """Per seed: the permutation of the n samples (train, val, test slices), as in memory."""
    return jax.vmap(lambda k: permutation(k, n))(k_split)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _chunk_plan(keys: jax.Array, n: int, steps: int, k: int) -> jax.Array:
    """Per seed: a chunk's minibatch indices into the training split (its ``chunk_keys``)."""
    return jax.vmap(lambda kk: chunk_batches(kk, n, steps, k))(keys)


@functools.lru_cache(maxsize=32)
def _stream_programs(st: _Static) -> dict[str, Callable[..., Any]]:
    """The jitted pieces of a streamed run (each traced once per shape signature).

    ``train(inners, xb, yb, hyper)`` runs one chunk of steps
    on minibatches ``(E, eval_every, K, d)`` → (inners, train values); ``evaluate(params, xb,
    yb, hyper)`` → per-batch values and selection quantities of a group of evaluation batches
    ``(E, G, ev, d)``; ``advance(carries, inners, train, val, test, c)`` → (carries, records).
    Every output is a tuple over the bounds, every array has a leading seed axis.
    """
    graphdefs = _graphdefs(st)

    def train(inners, xb, yb, hyper, c):
        _STREAM_TRACES["train"] += 1
        tx = _optimizer(st, hyper["learning_rate"])
        out = []
        for bi, inner in enumerate(inners):

            def one(inner, xb, yb, bi=bi):
                carry = {"params": inner[0], "opt": inner[1], "mine": inner[2]}
                return _train_steps(
                    st, st.bounds[bi], graphdefs[bi], tx, hyper, carry, (xb, yb), lambda b: b, c
                )

            out.append(jax.vmap(one)(inner, xb, yb))
        return tuple(out)

    def evaluate(params, xb, yb, hyper):
        _STREAM_TRACES["eval"] += 1
        return tuple(
            jax.vmap(
                lambda p, xb, yb, bi=bi: _eval_values(
                    st, st.bounds[bi], graphdefs[bi], p, xb, yb, hyper
                )
            )(p, xb, yb)
            for bi, p in enumerate(params)
        )

    def advance(carries, inners, train_vals, val_groups, test_groups, c):
        _STREAM_TRACES["advance"] += 1
        n_val_b, n_test_b = st.n_val // st.eval_batch, st.n_test // st.eval_batch
        out = []
        for bi, carry in enumerate(carries):
            val_vals = jnp.concatenate([g[bi][0] for g in val_groups], axis=1)[:, :n_val_b]
            val_sel = jnp.concatenate([g[bi][1] for g in val_groups], axis=1)[:, :n_val_b]
            test_vals = None
            if test_groups:
                test_vals = jnp.concatenate([g[bi][0] for g in test_groups], axis=1)
                test_vals = test_vals[:, :n_test_b]

            def one(carry, inner, tr, vv, vs, tv):
                return _advance(st, carry, inner, tr, vv, vs, tv, c)

            out.append(
                jax.vmap(one)(carry, inners[bi], train_vals[bi], val_vals, val_sel, test_vals)
            )
        return tuple(out)

    return {
        "train": jax.jit(train),
        "evaluate": jax.jit(evaluate),
        "advance": jax.jit(advance),
    }


def _eval_groups(st: _Static, n_b: int) -> tuple[int, int]:
    """(batches per transferred group, number of groups) of an evaluation split.

    A group holds about as many rows as a chunk of training minibatches; the last group is
    padded to the same shape.
    """
    group = max(1, min(n_b, (st.eval_every * st.batch_size) // st.eval_batch))
    return group, -(-n_b // group)


def _run_streamed(st: _Static, keys: jax.Array, host: tuple, hyper: dict):
    """The training loop of a streamed run; returns ``(carries, curves)`` like :func:`_program`.

    x and y stay on the host. Each chunk's minibatch indices are drawn with the in-memory
    program's functions on the CPU backend (so both paths train on the same batches in the same
    order), the rows gathered and standardised on the host, and the chunk sent to the device;
    the evaluation splits are sent in groups of batches. The device holds one chunk of
    minibatches and at most two groups of evaluation batches at a time (plus the parameters).
    """
    progs = _stream_programs(_shared(st))
    (xs, x_stats, x_dt), (ys, y_stats, y_dt) = host  # array (N, d), column stats, float dtype
    dt = hyper["learning_rate"].dtype
    max_steps = int(hyper["max_steps"])
    e, n = keys.shape[0], xs.shape[0]
    carries, k_split, chunk_keys = _init_program(_init_static(st))(keys, hyper)
    cpu = jax.devices("cpu")[0]
    k_split, chunk_keys = jax.device_put((k_split, chunk_keys), cpu)
    perm = np.asarray(_split_plan(k_split, n))  # (E, N): train, val, test rows of each seed
    seeds = np.arange(e)[:, None, None]

    def train_batches(c):
        idx = _chunk_plan(chunk_keys[:, c], st.n_train, st.eval_every, st.batch_size)
        rows = perm[seeds, np.asarray(idx)]  # (E, eval_every, K) rows of x and y
        return gather_rows(xs, rows, x_stats, x_dt), gather_rows(ys, rows, y_stats, y_dt)

    def eval_groups(params, start, n_b):
        group, n_groups = _eval_groups(st, n_b)
        ev, outs = st.eval_batch, []
        for g in range(n_groups):
            ids = np.arange(g * group, (g + 1) * group) % n_b  # the last group wraps round
            rows = perm[:, start + ids[:, None] * ev + np.arange(ev)]  # (E, G, ev)
            xb = gather_rows(xs, rows, x_stats, x_dt)
            yb = gather_rows(ys, rows, y_stats, y_dt)
            if outs:
                jax.block_until_ready(outs[-1])  # at most two groups on the device
            outs.append(progs["evaluate"](params, xb, yb, hyper))
        return tuple(outs)

    curves = [
        (
            np.full((e, st.n_chunks * st.eval_every), np.nan, dt),
            *(np.full((e, st.n_chunks), np.nan, dt) for _ in range(3)),
        )
        for _ in st.bounds
    ]
    batches = train_batches(0)
    for c in range(st.n_chunks):
        inners = tuple((cr["params"], cr["opt"], cr["mine"]) for cr in carries)
        trained = progs["train"](inners, *batches, hyper, np.int32(c))
        inners = tuple(t[0] for t in trained)
        params = tuple(i[0] for i in inners)
        val = eval_groups(params, st.n_train, st.n_val // st.eval_batch)
        test = ()
        if not st.same_val_test:
            test = eval_groups(params, st.n_train + st.n_val, st.n_test // st.eval_batch)
        train_vals = tuple(t[1] for t in trained)
        ran = ~np.asarray(carries[0]["stopped"])  # the seeds this chunk trained (bound 0)
        out = progs["advance"](carries, inners, train_vals, val, test, np.int32(c))
        carries = tuple(o[0] for o in out)
        if c + 1 < st.n_chunks:
            batches = train_batches(c + 1)  # on the host while the device works
        for (tr, va, te, se), (_, rec) in zip(curves, out, strict=True):
            tr[:, c * st.eval_every : (c + 1) * st.eval_every] = np.asarray(rec[0])
            for a, v in zip((va, te, se), rec[1:], strict=True):
                a[:, c] = np.asarray(v)
        _tick(min((c + 1) * st.eval_every, max_steps), curves[0][1][:, c], ran)
        if all(bool(np.all(np.asarray(cr["stopped"]))) for cr in carries):
            break
    return carries, tuple(curves)


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------


#: why neural_mi refuses a user's jit/vmap, and what to do instead (its ValueErrors)
_ON_HOST = "neural_mi splits, stops early and selects on the host"
_MANY_RUNS = "n_seeds or a 1-D batch of keys trains many runs in one program"


def _keys(key: Any, n_seeds: int | None) -> tuple[jax.Array, bool]:
    """Per-seed keys ``(E,)`` and whether the result keeps a seed axis."""
    refuse_traced("key", key, _ON_HOST, f"pass a concrete key ({_MANY_RUNS})")
    if isinstance(key, (jax.Array, np.ndarray)):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            if key.ndim == 0:
                if n_seeds is None:
                    return key[None], False
                return jax.random.split(key, n_seeds), True
            if key.ndim == 1:
                if n_seeds is not None and n_seeds != key.shape[0]:
                    raise ValueError(
                        f"n_seeds: {n_seeds} disagrees with the batch of {key.shape[0]} keys"
                    )
                return key, True
        elif key.dtype == jnp.uint32 and key.shape == (2,):
            return _keys(jax.random.wrap_key_data(key), n_seeds)
    raise ValueError(
        "key: expected a typed PRNG key from jax.random.key(seed) or a 1-D batch of them "
        "(one per seed)"
    )


def _split_sizes(split: Any, n: int) -> tuple[int, int, int, bool]:
    if not isinstance(split, (tuple, list)) or len(split) not in (2, 3):
        raise ValueError(f"split: expected 2 or 3 fractions (train, [val,] test), got {split!r}")
    fr = []
    for i, f in enumerate(split):
        if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 < float(f) < 1:
            raise ValueError(f"split[{i}]: expected a fraction in (0, 1), got {f!r}")
        fr.append(float(f))
    if abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"split: fractions must sum to 1, got {sum(fr):.6g}")
    n_train = math.floor(fr[0] * n)
    if len(fr) == 2:
        return n_train, n - n_train, 0, True
    n_val = math.floor(fr[1] * n)
    return n_train, n_val, n - n_train - n_val, False


def _standardise(a: np.ndarray, name: str, dtype: np.dtype) -> np.ndarray:
    """Per-column standardisation with a streamed run's arithmetic (float64), cast to ``dtype``."""
    return standardise_array(a, column_stats(a, name, dtype), dtype)


def _streaming(stream: Any, x: Any, y: Any, dtype: np.dtype | None = None) -> bool:
    """Whether to stream the data from the host.

    ``stream`` itself when a bool; for ``"auto"``: x or y is a memmap, or they hold more than
    ``STREAM_BYTES`` together in the training dtype (``dtype``, or None: their float dtype).
    """
    if isinstance(stream, bool):
        return stream
    if not (isinstance(stream, str) and stream == "auto"):
        raise ValueError(f"stream: expected True, False or 'auto', got {stream!r}")
    if isinstance(x, np.memmap) or isinstance(y, np.memmap):
        return True
    size = 0
    for a in (x, y):
        if hasattr(a, "shape") and hasattr(a, "dtype") and not is_traced(a):
            size += math.prod(a.shape) * (dtype or float_dtype(like=a)).itemsize
    return size > STREAM_BYTES


def _diagnostics(curve: np.ndarray) -> tuple[bool, bool, bool]:
    """The training-curve flags of bmi on the recorded (non-NaN) part of one curve."""
    h = curve[~np.isnan(curve)]
    w = max(1, int(0.1 * h.size))
    if h.size < 2 * w + 1 or h.size < 10:
        return False, False, True
    smooth = np.convolve(h, np.ones(w) / w, mode="valid")
    final = smooth[-1]
    rising = bool(final > 1.05 * smooth[-1 - w]) if smooth.size > w else False
    decreased = bool(np.max(smooth) > 1.05 * final)
    return rising, decreased, False


class _Default:
    """The default of an option a preset may set: a value the caller did not pass.

    Passing the same value explicitly is then told apart from leaving the option out, so
    ``neural_mi(..., preset="bmi", max_steps=2000)`` runs 2,000 steps (a value equal to the
    plain default used to be taken for "not given" and replaced by the preset's 10,000).
    Shown as its value in signatures and ``help()``.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


def _apply_preset(preset: str | None, given: dict[str, Any]) -> dict[str, Any]:
    """The options with every one the caller left out (a :class:`_Default`) resolved.

    With a preset, those take the preset's setting; otherwise, and for options the preset does
    not set, the plain default. Options the caller passed are kept as passed.
    """
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset: must be None or one of {tuple(PRESETS)}, got {preset!r}")
    chosen = PRESETS[preset] if preset is not None else {}
    out = {}
    for name, value in given.items():
        if isinstance(value, _Default):
            value = chosen.get(name, value.value)
        out[name] = value
    return out


def _bound_names(bound: Any) -> tuple[tuple[str, ...], bool]:
    """The bounds to train and whether the result keeps a bound axis (a list was given)."""
    if isinstance(bound, str):
        names, many = (bound,), False
    elif isinstance(bound, (list, tuple)) and len(bound) > 0:
        names, many = tuple(bound), True
    else:
        raise ValueError(f"bound: expected a name or a non-empty list of names, got {bound!r}")
    for i, b in enumerate(names):
        if b not in BOUNDS:
            where = "bound" if not many else f"bound[{i}]"
            raise ValueError(f"{where}: must be one of {BOUNDS}, got {b!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"bound: names must be distinct, got {list(names)}")
    return names, many


#: what heavy-tailed columns did to the bounds (``benchmarks/neural_marginals.py``)
_HEAVY_TAILS = (
    "Standardised, their outliers stay far out, and the bounds that exponentiate the critic's "
    "scores break on them: on a 1.04-nat pair with x mapped to Cauchy marginals and y cubed, "
    "NWJ returned NaN for 5 seeds of 5, DV -1.07 and MINE -70 nats (medians), InfoNCE 0.75."
)


def neural_mi(
    key: Any,
    x: Any,
    y: Any,
    *,
    bound: str | Sequence[str] = "smile",
    critic: str = _Default("separable"),
    hidden: Sequence[int] = _Default((64, 64)),
    embed_dim: int = 32,
    marginal_terms: bool = False,
    activation: str | Callable[[jax.Array], jax.Array] = "relu",
    init: str = _Default("lecun"),
    batch_size: int = _Default(256),
    learning_rate: float = _Default(1e-3),
    optimizer: str | optax.GradientTransformation = _Default("adam"),  # noqa: B008
    max_steps: int = _Default(2000),
    eval_every: int = _Default(250),
    eval_batch: int | str | None = _Default(None),
    patience: int | None = _Default(2),
    split: Sequence[float] = _Default((0.5, 0.25, 0.25)),
    standardize: bool = _Default(True),
    marginals: str = "data",
    clip: float | None = 5.0,
    readout: str = "tuba1",
    momentum: float = 0.9,
    mine_init: str = "jaxmi",
    mine_negatives: str = "all_pairs",
    baseline: str | float = "learned",
    alpha_logit: float = 0.0,
    n_seeds: int | None = None,
    preset: str | None = None,
    stream: bool | str = "auto",
    progress: bool = False,
    dtype: Any = None,
) -> NeuralMIResult:
    """Estimate I(X; Y) by training a neural critic with a variational bound.

    The data are standardised per column, split at random into train / validation / test, and
    the critic is trained (Adam by default) on minibatches of ``batch_size`` pairs drawn without
    replacement from the training split at every step, maximising the bound's ``objective`` on
    the ``(K, K)`` score matrix ``scores[i, j] = f(x_i, y_j)`` (all K² pairs; the K(K−1)
    off-diagonal ones are the negatives). Every ``eval_every`` steps the bound is evaluated on
    the validation and test splits, each cut into disjoint batches of ``eval_batch`` (default
    ``batch_size``, so InfoNCE is capped at ``log batch_size`` there as in training). Training
    stops early when the validation value has not improved for ``patience`` evaluations (bmi's
    rule), and the checkpoint with the best validation value is kept. See
    :class:`NeuralMIResult` for the estimate rule (the test-split value at that checkpoint) and
    the diagnostics.

    **Upper bounds** (``"club"``, ``"l1out"``): the trained module is the variational
    conditional q(y|x) (:class:`jaxmi.nn.GaussianConditional`, MLP widths ``hidden``), fitted by
    maximum likelihood on the joint pairs; stopping and the checkpoint use the validation
    log-likelihood, and ``mi`` is the upper-bound estimate on the test split (an estimate, not a
    guaranteed bound, since q is learned).

    **TUBA and I_α** (``"tuba"``, ``"interpolated"``): with ``baseline="learned"`` the critic
    carries a baseline network ``log a(y)`` (:class:`jaxmi.nn.BaselineCritic`, MLP widths
    ``hidden``) trained jointly; a number is a constant ``log a`` (``1.0`` makes TUBA NWJ).
    ``alpha_logit`` is I_α's weight of the leave-one-out InfoNCE baseline (+∞: InfoNCE-like,
    −∞: TUBA; see :func:`jaxmi.bounds.interpolated`).

    **Many estimators in one program.** Several seeds (``n_seeds``, or a batch of keys) are
    vmapped on accelerators and run one after the other on CPU, where that is faster (a seed
    that has early-stopped then costs nothing more); a list of bounds trains one model per
    bound (same critic architecture) in the same compiled program, every bound from the same
    seed key (same split, initialisation of the shared architecture and minibatches), so it
    equals separate runs per bound; training goes on until every bound and seed has stopped.
    Changing the key, data values, ``learning_rate``, ``clip``, ``momentum``, ``alpha_logit``
    or a constant ``baseline`` does not recompile.

    Args:
        key: a typed PRNG key (``jax.random.key``), or a 1-D batch of keys (one per seed). Each
            seed's key decides its split, initialisation and minibatches.
        x: ``(N,)`` or ``(N, dx)`` samples of X. Training is in float32, or in float64
            (critic, optimizer, curves) when x or y is float64 and ``jax_enable_x64`` is on
            (``dtype`` chooses).
        y: ``(N,)`` or ``(N, dy)`` samples of Y (paired with x by row).
        bound: one of :data:`BOUNDS` — ``"infonce"``, ``"nwj"``, ``"dv"``, ``"js"`` (JS
            training, ``readout``), ``"smile"`` (JS training, DV read-out clipped at ``clip``),
            ``"mine"``, ``"tuba"``, ``"interpolated"``, ``"club"``, ``"l1out"`` — or a list of
            them (the result then has a leading bound axis).
        critic: ``"separable"``, ``"concat"`` or ``"bilinear"`` (see :mod:`jaxmi.nn`).
        hidden: hidden-layer widths of the critic's MLPs (bmi: ``(16, 8)`` concat); also of
            the baseline network and of q(y|x).
        embed_dim: embedding width of the separable and bilinear critics.
        marginal_terms: give the separable critic x-only and y-only terms,
            ``f = g(x)·h(y) + a(x) + b(y)`` (see :class:`jaxmi.nn.SeparableCritic`).
        activation: activation name or callable.
        init: ``"lecun"``, ``"torch"`` or ``"glorot"``.
        batch_size: K, the number of joint pairs per training minibatch.
        learning_rate: the optimiser's learning rate (bmi: 0.1 for its small concat critic).
        optimizer: a name in :data:`OPTIMIZERS` (``"adam"``, ``"adamw"``, ``"sgd"``,
            ``"rmsprop"``, built with ``learning_rate``) or an ``optax.GradientTransformation``
            (used as is; ``learning_rate`` is then ignored, and each new object compiles anew).
        max_steps: training steps at most. Evaluations come every ``eval_every`` steps and at
            ``max_steps`` (a last, shorter interval where it is not a multiple).
        eval_every: steps between evaluations; a value above ``max_steps`` is cut to
            ``max_steps`` (one evaluation, at the end).
        eval_batch: size of the disjoint evaluation batches of the validation and test splits:
            None (``batch_size``), an integer (capped at the smaller split's size, which is
            then one batch), or ``"all"`` (one batch of the whole split, as
            bmi; the score matrix is then built in row blocks of ``batch_size``, so memory is
            about ``split² + batch_size·split·width`` floats).
        patience: stop after this many evaluations without improvement (None: never stop
            early; the best-validation checkpoint is still selected).
        split: fractions ``(train, val, test)``; ``(train, test)`` evaluates and selects on the
            same split (bmi's protocol, optimistic).
        standardize: standardise every column before splitting (as bmi), in float64 on the
            values as given, then cast: a cast first keeps float32's 7 digits of data far from
            0 (``1.7e9 + 100 t`` kept 6 distinct values of 2,000). Values beyond float32's
            range (1e40, 1e-45) are then fine; with ``standardize=False`` they are refused.
        marginals: ``"data"`` (as bmi), or ``"normal_scores"``: every column of x and y is first
            replaced by the standard normal quantiles of its ranks, ``Phi^-1((r - 0.5) / N)``
            (tied values share their average rank). MI is unchanged by such strictly increasing
            maps of each column, and the critic no longer sees outliers: on independent
            standard Cauchy data the data's own columns left NaN or far-negative estimates
            (see the Warns section). It needs the whole columns, so not with a streamed run.
        clip: SMILE's τ (None: no clipping).
        readout: the JS read-out, ``"tuba1"`` (tight), ``"nwj"`` or ``"dv"``.
        momentum: MINE's moving-average weight β.
        mine_init: MINE's moving-average start, ``"jaxmi"`` or ``"bmi"``.
        mine_negatives: MINE's negatives: ``"all_pairs"`` (the K(K-1) off-diagonal scores) or
            ``"shuffled"`` (bmi's: one independent pairing per batch, ``(x_i, y_{i+1})``, 2K
            critic evaluations instead of K²). Other bounds always use all pairs.
        baseline: TUBA / I_α baseline: ``"learned"`` or a constant ``log a`` (nats).
        alpha_logit: I_α's ``logit(α)``.
        n_seeds: train this many seeds at once (keys ``jax.random.split(key, n_seeds)``).
        preset: None or ``"bmi"``: bmi's protocol (spec §5.1) — concat critic ``(16, 8)``
            with uniform ±1/√fan_in init, batch 256, Adam lr 0.1, 50/50 split, evaluation on the
            whole test half every 250 steps, patience 2, at most 10,000 steps, standardised
            data (see :data:`PRESETS`). Options passed explicitly override it (any value).
            bmi's returned number is ``max_val`` (with the two-way split ``mi`` selects the same
            evaluation).
        stream: keep x and y on the host and stream them to the device (``True``), copy them to
            the device whole (``False``), or ``"auto"``: stream when x or y is an ``np.memmap``
            or they take more than 1 GiB together (``jaxmi.neural._stream.STREAM_BYTES``, in
            the training dtype). A streamed run checks the values and takes the column
            statistics in row blocks without copying the data (a memmap larger than the host's
            memory works), sends one chunk of ``eval_every`` minibatches at a time
            (``E × eval_every × batch_size × (dx + dy)`` floats for ``E`` seeds) and the
            validation/test splits in groups of evaluation batches (an evaluation batch must fit
            on the device). It trains on the same minibatches in the same order as the in-memory
            program and gives the same result (to float rounding); it is slower for data that
            fit on the device (a host round trip per chunk). The host keeps each seed's
            permutation of the N rows (4 bytes per row and seed).
        progress: show a progress bar on stderr, one step per evaluation (``eval_every``
            training steps), with the validation value of the first bound (mean over seeds).
        dtype: ``"float32"`` or ``"float64"`` (which needs ``jax_enable_x64``) for the critic,
            the optimizer and the curves; None: float64 where x or y is float64 and x64 is on,
            else float32. The data are standardised in float64 before the cast either way.

    Returns:
        A :class:`NeuralMIResult` (nats); shapes ``([B,] [E,] ...)`` with ``B`` bounds when
        ``bound`` is a list and ``E`` seeds when several were trained.

    Raises:
        ValueError: malformed data or options (naming the argument), or traced ``x``/``y``
            (a call under ``jax.jit``/``jax.vmap``).

    Warns:
        RuntimeWarning: with ``marginals="data"`` (in memory), a column of x or y has heavy
            tails: its 0.5-99.5% quantile range exceeds 25 times its interquartile range (3.8
            for a Gaussian, about 62 for a Cauchy); the message has the measured damage and
            points to ``marginals="normal_scores"``.
        RuntimeWarning: a bound (and seed) with no finite validation value at any evaluation
            (training diverged from the start): its ``mi`` is NaN.
        RuntimeWarning: a bound (and seed) whose checkpoint is the first evaluation while the
            validation value fell after it by more than 0.1 nats (and 10%): the critic most
            likely overfit before the first evaluation (600 samples with the defaults: -0.43
            nats for a truth of 1.04); evaluate sooner (``eval_every``).
        RuntimeWarning: a lower bound (and seed) whose ``mi`` lies clearly below 0 nats, what a
            constant critic scores (by more than 0.1 nats and either 3 standard errors or 1
            nat): training diverged or overfit, and ``mi`` says nothing about the MI.
        RuntimeWarning: a lower bound (and seed) whose critic scored like a constant one
            (within 1e-5 nats of 0) at every evaluation although its training batches had
            reached more than 0.1 nats (a 25-step mean): training collapsed, and ``mi``
            (about 0) says nothing about the MI.
        RuntimeWarning: a lower bound (and seed) with ``mi`` at most 0.05 nats whose returned
            critic's scores hardly depend on which x goes with which y (sd of the
            double-centred score matrix on the first 256 rows below 1e-3 nats): an additive
            or constant critic with dead units reads at most about 0 under every lower bound,
            whatever the data (bmi's protocol at ``learning_rate=0.3``: 12 of 12 separable and
            bilinear runs on a 1.04-nat pair).
        RuntimeWarning: a lower bound (and seed) with ``mi`` at most 0.05 nats whose returned
            critic's pairing part (as above) varies by more than 5 nats, as a critic for
            several nats of MI would: training diverged (or fit noise or outliers), the test
            split does not share that structure, and ``mi`` is not evidence of independence
            (concat critics at learning rates 1 and 3 on a 1.04-nat pair: 12 of the 34 seeds
            that read at most 0.05 nats, at 0.0015-0.034 nats, none of them warned of as
            below zero or collapsed; ``benchmarks/neural_warnings.py``). Each seed is named
            once: as below zero, else as dead or diverged, else as collapsed.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmi
        >>> z = np.random.default_rng(0).multivariate_normal([0, 0], [[1, .8], [.8, 1]], 4000)
        >>> r = jaxmi.neural_mi(jax.random.key(0), z[:, 0], z[:, 1], bound="infonce",
        ...                     batch_size=128, learning_rate=3e-3)
        >>> round(float(r.mi), 1)  # truth 0.51 nats
        0.5
        >>> r = jaxmi.neural_mi(jax.random.key(0), z[:, 0], z[:, 1], bound=["nwj", "club"],
        ...                     batch_size=128, learning_rate=3e-3, max_steps=500)
        >>> r.mi.shape, r.bound  # one estimate per bound
        ((2,), ('nwj', 'club'))
    """
    o = _apply_preset(
        preset,
        {
            "critic": critic,
            "hidden": hidden,
            "init": init,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "optimizer": optimizer,
            "max_steps": max_steps,
            "eval_every": eval_every,
            "patience": patience,
            "split": split,
            "eval_batch": eval_batch,
            "standardize": standardize,
        },
    )
    keys, batched = _keys(
        key, None if n_seeds is None else check_int(n_seeds, "n_seeds", minimum=1)
    )
    names, many = _bound_names(bound)
    if o["critic"] not in CRITICS:
        raise ValueError(f"critic: must be one of {CRITICS}, got {o['critic']!r}")
    if o["init"] not in INITS:
        raise ValueError(f"init: must be one of {INITS}, got {o['init']!r}")
    if readout not in JS_READOUTS:
        raise ValueError(f"readout: must be one of {JS_READOUTS}, got {readout!r}")
    if mine_init not in MINE_INITS:
        raise ValueError(f"mine_init: must be one of {MINE_INITS}, got {mine_init!r}")
    if mine_negatives not in MINE_NEGATIVES:
        raise ValueError(f"mine_negatives: must be one of {MINE_NEGATIVES}, got {mine_negatives!r}")
    marginal_terms = check_bool(marginal_terms, "marginal_terms")
    if marginal_terms and o["critic"] != "separable":
        raise ValueError("marginal_terms: only the separable critic has them")
    o["standardize"] = check_bool(o["standardize"], "standardize")
    marginals = check_marginals(marginals)
    progress = check_bool(progress, "progress")
    opt = o["optimizer"]
    if isinstance(opt, str):
        if opt not in OPTIMIZERS:
            raise ValueError(f"optimizer: must be one of {tuple(OPTIMIZERS)}, got {opt!r}")
    elif not isinstance(opt, optax.GradientTransformation):
        raise ValueError(
            f"optimizer: expected a name or an optax.GradientTransformation, got {opt!r}"
        )
    learned = isinstance(baseline, str)
    if learned and baseline != "learned":
        raise ValueError(f"baseline: expected 'learned' or a number (log a), got {baseline!r}")
    log_a = 0.0 if learned else check_finite_scalar(baseline, "baseline")
    logit = check_finite_scalar(alpha_logit, "alpha_logit")
    act = resolve_activation(activation)
    widths = check_hidden(o["hidden"])
    emb = check_int(embed_dim, "embed_dim", minimum=1)
    k = check_int(o["batch_size"], "batch_size", minimum=2)
    every = check_int(o["eval_every"], "eval_every", minimum=1)
    steps = check_int(o["max_steps"], "max_steps", minimum=1)
    every = min(every, steps)  # max_steps=100 with the default 250 trained 250 steps
    n_chunks = -(-steps // every)
    pat = o["patience"]
    pat = n_chunks + 1 if pat is None else check_int(pat, "patience", minimum=1)
    lr = check_finite_scalar(o["learning_rate"], "learning_rate", positive=True)
    beta = check_finite_scalar(momentum, "momentum", nonnegative=True)
    if beta >= 1:
        raise ValueError(f"momentum: must be in [0, 1), got {beta}")
    tau = None if clip is None else check_finite_scalar(clip, "clip", positive=True)
    ev_opt = o["eval_batch"]
    if isinstance(ev_opt, str) and ev_opt != "all":
        raise ValueError(f"eval_batch: expected None, an integer or 'all', got {ev_opt!r}")
    if ev_opt is not None and not isinstance(ev_opt, str):
        ev_opt = check_int(ev_opt, "eval_batch", minimum=2)

    for name, a in (("x", x), ("y", y)):
        refuse_traced(name, a, _ON_HOST, f"pass concrete arrays ({_MANY_RUNS})")
    want = None if dtype is None else float_dtype(dtype)  # its errors before the data's
    streaming = _streaming(stream, x, y, want)
    if streaming and marginals != "data":
        raise ValueError(
            f"marginals: {marginals!r} ranks whole columns, which a streamed run does not hold; "
            "pass stream=False (or transform the columns beforehand)"
        )
    if streaming:
        xs, ys = host_matrix(x, "x"), host_matrix(y, "y")
        for name, a in (("x", xs), ("y", ys)):
            if a.shape[0] < 4:
                raise ValueError(f"{name}: needs at least 4 samples, got {a.shape[0]}")
    else:
        # validated; standardised and ranked from the values as given (float64), whose digits
        # a cast of data far from 0 loses, and which then fit the dtype whatever their range
        # (see column_stats): only unstandardised values are checked against it
        fits = not o["standardize"]
        dt = np.promote_types(  # one dtype: float64 y with float32 x failed
            *(
                as_data_matrix(a, nm, dtype=want, min_rows=4, host=True, check_overflow=fits).dtype
                for nm, a in (("x", x), ("y", y))
            )
        )
        xs, ys = host_matrix(x, "x"), host_matrix(y, "y")
        if marginals == "data":
            warn_heavy_tails([("x", xs), ("y", ys)], _HEAVY_TAILS)
        xs, ys = normal_scores(xs, marginals), normal_scores(ys, marginals)
    if xs.shape[0] != ys.shape[0]:
        raise ValueError(f"x, y: need the same number of samples, got {xs.shape[0]}, {ys.shape[0]}")
    if streaming:  # values checked and statistics taken in row blocks; no copy of the data
        dt = want or np.promote_types(float_dtype(like=xs), float_dtype(like=ys))
        host = tuple(
            (a, column_stats(a, name, dt, moments=o["standardize"]), dt)
            for name, a in (("x", xs), ("y", ys))
        )
    elif o["standardize"]:
        xs, ys = _standardise(xs, "x", dt), _standardise(ys, "y", dt)
    else:
        xs, ys = xs.astype(dt, copy=False), ys.astype(dt, copy=False)
    n = xs.shape[0]
    n_train, n_val, n_test, same = _split_sizes(o["split"], n)
    if k > n_train:
        fix = f"batch_size={n_train} or less" if n_train >= 2 else "a larger training fraction"
        raise ValueError(
            f"batch_size: {k} exceeds the {n_train} training samples (split {o['split']} of "
            f"{n}); pass {fix}, or more data"
        )
    eval_n = min(n_val, n_val if same else n_test)
    whole = ev_opt == "all"
    ev = eval_n if whole else min(k if ev_opt is None else ev_opt, eval_n)
    if ev < 2:
        raise ValueError(f"split: the validation/test splits of {n} samples are too small")

    st = _Static(
        bounds=names,
        critic=o["critic"],
        dim_x=xs.shape[1],
        dim_y=ys.shape[1],
        hidden=widths,
        embed_dim=emb,
        marginal_terms=marginal_terms,
        activation=act,
        init=o["init"],
        batch_size=k,
        eval_batch=ev,
        eval_block=k if whole else None,
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        same_val_test=same,
        eval_every=every,
        n_chunks=n_chunks,
        short_last=n_chunks * every != steps,
        patience=pat,
        readout=readout,
        clip_none=tau is None,
        mine_init=mine_init,
        mine_negatives=mine_negatives,
        learned_baseline=learned,
        optimizer=opt,
        progress=progress,
        seed_loop=jax.default_backend() == "cpu" if _SEED_LOOP is None else _SEED_LOOP,
    )
    dt = host[0][2] if streaming else xs.dtype
    hyper = {
        "learning_rate": jnp.asarray(lr, dt),
        "clip": jnp.asarray(5.0 if tau is None else tau, dt),
        "momentum": jnp.asarray(beta, dt),
        "log_baseline": jnp.asarray(log_a, dt),
        "alpha_logit": jnp.asarray(logit, dt),
        "max_steps": jnp.asarray(steps, jnp.int32),
    }
    label = f"neural_mi {'/'.join(names)}"
    with Progress(n_chunks, label, enabled=progress) as bar:
        _BAR[0] = bar if progress else None
        try:
            if streaming:
                carries, curves = _run_streamed(st, keys, host, hyper)
            else:
                start = _init_program(_init_static(st))(keys, hyper)
                carries, curves = _program(st)(start, jnp.asarray(xs), jnp.asarray(ys), hyper)
                jax.block_until_ready(carries)  # the bar's callbacks run before it closes
        finally:
            _BAR[0] = None
    n_eval_batches = (n_val if same else n_test) // ev
    per_bound = [
        _assemble(st, b, carry, curve, batched, steps)
        for b, carry, curve in zip(names, carries, curves, strict=True)
    ]
    _warn_no_checkpoint(names, per_bound, batched)
    _warn_overfit_before_first_eval(names, per_bound, batched, st)
    # each seed is named once: below zero, else dead or diverged (near 0), else collapsed
    below = _warn_below_zero(names, per_bound, batched, int(n_eval_batches))
    probe = _probe_rows(xs, ys, host if streaming else None)
    named = _warn_pairing(names, per_bound, batched, probe, skip=below)
    _warn_collapsed(names, per_bound, batched, skip=named)

    def field(name):
        if not many:
            return per_bound[0][name]
        return (
            tuple(r[name] for r in per_bound)
            if name in ("graphdef", "params")
            else (np.stack([r[name] for r in per_bound]))
        )

    return NeuralMIResult(
        **{name: field(name) for name in per_bound[0]},
        n_eval_batches=int(n_eval_batches),
        eval_steps=np.minimum((np.arange(n_chunks) + 1) * every, steps),
        bound=names if many else names[0],
    )


# one program for all leaves: indexing each leaf eagerly compiled a program per leaf (6 for
# the bmi critic, about 0.1 s of a first call)
_first_seed = jax.jit(lambda tree: jax.tree.map(lambda a: a[0], tree))


def _warn_no_checkpoint(names: tuple, per_bound: list[dict], batched: bool) -> None:
    """Warn (RuntimeWarning) for every bound and seed whose ``mi`` is NaN: never a silent NaN.

    Mostly no checkpoint was ever kept (``best_step`` 0: no evaluation gave a finite validation
    value, training diverged from the start, typically a learning rate too large for the
    critic); otherwise the test value at the checkpoint was not finite.
    """
    for name, fields in zip(names, per_bound, strict=True):
        nan = np.isnan(np.atleast_1d(fields["mi"]))
        for none, why in (
            (True, "no checkpoint: no evaluation gave a finite value (training diverged)"),
            (False, "a test value at its checkpoint that is not finite"),
        ):
            bad = np.flatnonzero(nan & ((np.atleast_1d(fields["best_step"]) == 0) == none))
            if bad.size:
                where = f" (seeds {bad.tolist()})" if batched else ""
                warnings.warn(
                    f"neural_mi: bound {name!r}{where} has {why}, so its mi is NaN; try a "
                    "smaller learning_rate (see the result's train_curve)",
                    RuntimeWarning,
                    stacklevel=user_stacklevel(),
                )


#: the validation value must fall after a first-evaluation checkpoint by more than this many
#: nats, and by more than this fraction of its magnitude, to warn of early overfitting
_OVERFIT_FALL = 0.1
#: a lower bound's estimate must lie below 0 by more than this many nats (and 3 standard
#: errors, or ``_FAR_BELOW``) to warn that the critic is worse than a constant one
_BELOW_ZERO = 0.1
#: ... or below 0 by more than this many nats, whatever the standard error
_FAR_BELOW = 1.0


def _warn_overfit_before_first_eval(
    names: tuple, per_bound: list[dict], batched: bool, st: _Static
) -> None:
    """Warn where the checkpoint is the first evaluation and the validation value then fell.

    The best critic then most likely lay before the first evaluation: on few training samples
    (600 samples: 300 for training, about one pass per step at batch 256) SMILE overfit within
    250 steps and returned -0.43 nats for a truth of 1.04, without a word.
    """
    every = st.eval_every
    for name, fields in zip(names, per_bound, strict=True):
        sel = np.atleast_2d(fields["select_curve"])
        best = np.atleast_1d(fields["best_step"])
        bad, falls = [], []
        for e in range(sel.shape[0]):
            finite = sel[e][~np.isnan(sel[e])]
            if best[e] != every or finite.size < 2:
                continue
            fall = float(finite[0] - finite[-1])
            if fall > max(_OVERFIT_FALL, _OVERFIT_FALL * abs(float(finite[0]))):
                bad.append(e)
                falls.append((float(finite[0]), float(finite[-1])))
        if not bad:
            continue
        where = f" (seeds {bad})" if batched else ""
        first, last = falls[0]
        passes = every * st.batch_size / max(st.n_train, 1)
        warnings.warn(
            f"neural_mi: bound {name!r}{where}: the checkpoint is the first evaluation (step "
            f"{every}) and the validation value fell after it ({first:.3g} -> {last:.3g}): the "
            f"critic probably overfit its {st.n_train} training samples before that evaluation "
            f"({passes:.0f} passes over them). Evaluate sooner (eval_every), train slower "
            "(learning_rate) or with a smaller critic, or use more data; see the result's "
            "val_curve.",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )


def _warn_below_zero(names: tuple, per_bound: list[dict], batched: bool, n_batches: int) -> dict:
    """Warn where a lower bound's ``mi`` lies clearly below 0, what a constant critic scores.

    Every lower bound here gives 0 nats for a constant critic (InfoNCE, DV, MINE, SMILE for any
    constant; NWJ, TUBA, interpolated and the JS read-out for the best one), so a checkpoint
    that scores the test split clearly below 0 is worse than no critic at all: ``mi`` then says
    nothing about the MI. Clearly: below 0 by more than ``_BELOW_ZERO`` nats and either by
    more than 3 standard errors across the test batches or by more than ``_FAR_BELOW`` nats
    (a test split read 1 nat worse than by a constant critic is no noise of a working one: a
    separable critic at learning rate 1 gave DV -3.0, -2.0 and -1.1 nats for a truth of 0.69,
    with batch sds that kept them within 3 standard errors). A learning rate of 1e6 returned
    -1.1e24 nats without a word. Returns ``{bound name: seeds warned of}``.
    """
    warned: dict[str, list[int]] = {}
    for name, fields in zip(names, per_bound, strict=True):
        if name in UPPER_BOUNDS:
            continue
        mi = np.atleast_1d(np.asarray(fields["mi"], np.float64))
        sd = np.atleast_1d(np.asarray(fields["mi_batch_std"], np.float64))
        se = np.where(np.isfinite(sd), sd, 0.0) / np.sqrt(max(n_batches, 1))
        clear = (mi + 3 * se < 0) | (mi < -_FAR_BELOW)
        bad = np.flatnonzero(np.isfinite(mi) & (mi < -_BELOW_ZERO) & clear)
        if not bad.size:
            continue
        warned[name] = bad.tolist()
        where = f" (seeds {bad.tolist()})" if batched else ""
        warnings.warn(
            f"neural_mi: bound {name!r}{where} estimates {mi[bad[0]]:.3g} nats, clearly below "
            "the 0 nats of a constant critic: the trained critic scores the test split worse "
            "than no critic, so mi says nothing about the MI. Training probably diverged or "
            "overfit: try a smaller learning_rate, a smaller critic or more data (see the "
            "result's train_curve and val_curve).",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )
    return warned


#: validation values within this many nats of 0 at every evaluation: a constant critic
_FLAT = 1e-5
#: ... while the training batches, averaged over ``_COLLAPSE_WINDOW`` steps, had reached this
_COLLAPSE_TRAIN = 0.1
_COLLAPSE_WINDOW = 25


#: a critic whose scores vary with the pairing of x and y by less than this many nats (sd of
#: the double-centred score matrix) on the probe rows cannot tell pairs from other pairs
_DEAD = 1e-3
#: ... checked only where ``mi`` is at most this: such a critic reads <= 0 under every bound
_DEAD_GATE = 0.05
#: a pairing part this large (nats) is what a critic for several nats of MI has (sqrt(6) =
#: 2.45 for the optimal critic of the 1.04-nat 3-D Gaussian pair quoted below); with ``mi`` at
#: most ``_DEAD_GATE`` it is structure the test split does not share: a diverged critic
_WILD = 5.0
_PROBE_ROWS = 256


def _probe_rows(xs: np.ndarray, ys: np.ndarray, host: tuple | None) -> tuple:
    """The first ``_PROBE_ROWS`` rows of x and y as the critic saw them (standardised)."""
    m = min(_PROBE_ROWS, xs.shape[0])
    if host is None:
        return xs[:m], ys[:m]
    return tuple(standardise_rows(a[:m], stats, dt) for a, stats, dt in host)


@functools.partial(jax.jit, static_argnums=0)
def _pairing_sd(graphdef, params, x, y):
    """The sd of the critic's ``scores[i, j]`` after removing row and column means.

    That is the part of the scores that depends on which x goes with which y.
    """
    s = nnx.merge(graphdef, params).scores(x, y)
    s = s - jnp.mean(s, axis=1, keepdims=True)
    return jnp.std(s - jnp.mean(s, axis=0, keepdims=True))


def _warn_pairing(
    names: tuple, per_bound: list[dict], batched: bool, probe: tuple, skip: dict | None = None
) -> dict:
    """Warn where an estimate near 0 comes from a critic that is dead or diverged.

    The pairing part of the critic's scores (:func:`_pairing_sd`, on the probe rows: the first
    ``_PROBE_ROWS`` of the data as the critic saw them) is read for results with
    ``mi <= _DEAD_GATE`` only, so a run that found dependence pays nothing, and not for the
    seeds in ``skip`` (already warned of as below zero).

    * **Dead** (sd below ``_DEAD``): a critic ``f(x, y) = g(x) + h(y)`` (an additive one, or a
      constant) gives every lower bound here the value it has under the product of the
      marginals, where the MI is 0, so ``mi`` is at most about 0 whatever the data, and the
      critic cannot learn more: its units are dead. With ``learning_rate=0.3`` (bmi's protocol
      otherwise) the separable and bilinear critics ended so in 12 of 12 runs on a 3-D Gaussian
      pair with 1.04 nats, returning 0.000 nats without a word (2026-11-24); at 0.1 their
      pairing sd was 0.33-2.8 nats, and on independent data a live critic's was 0.2-0.4.
    * **Diverged** (sd above ``_WILD``): scores that swing with the pairing by more than 5
      nats, as a critic for several nats of MI would, while the test split reads about 0: the
      structure is not the data's. ``benchmarks/neural_warnings.py`` (2026-11-25): at
      learning rates 1 and 3 (concat critics, five bounds, three seeds each, a 3-D Gaussian
      pair with 1.04 nats) 34 seeds read at most 0.05 nats: 13 below zero, 4 dead, and 12
      with pairing sds of 8.6-206 nats that read 0.0015-0.034 nats with no below-zero or
      collapse warning (3 had the overfitting one); 5 at 0.96-2.4 nats are named by none.
      At sane rates (1e-3 and bmi's 0.1) live critics on independent or weakly dependent
      Gaussian data stayed within 0.16-1.3 nats; on standardised Cauchy pairs (outliers) one
      seed of 40 passed 5 nats without reading below zero (8.3 nats, mi -0.07).

    Returns ``{bound name: seeds warned of}``.
    """
    warned: dict[str, list[int]] = {}
    px, py = (jnp.asarray(a) for a in probe)
    for name, fields in zip(names, per_bound, strict=True):
        if name in UPPER_BOUNDS:
            continue
        mi = np.atleast_1d(np.asarray(fields["mi"], np.float64))
        sds = {}
        for e in np.flatnonzero(np.isfinite(mi) & (mi <= _DEAD_GATE)):
            if e in (skip or {}).get(name, ()):
                continue
            params = fields["params"]
            if batched:
                params = jax.tree.map(lambda a, e=e: a[e], params)
            sds[int(e)] = float(_pairing_sd(fields["graphdef"], params, px, py))
        dead = [e for e, sd in sds.items() if sd < _DEAD]
        # a NaN or inf sd (overflowing scores) is as diverged as a large one
        wild = [e for e, sd in sds.items() if not sd <= _WILD]
        for bad, why in (
            (
                dead,
                "the trained critic's scores do not depend on which x goes with which y (their "
                "pairing part varies by {sd:.2g} nats): it is additive or constant, its units "
                "dead, so every lower bound reads at most about 0 from it whatever the data, "
                "and mi ({mi:.3g} nats) is not evidence of independence. This happens at too "
                "large a learning_rate: try a smaller one, or another key.",
            ),
            (
                wild,
                "the trained critic's scores swing with which x goes with which y by {swing} "
                "(sd of their pairing part), as a critic for several nats of MI would, yet "
                "it reads {mi:.3g} nats on the test split: its structure is not the data's. "
                "Training diverged (too large a learning_rate) or fit noise or outliers, so mi "
                "is not evidence of independence: try a smaller learning_rate, another key, or "
                "look for heavy tails in the data.",
            ),
        ):
            if not bad:
                continue
            warned.setdefault(name, []).extend(bad)
            where = f" (seeds {bad})" if batched else ""
            sd = sds[bad[0]]
            swing = f"{sd:.3g} nats" if np.isfinite(sd) else "more than float32 holds"
            msg = why.format(sd=sd, swing=swing, mi=mi[bad[0]])
            warnings.warn(
                f"neural_mi: bound {name!r}{where}: {msg}",
                RuntimeWarning,
                stacklevel=user_stacklevel(),
            )
    return warned


def _warn_collapsed(
    names: tuple, per_bound: list[dict], batched: bool, skip: dict | None = None
) -> None:
    """Warn where the critic was constant at every evaluation after training found dependence.

    A constant critic scores 0 nats under every lower bound here (see
    :func:`_warn_below_zero`), so ``mi`` is then 0 to rounding whatever the data. That is the
    right answer when training finds no dependence, but not when the training batches had
    already shown some: then the critic collapsed before the first evaluation. With bmi's
    protocol (learning rate 0.1) one of 24 MINE runs on the spiral task reached 0.51 nats on its
    training batches by step 180 and then scored exactly 0 at every evaluation (none of the 8
    ReLU units of its second hidden layer was active on any sample), returning 4.5e-7 nats
    for a truth of 1.02 without a word.
    Collapsed: every finite validation value within ``_FLAT`` nats of 0 and some
    ``_COLLAPSE_WINDOW``-step mean of the training curve above ``_COLLAPSE_TRAIN`` nats.
    """
    for name, fields in zip(names, per_bound, strict=True):
        if name in UPPER_BOUNDS:
            continue
        val = np.atleast_2d(np.asarray(fields["val_curve"], np.float64))
        train = np.atleast_2d(np.asarray(fields["train_curve"], np.float64))
        bad, peaks = [], []
        for e in range(val.shape[0]):
            if e in (skip or {}).get(name, ()):  # warned of by _warn_pairing already
                continue
            v = val[e][~np.isnan(val[e])]
            h = train[e][~np.isnan(train[e])]
            if not v.size or np.max(np.abs(v)) > _FLAT or h.size < _COLLAPSE_WINDOW:
                continue
            w = _COLLAPSE_WINDOW
            peak = float(np.max(np.convolve(h, np.ones(w) / w, mode="valid")))
            if peak > _COLLAPSE_TRAIN:
                bad.append(e)
                peaks.append(peak)
        if not bad:
            continue
        where = f" (seeds {bad})" if batched else ""
        warnings.warn(
            f"neural_mi: bound {name!r}{where}: the critic scored like a constant one at every "
            f"evaluation (validation values within {_FLAT:g} nats of 0) although its training "
            f"batches had reached {peaks[0]:.3g} nats: training collapsed before the first "
            "evaluation (at a large learning rate, typically when no ReLU unit of the critic "
            "responds any more), so mi (about 0) says nothing about the MI. Try a smaller "
            "learning_rate or another key (see the result's train_curve and val_curve).",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )


def _assemble(
    st: _Static, bound: str, carry: dict, curves: tuple, batched: bool, max_steps: int
) -> dict:
    """One bound's result fields (leading seed axis only if ``batched``)."""
    train_c, val_c, test_c, sel_c = (np.array(a) for a in curves)
    stopped = np.asarray(carry["stopped"])
    stop_chunk = np.asarray(carry["stop_chunk"])
    best_chunk = np.asarray(carry["best_chunk"])
    every = st.eval_every
    # the programs return 0 where nothing was recorded (jax_debug_nans flags NaN outputs): the
    # chunks after a seed stopped, and the best test value of a run that never improved
    for e, last in enumerate(stop_chunk.reshape(-1)):
        train_c[e, (last + 1) * every :] = np.nan
        for a in (val_c, test_c, sel_c):
            a[e, last + 1 :] = np.nan
    train_c = train_c[..., :max_steps]  # the last chunk's steps past max_steps (masked)
    never = best_chunk < 0
    best_test = np.where(never, np.nan, np.asarray(carry["best_test"]))
    best_test_std = np.where(never, np.nan, np.asarray(carry["best_test_std"]))
    flags = np.array([_diagnostics(c) for c in train_c], dtype=bool).reshape(-1, 3)
    stop_val = np.array([v[~np.isnan(v)][-1] if np.any(~np.isnan(v)) else np.nan for v in val_c])

    def out(a):
        a = np.asarray(a)
        return a if batched else a[0]

    params = carry["best_params"]
    if not batched:
        params = _first_seed(params)
    graphdef = _graphdef(st, bound)
    return {
        "mi": out(best_test),
        "mi_batch_std": out(best_test_std),
        "max_val": out(carry["max_val"]),
        "stop_val": out(stop_val),
        "best_step": out(np.minimum((best_chunk + 1) * every, max_steps)),
        "stop_step": out(np.minimum((stop_chunk + 1) * every, max_steps)),
        "train_curve": out(train_c),
        "val_curve": out(val_c),
        "test_curve": out(test_c),
        "select_curve": out(sel_c),
        "early_stopped": out(stopped),
        "still_rising": out(flags[:, 0]),
        "curve_decreased": out(flags[:, 1]),
        "too_short": out(flags[:, 2]),
        "graphdef": graphdef,
        "params": params,
    }
