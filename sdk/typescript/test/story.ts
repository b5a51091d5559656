// An agent's whole story with the TypeScript SDK, against a real stack.
//
// integration/sdk_test.go runs it (and its Python twin, sdk/python/tests/story.py)
// after onboarding an agent: it reads the "key: value" lines this prints,
// mails the verification code (and two forgeries) when it sees "waiting",
// revokes the agent when it sees "revoke", then writes a line to stdin. What
// needs no outside knowledge is checked here; the rest (the TOTP code against
// RFC 6238, what Vault stored) is checked by the Go test.
//
// Environment: VAULT_ADDR, MAILGENT_AGENT, MAILGENT_ROLE_ID,
// MAILGENT_WRAPPED_SECRET_ID, MAILGENT_CRED_PASSWORD, MAILGENT_TOTP_SECRET,
// MAILGENT_WAIT_FROM, MAILGENT_SEND_TO, MAILGENT_QR_IMAGE. Secrets are never
// printed (TOTP codes are: the Go test checks them).

import { once } from "node:events";
import { inspect } from "node:util";

import { Client, Conflict, Gone, InvalidRequest, MailgentError, NotFound, TRUST_UNVERIFIED, Timeout, type TOTPCode } from "@mailgent/client";

const CRED = "site.example.com";
const QR_CRED = "qr.example.com";
const FAST_CRED = "fast.example.com";
const BACKUP_CODES = ["bk-1111-2222", "bk-3333-4444"];

function say(key: string, value: unknown): void {
  process.stdout.write(`${key}: ${String(value)}\n`);
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`story: ${what}`);
}

async function expectError(Cls: typeof MailgentError, call: () => Promise<unknown>): Promise<MailgentError> {
  try {
    await call();
  } catch (err) {
    check(err instanceof MailgentError && err.constructor === Cls, `expected ${Cls.name}, got ${String(err)}`);
    return err as MailgentError;
  }
  throw new Error(`story: expected ${Cls.name}, the call succeeded`);
}

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`story: set ${name}`);
  return v;
}

async function credentials(c: Client, password: string, seed: string, address: string): Promise<void> {
  const v1 = await c.storeCredential(CRED, {
    username: address, password, url: `https://${CRED}/login`, fields: { api_key: `ak-${password}` }, totpSecret: seed,
  });
  say("stored", `${v1.version} totp_enabled=${v1.totpEnabled}`);
  // Merge: only the password changes; the seed, fields and URL are kept.
  const v2 = await c.storeCredential(CRED, { password: `${password}-2`, cas: 1 });
  say("updated", v2.version);
  const e = await expectError(InvalidRequest, () => c.storeCredential(CRED, { password: "x", cas: 1 }));
  say("cas_error", `${e.status} ${e.message}`);

  const cred = await c.getCredential(CRED);
  check(cred.password === `${password}-2` && cred.fields.api_key === `ak-${password}`, "merged credential");
  check((await c.getCredential(CRED, 1)).password === password, "version 1 kept");
  const keys = [...Object.keys(cred), ...Object.keys(cred.totp)];
  check(!keys.some((k) => /secret|seed/i.test(k)), `a seed field: ${keys.join(",")}`);
  check(!JSON.stringify(cred).includes(seed), "the seed in a credential");
  say("credential", `version=${cred.version} versions=${cred.versions.join(",")} username=${cred.username} url=${cred.url} ` +
    `totp=${cred.totp.algorithm}/${cred.totp.digits}/${cred.totp.period} fields=${Object.keys(cred.fields).join(",")}`);
  say("credentials", (await c.listCredentials()).join(","));
  const code = await c.totp(CRED);
  say("totp", `${code.code} valid_until=${code.validUntil?.toISOString().replace(".000Z", "Z")}`);
}

const stamp = (code: TOTPCode): string => `${code.code} valid_until=${code.validUntil?.toISOString().replace(".000Z", "Z")}`;

