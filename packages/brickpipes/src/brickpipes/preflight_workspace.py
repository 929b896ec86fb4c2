"""The checks of ``brickpipes preflight`` (:mod:`.preflight`) on the workspace: the upload
folder, the bundle's jobs, and the compute (serverless, an existing cluster, the job clusters of
clusters.yml). :mod:`.preflight_checks` orders them in ``CHECKS``.

Each takes the shared :class:`~.preflight.Context` and returns a :class:`~.preflight.Result`
whose fix is what to run: CLI commands the Databricks CLI's.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from .preflight import Context, Result, Shell, short_error

RUN_LEVELS = {"IS_OWNER", "CAN_MANAGE", "CAN_MANAGE_RUN"}
ATTACH_LEVELS = {"CAN_MANAGE", "CAN_RESTART", "CAN_ATTACH_TO"}
SERVERLESS_SETTING = "serverless_jobs_ws_nb_enable"


# ---- workspace folder, jobs, compute ------------------------------------------------------


def check_uploads(ctx: Context) -> Result:
    """The upload folder takes a file: mkdirs, upload a small file, delete it."""
    from databricks.sdk.errors import DatabricksError
    from databricks.sdk.service.workspace import ImportFormat

    folder = ctx.env.code_path
    probe = f"{folder.rstrip('/')}/.brickpipes-preflight-{uuid.uuid4().hex[:8]}.txt"
    try:
        ctx.api.workspace.mkdirs(folder)
        ctx.api.workspace.upload(
            probe, b"brickpipes preflight\n", format=ImportFormat.AUTO, overwrite=True
        )
        ctx.api.workspace.delete(probe)
    except DatabricksError as error:
        existing, object_id = nearest_folder(ctx, folder)
        return Result.failed(
            f"uploads: cannot write to {folder}: {short_error(error)}",
            f"The owner of {existing} or a workspace admin gives {ctx.user_name} CAN MANAGE on it:",
            acl_command(ctx, "directories", object_id, "CAN_MANAGE"),
        )
    return Result.passed(f"uploads: {folder} is writable")


def acl_command(ctx: Context, object_type: str, object_id: str, level: str) -> Shell:
    """The CLI command that gives this identity ``level`` on a workspace object."""
    key = "service_principal_name" if ctx.service_principal else "user_name"
    acl = {"access_control_list": [{key: ctx.user_name, "permission_level": level}]}
    return Shell(
        f"databricks permissions update {object_type} {object_id} --json '{json.dumps(acl)}'"
    )


def nearest_folder(ctx: Context, folder: str) -> tuple[str, str]:
    """The closest existing folder at or above ``folder``, and its object id."""
    from databricks.sdk.errors import DatabricksError

    path = folder.rstrip("/")
    while path.count("/") > 1:
        try:
            status = ctx.api.workspace.get_status(path)
            return path, str(status.object_id)
        except DatabricksError:
            path = path.rsplit("/", 1)[0]
    return path, f"$(databricks workspace get-status {path} -o json | jq .object_id)"


def bundle_job_names(root: Path) -> list[str]:
    """The names of the jobs of ``root/databricks.yml`` as written, before a target's prefix:
    ``${bundle.name}`` and variables with defaults substituted."""
    import yaml

    config = yaml.safe_load((root / "databricks.yml").read_text()) or {}
    context = {"bundle.name": str((config.get("bundle") or {}).get("name", ""))}
    for name, spec in (config.get("variables") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            context[f"var.{name}"] = str(spec["default"])
    documents = [config]
    for pattern in config.get("include") or []:
        documents += [yaml.safe_load(p.read_text()) or {} for p in sorted(root.glob(pattern))]
    names = []
    for document in documents:
        for key, job in ((document.get("resources") or {}).get("jobs") or {}).items():
            raw = str((job or {}).get("name", key))
            names.append(re.sub(r"\$\{([^}]+)\}", lambda m: context.get(m[1], m[0]), raw))
    return names


def check_jobs(ctx: Context) -> Result:
    """Every job of the bundle is deployed, once, under the name Dagster looks up, and this
    identity may run it."""
    root = ctx.project.root
    if not (root / "databricks.yml").is_file():
        return Result.passed("jobs: the project has no databricks.yml (no bundle jobs)")
    env = ctx.env
    deploy = f"databricks bundle deploy -t {env.bundle_target}"
    if env.kind == "branch":
        deploy += f" --var pull_request={env.owner}"
    lines, fixes, failed = [], [], False
    for name in bundle_job_names(root):
        deployed = env.job_name(name)
        ids = [j.job_id for j in ctx.api.jobs.list(name=deployed) if j.job_id is not None]
        if not ids:
            failed = True
            lines.append(f"  missing   '{deployed}'")
            if Shell(deploy) not in fixes:
                fixes += ["Deploy the bundle (in the project's folder):", Shell(deploy)]
        elif len(ids) > 1:
            failed = True
            lines.append(f"  {len(ids)} jobs  '{deployed}': {ids}")
            fixes += [f"Keep one job named '{deployed}':"]
            fixes += [Shell(f"databricks jobs delete {job_id}") for job_id in ids[1:]]
        else:
            level = job_level(ctx, ids[0])
            if level is None or level in RUN_LEVELS:
                how = f", {level}" if level else ", permissions unread"
                lines.append(f"  deployed  '{deployed}' ({ids[0]}{how})")
                continue
            failed = True
            lines.append(f"  deployed  '{deployed}' ({ids[0]}), but {ctx.user_name} may not run it")
            fixes += [
                "Its owner gives CAN MANAGE RUN (or declare permissions: in the bundle):",
                acl_command(ctx, "jobs", str(ids[0]), "CAN_MANAGE_RUN"),
            ]
    message = f"jobs of the bundle, target {env.bundle_target}:\n" + "\n".join(lines)
    return Result.failed(message, *fixes) if failed else Result.passed(message)


def job_level(ctx: Context, job_id: int) -> str | None:
    """This identity's strongest permission on a job ("" if none), None if unreadable."""
    return _level(ctx, "jobs", str(job_id), ("IS_OWNER", "CAN_MANAGE", "CAN_MANAGE_RUN"))


