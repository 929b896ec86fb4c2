"""A rendered project as the ``brickpipes`` commands see it: its pyproject.toml, its
definitions and the brickpipes resources they declare.

The commands run in the project's folder (``uv run brickpipes ...``): the root module comes
from ``[tool.dg.project]``, the definitions from ``<root_module>.definitions`` (``defs``).
"""

from __future__ import annotations

import atexit
import importlib
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg

from .environments import DatabricksEnvironment
from .jobs import DatabricksJobs
from .pipes import DatabricksPipes
from .workspace import DatabricksWorkspace

R = TypeVar("R")
# What the commands' resources were set up in; closed when the process exits.
_OPEN = ExitStack()
atexit.register(_OPEN.close)


class ProjectError(Exception):
    """The folder is not a project these commands can read."""


@dataclass(frozen=True)
class Project:
    """A project folder, its settings and the resources its definitions declare."""

    root: Path
    pyproject: dict[str, Any]
    resources: dict[str, Any]

    @classmethod
    def load(cls, root: str | Path = ".") -> Project:
        """Read ``root``'s pyproject.toml and load its definitions (no network)."""
        root = Path(root).resolve()
        path = root / "pyproject.toml"
        if not path.is_file():
            raise ProjectError(f"{root} has no pyproject.toml: run this in the project's folder.")
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: dagster depends on tomli there
            import tomli as tomllib  # type: ignore[no-redef]
        pyproject = tomllib.loads(path.read_text())
        module = pyproject.get("tool", {}).get("dg", {}).get("project", {}).get("root_module")
        if not module:
            raise ProjectError(f"{path} has no [tool.dg.project] root_module.")
        if str(root / "src") not in sys.path:
            sys.path.insert(0, str(root / "src"))
        loaded = importlib.import_module(f"{module}.definitions")
        definitions = loaded.defs
        if not isinstance(definitions, dg.Definitions):
            definitions = definitions()
        return cls(root, pyproject, dict(definitions.resources or {}))

    @property
    def settings(self) -> dict[str, Any]:
        """The ``[tool.brickpipes]`` table."""
        return self.pyproject.get("tool", {}).get("brickpipes", {})

    def resource(self, kind: type[R]) -> R | None:
        """The first declared resource of class ``kind``, or one nested in another, as
        declared (its ``dg.EnvVar`` values not read yet: see :meth:`initialized`)."""
        for value in self.resources.values():
            if isinstance(value, kind):
                return value
        for value in self.resources.values():
            for name in getattr(type(value), "model_fields", {}):
                nested = getattr(value, name, None)
                if isinstance(nested, kind):
                    return nested
        return None

    @staticmethod
    def initialized(resource: R) -> R:
        """``resource`` with its environment variables read, set up for the rest of the
        command (a missing variable raises, naming it)."""
        if isinstance(resource, dg.ConfigurableResource):
            # Resources with a teardown are set up in a context: kept open for the command.
            return _OPEN.enter_context(resource.process_config_and_initialize_cm())  # type: ignore[return-value]
        return resource

    @property
    def workspace(self) -> DatabricksWorkspace:
        found = self.resource(DatabricksWorkspace)
        if found is None:
            raise ProjectError("The definitions declare no DatabricksWorkspace resource.")
        return found

    @property
    def environment(self) -> DatabricksEnvironment:
        found = self.resource(DatabricksEnvironment)
        if found is None:
            raise ProjectError(
                "The definitions declare no DatabricksEnvironment resource "
                "(defs/resources.py): environments need one."
            )
        return found

    @property
    def pipes(self) -> DatabricksPipes | None:
        return self.resource(DatabricksPipes)

    @property
    def jobs(self) -> DatabricksJobs | None:
        return self.resource(DatabricksJobs)
