"""``jaxmi mi``: estimates from .npy/.npz/.csv files, JSON output, and one-line input errors.

Everything runs in-process through ``jaxmi.cli.main`` with one data size and one estimator
configuration, so the compiled programs are shared between tests.
"""

import json
import math
import re
import warnings
from collections import namedtuple

import numpy as np
import pytest

import jaxmi
from jaxmi.cli import main

N = 800
FAST = ["--n-bootstrap", "8", "--mc-samples", "5000"]
TRUTH = -0.5 * math.log(1 - 0.6**2)  # 0.2231 nats
COV3 = [[1, 0.6, 0.3], [0.6, 1, 0.4], [0.3, 0.4, 1]]
TRUTH_CMI = 0.179348  # I(X0; X1 | X2) for COV3
LINE = re.compile(
    r"I\(X;Y(\|Z)?\) = (?P<mi>-?\d+\.\d{4}) (±|\+/-) (?P<std>\d+\.\d{4}) (?P<unit>nats|bits) "
    r"\(K\*=(?P<k>\d+), N=(?P<n>\d+)\)"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    z = np.random.default_rng(0).multivariate_normal([0, 0, 0], COV3, N)
    paths = {
        "npy": d / "z.npy",
        "npz1": d / "one.npz",
        "npz": d / "named.npz",
        "csv": d / "z.csv",
        "csv_plain": d / "plain.csv",
    }
    np.save(paths["npy"], z)
    np.savez(paths["npz1"], data=z)
    np.savez(paths["npz"], a=z[:, 0], b=z[:, 1], m=z)
    np.savetxt(paths["csv"], z, delimiter=",", header="a,b,c", comments="")
    np.savetxt(paths["csv_plain"], z, delimiter=",")
    return {k: str(v) for k, v in paths.items()}


def run(capsys, *argv):
    rc = main(["mi", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def parse(out):
    m = LINE.fullmatch(out.strip())
    assert m, out
    return m


@pytest.mark.parametrize(
    "source, x, y",
    [
        ("npy", "0", "1"),
        ("npz1", "0", "1"),
        ("npz1", "data:0", "data:1"),
        ("npz", "a", "b"),
        ("npz", "m:0", "b"),
        ("csv", "a", "b"),
        ("csv", "0", "b"),
        ("csv_plain", "0:1", "-2"),
    ],
)
def test_estimate_from_each_format(capsys, files, source, x, y):
    rc, out, err = run(capsys, files[source], "--x", x, "--y", y, *FAST)
    assert rc == 0, err
    m = parse(out)
    assert abs(float(m["mi"]) - TRUTH) < 0.08, out
    assert 0 < float(m["std"]) < 0.1 and m["unit"] == "nats" and int(m["n"]) == N
    assert "Traceback" not in err


def test_same_data_same_answer_across_formats(capsys, files):
    outs = {
        src: run(capsys, files[src], "--x", "0", "--y", "1", *FAST)[1] for src in ("npy", "csv")
    }
    assert outs["npy"] == outs["csv"]


def test_json_and_bits(capsys, files):
    rc, out, _ = run(capsys, files["csv"], "--x", "a", "--y", "b", *FAST, "--json")
    assert rc == 0
    nats = json.loads(out)
    assert abs(nats["mi"] - TRUTH) < 0.08
    assert nats["unit"] == "nats" and nats["n"] == N and nats["quantity"] == "I(X;Y)"
    assert nats["x_columns"] == ["a"] and nats["y_columns"] == ["b"] and "z_columns" not in nats
    assert len(nats["samples"]) == 8 and nats["n_bootstrap"] == 8
    assert nats["mi"] == pytest.approx(np.mean(nats["samples"]), rel=1e-5)
    assert nats["std"] == pytest.approx(np.std(nats["samples"], ddof=1), rel=1e-4)
    assert isinstance(nats["n_components"], int) and nats["n_components"] >= 1
    rc, out, _ = run(capsys, files["csv"], "--x", "a", "--y", "b", *FAST, "--json", "--bits")
    bits = json.loads(out)
    assert bits["unit"] == "bits"
    assert bits["mi"] == pytest.approx(nats["mi"] / math.log(2), rel=1e-5)
    rc, out, _ = run(capsys, files["npy"], "--x", "0", "--y", "1", *FAST, "--bits")
    assert parse(out)["unit"] == "bits"
    assert float(parse(out)["mi"]) == pytest.approx(bits["mi"], abs=6e-5)


def test_the_estimators_warnings_are_warning_lines(capsys, tmp_path):
    # y == x: the fit is mostly reg_covar; the library's RuntimeWarning reaches the user as
    # one "jaxmi mi: warning:" line, not as a Python source location
    x = np.random.default_rng(1).normal(size=N)
    path = tmp_path / "same.npy"
    np.save(path, np.stack([x, x], axis=1))
    rc, out, err = run(capsys, path, "--x", "0", "--y", "1", *FAST, "--n-components", "1")
    assert rc == 0 and parse(out)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxmi mi: warning: x, y: 100% of the"), err


def test_warnings_name_the_flag_of_an_option(capsys):
    from jaxmi._cli_mi import _show_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # each text once
            warnings.warn(
                "x, y: stalled. Compare with restart_stalled=True.", RuntimeWarning, stacklevel=1
            )
        warnings.warn(
            "Compare with restart_stalled=True or init='kmeans', which fit such data.",
            RuntimeWarning,
            stacklevel=1,
        )
    _show_warnings(caught)
    err = capsys.readouterr().err
    assert err == (
        "jaxmi mi: warning: x, y: stalled. Compare with --restart-stalled (restart_stalled=True).\n"
        "jaxmi mi: warning: Compare with --restart-stalled (restart_stalled=True) or "
        "--init kmeans (init='kmeans'), which fit such data.\n"
    )


def test_mc_samples_selects_plain_monte_carlo(capsys, files):
    # --mc-samples was passed to gmm_mi, whose default RQMC integral ignores it, and echoed back
    import jax

    z = np.load(files["npy"])
    rc, out, _ = run(capsys, files["npy"], "--x", "0", "--y", "1", *FAST, "--json")
    assert rc == 0
    mc = json.loads(out)
    assert mc["integral"] == "mc" and mc["mc_samples"] == 5000
    want = jaxmi.gmm_mi(
        jax.random.key(0), z[:, 0], z[:, 1], n_bootstrap=8, integral="mc", mc_samples=5000
    )
    assert mc["mi"] == float(want.mi)
    rc, out, _ = run(capsys, files["npy"], "--x", "0", "--y", "1", "--n-bootstrap", "8", "--json")
    assert rc == 0
    auto = json.loads(out)
    assert auto["integral"] == "auto" and auto["mc_samples"] is None
    assert auto["mi"] == float(jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], n_bootstrap=8).mi)
    assert auto["mi"] != mc["mi"]


def test_conditional(capsys, files):
    rc, out, err = run(capsys, files["csv"], "--x", "a", "--y", "b", "--z", "c", *FAST, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["quantity"] == "I(X;Y|Z)" and doc["z_columns"] == ["c"]
    assert abs(doc["mi"] - TRUTH_CMI) < 0.08, doc["mi"]
    rc, out, _ = run(capsys, files["npy"], "--x", "0", "--y", "1", "--z", "2", *FAST)
    assert out.startswith("I(X;Y|Z) = ")
    assert float(parse(out)["mi"]) == pytest.approx(doc["mi"], abs=6e-5)


@pytest.mark.parametrize("ext", [".json", ".npz"])
def test_out_saves_a_loadable_result(capsys, files, tmp_path, ext):
    path = tmp_path / f"result{ext}"
    rc, out, _ = run(capsys, files["npy"], "--x", "0", "--y", "1", *FAST, "--json", "--out", path)
    assert rc == 0
    doc = json.loads(out)
    res = jaxmi.gmm.load_result(path)
    assert float(res.mi) == doc["mi"] and float(res.std) == doc["std"]
    assert np.asarray(res.samples).tolist() == doc["samples"]


CAT_FAST = ["--n-bootstrap", "3", "--mc-samples", "2000", "--max-components", "2"]


@pytest.fixture(scope="module")
def label_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("labels")
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 2, 200)
    x = rng.normal(size=200) + 1.5 * codes
    rows = "".join(
        f"{v!r},{['low', 'high'][c]},{3 * c + 1}\n"
        for v, c in zip(x.tolist(), codes.tolist(), strict=True)
    )
    path = d / "labels.csv"
    path.write_text("x,name,code\n" + rows)
    return str(path)


@pytest.mark.parametrize("ext", [".json", ".npz"])
@pytest.mark.parametrize("column, classes", [("name", ["high", "low"]), ("code", [1, 4])])
def test_categorical_out_saves_a_loadable_result(capsys, label_csv, tmp_path, ext, column, classes):
    path = tmp_path / f"result{ext}"
    argv = [label_csv, "--x", "x", "--y", column, "--categorical", *CAT_FAST, "--json"]
    rc, out, err = run(capsys, *argv, "--out", path)
    assert rc == 0, err
    doc = json.loads(out)
    res = jaxmi.gmm.load_result(path)
    assert isinstance(res, jaxmi.gmm.CategoricalMIResult)
    assert res.classes.tolist() == classes == doc["classes"]
    assert res.classes.dtype.kind == ("U" if column == "name" else "i")
    assert float(res.mi) == doc["mi"] and float(res.std) == doc["std"]
    assert res.samples.tolist() == doc["samples"] and res.n_iter.shape == (3, 2)
    assert res.n_components.tolist() == doc["n_components"] and res.prior.tolist() == doc["prior"]


def test_categorical_out_without_error_bar(capsys, label_csv, tmp_path):
    # and without --mc-samples: the library's default integral (RQMC), reported as "auto"
    path = tmp_path / "result.json"
    argv = [label_csv, "--x", "x", "--y", "name", "--categorical", "--max-components", "2"]
    rc, out, err = run(capsys, *argv, "--json", "--n-bootstrap", "1", "--out", path)
    assert rc == 0, err
    res = jaxmi.gmm.load_result(path)
    doc = json.loads(out)
    assert res.std is None and doc["std"] is None and res.n_iter.shape == (1, 2)
    assert doc["integral"] == "auto" and doc["mc_samples"] is None
    assert json.loads(path.read_text())["format"] == "jaxmi.CategoricalMIResult"


@pytest.mark.parametrize(
    "names, dtype", [(["high", "low"], "U"), ([b"high", b"low"], "S"), ([False, True], "b")]
)
def test_categorical_labels_from_an_npz_array(capsys, tmp_path, names, dtype):
    # npz label arrays of strings, bytes or bools are labels as they are (they were refused as
    # "expected a numeric array"); byte strings print as latin-1 text in --json
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 2, 200)
    path = tmp_path / "labels.npz"
    np.savez(path, x=rng.normal(size=200) + 1.5 * codes, y=np.array(names)[codes])
    out_path = tmp_path / "r.npz"
    argv = [path, "--x", "x", "--y", "y", "--categorical", *CAT_FAST, "--json"]
    rc, out, err = run(capsys, *argv, "--out", out_path)
    assert rc == 0, err
    res = jaxmi.gmm.load_result(out_path)
    assert res.classes.dtype.kind == dtype and res.classes.tolist() == sorted(names)
    shown = [n.decode("latin-1") if isinstance(n, bytes) else n for n in sorted(names)]
    assert json.loads(out)["classes"] == shown and float(res.mi) > 0.1
    # the same array as values is still refused
    rc, _, err = run(capsys, path, "--x", "y", "--y", "x")
    assert rc == 2 and "labels.npz:y: expected a numeric array, got dtype" in err


