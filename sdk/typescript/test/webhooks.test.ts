// verifyWebhook against the Standard Webhooks specification's published test vector.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";

import { WEBHOOK_TOLERANCE_SECONDS, WebhookVerificationError, signWebhook, verifyWebhook } from "@mailgent/client";

// The vector of the reference implementation's test suite
// (standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py: test_sign_function).
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

function headers(o: { sig?: string; ts?: string; id?: string } = {}): Record<string, string> {
  return { "webhook-id": o.id ?? ID, "webhook-timestamp": o.ts ?? String(TS), "webhook-signature": o.sig ?? SIGNATURE };
}

function without(name: string): Record<string, string> {
  const h = headers();
  delete h[name];
  return h;
}

describe("the specification's test vector", () => {
  it("is what signWebhook computes", () => {
    assert.equal(signWebhook(SECRET, ID, TS, BODY), SIGNATURE);
  });
  it("verifies at its time, as a string, bytes, a Date or a fetch Headers", () => {
    verifyWebhook(SECRET, headers(), BODY, TS);
    verifyWebhook(SECRET, headers(), new TextEncoder().encode(BODY), new Date(TS * 1000));
    verifyWebhook(SECRET, new Headers(headers()), BODY, TS);
  });
  it("is an HMAC-SHA256 of id.timestamp.body keyed with the decoded secret", () => {
    const key = Buffer.from(SECRET.slice("whsec_".length), "base64");
    const mac = createHmac("sha256", key).update(`${ID}.${TS}.${BODY}`).digest("base64");
    assert.equal(`v1,${mac}`, SIGNATURE);
  });
});

describe("verifyWebhook", () => {
  const other = `v1,${Buffer.alloc(32, 7).toString("base64")}`;
  const accepted: [string, string, Record<string, string>, number][] = [
    ["a secret without its prefix", SECRET.slice(6), headers(), TS],
    ["one of several signatures", SECRET, headers({ sig: `${other} v2,abc ${SIGNATURE}` }), TS],
    ["header names in any case", SECRET, Object.fromEntries(Object.entries(headers()).map(([k, v]) => [k.toUpperCase(), v])), TS],
    ["a timestamp exactly 5 minutes old", SECRET, headers(), TS + WEBHOOK_TOLERANCE_SECONDS],
    ["a timestamp exactly 5 minutes ahead", SECRET, headers(), TS - WEBHOOK_TOLERANCE_SECONDS],
  ];
  for (const [name, secret, h, now] of accepted) {
    it(`accepts ${name}`, () => verifyWebhook(secret, h, BODY, now));
  }

  const wrong = `whsec_${Buffer.from("another secret of the endpoint").toString("base64")}`;
  const refused: [string, string, Record<string, string>, string, number, RegExp][] = [
    ["a tampered body", SECRET, headers(), '{"test": 2432232315}', TS, /no valid v1 signature/],
    ["a wrong secret", wrong, headers(), BODY, TS, /no valid v1 signature/],
    ["another message id", SECRET, headers({ id: "msg_other" }), BODY, TS, /no valid v1 signature/],
    ["a signature for another time", SECRET, headers({ ts: String(TS + 1) }), BODY, TS, /no valid v1 signature/],
    ["only a v2 entry", SECRET, headers({ sig: SIGNATURE.replace("v1,", "v2,") }), BODY, TS, /no valid v1 signature/],
    ["a signature that is not base64", SECRET, headers({ sig: "v1,???" }), BODY, TS, /no valid v1 signature/],
    ["a timestamp too old", SECRET, headers(), BODY, TS + WEBHOOK_TOLERANCE_SECONDS + 1, /too old/],
    ["a timestamp too new", SECRET, headers(), BODY, TS - WEBHOOK_TOLERANCE_SECONDS - 1, /future/],
    ["a timestamp that is not a number", SECRET, headers({ ts: "hello" }), BODY, TS, /webhook-timestamp/],
    ["a negative timestamp", SECRET, headers({ ts: "-5" }), BODY, TS, /webhook-timestamp/],
    ["no webhook-id", SECRET, without("webhook-id"), BODY, TS, /webhook-id: header missing/],
    ["no webhook-timestamp", SECRET, without("webhook-timestamp"), BODY, TS, /webhook-timestamp: header missing/],
    ["no webhook-signature", SECRET, without("webhook-signature"), BODY, TS, /webhook-signature: header missing/],
  ];
  for (const [name, secret, h, body, now, why] of refused) {
    it(`refuses ${name}`, () => {
      assert.throws(() => verifyWebhook(secret, h, body, now), (err: unknown) => err instanceof WebhookVerificationError && why.test(err.message));
    });
  }

  it("refuses a malformed secret with a TypeError that does not show it", () => {
    for (const secret of ["whsec_not base64!", "whsec_", ""]) {
      assert.throws(() => verifyWebhook(secret, headers(), BODY, TS), (err: unknown) =>
        err instanceof TypeError && err.message.startsWith("secret: ") && (secret.length <= 6 || !err.message.includes(secret.slice(6))));
    }
  });

  it("checks the timestamp against the clock by default", () => {
    assert.throws(() => verifyWebhook(SECRET, headers(), BODY), /too old/); // the vector is from 2021
  });
});
