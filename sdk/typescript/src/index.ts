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
 * ```
 * @module
 */

export { Client } from "./client.js";
export type { AppRoleLogin, ClientOptions, CodeResult, MessageFilter, WaitOptions } from "./client.js";
export { Gone, InvalidRequest, MailgentError, NotFound, PermissionDenied, RateLimited, Timeout, errorForStatus } from "./errors.js";
export type { TransportOptions } from "./http.js";
export { TRUST_ANY, TRUST_UNVERIFIED, TRUST_VERIFIED } from "./types.js";
export type {
  Agent,
  AttachmentInfo,
  AuditEvent,
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
  TOTPCode,
  TOTPSettings,
  Trust,
} from "./types.js";
export { VERSION } from "./version.js";
export { WEBHOOK_TOLERANCE_SECONDS, WebhookVerificationError, signWebhook, verifyWebhook } from "./webhooks.js";
export type { HeadersLike } from "./webhooks.js";
