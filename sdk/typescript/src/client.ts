// The Mailgent client: one agent on one Mailgent mount of Vault.

import { readFile } from "node:fs/promises";

import { MailgentError, NotFound } from "./errors.js";
import { Transport, dataOf, segment, type JSONObject, type Query, type TransportOptions } from "./http.js";
import {
  TRUST_VERIFIED,
  toAgent,
  toAuditEvent,
  toBackupCode,
  toCredential,
  toCredentialVersion,
  toLoginReport,
  toMessage,
  toSentMessage,
  toTOTPCode,
  toThread,
  type Agent,
  type AuditEvent,
  type BackupCode,
  type Credential,
  type CredentialInput,
  type CredentialVersion,
  type Email,
  type LoginReport,
  type Message,
  type SentMessage,
  type Thread,
  type ThreadPage,
  type TOTPCode,
  type Trust,
} from "./types.js";

/** A long-poll holds the request open for up to its timeout: the HTTP timeout must outlast it. */
const WAIT_MARGIN_MS = 30_000;

/** The largest QR image the engine accepts (1 MiB). */
export const MAX_QR_IMAGE_BYTES = 1 << 20;

/** The longest TOTP period the engine allows: a fresh code waits at most about that long. */
const MAX_TOTP_PERIOD_MS = 300_000;

/** Options of a client that already holds the agent's Vault token. */
export interface ClientOptions extends TransportOptions {
  /** The agent's Vault token (kept in a private field: never logged or inspected). */
  token: string;
  /** The agent's name. */
  agent: string;
  /** The Mailgent mount path (default `"mailgent"`). */
  mount?: string;
}

/** What `mailgent onboard` hands an agent, for {@link Client.loginAppRole}. */
export interface AppRoleLogin extends TransportOptions {
  roleId: string;
  /** The response-wrapping token holding the secret ID: unwrapped here, once. */
  wrappedSecretId?: string;
  /** A plain secret ID, instead of a wrapped one. */
  secretId?: string;
  agent: string;
  mount?: string;
  /** The AppRole auth mount (default `"approle"`). */
  appRoleMount?: string;
}

/** Which messages to list. */
export interface MessageFilter {
  /** A sender domain (it and its subdomains) or an exact address. */
  from?: string;
  /** A substring of the display From or address: a search aid, never a trust decision. */
  fromContains?: string;
  /** A substring of the subject, case-insensitively. */
  subject?: string;
  unreadOnly?: boolean;
  trust?: Trust;
  /** A time, a duration back from now in seconds, or the API's string (`"10m"`, RFC 3339). */
  since?: Date | number | string;
  hasCode?: boolean;
  /** Messages per page, 1–500 (default 50). */
  limit?: number;
  /** The `id` of the last message of the previous page. */
  after?: string;
}

/** Which message to wait for. */
export interface WaitOptions {
  /** A sender domain or exact address. With `from` set only verified mail counts unless `trust: "any"`. */
  from?: string;
  subject?: string;
  /** Default: 60 s before the call. */
  since?: Date | number | string;
  /** Whole seconds (default 30), capped by the mount's `max_wait_timeout`. */
  timeout?: number;
  trust?: typeof TRUST_VERIFIED | "any";
}

/** What {@link Client.waitForCode} returns. */
export interface CodeResult {
  /** The best candidate verification code, or `null` when the message has none. */
  code: string | null;
  message: Message;
}

/**
 * Acts as one agent on one Mailgent mount.
 *
 * ```ts
 * import { Client } from "@mailgent/client";
 * const c = await Client.loginAppRole({ vaultAddr, roleId, wrappedSecretId, agent: "billing-bot" });
 * const { code } = await c.totp("aws", 5);
 * const { code: emailed } = await c.waitForCode({ from: "aws.amazon.com", timeout: 60 });
 * ```
 *
 * Every method rejects with a {@link MailgentError} subclass when Vault
 * refuses (`NotFound`, `Gone` once the agent is revoked, …) and a `TypeError`
 * for an argument it can tell is wrong before asking.
 */
export class Client {
  readonly #http: Transport;
  readonly #mount: string;
  readonly #agent: string;

