"""`local-databricks` command: serve until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .api import LocalDatabricks
from .entra import EntraApp
from .runs import SPARK_MODES


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    parser = argparse.ArgumentParser(
        prog="local-databricks",
        description="Offline stand-in for the Databricks REST API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: a free one)")
    parser.add_argument("--token", help="personal access token to accept (default: random)")
    parser.add_argument("--client-id", help="OAuth M2M client id to accept (default: random)")
    parser.add_argument("--client-secret", help="OAuth M2M client secret (default: random)")
    parser.add_argument(
        "--root", help="state directory (default: a temporary directory removed at exit)"
    )
    parser.add_argument(
        "--cluster-start-seconds",
        type=float,
        default=0.0,
        help="simulated cluster start delay (PENDING 'Waiting for cluster')",
    )
    parser.add_argument(
        "--serverless-start-seconds",
        type=float,
        default=None,
        help="start delay of serverless tasks (default: same as --cluster-start-seconds)",
    )
    parser.add_argument(
        "--python", help="interpreter that runs tasks (default: the one running this server)"
    )
    parser.add_argument(
        "--oauth-token-ttl-seconds", type=float, default=3600, help="lifetime of OAuth tokens"
    )
    parser.add_argument(
        "--admin-token",
        help="bearer token the admin API (/__local-databricks/) requires (default: random)",
    )
    parser.add_argument(
        "--idle-timeout-seconds",
        type=float,
        default=30.0,
        help="drop a connection after this long without a byte from the client",
    )
    parser.add_argument(
        "--volume",
        action="append",
        default=[],
        metavar="/Volumes/C/S/V",
        help="create this Unity Catalog volume (and its catalog and schema) at start; repeatable",
    )
    parser.add_argument(
        "--require-volumes",
        action="store_true",
        help="writes under /Volumes need an existing volume, as on the service",
    )
    parser.add_argument(
        "--spark-mode",
        choices=SPARK_MODES,
        default="shared",
        help="shared: one local Spark per server that tasks attach to; per-task: a JVM per task",
    )
    parser.add_argument(
        "--warm-spark",
        action="store_true",
        help="start the shared local Spark at start, so the first Spark task finds it warm",
    )
    parser.add_argument(
        "--no-serverless",
        action="store_true",
        help="serverless compute for jobs is off: runs with serverless tasks are refused",
    )
    parser.add_argument(
        "--entra-tenant", default="local-tenant", help="tenant id of the local Entra ID app"
    )
    parser.add_argument(
        "--entra-client-id", default="local-client", help="client id of the local Entra ID app"
    )
    parser.add_argument(
        "--entra-client-secret", default="local-secret", help="secret of the local Entra ID app"
    )
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Start the server, print its URL and credentials, and wait for a signal."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.idle_timeout_seconds <= 0:
        parser.error("--idle-timeout-seconds must be positive")
    for volume in args.volume:
        parts = volume.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "Volumes" or not all(parts):
            parser.error(f"--volume must be /Volumes/<catalog>/<schema>/<volume>, not {volume!r}")
    server = LocalDatabricks(
        root=args.root,
        port=args.port,
        token=args.token,
        client_id=args.client_id,
        client_secret=args.client_secret,
        cluster_start_seconds=args.cluster_start_seconds,
        python=args.python,
        oauth_token_ttl_seconds=args.oauth_token_ttl_seconds,
        serverless_start_seconds=args.serverless_start_seconds,
        verbose=args.verbose,
        admin_token=args.admin_token,
        idle_timeout_seconds=args.idle_timeout_seconds,
        require_volumes=args.require_volumes,
        volumes=args.volume,
        spark_mode=args.spark_mode,
        serverless_enabled=not args.no_serverless,
        entra=EntraApp(args.entra_tenant, args.entra_client_id, args.entra_client_secret),
    )
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        server.start()
    except OSError as exc:
        print(f"local-databricks: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    # First line: the URL. Then .env lines; DATABRICKS_AUTH_TYPE=pat keeps the SDK from
    # refusing two configured auth methods (switch it to oauth-m2m to use the client).
    print(server.url)
    print(f"DATABRICKS_HOST={server.url}")
    print(f"DATABRICKS_TOKEN={server.token}")
    print(f"DATABRICKS_CLIENT_ID={server.client_id}")
    print(f"DATABRICKS_CLIENT_SECRET={server.client_secret}")
    print("DATABRICKS_AUTH_TYPE=pat")
    print(f"LOCAL_DATABRICKS_ADMIN_TOKEN={server.admin_token}", flush=True)
    if args.warm_spark and args.spark_mode == "shared":
        # in the background: the server answers while the JVM starts
        threading.Thread(target=_warm, args=(server,), daemon=True).start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def _warm(server: LocalDatabricks) -> None:
    try:
        server.warm_spark()
    except Exception as exc:  # a task that needs Spark gets the same error, with its run
        print(f"local-databricks: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
