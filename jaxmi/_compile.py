"""``jax.jit`` for jaxmi's programs: XLA options per program kind, and an export cache.

Both serve a fresh process, which otherwise traces, lowers and compiles every program anew.
:class:`_Jit` (below) also stores each program's export beside JAX's persistent compilation
cache, so a later process skips tracing and lowering (see its docstring).

A fresh process spends most of a first GMM-MI estimate compiling (XLA:CPU took 6.5 s of an
8.4 s first call for a bivariate Gaussian). Two XLA:CPU options shorten it:

* ``xla_cpu_use_fusion_emitters=False``: the older loop emitters compile markedly faster;
* ``xla_backend_optimization_level=1``: LLVM at -O1.

Programs come in two kinds:

* ``"light"``: programs that run once per call for little time (initialisations, held-out
  scores, closed-form single Gaussians, key derivation, the random draws of task samplers,
  of ``jaxmi.nn`` parameters and of the categorical integral's class noise): both options.
  A first estimate in a fresh process went from 8.4 s to 6.3 s (bivariate Gaussian) and from
  12.4 s to 8.3 s (cube transform), with no measurable change in a steady-state estimate
  (2-core CPU).
* ``"hot"``: the EM loops and the vmapped integrals, where a steady estimate spends its time:
  default options. -O1 made them up to 1.8x slower. The loop emitters would save another 1-2 s
  of compilation, but they round float32 reductions differently at different component
  capacities, so a fit's EM stopped one iteration apart at capacities 3 and 4 (means 3e-3
  apart; ``tests/gmm/test_em.py::test_masked_capacity_gives_the_same_fit``).
* ``"loops"``: integrals whose work runs inside ``lax.map`` loops (plain Monte Carlo over the
  replicates, the categorical integral's classes): the loop emitters alone. Inside a loop the
  fusion emitters' code ran 3-4x slower on a 2-core CPU (51 mixtures, 1e5 draws each:
  188 -> 48 ms in 2-D, 499 -> 123 ms in 8-D; KL 126 -> 38 ms), and compiled in twice the time;
  loop-free (vmapped) programs ran 15-25% faster with the fusion emitters, so they stay
  ``"hot"``. Values agree to float32 rounding (at most 1.2e-7 nats in those runs).

The options change code generation, not the computation. Other backends, and calls under a
user's ``jit``/``vmap`` (JAX takes compiler options on top-level programs only), get the default
options. ``JAXMI_COMPILER_OPTIONS=0`` (read at import) turns the choice off everywhere. XLA
renames and retires its options: one that the installed jaxlib refuses (jaxlib 0.12 has no
``xla_cpu_use_fusion_emitters``) is found when a program first fails to compile with it, left out
from then on (:data:`REFUSED`), and the program compiled again without it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

try:  # JAX accepts compiler options on top-level jit calls only, not under a user's transform
    from jax._src.core import trace_state_clean as _top_level
except ImportError:  # pragma: no cover - a JAX without it: options only where no trace runs

    def _top_level() -> bool:
        return False


_KINDS: dict[str, dict[str, Any]] = {
    "light": {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1},
    "hot": {},
    "loops": {"xla_cpu_use_fusion_emitters": False},
}


def _flag(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "off")


ENABLED = _flag("JAXMI_COMPILER_OPTIONS")
#: reuse exported programs across processes (see :class:`_Jit`); ``JAXMI_EXPORT_CACHE=0`` off
EXPORT_CACHE = _flag("JAXMI_EXPORT_CACHE")
#: programs that took the plain path because exporting them failed: name -> the error
EXPORT_FAILURES: dict[str, str] = {}
#: XLA options the installed jaxlib refused (see :func:`_drop_refused`); left out of every program
REFUSED: set[str] = set()


def options(kind: str, backend: str | None = None) -> dict[str, Any] | None:
    """The XLA options of a program of ``kind`` (``"light"``/``"hot"``/``"loops"``) on ``backend``.

    ``backend`` defaults to :func:`jax.default_backend`. None where no option applies.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind: expected one of {sorted(_KINDS)}, got {kind!r}")
    if not ENABLED or not _KINDS[kind]:
        return None
    if (backend or jax.default_backend()) != "cpu":
        return None
    return {name: v for name, v in _KINDS[kind].items() if name not in REFUSED} or None


