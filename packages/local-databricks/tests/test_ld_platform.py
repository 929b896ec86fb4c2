"""Auth, identity, clusters, secrets, errors, the admin API and the CLI."""

import http.client
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import ResourceDoesNotExist, Unauthenticated
from databricks.sdk.errors.platform import InternalError, ResourceAlreadyExists
from databricks.sdk.service import compute
from ld_helpers import assert_roundtrip, make_client, raw


def test_pat_errors_and_revocation(local_databricks, w):
    assert w.current_user.me().user_name == "local.user@example.com"
    with pytest.raises(Unauthenticated):
        make_client(local_databricks, token="dapi-wrong").current_user.me()
    status, _, body = raw(local_databricks, "GET", "/api/2.0/preview/scim/v2/Me", token=None)
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")
    local_databricks.revoke_tokens()
    with pytest.raises(Unauthenticated):
        w.current_user.me()
    local_databricks.register_tokens(pat="dapi-new")
    assert make_client(local_databricks, token="dapi-new").current_user.me().active


def test_oauth_m2m(local_databricks):
    client = WorkspaceClient(
        config=Config(
            host=local_databricks.url,
            client_id=local_databricks.client_id,
            client_secret=local_databricks.client_secret,
            retry_timeout_seconds=10,
        )
    )
    assert client.config.auth_type == "oauth-m2m"
    assert client.current_user.me().user_name == local_databricks.client_id
    local_databricks.revoke_tokens()
    with pytest.raises(Unauthenticated):
        client.current_user.me()
    with pytest.raises(ValueError, match="invalid_client"):
        WorkspaceClient(
            config=Config(
                host=local_databricks.url,
                client_id=local_databricks.client_id,
                client_secret="wrong",
                retry_timeout_seconds=10,
            )
        ).current_user.me()
    _, _, metadata = raw(local_databricks, "GET", "/.well-known/databricks-config", token=None)
    assert metadata["oidc_endpoint"] == f"{local_databricks.url}/oidc"


def test_oauth_token_expiry(local_databricks):
    local_databricks.register_tokens(client_id="short", client_secret="s", expires_in=1)
    response = requests.post(
        f"{local_databricks.url}/oidc/v1/token",
        data={"grant_type": "client_credentials", "scope": "all-apis"},
        auth=("short", "s"),
        timeout=10,
    )
    token = response.json()["access_token"]
    assert response.json()["expires_in"] == 1
    assert raw(local_databricks, "GET", "/api/2.0/preview/scim/v2/Me", token=token)[0] == 200
    time.sleep(1.1)
    status, _, body = raw(local_databricks, "GET", "/api/2.0/preview/scim/v2/Me", token=token)
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")
    bad = requests.post(
        f"{local_databricks.url}/oidc/v1/token",
        data={"grant_type": "client_credentials"},
        auth=("short", "nope"),
        timeout=10,
    )
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")


def test_clusters(local_databricks, w):
    seeded = local_databricks.add_cluster(
        "0101-000000-abcdefgh",
        cluster_name="shared",
        cluster_log_conf={"dbfs": {"destination": "dbfs:/logs"}},
    )
    details = w.clusters.get("0101-000000-abcdefgh")
    assert details.state == compute.State.RUNNING
    assert details.cluster_log_conf.dbfs.destination == "dbfs:/logs"
    _, _, raw_details = raw(
        local_databricks, "GET", "/api/2.1/clusters/get?cluster_id=0101-000000-abcdefgh"
    )
    assert_roundtrip(compute.ClusterDetails.from_dict(raw_details), raw_details)
    assert raw_details["cluster_id"] == seeded["cluster_id"]
    assert [c.cluster_id for c in w.clusters.list()] == ["0101-000000-abcdefgh"]
    with pytest.raises(ResourceDoesNotExist):
        w.clusters.get("nope")
    versions = {v.key for v in w.clusters.spark_versions().versions}
    assert {"16.4.x-scala2.12", "15.4.x-scala2.12"} <= versions
    _, _, raw_types = raw(local_databricks, "GET", "/api/2.1/clusters/list-node-types")
    assert_roundtrip(compute.ListNodeTypesResponse.from_dict(raw_types), raw_types)
    node_ids = {n.node_type_id for n in w.clusters.list_node_types().node_types}
    assert {"i3.xlarge", "Standard_DS3_v2", "n2-standard-4"} <= node_ids


def test_secrets(w):
    w.secrets.create_scope("app")
    with pytest.raises(ResourceAlreadyExists):
        w.secrets.create_scope("app")
    w.secrets.put_secret("app", "password", string_value="pw")
    assert [s.name for s in w.secrets.list_scopes()] == ["app"]
    assert [s.key for s in w.secrets.list_secrets("app")] == ["password"]
    assert w.secrets.get_secret("app", "password").value == "cHc="
    w.secrets.delete_secret("app", "password")
    with pytest.raises(ResourceDoesNotExist):
        list(w.secrets.list_secrets("missing"))
    w.secrets.delete_scope("app")
    assert list(w.secrets.list_scopes()) == []


