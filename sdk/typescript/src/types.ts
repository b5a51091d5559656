/**
 * Typed results of the Mailgent API (docs/api.md), in camelCase.
 *
 * Each is built from Vault's `data` object; fields the server adds later are
 * ignored, fields it leaves out take their empty value. No type has a TOTP
 * seed field: the API never returns one.
 * @module
 */

import type { JSONObject } from "./http.js";

/** The sender domain is authenticated by an aligned DKIM, SPF or DMARC pass. */
export const TRUST_VERIFIED = "verified";
/** Anything else: treat the mail as possibly forged (`trustReason` says why). */
export const TRUST_UNVERIFIED = "unverified";
/** A filter value: both verified and unverified mail. */
export const TRUST_ANY = "any";

/** A sender verdict, or a trust filter. */
export type Trust = typeof TRUST_VERIFIED | typeof TRUST_UNVERIFIED | typeof TRUST_ANY;

/** The agent's identity, as `agents/:agent` reads it. */
export interface Agent {
  name: string;
  address: string;
  org: string;
  /** `active` or `revoked`. */
  status: string;
  /** `["human:<creator>", "org:<org>", "agent:<agent>"]`. */
  delegationChain: string[];
  description: string;
  id: string;
  createdAt: Date | null;
  messagesTotal: number;
  messagesUnread: number;
}

/** A credential's TOTP parameters. The seed itself is write-only and never here. */
export interface TOTPSettings {
  enabled: boolean;
  algorithm: string;
  digits: number;
  period: number;
  issuer: string;
  account: string;
}

/** The latest login report of a credential. */
export interface LastLogin {
  at: Date | null;
  outcome: string;
}

/** A credential version as read back: everything but the TOTP seed. */
export interface Credential {
  name: string;
  version: number;
  currentVersion: number;
  versions: number[];
  maxVersions: number;
  username: string;
  password: string;
  url: string;
  fields: Record<string, string>;
  totp: TOTPSettings;
  createdAt: Date | null;
  updatedAt: Date | null;
  lastLogin: LastLogin | null;
  delegationChain: string[];
  /** How many recovery codes {@link Client.backupCode} can still hand out; the codes are never read back. */
  backupCodesRemaining: number;
}

/**
 * What to store in a credential. A property left `undefined` is not sent, so
 * the new version keeps it (the TOTP seed too); `""` clears it, and `fields`
 * replaces the whole map.
 */
export interface CredentialInput {
  username?: string;
  password?: string;
  url?: string;
  fields?: Record<string, string>;
  /** The TOTP seed in base32 (write-only: no read returns it). */
  totpSecret?: string;
  /** An `otpauth://totp/…` URI with the seed and its parameters (write-only). */
  totpUri?: string;
  totpAlgorithm?: "SHA1" | "SHA256" | "SHA512";
  totpDigits?: 6 | 8;
  totpPeriod?: number;
  /**
   * The site's enrolment QR code: the bytes of a PNG, JPEG or GIF image (at
   * most 1 MiB), decoded by the engine (write-only). See {@link Client.enrollTotpQr}.
   */
  totpQr?: Uint8Array;
  /** The site's one-time recovery codes: replaces the stored set (`[]` removes it); write-only. */
  backupCodes?: string[];
  /** Check-and-set: write only if the current version equals this (`0`: only create). */
  cas?: number;
  maxVersions?: number;
}

/** What a credential write answers: the version it made. */
export interface CredentialVersion {
  name: string;
  version: number;
  totpEnabled: boolean;
  createdAt: Date | null;
}

/** An RFC 6238 code and how long it stays valid. */
export interface TOTPCode {
  code: string;
  secondsRemaining: number;
  validUntil: Date | null;
  period: number;
  digits: number;
  algorithm: string;
}

/** A recovery code, handed out once; `remaining` is how many unused ones are left. */
export interface BackupCode {
  code: string;
  remaining: number;
}

/**
 * One message of a thread: `kind` `"inbox"` (`id` for `readMessage`) or
 * `"sent"` (for `sent`). `from`, `to`, `subject`, `unread` and `status` are
 * filled by {@link Client.thread}, not by {@link Client.threads}.
 */
export interface ThreadMessage {
  kind: string;
  id: string;
  at: Date | null;
  from: string;
  to: string[];
  subject: string;
  unread: boolean;
  status: string;
}

/** A conversation: inbox and sent mail linked by their headers, oldest message first. */
export interface Thread {
  id: string;
  subject: string;
  participants: string[];
  messageCount: number;
  unread: number;
  firstActivity: Date | null;
  lastActivity: Date | null;
  messages: ThreadMessage[];
  inboxIds: string[];
  sentIds: string[];
}

/** A page of threads, newest activity first; pass `nextCursor` as `after` for the next (`""` at the end). */
export interface ThreadPage {
  threads: Thread[];
  nextCursor: string;
}

/** A candidate verification code and the line it was found on. */
export interface CodeCandidate {
  code: string;
  context: string;
}

