"""Environments: a developer, a pull request and production never write the same tables.

One place decides which environment a process runs in (:func:`environment_kind`), from
variables only:

* **production** only when declared: a Dagster+ deployment named in
  ``production_deployments`` (``DAGSTER_CLOUD_DEPLOYMENT_NAME``), or
  ``BRICKPIPES_ENVIRONMENT=production`` for deployments outside Dagster+;
* **branch**: a Dagster+ branch deployment (``DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1``), one per
  pull request (``DAGSTER_CLOUD_PULL_REQUEST_ID``, else the branch name);
* **development**: anything else, one per developer (the workspace identity's short name, as
  the Databricks CLI names it in ``mode: development``).

Everything physical derives from it (:class:`Environment`): the schema, the Pipes volume, the
upload folder and the names of the bundle's jobs, the same way ``databricks.yml``'s targets
name them (``dev``, ``pr``, ``prod``). Asset keys do not: they name the production table, so
lineage and branch-deployment comparisons stay stable, and the physical table travels in the
materialization's metadata.
"""

from __future__ import annotations

import getpass
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field, field_validator

from .workspace import DatabricksWorkspace

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

Kind = Literal["development", "branch", "production"]
KINDS: tuple[Kind, ...] = ("development", "branch", "production")
# Each kind's target in databricks.yml, which also names its schemas, folders and job prefixes.
BUNDLE_TARGETS: dict[Kind, str] = {"development": "dev", "branch": "pr", "production": "prod"}
# Declares the kind outside Dagster+ (development or production; a branch is Dagster+'s).
ENVIRONMENT_VARIABLE = "BRICKPIPES_ENVIRONMENT"
# Names the pull request outside Dagster+ (e.g. a CI job dropping the branch's schema).
PULL_REQUEST_VARIABLE = "BRICKPIPES_PULL_REQUEST"
# Names the developer without asking the workspace (offline commands, tests).
DEVELOPER_VARIABLE = "BRICKPIPES_DEVELOPER"
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


class ProductionWriteRefused(dg.Failure):
    """A run of a non-production environment named a production schema or volume."""


def short_name(user_name: str, display_name: str | None = None) -> str:
    """A workspace identity as the Databricks CLI's ``workspace.current_user.short_name``.

    The Databricks CLI's rule (``GetShortUserName`` and ``NormalizeString`` of
    databricks/cli; ``local_databricks.bundle.short_name`` is the same): the user name, or the
    display name of a service principal (whose user name is its application id, a UUID); its
    part before ``@``, lowercased, every run of other characters than letters and digits as
    one ``_``, none at either end.
    """
    name = user_name
    if display_name and _looks_like_uuid(user_name):
        name = display_name
    local = name.split("@", 1)[0].lower()
    return re.sub(r"[^a-z0-9]+", "_", local).strip("_")


def _looks_like_uuid(value: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value) is not None


def _suffix(value: str) -> str:
    """``value`` as a schema-name suffix: lowercase letters, digits and ``_``."""
    return re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_") or "unknown"


