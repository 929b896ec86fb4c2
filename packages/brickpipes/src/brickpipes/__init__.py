"""brickpipes: the Databricks runtime of copier-dagster-databricks projects.

A project declares its resources with these classes (``defs/resources.py``) and its assets
call them; nothing here imports ``databricks.sdk`` at module level, so a code location loads
fast and without credentials (the SDK client is built when a run needs it).

* :class:`DatabricksWorkspace`: auth from environment variables only (:data:`AUTH_METHODS`).
* :class:`DatabricksPipes`: run a remote script or notebook as a Databricks run observed
  through Dagster Pipes; :class:`RemoteTask` for several tasks in one run.
* :class:`DatabricksJobs` and :func:`materialize_job_assets`: run an existing job by name and
  map each task's outcome to assets.
* :class:`DatabricksEnvironment`: which environment (development, pull request, production)
  a run is in, and so which schema, volume, upload folder and job names it uses.
* :func:`load_profiles`: the schema and loader of a project's ``clusters.yml``.
* :class:`DatabricksPipesScript`: the ``dg`` component (``dg scaffold defs
  brickpipes.DatabricksPipesScript <name>``).
"""

from .clusters import ClusterProfile, ClusterProfileError, load_profiles
from .components import DatabricksPipesScript
from .environments import (
    DatabricksEnvironment,
    Environment,
    ProductionWriteRefused,
    drop_environment,
    ensure_schema_and_volume,
)
from .errors import DatabricksRunFailed
from .isolation import with_environment
from .jobs import DatabricksJobs, JobRun, TaskResult, materialize_job_assets
from .pipes import DatabricksPipes, RemoteTask
from .uploads import upload_file
from .workspace import AUTH_METHODS, AuthMethod, DatabricksWorkspace

__version__ = "0.4.0"

__all__ = [
    "AUTH_METHODS",
    "AuthMethod",
    "ClusterProfile",
    "ClusterProfileError",
    "DatabricksEnvironment",
    "DatabricksJobs",
    "DatabricksPipes",
    "DatabricksPipesScript",
    "DatabricksRunFailed",
    "DatabricksWorkspace",
    "Environment",
    "JobRun",
    "ProductionWriteRefused",
    "RemoteTask",
    "TaskResult",
    "__version__",
    "drop_environment",
    "ensure_schema_and_volume",
    "load_profiles",
    "materialize_job_assets",
    "upload_file",
    "with_environment",
]
