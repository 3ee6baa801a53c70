"""occlusion: a hand-computed case, a NumPy re-statement of Captum's semantics, Captum itself.

The Captum comparison runs only where PyTorch and Captum are installed (they are not test
dependencies). To enable it locally (CPU torch, no CUDA download)::

    pip install torch==2.13.0 && pip install captum --no-deps
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmi.attribution import occlusion

_RNG = np.random.default_rng(0)
_W1 = _RNG.normal(size=(7 * 6 * 2, 5)).astype(np.float32) / 4
_W2 = _RNG.normal(size=(5, 3)).astype(np.float32)


def _log_probs(x):
    """A tiny nonlinear 3-class model on (B, 7, 6, 2) images, log-softmax outputs."""
    h = jnp.tanh(x.reshape(x.shape[0], -1) @ _W1)
    return jax.nn.log_softmax(h @ _W2, axis=-1)


def _captum_numpy(f, x, window, stride, baseline, target):
    """Captum's Occlusion for windows over all channels, restated with loops (NHWC)."""
    b, h, w, _ = x.shape
    total = np.zeros((b, h, w))
    count = np.zeros((b, h, w))
    clean = np.asarray(f(x))
    for i in range(math.ceil((h - window) / stride) + 1):
        for j in range(math.ceil((w - window) / stride) + 1):
            r, c = i * stride, j * stride
            xo = x.copy()
            base = np.broadcast_to(baseline, x.shape[1:])
            xo[:, r : r + window, c : c + window] = base[r : r + window, c : c + window]
            d = clean[np.arange(b), target] - np.asarray(f(xo))[np.arange(b), target]
            total[:, r : r + window, c : c + window] += d[:, None, None]
            count[:, r : r + window, c : c + window] += 1
    return total / count


def test_hand_computed_sum_model():
    # f = sum of all pixels; zero baseline; a window's score is the sum of its pixels
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    a = occlusion(lambda v: v.sum(axis=(1, 2, 3))[:, None], x, window=2, target=0)
    # windows (top-left): (0,0)=8, (0,1)=12, (1,0)=20, (1,1)=24
    expect = [[8, 10, 12], [14, 16, 18], [20, 22, 24]]
    np.testing.assert_allclose(a[0], expect, rtol=1e-6)


@pytest.mark.parametrize(("window", "stride"), [(3, 2), (2, 1), (4, 3)])
def test_matches_captum_semantics_restated_in_numpy(window, stride):
    x = _RNG.uniform(size=(3, 7, 6, 2)).astype(np.float32)
    base = np.array([0.2, 0.8], np.float32)
    tgt = np.array([0, 2, 1])
    got = occlusion(_log_probs, x, window=window, stride=stride, baseline=base, target=tgt)
    want = _captum_numpy(_log_probs, x, window, stride, base, tgt)
    # float32: scores are differences of log-probabilities of size ~1 after an 84-term matmul,
    # whose summation order differs between XLA versions (1.4e-6 apart under jax 0.8)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=4e-6)


def test_image_baseline_and_default_target():
    x = _RNG.uniform(size=(2, 7, 6, 2)).astype(np.float32)
    base = _RNG.uniform(size=(7, 6, 2)).astype(np.float32)
    got = occlusion(_log_probs, x, window=3, stride=2, baseline=base)
    top = np.argmax(np.asarray(_log_probs(x)), axis=1)
    np.testing.assert_allclose(
        got, _captum_numpy(_log_probs, x, 3, 2, base, top), rtol=1e-5, atol=1e-6
    )


def test_bad_arguments_raise():
    x = np.zeros((1, 7, 6, 2), np.float32)
    with pytest.raises(ValueError, match="baseline"):
        occlusion(_log_probs, x, window=2, baseline=np.zeros(3))
    with pytest.raises(ValueError, match="target"):
        occlusion(_log_probs, x, window=2, target=3)
    with pytest.raises(ValueError, match="target"):
        occlusion(_log_probs, x, window=2, target=[0, 1])
    with pytest.raises(ValueError, match="window"):
        occlusion(_log_probs, x, window=8)


def test_matches_captum():
    """Captum's own Occlusion on the same model (skipped without torch and captum)."""
    torch = pytest.importorskip("torch")
    captum_attr = pytest.importorskip("captum.attr")
    w1, w2 = torch.from_numpy(_W1), torch.from_numpy(_W2)

    def forward(x_nchw):
        h = torch.tanh(x_nchw.permute(0, 2, 3, 1).reshape(x_nchw.shape[0], -1) @ w1)
        return torch.log_softmax(h @ w2, dim=-1)

    x = _RNG.uniform(size=(3, 7, 6, 2)).astype(np.float32)
    tgt = [2, 0, 1]
    for window, stride, base in [(3, 2, 0.0), (2, 1, 0.5), (4, 3, 0.25)]:
        ref = captum_attr.Occlusion(forward).attribute(
            torch.from_numpy(x).permute(0, 3, 1, 2),
            sliding_window_shapes=(2, window, window),
            strides=(2, stride, stride),
            baselines=base,
            target=tgt,
        )
        ref = ref.permute(0, 2, 3, 1).numpy()  # (B, H, W, C), equal over channels
        got = occlusion(_log_probs, x, window=window, stride=stride, baseline=base, target=tgt)
        np.testing.assert_allclose(got, ref[..., 0], atol=1e-5)
        np.testing.assert_allclose(ref[..., 1], ref[..., 0], atol=1e-7)
