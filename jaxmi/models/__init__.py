"""Small Flax NNX image classifiers for tests, benchmarks and notebooks (``jaxmi.models``).

* :class:`SmallCNN` — Conv 3x3 → ReLU → Conv 3x3 → ReLU → global mean → Dense (NHWC input).
* :func:`train_classifier` — fused training (``nnx.split`` once, a pure optax step in
  ``lax.scan``) returning the model and a pure ``predict_fn`` for
  :func:`jaxmi.attribution.it_maps`.

Nothing is downloaded: train on your own arrays (e.g. ``jaxmi.data``).
"""

from jaxmi.models._cnn import SmallCNN, TrainedClassifier, train_classifier

__all__ = ["SmallCNN", "TrainedClassifier", "train_classifier"]
