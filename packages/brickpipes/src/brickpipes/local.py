"""``brickpipes local``: local Databricks for ``dg dev``, until Ctrl-C.

Run in the project's folder (``uv run brickpipes local``), it starts local Databricks on a
fixed port and prepares it as a team prepares a workspace for this project: the catalog, the
development environment's schema and Pipes volume (the same names the code location derives:
:meth:`DatabricksEnvironment.current`), the volumes of ``[tool.local-databricks]``, and the
bundle's jobs deployed under the development target by the identity Dagster runs as (so they
carry the names Dagster looks up). Then it writes the variables the project's auth method
reads (``[tool.brickpipes] auth_method``) into a marked block of ``.env``, which ``dg dev``
loads; the rest of ``.env`` is kept. The values work as long as the command runs.

Its state (the credentials, workspace files and volume contents) lives in ``.local-databricks/``
(git-ignored by a ``.gitignore`` of its own): a restart keeps the URL and the credentials, so
``.env`` and a running ``dg dev`` stay valid. Run history and tables of local Databricks live
in the server's memory and Spark session: they start afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_databricks import LocalDatabricks

    from .project import Project
    from .testing import LocalSettings

DEFAULT_PORT = 8765
STATE_DIR = ".local-databricks"
BEGIN = "# >>> local Databricks (uv run brickpipes local): rewritten at each start"
END = "# <<< local Databricks"
# The local Entra ID app every local Databricks registers (local_databricks.entra).
LOCAL_ENTRA = {
    "ARM_CLIENT_ID": "local-client",
    "ARM_CLIENT_SECRET": "local-secret",  # pragma: allowlist secret
    "ARM_TENANT_ID": "local-tenant",
}
PROFILE = "local"
WIDTH = 80


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """The command's arguments."""
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to serve on (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--env-file", default=".env", help="file to write the variables to (default .env)"
    )
    parser.add_argument(
        "--state-dir",
        default=STATE_DIR,
        help=f"folder of the server's state, kept between runs (default {STATE_DIR})",
    )


# -- .env --------------------------------------------------------------------------------------


def rewrite_block(text: str, values: Mapping[str, str]) -> str:
    """``text`` (a .env file) with the marked block replaced by ``values``, at the end of the
    file (dotenv's last assignment wins); every other line is kept as it is."""
    lines = text.splitlines()
    kept: list[str] = []
    inside = False
    for line in lines:
        if line.strip() == BEGIN:
            inside = True
        elif inside and line.strip() == END:
            inside = False
        elif not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    block = [BEGIN, *(f"{name}={value}" for name, value in values.items()), END]
    return "\n".join([*kept, *([""] if kept else []), *block]) + "\n"


def overridden(text: str, values: Mapping[str, str]) -> list[str]:
    """Names of ``values`` that ``text`` also assigns outside the block (the block wins)."""
    outside = rewrite_block(text, {}).split(BEGIN)[0]
    found = re.findall(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", outside, re.M)
    return sorted(set(found) & set(values))


def write_env(path: Path, values: Mapping[str, str]) -> list[str]:
    """Rewrite the block of ``path`` (created if absent); the names also set outside it."""
    text = path.read_text() if path.is_file() else ""
    path.write_text(rewrite_block(text, values))
    return overridden(text, values)


# -- what each auth method reads -------------------------------------------------------------


def auth_variables(server: Any, auth_method: str, state: Path) -> dict[str, str]:
    """The variables ``auth_method`` reads (as :data:`brickpipes.AUTH_METHODS` names them),
    pointing at ``server``; ``LOCAL_DATABRICKS_URL`` names it (azure-client-secret then gets
    its token from the server's Entra ID stand-in: :meth:`DatabricksWorkspace.get_client`)."""
    url = server.url
    if auth_method == "pat":
        values = {"DATABRICKS_HOST": url, "DATABRICKS_TOKEN": server.token}
    elif auth_method == "oauth-m2m":
        values = {
            "DATABRICKS_HOST": url,
            "DATABRICKS_CLIENT_ID": server.client_id,
            "DATABRICKS_CLIENT_SECRET": server.client_secret,
        }
    elif auth_method == "azure-client-secret":
        values = {"DATABRICKS_HOST": url, **LOCAL_ENTRA}
    elif auth_method == "profile":
        config = state / "databrickscfg"
        config.write_text(f"[{PROFILE}]\nhost = {url}\ntoken = {server.token}\n")
        config.chmod(0o600)
        values = {"DATABRICKS_CONFIG_FILE": str(config), "DATABRICKS_CONFIG_PROFILE": PROFILE}
    else:
        raise ValueError(f"unknown auth_method {auth_method!r}")
    return {**values, "LOCAL_DATABRICKS_URL": url}


# -- state -------------------------------------------------------------------------------------


def prepare_state(state: Path) -> dict[str, str]:
    """Create the state folder (git-ignored) and return its credentials, made on first use."""
    state.mkdir(parents=True, exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.is_file():
        ignore.write_text("# local Databricks' state (brickpipes local): never committed\n*\n")
    path = state / "credentials.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    wanted = {
        "token": lambda: "dapi" + secrets.token_hex(16),
        "client_id": lambda: "local-" + secrets.token_hex(8),
        "client_secret": lambda: "dose" + secrets.token_hex(16),
        "admin_token": lambda: "ldadmin" + secrets.token_hex(16),
    }
    credentials = {key: str(saved.get(key) or make()) for key, make in wanted.items()}
    if credentials != saved:
        path.write_text(json.dumps(credentials, indent=2) + "\n")
        path.chmod(0o600)
    return credentials


@contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """This process's environment with ``values`` set (and no other credential), restored
    after: the project's resources read it as the code location will."""
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(("DATABRICKS_", "ARM_"))]:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass(frozen=True)
class Identity:
    """The server as one identity sees it (what local_databricks' REST helpers need)."""

    url: str
    token: str


