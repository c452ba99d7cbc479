"""Running `manage.py check --deploy` in a controlled environment, and realistic production values."""

import os
import secrets
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.support.services import REPO


def fernet_key() -> str:
    return Fernet.generate_key().decode()


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "FIELD_ENCRYPTION_KEYS": f"{fernet_key()},{fernet_key()}",
    "PUBLIC_BASE_URL": "https://hoadon.shop-example.vn",
    "ALLOWED_HOSTS": "hoadon.shop-example.vn",
    "DATABASE_URL": "postgres://ledgerlink:pw@postgres:5432/ledgerlink",  # never connected to by check
    "CELERY_BROKER_URL": "redis://redis:6379/0",
    "HARAVAN_CLIENT_ID": "4c1f0d2a9b7e",
    "HARAVAN_CLIENT_SECRET": secrets.token_hex(32),
    "HARAVAN_VERIFY_TOKEN": secrets.token_urlsafe(24),
    "HARAVAN_API_URL": "https://apis.haravan.com",
    "HARAVAN_ACCOUNTS_URL": "https://accounts.haravan.com",
    "HARAVAN_WEBHOOK_API_URL": "https://webhook.haravan.com",
    "MEINVOICE_API_URL": "https://api.meinvoice.vn/api/integration",
    "MEINVOICE_LOOKUP_URL": "https://www.meinvoice.vn/tra-cuu/?sc={code}",
    "AMIS_API_URL": "https://actapp.misa.vn",
    "AMIS_APP_ID": "4f7c2b9e-0d1a-4e63-9a8b-5c2d7e1f3a90",
    "MAVENTA_API_URL": "https://ax.maventa.com",
    "SEVERA_API_URL": "https://api.severa.visma.com/rest-api",
    "MAVENTA_VENDOR_API_KEY": "9b2e4c1a-7d3f-4e8b-a6c5-0f1e2d3c4b5a",
    "EMAIL_URL": "smtp+tls://alerts:pw@smtp.shop-example.vn:587",
}


def check_deploy(tmp_path, settings_module="config.settings", **env) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` with nothing in its environment but `env` (and what runs Python)."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env = {**base, "VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": settings_module, **env}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