def _compiles_with(opts: dict[str, Any]) -> bool:
    """Whether XLA compiles a trivial program with ``opts`` (it refuses unknown options)."""
    try:
        jax.jit(lambda x: x, compiler_options=opts).lower(np.float32(0)).compile()
    except Exception:
        return False
    return True


def _drop_refused(kind: str) -> bool:
    """After a program of ``kind`` failed on CPU: leave out the options XLA refuses.

    True when some were refused (the program should compile again without them); False when
    XLA takes the options, so the failure was the program's own. Runs only after a failure,
    so a jaxlib that knows every option pays nothing.
    """
    opts = options(kind, "cpu")
    if not opts or _compiles_with(opts):
        return False
    refused = {name for name, v in opts.items() if not _compiles_with({name: v})}
    REFUSED.update(refused or opts)  # each alone compiles, not together: leave them all out
    return True


@functools.cache
def _source_digest() -> str:
    """A digest of jaxmi's own source files: a changed program never reuses a stale export."""
    h = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@functools.cache
def _can_serialize() -> bool:
    """JAX serialises exported programs with ``flatbuffers`` (the ``fast-start`` extra)."""
    return importlib.util.find_spec("flatbuffers") is not None


def _cache_base() -> str | None:
    return jax.config.jax_compilation_cache_dir


def _export_dir() -> Path | None:
    """Where exported programs live: beside JAX's persistent compilation cache, when it is on."""
    if not EXPORT_CACHE or not _can_serialize():
        return None
    base = _cache_base()
    if not base or "://" in str(base):
        return None
    return Path(base) / "jaxmi-exported"


def _leaf_signature(leaf: Any) -> tuple | None:
    """Shape, dtype and weak type of one argument; None for one export cannot take here.

    Hashable objects, not text: this runs on every call (text only for a new program's key,
    :func:`_signature_text`).
    """
    if isinstance(leaf, (bool, int, float)):
        return ("py", type(leaf))
    if isinstance(leaf, jax.Array):
        if isinstance(leaf, jax.core.Tracer):
            return None
        sharding = leaf.sharding
        if not isinstance(sharding, jax.sharding.SingleDeviceSharding) and (
            len(sharding.device_set) != 1
        ):
            return None
        dtype = leaf.dtype
        if not isinstance(dtype, np.dtype):  # PRNG keys and other extended dtypes
            return None
        return (leaf.shape, dtype, bool(getattr(leaf, "weak_type", False)))
    if isinstance(leaf, (np.ndarray, np.generic)):
        return (leaf.shape, leaf.dtype, False)
    return None


def _signature_text(sig: tuple) -> tuple:
    """A call signature with text in place of objects (stable across processes)."""
    tree, leaves, static, x64 = sig

    def text(one):
        if one[0] == "py":
            return ("py", one[1].__name__)
        return (tuple(one[0]), str(one[1]), one[2])

    return (str(tree), tuple(text(one) for one in leaves), static, x64)


@functools.cache
def _register_pytrees() -> None:
    """Serialisation names of the pytrees jaxmi's programs take and return (once)."""
    from jaxmi.gmm._em import EMResult
    from jaxmi.gmm._mixture import GMM

    for cls in (GMM, EMResult):
        try:
            jax.export.register_namedtuple_serialization(
                cls, serialized_name=f"jaxmi.{cls.__name__}"
            )
        except ValueError:  # already registered
            pass


