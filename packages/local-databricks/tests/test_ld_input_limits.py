"""No server-side failure on any input: credentials checked before a body is read, bounded
bodies, chunk lines and call log, an iterative cycle check, byte comparison of client secrets,
DBFS moves into themselves, file paths without a name, and malformed task specs."""

from __future__ import annotations

import base64
import io
import json
import socket
import time

import pytest
import requests
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service import jobs
from ld_helpers import make_client, raw

from local_databricks import calls as calls_module
from local_databricks.calls import CallLog
from local_databricks.server import MAX_JSON_BODY_BYTES

GIB = 1024 * 1024 * 1024


def _port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _announce(server, head: str, first_bytes: bytes = b"x" * 65536, timeout: float = 5.0):
    """Send a request head (and the first bytes of a body it announces), then read the answer:
    (status, JSON body, seconds until the answer, whether the server then closed)."""
    sock = socket.create_connection(("127.0.0.1", _port(server)), timeout=timeout)
    try:
        started = time.monotonic()
        sock.sendall(head.encode("latin-1") + first_bytes)
        received = b""
        while b"\r\n\r\n" not in received:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
        elapsed = time.monotonic() - started
        header_text, _, rest = received.partition(b"\r\n\r\n")
        lines = header_text.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            piece = sock.recv(65536)
            if not piece:
                break
            rest += piece
        closed = headers.get("connection", "").lower() == "close"
        return status, json.loads(rest[:length] or b"null"), elapsed, closed
    finally:
        sock.close()


