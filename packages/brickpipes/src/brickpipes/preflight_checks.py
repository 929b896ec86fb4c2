"""The checks of ``brickpipes preflight`` (:mod:`.preflight`), in the order they run.

Each takes the shared :class:`~.preflight.Context` and returns a :class:`~.preflight.Result`
whose fix is what to run: SQL grants name the identity's grant principal (a user's e-mail, a
service principal's application id), CLI commands the Databricks CLI's.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from .preflight import Check, Context, Result, Shell, Sql, short_error

# What a run needs on each securable (Unity Catalog privilege names).
NEEDS = {
    "CATALOG": ("USE_CATALOG",),
    "SCHEMA": ("USE_SCHEMA", "CREATE_TABLE", "MODIFY", "SELECT"),
    "VOLUME": ("READ_VOLUME", "WRITE_VOLUME"),
}
# What creating a child needs on its parent (besides ownership of the parent).
CREATE = {"SCHEMA": "CREATE_SCHEMA", "VOLUME": "CREATE_VOLUME"}
RUN_LEVELS = {"IS_OWNER", "CAN_MANAGE", "CAN_MANAGE_RUN"}
ATTACH_LEVELS = {"CAN_MANAGE", "CAN_RESTART", "CAN_ATTACH_TO"}
SERVERLESS_SETTING = "serverless_jobs_ws_nb_enable"
MAX_PAGES = 100


# ---- resources and identity --------------------------------------------------------------


def check_variables(ctx: Context) -> Result:
    """The resources with their variables read (every auth variable set)."""
    import dagster as dg

    method = ctx.project.workspace.method
    missing = [name for name in method.variables.values() if not ctx.environ.get(name)]
    if missing:
        return Result.failed(
            f"variables: {', '.join(missing)} not set (auth_method="
            f"{ctx.project.workspace.auth_method})",
            "Set them in .env (local) or as CI secrets, e.g.",
            Shell(f"export {missing[0]}=..."),
        )
    wanted = {"workspace": ctx.project.workspace, "environment": ctx.project.environment}
    if ctx.project.pipes is not None:
        wanted["pipes"] = ctx.project.pipes
    with dg.build_resources(wanted) as built:
        ctx.resources = {name: getattr(built, name) for name in wanted}
    return Result.passed(f"variables: auth_method={ctx.workspace.auth_method}, all set")


def check_host(ctx: Context) -> Result:
    """The workspace answers HTTP at all (any status will do)."""
    import requests

    from .network import network_cause

    host = ctx.workspace.describe_host()
    setting = ctx.workspace.method.host_setting
    if not host.startswith("http"):
        return Result.failed(
            f"host: no workspace URL ({setting} is {host or 'empty'!r})",
            f"Set {setting} to the workspace URL, e.g. https://adb-123.4.azuredatabricks.net",
        )
    try:
        requests.get(f"{host.rstrip('/')}/api/2.0/preview/scim/v2/Me", timeout=20)
    except requests.RequestException as error:
        what, check = network_cause(error, setting) or ("it did not answer", setting)
        return Result.failed(
            f"host: {host} cannot be reached: {what}",
            f"Check {check}.",
            "Behind a proxy: HTTPS_PROXY (and NO_PROXY) in this shell or the CI job.",
        )
    return Result.passed(f"host: {host} answers")


def check_credentials(ctx: Context) -> Result:
    """The credentials authenticate: who this is (SCIM Me), and whom grants must name."""
    from databricks.sdk.errors import DatabricksError

    try:
        ctx.client = ctx.workspace.get_client()
        me = ctx.client.current_user.me()
    except (DatabricksError, ValueError) as error:
        variables = ", ".join(ctx.workspace.method.variables.values())
        return Result.failed(
            f"credentials: refused: {short_error(error)}",
            f"Check {variables}: values of this workspace, not expired or revoked.",
        )
    ctx.user_name = me.user_name or ""
    ctx.display_name = me.display_name or ""
    ctx.groups = tuple(g.display for g in me.groups or [] if g.display)
    ctx.service_principal = "@" not in ctx.user_name
    who = "service principal" if ctx.service_principal else "user"
    shown = f" ({ctx.display_name})" if ctx.display_name else ""
    return Result.passed(
        f"credentials: {who} {ctx.user_name}{shown}\n"
        f"grants name it as `{ctx.user_name}`"
        + (" (its application id)" if ctx.service_principal else "")
    )


def check_environment(ctx: Context) -> Result:
    """The environment this shell's runs are in, and where they write."""
    try:
        env = ctx.environment_resource.current(ctx.environ, client=ctx.api)
    except ValueError as error:
        return Result.failed(f"environment: {error}")
    ctx.environment = env
    block = (
        f"environment: {env.kind} {env.name}\n"
        f"  schema   {env.schema_name}\n"
        f"  volume   {env.volume_name}"
        + ("" if ctx.uses_volume else " (not used: Pipes transport dbfs)")
        + f"\n  uploads  {env.code_path}\n"
        f"  jobs     '{env.job_name('<name>')}' (bundle target {env.bundle_target})"
    )
    if not env.is_production and env.schema == env.production_schema:
        return Result.failed(block, "Give this environment its own schema (production_schema).")
    return Result("INFO", block)


