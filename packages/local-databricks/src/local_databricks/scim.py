"""SCIM 2.0 (`/api/2.0/preview/scim/v2/`): Me, and Users, Groups and ServicePrincipals lists.

The workspace has one user (the PAT identity), one service principal per OAuth client, and the
groups `users` (everyone) and `admins` (the user). Lists honour `filter` (the service's subset of
SCIM filters: `eq`, `ne`, `co`, `sw` joined by `and`/`or`, with parentheses), `startIndex` and
`count`; an invalid filter is answered 400 with a SCIM error.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from .auth import PAT_USER
from .errors import ApiError
from .routing import Request, Response, Router, check_int

USERS_GROUP_ID = "1000000000000001"
ADMINS_GROUP_ID = "1000000000000002"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
OPERATORS = ("eq", "ne", "co", "sw")
_TOKEN_RE = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([A-Za-z_$][\w.$:-]*)|(\S+))')


def identity_id(name: str) -> str:
    """The stable SCIM id of a user or service principal."""
    return str(int(hashlib.sha256(name.encode()).hexdigest()[:13], 16))


def user_resource(name: str = PAT_USER) -> dict:
    """The SCIM User of the PAT identity (also what Me answers for it)."""
    return {
        "id": identity_id(name),
        "userName": name,
        "displayName": "Local User",
        "active": True,
        "emails": [{"value": name, "type": "work", "primary": True}],
        "name": {"givenName": "Local", "familyName": "User"},
        "groups": [
            {"display": "users", "type": "direct", "value": USERS_GROUP_ID},
            {"display": "admins", "type": "direct", "value": ADMINS_GROUP_ID},
        ],
        "entitlements": [{"value": "workspace-access"}, {"value": "allow-cluster-create"}],
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
        ],
    }


def service_principal_resource(client_id: str) -> dict:
    """The SCIM ServicePrincipal of an OAuth client."""
    return {
        "id": identity_id(client_id),
        "applicationId": client_id,
        "displayName": f"Service principal {client_id}",
        "active": True,
        "groups": [{"display": "users", "type": "direct", "value": USERS_GROUP_ID}],
        "entitlements": [{"value": "workspace-access"}],
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"],
    }


class ScimError(Exception):
    """A SCIM error answer (400 invalidFilter, 404 ...)."""

    def __init__(self, status: int, detail: str, scim_type: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type

    def response(self) -> Response:
        """The SCIM error body (the SDK reads `detail`, `scimType` and `status`)."""
        body = {"schemas": [ERROR_SCHEMA], "detail": self.detail, "status": str(self.status)}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return Response(self.status, body)


def parse_filter(text: str) -> Callable[[dict], bool]:
    """A predicate for a SCIM filter; ScimError(400, invalidFilter) when it is not one."""
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            break
        if match.group(5) is not None:
            raise _invalid_filter(text, f"unexpected {match.group(5)!r}")
        tokens.append(match)
        position = match.end()
    parser = _FilterParser(text, tokens)
    predicate = parser.expression()
    if parser.index != len(tokens):
        raise _invalid_filter(text, "unexpected text after the expression")
    return predicate


def _invalid_filter(text: str, why: str) -> ScimError:
    return ScimError(400, f"Invalid filter {text!r}: {why}.", "invalidFilter")


class _FilterParser:
    def __init__(self, text: str, tokens: list[re.Match]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    def _word(self) -> str | None:
        if self.index < len(self.tokens):
            return self.tokens[self.index].group(4)
        return None

    def expression(self) -> Callable[[dict], bool]:
        terms = [self._conjunction()]
        while (self._word() or "").lower() == "or":
            self.index += 1
            terms.append(self._conjunction())
        return lambda item: any(term(item) for term in terms)

    def _conjunction(self) -> Callable[[dict], bool]:
        terms = [self._atom()]
        while (self._word() or "").lower() == "and":
            self.index += 1
            terms.append(self._atom())
        return lambda item: all(term(item) for term in terms)

    def _atom(self) -> Callable[[dict], bool]:
        if self.index >= len(self.tokens):
            raise _invalid_filter(self.text, "the expression ends too early")
        token = self.tokens[self.index]
        if token.group(1):
            self.index += 1
            inner = self.expression()
            if self.index >= len(self.tokens) or not self.tokens[self.index].group(2):
                raise _invalid_filter(self.text, "a parenthesis is not closed")
            self.index += 1
            return inner
        attribute = token.group(4)
        if attribute is None:
            raise _invalid_filter(self.text, "an attribute name is expected")
        if self.index + 2 >= len(self.tokens):
            raise _invalid_filter(self.text, f"{attribute} needs an operator and a value")
        operator = (self.tokens[self.index + 1].group(4) or "").lower()
        if operator not in OPERATORS:
            raise _invalid_filter(
                self.text, f"operator {operator or '?'!r} is not one of {', '.join(OPERATORS)}"
            )
        value_token = self.tokens[self.index + 2]
        if value_token.group(3) is not None:
            value = value_token.group(3).replace('\\"', '"').lower()
        elif (value_token.group(4) or "").lower() in ("true", "false"):
            value = value_token.group(4).lower()
        else:
            raise _invalid_filter(self.text, f"the value for {attribute} must be a quoted string")
        self.index += 3
        return lambda item: _compare(_values(item, attribute), operator, value)


def _values(item: dict, path: str) -> list[str]:
    """The values of a (case-insensitive, dotted) attribute path, lowercased."""
    current: list = [item]
    for part in path.split("."):
        found = []
        for node in current:
            if isinstance(node, dict):
                key = next((k for k in node if k.lower() == part.lower()), None)
                if key is not None:
                    value = node[key]
                    found.extend(value if isinstance(value, list) else [value])
        current = found
    return [str(v).lower() for v in current]


def _compare(values: list[str], operator: str, value: str) -> bool:
    if operator == "ne":
        return value not in values
    if operator == "eq":
        return value in values
    if operator == "co":
        return any(value in v for v in values)
    return any(v.startswith(value) for v in values)


class ScimService:
    """SCIM Me and the Users, Groups and ServicePrincipals lists (model and handlers)."""

    def __init__(self, client_ids: Callable[[], list[str]]) -> None:
        self.client_ids = client_ids

    def register(self, router: Router) -> None:
        """Add the SCIM routes (Me stays with the identity endpoints)."""
        base = r"/api/2\.0/preview/scim/v2/"
        for kind in ("Users", "Groups", "ServicePrincipals"):
            router.add("GET", base + kind, self._lister(kind))
            router.add("GET", base + kind + r"/([^/]+)", self._getter(kind))

    def resources(self, kind: str) -> list[dict]:
        """Every resource of a kind, in id order."""
        if kind == "Users":
            items = [user_resource()]
        elif kind == "ServicePrincipals":
            items = [service_principal_resource(c) for c in self.client_ids()]
        else:
            everyone = [
                {"display": "Local User", "value": identity_id(PAT_USER)},
                *({"display": f"Service principal {c}", "value": identity_id(c)}
                  for c in self.client_ids()),
            ]  # fmt: skip
            items = [
                _group(USERS_GROUP_ID, "users", everyone),
                _group(ADMINS_GROUP_ID, "admins", everyone[:1]),
            ]
        return sorted(items, key=lambda r: r["id"])

    def _lister(self, kind: str):
        def handler(req: Request) -> Response | dict:
            try:
                items = self.resources(kind)
                text = req.query.get("filter")
                if text:
                    predicate = parse_filter(text)
                    items = [item for item in items if predicate(item)]
            except ScimError as exc:
                return exc.response()
            start = check_int(req.query.get("startIndex"), "startIndex", 1) or 1
            count = check_int(req.query.get("count"), "count", 10000)
            if start < 1 or count is None or count < 0:
                raise ApiError(
                    400, "INVALID_PARAMETER_VALUE", "startIndex must be >= 1 and count >= 0."
                )
            page = items[start - 1 : start - 1 + count]
            body: dict = {
                "schemas": [LIST_SCHEMA],
                "totalResults": len(items),
                "startIndex": start,
                "itemsPerPage": len(page),
            }
            if page:
                body["Resources"] = page
            return body

        return handler

    def _getter(self, kind: str):
        def handler(req: Request) -> Response | dict:
            wanted = req.group(1)
            for item in self.resources(kind):
                if item["id"] == wanted:
                    return item
            singular = kind[:-1]
            return ScimError(404, f"{singular} {wanted} not found.").response()

        return handler


def _group(group_id: str, name: str, members: list[dict]) -> dict:
    return {
        "id": group_id,
        "displayName": name,
        "members": members,
        "entitlements": [{"value": "workspace-access"}],
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "meta": {"resourceType": "WorkspaceGroup"},
    }
