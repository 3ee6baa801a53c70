"""Portable MIResult files: exact round trips (.npz, .json), no pickle, clear errors."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmi
from jaxmi.gmm import MIResult, load_result, save_result


def synthetic(dtype=np.float32, std=True, b=5):
    rng = np.random.default_rng(1)
    samples = rng.normal(0.2, 0.02, b).astype(dtype)
    return MIResult(
        mi=samples.mean(dtype=dtype) if b else dtype(0.25),
        std=samples.std(ddof=1).astype(dtype) if std else None,
        samples=samples,
        point=dtype(0.2231435513142097),
        point_stderr=dtype(1.234e-3),
        n_components=np.int32(2),
        cv_scores=np.array([-2.61, -2.60, -np.inf], dtype),
        selection_converged=np.bool_(True),
        n_iter=np.arange(b, dtype=np.int32) + 3,
        converged=np.arange(b) % 2 == 0,
    )


def assert_same(a, b):
    assert isinstance(b, MIResult)
    for name, u, v in zip(MIResult._fields, a, b, strict=True):
        if u is None:
            assert v is None, name
            continue
        u = np.asarray(u)
        assert v.dtype == u.dtype, (name, v.dtype, u.dtype)
        assert v.shape == u.shape, (name, v.shape, u.shape)
        np.testing.assert_array_equal(v, u, err_msg=name)


@pytest.mark.parametrize("ext", [".npz", ".json"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("std", [True, False])
def test_round_trip_exact(tmp_path, ext, dtype, std):
    res = synthetic(dtype, std)
    path = tmp_path / f"r{ext}"
    save_result(path, res)
    back = load_result(path)
    assert_same(res, back)
    assert (back.std is None) == (not std)


@pytest.mark.parametrize("ext", [".npz", ".json"])
def test_round_trip_no_replicates_and_nonfinite(tmp_path, ext):
    res = synthetic(b=0, std=False)._replace(
        samples=np.array([], np.float32), point=np.float32(np.nan)
    )
    path = tmp_path / f"r{ext}"
    save_result(str(path), res)
    assert_same(res, load_result(str(path)))


def test_round_trip_of_jax_result(tmp_path):
    z = np.random.default_rng(0).multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], 800)
    res = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], n_bootstrap=8, mc_samples=5000)
    assert isinstance(res.mi, jax.Array)
    for ext in (".npz", ".json"):
        save_result(tmp_path / f"r{ext}", res)
        back = load_result(tmp_path / f"r{ext}")
        assert_same(res, back)
        assert float(back.mi) == float(res.mi)
        assert float(jnp.mean(back.samples)) == pytest.approx(float(res.mi), rel=1e-6)


def test_json_is_strict_and_readable(tmp_path):
    path = tmp_path / "r.json"
    save_result(path, synthetic())
    text = path.read_text()

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    doc = json.loads(text, parse_constant=no_constants)
    assert doc["format"] == "jaxmi.MIResult" and doc["version"] == 1
    assert doc["cv_scores"][-1] == "-inf"
    assert doc["dtypes"]["samples"] == "float32" and doc["dtypes"]["n_iter"] == "int32"
    assert doc["n_components"] == 2 and doc["selection_converged"] is True
    assert math.isclose(doc["point"], 0.2231435513142097, rel_tol=1e-7)


def test_npz_needs_no_pickle(tmp_path):
    path = tmp_path / "r.npz"
    save_result(path, synthetic(std=False))
    with np.load(path, allow_pickle=False) as f:  # would raise on any pickled entry
        for name in f.files:
            assert f[name].dtype != object
        assert "std" not in f.files and f["__none__"].tolist() == ["std"]


@pytest.mark.parametrize("name", ["r.txt", "r", "r.pkl", "r.npy"])
def test_unknown_extension(tmp_path, name):
    with pytest.raises(ValueError, match="unknown extension"):
        save_result(tmp_path / name, synthetic())
    (tmp_path / name).write_text("{}")
    with pytest.raises(ValueError, match="unknown extension"):
        load_result(tmp_path / name)


def test_save_rejects_bad_results(tmp_path):
    with pytest.raises(TypeError, match="MIResult"):
        save_result(tmp_path / "r.json", (1.0, 2.0))
    with pytest.raises(ValueError, match="'samples' must be a float array"):
        save_result(tmp_path / "r.json", synthetic()._replace(samples=np.array(["a", "b"])))
    with pytest.raises(ValueError, match="'mi' is None"):
        save_result(tmp_path / "r.npz", synthetic()._replace(mi=None))
    with pytest.raises(ValueError, match="'n_components' must be a scalar"):
        save_result(tmp_path / "r.npz", synthetic()._replace(n_components=np.array([1, 2])))
    with pytest.raises(ValueError, match="disagree in length"):
        save_result(tmp_path / "r.npz", synthetic()._replace(n_iter=np.zeros(3, np.int32)))
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.npz").exists()


def _mutate_json(tmp_path, change):
    path = tmp_path / "r.json"
    save_result(path, synthetic())
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


JSON_CASES = {
    "missing": (lambda d: d.pop("mi"), r"missing field\(s\) mi"),
    "unknown": (lambda d: d.update(extra=1), r"unknown field\(s\) extra"),
    "format": (lambda d: d.update(format="other"), "format tag"),
    "no-format": (lambda d: d.pop("format"), "format tag"),
    "version": (lambda d: d.update(version=99), "version 99"),
    "string-values": (lambda d: d.update(samples="abc"), "'samples' must be a list"),
    "bad-element": (lambda d: d["samples"].__setitem__(0, "x"), "'samples' must hold float"),
    "list-for-scalar": (lambda d: d.update(mi=[1.0]), "'mi' must be a scalar"),
    "float-iterations": (lambda d: d.update(n_iter=[1.5] * 5), "'n_iter' must hold integer"),
    "bool-as-int": (lambda d: d.update(converged=[1, 0, 1, 0, 1]), "'converged' must hold bool"),
    "object-dtype": (lambda d: d["dtypes"].update(mi="object"), "'mi' has dtype 'object'"),
    "dtype-unknown-field": (lambda d: d["dtypes"].update(foo="float32"), "unknown field"),
    "none-not-optional": (lambda d: d.update(point=None), "'point' is None"),
    "length-mismatch": (lambda d: d.update(n_iter=[1, 2]), "disagree in length"),
    "int-overflow": (lambda d: d.update(n_components=2**40), "out of range for int32"),
}


@pytest.mark.parametrize("case", list(JSON_CASES))
def test_malformed_json(tmp_path, case):
    change, message = JSON_CASES[case]
    path = _mutate_json(tmp_path, change)
    with pytest.raises(ValueError, match=message):
        load_result(path)


def test_json_dtype_defaults_when_absent(tmp_path):
    path = _mutate_json(tmp_path, lambda d: d.pop("dtypes"))
    back = load_result(path)
    assert back.samples.dtype == np.float64 and back.n_iter.dtype == np.int64


@pytest.mark.parametrize(
    "text, message",
    [("{not json", "not a valid JSON"), ("[1, 2]", "expected a JSON object"), ("", "JSON")],
)
def test_not_json(tmp_path, text, message):
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_result(path)


def _fields(res):
    return {k: np.asarray(v) for k, v in res._asdict().items() if v is not None}


META = dict(
    __format__=np.array("jaxmi.MIResult"), __version__=np.array(1), __none__=np.array([], str)
)

NPZ_CASES = {
    "object-array": (
        lambda f, m: {**f, **m, "samples": np.array([1.0, "a"], dtype=object)},
        "'samples' cannot be read without pickle",
    ),
    "missing-field": (lambda f, m: {**{k: v for k, v in f.items() if k != "point"}, **m}, "point"),
    "no-meta": (lambda f, m: f, "not a saved MIResult"),
    "wrong-tag": (lambda f, m: {**f, **m, "__format__": np.array("x")}, "format tag"),
    "tag-as-number": (lambda f, m: {**f, **m, "__format__": np.array(3)}, "format tag"),
    "version": (lambda f, m: {**f, **m, "__version__": np.array(2)}, "version 2"),
    "stored-and-none": (lambda f, m: {**f, **m, "__none__": np.array(["mi"])}, "both stored"),
    "unknown-field": (lambda f, m: {**f, **m, "extra": np.zeros(2)}, "unknown field"),
    "wrong-dtype": (lambda f, m: {**f, **m, "n_iter": np.zeros(5)}, "'n_iter' must be an integer"),
    "wrong-rank": (lambda f, m: {**f, **m, "samples": np.zeros((5, 1))}, "'samples' must be 1-D"),
}


@pytest.mark.parametrize("case", list(NPZ_CASES))
def test_malformed_npz(tmp_path, case):
    build, message = NPZ_CASES[case]
    path = tmp_path / "r.npz"
    np.savez(path, **build(_fields(synthetic()), META))
    with pytest.raises(ValueError, match=message):
        load_result(path)


def test_not_npz(tmp_path):
    path = tmp_path / "r.npz"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"not a valid \.npz"):
        load_result(path)
    with open(path, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(ValueError, match=r"single \.npy array"):
        load_result(path)
    with pytest.raises(FileNotFoundError):
        load_result(tmp_path / "absent.npz")


def test_exported():
    assert jaxmi.gmm.save_result is save_result and "load_result" in jaxmi.gmm.__all__
