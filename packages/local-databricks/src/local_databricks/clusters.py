"""Clusters API: all-purpose clusters with a lifecycle, per-run job clusters, versions and node
types (the specs, their checks and the node types are `cluster_specs.py`).

All-purpose clusters go PENDING -> RUNNING after the cluster start delay, RUNNING -> RESTARTING ->
RUNNING on restart (and on edit of a running cluster), and TERMINATING -> TERMINATED on delete.
State changes are applied lazily, whenever a cluster is read.
"""

from __future__ import annotations

import copy
import random
import re
import string
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .auth import PAT_USER
from .cluster_specs import NODE_TYPE_IDS, SPEC_FIELDS, check_spec, launch_error, node_types
from .errors import ApiError, invalid
from .routing import Request, Router, check_list, check_str
from .spark_versions import SPARK_VERSIONS
from .util import now_ms, prune

if TYPE_CHECKING:
    from .instance_pools import InstancePoolService

__all__ = ["NODE_TYPE_IDS", "SPEC_FIELDS", "ClusterService", "new_cluster_id"]

_CLUSTER_ID_RE = re.compile(r"[\w\-]{1,100}", re.ASCII)
# How long TERMINATING lasts at most (it is the cluster start delay when that is shorter).
TERMINATE_SECONDS = 1.0
PENDING_MESSAGE = "Finding instances for new nodes, acquiring more instances if necessary"


def new_cluster_id() -> str:
    """A cluster id shaped like the real ones: `MMDD-HHMMSS-xxxxxxxx`."""
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
    return time.strftime("%m%d-%H%M%S-") + suffix


