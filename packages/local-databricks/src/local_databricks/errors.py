"""Errors raised by request handlers, rendered as Databricks error bodies."""

from __future__ import annotations

# Default error_code per HTTP status, used when a fault does not name one. These are the codes the
# real service sends for these statuses, so the SDK maps them to the same exception classes.
DEFAULT_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    429: "REQUEST_LIMIT_EXCEEDED",
    499: "CANCELLED",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    502: "BAD_GATEWAY",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """An error answered as `{"error_code": ..., "message": ...}` with an HTTP status."""

    def __init__(
        self,
        status: int,
        error_code: str | None,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code or DEFAULT_ERROR_CODES.get(status, "UNKNOWN")
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict:
        """Return the JSON error body."""
        return {"error_code": self.error_code, "message": self.message}


def invalid(message: str) -> ApiError:
    """400 INVALID_PARAMETER_VALUE, the service's answer to bad input and unknown ids."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def does_not_exist(message: str, status: int = 404) -> ApiError:
    """404 RESOURCE_DOES_NOT_EXIST (DBFS, workspace, secrets)."""
    return ApiError(status, "RESOURCE_DOES_NOT_EXIST", message)


def already_exists(
    message: str, code: str = "RESOURCE_ALREADY_EXISTS", status: int = 400
) -> ApiError:
    """RESOURCE_ALREADY_EXISTS (DBFS, workspace, secrets) or ALREADY_EXISTS (Files API, 409)."""
    return ApiError(status, code, message)


class TaskSetupError(Exception):
    """A task cannot start; `internal` selects INTERNAL_ERROR instead of FAILED."""

    def __init__(self, message: str, internal: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.internal = internal
        self.code = code
