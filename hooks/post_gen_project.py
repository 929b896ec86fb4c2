"""Cookiecutter and cruft post-generation hook: verify the project, as ``copier copy --trust``.

The project was rendered by the pre-generation hook; this removes the placeholder that is
cookiecutter's only file of its own, then runs the same verification as Copier's task
(hooks/post_copy.py: ``python scripts/verify.py``). A failing check keeps the project and
names the command to rerun; with ``--no-input`` (or ``CI`` set) nobody may read it, and the
hook exits 1 as Copier's task does with ``--defaults``: cookiecutter then deletes the folder
unless ``--keep-project-on-failure``. ``COPIER_DAGSTER_DATABRICKS_SKIP_VERIFY=1`` skips it.
The renders cruft makes only to compute a diff (``cruft update``, ``cruft diff``) are never
verified.
Cookiecutter renders this file with Jinja before running it; the JSON string below is the
only Jinja in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BRIDGE = json.loads(r"""{{ copier_bridge() | jsonify }}""")
PLACEHOLDER = Path("COOKIECUTTER_RAN_WITHOUT_HOOKS.md")


def main() -> int:
    """Remove the placeholder; verify the project unless cruft rendered it for a diff."""
    PLACEHOLDER.unlink(missing_ok=True)
    if BRIDGE["diff_render"]:
        return 0
    post_copy = Path(BRIDGE["template"]) / "hooks" / "post_copy.py"
    asked = "--defaults" if BRIDGE["no_input"] else "--asked"
    return subprocess.run([sys.executable, str(post_copy), asked]).returncode


if __name__ == "__main__":
    sys.exit(main())