def _level(ctx: Context, object_type: str, object_id: str, order: tuple[str, ...]) -> str | None:
    from databricks.sdk.errors import DatabricksError

    try:
        acl = ctx.api.permissions.get(object_type, object_id).access_control_list or []
    except DatabricksError:
        return None
    levels = set()
    for entry in acl:
        who = entry.user_name or entry.service_principal_name or entry.group_name
        if who in ctx.principals:
            levels |= {p.permission_level.value for p in entry.all_permissions or []
                       if p.permission_level is not None}  # fmt: skip
    return next((level for level in order if level in levels), "")


def check_compute(ctx: Context) -> Result:
    """The compute the Pipes resource uses is there: serverless on, the existing cluster, the
    node types and runtimes of clusters.yml."""
    pipes = ctx.pipes
    if pipes is None:
        return Result.passed("compute: no DatabricksPipes resource (nothing to check)")
    if pipes.compute == "serverless":
        return check_serverless(ctx)
    if pipes.compute == "existing-cluster":
        return check_cluster(ctx, pipes.cluster_id)
    return check_profiles(ctx, Path(pipes.cluster_profiles))


def check_serverless(ctx: Context) -> Result:
    """Serverless compute for jobs is enabled.

    Read from the workspace settings API's ``serverless_jobs_ws_nb_enable`` (an internal API
    the Databricks VS Code extension reads); when it does not answer, by creating a job with a
    serverless task (the Jobs API refuses one when serverless is off) and deleting it at once:
    nothing runs and no compute starts.
    """
    enabled = serverless_setting(ctx)
    how = "workspace setting"
    if enabled is None:
        enabled, how = serverless_probe(ctx), "a serverless job created and deleted"
    fix = (
        "An account admin enables serverless compute (account console, Settings, Feature "
        "enablement), or render the project for other compute:",
        Shell("copier update --data compute=job-cluster"),
    )
    if enabled is None:
        return Result.warning("compute: serverless: cannot tell whether it is enabled", *fix)
    if not enabled:
        return Result.failed(f"compute: serverless is not enabled ({how})", *fix)
    return Result.passed(f"compute: serverless is enabled ({how})")


