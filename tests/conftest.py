"""Test-session set-up: shared helpers importable, jaxmi's export cache off.

The shared test helpers in this folder (``_multiprocess``) become importable by test files.

Under ``--import-mode=importlib`` pytest puts no test folder on ``sys.path``, so test files
cannot import a sibling module; this conftest (loaded before any test file below it, in every
xdist worker too) adds this folder once.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# Programs exported by one xdist worker (or an earlier run) would let another skip tracing, so
# trace-count assertions would depend on test order. tests/test_compile.py turns it on itself.
os.environ.setdefault("JAXMI_EXPORT_CACHE", "0")

# pytest -n 2 already keeps both cores busy: EM parts on host threads would only contend with the
# other worker. tests/gmm/test_em.py turns the threads on where it checks them.
os.environ.setdefault("JAXMI_HOST_THREADS", "1")
