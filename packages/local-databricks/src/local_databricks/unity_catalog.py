"""Unity Catalog objects: catalogs, schemas and volumes (`/api/2.1/unity-catalog/...`).

A volume's files live under `<root>/Volumes/<catalog>/<schema>/<volume>`; creating a volume
creates that directory and deleting it removes it. With `require_volumes`, the Files API and the
task processes' `/Volumes` shim only accept paths inside a volume that exists.
"""

from __future__ import annotations

import copy
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from .auth import PAT_USER
from .errors import ApiError, invalid
from .paths import Storage
from .routing import Request, Router, check_str_map
from .util import now_ms, prune, to_int

METASTORE_ID = "11111111-2222-4333-8444-555555555555"
# Schemas the service creates in every new catalog.
DEFAULT_SCHEMAS = ("default", "information_schema")
VOLUME_TYPES = ("MANAGED", "EXTERNAL")
MAX_RESULTS = 1000


def not_found(kind: str, full_name: str) -> ApiError:
    """404 `<KIND>_DOES_NOT_EXIST` "<Kind> 'name' does not exist." (SDK: NotFound)."""
    return ApiError(
        404, f"{kind.upper()}_DOES_NOT_EXIST", f"{kind.capitalize()} '{full_name}' does not exist."
    )


def _exists(kind: str, full_name: str) -> ApiError:
    return ApiError(
        409, f"{kind.upper()}_ALREADY_EXISTS", f"{kind.capitalize()} '{full_name}' already exists"
    )


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(f"Missing required field: {field}")
    if (
        len(value) > 255
        or value in (".", "..")
        or any(ch in value for ch in "./\\")
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    ):
        raise invalid(
            f"Invalid name {value!r} for {field}: names cannot contain '.', '/', '\\' or control "
            "characters and are at most 255 characters long."
        )
    return value.lower()


