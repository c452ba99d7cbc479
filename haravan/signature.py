"""Haravan webhook signatures: base64 HMAC-SHA256 of the raw body, keyed with the app's client secret (a
private app's webhooks: with the webhook secret from the shop's Settings → Notifications → Webhooks)."""

import base64
import hmac


def _digest(body: bytes, secret: str) -> bytes:
    return base64.b64encode(hmac.digest(secret.encode(), body, "sha256"))  # one-shot: no HMAC object


def sign(body: bytes, secret: str) -> str:
    return _digest(body, secret).decode()


def is_valid(body: bytes, secret: str, signature: str | None) -> bool:
    if not signature or not secret:
        return False
    return hmac.compare_digest(_digest(body, secret), signature.strip().encode())
