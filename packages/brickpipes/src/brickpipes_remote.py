"""Open Dagster Pipes in a remote script or notebook on Databricks: the one helper they use.

It imports only the standard library and ``dagster_pipes``: the runner uploads it next to each
remote script, and a cluster with only dagster-pipes installed runs it (Python 3.10+).

    from brickpipes_remote import open_pipes

    with open_pipes() as pipes:  # a script: the bootstrap comes as command-line arguments
        pipes.report_asset_materialization(metadata={"rows": 3})

In a notebook: ``open_pipes(dp.PipesDatabricksNotebookWidgetsParamsLoader(dbutils.widgets))``.
"""

from __future__ import annotations

import dagster_pipes as dp

TRANSPORT_KEY = "transport"
_TRANSPORTS: dict[str, tuple[type[dp.PipesContextLoader], type[dp.PipesMessageWriter]]] = {
    "volumes": (dp.PipesUnityCatalogVolumesContextLoader, dp.PipesUnityCatalogVolumesMessageWriter),
    "dbfs": (dp.PipesDbfsContextLoader, dp.PipesDbfsMessageWriter),
    # Local files: unit tests of remote scripts (brickpipes.testing.LocalContextInjector).
    "local": (dp.PipesDefaultContextLoader, dp.PipesDefaultMessageWriter),
}


def open_pipes(params_loader: dp.PipesParamsLoader | None = None) -> dp.PipesContext:
    """Open Pipes on the transport the runner names in the context params (``"transport"``).

    ``params_loader`` defaults to ``dp.PipesCliArgsParamsLoader()``. Outside a Pipes run it
    returns dagster-pipes' no-op context (with its warning). Raises ``dp.DagsterPipesError``
    when the runner did not say ``"volumes"`` or ``"dbfs"``.
    """
    loader = params_loader or dp.PipesCliArgsParamsLoader()
    if not loader.is_dagster_pipes_process():
        return dp.open_dagster_pipes(params_loader=loader)
    transport = loader.load_context_params().get(TRANSPORT_KEY)
    if transport not in _TRANSPORTS:
        raise dp.DagsterPipesError(
            f"The Pipes context params name no known transport ({TRANSPORT_KEY}={transport!r}):"
            f" the runner must pass {TRANSPORT_KEY!r}: 'volumes' or 'dbfs' next to 'path', as"
            " brickpipes' context injectors do (brickpipes.transport.open_transport)."
        )
    context_loader, message_writer = _TRANSPORTS[transport]
    return dp.open_dagster_pipes(
        context_loader=context_loader(), message_writer=message_writer(), params_loader=loader
    )
