"""What a network-level failure means for a user: which part failed (proxy, TLS, DNS, refused,
timed out, throttled) and what to check; and the step-log lines while the SDK retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

# At most one "retrying" line in the step log per this many seconds.
RETRY_REPORT_SECONDS = 10.0


class RetryReporter(logging.Handler):
    """Forwards the SDK's retry records to a Dagster log, at most every few seconds."""

    def __init__(self, log: Any, host: str, budget: int) -> None:
        super().__init__(logging.DEBUG)
        self.log, self.host, self.budget = log, host, budget
        self.last_report = -RETRY_REPORT_SECONDS

    def emit(self, record: logging.LogRecord) -> None:
        """Log e.g. "Retrying a Databricks request to <host>: cannot connect (sleeping ~2s)"."""
        now = time.monotonic()
        if now - self.last_report < RETRY_REPORT_SECONDS:
            return
        self.last_report = now
        reason = record.getMessage().removeprefix("Retrying: ")
        self.log.warning(
            f"Retrying a Databricks request to {self.host}: {reason}; giving up after "
            f"{self.budget} s of retries (retry_timeout_seconds)."
        )


def network_cause(error: BaseException, host_setting: str) -> tuple[str, str] | None:
    """What went wrong and what to check, from the first network-level error behind ``error``."""
    import socket
    import ssl

    import requests
    from databricks.sdk.errors import TemporarilyUnavailable, TooManyRequests

    # Most specific first: a proxy or TLS failure also shows up as a failed connection.
    kinds: tuple[tuple[Any, str, str], ...] = (
        (
            requests.exceptions.ProxyError,
            "the proxy failed",
            "HTTPS_PROXY and NO_PROXY, and that the proxy is up",
        ),
        (
            (requests.exceptions.SSLError, ssl.SSLError),
            "the TLS handshake failed",
            f"that {host_setting} is the workspace's https:// URL; behind a proxy that "
            "inspects TLS, point REQUESTS_CA_BUNDLE at its CA certificates",
        ),
        (
            socket.gaierror,
            "the host name does not resolve",
            f"{host_setting} for typos, and DNS or VPN",
        ),
        (
            ConnectionRefusedError,
            "the connection was refused",
            f"{host_setting} (scheme, host, port) and that this machine can reach the "
            "workspace (VPN, firewall)",
        ),
        (
            requests.exceptions.Timeout,
            "requests timed out (http_timeout_seconds)",
            "that this machine can reach the workspace (VPN, firewall, HTTPS_PROXY)",
        ),
        (
            TemporarilyUnavailable,
            "it kept answering 503 Temporarily Unavailable",
            "the Databricks status page (https://status.databricks.com); retry later",
        ),
        (
            TooManyRequests,
            "it kept answering 429 Too Many Requests (rate limit)",
            "what else calls this workspace's API; or raise retry_timeout_seconds",
        ),
        (
            requests.exceptions.ConnectionError,
            "the connection failed",
            f"{host_setting} and that this machine can reach the workspace",
        ),
    )
    chain = list(error_chain(error))
    for types, what, check in kinds:
        if any(isinstance(link, types) for link in chain):
            return what, check
    return None


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every error behind it: causes, contexts, and urllib3's wrapped reasons."""
    pending: list[Any] = [error]
    seen: list[BaseException] = []
    while pending:
        link = pending.pop()
        if not isinstance(link, BaseException) or any(link is s for s in seen):
            continue
        seen.append(link)
        yield link
        pending += [link.__cause__, link.__context__, getattr(link, "reason", None), *link.args]
