"""Package-level checks: public surface, README/CI consistency, the command line."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import jaxmi
from jaxmi import cli

ROOT = Path(__file__).resolve().parents[1]


def test_version_and_public_surface():
    assert isinstance(jaxmi.__version__, str) and re.match(r"\d+\.\d+", jaxmi.__version__)
    for mod in (jaxmi, jaxmi.gmm, jaxmi.bounds, jaxmi.nn, jaxmi.neural):
        assert mod.__all__, mod
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name} in __all__ but missing"
            if name != "__version__":
                assert not name.startswith("_")


def test_import_jaxmi_does_not_import_flax():
    code = "import sys, jaxmi; assert 'flax' not in sys.modules; jaxmi.nn.ConcatCritic; "
    code += "from jaxmi.nn import SeparableCritic; assert 'flax' in sys.modules; "
    code += "from jaxmi import neural_mi, NeuralMIResult; assert jaxmi.neural_mi is neural_mi"
    subprocess.run([sys.executable, "-c", code], check=True)


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash block of set-up commands"
    return [line.strip() for line in block.group(1).strip().splitlines()]


def test_readme_opens_with_two_setup_commands_and_ci_runs_the_test_one():
    cmds = _readme_commands()
    assert len(cmds) == 2
    assert "pytest" in cmds[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert cmds[1] in ci.splitlines(), ".ci/run must run the README's test command verbatim"


def test_cli_demo_small(capsys):
    assert cli.main(["demo", "--n", "400", "--max-components", "3", "--n-init", "1"]) == 0
    out = capsys.readouterr().out
    assert "selected K =" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-components", "0"], "--max-components: must be >= 1, got 0"),
        (["--n-init", "0"], "--n-init: must be >= 1, got 0"),
        (["--seed", "-1"], "--seed: must be >= 0, got -1"),
        (["--n", "10"], "--n: 6 components in 2-D need at least 18 training points"),
    ],
)
def test_cli_demo_bad_flags(capsys, argv, message):
    """One error line naming the flag, before any work (were: tracebacks, a "selected K = 0"
    with no components tried, and six-component fits of ten points)."""
    assert cli.main(["demo", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("jaxmi demo: error: ") and message in err


def test_cli_entry_point_version():
    out = subprocess.run(
        [sys.executable, "-m", "jaxmi", "--version"], capture_output=True, text=True, check=True
    )
    assert jaxmi.__version__ in out.stdout


_CACHE_PROBE = """
import jax, numpy as np, jaxmi
hits = []
jax.monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name == "/jax/compilation_cache/cache_hits" else None
)
jaxmi.enable_compilation_cache({path!r})
x = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)
jaxmi.gmm.fit(jax.random.key(0), x, 2)
print("HITS", len(hits))
"""


def test_persistent_compilation_cache_serves_a_second_process(tmp_path):
    code = _CACHE_PROBE.format(path=str(tmp_path / "cache"))
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    first, second = (int(r.stdout.split("HITS")[-1]) for r in runs)
    assert first == 0
    assert second >= 1
    assert any((tmp_path / "cache").iterdir())


_DEFAULT_CACHE_PROBE = """
import jax, jaxmi
print("DIR", jax.config.jax_compilation_cache_dir)
"""


def test_cache_is_on_by_default_and_can_be_turned_off(tmp_path):
    import os

    env = dict(os.environ, JAXMI_CACHE_DIR=str(tmp_path / "c"))
    env.pop("JAXMI_COMPILATION_CACHE", None)
    on = subprocess.run(
        [sys.executable, "-c", _DEFAULT_CACHE_PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"DIR {tmp_path / 'c'}" in on.stdout
    env["JAXMI_COMPILATION_CACHE"] = "0"
    off = subprocess.run(
        [sys.executable, "-c", _DEFAULT_CACHE_PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "DIR None" in off.stdout


def test_readme_python_snippets_run(tmp_path):
    text = (ROOT / "README.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    assert "jaxmi.gmm_mi" in code
    script = tmp_path / "readme.py"
    script.write_text(code)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_cli_benchmark_mc_samples_selects_plain_monte_carlo(monkeypatch, tmp_path):
    import jaxmi._benchmark

    seen = []
    monkeypatch.setattr(jaxmi._benchmark, "run_benchmark", lambda *a, **kw: seen.append(kw))
    assert cli.main(["benchmark", "--mc-samples", "5000", "--out", str(tmp_path)]) == 0
    assert seen[0]["options"] == {"n_bootstrap": 50, "mc_samples": 5000}


def test_cli_benchmark_normal_scores_are_passed_on(monkeypatch, tmp_path):
    import jaxmi._benchmark

    seen = []
    monkeypatch.setattr(jaxmi._benchmark, "run_benchmark", lambda *a, **kw: seen.append(kw))
    assert cli.main(["benchmark", "--normal-scores", "--out", str(tmp_path)]) == 0
    assert cli.main(["benchmark", "--out", str(tmp_path)]) == 0
    assert seen[0]["options"] == {"n_bootstrap": 50, "marginals": "normal_scores"}
    assert seen[1]["options"] == {"n_bootstrap": 50}


def test_cli_benchmark_small(tmp_path, capsys):
    argv = [
        "benchmark",
        "--tasks",
        "1v1-normal-0.75",
        "--n",  # the shapes and options of tests/test_benchmark_job.py (shared programs)
        "512",
        "--n-bootstrap",
        "6",
        "--out",
        str(tmp_path),
    ]
    assert cli.main(argv) == 0
    assert "1v1-normal-0.75" in capsys.readouterr().out
    assert (tmp_path / "jaxmi_benchmark.png").exists()
    # the default integral (RQMC): no mc_samples passed on (it would select plain Monte Carlo)
    meta = json.loads((tmp_path / "jaxmi_benchmark.json").read_text())["meta"]
    assert meta["options"] == {"n_bootstrap": 6}
    assert cli.main(["benchmark", "--tasks", "no-such-task", "--out", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_warnings_point_at_the_first_frame_outside_the_package():
    # user_stacklevel walks out of jaxmi's own files; a user's file in a sibling directory
    # whose name starts with "jaxmi" (jaxmi_examples/) is outside the package
    import os

    from jaxmi._validation import user_stacklevel

    package = os.path.dirname(os.path.abspath(jaxmi.__file__))
    src = "def level():\n    return user_stacklevel()\n"

    def level_from(filename):
        scope = {"user_stacklevel": user_stacklevel}
        exec(compile(src, filename, "exec"), scope)
        return scope["level"]()

    assert level_from(os.path.join(package + "_examples", "user.py")) == 1
    # a helper inside the package: the warning skips it and names this test's line
    assert level_from(os.path.join(package, "gmm", "_helper.py")) == 2
