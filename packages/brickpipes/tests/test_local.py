"""``brickpipes local``: the .env block, each auth method's variables, the command's life, and
azure-client-secret through local Databricks' Entra ID endpoint (what ``dg dev`` does)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from local_databricks import LocalDatabricks

from brickpipes import AUTH_METHODS, DatabricksWorkspace
from brickpipes.errors import is_credential_rejection
from brickpipes.local import BEGIN, END, LOCAL_ENTRA, auth_variables, rewrite_block, write_env

PACKAGES = Path(__file__).resolve().parents[2]
FAKE = SimpleNamespace(
    url="http://127.0.0.1:9", token="dapi-t", client_id="cid", client_secret="csecret"
)


def test_the_block_is_rewritten_at_the_end_and_every_other_line_kept(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# the team's settings\nDAGSTER_HOME=/x\n\n"
        f"{BEGIN}\nDATABRICKS_HOST=http://old\n{END}\nMY_FLAG=1\n"
    )
    shadowed = write_env(env, {"DATABRICKS_HOST": "http://new", "DATABRICKS_TOKEN": "t"})
    assert env.read_text() == (
        "# the team's settings\nDAGSTER_HOME=/x\n\nMY_FLAG=1\n\n"
        f"{BEGIN}\nDATABRICKS_HOST=http://new\nDATABRICKS_TOKEN=t\n{END}\n"
    )
    assert shadowed == []
    write_env(env, {"DATABRICKS_HOST": "http://newer"})
    assert env.read_text().count(BEGIN) == 1
    assert "DATABRICKS_HOST=http://newer\n" in env.read_text()
    assert "http://new\n" not in env.read_text()


def test_the_block_of_a_missing_file_is_the_whole_file_and_shadowed_names_are_said() -> None:
    assert rewrite_block("", {"A": "1"}) == f"{BEGIN}\nA=1\n{END}\n"
    text = "export DATABRICKS_HOST=https://adb.example\nDATABRICKS_TOKEN = real\n"
    from brickpipes.local import overridden

    assert overridden(text, {"DATABRICKS_HOST": "h", "DATABRICKS_TOKEN": "t", "X": "1"}) == [
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
    ]


@pytest.mark.parametrize("method", sorted(AUTH_METHODS))
def test_each_auth_method_gets_the_variables_it_reads(method: str, tmp_path: Path) -> None:
    values = auth_variables(FAKE, method, tmp_path)
    assert values.pop("LOCAL_DATABRICKS_URL") == FAKE.url
    if method == "profile":
        assert values == {
            "DATABRICKS_CONFIG_FILE": str(tmp_path / "databrickscfg"),
            "DATABRICKS_CONFIG_PROFILE": "local",
        }
        config = (tmp_path / "databrickscfg").read_text()
        assert config == f"[local]\nhost = {FAKE.url}\ntoken = {FAKE.token}\n"
        return
    assert set(values) == set(AUTH_METHODS[method].variables.values())
    assert values["DATABRICKS_HOST"] == FAKE.url
    if method == "azure-client-secret":
        assert {name: values[name] for name in LOCAL_ENTRA} == LOCAL_ENTRA


def _azure(url: str, secret: str = LOCAL_ENTRA["ARM_CLIENT_SECRET"]) -> DatabricksWorkspace:
    return DatabricksWorkspace(
        auth_method="azure-client-secret",
        host=url,
        azure_client_id=LOCAL_ENTRA["ARM_CLIENT_ID"],
        azure_client_secret=secret,
        azure_tenant_id=LOCAL_ENTRA["ARM_TENANT_ID"],
        retry_timeout_seconds=5,
    )


def test_azure_authenticates_through_the_local_entra_endpoint(
    local_databricks: LocalDatabricks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_DATABRICKS_URL", local_databricks.url)
    client = _azure(local_databricks.url).get_client()
    assert client.current_user.me().user_name == LOCAL_ENTRA["ARM_CLIENT_ID"]
    assert client.config.auth_type == "azure-client-secret"
    calls = [call["path"] for call in local_databricks.calls()]
    assert f"/local-entra/{LOCAL_ENTRA['ARM_TENANT_ID']}/oauth2/token" in calls


def test_azure_with_a_wrong_secret_fails_with_entras_error(
    local_databricks: LocalDatabricks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_DATABRICKS_URL", local_databricks.url + "/")
    with pytest.raises(
        ValueError, match=r"invalid_client: AADSTS7000215: Invalid client secret"
    ) as error:
        _azure(local_databricks.url, secret="wrong").get_client()
    # ... which a step reports as rejected credentials, naming the auth method's variables.
    assert is_credential_rejection(error.value)


def test_azure_asks_microsoft_unless_the_host_is_local_databricks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workspace = _azure("https://adb-1.2.azuredatabricks.net")
    assert workspace.local_entra_token_url() is None
    monkeypatch.setenv("LOCAL_DATABRICKS_URL", "http://127.0.0.1:8765")
    assert workspace.local_entra_token_url() is None
    assert _azure("http://127.0.0.1:8765/").local_entra_token_url() == (
        "http://127.0.0.1:8765/local-entra/local-tenant/oauth2/token"
    )


# -- the command, on a small project ---------------------------------------------------------


def _project(root: Path, auth_method: str) -> Path:
    """A project as a render lays it out: pyproject, definitions declaring the workspace and
    the environment, a bundle with one job and a development target."""
    package = root / "src" / "tiny"
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [project]
        name = "tiny"
        [tool.dg.project]
        root_module = "tiny"
        [tool.brickpipes]
        auth_method = "{auth_method}"
        compute = "existing-cluster"
        [tool.local-databricks]
        require_volumes = true
        """)
    )
    (package / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        textwrap.dedent(f"""
        import dagster as dg
        from brickpipes import DatabricksEnvironment, DatabricksWorkspace

        workspace = DatabricksWorkspace.from_env("{auth_method}")
        environment = DatabricksEnvironment(
            workspace=workspace, catalog="main", production_schema="tiny", code_root="/Shared/t"
        )
        defs = dg.Definitions(resources={{"w": workspace, "e": environment}})
        """)
    )
    (root / "jobs").mkdir()
    (root / "jobs" / "hello.py").write_text("print('hello')\n")
    (root / "databricks.yml").write_text(
        textwrap.dedent("""
        bundle:
          name: tiny
        resources:
          jobs:
            hello:
              name: "${bundle.name}: hello"
              tasks:
                - task_key: hello
                  spark_python_task:
                    python_file: jobs/hello.py
                  environment_key: default
              environments:
                - environment_key: default
                  spec:
                    client: "2"
        targets:
          dev:
            default: true
            mode: development
          prod:
            mode: production
        """)
    )
    (root / ".env").write_text("# ours\nDAGSTER_HOME=/somewhere\n")
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(project: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "ARM_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGES / "brickpipes" / "src"), str(PACKAGES / "local-databricks" / "src")]
    )
    return subprocess.Popen(
        [sys.executable, "-m", "brickpipes.cli", "local", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _dotenv(path: Path) -> dict[str, str]:
    lines = path.read_text().split(BEGIN)[-1].split(END)[0].strip().splitlines()
    return dict(line.split("=", 1) for line in lines)


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_command_prepares_writes_env_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    project = _project(tmp_path / "tiny", "azure-client-secret")
    port = _free_port()
    process = _command(project, port)
    try:
        values = _wait_for_block(project, process)
        url = f"http://127.0.0.1:{port}"
        assert values["DATABRICKS_HOST"] == values["LOCAL_DATABRICKS_URL"] == url
        assert values["ARM_CLIENT_ID"] == "local-client" and values["DATABRICKS_CLUSTER_ID"]
        assert (project / ".env").read_text().startswith("# ours\nDAGSTER_HOME=/somewhere\n")
        # Served: the code location's identity reaches it, finds its schema, volume and job.
        os.environ["LOCAL_DATABRICKS_URL"] = url
        try:
            client = _azure(url).get_client()
            schema = "main.tiny_dev_local_client"
            assert client.schemas.get(schema).name == "tiny_dev_local_client"
            assert client.volumes.read(f"{schema}.dagster_pipes").name == "dagster_pipes"
            names = [
                job.settings.name for job in client.jobs.list(name="[dev local_client] tiny: hello")
            ]
            assert names == ["[dev local_client] tiny: hello"]
        finally:
            del os.environ["LOCAL_DATABRICKS_URL"]
        state = json.loads((project / ".local-databricks" / "credentials.json").read_text())
        assert _get(f"{url}/api/2.0/preview/scim/v2/Me", state["token"])["userName"]
        assert (project / ".local-databricks" / ".gitignore").read_text().endswith("*\n")
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert f"running at http://127.0.0.1:{port}" in output
    assert "uv run dg dev" in output and "DAGSTER_HOME" in output
    assert "local Databricks stopped" in output
    assert max(len(line) for line in output.splitlines()) <= 80, output
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/api/2.0/preview/scim/v2/Me", state["token"])


def _wait_for_block(project: Path, process: subprocess.Popen[str]) -> dict[str, str]:
    deadline = time.monotonic() + 120
    while BEGIN not in (project / ".env").read_text():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "no .env block within 120 s"
        time.sleep(0.2)
    return _dotenv(project / ".env")


def test_started_again_the_command_keeps_the_url_and_credentials(tmp_path: Path) -> None:
    project = _project(tmp_path / "tiny", "oauth-m2m")
    port = _free_port()
    first: dict[str, str] = {}
    for attempt in range(2):
        (project / ".env").write_text("MINE=1\n")
        process = _command(project, port)
        try:
            values = _wait_for_block(project, process)
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=60)[0]
        assert process.returncode == 0, output
        values.pop("DATABRICKS_CLUSTER_ID")  # a cluster of the new server
        if attempt == 0:
            first = values
    assert values == first
    assert values["DATABRICKS_CLIENT_ID"].startswith("local-")


def test_a_busy_port_fails_naming_the_option(tmp_path: Path) -> None:
    project = _project(tmp_path / "tiny", "pat")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _command(project, port)
        output = process.communicate(timeout=120)[0]
    assert process.returncode == 1, output
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert f"uv run brickpipes local --port {port + 1}" in output
    assert BEGIN not in (project / ".env").read_text()
