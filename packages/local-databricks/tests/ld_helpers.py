"""Helpers for the local-databricks conformance tests (SDK client, raw HTTP, files)."""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config


def make_client(server, **overrides) -> WorkspaceClient:
    """A WorkspaceClient that gives up quickly when the server is gone."""
    options = {"host": server.url, "token": server.token, "retry_timeout_seconds": 10}
    options.update(overrides)
    return WorkspaceClient(config=Config(**options))


def raw(server, method: str, path: str, body=None, token: str | None = "default", headers=None):
    """Send one request without the SDK; returns (status, headers, parsed JSON or bytes)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(server.url + path, data=data, method=method)
    if token == "default":
        token = server.token
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if isinstance(body, dict):
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, response_headers, payload = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, response_headers, payload = exc.code, exc.headers, exc.read()
    ctype = response_headers.get("Content-Type", "")
    if payload and ctype.startswith("application/json"):
        return status, response_headers, json.loads(payload)
    return status, response_headers, payload


def write_file(server, remote_path: str, source: str) -> str:
    """Put a script straight into the emulated storage (dbfs:/, /Volumes, /Workspace)."""
    if remote_path.startswith("dbfs:/"):
        local = server.root / "dbfs" / remote_path[len("dbfs:/") :]
    elif remote_path.startswith("/Volumes/"):
        local = server.root / "Volumes" / remote_path[len("/Volumes/") :]
    elif remote_path.startswith("/Workspace/"):
        local = server.root / "workspace" / remote_path[len("/Workspace/") :]
    else:
        raise ValueError(remote_path)
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(textwrap.dedent(source))
    return remote_path


def assert_roundtrip(sdk_object, raw_json: dict) -> None:
    """The SDK dataclass kept every field of the raw response."""
    assert sdk_object.as_dict() == raw_json
