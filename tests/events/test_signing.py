"""Standard Webhooks signatures: the spec's published test vector, and what the hub sends
verifies with the `standardwebhooks` package an app would use."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from idhub.events.delivery import new_secret, signed_headers

# The spec's test vector (standard-webhooks/spec, "Verifying webhooks").
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
PAYLOAD = '{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_spec_test_vector():
    at = dt.datetime.fromtimestamp(TIMESTAMP, dt.UTC)
    headers = signed_headers(SECRET, MSG_ID, PAYLOAD, at)
    assert headers == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": SIGNATURE,
    }
    # The same by hand, from the spec's definition (no library).
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{MSG_ID}.{TIMESTAMP}.{PAYLOAD}".encode(), hashlib.sha256).digest()
    assert "v1," + base64.b64encode(mac).decode() == SIGNATURE


def test_an_event_verifies_and_a_tampered_one_does_not():
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    body = json.dumps({"id": "evt_1", "type": "joiner", "data": {"person": {"sub": "x"}}})
    headers = signed_headers(secret, "evt_1", body, dt.datetime.now(dt.UTC))
    assert Webhook(secret).verify(body, headers)["type"] == "joiner"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("joiner", "leaver"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    old = signed_headers(secret, "evt_1", body, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with pytest.raises(WebhookVerificationError):  # a replayed old message
        Webhook(secret).verify(body, old)
