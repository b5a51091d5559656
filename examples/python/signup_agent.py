#!/usr/bin/env python3
"""A Mailgent agent in Python, with hvac: sign up to a site with its own identity.

It logs in with AppRole (unwrapping its secret ID once), stores the site's
credential, prints the current TOTP code, waits for the verification code the
site mails to the agent's address, and reports the login.

Environment:
  VAULT_ADDR                  Vault's address, e.g. http://127.0.0.1:8200
  MAILGENT_MOUNT              the engine's mount (default: mailgent)
  MAILGENT_AGENT              the agent's name
  MAILGENT_ROLE_ID            its AppRole role ID          (mailgent onboard prints both)
  MAILGENT_WRAPPED_SECRET_ID  its wrapped secret ID: a wrapping token, unwrappable once
  MAILGENT_APPROLE_MOUNT      the AppRole mount (default: approle)
  MAILGENT_CRED_PASSWORD      the password to store (optional)
  MAILGENT_CRED_TOTP_SECRET   the base32 TOTP seed to store (optional, write-only)

Usage:
  signup_agent.py --cred example.com [--username NAME] [--url URL]
                  [--wait-from service.example.com] [--wait-subject verification] [--timeout 30]

Secrets come from the environment, not the command line, so they stay out of
ps and the shell history. Needs hvac (Debian: python3-hvac; else pip install hvac).
Output is one "key: value" line per step.
"""

import argparse
import os
import sys

import hvac
import hvac.exceptions


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None or value == "":
        sys.exit("signup_agent: set %s" % name)
    return value


def say(key, value):
    print("%s: %s" % (key, value), flush=True)


def login(addr, role_id, wrapped_secret_id, approle_mount, timeout):
    """Unwrap the secret ID (once: a second unwrap fails) and log in with AppRole."""
    unwrapper = hvac.Client(url=addr, token=wrapped_secret_id, timeout=timeout)
    secret_id = unwrapper.sys.unwrap()["data"]["secret_id"]
    client = hvac.Client(url=addr, timeout=timeout)
    client.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=approle_mount)
    return client


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cred", required=True, help="credential name, e.g. the site's host name")
    p.add_argument("--username", default="", help="login name to store (default: the agent's address)")
    p.add_argument("--url", default="", help="the site's login URL to store")
    p.add_argument("--wait-from", default="", help="wait for mail whose sender contains this")
    p.add_argument("--wait-subject", default="", help="... and whose subject contains this")
    p.add_argument("--timeout", type=int, default=30, help="seconds to wait for the mail (at most the mount's max_wait_timeout)")
    args = p.parse_args()

    addr = env("VAULT_ADDR")
    mount = env("MAILGENT_MOUNT", "mailgent").strip("/")
    agent = env("MAILGENT_AGENT")
    # The wait holds the request open: give the HTTP client more than that.
    client = login(addr, env("MAILGENT_ROLE_ID"), env("MAILGENT_WRAPPED_SECRET_ID"),
                   env("MAILGENT_APPROLE_MOUNT", "approle"), timeout=args.timeout + 30)
    base = "/v1/%s/agents/%s" % (mount, agent)
    cred = "%s/creds/%s" % (base, args.cred)

    me = client.adapter.get(base)["data"]
    say("address", me["address"])
    say("delegation_chain", " > ".join(me["delegation_chain"]))

    # Store the credential: every write is a new, separately encrypted version.
    body = {"username": args.username or me["address"]}
    if args.url:
        body["url"] = args.url
    if os.environ.get("MAILGENT_CRED_PASSWORD"):
        body["password"] = os.environ["MAILGENT_CRED_PASSWORD"]
    if os.environ.get("MAILGENT_CRED_TOTP_SECRET"):
        body["totp_secret"] = os.environ["MAILGENT_CRED_TOTP_SECRET"]
    stored = client.adapter.post(cred, json=body)["data"]
    say("credential", "%s version %d totp_enabled=%s" % (args.cred, stored["version"], str(stored["totp_enabled"]).lower()))

    # A TOTP code that stays valid for at least 5 more seconds.
    if stored["totp_enabled"]:
        totp = client.adapter.get(cred + "/totp", params={"min_remaining": 5})["data"]
        say("totp", "%s valid_until=%s" % (totp["code"], totp["valid_until"]))

    # Wait for the site's mail; the wait also counts mail that came in the last minute.
    params = {"timeout": args.timeout}
    if args.wait_from:
        params["from"] = args.wait_from
    if args.wait_subject:
        params["subject"] = args.wait_subject
    say("waiting", "up to %ds for mail to %s from %s" % (args.timeout, me["address"], args.wait_from or "anyone"))
    try:
        msg = client.adapter.get(base + "/messages/wait", params=params)["data"]
    except hvac.exceptions.VaultError as e:  # a 408 when nothing came in time
        say("error", str(e).strip())
        client.adapter.post(cred + "/login", json={"outcome": "failure", "detail": "no verification mail"})
        return 1
    say("mail", "%s from %s: %s" % (msg["id"], msg["from_address"], msg["subject"]))
    say("code", msg["code"] or "(none found)")

    # Here the agent would type the code into the site. Then it says how it went
    # (never with a secret in the detail: the engine refuses that).
    report = client.adapter.post(cred + "/login", json={"outcome": "success", "detail": "verified with the emailed code"})["data"]
    say("login", "%s event %s" % (report["outcome"], report["event_id"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
