"""Small helpers shared by the handlers: time, JSON pruning, base64, ids."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Any

from .errors import invalid
from .routing import check_bool, check_int

# The workspace id the emulator claims to be (x-databricks-org-id, run page URLs, host metadata).
WORKSPACE_ID = "1234567890123456"


def now_ms() -> int:
    """Current wall-clock time in epoch milliseconds, the unit the REST API uses."""
    return int(time.time() * 1000)


def prune(value: Any) -> Any:
    """Drop None, empty lists and empty dicts recursively.

    The service omits empty fields, and the SDK's `as_dict()` drops them too, so pruned responses
    round-trip through the SDK dataclasses unchanged.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = prune(item)
            if item is None or item == {} or item == []:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [prune(item) for item in value]
    return value


def b64decode(data: str | None, field: str) -> bytes:
    """Decode a base64 request field, answering INVALID_PARAMETER_VALUE on garbage."""
    if not data:
        return b""
    if not isinstance(data, str):
        raise invalid(f"Invalid value for field '{field}': expected a base64 string.")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(f"Invalid base64 in field '{field}'.") from exc


def b64encode(data: bytes) -> str:
    """Encode bytes as base64 text."""
    return base64.b64encode(data).decode("ascii")


def random_token() -> str:
    """A personal access token shaped like the real ones (`dapi` + 32 hex digits)."""
    return "dapi" + secrets.token_hex(16)


def to_bool(value: Any, field: str = "value") -> bool:
    """Interpret a JSON or query-string boolean (`true`/`false`, 1/0); 400 on anything else."""
    return check_bool(value, field)


def to_int(value: Any, field: str, default: int | None = None) -> int | None:
    """Parse an integer parameter, answering INVALID_PARAMETER_VALUE when it is not one."""
    return check_int(value, field, default)
