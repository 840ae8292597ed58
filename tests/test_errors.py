"""One table of bad inputs: (call, error type, message pattern), gathered from
``tests/errors/<family>.py``. Every message names the argument, what was
expected and what was received."""

import importlib
import pkgutil
import re

import pytest

import errors


def _table():
    rows = []
    for info in sorted(pkgutil.iter_modules(errors.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"errors.{info.name}")
        rows += [pytest.param(*case[1:], id=f"{info.name}: {case[0]}") for case in module.CASES]
    return rows


TABLE = _table()


def test_table_covers_every_family():
    families = {p.id.split(":")[0] for p in TABLE}
    assert {"core", "regression", "probabilistic", "binary", "classification", "metric", "segmentation", "sequence", "boxes"} <= families


@pytest.mark.parametrize("call,error,pattern", TABLE)
def test_bad_input_raises_a_clear_error(call, error, pattern):
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error or issubclass(type(info.value), error)
    assert re.search(pattern, str(info.value)), str(info.value)