def test_categorical_not_implemented(capsys, files, monkeypatch):
    monkeypatch.delattr(jaxmi, "gmm_mi_categorical", raising=False)
    rc, out, err = run(capsys, files["csv"], "--x", "a", "--y", "b", "--categorical")
    assert rc == 2 and out == ""
    assert err.splitlines() == [err.strip()] and err.startswith(
        "jaxmi mi: error: not implemented yet"
    )


FakeResult = namedtuple(
    "FakeResult",
    "mi std samples point point_stderr classes prior n_components selection_converged "
    "n_iter converged",
)


def fake_result() -> FakeResult:
    """What the stand-ins return: a categorical result with two classes."""
    return FakeResult(
        0.5, 0.01, np.full(4, 0.5), 0.5, 0.001, np.array(["u", "v"]), np.array([0.5, 0.5]),
        np.array([1, 2]), np.array([True, True]), np.ones((4, 2), int),
        np.ones((4, 2), bool),
    )  # fmt: skip


def fake_categorical(monkeypatch, tmp_path):
    """Replace ``jaxmi.gmm_mi_categorical`` by a stand-in that records its calls.

    Returns ``(calls, path)``: the list of ``(x, labels, options)`` and a 4-row CSV of labels.
    """
    calls = []

    def fake(key, x, labels, **options):
        calls.append((x, labels, options))
        return fake_result()

    monkeypatch.setattr(jaxmi, "gmm_mi_categorical", fake, raising=False)
    path = tmp_path / "cat.csv"
    path.write_text("x,label\n0.5,u\n1.5,v\n-0.2,u\n2.0,v\n")
    return calls, path


