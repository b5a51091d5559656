"""An agent's whole story with the Python SDK, against a real stack.

integration/sdk_test.go runs it (and its TypeScript twin, test/story.ts of
sdk/typescript) after onboarding an agent: it reads the "key: value" lines
this prints, mails the verification code (and two forgeries) when it sees
"waiting", revokes the agent when it sees "revoke", then writes a line to
stdin. What needs no outside knowledge is checked here; the rest (the TOTP
code against RFC 6238, what Vault stored) is checked by the Go test.

Environment: VAULT_ADDR, MAILGENT_AGENT, MAILGENT_ROLE_ID,
MAILGENT_WRAPPED_SECRET_ID, MAILGENT_CRED_PASSWORD, MAILGENT_TOTP_SECRET,
MAILGENT_WAIT_FROM, MAILGENT_SEND_TO, MAILGENT_QR_IMAGE. Secrets are never
printed (TOTP codes are: the Go test checks them).
"""

from __future__ import annotations

import dataclasses
import os
import sys

import mailgent
from mailgent import Client, Conflict, Gone, InvalidRequest, MailgentError, NotFound, Timeout

CRED = "site.example.com"
QR_CRED = "qr.example.com"
FAST_CRED = "fast.example.com"
BACKUP_CODES = ["bk-1111-2222", "bk-3333-4444"]


def say(key: str, value: object) -> None:
    print(f"{key}: {value}", flush=True)


def check(ok: bool, what: str) -> None:
    if not ok:
        sys.exit(f"story: {what}")


def expect_error(cls: type[MailgentError], call: object) -> MailgentError:
    try:
        call()  # type: ignore[operator]
    except MailgentError as e:
        check(type(e) is cls, f"expected {cls.__name__}, got {type(e).__name__}: {e}")
        return e
    sys.exit(f"story: expected {cls.__name__}, the call succeeded")


def credentials(c: Client, password: str, seed: str, address: str) -> None:
    v1 = c.store_credential(CRED, username=address, password=password, url=f"https://{CRED}/login",
                            fields={"api_key": "ak-" + password}, totp_secret=seed)
    say("stored", f"{v1.version} totp_enabled={str(v1.totp_enabled).lower()}")
    # Merge: only the password changes; the seed, fields and URL are kept.
    v2 = c.store_credential(CRED, password=password + "-2", cas=1)
    say("updated", v2.version)
    e = expect_error(InvalidRequest, lambda: c.store_credential(CRED, password="x", cas=1))
    say("cas_error", f"{e.status} {e.message}")

    cred = c.get_credential(CRED)
    check(cred.password == password + "-2" and cred.fields == {"api_key": "ak-" + password}, "merged credential")
    check(c.get_credential(CRED, version=1).password == password, "version 1 kept")
    names = [f.name for f in dataclasses.fields(cred)] + [f.name for f in dataclasses.fields(cred.totp)]
    check(not [n for n in names if "secret" in n or "seed" in n], f"a seed field: {names}")
    check(seed not in repr(cred) and password not in repr(cred), "a secret in repr")
    say("credential", f"version={cred.version} versions={','.join(map(str, cred.versions))} "
                      f"username={cred.username} url={cred.url} "
                      f"totp={cred.totp.algorithm}/{cred.totp.digits}/{cred.totp.period} fields={','.join(cred.fields)}")
    say("credentials", ",".join(c.list_credentials()))
    code = c.totp(CRED)
    check(code.valid_until is not None, "totp valid_until")
    assert code.valid_until is not None
    say("totp", f"{code.code} valid_until={code.valid_until.isoformat().replace('+00:00', 'Z')}")


def toolkit(c: Client, seed: str, qr_image: str) -> None:
    """TOTP from a QR image, fresh codes, recovery codes."""
    v = c.enroll_totp_qr(QR_CRED, qr_image)
    qr = c.get_credential(QR_CRED)
    say("qr_enrolled", f"{v.version} totp_enabled={str(v.totp_enabled).lower()} issuer={qr.totp.issuer}")
    e = expect_error(InvalidRequest, lambda: c.enroll_totp_qr(QR_CRED, b"not an image"))
    say("qr_error", f"{e.status} {e.message}")
    c.store_credential(FAST_CRED, totp_secret=seed, totp_period=1)
    plain = c.totp(FAST_CRED)
    say("fresh", f"{plain.code} valid_until={_stamp(plain)}")
    for _ in range(2):
        fresh = c.totp(FAST_CRED, fresh=True)
        say("fresh", f"{fresh.code} valid_until={_stamp(fresh)}")
    c.store_credential(CRED, backup_codes=BACKUP_CODES)
    say("backup_remaining", c.get_credential(CRED).backup_codes_remaining)
    for _ in BACKUP_CODES:
        bc = c.backup_code(CRED)
        say("backup_code", f"{bc.code} remaining={bc.remaining}")
    e = expect_error(Conflict, lambda: c.backup_code(CRED))
    say("backup_error", f"{e.status} {e.message}")


