"""neural_mi(stream=...): data on the host, one chunk of minibatches on the device at a time."""

import itertools

import jax
import numpy as np
import pytest

import jaxmi
from jaxmi import tasks
from jaxmi.neural import _stream, _train

KEYS = jax.random.split(jax.random.key(14), 2)  # seeds whose runs stop at different chunks
# tiny critic (a program no other test builds), 10 chunks of 10 steps; the 200-row validation
# and test splits are 12 evaluation batches of 16, sent in groups of 10 (the second one padded)
OPTS = {
    "bound": ["nwj", "club"],  # a lower and an upper bound in one program
    "batch_size": 16,
    "hidden": (5,),
    "embed_dim": 4,
    "max_steps": 100,
    "eval_every": 10,
    "patience": 2,
    "learning_rate": 1e-2,
}
FIELDS = ("mi", "mi_batch_std", "max_val", "stop_val", "train_curve", "val_curve", "test_curve")


@pytest.fixture(scope="module")
def data():
    x, y = tasks.staircase(2, 0.5).sample(jax.random.key(0), 800)
    return np.asarray(x), np.asarray(y)


@pytest.fixture(scope="module")
def in_memory(data):
    return jaxmi.neural_mi(KEYS, *data, stream=False, **OPTS)


@pytest.fixture(scope="module")
def streamed(data):
    _train._init_program.cache_clear()  # shared with the in-memory run: count it here too
    before = dict(_train._STREAM_TRACES)
    r = jaxmi.neural_mi(KEYS, *data, stream=True, **OPTS)
    traces = {k: v - before[k] for k, v in _train._STREAM_TRACES.items()}
    return r, traces


def assert_same(a, b):
    """The streamed run trains on the same batches in the same order: same result."""
    for field in FIELDS:
        x, y = getattr(a, field), getattr(b, field)
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=field)
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=field)
    for field in ("best_step", "stop_step", "early_stopped", "n_eval_batches", "bound"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    for p, q in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)


def test_streamed_equals_in_memory(in_memory, streamed):
    r, _ = streamed
    assert r.mi.shape == (2, 2) and r.n_eval_batches == 12
    assert np.all(r.stop_step >= 30)  # patience 2: at least three chunks ran
    assert len(set(r.stop_step.ravel().tolist())) > 1  # runs stop at different chunks
    assert_same(in_memory, r)


def test_each_program_compiles_once_across_chunks(streamed):
    r, traces = streamed
    assert np.max(r.stop_step) >= 40  # four or more chunks, two evaluation groups per split
    assert traces == {"init": 1, "train": 1, "eval": 1, "advance": 1}


def test_memmap_and_auto(data, in_memory, streamed, tmp_path, monkeypatch):
    x, y = data
    calls = []
    run = _train._run_streamed
    monkeypatch.setattr(_train, "_run_streamed", lambda *a: calls.append(1) or run(*a))
    xm = np.memmap(tmp_path / "x.f64", np.float64, "w+", shape=x.shape)
    ym = np.memmap(tmp_path / "y.f64", np.float64, "w+", shape=y.shape)
    xm[:], ym[:] = x, y  # float32 values held exactly in float64 files
    xm.flush(), ym.flush()
    xr = np.memmap(tmp_path / "x.f64", np.float64, "r", shape=x.shape)
    yr = np.memmap(tmp_path / "y.f64", np.float64, "r", shape=y.shape)
    before = dict(_train._STREAM_TRACES)
    r = jaxmi.neural_mi(KEYS, xr, yr, **OPTS)  # stream="auto" streams a memmap
    assert len(calls) == 1
    assert_same(in_memory, r)
    assert _train._STREAM_TRACES == before  # same shapes and dtypes: nothing recompiled
    # "auto" streams ordinary arrays above the byte threshold, not below it
    monkeypatch.setattr(_train, "STREAM_BYTES", x.nbytes + y.nbytes)
    assert_same(in_memory, jaxmi.neural_mi(KEYS, x, y, **OPTS))
    assert len(calls) == 1
    monkeypatch.setattr(_train, "STREAM_BYTES", x.nbytes + y.nbytes - 1)
    assert_same(in_memory, jaxmi.neural_mi(KEYS, x, y, **OPTS))
    assert len(calls) == 2
    assert _train._STREAM_TRACES == before