@dataclass
class Prepared:
    """What :func:`prepare` made, for the summary."""

    environment: str = ""
    schema: str = ""
    volume: str = ""
    created: list[str] | None = None
    jobs: list[str] | None = None
    target: str | None = None
    cluster: str = ""


def prepare(
    server: LocalDatabricks, project: Project, settings: LocalSettings, values: dict[str, str]
) -> Prepared:
    """Create the catalog, the development environment's schema and volume, and deploy the
    bundle, as the identity of ``values`` (the code location's); adds ``DATABRICKS_CLUSTER_ID``
    to ``values`` for ``existing-cluster``."""
    from local_databricks.project import api_call, create_cluster, create_volumes

    from .environments import DatabricksEnvironment, ensure_schema_and_volume

    prepared = Prepared(created=[], jobs=[])
    create_volumes(server, _volumes(project.root))
    if settings.compute == "existing-cluster":
        values["DATABRICKS_CLUSTER_ID"] = prepared.cluster = create_cluster(server)
    variables: dict[str, str] = {}
    with environ(values):
        # Variables read now, from values: as the code location reads them from .env.
        client = project.initialized(project.workspace).get_client()
        header = client.config.authenticate().get("Authorization", "")
        identity = Identity(server.url, header.removeprefix("Bearer "))
        declared = project.resource(DatabricksEnvironment)
        if declared is not None:
            environment = project.initialized(declared).current(client=client)
            catalog = {"name": environment.catalog}
            api_call(server, "POST", "/api/2.1/unity-catalog/catalogs", catalog)
            _grant_as_admin(server, client, environment.catalog, prepared.cluster)
            prepared.created = ensure_schema_and_volume(client, environment)
            prepared.environment = f"{environment.kind} ({environment.name})"
            prepared.schema, prepared.volume = environment.schema_name, environment.volume_path
            prepared.target = environment.bundle_target
            if environment.kind == "development" and "developer" in _bundle_variables(project):
                # BRICKPIPES_DEVELOPER may name someone else than the identity: Dagster uses it.
                variables["developer"] = environment.owner
    if (project.root / "databricks.yml").is_file():
        from local_databricks.bundle import deploy_bundle

        ids = deploy_bundle(identity, project.root, prepared.target, variables=variables)  # type: ignore[arg-type]
        prepared.jobs = sorted(
            api_call(identity, "GET", f"/api/2.2/jobs/get?job_id={job_id}")["settings"]["name"]  # type: ignore[arg-type]
            for job_id in ids
        )
    return prepared


def _grant_as_admin(server: Any, client: Any, catalog: str, cluster_id: str | None) -> None:
    """What an admin grants a service principal on a workspace (docs: first run): use of the
    catalog and creating its schema in it, and restarting the all-purpose cluster. The server's
    own user owns both already."""
    from local_databricks.project import api_call

    principal = client.current_user.me().user_name or ""
    me = api_call(server, "GET", "/api/2.0/preview/scim/v2/Me")
    if principal in ("", me["userName"]):
        return
    change = {"principal": principal, "add": ["USE_CATALOG", "CREATE_SCHEMA"]}
    path = f"/api/2.1/unity-catalog/permissions/catalog/{catalog}"
    api_call(server, "PATCH", path, {"changes": [change]})
    if cluster_id:
        entry = {"service_principal_name": principal, "permission_level": "CAN_RESTART"}
        path = f"/api/2.0/permissions/clusters/{cluster_id}"
        api_call(server, "PATCH", path, {"access_control_list": [entry]})


