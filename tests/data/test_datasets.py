import importlib.util

import jax
import numpy as np
import pytest

from jaxmi import data


def _footprint_box(mask):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def test_synthetic_shapes_dtypes_and_determinism():
    ds = data.synthetic_images(jax.random.key(0), 6, size=12, channels=3, n_classes=3)
    assert isinstance(ds, data.ImageDataset)
    assert ds.images.shape == (6, 12, 12, 3) and ds.images.dtype == np.float32
    assert ds.labels.shape == (6,) and ds.labels.dtype == np.int32
    assert ds.masks.shape == (6, 12, 12) and ds.masks.dtype == np.bool_
    assert float(ds.images.min()) >= 0.0 and float(ds.images.max()) <= 1.0
    again = data.synthetic_images(jax.random.key(0), 6, size=12, channels=3, n_classes=3)
    np.testing.assert_array_equal(ds.images, again.images)
    other = data.synthetic_images(jax.random.key(1), 6, size=12, channels=3, n_classes=3)
    assert not np.array_equal(ds.images, other.images)


def test_mask_holds_the_class_template_and_outside_only_blobs():
    """The footprint is one k×k square holding exactly the template of the label (bright pixels
    >= intensity[0], the rest < noise); outside it the bright pixels are disjoint 2×2 blobs that
    do not touch the footprint, so nothing outside carries the class."""
    k, noise, lo = 5, 0.25, 0.6
    ds = data.synthetic_images(jax.random.key(3), 200, size=16, n_classes=8, n_distractors=3)
    images, labels, masks = (np.asarray(a) for a in ds)
    templates = data.shape_templates(k)
    assert set(np.unique(labels)) == set(range(8))
    for img, lab, m in zip(images[..., 0], labels, masks, strict=True):
        r0, r1, c0, c1 = _footprint_box(m)
        assert (r1 - r0, c1 - c0) == (k, k) and m.sum() == k * k
        patch = img[r0:r1, c0:c1]
        bright = patch >= lo
        np.testing.assert_array_equal(bright, templates[lab])
        assert (patch[~bright] < noise).all()
        # template matching inside the known footprint recovers the label exactly
        assert np.argmax([(bright == t).sum() for t in templates]) == lab
        outside = (img >= lo) & ~m
        assert outside.sum() == 4 * 3  # three separate 2×2 blobs
        grown = np.zeros_like(m)
        grown[max(r0 - 1, 0) : r1 + 1, max(c0 - 1, 0) : c1 + 1] = True
        assert not (outside & grown).any()
        assert (img[~m & (img < lo)] < noise).all()


def test_default_object_size():
    from jaxmi.data._synthetic import _default_object_size

    assert [_default_object_size(s) for s in (8, 12, 16, 32)] == [3, 5, 5, 11]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(n=0), "n"),
        (dict(n_classes=9), "n_classes"),
        (dict(object_size=4), "object_size"),
        (dict(object_size=17), "object_size"),
        (dict(noise=0.7), "noise"),
        (dict(intensity=(0.5, 1.2)), "intensity"),
        (dict(channels=0), "channels"),
    ],
)
def test_synthetic_validation(kwargs, name):
    args = dict(n=2) | kwargs
    n = args.pop("n")
    with pytest.raises(ValueError, match=name):
        data.synthetic_images(jax.random.key(0), n, **args)
    with pytest.raises(ValueError, match="key"):
        data.synthetic_images(0, 2)


def test_load_digits_matches_scikit_learn():
    ds = data.load_digits()
    assert ds.images.shape == (1797, 8, 8, 1) and ds.images.dtype == np.float32
    assert ds.labels.dtype == np.int32 and ds.masks is None
    assert ds.images.min() == 0.0 and ds.images.max() == 1.0
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn not installed")
    from sklearn.datasets import load_digits

    ref = load_digits()
    np.testing.assert_array_equal(ds.images[..., 0] * 16, ref.images)
    np.testing.assert_array_equal(ds.labels, ref.target)
    # the fallback reader of scikit-learn's bundled file gives the same arrays
    from jaxmi.data._datasets import _sklearn_digits

    grey, labels = _sklearn_digits()
    np.testing.assert_array_equal(grey, ref.images)
    np.testing.assert_array_equal(labels, ref.target)


def test_load_digits_without_bundled_copy_or_sklearn(monkeypatch):
    import importlib.resources

    def missing(*_):
        raise FileNotFoundError("digits.npz")

    monkeypatch.setattr(importlib.resources, "files", missing)
    if importlib.util.find_spec("sklearn") is not None:  # falls back to sklearn's file
        assert data.load_digits().images.shape == (1797, 8, 8, 1)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="scikit-learn"):
        data.load_digits()
