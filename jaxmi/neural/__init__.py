"""Neural MI estimation: train a critic with a variational bound (``jaxmi.neural``).

:func:`neural_mi` standardises the data, splits it into train / validation / test, trains one
or many critics (one compiled program, seeds vmapped) with a bound from :mod:`jaxmi.bounds`,
stops early on the validation split and reports the test-split value at the best checkpoint.
"""

from jaxmi.neural._train import BOUNDS, CRITICS, OPTIMIZERS, PRESETS, NeuralMIResult, neural_mi

__all__ = ["BOUNDS", "CRITICS", "OPTIMIZERS", "PRESETS", "NeuralMIResult", "neural_mi"]
