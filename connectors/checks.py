"""Deploy checks (`manage.py check --deploy`): what only the demo may use is refused in production.

Here the generic ones: the secret key, the credential encryption keys, our own public address, the
simulators app; and each registered integration's own: the addresses its adapter names (``url_settings``)
and whatever else its adapter's ``deploy_checks`` refuses (connectors name no provider). Errors stop a
deploy (the compose `migrate` service runs `check --deploy` first); every message says what to set.
"""

import ipaddress
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.checks import Warning as CheckWarning

RANDOM_VALUE_COMMAND = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
FERNET_KEY_COMMAND = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_local_host(host: str) -> bool:
    """This machine: localhost names, loopback and unspecified addresses (never an outside service)."""
    host = (host or "").strip("[]").lower().rstrip(".")
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def check_urls(examples: dict[str, str], *, app: str, simulator_paths: tuple[str, ...] = ()) -> list:
    """One message per URL setting that production must not run with, ids `<app>.E101`…`E104`, `W101`.

    examples: setting name → its production address (quoted in the hint). simulator_paths: path prefixes
    the simulators serve the service under (sandbox/), refused on any host.
    """
    messages = []
    for name, example in examples.items():
        value = str(getattr(settings, name, "") or "").strip()
        hint = f"Set the environment variable {name} to its production address, e.g. {example}"
        if not value:
            messages.append(Error(f"{name} is not set.", hint=hint, id=f"{app}.E101"))
            continue
        parts = urlsplit(value)
        path = parts.path.rstrip("/")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            messages.append(Error(f"{name} is not an http(s) URL: {value!r}.", hint=hint, id=f"{app}.E104"))
        elif is_local_host(parts.hostname):
            messages.append(
                Error(
                    f"{name} points at this machine ({parts.hostname}), where only the demo's simulators "
                    f"answer: {value}.",
                    hint=hint,
                    id=f"{app}.E102",
                )
            )
        elif any(path == p or path.startswith(p + "/") for p in simulator_paths):
            messages.append(
                Error(
                    f"{name} has the simulator's path ({parts.path}): {value}.", hint=hint, id=f"{app}.E103"
                )
            )
        elif parts.scheme != "https":
            messages.append(
                CheckWarning(
                    f"{name} is not https: {value}. Credentials and invoices would cross the network in "
                    "clear text.",
                    hint=hint,
                    id=f"{app}.W101",
                )
            )
    return messages


def check_not_demo(name: str, demo_value: str, *, app: str, number: int, what: str) -> list:
    """An Error when setting `name` is empty or still the demo's `demo_value`. `what` completes "Set … to"."""
    value = getattr(settings, name, "") or ""
    if value and value != demo_value:
        return []
    state = "is not set" if not value else "is the demo's value"
    return [
        Error(
            f"{name} {state}.",
            hint=f"Set the environment variable {name} to {what}.",
            id=f"{app}.E{number:03d}",
        )
    ]


@register(Tags.security, deploy=True)
def secrets_check(app_configs, **kwargs):
    messages = []
    if settings.SECRET_KEY == settings.DEMO_SECRET_KEY:
        messages.append(
            Error(
                "SECRET_KEY is the demo key, published in config/settings.py.",
                hint="Set the environment variable SECRET_KEY to a long random value "
                f"({RANDOM_VALUE_COMMAND}), the same on every web and worker process.",
                id="connectors.E001",
            )
        )
    keys = [k for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        messages.append(
            Error(
                "FIELD_ENCRYPTION_KEYS is not set: stored credentials would be encrypted with a key derived "
                "from SECRET_KEY.",
                hint="Set the environment variable FIELD_ENCRYPTION_KEYS to one or more comma-separated "
                f"Fernet keys, newest first ({FERNET_KEY_COMMAND}), the same on every process.",
                id="connectors.E002",
            )
        )
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.strip().encode())
        except ValueError:
            messages.append(
                Error(
                    f"FIELD_ENCRYPTION_KEYS: key {position} of {len(keys)} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes).",
                    hint=f"Replace it with a key made by {FERNET_KEY_COMMAND}.",
                    id="connectors.E003",
                )
            )
    return messages


@register(Tags.security, deploy=True)
def public_address_check(app_configs, **kwargs):
    return check_urls({"PUBLIC_BASE_URL": "https://ledgerlink.example.com"}, app="connectors")


@register(Tags.security, deploy=True)
def simulators_check(app_configs, **kwargs):
    if "sandbox" not in settings.INSTALLED_APPS:
        return []
    return [
        Error(
            "The simulators (the sandbox app) are installed: these are the demo settings.",
            hint="Run production with DJANGO_SETTINGS_MODULE=config.settings; config.demo_settings is for "
            "the demo and the tests.",
            id="connectors.E004",
        )
    ]


@register(Tags.security, deploy=True)
def integrations_check(app_configs, **kwargs):
    from . import registry

    messages = []
    for adapter in [*registry.sources(), *registry.targets()]:
        messages += check_urls(
            adapter.url_settings, app=adapter.name, simulator_paths=adapter.simulator_paths
        )
        messages += adapter.deploy_checks()
    return messages
