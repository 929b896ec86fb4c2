"""Prepare local Databricks for a project, as a team prepares a workspace: the Unity Catalog
volumes it writes to, an all-purpose cluster, its bundle's jobs (:mod:`.bundle`); and read what
a run called. A project says what it needs in its ``pyproject.toml``::

    [tool.local-databricks]
    volumes = ["/Volumes/main/sales/dagster_pipes"]   # created with catalog and schema
    require_volumes = true                            # writes need an existing volume
    warm_spark = true                                 # the tests' local Spark starts early

How the project's own code reaches the server (its auth variables, fast polling) is the
project runtime's business, not the emulator's (brickpipes.testing in the template's
projects). Stdlib only: setup runs before any SDK import.
"""

from __future__ import annotations

import collections
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .api import LocalDatabricks

# Keys of [tool.local-databricks] that moved to the project runtime's own table.
MOVED_KEYS = {"auth_method": "[tool.brickpipes]", "compute": "[tool.brickpipes]"}


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file (tomllib, or tomli on Python 3.10)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(Path(path).read_text())


@dataclass(frozen=True)
class ProjectSettings:
    """What a project needs of local Databricks: the ``[tool.local-databricks]`` table."""

    # Unity Catalog volumes the project's setup creates (with their catalogs and schemas) through
    # the REST API, as a team does on a workspace; require_volumes makes writes outside them fail
    # as on the service.
    volumes: tuple[str, ...] = ()
    require_volumes: bool = False
    # Start the tests' local Spark with the test session, in the background (in pytest-xdist's
    # controller, which is idle while workers test), so the first Spark test finds it warm.
    warm_spark: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "volumes", tuple(self.volumes))
        for volume in self.volumes:
            parts = volume.split("/") if isinstance(volume, str) else []
            if len(parts) != 5 or parts[:2] != ["", "Volumes"] or not all(parts[2:]):
                raise ValueError(
                    "[tool.local-databricks] volumes entries are /Volumes/<catalog>/<schema>/"
                    f'<volume>; got {volume!r} (for example "/Volumes/main/sales/dagster_pipes")'
                )
        for name in ("require_volumes", "warm_spark"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"[tool.local-databricks] {name} must be true or false; got "
                    f"{getattr(self, name)!r}"
                )

    @classmethod
    def from_pyproject(cls, path: str | Path) -> ProjectSettings:
        """Read ``[tool.local-databricks]`` of ``path`` (defaults where it is absent)."""
        table = load_toml(path).get("tool", {}).get("local-databricks", {})
        moved = [f"{key} (now in {MOVED_KEYS[key]})" for key in table if key in MOVED_KEYS]
        if moved:
            raise ValueError(f"{path}: [tool.local-databricks] no longer reads {', '.join(moved)}")
        known = {"volumes", "require_volumes", "warm_spark"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"{path}: unknown [tool.local-databricks] keys: {', '.join(unknown)}")
        return cls(**table)


def api_request(
    server: Any, method: str, path: str, body: dict | None = None, missing_ok: bool = False
) -> dict | None:
    """One REST call with ``server``'s token (anything with ``url`` and ``token``: a
    ``LocalDatabricks``, or another identity's connection); an existing resource
    (409 ..._ALREADY_EXISTS) is left as it is, and a 404 is None when ``missing_ok``."""
    request = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            return None
        answer = exc.read().decode(errors="replace")
        if exc.code == 409 and "ALREADY_EXISTS" in answer:
            return {}
        raise RuntimeError(f"{method} {path}: {exc.code} {answer}") from None


def api_call(server: LocalDatabricks, method: str, path: str, body: dict | None = None) -> dict:
    """One REST call with the workspace token (:func:`api_request`, a 404 raising)."""
    return api_request(server, method, path, body) or {}


def create_volumes(server: LocalDatabricks, volumes: tuple[str, ...] | list[str]) -> None:
    """Create each /Volumes/<c>/<s>/<v>, and its catalog and schema, through the Unity Catalog
    API (what exists already is left as it is)."""
    base = "/api/2.1/unity-catalog"
    for volume in volumes:
        catalog, schema, name = volume.split("/")[2:5]
        api_call(server, "POST", f"{base}/catalogs", {"name": catalog})
        api_call(server, "POST", f"{base}/schemas", {"name": schema, "catalog_name": catalog})
        api_call(
            server,
            "POST",
            f"{base}/volumes",
            {
                "catalog_name": catalog,
                "schema_name": schema,
                "name": name,
                "volume_type": "MANAGED",
            },
        )


def create_cluster(server: LocalDatabricks) -> str:
    """An all-purpose cluster created through clusters/create, as a team creates one; its id.

    It is RUNNING after the server's cluster start delay; a run on it waits until then.
    """
    versions = api_call(server, "GET", "/api/2.1/clusters/spark-versions")["versions"]
    node_types = api_call(server, "GET", "/api/2.1/clusters/list-node-types")["node_types"]
    body = {
        "cluster_name": "local-all-purpose",
        "spark_version": versions[0]["key"],
        "node_type_id": node_types[0]["node_type_id"],
        "num_workers": 0,
        "autotermination_minutes": 60,
    }
    return api_call(server, "POST", "/api/2.1/clusters/create", body)["cluster_id"]


def call_summary(server: LocalDatabricks) -> dict[str, int]:
    """Count the API calls by method and route (file paths folded)."""
    counts: collections.Counter[str] = collections.Counter()
    for call in server.calls():
        path = re.sub(r"^(/api/2\.\d/fs/(files|directories))/.*", r"\1/...", call["path"])
        counts[f"{call['method']} {path}"] += 1
    return dict(sorted(counts.items()))