  constructor(opts: ClientOptions) {
    if (!opts.token) throw new TypeError("token: is required");
    this.#agent = segment(opts.agent, "agent");
    this.#mount = mountPath(opts.mount ?? "mailgent");
    this.#http = new Transport(opts, opts.token);
  }

  /** Logs the agent in with AppRole and returns its client. */
  static async loginAppRole(opts: AppRoleLogin): Promise<Client> {
    if (Boolean(opts.wrappedSecretId) === Boolean(opts.secretId)) {
      throw new TypeError("secretId: give exactly one of wrappedSecretId and secretId");
    }
    if (!opts.roleId) throw new TypeError("roleId: is required");
    const anon = new Transport(opts);
    let secretId = opts.secretId;
    if (opts.wrappedSecretId) {
      const out = await anon.withToken(opts.wrappedSecretId).request("unwrap secret_id", "POST", "sys/wrapping/unwrap", { body: {} });
      const id = dataOf(out).secret_id;
      if (typeof id !== "string" || id === "") throw new MailgentError("unwrap secret_id", null, ["the wrapping token holds no secret_id"]);
      secretId = id;
    }
    const path = `auth/${(opts.appRoleMount ?? "approle").replace(/^\/+|\/+$/g, "")}/login`;
    const out = await anon.request("approle login", "POST", path, { body: { role_id: opts.roleId, secret_id: secretId } });
    const auth = out?.auth as JSONObject | undefined;
    const token = auth?.client_token;
    if (typeof token !== "string" || token === "") throw new MailgentError("approle login", null, ["Vault returned no token"]);
    return new Client({ ...opts, token });
  }

  /** The agent's name. */
  get agent(): string {
    return this.#agent;
  }

  /** The Mailgent mount path. */
  get mount(): string {
    return this.#mount;
  }

