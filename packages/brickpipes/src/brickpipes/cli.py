"""``brickpipes``: the project's commands, run in its folder with ``uv run brickpipes ...``.

* ``environment``: which environment this shell is in, and where its runs write;
* ``drop-environment``: drop a developer's or a pull request's schema (never production's);
* ``preflight``: check a workspace before the first run (:mod:`.preflight`);
* ``local``: local Databricks for ``dg dev`` (:mod:`.local`).

Each command module has ``configure(parser)`` and ``main(args) -> int``; they are imported
only when run, so one command's dependencies never slow another. Like ``dg``, the commands
read the project's ``.env`` (variables already set win).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

COMMANDS = {
    "environment": ("brickpipes.environment_cli", "show the environment and where it writes"),
    "drop-environment": (
        "brickpipes.environment_cli",
        "drop a developer's or a pull request's schema",
    ),
    "preflight": ("brickpipes.preflight", "check a workspace before the first run"),
    "local": ("brickpipes.local", "run local Databricks for `dg dev` and write .env"),
}


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="brickpipes", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (module, help) in COMMANDS.items():
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(module=module)
        if argv[:1] == [name]:  # only the command run is imported
            importlib.import_module(module).configure(sub, name)
    args = parser.parse_args(argv)
    if Path(".env").is_file():
        from dotenv import load_dotenv

        load_dotenv(".env", override=False)
    return importlib.import_module(args.module).main(args)


if __name__ == "__main__":
    sys.exit(main())
