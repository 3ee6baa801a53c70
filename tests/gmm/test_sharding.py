"""GMM-MI over a device mesh, in subprocesses (XLA_FLAGS must be set before JAX starts).

- 8 virtual CPU devices in one process: sharded results equal the single-device ones.
- A mesh spanning two processes (``jax.distributed`` on 127.0.0.1, 2 virtual devices each):
  both processes return the single-process matrix (the categorical mode goes through the same
  placement code and is checked on the 8 devices only, to keep the test short).
"""

import textwrap

import numpy as np
import pytest
from _multiprocess import JOIN, run_script, run_two_processes

# the same data and options in every script; max_components=2 keeps the compiled capacities
# to 1 and 2 (the tests are about placement)
_DATA = """
import numpy as np
rng = np.random.default_rng(0)
n = 600
lat = rng.normal(size=(n, 3))
fac = np.stack([lat[:, 0] + 0.5 * rng.normal(size=n), rng.normal(size=n)], axis=1)
labels = np.stack([(lat[:, 1] > 0).astype(int), rng.integers(0, 3, n)], axis=1)
opts = dict(n_bootstrap=6, mc_samples=3000, max_components=2, dtype="float64")
"""

_SCRIPT = (
    textwrap.dedent(
        """
    import json
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import jaxmi
    from jaxmi.gmm import _em, _mi

    assert jax.device_count() == 8, jax.devices()
    """
    )
    + _DATA
    + textwrap.dedent(
        """
    mesh = jax.make_mesh((8,), ("pairs",), axis_types=(jax.sharding.AxisType.Explicit,))
    key = jax.random.key(3)
    plain = jaxmi.gmm_mi_pairwise(key, lat, fac, **opts)
    sharded = jaxmi.gmm_mi_pairwise(key, lat, fac, mesh=mesh, **opts)
    cat_plain = jaxmi.gmm_mi_pairwise(key, lat, labels, categorical=True, **opts)
    cat_sharded = jaxmi.gmm_mi_pairwise(key, lat, labels, categorical=True, mesh=mesh, **opts)
    out = dict(
        plain=np.asarray(plain.mi).tolist(),
        sharded=np.asarray(sharded.mi).tolist(),
        plain_std=np.asarray(plain.std).tolist(),
        sharded_std=np.asarray(sharded.std).tolist(),
        k_plain=np.asarray(plain.n_components).tolist(),
        k_sharded=np.asarray(sharded.n_components).tolist(),
        cat_plain=np.asarray(cat_plain.mi).tolist(),
        cat_sharded=np.asarray(cat_sharded.mi).tolist(),
        sharded_programs=_em._sharded_program.cache_info().currsize,
        sharded_integrals=_mi._sharded_integral.cache_info().currsize,
    )
    print(json.dumps(out))
    """
    )
)


@pytest.fixture(scope="module")
def run():
    return run_script(_SCRIPT, devices=8, timeout=900)


def test_pairs_spread_over_eight_devices_give_the_single_device_matrix(run):
    import numpy as np

    # the mesh path really ran: EM programs, the RQMC integrals (pairs) and MC (categorical)
    assert run["sharded_programs"] >= 2 and run["sharded_integrals"] >= 1
    np.testing.assert_array_equal(run["k_sharded"], run["k_plain"])
    np.testing.assert_allclose(run["sharded"], run["plain"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(run["sharded_std"], run["plain_std"], rtol=1e-5, atol=1e-9)
    mi = np.asarray(run["plain"])
    assert mi[0, 0] > 0.5 and np.all(np.abs(mi[1:, :]) < 0.1)  # only latent 0 ~ factor 0


def test_categorical_pairs_over_the_mesh(run):
    import numpy as np

    np.testing.assert_allclose(run["cat_sharded"], run["cat_plain"], rtol=1e-6, atol=1e-9)
    mi = np.asarray(run["cat_plain"])
    assert mi[1, 0] > 0.3 and abs(mi[0, 0]) < 0.05  # latent 1 decides label 0


_WORKER = (
    textwrap.dedent(
        """
    import json
    import jax
    jax.config.update("jax_enable_x64", True)
    """
    )
    + JOIN
    + textwrap.dedent(
        """
    import jaxmi

    assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
    """
    )
    + _DATA
    + textwrap.dedent(
        """
    mesh = jax.make_mesh((4,), ("pairs",), axis_types=(jax.sharding.AxisType.Explicit,))
    key = jax.random.key(3)
    r = jaxmi.gmm_mi_pairwise(key, lat, fac, mesh=mesh, **opts)
    out = dict(
        mi=np.asarray(r.mi).tolist(),
        std=np.asarray(r.std).tolist(),
        k=np.asarray(r.n_components).tolist(),
    )
    # one process holding other data: both must refuse instead of mixing two problems
    try:
        jaxmi.gmm_mi_pairwise(key, lat + pid, fac, mesh=mesh, **opts)
        out["mismatch"] = "no error"
    except ValueError as err:
        out["mismatch"] = str(err)
    print(json.dumps(out))
    """
    )
)


@pytest.fixture(scope="module")
def two_processes():
    return run_two_processes(_WORKER, devices=2, timeout=600)


def test_mesh_over_two_processes_gives_the_single_process_matrix(run, two_processes):
    for r in two_processes:
        np.testing.assert_array_equal(r["k"], run["k_plain"])
        np.testing.assert_allclose(r["mi"], run["plain"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(r["std"], run["plain_std"], rtol=1e-5, atol=1e-9)


def test_processes_with_different_data_refuse(two_processes):
    for r in two_processes:
        assert "different data" in r["mismatch"], r["mismatch"]
