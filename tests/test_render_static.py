"""Static checks on every render of the pairwise answer matrix: it is complete and parses."""

from __future__ import annotations

import py_compile
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from answers import case_id, pairwise_matrix
from rendering import render

MATRIX = pairwise_matrix()
# Databricks references are meant to stay in the output: secrets ({{secrets/<scope>/<key>}})
# and dynamic value references ({{job.run_id}}, {{task.name}}, ...); so are GitHub Actions
# expressions (${{ secrets.X }}).
DATABRICKS_REFERENCE = r"secrets/|(job|task|tasks|run|parent_run|job_parameters|backfill)\."
JINJA_MARKER = re.compile(rf"(?<!\$)\{{\{{(?!{DATABRICKS_REFERENCE})|\{{%|%\}}|\{{#|#\}}")
TEXT_SUFFIXES = {".py", ".toml", ".yml", ".yaml", ".md", ".txt", ".cfg", ".example", ""}
MAINTAINED = "Maintained by the template; changes arrive with `copier update`."


def text_files(project: Path) -> list[Path]:
    return [
        p
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.parts and p.suffix in TEXT_SUFFIXES
    ]


@pytest.fixture(scope="module", params=MATRIX, ids=[case_id(c) for c in MATRIX])
def matrix_render(
    request: pytest.FixtureRequest, template_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    answers: dict[str, Any] = request.param
    return answers, render(template_repo, tmp_path_factory.mktemp("render") / "p", answers)


def test_no_leftover_jinja(matrix_render: tuple[dict[str, Any], Path]) -> None:
    _, project = matrix_render
    leftovers = [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in text_files(project)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if JINJA_MARKER.search(line)
    ]
    assert not leftovers, "\n".join(leftovers)
    names = [str(p.relative_to(project)) for p in project.rglob("*")]
    assert not [n for n in names if any(c in n for c in "{}%\"'")], names


def test_files_parse(matrix_render: tuple[dict[str, Any], Path]) -> None:
    _, project = matrix_render
    for path in project.rglob("*"):
        if not path.is_file() or ".git" in path.parts:
            continue
        if path.suffix == ".py":
            py_compile.compile(str(path), doraise=True, cfile=str(path) + "c.tmp")
            Path(str(path) + "c.tmp").unlink()
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())
        elif path.suffix in {".yml", ".yaml"}:
            list(yaml.safe_load_all(path.read_text()))


def test_ruff_passes(matrix_render: tuple[dict[str, Any], Path]) -> None:
    _, project = matrix_render
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_answers_decide_the_files(matrix_render: tuple[dict[str, Any], Path]) -> None:
    answers, project = matrix_render
    package = project / "src" / "sales_analytics"
    assert (project / ".github").exists() == (answers["ci"] == "github")
    assert (project / ".gitlab-ci.yml").exists() == (answers["ci"] == "gitlab")
    assert (package / "remote").exists() == answers["include_examples"]
    assert (package / "defs" / "examples").exists() == answers["include_examples"]
    resources = (package / "defs" / "resources.py").read_text()
    transport = "volumes" if answers["compute"] == "serverless" else answers["pipes_transport"]
    assert f'transport="{transport}"' in resources
    assert ("DATABRICKS_CLUSTER_ID" in resources) == (answers["compute"] == "existing-cluster")
    cluster_file = (package / "clusters.yml").read_text()
    assert f"{answers['cloud']}_attributes" in cluster_file


def test_answers_file_holds_no_secret_and_no_pin(
    matrix_render: tuple[dict[str, Any], Path],
) -> None:
    _, project = matrix_render
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert not {k for k in answers if "token" in k or "secret" in k or "password" in k}
    assert "dagster_version" not in answers and "stdlib_modules" not in answers


def test_versions_come_from_the_versions_file(matrix_render: tuple[dict[str, Any], Path]) -> None:
    _, project = matrix_render
    versions = {
        name: spec["default"]
        for name, spec in yaml.safe_load(
            (Path(__file__).parent.parent / "versions.yml").read_text()
        ).items()
    }
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    deps = pyproject["project"]["dependencies"]
    assert f"dagster=={versions['dagster_version']}" in deps
    assert f"dagster-pipes=={versions['dagster_pipes_version']}" in deps
    assert versions["databricks_sdk_spec"] in deps and "brickpipes" in deps
    # Production runs brickpipes, not dagster-databricks (and so no pyspark).
    assert not [dep for dep in deps if dep.startswith(("dagster-databricks", "pyspark"))]


def maintained_files(project: Path) -> set[Path]:
    """The files the generated README's ownership table says the template maintains."""
    readme = (project / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.endswith("(your edits merged) |")]
    assert rows, "the README has no rows of template-maintained files"
    listed: set[Path] = set()
    for row in rows:
        for name in re.findall(r"`([^`]+)`", row.split("|")[1]):
            matches = set(project.glob(name.replace("{{ package_name }}", "sales_analytics")))
            assert matches, f"the README lists {name}, which the render does not have"
            listed |= matches
    assert project / "scripts" / "verify.py" in listed
    return listed


def test_template_maintained_modules_say_so(matrix_render: tuple[dict[str, Any], Path]) -> None:
    _, project = matrix_render
    maintained = maintained_files(project)
    for path in project.rglob("*.py"):
        first_line = path.read_text().removeprefix('"""').split("\n", 1)[0]
        says_so = first_line == MAINTAINED
        assert says_so == (path in maintained), f"{path.relative_to(project)}: {first_line}"


def test_local_databricks_serves_every_node_type_of_the_cluster_profiles(
    matrix_render: tuple[dict[str, Any], Path],
) -> None:
    """What the preflight checks against a workspace holds on local Databricks for every cloud:
    each profile of clusters.yml (and the bundle's node type) is one of its node types."""
    # The min_copier session renders without the packages; the tests session has them.
    specs = pytest.importorskip("local_databricks.cluster_specs", reason="no local-databricks")

    _, project = matrix_render
    profiles = next(project.glob("src/*/clusters.yml"))
    declared = yaml.safe_load(profiles.read_text())["profiles"]
    wanted = {spec["node_type_id"] for spec in declared.values() if "node_type_id" in spec}
    bundle = yaml.safe_load((project / "databricks.yml").read_text())
    node_type = bundle.get("variables", {}).get("node_type_id", {}).get("default")
    wanted |= {node_type} if node_type else set()
    assert wanted and wanted <= specs.NODE_TYPE_IDS, sorted(wanted - specs.NODE_TYPE_IDS)
