"""What the user named as the engine, as plain data the worker can load.

`path/to/file.py[:Class]`, `notebook.ipynb[:Class[@cell]]`,
`package.module[:Class]`, nothing (the built-in micrograd), a class object
(forked into a worker), or engine source text (the mutant gallery).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradcheck.errors import EngineError


@dataclass(frozen=True)
class SourceTarget:
    """Engine source text to load in a worker, under a display name."""

    name: str
    source: str


@dataclass(frozen=True)
class Target:
    """A resolved target: what the worker loads and how the report names it."""

    spec: dict[str, Any]
    class_name: str | None
    shown: str
    obj: Any = None  # a class handed over by fork


def resolve(target: Any) -> Target:
    """Turn what the user gave into a `Target`, or raise `EngineError`."""
    if target is None:
        return Target({"kind": "builtin"}, None, "micrograd (built-in)")
    if isinstance(target, SourceTarget):
        return Target(
            {"kind": "source", "name": target.name, "source": target.source},
            None,
            target.name,
        )
    if isinstance(target, type):
        shown = f"{target.__module__}:{target.__qualname__}"
        return Target({"kind": "object"}, None, shown, obj=target)
    if isinstance(target, types.ModuleType):
        found = getattr(target, "Value", None)
        if not isinstance(found, type):
            raise EngineError(f"engine {target.__name__!r} has no class 'Value'")
        return Target({"kind": "object"}, None, target.__name__, obj=found)
    if not isinstance(target, str):
        raise EngineError(f"not an engine target: {target!r}")
    if target.partition(":")[0] == "__main__":
        return _running_main(target)
    return _parse(target)


def _running_main(text: str) -> Target:
    """`__main__[:Class]`: the caller's own script or notebook kernel, whose
    class is handed over in memory (a worker's own `__main__` is the worker)."""
    import sys

    name = text.partition(":")[2] or "Value"
    found = getattr(sys.modules.get("__main__"), name, None)
    if not isinstance(found, type):
        raise EngineError(f"engine {text!r}: __main__ has no class {name!r}")
    return Target({"kind": "object"}, None, text, obj=found)


def _parse(text: str) -> Target:
    head, colon, tail = text.rpartition(":")
    # A trailing ":Name" or ":Name@12" picks the class; other colons (C:\)
    # belong to the path.
    name_part = tail.partition("@")[0]
    if (
        colon
        and name_part.isidentifier()
        and (tail == name_part or tail.partition("@")[2].isdigit())
    ):
        spec_text, pick = head, tail
    else:
        spec_text, pick = text, ""
    if spec_text.endswith(".ipynb"):
        path = Path(spec_text).expanduser().resolve()
        if not path.is_file():
            raise EngineError(f"notebook not found: {path}")
        return Target(
            {"kind": "notebook", "path": str(path), "pick": pick or None},
            pick.partition("@")[0] or None,
            text,
        )
    if "@" in pick:
        raise EngineError(f"{text!r}: Class@cell picks a class of a notebook only")
    if (
        spec_text.startswith(("/", ".", "~"))
        or spec_text.endswith(".py")
        or "/" in spec_text
        or "\\" in spec_text
    ):
        path = Path(spec_text).expanduser().resolve()
        if not path.is_file():
            raise EngineError(f"engine file not found: {path}")
        return Target({"kind": "file", "path": str(path)}, pick or None, text)
    if not spec_text or not all(part.isidentifier() for part in spec_text.split(".")):
        raise EngineError(
            f"not an engine target: {text!r} (expected path/to/file.py[:Class], "
            "notebook.ipynb[:Class[@cell]] or package.module[:Class])"
        )
    return Target({"kind": "module", "module": spec_text}, pick or None, text)


def from_folder(folder: Path, text: str, target: bool = True) -> str:
    """A path written in a configuration file, taken from the file's folder.

    A target `file.py:Class` keeps its class; `package.module` is no path.
    """
    file, colon, rest = text.partition(":") if target else (text, "", "")
    if target and not ("/" in file or file.endswith((".py", ".ipynb"))):
        return text
    if not file.strip() or Path(file).is_absolute():
        return text
    return str(folder / file) + colon + rest
