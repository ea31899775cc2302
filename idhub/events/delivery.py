"""Standard Webhooks: the secret, the signature and one POST.

Signed content `"{webhook-id}.{webhook-timestamp}.{body}"`, HMAC-SHA256 with the secret's
bytes (base64 after the `whsec_` prefix), sent as `webhook-signature: v1,<base64>`; the
`standardwebhooks` package signs (and the example apps verify with it). The timestamp is
the time of the attempt, so a retry is signed afresh; the id stays the event's.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from standardwebhooks.webhooks import Webhook

from idhub.engine.reach import answers


def new_secret() -> str:
    """A fresh per-app secret, `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secret: str, event_id: str, body: str, at: dt.datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed at `at` (UTC)."""
    at = at.astimezone(dt.UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
    }


@dataclass(frozen=True)
class Outcome:
    """None-free result of one POST: `error` is None when the app answered 2xx;
    `reachable` is False when it did not answer at all (connection refused, timeout)."""

    error: str | None
    reachable: bool = True


def post_event(
    url: str, secret: str, event_id: str, body: str, timeout_s: float, now: dt.datetime
) -> Outcome:
    headers = signed_headers(secret, event_id, body, now)
    headers["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 - the URL an admin registered for the app
        url, data=body.encode(), method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            if 200 <= response.status < 300:
                return Outcome(None)
            return Outcome(f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        return Outcome(f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Outcome(f"{type(exc).__name__}: {exc}"[:500], reachable=False)


__all__ = ["Outcome", "answers", "new_secret", "post_event", "signed_headers"]
