"""mailgent.webhooks against the Standard Webhooks specification's published test vector."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unittest
from datetime import datetime, timezone

from mailgent.webhooks import TOLERANCE_SECONDS, WebhookVerificationError, sign, verify

# The vector of the reference implementation's test suite
# (standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py: test_sign_function).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = '{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(sig: str = SIGNATURE, ts: str = str(TIMESTAMP), msg_id: str = MSG_ID) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig}


class SpecVectorTest(unittest.TestCase):
    def test_sign_reproduces_the_vector(self) -> None:
        self.assertEqual(sign(SECRET, MSG_ID, TIMESTAMP, BODY), SIGNATURE)

    def test_vector_verifies_at_its_time(self) -> None:
        verify(SECRET, headers(), BODY.encode(), now=TIMESTAMP)
        verify(SECRET, headers(), BODY, now=datetime.fromtimestamp(TIMESTAMP, timezone.utc))

    def test_independent_hmac(self) -> None:
        # The same signature computed without the module, as the spec describes it.
        key = base64.b64decode(SECRET.removeprefix("whsec_"))
        mac = hmac.new(key, f"{MSG_ID}.{TIMESTAMP}.{BODY}".encode(), hashlib.sha256).digest()
        self.assertEqual("v1," + base64.b64encode(mac).decode(), SIGNATURE)


class VerifyTest(unittest.TestCase):
    def test_accepted(self) -> None:
        other = "v1," + base64.b64encode(b"x" * 32).decode()
        cases = {
            "secret without prefix": (SECRET.removeprefix("whsec_"), headers(), BODY, TIMESTAMP),
            "one of several signatures": (SECRET, headers(f"{other} v2,abc {SIGNATURE}"), BODY, TIMESTAMP),
            "header names in any case": (SECRET, {k.title(): v for k, v in headers().items()}, BODY, TIMESTAMP),
            "timestamp exactly 5 minutes old": (SECRET, headers(), BODY, TIMESTAMP + TOLERANCE_SECONDS),
            "timestamp exactly 5 minutes ahead": (SECRET, headers(), BODY, TIMESTAMP - TOLERANCE_SECONDS),
        }
        for name, (secret, hdrs, body, now) in cases.items():
            with self.subTest(name):
                verify(secret, hdrs, body, now=now)

    def test_refused(self) -> None:
        wrong = "whsec_" + base64.b64encode(b"another secret of the endpoint").decode()
        cases = {
            "tampered body": (SECRET, headers(), '{"test": 2432232315}', TIMESTAMP, "no valid v1 signature"),
            "wrong secret": (wrong, headers(), BODY, TIMESTAMP, "no valid v1 signature"),
            "other message id": (SECRET, headers(msg_id="msg_other"), BODY, TIMESTAMP, "no valid v1 signature"),
            "signature for another time": (SECRET, headers(ts=str(TIMESTAMP + 1)), BODY, TIMESTAMP, "no valid v1 signature"),
            "only a v2 entry": (SECRET, headers(SIGNATURE.replace("v1,", "v2,")), BODY, TIMESTAMP, "no valid v1 signature"),
            "signature not base64": (SECRET, headers("v1,???"), BODY, TIMESTAMP, "no valid v1 signature"),
            "too old": (SECRET, headers(), BODY, TIMESTAMP + TOLERANCE_SECONDS + 1, "too old"),
            "too new": (SECRET, headers(), BODY, TIMESTAMP - TOLERANCE_SECONDS - 1, "future"),
            "timestamp not a number": (SECRET, headers(ts="hello"), BODY, TIMESTAMP, "webhook-timestamp"),
            "timestamp negative": (SECRET, headers(ts="-5"), BODY, TIMESTAMP, "webhook-timestamp"),
            "no id": (SECRET, {k: v for k, v in headers().items() if k != "webhook-id"}, BODY, TIMESTAMP, "webhook-id"),
            "no timestamp": (SECRET, {k: v for k, v in headers().items() if k != "webhook-timestamp"}, BODY, TIMESTAMP,
                             "webhook-timestamp"),
            "no signature": (SECRET, {k: v for k, v in headers().items() if k != "webhook-signature"}, BODY, TIMESTAMP,
                             "webhook-signature"),
        }
        for name, (secret, hdrs, body, now, why) in cases.items():
            with self.subTest(name):
                with self.assertRaises(WebhookVerificationError) as cm:
                    verify(secret, hdrs, body, now=now)
                self.assertIn(why, str(cm.exception))

    def test_malformed_secret_is_a_value_error_that_hides_it(self) -> None:
        for secret in ("whsec_not base64!", "whsec_", ""):
            with self.subTest(secret=secret):
                with self.assertRaises(ValueError) as cm:
                    verify(secret, headers(), BODY, now=TIMESTAMP)
                self.assertIn("secret:", str(cm.exception))
                if secret.removeprefix("whsec_"):
                    self.assertNotIn(secret.removeprefix("whsec_"), str(cm.exception))

    def test_default_clock(self) -> None:
        with self.assertRaisesRegex(WebhookVerificationError, "too old"):
            verify(SECRET, headers(), BODY)  # the vector is from 2021


if __name__ == "__main__":
    unittest.main()
