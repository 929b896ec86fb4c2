"""The cruft lifecycle on this template: create, check, update, and the move to Copier.

cruft renders through the same cookiecutter hooks as cookiecutter (Copier's engine), so a
cruft project equals a `copier copy` one but for its answers file; `cruft update` brings a
template change and keeps a user's edit; hooks/cruft_to_copier.py turns it into a Copier
project whose `copier update` works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import copier
import cruft
import pytest
import yaml
from frontends import SKIP_VERIFY, cruft_create, differences, isolate_cookiecutter
from rendering import ROOT, git, render, snapshot_template

README = Path("template/README.md.jinja")
OLD_HEADING, NEW_HEADING = "## Commands", "## Common commands"
USER_LINE = "Team note: the nightly job owns the orders tables.\n"


@pytest.fixture(autouse=True)
def _skip_verify(
    monkeypatch: pytest.MonkeyPatch, template_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    isolate_cookiecutter(monkeypatch, tmp_path_factory)
    monkeypatch.syspath_prepend(str(template_repo))


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """A template repository of its own (the tests commit releases to it), tagged 99.0.0."""
    return snapshot_template(tmp_path / "template", "99.0.0")


def release_new_heading(template: Path, tag: str) -> None:
    """Commit a template change (the README's heading) and tag it."""
    readme = template / README
    assert OLD_HEADING in readme.read_text()
    readme.write_text(readme.read_text().replace(OLD_HEADING, NEW_HEADING))
    git(template, "commit", "--quiet", "--all", "--message", f"release {tag}")
    git(template, "tag", tag)


def commit_project(project: Path, message: str = "project") -> None:
    if not (project / ".git").exists():
        git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", message)


def test_create_equals_copier_and_check_is_current(template_repo: Path, tmp_path: Path) -> None:
    project = cruft_create(template_repo, tmp_path / "cruft", {})
    expected = render(template_repo, tmp_path / "copier")
    assert differences(expected, project) == []
    state = json.loads((project / ".cruft.json").read_text())
    answers = yaml.safe_load((expected / ".copier-answers.yml").read_text())
    context = state["context"]["cookiecutter"]
    assert {k: context[k] for k in answers if not k.startswith("_")} == {
        k: v for k, v in answers.items() if not k.startswith("_")
    }
    assert cruft.check(project)


def test_update_applies_a_template_change_and_keeps_the_users_edit(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    project = cruft_create(template, tmp_path / "out", {})
    commit_project(project)
    with (project / "README.md").open("a") as readme:
        readme.write(USER_LINE)
    commit_project(project, "user edit")
    release_new_heading(template, "99.1.0")
    assert not cruft.check(project)
    # The renders cruft diffs are never verified, even with verification on.
    monkeypatch.delenv(*SKIP_VERIFY)
    capfd.readouterr()
    assert cruft.update(project, skip_apply_ask=True)
    assert "post-copy" not in "".join(capfd.readouterr())
    text = (project / "README.md").read_text()
    assert NEW_HEADING in text and OLD_HEADING not in text
    assert text.endswith(USER_LINE)
    assert cruft.check(project)
    fresh = render(template, tmp_path / "fresh")  # the latest release, 99.1.0
    assert text == (fresh / "README.md").read_text() + USER_LINE
    assert [d for d in differences(fresh, project) if "README.md" not in d.split("\n")[0]] == []


def test_a_cruft_project_becomes_a_copier_project(template: Path, tmp_path: Path) -> None:
    project = cruft_create(template, tmp_path / "out", {"ci": "gitlab"})
    commit_project(project)
    result = subprocess.run(
        [sys.executable, str(ROOT / "hooks" / "cruft_to_copier.py")],
        cwd=project,
        env={**os.environ, **SKIP_VERIFY},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "copier update" in result.stdout
    assert not (project / ".cruft.json").exists()
    # The answers file `copier copy` would have written, byte for byte.
    expected = render(template, tmp_path / "copier", {"ci": "gitlab"})
    answers = (project / ".copier-answers.yml").read_text()
    assert answers == (expected / ".copier-answers.yml").read_text()
    commit_project(project, "move to Copier")
    release_new_heading(template, "99.1.0")
    copier.run_update(
        project,
        defaults=True,
        overwrite=True,
        unsafe=True,
        skip_tasks=True,
        quiet=True,
        conflict="inline",
    )
    assert NEW_HEADING in (project / "README.md").read_text()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "99.1.0"
    assert (project / ".gitlab-ci.yml").is_file()


def test_the_move_to_copier_needs_a_cruft_project(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "hooks" / "cruft_to_copier.py"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "has no .cruft.json" in result.stderr and "cruft link" in result.stderr
