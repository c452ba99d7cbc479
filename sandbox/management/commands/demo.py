"""`manage.py demo`: seed the demo tenant, then run web, worker, beat and the simulators together."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from amis.mapping import Mapping as AmisMapping
from connectors import registry
from connectors.models import Connection, License, Membership, RoutingRule, TargetAccount, Tenant
from haravan.models import HaravanLocation, HaravanShop
from meinvoice.mapping import Mapping

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo"  # the published demo login
DEMO_STAFF = [  # the other roles, same password: an accountant retries, a viewer reads
    ("ketoan@example.com", Membership.Role.ACCOUNTANT),
    ("xem@example.com", Membership.Role.VIEWER),
]
DEMO_ORG_ID = "200000001"
DEMO_TOKEN = "demo-token"  # the sandbox's access token for the demo shop
DEMO_ACCOUNTS = [
    # (MST, name, default)
    ("0101243150", "Công ty Demo — Hà Nội", True),
    ("0312345673", "Công ty Demo — Hồ Chí Minh", False),
    ("0101243150-001", "Công ty Demo — Chi nhánh sàn TMĐT", False),
]
DEMO_RULES = [
    # (priority, dimension, value, MST): first match wins
    (10, "source", "shopee", "0101243150-001"),
    (20, "location", "1002", "0312345673"),
]
DEMO_LOCATIONS = [("1001", "Chi nhánh Hà Nội", True), ("1002", "Chi nhánh Hồ Chí Minh", False)]
# The same shop posts its sales to three AMIS companies (the AMIS simulator's demo companies).
DEMO_AMIS_COMPANIES = [
    # (org_company_code, name, default)
    ("demo-hanoi", "Công ty TNHH Demo Hà Nội", True),
    ("demo-hcm", "Công ty TNHH Demo Hồ Chí Minh", False),
    ("demo-tmdt", "Công ty TNHH Demo Thương mại điện tử", False),
]
DEMO_AMIS_RULES = [(10, "source", "shopee", "demo-tmdt"), (20, "location", "1002", "demo-hcm")]
DEMO_AMIS_ACCESS_CODE = "demo"
DEMO_AMIS_MAPPING = {
    # Walk-in buyers to KHACHLE, Shopee's to KHACHLE_SHOPEE, named customers to KH<Haravan customer id>
    # (a VAT buyer's tax code and legal name from the note attributes, as for meInvoice).
    "parties": {
        "walk_in": "KHACHLE",
        "by_channel": {"shopee": "KHACHLE_SHOPEE"},
        "customer_code": "KH{customer_id}",
    },
    "locations": {"1001": {"stock_code": "KHO01"}, "1002": {"stock_code": "KHO02"}},
    # A sales voucher with its stock issue once paid (booked to the buyer's receivable), and a cash
    # receipt or bank deposit for each captured payment.
    "documents": {"sales_voucher": "paid", "stock_issue": True, "receipts": True, "paid_at_sale": False},
    "gateways": {
        "Thanh toán khi giao hàng (COD)": "cash",
        "Tiền mặt": "cash",
        "Chuyển khoản qua ngân hàng": "bank",
        "Thẻ ATM/Visa/Master qua máy POS": "bank",
        "Shopee": "bank",
    },
    "default_gateway": "cash",
}


def _demo_user(tenant: Tenant, email: str, role: str) -> None:
    user, created = get_user_model().objects.get_or_create(username=email, defaults={"email": email})
    if created or not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        user.save()
    Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})


@transaction.atomic
def seed() -> Tenant:
    """Idempotent: running it twice leaves the same demo, with licenses renewed."""
    tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo"})
    for email, role in [(DEMO_EMAIL, Membership.Role.OWNER), *DEMO_STAFF]:
        _demo_user(tenant, email, role)
    expires = timezone.now() + dt.timedelta(days=365)
    for family, _label in registry.family_choices():
        lic, made = License.objects.get_or_create(
            tenant=tenant, family=family, defaults={"expires_at": expires}
        )
        if not made and lic.expires_at < timezone.now() + dt.timedelta(days=30):
            lic.expires_at = expires
            lic.save(update_fields=["expires_at"])
    shop = HaravanShop.objects.filter(org_id=DEMO_ORG_ID).first() or HaravanShop(
        tenant=tenant, org_id=DEMO_ORG_ID
    )
    shop.tenant = tenant
    shop.name = "Cửa hàng Demo"
    shop.domain = "demo.myharavan.com"
    # As an installed app's shop: the sandbox signs the demo shop's webhooks with the app's client secret
    # (a private app's would be signed with the shop's own webhook secret, entered on the connection page).
    shop.token_kind = HaravanShop.TokenKind.OAUTH
    shop.secrets = {"access_token": DEMO_TOKEN}
    shop.uninstalled_at = None
    shop.save()
    for location_id, name, primary in DEMO_LOCATIONS:
        HaravanLocation.objects.update_or_create(
            shop=shop, location_id=location_id, defaults={"name": name, "is_primary": primary}
        )
    connection, _ = Connection.objects.get_or_create(
        source_kind="haravan",
        source_key=DEMO_ORG_ID,
        target_kind="meinvoice",
        defaults={"tenant": tenant, "name": "Cửa hàng Demo → meInvoice", "alert_email": DEMO_EMAIL},
    )
    if not connection.settings.get("meinvoice"):
        # Issue when paid and not cancelled, prices include VAT, 8 % by default, buyer from note attributes.
        connection.settings = {**connection.settings, "meinvoice": Mapping().to_dict()}
        connection.save(update_fields=["settings"])
    series = f"1C{timezone.localdate().year % 100:02d}TAA"  # the simulator's first series of the year
    accounts = {}
    for mst, name, is_default in DEMO_ACCOUNTS:
        account, _ = TargetAccount.objects.get_or_create(
            connection=connection, external_id=mst, defaults={"name": name}
        )
        account.name = name
        account.credentials = {"app_id": "demo-app", "username": "demo", "password": "demo", "tax_code": mst}
        account.is_default = False
        account.settings = {"series": series, "auto_publish": True, **(account.settings or {})}
        account.save()
        accounts[mst] = (account, is_default)
    for account, is_default in accounts.values():
        if is_default:
            account.is_default = True
            account.save(update_fields=["is_default"])
    for priority, dimension, value, mst in DEMO_RULES:
        RoutingRule.objects.update_or_create(
            connection=connection,
            dimension=dimension,
            value=value,
            defaults={"priority": priority, "account": accounts[mst][0], "enabled": True},
        )
    if registry.is_registered_target("amis"):
        _seed_amis(tenant)
    return tenant


def _seed_amis(tenant: Tenant) -> None:
    """The demo shop's AMIS connection: three companies, the routing rules, each company's mapping."""
    connection, _ = Connection.objects.get_or_create(
        source_kind="haravan",
        source_key=DEMO_ORG_ID,
        target_kind="amis",
        defaults={"tenant": tenant, "name": "Cửa hàng Demo → AMIS", "alert_email": DEMO_EMAIL},
    )
    mapping = AmisMapping.from_dict(DEMO_AMIS_MAPPING).to_dict()
    companies = {}
    for code, name, is_default in DEMO_AMIS_COMPANIES:
        account, _ = TargetAccount.objects.get_or_create(
            connection=connection, external_id=code, defaults={"name": name}
        )
        account.name = name
        account.credentials = {"access_code": DEMO_AMIS_ACCESS_CODE}
        account.is_default = False
        account.settings = {"mapping": mapping, **(account.settings or {})}
        account.save()
        companies[code] = (account, is_default)
    for account, is_default in companies.values():
        if is_default:
            account.is_default = True
            account.save(update_fields=["is_default"])
    for priority, dimension, value, code in DEMO_AMIS_RULES:
        RoutingRule.objects.update_or_create(
            connection=connection,
            dimension=dimension,
            value=value,
            defaults={"priority": priority, "account": companies[code][0], "enabled": True},
        )


def child_env(host: str, port: int, sandbox_port: int) -> dict:
    """The environment of every process the demo starts: this one's settings module (the demo settings:
    production's have no simulator), and the simulators' and the web app's addresses unless already set."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
    env.setdefault("SANDBOX_WEBHOOK_URL", f"http://{host}:{port}/webhooks/haravan/")
    env.setdefault("HARAVAN_API_URL", f"http://{host}:{sandbox_port}/haravan")
    env.setdefault("HARAVAN_ACCOUNTS_URL", f"http://{host}:{sandbox_port}/haravan/accounts")
    env.setdefault("HARAVAN_WEBHOOK_API_URL", f"http://{host}:{sandbox_port}/haravan/webhook")
    env.setdefault("MEINVOICE_API_URL", f"http://{host}:{sandbox_port}/meinvoice/api/integration")
    env.setdefault("AMIS_API_URL", f"http://{host}:{sandbox_port}/amis")
    env.setdefault("SANDBOX_AMIS_CALLBACK_URL", f"http://{host}:{port}/callbacks/amis/")
    env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    return env