def test_categorical_dispatch(capsys, tmp_path, monkeypatch):
    real = getattr(jaxmi, "CategoricalMIResult", None)
    if real is not None:  # the stand-in must look like the real result
        assert FakeResult._fields == real._fields
    calls, path = fake_categorical(monkeypatch, tmp_path)
    rc, out, err = run(capsys, path, "--x", "x", "--y", "label", "--categorical", "--bits")
    assert rc == 0, err
    assert out.strip() == "I(X;Y) = 0.5000 ± 0.0100 bits (K*=[1, 2], C=2, N=4)"
    x, labels, options = calls[0]
    assert x.shape == (4, 1) and labels.tolist() == ["u", "v", "u", "v"]
    assert options["base"] == 2
    rc, out, _ = run(capsys, path, "--x", "x", "--y", "label", "--categorical", "--json")
    doc = json.loads(out)
    assert doc["classes"] == ["u", "v"] and doc["n_components"] == [1, 2] and doc["categorical"]
    # integer labels stay integers
    path.write_text("x,label\n0.5,1\n1.5,2\n-0.2,1\n2.0,2\n")
    assert run(capsys, path, "--x", "x", "--y", "label", "--categorical")[0] == 0
    assert calls[-1][1].dtype.kind == "i"


def test_restart_stalled_is_passed_on(capsys, tmp_path, monkeypatch):
    calls, path = fake_categorical(monkeypatch, tmp_path)
    argv = [path, "--x", "x", "--y", "label", "--categorical"]
    assert run(capsys, *argv, "--restart-stalled")[0] == 0
    assert run(capsys, *argv)[0] == 0
    assert calls[0][2]["restart_stalled"] is True and "restart_stalled" not in calls[1][2]
    rc, out, _ = run(capsys, *argv, "--restart-stalled", "--json")
    assert rc == 0 and json.loads(out)["restart_stalled"] is True


