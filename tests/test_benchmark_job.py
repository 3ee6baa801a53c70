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
    ],
)
def test_command_line_errors(tmp_path, capsys, argv, message):
    from jaxmi.cli import main

    assert main(["benchmark", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxmi benchmark: error: ") and message in err
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written