/** A link of a message. `aligned` is false when it leaves the sender's organisation. */
export interface Link {
  url: string;
  text: string;
  /** `verify`, `reset`, `other`, `unsubscribe`, `privacy`, `tracking` or `suspicious`. */
  kind: string;
  host: string;
  aligned: boolean;
}

/** An attachment of a received message (its content is read separately). */
export interface AttachmentInfo {
  index: number;
  filename: string;
  contentType: string;
  size: number;
  inline: boolean;
  contentId: string;
}

/**
 * An inbox message. The list returns summaries; `readMessage` and the waits
 * fill in the body fields. `trust` is `"verified"` only when the From domain
 * (`senderDomain`) is authenticated: never act on a code from unverified mail.
 */
export interface Message {
  id: string;
  from: string;
  fromAddress: string;
  senderDomain: string;
  trust: string;
  trustReason: string;
  /** `trust === "verified"`. */
  verified: boolean;
  subject: string;
  code: string;
  unread: boolean;
  size: number;
  attachmentCount: number;
  storedAt: Date | null;
  receivedAt: Date | null;
  readAt: Date | null;
  // Only on full reads:
  to: string[];
  cc: string[];
  replyTo: string[];
  date: Date | null;
  messageId: string;
  inReplyTo: string;
  references: string[];
  text: string;
  html: string;
  /** What a human would see: the text an LLM should read. */
  extractedText: string;
  codes: CodeCandidate[];
  links: Link[];
  attachments: AttachmentInfo[];
  /** The DKIM/SPF/DMARC evidence behind `trust`, as the API returns it. */
  auth: JSONObject;
  /** The SMTP transaction, as the API returns it. */
  envelope: JSONObject;
  parseErrors: string[];
}

/** A file to attach to an outgoing message. */
export interface FileAttachment {
  filename: string;
  /** The bytes, or a string (sent UTF-8 encoded). */
  content: Uint8Array | string;
  /** Default `application/octet-stream`. */
  contentType?: string;
}

/** A message the agent sends from its own address. */
export interface Email {
  to: string | string[];
  subject: string;
  text?: string;
  html?: string;
  cc?: string[];
  bcc?: string[];
  replyTo?: string;
  /** The `id` of an inbox message: the mail then threads as its answer. */
  inReplyTo?: string;
  attachments?: FileAttachment[];
}

/** A sent message's record. `status` goes queued → (deferred) → sent, failed or cancelled. */
export interface SentMessage {
  id: string;
  messageId: string;
  status: string;
  /** The smarthost's reply or the error of the latest attempt. */
  reply: string;
  subject: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  size: number;
  attachmentCount: number;
  inReplyTo: string;
  attempts: number;
  queuedAt: Date | null;
  updatedAt: Date | null;
  /** Whether the status will not change any more (sent, failed or cancelled). */
  final: boolean;
}

/** A recorded login report: its audit event ID. */
export interface LoginReport {
  credential: string;
  outcome: string;
  eventId: string;
  at: Date | null;
}

/** One event of the agent's audit trail. */
export interface AuditEvent {
  id: string;
  time: Date | null;
  operation: string;
  outcome: string;
  credential: string;
  version: number;
  detail: string;
  requestId: string;
  displayName: string;
  delegationChain: string[];
  requesterIsAgent: boolean;
}

// --- conversion from the API's snake_case ---------------------------------

const str = (d: JSONObject, k: string): string => (typeof d[k] === "string" ? (d[k] as string) : "");
const num = (d: JSONObject, k: string): number => (typeof d[k] === "number" ? (d[k] as number) : 0);
const bool = (d: JSONObject, k: string): boolean => d[k] === true;
const strs = (d: JSONObject, k: string): string[] => (Array.isArray(d[k]) ? (d[k] as unknown[]).map(String) : []);
const obj = (v: unknown): JSONObject => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as JSONObject) : {});
const objs = (v: unknown): JSONObject[] => (Array.isArray(v) ? v.filter((x) => typeof x === "object" && x !== null).map(obj) : []);

