"""Maintained by the template; changes arrive with `copier update`.

Databricks integration: workspace auth, cluster profiles and the Pipes runner.

Nothing here imports ``databricks.sdk`` or ``dagster_databricks`` at module level, so the
code location loads fast and without credentials; the clients are built when a run needs them.
"""
