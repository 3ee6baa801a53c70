"""The ``jaxmi`` command line.

Subcommands:

* ``jaxmi benchmark``: GMM-MI on tasks with known mutual information (the main job): a table of
  truth, estimate ± std, error in std units and time, plus ``jaxmi_benchmark.json`` and
  ``jaxmi_benchmark.png``.
* ``jaxmi demo``: a short tour of the batched GMM engine (fit K = 1..6 to a known 2-D mixture
  with one compiled program, pick K by held-out log-likelihood, report timings).
* ``jaxmi mi FILE --x COLS --y COLS [--z COLS]``: mutual information (or, with ``--z``,
  conditional mutual information) between column groups of a ``.npy``, ``.npz`` or ``.csv``
  file, with bootstrap error bars (GMM-MI); ``--categorical`` for a class-label Y, ``--bits``,
  ``--json``, ``--out result.json`` (read back with ``jaxmi.gmm.load_result``).
  ``jaxmi mi --help`` documents the file formats and the column syntax.
"""

from __future__ import annotations

import argparse
import sys
import time


def _refused(prog: str, checks: list[tuple[bool, str]]) -> bool:
    """Print ``prog: error: message`` for the first failed check; True if one failed."""
    for bad, message in checks:
        if bad:
            print(f"{prog}: error: {message}", file=sys.stderr)
            return True
    return False


