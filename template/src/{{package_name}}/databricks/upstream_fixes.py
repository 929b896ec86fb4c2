"""Maintained by the template; changes arrive with `copier update`.

Narrow overrides of upstream methods, one per known gap; delete one when its canary test in
``tests/test_upstream_fixes.py`` fails (the test then says upstream no longer needs it).

1. ``PipesThreadedMessageReader._messages_thread`` (dagster/_core/pipes/utils.py) sleeps a
   whole second between iterations and reads only when more than ``interval`` *whole* seconds
   passed (``timedelta.seconds > interval``): an interval of 4 reads every 5 to 6 s, one chunk
   per read, and after the session closed the loop still sleeps before it notices; its
   ``_logs_thread`` sleeps a second per turn even with no log reader to follow. Every step
   ends seconds late. Override: wait on the session's close event, read at the exact
   interval, drain the waiting chunks at once when the session closes, and leave the logs
   loop to upstream only when there are log readers. Upstream: the
   loop as added in https://github.com/dagster-io/dagster/pull/24469; no issue filed yet.
   Used by the readers of ``readers.py``.
2. ``databricks.sdk`` builds a ``Config`` for OAuth M2M by fetching the workspace's OAuth
   endpoints with a client of its own that retries for 300 s whatever
   ``retry_timeout_seconds`` says, so an unreachable workspace holds the step five minutes
   (https://github.com/databricks/databricks-sdk-py/issues/1046, fix proposed in PR 1085).
   Override: fetch them once within the budget first (:func:`fetch_oauth_endpoints`); a
   failure then surfaces as fast as with a token.

What is not here, and why: upstream's ``PipesDatabricksClient.run`` swallows a Dagster
termination (the step ends SUCCESS, https://github.com/dagster-io/dagster/issues/18570),
leaves the remote run running after a polling error, reports a failed run only by its state
message, and raises ``KeyError: 'new_cluster'`` for a task on a shared job cluster
(https://github.com/dagster-io/dagster/issues/22021). The project does not call it: the run
lifecycle is its own (``runner.py``, ``lifecycle.py``); a canary in
``tests/test_upstream_fixes.py`` says when upstream's bootstrap handles shared job clusters.
"""

from __future__ import annotations

import json
import sys
import time
from threading import Event
from typing import Any

import dagster._core.pipes.utils as pipes_utils
from dagster_pipes import PIPES_PROTOCOL_VERSION_FIELD


class PromptReadsMixin(pipes_utils.PipesThreadedMessageReader):
    """Override 1, mixed into a dagster-databricks reader class."""

    def _messages_thread(self, handler: Any, params: Any, is_session_closed: Event) -> None:
        cursor, readable, gave_up_at = None, False, None
        try:
            # Wait before the first read too: the run is not even submitted yet.
            is_session_closed.wait(self.interval)
            while not handler.received_closed_message:
                if not readable:
                    params = {**params, **(self.launched_payload or {})}
                    readable = self.messages_are_readable(params)
                result = self.download_messages(cursor, params) if readable else None
                if result is not None:
                    cursor, chunk = result
                    _handle_chunk(handler, chunk)
                    if is_session_closed.is_set():
                        continue  # the run is over: read what is left without waiting
                elif is_session_closed.is_set():
                    # Ended without a "closed" message (cancelled, crashed): late chunks may
                    # still arrive, so keep reading for a while, as upstream does.
                    gave_up_at = gave_up_at or (
                        time.monotonic() + pipes_utils.WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL
                    )
                    if time.monotonic() >= gave_up_at:
                        if not readable:
                            self._log_unstartable_warning(handler, params)
                        return
                    time.sleep(pipes_utils.DEFAULT_SLEEP_INTERVAL)
                    continue
                is_session_closed.wait(self.interval)
        except BaseException:
            handler.report_pipes_framework_exception(
                f"{type(self).__name__} messages thread", sys.exc_info()
            )
            raise

    def _logs_thread(
        self, handler: Any, params: Any, is_session_closed: Event, messages_thread: Any
    ) -> None:
        if not self.log_readers:
            is_session_closed.wait()  # nothing to follow unless a reader is added meanwhile
        if self.log_readers:
            super()._logs_thread(handler, params, is_session_closed, messages_thread)


def _handle_chunk(handler: Any, chunk: str) -> None:
    for line in chunk.split("\n"):
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if PIPES_PROTOCOL_VERSION_FIELD in message:
            handler.handle_message(message)


def fetch_oauth_endpoints(host: str, retry_timeout_seconds: int, http_timeout_seconds: int) -> None:
    """Override 2: GET the workspace's OAuth metadata within the project's retry budget.

    Raises the SDK's error (e.g. a ``TimeoutError``) when the workspace cannot be reached.
    """
    from databricks.sdk._base_client import _BaseClient

    url = f"{host.rstrip('/')}/oidc/.well-known/oauth-authorization-server"
    client = _BaseClient(
        retry_timeout_seconds=retry_timeout_seconds, http_timeout_seconds=http_timeout_seconds
    )
    client.do("GET", url)
