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
from maventa.accounts import normal_payment
from maventa.setup import COMPANY_UUID, USER_API_KEY, setup_of, store_setup
from meinvoice.mapping import Mapping
from sandbox import maventa as maventa_sandbox
from sandbox import severa as severa_sandbox
from sandbox.server import SandboxApp
from sandbox.testing import LiveSandbox
from severa.connect import refresh
from severa.models import SeveraOrganisation
from severa.services import client_for

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
# Stock documents (receives, purchase returns, adjustments, transfers): every kind on for the demo companies
# (a merchant switches each on only after checking it on a trial AMIS company, see the README).
DEMO_AMIS_MAPPING["stock"] = {
    "purchase_receive": True,
    "purchase_return": True,
    "adjustment": True,
    "transfer": True,
}


# The second merchant: the Severa organisation "Demokonsult AB" sending through Maventa, with
# its Finnish business unit "Demokonsult Oy" as a company of its own. demo@example.com owns it too.
DEMOKONSULT_SLUG = "demokonsult"
DEMOKONSULT_NAME = "Demokonsult"
DEMOKONSULT_VAT = "SE556677889901"  # the organisation's VAT number: the connection's source key
DEMOKONSULT_FAMILY = "severa_to_maventa"
DEMOKONSULT_PAYMENT = {
    # Where the buyer pays, per company VAT number; valid check digits: a Bankgiro number's last digit is
    # Luhn's, an IBAN's two check digits mod 97
    "SE556677889901": {"kind": "bankgiro", "account": "5551-2347", "bic": ""},
    "FI23456780": {"kind": "iban", "account": "FI2112345600000785", "bic": "NDEAFIHH"},
}
# The Maventa account settings' statuses, by the names the simulated organisation gives them
DEMOKONSULT_STATUSES = {
    "status_to_transfer": "Valmis lähetettäväksi",
    "status_after": "Lähetetty Maventaan",
    "status_error": "Siirto epäonnistui",
}


def _demo_user(tenant: Tenant, email: str, role: str) -> None:
    user, created = get_user_model().objects.get_or_create(username=email, defaults={"email": email})
    if created or not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        user.save()
    Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})


@transaction.atomic
def seed(*, severa_api_url: str | None = None) -> Tenant:
    """Idempotent: running it twice leaves the same demo, with licenses renewed. Returns the Haravan
    merchant "Demo"; the Severa → Maventa merchant "Demokonsult" is seeded too (see `seed_demokonsult`)."""
    tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo"})
    for email, role in [(DEMO_EMAIL, Membership.Role.OWNER), *DEMO_STAFF]:
        _demo_user(tenant, email, role)
    for family, _label in registry.family_choices():
        _licence(tenant, family)
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
    if registry.is_registered_target("maventa"):
        seed_demokonsult(severa_api_url=severa_api_url)
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


