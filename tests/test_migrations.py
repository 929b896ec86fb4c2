"""A project rendered from an earlier release (releases.yml) moves to this one with
`copier update`: the template's migration removes what the new release no longer ships, keeps
(and names) what the user changed, and the user's edits elsewhere survive."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from pythons import find_python
from rendering import ROOT, git, project_env, release_history, render
from test_update import commit_project, update

RELEASES = yaml.safe_load((ROOT / "releases.yml").read_text())
OLDEST = RELEASES[0]["version"]
USER_ASSET = '''"""Our own asset."""

import dagster as dg


@dg.asset
def ours() -> None:
    """Ours."""
'''
RUNBOOK = "\n## Our runbook\n\nPage the data team.\n"


def has_commit(commit: str) -> bool:
    found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT)
    return found.returncode == 0


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template repo with every supported release tagged, then the working tree (99.0.0)."""
    missing = [r["version"] for r in RELEASES if not has_commit(r["commit"])]
    if missing:
        pytest.skip(f"this clone lacks the commits of releases {missing}: clone with history")
    return release_history(tmp_path_factory.mktemp("history") / "template", RELEASES, "99.0.0")


def project_with_user_edits(history: Path, dst: Path) -> Path:
    """A project of the oldest release, committed, then edited and committed by its team."""
    project = render(history, dst, vcs_ref=OLDEST)
    commit_project(project)
    package = next(project.glob("src/*/defs")).parent
    (package / "defs" / "ours.py").write_text(USER_ASSET)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + RUNBOOK)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace("dependencies = [\n", 'dependencies = [\n    "pyyaml",\n', 1))
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "our edits")
    return project


def assert_user_edits_kept(project: Path) -> None:
    package = next(project.glob("src/*/defs")).parent
    assert (package / "defs" / "ours.py").read_text() == USER_ASSET
    assert (project / "README.md").read_text().endswith(RUNBOOK)
    assert '    "pyyaml",\n' in (project / "pyproject.toml").read_text()
    assert not list(project.rglob("*.rej"))
    markers = subprocess.run(["git", "diff", "--check"], cwd=project, capture_output=True)
    assert b"conflict marker" not in markers.stdout, markers.stdout.decode()


def test_update_from_oldest_release_drops_the_vendored_emulator(
    history: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = project_with_user_edits(history, tmp_path / "project")
    vendored = project / "tools" / "local-databricks"
    notes = vendored / "README.md"
    notes.write_text(notes.read_text() + "\nOur patch notes.\n")  # a user edit in the old folder
    git(project, "commit", "--quiet", "--all", "--message", "patch the emulator")
    cache = vendored / "src" / "local_databricks" / "__pycache__"
    cache.mkdir()
    (cache / "api.cpython-312.pyc").write_bytes(b"\0")  # what a test run leaves (git-ignored)
    update(project, "99.0.0")
    output = capfd.readouterr().out
    # Everything of the old folder went, but the file the team changed, which is named.
    assert [p.relative_to(project) for p in vendored.rglob("*") if p.is_file()] == [
        Path("tools/local-databricks/README.md")
    ]
    assert "KEPT" in output and "tools/local-databricks/README.md" in output
    assert "tools/local-databricks/src/local_databricks/runs.py" in output
    # The renamed test module went too; the dependency now comes from the template repo.
    assert not (project / "tests" / "test_local_databricks.py").exists()
    assert (project / "tests" / "test_pipes_runs.py").is_file()
    pyproject = (project / "pyproject.toml").read_text()
    assert f'path = "{history}/packages/local-databricks"' in pyproject
    assert "tools/local-databricks" not in pyproject
    assert_user_edits_kept(project)


@pytest.mark.toolchain
def test_updated_project_from_oldest_release_passes_verify(history: Path, tmp_path: Path) -> None:
    python = find_python("3.12")
    if python is None:
        pytest.skip("Python 3.12 (the default python_version) is not installed here")
    project = project_with_user_edits(history, tmp_path / "project")
    update(project, "99.0.0")
    assert not (project / "tools" / "local-databricks").exists()
    assert_user_edits_kept(project)
    result = subprocess.run(
        [python, "scripts/verify.py"],
        cwd=project,
        env=project_env(python),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "verify: all checks passed" in result.stdout


def test_answer_change_that_drops_files_keeps_the_edited_ones(
    template_repo: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = render(template_repo, tmp_path / "project")
    commit_project(project)
    examples = next(project.glob("src/*/defs/examples"))
    edited = examples / "orders_table.py"
    edited.write_text(edited.read_text() + "# our tweak\n")
    git(project, "commit", "--quiet", "--all", "--message", "tweak an example")
    update(project, "99.0.0", data={"include_examples": False})
    output = capfd.readouterr().out
    assert edited.read_text().endswith("# our tweak\n")
    assert [p.name for p in examples.iterdir() if p.is_file()] == ["orders_table.py"]
    assert "KEPT" in output and str(edited.relative_to(project)) in output
    assert not (project / "databricks" / "jobs").exists()
