"""Verify webhook deliveries signed per the Standard Webhooks specification.

https://www.standardwebhooks.com/ — a delivery carries three headers:

- ``webhook-id``: the message's unique ID (use it to drop duplicates);
- ``webhook-timestamp``: Unix seconds when it was sent;
- ``webhook-signature``: space-separated ``v1,<base64>`` entries, each an
  HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed with the secret's bytes
  (several while a secret is being rotated).

The secret is the ``whsec_``-prefixed base64 string the endpoint was given.
Verify the **raw** body, byte for byte, before parsing it::

    from mailgent.webhooks import verify, WebhookVerificationError
    try:
        verify(os.environ["MAILGENT_WEBHOOK_SECRET"], request.headers, request.get_data())
    except WebhookVerificationError:
        return "", 400
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import datetime

__all__ = ["verify", "sign", "WebhookVerificationError", "TOLERANCE_SECONDS"]

TOLERANCE_SECONDS = 5 * 60
"""How far a delivery's timestamp may be from now, either way, before it is refused as a replay."""

_PREFIX = "whsec_"


class WebhookVerificationError(Exception):
    """The delivery is not authentic, or not fresh: answer it with a 4xx and ignore it."""


def _key(secret: str) -> bytes:
    """The HMAC key: the secret's base64 part, decoded. Raises ``ValueError`` for a malformed secret."""
    raw = secret[len(_PREFIX):] if secret.startswith(_PREFIX) else secret
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("secret: not a whsec_ base64 secret") from None
    if not key:
        raise ValueError("secret: is empty")
    return key


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name, case-insensitively (frameworks differ in how they spell them)."""
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return ""


def _now(now: datetime | float | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for a delivery: for senders and tests."""
    payload = body.encode() if isinstance(body, str) else body
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    mac = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, now: datetime | float | None = None) -> None:
    """Check that a delivery was signed with ``secret`` within the last (or next) 5 minutes.

    Args:
        secret: the endpoint's ``whsec_…`` secret (the prefix is optional).
        headers: the request's headers; names are matched case-insensitively.
        body: the raw request body, exactly as received (a ``str`` is UTF-8 encoded).
        now: the time to check the timestamp against (default: the clock),
            as a datetime or Unix seconds.

    Raises:
        WebhookVerificationError: a header is missing, the timestamp is not
            an integer or is more than 5 minutes away from ``now``, or no
            ``v1`` signature matches.
        ValueError: the secret itself is malformed (a configuration error).
    """
    key = _key(secret)
    msg_id = _header(headers, "webhook-id")
    ts = _header(headers, "webhook-timestamp")
    sigs = _header(headers, "webhook-signature")
    for name, value in (("webhook-id", msg_id), ("webhook-timestamp", ts), ("webhook-signature", sigs)):
        if not value:
            raise WebhookVerificationError(f"{name}: header missing")
    if not ts.isascii() or not ts.isdigit():
        raise WebhookVerificationError("webhook-timestamp: not a Unix time in seconds")
    skew = _now(now) - int(ts)
    if skew > TOLERANCE_SECONDS:
        raise WebhookVerificationError("webhook-timestamp: too old (more than 5 minutes ago)")
    if skew < -TOLERANCE_SECONDS:
        raise WebhookVerificationError("webhook-timestamp: too far in the future (more than 5 minutes ahead)")
    payload = body.encode() if isinstance(body, str) else body
    expected = hmac.new(key, f"{msg_id}.{ts}.".encode() + payload, hashlib.sha256).digest()
    for entry in sigs.split(" "):
        version, _, value = entry.partition(",")
        if version != "v1":
            continue  # other schemes (v1a: asymmetric) are not ours to check
        try:
            candidate = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(candidate, expected):
            return
    raise WebhookVerificationError("webhook-signature: no valid v1 signature")
