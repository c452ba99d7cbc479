import json

from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from connectors.models import TargetAccount
from tests import factories


def raw_credentials(account_id) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT credentials FROM connectors_targetaccount WHERE id = %s", [account_id])
        return cur.fetchone()[0]


def test_credentials_are_ciphertext_in_the_database(db):
    t = factories.tenant()
    conn = factories.connection(t, factories.shop(t))
    account = conn.accounts.get()
    raw = raw_credentials(account.pk)
    assert "secret-pw" not in raw and "password" not in raw
    assert TargetAccount.objects.get(pk=account.pk).credentials["password"] == "secret-pw"


def test_keys_rotate_without_losing_credentials(db, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    t = factories.tenant()
    account = factories.connection(t, factories.shop(t)).accounts.get()
    before = raw_credentials(account.pk)
    assert json.loads(Fernet(old).decrypt(before.encode()))["password"] == "secret-pw"

    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # new key first: encrypts; old still decrypts
    assert TargetAccount.objects.get(pk=account.pk).credentials["password"] == "secret-pw"
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    after = raw_credentials(account.pk)
    assert json.loads(Fernet(new).decrypt(after.encode()))["password"] == "secret-pw"

    settings.FIELD_ENCRYPTION_KEYS = [new]  # old key retired
    assert TargetAccount.objects.get(pk=account.pk).credentials["password"] == "secret-pw"


def test_credentials_never_appear_in_str_or_tag(db):
    t = factories.tenant()
    account = factories.connection(t, factories.shop(t)).accounts.get()
    assert "secret-pw" not in str(account) and account.tag == "[MST 0101243150]"
    assert account.credential_keys() == ["app_id", "password", "tax_code", "username"]