/** TOTP from a QR image, fresh codes, recovery codes. */
async function toolkit(c: Client, seed: string, qrImage: string): Promise<void> {
  const v = await c.enrollTotpQr(QR_CRED, qrImage);
  const qr = await c.getCredential(QR_CRED);
  say("qr_enrolled", `${v.version} totp_enabled=${v.totpEnabled} issuer=${qr.totp.issuer}`);
  let e = await expectError(InvalidRequest, () => c.enrollTotpQr(QR_CRED, new TextEncoder().encode("not an image")));
  say("qr_error", `${e.status} ${e.message}`);
  await c.storeCredential(FAST_CRED, { totpSecret: seed, totpPeriod: 1 });
  say("fresh", stamp(await c.totp(FAST_CRED)));
  for (let i = 0; i < 2; i++) say("fresh", stamp(await c.totp(FAST_CRED, 0, { fresh: true })));
  await c.storeCredential(CRED, { backupCodes: BACKUP_CODES });
  say("backup_remaining", (await c.getCredential(CRED)).backupCodesRemaining);
  for (const _ of BACKUP_CODES) {
    const bc = await c.backupCode(CRED);
    say("backup_code", `${bc.code} remaining=${bc.remaining}`);
  }
  e = await expectError(Conflict, () => c.backupCode(CRED));
  say("backup_error", `${e.status} ${e.message}`);
}

/** The verification mail and the reply the agent sent to it: one thread. */
async function thread(c: Client, sentId: string): Promise<void> {
  const page = await c.threads();
  const found = page.threads.filter((t) => t.sentIds.includes(sentId));
  check(found.length === 1, `one thread holds the sent reply: ${JSON.stringify(page.threads)}`);
  const one = await c.thread(found[0]!.id);
  say("thread", `messages=${one.messageCount} kinds=${one.messages.map((m) => m.kind).join(",")} ` +
    `sent_to=${one.messages[one.messages.length - 1]!.to.join(",")}`);
}

async function inbox(c: Client, waitFrom: string): Promise<string> {
  say("waiting", `up to 30s for verified mail from ${waitFrom}`);
  const { code, message } = await c.waitForCode({ from: waitFrom, timeout: 30 });
  say("code", code);
  say("mail", `trust=${message.trust} sender_domain=${message.senderDomain} unread=${message.unread}`);
  for (const l of message.links) say("link", `kind=${l.kind} host=${l.host} aligned=${l.aligned}`);
  for (const m of await c.listMessages()) {
    say("listed", `${m.code} trust=${m.trust} sender_domain=${m.senderDomain} reason=${m.trustReason}`);
  }
  const forged = await c.listMessages({ trust: TRUST_UNVERIFIED });
  check(forged.every((m) => !m.verified) && !forged.some((m) => m.id === message.id), "trust filter");
  const e = await expectError(Timeout, () => c.waitForMessage({ from: "nobody.example", timeout: 1 }));
  say("error_timeout", `${e.status} ${e.message}`);
  return message.id;
}

async function outbound(c: Client, to: string, replyToId: string): Promise<string> {
  const queued = await c.send({
    to, subject: "Hello from the SDK", text: "Sent with the Mailgent SDK.", inReplyTo: replyToId,
    attachments: [{ filename: "note.txt", content: "hello\n", contentType: "text/plain" }],
  });
  say("sent_queued", `${queued.status} attachments=${queued.attachmentCount}`);
  const done = await c.waitForDelivery(queued.id, { timeoutMs: 45_000 });
  say("sent", `${done.status} subject=${done.subject}`);
  say("sent_listed", (await c.listSent()).some((s) => s.id === queued.id));
  return queued.id;
}

async function main(): Promise<void> {
  const wrapped = env("MAILGENT_WRAPPED_SECRET_ID");
  const c = await Client.loginAppRole({ vaultAddr: env("VAULT_ADDR"), roleId: env("MAILGENT_ROLE_ID"), wrappedSecretId: wrapped, agent: env("MAILGENT_AGENT") });
  check(!inspect(c).includes(wrapped), "a token in inspect");
  const info = await c.agentInfo();
  say("address", info.address);
  say("delegation_chain", info.delegationChain.join(" > "));

  await credentials(c, env("MAILGENT_CRED_PASSWORD"), env("MAILGENT_TOTP_SECRET"), info.address);
  await toolkit(c, env("MAILGENT_TOTP_SECRET"), env("MAILGENT_QR_IMAGE"));
  const msgId = await inbox(c, env("MAILGENT_WAIT_FROM"));
  await thread(c, await outbound(c, env("MAILGENT_SEND_TO"), msgId));
  const report = await c.reportLogin(CRED, true, "verified with the emailed code");
  say("login_report", `${report.outcome} ${report.eventId}`);

  let e = await expectError(NotFound, () => c.getCredential("missing.example"));
  say("error_missing", `${e.status} ${e.message}`);
  say("revoke", "ready");
  await once(process.stdin, "data");
  process.stdin.pause();
  e = await expectError(Gone, () => c.totp(CRED));
  say("error_revoked", `${e.status} ${e.message}`);
  say("done", "ok");
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
