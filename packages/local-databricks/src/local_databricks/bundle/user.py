"""The current user, as the Databricks CLI names it: ``${workspace.current_user.*}``."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .rest import Server, _call

_UUID = re.compile(
    r"(?:urn:uuid:)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}|[0-9a-f]{32}",
    re.IGNORECASE,
)


def is_service_principal(user_name: str) -> bool:
    """Whether ``user_name`` is a service principal's: the CLI's heuristic, a UUID (the
    application id) rather than an e-mail address (``iamutil.IsServicePrincipal``)."""
    return _UUID.fullmatch(user_name) is not None


def normalize_string(text: str) -> str:
    """Lowercase, every character but a letter or a digit as ``_``, runs of ``_`` as one, no
    ``_`` at either end (the CLI's ``textutil.NormalizeString``)."""
    mapped = "".join(
        char if char.isalpha() or unicodedata.category(char) == "Nd" else "_"
        for char in text.lower()
    )
    return re.sub("_+", "_", mapped).strip("_")


def short_name(user_name: str, display_name: str | None = None) -> str:
    """``${workspace.current_user.short_name}`` of a user, as the Databricks CLI computes it
    (``iamutil.GetShortUserName``): the part of the user name before ``@`` (for a service
    principal, whose user name is its application id, its display name when it has one),
    normalised by `normalize_string`: ``Jane.Doe@example.com`` -> ``jane_doe``,
    ``first+tag@x.com`` -> ``first_tag``, ``"_quoted"@x.com`` -> ``quoted``."""
    name = display_name if display_name and is_service_principal(user_name) else user_name
    return normalize_string(name.split("@", 1)[0])


def domain_friendly_name(user_name: str, display_name: str | None = None) -> str:
    """``${workspace.current_user.domain_friendly_name}``: the short name without accents,
    every character but an ASCII letter or digit as ``-``, lowercase
    (``iamutil.GetShortUserDomainFriendlyName``): ``jöhn.doe@x.com`` -> ``john-doe``."""
    decomposed = unicodedata.normalize("NFD", short_name(user_name, display_name))
    plain = unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    )
    return re.sub(r"[^A-Za-z0-9]", "-", plain).lower()


@dataclass(frozen=True)
class CurrentUser:
    """The identity a bundle is deployed as (``SCIM Me``): ``${workspace.current_user.*}``."""

    user_name: str
    display_name: str | None = None

    @property
    def short_name(self) -> str:
        return short_name(self.user_name, self.display_name)

    @property
    def domain_friendly_name(self) -> str:
        return domain_friendly_name(self.user_name, self.display_name)

    def references(self) -> dict[str, str]:
        """``workspace.current_user.<field>`` -> value, for ``${...}`` references."""
        fields = {
            "userName": self.user_name,
            "short_name": self.short_name,
            "domain_friendly_name": self.domain_friendly_name,
        }
        if self.display_name:
            fields["displayName"] = self.display_name
        return {f"workspace.current_user.{name}": value for name, value in fields.items()}


def current_user(server: Server) -> CurrentUser:
    """Who ``server``'s token is: ``GET /api/2.0/preview/scim/v2/Me``."""
    me = _call(server, "GET", "/api/2.0/preview/scim/v2/Me") or {}
    return CurrentUser(user_name=me["userName"], display_name=me.get("displayName") or None)
