#!/usr/bin/env python3
"""A Mailgent agent in Python: sign up to a site with its own identity.

It logs in with AppRole (unwrapping its secret ID once), stores the site's
credential, prints the current TOTP code, waits for the verification code the
site mails to the agent's address — from a *verified* sender only — and
reports the login. Uses the Mailgent SDK (sdk/python: standard library only):
`pip install ./sdk/python`, or run with PYTHONPATH=sdk/python/src.

Environment (secrets come from here, never the command line, so they stay out
of ps and the shell history):
  VAULT_ADDR                  Vault's address, e.g. http://127.0.0.1:8200
  MAILGENT_MOUNT              the engine's mount (default: mailgent)
  MAILGENT_AGENT              the agent's name
  MAILGENT_ROLE_ID            its AppRole role ID          (mailgent onboard prints both)
  MAILGENT_WRAPPED_SECRET_ID  its wrapped secret ID: a wrapping token, unwrappable once
  MAILGENT_CRED_PASSWORD      the password to store (optional)
  MAILGENT_CRED_TOTP_SECRET   the base32 TOTP seed to store (optional, write-only)

Output is one "key: value" line per step.
"""

import argparse
import os
import sys

from mailgent import Client, Timeout


def say(key: str, value: object) -> None:
    print(f"{key}: {value}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cred", required=True, help="credential name, e.g. the site's host name")
    p.add_argument("--url", default=None, help="the site's login URL to store")
    p.add_argument("--wait-from", default=None, help="the site's mail domain, e.g. service.example.com")
    p.add_argument("--timeout", type=int, default=30, help="seconds to wait for the mail")
    args = p.parse_args()
    env = os.environ

    c = Client.login_approle(env["VAULT_ADDR"], env["MAILGENT_ROLE_ID"], agent=env["MAILGENT_AGENT"],
                             wrapped_secret_id=env["MAILGENT_WRAPPED_SECRET_ID"],
                             mount=env.get("MAILGENT_MOUNT", "mailgent"))
    me = c.agent_info()
    say("address", me.address)
    say("delegation_chain", " > ".join(me.delegation_chain))

    # Every write is a new, separately encrypted version; the seed is write-only.
    stored = c.store_credential(args.cred, username=me.address, url=args.url,
                                password=env.get("MAILGENT_CRED_PASSWORD") or None,
                                totp_secret=env.get("MAILGENT_CRED_TOTP_SECRET") or None)
    say("credential", f"{args.cred} version {stored.version} totp_enabled={str(stored.totp_enabled).lower()}")
    if stored.totp_enabled:
        totp = c.totp(args.cred, min_remaining=5)  # still valid for at least 5 seconds
        say("totp", f"{totp.code} valid_until={totp.valid_until:%Y-%m-%dT%H:%M:%SZ}")

    say("waiting", f"up to {args.timeout}s for mail to {me.address} from {args.wait_from or 'anyone'}")
    try:
        code, msg = c.wait_for_code(from_=args.wait_from, timeout=args.timeout)
    except Timeout as e:
        say("error", e)
        c.report_login(args.cred, False, "no verification mail")
        return 1
    say("mail", f"{msg.id} from {msg.from_address} ({msg.trust}): {msg.subject}")
    say("code", code or "(none found)")

    # Here the agent would type the code into the site. Then it says how it
    # went (never with a secret in the detail: the engine refuses that).
    report = c.report_login(args.cred, True, "verified with the emailed code")
    say("login", f"{report.outcome} event {report.event_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