/** An RFC 3339 timestamp of the API as a Date (`null` when absent). */
export function parseTime(v: unknown): Date | null {
  if (typeof v !== "string" || v === "") return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function toAgent(d: JSONObject): Agent {
  return {
    name: str(d, "agent"), address: str(d, "address"), org: str(d, "org"), status: str(d, "status"),
    delegationChain: strs(d, "delegation_chain"), description: str(d, "description"), id: str(d, "id"),
    createdAt: parseTime(d.created_at), messagesTotal: num(d, "messages_total"), messagesUnread: num(d, "messages_unread"),
  };
}

export function toCredential(d: JSONObject): Credential {
  const t = obj(d.totp);
  const last = d.last_login === undefined ? null : obj(d.last_login);
  return {
    name: str(d, "credential"), version: num(d, "version"), currentVersion: num(d, "current_version"),
    versions: Array.isArray(d.versions) ? d.versions.map(Number) : [], maxVersions: num(d, "max_versions"),
    username: str(d, "username"), password: str(d, "password"), url: str(d, "url"),
    fields: Object.fromEntries(Object.entries(obj(d.fields)).map(([k, v]) => [k, String(v)])),
    totp: {
      enabled: bool(t, "enabled"), algorithm: str(t, "algorithm"), digits: num(t, "digits"), period: num(t, "period"),
      issuer: str(t, "issuer"), account: str(t, "account"),
    },
    createdAt: parseTime(d.created_at), updatedAt: parseTime(d.updated_at),
    lastLogin: last && { at: parseTime(last.at), outcome: str(last, "outcome") },
    delegationChain: strs(d, "delegation_chain"), backupCodesRemaining: num(d, "backup_codes_remaining"),
  };
}

export function toBackupCode(d: JSONObject): BackupCode {
  return { code: str(d, "code"), remaining: num(d, "remaining") };
}

export function toThread(d: JSONObject): Thread {
  return {
    id: str(d, "id"), subject: str(d, "subject"), participants: strs(d, "participants"),
    messageCount: num(d, "message_count"), unread: num(d, "unread"),
    firstActivity: parseTime(d.first_activity), lastActivity: parseTime(d.last_activity),
    messages: objs(d.messages).map((m) => ({
      kind: str(m, "kind"), id: str(m, "id"), at: parseTime(m.at), from: str(m, "from"), to: strs(m, "to"),
      subject: str(m, "subject"), unread: bool(m, "unread"), status: str(m, "status"),
    })),
    inboxIds: strs(d, "inbox_ids"), sentIds: strs(d, "sent_ids"),
  };
}

export function toCredentialVersion(d: JSONObject): CredentialVersion {
  return { name: str(d, "credential"), version: num(d, "version"), totpEnabled: bool(d, "totp_enabled"), createdAt: parseTime(d.created_at) };
}

export function toTOTPCode(d: JSONObject): TOTPCode {
  return {
    code: str(d, "code"), secondsRemaining: num(d, "seconds_remaining"), validUntil: parseTime(d.valid_until),
    period: num(d, "period"), digits: num(d, "digits"), algorithm: str(d, "algorithm"),
  };
}

export function toMessage(d: JSONObject): Message {
  const att = Array.isArray(d.attachments) ? objs(d.attachments) : null;
  const trust = str(d, "trust") || TRUST_UNVERIFIED;
  return {
    id: str(d, "id"), from: str(d, "from"), fromAddress: str(d, "from_address"), senderDomain: str(d, "sender_domain"),
    trust, trustReason: str(d, "trust_reason"), verified: trust === TRUST_VERIFIED, subject: str(d, "subject"),
    code: str(d, "code"), unread: bool(d, "unread"), size: num(d, "size"),
    attachmentCount: att ? att.length : num(d, "attachments"),
    storedAt: parseTime(d.stored_at), receivedAt: parseTime(d.received_at), readAt: parseTime(d.read_at),
    to: strs(d, "to"), cc: strs(d, "cc"), replyTo: strs(d, "reply_to"), date: parseTime(d.date),
    messageId: str(d, "message_id"), inReplyTo: str(d, "in_reply_to"), references: strs(d, "references"),
    text: str(d, "text"), html: str(d, "html"), extractedText: str(d, "extracted_text"),
    codes: objs(d.codes).map((c) => ({ code: str(c, "code"), context: str(c, "context") })),
    links: objs(d.links).map((l) => ({ url: str(l, "url"), text: str(l, "text"), kind: str(l, "kind"), host: str(l, "host"), aligned: bool(l, "aligned") })),
    attachments: (att ?? []).map((a) => ({
      index: num(a, "index"), filename: str(a, "filename"), contentType: str(a, "content_type"), size: num(a, "size"),
      inline: bool(a, "inline"), contentId: str(a, "content_id"),
    })),
    auth: obj(d.auth), envelope: obj(d.envelope), parseErrors: strs(d, "parse_errors"),
  };
}

export function toSentMessage(d: JSONObject): SentMessage {
  const status = str(d, "status");
  return {
    id: str(d, "id"), messageId: str(d, "message_id"), status, reply: str(d, "reply"), subject: str(d, "subject"),
    from: str(d, "from"), to: strs(d, "to"), cc: strs(d, "cc"), bcc: strs(d, "bcc"), size: num(d, "size"),
    attachmentCount: num(d, "attachments"), inReplyTo: str(d, "in_reply_to"), attempts: num(d, "attempts"),
    queuedAt: parseTime(d.queued_at), updatedAt: parseTime(d.updated_at),
    final: status === "sent" || status === "failed" || status === "cancelled",
  };
}

export function toLoginReport(d: JSONObject): LoginReport {
  return { credential: str(d, "credential"), outcome: str(d, "outcome"), eventId: str(d, "event_id"), at: parseTime(d.at) };
}

export function toAuditEvent(d: JSONObject): AuditEvent {
  return {
    id: str(d, "id"), time: parseTime(d.time), operation: str(d, "operation"), outcome: str(d, "outcome"),
    credential: str(d, "credential"), version: num(d, "version"), detail: str(d, "detail"), requestId: str(d, "request_id"),
    displayName: str(d, "display_name"), delegationChain: strs(d, "delegation_chain"), requesterIsAgent: bool(d, "requester_is_agent"),
  };
}
