"""``python -m local_databricks.bundle deploy|destroy``: the command line (`main`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .deploying import deploy_job, destroy_bundle
from .reading import BundleError, load_bundle
from .rest import Connection
from .user import current_user


def main(argv: list[str] | None = None) -> int:
    """``deploy`` or ``destroy`` a bundle on a workspace given by URL and token."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m local_databricks.bundle",
        description="Deploy or destroy a Databricks Asset Bundle on local Databricks.",
    )
    parser.add_argument("command", choices=("deploy", "destroy"))
    parser.add_argument("root", nargs="?", default=".", help="the bundle's folder (default: .)")
    parser.add_argument("--url", required=True, help="the workspace URL (DATABRICKS_HOST)")
    parser.add_argument("--token", required=True, help="a token of the user to deploy as")
    parser.add_argument("-t", "--target", help="the target (default: the bundle's default)")
    parser.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="a variable's value"
    )
    args = parser.parse_intermixed_args(argv)
    overrides: dict[str, Any] = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--var takes name=value, not {item!r}")
        overrides[name] = value
    server = Connection(url=args.url.rstrip("/"), token=args.token)
    try:
        if args.command == "deploy":
            bundle = load_bundle(Path(args.root), args.target, overrides, current_user(server))
            for key in sorted(bundle.jobs):
                job_id = deploy_job(server, bundle, key)
                print(f"{key}: job {job_id} '{bundle.jobs[key]['name']}'")
            print(f"Deployed target '{bundle.target}' to {bundle.root_path}")
        else:
            destroyed = destroy_bundle(server, Path(args.root), args.target, overrides)
            for key, job_id in destroyed.jobs.items():
                print(f"{key}: deleted job {job_id}")
            print(f"Deleted {destroyed.root_path or 'no root path (none was deployed)'}")
    except BundleError as error:
        print(f"error: {error}")
        return 2
    return 0
