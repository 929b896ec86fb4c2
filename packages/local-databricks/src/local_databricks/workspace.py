"""Workspace API: import/export/get-status/list/mkdirs/delete of notebooks, files and folders."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from .auth import PAT_USER
from .errors import ApiError, already_exists, does_not_exist, invalid
from .file_io import form_text, parse_multipart, write_atomic
from .paths import Storage
from .routing import Request, Response, Router
from .util import b64decode, b64encode, now_ms, to_bool

NOTEBOOK_HEADERS = {
    "PYTHON": "# Databricks notebook source",
    "SQL": "-- Databricks notebook source",
    "SCALA": "// Databricks notebook source",
    "R": "# Databricks notebook source",
}
EXTENSIONS = {".py": "PYTHON", ".sql": "SQL", ".scala": "SCALA", ".r": "R"}
FILE_TYPES = {"PYTHON": "py", "SQL": "sql", "SCALA": "scala", "R": "r"}


class WorkspaceService:
    """Keeps object metadata (type, language, id) in memory; content lives under root/workspace."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock = threading.Lock()
        self._meta: dict[str, dict] = {}
        self._next_id = 1000000000000000

    def reset(self, users: list[str]) -> None:
        """Forget metadata and create the home folders of `users` plus /Shared."""
        with self._lock:
            self._meta.clear()
        for folder in ["/Shared", *[f"/Users/{user}" for user in users or [PAT_USER]]]:
            self.storage.workspace_local(folder)[1].mkdir(parents=True, exist_ok=True)

    def register(self, router: Router) -> None:
        """Add the workspace routes."""
        base = r"/api/2\.0/workspace/"
        router.add("POST", base + "import", self.import_)
        router.add("GET", base + "get-status", self.get_status)
        router.add("GET", base + "export", self.export)
        router.add("GET", base + "list", self.list)
        router.add("POST", base + "mkdirs", self.mkdirs)
        router.add("POST", base + "delete", self.delete)

    def object_id(self, canonical: str) -> int:
        """The object id of a path (given on first use, kept until the object is deleted)."""
        with self._lock:
            meta = self._meta.setdefault(canonical, {})
            if "object_id" not in meta:
                meta["object_id"] = self._next_id
                self._next_id += 1
            return meta["object_id"]

    def find(self, object_id: int) -> tuple[str, Path, dict] | None:
        """(path, local path, metadata copy) of an existing object by its object id, or None."""
        with self._lock:
            found = [(k, dict(m)) for k, m in self._meta.items() if m.get("object_id") == object_id]
        for canonical, meta in found:
            local = self.storage.workspace_local(canonical)[1]
            if local.exists():
                return canonical, local, meta
        return None

    def is_notebook(self, canonical: str) -> bool:
        """True when the object at `canonical` was imported as a notebook."""
        with self._lock:
            return self._meta.get(canonical, {}).get("object_type") == "NOTEBOOK"

    def info(self, canonical: str, local: Path) -> dict:
        """ObjectInfo for an existing path."""
        object_id = self.object_id(canonical)
        with self._lock:
            meta = dict(self._meta.get(canonical, {}))
        stat = local.stat()
        result: dict = {
            "path": canonical,
            "object_id": object_id,
            "resource_id": str(object_id),
            "modified_at": stat.st_mtime_ns // 1_000_000,
            "created_at": meta.get("created_at", stat.st_mtime_ns // 1_000_000),
        }
        if local.is_dir():
            result["object_type"] = "REPO" if meta.get("object_type") == "REPO" else "DIRECTORY"
        elif meta.get("object_type") == "NOTEBOOK":
            result["object_type"] = "NOTEBOOK"
            result["language"] = meta.get("language", "PYTHON")
        else:
            result["object_type"] = "FILE"
            result["size"] = stat.st_size
        return result

    def _existing(self, path) -> tuple[str, Path]:
        canonical, local = self.storage.workspace_local(path)
        if not local.exists():
            raise does_not_exist(f"Path ({canonical}) doesn't exist.")
        return canonical, local

    def import_(self, req: Request) -> dict:
        """POST workspace/import: JSON with base64 content, or multipart as WorkspaceExt.upload."""
        ctype = req.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            fields = parse_multipart(ctype, req.body)
            path = form_text(fields, "path")
            content = fields.get("content", b"")
            fmt = form_text(fields, "format") or "SOURCE"
            language = form_text(fields, "language") or None
            overwrite = to_bool(form_text(fields, "overwrite") or "false", "overwrite")
        else:
            path = req.str_param("path")
            content = b64decode(req.str_param("content"), "content")
            fmt = req.str_param("format") or "SOURCE"
            language = req.str_param("language")
            overwrite = req.bool_param("overwrite")
        self.write(path, content, fmt, language, overwrite)
        return {}

    def write(self, path: str, content: bytes, fmt: str, language, overwrite: bool) -> str:
        """Import one object; return its canonical path."""
        canonical, _ = self.storage.workspace_local(path)
        suffix = Path(canonical).suffix.lower()
        object_type = "FILE"
        if fmt == "AUTO":
            header = content.lstrip()[:64]
            if any(header.startswith(h.encode()) for h in NOTEBOOK_HEADERS.values()) and (
                suffix in EXTENSIONS
            ):
                object_type = "NOTEBOOK"
                language = language or EXTENSIONS[suffix]
                canonical = canonical[: -len(suffix)]
        elif fmt in ("SOURCE", "JUPYTER"):
            object_type = "NOTEBOOK"
            default = "PYTHON" if fmt == "JUPYTER" else None
            language = language or EXTENSIONS.get(suffix) or default
            if not language:
                raise invalid(
                    "The language field is required when importing a SOURCE notebook "
                    "(or use format AUTO/RAW)."
                )
        elif fmt != "RAW":
            raise invalid(f"Import format {fmt} is not supported by local-databricks.")
        canonical, local = self.storage.workspace_local(canonical)
        if not local.parent.is_dir():
            raise does_not_exist(
                f"The parent folder ({Path(canonical).parent.as_posix()}) does not exist.", 404
            )
        if local.exists() and (local.is_dir() or not overwrite):
            raise already_exists(f"Path ({canonical}) already exists.")
        write_atomic(local, content)
        with self._lock:
            meta = self._meta.setdefault(canonical, {})
            meta["object_type"] = object_type
            meta["created_at"] = meta.get("created_at", now_ms())
            if object_type == "NOTEBOOK":
                meta["language"] = language
        return canonical

    def get_status(self, req: Request) -> dict:
        """GET workspace/get-status."""
        canonical, local = self._existing(req.query.get("path"))
        return self.info(canonical, local)

    def export(self, req: Request) -> Response | dict:
        """GET workspace/export: base64 JSON, or raw bytes with direct_download=true."""
        canonical, local = self._existing(req.query.get("path"))
        if local.is_dir():
            raise invalid(f"Exporting folder {canonical} needs format DBC, which is not supported.")
        fmt = req.query.get("format") or "SOURCE"
        if fmt not in ("SOURCE", "AUTO", "RAW", "JUPYTER"):
            raise invalid(f"Export format {fmt} is not supported by local-databricks.")
        data = local.read_bytes()
        info = self.info(canonical, local)
        file_type = Path(canonical).suffix.lstrip(".")
        if info["object_type"] == "NOTEBOOK":
            language = info.get("language", "PYTHON")
            file_type = FILE_TYPES.get(language, "py")
            header = NOTEBOOK_HEADERS.get(language, NOTEBOOK_HEADERS["PYTHON"]).encode()
            if fmt == "SOURCE" and not data.lstrip().startswith(header):
                data = header + b"\n" + data
        if to_bool(req.query.get("direct_download", "false")):
            return Response(200, data, {}, "application/octet-stream")
        result = {"content": b64encode(data)}
        if file_type:
            result["file_type"] = file_type
        return result

    def list(self, req: Request) -> dict:
        """GET workspace/list: the children of a folder (an object lists itself)."""
        canonical, local = self._existing(req.query.get("path"))
        if not local.is_dir():
            return {"objects": [self.info(canonical, local)]}
        base = canonical.rstrip("/")
        objects = [
            self.info(f"{base}/{child.name}", child)
            for child in sorted(local.iterdir())
            if not child.name.startswith(".ld-tmp-")
        ]
        return {"objects": objects} if objects else {}

    def mkdirs(self, req: Request) -> dict:
        """POST workspace/mkdirs: mkdir -p."""
        canonical, local = self.storage.workspace_local(req.json().get("path"))
        probe = local
        while probe != self.storage.workspace and probe != probe.parent:
            if probe.exists() and not probe.is_dir():
                raise already_exists(
                    f"Cannot create directory {canonical}: a non-directory object exists at "
                    f"{'/' + probe.relative_to(self.storage.workspace).as_posix()}."
                )
            probe = probe.parent
        made, probe = [], Path(canonical)
        while not self.storage.workspace_local(probe.as_posix())[1].exists():
            made.append(probe.as_posix())
            probe = probe.parent
        local.mkdir(parents=True, exist_ok=True)
        with self._lock:  # who made a folder is its first CAN_MANAGE (permissions API)
            for folder in made:
                self._meta.setdefault(folder, {}).setdefault("created_by", req.user)
        return {}

    def delete(self, req: Request) -> dict:
        """POST workspace/delete: remove an object; folders need recursive=true unless empty."""
        body = req.json()
        canonical, local = self._existing(body.get("path"))
        if local.is_dir():
            if local == self.storage.workspace:
                raise invalid("Cannot delete the workspace root.")
            if any(local.iterdir()) and not req.bool_param("recursive"):
                raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({canonical}) is not empty.")
        self.remove(canonical, local)
        return {}

    def add_repo(self, canonical: str, local: Path) -> int:
        """Create the folder of a Git folder (repo) and mark it `REPO`; return its object id."""
        local.mkdir()
        with self._lock:
            meta = self._meta.setdefault(canonical, {})
            meta["object_type"] = "REPO"
            meta["created_at"] = meta.get("created_at", now_ms())
        return self.object_id(canonical)

    def remove(self, canonical: str, local: Path) -> None:
        """Remove an object (a folder with everything in it) and the metadata below it."""
        if local.is_dir():
            shutil.rmtree(local)
        else:
            local.unlink()
        with self._lock:
            prefix = canonical.rstrip("/") + "/"
            for key in [k for k in self._meta if k == canonical or k.startswith(prefix)]:
                del self._meta[key]
