"""Make the shared test helpers in this folder (``_multiprocess``) importable by test files.

Under ``--import-mode=importlib`` pytest puts no test folder on ``sys.path``, so test files
cannot import a sibling module; this conftest (loaded before any test file below it, in every
xdist worker too) adds this folder once.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
