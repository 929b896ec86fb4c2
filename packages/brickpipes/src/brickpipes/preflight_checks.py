"""The checks of ``brickpipes preflight`` (:mod:`.preflight`), in the order they run.

Each takes the shared :class:`~.preflight.Context` and returns a :class:`~.preflight.Result`
whose fix is what to run: SQL grants name the identity's grant principal (a user's e-mail, a
service principal's application id), CLI commands the Databricks CLI's.

The checks live in :mod:`.preflight_catalog` (resources and identity; catalog, schema and
volume; grants) and :mod:`.preflight_workspace` (upload folder, bundle jobs, compute); their
names are re-exported here.
"""

from __future__ import annotations

from .preflight import Check
from .preflight_catalog import (
    CREATE,
    MAX_PAGES,
    NEEDS,
    can_create,
    check_catalog,
    check_credentials,
    check_environment,
    check_host,
    check_schema,
    check_variables,
    check_volume,
    create_command,
    effective_privileges,
    grant,
    grants_check,
    owns,
)
from .preflight_workspace import (
    ATTACH_LEVELS,
    RUN_LEVELS,
    SERVERLESS_SETTING,
    acl_command,
    bundle_job_names,
    check_cluster,
    check_compute,
    check_jobs,
    check_profiles,
    check_serverless,
    check_uploads,
    job_level,
    nearest_folder,
    serverless_probe,
    serverless_setting,
)

__all__ = [
    "ATTACH_LEVELS",
    "CHECKS",
    "CREATE",
    "MAX_PAGES",
    "NEEDS",
    "RUN_LEVELS",
    "SERVERLESS_SETTING",
    "acl_command",
    "bundle_job_names",
    "can_create",
    "check_catalog",
    "check_cluster",
    "check_compute",
    "check_credentials",
    "check_environment",
    "check_host",
    "check_jobs",
    "check_profiles",
    "check_schema",
    "check_serverless",
    "check_uploads",
    "check_variables",
    "check_volume",
    "create_command",
    "effective_privileges",
    "grant",
    "grants_check",
    "job_level",
    "nearest_folder",
    "owns",
    "serverless_probe",
    "serverless_setting",
]

CHECKS: list[Check] = [
    Check("variables", check_variables),
    Check("host", check_host, needs=("variables",)),
    Check("credentials", check_credentials, needs=("host",)),
    Check("environment", check_environment, needs=("credentials",)),
    Check("catalog", check_catalog, needs=("environment",)),
    Check("schema", check_schema, needs=("catalog",)),
    Check("volume", check_volume, needs=("schema",)),
    grants_check("CATALOG"),
    grants_check("SCHEMA"),
    grants_check("VOLUME"),
    Check("uploads", check_uploads, needs=("environment",)),
    Check("jobs", check_jobs, needs=("environment",)),
    Check("compute", check_compute, needs=("environment",)),
]
