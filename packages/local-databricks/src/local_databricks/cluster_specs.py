"""Cluster specs: the fields of a ClusterSpec, their validation, and the node types offered.

The runtime versions are `spark_versions.py`'s one list. A spec is checked as `clusters/create`
and `clusters/edit` check it; `launch_error` is what the service refuses at a cluster's launch
(an unknown version or instance pool), for all-purpose and job clusters alike.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from .errors import ApiError, invalid
from .routing import check_dict, check_int, check_list, check_str, check_str_map
from .spark_versions import is_known, version_error

if TYPE_CHECKING:
    from .instance_pools import InstancePoolService

# Fields of clusters/create and clusters/edit that are stored as given (ClusterSpec).
SPEC_FIELDS = (
    "cluster_name",
    "spark_version",
    "node_type_id",
    "driver_node_type_id",
    "num_workers",
    "autoscale",
    "spark_conf",
    "spark_env_vars",
    "custom_tags",
    "cluster_log_conf",
    "init_scripts",
    "autotermination_minutes",
    "data_security_mode",
    "single_user_name",
    "runtime_engine",
    "enable_elastic_disk",
    "enable_local_disk_encryption",
    "instance_pool_id",
    "driver_instance_pool_id",
    "policy_id",
    "apply_policy_default_values",
    "aws_attributes",
    "azure_attributes",
    "gcp_attributes",
    "ssh_public_keys",
    "docker_image",
    "workload_type",
    "kind",
    "use_ml_runtime",
    "is_single_node",
)

# (node_type_id, memory_mb, cores, category, cloud, local disks, local disk GB, NVMe disks, NVMe GB)
NODE_TYPES = [
    ("i3.xlarge", 31232, 4, "Storage Optimized", "AWS", 0, 0, 1, 950),
    ("i3.2xlarge", 62464, 8, "Storage Optimized", "AWS", 0, 0, 1, 1900),
    ("m5d.large", 8192, 2, "General Purpose", "AWS", 0, 0, 1, 75),
    ("m5d.xlarge", 16384, 4, "General Purpose", "AWS", 0, 0, 1, 150),
    ("m5.large", 8192, 2, "General Purpose", "AWS", 0, 0, 0, 0),
    ("r5d.xlarge", 32768, 4, "Memory Optimized", "AWS", 0, 0, 1, 150),
    ("r5d.2xlarge", 65536, 8, "Memory Optimized", "AWS", 0, 0, 1, 300),
    ("Standard_DS3_v2", 14336, 4, "General Purpose", "AZURE", 1, 28, 0, 0),
    ("Standard_D4ds_v5", 16384, 4, "General Purpose", "AZURE", 1, 150, 0, 0),
    ("Standard_D8ds_v5", 32768, 8, "General Purpose", "AZURE", 1, 300, 0, 0),
    ("Standard_E8ds_v5", 65536, 8, "Memory Optimized", "AZURE", 1, 300, 0, 0),
    ("n2-standard-4", 16384, 4, "General Purpose", "GCP", 0, 0, 0, 0),
    ("n2-standard-8", 32768, 8, "General Purpose", "GCP", 0, 0, 0, 0),
    ("n2-highmem-8", 65536, 8, "Memory Optimized", "GCP", 0, 0, 0, 0),
]


NODE_TYPE_IDS = frozenset(n[0] for n in NODE_TYPES)


def launch_error(spec: dict, pools: InstancePoolService | None) -> ApiError | None:
    """Why the service would refuse to launch a cluster from `spec` (its Spark version or an
    instance pool it does not know), or None."""
    version = spec.get("spark_version")
    if isinstance(version, str) and version and not is_known(version):
        return version_error(version)
    for name in ("instance_pool_id", "driver_instance_pool_id"):
        pool_id = spec.get(name)
        if isinstance(pool_id, str) and pool_id and pools is not None:
            error = pools.missing_error(pool_id)
            if error is not None:
                return error
    return None


def check_spec(body: dict, pools: InstancePoolService | None) -> dict:
    """The ClusterSpec of a clusters/create or clusters/edit body, checked; 400 naming the field."""
    spec = {k: copy.deepcopy(body[k]) for k in SPEC_FIELDS if body.get(k) is not None}
    check_str(spec.get("cluster_name"), "cluster_name")
    check_str(spec.get("spark_version"), "spark_version", required=True)
    for name in (
        "node_type_id",
        "driver_node_type_id",
        "data_security_mode",
        "instance_pool_id",
        "driver_instance_pool_id",
    ):
        check_str(spec.get(name), name)
    check_int(spec.get("num_workers"), "num_workers")
    check_int(spec.get("autotermination_minutes"), "autotermination_minutes")
    autoscale = check_dict(spec.get("autoscale"), "autoscale")
    low = check_int(autoscale.get("min_workers"), "autoscale.min_workers")
    high = check_int(autoscale.get("max_workers"), "autoscale.max_workers")
    if autoscale and (low is None or high is None or low > high or low < 0):
        raise invalid("autoscale needs 0 <= min_workers <= max_workers.")
    if (spec.get("num_workers") or 0) < 0:
        raise invalid("num_workers must not be negative.")
    if spec.get("num_workers") is not None and autoscale:
        raise invalid("Only one of num_workers and autoscale can be given.")
    check_str_map(spec.get("spark_conf"), "spark_conf")
    check_str_map(spec.get("spark_env_vars"), "spark_env_vars")
    check_str_map(spec.get("custom_tags"), "custom_tags")
    check_list(spec.get("init_scripts"), "init_scripts")
    log_conf = check_dict(spec.get("cluster_log_conf"), "cluster_log_conf")
    check_str(check_dict(log_conf.get("dbfs"), "cluster_log_conf.dbfs").get("destination"),
              "cluster_log_conf.dbfs.destination")  # fmt: skip
    for name in ("node_type_id", "driver_node_type_id"):
        if spec.get(name) and spec[name] not in NODE_TYPE_IDS and not spec.get("instance_pool_id"):
            raise invalid(f"Node type {spec[name]} is not supported.")
    error = launch_error(spec, pools)
    if error is not None:
        raise error
    if not spec.get("node_type_id") and not spec.get("instance_pool_id"):
        raise invalid("node_type_id or instance_pool_id is required.")
    if spec.get("instance_pool_id") and pools is not None:
        spec.setdefault("node_type_id", pools.node_type(spec["instance_pool_id"]))
    return spec


def node_types() -> dict:
    """The body of clusters/list-node-types (a few node types of each cloud, with local disks)."""
    return {
        "node_types": [
            {
                "node_type_id": node_id,
                "instance_type_id": node_id,
                "memory_mb": memory,
                "num_cores": float(cores),
                "num_gpus": 0,
                "category": category,
                "description": node_id,
                "display_order": 0,
                "is_deprecated": False,
                "is_hidden": False,
                "is_encrypted_in_transit": False,
                "is_graviton": False,
                "is_io_cache_enabled": bool(nvme),
                "photon_driver_capable": True,
                "photon_worker_capable": True,
                "support_cluster_tags": True,
                "support_ebs_volumes": cloud == "AWS",
                "support_port_forwarding": True,
                "node_instance_type": {
                    "instance_type_id": node_id,
                    "local_disks": disks,
                    "local_disk_size_gb": disk_gb,
                    "local_nvme_disks": nvme,
                    "local_nvme_disk_size_gb": nvme_gb,
                },
            }
            for node_id, memory, cores, category, cloud, disks, disk_gb, nvme, nvme_gb in (
                NODE_TYPES
            )
        ]
    }
