"""A project rendered from an earlier release (releases.yml) moves to this one with
`copier update`: the template's migration removes what the new release no longer ships, keeps
(and names) what the user changed, and the user's edits elsewhere survive."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from answers import TOOLCHAIN_CASES
from pythons import find_python
from rendering import ROOT, git, project_env, release_history, render
from test_update import assert_update_result, commit_project, update
from user_edits import apply_edits, commit_edits, lost_lines

RELEASES = yaml.safe_load((ROOT / "releases.yml").read_text())
OLDEST = RELEASES[0]["version"]
CURRENT = "99.0.0"  # the working tree, tagged in the history repo
# The defaults, and a non-default set that every release supports (Azure, serverless, GitLab).
ANSWER_SETS = {"defaults": {}, "azure-serverless": TOOLCHAIN_CASES["azure-serverless"]}


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


def project_with_user_edits(history: Path, dst: Path, release: str = OLDEST, **data) -> Path:
    """A project of ``release``, committed, then edited and committed by its team."""
    project = render(history, dst, data=data, vcs_ref=release)
    commit_project(project)
    return commit_edits(project)


def fresh_with_edits(history: Path, dst: Path, **data) -> Path:
    """What an update to the working tree must give: its fresh render plus the team's edits."""
    return apply_edits(render(history, dst, data=data, vcs_ref=CURRENT))


@pytest.mark.parametrize("answers", ANSWER_SETS)
@pytest.mark.parametrize("release", [r["version"] for r in RELEASES])
def test_update_from_every_release_equals_fresh_render_plus_edits(
    history: Path, tmp_path: Path, release: str, answers: str
) -> None:
    data = ANSWER_SETS[answers]
    project = project_with_user_edits(history, tmp_path / "project", release, **data)
    # The same answers again: questions a release added (deploy) are answered as at the prompt.
    update(project, CURRENT, data=data)
    found = assert_update_result(project, fresh_with_edits(history, tmp_path / "fresh", **data))
    print(f"{release} -> working tree ({answers}): {sum(found.values())} conflicts {found}")


def test_update_from_oldest_release_drops_the_vendored_emulator(
    history: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = project_with_user_edits(history, tmp_path / "project", "0.1.0")
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
    assert (project / "tests" / "test_definitions.py").is_file()
    pyproject = (project / "pyproject.toml").read_text()
    assert f'path = "{history}/packages/local-databricks"' in pyproject
    assert "tools/local-databricks" not in pyproject
    assert lost_lines(project) == []


OWN_TEST = "from run_local import fast_resources\n\n\ndef test_ours() -> None:\n    pass\n"
OWN_DOC = "# Our notes\n\nThe emulator lives in tools/local-databricks.\n"


def add_old_layout_usages(project: Path) -> None:
    """A team's own test and notes written against the 0.1.0 layout, committed."""
    (project / "tests" / "test_ours.py").write_text(OWN_TEST)
    (project / "NOTES.md").write_text(OWN_DOC)
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "our test and notes")


