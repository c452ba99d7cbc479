"""The production settings, driven by environment variables (django-environ).

The storage defaults suit one machine (SQLite, a file-system Celery broker); production sets DATABASE_URL
and CELERY_BROKER_URL. The outside services have no default address here: an unset URL stays empty and a
client asked to call it raises connectors.http.NotConfiguredError naming the variable. The simulators and
their addresses live in config.demo_settings (the demo's and the tests' settings), never here.
`manage.py check --deploy` refuses what only the demo may use: the demo SECRET_KEY, missing
FIELD_ENCRYPTION_KEYS, the demo Haravan app, unset or local service URLs (connectors/checks.py, with what
each integration's adapter declares).
"""

import datetime as dt
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_noop

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded default keeps its database and broker here

DEMO_SECRET_KEY = "demo-only-secret-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105 - demo default
SECRET_KEY = env.str("SECRET_KEY", default=DEMO_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The public address Haravan redirects back to after an install (OAuth redirect_uri): required in
# production (the demo's is http://127.0.0.1:8000).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_htmx",
    "axes",
    "csp",
    "connectors",
    "syncjobs",
    "haravan",
    "meinvoice",
    "amis",
    "maventa",
    "severa",
    "dashboard",
]  # config.demo_settings adds "sandbox" (the simulators and `manage.py demo`)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "connectors.middleware.ChosenLanguageMiddleware",  # Vietnamese unless the person chose English
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "connectors.middleware.TenantMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",  # LANGUAGES as named in their own words
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "connectors.middleware.tenant_context",
                "dashboard.context.screen_context",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# The webhook intake PREPAREs its statement once per PostgreSQL connection; turn off behind a pgbouncer in
# transaction mode, where one connection's statements may reach different server sessions.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the demo file: take the write lock up front and wait for it.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: a locked-out sign-in is refused before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "vi"  # merchants read Vietnamese first; English is one click away
# Each language is named in its own words (the switcher and the alert-language choice show them as they are).
LANGUAGES = [
    ("vi", gettext_noop("Tiếng Việt")),
    ("en", gettext_noop("English")),
    ("sv", gettext_noop("Svenska")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# HTTPS: on by default when the public address is https and DEBUG is off (production, behind a proxy that
# terminates TLS); the demo serves plain HTTP on 127.0.0.1 and keeps all of it off. Each can be set alone.
_https = not DEBUG and PUBLIC_BASE_URL.startswith("https://")
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=_https)  # session and CSRF cookies over HTTPS only
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_https)  # plain-HTTP requests → https
# HSTS: browsers remember to use HTTPS only; a year by default, subdomains of PUBLIC_BASE_URL's host included.
# Preloading (SECURE_HSTS_PRELOAD) is a promise to the browsers' list: opt in.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# The header the TLS-terminating proxy sets to "https" (it must overwrite a client's own); empty: none.
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="X-Forwarded-Proto" if _https else "")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy: only this site's own scripts and styles, no inline code, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Sign-in lock-out (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one user from one address,
# that pair waits AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True

# Credentials at rest: MultiFernet over these keys (first one encrypts, all decrypt) so keys can rotate.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="alerts@ledgerlink.local")

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu's default control folder is relative to the current directory: keep it here too.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Fail fast when the broker is down: the sweeper re-enqueues what could not be sent.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "visibility_timeout": 3600,
    }
CELERY_TASK_IGNORE_RESULT = True  # results live in our own tables, not in a result backend
CELERY_TASK_SERIALIZER = "json"  # plain JSON on the wire: no pickles from a shared broker
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged only when it finished...
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ...so a killed worker's task is delivered again
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # one task at a time per process: fair and crash-safe
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=15 * 60)  # hard stop for a stuck task
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=14 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Each integration routes its own tasks (e.g. write-backs to their own queue): its adapter's task_routes.
CELERY_TASK_ROUTES = ("connectors.registry.route_task",)
CELERY_TIMEZONE = TIME_ZONE

# Shared state between processes (rate-limit buckets). Redis when there is one, else the database.
REDIS_URL = env.str(
    "REDIS_URL", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)

# --- Outside services -------------------------------------------------------------------------------
# Base URLs are settings so the simulators can stand in (config.demo_settings). No default: unset is empty,
# which `check --deploy` refuses and a client refuses to call (NotConfiguredError naming the variable).
HTTP_TIMEOUT = env.float("HTTP_TIMEOUT", default=20.0)
HARAVAN_CLIENT_ID = env.str("HARAVAN_CLIENT_ID", default="demo-client-id")
HARAVAN_CLIENT_SECRET = env.str("HARAVAN_CLIENT_SECRET", default="demo-client-secret")
HARAVAN_VERIFY_TOKEN = env.str("HARAVAN_VERIFY_TOKEN", default="demo-verify-token")
# Production: https://apis.haravan.com, https://accounts.haravan.com, https://webhook.haravan.com
HARAVAN_API_URL = env.str("HARAVAN_API_URL", default="").rstrip("/")
HARAVAN_ACCOUNTS_URL = env.str("HARAVAN_ACCOUNTS_URL", default="").rstrip("/")
HARAVAN_WEBHOOK_API_URL = env.str("HARAVAN_WEBHOOK_API_URL", default="").rstrip("/")
HARAVAN_SCOPES = env.str(
    "HARAVAN_SCOPES",
    default="openid profile email org userinfo com.read_orders com.write_orders com.read_products "
    "com.read_customers com.read_shop com.read_inventories wh_api grant_service",
)
HARAVAN_RATE_CAPACITY = env.int("HARAVAN_RATE_CAPACITY", default=80)
HARAVAN_RATE_PER_SECOND = env.float("HARAVAN_RATE_PER_SECOND", default=4.0)
# Haravan's inventory documents (no webhooks): polled this often, the newest pages of each list re-read.
HARAVAN_INVENTORY_POLL_SECONDS = env.float("HARAVAN_INVENTORY_POLL_SECONDS", default=900.0)
HARAVAN_INVENTORY_POLL_PAGES = env.int("HARAVAN_INVENTORY_POLL_PAGES", default=4)