def test_normal_scores_are_passed_on(capsys, tmp_path, monkeypatch):
    calls, path = fake_categorical(monkeypatch, tmp_path)
    argv = [path, "--x", "x", "--y", "label", "--categorical"]
    assert run(capsys, *argv, "--normal-scores")[0] == 0
    assert run(capsys, *argv)[0] == 0
    assert calls[0][2]["marginals"] == "normal_scores" and "marginals" not in calls[1][2]
    rc, out, _ = run(capsys, *argv, "--normal-scores", "--json")
    assert rc == 0 and json.loads(out)["marginals"] == "normal_scores"
    rc, out, _ = run(capsys, *argv, "--json")
    assert rc == 0 and json.loads(out)["marginals"] == "data"


def test_init_is_passed_on(capsys, tmp_path, monkeypatch):
    # the stall warning advises init='kmeans'; the command has a flag for it
    calls, path = fake_categorical(monkeypatch, tmp_path)
    monkeypatch.setattr(jaxmi, "gmm_mi", lambda key, x, y, **o: calls.append((x, y, o)) or
                        fake_result())  # fmt: skip
    argv = [path, "--x", "x", "--y", "label"]
    assert run(capsys, *argv, "--categorical", "--init", "kmeans")[0] == 0
    assert run(capsys, *argv, "--categorical")[0] == 0
    assert calls[0][2]["init"] == "kmeans" and "init" not in calls[1][2]
    numbers = tmp_path / "xy.csv"
    numbers.write_text("x,y\n0.5,1\n1.5,2\n-0.2,1\n2.0,3\n")
    rc, out, err = run(capsys, numbers, "--x", "x", "--y", "y", "--init", "kmeans++", "--json")
    assert rc == 0 and json.loads(out)["init"] == "kmeans++", err
    assert calls[2][2]["init"] == "kmeans++"  # the gmm_mi path
    rc, out, _ = run(capsys, *argv, "--categorical", "--json")
    assert json.loads(out)["init"] == "random_responsibilities"


