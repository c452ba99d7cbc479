"""Test-wide fixtures. Outside services are never reached: the sandbox simulators stand in for them."""

import os

import pytest
from django.conf import settings

from tests.support import services


def _need(reason: str):
    if services.required():
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url():
    """The test database's URL, for worker processes that must see the same rows."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        _need(f"PostgreSQL unavailable: {getattr(settings, 'POSTGRES_UNAVAILABLE', '') or 'not configured'}")
    from django.db import connection

    name = connection.settings_dict["NAME"]  # the test database once pytest-django created it
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"


@pytest.fixture(scope="session")
def redis_server():
    try:
        server = services.RedisServer().start()
    except services.ServiceUnavailable as exc:
        _need(str(exc))
    yield server
    server.cleanup()


@pytest.fixture
def output_dir(request):
    """Where a test leaves artefacts (screenshots, logs) for a person to look at."""
    path = os.path.join(settings.BASE_DIR, "test-output", request.node.name)
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture
def sandbox(settings):
    """Every simulator answering this process's `requests` calls in-process (no port, no thread), with the
    Haravan and meInvoice clients pointed at it. Yields the sandbox app (its simulators hold the state)."""
    import responses

    from sandbox.maventa.demo import DEMO_VENDOR_API_KEY
    from sandbox.server import default_app
    from sandbox.testing import mount

    base = "http://127.0.0.1:8100"
    settings.HARAVAN_API_URL = f"{base}/haravan"
    settings.MEINVOICE_API_URL = f"{base}/meinvoice/api/integration"
    settings.SEVERA_API_URL = f"{base}/severa/rest-api"
    settings.MAVENTA_API_URL = f"{base}/maventa"
    settings.MAVENTA_VENDOR_API_KEY = DEMO_VENDOR_API_KEY  # the simulator's vendor
    settings.HARAVAN_RATE_CAPACITY = 1000
    settings.MEINVOICE_SERIES_GAP_SECONDS = 0  # pacing has its own test; the others need not wait
    app = default_app(
        seed_orders=False,
        webhook_sender=lambda *a: (200, "ok"),
        webhook_background=False,
        amis_options={"callback_sender": lambda *a: (200, "ok"), "callback_background": False},
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mount(mock, app, base)
        yield app
    for sim in app.mounts.values():
        sim.close()


@pytest.fixture
def other_target():
    """A second target registered for the test: screens must treat it as they treat meInvoice."""
    from connectors import registry

    class Books(registry.TargetAdapter):
        name = "testbooks"
        label = "Test Books"
        family = "haravan_to_testbooks"
        family_label = "Haravan → Test Books"
        tag_label = "BOOKS"
        source_kinds = ("haravan",)
        order_document_kind = "voucher"
        document_kinds = {"voucher": "Sales voucher"}
        credential_fields = (("access_code", "Access code", True),)

        def on_document_changed(self, document, *, trigger=""):
            from syncjobs.services import State, set_state

            set_state(document, State.SKIPPED, error="Test Books keeps nothing.")

    adapter = registry.register_target(Books())
    yield adapter
    registry.unregister_target(adapter.name)


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    """A page request switches the active language (the language middleware) and leaves it on; the next
    test starts in the product's default language, whatever the last one read."""
    yield
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
