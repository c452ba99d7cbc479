"""docker-compose.yml: every variable the production settings read, required ones refused when unset, the
others with production defaults, which `check --deploy` accepts."""

import re

import pytest
import yaml

from connectors import registry
from tests.support.deploy import PRODUCTION, check_deploy
from tests.support.services import REPO

REQUIRED = {
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "PUBLIC_BASE_URL",
    "ALLOWED_HOSTS",
    "HARAVAN_CLIENT_ID",
    "HARAVAN_CLIENT_SECRET",
    "HARAVAN_VERIFY_TOKEN",
}
PASSED_THROUGH = {"MEINVOICE_LOOKUP_URL"}  # its default has braces ({code}) that compose would mangle
APP_SERVICES = ("migrate", "web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def app_env(compose) -> dict:
    return compose["x-app"]["environment"]


def settings_variables() -> set[str]:
    source = (REPO / "config" / "settings.py").read_text()
    return set(re.findall(r'(?:env|environ\.Env\(\))\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', source))


def resolve(value, shell: dict) -> str:
    """What compose hands the container for one `${…}` entry, given the shell's variables."""
    text = str(value)
    match = re.fullmatch(r"\$\{([A-Z_0-9]+)(:\?|:-)(.*)\}", text)
    if not match:
        return text
    name, kind, rest = match.groups()
    if shell.get(name):
        return shell[name]
    if kind == ":?":
        raise LookupError(f"compose refuses to start: {rest}")
    return rest


def container_env(app_env: dict, shell: dict) -> dict:
    env = {}
    for name, value in app_env.items():
        if value is None:  # `NAME:` with no value: the shell's, or unset
            if name in shell:
                env[name] = shell[name]
            continue
        env[name] = resolve(value, shell)
    return env


def test_every_variable_the_settings_read_is_listed(app_env):
    read = settings_variables()
    assert {"SECRET_KEY", "MEINVOICE_API_URL", "MEINVOICE_LOOKUP_URL", "REDIS_URL", "VAR_DIR"} <= read
    assert read - set(app_env) == set(), "docker-compose.yml does not list these"
    assert set(app_env) - read == {"DJANGO_SETTINGS_MODULE"}, "listed but read by no setting"
    assert app_env["DJANGO_SETTINGS_MODULE"] == "config.settings"  # the production settings


def test_required_and_optional_entries(app_env):
    for name, value in app_env.items():
        if name == "DJANGO_SETTINGS_MODULE":
            continue
        if name in PASSED_THROUGH:
            assert value is None, name
            continue
        match = re.fullmatch(r"\$\{([A-Z_0-9]+)(:\?|:-)(.*)\}", str(value))
        assert match and match[1] == name, f"{name}: {value!r}"
        if name in REQUIRED:
            assert match[2] == ":?" and match[3], f"{name} must be required, with a message"
        else:
            assert match[2] == ":-", f"{name} must be optional, with its default"
            assert "{" not in match[3] and "}" not in match[3], f"{name}: compose mangles braces in a default"


def test_the_outside_services_default_to_their_production_addresses(app_env):
    defaults = container_env(app_env, {n: "x" for n in REQUIRED})
    assert defaults["MEINVOICE_API_URL"] == "https://api.meinvoice.vn/api/integration"
    every_url = {n: u for a in [*registry.sources(), *registry.targets()] for n, u in a.url_settings.items()}
    assert {"HARAVAN_API_URL", "MEINVOICE_API_URL"} <= set(every_url)
    for name, production in every_url.items():
        if name not in PASSED_THROUGH:
            assert defaults[name] == production, name
    assert "MEINVOICE_LOOKUP_URL" not in defaults  # unset: the settings' default applies


def test_compose_refuses_to_start_without_a_required_variable(app_env):
    shell = {n: "x" for n in REQUIRED}
    for name in REQUIRED:
        with pytest.raises(LookupError, match=name):
            container_env(app_env, {k: v for k, v in shell.items() if k != name})


def test_the_app_services_share_the_environment_and_migrate_checks_first(compose):
    for service in APP_SERVICES:
        assert compose["services"][service]["environment"] == compose["x-app"]["environment"], service
    migrate = " ".join(compose["services"]["migrate"]["command"])
    assert migrate.index("manage.py check --deploy &&") < migrate.index("manage.py migrate")
    assert "writeback" in " ".join(compose["services"]["worker"]["command"])


def test_the_composed_environment_passes_check_deploy(tmp_path, app_env):
    shell = {name: PRODUCTION[name] for name in REQUIRED}
    env = container_env(app_env, shell)
    env["VAR_DIR"] = str(tmp_path)  # not /app/var outside the image
    result = check_deploy(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert "ERRORS" not in result.stdout + result.stderr