def _demo(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxmi
    from jaxmi.gmm import GMM

    if _refused(
        "jaxmi demo",
        [
            (args.max_components < 1, f"--max-components: must be >= 1, got {args.max_components}"),
            (args.n_init < 1, f"--n-init: must be >= 1, got {args.n_init}"),
            (args.seed < 0, f"--seed: must be >= 0, got {args.seed}"),
            (  # a 2-D component needs 3 points; fewer gave fits of reg_covar alone
                args.n < 3 * max(args.max_components, 1),
                f"--n: {args.max_components} components in 2-D need at least "
                f"{3 * max(args.max_components, 1)} training points (3 per component), "
                f"got {args.n}",
            ),
        ],
    ):
        return 2

    # The D3 mixture of the GMM-MI paper (weights, means, covariances).
    truth = GMM.create(
        jnp.array([0.3, 0.45, 0.25]),
        jnp.array([[-1.0, 1.0], [0.0, 2.0], [-1.5, 2.0]]),
        jnp.array([[[1.0, 0.0], [0.0, 0.1]], [[0.5, 0.2], [0.2, 0.5]], [[0.1, 0.05], [0.05, 0.1]]]),
    )
    key = jax.random.key(args.seed)
    k_data, k_fit = jax.random.split(key)
    x = jaxmi.gmm.sample(k_data, truth, 2 * args.n)
    train, valid = x[: args.n], x[args.n :]
    print(
        f"jaxmi {jaxmi.__version__} on {jax.default_backend()}: fitting N={args.n} points "
        f"drawn from a 3-component 2-D mixture (the GMM-MI paper's D3)"
    )
    print(f"{'K':>3} {'train ll':>10} {'valid ll':>10} {'iters':>6} {'conv':>5} {'time s':>7}")
    best_k, best_valid = 0, -np.inf
    for k in range(1, args.max_components + 1):
        t0 = time.perf_counter()
        res = jaxmi.gmm.fit(k_fit, train, k, n_init=args.n_init, k_cap=args.max_components)
        jax.block_until_ready(res)
        dt = time.perf_counter() - t0
        v = float(jnp.mean(jaxmi.gmm.log_prob(res.gmm, valid)))
        print(
            f"{k:>3} {float(res.log_likelihood):>10.4f} {v:>10.4f} {int(res.n_iter):>6} "
            f"{bool(res.converged)!s:>5} {dt:>7.3f}"
        )
        if v > best_valid + 1e-5:
            best_k, best_valid = k, v
    true_ll = float(jnp.mean(jaxmi.gmm.log_prob(truth, valid)))
    print(
        f"selected K = {best_k} (held-out ll {best_valid:.4f} nats/sample; "
        f"true mixture {true_ll:.4f}). One compiled program served every K (k_cap masking): "
        "the first row includes compilation."
    )
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    import jaxmi
    from jaxmi._benchmark import DEFAULT_TASKS, run_benchmark
    from jaxmi.tasks._registry import unknown_task

    if args.list:
        print("\n".join(jaxmi.tasks.names()))
        return 0
    names = DEFAULT_TASKS if args.tasks is None else [t for t in args.tasks.split(",") if t]
    known = set(jaxmi.tasks.names())
    if _refused(
        "jaxmi benchmark",
        [
            (not names, f"--tasks: no task ids in {args.tasks!r}"),
            (  # run_benchmark allows fewer (rows without error bars); the table is about them
                args.n_bootstrap < 2,
                "--n-bootstrap: the error bars (and err/std) need at least 2 bootstrap "
                f"replicates, got {args.n_bootstrap}",
            ),
        ],
    ):
        return 2
    for name in names:  # before any work, in the command line's own terms
        if name not in known:
            print(
                f"jaxmi benchmark: error: --tasks: {unknown_task(name)} "
                f"('jaxmi benchmark --list' lists all {len(known)})",
                file=sys.stderr,
            )
            return 2
    try:
        try:
            seeds = [int(v) for v in args.seeds.split(",") if v]
        except ValueError:
            seeds = []
        if not seeds or min(seeds) < 0:
            raise ValueError(f"--seeds: expected non-negative integers, got {args.seeds!r}")
        run_benchmark(
            names,
            n=args.n,
            seeds=seeds,
            options=dict(
                n_bootstrap=args.n_bootstrap,
                **({} if args.mc_samples is None else {"mc_samples": args.mc_samples}),
                **({"marginals": "normal_scores"} if args.normal_scores else {}),
            ),
            out=args.out,
        )
    except ValueError as err:
        text = str(err)
        for name, flag in (  # run_benchmark's and gmm_mi's names of the flags' values
            ("n: ", "--n: "),
            ("out: ", "--out: "),
            ("n_bootstrap: ", "--n-bootstrap: "),
            ("mc_samples: ", "--mc-samples: "),
        ):
            if text.startswith(name):
                text = flag + text[len(name) :]
        print(f"jaxmi benchmark: error: {text}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jaxmi`` command."""
    import jaxmi

    parser = argparse.ArgumentParser(
        prog="jaxmi", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"jaxmi {jaxmi.__version__}")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="tour of the batched GMM engine")
    demo.add_argument("--n", type=int, default=5000, help="training samples (default 5000)")
    demo.add_argument("--max-components", type=int, default=6)
    demo.add_argument("--n-init", type=int, default=3)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    from jaxmi import _cli_mi

    mi = sub.add_parser(
        "mi",
        help="mutual information between columns of a data file",
        description=_cli_mi.DESCRIPTION,
        epilog=_cli_mi.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _cli_mi.add_arguments(mi)
    mi.set_defaults(func=_cli_mi.run)
    bench = sub.add_parser(
        "benchmark", help="GMM-MI against tasks with known mutual information (main job)"
    )
    bench.add_argument(
        "--tasks", default=None, help="comma-separated task ids (default: 8 low-dim tasks)"
    )
    bench.add_argument("--list", action="store_true", help="list the task ids and exit")
    bench.add_argument("--n", type=int, default=2000, help="samples per task (default 2000)")
    bench.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    bench.add_argument("--n-bootstrap", type=int, default=50)
    bench.add_argument(
        "--mc-samples",
        type=int,
        default=None,
        help="integrate by plain Monte Carlo with this many draws (default: RQMC)",
    )
    bench.add_argument(
        "--normal-scores",
        action="store_true",
        help="fit the normal scores of each column's ranks (marginals='normal_scores')",
    )
    bench.add_argument("--out", default=".", help="directory for the JSON and PNG (default .)")
    bench.set_defaults(func=_benchmark)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
