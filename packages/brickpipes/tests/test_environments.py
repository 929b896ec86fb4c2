"""Environments: which one a process is in is decided from variables only; each writes its own
schema, volume, upload folder and job names; a non-production run naming production fails
before anything is submitted; a developer's schema is created on first use and dropped on
request. Against local Databricks, with the real SDK over HTTP, where a workspace is needed."""

import dagster as dg
import pytest
from databricks.sdk.errors import NotFound
from sample_project import Project

from brickpipes import (
    DatabricksEnvironment,
    DatabricksJobs,
    DatabricksWorkspace,
    ProductionWriteRefused,
    drop_environment,
)
from brickpipes.environments import environment_kind, short_name

PRODUCTION = ["prod"]


def environment(**fields) -> DatabricksEnvironment:
    settings = {
        "catalog": "main",
        "production_schema": "sales",
        "code_root": "/Shared/dagster/sales-project",
        "workspace": DatabricksWorkspace.from_env("pat"),
        **fields,
    }
    return DatabricksEnvironment(**settings)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, ("development", None)),
        ({"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod"}, ("production", "prod")),
        ({"DAGSTER_CLOUD_DEPLOYMENT_NAME": "staging"}, ("development", None)),
        (
            {"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_PULL_REQUEST_ID": "42"},
            ("branch", "42"),
        ),
        (
            {"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_GIT_BRANCH": "Feat/X-1"},
            ("branch", "feat_x_1"),
        ),
        ({"BRICKPIPES_ENVIRONMENT": "production"}, ("production", "prod")),
        ({"BRICKPIPES_PULL_REQUEST": "7"}, ("branch", "7")),
        # Declared development wins over a production deployment name.
        (
            {"BRICKPIPES_ENVIRONMENT": "development", "DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod"},
            ("development", None),
        ),
    ],
)
def test_the_environment_is_decided_from_variables_only(variables, expected) -> None:
    assert environment_kind(variables, PRODUCTION) == expected


def test_an_unknown_declared_environment_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match="use production or development") as error:
        environment_kind({"BRICKPIPES_ENVIRONMENT": "prod"}, PRODUCTION)
    assert "e.g. BRICKPIPES_ENVIRONMENT=production" in str(error.value)


@pytest.mark.parametrize(
    ("user_name", "display_name", "expected"),
    [
        ("alice.smith@example.com", None, "alice_smith"),
        ("Bob-O'Neil@example.com", None, "bob_o_neil"),
        ("0b9c7a4e-1d2f-4a6b-9c8d-7e6f5a4b3c2d", "CI Deployer", "ci_deployer"),
        ("local-client", "Service principal local-client", "local_client"),
    ],
)
def test_a_developer_is_named_as_the_databricks_cli_names_them(
    user_name, display_name, expected
) -> None:
    assert short_name(user_name, display_name) == expected


def test_each_environment_has_its_own_schema_volume_uploads_and_job_names() -> None:
    settings = environment()
    named = {
        "dev": settings.named("development", "alice"),
        "pr": settings.named("branch", "42"),
        "prod": settings.named("production", "prod"),
    }
    assert {k: e.schema for k, e in named.items()} == {
        "dev": "sales_dev_alice",
        "pr": "sales_pr_42",
        "prod": "sales",
    }
    assert named["dev"].volume_path == "/Volumes/main/sales_dev_alice/dagster_pipes"
    assert named["pr"].code_path == "/Shared/dagster/sales-project/pr-42/code"
    assert {k: e.job_name("p: orders") for k, e in named.items()} == {
        "dev": "[dev alice] p: orders",
        "pr": "[pr 42] p: orders",
        "prod": "p: orders",
    }
    assert {e.bundle_target for e in named.values()} == {"dev", "pr", "prod"}
    assert named["dev"].extras()["schema"] == "sales_dev_alice"


@pytest.mark.parametrize(
    "values",
    [
        {"table": "main.sales.orders"},
        {"table": "`main`.`sales`.`orders`"},
        {"root": "/Volumes/main/sales/dagster_pipes/examples"},
        {"parameters": ["--out", "MAIN.SALES.orders"]},
        {"job": {"schema": "sales"}},
    ],
)
def test_a_development_run_naming_production_is_refused_naming_both(values) -> None:
    development = environment().named("development", "alice")
    with pytest.raises(ProductionWriteRefused) as refused:
        development.guard(values)
    description = refused.value.description or ""
    assert "main.sales " in description and "main.sales_dev_alice" in description


def test_production_and_other_schemas_pass_the_guard() -> None:
    production = environment().named("production", "prod")
    production.guard({"table": "main.sales.orders"})
    development = environment().named("development", "alice")
    development.guard({"table": "main.sales_dev_alice.orders", "other": "main.salesforce.x"})


def test_a_bad_catalog_name_fails_at_definition_load_with_an_example() -> None:
    with pytest.raises(Exception, match=r"e\.g\. sales"):
        environment(production_schema="Sales-Data")


