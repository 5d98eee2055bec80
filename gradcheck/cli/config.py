"""`[tool.gradcheck]` in pyproject.toml: the command line's options, from a file.

The file is the nearest `pyproject.toml` walking up from the working
directory (the project's root, as pytest and ruff find theirs); `--config
FILE` names another, `--no-config` ignores it. Its keys are the long options
without their dashes (`examples`, `time-limit`, `junit-xml`); a table per form
(`[tool.gradcheck.engine]`, `.check`, `.mutants`) holds keys for that form
alone and wins over the top level. Values are checked with the options' own
parsers and become the parser's defaults, so the command line wins. Paths in
the file are relative to the file's folder.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradcheck.errors import UsageError
from gradcheck.internal.checking.targets import from_folder

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, as a package, before 3.11
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

FILE_NAME = "pyproject.toml"
FORMS = ("check", "engine", "mutants")
# Options that say how to read the configuration, or print and exit.
_NOT_KEYS = {"help", "version", "config", "no-config", "expressions"}
# Options whose value is a file to write, or an engine target.
_OUTPUTS = {"junit-xml", "dot"}
_TARGETS = {"engine", "targets"}
_VERBOSITY = {"quiet": -1, "normal": 0, "verbose": 1}


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml in `start` or a folder above it."""
    for folder in (start, *start.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
    return None


@dataclass
class Config:
    """The validated values of one file, per form: option dest -> value."""

    path: Path
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Repeatable options and positionals: used when the command line has none.
    lists: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def configure(self, form: str, parser: argparse.ArgumentParser) -> None:
        """Make the file's values `parser`'s defaults (the command line wins)."""
        parser.set_defaults(**self.values.get(form, {}))

    def finish(self, namespace: argparse.Namespace) -> None:
        """Fill the repeatable options the command line left empty."""
        for dest, value in self.lists.get(namespace.command, {}).items():
            if not getattr(namespace, dest, None):
                setattr(namespace, dest, value)
        namespace.config_file = str(self.path)


def load_config(namespace: argparse.Namespace) -> Config | None:
    """The configuration the parsed command line asks for, or None."""
    if getattr(namespace, "no_config", False):
        return None
    named = getattr(namespace, "config", None)
    if named is not None:
        path = Path(named)
        if not path.is_file():
            raise UsageError(f"--config: no such file: {named}")
    else:
        found = find_config(Path.cwd())
        if found is None:
            return None
        path = found
    table = _read_table(path, explicit=named is not None)
    if table is None:
        return None
    return _validate(path, table)


def _read_table(path: Path, explicit: bool) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: not valid TOML: {err}") from err
    tool = document.get("tool")
    table = tool.get("gradcheck") if isinstance(tool, dict) else None
    if table is None:
        if explicit:
            raise UsageError(f"{path}: no [tool.gradcheck] table")
        return None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: tool.gradcheck must be a table")
    return table


def _validate(path: Path, table: dict[str, Any]) -> Config:
    """Every key known and every value valid, or one line naming the key."""
    from gradcheck.cli.parser import build_parser

    _, parsers = build_parser()
    options = {form: _options(parsers[form]) for form in FORMS}
    config = Config(path)
    top = {k: v for k, v in table.items() if k not in FORMS}
    known = {key for form in FORMS for key in options[form]} | {"verbosity"}
    for key in top:
        if key not in known:
            raise UsageError(_unknown(path, "tool.gradcheck", key, known))
    for form in FORMS:
        own = table.get(form, {})
        where = f"tool.gradcheck.{form}"
        if not isinstance(own, dict):
            raise UsageError(
                f"{path}: {where} must be a table (the {form} form's options"
                + (
                    "; --engine goes under [tool.gradcheck.check])"
                    if form == "engine"
                    else ")"
                )
            )
        allowed = set(options[form]) | {"verbosity"}
        for key in own:
            if key not in allowed:
                raise UsageError(_unknown(path, where, key, allowed))
        for scope, items in (("tool.gradcheck", top), (where, own)):
            for key, raw in items.items():
                if key not in allowed:
                    continue  # a top-level key another form has
                place = f"{path}: [{scope}] {key}"
                dest, value, many = _value(place, key, raw, options[form], path)
                if many:
                    config.lists.setdefault(form, {})[dest] = value
                else:
                    config.values.setdefault(form, {})[dest] = value
    return config


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The keys a form takes: its long options without dashes, its positionals."""
    keys: dict[str, argparse.Action] = {}
    for action in parser._actions:
        names = [o[2:] for o in action.option_strings if o.startswith("--")]
        key = names[0] if names else (action.dest if not action.option_strings else "")
        if key and key not in _NOT_KEYS:
            keys[key] = action
    return keys


def _unknown(path: Path, where: str, key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key.replace("_", "-"), sorted(known), 1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{path}: [{where}] unknown key {key}{hint}"


def _value(
    place: str,
    key: str,
    raw: Any,
    options: dict[str, argparse.Action],
    path: Path,
) -> tuple[str, Any, bool]:
    """(dest, value, repeatable) for one key, checked by the option's parser."""
    if key == "verbosity":
        if raw not in _VERBOSITY:
            raise UsageError(f"{place}: expected one of {', '.join(_VERBOSITY)}")
        return "verbosity", _VERBOSITY[raw], False
    action = options[key]
    if action.nargs == 0:  # a flag: --strict, --json, --quiet
        if not isinstance(raw, bool):
            raise UsageError(f"{place}: expected true or false, not {raw!r}")
        return action.dest, action.const if raw else action.default, False
    many = isinstance(action, argparse._AppendAction) or action.nargs == "*"
    texts = _texts(place, raw, many)
    if key in _OUTPUTS | _TARGETS:
        texts = [from_folder(path.parent, t, key in _TARGETS) for t in texts]
    convert: Callable[[str], Any] = action.type or str  # type: ignore[assignment]
    values = []
    for text in texts:
        try:
            value = convert(text)
        except (argparse.ArgumentTypeError, ValueError) as err:
            raise UsageError(f"{place}: {err}") from None
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            raise UsageError(f"{place}: expected one of {choices}, not {value!r}")
        values.append(value)
    return action.dest, values if many else values[0], many


def _texts(place: str, raw: Any, many: bool) -> list[str]:
    """The option's words: a string or number, a list of them, or a table."""
    if isinstance(raw, dict) and many:  # api = {data = "value"}
        raw = [f"{k}={v}" for k, v in raw.items()]
    if isinstance(raw, list):
        if not many and all(isinstance(item, str) for item in raw):
            return [",".join(raw)]  # ops = ["add", "mul"]
        if many:
            return [_scalar(place, item) for item in raw]
    return [_scalar(place, raw)]


def _scalar(place: str, raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        kind = "table" if isinstance(raw, dict) else type(raw).__name__
        raise UsageError(f"{place}: expected a string or a number, not a {kind}")
    return str(raw)