def test_an_unknown_init_is_a_usage_error(capsys, files):
    with pytest.raises(SystemExit) as exc:  # the reference's 'random' is another start
        main(["mi", files["npy"], "--x", "0", "--y", "1", "--init", "random"])
    assert exc.value.code == 2
    assert "argument --init: invalid choice: 'random'" in capsys.readouterr().err


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


Z = np.random.default_rng(1).normal(size=(50, 3))

# name: (file name, content, --x, --y, extra arguments, expected message, exit status)
BAD = {
    "missing-file": ("absent.csv", None, "0", "1", [], "no such file", 2),
    "wrong-extension": ("z.txt", "1,2\n3,4\n", "0", "1", [], "unsupported file type '.txt'", 2),
    "no-extension": ("z", "1,2\n", "0", "1", [], "unsupported file type '(none)'", 2),
    "directory": ("dir.csv", "DIR", "0", "1", [], "is a directory", 2),
    "empty-npy": ("e.npy", b"", "0", "1", [], "empty or truncated", 2),
    "garbage-npy": ("g.npy", b"not numpy at all", "0", "1", [], "not a valid .npy", 2),
    "zip-as-npy": ("z.npy", b"PK\x03\x04rest", "0", "1", [], "damaged zip", 2),
    "npz-as-npy": ("z.npy", "NPZ", "0", "1", [], "not a .npy array", 2),
    "garbage-npz": ("g.npz", b"hello", "0", "1", [], "not a valid .npz", 2),
    "object-npz": (
        "o.npz",
        {"a": np.array([1, "x"], dtype=object), "b": Z[:, 0]},
        "a",
        "b",
        [],
        "object array",
        2,
    ),
    "string-npz": ("s.npz", {"a": np.array(["x", "y"]), "b": Z[:2, 0]}, "a", "b", [], "dtype", 2),
    "3d-npy": ("t.npy", np.zeros((4, 2, 2)), "0", "1", [], "expected a 2-D array", 2),
    "string-npy": ("s.npy", np.array([["a", "b"]] * 5), "0", "1", [], "numeric", 2),
    "ragged-csv": ("r.csv", "a,b\n1,2\n3\n", "a", "b", [], "line 3 has 1 fields, expected 2", 2),
    "text-in-csv": ("t.csv", "a,b\n1,2\n3,oops\n", "a", "b", [], "line 3, column 'b': 'oops'", 2),
    "empty-field": ("t.csv", "1,2\n3,\n", "0", "1", [], "an empty field is not a number", 2),
    "empty-csv": ("e.csv", "", "0", "1", [], "no data", 2),
    "header-only": ("h.csv", "a,b\n", "a", "b", [], "a header row but no data", 2),
    "binary-csv": ("b.csv", b"\xff\xfe\x00\x81", "0", "1", [], "not a UTF-8 text file", 2),
    "out-of-range": ("z.npy", Z, "0", "3", [], "column 3 out of range", 2),
    "negative-out-of-range": ("z.npy", Z, "0", "-4", [], "column -4 out of range", 2),
    "unknown-name": ("n.csv", "a,b\n1,2\n3,4\n", "a", "c", [], "unknown column 'c'", 2),
    "name-without-header": ("z.npy", Z, "0", "b", [], "'b' is not a column index", 2),
    "overlap": ("z.npy", Z, "0,1", "1:3", [], "in both --x and --y", 2),
    "overlap-z": ("z.npy", Z, "0", "1", ["--z", "0"], "in both --x and --z", 2),
    "overlap-npz": ("n.npz", {"m": Z, "b": Z[:, 1]}, "m", "m:2", [], "in both --x and --y", 2),
    "empty-x": ("z.npy", Z, "", "1", [], "--x: empty column list", 2),
    "empty-item": ("z.npy", Z, "0,,2", "1", [], "empty item", 2),
    "empty-range": ("z.npy", Z, "2:1", "0", [], "range 2:1 selects no columns", 2),
    "range-past-end": ("z.npy", Z, "0:5", "1", [], "range 0:5 out of range", 2),
    "duplicate": ("z.npy", Z, "0,0", "1", [], "selected twice", 2),
    "unknown-array": ("n.npz", {"a": Z[:, 0], "b": Z[:, 1]}, "a", "c", [], "no array 'c'", 2),
    "npz-lengths": ("n.npz", {"a": Z[:, 0], "b": Z[:10, 1]}, "a", "b", [], "differ in length", 2),
    "nan": ("nan.csv", "a,b\n1,2\n3,nan\n5,1\n", "a", "b", [], "'b' has 1 NaN or infinite", 2),
    "constant": ("c.csv", "a,b\n1,2\n3,2\n5,2\n", "a", "b", [], "constant column(s) ['b']", 2),
    "bad-out": ("z.npy", Z, "0", "1", ["--out", "r.txt"], "--out: unknown extension", 2),
    "z-categorical": ("z.npy", Z, "0", "1", ["--z", "2", "--categorical"], "--z cannot", 2),
    "categorical-bad-out": (
        "z.npy",
        Z,
        "0",
        "1",
        ["--categorical", "--out", "r.txt"],
        "--out: unknown extension",
        2,
    ),
    "categorical-2-cols": ("z.npy", Z, "0", "1,2", ["--categorical"], "one label column", 2),
    # bad numbers are bad arguments (exit 2, as the epilog says), checked before any work
    "negative-bootstrap": ("z.npy", Z, "0", "1", ["--n-bootstrap", "-1"], "--n-bootstrap: must", 2),
    "zero-mc-samples": ("z.npy", Z, "0", "1", ["--mc-samples", "0"], "--mc-samples: must", 2),
    "zero-n-init": ("z.npy", Z, "0", "1", ["--n-init", "0"], "--n-init: must", 2),
    "huge-seed": ("z.npy", Z, "0", "1", ["--seed", str(10**23)], "--seed: must be in", 2),
    # jax.random.key takes an int64: 2**63 passed a uint64 range check, then a traceback
    "seed-2**63": ("z.npy", Z, "0", "1", ["--seed", str(2**63)], "--seed: must be in", 2),
    "too-few-samples": ("z.npy", Z, "0", "1", ["--n-components", "40"], "too few", 1),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_one_error_line(capsys, tmp_path, monkeypatch, case):
    name, content, x, y, extra, message, status = BAD[case]
    if "categorical" in case:
        monkeypatch.setattr(jaxmi, "gmm_mi_categorical", lambda *a, **k: 1 / 0, raising=False)
    if isinstance(content, str) and content == "DIR":
        (tmp_path / name).mkdir()
        path = str(tmp_path / name)
    elif content is None:
        path = str(tmp_path / name)
    elif isinstance(content, str) and content == "NPZ":
        path = str(tmp_path / name)
        with open(path, "wb") as fh:
            np.savez(fh, a=Z)
    else:
        path = write(tmp_path, name, content)
    rc, out, err = run(capsys, path, "--x", x, "--y", y, *extra)
    assert rc == status, (rc, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxmi mi: error: "), err
    assert message in lines[0], lines[0]
    assert "Traceback" not in err


def test_missing_required_option_is_a_usage_error(capsys, files):
    with pytest.raises(SystemExit) as exc:
        main(["mi", files["npy"], "--x", "0"])
    assert exc.value.code == 2
    assert "the following arguments are required: --y" in capsys.readouterr().err


def test_help_lists_mi():
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "jaxmi mi" in jaxmi.cli.__doc__
