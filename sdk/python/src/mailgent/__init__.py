"""Mailgent for Python: an AI agent's own credentials, TOTP codes, inbox and
outbound mail, kept in HashiCorp Vault by the Mailgent secrets engine.

Standard library only. Quick start::

    from mailgent import Client

    c = Client.login_approle(vault_addr, role_id, wrapped_secret_id=token, agent="signup-bot")
    c.store_credential("example.com", username="signup-bot@agents.example.com",
                       password=password, totp_secret=seed)
    print(c.totp("example.com", min_remaining=5).code)
    code, msg = c.wait_for_code(from_="example.com", timeout=60)   # verified senders only
    c.report_login("example.com", True, "dashboard reached")

    c.enroll_totp_qr("example.com", "qr.png")          # the site's QR code, decoded by the engine
    c.totp("example.com", fresh=True)                 # a code the site has not seen yet
    c.backup_code("example.com").code                 # one recovery code, handed out once

Webhook deliveries are verified with :func:`mailgent.webhooks.verify`.
"""

from ._version import VERSION as __version__
from .client import MAX_QR_IMAGE_BYTES, Client, CodeResult
from .errors import (
    Conflict,
    Gone,
    InvalidRequest,
    MailgentError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Timeout,
)
from .types import (
    TRUST_ANY,
    TRUST_UNVERIFIED,
    TRUST_VERIFIED,
    Agent,
    AttachmentInfo,
    AuditEvent,
    BackupCode,
    CodeCandidate,
    Credential,
    CredentialVersion,
    FileAttachment,
    LastLogin,
    Link,
    LoginReport,
    Message,
    SentMessage,
    Thread,
    ThreadMessage,
    ThreadPage,
    TOTPCode,
    TOTPSettings,
)
from .webhooks import WebhookVerificationError

__all__ = [
    "__version__",
    "Client",
    "CodeResult",
    "MAX_QR_IMAGE_BYTES",
    "MailgentError",
    "InvalidRequest",
    "PermissionDenied",
    "NotFound",
    "Timeout",
    "Conflict",
    "Gone",
    "RateLimited",
    "WebhookVerificationError",
    "TRUST_VERIFIED",
    "TRUST_UNVERIFIED",
    "TRUST_ANY",
    "Agent",
    "AttachmentInfo",
    "AuditEvent",
    "BackupCode",
    "CodeCandidate",
    "Credential",
    "CredentialVersion",
    "FileAttachment",
    "LastLogin",
    "Link",
    "LoginReport",
    "Message",
    "SentMessage",
    "Thread",
    "ThreadMessage",
    "ThreadPage",
    "TOTPCode",
    "TOTPSettings",
]
