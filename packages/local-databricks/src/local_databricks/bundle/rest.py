"""The REST calls a bundle's deploy makes: a workspace to call (`Server`, `Connection`) and
one call with its token (`_call`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..project import api_request


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
    return api_request(server, method, path, body, missing_ok)
