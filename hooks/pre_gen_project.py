"""Cookiecutter and cruft pre-generation hook: render the project with Copier's own engine.

Cookiecutter has asked the questions of cookiecutter.json (generated from copier.yml) and
created the empty project folder; this hands every answer to Copier, which validates them with
copier.yml's validators, derives nothing new (cookiecutter already did, from the same Jinja)
and renders ``template/`` into the folder exactly as ``copier copy`` does. A rejected answer
exits 1 with Copier's message before any file is written, and cookiecutter removes the folder.

The answers file Copier writes is removed: cruft writes its own (``.cruft.json``).
Cookiecutter renders this file with Jinja before running it; the two JSON strings below are
the only Jinja in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BRIDGE = json.loads(r"""{{ copier_bridge() | jsonify }}""")
CONTEXT = json.loads(r"""{{ cookiecutter | jsonify }}""")
# copier.yml's _min_copier_version.
INSTALL = "install Copier next to cookiecutter, e.g. `uvx --with 'copier>=9.16' cookiecutter ...`"


def answers(context: dict[str, Any]) -> dict[str, Any]:
    """The answers to copier.yml's questions: cookiecutter's private keys (``_*``) left out."""
    return {key: value for key, value in context.items() if not key.startswith("_")}


def source(context: dict[str, Any], checkout: Path) -> tuple[str, str | None]:
    """Where Copier renders from, and at which git ref: the address the user gave, at the commit
    cookiecutter or cruft checked out, so the project records what ``copier copy`` would
    (the answers' ``_src_path`` decides how pyproject.toml installs local-databricks)."""
    from cookiecutter.config import BUILTIN_ABBREVIATIONS
    from cookiecutter.repository import expand_abbreviations, is_repo_url

    address = str(context.get("_template", ""))
    if "_commit" in context:  # cruft: the template's address and the commit it cloned
        return address, str(context["_commit"])
    if not (checkout / ".git").exists():  # a folder or an unpacked zip: as it is
        return str(checkout), None
    if not is_repo_url(expand_abbreviations(address, BUILTIN_ABBREVIATIONS)):
        # A local clone: its checkout as it is (uncommitted changes included), not the latest tag.
        return str(checkout), "HEAD"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True
    )
    return address, head.stdout.strip()  # cookiecutter's clone of a remote template


def main() -> int:
    """Render the template checkout into the current folder (cookiecutter's project folder)."""
    try:
        import copier
        from copier.errors import CopierError
    except ImportError:
        print(f"This template renders with Copier's engine: {INSTALL}", file=sys.stderr)
        return 1
    src, ref = source(CONTEXT, Path(BRIDGE["template"]))
    options: dict[str, Any] = {
        "data": answers(CONTEXT),
        "defaults": True,
        # Cookiecutter refuses an existing folder unless told to overwrite it (-f).
        "overwrite": True,
        # Verification is the post-generation hook's, after cookiecutter's own files.
        "skip_tasks": True,
        "quiet": True,
    }
    try:
        worker = copier.run_copy(src, ".", vcs_ref=ref, **options)
    except (ValueError, CopierError) as error:
        print(error, file=sys.stderr)
        return 1
    Path(worker.answers_relpath).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