def test_faults_and_keep_alive(local_databricks, w):
    local_databricks.inject_fault("POST", r"/dbfs/mkdirs$", 500, message="boom")
    with pytest.raises(InternalError, match="boom"):
        w.dbfs.mkdirs("/x")
    w.dbfs.mkdirs("/x")  # times=1: the next call goes through
    # transient 500 "Unexpected error" and 503 are retried by the SDK
    local_databricks.inject_fault("GET", r"/dbfs/get-status$", 503, times=1)
    local_databricks.inject_fault("GET", r"/dbfs/get-status$", 500, message="Unexpected error")
    assert w.dbfs.get_status("/x").is_dir
    # skip lets the first matching call through
    local_databricks.inject_fault("GET", r"/scim/v2/Me$", 500, skip=1)
    w.current_user.me()
    with pytest.raises(InternalError):
        w.current_user.me()
    # an injected error still drains the request body: the next request on the connection works
    local_databricks.inject_fault("POST", r"/dbfs/put$", 503)
    connection = http.client.HTTPConnection(
        "127.0.0.1", int(local_databricks.url.rsplit(":", 1)[1])
    )
    headers = {
        "Authorization": f"Bearer {local_databricks.token}",
        "Content-Type": "application/json",
    }
    body = json.dumps({"path": "/k.txt", "contents": "aGk=", "overwrite": True})
    for expected in (503, 200):
        connection.request("POST", "/api/2.0/dbfs/put", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        assert response.status == expected
    connection.close()
    # the admin HTTP API drives the same fault store
    admin = {"Authorization": f"Bearer {local_databricks.admin_token}"}
    requests.post(
        f"{local_databricks.url}/__local-databricks/faults",
        json={"method": "GET", "path_regex": "/clusters/spark-versions$", "status": 502},
        headers=admin,
        timeout=10,
    )
    assert (
        len(
            [
                f
                for f in requests.get(
                    f"{local_databricks.url}/__local-databricks/faults",
                    headers=admin,
                    timeout=10,
                ).json()["faults"]
                if f["status"] == 502
            ]
        )
        == 1
    )
    status, _, _ = raw(local_databricks, "GET", "/api/2.1/clusters/spark-versions")
    assert status == 502
    requests.post(
        f"{local_databricks.url}/__local-databricks/faults/clear", headers=admin, timeout=10
    )
    assert raw(local_databricks, "GET", "/api/2.1/clusters/spark-versions")[0] == 200
    logged = local_databricks.calls()
    assert {"method", "path", "query", "status", "duration_ms"} <= set(logged[0])
    assert not any(local_databricks.token in json.dumps(c) for c in logged)


def test_admin_http_api_and_reset(local_databricks):
    base = f"{local_databricks.url}/__local-databricks"
    admin = {"Authorization": f"Bearer {local_databricks.admin_token}"}
    assert requests.get(f"{base}/health", headers=admin, timeout=10).json()["status"] == "ok"
    requests.post(
        f"{base}/secrets", json={"scope": "s", "key": "k", "value": "v"}, headers=admin, timeout=10
    )
    requests.post(f"{base}/clusters", json={"cluster_id": "c1"}, headers=admin, timeout=10)
    requests.post(f"{base}/tokens", json={"pat": "dapi-extra"}, headers=admin, timeout=10)
    assert (
        raw(local_databricks, "GET", "/api/2.1/clusters/get?cluster_id=c1", token="dapi-extra")[0]
        == 200
    )
    assert requests.get(f"{base}/calls", headers=admin, timeout=10).json()["calls"]
    requests.post(f"{base}/calls/clear", headers=admin, timeout=10)
    assert local_databricks.calls() == []
    requests.post(f"{base}/reset", headers=admin, timeout=10)
    assert raw(local_databricks, "GET", "/api/2.1/clusters/get?cluster_id=c1")[0] == 400
    assert raw(local_databricks, "GET", "/api/2.0/secrets/list?scope=s")[0] == 404
    assert requests.get(f"{base}/runs", headers=admin, timeout=10).json() == {"runs": []}


def test_unknown_endpoint(local_databricks):
    status, headers, body = raw(local_databricks, "GET", "/api/2.0/no/such/thing")
    assert status == 404
    assert body == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": "No API found for 'GET /api/2.0/no/such/thing'.",
    }
    assert headers["x-databricks-org-id"] == local_databricks.workspace_id


def test_cli_prints_env_and_stops_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local_databricks",
            "--port",
            "0",
            "--token",
            "dapi-cli",
            "--root",
            str(tmp_path / "root"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = process.stdout.readline().strip()
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(5))
        assert time.monotonic() - started < 5
        assert url.startswith("http://127.0.0.1:")
        assert lines["DATABRICKS_HOST"] == url and lines["DATABRICKS_TOKEN"] == "dapi-cli"
        assert lines["DATABRICKS_CLIENT_ID"] and lines["DATABRICKS_CLIENT_SECRET"]
        response = requests.get(
            f"{url}/api/2.0/preview/scim/v2/Me",
            headers={"Authorization": "Bearer dapi-cli"},
            timeout=10,
        )
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    assert (tmp_path / "root").is_dir()  # an explicit root is kept


def test_env_helper(local_databricks):
    assert local_databricks.env() == {
        "DATABRICKS_HOST": local_databricks.url,
        "DATABRICKS_TOKEN": local_databricks.token,
    }
    assert set(local_databricks.env("oauth-m2m")) == {
        "DATABRICKS_HOST",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
    }
    assert local_databricks.token.startswith("dapi") and len(local_databricks.token) == 36


def test_env_fixture(local_databricks_env):
    assert os.environ["DATABRICKS_HOST"] == local_databricks_env.url
    assert WorkspaceClient().current_user.me().user_name == "local.user@example.com"


def test_a_run_page_url_opens_a_page_not_an_api_error(local_databricks, w):
    # A run's run_page_url is <host>/?o=...#job/...; a browser sends GET /?o=... without a token.
    status, headers, body = raw(local_databricks, "GET", "/?o=1234567890123456", token=None)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"no web UI" in body and b"jobs/runs/get" in body
