"""Deploy a project's Databricks Asset Bundle (``databricks.yml`` and the resource files it
includes) to local Databricks as ``databricks bundle deploy`` deploys it to a workspace: each
job's task files are uploaded under the target's ``workspace.file_path``, then the job is
created, or reset to the bundle's settings. Local runs and tests then find the jobs by the
names the bundle gives them, as the code location does on a workspace.

Only the part of the bundle format this project uses is read: job resources; variables with
defaults, per-target values, overrides (``variables=`` here, ``--var`` on the command line,
``BUNDLE_VAR_<name>`` in the environment, as for the CLI) and references between them; targets
with a ``mode`` (``development``: ``[dev <short name>] `` names, paused schedules, a ``dev``
tag, a per-user root path), ``presets`` (``name_prefix``, ``tags``, ``trigger_pause_status``,
``jobs_max_concurrent_runs``) and a workspace; ``${bundle.*}``, ``${var.*}``,
``${workspace.*}`` and ``${workspace.current_user.*}`` references (the user is the server's
``SCIM Me``); and ``python_file`` paths relative to the resource file. Dynamic value references
(``{{job.parameters.x}}``, ``{{task.name}}``...) are left for the run. Anything else is an
error that says to deploy with the CLI.

``python -m local_databricks.bundle deploy|destroy --url URL --token TOKEN [-t target]
[--var name=value]... [root]`` does the same from a shell.

The modules: `user` (the current user, as the CLI names it), `reading` (`load_bundle`),
`deploying` (`deploy_bundle`, `destroy_bundle`), `rest` (`Server`, `Connection`, the REST
call) and `cli` (`main`, run by ``python -m``).
"""

from .cli import main
from .deploying import (
    Destroyed,
    deploy_bundle,
    deploy_job,
    destroy_bundle,
    ensure_job,
    find_job,
)
from .reading import Bundle, BundleError, load_bundle
from .rest import Connection, Server
from .user import (
    CurrentUser,
    current_user,
    domain_friendly_name,
    is_service_principal,
    normalize_string,
    short_name,
)

__all__ = [
    "Bundle",
    "BundleError",
    "Connection",
    "CurrentUser",
    "Destroyed",
    "Server",
    "current_user",
    "deploy_bundle",
    "deploy_job",
    "destroy_bundle",
    "domain_friendly_name",
    "ensure_job",
    "find_job",
    "is_service_principal",
    "load_bundle",
    "main",
    "normalize_string",
    "short_name",
]
