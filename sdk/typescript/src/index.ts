/**
 * Mailgent for TypeScript and JavaScript (Node >= 20): an AI agent's own
 * credentials, TOTP codes, inbox and outbound mail, kept in HashiCorp Vault
 * by the Mailgent secrets engine. No runtime dependencies.
 *
 * ```ts
 * import { Client } from "@mailgent/client";
 * const c = await Client.loginAppRole({ vaultAddr, roleId, wrappedSecretId, agent: "signup-bot" });
 * await c.storeCredential("example.com", { username, password, totpSecret });
 * const { code } = await c.totp("example.com", 5);
 * const { code: emailed } = await c.waitForCode({ from: "example.com", timeout: 60 }); // verified senders only
 * await c.reportLogin("example.com", true, "dashboard reached");
 * await c.enrollTotpQr("example.com", "qr.png");        // the site's QR code, decoded by the engine
 * await c.totp("example.com", 0, { fresh: true });       // a code the site has not seen yet
 * const { code: recovery } = await c.backupCode("example.com"); // handed out once
 * ```
 * @module
 */

export { Client, MAX_QR_IMAGE_BYTES } from "./client.js";
export type { AppRoleLogin, ClientOptions, CodeResult, MessageFilter, WaitOptions } from "./client.js";
export { Conflict, Gone, InvalidRequest, MailgentError, NotFound, PermissionDenied, RateLimited, Timeout, errorForStatus } from "./errors.js";
export type { TransportOptions } from "./http.js";
export { TRUST_ANY, TRUST_UNVERIFIED, TRUST_VERIFIED } from "./types.js";
export type {
  Agent,
  AttachmentInfo,
  AuditEvent,
  BackupCode,
  CodeCandidate,
  Credential,
  CredentialInput,
  CredentialVersion,
  Email,
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
  Trust,
} from "./types.js";
export { VERSION } from "./version.js";
export { WEBHOOK_TOLERANCE_SECONDS, WebhookVerificationError, signWebhook, verifyWebhook } from "./webhooks.js";
export type { HeadersLike } from "./webhooks.js";
