"""``jax.jit`` with XLA options chosen per program, on the CPU backend.

A fresh process spends most of a first GMM-MI estimate compiling (XLA:CPU took 6.5 s of an
8.4 s first call for a bivariate Gaussian). Two XLA:CPU options shorten it:

* ``xla_cpu_use_fusion_emitters=False``: the older loop emitters compile markedly faster;
* ``xla_backend_optimization_level=1``: LLVM at -O1.

Programs come in two kinds:

* ``"light"``: programs that run once per call for little time (initialisations, held-out
  scores, closed-form single Gaussians, key derivation): both options. A first estimate in a
  fresh process went from 8.4 s to 6.3 s (bivariate Gaussian) and from 12.4 s to 8.3 s (cube
  transform), with no measurable change in a steady-state estimate (2-core CPU).
* ``"hot"``: the EM loops and the integrals, where a steady estimate spends its time: default
  options. -O1 made them up to 1.8x slower. The loop emitters would save another 1-2 s of
  compilation, but they round float32 reductions differently at different component
  capacities, so a fit's EM stopped one iteration apart at capacities 3 and 4 (means 3e-3
  apart; ``tests/gmm/test_em.py::test_masked_capacity_gives_the_same_fit``).

The options change code generation, not the computation. Other backends, and calls under a
user's ``jit``/``vmap`` (JAX takes compiler options on top-level programs only), get the default
options. ``JAXMI_COMPILER_OPTIONS=0`` (read at import) turns the choice off everywhere.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import jax

try:  # JAX accepts compiler options on top-level jit calls only, not under a user's transform
    from jax._src.core import trace_state_clean as _top_level
except ImportError:  # pragma: no cover - a JAX without it: options only where no trace runs

    def _top_level() -> bool:
        return False


_KINDS: dict[str, dict[str, Any]] = {
    "light": {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1},
    "hot": {},
}

ENABLED = os.environ.get("JAXMI_COMPILER_OPTIONS", "1").strip().lower() not in (
    "0",
    "false",
    "off",
)


def options(kind: str, backend: str | None = None) -> dict[str, Any] | None:
    """The XLA options of a program of ``kind`` (``"light"``/``"hot"``) on ``backend``.

    ``backend`` defaults to :func:`jax.default_backend`. None where no option applies.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind: expected one of {sorted(_KINDS)}, got {kind!r}")
    if not ENABLED or not _KINDS[kind]:
        return None
    if (backend or jax.default_backend()) != "cpu":
        return None
    return dict(_KINDS[kind])


class _Jit:
    """A jitted function whose XLA options follow the default backend at call time."""

    def __init__(self, fn: Callable, kind: str, jit_kw: dict):
        self._fn, self._kind, self._jit_kw = fn, kind, jit_kw
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def _plain(self) -> Callable:
        return jax.jit(self._fn, **self._jit_kw)

    @functools.cached_property
    def _tuned(self) -> Callable:
        return jax.jit(self._fn, compiler_options=options(self._kind, "cpu"), **self._jit_kw)

    def _pick(self) -> Callable:
        if options(self._kind) is not None and _top_level():
            return self._tuned
        return self._plain

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._pick()(*args, **kwargs)

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        return self._pick().lower(*args, **kwargs)


def jit(fn: Callable | None = None, *, kind: str, **jit_kw: Any) -> Any:
    """:func:`jax.jit` with the XLA options of ``kind`` on CPU (a decorator or a call).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmi._compile import jit
        >>> f = jit(lambda x: 2 * x, kind="light")
        >>> float(f(jnp.float32(1.5)))
        3.0
    """
    if kind not in _KINDS:
        raise ValueError(f"kind: expected one of {sorted(_KINDS)}, got {kind!r}")
    if fn is None:
        return functools.partial(jit, kind=kind, **jit_kw)
    return _Jit(fn, kind, jit_kw)
