"""What every benchmark records about its run, and how it writes its JSON."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path


def environment() -> dict:
    """``device`` (backend, kind, processor, cores, load) and ``versions`` of a benchmark run."""
    import jax

    import jaxmi

    return dict(
        device=dict(
            backend=jax.default_backend(),
            kind=jax.devices()[0].device_kind,
            processor=platform.processor() or platform.machine(),
            cpu_count=os.cpu_count(),
            # 1/5/15-minute load when the results were written: timings on a shared machine
            # are only comparable side by side within one run
            load_average=[round(x, 2) for x in os.getloadavg()],
        ),
        versions=dict(
            jax=jax.__version__, jaxmi=jaxmi.__version__, python=platform.python_version()
        ),
    )


def write_results(path: str | os.PathLike, out: dict) -> None:
    """Write ``out`` as indented JSON to ``path`` (creating its folder) and say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


def best_time(fn, reps: int) -> float:
    """Fastest of ``reps`` calls of ``fn`` (seconds), each waited for with block_until_ready."""
    import jax

    out = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        out.append(time.perf_counter() - t)
    return min(out)
