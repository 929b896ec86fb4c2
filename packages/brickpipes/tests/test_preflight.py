"""``brickpipes preflight`` against local Databricks, over HTTP with the real SDK: it passes on
a prepared workspace (catalog, schema, volume, the bundle deployed under the environment's
target) and fails, naming the fix, for each missing piece.

Each test builds a small project folder (pyproject.toml, a definitions module declaring the
brickpipes resources, clusters.yml, a bundle with one job) and runs the command in-process
through ``brickpipes.cli.main``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from local_databricks import LocalDatabricks
from local_databricks.project import api_call

from brickpipes.cli import main as cli_main
from brickpipes.preflight import Result, Shell, Sql, render

USER = "local.user@example.com"  # local Databricks' PAT user (SCIM Me)
DEVELOPER = "local_user"  # its short name: the development environment's owner
BUNDLE = "preflight-demo"
JOB = f"{BUNDLE}: orders"
UC = "/api/2.1/unity-catalog"

DEFINITIONS = """
from pathlib import Path

import dagster as dg

from brickpipes import DatabricksJobs, DatabricksPipes, DatabricksWorkspace
from brickpipes.environments import DatabricksEnvironment

ROOT = Path(__file__).resolve().parents[2]
workspace = DatabricksWorkspace.from_env("pat")
environment = DatabricksEnvironment(
    workspace=workspace,
    catalog="main",
    production_schema="sales",
    code_root="/Workspace/Shared/dagster/preflight_demo",
)
pipes = DatabricksPipes(
    workspace=workspace,
    environment=environment,
    code_location="preflight_demo",
    compute={compute!r},
    transport={transport!r},
    cluster_profiles=str(ROOT / "clusters.yml"),
    dagster_pipes_requirement="dagster-pipes",
    {cluster}
)
defs = dg.Definitions(
    resources={{
        "databricks_workspace": workspace,
        "databricks_environment": environment,
        "databricks_pipes": pipes,
        "databricks_jobs": DatabricksJobs(workspace=workspace, environment=environment),
    }}
)
"""
CLUSTERS = """
profiles:
  small:
    spark_version: "16.4.x-scala2.12"
    node_type_id: {node_type}
    num_workers: 0
"""
DATABRICKS_YML = f"""
bundle:
  name: {BUNDLE}