# jaxlib's LAPACK kernels (Cholesky and triangular solves on CPU, in every EM program) take
# their function pointers from SciPy's two Cython modules, and JAX initialises them by importing
# ``scipy.linalg.cython_lapack``. That import runs ``scipy.linalg/__init__`` first, 0.11-0.2 s
# of a 1.3 s warm-cache process (2-core CPU) for two extension modules that load in 9 ms.
_LAPACK_MODULES = ("scipy.linalg.cython_blas", "scipy.linalg.cython_lapack")
_lapack_lock = threading.Lock()
_lapack_ready = False


def _load_extension(full: str, root: str) -> Any:
    """Load the extension module ``full`` (``root``: its top-level package's directory) by file."""
    *parents, stem = full.split(".")[1:]
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(root, *parents, stem + suffix)
        if os.path.isfile(path):
            loader = importlib.machinery.ExtensionFileLoader(full, path)
            spec = importlib.util.spec_from_file_location(full, path, loader=loader)
            module = importlib.util.module_from_spec(spec)
            sys.modules[full] = module
            loader.exec_module(module)
            return module
    return None


def init_lapack() -> None:
    """Initialise jaxlib's CPU LAPACK kernels without importing ``scipy.linalg`` (once).

    JAX would import ``scipy.linalg.cython_lapack`` at the first lowering of a linear-algebra
    operation, or of any exported program on CPU, and with it all of ``scipy.linalg``. Here the
    two Cython modules jaxlib reads are loaded from their files and kept in ``sys.modules`` only
    while jaxlib initialises: a later ``import scipy.linalg`` runs as usual and finds the same
    (already loaded) extension modules. Anything unexpected (another SciPy layout, a jaxlib
    without this initialiser) leaves it to JAX, which then imports ``scipy.linalg`` as before.
    """
    global _lapack_ready
    if _lapack_ready:
        return
    with _lapack_lock:  # other threads wait here until the kernels are ready
        if _lapack_ready:
            return
        added: list[str] = []
        try:
            if "scipy.linalg" in sys.modules:  # JAX's own import is cheap now
                return
            from jax._src.lax import linalg as _linalg

            spec = importlib.util.find_spec("scipy")
            roots = list(spec.submodule_search_locations or ()) if spec else []
            if len(roots) != 1:
                return
            for full in _LAPACK_MODULES:
                if full not in sys.modules:
                    added.append(full)
                    if _load_extension(full, roots[0]) is None:
                        return
            _linalg.initialize_lapack()
        except Exception:  # pragma: no cover - JAX imports scipy.linalg itself when it needs it
            pass
        finally:
            parent = sys.modules.get("scipy.linalg")
            for full in added:
                module = sys.modules.get(full)
                if parent is not None and module is not None:  # imported meanwhile: keep them
                    setattr(parent, full.rsplit(".", 1)[-1], module)
                else:
                    sys.modules.pop(full, None)
            _lapack_ready = True


