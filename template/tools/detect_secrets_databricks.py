"""Maintained by the template; changes arrive with `copier update`.

detect-secrets plugins for the credentials this project's auth methods use: Databricks personal
access tokens (``dapi`` + 32 hex digits), Databricks OAuth secrets (``dose`` + 32 hex digits)
and Entra ID client secrets (``xxx8Q~`` + 31 to 34 characters). detect-secrets loads every
detector class of this file (``--plugin`` in .pre-commit-config.yaml).
"""

import re

from detect_secrets.plugins.base import RegexBasedDetector


class DatabricksTokenDetector(RegexBasedDetector):
    """Flags Databricks personal access tokens wherever they appear."""

    secret_type = "Databricks personal access token"  # pragma: allowlist secret
    denylist = (re.compile(r"dapi[0-9a-f]{32}"),)


class DatabricksOAuthSecretDetector(RegexBasedDetector):
    """Flags Databricks OAuth secrets of service principals (DATABRICKS_CLIENT_SECRET)."""

    secret_type = "Databricks OAuth secret"  # pragma: allowlist secret
    denylist = (re.compile(r"dose[0-9a-f]{32}"),)


class EntraClientSecretDetector(RegexBasedDetector):
    """Flags Microsoft Entra ID client secrets (ARM_CLIENT_SECRET)."""

    secret_type = "Entra ID client secret"  # pragma: allowlist secret
    # Three characters, a digit, "Q~", then the rest, as Entra ID issues them.
    denylist = (re.compile(r"(?<![\w.~-])[\w.~-]{3}\dQ~[\w.~-]{31,34}(?![\w.~-])"),)
