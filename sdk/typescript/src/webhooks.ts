/**
 * Verify webhook deliveries signed per the Standard Webhooks specification
 * (https://www.standardwebhooks.com/). A delivery carries `webhook-id`,
 * `webhook-timestamp` (Unix seconds) and `webhook-signature`: space-separated
 * `v1,<base64>` entries, each an HMAC-SHA256 of `{id}.{timestamp}.{body}`
 * keyed with the bytes of the endpoint's `whsec_…` base64 secret.
 *
 * Verify the **raw** body, byte for byte, before parsing it:
 *
 * ```ts
 * import { verifyWebhook, WebhookVerificationError } from "@mailgent/client";
 * try {
 *   verifyWebhook(process.env.MAILGENT_WEBHOOK_SECRET!, req.headers, rawBody);
 * } catch (err) {
 *   if (err instanceof WebhookVerificationError) return res.writeHead(400).end();
 *   throw err;
 * }
 * ```
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";

/** How far a delivery's timestamp may be from now, either way, before it is refused as a replay. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

const PREFIX = "whsec_";
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The delivery is not authentic, or not fresh: answer it with a 4xx and ignore it. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** Request headers: a fetch `Headers`, or Node's `IncomingHttpHeaders`-like object. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

/** The HMAC key: the secret's base64 part, decoded. Throws a TypeError for a malformed secret. */
function keyOf(secret: string): Buffer {
  const raw = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (raw === "") throw new TypeError("secret: is empty");
  if (!BASE64.test(raw)) throw new TypeError("secret: not a whsec_ base64 secret");
  return Buffer.from(raw, "base64");
}

/** A header by name, case-insensitively (frameworks differ in how they spell them). */
function header(headers: HeadersLike, name: string): string {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? "";
  for (const [k, v] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(" ") : (v ?? "");
  }
  return "";
}

function mac(key: Buffer, id: string, timestamp: string, body: string | Uint8Array): Buffer {
  return createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest();
}

/** The `webhook-signature` value (`v1,<base64>`) for a delivery: for senders and tests. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string | Uint8Array): string {
  return `v1,${mac(keyOf(secret), id, String(timestamp), body).toString("base64")}`;
}

/**
 * Checks that a delivery was signed with `secret` within the last (or next)
 * 5 minutes. Throws {@link WebhookVerificationError} when a header is
 * missing, the timestamp is not an integer or is out of tolerance, or no `v1`
 * signature matches; a `TypeError` when the secret itself is malformed.
 *
 * @param secret the endpoint's `whsec_…` secret (the prefix is optional)
 * @param headers the request's headers; names are matched case-insensitively
 * @param body the raw request body, exactly as received (a string is UTF-8 encoded)
 * @param now the time to check the timestamp against (default: the clock), a Date or Unix seconds
 */
export function verifyWebhook(secret: string, headers: HeadersLike, body: string | Uint8Array, now?: Date | number): void {
  const key = keyOf(secret);
  const id = header(headers, "webhook-id");
  const ts = header(headers, "webhook-timestamp");
  const sigs = header(headers, "webhook-signature");
  for (const [name, value] of [["webhook-id", id], ["webhook-timestamp", ts], ["webhook-signature", sigs]]) {
    if (!value) throw new WebhookVerificationError(`${name}: header missing`);
  }
  if (!/^[0-9]+$/.test(ts)) throw new WebhookVerificationError("webhook-timestamp: not a Unix time in seconds");
  const nowSeconds = now === undefined ? Date.now() / 1000 : now instanceof Date ? now.getTime() / 1000 : now;
  const skew = nowSeconds - Number(ts);
  if (skew > WEBHOOK_TOLERANCE_SECONDS) throw new WebhookVerificationError("webhook-timestamp: too old (more than 5 minutes ago)");
  if (skew < -WEBHOOK_TOLERANCE_SECONDS) throw new WebhookVerificationError("webhook-timestamp: too far in the future (more than 5 minutes ahead)");
  const expected = mac(key, id, ts, body);
  for (const entry of sigs.split(" ")) {
    const comma = entry.indexOf(",");
    // Other schemes (v1a: asymmetric) are not ours to check.
    if (comma < 0 || entry.slice(0, comma) !== "v1") continue;
    const value = entry.slice(comma + 1);
    if (!BASE64.test(value)) continue;
    const candidate = Buffer.from(value, "base64");
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) return;
  }
  throw new WebhookVerificationError("webhook-signature: no valid v1 signature");
}