class Command(BaseCommand):
    help = "Seed the demo data and run the whole product locally (web, worker, beat, simulators)."

    def add_arguments(self, parser):
        parser.add_argument("--seed-only", action="store_true", help="Seed the demo data and exit.")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8100)
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between generated orders.")

    def handle(self, *args, **opts):
        seed()
        self.stdout.write(
            self.style.SUCCESS("Demo data ready (tenant “Demo”, shop 200000001, 3 MSTs, 3 AMIS companies).")
        )
        if opts["seed_only"]:
            return
        self._run_all(opts)

    def _run_all(self, opts):
        host, port, sandbox_port = opts["host"], opts["port"], opts["sandbox_port"]
        env = child_env(host, port, sandbox_port)
        for folder in ("processed", "control"):
            os.makedirs(settings.VAR_DIR / "broker" / folder, exist_ok=True)
        py = sys.executable
        bindir = os.path.dirname(py)
        commands = {
            "web": [
                os.path.join(bindir, "gunicorn"),
                "config.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
            "worker": [
                os.path.join(bindir, "celery"),
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--queues",
                "celery,writeback",
                "--without-gossip",
                "--without-mingle",
            ],
            "beat": [
                os.path.join(bindir, "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
            "sandbox": [
                py,
                "manage.py",
                "runsandbox",
                "--host",
                host,
                "--port",
                str(sandbox_port),
                "--generate",
                "--interval",
                str(opts["interval"]),
            ],
        }
        procs = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, cmd in commands.items():
            procs[name] = subprocess.Popen(cmd, env=env, cwd=settings.BASE_DIR, start_new_session=True)  # noqa: S603
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Open http://{host}:{port}/  — sign in as {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
                f"  (the accountant {DEMO_STAFF[0][0]} and the viewer {DEMO_STAFF[1][0]}: same password)\n"
                f"  Sandbox (Haravan simulator) at http://{host}:{sandbox_port}/haravan/ — an order every "
                f"{opts['interval']:g}s, delivered as a signed webhook.\n  Ctrl-C stops everything.\n"
            )
        )
        try:
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the demo.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()  # each main process stops its own children (gunicorn, celery pools)
            deadline = time.monotonic() + 10
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.stdout.write("Demo stopped.")
