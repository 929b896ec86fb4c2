"""The REST calls a bundle's deploy makes: a workspace to call (`Server`, `Connection`) and
one call with its token (`_call`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol


class Server(Protocol):
    """What the REST calls need of a workspace: a ``LocalDatabricks``, or a `Connection`."""

    @property
    def url(self) -> str: ...

    @property
    def token(self) -> str: ...


@dataclass(frozen=True)
class Connection:
    """A workspace URL and a token: another identity on the same server (a second user's
    token, a service principal's OAuth token), or a server started elsewhere."""

    url: str
    token: str


def _call(
    server: Server, method: str, path: str, body: dict | None = None, missing_ok: bool = False
) -> dict | None:
    """One REST call with the server's token; None for a 404 when ``missing_ok``."""
    request = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            return None
        answer = exc.read().decode(errors="replace")
        if exc.code == 409 and "ALREADY_EXISTS" in answer:
            return {}  # what exists already is left as it is
        raise RuntimeError(f"{method} {path}: {exc.code} {answer}") from None
