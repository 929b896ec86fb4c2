"""Fault injection: HTTP-level fault rules and run behaviours for the next submitted runs."""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field, fields, replace

from .errors import ApiError, invalid
from .routing import check_float, check_int, check_str, check_str_map

RUN_RESULTS = ("FAILED", "INTERNAL_ERROR", "CRASH", "HANG")


@dataclass
class FaultSpec:
    """An HTTP fault rule's parameters, written once: `LocalDatabricks.inject_fault(...)` takes
    them as arguments, the admin API's `POST faults` as JSON keys (`from_json`), and
    `FaultStore.add` as this object.

    Answer matching requests with `status` (or only delay them when status is None); `times` < 0
    never runs out; the first `skip` matching requests pass.
    """

    method: str
    path_regex: str
    status: int | None = field(default=None, metadata={"check": check_int})
    times: int = field(default=1, metadata={"check": check_int})
    skip: int = field(default=0, metadata={"check": check_int})
    error_code: str | None = field(default=None, metadata={"check": check_str})
    message: str | None = field(default=None, metadata={"check": check_str})
    headers: dict[str, str] | None = field(default=None, metadata={"check": check_str_map})
    delay_seconds: float = field(default=0, metadata={"check": check_float})

    @classmethod
    def from_json(cls, body: dict) -> FaultSpec:
        """The spec in an admin API body (`path` is accepted for `path_regex`); 400 naming a
        wrong-typed field."""
        path_regex = check_str(body.get("path_regex", body.get("path")), "path_regex")
        if not path_regex:
            raise invalid("path_regex is required.")
        values: dict = {}
        for spec_field in fields(cls)[2:]:
            value = spec_field.metadata["check"](body.get(spec_field.name), spec_field.name)
            if value is not None:
                values[spec_field.name] = value
        return cls(check_str(body.get("method"), "method") or "*", path_regex, **values)


@dataclass
class FaultRule:
    """A registered fault rule and how often it matched (`seen`) and answered (`fired`)."""

    fault_id: int
    spec: FaultSpec
    seen: int = 0
    fired: int = 0
    _pattern: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.spec.path_regex)

    def matches(self, method: str, path: str) -> bool:
        """True when this rule applies to the request line."""
        if self.spec.method not in ("*", "") and self.spec.method != method.upper():
            return False
        return self._pattern.search(path) is not None

    def exhausted(self) -> bool:
        """True once the rule fired `times` times (`times` < 0 never runs out)."""
        return 0 <= self.spec.times <= self.fired

    def to_json(self) -> dict:
        """Describe the rule for the admin API."""
        return {"fault_id": self.fault_id, **asdict(self.spec), "fired": self.fired}


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

    def add(self, spec: FaultSpec) -> FaultRule:
        """Register a rule; validates it like an API would."""
        status = spec.status
        if status is not None and not 100 <= int(status) <= 599:
            raise invalid(f"Invalid status {status}.")
        if status is None and not spec.delay_seconds:
            raise invalid("A fault needs a status, a delay_seconds, or both.")
        try:
            re.compile(spec.path_regex)
        except re.error as exc:
            raise invalid(f"Invalid path_regex {spec.path_regex!r}: {exc}") from exc
        normal = replace(
            spec,
            method=(spec.method or "*").upper(),
            status=int(status) if status is not None else None,
            times=int(spec.times),
            skip=int(spec.skip),
            headers=dict(spec.headers or {}),
            delay_seconds=float(spec.delay_seconds or 0),
        )
        with self._lock:
            rule = FaultRule(self._next_id, normal)
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
                if rule.seen <= rule.spec.skip:
                    continue
                rule.fired += 1
                return Fault(rule.spec.delay_seconds, _error_for(rule.spec))
        return None


def _error_for(rule: FaultSpec) -> ApiError | None:
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
