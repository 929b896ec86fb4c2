"""The call log: every non-admin request, without credentials."""

from __future__ import annotations

import copy
import threading
from collections import deque

MAX_CALLS = 50_000


class CallLog:
    """Bounded, thread-safe list of request records (oldest dropped first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: deque[dict] = deque(maxlen=MAX_CALLS)

    def add(self, record: dict) -> None:
        """Append one record (never contains an Authorization header value)."""
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
