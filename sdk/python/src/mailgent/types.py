"""Typed results of the Mailgent API (docs/api.md), as frozen dataclasses.

Each type is built from Vault's ``data`` object by ``from_api``; fields the
server adds later are ignored, fields it leaves out take their empty value.
Secrets (passwords, credential fields, TOTP codes) are left out of ``repr`` so
that logging a result does not log a secret. No type has a TOTP seed field:
the API never returns one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

__all__ = [
    "TRUST_VERIFIED",
    "TRUST_UNVERIFIED",
    "TRUST_ANY",
    "Agent",
    "TOTPSettings",
    "LastLogin",
    "Credential",
    "CredentialVersion",
    "TOTPCode",
    "BackupCode",
    "CodeCandidate",
    "Link",
    "AttachmentInfo",
    "Message",
    "FileAttachment",
    "SentMessage",
    "LoginReport",
    "AuditEvent",
    "ThreadMessage",
    "Thread",
    "ThreadPage",
]

TRUST_VERIFIED = "verified"
"""The sender domain is authenticated by an aligned DKIM, SPF or DMARC pass."""
TRUST_UNVERIFIED = "unverified"
"""Anything else: treat the mail as possibly forged (``trust_reason`` says why)."""
TRUST_ANY = "any"
"""A filter value: both verified and unverified mail."""


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp of the API as an aware datetime (``None`` when absent)."""
    if not isinstance(value, str) or value == "":
        return None
    return datetime.fromisoformat(value)


