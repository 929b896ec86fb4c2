"""Fault injection: HTTP-level fault rules and run behaviours for the next submitted runs."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from .errors import ApiError, invalid

RUN_RESULTS = ("FAILED", "INTERNAL_ERROR", "CRASH", "HANG")


@dataclass
class FaultRule:
    """Answer matching requests with `status` (or only delay them when status is None)."""

    fault_id: int
    method: str
    path_regex: str
    status: int | None
    times: int
    skip: int
    error_code: str | None
    message: str | None
    headers: dict[str, str]
    delay_seconds: float
    seen: int = 0
    fired: int = 0
    _pattern: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path_regex)

    def matches(self, method: str, path: str) -> bool:
        """True when this rule applies to the request line."""
        if self.method not in ("*", "") and self.method != method.upper():
            return False
        return self._pattern.search(path) is not None

    def exhausted(self) -> bool:
        """True once the rule fired `times` times (`times` < 0 never runs out)."""
        return 0 <= self.times <= self.fired

    def to_json(self) -> dict:
        """Describe the rule for the admin API."""
        return {
            "fault_id": self.fault_id,
            "method": self.method,
            "path_regex": self.path_regex,
            "status": self.status,
            "times": self.times,
            "skip": self.skip,
            "error_code": self.error_code,
            "message": self.message,
            "headers": self.headers,
            "delay_seconds": self.delay_seconds,
            "fired": self.fired,
        }


@dataclass
class Fault:
    """What one request must suffer: a delay and optionally an error answer."""

    delay_seconds: float
    error: ApiError | None


class FaultStore:
    """The active fault rules; `take` consumes the first rule matching a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(
        self,
        method: str,
        path_regex: str,
        status: int | None,
        times: int = 1,
        skip: int = 0,
        error_code: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        delay_seconds: float = 0,
    ) -> FaultRule:
        """Register a rule; validates arguments like an API would."""
        if status is not None and not 100 <= int(status) <= 599:
            raise invalid(f"Invalid status {status}.")
        if status is None and not delay_seconds:
            raise invalid("A fault needs a status, a delay_seconds, or both.")
        try:
            re.compile(path_regex)
        except re.error as exc:
            raise invalid(f"Invalid path_regex {path_regex!r}: {exc}") from exc
        with self._lock:
            rule = FaultRule(
                fault_id=self._next_id,
                method=(method or "*").upper(),
                path_regex=path_regex,
                status=int(status) if status is not None else None,
                times=int(times),
                skip=int(skip),
                error_code=error_code,
                message=message,
                headers=dict(headers or {}),
                delay_seconds=float(delay_seconds or 0),
            )
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def list(self) -> list[dict]:
        """Describe the active rules."""
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def take(self, method: str, path: str) -> Fault | None:
        """Return the fault for this request, counting it against the first matching rule."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted() or not rule.matches(method, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                rule.fired += 1
                return Fault(rule.delay_seconds, _error_for(rule))
        return None


def _error_for(rule: FaultRule) -> ApiError | None:
    if rule.status is None:
        return None
    headers = dict(rule.headers)
    # The SDK retries 429/503 after Retry-After seconds; default it so storms stay short.
    if rule.status in (429, 503) and not any(k.lower() == "retry-after" for k in headers):
        headers["Retry-After"] = "1"
    message = rule.message or f"local-databricks: injected fault (HTTP {rule.status})."
    return ApiError(rule.status, rule.error_code, message, headers)


@dataclass
class RunBehaviour:
    """Forced behaviour of one submitted run (see `BehaviourQueue`)."""

    pending_seconds: float | None = None
    result: str | None = None
    message: str | None = None


class BehaviourQueue:
    """Behaviours for the next N submitted or run-now runs, consumed in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[RunBehaviour, int]] = []

    def add(
        self,
        pending_seconds: float | None = None,
        result: str | None = None,
        times: int = 1,
        message: str | None = None,
    ) -> None:
        """Queue a behaviour for the next `times` runs."""
        if result is not None and result not in RUN_RESULTS:
            raise invalid(f"Invalid result {result!r}; expected one of {', '.join(RUN_RESULTS)}.")
        if pending_seconds is not None and float(pending_seconds) < 0:
            raise invalid("pending_seconds must not be negative.")
        behaviour = RunBehaviour(
            float(pending_seconds) if pending_seconds is not None else None, result, message
        )
        with self._lock:
            self._items.append((behaviour, int(times)))

    def clear(self) -> None:
        """Forget queued behaviours."""
        with self._lock:
            self._items.clear()

    def next(self) -> RunBehaviour:
        """Consume the behaviour for a new run (a neutral one when nothing is queued)."""
        with self._lock:
            while self._items:
                behaviour, left = self._items[0]
                if left <= 0:
                    self._items.pop(0)
                    continue
                if left == 1:
                    self._items.pop(0)
                else:
                    self._items[0] = (behaviour, left - 1)
                return behaviour
        return RunBehaviour()