def _bundle_variables(project: Project) -> set[str]:
    path = project.root / "databricks.yml"
    if not path.is_file():
        return set()
    import yaml

    return set((yaml.safe_load(path.read_text()) or {}).get("variables") or {})


def _volumes(root: Path) -> tuple[str, ...]:
    from local_databricks.project import ProjectSettings

    return ProjectSettings.from_pyproject(root / "pyproject.toml").volumes


# -- the command -------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    """Start, prepare, write .env, serve until SIGINT or SIGTERM."""
    from local_databricks import LocalDatabricks
    from local_databricks.project import ProjectSettings

    from .project import Project, ProjectError
    from .testing import LocalSettings

    root = Path.cwd()
    try:
        project = Project.load(root)
        settings = LocalSettings.from_pyproject(root / "pyproject.toml")
        server_settings = ProjectSettings.from_pyproject(root / "pyproject.toml")
    except (ProjectError, ValueError) as error:
        print(f"brickpipes local: {error}", file=sys.stderr)
        return 2
    state = (root / args.state_dir).resolve()
    credentials = prepare_state(state)
    server = LocalDatabricks(
        root=state / "server",
        port=args.port,
        require_volumes=server_settings.require_volumes,
        **credentials,
    )
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            server.start()
        except OSError as error:
            print(
                f"brickpipes local: cannot listen on 127.0.0.1:{args.port} ({error.strerror}).\n"
                f"Is another `brickpipes local` running? Else choose a free port: "
                f"uv run brickpipes local --port {args.port + 1}",
                file=sys.stderr,
            )
            return 1
        try:
            values = auth_variables(server, settings.auth_method, state)
            prepared = prepare(server, project, settings, values)
            env_file = (root / args.env_file).resolve()
            shadowed = write_env(env_file, values)
            if server_settings.warm_spark:
                threading.Thread(target=_warm, args=(server,), daemon=True).start()
            print(summary(project, settings, server, prepared, env_file, values, shadowed))
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
            print("\nlocal Databricks stopped; the .env values work again after a restart.")
            return 0
        finally:
            server.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _warm(server: LocalDatabricks) -> None:
    try:
        server.warm_spark()
    except Exception as error:  # a Spark task gets the same error with its run
        print(f"brickpipes local: local Spark: {error}", file=sys.stderr, flush=True)


def summary(
    project: Project,
    settings: LocalSettings,
    server: LocalDatabricks,
    prepared: Prepared,
    env_file: Path,
    values: Mapping[str, str],
    shadowed: list[str],
) -> str:
    """What a user needs, in lines of at most 80 columns."""
    import textwrap

    def wrap(label: str, text: str) -> list[str]:
        return textwrap.wrap(
            text,
            WIDTH,
            initial_indent=f"  {label:<12}",
            subsequent_indent=" " * 14,
            break_on_hyphens=False,
        )

    name = project.pyproject.get("project", {}).get("name", project.root.name)
    lines = [f"Local Databricks for {name} is running at {server.url}", ""]
    if prepared.environment:
        lines += wrap("environment", prepared.environment)
        lines += wrap("tables", f"{prepared.schema}.<table>")
        lines += wrap("volume", prepared.volume)
    if prepared.created:
        lines += wrap("created", ", ".join(prepared.created))
    if prepared.jobs:
        lines += wrap(
            "jobs",
            f"deployed (bundle target {prepared.target or 'default'}): "
            + ", ".join(f"'{job}'" for job in prepared.jobs),
        )
    if prepared.cluster:
        lines += wrap("cluster", f"{prepared.cluster} (existing-cluster)")
    try:
        shown = env_file.relative_to(project.root)
    except ValueError:
        shown = env_file
    lines += wrap(
        "auth",
        f"{settings.auth_method}: wrote {', '.join(values)} to {shown} "
        "(between its 'local Databricks' lines; the rest is kept)",
    )
    if shadowed:
        lines += wrap(
            "note",
            f"{shown} also sets {', '.join(shadowed)} above that block; the block's values "
            "win while it is there.",
        )
    try:
        state = f"{server.root.parent.relative_to(project.root)}/"
    except ValueError:
        state = str(server.root.parent)
    lines += wrap(
        "state",
        f"{state} (git-ignored): started again, this command keeps the URL, the "
        "credentials and the uploaded files; Databricks runs and tables start afresh",
    )
    lines += [
        "",
        "Now run `uv run dg dev` in another terminal and open the Dagster UI it prints.",
        "Dagster keeps its run history only with DAGSTER_HOME set (git-ignored here):",
        "  mkdir -p .dagster_home && DAGSTER_HOME=$PWD/.dagster_home uv run dg dev",
        "Ctrl-C here stops local Databricks (the .env values then stop working).",
    ]
    return "\n".join(lines)
