"""The call log: every non-admin request, with credentials and secret values redacted."""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

MAX_CALLS = 50_000
REDACTED = "[REDACTED]"
# Body and query keys whose values are credentials or secret payloads, wherever they appear.
SECRET_KEYS = frozenset(
    {
        "string_value",
        "bytes_value",
        "token_value",
        "token",
        "pat",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
        "authorization",
        "secret",
        "private_key",
        "session_token",
        "signature",
    }
)
# Known secret values shorter than this are only redacted where a whole string equals them, so a
# one-letter secret does not blank out every "v" in the log.
MIN_SUBSTRING_SECRET = 8


def redact(record: Any, known: Iterable[str] = ()) -> Any:
    """A copy of `record` without secrets: values of SECRET_KEYS, and any known secret value."""
    values = sorted({v for v in known if v}, key=len, reverse=True)
    return _redact(record, values)


def _redact(value: Any, known: list[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in SECRET_KEYS and item not in (None, ""):
                out[key] = REDACTED
            else:
                out[key] = _redact(item, known)
        return out
    if isinstance(value, list):
        return [_redact(item, known) for item in value]
    if isinstance(value, str) and known:
        for secret in known:
            if value == secret:
                return REDACTED
            if len(secret) >= MIN_SUBSTRING_SECRET and secret in value:
                value = value.replace(secret, REDACTED)
        return value
    return value


class CallLog:
    """Bounded, thread-safe list of request records (oldest dropped first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: deque[dict] = deque(maxlen=MAX_CALLS)

    def add(self, record: dict) -> None:
        """Append one record (redacted again here, so no caller can store a secret key's value)."""
        record = redact(record)
        with self._lock:
            self._calls.append(record)

    def list(self) -> list[dict]:
        """Copies of all records, oldest first."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls]

    def clear(self) -> None:
        """Forget all records."""
        with self._lock:
            self._calls.clear()
