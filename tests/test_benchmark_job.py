"""The ground-truth benchmark job (``jaxmi benchmark``) in a small configuration."""

import json

import pytest

from jaxmi._benchmark import DEFAULT_TASKS, run_benchmark


def test_small_benchmark_writes_table_json_and_plot(tmp_path, capsys):
    rows = run_benchmark(
        ["1v1-normal-0.75", "gmmmi-D1"],
        n=512,
        options=dict(n_bootstrap=6),  # the default integral (RQMC)
        out=tmp_path,
    )
    assert [r["task"] for r in rows] == ["1v1-normal-0.75", "gmmmi-D1"]
    for r in rows:
        assert abs(r["estimate"] - r["truth"]) < 4 * r["std"] + 0.05
    saved = json.loads((tmp_path / "jaxmi_benchmark.json").read_text())
    assert saved["rows"][0]["truth"] == pytest.approx(0.413339, abs=1e-6)
    assert (tmp_path / "jaxmi_benchmark.png").stat().st_size > 10_000
    assert "err/std" in capsys.readouterr().out


def test_default_tasks_exist_and_are_continuous():
    import jaxmi

    for name in DEFAULT_TASKS:
        t = jaxmi.tasks.get(name)
        assert t.x_kind == t.y_kind == "continuous"


def test_discrete_tasks_are_refused():
    with pytest.raises(ValueError, match="discrete"):
        run_benchmark(["gao-uniform-mixture-5"], n=100, echo=False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # checked before any task runs, in the command line's own terms
        (["--tasks", "gmmmi-D33"], "--tasks: unknown task 'gmmmi-D33'; did you mean 'gmmmi-D3'"),
        (["--tasks", "nope"], "'jaxmi benchmark --list' lists all"),
        (["--seeds", "-1"], "--seeds: expected non-negative integers, got '-1'"),
        (["--seeds", "a"], "--seeds: expected non-negative integers, got 'a'"),
        (["--tasks", ","], "--tasks: no task ids in ','"),
        (["--n", "0"], "--n: must be >= 1, got 0"),
        # too few samples for the largest default task, named with it, in the flag's name
        (["--n", "7"], "--n: too small for task 'multinormal-dense-2-2-0.5' (x, y: 7 samples"),
        (["--n-bootstrap", "1"], "--n-bootstrap: the error bars (and err/std) need at least 2"),
        (["--mc-samples", "1"], "--mc-samples: must be >= 2, got 1"),
    ],
)
def test_command_line_errors(tmp_path, capsys, argv, message):
    from jaxmi.cli import main

    assert main(["benchmark", *argv, "--out", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("jaxmi benchmark: error: ") and message in err
    assert out == ""  # refused before the table's header
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written


def test_an_unusable_output_directory_is_refused_before_any_work(tmp_path, capsys):
    from jaxmi.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the directory should be
    argv = ["benchmark", "--tasks", "1v1-normal-0.75", "--out", str(blocker / "sub")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(
        "jaxmi benchmark: error: --out: cannot create the directory"
    )


def test_rows_without_error_bars_are_marked_not_counted(capsys):
    rows = run_benchmark(
        ["1v1-normal-0.75"], n=200, options=dict(n_bootstrap=0, mc_samples=2000), out=None
    )
    assert rows[0]["std"] != rows[0]["std"] and rows[0]["z"] != rows[0]["z"]  # NaN: none
    out = capsys.readouterr().out
    assert "nan" not in out and "no error bars (n_bootstrap < 2)" in out
