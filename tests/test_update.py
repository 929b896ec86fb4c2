"""`copier update` stays correct: a no-op when nothing changed, equal to a fresh copy after a
release, and it never silently drops a user's edit."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import tempfile
from pathlib import Path

import copier
import pytest
import yaml
from answers import choice_values, is_valid
from pythons import find_python
from rendering import ROOT, git, project_env, render, snapshot_template
from user_edits import (
    apply_edits,
    commit_edits,
    conflicts,
    conflicts_git_sees,
    lost_lines,
    tree_files,
)

README = Path("template/README.md.jinja")
QUESTIONS = yaml.safe_load((ROOT / "copier.yml").read_text().split("\n---\n")[-1])
OLD_HEADING, NEW_HEADING = "## Commands", "## Common commands"


@pytest.fixture(scope="module")
def two_releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template repo whose 1.0.0 differs from the working tree (2.0.0) in the README."""
    repo = snapshot_template(tmp_path_factory.mktemp("releases"), "0.0.1")
    readme = repo / README
    readme.write_text(readme.read_text().replace(OLD_HEADING, NEW_HEADING))
    git(repo, "commit", "--quiet", "--all", "--message", "release 1.0.0")
    git(repo, "tag", "1.0.0")
    readme.write_text((ROOT / README).read_text())
    git(repo, "commit", "--quiet", "--all", "--message", "release 2.0.0")
    git(repo, "tag", "2.0.0")
    return repo


def commit_project(project: Path) -> None:
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "project")


def update(project: Path, ref: str, data: dict | None = None) -> None:
    """`copier update` to ``ref`` as teams run it (inline conflicts), ``data`` changing answers."""
    copier.run_update(
        project,
        vcs_ref=ref,
        data=data or {},
        defaults=True,
        overwrite=True,
        unsafe=True,
        skip_tasks=True,
        quiet=True,
        conflict="inline",
    )


def differences(left: Path, right: Path) -> list[str]:
    """Files that differ between two trees, ignoring git metadata."""
    found: list[str] = []

    def walk(cmp: filecmp.dircmp, prefix: str) -> None:
        found.extend(f"{prefix}{n}" for n in cmp.left_only + cmp.right_only + cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(left, right, ignore=[".git"]), "")
    return found


def test_update_without_template_change_is_a_noop(template_repo: Path, tmp_path: Path) -> None:
    project = render(template_repo, tmp_path / "project")
    commit_project(project)
    update(project, "99.0.0")
    assert git(project, "status", "--porcelain") == ""


def test_update_from_last_release_equals_fresh_copy(two_releases: Path, tmp_path: Path) -> None:
    old = render(two_releases, tmp_path / "old", vcs_ref="1.0.0")
    assert NEW_HEADING in (old / "README.md").read_text()
    commit_project(old)
    update(old, "2.0.0")
    fresh = render(two_releases, tmp_path / "fresh", vcs_ref="2.0.0")
    assert differences(old, fresh) == []


def test_update_keeps_user_edits(two_releases: Path, tmp_path: Path) -> None:
    project = render(two_releases, tmp_path / "project", vcs_ref="1.0.0")
    commit_project(project)
    asset = next(project.glob("src/*/defs")) / "my_asset.py"
    asset.write_text('"""A user asset."""\n')
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our runbook\n\nPage the data team.\n")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "user edits")
    update(project, "2.0.0")
    text = readme.read_text()
    assert "## Our runbook" in text and OLD_HEADING in text and "<<<<<<<" not in text
    assert asset.read_text() == '"""A user asset."""\n'
    assert not list(project.rglob("*.rej"))


def test_conflicting_edit_is_kept_as_a_visible_conflict(two_releases: Path, tmp_path: Path) -> None:
    project = render(two_releases, tmp_path / "project", vcs_ref="1.0.0")
    commit_project(project)
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace(NEW_HEADING, "## How we run it"))
    git(project, "commit", "--quiet", "--all", "--message", "user heading")
    update(project, "2.0.0")
    text = readme.read_text()
    assert "<<<<<<<" in text and "## How we run it" in text and OLD_HEADING in text


