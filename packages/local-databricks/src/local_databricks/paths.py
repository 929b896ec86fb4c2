"""Where emulated storage lives under the server root, and how remote paths map onto it."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from .errors import invalid

_VOLUME_RE = re.compile(r"^/Volumes/[^/]+/[^/]+/[^/]+(/.*)?$")


class Storage:
    """The directory layout under `root`: dbfs/, Volumes/, workspace/, runs/, spark-warehouse/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dbfs = root / "dbfs"
        self.volumes = root / "Volumes"
        self.workspace = root / "workspace"
        self.runs = root / "runs"
        self.spark = root / "spark"
        self.shim = root / "shim"

    def create(self) -> None:
        """Create the top-level directories."""
        for directory in (self.dbfs, self.volumes, self.workspace, self.runs, self.spark):
            directory.mkdir(parents=True, exist_ok=True)

    def dbfs_local(self, path: str) -> tuple[str, Path]:
        """Map a DBFS path (`/x` or `dbfs:/x`) to (canonical `/x`, local path)."""
        if not isinstance(path, str) or not path:
            raise invalid("Path must be a non-empty string.")
        raw = path[5:] if path.startswith("dbfs:") else path
        if not raw.startswith("/"):
            raise invalid(f"Path must be absolute: {path}")
        canonical = _normalize(raw, path)
        return canonical, self.dbfs / canonical.lstrip("/")

    def volume_local(self, path: str) -> tuple[str, Path]:
        """Map a `/Volumes/<catalog>/<schema>/<volume>/...` path to (canonical, local path)."""
        if not isinstance(path, str) or not path:
            raise invalid("Path must be a non-empty string.")
        canonical = _normalize(path, path) if path.startswith("/") else path
        if not _VOLUME_RE.match(canonical):
            raise invalid(
                f"Invalid path {path!r}: the Files API only accepts paths of the form "
                "/Volumes/<catalog>/<schema>/<volume>/<path>."
            )
        return canonical, self.volumes / canonical[len("/Volumes/") :]

    def workspace_local(self, path: str) -> tuple[str, Path]:
        """Map a workspace path (`/Users/...` or `/Workspace/Users/...`) to (canonical, local)."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise invalid(f"Path ({path}) doesn't start with '/'")
        canonical = _normalize(path, path)
        if canonical == "/Workspace" or canonical.startswith("/Workspace/"):
            canonical = canonical[len("/Workspace") :] or "/"
        return canonical, self.workspace / canonical.lstrip("/")

    def task_file(self, path: str) -> Path:
        """Resolve a task's python_file/notebook_path to a local file (see README for schemes)."""
        if path.startswith("dbfs:"):
            return self.dbfs_local(path)[1]
        if path.startswith("file:"):
            # file:/abs/path or file:///abs/path: a local file outside the emulated storage.
            local = path[5:]
            if local.startswith("//"):
                local = local[2:]
            return Path(local)
        if path.startswith("/Volumes/"):
            return self.volume_local(path)[1]
        if path.startswith("/dbfs/"):
            return self.dbfs_local(path[5:])[1]
        if path.startswith("/"):
            return self.workspace_local(path)[1]
        raise invalid(
            f"Relative path {path!r} is not supported: local-databricks has no git_source; "
            "use a /Workspace, /Volumes, dbfs:/ or file:/ path."
        )


def _normalize(path: str, original: str) -> str:
    if any(ord(ch) < 0x20 for ch in path):
        raise invalid(f"Invalid path {original!r}: it contains a NUL byte or a control character.")
    normalized = posixpath.normpath(path)
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    if ".." in normalized.split("/"):
        raise invalid(f"Invalid path: {original}")
    return normalized