def _stamp(code: mailgent.TOTPCode) -> str:
    assert code.valid_until is not None
    return code.valid_until.isoformat().replace("+00:00", "Z")


def thread(c: Client, sent_id: str) -> None:
    """The verification mail and the reply the agent sent to it: one thread."""
    page = c.threads()
    found = [t for t in page.threads if sent_id in t.sent_ids]
    check(len(found) == 1, f"one thread holds the sent reply: {page.threads}")
    one = c.thread(found[0].id)
    say("thread", f"messages={one.message_count} kinds={','.join(m.kind for m in one.messages)} "
                  f"sent_to={','.join(one.messages[-1].to)}")


def inbox(c: Client, wait_from: str) -> str:
    say("waiting", f"up to 30s for verified mail from {wait_from}")
    code, msg = c.wait_for_code(from_=wait_from, timeout=30)
    say("code", code)
    say("mail", f"trust={msg.trust} sender_domain={msg.sender_domain} unread={str(msg.unread).lower()}")
    for link in msg.links:
        say("link", f"kind={link.kind} host={link.host} aligned={str(link.aligned).lower()}")
    for m in c.list_messages():
        say("listed", f"{m.code} trust={m.trust} sender_domain={m.sender_domain} reason={m.trust_reason}")
    forged = c.list_messages(trust=mailgent.TRUST_UNVERIFIED)
    check(all(not m.verified for m in forged) and msg.id not in [m.id for m in forged], "trust filter")
    e = expect_error(Timeout, lambda: c.wait_for_message(from_="nobody.example", timeout=1))
    say("error_timeout", f"{e.status} {e.message}")
    return msg.id


def outbound(c: Client, to: str, reply_to_id: str) -> str:
    queued = c.send(to, "Hello from the SDK", text="Sent with the Mailgent SDK.", in_reply_to=reply_to_id,
                    attachments=[mailgent.FileAttachment("note.txt", b"hello\n", "text/plain")])
    say("sent_queued", f"{queued.status} attachments={queued.attachment_count}")
    done = c.wait_for_delivery(queued.id, timeout=45)
    say("sent", f"{done.status} subject={done.subject}")
    say("sent_listed", str(queued.id in [s.id for s in c.list_sent()]).lower())
    return queued.id


def main() -> int:
    env = os.environ
    agent = env["MAILGENT_AGENT"]
    c = Client.login_approle(env["VAULT_ADDR"], env["MAILGENT_ROLE_ID"],
                             wrapped_secret_id=env["MAILGENT_WRAPPED_SECRET_ID"], agent=agent)
    check(env["MAILGENT_WRAPPED_SECRET_ID"] not in repr(c), "a token in repr")
    info = c.agent_info()
    say("address", info.address)
    say("delegation_chain", " > ".join(info.delegation_chain))

    credentials(c, env["MAILGENT_CRED_PASSWORD"], env["MAILGENT_TOTP_SECRET"], info.address)
    toolkit(c, env["MAILGENT_TOTP_SECRET"], env["MAILGENT_QR_IMAGE"])
    msg_id = inbox(c, env["MAILGENT_WAIT_FROM"])
    thread(c, outbound(c, env["MAILGENT_SEND_TO"], msg_id))
    report = c.report_login(CRED, True, "verified with the emailed code")
    say("login_report", f"{report.outcome} {report.event_id}")

    e = expect_error(NotFound, lambda: c.get_credential("missing.example"))
    say("error_missing", f"{e.status} {e.message}")
    say("revoke", "ready")
    sys.stdin.readline()
    e = expect_error(Gone, lambda: c.totp(CRED))
    say("error_revoked", f"{e.status} {e.message}")
    say("done", "ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