def serverless_setting(ctx: Context) -> bool | None:
    from databricks.sdk.errors import DatabricksError

    try:
        headers = ["X-Databricks-Org-Id"]
        me = ctx.api.api_client.do("GET", "/api/2.0/preview/scim/v2/Me", response_headers=headers)
        workspace_id = me.get("X-Databricks-Org-Id")
        path = f"/api/2.0/settings-api/workspace/{workspace_id}/{SERVERLESS_SETTING}"
        answer = ctx.api.api_client.do("GET", path) or {}
        value = (answer.get("setting") or {}).get("value") or {}
        state = next(iter(value.values()), {}).get("value") if value else None
    except (DatabricksError, AttributeError, TypeError):
        return None
    return {"ENABLED": True, "DISABLED": False}.get(str(state))


def serverless_probe(ctx: Context) -> bool | None:
    from databricks.sdk.errors import DatabricksError

    settings = {
        "name": "brickpipes preflight: serverless probe (deleted at once)",
        "tasks": [{"task_key": "probe", "environment_key": "probe",
                   "spark_python_task": {"python_file": f"{ctx.env.code_path}/probe.py"}}],
        "environments": [{"environment_key": "probe", "spec": {"client": "2"}}],
    }  # fmt: skip
    try:
        created = ctx.api.api_client.do("POST", "/api/2.2/jobs/create", body=settings)
    except DatabricksError as error:
        return False if "serverless" in str(error).lower() else None
    ctx.api.api_client.do("POST", "/api/2.2/jobs/delete", body={"job_id": created["job_id"]})
    return True


def check_cluster(ctx: Context, cluster_id: str) -> Result:
    """``DATABRICKS_CLUSTER_ID`` names a cluster this identity can attach to."""
    from databricks.sdk.errors import DatabricksError

    find = ("Find the id of the cluster to use:", Shell("databricks clusters list"))
    if not cluster_id:
        return Result.failed("compute: DATABRICKS_CLUSTER_ID is not set", *find)
    try:
        cluster = ctx.api.clusters.get(cluster_id)
    except DatabricksError as error:
        return Result.failed(
            f"compute: cluster {cluster_id} (DATABRICKS_CLUSTER_ID) not found: "
            f"{short_error(error)}",
            *find,
            "and set DATABRICKS_CLUSTER_ID to it.",
        )
    state = cluster.state.value if cluster.state else "?"
    label = f"compute: cluster {cluster.cluster_name} ({cluster_id}), {state}"
    level = _level(ctx, "clusters", cluster_id, ("CAN_MANAGE", "CAN_RESTART", "CAN_ATTACH_TO"))
    if level == "":
        return Result.failed(
            f"{label}: {ctx.user_name} may not attach to it",
            "Its owner gives CAN RESTART (CAN ATTACH TO if it is kept running):",
            acl_command(ctx, "clusters", cluster_id, "CAN_RESTART"),
        )
    return Result.passed(f"{label}" + (f", {level}" if level else ""))


def check_profiles(ctx: Context, path: Path) -> Result:
    """Each profile's node types and runtime exist in this workspace."""
    from .clusters import load_profiles

    profiles = load_profiles(path)
    node_types = {n.node_type_id for n in ctx.api.clusters.list_node_types().node_types or []}
    versions = {v.key for v in ctx.api.clusters.spark_versions().versions or []}
    problems = []
    for name, profile in profiles.items():
        for field in ("node_type_id", "driver_node_type_id"):
            value = getattr(profile, field)
            if value and value not in node_types:
                problems.append(f"  {name}: {field} {value} is no node type here")
        if profile.spark_version not in versions:
            problems.append(f"  {name}: spark_version {profile.spark_version} is unknown here")
    if problems:
        example = ", ".join(sorted(node_types)[:3])
        return Result.failed(
            f"compute: {path.name} names what this workspace lacks:\n" + "\n".join(problems),
            f"Edit {path.name} (and the bundle's node_type_id variable) to values listed by "
            f"(e.g. {example}):",
            Shell("databricks clusters list-node-types"),
            Shell("databricks clusters spark-versions"),
        )
    return Result.passed(
        f"compute: job clusters of {path.name}: {len(profiles)} profile(s), node types and "
        "runtimes exist"
    )