def seed_demokonsult(*, severa_api_url: str | None = None) -> Tenant:
    """The merchant "Demokonsult" (owner: the demo user): a licence for Severa → Maventa, the Severa
    organisation with its connection, read as `severa.connect.refresh` reads it (companies, business units,
    invoice statuses; one Maventa account and one "company" routing rule per company with a VAT number of
    its own, Demokonsult AB's the default), each account registered, signed and verified — the Maventa
    simulator's demo keys in its encrypted credentials, the original PDF attached, e-mail fallback on, print
    allowed, Severa's statuses chosen, switched on. Idempotent; a person's later choices in an account's
    settings stay.

    Severa is asked at `severa_api_url` when given (a running Severa simulator); else a Severa simulator of
    our own answers, served for the moment of the reading: the demo's simulator holds the same fixed
    organisation, and the seed runs before the demo's processes start."""
    tenant, _ = Tenant.objects.get_or_create(slug=DEMOKONSULT_SLUG, defaults={"name": DEMOKONSULT_NAME})
    owner = get_user_model().objects.get(username=DEMO_EMAIL)
    Membership.objects.update_or_create(user=owner, tenant=tenant, defaults={"role": Membership.Role.OWNER})
    _licence(tenant, DEMOKONSULT_FAMILY)

    organisation = SeveraOrganisation.objects.filter(
        vat_number=DEMOKONSULT_VAT
    ).first() or SeveraOrganisation(vat_number=DEMOKONSULT_VAT)
    organisation.tenant = tenant
    organisation.secrets = {
        "client_id": severa_sandbox.DEMO_CLIENT_ID,
        "client_secret": severa_sandbox.DEMO_CLIENT_SECRET,
    }
    organisation.save()
    connection, _ = Connection.objects.get_or_create(
        source_kind="severa",
        source_key=DEMOKONSULT_VAT,
        target_kind="maventa",
        defaults={"tenant": tenant, "name": DEMOKONSULT_NAME, "alert_email": DEMO_EMAIL},
    )
    organisation = read_severa_organisation(organisation, severa_api_url)  # accounts and rules too

    statuses = {s["name"]: s["guid"] for s in organisation.statuses}
    keys = {c["bid"]: c for c in maventa_sandbox.DEMO_COMPANIES}
    for vat, payment in DEMOKONSULT_PAYMENT.items():
        account = TargetAccount.objects.get(connection=connection, external_id=vat)
        account.credentials = {USER_API_KEY: keys[vat]["api_key"], COMPANY_UUID: keys[vat]["id"]}
        account.save(update_fields=["credentials"])
        setup = setup_of(account)  # the company and its country: refresh wrote them
        if not setup.origin:  # seeded for the first time: the demo's choices (later, a person's stay)
            setup.attach_pdf = setup.email_fallback = setup.print_allowed = True
            setup.status_to_transfer = statuses[DEMOKONSULT_STATUSES["status_to_transfer"]]
            setup.status_after = statuses[DEMOKONSULT_STATUSES["status_after"]]
            setup.status_error = statuses[DEMOKONSULT_STATUSES["status_error"]]
            setup.payment = normal_payment(payment["kind"], payment["account"], payment["bic"])
            setup.enabled = True
        # What registering, signing and Maventa's verification made of it (the simulator's demo companies)
        setup.origin, setup.auth_state, setup.company_state = "registered", "SIGNED", "VERIFIED"
        store_setup(account, setup)
    return tenant


def read_severa_organisation(organisation: SeveraOrganisation, api_url: str | None) -> SeveraOrganisation:
    """`severa.connect.refresh` of a stored organisation, through `severa.services.client_for` at `api_url`,
    or at a Severa simulator of our own when None."""
    if api_url:
        return refresh(organisation, client=client_for(organisation, base_url=api_url))
    app = SandboxApp({"/severa": severa_sandbox.SeveraSimulator(seed_invoices=False)})
    try:
        with LiveSandbox(app) as live:
            client = client_for(organisation, base_url=f"{live.url}/severa/rest-api")
            return refresh(organisation, client=client)
    finally:
        app.close()


def _licence(tenant: Tenant, family: str) -> None:
    """A year's licence, renewed when less than a month is left."""
    expires = timezone.now() + dt.timedelta(days=365)
    lic, made = License.objects.get_or_create(tenant=tenant, family=family, defaults={"expires_at": expires})
    if not made and lic.expires_at < timezone.now() + dt.timedelta(days=30):
        lic.expires_at = expires
        lic.save(update_fields=["expires_at"])


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
    env.setdefault("SEVERA_API_URL", f"http://{host}:{sandbox_port}/severa/rest-api")
    env.setdefault("MAVENTA_API_URL", f"http://{host}:{sandbox_port}/maventa")
    env.setdefault("MAVENTA_VENDOR_API_KEY", maventa_sandbox.DEMO_VENDOR_API_KEY)  # the key it knows us by
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
        parser.add_argument(
            "--invoice-interval",
            type=float,
            default=30.0,
            help='Seconds between new Severa invoices moved to "to transfer".',
        )

    def handle(self, *args, **opts):
        seed()
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready (tenant “Demo”: shop 200000001, 3 MSTs, 3 AMIS companies; tenant "
                f"“{DEMOKONSULT_NAME}”: Severa organisation {DEMOKONSULT_VAT}, 2 Maventa accounts)."
            )
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
                "--invoice-interval",
                str(opts["invoice_interval"]),
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
                f"{opts['interval']:g}s, delivered as a signed webhook.\n"
                f"  Switch to the merchant “{DEMOKONSULT_NAME}” in the header: Severa (organisation "
                f"{DEMOKONSULT_VAT}) moves a new invoice to “to transfer” every "
                f"{opts['invoice_interval']:g}s; they go out through Maventa.\n  Ctrl-C stops everything.\n"
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
