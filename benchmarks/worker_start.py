"""CPU of starting workers: forked by the fork server against started by Popen.

A child process starts N workers one after the other, each loading the
built-in engine and closing (as a class of engines does), with the fork
server (`gradcheck.internal.worker.fork_server`) or without it (every worker
a fresh interpreter, as before). The figure is CPU time (user plus system)
of the child and of everything it started, the median of alternating rounds,
per worker: (N workers - none) / N.

The workers forked by the server are its children, not the checker's: the
checker's `resource.RUSAGE_CHILDREN` counts them only because the server
reaps every worker before it exits and the checker reaps the server
(`fork_client.ForkServer.close`, at exit). The child checks that it did: with the
server, it reads the server's own children's CPU from /proc before closing
it, and fails if its own RUSAGE_CHILDREN then grew by less::

    python benchmarks/worker_start.py [--quick] [--count N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "benchmarks") not in sys.path:  # loaded by file (the smoke tests)
    sys.path.insert(0, str(ROOT / "benchmarks"))
from cost import Command, alternating  # noqa: E402

# Run in a child: MODE COUNT; mode "popen" never uses the fork server.
_CHILD = r"""
import os, resource, sys
from gradcheck.internal.checking.engine_client import load_engine
from gradcheck.internal.worker import fork_client
mode, count = sys.argv[1], int(sys.argv[2])
if mode == "popen":
    fork_client.shared = lambda root: None
for _ in range(count):
    with load_engine(None) as engine:
        assert engine.supported
if mode == "server" and count:
    # The server's reaped children, read before the checker reaps it.
    server = fork_client._SHARED[-1]
    ticks = os.sysconf("SC_CLK_TCK")
    fields = open(f"/proc/{server._popen.pid}/stat").read().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / ticks  # cutime + cstime
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    was = usage.ru_utime + usage.ru_stime
    fork_client.close_shared()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    grew = usage.ru_utime + usage.ru_stime - was
    assert grew >= reaped, (grew, reaped)  # its workers counted in ours
    assert reaped > 0 or count < 5, reaped  # (in clock ticks: a few may show 0)
"""


def _command(mode: str, count: int) -> Command:
    return [sys.executable, "-c", _CHILD, mode, str(count)]


def measure(rounds: int, count: int) -> dict[str, Any]:
    """Per-worker CPU of each mode, and the saving."""
    commands = {
        f"{mode}/{n}": _command(mode, n)
        for mode in ("popen", "server")
        for n in (0, count)
    }
    medians = alternating(commands, rounds)
    per = {
        mode: (medians[f"{mode}/{count}"] - medians[f"{mode}/0"]) / count
        for mode in ("popen", "server")
    }
    return {
        "rounds": rounds,
        "workers": count,
        "popen_ms_per_worker": per["popen"] * 1e3,
        "server_ms_per_worker": per["server"] * 1e3,
        "saved_ms_per_worker": (per["popen"] - per["server"]) * 1e3,
        "server_over_popen": per["server"] / max(per["popen"], 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, 4 workers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args(argv)
    rounds, count = (1, 4) if args.quick else (args.rounds, args.count)
    print(json.dumps(measure(rounds, count), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
