"""Remote script of the ``$name`` asset: runs on Databricks, reports through Pipes.

Written by ``dg scaffold defs`` (the ``DatabricksPipesScript`` component) next to its
``defs.yaml``; the runner uploads it by content hash and passes the Pipes bootstrap as
command-line arguments on every compute.
"""

import dagster_pipes as dp

# dagster-pipes' (context loader, message writer) of each transport the runner may choose.
VOLUMES = dp.PipesUnityCatalogVolumesContextLoader(), dp.PipesUnityCatalogVolumesMessageWriter()
DBFS = dp.PipesDbfsContextLoader(), dp.PipesDbfsMessageWriter()


def main() -> None:
    """Do the work, then report what Dagster should record about the asset."""
    with open_pipes(dp.PipesCliArgsParamsLoader()) as context:
        context.log.info("$name: started on Databricks")
        context.report_asset_materialization(metadata={"rows": 0})


def open_pipes(params: dp.PipesParamsLoader) -> dp.PipesContext:
    """Open Pipes on the runner's transport: Unity Catalog volume paths start with /Volumes/."""
    io = VOLUMES if params.load_context_params()["path"].startswith("/Volumes/") else DBFS
    return dp.open_dagster_pipes(params_loader=params, context_loader=io[0], message_writer=io[1])


if __name__ == "__main__":
    main()
