// The one place that speaks HTTP to Vault: request building and error mapping.

import { MailgentError, errorForStatus } from "./errors.js";
import { VERSION } from "./version.js";

/** Query parameters; `undefined` and `null` are left out. */
export type Query = Record<string, string | number | boolean | undefined | null>;
/** A JSON object as Vault sends and takes it. */
export type JSONObject = Record<string, unknown>;

/** How to reach Vault. */
export interface TransportOptions {
  /** Vault's address, e.g. `"https://vault.example.com:8200"`. */
  vaultAddr: string;
  /** A Vault Enterprise namespace, if any. */
  namespace?: string;
  /** Milliseconds to wait for an answer (default 30 000; the waits add their own timeout). */
  timeoutMs?: number;
  /** A `fetch` to use instead of the global one (a proxy, a custom TLS agent, a test double). */
  fetch?: typeof fetch;
}

/** Sends requests to one Vault server with one token (or none). */
export class Transport {
  readonly addr: string;
  readonly timeoutMs: number;
  readonly #token: string | undefined;
  readonly #namespace: string | undefined;
  readonly #fetch: typeof fetch;

  constructor(opts: TransportOptions, token?: string) {
    if (!/^https?:\/\//.test(opts.vaultAddr ?? "")) {
      throw new TypeError(`vaultAddr: ${JSON.stringify(opts.vaultAddr)} is not an http:// or https:// URL`);
    }
    this.addr = opts.vaultAddr.replace(/\/+$/, "");
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.#token = token;
    this.#namespace = opts.namespace;
    this.#fetch = opts.fetch ?? globalThis.fetch;
  }

  /** A transport to the same Vault with another token. */
  withToken(token: string | undefined): Transport {
    return new Transport({ vaultAddr: this.addr, namespace: this.#namespace, timeoutMs: this.timeoutMs, fetch: this.#fetch }, token);
  }

  /**
   * Sends one request and returns Vault's JSON envelope (`null` for a 204).
   * Throws the {@link MailgentError} subclass for the answer's status.
   */
  async request(
    operation: string,
    method: string,
    path: string,
    opts: { query?: Query; body?: JSONObject; timeoutMs?: number } = {},
  ): Promise<JSONObject | null> {
    const url = new URL(`${this.addr}/v1/${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: "application/json", "user-agent": `mailgent-typescript/${VERSION}` };
    if (this.#token) headers["x-vault-token"] = this.#token;
    if (this.#namespace) headers["x-vault-namespace"] = this.#namespace;
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers["content-type"] = "application/json";
    }
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    let resp: Response;
    let raw: string;
    try {
      resp = await this.#fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(timeoutMs) });
      raw = await resp.text();
    } catch (err) {
      throw new MailgentError(operation, null, [unreachable(this.addr, err, timeoutMs)]);
    }
    if (!resp.ok) throw errorForStatus(operation, resp.status, errorsOf(raw, resp.status));
    if (resp.status === 204 || raw === "") return null;
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch {
      throw new MailgentError(operation, resp.status, ["Vault's answer is not JSON"]);
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
      throw new MailgentError(operation, resp.status, ["Vault's answer is not a JSON object"]);
    }
    return doc as JSONObject;
  }
}

function unreachable(addr: string, err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return `no answer from Vault at ${addr} within ${timeoutMs / 1000}s`;
  }
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
  return `cannot reach Vault at ${addr}: ${cause}`;
}

/** Vault's `errors` list, or a short description of a non-Vault answer. */
function errorsOf(raw: string, status: number): string[] {
  try {
    const doc: unknown = JSON.parse(raw);
    if (typeof doc === "object" && doc !== null && Array.isArray((doc as JSONObject).errors)) {
      return ((doc as JSONObject).errors as unknown[]).map(String);
    }
  } catch {
    const text = raw.slice(0, 200).trim();
    return [text || `HTTP ${status}`];
  }
  return [`HTTP ${status}`];
}

/** One path segment, refused when it would change the path's shape. */
export function segment(name: string, field: string): string {
  if (typeof name !== "string" || name === "" || name.includes("/") || name === "." || name === "..") {
    throw new TypeError(`${field}: ${JSON.stringify(name)} is not a valid name`);
  }
  return encodeURIComponent(name).replace(/%40/g, "@").replace(/%2B/g, "+");
}

/** The `data` object of Vault's response envelope (`{}` when there is none). */
export function dataOf(envelope: JSONObject | null): JSONObject {
  const data = envelope?.data;
  return typeof data === "object" && data !== null && !Array.isArray(data) ? (data as JSONObject) : {};
}
