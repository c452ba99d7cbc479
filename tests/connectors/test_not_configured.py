"""An outside service whose address is not set: a typed error naming the variable, and nothing sent."""

import pytest
import responses
from django.test import Client

from connectors.http import HttpClient, NotConfiguredError, PermanentError
from haravan.client import HaravanClient, exchange_code, subscribe_webhooks
from meinvoice.client import MeInvoiceClient


class NoWait:
    def acquire(self):
        pass


@pytest.fixture
def nothing_sent():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        assert len(mock.calls) == 0  # refused before any request left


def test_a_client_with_an_empty_base_url_names_the_setting(nothing_sent):
    client = HttpClient("", setting="EXAMPLE_API_URL")
    with pytest.raises(NotConfiguredError) as raised:
        client.send("GET", "/things")
    error = raised.value
    assert isinstance(error, PermanentError) and not error.retryable  # a person sets it; retrying cannot help
    assert error.setting == "EXAMPLE_API_URL"
    assert str(error).startswith("GET /things not sent: EXAMPLE_API_URL is not set.")
    assert "environment variable EXAMPLE_API_URL" in str(error)
    assert error.exchange is client.last_exchange and error.exchange.error == "not configured"


def test_haravan_api_unset(settings, nothing_sent):
    settings.HARAVAN_API_URL = ""
    client = HaravanClient("1000", "tok", bucket=NoWait())
    with pytest.raises(NotConfiguredError, match="HARAVAN_API_URL is not set") as raised:
        client.get_order(1)
    assert raised.value.setting == "HARAVAN_API_URL"


def test_haravan_install_and_webhook_apis_unset(settings, nothing_sent):
    settings.HARAVAN_ACCOUNTS_URL = ""
    settings.HARAVAN_WEBHOOK_API_URL = ""
    with pytest.raises(NotConfiguredError, match="HARAVAN_ACCOUNTS_URL is not set"):
        exchange_code(code="c", redirect_uri="https://app.example/haravan/install/callback/")
    with pytest.raises(NotConfiguredError, match="HARAVAN_WEBHOOK_API_URL is not set"):
        subscribe_webhooks("tok")


def test_meinvoice_api_unset(settings, nothing_sent):
    settings.MEINVOICE_API_URL = ""
    client = MeInvoiceClient(tax_code="0101243150", app_id="a", username="u", password="p")
    with pytest.raises(NotConfiguredError, match="MEINVOICE_API_URL is not set") as raised:
        client.login()
    assert raised.value.setting == "MEINVOICE_API_URL"


def test_the_install_says_what_is_missing(db, settings, nothing_sent):
    settings.HARAVAN_ACCOUNTS_URL = ""
    answer = Client().get("/haravan/install/")
    assert answer.status_code == 503
    assert "HARAVAN_ACCOUNTS_URL is not set" in answer.content.decode()
    settings.HARAVAN_ACCOUNTS_URL = "https://accounts.haravan.com"
    settings.PUBLIC_BASE_URL = ""
    answer = Client().get("/haravan/install/")
    assert answer.status_code == 503 and "PUBLIC_BASE_URL is not set" in answer.content.decode()
