"""Neural MI estimation: train a critic with a variational bound (``jaxmi.neural``).

:func:`neural_mi` standardises the data, splits it into train / validation / test, trains one
or many critics (one compiled program, seeds vmapped) with a bound from :mod:`jaxmi.bounds`,
stops early on the validation split and reports the test-split value at the best checkpoint.
With ``stream=True`` (``"auto"``: a ``np.memmap`` or more than 1 GiB of data) the data stay on
the host and are sent to the device one chunk of minibatches at a time.
"""

from jaxmi.neural._train import BOUNDS, CRITICS, OPTIMIZERS, PRESETS, NeuralMIResult, neural_mi

__all__ = ["BOUNDS", "CRITICS", "OPTIMIZERS", "PRESETS", "NeuralMIResult", "neural_mi"]
