"""Put every Databricks resource of a project in its environment: :func:`with_environment`."""

from __future__ import annotations

from typing import Any

import dagster as dg

from .environments import DatabricksEnvironment
from .jobs import DatabricksJobs
from .pipes import DatabricksPipes

PLACED = (DatabricksPipes, DatabricksJobs)


def with_environment(
    definitions: dg.Definitions, environment: DatabricksEnvironment
) -> dg.Definitions:
    """``definitions`` (resources only, as ``defs/resources.py`` returns them) with every
    :class:`DatabricksPipes` and :class:`DatabricksJobs` that names no environment given
    ``environment``: the template's and any the team adds write to the environment's schema
    and run its jobs, with nothing to remember. One that names its own keeps it."""
    resources = dict(definitions.resources or {})
    others = [
        name
        for name in ("assets", "schedules", "sensors", "jobs", "asset_checks")
        if getattr(definitions, name, None)
    ]
    if others:
        raise ValueError(
            f"with_environment() takes resource definitions only; these also hold "
            f"{', '.join(others)}: declare them in a module of their own."
        )
    return dg.Definitions(
        resources={key: _placed(value, environment) for key, value in resources.items()}
    )


def _placed(resource: Any, environment: DatabricksEnvironment) -> Any:
    if not isinstance(resource, PLACED) or resource.environment is not None:
        return resource
    fields = {name: getattr(resource, name) for name in type(resource).model_fields}
    # A new instance, not model_copy(): Dagster rebuilds resources from their arguments.
    return type(resource)(**{**fields, "environment": environment})