class UnityCatalogService:
    """Thread-safe catalogs, schemas and volumes; volumes map onto directories of Storage."""

    def __init__(self, storage: Storage, require_volumes: bool = False) -> None:
        self.storage = storage
        self.require_volumes = require_volumes
        self._lock = threading.RLock()
        self.catalogs: dict[str, dict] = {}
        self.schemas: dict[str, dict] = {}
        self.volumes: dict[str, dict] = {}
        # Told (old full name, new full name or None) when an object and what it holds is
        # renamed or dropped: the grants on them follow.
        self.listeners: list[Callable[[str, str | None], None]] = []

    def _changed(self, old: str, new: str | None) -> None:
        for listener in self.listeners:
            listener(old, new)

    def reset(self) -> None:
        """Forget every catalog, schema and volume."""
        with self._lock:
            self.catalogs.clear()
            self.schemas.clear()
            self.volumes.clear()

    def register(self, router: Router) -> None:
        """Add the Unity Catalog routes."""
        base = r"/api/2\.1/unity-catalog/"
        for kind, create, lister, getter, updater, deleter in (
            ("catalogs", self.create_catalog, self.list_catalogs, self.get_catalog,
             self.update_catalog, self.delete_catalog),
            ("schemas", self.create_schema, self.list_schemas, self.get_schema,
             self.update_schema, self.delete_schema),
            ("volumes", self.create_volume_api, self.list_volumes, self.get_volume,
             self.update_volume, self.delete_volume),
        ):  # fmt: skip
            router.add("POST", base + kind, create)
            router.add("GET", base + kind, lister)
            router.add("GET", base + kind + r"/([^/]+)", getter)
            router.add("PATCH", base + kind + r"/([^/]+)", updater)
            router.add("DELETE", base + kind + r"/([^/]+)", deleter)

    # ---- helpers -------------------------------------------------------------------------------

    def _stamp(self, user: str) -> dict:
        now = now_ms()
        return {
            "created_at": now,
            "created_by": user,
            "updated_at": now,
            "updated_by": user,
            "owner": user,
            "metastore_id": METASTORE_ID,
        }

    def volume_dir(self, catalog: str, schema: str, volume: str) -> Path:
        """The local directory of a volume."""
        return self.storage.volumes / catalog / schema / volume

    def _catalog(self, name: str) -> dict:
        found = self.catalogs.get(name.lower())
        if found is None:
            raise not_found("catalog", name)
        return found

    def _schema(self, full_name: str) -> dict:
        found = self.schemas.get(full_name.lower())
        if found is None:
            parts = full_name.split(".")
            if len(parts) == 2:
                self._catalog(parts[0])
            raise not_found("schema", full_name)
        return found

    def _volume(self, full_name: str) -> dict:
        found = self.volumes.get(full_name.lower())
        if found is None:
            parts = full_name.split(".")
            if len(parts) == 3:
                self._schema(f"{parts[0]}.{parts[1]}")
            raise ApiError(404, "NOT_FOUND", f"Volume '{full_name}' does not exist.")
        return found

    def securable(self, kind: str, full_name: str) -> dict:
        """A copy of the catalog, schema or volume `full_name`; 404 as its GET when absent."""
        getter = {"catalog": self._catalog, "schema": self._schema, "volume": self._volume}
        with self._lock:
            return copy.deepcopy(getter[kind](full_name))

    # ---- Python API ----------------------------------------------------------------------------

    def add_catalog(self, name: str, comment: str | None = None, user: str = PAT_USER) -> dict:
        """Create a catalog (with its `default` and `information_schema` schemas)."""
        name = _name(name, "name")
        with self._lock:
            if name in self.catalogs:
                raise _exists("catalog", name)
            self.catalogs[name] = prune(
                {
                    "name": name,
                    "full_name": name,
                    "comment": comment,
                    "catalog_type": "MANAGED_CATALOG",
                    "isolation_mode": "OPEN",
                    "securable_type": "CATALOG",
                    "browse_only": False,
                    **self._stamp(user),
                }
            )
            for schema in DEFAULT_SCHEMAS:
                self.add_schema(name, schema, user=user)
            return copy.deepcopy(self.catalogs[name])

    def add_schema(
        self, catalog: str, name: str, comment: str | None = None, user: str = PAT_USER
    ) -> dict:
        """Create a schema in an existing catalog."""
        catalog = _name(catalog, "catalog_name")
        name = _name(name, "name")
        with self._lock:
            self._catalog(catalog)
            full_name = f"{catalog}.{name}"
            if full_name in self.schemas:
                raise _exists("schema", full_name)
            self.schemas[full_name] = prune(
                {
                    "name": name,
                    "catalog_name": catalog,
                    "full_name": full_name,
                    "comment": comment,
                    "catalog_type": "MANAGED_CATALOG",
                    "browse_only": False,
                    "schema_id": str(uuid.uuid4()),
                    **self._stamp(user),
                }
            )
            return copy.deepcopy(self.schemas[full_name])

    def add_volume(
        self,
        catalog: str,
        schema: str,
        name: str,
        volume_type: str = "MANAGED",
        storage_location: str | None = None,
        comment: str | None = None,
        user: str = PAT_USER,
    ) -> dict:
        """Create a volume in an existing schema, and its directory."""
        catalog = _name(catalog, "catalog_name")
        schema = _name(schema, "schema_name")
        name = _name(name, "name")
        if volume_type not in VOLUME_TYPES:
            raise invalid(f"Invalid volume_type {volume_type!r}: use MANAGED or EXTERNAL.")
        if volume_type == "EXTERNAL" and not storage_location:
            raise invalid("storage_location is required for an EXTERNAL volume.")
        if volume_type == "MANAGED" and storage_location:
            raise invalid("storage_location cannot be given for a MANAGED volume.")
        with self._lock:
            self._schema(f"{catalog}.{schema}")
            full_name = f"{catalog}.{schema}.{name}"
            if full_name in self.volumes:
                raise _exists("volume", full_name)
            local = self.volume_dir(catalog, schema, name)
            local.mkdir(parents=True, exist_ok=True)
            self.volumes[full_name] = prune(
                {
                    "catalog_name": catalog,
                    "schema_name": schema,
                    "name": name,
                    "full_name": full_name,
                    "volume_type": volume_type,
                    "storage_location": storage_location or local.as_uri(),
                    "comment": comment,
                    "volume_id": str(uuid.uuid4()),
                    "browse_only": False,
                    **self._stamp(user),
                }
            )
            return copy.deepcopy(self.volumes[full_name])

    def create_volume(self, path: str) -> dict:
        """Create `/Volumes/<c>/<s>/<v>`, with its catalog and schema when missing (idempotent)."""
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "Volumes":
            raise ValueError(f"Expected /Volumes/<catalog>/<schema>/<volume>, got {path!r}.")
        catalog, schema, volume = (_name(p, "volume path") for p in parts[1:])
        with self._lock:
            if catalog not in self.catalogs:
                self.add_catalog(catalog)
            if f"{catalog}.{schema}" not in self.schemas:
                self.add_schema(catalog, schema)
            existing = self.volumes.get(f"{catalog}.{schema}.{volume}")
            if existing is not None:
                return copy.deepcopy(existing)
            return self.add_volume(catalog, schema, volume)

    def check_volume_path(self, canonical: str) -> None:
        """With require_volumes: 404 unless `canonical` (/Volumes/c/s/v/...) is in a volume."""
        if not self.require_volumes:
            return
        parts = canonical.split("/")
        if len(parts) < 5:
            raise invalid(f"Invalid path {canonical!r}: not inside a volume.")
        catalog, schema, volume = parts[2], parts[3], parts[4]
        with self._lock:
            if f"{catalog}.{schema}.{volume}".lower() in self.volumes:
                return
            if catalog.lower() not in self.catalogs:
                raise not_found("catalog", catalog)
            if f"{catalog}.{schema}".lower() not in self.schemas:
                raise not_found("schema", f"{catalog}.{schema}")
        raise ApiError(404, "NOT_FOUND", f"Volume '{catalog}.{schema}.{volume}' does not exist.")

    # ---- pagination ----------------------------------------------------------------------------

    @staticmethod
    def _page(req: Request, items: list[dict], key: str) -> dict:
        max_results = req.int_param("max_results", 0) or MAX_RESULTS
        if max_results < 0:
            raise invalid("max_results must not be negative.")
        max_results = min(max_results, MAX_RESULTS)
        start = to_int(req.str_param("page_token"), "page_token", 0) or 0
        page = items[start : start + max_results]
        result: dict = {key: page} if page else {}
        if start + max_results < len(items):
            result["next_page_token"] = str(start + max_results)
        return result

    # ---- catalogs ------------------------------------------------------------------------------

    def create_catalog(self, req: Request) -> dict:
        """POST catalogs {name, comment?, properties?}."""
        for unsupported in ("storage_root", "provider_name", "share_name", "connection_name"):
            if req.json().get(unsupported):
                raise invalid(f"{unsupported} is not supported by local-databricks.")
        info = self.add_catalog(
            req.str_param("name", required=True), req.str_param("comment"), req.user
        )
        properties = check_str_map(req.json().get("properties"), "properties")
        if properties:
            with self._lock:
                self.catalogs[info["name"]]["properties"] = properties
                info["properties"] = properties
        return info

    def list_catalogs(self, req: Request) -> dict:
        """GET catalogs (sorted by name)."""
        with self._lock:
            items = [copy.deepcopy(self.catalogs[k]) for k in sorted(self.catalogs)]
        return self._page(req, items, "catalogs")

    def get_catalog(self, req: Request) -> dict:
        """GET catalogs/{name}."""
        with self._lock:
            return copy.deepcopy(self._catalog(req.group(1)))

    def update_catalog(self, req: Request) -> dict:
        """PATCH catalogs/{name} {new_name?, comment?, owner?, properties?}."""
        with self._lock:
            info = self._catalog(req.group(1))
            old = info["name"]
            self._update_common(req, info)
            new_name = req.str_param("new_name")
            if new_name and _name(new_name, "new_name") != old:
                new_name = _name(new_name, "new_name")
                if new_name in self.catalogs:
                    raise _exists("catalog", new_name)
                self.catalogs[new_name] = self.catalogs.pop(old)
                info.update({"name": new_name, "full_name": new_name})
                for key in [k for k in self.schemas if k.split(".")[0] == old]:
                    schema = self.schemas.pop(key)
                    schema["catalog_name"] = new_name
                    schema["full_name"] = f"{new_name}.{schema['name']}"
                    self.schemas[schema["full_name"]] = schema
                for key in [k for k in self.volumes if k.split(".")[0] == old]:
                    volume = self.volumes.pop(key)
                    volume["catalog_name"] = new_name
                    volume["full_name"] = f"{new_name}.{volume['schema_name']}.{volume['name']}"
                    self.volumes[volume["full_name"]] = volume
                source = self.storage.volumes / old
                if source.exists():
                    source.rename(self.storage.volumes / new_name)
                self._changed(old, new_name)
            return copy.deepcopy(info)

    def delete_catalog(self, req: Request) -> dict:
        """DELETE catalogs/{name}?force=: a catalog with user schemas needs force."""
        force = req.bool_param("force")
        with self._lock:
            info = self._catalog(req.group(1))
            name = info["name"]
            user_schemas = [
                k
                for k in self.schemas
                if k.split(".")[0] == name and k.split(".")[1] not in DEFAULT_SCHEMAS
            ]
            volumes = [k for k in self.volumes if k.split(".")[0] == name]
            if (user_schemas or volumes) and not force:
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    f"Catalog '{name}' is not empty. The catalog has {len(user_schemas)} "
                    f"schema(s) and {len(volumes)} volume(s); use force to delete it with them.",
                )
            for key in [k for k in self.volumes if k.split(".")[0] == name]:
                del self.volumes[key]
            for key in [k for k in self.schemas if k.split(".")[0] == name]:
                del self.schemas[key]
            del self.catalogs[name]
            shutil.rmtree(self.storage.volumes / name, ignore_errors=True)
            self._changed(name, None)
        return {}

    @staticmethod
    def _update_common(req: Request, info: dict) -> None:
        comment = req.str_param("comment")
        if comment is not None:
            info["comment"] = comment
        owner = req.str_param("owner")
        if owner:
            info["owner"] = owner
        if req.json().get("properties") is not None:
            info["properties"] = check_str_map(req.json().get("properties"), "properties")
        info["updated_at"] = now_ms()
        info["updated_by"] = req.user

    # ---- schemas -------------------------------------------------------------------------------

    def create_schema(self, req: Request) -> dict:
        """POST schemas {name, catalog_name, comment?, properties?}."""
        if req.json().get("storage_root"):
            raise invalid("storage_root is not supported by local-databricks.")
        info = self.add_schema(
            req.str_param("catalog_name", required=True),
            req.str_param("name", required=True),
            req.str_param("comment"),
            req.user,
        )
        properties = check_str_map(req.json().get("properties"), "properties")
        if properties:
            with self._lock:
                self.schemas[info["full_name"]]["properties"] = properties
                info["properties"] = properties
        return info

    def list_schemas(self, req: Request) -> dict:
        """GET schemas?catalog_name= (sorted by name)."""
        catalog = req.str_param("catalog_name", required=True).lower()
        with self._lock:
            self._catalog(catalog)
            items = [
                copy.deepcopy(v)
                for k, v in sorted(self.schemas.items())
                if v["catalog_name"] == catalog
            ]
        return self._page(req, items, "schemas")

    def get_schema(self, req: Request) -> dict:
        """GET schemas/{full_name}."""
        with self._lock:
            return copy.deepcopy(self._schema(req.group(1)))

    def update_schema(self, req: Request) -> dict:
        """PATCH schemas/{full_name} {new_name?, comment?, owner?, properties?}."""
        with self._lock:
            info = self._schema(req.group(1))
            self._update_common(req, info)
            new_name = req.str_param("new_name")
            if new_name and _name(new_name, "new_name") != info["name"]:
                new_name = _name(new_name, "new_name")
                catalog, old = info["catalog_name"], info["name"]
                full_name = f"{catalog}.{new_name}"
                if full_name in self.schemas:
                    raise _exists("schema", full_name)
                self.schemas[full_name] = self.schemas.pop(info["full_name"])
                info.update({"name": new_name, "full_name": full_name})
                for key in [k for k in self.volumes if k.startswith(f"{catalog}.{old}.")]:
                    volume = self.volumes.pop(key)
                    volume["schema_name"] = new_name
                    volume["full_name"] = f"{full_name}.{volume['name']}"
                    self.volumes[volume["full_name"]] = volume
                source = self.storage.volumes / catalog / old
                if source.exists():
                    source.rename(self.storage.volumes / catalog / new_name)
                self._changed(f"{catalog}.{old}", full_name)
            return copy.deepcopy(info)

    def delete_schema(self, req: Request) -> dict:
        """DELETE schemas/{full_name}?force=: a schema with volumes needs force."""
        force = req.bool_param("force")
        with self._lock:
            info = self._schema(req.group(1))
            full_name = info["full_name"]
            volumes = [k for k in self.volumes if k.startswith(full_name + ".")]
            if volumes and not force:
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    f"Schema '{full_name}' is not empty. The schema has {len(volumes)} volume(s); "
                    "use force to delete it with its contents.",
                )
            for key in volumes:
                del self.volumes[key]
            del self.schemas[full_name]
            shutil.rmtree(
                self.storage.volumes / info["catalog_name"] / info["name"], ignore_errors=True
            )
            self._changed(full_name, None)
        return {}

    # ---- volumes -------------------------------------------------------------------------------

    def create_volume_api(self, req: Request) -> dict:
        """POST volumes {catalog_name, schema_name, name, volume_type, storage_location?}."""
        return self.add_volume(
            req.str_param("catalog_name", required=True),
            req.str_param("schema_name", required=True),
            req.str_param("name", required=True),
            req.str_param("volume_type", required=True),
            req.str_param("storage_location"),
            req.str_param("comment"),
            req.user,
        )

    def list_volumes(self, req: Request) -> dict:
        """GET volumes?catalog_name=&schema_name= (sorted by name)."""
        catalog = req.str_param("catalog_name", required=True).lower()
        schema = req.str_param("schema_name", required=True).lower()
        with self._lock:
            self._schema(f"{catalog}.{schema}")
            items = [
                copy.deepcopy(v)
                for k, v in sorted(self.volumes.items())
                if v["catalog_name"] == catalog and v["schema_name"] == schema
            ]
        return self._page(req, items, "volumes")

    def get_volume(self, req: Request) -> dict:
        """GET volumes/{full_name}."""
        with self._lock:
            return copy.deepcopy(self._volume(req.group(1)))

    def update_volume(self, req: Request) -> dict:
        """PATCH volumes/{full_name} {new_name?, comment?, owner?}."""
        with self._lock:
            info = self._volume(req.group(1))
            self._update_common(req, info)
            info.pop("properties", None)
            new_name = req.str_param("new_name")
            if new_name and _name(new_name, "new_name") != info["name"]:
                new_name = _name(new_name, "new_name")
                catalog, schema, old = info["catalog_name"], info["schema_name"], info["name"]
                full_name = f"{catalog}.{schema}.{new_name}"
                if full_name in self.volumes:
                    raise _exists("volume", full_name)
                self._changed(info["full_name"], full_name)
                self.volumes[full_name] = self.volumes.pop(info["full_name"])
                info.update({"name": new_name, "full_name": full_name})
                source = self.volume_dir(catalog, schema, old)
                target = self.volume_dir(catalog, schema, new_name)
                if source.exists():
                    source.rename(target)
                if info["volume_type"] == "MANAGED":
                    info["storage_location"] = target.as_uri()
            return copy.deepcopy(info)

    def delete_volume(self, req: Request) -> dict:
        """DELETE volumes/{full_name}: the volume and its files."""
        with self._lock:
            info = self._volume(req.group(1))
            del self.volumes[info["full_name"]]
            self._changed(info["full_name"], None)
            shutil.rmtree(
                self.volume_dir(info["catalog_name"], info["schema_name"], info["name"]),
                ignore_errors=True,
            )
        return {}
