"""it_maps/occlusion over a device mesh and across processes give the single-device maps.

- 8 virtual CPU devices in a subprocess (XLA_FLAGS before JAX starts): 5 images (padded to the
  mesh) with and without ``mesh=``, for ``it_maps`` and ``occlusion``.
- Two processes (``jax.distributed`` on 127.0.0.1, 2 virtual devices each): every process
  feeds its own 3 images (``jax.make_array_from_process_local_data``) and gets their maps back;
  they must equal one process's maps of all 6 images.
"""

import textwrap

import numpy as np
import pytest
from _multiprocess import JOIN, run_script, run_two_processes

_SETUP = textwrap.dedent(
    """
    import json, sys
    import jax
    import jax.numpy as jnp
    import numpy as np

    W = np.asarray(jax.random.normal(jax.random.key(0), (6 * 6 * 2, 4)))

    def linear(w, x):
        return jax.nn.softmax(x.reshape(x.shape[0], -1) @ w, axis=-1)

    predict = jax.tree_util.Partial(linear, jnp.asarray(W))  # parameters as pytree leaves
    images = np.asarray(jax.random.uniform(jax.random.key(1), (6, 6, 6, 2)))
    bank = np.asarray(jax.random.uniform(jax.random.key(2), (10, 6, 6, 2)))
    KW = dict(window=2, n_samples=3, top_k=2, batch_size=4)
    """
)

_SINGLE = _SETUP + textwrap.dedent(
    """
    from jaxmi.attribution import it_maps, occlusion, samplers

    assert jax.device_count() == 8, jax.devices()
    mesh = jax.make_mesh((8,), ("images",), axis_types=(jax.sharding.AxisType.Explicit,))
    s = samplers.marginal(bank)
    key = jax.random.key(3)
    plain = it_maps(key, predict, images, sampler=s, **KW)
    sharded = it_maps(key, predict, images[:5], sampler=s, mesh=mesh, **KW)
    out = {f"{name}_{f}": np.asarray(getattr(r, f)).tolist()
           for name, r in (("plain", plain), ("sharded", sharded))
           for f in ("ig", "pmi", "classes", "probs")}
    # occlusion (Captum semantics) through the same placement code, stride 2 and 5 images
    occ = dict(window=2, stride=2, baseline=0.5, target=[0, 1, 2, 3, 0], batch_size=4)
    out["occ_plain"] = np.asarray(occlusion(predict, images[:5], **occ)).tolist()
    out["occ_sharded"] = np.asarray(occlusion(predict, images[:5], mesh=mesh, **occ)).tolist()
    print(json.dumps(out))
    """
)

_WORKER = (
    JOIN
    + _SETUP
    + textwrap.dedent(
        """
    from jaxmi.attribution import it_maps, samplers

    assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
    mesh = jax.make_mesh((4,), ("images",), axis_types=(jax.sharding.AxisType.Explicit,))
    mine = images[3 * pid : 3 * pid + 3]  # this process's images
    r = it_maps(jax.random.key(3), predict, mine, sampler=samplers.marginal(bank), mesh=mesh, **KW)
    print(json.dumps({f: np.asarray(getattr(r, f)).tolist() for f in ("ig", "pmi", "classes")}))
    """
    )
)


@pytest.fixture(scope="module")
def single():
    return {k: np.asarray(v) for k, v in run_script(_SINGLE, devices=8, timeout=600).items()}


def test_eight_devices_give_the_single_device_maps(single):
    for f in ("ig", "pmi", "probs"):
        want = single[f"plain_{f}"][:5]
        np.testing.assert_allclose(single[f"sharded_{f}"], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(single["sharded_classes"], single["plain_classes"][:5])
    assert single["plain_ig"].shape == (6, 6, 6) and (single["plain_ig"] > 0).any()


def test_occlusion_over_eight_devices_gives_the_single_device_map(single):
    plain, sharded = single["occ_plain"], single["occ_sharded"]
    assert plain.shape == (5, 6, 6) and np.abs(plain).max() > 1e-3
    # a difference of two float32 probabilities: other batch sizes may move it by an ulp of 1
    np.testing.assert_allclose(sharded, plain, rtol=1e-5, atol=1e-6)


def test_two_processes_give_the_one_process_maps(single):
    outs = run_two_processes(_WORKER, devices=2, timeout=600)
    for pid, r in enumerate(outs):
        rows = slice(3 * pid, 3 * pid + 3)
        np.testing.assert_allclose(r["ig"], single["plain_ig"][rows], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(r["pmi"], single["plain_pmi"][rows], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(r["classes"], single["plain_classes"][rows])
