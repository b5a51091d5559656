/**
 * Errors thrown by the Mailgent client.
 *
 * Every error from Vault is a {@link MailgentError} carrying the HTTP status
 * and Vault's own messages, so a caller can branch on the class
 * (`err instanceof NotFound`) or on `status`. No message ever contains a
 * token, password or seed: they hold what Vault answered, and Vault's
 * Mailgent plugin never echoes secrets.
 * @module
 */

import { STATUS_CODES } from "node:http";

/** A request to Vault failed. */
export class MailgentError extends Error {
  /** The HTTP status Vault answered (404, 410, …), or `null` when no answer came. */
  readonly status: number | null;
  /** Vault's error messages, one per entry (empty when Vault gave none). */
  readonly errors: readonly string[];
  /** What the client was doing, e.g. `"read credential github.com"`. */
  readonly operation: string;

  /** `message` is Vault's messages joined with `"; "` (for a 400 it starts with the field's name). */
  constructor(operation: string, status: number | null, errors: readonly string[]) {
    const clean = errors.flatMap((e) => unwrap(String(e)));
    // Vault answers some 404s (an empty list, a missing entry) with no message.
    super(clean.join("; ") || (status !== null ? (STATUS_CODES[status] ?? "") : ""));
    this.name = new.target.name;
    this.status = status;
    this.errors = clean;
    this.operation = operation;
  }

  /** `operation: status message`, as a log line would want it. */
  override toString(): string {
    return `${this.name}: ${this.operation}: ${this.status === null ? "" : `${this.status} `}${this.message}`;
  }
}

/** Vault's messages, out of the "1 error occurred:\n\t* …" list it wraps some in. */
function unwrap(message: string): string[] {
  if (!/^\d+ errors? occurred:\n/.test(message)) return [message.trim()];
  return message.split("\n").slice(1).map((l) => l.trim()).filter((l) => l.startsWith("* ")).map((l) => l.slice(2).trim());
}

/** 400: bad input. `message` starts with the field's name; nothing was changed. */
export class InvalidRequest extends MailgentError {}
/** 403: Vault's ACL refused the path, or a recipient is outside the agent's send allowlist. */
export class PermissionDenied extends MailgentError {}
/** 404: no such agent, credential, version, message or sent message. */
export class NotFound extends MailgentError {}
/** 408: `messages/wait` saw no matching unread message within its timeout. */
export class Timeout extends MailgentError {}
/** 409: the state does not allow it, e.g. no unused backup code is left. */
export class Conflict extends MailgentError {}
/** 410: the agent was revoked; its credentials are destroyed and it can no longer act. */
export class Gone extends MailgentError {}
/** 429: the agent reached the mount's `send_rate_limit`; `message` says when to retry. */
export class RateLimited extends MailgentError {}

const byStatus: ReadonlyMap<number, typeof MailgentError> = new Map([
  [400, InvalidRequest],
  [403, PermissionDenied],
  [404, NotFound],
  [408, Timeout],
  [409, Conflict],
  [410, Gone],
  [429, RateLimited],
]);

/** The {@link MailgentError} subclass instance for an HTTP status. */
export function errorForStatus(operation: string, status: number | null, errors: readonly string[]): MailgentError {
  const Cls = (status !== null && byStatus.get(status)) || MailgentError;
  return new Cls(operation, status, errors);
}