class ClusterService:
    """All clusters the workspace knows: all-purpose ones (with a lifecycle) and job clusters."""

    def __init__(self, start_seconds: Callable[[], float] = lambda: 0.0) -> None:
        self._lock = threading.RLock()
        self._clusters: dict[str, dict] = {}
        self._timers: dict[str, list[tuple[float, str, str, str]]] = {}
        self._events: dict[str, list[dict]] = {}
        self._start_seconds = start_seconds
        # The workspace's instance pools (set by LocalDatabricks): specs naming others are refused.
        self.pools: InstancePoolService | None = None

    def reset(self) -> None:
        """Forget all clusters."""
        with self._lock:
            self._clusters.clear()
            self._timers.clear()
            self._events.clear()

    def register(self, router: Router) -> None:
        """Add the clusters routes (API 2.0 and 2.1)."""
        base = r"/api/2\.[01]/clusters/"
        router.add("GET", base + "get", self.get)
        router.add("GET", base + "list", self.list)
        router.add("GET", base + "spark-versions", self.spark_versions)
        router.add("GET", base + "list-node-types", self.list_node_types)
        router.add("POST", base + "create", self.create)
        router.add("POST", base + "edit", self.edit)
        router.add("POST", base + "start", self.start)
        router.add("POST", base + "restart", self.restart)
        router.add("POST", base + "delete", self.delete)
        router.add("POST", base + "permanent-delete", self.permanent_delete)
        router.add("POST", base + "events", self.events)

    # ---- lifecycle engine ----------------------------------------------------------------------

    def _event(self, cluster_id: str, kind: str, details: dict | None = None) -> None:
        self._events.setdefault(cluster_id, []).append(
            {
                "cluster_id": cluster_id,
                "timestamp": now_ms(),
                "type": kind,
                "details": details or {},
            }
        )

    def _schedule(self, cluster_id: str, delay: float, state: str, event: str) -> None:
        self._timers[cluster_id] = [(time.monotonic() + max(0.0, delay), state, "", event)]

    def _advance(self) -> None:
        """Apply every scheduled state change that is due."""
        now = time.monotonic()
        for cluster_id in list(self._timers):
            timers = self._timers[cluster_id]
            while timers and timers[0][0] <= now:
                _, state, message, event = timers.pop(0)
                self._apply(cluster_id, state, message, event)
            if not timers:
                del self._timers[cluster_id]

    def _apply(self, cluster_id: str, state: str, message: str, event: str) -> None:
        details = self._clusters.get(cluster_id)
        if details is None:
            return
        details["state"] = state
        details["state_message"] = message
        if state == "RUNNING":
            details.pop("termination_reason", None)
            details.pop("terminated_time", None)
            details["last_restarted_time"] = now_ms()
            details["spark_context_id"] = random.randrange(10**17, 10**18)
        if state == "TERMINATED":
            details["terminated_time"] = now_ms()
        if event:
            info = (
                {"current_num_workers": details.get("num_workers", 0)} if state == "RUNNING" else {}
            )
            if state == "TERMINATED" and details.get("termination_reason"):
                info = {"reason": details["termination_reason"]}
            self._event(cluster_id, event, info)

    def _details(self, cluster_id: object) -> dict:
        """The live details of a cluster (advanced), or 400 "Cluster X does not exist"."""
        cluster_id = check_str(cluster_id, "cluster_id", required=True)
        self._advance()
        details = self._clusters.get(cluster_id)
        if details is None:
            raise invalid(f"Cluster {cluster_id} does not exist")
        return details

    def _starting(self, details: dict, state: str, event: str, user: str, cause: str) -> None:
        cluster_id = details["cluster_id"]
        details["state"] = state
        details["state_message"] = PENDING_MESSAGE if state == "PENDING" else "Restarting Spark"
        details["start_time"] = details.get("start_time") or now_ms()
        self._event(cluster_id, event, {"user": user, "cause": cause})
        self._schedule(cluster_id, self._start_seconds(), "RUNNING", "RUNNING")

    def ensure_running(self, cluster_id: str, user: str = PAT_USER) -> tuple[float, str | None]:
        """For a run on an existing cluster: (monotonic time it is RUNNING, error or None).

        A TERMINATED cluster is started, as the service does for job runs.
        """
        with self._lock:
            self._advance()
            details = self._clusters.get(cluster_id)
            if details is None:
                return time.monotonic(), f"Cluster {cluster_id} does not exist"
            state = details["state"]
            if state == "TERMINATED":
                self._starting(details, "PENDING", "STARTING", user, "USER_REQUEST")
            elif (
                state != "RUNNING"
                and cluster_id not in self._timers
                and state
                in (
                    "PENDING",
                    "RESTARTING",
                    "RESIZING",
                )
            ):
                self._schedule(cluster_id, self._start_seconds(), "RUNNING", "RUNNING")
            elif state in ("TERMINATING", "ERROR", "UNKNOWN"):
                return time.monotonic(), (
                    f"Cluster {cluster_id} is in unexpected state {state.capitalize()}."
                )
            timers = self._timers.get(cluster_id)
            return (timers[-1][0] if timers else time.monotonic()), None

    def state_of(self, cluster_id: str) -> str | None:
        """The current state of a cluster (None when it does not exist)."""
        with self._lock:
            self._advance()
            details = self._clusters.get(cluster_id)
            return details["state"] if details else None

    # ---- store ---------------------------------------------------------------------------------

    def add(self, cluster_id: str | None = None, **fields) -> dict:
        """Seed an all-purpose cluster (RUNNING unless `state` says otherwise)."""
        cluster_id = cluster_id or new_cluster_id()
        if not _CLUSTER_ID_RE.fullmatch(cluster_id):
            raise invalid(f"Invalid cluster_id {cluster_id!r}: use letters, digits, '-' and '_'.")
        name = fields.pop("cluster_name", f"local-cluster-{cluster_id[-8:]}")
        details = {
            "cluster_id": cluster_id,
            "cluster_name": name,
            "spark_version": "16.4.x-scala2.12",
            "node_type_id": "i3.xlarge",
            "driver_node_type_id": fields.get("node_type_id", "i3.xlarge"),
            "num_workers": 0,
            "state": "RUNNING",
            "state_message": "",
            "cluster_source": "UI",
            "creator_user_name": PAT_USER,
            "start_time": now_ms(),
            "autotermination_minutes": 120,
            "spark_context_id": random.randrange(10**17, 10**18),
            "default_tags": _default_tags(cluster_id, name),
            "data_security_mode": "SINGLE_USER",
            "single_user_name": PAT_USER,
        }
        details.update(copy.deepcopy(fields))
        with self._lock:
            self._clusters[cluster_id] = details
            self._timers.pop(cluster_id, None)
        return copy.deepcopy(details)

    def add_job_cluster(self, spec: dict, run_name: str, run_id: int, user: str) -> str:
        """Create the PENDING cluster of a run from a ClusterSpec; return its id."""
        cluster_id = new_cluster_id()
        name = f"job-{run_id}-run-{run_id}"
        details = copy.deepcopy(spec)
        details.update(
            {
                "cluster_id": cluster_id,
                "cluster_name": name,
                "state": "PENDING",
                "state_message": "Starting Spark",
                "cluster_source": "JOB",
                "creator_user_name": user,
                "start_time": now_ms(),
                "spark_context_id": random.randrange(10**17, 10**18),
                "default_tags": {**_default_tags(cluster_id, name), "RunName": run_name},
            }
        )
        details.setdefault("driver_node_type_id", details.get("node_type_id", "i3.xlarge"))
        with self._lock:
            self._clusters[cluster_id] = details
        return cluster_id

    def get_details(self, cluster_id: str) -> dict | None:
        """A copy of a cluster's details, or None."""
        with self._lock:
            self._advance()
            found = self._clusters.get(cluster_id)
            return copy.deepcopy(found) if found is not None else None

    def set_state(self, cluster_id: str, state: str, message: str = "") -> None:
        """Move a cluster to `state` now (RUNNING, TERMINATED, ...), dropping scheduled changes."""
        with self._lock:
            details = self._clusters.get(cluster_id)
            if details is None:
                return
            self._timers.pop(cluster_id, None)
            details["state"] = state
            details["state_message"] = message
            if state == "TERMINATED":
                details["terminated_time"] = now_ms()

    def launch_error(self, spec: dict) -> ApiError | None:
        """Why the service would refuse to launch a cluster from `spec` (its Spark version or an
        instance pool it does not know), or None."""
        return launch_error(spec, self.pools)

    def pool_usage(self, pool_id: str) -> int:
        """How many clusters that are not TERMINATED name the instance pool `pool_id`."""
        with self._lock:
            self._advance()
            return sum(
                1
                for c in self._clusters.values()
                if c.get("state") != "TERMINATED"
                and pool_id in (c.get("instance_pool_id"), c.get("driver_instance_pool_id"))
            )

    def launch_problem(self, spec: dict) -> str | None:
        """The message of `launch_error` (a job cluster that cannot start fails its tasks)."""
        error = self.launch_error(spec)
        return error.message if error is not None else None

    # ---- all-purpose cluster API ---------------------------------------------------------------

    def create(self, req: Request) -> dict:
        """POST clusters/create: a PENDING cluster that is RUNNING after the start delay."""
        spec = check_spec(req.json(), self.pools)
        cluster_id = new_cluster_id()
        name = spec.get("cluster_name") or ""
        details = {
            "cluster_id": cluster_id,
            "driver_node_type_id": spec.get("node_type_id"),
            "num_workers": 0 if not spec.get("autoscale") else None,
            "autotermination_minutes": 120,
            "enable_elastic_disk": True,
            "cluster_source": "API",
            "creator_user_name": req.user,
            "start_time": now_ms(),
            "spark_context_id": random.randrange(10**17, 10**18),
            "default_tags": _default_tags(cluster_id, name),
            **spec,
            "state": "PENDING",
            "state_message": PENDING_MESSAGE,
        }
        with self._lock:
            self._clusters[cluster_id] = prune(details)
            self._event(cluster_id, "CREATING", {"user": req.user})
            self._schedule(cluster_id, self._start_seconds(), "RUNNING", "RUNNING")
        return {"cluster_id": cluster_id}

    def _all_purpose(self, req: Request) -> dict:
        details = self._details(req.body_param("cluster_id"))
        if details.get("cluster_source") == "JOB":
            raise invalid(
                f"Cluster {details['cluster_id']} is a job cluster; it cannot be changed directly."
            )
        return details

    @staticmethod
    def _unexpected(details: dict) -> ApiError:
        state = details["state"]
        return ApiError(
            400,
            "INVALID_STATE",
            f"Cluster {details['cluster_id']} is in unexpected state {state.capitalize()}.",
        )

    def edit(self, req: Request) -> dict:
        """POST clusters/edit: replace the spec; a RUNNING cluster restarts, a TERMINATED one
        stays TERMINATED."""
        with self._lock:
            details = self._all_purpose(req)
            if details["state"] not in ("RUNNING", "TERMINATED"):
                raise self._unexpected(details)
            spec = check_spec(req.json(), self.pools)
            previous = {k: copy.deepcopy(details[k]) for k in SPEC_FIELDS if k in details}
            for key in SPEC_FIELDS:
                details.pop(key, None)
            details.update(spec)
            details.setdefault("driver_node_type_id", spec.get("node_type_id"))
            if not spec.get("autoscale"):
                details.setdefault("num_workers", 0)
            self._event(
                details["cluster_id"],
                "EDITED",
                {"user": req.user, "previous_attributes": previous, "attributes": spec},
            )
            if details["state"] == "RUNNING":
                self._starting(details, "RESTARTING", "RESTARTING", req.user, "USER_REQUEST")
        return {}

    def start(self, req: Request) -> dict:
        """POST clusters/start: TERMINATED -> PENDING -> RUNNING."""
        with self._lock:
            details = self._all_purpose(req)
            if details["state"] != "TERMINATED":
                raise self._unexpected(details)
            self._starting(details, "PENDING", "STARTING", req.user, "USER_REQUEST")
        return {}

    def restart(self, req: Request) -> dict:
        """POST clusters/restart: RUNNING -> RESTARTING -> RUNNING."""
        with self._lock:
            details = self._all_purpose(req)
            if details["state"] != "RUNNING":
                raise self._unexpected(details)
            self._starting(details, "RESTARTING", "RESTARTING", req.user, "USER_REQUEST")
        return {}

    def delete(self, req: Request) -> dict:
        """POST clusters/delete (terminate): TERMINATING, then TERMINATED (stays if TERMINATED)."""
        with self._lock:
            details = self._details(req.body_param("cluster_id"))
            if details["state"] in ("TERMINATED", "TERMINATING"):
                return {}
            cluster_id = details["cluster_id"]
            details["state"] = "TERMINATING"
            details["state_message"] = "Terminating the cluster"
            details["termination_reason"] = {
                "code": "USER_REQUEST",
                "type": "SUCCESS",
                "parameters": {"username": req.user},
            }
            self._event(cluster_id, "TERMINATING", {"reason": details["termination_reason"]})
            delay = min(TERMINATE_SECONDS, self._start_seconds())
            self._schedule(cluster_id, delay, "TERMINATED", "")
        return {}

    def permanent_delete(self, req: Request) -> dict:
        """POST clusters/permanent-delete: gone from get and list (a running one is terminated)."""
        with self._lock:
            details = self._details(req.body_param("cluster_id"))
            cluster_id = details["cluster_id"]
            del self._clusters[cluster_id]
            self._timers.pop(cluster_id, None)
            self._events.pop(cluster_id, None)
        return {}

    def events(self, req: Request) -> dict:
        """POST clusters/events: newest first by default; offset/limit paging with next_page."""
        body = req.json()
        with self._lock:
            details = self._details(req.body_param("cluster_id"))
            events = copy.deepcopy(self._events.get(details["cluster_id"], []))
        order = req.str_param("order", "DESC")
        if order not in ("ASC", "DESC"):
            raise invalid(f"Invalid order {order!r}: use ASC or DESC.")
        kinds = set(check_list(body.get("event_types"), "event_types"))
        start = req.int_param("start_time")
        end = req.int_param("end_time")
        offset = req.int_param("offset", 0) or 0
        limit = req.int_param("limit", 50) or 50
        if offset < 0 or not 1 <= limit <= 500:
            raise invalid("offset must be >= 0 and limit between 1 and 500.")
        events = [
            e
            for e in events
            if (not kinds or e["type"] in kinds)
            and (start is None or e["timestamp"] >= start)
            and (end is None or e["timestamp"] <= end)
        ]
        if order == "DESC":
            events.reverse()
        page = events[offset : offset + limit]
        result: dict = {"total_count": len(events)}
        if page:
            result["events"] = [prune(e) for e in page]
        if offset + limit < len(events):
            result["next_page"] = prune(
                {
                    **{k: body[k] for k in ("cluster_id", "start_time", "end_time", "order",
                                            "event_types") if k in body},
                    "offset": offset + limit,
                    "limit": limit,
                }
            )  # fmt: skip
        return result

    def get(self, req: Request) -> dict:
        """GET clusters/get."""
        with self._lock:
            return prune(copy.deepcopy(self._details(req.query.get("cluster_id"))))

    def list(self, req: Request) -> dict:
        """GET clusters/list (one page; filter_by.cluster_sources/cluster_states honoured)."""
        sources = _multi(req, "filter_by.cluster_sources")
        states = _multi(req, "filter_by.cluster_states")
        with self._lock:
            self._advance()
            clusters = [copy.deepcopy(c) for c in self._clusters.values()]
        clusters = [
            c
            for c in clusters
            if (not sources or c.get("cluster_source") in sources)
            and (not states or c.get("state") in states)
        ]
        clusters.sort(key=lambda c: c.get("start_time", 0), reverse=True)
        return {"clusters": [prune(c) for c in clusters]} if clusters else {}

    def spark_versions(self, req: Request) -> dict:
        """GET clusters/spark-versions."""
        return {"versions": [{"key": key, "name": name} for key, name in SPARK_VERSIONS]}

    def list_node_types(self, req: Request) -> dict:
        """GET clusters/list-node-types (a few node types of each cloud, with local disks)."""
        return node_types()


def _default_tags(cluster_id: str, name: str) -> dict:
    return {
        "Vendor": "Databricks",
        "Creator": PAT_USER,
        "ClusterName": name,
        "ClusterId": cluster_id,
    }


def _multi(req: Request, key: str) -> set[str]:
    raw = req.query.get(key)
    return {part for part in raw.split(",") if part} if raw else set()
