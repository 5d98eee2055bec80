"""Our Hypothesis searches ignore constants of "local" modules and write nothing.

Hypothesis reads literals from the source of loaded modules outside
site-packages (a user's script, a notebook's modules) and caches them in a
`.hypothesis/` folder in the current directory, which is the user's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck.internal.checking.local_constants import no_local_constants

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """\
from gradcheck import check_engine

LIMIT = 12345  # a literal in a local module, as in any user's script
report = check_engine(examples=20, seed=5)
print("PASS" if report.ok else "FAIL")
"""


def test_the_local_constants_are_none_inside_and_restored_after() -> None:
    providers = pytest.importorskip("hypothesis.internal.conjecture.providers")
    original = providers._get_local_constants
    with no_local_constants():
        assert len(providers._get_local_constants()) == 0
    assert providers._get_local_constants is original


@pytest.mark.heavy
def test_a_users_script_gets_no_hypothesis_folder(tmp_path: Path) -> None:
    # A fresh process: Hypothesis fixes its folder from the cwd at import.
    (tmp_path / "my_script.py").write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    done = subprocess.run(
        [sys.executable, "my_script.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.stdout.strip() == "PASS", done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_script.py"]
