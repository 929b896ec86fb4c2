"""Workspace configuration (`GET|PATCH /api/2.0/workspace-conf`): the admin settings as strings.

Only the keys below exist; a boolean setting takes "true" or "false". Nothing in the emulator
acts on them: they are stored and read back, as a client that toggles them expects.
"""

from __future__ import annotations

import threading

from .errors import invalid
from .routing import Request, Router

# key -> default ("" for a setting with no value, answered as null)
DEFAULTS = {
    "enableTokensConfig": "true",
    "maxTokenLifetimeDays": "",
    "enableIpAccessLists": "false",
    "enableDeprecatedGlobalInitScripts": "false",
    "enableResultsDownloading": "true",
    "enableExportNotebook": "true",
    "enableNotebookTableClipboard": "true",
    "enableUploadDataUis": "true",
    "enableWebTerminal": "false",
    "enableDbfsFileBrowser": "false",
    "enableJobViewAcls": "false",
    "enforceUserIsolation": "false",
    "enableVerboseAuditLogs": "false",
    "enableWorkspaceFilesystem": "true",
    "enableProjectTypeInWorkspace": "true",
    "storeInteractiveNotebookResultsInCustomerAccount": "false",
    "mlflowRunArtifactDownloadEnabled": "true",
}
NUMERIC = ("maxTokenLifetimeDays",)


class WorkspaceConfService:
    """The workspace's configuration keys (model and handlers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict(DEFAULTS)

    def reset(self) -> None:
        """Back to the defaults."""
        with self._lock:
            self._values = dict(DEFAULTS)

    def register(self, router: Router) -> None:
        """Add the workspace-conf routes."""
        router.add("GET", r"/api/2\.0/workspace-conf", self.get_status)
        router.add("PATCH", r"/api/2\.0/workspace-conf", self.set_status)

    def get_status(self, req: Request) -> dict:
        """GET workspace-conf?keys=a,b -> {a: "...", b: null}."""
        keys = [k.strip() for k in (req.query.get("keys") or "").split(",") if k.strip()]
        if not keys:
            raise invalid("Missing required field: keys")
        _check_keys(keys)
        with self._lock:
            return {k: (self._values[k] or None) for k in keys}

    def set_status(self, req: Request) -> dict:
        """PATCH workspace-conf {key: "value", ...}."""
        body = req.json()
        _check_keys(list(body))
        for key, value in body.items():
            if not isinstance(value, str):
                raise invalid(f"Invalid value for field '{key}': expected a string, got {value!r}.")
            if key in NUMERIC:
                if value and not (value.isdigit() and int(value) > 0):
                    raise invalid(f"Invalid value for {key}: {value!r} is not a positive integer.")
            elif value not in ("true", "false"):
                raise invalid(f'Invalid value for {key}: {value!r}; use "true" or "false".')
        with self._lock:
            self._values.update(body)
        return {}


def _check_keys(keys: list[str]) -> None:
    unknown = [k for k in keys if k not in DEFAULTS]
    if unknown:
        raise invalid(f"Invalid keys: {', '.join(repr(k) for k in unknown)}.")
