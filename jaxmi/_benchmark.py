"""``jaxmi benchmark``: GMM-MI against the ground truth of :mod:`jaxmi.tasks`."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

__all__ = ["DEFAULT_TASKS", "run_benchmark"]

#: Low-dimensional bmi tasks and GMM-MI paper distributions (continuous X and Y).
DEFAULT_TASKS = (
    "1v1-normal-0.75",
    "gmmmi-normal-0.6-cube",
    "multinormal-dense-2-2-0.5",
    "1v1-X-0.9",
    "gmmmi-D3",
    "gmmmi-D5p",
    "gamma-exponential-1.0",
    "weinman-1.0",
)


def run_benchmark(
    task_names: Sequence[str] = DEFAULT_TASKS,
    *,
    n: int = 2000,
    seeds: Sequence[int] = (0,),
    options: dict | None = None,
    out: str | Path | None = None,
    echo: bool = True,
) -> list[dict[str, Any]]:
    """Run :func:`jaxmi.gmm_mi` on tasks with known MI and compare with the truth.

    Args:
        task_names: ids from :func:`jaxmi.tasks.names` (continuous X and Y).
        n: samples per task and seed.
        seeds: data/estimator seeds; each gives one row per task.
        options: options passed to :func:`jaxmi.gmm_mi` (e.g. ``n_bootstrap``).
        out: directory for ``jaxmi_benchmark.json`` and ``jaxmi_benchmark.png`` (None: no files).
        echo: print a table while running.

    Returns:
        One dict per (task, seed): ``task``, ``seed``, ``n``, ``dim_x``, ``dim_y``, ``truth``,
        ``estimate``, ``std``, ``z`` (error in units of std), ``n_components``, ``seconds``.

    Example:
        >>> from jaxmi._benchmark import run_benchmark
        >>> rows = run_benchmark(["1v1-normal-0.75"], n=500, echo=False,
        ...                      options=dict(n_bootstrap=5, mc_samples=5000))
        >>> abs(rows[0]["estimate"] - rows[0]["truth"]) < 0.1
        True
    """
    import jaxmi

    tasks = [jaxmi.tasks.get(name) for name in task_names]
    for t in tasks:
        if (
            getattr(t, "x_kind", "continuous") != "continuous"
            or getattr(t, "y_kind", "continuous") != "continuous"
        ):
            raise ValueError(f"tasks: {t.name!r} has a discrete variable; gmm_mi needs continuous")
    from jaxmi._validation import check_int
    from jaxmi.gmm._mi import _checked_options, _resolve_options

    n = check_int(n, "n", minimum=1)
    options = dict(options or {})
    _checked_options(dict(options))  # before any work: the options' own errors first
    for t in tasks:  # then the sizes, per task (a 2x2 task needs more samples than a 1x1)
        try:
            _resolve_options(dict(options), n, t.dim_x + t.dim_y, "x, y")
        except ValueError as err:
            raise ValueError(f"n: too small for task {t.name!r} ({err})") from err
    if out is not None:
        out = Path(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"out: cannot create the directory {out} ({err.strerror})") from err
        if not os.access(out, os.W_OK):
            raise ValueError(f"out: the directory {out} is not writable")
    rows = []
    if echo:
        print(
            f"GMM-MI on {len(tasks)} task(s), N={n}, seeds {list(seeds)} "
            f"({jax.default_backend()}; the first row of each shape includes compilation)"
        )
        print(
            f"{'task':44s} {'dims':>5s} {'truth':>8s} {'estimate':>17s} {'err/std':>8s} "
            f"{'K*':>3s} {'time s':>7s}"
        )
    for seed in seeds:
        for t in tasks:
            key = jax.random.fold_in(jax.random.key(seed), 0)
            x, y = t.sample(key, n)
            t0 = time.perf_counter()
            res = jaxmi.gmm_mi(jax.random.fold_in(jax.random.key(seed), 1), x, y, **options)
            est = float(res.mi)
            std = float(res.std) if res.std is not None else float("nan")
            dt = time.perf_counter() - t0
            z = (est - t.mi) / std if std > 0 else float("nan")
            row = dict(
                task=t.name,
                seed=seed,
                n=n,
                dim_x=t.dim_x,
                dim_y=t.dim_y,
                truth=t.mi,
                estimate=est,
                std=std,
                z=z,
                n_components=int(res.n_components),
                seconds=dt,
            )
            rows.append(row)
            if echo:
                bar = f"{std:6.4f}" if math.isfinite(std) else f"{'—':>6s}"
                err = f"{z:8.2f}" if math.isfinite(z) else f"{'—':>8s}"
                print(
                    f"{t.name:44s} {t.dim_x:>2d}x{t.dim_y:<2d} {t.mi:8.4f} "
                    f"{est:8.4f} ± {bar} {err} {row['n_components']:3d} {dt:7.2f}",
                    flush=True,
                )
    if echo and rows:
        zs = np.array([r["z"] for r in rows])
        has = np.isfinite(zs)
        if has.all():
            within = f"|error| < 2 std in {np.mean(np.abs(zs) < 2):.0%} of rows; "
        elif not has.any():
            within = "no error bars (n_bootstrap < 2); "
        else:
            within = (
                f"|error| < 2 std in {int(np.sum(np.abs(zs[has]) < 2))} of the "
                f"{int(has.sum())} rows with error bars; "
            )
        print(f"{within}total {sum(r['seconds'] for r in rows):.1f} s")
    if out is not None:
        meta = dict(
            n=n,
            seeds=list(seeds),
            options={k: v for k, v in options.items()},
            backend=jax.default_backend(),
            jaxmi=jaxmi.__version__,
        )
        clean = [{k: _jsonable(v) for k, v in r.items()} for r in rows]
        (out / "jaxmi_benchmark.json").write_text(
            json.dumps(dict(meta=meta, rows=clean), indent=2, allow_nan=False)
        )
        import matplotlib

        matplotlib.use("Agg")
        ax = jaxmi.plot.plot_benchmark(rows)
        ax.figure.savefig(out / "jaxmi_benchmark.png", dpi=120, bbox_inches="tight")
        if echo:
            print(f"wrote {out / 'jaxmi_benchmark.json'} and {out / 'jaxmi_benchmark.png'}")
    return rows


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # strict JSON has no NaN
    return v
