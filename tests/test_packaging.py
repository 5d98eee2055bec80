"""Packaging metadata: one version, a licence file, typed packages, project URLs.

Building a wheel in a test is too slow; these read pyproject.toml instead.
`pip wheel . --no-deps` was run by hand to confirm hatchling puts py.typed
and LICENSE into the wheel (see docs/changelog.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        data: dict[str, Any] = tomllib.load(file)
    return data


def test_the_version_has_one_source(project: dict[str, Any]) -> None:
    import gradcheck
    import micrograd

    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    source = project["tool"]["hatch"]["version"]["path"]
    assert source == "gradcheck/__init__.py"
    text = (ROOT / source).read_text(encoding="utf-8")
    assert len(re.findall(r"^__version__ = ", text, flags=re.MULTILINE)) == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev)?\d*", gradcheck.__version__)
    # micrograd ships in the same wheel: no second version to drift.
    assert getattr(micrograd, "__version__", gradcheck.__version__) == (
        gradcheck.__version__
    )


def test_the_licence_file_exists_and_is_declared(project: dict[str, Any]) -> None:
    meta = project["project"]
    assert meta["license"] == "MIT"
    assert meta["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "gradcheck developers" in text
    # PEP 639: a licence expression replaces licence classifiers (PyPI
    # rejects uploads that carry both).
    assert not [c for c in meta["classifiers"] if c.startswith("License ::")]


@pytest.mark.parametrize("package", ["gradcheck", "micrograd"])
def test_both_packages_are_typed(project: dict[str, Any], package: str) -> None:
    assert (ROOT / package / "py.typed").is_file()
    assert package in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]


def test_classifiers_name_each_python_and_typing(project: dict[str, Any]) -> None:
    classifiers = project["project"]["classifiers"]
    assert project["project"]["requires-python"] == ">=3.10"
    for minor in range(10, 15):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert "Framework :: Pytest" in classifiers
    assert classifiers == sorted(classifiers)


def test_project_urls_and_entry_points(project: dict[str, Any]) -> None:
    urls = project["project"]["urls"]
    assert {"Homepage", "Documentation", "Changelog", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    assert project["project"]["entry-points"]["pytest11"] == {
        "gradcheck": "gradcheck.pytest_plugin"
    }
    assert "LICENSE" in project["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
