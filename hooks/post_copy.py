"""Copier task run after `copier copy --trust`: verify the freshly rendered project.

It runs the project's own ``scripts/verify.py`` (git init, uv sync, ruff, ``dg check defs``,
pytest) in the destination. A failing check does not fail the copy: Copier would delete the
new folder, and the user would lose the render along with the error. The project is kept and
the message names the failed check and the command to rerun it.

Set ``COPIER_DAGSTER_DATABRICKS_SKIP_VERIFY=1`` to skip it (e.g. offline).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def main() -> int:
    """Run the project's verification in the current directory (Copier's destination)."""
    project = Path.cwd()
    if os.environ.get("COPIER_DAGSTER_DATABRICKS_SKIP_VERIFY") == "1":
        print("post-copy: verification skipped; run `python scripts/verify.py` in the project.")
        return 0
    print(f"post-copy: verifying {project} (python scripts/verify.py)", flush=True)
    result = subprocess.run([sys.executable, "scripts/verify.py"], cwd=project)
    if result.returncode != 0:
        print(
            "\npost-copy: verification FAILED; the project was kept as rendered.\n"
            f"Fix the check named above, then rerun: cd {project} && python scripts/verify.py",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
