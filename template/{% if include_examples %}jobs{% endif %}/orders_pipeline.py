"""Task script of the example "orders pipeline" job: each task runs one step, named by argv[1].

A stand-in for a team's existing job: the steps only say what they would do. The bundle job
``resources/orders_pipeline.job.yml`` runs it; Dagster starts the job with jobs/run-now
(``defs/examples/orders_pipeline.py``), so Dagster Pipes is not needed.
"""

import sys

STEPS = {
    "ingest_orders": "load yesterday's orders into the raw table",
    "validate_orders": "check keys and amounts of the raw orders",
    "publish_report": "rebuild the order report table",
    "refresh_dashboard": "refresh the orders dashboard",
    "notify_owners": "tell the data owners how the run went",
}


def main(argv: list[str]) -> None:
    """Run the step named by ``argv[1]`` for the run date ``argv[2]`` (empty: latest), writing
    to the schema ``argv[3].argv[4]`` (the job's catalog and schema parameters)."""
    step, run_date = argv[1], argv[2] if len(argv) > 2 else ""
    schema = ".".join(argv[3:5]) or "(no schema given)"
    print(f"{step}: {STEPS[step]} (run_date={run_date or 'latest'}, schema={schema})")


if __name__ == "__main__":
    main(sys.argv)