# Production: https://api.meinvoice.vn/api/integration
MEINVOICE_API_URL = env.str("MEINVOICE_API_URL", default="").rstrip("/")

# MISA's public page where a buyer looks an invoice up by its lookup code (test site: test.meinvoice.vn).
MEINVOICE_LOOKUP_URL = env.str("MEINVOICE_LOOKUP_URL", default="https://www.meinvoice.vn/tra-cuu/?sc={code}")
MEINVOICE_RETRY_BASE_SECONDS = env.float("MEINVOICE_RETRY_BASE_SECONDS", default=30.0)  # doubles per attempt
# MISA's guide: publish calls of one series go one after another, 1–3 s apart (start to start)
MEINVOICE_SERIES_GAP_SECONDS = env.float("MEINVOICE_SERIES_GAP_SECONDS", default=1.0)
MEINVOICE_SYNC_INTERVAL_SECONDS = env.float(
    "MEINVOICE_SYNC_INTERVAL_SECONDS", default=60.0
)  # publishing pass
MEINVOICE_STATUS_INTERVAL_SECONDS = env.float("MEINVOICE_STATUS_INTERVAL_SECONDS", default=300.0)

# MISA AMIS accounting open API ("actopen"). Production: https://actapp.misa.vn
AMIS_API_URL = env.str("AMIS_API_URL", default="").rstrip("/")
# Visma Severa's public REST API (production: https://api.severa.visma.com/rest-api)
SEVERA_API_URL = env.str("SEVERA_API_URL", default="").rstrip("/")
# The app ID MISA issues to us as an integrator (one for every customer; it also keys the callback signature).
AMIS_APP_ID = env.str("AMIS_APP_ID", default="")
AMIS_RETRY_BASE_SECONDS = env.float("AMIS_RETRY_BASE_SECONDS", default=30.0)  # doubles per attempt
AMIS_SYNC_INTERVAL_SECONDS = env.float("AMIS_SYNC_INTERVAL_SECONDS", default=60.0)  # posting pass
# How long a sent voucher waits for AMIS's callback before we ask for undelivered results (and resend)
AMIS_CALLBACK_WAIT_SECONDS = env.float("AMIS_CALLBACK_WAIT_SECONDS", default=900.0)
AMIS_CHECK_INTERVAL_SECONDS = env.float("AMIS_CHECK_INTERVAL_SECONDS", default=300.0)
AMIS_MASTER_DATA_INTERVAL_SECONDS = env.float("AMIS_MASTER_DATA_INTERVAL_SECONDS", default=3600.0)

# Maventa AutoXChange REST API (Visma's e-invoicing operator). Production: https://ax.maventa.com
# (Maventa's test environment: https://ax-stage.maventa.com).
MAVENTA_API_URL = env.str("MAVENTA_API_URL", default="").rstrip("/")
# Our vendor API key, issued by Maventa Integration Care to us as a software vendor (one for every customer).
MAVENTA_VENDOR_API_KEY = env.str("MAVENTA_VENDOR_API_KEY", default="")
# Severa has no webhooks: how often invoices in a "to transfer" status are read
SEVERA_POLL_INTERVAL_SECONDS = env.float("SEVERA_POLL_INTERVAL_SECONDS", default=60.0)
# How often Maventa is asked how sent invoices are delivering, and how unverified accounts' signing goes
MAVENTA_STATUS_INTERVAL_SECONDS = env.float("MAVENTA_STATUS_INTERVAL_SECONDS", default=300.0)
MAVENTA_AUTH_INTERVAL_SECONDS = env.float("MAVENTA_AUTH_INTERVAL_SECONDS", default=900.0)
MAVENTA_RETRY_BASE_SECONDS = env.float("MAVENTA_RETRY_BASE_SECONDS", default=30.0)  # doubles per attempt
# A send left unfinished this long belonged to a worker that died: Maventa is asked by uuid, then it goes on
MAVENTA_STALE_PROCESSING_SECONDS = env.float("MAVENTA_STALE_PROCESSING_SECONDS", default=600.0)

# Intake: how long an accepted event may wait before the sweeper sends it to a worker again.
INTAKE_SWEEP_AFTER_SECONDS = env.int("INTAKE_SWEEP_AFTER_SECONDS", default=60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "connectors.redaction.RedactingFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # lock-outs are warnings; every successful sign-in need not be logged
    },
}

# The hour (0–23, CELERY_TIMEZONE) the nightly reconciliation of the day before starts.
RECONCILE_HOUR = env.int("RECONCILE_HOUR", default=2)

# Static beat entries (the DatabaseScheduler copies them into its tables; per-connection ones live there).
CELERY_BEAT_SCHEDULE = {
    "sweep-inbound-events": {
        "task": "syncjobs.sweep_inbound_events",
        "schedule": env.float("INTAKE_SWEEP_INTERVAL_SECONDS", default=30.0),
    },
    "alert-digests": {
        "task": "syncjobs.send_alert_digests",
        "schedule": env.float("ALERT_DIGEST_INTERVAL_SECONDS", default=900.0),
    },
    # Each night: every enabled connection's day before (in its source's own time zone), reconciled.
    "reconcile-yesterday": {
        "task": "syncjobs.reconcile_yesterday",
        "schedule": crontab(minute=0, hour=RECONCILE_HOUR),
    },
}  # each integration adds its own entries (its adapter's beat_entries, see config/celery.py)
