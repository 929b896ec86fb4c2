"""The call log: every non-admin request, with credentials and secret values redacted."""

from __future__ import annotations

import copy
import json
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

MAX_CALLS = 50_000
# The log's memory is bounded twice: by count, and by the size of the records kept (oldest dropped
# first). Strings longer than MAX_LOGGED_STRING (file contents, notebooks) are kept by size only.
MAX_LOG_BYTES = 16 * 1024 * 1024
MAX_LOGGED_STRING = 4096
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
    """A copy of `record` without secrets (values of SECRET_KEYS, any known secret value), and
    with each string longer than MAX_LOGGED_STRING replaced by its length."""
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
    if isinstance(value, str) and len(value) > MAX_LOGGED_STRING:
        return f"[{len(value)} characters, not logged]"
    if isinstance(value, str) and known:
        for secret in known:
            if value == secret:
                return REDACTED
            if len(secret) >= MIN_SUBSTRING_SECRET and secret in value:
                value = value.replace(secret, REDACTED)
        return value
    return value


class CallLog:
    """Bounded, thread-safe list of request records (oldest dropped first): at most MAX_CALLS
    records and MAX_LOG_BYTES of them (a record's size is the length of its JSON)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: deque[tuple[dict, int]] = deque()
        self._bytes = 0

    def add(self, record: dict) -> None:
        """Append one record (redacted again here, so no caller can store a secret key's value)."""
        record = redact(record)
        size = _size(record)
        if size > MAX_LOG_BYTES // 16:
            body = record.pop("body", None)
            if body is not None:
                record["body_bytes"] = len(json.dumps(body, default=str))
            size = _size(record)
        with self._lock:
            self._calls.append((record, size))
            self._bytes += size
            while self._calls and (len(self._calls) > MAX_CALLS or self._bytes > MAX_LOG_BYTES):
                self._bytes -= self._calls.popleft()[1]

    def list(self) -> list[dict]:
        """Copies of all records, oldest first."""
        with self._lock:
            return [copy.deepcopy(c) for c, _ in self._calls]

    def clear(self) -> None:
        """Forget all records."""
        with self._lock:
            self._calls.clear()
            self._bytes = 0


def _size(record: dict) -> int:
    """About the bytes a record takes: a fixed part, its path, query and body (as JSON)."""
    size = 512 + len(str(record.get("path", ""))) + len(str(record.get("query", "")))
    if "body" in record:
        size += len(json.dumps(record["body"], default=str))
    return size
