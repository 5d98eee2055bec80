"""The set-up the README and the quick start give is one, and it works.

One test command everywhere (the one `.ci/run` runs), an install that does
not ask the package index for a package it does not have, no stale lines,
and a pyenv PATH line that keeps an active virtual environment first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
QUICKSTART = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
BASH = re.compile(r"```bash\n(.*?)\n```", re.DOTALL)
PATH_LINE = re.compile(r"`(export PATH=\"\$\{VIRTUAL_ENV[^`]*)`")


def _ci_test_command() -> str:
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    found = re.search(r"^TEST_COMMAND='([^']*)'$", run, re.M)
    assert found is not None
    return found.group(1)


def test_readme_starts_with_the_two_set_up_commands() -> None:
    before_prose = README.split("\n\nRun both", 1)[0]
    blocks = BASH.findall(before_prose)
    assert blocks == ["pip install . && gradcheck engine", _ci_test_command()]


def test_the_quick_start_shows_the_same_two_commands() -> None:
    assert BASH.findall(QUICKSTART) == BASH.findall(README)[:2]


def test_no_page_asks_the_index_for_the_package_or_keeps_stale_lines() -> None:
    docs = [p for p in (ROOT / "docs").glob("*.md") if p.name != "changelog.md"]
    pages = [README, *(p.read_text(encoding="utf-8") for p in docs)]
    text = "\n".join(pages).replace("finds nothing", "")
    assert not re.search(r"^\s*(- run: )?pip install gradcheck-toolkit\b", text, re.M)
    assert "(Being added.)" not in text
    assert "installed checker" not in text


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("page", [README, QUICKSTART], ids=["README", "quickstart"])
def test_the_pyenv_path_line_keeps_the_virtual_environment_first(
    page: str, tmp_path: Path
) -> None:
    found = PATH_LINE.search(page)
    assert found is not None
    root = tmp_path / "pyenv"
    for version in ("3.10.13", "3.13.0", "3.9.18"):
        (root / "versions" / version / "bin").mkdir(parents=True)
    venv = tmp_path / "venv"
    script = (
        f"pyenv() {{ echo {root}; }}\n"  # `pyenv root`, without pyenv
        f"{found.group(1)}\n"
        'printf "%s\\n" "$PATH"\n'
    )
    env = {"PATH": "/usr/bin:/bin", "VIRTUAL_ENV": str(venv)}
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, check=True
    )
    entries = done.stdout.strip().split(os.pathsep)
    assert entries == [
        str(venv / "bin"),
        str(root / "versions" / "3.10.13" / "bin"),
        str(root / "versions" / "3.13.0" / "bin"),
        "/usr/bin",
        "/bin",
    ]
    del env["VIRTUAL_ENV"]
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip().split(os.pathsep)[0] == str(
        root / "versions" / "3.10.13" / "bin"
    )