# ---- catalog, schema, volume -------------------------------------------------------------


def check_catalog(ctx: Context) -> Result:
    """The catalog exists (the preflight never creates one)."""
    from databricks.sdk.errors import NotFound, PermissionDenied

    name = ctx.env.catalog
    try:
        info = ctx.api.catalogs.get(name)
    except NotFound:
        return Result.failed(
            f"catalog {name}: does not exist; the preflight never creates a catalog",
            "A metastore admin (or a user with CREATE CATALOG on the metastore) creates it:",
            Sql(f"CREATE CATALOG IF NOT EXISTS {name};"),
            Sql(grant("USE_CATALOG", "CATALOG", name, ctx.user_name)),
        )
    except PermissionDenied:
        return Result.failed(
            f"catalog {name}: {ctx.user_name} may not see it",
            "Its owner or a metastore admin grants:",
            Sql(grant("USE_CATALOG", "CATALOG", name, ctx.user_name)),
        )
    ctx.owners[("CATALOG", name)] = info.owner or ""
    return Result.passed(f"catalog {name}: exists (owner {info.owner})")


def check_schema(ctx: Context) -> Result:
    """The environment's schema exists, or this identity can create it."""
    env = ctx.env
    return _exists_or_creatable(ctx, "SCHEMA", env.schema_name, ("CATALOG", env.catalog))


def check_volume(ctx: Context) -> Result:
    """The Pipes volume exists, or this identity can create it (when Pipes uses one)."""
    env = ctx.env
    if not ctx.uses_volume:
        return Result.passed(f"volume {env.volume_name}: not used (Pipes transport dbfs)")
    return _exists_or_creatable(ctx, "VOLUME", env.volume_name, ("SCHEMA", env.schema_name))


def _exists_or_creatable(ctx: Context, kind: str, name: str, parent: tuple[str, str]) -> Result:
    from databricks.sdk.errors import NotFound

    from .environments import ensure_schema_and_volume

    label = f"{kind.lower()} {name}"
    try:
        info = ctx.api.schemas.get(name) if kind == "SCHEMA" else ctx.api.volumes.read(name)
    except NotFound:
        pass
    else:
        ctx.owners[(kind, name)] = info.owner or ""
        return Result.passed(f"{label}: exists (owner {info.owner})")
    env = ctx.env
    if env.is_production:
        return Result.failed(
            f"{label}: does not exist; production's is never created by a run or the preflight",
            "Create it (as the identity that runs production, so that it owns it):",
            Sql(f"CREATE {kind} IF NOT EXISTS {name};"),
            Shell(create_command(kind, name)),
        )
    creatable = can_create(ctx, kind, parent)
    if creatable is None:
        return Result.warning(
            f"{label}: does not exist; cannot read whether {ctx.user_name} may create it "
            "(effective permissions unreadable)"
        )
    if not creatable:
        return Result.failed(
            f"{label}: does not exist, and {ctx.user_name} may not create it",
            f"Grant {CREATE[kind].replace('_', ' ')} (the first run then creates it):",
            Sql(grant(CREATE[kind], *parent, ctx.user_name)),
            "or create it as an identity that may:",
            Sql(f"CREATE {kind} IF NOT EXISTS {name};"),
        )
    if ctx.create:
        created = ensure_schema_and_volume(ctx.api, env)
        ctx.owners[(kind, name)] = ctx.user_name
        return Result.passed(f"{label}: created" if created else f"{label}: exists")
    ctx.owners[(kind, name)] = ctx.user_name  # whoever creates it owns it
    return Result.warning(
        f"{label}: does not exist; {ctx.user_name} may create it (the first run does)",
        "Or create it now:",
        Shell(
            "uv run brickpipes preflight --create"
            + (f" --pull-request {env.owner}" if env.kind == "branch" else "")
        ),
    )


