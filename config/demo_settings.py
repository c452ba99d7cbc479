"""The embedded demo's settings (and the tests' base): the production settings plus the simulators.

`make demo`, `make seed` and `make migrate` run with DJANGO_SETTINGS_MODULE=config.demo_settings, and every
process the demo starts (gunicorn, the Celery worker and beat, runsandbox) inherits it. Here, and only
here, the outside services default to the simulators on 127.0.0.1:8100 and the `sandbox` app is installed
(the simulators, `manage.py runsandbox` and `manage.py demo`). An environment variable still wins.
"""

from .settings import *  # noqa: F403
from .settings import (
    AMIS_API_URL,
    AMIS_APP_ID,
    HARAVAN_ACCOUNTS_URL,
    HARAVAN_API_URL,
    HARAVAN_WEBHOOK_API_URL,
    INSTALLED_APPS,
    MAVENTA_API_URL,
    MAVENTA_VENDOR_API_KEY,
    MEINVOICE_API_URL,
    PUBLIC_BASE_URL,
    SEVERA_API_URL,
    env,
)

_sandbox = "http://127.0.0.1:8100"  # `manage.py runsandbox`'s default address

INSTALLED_APPS = [*INSTALLED_APPS, "sandbox"]

PUBLIC_BASE_URL = PUBLIC_BASE_URL or "http://127.0.0.1:8000"
HARAVAN_API_URL = HARAVAN_API_URL or f"{_sandbox}/haravan"
HARAVAN_ACCOUNTS_URL = HARAVAN_ACCOUNTS_URL or f"{_sandbox}/haravan/accounts"
HARAVAN_WEBHOOK_API_URL = HARAVAN_WEBHOOK_API_URL or f"{_sandbox}/haravan/webhook"
MEINVOICE_API_URL = MEINVOICE_API_URL or f"{_sandbox}/meinvoice/api/integration"
AMIS_API_URL = AMIS_API_URL or f"{_sandbox}/amis"
AMIS_APP_ID = AMIS_APP_ID or "demo-amis-app"
SEVERA_API_URL = SEVERA_API_URL or f"{_sandbox}/severa/rest-api"
MAVENTA_API_URL = MAVENTA_API_URL or f"{_sandbox}/maventa"
# The Maventa simulator's vendor key (sandbox.maventa.DEMO_VENDOR_API_KEY): its demo companies
# are linked to it.
MAVENTA_VENDOR_API_KEY = MAVENTA_VENDOR_API_KEY or "6b0e1a7c-5d2f-4c8e-9a31-0f7d2c4b8e55"

# The simulators (sandbox/): where they deliver Haravan webhooks.
SANDBOX_WEBHOOK_URL = env.str("SANDBOX_WEBHOOK_URL", default="http://127.0.0.1:8000/webhooks/haravan/")
# …and where the AMIS simulator calls back (every company's configured callback URL).
SANDBOX_AMIS_CALLBACK_URL = env.str(
    "SANDBOX_AMIS_CALLBACK_URL", default="http://127.0.0.1:8000/callbacks/amis/"
)
# The demo's AMIS answers within seconds: a sent voucher without an answer after a minute is looked after.
AMIS_CALLBACK_WAIT_SECONDS = env.float("AMIS_CALLBACK_WAIT_SECONDS", default=60.0)
AMIS_CHECK_INTERVAL_SECONDS = env.float("AMIS_CHECK_INTERVAL_SECONDS", default=30.0)
# The demo's Severa generator moves an invoice to "to transfer" every half minute and Maventa delivers within
# seconds: read Severa and follow deliveries often enough to watch them go through.
SEVERA_POLL_INTERVAL_SECONDS = env.float("SEVERA_POLL_INTERVAL_SECONDS", default=15.0)
MAVENTA_STATUS_INTERVAL_SECONDS = env.float("MAVENTA_STATUS_INTERVAL_SECONDS", default=20.0)
