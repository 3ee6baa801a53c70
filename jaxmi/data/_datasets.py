"""The dataset container, the class shapes of the synthetic task and the bundled digits."""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

__all__ = ["SHAPES", "ImageDataset", "load_digits", "shape_templates"]

SHAPES = ("hbar", "vbar", "diagonal", "antidiagonal", "plus", "ring", "cross", "square")
"""Object shapes of :func:`jaxmi.data.synthetic_images`; class ``i`` is ``SHAPES[i]``."""


class ImageDataset(NamedTuple):
    """Images with labels and (optionally) ground-truth relevance masks.

    Attributes:
        images: (n, H, W, C) float32 in [0, 1] (NHWC, the Flax convention).
        labels: (n,) int32 class indices.
        masks: (n, H, W) bool, True on the pixels that decide the class, or None when unknown.
    """

    images: jax.Array | np.ndarray
    labels: jax.Array | np.ndarray
    masks: jax.Array | np.ndarray | None


def shape_templates(object_size: int) -> np.ndarray:
    """The object templates of the synthetic task, one per entry of :data:`SHAPES`.

    Args:
        object_size: odd side length k >= 3 of the square footprint.

    Returns:
        (len(SHAPES), k, k) bool: horizontal bar (middle row), vertical bar (middle column), main
        diagonal, anti-diagonal, plus (middle row and column), ring (border), cross (both
        diagonals) and filled square. Every template has a run of k "on" pixels along a row,
        column or diagonal, so none of them can be made of 2×2 distractor blobs that do not
        touch each other.

    Example:
        >>> shape_templates(3)[0].astype(int)
        array([[0, 0, 0],
               [1, 1, 1],
               [0, 0, 0]])
    """
    k = int(object_size)
    if k < 3 or k % 2 == 0:
        raise ValueError(f"object_size: must be an odd integer >= 3, got {object_size!r}")
    m = k // 2
    eye = np.eye(k, dtype=bool)
    row = np.zeros((k, k), bool)
    row[m, :] = True
    ring = np.ones((k, k), bool)
    ring[1:-1, 1:-1] = False
    return np.stack(
        [
            row,
            row.T,
            eye,
            eye[:, ::-1],
            row | row.T,
            ring,
            eye | eye[:, ::-1],
            np.ones((k, k), bool),
        ]
    )


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """Read scikit-learn's bundled ``digits.csv.gz`` (no download); ImportError without it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ImportError(
            "load_digits: jaxmi's bundled copy of the digits is missing from this installation "
            "and scikit-learn (whose wheel also ships them) is not installed; "
            "`pip install scikit-learn` or reinstall jaxmi with its package data"
        )
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float64)
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    from sklearn.datasets import load_digits as sk_load_digits  # layout changed: use its loader

    d = sk_load_digits()
    return d.images, d.target


def load_digits() -> ImageDataset:
    """The 1,797 handwritten digits (8×8, 10 classes) bundled with scikit-learn, offline.

    Source and licence: this is the test set of the UCI "Optical Recognition of Handwritten
    Digits" data (E. Alpaydin and C. Kaynak, 1998; UCI Machine Learning Repository, CC BY 4.0),
    exactly as scikit-learn ships it in ``sklearn/datasets/data/digits.csv.gz`` (same images,
    same order). jaxmi ships a compact copy (``jaxmi/data/digits.npz``, 45 KB, uint8) so that no
    download and no scikit-learn is needed; if that file is absent (a build without package
    data), the file inside an installed scikit-learn is read instead, and an ``ImportError``
    says so when neither is there.

    Returns:
        ImageDataset with images (1797, 8, 8, 1) float32 = grey level / 16 in [0, 1] (17 levels),
        labels (1797,) int32 in 0..9 and masks None (no ground truth for relevance); NumPy
        arrays (host memory, cheap to split), in scikit-learn's order.

    Raises:
        ImportError: neither the bundled copy nor scikit-learn is available.

    Example:
        >>> ds = load_digits()
        >>> ds.images.shape, ds.labels[:5].tolist()
        ((1797, 8, 8, 1), [0, 1, 2, 3, 4])
    """
    try:
        ref = importlib.resources.files("jaxmi.data").joinpath("digits.npz")
        with ref.open("rb") as f, np.load(f) as z:
            grey, labels = z["images"], z["labels"]
    except FileNotFoundError:
        grey, labels = _sklearn_digits()
    images = (np.asarray(grey, np.float32) / np.float32(16.0))[..., None]
    return ImageDataset(images=images, labels=np.asarray(labels, np.int32), masks=None)