include:
  - resources/*.yml
variables:
  pull_request:
    default: none
targets:
  dev:
    default: true
    mode: development
    workspace:
      root_path: /Workspace/Shared/dagster/${{bundle.name}}/dev
  pr:
    presets:
      name_prefix: "[pr ${{var.pull_request}}] "
    workspace:
      root_path: /Workspace/Shared/dagster/${{bundle.name}}/pr-${{var.pull_request}}
  prod:
    mode: production
    workspace:
      root_path: /Workspace/Shared/dagster/${{bundle.name}}/prod
"""
JOB_YML = """
resources:
  jobs:
    orders:
      name: "${bundle.name}: orders"
      tasks:
        - task_key: orders
          spark_python_task: {python_file: ../jobs/orders.py}
          new_cluster: {spark_version: 16.4.x-scala2.12, node_type_id: m5d.large, num_workers: 0}
"""


def make_project(
    root: Path,
    *,
    compute: str = "job-cluster",
    transport: str = "volumes",
    node_type: str = "m5d.large",
) -> tuple[Path, str]:
    """A project folder under ``root``; returns it and its root module's name."""
    module = f"preflight_{uuid.uuid4().hex[:8]}"
    package = root / "src" / module
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "demo"\n\n[tool.dg.project]\nroot_module = "{module}"\n'
    )
    (package / "__init__.py").write_text("")
    existing = compute == "existing-cluster"
    cluster = 'cluster_id=dg.EnvVar("DATABRICKS_CLUSTER_ID"),' if existing else ""
    (package / "definitions.py").write_text(
        DEFINITIONS.format(compute=compute, transport=transport, cluster=cluster)
    )
    (root / "clusters.yml").write_text(CLUSTERS.format(node_type=node_type))
    (root / "databricks.yml").write_text(DATABRICKS_YML)
    for folder in ("resources", "jobs"):
        (root / folder).mkdir()
    (root / "resources" / "orders.job.yml").write_text(JOB_YML)
    (root / "jobs" / "orders.py").write_text("print('orders')\n")
    return root, module


@pytest.fixture
def workspace(
    local_databricks: LocalDatabricks, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalDatabricks]:
    """Local Databricks with the project's PAT variables pointing at it."""
    for name, value in local_databricks.env("pat").items():
        monkeypatch.setenv(name, value)
    for name in ("BRICKPIPES_ENVIRONMENT", "BRICKPIPES_PULL_REQUEST", "BRICKPIPES_DEVELOPER"):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("DAGSTER_CLOUD_")]:
        monkeypatch.delenv(name)
    yield local_databricks


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Builds project folders; forgets their modules after the test."""
    modules: list[str] = []

    def build(**options: Any) -> Path:
        root, module = make_project(tmp_path / f"project{len(modules)}", **options)
        modules.append(module)
        return root

    yield build
    for module in modules:
        for name in [n for n in sys.modules if n == module or n.startswith(module + ".")]:
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path))]


def preflight(capsys: pytest.CaptureFixture[str], root: Path, *arguments: str) -> tuple[int, str]:
    """Run ``brickpipes preflight`` on ``root``: its exit code and output."""
    code = cli_main(["preflight", "--project", str(root), *arguments])
    return code, capsys.readouterr().out


def prepare(
    server: LocalDatabricks, schema: str, *, volume: bool = True, job: str | None = None
) -> None:
    """Create what a team prepares: catalog main, ``schema`` and its Pipes volume, and the
    bundle's job under the name ``job`` (as ``databricks bundle deploy`` names it)."""
    api_call(server, "POST", f"{UC}/catalogs", {"name": "main"})
    api_call(server, "POST", f"{UC}/schemas", {"name": schema, "catalog_name": "main"})
    if volume:
        body = {"catalog_name": "main", "schema_name": schema, "name": "dagster_pipes"}
        api_call(server, "POST", f"{UC}/volumes", {**body, "volume_type": "MANAGED"})
    if job is not None:
        task = {
            "task_key": "orders",
            "spark_python_task": {"python_file": "/Workspace/Shared/orders.py"},
            "new_cluster": {
                "spark_version": "16.4.x-scala2.12",
                "node_type_id": "m5d.large",
                "num_workers": 0,
            },
        }
        api_call(server, "POST", "/api/2.2/jobs/create", {"name": job, "tasks": [task]})


def line_of(output: str, start: str) -> str:
    """The first line of ``output`` that starts with ``start``."""
    found = [line for line in output.splitlines() if line.startswith(start)]
    assert found, f"no line starts with {start!r} in:\n{output}"
    return found[0]


def block_of(output: str, start: str) -> str:
    """The line starting with ``start`` and its indented continuation (message and fix)."""
    lines = output.splitlines()
    index = lines.index(line_of(output, start))
    block = [lines[index]]
    for line in lines[index + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line)
    return "\n".join(block)


def flat(text: str) -> str:
    """``text`` with its line breaks and indentation as single spaces (wrapping undone)."""
    return " ".join(text.split())


def assert_fits(output: str) -> None:
    too_long = [line for line in output.splitlines() if len(line) > 80]
    assert not too_long, "lines over 80 columns:\n" + "\n".join(too_long) + "\nin:\n" + output


# ---- a prepared workspace passes ---------------------------------------------------------


def test_production_passes_on_a_prepared_workspace(workspace, project, capsys) -> None:
    root = project()
    prepare(workspace, "sales", job=JOB)

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 0, output
    assert "FAIL" not in output and "SKIP" not in output, output
    assert line_of(output, "PASS  credentials:") == f"PASS  credentials: user {USER} (Local User)"
    info = block_of(output, "INFO  environment: production prod")
    assert "schema   main.sales" in info and "(bundle target prod)" in info
    assert line_of(output, "PASS  volume main.sales.dagster_pipes: exists")
    assert f"deployed  '{JOB}'" in block_of(output, "PASS  jobs of the bundle")
    assert line_of(output, "PASS  uploads: /Workspace/Shared/dagster/preflight_demo/prod/code")
    assert line_of(output, "PASS  compute: job clusters of clusters.yml")
    assert output.rstrip().endswith("Ready: runs in this environment have what they need.")
    assert_fits(output)


def test_development_creates_its_schema_and_volume(workspace, project, capsys) -> None:
    root = project()
    prepare(workspace, "sales", job=f"[dev {DEVELOPER}] {JOB}")  # the catalog, and the job
    schema = f"sales_dev_{DEVELOPER}"

    code, output = preflight(capsys, root)
    assert code == 0, output  # the first run would create them: a warning, not a failure
    assert block_of(output, f"WARN  schema main.{schema}: does not exist") == (
        f"WARN  schema main.{schema}: does not exist; {USER}\n"
        "        may create it (the first run does)\n"
        "      fix:\n"
        "        Or create it now:\n"
        "        uv run brickpipes preflight --create"
    )

    code, output = preflight(capsys, root, "--create")
    assert code == 0, output
    assert line_of(output, f"PASS  schema main.{schema}: created")
    assert line_of(output, f"PASS  volume main.{schema}.dagster_pipes: exists")
    assert "WARN" not in output, output
    schema_info = api_call(workspace, "GET", f"{UC}/schemas/main.{schema}")
    assert schema_info["owner"] == USER
    api_call(workspace, "GET", f"{UC}/volumes/main.{schema}.dagster_pipes")

    code, output = preflight(capsys, root)
    assert code == 0 and "WARN" not in output and "created" not in output, output


def test_a_pull_request_is_checked_under_its_own_target(workspace, project, capsys) -> None:
    root = project()
    prepare(workspace, "sales_pr_42", job=f"[pr 42] {JOB}")

    code, output = preflight(capsys, root, "--pull-request", "42")

    assert code == 0, output
    assert line_of(output, "INFO  environment: branch pr-42")
    assert f"deployed  '[pr 42] {JOB}'" in output


# ---- each missing piece fails, naming the fix ------------------------------------------------


def test_no_catalog_fails_and_skips_what_depends_on_it(workspace, project, capsys) -> None:
    root = project()

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 1
    assert "CREATE CATALOG IF NOT EXISTS main;" in block_of(output, "FAIL  catalog main")
    assert line_of(output, "SKIP  schema: skipped, needs catalog")
    assert line_of(output, "SKIP  grants-volume: skipped, needs volume")
    assert line_of(output, "PASS  uploads")  # independent of the catalog: still checked
    assert_fits(output)


def test_no_volume_in_production_fails_with_the_statement(workspace, project, capsys) -> None:
    root = project()
    prepare(workspace, "sales", volume=False, job=JOB)

    code, output = preflight(capsys, root, "--environment", "production", "--create")

    assert code == 1
    block = block_of(output, "FAIL  volume main.sales.dagster_pipes")
    assert "CREATE VOLUME IF NOT EXISTS main.sales.dagster_pipes;" in block
    assert "databricks volumes create main sales dagster_pipes MANAGED" in block
    assert line_of(output, "SKIP  grants-volume: skipped, needs volume")
    with pytest.raises(RuntimeError, match="404"):  # production's is never created
        api_call(workspace, "GET", f"{UC}/volumes/main.sales.dagster_pipes")


def test_dbfs_transport_needs_no_volume(workspace, project, capsys) -> None:
    root = project(transport="dbfs")
    prepare(workspace, "sales", volume=False, job=JOB)

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 0, output
    assert line_of(output, "PASS  volume main.sales.dagster_pipes: not used")


def test_an_undeployed_job_names_the_deploy_command(workspace, project, capsys) -> None:
    root = project()
    prepare(workspace, "sales_pr_7")

    code, output = preflight(capsys, root, "--pull-request", "7")

    assert code == 1
    block = block_of(output, "FAIL  jobs of the bundle, target pr")
    assert f"missing   '[pr 7] {JOB}'" in block
    assert "databricks bundle deploy -t pr --var pull_request=7" in block


def test_a_duplicated_job_name_fails(workspace, project, capsys) -> None:
    root = project()
    prepare(workspace, "sales", job=JOB)
    prepare(workspace, "sales", job=JOB)

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 1
    assert "databricks jobs delete" in block_of(output, "FAIL  jobs of the bundle")


def test_an_unknown_node_type_names_the_profile(workspace, project, capsys) -> None:
    root = project(node_type="m9z.enormous")
    prepare(workspace, "sales", job=JOB)

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 1
    block = block_of(output, "FAIL  compute: clusters.yml names what this workspace lacks")
    assert "small: node_type_id m9z.enormous is no node type here" in block
    assert "databricks clusters list-node-types" in block


def test_a_missing_existing_cluster_fails(workspace, project, capsys, monkeypatch) -> None:
    root = project(compute="existing-cluster")
    prepare(workspace, "sales", job=JOB)
    monkeypatch.setenv("DATABRICKS_CLUSTER_ID", "0000-000000-nothere")

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 1
    block = block_of(output, "FAIL  compute: cluster 0000-000000-nothere")
    assert "databricks clusters list" in block


def test_an_existing_cluster_passes(workspace, project, capsys, monkeypatch) -> None:
    from local_databricks.project import create_cluster

    root = project(compute="existing-cluster")
    prepare(workspace, "sales", job=JOB)
    monkeypatch.setenv("DATABRICKS_CLUSTER_ID", create_cluster(workspace))

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 0, output
    assert line_of(output, "PASS  compute: cluster local-all-purpose")


def test_an_unwritable_upload_folder_names_the_permission(workspace, project, capsys) -> None:
    # local Databricks records folder permissions without enforcing them: the refusal is the
    # service's answer, injected.
    root = project()
    prepare(workspace, "sales", job=JOB)
    workspace.inject_fault(
        "POST", r"/api/2\.0/workspace/import", 403, times=-1, error_code="PERMISSION_DENIED"
    )

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 1
    block = block_of(output, "FAIL  uploads: cannot write to")
    assert "databricks permissions update directories" in block
    assert '"user_name": "local.user@example.com"' in block
    assert '"permission_level": "CAN_MANAGE"' in block
    assert_fits(output)


def test_missing_variables_fail_first(workspace, project, capsys, monkeypatch) -> None:
    root = project()
    monkeypatch.delenv("DATABRICKS_TOKEN")

    code, output = preflight(capsys, root)

    assert code == 1
    assert line_of(output, "FAIL  variables: DATABRICKS_TOKEN not set")
    assert line_of(output, "SKIP  host: skipped, needs variables")


def test_an_unreachable_host_says_what_to_check(workspace, project, capsys, monkeypatch) -> None:
    root = project()
    monkeypatch.setenv("DATABRICKS_HOST", "http://127.0.0.1:9")  # nothing listens there

    code, output = preflight(capsys, root)

    assert code == 1
    block = block_of(output, "FAIL  host: http://127.0.0.1:9 cannot be reached")
    assert "DATABRICKS_HOST" in block and "HTTPS_PROXY" in block
    assert line_of(output, "SKIP  credentials: skipped, needs host")


def test_refused_credentials_fail(workspace, project, capsys, monkeypatch) -> None:
    root = project()
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-not-a-token")

    code, output = preflight(capsys, root)

    assert code == 1
    assert "Check DATABRICKS_HOST, DATABRICKS_TOKEN" in block_of(output, "FAIL  credentials")


def test_not_a_project_exits_2(tmp_path, capsys) -> None:
    code, output = preflight(capsys, tmp_path)
    assert code == 2
    assert "has no pyproject.toml" in " ".join(output.split())


# ---- the output --------------------------------------------------------------------------


def test_fixes_wrap_at_80_columns_and_stay_runnable() -> None:
    principal = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    result = Result.failed(
        "a message long enough to need wrapping at eighty columns, with words, words, words",
        Sql(f"GRANT CREATE TABLE ON SCHEMA main.a_rather_long_schema_name_dev_x TO `{principal}`;"),
        Shell(
            "databricks permissions update directories 1234567890 --json "
            f'\'{{"access_control_list": [{{"service_principal_name": "{principal}", '
            '"permission_level": "CAN_MANAGE"}]}\''
        ),
    )
    text = render(result)
    assert_fits(text)
    lines = text.splitlines()
    assert lines[0].startswith("FAIL  a message long enough")
    sql = next(i for i, line in enumerate(lines) if line.startswith("        GRANT"))
    assert lines[sql].endswith("ON SCHEMA main.a_rather_long_schema_name_dev_x TO")
    assert lines[sql + 1] == f"          `{principal}`;"
    command = "\n".join(lines[sql + 2 :])
    assert command.startswith("        databricks permissions update directories")
    words = shlex.split(command.replace("\\\n", " "))  # as the shell reads it
    assert words[:5] == ["databricks", "permissions", "update", "directories", "1234567890"]
    assert json.loads(words[-1])["access_control_list"][0]["permission_level"] == "CAN_MANAGE"


# ---- grants (local Databricks records them: effective-permissions reads them back) ------------


def hand_over(server: LocalDatabricks, kind: str, name: str, grants: dict[str, list[str]]) -> None:
    """Make another identity (the server's OAuth service principal) own securable ``name``,
    and grant ``{principal: privileges}`` on it."""
    api_call(server, "PATCH", f"{UC}/{kind}s/{name}", {"owner": server.client_id})
    changes = [{"principal": p, "add": privileges} for p, privileges in grants.items()]
    if changes:
        api_call(server, "PATCH", f"{UC}/permissions/{kind}/{name}", {"changes": changes})


def test_a_missing_grant_names_each_grant_statement(workspace, project, capsys) -> None:
    root = project()
    prepare(workspace, "sales", job=JOB)
    hand_over(workspace, "schema", "main.sales", {USER: ["USE_SCHEMA"]})

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 1
    block = flat(block_of(output, "FAIL  grants on schema main.sales"))
    assert f"{USER} lacks CREATE_TABLE, MODIFY, SELECT" in block
    assert f"Its owner ({workspace.client_id}) or an admin runs:" in block
    for privilege in ("CREATE TABLE", "MODIFY", "SELECT"):
        assert f"GRANT {privilege} ON SCHEMA main.sales TO `{USER}`;" in block
    assert "USE SCHEMA" not in block  # granted
    assert line_of(output, "PASS  grants on catalog main: local.user@example.com owns it")
    assert_fits(output)


def test_inherited_and_group_grants_count(workspace, project, capsys) -> None:
    # Nothing owned by the identity: every privilege comes from the catalog (inherited), and
    # part of them through the `users` group.
    root = project()
    prepare(workspace, "sales", job=JOB)
    hand_over(workspace, "volume", "main.sales.dagster_pipes", {})
    hand_over(workspace, "schema", "main.sales", {})
    hand_over(
        workspace,
        "catalog",
        "main",
        {
            USER: ["USE_CATALOG", "USE_SCHEMA", "READ_VOLUME", "WRITE_VOLUME"],
            "users": ["CREATE_TABLE", "MODIFY", "SELECT"],
        },
    )

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 0, output
    assert line_of(output, "PASS  grants on schema main.sales: USE_SCHEMA, CREATE_TABLE")
    assert line_of(output, "PASS  grants on volume main.sales.dagster_pipes: READ_VOLUME")


def test_all_privileges_covers_everything(workspace, project, capsys) -> None:
    root = project()
    prepare(workspace, "sales", job=JOB)
    hand_over(workspace, "schema", "main.sales", {USER: ["ALL_PRIVILEGES"]})

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 0, output
    assert line_of(output, "PASS  grants on schema main.sales: ALL PRIVILEGES")


def test_a_schema_nobody_may_create_names_the_grant(workspace, project, capsys) -> None:
    root = project()
    prepare(workspace, "sales", job=f"[dev {DEVELOPER}] {JOB}")
    hand_over(workspace, "catalog", "main", {USER: ["USE_CATALOG"]})
    schema = f"main.sales_dev_{DEVELOPER}"

    code, output = preflight(capsys, root, "--create")

    assert code == 1
    block = flat(block_of(output, f"FAIL  schema {schema}: does not exist, and"))
    assert f"GRANT CREATE SCHEMA ON CATALOG main TO `{USER}`;" in block
    assert line_of(output, "SKIP  volume: skipped, needs schema")
    with pytest.raises(RuntimeError, match="404"):
        api_call(workspace, "GET", f"{UC}/schemas/{schema}")


# ---- serverless ------------------------------------------------------------------------------


@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_serverless_is_read_from_the_workspace_setting(
    workspace, project, capsys, enabled: bool
) -> None:
    root = project(compute="serverless")
    prepare(workspace, "sales", job=JOB)
    workspace.set_serverless_enabled(enabled)

    code, output = preflight(capsys, root, "--environment", "production")

    if enabled:
        assert code == 0, output
        assert line_of(output, "PASS  compute: serverless is enabled (workspace setting)")
    else:
        assert code == 1
        block = block_of(output, "FAIL  compute: serverless is not enabled (workspace setting)")
        assert "copier update --data compute=job-cluster" in block


def test_serverless_falls_back_to_a_job_created_and_deleted(workspace, project, capsys) -> None:
    # The setting is an internal endpoint: when it does not answer, a job with a serverless
    # task is created (not run) and deleted; the Jobs API refuses it when serverless is off.
    root = project(compute="serverless")
    prepare(workspace, "sales", job=JOB)
    workspace.set_serverless_enabled(False)
    workspace.inject_fault("GET", "serverless_jobs_ws_nb_enable", 404, times=-1)

    code, output = preflight(capsys, root, "--environment", "production")

    assert code == 1
    assert line_of(output, "FAIL  compute: serverless is not enabled (a serverless job created")
    names = [
        j["settings"]["name"] for j in api_call(workspace, "GET", "/api/2.2/jobs/list")["jobs"]
    ]
    assert names == [JOB]  # no probe job left behind

    workspace.set_serverless_enabled(True)
    code, output = preflight(capsys, root, "--environment", "production")
    assert code == 0, output
    names = [
        j["settings"]["name"] for j in api_call(workspace, "GET", "/api/2.2/jobs/list")["jobs"]
    ]
    assert names == [JOB]
