"""Hardening: only loopback requests, an admin credential, no 500 on bad input, bounded
connections, and a call log without secrets."""

from __future__ import annotations

import base64
import http.client
import json
import select
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service import jobs
from ld_helpers import make_client, raw

from local_databricks import LocalDatabricks
from local_databricks.dispatch import Dispatcher
from local_databricks.proxy import ForwardingProxy
from local_databricks.routing import Router
from local_databricks.server import HttpServer


def _send(server, method: str, path: str, headers: dict, body: bytes | None = None):
    """One request over http.client with exactly the given headers (Host included)."""
    connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), 10)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, json.loads(payload) if payload else None


def _port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


# ---- only requests addressed to itself ------------------------------------------------------


def test_foreign_host_header_is_refused(local_databricks):
    auth = {"Authorization": f"Bearer {local_databricks.token}"}
    port = _port(local_databricks)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
        status, _ = _send(
            local_databricks, "GET", "/api/2.0/preview/scim/v2/Me", {"Host": host, **auth}
        )
        assert status == 200, host
    for host in (
        "evil.example.com",
        f"evil.example.com:{port}",
        "127.0.0.1",
        f"127.0.0.1:{port + 1}",
    ):
        status, body = _send(
            local_databricks, "GET", "/api/2.0/preview/scim/v2/Me", {"Host": host, **auth}
        )
        assert status == 403, host
        assert body["error_code"] == "PERMISSION_DENIED"
        assert "Host header" in body["message"]
    # no Host at all
    status, body = _send(local_databricks, "GET", "/api/2.0/preview/scim/v2/Me", auth)
    assert status == 403 and "Host header" in body["message"]
    # the admin API is behind the same check
    admin = {"Authorization": f"Bearer {local_databricks.admin_token}"}
    status, _ = _send(
        local_databricks, "GET", "/__local-databricks/health", {"Host": "evil:1", **admin}
    )
    assert status == 403


def test_browser_origin_is_refused(local_databricks):
    host = {"Host": f"127.0.0.1:{_port(local_databricks)}"}
    for origin in ("http://evil.example.com", "null", local_databricks.url):
        status, body = _send(
            local_databricks,
            "POST",
            "/api/2.0/dbfs/put",
            {**host, "Origin": origin, "Content-Type": "application/x-www-form-urlencoded"},
            b"path=/x&contents=aGk=",
        )
        assert status == 403
        assert body["error_code"] == "PERMISSION_DENIED"
        assert "Origin" in body["message"]
    admin = {"Authorization": f"Bearer {local_databricks.admin_token}"}
    status, _ = _send(
        local_databricks, "POST", "/__local-databricks/reset", {**host, **admin, "Origin": "x"}
    )
    assert status == 403


def test_forwarding_proxy_is_still_accepted(local_databricks):
    with ForwardingProxy() as proxy:
        session = requests.Session()
        session.trust_env = False
        response = session.get(
            f"{local_databricks.url}/api/2.0/preview/scim/v2/Me",
            headers={"Authorization": f"Bearer {local_databricks.token}"},
            proxies={"http": proxy.url},
            timeout=10,
        )
        assert response.status_code == 200
        assert proxy.requests == ["GET /api/2.0/preview/scim/v2/Me"]


# ---- the admin API has its own credential ---------------------------------------------------


