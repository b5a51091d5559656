"""The client against a local fake of Vault's HTTP API: requests sent, answers and errors mapped.

The real stack is exercised by tests/story.py (driven by integration/sdk_test.go);
these tests need no server but the one they start.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import datetime
import json
import os
import tempfile
import threading
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any

import mailgent
from mailgent import (
    Client,
    Conflict,
    Credential,
    Gone,
    InvalidRequest,
    MailgentError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Timeout,
)

Answer = tuple[int, Any]  # status and a JSON body (a str is sent as is)


class FakeVault:
    """Answers (method, path) with canned responses and records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Answer] = {}
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append({"method": self.command, "path": url.path,
                                      "query": dict(urllib.parse.parse_qsl(url.query)),
                                      "token": self.headers.get("X-Vault-Token"), "body": body})
                status, payload = fake.routes.get((self.command, url.path), (404, {"errors": []}))
                raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw) if status != 204 else 0))
                self.end_headers()
                if status != 204:
                    self.wfile.write(raw)

            do_GET = do_POST = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


AGENT = "/v1/mailgent/agents/bot"


class ClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.vault = FakeVault()
        self.addCleanup(self.vault.close)
        self.client = Client(self.vault.addr, "agent-token", "mailgent", "bot")

    def test_errors_carry_status_and_vaults_messages(self) -> None:
        cases: list[tuple[int, Any, type[MailgentError], str]] = [
            (400, {"errors": ["password: 5000 bytes, at most 4096 allowed"]}, InvalidRequest,
             "password: 5000 bytes, at most 4096 allowed"),
            (403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}, PermissionDenied, "permission denied"),
            (408, {"errors": ["2 errors occurred:\n\t* first\n\t* second\n\n"]}, Timeout, "first; second"),
            (404, {"errors": ['agent "bot" has no credential "x"']}, NotFound, 'agent "bot" has no credential "x"'),
            (408, {"errors": ["no matching unread message arrived within 30s"]}, Timeout,
             "no matching unread message arrived within 30s"),
            (410, {"errors": ['agent "bot" was revoked at 2026-11-26T10:00:00Z', "second"]}, Gone,
             'agent "bot" was revoked at 2026-11-26T10:00:00Z; second'),
            (429, {"errors": ['agent "bot" sent 60 messages this hour']}, RateLimited, 'agent "bot" sent 60 messages this hour'),
            (500, {"errors": ["credential does not decrypt"]}, MailgentError, "credential does not decrypt"),
            (502, "<html>Bad Gateway</html>", MailgentError, "<html>Bad Gateway</html>"),
            (404, {"errors": []}, NotFound, "Not Found"),
        ]
        for status, body, cls, message in cases:
            with self.subTest(status=status, cls=cls.__name__):
                self.vault.routes[("GET", AGENT + "/creds/x")] = (status, body)
                with self.assertRaises(cls) as cm:
                    self.client.get_credential("x")
                err = cm.exception
                self.assertIs(type(err), cls)
                self.assertEqual(err.status, status)
                self.assertEqual(err.message, message)
                self.assertEqual(str(err), f"read credential x: {status} {err.message}")

    def test_unreachable_vault_has_no_status(self) -> None:
        addr = self.vault.addr
        self.vault.close()
        with self.assertRaises(MailgentError) as cm:
            Client(addr, "t", agent="bot").totp("x")
        self.assertIsNone(cm.exception.status)
        self.assertIn("cannot reach Vault", cm.exception.message)

    def test_login_approle_unwraps_once_then_logs_in(self) -> None:
        self.vault.routes[("POST", "/v1/sys/wrapping/unwrap")] = (200, {"data": {"secret_id": "the-secret-id"}})
        self.vault.routes[("POST", "/v1/auth/approle/login")] = (200, {"auth": {"client_token": "hvs.agent"}})
        self.vault.routes[("GET", AGENT + "/creds/site/totp")] = (200, {"data": {
            "code": "012345", "seconds_remaining": 7, "valid_until": "2026-11-26T12:00:30Z",
            "period": 30, "digits": 6, "algorithm": "SHA1"}})
        c = Client.login_approle(self.vault.addr, "role-1", wrapped_secret_id="hvs.wrapping", agent="bot")
        code = c.totp("site", min_remaining=5)
        unwrap, login, totp = self.vault.requests
        self.assertEqual(unwrap["token"], "hvs.wrapping")
        self.assertEqual(login["token"], None)
        self.assertEqual(login["body"], {"role_id": "role-1", "secret_id": "the-secret-id"})
        self.assertEqual(totp["token"], "hvs.agent")
        self.assertEqual(totp["query"], {"min_remaining": "5"})
        assert code.valid_until is not None
        self.assertEqual((code.code, code.seconds_remaining, code.valid_until.isoformat()),
                         ("012345", 7, "2026-11-26T12:00:30+00:00"))
        self.assertNotIn("hvs.agent", repr(c))
        self.assertNotIn("012345", repr(code))

    def test_login_approle_needs_exactly_one_secret(self) -> None:
        cases: dict[str, Callable[[], object]] = {
            "neither": lambda: Client.login_approle(self.vault.addr, "role", agent="bot"),
            "both": lambda: Client.login_approle(self.vault.addr, "role", agent="bot", secret_id="a", wrapped_secret_id="b"),
        }
        for name, call in cases.items():
            with self.subTest(name):
                with self.assertRaisesRegex(ValueError, "^secret_id: "):
                    call()
        self.assertEqual(self.vault.requests, [])

    def test_store_credential_sends_only_what_is_given(self) -> None:
        self.vault.routes[("POST", AGENT + "/creds/site")] = (200, {"data": {
            "credential": "site", "version": 2, "current_version": 2, "totp_enabled": True,
            "created_at": "2026-11-26T10:43:29.816007886Z"}})
        v = self.client.store_credential("site", password="", fields={"k": "v"}, cas=1)
        self.assertEqual(self.vault.requests[-1]["body"], {"password": "", "fields": {"k": "v"}, "cas": 1})
        self.assertEqual((v.name, v.version, v.totp_enabled), ("site", 2, True))
        assert v.created_at is not None
        self.assertEqual(v.created_at.microsecond, 816007)

    def test_credential_has_no_seed_and_hides_secrets_in_repr(self) -> None:
        self.vault.routes[("GET", AGENT + "/creds/site")] = (200, {"data": {
            "credential": "site", "version": 1, "current_version": 1, "versions": [1], "username": "u",
            "password": "pw-123456", "url": "https://site.example", "fields": {"api_key": "k-123456"},
            "totp": {"enabled": True, "algorithm": "SHA1", "digits": 6, "period": 30},
            "last_login": {"at": "2026-11-26T10:00:00Z", "outcome": "success"}}})
        cred = self.client.get_credential("site", version=1)
        self.assertEqual(self.vault.requests[-1]["query"], {"version": "1"})
        assert cred.last_login is not None
        self.assertEqual((cred.password, cred.fields, cred.totp.period, cred.last_login.outcome),
                         ("pw-123456", {"api_key": "k-123456"}, 30, "success"))
        names = {f.name for f in dataclasses.fields(Credential)} | {f.name for f in dataclasses.fields(cred.totp)}
        self.assertFalse({n for n in names if "secret" in n or "seed" in n or "uri" in n}, names)
        self.assertNotIn("pw-123456", repr(cred))
        self.assertNotIn("k-123456", repr(cred))

    def test_list_credentials(self) -> None:
        path = ("GET", AGENT + "/creds")
        self.vault.routes[path] = (404, {"errors": []})
        self.assertEqual(self.client.list_credentials(), [])
        self.assertEqual(self.vault.requests[-1]["query"], {"list": "true"})
        self.vault.routes[path] = (200, {"data": {"keys": ["a", "b"]}})
        self.assertEqual(self.client.list_credentials(), ["a", "b"])
        self.vault.routes[path] = (404, {"errors": ['agent "bot" does not exist']})
        with self.assertRaises(NotFound):
            self.client.list_credentials()

    def test_wait_for_code_asks_for_verified_mail(self) -> None:
        self.vault.routes[("GET", AGENT + "/messages/wait")] = (200, {"data": {
            "id": "1-x", "from": "S <n@svc.example>", "from_address": "n@svc.example", "sender_domain": "svc.example",
            "trust": "verified", "trust_reason": "dmarc=pass", "subject": "code", "code": "739142",
            "codes": [{"code": "739142", "context": "Your code is 739142"}],
            "links": [{"url": "https://svc.example/v", "text": "Verify", "kind": "verify", "host": "svc.example",
                       "aligned": True}],
            "attachments": [{"index": 0, "filename": "a.pdf", "content_type": "application/pdf", "size": 3}]}})
        code, msg = self.client.wait_for_code(from_="svc.example", timeout=20)
        self.assertEqual(self.vault.requests[-1]["query"], {"from": "svc.example", "timeout": "20", "trust": "verified"})
        self.assertEqual((code, msg.verified, msg.links[0].aligned, msg.attachment_count), ("739142", True, True, 1))

    def test_send_and_list_messages_parameters(self) -> None:
        self.vault.routes[("POST", AGENT + "/send")] = (200, {"data": {"id": "1-ab", "status": "queued", "to": ["a@x"]}})
        self.vault.routes[("GET", AGENT + "/messages")] = (200, {"data": {"messages": [{"id": "1-x", "attachments": 2}]}})
        sent = self.client.send("a@x", "Hi", text="Hello", attachments=[mailgent.FileAttachment("a.txt", b"abc")])
        self.assertEqual(self.vault.requests[-1]["body"], {"to": ["a@x"], "subject": "Hi", "text": "Hello", "attachments": [
            {"filename": "a.txt", "content_type": "application/octet-stream", "content": "YWJj"}]})
        self.assertEqual((sent.id, sent.status, sent.final), ("1-ab", "queued", False))
        msgs = self.client.list_messages(from_="svc.example", unread_only=True, trust="unverified", limit=5)
        self.assertEqual(self.vault.requests[-1]["query"],
                         {"from": "svc.example", "unread": "true", "trust": "unverified", "limit": "5"})
        self.assertEqual((msgs[0].attachment_count, msgs[0].trust), (2, "unverified"))

    def test_totp_qr_fresh_and_backup_codes(self) -> None:
        self.vault.routes[("POST", AGENT + "/creds/site")] = (200, {"data": {"credential": "site", "version": 3, "totp_enabled": True}})
        self.vault.routes[("GET", AGENT + "/creds/site/totp")] = (200, {"data": {"code": "123456", "period": 30}})
        self.vault.routes[("POST", AGENT + "/creds/site/backup-code")] = (200, {"data": {"code": "1111-2222", "remaining": 4}})
        png = b"\x89PNG\r\n\x1a\n fake"
        with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as f:
            f.write(png)
        self.addCleanup(os.unlink, f.name)
        v = self.client.enroll_totp_qr("site", f.name, cas=2)
        self.assertEqual(self.vault.requests[-1]["body"], {"totp_qr": base64.b64encode(png).decode(), "cas": 2})
        self.assertEqual(v.version, 3)
        self.client.store_credential("site", backup_codes=["1111-2222", "3333-4444"])
        self.assertEqual(self.vault.requests[-1]["body"], {"backup_codes": ["1111-2222", "3333-4444"]})
        self.client.store_credential("site", backup_codes=[])
        self.assertEqual(self.vault.requests[-1]["body"], {"backup_codes": []})
        self.client.totp("site", fresh=True)
        self.assertEqual(self.vault.requests[-1]["query"], {"fresh": "true"})
        self.client.totp("site")
        self.assertEqual(self.vault.requests[-1]["query"], {})
        bc = self.client.backup_code("site")
        self.assertEqual((self.vault.requests[-1]["method"], bc.code, bc.remaining), ("POST", "1111-2222", 4))
        self.assertNotIn("1111-2222", repr(bc))
        self.vault.routes[("POST", AGENT + "/creds/site/backup-code")] = (409, {"errors": ['credential "site" has no unused backup code left']})
        with self.assertRaises(Conflict) as cm:
            self.client.backup_code("site")
        self.assertEqual(cm.exception.status, 409)
        n = len(self.vault.requests)
        for call in (lambda: self.client.store_credential("site", totp_qr=b"x" * (mailgent.MAX_QR_IMAGE_BYTES + 1)),
                     lambda: self.client.store_credential("site", backup_codes="one-string")):
            with self.assertRaises(ValueError):
                call()
        self.assertEqual(len(self.vault.requests), n, "refused before any request")

    def test_threads(self) -> None:
        thread = {"id": "0123456789abcdef01234567", "subject": "Budget", "participants": ["a@x", "bot@y"],
                  "message_count": 2, "unread": 1, "first_activity": "2026-11-26T10:00:00Z",
                  "last_activity": "2026-11-26T11:00:00Z", "inbox_ids": ["2-b"], "sent_ids": ["1-a"],
                  "messages": [{"kind": "sent", "id": "1-a", "at": "2026-11-26T10:00:00Z", "to": ["a@x"]},
                               {"kind": "inbox", "id": "2-b", "at": "2026-11-26T11:00:00Z", "from": "a@x", "unread": True}]}
        self.vault.routes[("GET", AGENT + "/threads")] = (200, {"data": {"threads": [thread], "next_cursor": "c-1"}})
        self.vault.routes[("GET", AGENT + "/threads/" + thread["id"])] = (200, {"data": thread})
        page = self.client.threads(limit=1, after="c-0")
        self.assertEqual(self.vault.requests[-1]["query"], {"limit": "1", "after": "c-0"})
        self.assertEqual((page.next_cursor, page.threads[0].subject, page.threads[0].sent_ids), ("c-1", "Budget", ["1-a"]))
        one = self.client.thread(thread["id"])
        self.assertEqual([(m.kind, m.from_, m.unread) for m in one.messages], [("sent", "", False), ("inbox", "a@x", True)])

    def test_bad_arguments_are_refused_before_any_request(self) -> None:
        cases: dict[str, Callable[[], object]] = {
            "name": lambda: self.client.get_credential("../x"),
            "id": lambda: self.client.read_message("a/b"),
            "timeout": lambda: self.client.wait_for_message(timeout=-1),
            "since": lambda: self.client.list_messages(since=datetime(2026, 1, 1)),
            "agent": lambda: Client(self.vault.addr, "t", agent=""),
            "vault_addr": lambda: Client("vault:8200", "t", agent="bot"),
        }
        for field, call in cases.items():
            with self.subTest(field):
                with self.assertRaisesRegex(ValueError, f"^{field}: "):
                    call()
        self.assertEqual(self.vault.requests, [])


if __name__ == "__main__":
    unittest.main()
