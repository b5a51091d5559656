"""The Mailgent client: one agent on one Mailgent mount of Vault."""

from __future__ import annotations

import base64
import os
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from ._http import JSON, Query, Transport, segment
from .errors import MailgentError, NotFound
from .types import (
    TRUST_VERIFIED,
    Agent,
    AuditEvent,
    BackupCode,
    Credential,
    CredentialVersion,
    FileAttachment,
    LoginReport,
    Message,
    SentMessage,
    Thread,
    ThreadPage,
    TOTPCode,
)

__all__ = ["Client", "CodeResult", "MAX_QR_IMAGE_BYTES"]

MAX_QR_IMAGE_BYTES = 1 << 20
"""The largest QR image the engine accepts (1 MiB)."""

# The longest TOTP period the engine allows: a fresh code waits at most about that long.
_MAX_TOTP_PERIOD = 300

# A long-poll holds the request open for up to its timeout: the HTTP read
# timeout must outlast it.
_WAIT_MARGIN = 30.0


class CodeResult(NamedTuple):
    """What :meth:`Client.wait_for_code` returns: ``code, message = client.wait_for_code(...)``."""

    code: str | None
    """The best candidate verification code, or ``None`` when the message has none."""
    message: Message


class Client:
    """Acts as one agent on one Mailgent mount.

    Log in with :meth:`login_approle` (what ``mailgent onboard`` hands an agent),
    or wrap a token you already hold::

        from mailgent import Client
        c = Client.login_approle("https://vault.example.com", role_id,
                                 wrapped_secret_id=token, agent="billing-bot")
        code = c.totp("aws", min_remaining=5).code
        code, msg = c.wait_for_code(from_="aws.amazon.com", timeout=60)

    Every method raises a :class:`~mailgent.MailgentError` subclass when Vault
    refuses (``NotFound``, ``Gone`` once the agent is revoked, …) and
    ``ValueError`` for an argument it can tell is wrong before asking.
    """

    def __init__(
        self,
        vault_addr: str,
        token: str,
        mount: str = "mailgent",
        agent: str = "",
        *,
        namespace: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """A client with a Vault token that already carries the agent's policy.

        Args:
            vault_addr: Vault's address, e.g. ``"https://vault.example.com:8200"``.
            token: the agent's Vault token (never logged or shown in ``repr``).
            mount: the Mailgent mount path.
            agent: the agent's name.
            namespace: a Vault Enterprise namespace, if any.
            timeout: seconds to wait for an answer (the waits add their own timeout).
            ssl_context: TLS settings, e.g. ``ssl.create_default_context(cafile=…)``.
        """
        if not token:
            raise ValueError("token: is required")
        self._mount = _mount_path(mount)
        self._agent = segment(agent, "agent")
        self._http = Transport(vault_addr, token, namespace=namespace, timeout=timeout, ssl_context=ssl_context)

    @classmethod
    def login_approle(
        cls,
        vault_addr: str,
        role_id: str,
        *,
        agent: str,
        wrapped_secret_id: str | None = None,
        secret_id: str | None = None,
        mount: str = "mailgent",
        approle_mount: str = "approle",
        namespace: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Client:
        """Log the agent in with AppRole and return its client.

        Give ``wrapped_secret_id`` (the response-wrapping token ``mailgent
        onboard`` prints: it is unwrapped here, once — a second unwrap fails)
        or a plain ``secret_id``.
        """
        if bool(wrapped_secret_id) == bool(secret_id):
            raise ValueError("secret_id: give exactly one of wrapped_secret_id and secret_id")
        if not role_id:
            raise ValueError("role_id: is required")
        anon = Transport(vault_addr, None, namespace=namespace, timeout=timeout, ssl_context=ssl_context)
        if wrapped_secret_id:
            out = anon.with_token(wrapped_secret_id).request("unwrap secret_id", "POST", "sys/wrapping/unwrap", body={})
            secret_id = _data(out).get("secret_id")
            if not isinstance(secret_id, str) or not secret_id:
                raise MailgentError("unwrap secret_id", None, ["the wrapping token holds no secret_id"])
        path = f"auth/{approle_mount.strip('/')}/login"
        out = anon.request("approle login", "POST", path, body={"role_id": role_id, "secret_id": secret_id})
        auth = (out or {}).get("auth")
        token = auth.get("client_token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise MailgentError("approle login", None, ["Vault returned no token"])
        return cls(vault_addr, token, mount, agent, namespace=namespace, timeout=timeout, ssl_context=ssl_context)

    def __repr__(self) -> str:
        return f"Client(vault_addr={self._http.addr!r}, mount={self._mount!r}, agent={self._agent!r})"

    @property
    def agent(self) -> str:
        """The agent's name."""
        return self._agent

    @property
    def mount(self) -> str:
        """The Mailgent mount path."""
        return self._mount

    # --- plumbing -------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/".join([self._mount, "agents", self._agent, *parts])

    def _get(self, op: str, path: str, query: Query | None = None, timeout: float | None = None) -> JSON:
        return _data(self._http.request(op, "GET", path, query=query, timeout=timeout))

    def _post(self, op: str, path: str, body: JSON) -> JSON:
        return _data(self._http.request(op, "POST", path, body=body))

    # --- identity -------------------------------------------------------

    def agent_info(self) -> Agent:
        """The agent's own record: address, org, delegation chain, status, inbox counts."""
        return Agent.from_api(self._get("read agent", self._path()))

    # --- credentials ----------------------------------------------------

    def store_credential(
        self,
        name: str,
        *,
        username: str | None = None,
        password: str | None = None,
        url: str | None = None,
        fields: Mapping[str, str] | None = None,
        totp_secret: str | None = None,
        totp_uri: str | None = None,
        totp_algorithm: str | None = None,
        totp_digits: int | None = None,
        totp_period: int | None = None,
        totp_qr: bytes | None = None,
        backup_codes: Sequence[str] | None = None,
        cas: int | None = None,
        max_versions: int | None = None,
    ) -> CredentialVersion:
        """Write a new version of a credential, merged with the current one.

        An argument left as ``None`` is not sent, so the new version keeps it
        (the TOTP seed too); ``""`` clears it, and ``fields`` replaces the whole
        map. ``totp_secret`` (base32) or ``totp_uri`` (``otpauth://totp/…``) is
        write-only: no read ever returns it; so is ``totp_qr``, the bytes of the
        site's enrolment QR image (PNG, JPEG or GIF, at most 1 MiB), which the
        engine decodes (see :meth:`enroll_totp_qr`). ``backup_codes`` replaces
        the site's one-time recovery codes (``[]`` removes them); reads show
        only how many remain. With ``cas`` the write happens only if the
        current version equals it (``0``: only create), else
        :class:`~mailgent.InvalidRequest`.
        """
        body: JSON = {}
        if totp_qr is not None:
            if len(totp_qr) > MAX_QR_IMAGE_BYTES:
                raise ValueError(f"totp_qr: {len(totp_qr)} bytes; the engine takes at most {MAX_QR_IMAGE_BYTES}")
            body["totp_qr"] = base64.b64encode(totp_qr).decode("ascii")
        if backup_codes is not None:
            if isinstance(backup_codes, str):
                raise ValueError("backup_codes: must be a list of codes, not one string")
            body["backup_codes"] = list(backup_codes)
        for key, value in (("username", username), ("password", password), ("url", url),
                           ("totp_secret", totp_secret), ("totp_uri", totp_uri),
                           ("totp_algorithm", totp_algorithm), ("totp_digits", totp_digits),
                           ("totp_period", totp_period), ("cas", cas), ("max_versions", max_versions)):
            if value is not None:
                body[key] = value
        if fields is not None:
            body["fields"] = dict(fields)
        path = self._path("creds", segment(name, "name"))
        return CredentialVersion.from_api(self._post(f"store credential {name}", path, body))

    def get_credential(self, name: str, version: int | None = None) -> Credential:
        """Read the current version of a credential, or a kept older ``version``."""
        query = {"version": version} if version else None
        return Credential.from_api(self._get(f"read credential {name}", self._path("creds", segment(name, "name")), query))

    def list_credentials(self) -> list[str]:
        """The names of the agent's credentials, sorted (``[]`` when there are none)."""
        try:
            data = self._get("list credentials", self._path("creds"), {"list": True})
        except NotFound as e:
            if not e.errors:  # Vault's answer to an empty list: a 404 without a message
                return []
            raise
        return [str(k) for k in data.get("keys") or []]

    def totp(self, name: str, min_remaining: int = 0, *, fresh: bool = False) -> TOTPCode:
        """The credential's current TOTP code.

        With ``min_remaining`` > 0 and fewer seconds left in the current step,
        the call waits for the next step (at most ``min_remaining`` seconds) so
        the code does not expire while it is being typed. With ``fresh=True``
        the code is of a later time step than any code of this credential
        handed out before — a site refuses a code it has seen — and the call
        waits for the next step when needed (up to a period).
        """
        query: dict[str, str | int | bool | None] = {"min_remaining": min_remaining or None, "fresh": True if fresh else None}
        path = self._path("creds", segment(name, "name"), "totp")
        wait = _MAX_TOTP_PERIOD if fresh else min_remaining
        return TOTPCode.from_api(self._get(f"totp {name}", path, query, timeout=self._http.timeout + wait))

    def enroll_totp_qr(self, name: str, image: bytes | str | os.PathLike[str], *, cas: int | None = None) -> CredentialVersion:
        """Store the TOTP seed of a site's enrolment QR code: the image's bytes, or the path of a PNG, JPEG or GIF file.

        The engine decodes it and reads the ``otpauth://`` URI in it like
        ``totp_uri``; a picture without one is an :class:`~mailgent.InvalidRequest`
        naming ``totp_qr``, and nothing is stored. The seed is never returned.
        """
        if not isinstance(image, bytes):
            with open(image, "rb") as f:
                image = f.read(MAX_QR_IMAGE_BYTES + 1)
        return self.store_credential(name, totp_qr=image, cas=cas)

    def backup_code(self, name: str) -> BackupCode:
        """Hand out the credential's next unused recovery code and mark it used.

        Each code comes out once; none left raises :class:`~mailgent.Conflict` (409).
        """
        path = self._path("creds", segment(name, "name"), "backup-code")
        return BackupCode.from_api(self._post(f"backup code {name}", path, {}))

    def report_login(self, credential: str, success: bool, detail: str = "") -> LoginReport:
        """Record a login attempt with a credential in the audit trail.

        ``detail`` is short free text (the page reached, the error seen); the
        engine refuses one that contains the credential's password or fields.
        """
        body = {"outcome": "success" if success else "failure", "detail": detail}
        path = self._path("creds", segment(credential, "credential"), "login")
        return LoginReport.from_api(self._post(f"report login {credential}", path, body))

    # --- inbox ----------------------------------------------------------

    def list_messages(
        self,
        *,
        from_: str | None = None,
        from_contains: str | None = None,
        subject: str | None = None,
        unread_only: bool = False,
        trust: str | None = None,
        since: datetime | timedelta | str | None = None,
        has_code: bool | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> list[Message]:
        """The inbox, newest first, as summaries (use :meth:`read_message` for the body).

        ``from_`` is a sender domain (it and its subdomains) or an exact
        address; ``from_contains`` a substring of the display From — a search
        aid, never a trust decision. ``trust`` is ``"verified"``,
        ``"unverified"`` or ``"any"``. Page with ``after=<last message's id>``.
        """
        query: dict[str, str | int | bool | None] = {
            "from": from_, "from_contains": from_contains, "subject": subject, "trust": trust,
            "since": _since(since), "has_code": has_code, "limit": limit, "after": after,
        }
        if unread_only:
            query["unread"] = True
        data = self._get("list messages", self._path("messages"), query)
        return [Message.from_api(m) for m in data.get("messages") or [] if isinstance(m, dict)]

    def read_message(self, id: str) -> Message:
        """One message in full (text, extracted text, codes, links, authentication); marks it read."""
        return Message.from_api(self._get(f"read message {id}", self._path("messages", segment(id, "id"))))

    def wait_for_message(
        self,
        *,
        from_: str | None = None,
        subject: str | None = None,
        since: datetime | timedelta | str | None = None,
        timeout: int = 30,
        trust: str | None = None,
    ) -> Message:
        """Block until a matching unread message arrives, mark it read and return it.

        A message that arrived in the minute before the call counts too (or
        since ``since``). With ``from_`` set, only *verified* mail is returned
        unless ``trust="any"``. Raises :class:`~mailgent.Timeout` (408) when
        nothing matched within ``timeout`` seconds (capped by the mount's
        ``max_wait_timeout``).
        """
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0:
            raise ValueError(f"timeout: must be a whole number of seconds >= 0, got {timeout!r}")
        query = {"from": from_, "subject": subject, "since": _since(since), "timeout": timeout, "trust": trust}
        data = self._get("wait for message", self._path("messages", "wait"), query, timeout=timeout + _WAIT_MARGIN)
        return Message.from_api(data)

    def wait_for_code(
        self,
        *,
        from_: str | None = None,
        subject: str | None = None,
        since: datetime | timedelta | str | None = None,
        timeout: int = 30,
        trust: str = TRUST_VERIFIED,
    ) -> CodeResult:
        """Wait for a verification mail from a *verified* sender and return its code and the message.

        Call it right after asking a service for a code. It asks for verified
        mail whether or not ``from_`` is set, so a forged "from the service"
        mail is never the answer; pass ``trust="any"`` only if you mean it.
        """
        msg = self.wait_for_message(from_=from_, subject=subject, since=since, timeout=timeout, trust=trust)
        return CodeResult(msg.code or None, msg)

    def threads(self, *, limit: int | None = None, after: str | None = None) -> ThreadPage:
        """The agent's conversations — inbox and sent mail grouped by thread — newest activity first.

        Page with ``after=page.next_cursor`` ("" at the end).
        """
        data = self._get("list threads", self._path("threads"), {"limit": limit, "after": after})
        threads = [Thread.from_api(t) for t in data.get("threads") or [] if isinstance(t, dict)]
        cursor = data.get("next_cursor")
        return ThreadPage(threads, cursor if isinstance(cursor, str) else "")

    def thread(self, id: str) -> Thread:
        """One conversation, with each message's sender, recipients and subject."""
        return Thread.from_api(self._get(f"read thread {id}", self._path("threads", segment(id, "id"))))

    # --- outbound -------------------------------------------------------

    def send(
        self,
        to: str | Iterable[str],
        subject: str,
        *,
        text: str | None = None,
        html: str | None = None,
        cc: Iterable[str] | None = None,
        bcc: Iterable[str] | None = None,
        reply_to: str | None = None,
        in_reply_to: str | None = None,
        attachments: Iterable[FileAttachment] | None = None,
    ) -> SentMessage:
        """Send mail from the agent's own address; returns its record, status ``queued``.

        ``in_reply_to`` is the ``id`` of an inbox message: the mail then
        threads as its answer. Follow delivery with :meth:`sent`.
        """
        body: JSON = {"to": [to] if isinstance(to, str) else list(to), "subject": subject}
        for key, value in (("text", text), ("html", html), ("reply_to", reply_to), ("in_reply_to", in_reply_to)):
            if value is not None:
                body[key] = value
        if cc is not None:
            body["cc"] = list(cc)
        if bcc is not None:
            body["bcc"] = list(bcc)
        if attachments is not None:
            body["attachments"] = [a.to_api() for a in attachments]
        return SentMessage.from_api(self._post("send", self._path("send"), body))

    def sent(self, id: str) -> SentMessage:
        """A sent message's record and current delivery status."""
        return SentMessage.from_api(self._get(f"sent {id}", self._path("sent", segment(id, "id"))))

    def list_sent(self, *, status: str | None = None, limit: int | None = None, after: str | None = None) -> list[SentMessage]:
        """The agent's sent mail, newest first; ``status`` filters (queued, deferred, sent, failed, cancelled)."""
        data = self._get("list sent", self._path("sent"), {"status": status, "limit": limit, "after": after})
        return [SentMessage.from_api(m) for m in data.get("messages") or [] if isinstance(m, dict)]

    def wait_for_delivery(self, id: str, timeout: float = 60.0, interval: float = 0.5) -> SentMessage:
        """Poll :meth:`sent` until the status is final (sent, failed or cancelled) or ``timeout`` passes.

        Returns the last record read, final or not.
        """
        deadline = time.monotonic() + timeout
        rec = self.sent(id)
        while not rec.final and time.monotonic() < deadline:
            time.sleep(interval)
            rec = self.sent(id)
        return rec

    # --- audit ----------------------------------------------------------

    def audit(self, *, operation: str | None = None, credential: str | None = None,
              since: datetime | timedelta | str | None = None, limit: int | None = None) -> list[AuditEvent]:
        """The agent's audit trail, newest first (``operation`` may be a family such as ``"cred.*"``)."""
        query = {"operation": operation, "credential": credential, "since": _since(since), "limit": limit}
        data = self._get("audit", self._path("audit"), query)
        return [AuditEvent.from_api(e) for e in data.get("events") or [] if isinstance(e, dict)]


def _mount_path(mount: str) -> str:
    """A mount path (it may be nested: ``team/mailgent``), each segment checked."""
    return "/".join(segment(part, "mount") for part in mount.strip("/").split("/"))


def _data(envelope: JSON | None) -> dict[str, Any]:
    """The ``data`` object of Vault's response envelope (``{}`` when there is none)."""
    data = (envelope or {}).get("data")
    return data if isinstance(data, dict) else {}


def _since(v: datetime | timedelta | str | None) -> str | None:
    """The API's ``since``: an RFC 3339 time, or a duration back from now in seconds."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, timedelta):
        return str(max(1, int(v.total_seconds())))
    if v.tzinfo is None:
        raise ValueError("since: a datetime must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return v.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
