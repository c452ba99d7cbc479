"""Credential encryption at rest: MultiFernet, first key encrypts, every key decrypts (rotation)."""

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class CredentialDecryptError(Exception):
    """The stored value was encrypted with a key that is no longer configured."""


def _derived_demo_key() -> bytes:
    # Only when FIELD_ENCRYPTION_KEYS is unset (demo and tests): a key bound to SECRET_KEY.
    digest = hashlib.sha256(("field-encryption:" + settings.SECRET_KEY).encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def fernet() -> MultiFernet:
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS) or (_derived_demo_key().decode(),)
    return _fernet_for(keys)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialDecryptError(
            "Stored credentials cannot be decrypted with the configured FIELD_ENCRYPTION_KEYS "
            "(was a key removed before `manage.py rotate_encryption_keys` ran?)"
        ) from exc


class EncryptedJSONField(models.TextField):
    """A dict stored as one Fernet token. Reading gives the dict back; the column never holds plaintext."""

    description = "Encrypted JSON"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value):
        if isinstance(value, dict) or value is None:
            return value or {}
        return json.loads(decrypt(value))

    def get_prep_value(self, value):
        if value is None:
            value = {}
        return encrypt(json.dumps(value, sort_keys=True))
