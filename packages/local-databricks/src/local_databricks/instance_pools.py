"""Instance Pools API (`/api/2.0/instance-pools/create|get|list|edit|delete`).

A pool is a record: no instances are kept warm. Clusters and job clusters may name a pool
(`instance_pool_id`, `driver_instance_pool_id`); one naming a pool that does not exist is refused
(see `ClusterService.launch_error`). A pool's `stats.used_count` counts the live clusters naming it.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections.abc import Callable

from .errors import ApiError, invalid
from .routing import (
    Request,
    Router,
    check_bool,
    check_dict,
    check_int,
    check_str,
    check_str_list,
    check_str_map,
)
from .spark_versions import is_known, version_error
from .util import prune

# Fields of instance-pools/create stored as given (CreateInstancePool).
CREATE_FIELDS = (
    "instance_pool_name",
    "node_type_id",
    "min_idle_instances",
    "max_capacity",
    "idle_instance_autotermination_minutes",
    "custom_tags",
    "enable_elastic_disk",
    "preloaded_spark_versions",
    "preloaded_docker_images",
    "aws_attributes",
    "azure_attributes",
    "gcp_attributes",
    "disk_spec",
    "node_type_flexibility",
    "remote_disk_throughput",
    "total_initial_remote_disk_size",
)
# Fields instance-pools/edit may change (EditInstancePool); node_type_id must stay the same.
EDIT_FIELDS = (
    "instance_pool_name",
    "node_type_id",
    "min_idle_instances",
    "max_capacity",
    "idle_instance_autotermination_minutes",
    "custom_tags",
    "remote_disk_throughput",
    "total_initial_remote_disk_size",
)
DEFAULT_IDLE_MINUTES = 60


def _new_pool_id() -> str:
    """An id shaped like the service's: `MMDD-HHMMSS-pool-xxxxxxxx` [assumption]."""
    suffix = "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=8))
    return time.strftime("%m%d-%H%M%S-") + f"pool-{suffix}"


