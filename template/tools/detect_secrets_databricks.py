"""detect-secrets plugin: Databricks personal access tokens (``dapi`` + 32 hex digits)."""

import re

from detect_secrets.plugins.base import RegexBasedDetector


class DatabricksTokenDetector(RegexBasedDetector):
    """Flags Databricks personal access tokens wherever they appear."""

    secret_type = "Databricks personal access token"  # pragma: allowlist secret
    denylist = (re.compile(r"dapi[0-9a-f]{32}"),)