def test_column_stats_in_blocks(monkeypatch):
    monkeypatch.setattr(_stream, "_BLOCK_BYTES", 8 * 3 * 7)  # blocks of 7 rows
    a = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 3)).astype(np.float32)
    mean, sd = _stream.column_stats(a, "x", np.dtype(np.float32))
    np.testing.assert_allclose(mean, a.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sd, a.astype(np.float64).std(0), rtol=1e-12)
    assert mean.dtype == sd.dtype == np.float64
    b = a.copy()
    b[45, 1] = np.nan  # in the last block
    with pytest.raises(ValueError, match="x: contains 1 NaN"):
        _stream.column_stats(b, "x", np.dtype(np.float32), moments=False)
    rows = np.array([[4, 0], [4, 49]])
    got = _stream.gather_rows(a, rows, (mean, sd), np.dtype(np.float32))
    np.testing.assert_array_equal(got, ((a[rows] - mean) / sd).astype(np.float32))
    whole = _stream.standardise_array(a, (mean, sd), np.dtype(np.float32))  # 8 blocks
    np.testing.assert_array_equal(whole, ((a - mean) / sd).astype(np.float32))
    # float64 data far from 0 (timestamps): the statistics and the standardisation are taken
    # on the values as given; cast first, 1.7e9 + 100 z kept a handful of distinct values
    far = 1.7e9 + 100.0 * a.astype(np.float64)
    assert len(np.unique(far[:, 0].astype(np.float32))) < 10
    stats = _stream.column_stats(far, "x", np.dtype(np.float32))
    got = _stream.gather_rows(far, np.arange(50), stats, np.dtype(np.float32))
    want = (far - far.mean(0)) / far.std(0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got.dtype == np.float32 and len(np.unique(got[:, 0])) == 50
    # beyond float32's range (and, squared, float64's): each block's sums are taken in units of
    # a power of two at the column's largest magnitude; 1e160 gave an infinite std, 1e-300 a
    # constant column. A later block may hold the largest values
    base = a.astype(np.float64)
    base[40:] *= 1e3
    want = base.mean(0), base.std(0)
    for s in (1e160, 1e-300):
        mean, sd = _stream.column_stats(s * base, "x", np.dtype(np.float32))
        np.testing.assert_allclose(mean / s, want[0], rtol=1e-12)
        np.testing.assert_allclose(sd / s, want[1], rtol=1e-12)


def test_data_far_from_zero_train_as_the_data_near_zero(data, in_memory):
    x, y = data
    far = 1.7e9 + 100.0 * x.astype(np.float64)
    huge = 1e40 * x.astype(np.float64)  # was refused as overflowing float32
    for xs, stream in itertools.product((far, huge), (False, True)):
        r = jaxmi.neural_mi(KEYS, xs, y, stream=stream, **OPTS)
        np.testing.assert_allclose(r.mi, in_memory.mi, atol=2e-3, err_msg=f"stream={stream}")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stream": "yes"}, "stream: expected True, False or 'auto'"),
        ({"stream": 1}, "stream: expected True, False or 'auto'"),
        ({"x": np.zeros((40, 2, 1))}, "x: expected shape"),
        ({"y": np.zeros((39, 1))}, "x, y: need the same number of samples"),
        ({"x": np.full((40, 1), np.inf)}, "x: contains 40 NaN or infinite"),
        ({"y": np.ones(40)}, r"y: column\(s\) \[0\] are constant"),
        ({"x": np.full(40, 1e300), "standardize": False}, "x: values overflow float32"),
        ({"x": np.zeros((3, 1)), "y": np.zeros((3, 1))}, "x: needs at least 4 samples"),
        ({"x": "abc"}, "x: expected an array"),
    ],
)
def test_bad_streamed_inputs(kwargs, match):
    rng = np.random.default_rng(0)
    args = {"x": rng.normal(size=(40, 1)), "y": rng.normal(size=40), "stream": True}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        jaxmi.neural_mi(jax.random.key(0), args.pop("x"), args.pop("y"), **args)


def test_both_runs_hold_under_debug_nans(data, in_memory):
    # jax_debug_nans raises where a program returns NaN. The records of stopped seeds, the
    # chunks never run and the best test value before any improvement were NaN by design (the
    # init program raised); the programs now return 0 there and the result reads NaN
    assert np.isnan(in_memory.val_curve).any()  # seeds stopped before the last chunk
    with jax.debug_nans(True):
        for stream in (False, True):
            assert_same(in_memory, jaxmi.neural_mi(KEYS, *data, stream=stream, **OPTS))


def test_auto_streaming_counts_the_training_dtype(monkeypatch):
    # float64 data trained in float32 (dtype=) take half their bytes on the device
    x, y = np.zeros((100, 3)), np.zeros((100, 2))
    monkeypatch.setattr(_train, "STREAM_BYTES", 100 * 5 * 6)  # between 4 and 8 bytes a value
    with jax.enable_x64(True):
        assert _train._streaming("auto", x, y)
        assert not _train._streaming("auto", x, y, np.dtype(np.float32))
    assert not _train._streaming("auto", x, y)  # float32 without x64