def _head(server, method: str, path: str, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{_port(server)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


# ---- credentials first, bodies bounded ------------------------------------------------------


def test_unauthenticated_body_is_never_read(local_databricks):
    # 1 GiB announced, 64 KiB sent: an answer can only come if the body is not awaited
    head = _head(
        local_databricks,
        "POST",
        "/api/2.0/workspace/import",
        {"Content-Type": "application/json", "Content-Length": str(GIB)},
    )
    status, body, elapsed, closed = _announce(local_databricks, head)
    assert status == 401 and body["error_code"] == "UNAUTHENTICATED"
    assert elapsed < 1.0 and closed
    wrong = _head(
        local_databricks,
        "PUT",
        "/api/2.0/fs/files/Volumes/main/s/v/big.bin",
        {"Authorization": "Bearer not-a-token", "Transfer-Encoding": "chunked"},
    )
    status, body, _, closed = _announce(local_databricks, wrong, b"40000000\r\n" + b"x" * 65536)
    assert status == 401 and closed


def test_upload_part_signature_is_checked_before_the_body(local_databricks):
    w = make_client(local_databricks)
    path = "/Volumes/main/s/v/parts.bin"
    status, _, started = raw(
        local_databricks, "POST", f"/api/2.0/fs/files{path}?action=initiate-upload", b""
    )
    assert status == 200, started
    token = started["multipart_upload"]["session_token"]
    head = _head(
        local_databricks,
        "PUT",
        f"/api/2.0/fs/upload-parts/{token}/1?signature=00ff",
        {"Content-Length": str(GIB)},
    )
    status, body, elapsed, closed = _announce(local_databricks, head)
    assert status == 403 and body["error_code"] == "PERMISSION_DENIED"
    assert elapsed < 1.0 and closed
    w.files.upload(path, io.BytesIO(b"after"), overwrite=True)  # the session is still usable
    assert w.files.download(path).contents.read() == b"after"


def test_json_bodies_are_capped(local_databricks):
    head = _head(
        local_databricks,
        "POST",
        "/api/2.2/jobs/runs/submit",
        {
            "Authorization": f"Bearer {local_databricks.token}",
            "Content-Type": "application/json",
            "Content-Length": str(MAX_JSON_BODY_BYTES + 1),
        },
    )
    status, body, elapsed, closed = _announce(local_databricks, head)
    assert status == 413 and body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert str(MAX_JSON_BODY_BYTES) in body["message"]
    assert elapsed < 1.0 and closed


def test_chunked_json_body_past_the_cap_is_refused(local_databricks):
    chunk = b"x" * (1024 * 1024)
    pieces = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(17))
    response = requests.post(
        f"{local_databricks.url}/api/2.2/jobs/runs/submit",
        data=iter([pieces, b"0\r\n\r\n"]),
        headers={
            "Authorization": f"Bearer {local_databricks.token}",
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
        },
        timeout=10,
    )
    assert response.status_code == 413


def test_chunk_size_line_is_bounded(local_databricks):
    head = _head(
        local_databricks,
        "POST",
        "/api/2.0/dbfs/mkdirs",
        {"Authorization": f"Bearer {local_databricks.token}", "Transfer-Encoding": "chunked"},
    )
    # a chunk-size line with no end: the server must give up on it, not keep reading
    status, body, elapsed, closed = _announce(local_databricks, head, b"0" * 200_000)
    assert status == 400 and body["error_code"] == "MALFORMED_REQUEST"
    assert elapsed < 1.0 and closed


def test_uploads_past_the_json_cap_stream_to_disk(local_databricks):
    w = make_client(local_databricks)
    data = bytes(range(256)) * (MAX_JSON_BODY_BYTES // 256 + 4096)
    w.files.upload("/Volumes/main/s/v/large.bin", io.BytesIO(data), overwrite=True)
    assert local_databricks.storage.volumes.joinpath("main/s/v/large.bin").read_bytes() == data
    chunked = requests.put(
        f"{local_databricks.url}/api/2.0/fs/files/Volumes/main/s/v/chunked.bin",
        data=iter([b"ab", b"cd" * 40_000]),
        headers={"Authorization": f"Bearer {local_databricks.token}"},
        timeout=10,
    )
    assert chunked.status_code == 204
    assert w.files.download("/Volumes/main/s/v/chunked.bin").contents.read() == b"ab" + b"cd" * (
        40_000
    )
    assert not any(local_databricks.storage.root.joinpath("spool").iterdir())
    put = [c for c in local_databricks.calls() if c["path"].endswith("large.bin")]
    assert put[0]["body_bytes"] == len(data)


# ---- the call log ----------------------------------------------------------------------------


def test_call_log_keeps_large_strings_by_size(local_databricks):
    w = make_client(local_databricks)
    contents = b"a" * 900_000
    w.dbfs.put("/big.txt", contents=base64.b64encode(contents).decode(), overwrite=True)
    record = next(c for c in local_databricks.calls() if c["path"].endswith("dbfs/put"))
    assert record["body"]["path"] == "/big.txt"
    assert (
        record["body"]["contents"] == f"[{len(base64.b64encode(contents))} characters, not logged]"
    )
    admin = requests.get(
        f"{local_databricks.url}/__local-databricks/calls",
        headers={"Authorization": f"Bearer {local_databricks.admin_token}"},
        timeout=10,
    )
    assert len(admin.content) < 100_000


def test_call_log_is_bounded_by_bytes(monkeypatch):
    monkeypatch.setattr(calls_module, "MAX_LOG_BYTES", 200_000)
    log = CallLog()
    for index in range(200):
        log.add({"path": f"/p/{index}", "body": {"items": ["y" * 1000] * 10}})
    kept = log.list()
    assert sum(len(json.dumps(c)) for c in kept) <= 200_000
    assert kept[-1]["path"] == "/p/199" and len(kept) < 200
    assert kept[-1]["body"]["items"][0] == "y" * 1000
    # one record too large for its share of the log keeps its body's size only
    log.add({"path": "/huge", "body": {"items": ["z" * 1000] * 100}})
    assert log.list()[-1] == {
        "path": "/huge",
        "body_bytes": len(json.dumps({"items": ["z" * 1000] * 100})),
    }


# ---- task graphs and task specs ----------------------------------------------------------------


def _chain(length: int, close_cycle: bool = False) -> list[jobs.SubmitTask]:
    tasks = []
    for index in reversed(range(length)):
        depends = [jobs.TaskDependency(task_key=f"t{index - 1}")] if index else []
        if index == 0 and close_cycle:
            depends = [jobs.TaskDependency(task_key=f"t{length - 1}")]
        tasks.append(
            jobs.SubmitTask(
                task_key=f"t{index}",
                depends_on=depends,
                environment_key="default",
                spark_python_task=jobs.SparkPythonTask(python_file="dbfs:/never.py"),
            )
        )
    return tasks


def test_a_thousand_task_chain_listed_last_first(local_databricks):
    w = make_client(local_databricks)
    env = [jobs.JobEnvironment(environment_key="default", spec=None)]
    tasks = _chain(1000)
    job = w.jobs.create(
        name="chain",
        environments=env,
        tasks=[jobs.Task.from_dict(t.as_dict()) for t in tasks],
    )
    assert len(w.jobs.get(job.job_id).settings.tasks) == 1000
    run = w.jobs.submit(run_name="chain", environments=env, tasks=tasks)
    w.jobs.cancel_run(run.run_id).result()
    with pytest.raises(InvalidParameterValue, match=r"cycle: t999 -> t998 -> .* -> t0 -> t999\."):
        w.jobs.submit(run_name="cycle", environments=env, tasks=_chain(1000, close_cycle=True))


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"tasks": [None]}, "tasks[0]"),
        ({"tasks": [{"task_key": "a", "depends_on": [None]}]}, "tasks[0].depends_on[0]"),
        ({"job_clusters": [None]}, "job_clusters[0]"),
        ({"environments": [None]}, "environments[0]"),
        ({"parameters": [None]}, "parameters[0]"),
    ],
)
def test_malformed_task_specs_name_the_field(local_databricks, settings, field):
    for path, extra in (("runs/submit", {"run_name": "r"}), ("create", {"name": "j"})):
        body = {"tasks": [{"task_key": "ok", "notebook_task": {"notebook_path": "/n"}}]}
        status, _, answer = raw(
            local_databricks, "POST", f"/api/2.2/jobs/{path}", {**body, **extra, **settings}
        )
        assert status == 400, (path, answer)
        assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
        assert f"'{field}'" in answer["message"]


