"""CPU of the mutant gallery and the corpus of published engines, two trees.

Each tree is installed in a venv of its own (`pip install DIR`, so both are
byte-compiled alike); the rounds alternate between the two, and every figure
is CPU time (user plus system of the command and all it starts, as in
`cost.py`), the median of the rounds::

    python benchmarks/suite_cost.py --before VENV/bin/python \\
        --after VENV/bin/python [--rounds 2] [--corpus ../shared/corpus/run]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cost import Command, alternating

MUTANT_SEED = 1890349686


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="python of the old tree")
    parser.add_argument("--after", required=True, help="python of the new tree")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--corpus", help="the corpus runner (../shared/corpus/run)")
    args = parser.parse_args(argv)
    commands: dict[str, Command] = {}
    for name, python in (("before", args.before), ("after", args.after)):
        mutants = [python, "-m", "gradcheck", "mutants", "--seed", str(MUTANT_SEED)]
        commands[f"mutants_{name}"] = mutants
        if args.corpus:
            commands[f"corpus_{name}"] = [python, str(Path(args.corpus))]
    medians = alternating(commands, args.rounds)
    result: dict[str, float] = dict(medians)
    for suite in ("mutants", "corpus"):
        if f"{suite}_after" in medians:
            was, now = medians[f"{suite}_before"], medians[f"{suite}_after"]
            result[f"{suite}_speedup"] = was / now
    print(json.dumps({"rounds": args.rounds, **result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
