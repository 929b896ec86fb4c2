"""``brickpipes environment`` and ``brickpipes drop-environment``."""

from __future__ import annotations

import argparse
import os

from .environments import PULL_REQUEST_VARIABLE, drop_environment
from .project import Project


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """The command's arguments."""
    if name == "drop-environment":
        parser.add_argument(
            "--pull-request",
            metavar="N",
            help=f"drop pull request N's schema (default: {PULL_REQUEST_VARIABLE}, else yours)",
        )


def main(args: argparse.Namespace) -> int:
    """Print the environment, or drop its schema."""
    project = Project.load()
    workspace = project.initialized(project.workspace)
    environ = dict(os.environ)
    if getattr(args, "pull_request", None):
        environ[PULL_REQUEST_VARIABLE] = args.pull_request
    # A client only when needed: to name a developer from the workspace, or to drop a schema.
    environment = project.initialized(project.environment).current(environ)
    if args.command == "environment":
        print(f"{environment.describe()} at {workspace.describe_host()}")
        print(f"  tables     {environment.catalog}.{environment.schema}.<table>")
        print(f"  volume     {environment.volume_path}")
        print(f"  uploads    {environment.code_path}")
        print(
            f"  jobs       '{environment.job_name('<name>')}' (bundle target "
            f"{environment.bundle_target})"
        )
        return 0
    if environment.is_production:
        print(f"Refused: {environment.describe()} is production; it is never dropped.")
        return 1
    dropped = drop_environment(workspace.get_client(), environment)
    what = f"schema {environment.schema_name}"
    print(f"Dropped {what} and everything in it." if dropped else f"No {what} to drop.")
    return 0
