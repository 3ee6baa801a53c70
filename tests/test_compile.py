"""jaxmi._compile: XLA options per program kind, only where JAX accepts them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmi import _compile
from jaxmi.gmm import GMM

_LIGHT = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1}


def _refused_here() -> set[str]:
    """The light options this jaxlib's XLA refuses (jaxlib 0.12: the fusion-emitter switch)."""
    return {name for name, v in _LIGHT.items() if not _compile._compiles_with({name: v})}


def test_options_by_kind_and_backend(monkeypatch):
    monkeypatch.setattr(_compile, "REFUSED", set())
    assert _compile.options("light", "cpu") == _LIGHT
    assert _compile.options("hot", "cpu") is None  # EM and vmapped integrals: XLA's defaults
    # integrals that loop (lax.map) over replicates or classes: the loop emitters alone
    assert _compile.options("loops", "cpu") == {"xla_cpu_use_fusion_emitters": False}
    assert _compile.options("loops", "gpu") is None
    assert _compile.options("light", "gpu") is None
    with pytest.raises(ValueError, match="kind"):
        _compile.options("fast", "cpu")
    with pytest.raises(ValueError, match="kind"):
        _compile.jit(lambda x: x, kind="fast")


def test_tuned_program_agrees_and_nests_under_user_transforms():
    f = _compile.jit(lambda x, *, p: jnp.sum(x**p, axis=-1), kind="light", static_argnames="p")
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    want = (x**2).sum(-1)
    np.testing.assert_allclose(f(x, p=2), want)
    if jax.default_backend() == "cpu":  # top level on CPU: the program with the options
        assert f._pick() is f._tuned
    # under a user's jit or vmap JAX refuses compiler options on nested programs
    np.testing.assert_allclose(jax.jit(lambda a: f(a, p=2))(x), want)
    np.testing.assert_allclose(jax.vmap(lambda a: f(a, p=2))(x), want)
    assert f.__name__ == "<lambda>"


def _exporting(monkeypatch, tmp_path):
    monkeypatch.setattr(_compile, "EXPORT_CACHE", True)
    monkeypatch.setattr(_compile, "_cache_base", lambda: str(tmp_path))
    if not _compile._can_serialize():
        pytest.skip("flatbuffers (the fast-start extra) is not installed")
    return tmp_path / "jaxmi-exported"


TRACES = {"n": 0}


def _fit_like(x, w, *, k):
    """A stand-in program returning a GMM pytree (static k), counting its traces."""
    TRACES["n"] += 1
    d = x.shape[-1]
    means = jnp.broadcast_to(jnp.average(x, axis=0, weights=w), (k, d))
    cov = jnp.broadcast_to(jnp.eye(d, dtype=x.dtype), (k, d, d))
    return GMM(jnp.full((k,), 1 / k, x.dtype), means, cov, cov, jnp.ones((k,), bool))


def test_export_cache_skips_tracing_in_a_fresh_program(monkeypatch, tmp_path):
    where = _exporting(monkeypatch, tmp_path)
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    w = np.linspace(0.5, 1.5, 50, dtype=np.float32)
    first = _compile.jit(_fit_like, kind="light", static_argnames="k")
    before = TRACES["n"]
    g1 = first(x, w, k=3)
    assert TRACES["n"] == before + 1
    files = sorted(where.glob("*.jaxexp"))
    assert len(files) == 1
    # a new wrapper of the same function (as in a fresh process) loads the exported program
    second = _compile.jit(_fit_like, kind="light", static_argnames="k")
    g2 = second(x, w, k=3)
    assert TRACES["n"] == before + 1
    assert isinstance(g2, GMM)
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_array_equal(a, b)
    # float32 sums of 50 terms in a backend's own order (GPU: 3e-8 off on a mean of 0.012)
    np.testing.assert_allclose(g2.means[0], np.average(x, axis=0, weights=w), rtol=1e-6, atol=1e-6)
    # another static argument or shape is another program
    second(x, w, k=2)
    second(x[:40], w[:40], k=3)
    assert TRACES["n"] == before + 3
    assert len(list(where.glob("*.jaxexp"))) == 3
    # a damaged file is exported again, not trusted
    files[0].write_bytes(b"not a program")
    third = _compile.jit(_fit_like, kind="light", static_argnames="k")
    g3 = third(x, w, k=3)
    assert TRACES["n"] == before + 4
    np.testing.assert_array_equal(g3.means, g1.means)


def test_export_cache_leaves_user_transforms_and_keyword_arrays_alone(monkeypatch, tmp_path):
    where = _exporting(monkeypatch, tmp_path)
    f = _compile.jit(_fit_like, kind="hot", static_argnames="k")
    x = np.ones((8, 2), np.float32)
    w = np.ones(8, np.float32)
    jax.jit(lambda a: f(a, w, k=2).means)(x)
    f(x, w=w, k=2)  # an array by keyword: the plain path
    assert not where.exists()


