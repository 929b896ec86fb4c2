"""The README's local UI path, for every auth method: ``uv run brickpipes local`` in a rendered
project writes ``.env``; Dagster, which loads it, then materializes every example asset.

One render per auth method, together covering each compute (job cluster, existing cluster,
serverless). ``dg launch`` runs as ``dg dev``'s launcher does: a Dagster run in another process,
reading the environment from ``.env``, through local Databricks' API only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from pythons import find_python
from rendering import project_env, render

# Heavy: a render and a `uv sync` per auth method.
pytestmark = pytest.mark.toolchain

BEGIN = "# >>> local Databricks"
CASES = {
    "pat": {},
    "oauth-m2m": {
        "auth_method": "oauth-m2m",
        "cloud": "gcp",
        "compute": "existing-cluster",
        "pipes_transport": "dbfs",
    },
    "azure-client-secret": {
        "auth_method": "azure-client-secret",
        "cloud": "azure",
        "compute": "serverless",
    },
    "profile": {"auth_method": "profile"},
}
# The runs' statuses, the project's asset keys and those materialized, as Dagster's instance
# (DAGSTER_HOME) and the definitions say.
RECORDED = """
import importlib, json, tomllib
from dagster import DagsterInstance

module = tomllib.load(open("pyproject.toml", "rb"))["tool"]["dg"]["project"]["root_module"]
defs = importlib.import_module(module + ".definitions").defs
defs = defs if hasattr(defs, "resolve_all_asset_keys") else defs()
instance = DagsterInstance.get()
keys = [key for key in instance.get_asset_keys() if instance.get_latest_materialization_event(key)]
print(json.dumps([
    [run.status.value for run in instance.get_runs()],
    sorted(key.to_user_string() for key in defs.resolve_all_asset_keys()),
    sorted(key.to_user_string() for key in keys),
]))
"""
# A day of the daily_orders example's partitions.
PARTITION = "2025-01-01"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_env(project: Path, process: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    env_file = project / ".env"
    while not (env_file.is_file() and BEGIN in env_file.read_text()):
        if process.poll() is not None:
            pytest.fail(f"brickpipes local exited with {process.returncode}:\n{_read(process)}")
        if time.monotonic() > deadline:
            pytest.fail(f"brickpipes local wrote no .env block within {seconds:.0f} s")
        time.sleep(0.5)


def _read(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.read()


@pytest.mark.parametrize("auth_method", sorted(CASES))
def test_brickpipes_local_lets_dagster_materialize_every_example(
    auth_method: str, template_repo: Path, tmp_path: Path
) -> None:
    python = find_python("3.12")
    if python is None:
        pytest.skip("Python 3.12 is not installed here")
    project = render(
        template_repo, tmp_path / "project", {"auth_method": auth_method, **CASES[auth_method]}
    )
    env = project_env(python)
    for name in [n for n in env if n.startswith(("DAGSTER_CLOUD_", "BRICKPIPES_"))]:
        del env[name]
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    Path(env["DAGSTER_HOME"]).mkdir()
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, env=env, check=True)
    (project / ".env").write_text("# a team's line, kept\nMY_SETTING=1\n")
    port = _free_port()
    server = subprocess.Popen(
        ["uv", "run", "--no-sync", "brickpipes", "local", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_env(project, server, seconds=180)
        assert (project / ".env").read_text().startswith("# a team's line, kept\nMY_SETTING=1\n")
        # The workspace it prepared passes the preflight (which reads .env as dg does).
        preflight = subprocess.run(
            ["uv", "run", "--no-sync", "brickpipes", "preflight"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert preflight.returncode == 0, preflight.stdout + preflight.stderr
        assert "Ready: runs in this environment have what they need." in preflight.stdout
        # dg loads .env itself, as `dg dev` does.
        launch = subprocess.run(
            ["uv", "run", "--no-sync", "dg", "launch", "--assets", "*", "--partition", PARTITION],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output = server.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            output = server.communicate()[0]
    log = launch.stdout + launch.stderr
    assert launch.returncode == 0, f"{log[-6000:]}\n--- brickpipes local:\n{output}"
    # What the run recorded in Dagster's instance (its console log can drop a step's lines).
    recorded = subprocess.run(
        ["uv", "run", "--no-sync", "python", "-c", RECORDED],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    runs, assets, materialized = json.loads(recorded.stdout)
    assert runs == ["SUCCESS"], log[-6000:]
    assert materialized == assets  # every asset of the examples
    assert "daily_orders" in assets and len(assets) > 5, assets
    assert server.returncode == 0, output
    assert "local Databricks stopped" in output, output
