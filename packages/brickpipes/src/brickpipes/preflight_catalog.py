"""The checks of ``brickpipes preflight`` (:mod:`.preflight`) on resources, identity and Unity
Catalog: the variables, host, credentials and environment; the catalog, schema and volume; the
grants runs need on them. :mod:`.preflight_checks` orders them in ``CHECKS``.

Each takes the shared :class:`~.preflight.Context` and returns a :class:`~.preflight.Result`
whose fix is what to run: SQL grants name the identity's grant principal (a user's e-mail, a
service principal's application id), CLI commands the Databricks CLI's.
"""

from __future__ import annotations

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