  /** Shown by `console.log` and `util.inspect`: never the token. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Client { vaultAddr: '${this.#http.addr}', mount: '${this.#mount}', agent: '${this.#agent}' }`;
  }

  #path(...parts: string[]): string {
    return [this.#mount, "agents", this.#agent, ...parts].join("/");
  }

  async #get(op: string, path: string, query?: Query, timeoutMs?: number): Promise<JSONObject> {
    return dataOf(await this.#http.request(op, "GET", path, { query, timeoutMs }));
  }

  async #post(op: string, path: string, body: JSONObject): Promise<JSONObject> {
    return dataOf(await this.#http.request(op, "POST", path, { body }));
  }

  /** The agent's own record: address, org, delegation chain, status, inbox counts. */
  async agentInfo(): Promise<Agent> {
    return toAgent(await this.#get("read agent", this.#path()));
  }

  /**
   * Writes a new version of a credential, merged with the current one: what
   * `cred` leaves undefined is kept (the TOTP seed too), `""` clears. With
   * `cas` the write happens only if the current version equals it.
   */
  async storeCredential(name: string, cred: CredentialInput = {}): Promise<CredentialVersion> {
    const keys: [keyof CredentialInput, string][] = [
      ["username", "username"], ["password", "password"], ["url", "url"], ["fields", "fields"],
      ["totpSecret", "totp_secret"], ["totpUri", "totp_uri"], ["totpAlgorithm", "totp_algorithm"],
      ["totpDigits", "totp_digits"], ["totpPeriod", "totp_period"], ["cas", "cas"], ["maxVersions", "max_versions"],
    ];
    const body: JSONObject = {};
    for (const [k, api] of keys) if (cred[k] !== undefined) body[api] = cred[k];
    if (cred.totpQr !== undefined) {
      if (cred.totpQr.length > MAX_QR_IMAGE_BYTES) throw new TypeError(`totpQr: ${cred.totpQr.length} bytes; the engine takes at most ${MAX_QR_IMAGE_BYTES}`);
      body.totp_qr = Buffer.from(cred.totpQr).toString("base64");
    }
    if (cred.backupCodes !== undefined) {
      if (!Array.isArray(cred.backupCodes)) throw new TypeError("backupCodes: must be an array of codes");
      body.backup_codes = [...cred.backupCodes];
    }
    return toCredentialVersion(await this.#post(`store credential ${name}`, this.#path("creds", segment(name, "name")), body));
  }

  /** Reads the current version of a credential, or a kept older `version`. */
  async getCredential(name: string, version?: number): Promise<Credential> {
    const query = version ? { version } : undefined;
    return toCredential(await this.#get(`read credential ${name}`, this.#path("creds", segment(name, "name")), query));
  }

  /** The names of the agent's credentials, sorted (`[]` when there are none). */
  async listCredentials(): Promise<string[]> {
    try {
      const data = await this.#get("list credentials", this.#path("creds"), { list: true });
      return Array.isArray(data.keys) ? data.keys.map(String) : [];
    } catch (err) {
      // Vault's answer to an empty list: a 404 without a message.
      if (err instanceof NotFound && err.errors.length === 0) return [];
      throw err;
    }
  }

  /**
   * The credential's current TOTP code. With `minRemaining` > 0 and fewer
   * seconds left in the current step, the call waits for the next step. With
   * `fresh: true` the code is of a later time step than any code of this
   * credential handed out before (a site refuses a code it has seen), and the
   * call waits for the next step when needed (up to a period).
   */
  async totp(name: string, minRemaining = 0, o: { fresh?: boolean } = {}): Promise<TOTPCode> {
    const query = { min_remaining: minRemaining || undefined, fresh: o.fresh ? true : undefined };
    const path = this.#path("creds", segment(name, "name"), "totp");
    const wait = o.fresh ? MAX_TOTP_PERIOD_MS : minRemaining * 1000;
    return toTOTPCode(await this.#get(`totp ${name}`, path, query, this.#http.timeoutMs + wait));
  }

  /**
   * Stores the TOTP seed of a site's enrolment QR code: the image's bytes, or
   * the path of a PNG, JPEG or GIF file. The engine decodes it and reads the
   * `otpauth://` URI in it like `totpUri`; a picture without one rejects with
   * {@link InvalidRequest} naming `totp_qr`, and nothing is stored.
   */
  async enrollTotpQr(name: string, image: Uint8Array | string, o: { cas?: number } = {}): Promise<CredentialVersion> {
    const bytes = typeof image === "string" ? await readFile(image) : image;
    return this.storeCredential(name, { totpQr: bytes, cas: o.cas });
  }

  /** Hands out the credential's next unused recovery code and marks it used; none left rejects with `Conflict` (409). */
  async backupCode(name: string): Promise<BackupCode> {
    return toBackupCode(await this.#post(`backup code ${name}`, this.#path("creds", segment(name, "name"), "backup-code"), {}));
  }

  /** Records a login attempt with a credential (`detail`: short, and never a secret: the engine refuses those). */
  async reportLogin(credential: string, success: boolean, detail = ""): Promise<LoginReport> {
    const body = { outcome: success ? "success" : "failure", detail };
    return toLoginReport(await this.#post(`report login ${credential}`, this.#path("creds", segment(credential, "credential"), "login"), body));
  }

  /** The inbox, newest first, as summaries (use {@link readMessage} for the body). */
  async listMessages(f: MessageFilter = {}): Promise<Message[]> {
    const data = await this.#get("list messages", this.#path("messages"), {
      from: f.from, from_contains: f.fromContains, subject: f.subject, trust: f.trust, since: since(f.since),
      has_code: f.hasCode, limit: f.limit, after: f.after, unread: f.unreadOnly ? true : undefined,
    });
    return Array.isArray(data.messages) ? data.messages.map((m) => toMessage(m as JSONObject)) : [];
  }

  /** One message in full (text, extracted text, codes, links, authentication); marks it read. */
  async readMessage(id: string): Promise<Message> {
    return toMessage(await this.#get(`read message ${id}`, this.#path("messages", segment(id, "id"))));
  }

  /**
   * Waits until a matching unread message arrives (one from the minute before
   * the call counts too), marks it read and returns it. Rejects with
   * {@link Timeout} (408) when nothing matched in time.
   */
  async waitForMessage(o: WaitOptions = {}): Promise<Message> {
    const timeout = o.timeout ?? 30;
    if (!Number.isInteger(timeout) || timeout < 0) throw new TypeError(`timeout: must be a whole number of seconds >= 0, got ${timeout}`);
    const query = { from: o.from, subject: o.subject, since: since(o.since), timeout, trust: o.trust };
    return toMessage(await this.#get("wait for message", this.#path("messages", "wait"), query, timeout * 1000 + WAIT_MARGIN_MS));
  }

  /**
   * Waits for a verification mail from a *verified* sender and returns its
   * code and the message. It asks for verified mail whether or not `from` is
   * set, so a forged "from the service" mail is never the answer.
   */
  async waitForCode(o: WaitOptions = {}): Promise<CodeResult> {
    const message = await this.waitForMessage({ ...o, trust: o.trust ?? TRUST_VERIFIED });
    return { code: message.code || null, message };
  }

  /** The agent's conversations — inbox and sent mail grouped by thread — newest activity first; page with `after: page.nextCursor`. */
  async threads(o: { limit?: number; after?: string } = {}): Promise<ThreadPage> {
    const data = await this.#get("list threads", this.#path("threads"), { limit: o.limit, after: o.after });
    const threads = Array.isArray(data.threads) ? data.threads.map((t) => toThread(t as JSONObject)) : [];
    return { threads, nextCursor: typeof data.next_cursor === "string" ? data.next_cursor : "" };
  }

  /** One conversation, with each message's sender, recipients and subject. */
  async thread(id: string): Promise<Thread> {
    return toThread(await this.#get(`read thread ${id}`, this.#path("threads", segment(id, "id"))));
  }

  /** Sends mail from the agent's own address; resolves to its record, status `queued`. */
  async send(e: Email): Promise<SentMessage> {
    const body: JSONObject = { to: typeof e.to === "string" ? [e.to] : e.to, subject: e.subject };
    const optional: [keyof Email, string][] = [["text", "text"], ["html", "html"], ["cc", "cc"], ["bcc", "bcc"], ["replyTo", "reply_to"], ["inReplyTo", "in_reply_to"]];
    for (const [k, api] of optional) if (e[k] !== undefined) body[api] = e[k];
    if (e.attachments !== undefined) {
      body.attachments = e.attachments.map((a) => ({
        filename: a.filename,
        content_type: a.contentType ?? "application/octet-stream",
        content: Buffer.from(a.content).toString("base64"),
      }));
    }
    return toSentMessage(await this.#post("send", this.#path("send"), body));
  }

  /** A sent message's record and current delivery status. */
  async sent(id: string): Promise<SentMessage> {
    return toSentMessage(await this.#get(`sent ${id}`, this.#path("sent", segment(id, "id"))));
  }

  /** The agent's sent mail, newest first; `status` filters (queued, deferred, sent, failed, cancelled). */
  async listSent(o: { status?: string; limit?: number; after?: string } = {}): Promise<SentMessage[]> {
    const data = await this.#get("list sent", this.#path("sent"), { status: o.status, limit: o.limit, after: o.after });
    return Array.isArray(data.messages) ? data.messages.map((m) => toSentMessage(m as JSONObject)) : [];
  }

  /** Polls {@link sent} until the status is final or `timeoutMs` passes; resolves to the last record read. */
  async waitForDelivery(id: string, o: { timeoutMs?: number; intervalMs?: number } = {}): Promise<SentMessage> {
    const deadline = Date.now() + (o.timeoutMs ?? 60_000);
    let rec = await this.sent(id);
    while (!rec.final && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 500));
      rec = await this.sent(id);
    }
    return rec;
  }

  /** The agent's audit trail, newest first (`operation` may be a family such as `"cred.*"`). */
  async audit(o: { operation?: string; credential?: string; since?: Date | number | string; limit?: number } = {}): Promise<AuditEvent[]> {
    const data = await this.#get("audit", this.#path("audit"), { operation: o.operation, credential: o.credential, since: since(o.since), limit: o.limit });
    return Array.isArray(data.events) ? data.events.map((e) => toAuditEvent(e as JSONObject)) : [];
  }
}

/** A mount path (it may be nested: `team/mailgent`), each segment checked. */
function mountPath(mount: string): string {
  return mount.replace(/^\/+|\/+$/g, "").split("/").map((p) => segment(p, "mount")).join("/");
}

/** The API's `since`: an RFC 3339 time, or a duration back from now in whole seconds. */
function since(v: Date | number | string | undefined): string | undefined {
  if (v === undefined || typeof v === "string") return v;
  if (typeof v === "number") return String(Math.max(1, Math.floor(v)));
  return v.toISOString();
}
