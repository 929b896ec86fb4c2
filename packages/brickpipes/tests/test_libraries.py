"""Libraries a run declares (``DatabricksPipes.libraries``, the component's ``libraries``, a
call's ``libraries=``): checked when the definitions load, placed per compute (cluster
``libraries``, serverless environment ``dependencies``), and importable by the remote script
on local Databricks."""

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path

import dagster as dg
import pytest
from dagster_results import failure_text
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from pydantic import ValidationError
from sample_project import PIPES_REQUIREMENT, Project
from test_components import TYPE_NAME, error_chain, project_sandbox

from brickpipes import DatabricksPipes, DatabricksPipesScript
from brickpipes.libraries import check_libraries, cluster_libraries

WHEEL = "/Volumes/main/libs/wheels/ldlibdemo-1.0-py3-none-any.whl"
EXAMPLE = "'/Volumes/main/libs/wheels/mylib-1.0-py3-none-any.whl'"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("pandas=2", "is not a PyPI requirement"),
        ("foo bar", "is not a PyPI requirement"),
        ("", "is empty"),
        ("/tmp/mylib-1.0-py3-none-any.whl", "is not under /Volumes/, /Workspace/ or dbfs:/"),
        ("/Volumes/main/libs/wheels/requirements.txt", "is a path but not a wheel"),
        ("dbfs:/libs/mylib.whl", "is not a wheel file name"),
        ("/Volumes/main/libs/../x/mylib-1.0-py3-none-any.whl", "is not under"),
        ("s3://bucket/mylib-1.0-py3-none-any.whl", "is not under"),
    ],
)
def test_a_bad_entry_says_what_is_wrong_and_shows_a_valid_one(entry: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        check_libraries(["pandas>=2", entry])
    message = str(raised.value)
    assert problem in message
    assert "'pandas>=2.2,<3'" in message and EXAMPLE in message
    assert all(len(line) <= 80 for line in message.splitlines()), message


def test_good_entries_are_kept_in_order_once() -> None:
    entries = [
        "pandas>=2.2,<3",
        WHEEL,
        " requests ",
        "pandas>=2.2,<3",
        "dbfs:/l/x-1-py3-none-any.whl",
    ]
    assert check_libraries(entries) == [
        "pandas>=2.2,<3",
        WHEEL,
        "requests",
        "dbfs:/l/x-1-py3-none-any.whl",
    ]
    assert cluster_libraries(["pandas>=2.2,<3", WHEEL]) == [
        {"pypi": {"package": "pandas>=2.2,<3"}},
        {"whl": WHEEL},
    ]


def test_the_resource_refuses_a_bad_entry_when_it_is_built() -> None:
    with pytest.raises(ValidationError) as raised:
        Project().resources(libraries=["pandas=2"])
    assert "library 'pandas=2' is not a PyPI requirement" in str(raised.value)


def test_the_component_refuses_a_bad_entry_when_the_definitions_load() -> None:
    with project_sandbox() as sandbox:
        path = sandbox.scaffold_component(DatabricksPipesScript, defs_path="my_asset")
        attributes = {"script": "my_asset.py", "asset": {"key": "my_asset"}}
        spec = {"type": TYPE_NAME, "attributes": {**attributes, "libraries": ["/tmp/x.whl"]}}
        (path / "defs.yaml").write_text(json.dumps(spec))
        with (
            pytest.raises(Exception) as raised,
            sandbox.load_component_and_build_defs(defs_path=path),
        ):
            pass
    assert "library '/tmp/x.whl'" in error_chain(raised.value)


def test_a_serverless_notebook_with_libraries_fails_before_it_is_submitted() -> None:
    pipes = Project(compute="serverless").resources()["databricks_pipes"]
    task = {"task_key": "report", "notebook_task": {"notebook_path": "/x"}}
    assert pipes._placed(task, None, None, []) == task  # nothing declared: %pip in the notebook
    with pytest.raises(ValueError, match="Install them with %pip install in the notebook"):
        pipes._placed(task, None, None, ["pandas>=2"])


def wheel(value: str) -> bytes:
    """The pure-Python wheel of module ``ldlibdemo``, built by hand (no network, no backend)."""
    info = "ldlibdemo-1.0.dist-info"
    files = {
        "ldlibdemo/__init__.py": f"VALUE = {value!r}\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: ldlibdemo\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},{len(text.encode())}"
        for name, text in files.items()
    ]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def upload_wheel(server, value: str) -> None:
    """Upload the wheel to the volume through the SDK, as a team publishes a library."""
    server.create_volume(WHEEL.rsplit("/", 1)[0])
    client = WorkspaceClient(config=Config(host=server.url, token=server.token, auth_type="pat"))
    client.files.upload(WHEEL, io.BytesIO(wheel(value)), overwrite=True)


def submitted_task(server) -> tuple[dict, dict]:
    """The one task of the run the server was sent, and the request it came in."""
    (call,) = [c for c in server.calls() if c["path"].endswith(("/runs/submit", "/jobs/create"))]
    (task,) = call["body"]["tasks"]
    return task, call["body"]


@pytest.mark.parametrize(
    "project",
    [Project(), Project("oauth-m2m", "serverless"), Project("pat", "existing-cluster")],
    ids=str,
)
def test_a_remote_script_imports_what_the_resource_declared(local_workspace, project) -> None:
    upload_wheel(local_workspace, f"on {project.compute}")

    @dg.asset(name="imports_library")
    def imports_library(context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes):
        invocation = databricks_pipes.run(
            context, "imports_library.py", libraries=["databricks-sdk>=0.1"]
        )
        return invocation.get_materialize_result()

    resources = project.resources(libraries=[WHEEL])
    result = dg.materialize([imports_library], resources=resources, raise_on_error=False)
    assert result.success, failure_text(result)
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["value"].value == f"on {project.compute}"

    task, body = submitted_task(local_workspace)
    declared = [PIPES_REQUIREMENT, WHEEL, "databricks-sdk>=0.1"]  # the resource's, then the call's
    if project.compute == "serverless":
        (environment,) = body["environments"]
        assert environment["spec"]["dependencies"] == declared
        assert "libraries" not in task
    else:
        assert task["libraries"] == [
            {"pypi": {"package": PIPES_REQUIREMENT}},
            {"whl": WHEEL},
            {"pypi": {"package": "databricks-sdk>=0.1"}},
        ]


def test_the_component_adds_its_libraries_to_the_resources(local_workspace, project) -> None:
    upload_wheel(local_workspace, "from the component")
    with project_sandbox() as sandbox:
        path = sandbox.scaffold_component(DatabricksPipesScript, defs_path="my_asset")
        script = Path(__file__).parent / "remote" / "imports_library.py"
        (path / "my_asset.py").write_text(script.read_text())
        attributes = {"script": "my_asset.py", "asset": {"key": "my_asset"}, "libraries": [WHEEL]}
        (path / "defs.yaml").write_text(json.dumps({"type": TYPE_NAME, "attributes": attributes}))
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, built):
            assets = [a for a in built.assets or [] if isinstance(a, dg.AssetsDefinition)]
            resources = project.resources(libraries=["dagster>=1.0"])
            result = dg.materialize(assets, resources=resources, raise_on_error=False)
    assert result.success, failure_text(result)
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["value"].value == "from the component"
    task, _ = submitted_task(local_workspace)
    assert task["libraries"] == [
        {"pypi": {"package": PIPES_REQUIREMENT}},
        {"pypi": {"package": "dagster>=1.0"}},
        {"whl": WHEEL},
    ]
