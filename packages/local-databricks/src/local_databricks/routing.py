"""Request/response objects and a regex router shared by all API modules."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from .errors import ApiError


@dataclass
class Request:
    """One parsed HTTP request as handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    host: str
    user: str = ""
    match: re.Match | None = None
    # A streamed upload route's body: spooled to this file (the handler may move it), body is b"".
    body_file: Path | None = None
    body_size: int = 0
    _json: Any = None

    def json(self) -> dict:
        """The body parsed as a JSON object ({} for an empty body)."""
        if self._json is None:
            if not self.body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.body)
                except (ValueError, RecursionError) as exc:
                    raise ApiError(
                        400,
                        "MALFORMED_REQUEST",
                        "Invalid JSON given in the body of the request - expected a map.",
                    ) from exc
                if not isinstance(self._json, dict):
                    raise ApiError(
                        400,
                        "MALFORMED_REQUEST",
                        "Invalid JSON given in the body of the request - expected a map.",
                    )
        return self._json

    def param(self, name: str, default: Any = None) -> Any:
        """A parameter from the JSON body (POST) or the query string (GET/HEAD/DELETE)."""
        if self.method in ("GET", "HEAD", "DELETE"):
            return self.query.get(name, default)
        return self.json().get(name, default)

    def body_param(self, name: str) -> Any:
        """The raw value of a parameter: JSON body for POST/PUT/PATCH, else the query string."""
        if self.method in ("GET", "HEAD", "DELETE"):
            return self.query.get(name)
        return self.json().get(name)

    def int_param(self, name: str, default: int | None = None, required: bool = False) -> Any:
        """An integer parameter (a JSON int or an integer string); 400 naming `name` otherwise."""
        value = self.body_param(name)
        return check_int(value, name, default, required)

    def str_param(self, name: str, default: str | None = None, required: bool = False) -> Any:
        """A string parameter; 400 INVALID_PARAMETER_VALUE naming `name` when it is not one."""
        value = self.body_param(name)
        return check_str(value, name, default, required)

    def bool_param(self, name: str, default: bool = False) -> bool:
        """A boolean parameter (JSON true/false, or "true"/"false" in a query string)."""
        return check_bool(self.body_param(name), name, default)

    def float_param(self, name: str, default: float | None = None, required: bool = False) -> Any:
        """A number parameter; 400 naming `name` when it is not one."""
        return check_float(self.body_param(name), name, default, required)

    def list_param(self, name: str, required: bool = False) -> list:
        """A JSON array parameter ([] when absent)."""
        return check_list(self.body_param(name), name, required)

    def dict_param(self, name: str, required: bool = False) -> dict:
        """A JSON object parameter ({} when absent)."""
        return check_dict(self.body_param(name), name, required)

    def group(self, index: int = 1) -> str:
        """A capture group of the matched route."""
        assert self.match is not None
        return self.match.group(index)


@dataclass
class Response:
    """A handler's answer: JSON (dict), raw bytes, or empty."""

    status: int = 200
    body: dict | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encode(self) -> bytes:
        """The body as bytes."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode("utf-8")


Handler = Callable[[Request], "Response | dict"]


# A route's credential check: True (a workspace bearer token), False (none), or a check of the
# request's headers and query alone (an upload URL's signature), raising ApiError to refuse it.
Guard = Callable[[Request], None]


@dataclass
class Route:
    """A method set + path regex bound to a handler.

    Every check a route needs (`auth`) runs on the headers, before the body is read; a `stream`
    route gets its body spooled to disk (`Request.body_file`) instead of held in memory.
    """

    methods: frozenset[str]
    pattern: re.Pattern
    handler: Handler
    auth: bool | Guard = True
    stream: bool = False


class Router:
    """Ordered list of routes; the first whose method and pattern match wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        methods: Iterable[str] | str,
        pattern: str,
        handler: Handler,
        auth: bool | Guard = True,
        stream: bool = False,
    ) -> None:
        """Register `handler` for `methods` on the full-match regex `pattern`."""
        if isinstance(methods, str):
            methods = [methods]
        route = Route(frozenset(methods), re.compile(pattern), handler, auth, stream)
        self.routes.append(route)

    def resolve(self, method: str, path: str) -> tuple[Route | None, re.Match | None, bool]:
        """Find a route; the flag says whether the path exists with another method."""
        path_known = False
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if method in route.methods:
                return route, match, True
            path_known = True
        return None, None, path_known


# ---- typed value checks (shared by handlers for nested fields) -------------------------------


def _missing(name: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", f"Missing required field: {name}")


def _wrong(name: str, expected: str, value: Any) -> ApiError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ApiError(
        400,
        "INVALID_PARAMETER_VALUE",
        f"Invalid value for field '{name}': expected {expected}, got {shown}.",
    )


def check_int(
    value: Any, name: str, default: int | None = None, required: bool = False
) -> int | None:
    """`value` as an int (JSON int or integer string); absent -> default (or 400 if required)."""
    if value is None or value == "":
        if required:
            raise _missing(name)
        return default
    if isinstance(value, bool):
        raise _wrong(name, "an integer", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d{1,19}", text):
            return int(text)
    raise _wrong(name, "an integer", value)


def check_float(
    value: Any, name: str, default: float | None = None, required: bool = False
) -> float | None:
    """`value` as a finite float; absent -> default (or 400 if required)."""
    if value is None or value == "":
        if required:
            raise _missing(name)
        return default
    if isinstance(value, bool):
        raise _wrong(name, "a number", value)
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError as exc:
            raise _wrong(name, "a number", value) from exc
    else:
        raise _wrong(name, "a number", value)
    if result != result or result in (float("inf"), float("-inf")):
        raise _wrong(name, "a finite number", value)
    return result


def check_str(
    value: Any, name: str, default: str | None = None, required: bool = False
) -> str | None:
    """`value` as a str; absent -> default (or 400 if required)."""
    if value is None:
        if required:
            raise _missing(name)
        return default
    if not isinstance(value, str):
        raise _wrong(name, "a string", value)
    if required and not value:
        raise _missing(name)
    return value


def check_bool(value: Any, name: str, default: bool = False) -> bool:
    """`value` as a bool (true/false, or "true"/"false"/"1"/"0" strings)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise _wrong(name, "a boolean", value)


def check_list(value: Any, name: str, required: bool = False) -> list:
    """`value` as a list ([] when absent)."""
    if value is None:
        if required:
            raise _missing(name)
        return []
    if not isinstance(value, list):
        raise _wrong(name, "an array", value)
    return value


def check_dict(value: Any, name: str, required: bool = False) -> dict:
    """`value` as a dict ({} when absent)."""
    if value is None:
        if required:
            raise _missing(name)
        return {}
    if not isinstance(value, dict):
        raise _wrong(name, "an object", value)
    return value


def check_str_map(value: Any, name: str) -> dict[str, str]:
    """A JSON object whose values are strings (numbers and booleans are turned into strings)."""
    mapping = check_dict(value, name)
    result: dict[str, str] = {}
    for key, item in mapping.items():
        if isinstance(item, bool):
            result[str(key)] = "true" if item else "false"
        elif isinstance(item, (str, int, float)):
            result[str(key)] = str(item)
        elif item is None:
            continue
        else:
            raise _wrong(f"{name}.{key}", "a string", item)
    return result


def check_str_list(value: Any, name: str) -> list[str]:
    """A JSON array of strings (numbers are turned into strings)."""
    items = check_list(value, name)
    result: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise _wrong(f"{name}[{index}]", "a string", item)
        result.append(str(item))
    return result
