"""Test-session set-up: shared helpers importable, jaxmi's export cache off.

The shared test helpers in this folder (``_multiprocess``) become importable by test files.

Under ``--import-mode=importlib`` pytest puts no test folder on ``sys.path``, so test files
cannot import a sibling module; this conftest (loaded before any test file below it, in every
xdist worker too) adds this folder once.
"""

import os
import sys

import jax

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# Programs exported by one xdist worker (or an earlier run) would let another skip tracing, so
# trace-count assertions would depend on test order. tests/test_compile.py turns it on itself.
os.environ.setdefault("JAXMI_EXPORT_CACHE", "0")

# jaxmi broadcasts explicitly, so it runs for users who set jax_numpy_rank_promotion="raise" (as
# JAX's own tests do); the whole suite holds it to that, subprocesses too (the environment
# variable, read when they import JAX). A first run under "raise" stopped at 200 failures.
os.environ.setdefault("JAX_NUMPY_RANK_PROMOTION", "raise")
jax.config.update("jax_numpy_rank_promotion", os.environ["JAX_NUMPY_RANK_PROMOTION"])

# On GPUs JAX multiplies float32 matrices in TF32 by default (about 1e-3 relative error). The tests
# hold jaxmi to restatements in NumPy at float32 tolerances, so on an accelerator they run at full
# float32 precision; CPU has no other. A whole-suite run on an H200 at the default precision
# (2026-11-24) failed 25 such comparisons; its GMM-MI tests passed at TF32 too.
if jax.default_backend() != "cpu":
    jax.config.update("jax_default_matmul_precision", "highest")

# pytest -n 2 already keeps both cores busy: EM parts on host threads would only contend with the
# other worker. tests/gmm/test_em.py turns the threads on where it checks them.
os.environ.setdefault("JAXMI_HOST_THREADS", "1")

# Scheduling hint for pytest-xdist (`--dist loadfile --no-loadscope-reorder` in pyproject.toml):
# whole files go to the two workers longest first, so a run does not end with one worker on a
# long file while the other idles (xdist's own order, by number of tests, sent the notebooks and
# the subprocess tests last). Seconds per file of one `pytest -n 2 --durations=0` on a loaded
# 2-core host (2026-11-23); only the order matters, files not listed come after, as collected.
_SECONDS = {
    "tests/gmm/test_em.py": 275,
    "tests/gmm/test_mi.py": 238,
    "tests/gmm/test_integrate.py": 118,
    "tests/test_notebooks.py": 105,
    "tests/test_package.py": 102,
    "tests/nn/test_critics.py": 99,
    "tests/gmm/test_sharding.py": 84,
    "tests/neural/test_neural_mi.py": 79,
    "tests/bounds/test_lower.py": 78,
    "tests/nn/test_pairwise.py": 64,
    "tests/neural/test_upper_baseline_preset.py": 63,
    "tests/neural/test_many_bounds.py": 55,
    "tests/tasks/test_samples.py": 55,
    "tests/gmm/test_io.py": 42,
    "tests/attribution/test_sharding.py": 37,
    "tests/attribution/test_it_maps.py": 36,
    "tests/tasks/test_transforms.py": 32,
    "tests/test_dtype_promotion.py": 28,  # added 2026-11-25 (a CI-like run: 28 s)
    "tests/tasks/test_mc.py": 32,
    "tests/test_cli_mi.py": 32,
    "tests/attribution/test_metrics.py": 31,
    "tests/attribution/test_samplers.py": 31,
    "tests/neural/test_streaming.py": 28,
    "tests/test_docstrings.py": 10,
}


def pytest_collection_modifyitems(session, config, items):
    """Order the collected tests by file, longest file first (a file's own order is kept)."""
    items.sort(key=lambda item: -_SECONDS.get(item.nodeid.split("::")[0], 0))
