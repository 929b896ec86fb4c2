"""Files API (UC volumes), DBFS and workspace through the SDK."""

import base64
import io

import pytest
from databricks.sdk.errors import NotFound, ResourceAlreadyExists, ResourceDoesNotExist
from databricks.sdk.errors.platform import AlreadyExists, BadRequest, ResourceConflict
from databricks.sdk.service import files, workspace
from ld_helpers import assert_roundtrip, raw

VOL = "/Volumes/main/default/vol"


def test_files_api(local_databricks, w):
    w.files.create_directory(f"{VOL}/dir/sub")
    w.files.upload(f"{VOL}/dir/a b.txt", io.BytesIO(b"hello"), overwrite=True)
    with pytest.raises(AlreadyExists):
        w.files.upload(f"{VOL}/dir/a b.txt", io.BytesIO(b"again"), overwrite=False)
    download = w.files.download(f"{VOL}/dir/a b.txt")
    assert download.contents.read() == b"hello"
    assert download.content_length == 5
    assert download.last_modified
    meta = w.files.get_metadata(f"{VOL}/dir/a b.txt")
    assert meta.content_length == 5
    w.files.get_directory_metadata(f"{VOL}/dir")
    entries = {e.name: e for e in w.files.list_directory_contents(f"{VOL}/dir")}
    assert entries["a b.txt"].file_size == 5 and not entries["a b.txt"].is_directory
    assert entries["sub"].is_directory
    _, _, listing = raw(local_databricks, "GET", f"/api/2.0/fs/directories{VOL}/dir")
    assert_roundtrip(files.ListDirectoryResponse.from_dict(listing), listing)
    with pytest.raises(ResourceConflict):
        w.files.delete_directory(f"{VOL}/dir")
    w.files.delete(f"{VOL}/dir/a b.txt")
    with pytest.raises(NotFound):
        w.files.download(f"{VOL}/dir/a b.txt")
    with pytest.raises(NotFound):
        w.files.delete(f"{VOL}/dir/a b.txt")
    w.files.delete_directory(f"{VOL}/dir/sub")
    w.files.delete_directory(f"{VOL}/dir")
    with pytest.raises(NotFound):
        list(w.files.list_directory_contents(f"{VOL}/dir"))
    with pytest.raises(BadRequest):
        w.files.upload("/tmp/not-a-volume.txt", io.BytesIO(b"x"))
    # presigned URL endpoints are absent, so newer SDKs fall back to the plain Files API
    status, _, body = raw(local_databricks, "POST", "/api/2.0/fs/create-download-url", {})
    assert (status, body["error_code"]) == (404, "ENDPOINT_NOT_FOUND")


def test_files_api_pagination(local_databricks, w):
    for i in range(5):
        w.files.upload(f"{VOL}/many/{i}.txt", io.BytesIO(b"x"))
    _, _, first = raw(local_databricks, "GET", f"/api/2.0/fs/directories{VOL}/many?page_size=2")
    assert len(first["contents"]) == 2 and first["next_page_token"]
    names = [e.name for e in w.files.list_directory_contents(f"{VOL}/many", page_size=2)]
    assert names == [f"{i}.txt" for i in range(5)]


def test_dbfs(local_databricks, w):
    w.dbfs.mkdirs("/data/x")
    w.dbfs.put("/data/x/small.txt", contents=base64.b64encode(b"small").decode(), overwrite=True)
    with pytest.raises(ResourceAlreadyExists):
        w.dbfs.put("/data/x/small.txt", contents=base64.b64encode(b"again").decode())
    assert base64.b64decode(w.dbfs.read("/data/x/small.txt").data) == b"small"
    status = w.dbfs.get_status("dbfs:/data/x/small.txt")
    assert (status.path, status.is_dir, status.file_size) == ("/data/x/small.txt", False, 5)
    _, _, raw_status = raw(local_databricks, "GET", "/api/2.0/dbfs/get-status?path=/data/x")
    assert_roundtrip(files.FileInfo.from_dict(raw_status), raw_status)
    big = bytes(range(256)) * 8192  # 2 MiB: create + add-block x2 + close
    w.dbfs.upload("/data/big.bin", io.BytesIO(big), overwrite=True)
    with w.dbfs.download("/data/big.bin") as handle:
        assert handle.read() == big
    # default read length is 0.5 MB, the maximum 1 MB
    assert w.dbfs.read("/data/big.bin").bytes_read == 512 * 1024
    with pytest.raises(BadRequest, match="Cannot read more than"):
        w.dbfs.read("/data/big.bin", length=2 * 1024 * 1024)
    assert sorted(f.path for f in w.dbfs.list("/data")) == ["/data/big.bin", "/data/x"]
    w.dbfs.move("/data/big.bin", "/data/moved.bin")
    assert w.dbfs.exists("/data/moved.bin") and not w.dbfs.exists("/data/big.bin")
    with pytest.raises(ResourceDoesNotExist):
        w.dbfs.get_status("/data/nope")
    with pytest.raises(ResourceDoesNotExist):
        w.dbfs.read("/data/nope")
    with pytest.raises(BadRequest, match="not empty"):
        files.DbfsAPI(w.api_client).delete("/data/x")  # server-side check (DbfsExt checks too)
    w.dbfs.delete("/data", recursive=True)
    assert not w.dbfs.exists("/data")
    calls = [c["path"] for c in local_databricks.calls()]
    assert "/api/2.0/dbfs/add-block" in calls and "/api/2.0/dbfs/close" in calls
    assert all("Authorization" not in str(c) for c in local_databricks.calls())


def test_workspace(local_databricks, w):
    w.workspace.mkdirs("/Users/me/project")
    source = b"# Databricks notebook source\nprint('nb')\n"
    w.workspace.upload("/Users/me/project/nb.py", source)  # multipart, SOURCE by default
    w.workspace.import_(
        "/Workspace/Users/me/project/script.py",
        content=base64.b64encode(b"print('file')\n").decode(),
        format=workspace.ImportFormat.RAW,
    )
    notebook = w.workspace.get_status("/Users/me/project/nb.py")
    assert notebook.object_type == workspace.ObjectType.NOTEBOOK
    assert notebook.language == workspace.Language.PYTHON
    file_info = w.workspace.get_status("/Workspace/Users/me/project/script.py")
    assert file_info.object_type == workspace.ObjectType.FILE and file_info.size == 14
    _, _, raw_info = raw(
        local_databricks, "GET", "/api/2.0/workspace/get-status?path=/Users/me/project/nb.py"
    )
    assert_roundtrip(workspace.ObjectInfo.from_dict(raw_info), raw_info)
    exported = w.workspace.export("/Users/me/project/nb.py", format=workspace.ExportFormat.SOURCE)
    assert base64.b64decode(exported.content) == source
    assert w.workspace.download("/Users/me/project/script.py").read() == b"print('file')\n"
    names = sorted(o.path for o in w.workspace.list("/Users/me/project"))
    assert names == ["/Users/me/project/nb.py", "/Users/me/project/script.py"]
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload("/Users/me/project/nb.py", source)
    with pytest.raises(ResourceDoesNotExist):
        w.workspace.upload("/Users/nobody/dir/x.py", source)  # parent folder missing
    with pytest.raises(BadRequest):
        w.workspace.delete("/Users/me/project")
    w.workspace.delete("/Users/me/project", recursive=True)
    with pytest.raises(ResourceDoesNotExist):
        w.workspace.get_status("/Users/me/project")