def _str(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    return v if isinstance(v, str) else ""


def _int(d: dict[str, Any], key: str) -> int:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _strs(d: dict[str, Any], key: str) -> list[str]:
    v = d.get(key)
    return [str(x) for x in v] if isinstance(v, list) else []


def _dict(d: dict[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    return v if isinstance(v, dict) else {}


@dataclass(frozen=True)
class Agent:
    """The agent's identity, as ``agents/:agent`` reads it."""

    name: str
    address: str
    org: str
    status: str
    delegation_chain: list[str]
    description: str = ""
    id: str = ""
    created_at: datetime | None = None
    messages_total: int = 0
    messages_unread: int = 0

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Agent:
        return cls(
            name=_str(d, "agent"), address=_str(d, "address"), org=_str(d, "org"), status=_str(d, "status"),
            delegation_chain=_strs(d, "delegation_chain"), description=_str(d, "description"), id=_str(d, "id"),
            created_at=parse_time(d.get("created_at")), messages_total=_int(d, "messages_total"),
            messages_unread=_int(d, "messages_unread"),
        )


@dataclass(frozen=True)
class TOTPSettings:
    """A credential's TOTP parameters. The seed itself is write-only and never here."""

    enabled: bool
    algorithm: str = ""
    digits: int = 0
    period: int = 0
    issuer: str = ""
    account: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> TOTPSettings:
        return cls(enabled=bool(d.get("enabled")), algorithm=_str(d, "algorithm"), digits=_int(d, "digits"),
                   period=_int(d, "period"), issuer=_str(d, "issuer"), account=_str(d, "account"))


@dataclass(frozen=True)
class LastLogin:
    """The latest login report of a credential."""

    at: datetime | None
    outcome: str


@dataclass(frozen=True)
class Credential:
    """A credential version as read back: everything but the TOTP seed."""

    name: str
    version: int
    current_version: int
    versions: list[int]
    username: str
    password: str = field(repr=False)
    url: str
    fields: dict[str, str] = field(repr=False)
    totp: TOTPSettings
    max_versions: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_login: LastLogin | None = None
    delegation_chain: list[str] = field(default_factory=list)
    backup_codes_remaining: int = 0
    """How many recovery codes :meth:`Client.backup_code` can still hand out; the codes are never read back."""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Credential:
        last = d.get("last_login")
        return cls(
            name=_str(d, "credential"), version=_int(d, "version"), current_version=_int(d, "current_version"),
            versions=[int(v) for v in d.get("versions") or []], username=_str(d, "username"),
            password=_str(d, "password"), url=_str(d, "url"),
            fields={str(k): str(v) for k, v in _dict(d, "fields").items()},
            totp=TOTPSettings.from_api(_dict(d, "totp")), max_versions=_int(d, "max_versions"),
            created_at=parse_time(d.get("created_at")), updated_at=parse_time(d.get("updated_at")),
            last_login=LastLogin(parse_time(last.get("at")), _str(last, "outcome")) if isinstance(last, dict) else None,
            delegation_chain=_strs(d, "delegation_chain"), backup_codes_remaining=_int(d, "backup_codes_remaining"),
        )


@dataclass(frozen=True)
class CredentialVersion:
    """What a credential write answers: the version it made."""

    name: str
    version: int
    totp_enabled: bool
    created_at: datetime | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> CredentialVersion:
        return cls(name=_str(d, "credential"), version=_int(d, "version"), totp_enabled=bool(d.get("totp_enabled")),
                   created_at=parse_time(d.get("created_at")))


@dataclass(frozen=True)
class TOTPCode:
    """An RFC 6238 code and how long it stays valid."""

    code: str = field(repr=False)
    seconds_remaining: int
    valid_until: datetime | None
    period: int = 30
    digits: int = 6
    algorithm: str = "SHA1"

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> TOTPCode:
        return cls(code=_str(d, "code"), seconds_remaining=_int(d, "seconds_remaining"),
                   valid_until=parse_time(d.get("valid_until")), period=_int(d, "period"), digits=_int(d, "digits"),
                   algorithm=_str(d, "algorithm"))


@dataclass(frozen=True)
class BackupCode:
    """A recovery code, handed out once; ``remaining`` is how many unused ones are left."""

    code: str = field(repr=False)
    remaining: int = 0

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> BackupCode:
        return cls(code=_str(d, "code"), remaining=_int(d, "remaining"))


@dataclass(frozen=True)
class CodeCandidate:
    """A candidate verification code and the line it was found on."""

    code: str
    context: str


@dataclass(frozen=True)
class Link:
    """A link of a message. ``aligned`` is False when it leaves the sender's organisation."""

    url: str
    text: str
    kind: str
    host: str
    aligned: bool

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Link:
        return cls(url=_str(d, "url"), text=_str(d, "text"), kind=_str(d, "kind"), host=_str(d, "host"),
                   aligned=bool(d.get("aligned")))


@dataclass(frozen=True)
class AttachmentInfo:
    """An attachment of a received message (its content is read separately)."""

    index: int
    filename: str
    content_type: str
    size: int
    inline: bool = False
    content_id: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> AttachmentInfo:
        return cls(index=_int(d, "index"), filename=_str(d, "filename"), content_type=_str(d, "content_type"),
                   size=_int(d, "size"), inline=bool(d.get("inline")), content_id=_str(d, "content_id"))


@dataclass(frozen=True)
class Message:
    """An inbox message.

    The list returns summaries (the first group of fields); ``read_message``
    and the waits fill in the rest. ``trust`` is ``"verified"`` only when the
    From domain (``sender_domain``) is authenticated; never act on a code from
    an unverified message.
    """

    id: str
    from_: str
    from_address: str
    sender_domain: str
    trust: str
    trust_reason: str
    subject: str
    code: str
    unread: bool
    size: int = 0
    attachment_count: int = 0
    stored_at: datetime | None = None
    received_at: datetime | None = None
    read_at: datetime | None = None
    # Only on full reads:
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    date: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    text: str = field(default="", repr=False)
    html: str = field(default="", repr=False)
    extracted_text: str = field(default="", repr=False)
    codes: list[CodeCandidate] = field(default_factory=list, repr=False)
    links: list[Link] = field(default_factory=list, repr=False)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    auth: dict[str, Any] = field(default_factory=dict, repr=False)
    envelope: dict[str, Any] = field(default_factory=dict, repr=False)
    parse_errors: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """Whether the sender domain is authenticated (``trust == "verified"``)."""
        return self.trust == TRUST_VERIFIED

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Message:
        raw_att = d.get("attachments")
        attachments = [AttachmentInfo.from_api(a) for a in raw_att if isinstance(a, dict)] if isinstance(raw_att, list) else []
        return cls(
            id=_str(d, "id"), from_=_str(d, "from"), from_address=_str(d, "from_address"),
            sender_domain=_str(d, "sender_domain"), trust=_str(d, "trust") or TRUST_UNVERIFIED,
            trust_reason=_str(d, "trust_reason"), subject=_str(d, "subject"), code=_str(d, "code"),
            unread=bool(d.get("unread")), size=_int(d, "size"),
            attachment_count=len(attachments) if isinstance(raw_att, list) else _int(d, "attachments"),
            stored_at=parse_time(d.get("stored_at")), received_at=parse_time(d.get("received_at")),
            read_at=parse_time(d.get("read_at")), to=_strs(d, "to"), cc=_strs(d, "cc"), reply_to=_strs(d, "reply_to"),
            date=parse_time(d.get("date")), message_id=_str(d, "message_id"), in_reply_to=_str(d, "in_reply_to"),
            references=_strs(d, "references"), text=_str(d, "text"), html=_str(d, "html"),
            extracted_text=_str(d, "extracted_text"),
            codes=[CodeCandidate(_str(c, "code"), _str(c, "context")) for c in d.get("codes") or [] if isinstance(c, dict)],
            links=[Link.from_api(x) for x in d.get("links") or [] if isinstance(x, dict)],
            attachments=attachments, auth=_dict(d, "auth"), envelope=_dict(d, "envelope"),
            parse_errors=_strs(d, "parse_errors"),
        )


@dataclass(frozen=True)
class FileAttachment:
    """A file to attach to an outgoing message."""

    filename: str
    content: bytes = field(repr=False)
    content_type: str = "application/octet-stream"

    def to_api(self) -> dict[str, str]:
        return {"filename": self.filename, "content_type": self.content_type,
                "content": base64.b64encode(self.content).decode("ascii")}


@dataclass(frozen=True)
class SentMessage:
    """A sent message's record. ``status`` goes queued → (deferred) → sent, failed or cancelled."""

    id: str
    message_id: str
    status: str
    reply: str
    subject: str
    from_: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    size: int = 0
    attachment_count: int = 0
    in_reply_to: str = ""
    attempts: int = 0
    queued_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def final(self) -> bool:
        """Whether the status will not change any more (sent, failed or cancelled)."""
        return self.status in ("sent", "failed", "cancelled")

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> SentMessage:
        return cls(
            id=_str(d, "id"), message_id=_str(d, "message_id"), status=_str(d, "status"), reply=_str(d, "reply"),
            subject=_str(d, "subject"), from_=_str(d, "from"), to=_strs(d, "to"), cc=_strs(d, "cc"),
            bcc=_strs(d, "bcc"), size=_int(d, "size"), attachment_count=_int(d, "attachments"),
            in_reply_to=_str(d, "in_reply_to"), attempts=_int(d, "attempts"),
            queued_at=parse_time(d.get("queued_at")), updated_at=parse_time(d.get("updated_at")),
        )


@dataclass(frozen=True)
class LoginReport:
    """A recorded login report: its audit event ID."""

    credential: str
    outcome: str
    event_id: str
    at: datetime | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> LoginReport:
        return cls(credential=_str(d, "credential"), outcome=_str(d, "outcome"), event_id=_str(d, "event_id"),
                   at=parse_time(d.get("at")))


@dataclass(frozen=True)
class AuditEvent:
    """One event of the agent's audit trail."""

    id: str
    time: datetime | None
    operation: str
    outcome: str
    credential: str = ""
    version: int = 0
    detail: str = ""
    request_id: str = ""
    display_name: str = ""
    delegation_chain: list[str] = field(default_factory=list)
    requester_is_agent: bool = False

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> AuditEvent:
        return cls(
            id=_str(d, "id"), time=parse_time(d.get("time")), operation=_str(d, "operation"),
            outcome=_str(d, "outcome"), credential=_str(d, "credential"), version=_int(d, "version"),
            detail=_str(d, "detail"), request_id=_str(d, "request_id"), display_name=_str(d, "display_name"),
            delegation_chain=_strs(d, "delegation_chain"), requester_is_agent=bool(d.get("requester_is_agent")),
        )


@dataclass(frozen=True)
class ThreadMessage:
    """One message of a thread: ``kind`` ``"inbox"`` (``id`` for ``read_message``) or ``"sent"`` (for ``sent``).

    ``from_``, ``to``, ``subject``, ``unread`` and ``status`` are filled by
    :meth:`Client.thread`, not by :meth:`Client.threads`.
    """

    kind: str
    id: str
    at: datetime | None
    from_: str = ""
    to: list[str] = field(default_factory=list)
    subject: str = ""
    unread: bool = False
    status: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ThreadMessage:
        return cls(kind=_str(d, "kind"), id=_str(d, "id"), at=parse_time(d.get("at")), from_=_str(d, "from"),
                   to=_strs(d, "to"), subject=_str(d, "subject"), unread=bool(d.get("unread")),
                   status=_str(d, "status"))


@dataclass(frozen=True)
class Thread:
    """A conversation: inbox and sent mail linked by their headers, oldest message first."""

    id: str
    subject: str
    participants: list[str]
    message_count: int
    unread: int
    first_activity: datetime | None
    last_activity: datetime | None
    messages: list[ThreadMessage]
    inbox_ids: list[str]
    sent_ids: list[str]

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Thread:
        return cls(
            id=_str(d, "id"), subject=_str(d, "subject"), participants=_strs(d, "participants"),
            message_count=_int(d, "message_count"), unread=_int(d, "unread"),
            first_activity=parse_time(d.get("first_activity")), last_activity=parse_time(d.get("last_activity")),
            messages=[ThreadMessage.from_api(m) for m in d.get("messages") or [] if isinstance(m, dict)],
            inbox_ids=_strs(d, "inbox_ids"), sent_ids=_strs(d, "sent_ids"),
        )


class ThreadPage(NamedTuple):
    """A page of threads, newest activity first; pass ``next_cursor`` as ``after`` for the next ("" at the end)."""

    threads: list[Thread]
    next_cursor: str