# ---- OAuth, DBFS, volumes ----------------------------------------------------------------------


def test_non_ascii_client_secret_is_refused_not_a_crash(local_databricks):
    url = f"{local_databricks.url}/oidc/v1/token"
    form = {"grant_type": "client_credentials", "scope": "all-apis"}
    for secret in ("sécret", "秘密", local_databricks.client_secret + "é"):
        posted = requests.post(
            url,
            data={**form, "client_id": local_databricks.client_id, "client_secret": secret},
            timeout=10,
        )
        assert posted.status_code == 401, posted.text
        assert posted.json()["error"] == "invalid_client"
        basic = base64.b64encode(f"{local_databricks.client_id}:{secret}".encode()).decode()
        headed = requests.post(
            url, data=form, headers={"Authorization": f"Basic {basic}"}, timeout=10
        )
        assert headed.status_code == 401, headed.text
        assert headed.json()["error"] == "invalid_client"


def test_dbfs_move_into_itself_or_of_the_root_is_refused(local_databricks):
    w = make_client(local_databricks)
    w.dbfs.mkdirs("/a")
    with pytest.raises(InvalidParameterValue, match="inside the source"):
        w.dbfs.move("/a", "/a/b")
    with pytest.raises(InvalidParameterValue, match="inside the source"):
        w.dbfs.move("/a", "/a/b/c")
    assert [f.path for f in w.dbfs.list("/a")] == []
    with pytest.raises(InvalidParameterValue, match="root"):
        w.dbfs.move("/", "/elsewhere")
    assert not w.dbfs.exists("/elsewhere")
    w.dbfs.move("/a", "/ab")  # a sibling whose name starts with the source's is fine
    assert w.dbfs.get_status("/ab").is_dir


def test_a_volume_is_not_a_file(local_databricks):
    w = make_client(local_databricks)
    status, _, body = raw(local_databricks, "PUT", "/api/2.0/fs/files/Volumes/c/s/v", b"data")
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", body
    assert "/Volumes/c/s/v" in body["message"]
    status, _, _ = raw(
        local_databricks, "POST", "/api/2.0/fs/files/Volumes/c/s/v?action=initiate-upload", b""
    )
    assert status == 400
    w.files.upload("/Volumes/c/s/v/f", io.BytesIO(b"1"))
    assert w.files.download("/Volumes/c/s/v/f").contents.read() == b"1"
    status, _, body = raw(local_databricks, "PUT", "/api/2.0/fs/files/Volumes/c/s/v/f/g", b"2")
    assert status == 409
    assert "/Volumes/c/s/v/f" in body["message"]
    assert str(local_databricks.storage.root) not in body["message"]


def test_multipart_parts_spooled_or_in_memory(local_databricks):
    import hashlib

    path = "/Volumes/main/s/v/parts2.bin"
    _, _, started = raw(
        local_databricks, "POST", f"/api/2.0/fs/files{path}?action=initiate-upload", b""
    )
    token = started["multipart_upload"]["session_token"]
    _, _, urls = raw(
        local_databricks,
        "POST",
        "/api/2.0/fs/create-upload-part-urls",
        {"path": path, "session_token": token, "start_part_number": 1, "count": 2},
    )
    parts = [bytes(range(256)) * 8192, b"tail"]  # 2 MiB (spooled to disk), 4 bytes (in memory)
    etags = []
    for url, data in zip(urls["upload_part_urls"], parts, strict=True):
        response = requests.put(url["url"], data=data, timeout=10)
        assert response.status_code == 200
        assert response.headers["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
        etags.append(response.headers["ETag"])
    status, _, _ = raw(
        local_databricks,
        "POST",
        f"/api/2.0/fs/files{path}?action=complete-upload&upload_type=multipart"
        f"&session_token={token}",
        {"parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, 1)]},
    )
    assert status == 200
    stored = local_databricks.storage.volumes.joinpath("main/s/v/parts2.bin").read_bytes()
    assert stored == b"".join(parts)
    assert not any(local_databricks.storage.root.joinpath("spool").iterdir())