class InstancePoolService:
    """The workspace's instance pools (model and HTTP handlers; the rules are few)."""

    def __init__(self, node_types: frozenset[str], usage: Callable[[str], int]) -> None:
        self._lock = threading.Lock()
        self._pools: dict[str, dict] = {}
        self._node_types = node_types
        self._usage = usage

    def reset(self) -> None:
        """Forget every pool."""
        with self._lock:
            self._pools.clear()

    def register(self, router: Router) -> None:
        """Add the instance pool routes."""
        base = r"/api/2\.0/instance-pools/"
        router.add("POST", base + "create", self.create)
        router.add("GET", base + "get", self.get)
        router.add("GET", base + "list", self.list)
        router.add("POST", base + "edit", self.edit)
        router.add("POST", base + "delete", self.delete)

    # ---- model ---------------------------------------------------------------------------------

    def missing_error(self, pool_id: str) -> ApiError | None:
        """The error for a cluster spec naming `pool_id`, or None when the pool exists."""
        with self._lock:
            if pool_id in self._pools:
                return None
        return _does_not_exist(pool_id)

    def node_type(self, pool_id: str) -> str | None:
        """The node type of a pool (clusters on a pool use it)."""
        with self._lock:
            pool = self._pools.get(pool_id)
            return pool["node_type_id"] if pool else None

    def _check(self, spec: dict) -> None:
        check_str(spec.get("instance_pool_name"), "instance_pool_name", required=True)
        node_type = check_str(spec.get("node_type_id"), "node_type_id", required=True)
        if node_type not in self._node_types:
            raise invalid(f"Node type {node_type} is not supported.")
        low = check_int(spec.get("min_idle_instances"), "min_idle_instances", 0)
        high = check_int(spec.get("max_capacity"), "max_capacity")
        minutes = check_int(
            spec.get("idle_instance_autotermination_minutes"),
            "idle_instance_autotermination_minutes",
        )
        if (low or 0) < 0 or (high is not None and high < 0) or (minutes or 0) < 0:
            raise invalid(
                "min_idle_instances, max_capacity and idle_instance_autotermination_minutes "
                "must not be negative."
            )
        if high is not None and (low or 0) > high:
            raise invalid(
                f"min_idle_instances ({low}) cannot be greater than max_capacity ({high})."
            )
        check_str_map(spec.get("custom_tags"), "custom_tags")
        check_bool(spec.get("enable_elastic_disk"), "enable_elastic_disk")
        versions = check_str_list(spec.get("preloaded_spark_versions"), "preloaded_spark_versions")
        if len(versions) > 1:
            raise invalid("preloaded_spark_versions can hold at most one Spark version.")
        for version in versions:
            if not is_known(version):
                raise version_error(version)
        for name in ("aws_attributes", "azure_attributes", "gcp_attributes", "disk_spec"):
            check_dict(spec.get(name), name)

    # ---- HTTP ----------------------------------------------------------------------------------

    def create(self, req: Request) -> dict:
        """POST instance-pools/create -> {instance_pool_id}."""
        body = req.json()
        spec = {k: copy.deepcopy(body[k]) for k in CREATE_FIELDS if body.get(k) is not None}
        self._check(spec)
        pool_id = _new_pool_id()
        pool = {
            "instance_pool_id": pool_id,
            "min_idle_instances": 0,
            "idle_instance_autotermination_minutes": DEFAULT_IDLE_MINUTES,
            "enable_elastic_disk": True,
            **spec,
            "default_tags": {
                "Vendor": "Databricks",
                "DatabricksInstancePoolCreatorId": req.user,
                "DatabricksInstancePoolId": pool_id,
            },
            "state": "ACTIVE",
        }
        with self._lock:
            self._pools[pool_id] = pool
        return {"instance_pool_id": pool_id}

    def _pool(self, pool_id: object) -> dict:
        pool_id = check_str(pool_id, "instance_pool_id", required=True)
        pool = self._pools.get(pool_id)
        if pool is None:
            raise _does_not_exist(pool_id)
        return pool

    def _render(self, pool: dict) -> dict:
        body = copy.deepcopy(pool)
        body["stats"] = {
            "used_count": self._usage(pool["instance_pool_id"]),
            "idle_count": pool.get("min_idle_instances", 0),
            "pending_used_count": 0,
            "pending_idle_count": 0,
        }
        return prune(body)

    def get(self, req: Request) -> dict:
        """GET instance-pools/get?instance_pool_id= -> GetInstancePool."""
        with self._lock:
            pool = copy.deepcopy(self._pool(req.query.get("instance_pool_id")))
        return self._render(pool)

    def list(self, req: Request) -> dict:
        """GET instance-pools/list -> {instance_pools} ({} when there is none)."""
        with self._lock:
            pools = [copy.deepcopy(p) for p in self._pools.values()]
        pools.sort(key=lambda p: p["instance_pool_name"])
        return {"instance_pools": [self._render(p) for p in pools]} if pools else {}

    def edit(self, req: Request) -> dict:
        """POST instance-pools/edit: name, capacity, idle settings and tags; the node type stays."""
        body = req.json()
        with self._lock:
            pool = self._pool(body.get("instance_pool_id"))
            spec = {k: copy.deepcopy(body[k]) for k in EDIT_FIELDS if body.get(k) is not None}
            self._check(spec)
            if spec["node_type_id"] != pool["node_type_id"]:
                raise invalid(
                    f"The node type of instance pool {pool['instance_pool_id']} cannot be "
                    f"changed from {pool['node_type_id']} to {spec['node_type_id']}."
                )
            for key in EDIT_FIELDS:
                if key in spec:
                    pool[key] = spec[key]
                elif key in ("max_capacity", "custom_tags"):
                    pool.pop(key, None)
        return {}

    def delete(self, req: Request) -> dict:
        """POST instance-pools/delete: the pool is gone (get answers that it does not exist)."""
        with self._lock:
            pool = self._pool(req.body_param("instance_pool_id"))
            del self._pools[pool["instance_pool_id"]]
        return {}


def _does_not_exist(pool_id: str) -> ApiError:
    # [assumption] the message; the code is the one the Clusters API uses for unknown ids.
    return ApiError(400, "INVALID_PARAMETER_VALUE", f"Instance pool {pool_id} does not exist.")