_UNKNOWN = "xla_jaxmi_no_such_option"  # an option no XLA knows, as a retired one in a newer jaxlib


def _with_unknown_option(monkeypatch):
    if jax.default_backend() != "cpu":
        pytest.skip("compiler options apply on CPU only")
    kinds = dict(_compile._KINDS, light={**_compile._KINDS["light"], _UNKNOWN: True})
    monkeypatch.setattr(_compile, "_KINDS", kinds)
    monkeypatch.setattr(_compile, "REFUSED", set())
    assert _UNKNOWN in _compile.options("light", "cpu")


@pytest.mark.parametrize("export", [False, True])
def test_an_option_xla_refuses_is_left_out_and_the_program_compiled_again(
    monkeypatch, tmp_path, export
):
    if export:
        _exporting(monkeypatch, tmp_path)
    _with_unknown_option(monkeypatch)
    f = _compile.jit(lambda x: jnp.cumsum(x) * 3, kind="light")
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(f(x), np.cumsum(x) * 3)
    refused = _refused_here()
    assert _compile.REFUSED == {_UNKNOWN} | refused  # the options XLA knows are kept
    kept = {name: v for name, v in _LIGHT.items() if name not in refused}
    assert _compile.options("light", "cpu") == kept
    assert "xla_backend_optimization_level" in kept
    g = _compile.jit(lambda x: x + 1, kind="light")  # later programs never try it again
    np.testing.assert_array_equal(g(x), x + 1)
    assert f._pick() is f._tuned


def test_a_program_that_fails_for_its_own_reasons_still_raises(monkeypatch):
    if jax.default_backend() != "cpu":
        pytest.skip("compiler options apply on CPU only")
    monkeypatch.setattr(_compile, "REFUSED", set())

    def boom(x):
        raise RuntimeError("the program's own failure")

    f = _compile.jit(
        lambda x: jax.pure_callback(boom, jax.ShapeDtypeStruct(x.shape, x.dtype), x), kind="light"
    )
    with pytest.raises(jax.errors.JaxRuntimeError, match="own failure"):
        jax.block_until_ready(f(np.ones(3, np.float32)))
    assert _compile.REFUSED == _refused_here()  # XLA took the rest: nothing else left out


def test_export_cache_keeps_lambdas_apart_and_leaves_closures_alone(monkeypatch, tmp_path):
    where = _exporting(monkeypatch, tmp_path)
    x = np.arange(4, dtype=np.float32)
    double = _compile.jit(lambda v: 2 * v, kind="hot")  # the same qualified name, other lines
    square = _compile.jit(lambda v: v * v, kind="hot")
    np.testing.assert_array_equal(double(x), 2 * x)
    np.testing.assert_array_equal(square(x), x * x)  # not double's stored program
    assert len(list(where.glob("*.jaxexp"))) == 2

    def scaled(c):
        return _compile.jit(lambda v: c * v, kind="hot")  # one line, one name, any c

    np.testing.assert_array_equal(scaled(3.0)(x), 3 * x)
    np.testing.assert_array_equal(scaled(5.0)(x), 5 * x)
    assert len(list(where.glob("*.jaxexp"))) == 2  # closures take the plain path


_LAPACK_PROBE = """
import sys
import jax.numpy as jnp, numpy as np
from jaxmi import _compile
a = np.array([[4.0, 2.0, 0.4], [2.0, 3.0, 0.5], [0.4, 0.5, 2.0]], np.float32)
got = np.asarray(_compile.jit(jnp.linalg.cholesky, kind="hot")(a))
assert "scipy.linalg" not in sys.modules, "init_lapack imported scipy.linalg"
assert not any(m.startswith("scipy.linalg.") for m in sys.modules), sorted(sys.modules)
np.testing.assert_allclose(got, np.linalg.cholesky(a), rtol=1e-6)
import scipy.linalg.cython_lapack  # later imports of SciPy run as usual
assert "dpotrf" in scipy.linalg.cython_lapack.__pyx_capi__
import scipy.linalg
np.testing.assert_allclose(scipy.linalg.cholesky(a, lower=True), got, rtol=1e-6)
assert scipy.linalg.cython_blas is sys.modules["scipy.linalg.cython_blas"]
"""


def test_lapack_kernels_start_without_importing_scipy_linalg():
    """jaxlib's CPU LAPACK kernels start from SciPy's two Cython modules alone (0.11-0.2 s of a
    warm-cache process went to importing all of scipy.linalg), and SciPy imports as usual after.
    """
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", _LAPACK_PROBE], check=True)


def test_lapack_loader_leaves_sys_modules_alone_when_a_file_is_missing(tmp_path):
    import sys

    assert _compile._load_extension("scipy.linalg.not_there", str(tmp_path)) is None
    assert "scipy.linalg.not_there" not in sys.modules
