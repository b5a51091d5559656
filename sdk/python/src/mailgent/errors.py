"""Errors raised by the Mailgent client.

Every error from Vault is a :class:`MailgentError` carrying the HTTP status and
Vault's own messages, so a caller can branch on the class (``except NotFound``)
or on ``status``. No error message ever contains a token, password or seed: they
hold what Vault answered, and Vault's Mailgent plugin never echoes secrets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus

__all__ = [
    "MailgentError",
    "InvalidRequest",
    "PermissionDenied",
    "NotFound",
    "Timeout",
    "Conflict",
    "Gone",
    "RateLimited",
    "error_for_status",
]


class MailgentError(Exception):
    """A request to Vault failed.

    Attributes:
        status: the HTTP status Vault answered (``404``, ``410``, …), or
            ``None`` when no answer came (connection refused, client-side
            timeout, a response that is not Vault's JSON).
        message: Vault's error messages joined with ``"; "`` (for a 400 it
            starts with the name of the offending field).
        errors: Vault's error messages, one per entry (empty when Vault gave none).
        operation: what the client was doing, e.g. ``"read credential github.com"``.
    """

    status: int | None
    message: str
    errors: list[str]
    operation: str

    def __init__(self, operation: str, status: int | None, errors: Sequence[str]) -> None:
        self.operation = operation
        self.status = status
        self.errors = [m for e in errors for m in _unwrap(str(e))]
        # Vault answers some 404s (an empty list, a missing entry) with no message.
        self.message = "; ".join(self.errors) or _phrase(status)
        super().__init__(str(self))

    def __str__(self) -> str:
        status = "" if self.status is None else f"{self.status} "
        return f"{self.operation}: {status}{self.message}".rstrip()

    def __reduce__(self) -> tuple[type, tuple[str, int | None, list[str]]]:
        # Keep the three-argument constructor through pickling (multiprocessing).
        return (type(self), (self.operation, self.status, self.errors))


_MULTIERROR = re.compile(r"^\d+ errors? occurred:\n")


def _unwrap(message: str) -> list[str]:
    """Vault's messages, out of the "1 error occurred:\\n\\t* …" list it wraps some in."""
    if not _MULTIERROR.match(message):
        return [message.strip()]
    return [line.strip()[2:].strip() for line in message.splitlines()[1:] if line.strip().startswith("* ")]


def _phrase(status: int | None) -> str:
    try:
        return HTTPStatus(status).phrase if status is not None else ""
    except ValueError:
        return ""


class InvalidRequest(MailgentError):
    """400: bad input. ``message`` starts with the field's name; nothing was changed."""


class PermissionDenied(MailgentError):
    """403: Vault's ACL refused the path, or a recipient is outside the agent's send allowlist."""


class NotFound(MailgentError):
    """404: no such agent, credential, version, message or sent message."""


class Timeout(MailgentError):
    """408: ``messages/wait`` saw no matching unread message within its timeout."""


class Conflict(MailgentError):
    """409: the state does not allow it, e.g. no unused backup code is left."""


class Gone(MailgentError):
    """410: the agent was revoked; its credentials are destroyed and it can no longer act."""


class RateLimited(MailgentError):
    """429: the agent reached the mount's ``send_rate_limit``; ``message`` says when to retry."""


_BY_STATUS: dict[int, type[MailgentError]] = {
    400: InvalidRequest,
    403: PermissionDenied,
    404: NotFound,
    408: Timeout,
    409: Conflict,
    410: Gone,
    429: RateLimited,
}


def error_for_status(operation: str, status: int | None, errors: Sequence[str]) -> MailgentError:
    """Return the :class:`MailgentError` subclass instance for an HTTP status."""
    cls: type[MailgentError] = _BY_STATUS.get(status, MailgentError) if status is not None else MailgentError
    return cls(operation, status, errors)
