"""Clusters API: seeded all-purpose clusters, per-run job clusters, versions and node types."""

from __future__ import annotations

import copy
import random
import string
import threading
import time

from .auth import PAT_USER
from .errors import invalid
from .routing import Request, Router
from .util import now_ms, prune

SPARK_VERSIONS = [
    ("16.4.x-scala2.12", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-scala2.13", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.13)"),
    ("15.4.x-scala2.12", "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("14.3.x-scala2.12", "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("17.3.x-scala2.13", "17.3 LTS (includes Apache Spark 4.0.0, Scala 2.13)"),
    ("16.4.x-cpu-ml-scala2.12", "16.4 LTS ML (includes Apache Spark 3.5.2, Scala 2.12)"),
]

# (node_type_id, memory_mb, cores, category, cloud)
NODE_TYPES = [
    ("i3.xlarge", 31232, 4, "Storage Optimized", "AWS"),
    ("i3.2xlarge", 62464, 8, "Storage Optimized", "AWS"),
    ("m5d.large", 8192, 2, "General Purpose", "AWS"),
    ("m5d.xlarge", 16384, 4, "General Purpose", "AWS"),
    ("r5d.xlarge", 32768, 4, "Memory Optimized", "AWS"),
    ("Standard_DS3_v2", 14336, 4, "General Purpose", "AZURE"),
    ("Standard_D4ds_v5", 16384, 4, "General Purpose", "AZURE"),
    ("Standard_E8ds_v5", 65536, 8, "Memory Optimized", "AZURE"),
    ("n2-standard-4", 16384, 4, "General Purpose", "GCP"),
    ("n2-highmem-8", 65536, 8, "Memory Optimized", "GCP"),
]


def new_cluster_id() -> str:
    """A cluster id shaped like the real ones: `MMDD-HHMMSS-xxxxxxxx`."""
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
    return time.strftime("%m%d-%H%M%S-") + suffix


class ClusterStore:
    """All clusters the workspace knows: seeded all-purpose ones and job clusters of runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clusters: dict[str, dict] = {}

    def reset(self) -> None:
        """Forget all clusters."""
        with self._lock:
            self._clusters.clear()

    def register(self, router: Router) -> None:
        """Add the clusters routes (API 2.0 and 2.1)."""
        base = r"/api/2\.[01]/clusters/"
        router.add("GET", base + "get", self.get)
        router.add("GET", base + "list", self.list)
        router.add("GET", base + "spark-versions", self.spark_versions)
        router.add("GET", base + "list-node-types", self.list_node_types)

    def add(self, cluster_id: str | None = None, **fields) -> dict:
        """Seed an all-purpose cluster (RUNNING unless `state` says otherwise)."""
        cluster_id = cluster_id or new_cluster_id()
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
            found = self._clusters.get(cluster_id)
            return copy.deepcopy(found) if found is not None else None

    def set_state(self, cluster_id: str, state: str, message: str = "") -> None:
        """Move a cluster to `state` (RUNNING, TERMINATED, ...)."""
        with self._lock:
            details = self._clusters.get(cluster_id)
            if details is None:
                return
            details["state"] = state
            details["state_message"] = message
            if state == "TERMINATED":
                details["terminated_time"] = now_ms()

    def get(self, req: Request) -> dict:
        """GET clusters/get."""
        cluster_id = req.query.get("cluster_id")
        details = self.get_details(cluster_id or "")
        if details is None:
            raise invalid(f"Cluster {cluster_id} does not exist")
        return prune(details)

    def list(self, req: Request) -> dict:
        """GET clusters/list (one page; filter_by.cluster_sources/cluster_states honoured)."""
        sources = _multi(req, "filter_by.cluster_sources")
        states = _multi(req, "filter_by.cluster_states")
        with self._lock:
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
        """GET clusters/list-node-types (a few node types of each cloud)."""
        return {
            "node_types": [
                {
                    "node_type_id": node_id,
                    "instance_type_id": node_id,
                    "memory_mb": memory,
                    "num_cores": float(cores),
                    "num_gpus": 0,
                    "category": category,
                    "description": f"{node_id} ({cloud})",
                    "is_deprecated": False,
                    "is_hidden": False,
                    "photon_driver_capable": True,
                    "photon_worker_capable": True,
                    "support_port_forwarding": True,
                }
                for node_id, memory, cores, category, cloud in NODE_TYPES
            ]
        }


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