@dataclass(frozen=True)
class Environment:
    """Where one environment's runs write: its schema, volume, upload folder and job names."""

    kind: Kind
    owner: str  # the developer, the pull request, or "prod"
    catalog: str
    schema: str
    production_schema: str
    volume: str  # the Pipes volume's name (in the environment's schema)
    code_root: str  # workspace folder; uploads go to <code_root>/<name>/code

    @property
    def name(self) -> str:
        """``dev-<developer>``, ``pr-<number>`` or ``prod``."""
        return "prod" if self.is_production else f"{self.bundle_target}-{self.owner}"

    @property
    def bundle_target(self) -> str:
        """The ``databricks.yml`` target that deploys this environment's jobs."""
        return BUNDLE_TARGETS[self.kind]

    @property
    def job_prefix(self) -> str:
        """What the bundle's target puts before each job name."""
        return "" if self.is_production else f"[{self.bundle_target} {self.owner}] "

    @property
    def schema_name(self) -> str:
        """``catalog.schema``."""
        return f"{self.catalog}.{self.schema}"

    @property
    def volume_name(self) -> str:
        """``catalog.schema.volume``."""
        return f"{self.catalog}.{self.schema}.{self.volume}"

    @property
    def volume_path(self) -> str:
        """``/Volumes/<catalog>/<schema>/<volume>``."""
        return f"/Volumes/{self.catalog}/{self.schema}/{self.volume}"

    @property
    def code_path(self) -> str:
        """The workspace folder scripts and data are uploaded to."""
        return f"{self.code_root.rstrip('/')}/{self.name}/code"

    @property
    def is_production(self) -> bool:
        return self.kind == "production"

    def table(self, name: str) -> str:
        """The three-level name of table ``name`` in this environment."""
        return f"{self.catalog}.{self.schema}.{name}"

    def job_name(self, name: str) -> str:
        """The deployed name of the bundle job named ``name`` (``${bundle.name}: ...``)."""
        return self.job_prefix + name

    def extras(self) -> dict[str, str]:
        """What a remote script gets (``context.get_extra``): where this environment writes."""
        return {
            "environment": self.name,
            "catalog": self.catalog,
            "schema": self.schema,
            "volume_path": self.volume_path,
        }

    def describe(self) -> str:
        """One line: the environment and where it writes."""
        return f"{self.kind} environment {self.name} (schema {self.schema_name})"

    def guard(self, values: Mapping[str, Any]) -> None:
        """Fail before submitting when a non-production environment would touch production.

        ``values`` are what a run is given (extras, job parameters), by name; any string that
        names the production schema (``catalog.schema.``, ``/Volumes/catalog/schema/``, or the
        schema itself as a ``schema`` value) fails, naming both schemas.
        """
        if self.is_production:
            return
        production = f"{self.catalog}.{self.production_schema}"
        if self.schema == self.production_schema:
            raise ProductionWriteRefused(
                description=(
                    f"The {self.describe()} is production's schema: a {self.kind} environment "
                    "never writes production. Give it its own schema."
                )
            )
        for key, value in _strings(values):
            if _names_schema(value, self.catalog, self.production_schema) or (
                key.endswith("schema") and value == self.production_schema
            ):
                raise ProductionWriteRefused(
                    description=(
                        f"Refused: the {self.describe()} would write to production's schema "
                        f"{production} ({key}={value!r}). Name tables with the environment "
                        f"(e.g. {self.table('my_table')}), not production's."
                    )
                )


def _strings(values: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, str):
            yield name, value
        elif isinstance(value, Mapping):
            yield from _strings(value, f"{name}.")
        elif isinstance(value, list | tuple):
            yield from _strings({str(i): v for i, v in enumerate(value)}, f"{name}.")


def _names_schema(value: str, catalog: str, schema: str) -> bool:
    text = value.lower().replace("`", "")
    dotted = f"{catalog}.{schema}".lower()
    return (
        text == dotted
        or f"{dotted}." in text
        or f"/volumes/{catalog}/{schema}/".lower() in text
        or text.rstrip("/") == f"/volumes/{catalog}/{schema}".lower()
    )


def environment_kind(
    environ: Mapping[str, str], production_deployments: Iterable[str]
) -> tuple[Kind, str | None]:
    """The kind of environment ``environ`` describes, and its owner when the variables name
    it (a pull request; production's is ``prod``); a developer is named by the caller."""
    declared = environ.get(ENVIRONMENT_VARIABLE, "").strip().lower()
    if declared and declared not in ("development", "production"):
        raise ValueError(
            f"{ENVIRONMENT_VARIABLE}={declared!r}: use production or development\n"
            f"  e.g. {ENVIRONMENT_VARIABLE}=production"
        )
    if environ.get("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT") == "1" or environ.get(
        PULL_REQUEST_VARIABLE
    ):
        pull_request = (
            environ.get(PULL_REQUEST_VARIABLE)
            or environ.get("DAGSTER_CLOUD_PULL_REQUEST_ID")
            or environ.get("DAGSTER_CLOUD_GIT_BRANCH")
            or environ.get("DAGSTER_CLOUD_DEPLOYMENT_NAME")
            or "unknown"
        )
        return "branch", _suffix(pull_request)
    if declared == "production":
        return "production", "prod"
    deployment = environ.get("DAGSTER_CLOUD_DEPLOYMENT_NAME", "")
    if not declared and deployment and deployment in set(production_deployments):
        return "production", "prod"
    return "development", None