def can_create(ctx: Context, kind: str, parent: tuple[str, str]) -> bool | None:
    """Whether this identity owns ``parent`` or holds the privilege to create ``kind`` in it
    (None: its effective permissions cannot be read)."""
    from databricks.sdk.errors import DatabricksError

    if owns(ctx, *parent):
        return True
    try:
        held = effective_privileges(ctx, *parent)
    except DatabricksError:
        return None
    return bool(held & {CREATE[kind], "ALL_PRIVILEGES"})


def create_command(kind: str, name: str) -> str:
    parts = name.split(".")
    if kind == "SCHEMA":
        return f"databricks schemas create {parts[1]} {parts[0]}"
    return f"databricks volumes create {parts[0]} {parts[1]} {parts[2]} MANAGED"


# ---- grants -------------------------------------------------------------------------------


def grant(privilege: str, kind: str, name: str, principal: str) -> str:
    """``GRANT <PRIV> ON <SECURABLE> <name> TO `<principal>`;`` (SQL spelling)."""
    return f"GRANT {privilege.replace('_', ' ')} ON {kind} {name} TO `{principal}`;"


def owns(ctx: Context, kind: str, name: str) -> bool:
    return ctx.owners.get((kind, name), "") in ctx.principals


def effective_privileges(ctx: Context, kind: str, name: str) -> set[str]:
    """Privileges this identity holds on ``name``, directly, inherited, or through a group.

    Reads ``effective-permissions`` page by page until no ``next_page_token``: with
    ``max_results=0`` the service may answer an empty page that still has one.
    """
    from databricks.sdk.errors import DatabricksError

    held: set[str] = set()
    for principal in ctx.principals:
        try:
            held |= _effective(ctx, kind, name, principal)
        except DatabricksError:
            if principal == ctx.user_name:
                raise
            # a workspace-local group (users, admins) is no Unity Catalog principal
    return held


def _effective(ctx: Context, kind: str, name: str, principal: str) -> set[str]:
    path = f"/api/2.1/unity-catalog/effective-permissions/{kind.lower()}/{name}"
    held: set[str] = set()
    token = None
    for _ in range(MAX_PAGES):
        query: dict[str, Any] = {"principal": principal, "max_results": 0}
        if token:
            query["page_token"] = token
        answer = ctx.api.api_client.do("GET", path, query=query) or {}
        for assignment in answer.get("privilege_assignments") or []:
            if assignment.get("principal") == principal:
                held |= {p["privilege"] for p in assignment.get("privileges") or []}
        token = answer.get("next_page_token")
        if not token:
            break
    return held


def grants_check(kind: str) -> Check:
    """The check of the privileges runs need on the environment's ``kind`` securable."""

    def check(ctx: Context) -> Result:
        from databricks.sdk.errors import DatabricksError

        env = ctx.env
        name = {"CATALOG": env.catalog, "SCHEMA": env.schema_name, "VOLUME": env.volume_name}[kind]
        needed = NEEDS[kind]
        label = f"grants on {kind.lower()} {name}"
        if kind == "VOLUME" and not ctx.uses_volume:
            return Result.passed(f"{label}: not needed (Pipes transport dbfs)")
        if owns(ctx, kind, name):
            return Result.passed(f"{label}: {ctx.user_name} owns it")
        try:
            held = effective_privileges(ctx, kind, name)
        except DatabricksError as error:
            reason = short_error(error)
            return Result.warning(f"{label}: cannot read effective permissions: {reason}")
        if "ALL_PRIVILEGES" in held:
            return Result.passed(f"{label}: ALL PRIVILEGES")
        missing = [p for p in needed if p not in held]
        if not missing:
            return Result.passed(f"{label}: {', '.join(needed)}")
        return Result.failed(
            f"{label}: {ctx.user_name} lacks {', '.join(missing)}",
            f"Its owner ({ctx.owners.get((kind, name)) or 'see DESCRIBE'}) or an admin runs:",
            *(Sql(grant(p, kind, name, ctx.user_name)) for p in missing),
        )

    return Check(f"grants-{kind.lower()}", check, needs=(kind.lower(),))


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
