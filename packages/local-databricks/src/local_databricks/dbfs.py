"""DBFS (`/api/2.0/dbfs/*`): put, streaming handles (create, add-block, close), read, list,
mkdirs, delete, move. Handles keep their blocks in a file under <root>/uploads until close."""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ApiError, already_exists, does_not_exist, invalid
from .file_io import ensure_parent_dirs, exists_error, form_text, parse_multipart, write_atomic
from .paths import Storage
from .routing import Request, Router
from .util import b64decode, b64encode, to_bool, to_int

ONE_MB = 1024 * 1024
DEFAULT_READ = 512 * 1024
HANDLE_IDLE_SECONDS = 600


@dataclass
class _Handle:
    path: str
    local: Path
    overwrite: bool
    data: Path  # the blocks added so far, on disk until close
    last_used: float = field(default_factory=time.monotonic)


class DbfsService:
    """Serves the DBFS API against <root>/dbfs."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock = threading.Lock()
        self._handles: dict[int, _Handle] = {}
        self._next_handle = 1

    def reset(self) -> None:
        """Drop open handles (their files go with <root>/uploads)."""
        with self._lock:
            self._handles.clear()

    def register(self, router: Router) -> None:
        """Add the DBFS routes."""
        dbfs = r"/api/2\.0/dbfs/"
        router.add("POST", dbfs + "put", self.dbfs_put)
        router.add("POST", dbfs + "create", self.dbfs_create)
        router.add("POST", dbfs + "add-block", self.dbfs_add_block)
        router.add("POST", dbfs + "close", self.dbfs_close)
        router.add("GET", dbfs + "read", self.dbfs_read)
        router.add("GET", dbfs + "get-status", self.dbfs_get_status)
        router.add("GET", dbfs + "list", self.dbfs_list)
        router.add("POST", dbfs + "mkdirs", self.dbfs_mkdirs)
        router.add("POST", dbfs + "delete", self.dbfs_delete)
        router.add("POST", dbfs + "move", self.dbfs_move)

    def _dbfs_write(self, path: str, data: bytes, overwrite: bool) -> None:
        canonical, local = self.storage.dbfs_local(path)
        if local.exists() and (local.is_dir() or not overwrite):
            raise exists_error(canonical)
        ensure_parent_dirs(local, self.storage.dbfs, canonical)
        write_atomic(local, data)

    def dbfs_put(self, req: Request) -> dict:
        """POST dbfs/put: JSON with base64 `contents`, or multipart with a `contents` file part."""
        ctype = req.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            fields = parse_multipart(ctype, req.body)
            path = form_text(fields, "path")
            data = fields.get("contents", b"")
            overwrite = to_bool(form_text(fields, "overwrite") or "false", "overwrite")
        else:
            body = req.json()
            path = body.get("path")
            data = b64decode(body.get("contents"), "contents")
            overwrite = req.bool_param("overwrite")
        if len(data) > ONE_MB:
            raise ApiError(
                400,
                "MAX_BLOCK_SIZE_EXCEEDED",
                f"The contents exceed the maximum of {ONE_MB} bytes; use create/add-block/close.",
            )
        self._dbfs_write(path, data, overwrite)
        return {}

    def dbfs_create(self, req: Request) -> dict:
        """POST dbfs/create: open a streaming upload handle."""
        body = req.json()
        canonical, local = self.storage.dbfs_local(body.get("path"))
        overwrite = to_bool(body.get("overwrite", False))
        if local.exists() and (local.is_dir() or not overwrite):
            raise exists_error(canonical)
        with self._lock:
            self._expire_handles()
            handle = self._next_handle
            self._next_handle += 1
            data = self.storage.root / "uploads" / f"dbfs-handle-{handle}"
            data.parent.mkdir(parents=True, exist_ok=True)
            data.write_bytes(b"")
            self._handles[handle] = _Handle(canonical, local, overwrite, data)
        return {"handle": handle}

    def _expire_handles(self) -> None:
        deadline = time.monotonic() - HANDLE_IDLE_SECONDS
        for key in [k for k, h in self._handles.items() if h.last_used < deadline]:
            self._handles.pop(key).data.unlink(missing_ok=True)

    def _handle(self, value) -> _Handle:
        handle_id = to_int(value, "handle")
        with self._lock:
            self._expire_handles()
            handle = self._handles.get(handle_id) if handle_id is not None else None
            if handle is None:
                raise does_not_exist(f"Handle {value} does not exist.", status=400)
            handle.last_used = time.monotonic()
            return handle

    def dbfs_add_block(self, req: Request) -> dict:
        """POST dbfs/add-block: append base64 `data` (at most 1 MB) to a handle."""
        body = req.json()
        handle = self._handle(body.get("handle"))
        data = b64decode(body.get("data"), "data")
        if len(data) > ONE_MB:
            raise ApiError(
                400, "MAX_BLOCK_SIZE_EXCEEDED", f"The block exceeds the maximum of {ONE_MB} bytes."
            )
        with self._lock, handle.data.open("ab") as out:
            out.write(data)
        return {}

    def dbfs_close(self, req: Request) -> dict:
        """POST dbfs/close: commit a handle's data to its path."""
        body = req.json()
        handle = self._handle(body.get("handle"))
        with self._lock:
            self._handles.pop(to_int(body.get("handle"), "handle"), None)
        try:
            canonical, local = self.storage.dbfs_local(handle.path)
            if local.is_dir():
                raise exists_error(canonical)
            ensure_parent_dirs(local, self.storage.dbfs, canonical)
            os.replace(handle.data, local)
        finally:
            handle.data.unlink(missing_ok=True)
        return {}

    def _dbfs_existing(self, path) -> tuple[str, Path]:
        canonical, local = self.storage.dbfs_local(path)
        if not local.exists():
            raise does_not_exist(f"No file or directory exists on path {canonical}.")
        return canonical, local

    def dbfs_read(self, req: Request) -> dict:
        """GET dbfs/read: base64 slice; default length 0.5 MB, maximum 1 MB."""
        offset = req.int_param("offset", 0)
        length = req.int_param("length", DEFAULT_READ)
        canonical, local = self._dbfs_existing(req.query.get("path"))
        if offset < 0 or length < 0:
            raise invalid("Offset and length must be non-negative.")
        if length > ONE_MB:
            raise ApiError(
                400,
                "MAX_READ_SIZE_EXCEEDED",
                f"Cannot read more than {ONE_MB} bytes at once (requested {length}).",
            )
        if local.is_dir():
            raise invalid(f"Cannot read a directory: {canonical}")
        with local.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        result: dict = {"bytes_read": len(data)}
        if data:
            result["data"] = b64encode(data)
        return result

    def _file_info(self, canonical: str, local: Path) -> dict:
        stat = local.stat()
        is_dir = local.is_dir()
        return {
            "path": canonical,
            "is_dir": is_dir,
            "file_size": 0 if is_dir else stat.st_size,
            "modification_time": stat.st_mtime_ns // 1_000_000,
        }

    def dbfs_get_status(self, req: Request) -> dict:
        """GET dbfs/get-status: FileInfo of a path."""
        canonical, local = self._dbfs_existing(req.query.get("path"))
        return self._file_info(canonical, local)

    def dbfs_list(self, req: Request) -> dict:
        """GET dbfs/list: FileInfo of each child (a file lists itself)."""
        canonical, local = self._dbfs_existing(req.query.get("path"))
        if not local.is_dir():
            return {"files": [self._file_info(canonical, local)]}
        base = canonical.rstrip("/")
        files = []
        for child in sorted(local.iterdir()):
            if child.name.startswith(".ld-tmp-"):
                continue
            files.append(self._file_info(f"{base}/{child.name}", child))
        return {"files": files} if files else {}

    def dbfs_mkdirs(self, req: Request) -> dict:
        """POST dbfs/mkdirs: mkdir -p."""
        canonical, local = self.storage.dbfs_local(req.json().get("path"))
        probe = local
        while probe != self.storage.dbfs and probe != probe.parent:
            if probe.exists() and not probe.is_dir():
                raise already_exists(
                    f"A file or directory already exists at the input path {canonical}."
                )
            probe = probe.parent
        local.mkdir(parents=True, exist_ok=True)
        return {}

    def dbfs_delete(self, req: Request) -> dict:
        """POST dbfs/delete: remove a file or (recursively) a directory; missing is fine."""
        body = req.json()
        canonical, local = self.storage.dbfs_local(body.get("path"))
        recursive = to_bool(body.get("recursive", False))
        if not local.exists():
            return {}
        if local.is_dir():
            if local == self.storage.dbfs:
                raise invalid("Cannot delete the DBFS root.")
            if any(local.iterdir()):
                if not recursive:
                    raise ApiError(
                        400,
                        "IO_ERROR",
                        f"Directory {canonical} is not empty; use recursive=true to delete it.",
                    )
                shutil.rmtree(local, ignore_errors=True)
            else:
                local.rmdir()
        else:
            local.unlink()
        return {}

    def dbfs_move(self, req: Request) -> dict:
        """POST dbfs/move: rename a file or directory."""
        body = req.json()
        source_canonical, source = self._dbfs_existing(body.get("source_path"))
        target_canonical, target = self.storage.dbfs_local(body.get("destination_path"))
        if source == self.storage.dbfs:
            raise invalid("Cannot move the DBFS root.")
        if source in target.parents:
            raise invalid(
                f"Cannot move {source_canonical} to {target_canonical}: the destination is "
                "inside the source."
            )
        if target.exists():
            raise already_exists(
                f"A file or directory already exists at the input path {target_canonical}."
            )
        ensure_parent_dirs(target, self.storage.dbfs, target_canonical)
        os.replace(source, target)
        return {}
