"""`manage.py check --deploy` refuses what only the demo may use, and passes on real production values."""

import os
import secrets
import subprocess
import sys

import pytest
from django.core.checks import ERROR, WARNING

from connectors.checks import check_urls, is_local_host
from tests.support.deploy import PRODUCTION, check_deploy, fernet_key
from tests.support.services import REPO


def test_with_nothing_set_production_refuses_every_demo_default(tmp_path):
    result = check_deploy(tmp_path, DEBUG="0")
    assert result.returncode != 0
    out = result.stderr
    for expected in [
        "(connectors.E001) SECRET_KEY is the demo key",
        "HINT: Set the environment variable SECRET_KEY to a long random value",
        "(connectors.E002) FIELD_ENCRYPTION_KEYS is not set",
        "HINT: Set the environment variable FIELD_ENCRYPTION_KEYS to one or more comma-separated Fernet keys",
        "(connectors.E101) PUBLIC_BASE_URL is not set.",
        "(haravan.E001) HARAVAN_CLIENT_SECRET is the demo's value.",
        "HINT: Set the environment variable HARAVAN_CLIENT_SECRET to your Haravan app's client secret",
        "(haravan.E002) HARAVAN_CLIENT_ID is the demo's value.",
        "(haravan.E003) HARAVAN_VERIFY_TOKEN is the demo's value.",
        "(haravan.E101) HARAVAN_API_URL is not set.",
        "HINT: Set the environment variable HARAVAN_API_URL to its production address, e.g. https://apis.haravan.com",
        "(haravan.E101) HARAVAN_ACCOUNTS_URL is not set.",
        "(haravan.E101) HARAVAN_WEBHOOK_API_URL is not set.",
        "(meinvoice.E101) MEINVOICE_API_URL is not set.",
        "e.g. https://api.meinvoice.vn/api/integration",
    ]:
        assert expected in out, f"{expected!r} missing from:\n{out}"
    assert "connectors.E004" not in out  # production settings: no simulators installed


def test_real_production_values_pass(tmp_path):
    result = check_deploy(tmp_path, **PRODUCTION, SECURE_HSTS_PRELOAD="1")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stdout + result.stderr
    # Without opting in to the browsers' HSTS preload list, Django's advice remains a warning, nothing more.
    result = check_deploy(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "ERRORS" not in result.stderr + result.stdout
    assert "security.W021" in result.stderr + result.stdout


def test_the_simulators_addresses_are_refused_even_with_real_secrets(tmp_path):
    demo_urls = {
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "HARAVAN_API_URL": "http://127.0.0.1:8100/haravan",
        "HARAVAN_ACCOUNTS_URL": "http://localhost:8100/haravan/accounts",
        "HARAVAN_WEBHOOK_API_URL": "https://sim.shop-example.vn/haravan/webhook",  # the simulator, deployed
        "MEINVOICE_API_URL": "http://api.meinvoice.vn/api/integration",  # right host, plain HTTP
    }
    result = check_deploy(tmp_path, **{**PRODUCTION, **demo_urls})
    assert result.returncode != 0
    out = result.stderr
    assert "(connectors.E102) PUBLIC_BASE_URL points at this machine (127.0.0.1)" in out
    assert "(haravan.E102) HARAVAN_API_URL points at this machine (127.0.0.1)" in out
    assert "(haravan.E102) HARAVAN_ACCOUNTS_URL points at this machine (localhost)" in out
    assert "(haravan.E103) HARAVAN_WEBHOOK_API_URL has the simulator's path (/haravan/webhook)" in out
    assert "(meinvoice.W101) MEINVOICE_API_URL is not https" in out
    assert "meinvoice.E1" not in out  # a warning only
    assert "connectors.E001" not in out and "haravan.E001" not in out  # the secrets are real


def test_the_demo_settings_are_refused(tmp_path):
    result = check_deploy(tmp_path, "config.demo_settings", **PRODUCTION)
    assert result.returncode != 0
    assert "(connectors.E004) The simulators (the sandbox app) are installed" in result.stderr
    assert "DJANGO_SETTINGS_MODULE=config.settings" in result.stderr


def test_a_key_that_is_not_a_fernet_key_is_refused_without_showing_it(tmp_path):
    bad = "not-a-fernet-key-" + secrets.token_hex(4)
    result = check_deploy(tmp_path, **{**PRODUCTION, "FIELD_ENCRYPTION_KEYS": f"{fernet_key()},{bad}"})
    assert result.returncode != 0
    assert "(connectors.E003) FIELD_ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key" in result.stderr
    assert bad not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", ("E101", ERROR)),
        ("   ", ("E101", ERROR)),
        ("apis.example.com", ("E104", ERROR)),
        ("ftp://files.example.com/", ("E104", ERROR)),
        ("http://127.0.0.1:8100/svc", ("E102", ERROR)),
        ("http://127.1.2.3/", ("E102", ERROR)),
        ("https://localhost/", ("E102", ERROR)),
        ("https://api.localhost/", ("E102", ERROR)),
        ("http://[::1]:8100/", ("E102", ERROR)),
        ("http://0.0.0.0:8100/", ("E102", ERROR)),
        ("https://sim.example.com/svc", ("E103", ERROR)),
        ("https://sim.example.com/svc/api/x", ("E103", ERROR)),
        ("http://api.example.com/v1", ("W101", WARNING)),
        ("https://api.example.com/v1", None),
        ("https://api.example.com/service", None),  # /svc is a prefix of the path's first segment only
        ("https://10.0.0.5/v1", None),  # a private network is somewhere else, not this machine
    ],
)
def test_check_urls(settings, value, expected):
    settings.EXAMPLE_URL = value
    messages = check_urls(
        {"EXAMPLE_URL": "https://api.example.com/v1"}, app="example", simulator_paths=("/svc",)
    )
    if expected is None:
        assert messages == []
        return
    (message,) = messages
    assert (message.id, message.level) == (f"example.{expected[0]}", expected[1])
    assert message.msg.startswith("EXAMPLE_URL ")
    assert (
        message.hint
        == "Set the environment variable EXAMPLE_URL to its production address, e.g. https://api.example.com/v1"
    )


def test_local_hosts():
    assert all(is_local_host(h) for h in ["localhost", "LOCALHOST.", "127.0.0.1", "::1", "[::1]", "0.0.0.0"])  # noqa: S104
    assert not any(is_local_host(h) for h in ["apis.haravan.com", "10.1.2.3", "localhost.example.com", ""])


def test_the_generic_checks_name_no_provider():
    source = (REPO / "connectors" / "checks.py").read_text().lower()
    assert "haravan" not in source and "meinvoice" not in source


def test_https_settings_follow_the_public_address(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )

    def read(module, **env):
        base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
        env = {**base, "VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": module, **env}
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    on = "True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') True True"
    assert read("config.settings", PUBLIC_BASE_URL="https://hoadon.shop-example.vn") == on
    assert read("config.demo_settings") == "False 0 None False False"  # the demo is plain HTTP on 127.0.0.1
    assert (
        read(
            "config.settings",
            PUBLIC_BASE_URL="https://hoadon.shop-example.vn",
            SECURE_HSTS_SECONDS="3600",
            SECURE_PROXY_SSL_HEADER="X-Scheme",
            SECURE_SSL_REDIRECT="0",
        )
        == "False 3600 ('HTTP_X_SCHEME', 'https') True True"
    )
