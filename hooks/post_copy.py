"""Copier task run after `copier copy --trust`: verify the freshly rendered project.

It runs the project's own ``scripts/verify.py`` (git init, uv sync, ruff, ``dg check defs``,
pytest) in the destination. What a failing check does depends on who is there to read it:

- **a person** (an interactive copy): the copy still succeeds. Copier deletes the new folder
  when a task fails, and the user would lose the render along with the error; so the project
  is kept and the message names the failed check and the command to rerun it.
- **nobody** (``copier copy --defaults``, cookiecutter or cruft ``--no-input``, or a ``CI``
  environment variable): the task exits 1, so the run fails instead of passing on a broken
  project. Copier (and cookiecutter) then delete the new folder; ``copier copy --no-cleanup``
  (cookiecutter ``--keep-project-on-failure``) keeps it for inspection.

``COPIER_DAGSTER_DATABRICKS_STRICT_VERIFY=1`` fails the run in any case, ``=0`` never (the
project is kept). ``COPIER_DAGSTER_DATABRICKS_SKIP_VERIFY=1`` skips the verification (e.g.
offline). Arguments: ``--defaults`` when the render asked no question (copier.yml's task and
hooks/post_gen_project.py pass it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STRICT = "COPIER_DAGSTER_DATABRICKS_STRICT_VERIFY"
FALSE = {"", "0", "false", "no"}


def unattended(args: list[str]) -> str | None:
    """Why nobody may be there to read a failure (None: someone is)."""
    strict = os.environ.get(STRICT)
    if strict is not None:
        return f"{STRICT}={strict}" if strict.lower() not in FALSE else None
    if "--defaults" in args:
        return "no question was asked (--defaults / --no-input)"
    if os.environ.get("CI", "").lower() not in FALSE:
        return "the CI environment variable is set"
    return None


def main(args: list[str]) -> int:
    """Run the project's verification in the current directory (Copier's destination)."""
    project = Path.cwd()
    if os.environ.get("COPIER_DAGSTER_DATABRICKS_SKIP_VERIFY") == "1":
        print("post-copy: verification skipped; run `python scripts/verify.py` in the project.")
        return 0
    print(f"post-copy: verifying {project} (python scripts/verify.py)", flush=True)
    result = subprocess.run([sys.executable, "scripts/verify.py"], cwd=project)
    if result.returncode == 0:
        return 0
    rerun = f"cd {project} && python scripts/verify.py"
    reason = unattended(args)
    if reason is None:
        print(
            "\npost-copy: verification FAILED; the project was kept as rendered.\n"
            f"Fix the check named above, then rerun: {rerun}",
            file=sys.stderr,
        )
        return 0
    print(
        f"\npost-copy: verification FAILED; exiting 1 because {reason}.\n"
        "Copier deletes the new folder when a task fails: `copier copy --no-cleanup`\n"
        "(cookiecutter: --keep-project-on-failure) keeps it, then rerun: "
        f"{rerun}\n"
        f"{STRICT}=0 keeps the project and exits 0 instead.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