class _Jit:
    """A jitted function with per-kind XLA options and a cross-process export cache.

    Where JAX's persistent compilation cache is on, a top-level call exports its program
    (:func:`jax.export.export`) once per shape signature and stores it beside that cache. A
    fresh process then deserialises the program instead of tracing and lowering the Python
    function again, and JAX's cache supplies the compiled executable: tracing and lowering were
    1.45 s of the 1.9 s first GMM-MI estimate in a warm-cache process. The key holds the
    function (its qualified name and first line), its static arguments, the argument shapes and
    dtypes, the backend, the JAX version and a digest of jaxmi's source, so any code change
    exports afresh. It needs the ``flatbuffers`` package (``pip install "jaxmi[fast-start]"``);
    ``JAXMI_EXPORT_CACHE=0`` turns it off; closures (whose captured values the key cannot hold),
    calls under a user's transform, with typed keys of a
    custom implementation or with sharded arrays take the plain path.
    """

    def __init__(self, fn: Callable, kind: str, jit_kw: dict, export: bool):
        self._fn, self._kind, self._jit_kw = fn, kind, jit_kw
        static = jit_kw.get("static_argnames", ())
        self._static = {static} if isinstance(static, str) else set(static)
        # a closure's captured values are not in the export key: such programs are not exported
        self._export = (
            export and not jit_kw.get("static_argnums") and not getattr(fn, "__closure__", None)
        )
        self._programs: dict[tuple, Callable] = {}
        self._lock = threading.Lock()  # host threads (gmm's solve) may ask for a program at once
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

    def _signature(self, args: tuple, kwargs: dict) -> tuple | None:
        if set(kwargs) - self._static:  # a traced argument passed by keyword
            return None
        leaves, tree = jax.tree.flatten(args)
        sig = []
        for leaf in leaves:
            one = _leaf_signature(leaf)
            if one is None:
                return None
            sig.append(one)
        static = tuple(sorted((k, repr(v)) for k, v in kwargs.items()))
        return (tree, tuple(sig), static, bool(jax.config.jax_enable_x64))

    def _exported(self, sig: tuple, args: tuple, kwargs: dict, where: Path) -> Callable:
        """The program of ``sig``: from the export cache, or exported now and stored."""
        opts = options(self._kind)
        device = jax.devices()[0]
        key = repr(
            (
                f"{self._fn.__module__}.{self._fn.__qualname__}",
                getattr(getattr(self._fn, "__code__", None), "co_firstlineno", None),  # lambdas
                _signature_text(sig),
                opts,
                device.platform,
                device.device_kind,
                jax.__version__,
                _source_digest(),
            )
        )
        path = where / (hashlib.sha256(key.encode()).hexdigest() + ".jaxexp")
        _register_pytrees()
        exp = None
        if path.exists():
            try:
                exp = jax.export.deserialize(bytearray(path.read_bytes()))
            except Exception:  # a damaged or foreign file: export again
                exp = None
        if exp is None:
            fn = functools.partial(self._fn, **kwargs)
            exp = jax.export.export(jax.jit(fn))(*args)
            try:
                where.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=where, delete=False, suffix=".tmp") as f:
                    f.write(exp.serialize())
                os.replace(f.name, path)  # atomic: concurrent processes never read half a file
            except OSError:  # a read-only cache: this process still runs the exported program
                pass
        if opts is None:
            return jax.jit(exp.call)
        return jax.jit(exp.call, compiler_options=opts)

    def __deepcopy__(self, memo: dict) -> _Jit:
        # a function, like the jax.jit object it wraps: copies share it (its lock cannot be
        # copied, so a dataclass holding one, e.g. a jaxmi.tasks.Task, could not be deep-copied)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        init_lapack()  # once per process; a flag check after that
        if not _top_level():
            return self._plain(*args, **kwargs)
        try:
            return self._call(args, kwargs)
        except jax.errors.JaxRuntimeError:
            if not _drop_refused(self._kind):
                raise
        with self._lock:  # compile again without the refused options
            self.__dict__.pop("_tuned", None)
            self._programs.clear()
        return self(*args, **kwargs)

    def _call(self, args: tuple, kwargs: dict) -> Any:
        where = _export_dir() if self._export else None
        sig = None if where is None else self._signature(args, kwargs)
        if sig is None:
            return self._pick()(*args, **kwargs)
        program = self._programs.get(sig)
        if program is None:
            with self._lock:
                program = self._programs.get(sig)
                if program is None:
                    try:
                        program = self._exported(sig, args, kwargs, where)
                    except Exception as err:  # export cannot take this program: the plain path
                        # (a user error raises again there, with JAX's own message)
                        EXPORT_FAILURES[self._fn.__qualname__] = repr(err)
                        program = functools.partial(self._pick(), **kwargs)
                    self._programs[sig] = program
        return program(*args)


def jit(fn: Callable | None = None, *, kind: str, export: bool = True, **jit_kw: Any) -> Any:
    """:func:`jax.jit` with the XLA options of ``kind`` on CPU (a decorator or a call).

    ``export=False`` keeps a program out of the export cache (programs built per mesh).

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
        return functools.partial(jit, kind=kind, export=export, **jit_kw)
    return _Jit(fn, kind, jit_kw, export)
