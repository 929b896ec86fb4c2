"""Workspace object permissions (`/api/2.0/permissions/{jobs|clusters|directories}/{id}`).

Each object starts with its creator's direct permission (IS_OWNER of a job, CAN_MANAGE of a
cluster or a folder) and the `admins` group's inherited CAN_MANAGE. PATCH merges entries,
PUT replaces the direct ones (a job keeps its owner unless another one is named). They are
recorded, not enforced: every identity can still call every API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from .auth import PAT_USER
from .clusters import ClusterService
from .errors import ApiError, invalid
from .jobs import JobService
from .routing import Request, Router, check_dict, check_str
from .scim import ADMINS_GROUP_ID
from .workspace import WorkspaceService

PRINCIPAL_KEYS = ("user_name", "service_principal_name", "group_name")
GROUPS = ("users", "admins")


@dataclass(frozen=True)
class Kind:
    """One object type of the API: its names and permission levels (weakest first)."""

    object_type: str
    levels: tuple[str, ...]
    creator_level: str


KINDS = {
    "jobs": Kind("job", ("CAN_VIEW", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_MANAGE"), "IS_OWNER"),
    "clusters": Kind("cluster", ("CAN_ATTACH_TO", "CAN_RESTART", "CAN_MANAGE"), "CAN_MANAGE"),
    "directories": Kind(
        "directory", ("CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"), "CAN_MANAGE"
    ),
}
DESCRIPTIONS = {
    "CAN_VIEW": "Can view the job and its runs",
    "CAN_MANAGE_RUN": "Can view, trigger and cancel runs",
    "IS_OWNER": "The owner of the job: every permission, runs run as them",
    "CAN_MANAGE": "Every permission, including changing permissions",
    "CAN_ATTACH_TO": "Can attach notebooks and view the cluster",
    "CAN_RESTART": "Can attach, start, restart and terminate",
    "CAN_READ": "Can view and export",
    "CAN_RUN": "Can read and run",
    "CAN_EDIT": "Can read, run and edit",
}
Principal = tuple[str, str]  # ("user_name" | "service_principal_name" | "group_name", name)


class PermissionService:
    """Direct ACLs of jobs, clusters and folders (state and handlers)."""

    def __init__(
        self,
        jobs: JobService,
        clusters: ClusterService,
        workspace: WorkspaceService,
        service_principals: Callable[[], list[str]],
    ) -> None:
        self.jobs, self.clusters, self.workspace = jobs, clusters, workspace
        self.service_principals = service_principals
        self._lock = threading.Lock()
        self._acls: dict[tuple[str, str], dict[Principal, str]] = {}

    def reset(self) -> None:
        """Forget every ACL."""
        with self._lock:
            self._acls.clear()

    def register(self, router: Router) -> None:
        """Add the permissions routes."""
        base = r"/api/2\.0/permissions/([^/]+)/([^/]+)"
        router.add("GET", base, self.get)
        router.add(("PATCH", "PUT"), base, self.update)
        router.add("GET", base + "/permissionLevels", self.levels)

    # ---- state ---------------------------------------------------------------------------------

    def _object(self, type_name: str, object_id: str) -> tuple[Kind, str, str | None, str]:
        """(kind, creator, home folder owner, parent object) of an existing object; 4xx else."""
        kind = KINDS.get(type_name)
        if kind is None:
            raise invalid(
                f"Invalid object type '{type_name}': local-databricks serves permissions of "
                f"{', '.join(KINDS)}."
            )
        if type_name == "jobs":
            job = self.jobs.jobs.get(int(object_id)) if object_id.isdigit() else None
            if job is None:
                raise _missing(f"Job {object_id} does not exist.")
            return kind, job["creator_user_name"], None, "/jobs/"
        if type_name == "clusters":
            cluster = self.clusters.get_details(object_id)
            if cluster is None:
                raise _missing(f"Cluster {object_id} does not exist.")
            return kind, cluster.get("creator_user_name", PAT_USER), None, "/clusters/"
        found = self.workspace.find(int(object_id)) if object_id.isdigit() else None
        if found is None or not found[1].is_dir():
            raise _missing(f"Directory {object_id} does not exist.")
        path, meta = found[0], found[2]
        parts = path.strip("/").split("/")
        home = parts[1] if len(parts) >= 2 and parts[0] == "Users" else None
        if parts[0] == "Shared":
            home = ""
        return kind, meta.get("created_by") or home or PAT_USER, home, "/directories/"

    def _principal(self, entry: dict, field: str) -> Principal:
        given = [(k, entry[k]) for k in PRINCIPAL_KEYS if entry.get(k) is not None]
        if len(given) != 1:
            raise invalid(f"{field} needs exactly one of {', '.join(PRINCIPAL_KEYS)}.")
        key, name = given[0]
        check_str(name, f"{field}.{key}", required=True)
        known = {
            "user_name": [PAT_USER],
            "service_principal_name": self.service_principals(),
            "group_name": list(GROUPS),
        }[key]
        if name not in known:
            raise invalid(f"Principal {name} ({field}.{key}) does not exist in the workspace.")
        return key, name

    def _acl(self, type_name: str, object_id: str, kind: Kind, creator: str) -> dict:
        key = (type_name, object_id)
        if key not in self._acls:
            who = "service_principal_name" if creator in self.service_principals() else "user_name"
            self._acls[key] = {(who, creator): kind.creator_level}
        return self._acls[key]

    def render(self, type_name: str, object_id: str) -> dict:
        """The ObjectPermissions of an object: direct entries, then inherited ones."""
        kind, creator, home, parent = self._object(type_name, object_id)
        with self._lock:
            direct = dict(self._acl(type_name, object_id, kind, creator))
        entries: dict[Principal, list[dict]] = {}
        for principal, level in sorted(direct.items()):
            entries.setdefault(principal, []).append(
                {"permission_level": level, "inherited": False}
            )
        inherited: list[tuple[Principal, str]] = [(("group_name", "admins"), parent)]
        if home == "":  # /Shared: every user manages what is in it
            inherited.append((("group_name", "users"), parent))
        elif home is not None:
            home_id = self.workspace.object_id(f"/Users/{home}")
            if str(home_id) != object_id:
                inherited.append((("user_name", home), f"/directories/{home_id}"))
        for principal, source in inherited:
            entries.setdefault(principal, []).append(
                {"permission_level": "CAN_MANAGE", "inherited": True,
                 "inherited_from_object": [source]}
            )  # fmt: skip
        acl = []
        for (key, name), permissions in entries.items():
            entry: dict = {key: name, "all_permissions": permissions}
            if key == "user_name":
                entry["display_name"] = "Local User" if name == PAT_USER else name
            if key == "group_name" and name == "admins":
                entry["group_id"] = ADMINS_GROUP_ID
            acl.append(entry)
        return {
            "object_id": f"/{type_name}/{object_id}",
            "object_type": kind.object_type,
            "access_control_list": acl,
        }

    def change(self, type_name: str, object_id: str, entries: list, replace: bool) -> dict:
        """PATCH (merge) or PUT (replace) the direct ACL with AccessControlRequest entries."""
        kind, creator, _, _ = self._object(type_name, object_id)
        wanted: dict[Principal, str] = {}
        for index, raw in enumerate(entries):
            field = f"access_control_list[{index}]"
            entry = check_dict(raw, field, required=True)
            principal = self._principal(entry, field)
            level = check_str(entry.get("permission_level"), f"{field}.permission_level")
            if not level:
                raise invalid(f"Missing required field: {field}.permission_level")
            if level not in kind.levels:
                raise invalid(
                    f"Permission level {level} ({field}.permission_level) is not one of "
                    f"{', '.join(kind.levels)} for a {kind.object_type}."
                )
            if principal == ("group_name", "admins") and level != "CAN_MANAGE":
                raise invalid(f"The admins group always has CAN_MANAGE ({field}).")
            wanted[principal] = level
        wanted.pop(("group_name", "admins"), None)
        owners = [p for p, level in wanted.items() if level == "IS_OWNER"]
        if len(owners) > 1:
            raise invalid(f"The {kind.object_type} must have exactly one owner (IS_OWNER).")
        if owners and owners[0][0] == "group_name":
            raise invalid("A group cannot be the owner (IS_OWNER) of a job.")
        with self._lock:
            acl = self._acl(type_name, object_id, kind, creator)
            owner = [p for p, level in acl.items() if level == "IS_OWNER"]
            if replace:
                acl.clear()
            elif owners:
                for previous in owner:
                    acl.pop(previous, None)
            acl.update(wanted)
            if kind.creator_level == "IS_OWNER" and owner and not owners:
                acl[owner[0]] = "IS_OWNER"  # a job always has its owner
        return self.render(type_name, object_id)

    # ---- HTTP ----------------------------------------------------------------------------------

    def get(self, req: Request) -> dict:
        """GET permissions/{type}/{id}."""
        return self.render(req.group(1), req.group(2))

    def update(self, req: Request) -> dict:
        """PATCH (update) or PUT (set) permissions/{type}/{id} {access_control_list}."""
        entries = req.list_param("access_control_list")
        return self.change(req.group(1), req.group(2), entries, replace=req.method == "PUT")

    def levels(self, req: Request) -> dict:
        """GET permissions/{type}/{id}/permissionLevels."""
        kind = self._object(req.group(1), req.group(2))[0]
        return {
            "permission_levels": [
                {"permission_level": level, "description": DESCRIPTIONS[level]}
                for level in kind.levels
            ]
        }


def _missing(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)