def test_a_developers_schema_and_volume_are_created_on_first_use_and_dropped_on_request(
    local_workspace, project: Project
) -> None:
    workspace = project.resources()["databricks_workspace"].process_config_and_initialize()
    client = workspace.get_client()
    settings = environment(workspace=workspace)
    developer = settings.current({"BRICKPIPES_DEVELOPER": "zoe"}, client=client)
    assert settings.ensure(client, developer) == [
        "schema main.sales_dev_zoe",
        "volume main.sales_dev_zoe.dagster_pipes",
    ]
    assert client.volumes.read("main.sales_dev_zoe.dagster_pipes").name == "dagster_pipes"
    assert settings.ensure(client, developer) == []  # once per process
    assert drop_environment(client, developer)
    with pytest.raises(NotFound):
        client.schemas.get("main.sales_dev_zoe")
    assert not drop_environment(client, developer)
    with pytest.raises(ProductionWriteRefused):
        drop_environment(client, settings.named("production", "prod"))


def test_the_developer_is_the_workspace_identity_when_not_named(
    local_workspace, project: Project, monkeypatch
) -> None:
    monkeypatch.delenv("BRICKPIPES_DEVELOPER", raising=False)
    workspace = project.resources()["databricks_workspace"].process_config_and_initialize()
    current = environment(workspace=workspace).current({})
    assert current.kind == "development" and current.schema == "sales_dev_local_user"


def test_a_job_is_run_under_its_environments_name_with_its_schema(
    local_workspace, project: Project, monkeypatch
) -> None:
    from databricks.sdk.service import compute, jobs
    from databricks.sdk.service.workspace import ImportFormat

    workspace = project.resources()["databricks_workspace"].process_config_and_initialize()
    client = workspace.get_client()
    client.workspace.mkdirs("/Shared/env")
    client.workspace.upload(
        "/Shared/env/echo.py", b"import sys\nprint(sys.argv)\n", format=ImportFormat.AUTO
    )
    cluster = compute.ClusterSpec(
        spark_version="16.4.x-scala2.12", node_type_id="m5d.large", num_workers=0
    )
    task = jobs.Task(
        task_key="work",
        spark_python_task=jobs.SparkPythonTask(
            python_file="/Workspace/Shared/env/echo.py",
            parameters=["{{job.parameters.schema}}"],
        ),
        new_cluster=cluster,
    )
    parameters = [
        jobs.JobParameterDefinition(name="catalog", default="main"),
        jobs.JobParameterDefinition(name="schema", default="sales"),
    ]
    client.jobs.create(name="[dev zoe] p: orders", tasks=[task], parameters=parameters)
    monkeypatch.setenv("BRICKPIPES_DEVELOPER", "zoe")
    settings = environment(workspace=DatabricksWorkspace.from_env("pat"))

    @dg.asset
    def orders(context: dg.AssetExecutionContext, databricks_jobs: DatabricksJobs) -> None:
        run = databricks_jobs.run_now(context, "p: orders")
        assert run.state == "SUCCESS"

    resources = {
        "databricks_jobs": DatabricksJobs(
            workspace=DatabricksWorkspace.from_env("pat"),
            environment=settings,
            poll_interval_seconds=0.2,
        )
    }
    result = dg.materialize([orders], resources=resources, raise_on_error=False)
    assert result.success
    (run_now,) = [c for c in local_workspace.calls() if c["path"].endswith("/run-now")]
    assert run_now["body"]["job_parameters"] == {"catalog": "main", "schema": "sales_dev_zoe"}

    @dg.asset
    def refused(context: dg.AssetExecutionContext, databricks_jobs: DatabricksJobs) -> None:
        databricks_jobs.run_now(context, "p: orders", job_parameters={"schema": "sales"})

    result = dg.materialize([refused], resources=resources, raise_on_error=False)
    assert not result.success
    assert len([c for c in local_workspace.calls() if c["path"].endswith("/run-now")]) == 1


def test_with_environment_places_every_pipes_and_jobs_resource_that_names_none() -> None:
    from brickpipes import DatabricksPipes, with_environment

    workspace = DatabricksWorkspace.from_env("pat")
    settings = environment(workspace=workspace)
    own = environment(workspace=workspace, production_schema="finance")
    pipes = {
        "code_location": "p",
        "compute": "serverless",
        "transport": "volumes",
        "cluster_profiles": "clusters.yml",
        "dagster_pipes_requirement": "dagster-pipes",
    }
    definitions = dg.Definitions(
        resources={
            "databricks_pipes": DatabricksPipes(workspace=workspace, **pipes),
            "databricks_jobs": DatabricksJobs(workspace=workspace),
            "finance_jobs": DatabricksJobs(workspace=workspace, environment=own),
            "alerts_channel": dg.ResourceDefinition.hardcoded_resource("#sales"),
        }
    )
    placed = with_environment(definitions, settings).resources or {}
    assert placed["databricks_pipes"].environment is settings
    assert placed["databricks_jobs"].environment is settings
    assert placed["finance_jobs"].environment is own  # named its own: kept
    assert placed["alerts_channel"] is definitions.resources["alerts_channel"]  # type: ignore[index]

    @dg.asset
    def orders() -> None: ...

    with pytest.raises(ValueError, match="resource definitions only"):
        with_environment(dg.Definitions(assets=[orders], resources={}), settings)
