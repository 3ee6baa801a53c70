"""The text progress bar."""

import io

import jax
import numpy as np

import jaxmi
from jaxmi._progress import Progress


def test_bar_counts_and_can_be_disabled():
    out = io.StringIO()
    with Progress(4, "work", stream=out) as bar:
        for i in range(4):
            bar.update(note=f"step {i}")
    text = out.getvalue()
    assert "4/4" in text and "[########################]" in text and text.endswith("\n")
    quiet = io.StringIO()
    with Progress(4, "work", stream=quiet, enabled=False) as bar:
        bar.update()
    assert quiet.getvalue() == ""


def test_gmm_mi_progress_goes_to_stderr(capsys):
    # N = 2048 and 16 replicates: the shapes of tests/gmm/test_mi.py, whose compiled programs
    # the persistent cache then serves
    z = np.random.default_rng(0).multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], 2048)
    # chunks of 8 problems: the bootstrap's two chunks show how far they got
    jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], n_bootstrap=16, chunk=8, progress=True)
    captured = capsys.readouterr()
    assert "choosing K" in captured.err and captured.out == ""
    assert "bootstrap replicates 8 of 16" in captured.err
    assert "bootstrap replicates 16 of 16" in captured.err
