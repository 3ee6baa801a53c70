"""The examples in the public docstrings run and print what they show.

Every public function and class of ``jaxmi``, ``jaxmi.bounds``, ``jaxmi.nn``, ``jaxmi.tasks``
and ``jaxmi.plot`` whose docstring has ``>>>`` examples is one case, run by :mod:`doctest`
(ellipsis and whitespace-insensitive). The estimators' examples (GMM-MI and ``neural_mi``)
compile EM and training programs, about 40 s on a 2-core CPU with an empty cache, so they run
only with ``JAXMI_SLOW_DOCTESTS=1``; the others take a few seconds in all.
"""

import doctest
import inspect
import os

import matplotlib
import pytest

import jaxmi

matplotlib.use("Agg")

_MODULES = (jaxmi, jaxmi.bounds, jaxmi.nn, jaxmi.tasks, jaxmi.plot)
# Top-level names whose examples compile an estimator's programs (seconds each).
_SLOW = {
    "gmm_mi",
    "gmm_mi_batch",
    "gmm_mi_pairwise",
    "gmm_mi_categorical",
    "gmm_cmi",
    "gmm_entropy",
    "gmm_kl",
    "neural_mi",
}


def _cases():
    seen, cases = set(), []
    finder = doctest.DocTestFinder(recurse=False)
    for module in _MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            seen.add(id(obj))
            for test in finder.find(obj, f"{module.__name__}.{name}", globs={}):
                if test.examples:
                    slow = module is jaxmi and name in _SLOW
                    marks = ()
                    if slow and os.environ.get("JAXMI_SLOW_DOCTESTS") != "1":
                        marks = pytest.mark.skip(reason="set JAXMI_SLOW_DOCTESTS=1 to run")
                    cases.append(pytest.param(test, id=test.name, marks=marks))
    return cases


_CASES = _cases()


def test_the_public_api_has_examples():
    # Guards the collection itself: an empty list would make the test below vacuous.
    names = {case.id for case in _CASES}
    assert len(names) >= 70
    assert {"jaxmi.gmm_mi", "jaxmi.neural_mi", "jaxmi.bounds.infonce"} <= names


@pytest.mark.parametrize("test", _CASES)
def test_docstring_example(test):
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    report = []
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)
