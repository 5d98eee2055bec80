"""Keep an engine from writing outside its own temporary folder (Linux Landlock).

A worker runs code written by others, as the same user as the checker: left
alone, an engine could rewrite the checker's installed files, or another
student's engine, and change every later verdict (a hostile submission in a
class graded together, and in every run after it). Before the engine
loads, the worker confines itself with Landlock, which any process may do
to itself without privileges: from then on the worker and everything it
starts may create, write, truncate, rename or delete files only in one
fresh folder (its TMPDIR) and write to /dev/null; reading is untouched. On
kernels with Landlock's signal scope (ABI 6), it can no longer signal
processes outside itself either: not the checker, the fork server or
another engine's worker.

Where Landlock is missing (not Linux, an old kernel, switched off), the
worker runs as before and says so: `confine` returns why. Landlock has no
Python binding in the standard library or on the package index that we
depend on, so the three system calls are made here through ctypes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from typing import Any

# System call numbers: the same on every architecture (added in Linux 5.13).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights (linux/landlock.h). Reading and executing are not handled,
# so they stay allowed everywhere.
_WRITE_FILE = 1 << 1
_FS_WRITES = (
    _WRITE_FILE
    | (1 << 4)  # REMOVE_DIR
    | (1 << 5)  # REMOVE_FILE
    | (1 << 6)  # MAKE_CHAR
    | (1 << 7)  # MAKE_DIR
    | (1 << 8)  # MAKE_REG
    | (1 << 9)  # MAKE_SOCK
    | (1 << 10)  # MAKE_FIFO
    | (1 << 11)  # MAKE_BLOCK
    | (1 << 12)  # MAKE_SYM
)
_REFER = 1 << 13  # ABI 2: rename or link across folders
_TRUNCATE = 1 << 14  # ABI 3
_SCOPE_SIGNAL = 1 << 1  # ABI 6


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


# Folders (separated by os.pathsep) an engine may also write to.
ENGINE_WRITES = "GRADCHECK_ENGINE_WRITES"


def confine(folder: str, also: list[str] | None = None) -> str | None:
    """Allow writes only under `folder`, the folders `also` (those that
    exist) and /dev/null; None when done, else why not (the worker then
    runs unconfined)."""
    if not sys.platform.startswith("linux"):
        return "writes not confined: Landlock is Linux only"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
        syscall.restype = ctypes.c_long
        abi = syscall(_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return "writes not confined: no system call interface"
    if abi < 1:
        return "writes not confined: this kernel has no Landlock"
    handled = _FS_WRITES | (_REFER if abi >= 2 else 0)
    handled |= _TRUNCATE if abi >= 3 else 0
    scoped = _SCOPE_SIGNAL if abi >= 6 else 0
    # struct landlock_ruleset_attr: the fields this ABI knows, nothing more.
    fields = (
        [handled, 0, scoped] if abi >= 6 else [handled, 0] if abi >= 4 else [handled]
    )
    attr = (ctypes.c_uint64 * len(fields))(*fields)
    ruleset = syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if ruleset < 0:
        return f"writes not confined: {os.strerror(ctypes.get_errno())}"
    try:
        file_rights = _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0)
        allowed = [(folder, handled), (os.devnull, file_rights)]
        allowed += [(p, handled) for p in also or () if os.path.isdir(p)]
        for path, rights in allowed:
            if not _allow(syscall, ruleset, path, rights):
                return f"writes not confined: cannot allow {path}"
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return "writes not confined: no_new_privs refused"
        if syscall(_RESTRICT_SELF, ruleset, 0) != 0:
            return f"writes not confined: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return None


def _allow(syscall: Any, ruleset: int, path: str, rights: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        rule = _PathBeneath(rights, fd)
        done: int = syscall(
            _ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0
        )
        return done == 0
    finally:
        os.close(fd)


def engine_folder(status_path: str) -> str:
    """Where a worker's own files go: beside its status page, so that the
    parent, which removes that page, removes the folder too."""
    return status_path + ".d"


def private_folder(base: str) -> str:
    """A fresh folder for the engine's own files, made its TMPDIR."""
    folder = base
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    os.environ["TMPDIR"] = folder
    tempfile.tempdir = folder
    return folder
