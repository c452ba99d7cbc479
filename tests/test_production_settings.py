"""Production settings know no simulator; the demo settings (and so the tests) add them back."""

import json
import os
import subprocess
import sys

from django.conf import settings
from django.core.management import get_commands

from sandbox.maventa import DEMO_VENDOR_API_KEY
from tests.support.services import REPO

SERVICE_URLS = (
    "HARAVAN_API_URL",
    "HARAVAN_ACCOUNTS_URL",
    "HARAVAN_WEBHOOK_API_URL",
    "MEINVOICE_API_URL",
    "AMIS_API_URL",
    "MAVENTA_API_URL",
)
READ = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "apps": s.INSTALLED_APPS,
    "urls": {n: getattr(s, n) for n in URLS},
    "public": s.PUBLIC_BASE_URL,
    "sandbox_webhook": getattr(s, "SANDBOX_WEBHOOK_URL", None),
    "amis_app_id": s.AMIS_APP_ID,
    "maventa_vendor_api_key": s.MAVENTA_VENDOR_API_KEY,
}))
""".replace("URLS", repr(SERVICE_URLS))


def clean_env(tmp_path, **extra) -> dict:
    """This process's environment without anything the settings read (a machine with nothing set)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "TMPDIR")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, "VAR_DIR": str(tmp_path), **extra}


def read_settings(module: str, tmp_path, **extra) -> dict:
    env = clean_env(tmp_path, DJANGO_SETTINGS_MODULE=module, **extra)
    out = subprocess.run([sys.executable, "-c", READ], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_production_settings_have_no_simulator(tmp_path):
    prod = read_settings("config.settings", tmp_path)
    assert "sandbox" not in prod["apps"]
    assert prod["urls"] == dict.fromkeys(SERVICE_URLS, "")
    assert prod["public"] == ""
    assert prod["sandbox_webhook"] is None
    assert prod["amis_app_id"] == ""
    assert prod["maventa_vendor_api_key"] == ""


def test_production_settings_take_the_addresses_from_the_environment(tmp_path):
    given = {
        "HARAVAN_API_URL": "https://apis.haravan.com/",
        "HARAVAN_ACCOUNTS_URL": "https://accounts.haravan.com",
        "HARAVAN_WEBHOOK_API_URL": "https://webhook.haravan.com",
        "MEINVOICE_API_URL": "https://api.meinvoice.vn/api/integration",
        "AMIS_API_URL": "https://actapp.misa.vn",
        "MAVENTA_API_URL": "https://ax.maventa.com",
    }
    prod = read_settings("config.settings", tmp_path, **given, AMIS_APP_ID="issued-by-misa")
    assert prod["amis_app_id"] == "issued-by-misa"
    assert prod["urls"] == {**given, "HARAVAN_API_URL": "https://apis.haravan.com"}  # no trailing slash


def test_demo_settings_default_to_the_simulators_and_install_them(tmp_path):
    demo = read_settings("config.demo_settings", tmp_path)
    assert demo["apps"][-1] == "sandbox"
    assert demo["urls"] == {
        "HARAVAN_API_URL": "http://127.0.0.1:8100/haravan",
        "HARAVAN_ACCOUNTS_URL": "http://127.0.0.1:8100/haravan/accounts",
        "HARAVAN_WEBHOOK_API_URL": "http://127.0.0.1:8100/haravan/webhook",
        "MEINVOICE_API_URL": "http://127.0.0.1:8100/meinvoice/api/integration",
        "AMIS_API_URL": "http://127.0.0.1:8100/amis",
        "MAVENTA_API_URL": "http://127.0.0.1:8100/maventa",
    }
    assert demo["amis_app_id"] == "demo-amis-app"
    assert demo["maventa_vendor_api_key"] == DEMO_VENDOR_API_KEY  # the Maventa simulator knows us by it
    assert demo["public"] == "http://127.0.0.1:8000"
    assert demo["sandbox_webhook"] == "http://127.0.0.1:8000/webhooks/haravan/"
    moved = read_settings("config.demo_settings", tmp_path, MEINVOICE_API_URL="http://127.0.0.1:8110/mi")
    assert moved["urls"]["MEINVOICE_API_URL"] == "http://127.0.0.1:8110/mi"  # the environment still wins


def test_the_tests_run_on_the_demo_settings():
    assert "sandbox" in settings.INSTALLED_APPS
    assert settings.MEINVOICE_API_URL  # a simulator's address, never empty here


def test_the_demo_command_belongs_to_the_simulators_and_is_absent_in_production(tmp_path):
    assert get_commands()["demo"] == "sandbox"
    env = clean_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings")
    out = subprocess.run(
        [sys.executable, "manage.py", "demo", "--seed-only"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "Unknown command: 'demo'" in out.stderr


def test_every_process_the_demo_starts_runs_on_its_settings(monkeypatch):
    from sandbox.management.commands.demo import child_env

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "config.settings")  # say a shell exported production's
    for name in ("MEINVOICE_API_URL", "SEVERA_API_URL", "MAVENTA_API_URL", "MAVENTA_VENDOR_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    env = child_env("127.0.0.1", 8010, 8110)
    assert env["DJANGO_SETTINGS_MODULE"] == settings.SETTINGS_MODULE == "tests.settings"
    assert env["MEINVOICE_API_URL"] == "http://127.0.0.1:8110/meinvoice/api/integration"
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8010"
    assert env["SEVERA_API_URL"] == "http://127.0.0.1:8110/severa/rest-api"
    assert env["MAVENTA_API_URL"] == "http://127.0.0.1:8110/maventa"
    assert env["MAVENTA_VENDOR_API_KEY"] == DEMO_VENDOR_API_KEY
