"""Haravan webhook signatures: base64 HMAC-SHA256 of the raw body, keyed with the app's client secret."""

import base64
import hashlib
import hmac


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def is_valid(body: bytes, secret: str, signature: str | None) -> bool:
    if not signature or not secret:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), signature.strip().encode())