def test_admin_api_needs_the_admin_token(local_databricks):
    base = f"{local_databricks.url}/__local-databricks"
    assert local_databricks.admin_token and local_databricks.admin_token != local_databricks.token
    for method, path in (
        ("GET", "health"),
        ("GET", "calls"),
        ("POST", "reset"),
        ("POST", "faults"),
    ):
        response = requests.request(method, f"{base}/{path}", json={}, timeout=10)
        assert response.status_code == 401, path
        assert response.json()["error_code"] == "UNAUTHENTICATED"
        for token in (local_databricks.token, "wrong", local_databricks.admin_token + "x"):
            response = requests.request(
                method,
                f"{base}/{path}",
                json={},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert response.status_code == 403, (path, token)
            assert response.json()["error_code"] == "PERMISSION_DENIED"
    good = {"Authorization": f"Bearer {local_databricks.admin_token}"}
    assert requests.get(f"{base}/health", headers=good, timeout=10).status_code == 200
    # the workspace API does not take the admin token either
    assert (
        raw(
            local_databricks,
            "GET",
            "/api/2.0/preview/scim/v2/Me",
            token=local_databricks.admin_token,
        )[0]
        == 401
    )
    # the in-process API needs nothing
    local_databricks.inject_fault("GET", "/nothing", 503)
    assert local_databricks.calls() == [] or isinstance(local_databricks.calls(), list)
    local_databricks.clear_faults()


def test_admin_token_can_be_given(tmp_path):
    with LocalDatabricks(root=tmp_path / "r", admin_token="given-admin-token") as ld:
        assert ld.admin_token == "given-admin-token"
        response = requests.get(
            f"{ld.url}/__local-databricks/health",
            headers={"Authorization": "Bearer given-admin-token"},
            timeout=10,
        )
        assert response.status_code == 200


def test_cli_prints_the_admin_token_last(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local_databricks",
            "--root",
            str(tmp_path / "cli"),
            "--admin-token",
            "cli-admin",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(7)]
    finally:
        process.terminate()
        process.wait(10)
    url = lines[0]
    assert url.startswith("http://127.0.0.1:")
    assert lines[1] == f"DATABRICKS_HOST={url}"
    assert lines[2].startswith("DATABRICKS_TOKEN=dapi")
    assert lines[3].startswith("DATABRICKS_CLIENT_ID=")
    assert lines[4].startswith("DATABRICKS_CLIENT_SECRET=")
    assert lines[5] == "DATABRICKS_AUTH_TYPE=pat"
    assert lines[6] == "LOCAL_DATABRICKS_ADMIN_TOKEN=cli-admin"


# ---- bad input is a 400, never a 500 --------------------------------------------------------

WRONG_VALUES = ["abc", 5, -1, 1.5, [], [1], {}, {"a": 1}, True, None, "\u0000", "x" * 300]
SUBMIT = {
    "run_name": "fuzz",
    "timeout_seconds": 0,
    "idempotency_token": None,
    "tasks": [
        {
            "task_key": "t",
            "environment_key": "e",
            "timeout_seconds": 0,
            "depends_on": [],
            "spark_python_task": {"python_file": "dbfs:/missing.py", "parameters": ["a"]},
        }
    ],
    "environments": [{"environment_key": "e", "spec": {"client": "1"}}],
}
CREATE = {
    "name": "fuzz",
    "max_concurrent_runs": 1,
    "parameters": [{"name": "p", "default": "d"}],
    "job_clusters": [
        {"job_cluster_key": "jc", "new_cluster": {"spark_version": "x", "num_workers": 0}}
    ],
    "tasks": [
        {
            "task_key": "t",
            "job_cluster_key": "jc",
            "notebook_task": {"notebook_path": "/Shared/nb", "base_parameters": {"a": "b"}},
        }
    ],
}
POST_BODIES = {
    "/api/2.2/jobs/runs/submit": SUBMIT,
    "/api/2.2/jobs/create": CREATE,
    "/api/2.2/jobs/runs/cancel": {"run_id": 1},
    "/api/2.2/jobs/runs/cancel-all": {"job_id": 1},
    "/api/2.2/jobs/runs/delete": {"run_id": 1},
    "/api/2.2/jobs/delete": {"job_id": 1},
    "/api/2.2/jobs/reset": {"job_id": 1, "new_settings": CREATE},
    "/api/2.2/jobs/update": {"job_id": 1, "new_settings": CREATE, "fields_to_remove": ["x"]},
    "/api/2.2/jobs/run-now": {
        "job_id": 1,
        "job_parameters": {"p": "v"},
        "python_params": ["a"],
        "notebook_params": {"a": "b"},
        "only": ["t"],
        "idempotency_token": "tok",
    },
    "/api/2.0/dbfs/put": {"path": "/f.txt", "contents": "aGk=", "overwrite": True},
    "/api/2.0/dbfs/create": {"path": "/g.txt", "overwrite": True},
    "/api/2.0/dbfs/add-block": {"handle": 1, "data": "aGk="},
    "/api/2.0/dbfs/close": {"handle": 1},
    "/api/2.0/dbfs/mkdirs": {"path": "/d"},
    "/api/2.0/dbfs/delete": {"path": "/nothing", "recursive": True},
    "/api/2.0/dbfs/move": {"source_path": "/f.txt", "destination_path": "/h.txt"},
    "/api/2.0/workspace/import": {
        "path": "/Shared/nb.py",
        "content": "cHJpbnQoMSk=",
        "format": "SOURCE",
        "language": "PYTHON",
        "overwrite": True,
    },
    "/api/2.0/workspace/mkdirs": {"path": "/Shared/d"},
    "/api/2.0/workspace/delete": {"path": "/Shared/nothing", "recursive": False},
    "/api/2.0/secrets/scopes/create": {"scope": "s"},
    "/api/2.0/secrets/scopes/delete": {"scope": "nothing"},
    "/api/2.0/secrets/put": {"scope": "s", "key": "k", "string_value": "v"},
    "/api/2.0/secrets/delete": {"scope": "s", "key": "nothing"},
    "/api/2.0/token/create": {"lifetime_seconds": 60, "comment": "c"},
    "/api/2.0/token/delete": {"token_id": "nothing"},
}
GET_QUERIES = {
    "/api/2.2/jobs/runs/get": {"run_id": "1"},
    "/api/2.2/jobs/runs/get-output": {"run_id": "1"},
    "/api/2.2/jobs/runs/list": {"limit": "5", "offset": "0", "job_id": "1", "active_only": "true"},
    "/api/2.2/jobs/get": {"job_id": "1"},
    "/api/2.2/jobs/list": {"limit": "5", "offset": "0", "expand_tasks": "true"},
    "/api/2.0/dbfs/read": {"path": "/f.txt", "offset": "0", "length": "10"},
    "/api/2.0/dbfs/get-status": {"path": "/f.txt"},
    "/api/2.0/dbfs/list": {"path": "/"},
    "/api/2.0/workspace/get-status": {"path": "/Shared"},
    "/api/2.0/workspace/export": {"path": "/Shared/nb", "format": "SOURCE"},
    "/api/2.0/workspace/list": {"path": "/Shared"},
    "/api/2.1/clusters/get": {"cluster_id": "c"},
    "/api/2.0/secrets/list": {"scope": "s"},
    "/api/2.0/secrets/get": {"scope": "s", "key": "k"},
    "/api/2.0/fs/directories/Volumes/c/s/v": {"page_size": "10", "page_token": "x"},
}
ADMIN_BODIES = {
    "faults": {"method": "GET", "path_regex": "/x$", "status": 503, "times": 1, "delay_seconds": 0},
    "run-behaviour": {"pending_seconds": 0, "result": "FAILED", "times": 1},
    "cluster-start-seconds": {"seconds": 0, "serverless_seconds": 0},
    "tokens": {"pat": "dapi-fuzz", "client_id": "cid", "client_secret": "sec", "expires_in": 10},
    "clusters": {"cluster_id": "fuzz-cluster", "spark_env_vars": {"A": "b"}},
    "secrets": {"scope": "s2", "key": "k", "value": "v"},
    "jobs": CREATE,
}


def _mutations(body: dict):
    """(label, body) with one field replaced by each wrong value, one and two levels deep."""
    for name in body:
        for value in WRONG_VALUES:
            yield f"{name}={value!r}", {**body, name: value}
        item = body[name]
        if isinstance(item, list) and item and isinstance(item[0], dict):
            for sub in item[0]:
                for value in WRONG_VALUES:
                    yield f"{name}[0].{sub}={value!r}", {**body, name: [{**item[0], sub: value}]}
                inner = item[0][sub]
                if isinstance(inner, dict):
                    for leaf in inner:
                        for value in WRONG_VALUES:
                            changed = {**item[0], sub: {**inner, leaf: value}}
                            yield f"{name}[0].{sub}.{leaf}={value!r}", {**body, name: [changed]}
        if isinstance(item, dict):
            for sub in item:
                for value in WRONG_VALUES:
                    yield f"{name}.{sub}={value!r}", {**body, name: {**item, sub: value}}


def _check_answer(status: int, payload, label: str) -> None:
    assert status != 500, (label, payload)
    assert status < 500 or status == 503, (label, payload)
    if status >= 400:
        assert isinstance(payload, dict) and payload.get("error_code"), (label, payload)


def test_fuzz_wrong_types_never_reach_a_500(local_databricks):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {local_databricks.token}"
    url = local_databricks.url
    count = 0
    for path, body in POST_BODIES.items():
        for label, mutated in [("valid", body), *_mutations(body)]:
            response = session.post(url + path, json=mutated, timeout=10)
            _check_answer(
                response.status_code,
                response.json() if response.content else None,
                f"{path} {label}",
            )
            count += 1
        for junk in (b"[1, 2]", b'"text"', b"{not json", b"\xff\xfe", b"[" * 50_000, b"5"):
            response = session.post(
                url + path, data=junk, headers={"Content-Type": "application/json"}, timeout=10
            )
            assert response.status_code == 400, (path, junk[:10])
            assert response.json()["error_code"] == "MALFORMED_REQUEST"
    for path, query in GET_QUERIES.items():
        for name in query:
            for value in ["abc", "-1", "1.5", "", "%00", "%ff", "[]", "true", "9" * 40]:
                response = session.get(f"{url}{path}?{name}={value}", timeout=10)
                payload = response.json() if response.content else None
                _check_answer(response.status_code, payload, f"{path} {name}={value}")
                count += 1
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {local_databricks.admin_token}"
    for path, body in ADMIN_BODIES.items():
        for label, mutated in [("valid", body), *_mutations(body)]:
            response = admin.post(f"{url}/__local-databricks/{path}", json=mutated, timeout=10)
            _check_answer(
                response.status_code,
                response.json() if response.content else None,
                f"admin {path} {label}",
            )
            count += 1
        response = admin.post(f"{url}/__local-databricks/{path}", data=b"{x", timeout=10)
        assert response.status_code == 400
    local_databricks.clear_faults()
    assert count > 1500
    for run in local_databricks.runs():
        local_databricks.manager.cancel(local_databricks.manager.find(run["run_id"])[0])


def test_wrong_types_name_the_field(local_databricks):
    cases = [
        ("GET", "/api/2.2/jobs/runs/get?run_id=abc", None, "run_id"),
        ("POST", "/api/2.2/jobs/runs/cancel", {"run_id": "abc"}, "run_id"),
        ("POST", "/api/2.2/jobs/runs/submit", {"tasks": 5}, "tasks"),
        (
            "POST",
            "/api/2.2/jobs/runs/submit",
            {"tasks": [], "timeout_seconds": []},
            "timeout_seconds",
        ),
        (
            "POST",
            "/api/2.2/jobs/runs/submit",
            {**SUBMIT, "tasks": [{**SUBMIT["tasks"][0], "timeout_seconds": "x"}]},
            "tasks[0].timeout_seconds",
        ),
        (
            "POST",
            "/api/2.2/jobs/create",
            {"job_clusters": [{"job_cluster_key": "a", "new_cluster": {"spark_env_vars": []}}]},
            "job_clusters[0].new_cluster.spark_env_vars",
        ),
        ("POST", "/api/2.0/secrets/put", {"scope": ["s"], "key": "k"}, "scope"),
        ("POST", "/api/2.0/dbfs/put", {"path": "/x", "overwrite": [1]}, "overwrite"),
        ("GET", "/api/2.0/dbfs/read?path=/x&offset=zz", None, "offset"),
    ]
    for method, path, body, field in cases:
        status, _, payload = raw(local_databricks, method, path, body)
        assert status == 400, (path, payload)
        assert payload["error_code"] == "INVALID_PARAMETER_VALUE", (path, payload)
        assert field in payload["message"], (path, payload)


def test_nul_and_undecodable_bytes_in_paths(local_databricks):
    for path in (
        "/api/2.0/fs/files/Volumes/c/s/v/a%00b",
        "/api/2.0/fs/files/Volumes/c/s/v/%ff",
        "/api/2.0/fs/directories/Volumes/c/s/v/%c3%28",
        "/api/2.0/dbfs/get-status?path=/a%00b",
        "/api/2.0/dbfs/get-status?path=/%ff",
        "/api/2.0/workspace/get-status?path=/Shared/%00",
        "/api/2.0/%00/x",
    ):
        for method in ("GET", "PUT") if "/fs/" in path else ("GET",):
            status, _, payload = raw(
                local_databricks, method, path, b"data" if method == "PUT" else None
            )
            assert status == 400, (method, path, payload)
            assert payload["error_code"] == "INVALID_PARAMETER_VALUE", (path, payload)
    # a NUL inside a JSON string is refused by the path check too
    status, _, payload = raw(
        local_databricks, "POST", "/api/2.0/dbfs/mkdirs", {"path": "/a\u0000b"}
    )
    assert status == 400 and "NUL" in payload["message"]
    assert not any(p.name.startswith("a") for p in (local_databricks.root / "dbfs").iterdir())


def test_task_keys_follow_the_service_pattern(local_databricks, w, script):
    path = script("print('ok')\n", "ok.py")
    task = {"environment_key": "e", "spark_python_task": {"python_file": path}}
    envs = [jobs.JobEnvironment(environment_key="e", spec=None)]
    for key in ("../escape", "a/b", "a.b", "..", "x" * 101, "caf\u00e9", ""):
        with pytest.raises(InvalidParameterValue, match=r"task_key|task key"):
            w.jobs.submit(
                run_name="bad-key",
                tasks=[jobs.SubmitTask.from_dict({"task_key": key, **task})],
                environments=envs,
            )
    run = w.jobs.submit(
        run_name="good-key",
        tasks=[jobs.SubmitTask.from_dict({"task_key": "ok-key_1" + "x" * 92, **task})],
        environments=envs,
    ).result(timeout=__import__("datetime").timedelta(seconds=60))
    assert run.tasks[0].task_key == "ok-key_1" + "x" * 92
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert not (local_databricks.root / "runs" / "escape").exists()
    assert sorted(p.name for p in (local_databricks.root / "runs").iterdir()) == [str(run.run_id)]


def test_task_paths_cannot_climb_out(local_databricks, w):
    for path in (
        "dbfs:/../../x.py",
        "/Workspace/../../x.py",
        "/Volumes/c/s/v/../../../../x.py",
        "file:/tmp/../x.py",
    ):
        status, _, payload = raw(
            local_databricks,
            "POST",
            "/api/2.2/jobs/runs/submit",
            {
                "tasks": [
                    {
                        "task_key": "t",
                        "environment_key": "e",
                        "spark_python_task": {"python_file": path},
                    }
                ],
                "environments": [{"environment_key": "e"}],
            },
        )
        assert status == 400, path
        assert "'..' is not allowed" in payload["message"]


# ---- connections: backlog and idle timeout ---------------------------------------------------


def _bare_server(idle: float = 30.0) -> HttpServer:
    dispatcher = Dispatcher(Router(), Router(), None, None, None)  # type: ignore[arg-type]
    return HttpServer(dispatcher, 0, idle)


def test_listen_backlog_takes_a_burst():
    """With nobody accepting, the kernel completes at most backlog+1 handshakes."""
    server = _bare_server()  # bound and listening, accept loop not started
    sockets = []
    try:
        for _ in range(160):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", server.port))
            sockets.append(client)
        deadline = time.monotonic() + 2
        connected: set[socket.socket] = set()
        while time.monotonic() < deadline and len(connected) < 129:
            _, writable, _ = select.select([], [s for s in sockets if s not in connected], [], 0.2)
            connected.update(
                s for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            )
        assert len(connected) >= 129
    finally:
        for client in sockets:
            client.close()
        server.stop()


def test_idle_connection_is_dropped(tmp_path):
    with LocalDatabricks(root=tmp_path / "r", idle_timeout_seconds=1) as ld:
        before = threading.active_count()
        client = socket.create_connection(("127.0.0.1", _port(ld)), timeout=15)
        # authenticated, so the server waits for the body it announces (then gives up)
        client.sendall(
            f"POST /api/2.0/dbfs/put HTTP/1.1\r\nHost: 127.0.0.1:{_port(ld)}\r\n"
            f"Authorization: Bearer {ld.token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n".encode()
        )
        started = time.monotonic()
        assert client.recv(1024) == b""  # closed by the server, no answer
        assert time.monotonic() - started < 5
        client.close()
        # a connection that never sends a request line is dropped too
        silent = socket.create_connection(("127.0.0.1", _port(ld)), timeout=15)
        started = time.monotonic()
        assert silent.recv(1024) == b""
        assert time.monotonic() - started < 5
        silent.close()
        deadline = time.monotonic() + 5
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= before
        # the server still answers
        assert raw(ld, "GET", "/api/2.0/preview/scim/v2/Me")[0] == 200


def test_idle_timeout_default_and_cli_flag():
    from local_databricks.cli import build_parser

    assert build_parser().parse_args([]).idle_timeout_seconds == 30.0
    assert build_parser().parse_args(["--idle-timeout-seconds", "5"]).idle_timeout_seconds == 5.0
    with pytest.raises(ValueError):
        LocalDatabricks(idle_timeout_seconds=0)


# ---- the call log holds no secret -----------------------------------------------------------


def test_call_log_never_holds_a_secret(local_databricks, w):
    secret_text = "s3cr3t-string-value-1234"
    secret_bytes = b"binary-secret-\x01\x02-5678"
    w.secrets.create_scope("hardening")
    w.secrets.put_secret("hardening", "text", string_value=secret_text)
    w.secrets.put_secret("hardening", "bytes", bytes_value=base64.b64encode(secret_bytes).decode())
    created = w.tokens.create(comment="ci", lifetime_seconds=600)
    assert created.token_value and created.token_info.token_id
    new_client = make_client(local_databricks, token=created.token_value)
    assert new_client.current_user.me().user_name
    local_databricks.register_tokens(
        client_id="sp-hardening", client_secret="oauth-client-secret-999"
    )
    oauth = make_client(
        local_databricks,
        token=None,
        client_id="sp-hardening",
        client_secret="oauth-client-secret-999",
        auth_type="oauth-m2m",
    )
    assert oauth.current_user.me().user_name == "sp-hardening"
    access_token = oauth.config.authenticate()["Authorization"].split(" ", 1)[1]
    # secrets that end up in other bodies and query strings are redacted too
    raw(
        local_databricks,
        "POST",
        "/api/2.0/dbfs/mkdirs",
        {"path": "/d", "note": f"token is {local_databricks.token}", "token": "abc"},
    )
    raw(local_databricks, "GET", f"/api/2.0/dbfs/get-status?path=/d&access_token={access_token}")
    admin_calls = requests.get(
        f"{local_databricks.url}/__local-databricks/calls",
        headers={"Authorization": f"Bearer {local_databricks.admin_token}"},
        timeout=10,
    ).json()["calls"]
    for log in (local_databricks.calls(), admin_calls):
        dumped = json.dumps(log)
        paths = [c["path"] for c in log]
        assert "/api/2.0/secrets/put" in paths and "/api/2.0/token/create" in paths
        for secret in (
            secret_text,
            base64.b64encode(secret_bytes).decode(),
            created.token_value,
            local_databricks.token,
            "oauth-client-secret-999",
            access_token,
            local_databricks.admin_token,
        ):
            assert secret not in dumped, secret
        assert "bearer " not in dumped.lower()
        assert not any("Authorization" in c or "authorization" in c for c in log)
        put = next(c for c in log if c["path"] == "/api/2.0/secrets/put")
        assert put["body"]["string_value"] == "[REDACTED]"
        assert put["body"]["key"] == "text"
    # revoking the created token works through the SDK
    w.tokens.delete(created.token_info.token_id)
    assert (
        raw(local_databricks, "GET", "/api/2.0/preview/scim/v2/Me", token=created.token_value)[0]
        == 401
    )
