"""Files API multipart uploads, as the SDK's FilesExt client sends them (5 MB and more)."""

from __future__ import annotations

import io
import os

import pytest
from databricks.sdk.errors import NotFound
from ld_helpers import make_client, raw

from local_databricks import LocalDatabricks

MB = 1024 * 1024


def _ext_client(server):
    # databricks-sdk 0.60 uses FilesExt (multipart uploads from 5 MB) only with this flag
    # (env DATABRICKS_ENABLE_EXPERIMENTAL_FILES_API_CLIENT); newer releases use it always, and
    # go multipart from files_ext_multipart_upload_min_stream_size (50 MB in 0.167): these tests
    # send 5 MB and more, as the oldest supported SDK does.
    client = make_client(server, enable_experimental_files_api_client=True)
    files_config = getattr(client.files, "_config", None)  # FilesExt's own copy of the config
    if hasattr(files_config, "files_ext_multipart_upload_min_stream_size"):
        files_config.files_ext_multipart_upload_min_stream_size = 5 * MB  # type: ignore[union-attr]
    return client


@pytest.mark.parametrize("size", [5 * MB, 12 * MB + 3])
def test_multipart_upload_through_the_sdk(local_databricks, size):
    w = _ext_client(local_databricks)
    assert type(w.files).__name__ == "FilesExt"
    data = os.urandom(size)
    w.files.upload("/Volumes/main/x/v/big.bin", io.BytesIO(data), overwrite=True)
    assert w.files.download("/Volumes/main/x/v/big.bin").contents.read() == data
    calls = [(c["method"], c["path"], c["query"].get("action")) for c in local_databricks.calls()]
    assert ("POST", "/api/2.0/fs/files/Volumes/main/x/v/big.bin", "initiate-upload") in calls
    assert ("POST", "/api/2.0/fs/files/Volumes/main/x/v/big.bin", "complete-upload") in calls
    parts = [c for c in calls if c[1].startswith("/api/2.0/fs/upload-parts/")]
    assert len(parts) == -(-size // (10 * MB))
    assert not any(
        p.name.startswith(".ld-tmp-")
        for p in (local_databricks.root / "Volumes/main/x/v").iterdir()
    )
    assert list((local_databricks.root / "uploads").iterdir()) == []
    # signatures and session tokens are not in the call log
    for call in local_databricks.calls():
        assert call["query"].get("signature") in (None, "[REDACTED]")
        assert call["query"].get("session_token") in (None, "[REDACTED]")


def test_multipart_overwrite_and_required_volume(tmp_path):
    with LocalDatabricks(
        root=tmp_path / "r", require_volumes=True, volumes=["/Volumes/m/s/v"]
    ) as ld:
        w = _ext_client(ld)
        w.files.upload("/Volumes/m/s/v/f.bin", io.BytesIO(b"a" * 5 * MB))
        with pytest.raises(Exception, match="already exists"):
            w.files.upload("/Volumes/m/s/v/f.bin", io.BytesIO(b"b" * 5 * MB), overwrite=False)
        with pytest.raises(NotFound, match="does not exist"):
            w.files.upload("/Volumes/m/s/nope/f.bin", io.BytesIO(b"c" * 5 * MB))


def test_part_urls_need_their_signature_and_abort(local_databricks):
    status, _, body = raw(
        local_databricks, "POST", "/api/2.0/fs/files/Volumes/a/b/c/f?action=initiate-upload", b""
    )
    assert status == 200
    token = body["multipart_upload"]["session_token"]
    _, _, urls = raw(
        local_databricks,
        "POST",
        "/api/2.0/fs/create-upload-part-urls",
        {"path": "/Volumes/a/b/c/f", "session_token": token, "start_part_number": 1, "count": 2},
    )
    url = urls["upload_part_urls"][0]["url"]
    path = url[len(local_databricks.url) :]
    forged = path.split("?")[0] + "?signature=" + "0" * 64
    assert raw(local_databricks, "PUT", forged, b"x", token=None)[0] == 403
    status, headers, _ = raw(local_databricks, "PUT", path, b"part-one", token=None)
    assert status == 200 and headers["ETag"]
    # a part that was not uploaded cannot be completed
    status, _, body = raw(
        local_databricks,
        "POST",
        f"/api/2.0/fs/files/Volumes/a/b/c/f?action=complete-upload&upload_type=multipart&session_token={token}",
        {"parts": [{"part_number": 1, "etag": headers["ETag"]}, {"part_number": 2, "etag": "x"}]},
    )
    assert status == 400 and "Part 2" in body["message"]
    _, _, abort = raw(
        local_databricks,
        "POST",
        "/api/2.0/fs/create-abort-upload-url",
        {"path": "/Volumes/a/b/c/f", "session_token": token},
    )
    abort_path = abort["abort_upload_url"]["url"][len(local_databricks.url) :]
    assert raw(local_databricks, "DELETE", abort_path, token=None)[0] == 200
    status, _, _ = raw(
        local_databricks,
        "POST",
        f"/api/2.0/fs/files/Volumes/a/b/c/f?action=complete-upload&session_token={token}",
        {"parts": [{"part_number": 1, "etag": headers["ETag"]}]},
    )
    assert status == 404
    assert not (local_databricks.root / "Volumes/a/b/c/f").exists()
