"""Request/response objects and a regex router shared by all API modules."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
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
    _json: Any = None

    def json(self) -> dict:
        """The body parsed as a JSON object ({} for an empty body)."""
        if self._json is None:
            if not self.body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.body)
                except ValueError as exc:
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


@dataclass
class Route:
    """A method set + path regex bound to a handler."""

    methods: frozenset[str]
    pattern: re.Pattern
    handler: Handler
    auth: bool = True


class Router:
    """Ordered list of routes; the first whose method and pattern match wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, methods: Iterable[str] | str, pattern: str, handler: Handler, auth=True) -> None:
        """Register `handler` for `methods` on the full-match regex `pattern`."""
        if isinstance(methods, str):
            methods = [methods]
        self.routes.append(Route(frozenset(methods), re.compile(pattern), handler, auth))

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