class DatabricksEnvironment(dg.ConfigurableResource):
    """The project's catalog, production schema, Pipes volume and upload root; which
    environment a run is in, and so where it writes, is decided when the run starts
    (:meth:`current`)."""

    workspace: DatabricksWorkspace
    catalog: str = Field(description="Unity Catalog catalog of every environment.")
    production_schema: str = Field(description="Production's schema; others derive from it.")
    volume: str = Field(default="dagster_pipes", description="Pipes volume name, per schema.")
    code_root: str = Field(description="Workspace folder of uploads, per environment.")
    production_deployments: list[str] = Field(
        default=["prod"], description="Dagster+ deployments that are production."
    )

    @field_validator("catalog", "production_schema", "volume")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError(
                f"{value!r} is not a Unity Catalog name this project uses: lowercase "
                "letters, digits and _, starting with a letter (e.g. sales)"
            )
        return value

    def current(
        self, environ: Mapping[str, str] | None = None, client: WorkspaceClient | None = None
    ) -> Environment:
        """The environment of this process (``environ``: default ``os.environ``).

        A developer is named by ``BRICKPIPES_DEVELOPER``, else by the workspace identity
        (``client``, else one built from :attr:`workspace`); the answer is cached per host.
        """
        environ = os.environ if environ is None else environ
        kind, owner = environment_kind(environ, self.production_deployments)
        if owner is None:
            owner = environ.get(DEVELOPER_VARIABLE) or self._developer(client)
            owner = _suffix(owner)
        return self.named(kind, owner)

    def named(self, kind: Kind, owner: str) -> Environment:
        """The environment of ``kind`` owned by ``owner`` (a developer, a pull request)."""
        schema = self.production_schema
        if kind != "production":  # the bundle target's schema: <schema>_dev_<you>, _pr_<n>
            schema = f"{schema}_{BUNDLE_TARGETS[kind]}_{owner}"
        return Environment(
            kind=kind,
            owner="prod" if kind == "production" else owner,
            catalog=self.catalog,
            schema=schema,
            production_schema=self.production_schema,
            volume=self.volume,
            code_root=self.code_root,
        )

    def _developer(self, client: WorkspaceClient | None) -> str:
        key = self.workspace.describe_host()
        with _LOCK:
            if key not in _DEVELOPERS:
                _DEVELOPERS[key] = workspace_developer(client or self.workspace.get_client())
            return _DEVELOPERS[key]

    def ensure(self, client: WorkspaceClient, environment: Environment) -> list[str]:
        """Create the environment's schema and volume when missing (never production's, which
        a team prepares: see the preflight); returns what was created."""
        key = (self.workspace.describe_host(), environment.volume_name)
        if environment.is_production or key in _ENSURED:
            return []
        created = ensure_schema_and_volume(client, environment)
        _ENSURED.add(key)
        return created


_LOCK = threading.Lock()
_DEVELOPERS: dict[str, str] = {}
_ENSURED: set[tuple[str, str]] = set()


def workspace_developer(client: WorkspaceClient) -> str:
    """The short name of the identity ``client`` authenticates as (SCIM Me); the OS user when
    the workspace does not say."""
    me = client.current_user.me()
    if me.user_name:
        return short_name(me.user_name, me.display_name)
    return getpass.getuser()


def ensure_schema_and_volume(client: WorkspaceClient, environment: Environment) -> list[str]:
    """Create ``environment``'s schema and Pipes volume when absent; returns what was created."""
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.catalog import VolumeType

    created = []
    try:
        client.schemas.get(environment.schema_name)
    except NotFound:
        client.schemas.create(
            name=environment.schema,
            catalog_name=environment.catalog,
            comment=f"Dagster {environment.kind} environment {environment.name}",
        )
        created.append(f"schema {environment.schema_name}")
    try:
        client.volumes.read(environment.volume_name)
    except NotFound:
        client.volumes.create(
            catalog_name=environment.catalog,
            schema_name=environment.schema,
            name=environment.volume,
            volume_type=VolumeType.MANAGED,
        )
        created.append(f"volume {environment.volume_name}")
    return created


def drop_environment(client: WorkspaceClient, environment: Environment) -> bool:
    """Drop a non-production environment's schema with everything in it (tables, volume).
    Returns False when it did not exist."""
    from databricks.sdk.errors import NotFound

    if environment.is_production:
        raise ProductionWriteRefused(
            description=f"Refused: {environment.describe()} is production; it is never dropped."
        )
    try:
        client.schemas.delete(environment.schema_name, force=True)
    except NotFound:
        return False
    return True
