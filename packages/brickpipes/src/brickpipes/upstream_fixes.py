"""Workarounds for upstream gaps, one per known issue, each with a canary test in
``tests/test_upstream_fixes.py`` that fails once upstream no longer needs it.

1. ``databricks.sdk`` builds a ``Config`` for OAuth M2M by fetching the workspace's OAuth
   endpoints with a client of its own that retries for 300 s whatever
   ``retry_timeout_seconds`` says, so an unreachable workspace holds the step five minutes
   (https://github.com/databricks/databricks-sdk-py/issues/1046, fix proposed in PR 1085).
   Workaround: fetch them once within the budget first (:func:`fetch_oauth_endpoints`); a
   failure then surfaces as fast as with a token.

2. ``databricks.sdk`` 0.7x and later probe the host's ``/.well-known/databricks-config`` while
   building a ``Config``, within ``retry_timeout_seconds`` since databricks-sdk-py PR 1483,
   and on failure log a warning and go on: against an unreachable workspace the first real
   request then spends a second budget, and a step fails after twice
   ``retry_timeout_seconds`` (64 s measured at 0.167 with the 30 s default, against 32 s at
   0.41) instead of within a minute (see also databricks-sdk-py issue 271, open: an
   unreachable host should not be retried for long). Workaround: probe the host once within
   the budget first (:func:`probe_host`); any HTTP answer means it is reachable (the SDK's own
   probe is then quick), a network failure fails the step after one budget. SDKs without the
   probe (``Config._resolve_host_metadata``) are left alone.

What is not here, and why:

* dagster-databricks is not a dependency. Its ``PipesDatabricksClient.run`` swallows a Dagster
  termination (the step ends SUCCESS, https://github.com/dagster-io/dagster/issues/18570),
  leaves the remote run running after a polling error, reports a failed run only by its
  state message, and raises ``KeyError: 'new_cluster'`` for a task on a shared job cluster
  (https://github.com/dagster-io/dagster/issues/22021); its package pins
  ``databricks-sdk<0.61`` (https://github.com/dagster-io/dagster/issues/33403) and pulls in
  pyspark (https://github.com/dagster-io/dagster/issues/22724). The run lifecycle is this
  package's own (``runner.py``, ``lifecycle.py``) and so are the Pipes context injectors and
  message readers (``transport.py``), which read promptly by design: upstream's threaded
  reader sleeps whole seconds and reads one chunk per interval
  (``PipesThreadedMessageReader._messages_thread``, as added in
  https://github.com/dagster-io/dagster/pull/24469), so every step ended seconds late.
"""

from __future__ import annotations


def fetch_oauth_endpoints(host: str, retry_timeout_seconds: int, http_timeout_seconds: int) -> None:
    """Workaround 1: GET the workspace's OAuth metadata within the project's retry budget.

    Raises the SDK's error (e.g. a ``TimeoutError``) when the workspace cannot be reached.
    """
    from databricks.sdk._base_client import _BaseClient

    url = f"{host.rstrip('/')}/oidc/.well-known/oauth-authorization-server"
    client = _BaseClient(
        retry_timeout_seconds=retry_timeout_seconds, http_timeout_seconds=http_timeout_seconds
    )
    client.do("GET", url)


HOST_METADATA = "/.well-known/databricks-config"


def sdk_probes_host_metadata() -> bool:
    """True when this databricks-sdk probes the host's metadata while building a Config."""
    from databricks.sdk.config import Config

    return hasattr(Config, "_resolve_host_metadata")


def probe_host(host: str, retry_timeout_seconds: int, http_timeout_seconds: int) -> None:
    """Workaround 2: reach ``host`` once within the project's retry budget.

    Returns when the workspace answers at all (an HTTP error included); raises the SDK's
    network-level error (e.g. a ``TimeoutError`` after retrying) when it cannot be reached.
    """
    from databricks.sdk._base_client import _BaseClient
    from databricks.sdk.errors import DatabricksError

    client = _BaseClient(
        retry_timeout_seconds=retry_timeout_seconds, http_timeout_seconds=http_timeout_seconds
    )
    try:
        client.do("GET", f"{host.rstrip('/')}{HOST_METADATA}")
    except DatabricksError as error:
        if _is_retried_status(error):
            raise  # 429/503 for the whole budget: as unusable as unreachable


def _is_retried_status(error: Exception) -> bool:
    from databricks.sdk.errors import TemporarilyUnavailable, TooManyRequests

    return isinstance(error, (TemporarilyUnavailable, TooManyRequests))
