"""`__all__` is exactly the public set of each public module, and every name imports.

As Hypothesis does for `hypothesis.strategies`: a public class or function
that is reachable from the facade but missing from `__all__` (or listed but
gone) is a packaging bug that users find first.
"""

from __future__ import annotations

import importlib
import types

import pytest

# module -> where its public names may be defined (the package, or itself)
FACADES = {
    "gradcheck": "gradcheck",
    "micrograd": "micrograd",
    "gradcheck.strategies": "gradcheck.strategies",
}


def _defined_here(value: object, home: str) -> bool:
    module = getattr(value, "__module__", None)
    return isinstance(module, str) and (module == home or module.startswith(home + "."))


@pytest.mark.parametrize("name", sorted(FACADES))
def test_every_listed_name_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert len(set(module.__all__)) == len(module.__all__), "duplicates in __all__"
    for public in module.__all__:
        assert getattr(module, public) is not None, public
    namespace: dict[str, object] = {}
    exec(f"from {name} import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(module.__all__)


@pytest.mark.parametrize("name", sorted(FACADES))
def test_no_public_name_is_missing_from_all(name: str) -> None:
    module = importlib.import_module(name)
    for public in module.__all__:
        getattr(module, public)  # load the lazy names, so dir() sees them all
    unlisted = sorted(
        attr
        for attr in dir(module)
        if not attr.startswith("_")
        and attr not in module.__all__
        and not isinstance(getattr(module, attr), types.ModuleType)
        and _defined_here(getattr(module, attr), FACADES[name])
    )
    assert unlisted == []


def test_gradcheck_lazy_names_are_the_public_set() -> None:
    import gradcheck

    lazy = set(gradcheck._HOMES)
    assert lazy | {"__version__"} == set(gradcheck.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    import gradcheck

    with pytest.raises(AttributeError, match="no attribute 'check_engines'"):
        gradcheck.check_engines  # noqa: B018 (the look-up is the test)


def test_printing_a_report_shows_it_as_the_command_line_does() -> None:
    import gradcheck

    report = gradcheck.check_expression("x*y", {"x": 1.0, "y": 2.0}, seed=0)
    text = str(report)
    assert text.splitlines()[0].startswith("x*y  at x=1.0, y=2.0")
    assert text.endswith("result: PASS (all 1 passed)")
    assert repr(report).startswith("<")