def assert_update_result(project: Path, expected: Path) -> dict[str, int]:
    """After `copier update` of an edited project: no team line lost, no `.rej`, every conflict
    visible to git as markers, and the tree equal to ``expected`` (a fresh render with the
    team's edits applied) but for the files holding those conflicts. Returns the conflicts.

    "The tree" is what the team would commit: git-ignored files (a synced .venv, caches) are
    not part of it, the files the team committed since (uv.lock) are copied to ``expected``."""
    found = conflicts(project)
    assert lost_lines(project) == []
    assert [p for p in tree_files(project) if p.suffix == ".rej"] == []
    assert conflicts_git_sees(project) == found  # what pre-commit's merge-conflict check sees
    for name in ("uv.lock",):
        if (project / name).is_file() and not (expected / name).exists():
            shutil.copy2(project / name, expected / name)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        for relative in tree_files(project):
            (tree / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / relative, tree / relative)
        assert sorted(differences(tree, expected)) == sorted(found)
    return found


def answer_changes() -> list[tuple[dict, dict]]:
    """(answers of the first copy, answers changed by `copier update --data`): every value of
    every choice question but its default, from a default project, and examples back on."""
    cases: list[tuple[dict, dict]] = []
    for name, values in choice_values().items():
        for value in values:
            if value == QUESTIONS[name].get("default"):
                continue
            change = {name: value}
            # Azure service principals need an Azure workspace: the team changes both.
            cases.append(({}, change if is_valid(change) else {"cloud": "azure", **change}))
    cases.append(({"include_examples": False}, {"include_examples": True}))
    return cases


def change_id(case: tuple[dict, dict]) -> str:
    return "-".join(f"{k}={v}" for k, v in {**case[0], **case[1]}.items())


@pytest.mark.parametrize("case", answer_changes(), ids=change_id)
def test_answer_change_equals_fresh_render_plus_edits(
    template_repo: Path, tmp_path: Path, case: tuple[dict, dict]
) -> None:
    first, change = case
    project = render(template_repo, tmp_path / "project", data=first)
    commit_project(project)
    commit_edits(project)
    update(project, "99.0.0", data=change)
    expected = apply_edits(render(template_repo, tmp_path / "expected", data={**first, **change}))
    assert assert_update_result(project, expected) == {}
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert {k: answers[k] for k in change} == change


def verify(project: Path, python: str) -> None:
    """The project's own checks (scripts/verify.py: uv sync, ruff, dg check defs, pytest)."""
    result = subprocess.run(
        [python, "scripts/verify.py"],
        cwd=project,
        env=project_env(python),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "verify: all checks passed" in result.stdout


@pytest.mark.toolchain
def test_answer_changes_teams_make_pass_verify(template_repo: Path, tmp_path: Path) -> None:
    """The one toolchain run of the answer changes: the ones teams most often make, several at
    once, with the team's edits committed. Examples on (with a new auth method, compute and
    CI), then off again (with two more)."""
    python = find_python("3.12")
    if python is None:
        pytest.skip("Python 3.12 (the default python_version) is not installed here")
    first = {"include_examples": False}
    project = render(template_repo, tmp_path / "project", data=first)
    commit_project(project)
    commit_edits(project)
    steps = [
        {
            "auth_method": "oauth-m2m",
            "compute": "serverless",
            "ci": "gitlab",
            "include_examples": True,
        },
        {"auth_method": "profile", "compute": "existing-cluster", "include_examples": False},
    ]
    answers = dict(first)
    for number, change in enumerate(steps):
        answers.update(change)
        update(project, "99.0.0", data=change)
        expected = apply_edits(render(template_repo, tmp_path / f"expected{number}", data=answers))
        assert assert_update_result(project, expected) == {}
        verify(project, python)
        git(project, "add", "--all")  # uv.lock is the team's to commit
        git(project, "commit", "--quiet", "--message", f"answers: {change}")
