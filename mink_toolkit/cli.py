"""Command line: ``python -m mink_toolkit <command> ...``.

Commands
--------
curves PATHS... --out FILE
    Minkowski curves of OPERA files over time (:mod:`mink_toolkit.archive`).
reproduce surrogate [--quick] [--output DIR]
    Train and evaluate the neural surrogates (:mod:`mink_toolkit.surrogate_experiment`).
reproduce superres [--quick] [--output DIR]
    Super-resolution experiment (:mod:`mink_toolkit.superres_experiment`).
workshop --out DIR [NOTEBOOK ...]
    Student and instructor copies of the tutorials (:mod:`mink_toolkit.notebook.workshop`).

Each command lives in its own module, imported only when used, so that
``--help`` stays fast and a missing optional piece only affects its command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "curves": ("mink_toolkit.archive", "Minkowski curves of OPERA files over time"),
    "workshop": ("mink_toolkit.notebook.workshop", "student and instructor copies of the tutorials"),
}
EXPERIMENTS = {
    "surrogate": ("mink_toolkit.surrogate_experiment", "train and evaluate the neural surrogates"),
    "superres": ("mink_toolkit.superres_experiment", "super-resolution: MSE vs Minkowski losses"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m mink_toolkit", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=[*COMMANDS, "reproduce"], help="what to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the command")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    ns = parser.parse_args(argv[:1])
    rest = argv[1:]
    if ns.command == "reproduce":
        if not rest or rest[0] not in EXPERIMENTS:
            names = ", ".join(EXPERIMENTS)
            print(f"usage: python -m mink_toolkit reproduce {{{names}}} [--quick] [--output DIR]", file=sys.stderr)
            return 2
        module_name = EXPERIMENTS[rest[0]][0]
        rest = rest[1:]
    else:
        module_name = COMMANDS[ns.command][0]
    module = importlib.import_module(module_name)
    return int(module.main(rest) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
