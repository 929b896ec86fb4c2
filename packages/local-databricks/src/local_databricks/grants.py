"""Unity Catalog grants: `permissions` and `effective-permissions` of catalogs, schemas, volumes
and tables (`/api/2.1/unity-catalog/...`).

Grants are recorded, not enforced: data access never checks them. They belong to their
securable: renaming it (or a parent) carries them along, dropping it drops them. Privileges
inherit downward (catalog -> schema -> volume/table), as effective-permissions reports them.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable

from .errors import ApiError, invalid
from .routing import Request, Router, check_dict, check_list, check_str, check_str_list
from .unity_catalog import UnityCatalogService

# The securable types of this emulation, and the privileges each accepts.
_COMMON = {"ALL_PRIVILEGES", "APPLY_TAG", "MANAGE"}
_CONTAINER = _COMMON | {
    "CREATE_FUNCTION", "CREATE_MATERIALIZED_VIEW", "CREATE_MODEL", "CREATE_TABLE",
    "CREATE_VOLUME", "EXECUTE", "EXTERNAL_USE_SCHEMA", "MODIFY", "READ_VOLUME", "REFRESH",
    "SELECT", "USE_SCHEMA", "WRITE_VOLUME",
}  # fmt: skip
APPLICABLE: dict[str, set[str]] = {
    "CATALOG": _CONTAINER | {"BROWSE", "CREATE_SCHEMA", "USE_CATALOG"},
    "SCHEMA": _CONTAINER,
    "VOLUME": _COMMON | {"READ_VOLUME", "WRITE_VOLUME"},
    "TABLE": _COMMON | {"MODIFY", "SELECT", "REFRESH"},
}
# Every privilege name of the service (databricks-sdk's catalog.Privilege).
PRIVILEGES = set().union(*APPLICABLE.values()) | {
    "ACCESS", "CREATE", "CREATE_CATALOG", "CREATE_CLEAN_ROOM", "CREATE_CONNECTION",
    "CREATE_EXTERNAL_LOCATION", "CREATE_EXTERNAL_TABLE", "CREATE_EXTERNAL_VOLUME",
    "CREATE_FEATURE", "CREATE_FOREIGN_CATALOG", "CREATE_FOREIGN_SECURABLE",
    "CREATE_MANAGED_STORAGE", "CREATE_PROVIDER", "CREATE_RECIPIENT", "CREATE_SERVICE_CREDENTIAL",
    "CREATE_SHARE", "CREATE_STORAGE_CREDENTIAL", "CREATE_VIEW", "EXECUTE_CLEAN_ROOM_TASK",
    "EXTERNAL_USE_LOCATION", "MANAGE_ALLOWLIST", "MODIFY_CLEAN_ROOM", "READ_FEATURE",
    "READ_FILES", "READ_METADATA", "READ_PRIVATE_FILES", "SET_SHARE_PERMISSION", "USAGE",
    "USE_CONNECTION", "USE_MARKETPLACE_ASSETS", "USE_PROVIDER", "USE_RECIPIENT", "USE_SHARE",
    "WRITE_FILES", "WRITE_PRIVATE_FILES",
}  # fmt: skip
# Securable types the service has and this emulation does not.
OTHER_TYPES = {
    "AGENT_SERVICE", "CLEAN_ROOM", "CONNECTION", "CREDENTIAL", "EXTERNAL_LOCATION",
    "EXTERNAL_METADATA", "FEATURE", "FUNCTION", "MCP_SERVICE", "METASTORE", "MODEL",
    "MODEL_PROVIDER_SERVICE", "MODEL_SERVICE", "PIPELINE", "PROVIDER", "RECIPIENT", "SHARE",
    "SKILL", "STAGING_TABLE", "STORAGE_CREDENTIAL",
}  # fmt: skip
PARTS = {"CATALOG": 1, "SCHEMA": 2, "VOLUME": 3, "TABLE": 3}
# With max_results=0 or >= 150 the answer is paged, MIN_PAGE to PAGE_SIZE assignments a page.
MIN_PAGE = 150
PAGE_SIZE = 1000


def securable_type(raw: str) -> str:
    """The upper-case securable type of a path segment; 400 naming an unknown or other one."""
    kind = raw.upper()
    if kind in PARTS:
        return kind
    if kind in OTHER_TYPES:
        raise invalid(f"Securable type {raw} is not supported by local-databricks.")
    raise invalid(f"Invalid securable type '{raw}'.")


def privilege(raw: object, field: str, kind: str, full_name: str) -> str:
    """A privilege name (`USE CATALOG` or `USE_CATALOG`) checked against the securable type."""
    name = check_str(raw, field, required=True) or ""
    canonical = name.strip().upper().replace(" ", "_")
    if canonical not in PRIVILEGES:
        raise invalid(f"Invalid privilege '{name}' in {field}.")
    if canonical not in APPLICABLE[kind]:
        raise invalid(
            f"Privilege {canonical} is not applicable to this entity "
            f"[{kind.lower()} {full_name}] ({field})."
        )
    return canonical


class GrantService:
    """Direct grants per securable, and the tables grants can name (state and handlers)."""

    def __init__(self, catalog: UnityCatalogService, principals: Callable[[], set[str]]) -> None:
        self.catalog = catalog
        self.principals = principals
        self._lock = threading.Lock()
        self._grants: dict[tuple[str, str], dict[str, set[str]]] = {}
        self.tables: set[str] = set()
        catalog.listeners.append(self._moved)

    def reset(self) -> None:
        """Forget every grant and table."""
        with self._lock:
            self._grants.clear()
            self.tables.clear()

    def register(self, router: Router) -> None:
        """Add the grants routes."""
        base = r"/api/2\.1/unity-catalog/"
        router.add("GET", base + r"permissions/([^/]+)/([^/]+)", self.get)
        router.add("PATCH", base + r"permissions/([^/]+)/([^/]+)", self.update)
        router.add("GET", base + r"effective-permissions/([^/]+)/([^/]+)", self.get_effective)

    # ---- state ---------------------------------------------------------------------------------

    def add_table(self, full_name: str) -> str:
        """Register the table `catalog.schema.table` (its schema must exist) for grants."""
        parts = full_name.lower().split(".")
        if len(parts) != 3 or not all(parts):
            raise invalid(f"A table is named catalog.schema.table, not {full_name!r}.")
        self.catalog.securable("schema", ".".join(parts[:2]))
        with self._lock:
            self.tables.add(".".join(parts))
        return ".".join(parts)

    def _moved(self, old: str, new: str | None) -> None:
        def rename(name: str) -> str | None:
            if name != old and not name.startswith(old + "."):
                return name
            return None if new is None else new + name[len(old) :]

        with self._lock:
            grants, self._grants = self._grants, {}
            for (kind, name), value in grants.items():
                renamed = rename(name)
                if renamed is not None:
                    self._grants[(kind, renamed)] = value
            self.tables = {n for n in map(rename, self.tables) if n is not None}

    def resolve(self, raw_type: str, raw_name: str) -> tuple[str, str]:
        """(TYPE, full name) of an existing securable; 400 for a bad type, 404 when absent."""
        kind = securable_type(raw_type)
        parts = raw_name.lower().split(".")
        if len(parts) != PARTS[kind] or not all(parts):
            raise invalid(f"Invalid full name '{raw_name}' for securable type {kind}.")
        full_name = ".".join(parts)
        if kind == "TABLE":
            self.catalog.securable("schema", ".".join(parts[:2]))
            with self._lock:
                if full_name not in self.tables:
                    raise ApiError(
                        404, "TABLE_DOES_NOT_EXIST", f"Table '{full_name}' does not exist."
                    )
        else:
            self.catalog.securable(kind.lower(), full_name)
        return kind, full_name

    def assignments(self, kind: str, full_name: str) -> dict[str, set[str]]:
        """A copy of the direct grants: principal -> privileges."""
        with self._lock:
            return copy.deepcopy(self._grants.get((kind, full_name), {}))

    def change(self, kind: str, full_name: str, changes: list[dict]) -> dict[str, set[str]]:
        """Apply `{principal, add, remove}` changes (checked first, then all at once)."""
        known = self.principals()
        parsed = []
        for index, raw in enumerate(changes):
            entry = check_dict(raw, f"changes[{index}]", required=True)
            principal = check_str(entry.get("principal"), f"changes[{index}].principal", None, True)
            if principal not in known:
                raise ApiError(
                    404,
                    "PRINCIPAL_DOES_NOT_EXIST",
                    f"Could not find principal with name {principal} (changes[{index}]).",
                )
            ops = []
            for op in ("add", "remove"):
                field = f"changes[{index}].{op}"
                names = check_list(entry.get(op), field)
                ops.append({privilege(p, f"{field}[{i}]", kind, full_name) for i, p in
                            enumerate(check_str_list(names, field))})  # fmt: skip
            parsed.append((principal, *ops))
        with self._lock:
            grants = self._grants.setdefault((kind, full_name), {})
            for principal, add, remove in parsed:
                held = grants.setdefault(principal, set())
                held.difference_update(remove)
                held.update(add)
                if not held:
                    del grants[principal]
            if not grants:
                del self._grants[(kind, full_name)]
            return copy.deepcopy(grants)

    def effective(self, kind: str, full_name: str) -> dict[str, list[dict]]:
        """principal -> EffectivePrivilege objects, direct ones first, then by ancestor."""
        parts = full_name.split(".")
        chain = [(kind, full_name, None)]
        if len(parts) >= 3:
            chain.append(("SCHEMA", ".".join(parts[:2]), "SCHEMA"))
        if len(parts) >= 2:
            chain.append(("CATALOG", parts[0], "CATALOG"))
        result: dict[str, list[dict]] = {}
        for level_kind, name, inherited in chain:
            for principal, privileges in sorted(self.assignments(level_kind, name).items()):
                for granted in sorted(privileges):
                    item: dict = {"privilege": granted}
                    if inherited:
                        item.update(inherited_from_type=inherited, inherited_from_name=name)
                    result.setdefault(principal, []).append(item)
        return result

    # ---- HTTP ----------------------------------------------------------------------------------

    def get(self, req: Request) -> dict:
        """GET permissions/{type}/{full_name}?principal=&max_results=&page_token=."""
        kind, full_name = self.resolve(req.group(1), req.group(2))
        items = [{"principal": p, "privileges": sorted(v)}
                 for p, v in sorted(self.assignments(kind, full_name).items())]  # fmt: skip
        return _page(req, _only(req, items))

    def update(self, req: Request) -> dict:
        """PATCH permissions/{type}/{full_name} {changes: [{principal, add, remove}]}."""
        kind, full_name = self.resolve(req.group(1), req.group(2))
        grants = self.change(kind, full_name, req.list_param("changes"))
        if req.bool_param("omit_permissions_in_response"):
            return {}
        items = [{"principal": p, "privileges": sorted(v)} for p, v in sorted(grants.items())]
        return {"privilege_assignments": items} if items else {}

    def get_effective(self, req: Request) -> dict:
        """GET effective-permissions/{type}/{full_name}?principal=: inherited ones included."""
        kind, full_name = self.resolve(req.group(1), req.group(2))
        items = [{"principal": p, "privileges": v}
                 for p, v in sorted(self.effective(kind, full_name).items())]  # fmt: skip
        return _page(req, _only(req, items))


def _only(req: Request, items: list[dict]) -> list[dict]:
    principal = req.str_param("principal")
    return [i for i in items if i["principal"] == principal] if principal else items


def _page(req: Request, items: list[dict]) -> dict:
    """All at once without max_results; else pages, the first one empty (the service may send
    empty pages with a next_page_token: a client reads until the token is absent)."""
    max_results = req.int_param("max_results")
    token = req.str_param("page_token")
    if max_results is None and not token:
        return {"privilege_assignments": items} if items else {}
    if max_results is not None and (max_results < 0 or 0 < max_results < MIN_PAGE):
        raise invalid(f"max_results must be 0 or at least {MIN_PAGE}, not {max_results}.")
    size = min(max_results or PAGE_SIZE, PAGE_SIZE)
    if not token:
        return {"next_page_token": "0"} if items else {}
    if not token.isdigit() or int(token) > len(items):
        raise invalid(f"Invalid page_token '{token}'.")
    start = int(token)
    result: dict = {"privilege_assignments": items[start : start + size]}
    if start + size < len(items):
        result["next_page_token"] = str(start + size)
    return result