def test_update_across_0_2_0_reports_own_code_on_the_old_layout(
    history: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """hooks/report_old_layout.py (version 0.2.0): listed, with the replacement, not changed."""
    project = project_with_user_edits(history, tmp_path / "project", "0.1.0")
    add_old_layout_usages(project)
    update(project, CURRENT)
    output = capfd.readouterr().out
    assert "migration 0.2.0: these lines of yours still use the 0.1.0 layout" in output
    assert "tests/test_ours.py:1: from run_local import fast_resources" in output
    assert "NOTES.md:3: The emulator lives in tools/local-databricks." in output
    assert "local_databricks.project" in output
    assert output.count("  ! ") == 2  # nothing of the template's own files
    assert (project / "tests" / "test_ours.py").read_text() == OWN_TEST  # reported, not changed


def test_update_after_0_2_0_does_not_run_the_0_2_0_migration(
    template_repo: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = render(template_repo, tmp_path / "project")
    commit_project(project)
    add_old_layout_usages(project)
    update(project, CURRENT)
    assert "migration 0.2.0" not in capfd.readouterr().out


OWN_ASSET_0_2 = (
    "import dagster as dg\n\n"
    "from {package}.databricks.pipes import DatabricksPipes\n"
    "from {package}.databricks.clusters import get_profile\n"
)


def test_update_across_0_3_0_reports_own_code_on_the_runtime_folder(
    history: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """hooks/report_old_layout.py 0.3.0: a team's asset importing the runtime from
    src/<package>/databricks/ is listed with the brickpipes import that replaces it, and
    changed nothing; lock files, which the next `uv sync` relocks, are not listed."""
    project = project_with_user_edits(history, tmp_path / "project", "0.2.0")
    package = next(project.glob("src/*/defs")).parent
    own = package / "defs" / "ours.py"
    own.write_text(OWN_ASSET_0_2.format(package=package.name))
    (project / "uv.lock").write_text(
        f'name = "{package.name}"\n# {package.name}.databricks.pipes\n'
    )
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "our asset")
    update(project, CURRENT)
    output = capfd.readouterr().out
    assert "migration 0.3.0: these lines of yours still use the 0.2.0 layout" in output
    assert f"defs/ours.py:3: from {package.name}.databricks.pipes import" in output
    assert "from brickpipes import DatabricksPipes" in output
    assert "brickpipes.clusters.get_profile(path, name)" in output
    assert "uv.lock" not in output
    assert output.count("  ! ") == 2  # nothing of the template's own files
    assert own.read_text() == OWN_ASSET_0_2.format(package=package.name)
    # The runtime folder went, but the team's edited clusters.yml, which moved with its edit.
    assert not (package / "databricks").exists()
    assert "databricks/clusters.yml -> src/" in output
    assert lost_lines(project) == []


OWN_ASSET_0_3 = (
    "from .examples.common import FILES_ROOT, table_name\n\n"
    'ORDERS = table_name("orders")\n'
    'REPORTS = f"{FILES_ROOT}/reports"\n'
)


def test_update_across_0_4_0_reports_names_fixed_at_render_time(
    history: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """hooks/report_old_layout.py 0.4.0: a team's module naming a table or folder the way 0.3.0
    fixed them at render time is listed with what each environment derives now, and changed
    nothing; the template's own files, updated, are not listed."""
    project = project_with_user_edits(history, tmp_path / "project", "0.3.0")
    package = next(project.glob("src/*/defs")).parent
    own = package / "defs" / "ours.py"
    own.write_text(OWN_ASSET_0_3)
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "our names")
    update(project, CURRENT)
    output = capfd.readouterr().out
    assert "migration 0.4.0: environments. A run is production only where declared" in output
    assert "migration 0.4.0: these lines of yours still use the 0.3.0 layout" in output
    assert 'defs/ours.py:3: ORDERS = table_name("orders")' in output
    assert "table_name(databricks_pipes, table)" in output
    assert "files_root(databricks_pipes)" in output
    assert output.count("  ! ") == 3
    assert own.read_text() == OWN_ASSET_0_3


@pytest.mark.toolchain
@pytest.mark.parametrize("release", [r["version"] for r in RELEASES])
def test_updated_project_from_a_release_passes_verify(
    history: Path, tmp_path: Path, release: str
) -> None:
    """The toolchain runs of the release updates: each release, the defaults, team edits."""
    python = find_python("3.12")
    if python is None:
        pytest.skip("Python 3.12 (the default python_version) is not installed here")
    project = project_with_user_edits(history, tmp_path / "project", release)
    update(project, CURRENT)
    assert lost_lines(project) == []
    assert not (project / "tools" / "local-databricks").exists()
    assert assert_update_result(project, fresh_with_edits(history, tmp_path / "fresh")) == {}
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
    edited = examples / "cleaned_orders.py"
    edited.write_text(edited.read_text() + "# our tweak\n")
    git(project, "commit", "--quiet", "--all", "--message", "tweak an example")
    update(project, "99.0.0", data={"include_examples": False})
    output = capfd.readouterr().out
    assert edited.read_text().endswith("# our tweak\n")
    assert [p.name for p in examples.iterdir() if p.is_file()] == ["cleaned_orders.py"]
    assert "KEPT" in output and str(edited.relative_to(project)) in output
    assert not (project / "databricks" / "jobs").exists()
