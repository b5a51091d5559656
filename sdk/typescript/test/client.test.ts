// The client against a local fake of Vault's HTTP API: requests sent, answers and errors mapped.
// The real stack is exercised by test/story.ts (driven by integration/sdk_test.go).

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { inspect } from "node:util";

import {
  Client,
  Conflict,
  Gone,
  MAX_QR_IMAGE_BYTES,
  InvalidRequest,
  MailgentError,
  NotFound,
  PermissionDenied,
  RateLimited,
  Timeout,
  type Credential,
} from "@mailgent/client";

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  token: string | undefined;
  body: unknown;
}

/** Answers "METHOD /path" with canned responses and records every request. */
class FakeVault {
  routes = new Map<string, [number, unknown]>();
  requests: Seen[] = [];
  addr = "";
  #server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const raw = Buffer.concat(chunks).toString();
      this.requests.push({
        method: req.method ?? "", path: url.pathname, query: Object.fromEntries(url.searchParams),
        token: req.headers["x-vault-token"] as string | undefined, body: raw ? JSON.parse(raw) : undefined,
      });
      const [status, payload] = this.routes.get(`${req.method} ${url.pathname}`) ?? [404, { errors: [] }];
      res.writeHead(status);
      res.end(status === 204 ? undefined : typeof payload === "string" ? payload : JSON.stringify(payload));
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.addr = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

const AGENT = "/v1/mailgent/agents/bot";

describe("Client", () => {
  const vault = new FakeVault();
  let client: Client;
  before(() => vault.start());
  after(() => vault.stop());
  beforeEach(() => {
    vault.routes.clear();
    vault.requests = [];
    client = new Client({ vaultAddr: vault.addr, token: "agent-token", agent: "bot" });
  });

  const errorCases: [number, unknown, typeof MailgentError, string][] = [
    [400, { errors: ["password: 5000 bytes, at most 4096 allowed"] }, InvalidRequest, "password: 5000 bytes, at most 4096 allowed"],
    [403, { errors: ["1 error occurred:\n\t* permission denied\n\n"] }, PermissionDenied, "permission denied"],
    [408, { errors: ["2 errors occurred:\n\t* first\n\t* second\n\n"] }, Timeout, "first; second"],
    [404, { errors: ['agent "bot" has no credential "x"'] }, NotFound, 'agent "bot" has no credential "x"'],
    [408, { errors: ["no matching unread message arrived within 30s"] }, Timeout, "no matching unread message arrived within 30s"],
    [410, { errors: ['agent "bot" was revoked at 2026-11-26T10:00:00Z', "second"] }, Gone, 'agent "bot" was revoked at 2026-11-26T10:00:00Z; second'],
    [429, { errors: ['agent "bot" sent 60 messages this hour'] }, RateLimited, 'agent "bot" sent 60 messages this hour'],
    [500, { errors: ["credential does not decrypt"] }, MailgentError, "credential does not decrypt"],
    [502, "<html>Bad Gateway</html>", MailgentError, "<html>Bad Gateway</html>"],
    [404, { errors: [] }, NotFound, "Not Found"],
  ];
  for (const [status, body, Cls, message] of errorCases) {
    it(`maps ${status} ${JSON.stringify(body).slice(0, 40)} to ${Cls.name}`, async () => {
      vault.routes.set(`GET ${AGENT}/creds/x`, [status, body]);
      await assert.rejects(client.getCredential("x"), (err: unknown) => {
        assert.ok(err instanceof Cls);
        assert.equal(err.constructor, Cls);
        assert.equal(err.status, status);
        assert.equal(err.message, message);
        assert.equal(err.operation, "read credential x");
        assert.equal(err.name, Cls.name);
        return true;
      });
    });
  }

  it("has no status when Vault cannot be reached", async () => {
    const c = new Client({ vaultAddr: "http://127.0.0.1:1", token: "t", agent: "bot" });
    await assert.rejects(c.totp("x"), (err: unknown) => err instanceof MailgentError && err.status === null && /cannot reach Vault/.test(err.message));
  });

  it("logs in with AppRole, unwrapping the secret ID once", async () => {
    vault.routes.set("POST /v1/sys/wrapping/unwrap", [200, { data: { secret_id: "the-secret-id" } }]);
    vault.routes.set("POST /v1/auth/approle/login", [200, { auth: { client_token: "hvs.agent" } }]);
    vault.routes.set(`GET ${AGENT}/creds/site/totp`, [200, { data: {
      code: "012345", seconds_remaining: 7, valid_until: "2026-11-26T12:00:30Z", period: 30, digits: 6, algorithm: "SHA1" } }]);
    const c = await Client.loginAppRole({ vaultAddr: vault.addr, roleId: "role-1", wrappedSecretId: "hvs.wrapping", agent: "bot" });
    const code = await c.totp("site", 5);
    const [unwrap, login, totp] = vault.requests;
    assert.equal(unwrap!.token, "hvs.wrapping");
    assert.equal(login!.token, undefined);
    assert.deepEqual(login!.body, { role_id: "role-1", secret_id: "the-secret-id" });
    assert.equal(totp!.token, "hvs.agent");
    assert.deepEqual(totp!.query, { min_remaining: "5" });
    assert.equal(code.code, "012345");
    assert.equal(code.validUntil?.toISOString(), "2026-11-26T12:00:30.000Z");
    assert.ok(!inspect(c, { showHidden: true, depth: 5 }).includes("hvs.agent"));
    assert.ok(!JSON.stringify(c).includes("hvs.agent"));
  });

  it("needs exactly one of wrappedSecretId and secretId", async () => {
    for (const extra of [{}, { secretId: "a", wrappedSecretId: "b" }]) {
      await assert.rejects(Client.loginAppRole({ vaultAddr: vault.addr, roleId: "r", agent: "bot", ...extra }), /^TypeError: secretId: /);
    }
    assert.deepEqual(vault.requests, []);
  });

  it("stores only what is given", async () => {
    vault.routes.set(`POST ${AGENT}/creds/site`, [200, { data: { credential: "site", version: 2, totp_enabled: true } }]);
    const v = await client.storeCredential("site", { password: "", fields: { k: "v" }, cas: 1 });
    assert.deepEqual(vault.requests.at(-1)!.body, { password: "", fields: { k: "v" }, cas: 1 });
    assert.deepEqual([v.name, v.version, v.totpEnabled], ["site", 2, true]);
  });

  it("reads a credential without any seed field", async () => {
    vault.routes.set(`GET ${AGENT}/creds/site`, [200, { data: {
      credential: "site", version: 1, current_version: 1, versions: [1], username: "u", password: "pw-123456",
      url: "https://site.example", fields: { api_key: "k" }, totp: { enabled: true, algorithm: "SHA1", digits: 6, period: 30 },
      last_login: { at: "2026-11-26T10:00:00Z", outcome: "success" } } }]);
    const cred: Credential = await client.getCredential("site", 1);
    assert.deepEqual(vault.requests.at(-1)!.query, { version: "1" });
    assert.deepEqual([cred.password, cred.fields, cred.totp.period, cred.lastLogin?.outcome], ["pw-123456", { api_key: "k" }, 30, "success"]);
    const keys = [...Object.keys(cred), ...Object.keys(cred.totp)];
    assert.deepEqual(keys.filter((k) => /secret|seed|uri/i.test(k)), []);
  });

  it("lists credentials, an empty list included", async () => {
    const route = `GET ${AGENT}/creds`;
    vault.routes.set(route, [404, { errors: [] }]);
    assert.deepEqual(await client.listCredentials(), []);
    assert.deepEqual(vault.requests.at(-1)!.query, { list: "true" });
    vault.routes.set(route, [200, { data: { keys: ["a", "b"] } }]);
    assert.deepEqual(await client.listCredentials(), ["a", "b"]);
    vault.routes.set(route, [404, { errors: ['agent "bot" does not exist'] }]);
    await assert.rejects(client.listCredentials(), NotFound);
  });

  it("waits for a code from verified mail only", async () => {
    vault.routes.set(`GET ${AGENT}/messages/wait`, [200, { data: {
      id: "1-x", from_address: "n@svc.example", sender_domain: "svc.example", trust: "verified", code: "739142",
      links: [{ url: "https://svc.example/v", kind: "verify", host: "svc.example", aligned: true }],
      attachments: [{ index: 0, filename: "a.pdf", content_type: "application/pdf", size: 3 }] } }]);
    const { code, message } = await client.waitForCode({ from: "svc.example", timeout: 20 });
    assert.deepEqual(vault.requests.at(-1)!.query, { from: "svc.example", timeout: "20", trust: "verified" });
    assert.deepEqual([code, message.verified, message.links[0]!.aligned, message.attachmentCount], ["739142", true, true, 1]);
  });

  it("sends and lists with the API's parameter names", async () => {
    vault.routes.set(`POST ${AGENT}/send`, [200, { data: { id: "1-ab", status: "queued", to: ["a@x"] } }]);
    vault.routes.set(`GET ${AGENT}/messages`, [200, { data: { messages: [{ id: "1-x", attachments: 2 }] } }]);
    const sent = await client.send({ to: "a@x", subject: "Hi", text: "Hello", inReplyTo: "1-x", attachments: [{ filename: "a.txt", content: "abc" }] });
    assert.deepEqual(vault.requests.at(-1)!.body, { to: ["a@x"], subject: "Hi", text: "Hello", in_reply_to: "1-x",
      attachments: [{ filename: "a.txt", content_type: "application/octet-stream", content: "YWJj" }] });
    assert.deepEqual([sent.id, sent.status, sent.final], ["1-ab", "queued", false]);
    const msgs = await client.listMessages({ from: "svc.example", unreadOnly: true, trust: "unverified", limit: 5 });
    assert.deepEqual(vault.requests.at(-1)!.query, { from: "svc.example", trust: "unverified", limit: "5", unread: "true" });
    assert.deepEqual([msgs[0]!.attachmentCount, msgs[0]!.trust], [2, "unverified"]);
  });

  it("refuses bad arguments before any request", async () => {
    const cases: [string, () => unknown][] = [
      ["name", () => client.getCredential("../x")],
      ["id", () => client.readMessage("a/b")],
      ["timeout", () => client.waitForMessage({ timeout: 1.5 })],
      ["agent", () => new Client({ vaultAddr: vault.addr, token: "t", agent: "" })],
      ["vaultAddr", () => new Client({ vaultAddr: "vault:8200", token: "t", agent: "bot" })],
    ];
    for (const [field, call] of cases) {
      await assert.rejects(async () => call(), (err: unknown) => err instanceof TypeError && err.message.startsWith(`${field}: `), field);
    }
    assert.deepEqual(vault.requests, []);
  });
});

describe("Client toolkit", () => {
  const vault = new FakeVault();
  let client: Client;
  before(() => vault.start());
  after(() => vault.stop());
  beforeEach(() => {
    vault.routes.clear();
    vault.requests = [];
    client = new Client({ vaultAddr: vault.addr, token: "agent-token", agent: "bot" });
  });

  it("sends totp_qr, backup_codes and fresh, and takes backup codes", async () => {
    vault.routes.set(`POST ${AGENT}/creds/site`, [200, { data: { credential: "site", version: 3, totp_enabled: true } }]);
    vault.routes.set(`GET ${AGENT}/creds/site/totp`, [200, { data: { code: "123456", period: 30 } }]);
    vault.routes.set(`POST ${AGENT}/creds/site/backup-code`, [200, { data: { code: "1111-2222", remaining: 4 } }]);
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const v = await client.enrollTotpQr("site", png, { cas: 2 });
    assert.deepEqual(vault.requests.at(-1)?.body, { totp_qr: Buffer.from(png).toString("base64"), cas: 2 });
    assert.equal(v.version, 3);
    await client.storeCredential("site", { backupCodes: [] });
    assert.deepEqual(vault.requests.at(-1)?.body, { backup_codes: [] });
    await client.totp("site", 0, { fresh: true });
    assert.deepEqual(vault.requests.at(-1)?.query, { fresh: "true" });
    await client.totp("site");
    assert.deepEqual(vault.requests.at(-1)?.query, {});
    const bc = await client.backupCode("site");
    assert.deepEqual([vault.requests.at(-1)?.method, bc.code, bc.remaining], ["POST", "1111-2222", 4]);
    vault.routes.set(`POST ${AGENT}/creds/site/backup-code`, [409, { errors: ['credential "site" has no unused backup code left'] }]);
    await assert.rejects(client.backupCode("site"), (err: unknown) => err instanceof Conflict && err.status === 409);
    const n = vault.requests.length;
    await assert.rejects(client.storeCredential("site", { totpQr: new Uint8Array(MAX_QR_IMAGE_BYTES + 1) }), TypeError);
    assert.equal(vault.requests.length, n, "refused before any request");
  });

  it("lists and reads threads", async () => {
    const thread = {
      id: "0123456789abcdef01234567", subject: "Budget", participants: ["a@x", "bot@y"], message_count: 2, unread: 1,
      first_activity: "2026-11-26T10:00:00Z", last_activity: "2026-11-26T11:00:00Z", inbox_ids: ["2-b"], sent_ids: ["1-a"],
      messages: [{ kind: "sent", id: "1-a", at: "2026-11-26T10:00:00Z", to: ["a@x"] }, { kind: "inbox", id: "2-b", at: "2026-11-26T11:00:00Z", from: "a@x", unread: true }],
    };
    vault.routes.set(`GET ${AGENT}/threads`, [200, { data: { threads: [thread], next_cursor: "c-1" } }]);
    vault.routes.set(`GET ${AGENT}/threads/${thread.id}`, [200, { data: thread }]);
    const page = await client.threads({ limit: 1, after: "c-0" });
    assert.deepEqual(vault.requests.at(-1)?.query, { limit: "1", after: "c-0" });
    assert.deepEqual([page.nextCursor, page.threads[0]?.subject, page.threads[0]?.sentIds], ["c-1", "Budget", ["1-a"]]);
    const one = await client.thread(thread.id);
    assert.deepEqual(one.messages.map((m) => [m.kind, m.from, m.unread]), [["sent", "", false], ["inbox", "a@x", true]]);
  });
});
