"""Move a project created with cruft from this template to Copier, keeping its answers.

Run it in the project's root, on a clean git tree, with Copier installed::

    uv run --no-project --with 'copier>=9.16' python TEMPLATE/hooks/cruft_to_copier.py

where TEMPLATE is a clone of this template (any version). It renders the template at the
commit ``.cruft.json`` records, with the answers it records, into a temporary folder, and takes
the answers file of that render: the project is byte-identical to what ``copier copy`` gives
(docs/front-ends.md), so that file is the one Copier would have written. ``.cruft.json`` goes;
from then on ``copier update`` updates the project. A project created with plain cookiecutter
becomes a cruft project first with ``cruft link TEMPLATE``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

CRUFT_FILE = ".cruft.json"


def main(argv: list[str]) -> int:
    """Write the Copier answers file of the project in ``argv[0]`` (default: here)."""
    project = Path(argv[0] if argv else ".").resolve()
    cruft_file = project / CRUFT_FILE
    if not cruft_file.is_file():
        print(
            f"{project} has no {CRUFT_FILE}: run this in the root of a cruft project"
            " (a plain cookiecutter project: `cruft link TEMPLATE` first)",
            file=sys.stderr,
        )
        return 1
    import copier

    state = json.loads(cruft_file.read_text())
    answers = {
        key: value
        for key, value in state["context"]["cookiecutter"].items()
        if not key.startswith("_")
    }
    with tempfile.TemporaryDirectory(prefix="cruft-to-copier-") as tmp:
        render = Path(tmp) / "render"
        worker = copier.run_copy(
            state["template"],
            render,
            vcs_ref=state["commit"],
            data=answers,
            defaults=True,
            skip_tasks=True,
            quiet=True,
        )
        shutil.copyfile(render / worker.answers_relpath, project / worker.answers_relpath)
    cruft_file.unlink()
    print(
        f"{project.name} is a Copier project now: {worker.answers_relpath} written,"
        f" {CRUFT_FILE} removed. Commit both, then update with `copier update --trust`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
