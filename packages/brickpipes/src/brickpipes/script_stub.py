"""Remote script of the ``$name`` asset: runs on Databricks, reports through Pipes.

Written by ``dg scaffold defs`` (the ``DatabricksPipesScript`` component) next to its
``defs.yaml``; the runner uploads it by content hash, with the ``brickpipes_remote`` helper
beside it, and passes the Pipes bootstrap (transport included) as command-line arguments.
"""

from brickpipes_remote import open_pipes


def main() -> None:
    """Do the work, then report what Dagster should record about the asset."""
    with open_pipes() as context:
        context.log.info("$name: started on Databricks")
        context.report_asset_materialization(metadata={"rows": 0})


if __name__ == "__main__":
    main()
