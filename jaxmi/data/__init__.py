"""Offline image datasets for attribution experiments (``jaxmi.data``).

* :func:`synthetic_images`: images whose class is decided by one object at a random location,
  with the exact ground-truth relevance mask of that object (for pointing, top-n-in-mask and the
  effective heat ratio in :mod:`jaxmi.attribution.metrics`).
* :func:`load_digits`: the 1,797 8×8 handwritten digits bundled with scikit-learn, from a compact
  copy shipped inside jaxmi (no download, no scikit-learn needed).

Both return an :class:`ImageDataset` (NHWC float32 images in [0, 1], int32 labels, bool masks or
None).
"""

from jaxmi.data._datasets import SHAPES, ImageDataset, load_digits, shape_templates
from jaxmi.data._synthetic import synthetic_images

__all__ = ["SHAPES", "ImageDataset", "load_digits", "shape_templates", "synthetic_images"]
