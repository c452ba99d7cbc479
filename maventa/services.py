"""What the rest of the Maventa app shares: a client for an account."""

from connectors.models import TargetAccount
from connectors.tokens import ProcessTokens

from .client import MaventaClient
from .setup import COMPANY_UUID, USER_API_KEY

_TOKENS = ProcessTokens()  # a Maventa token lives an hour


def client_for(account: TargetAccount, **options) -> MaventaClient:
    """A client for the account's company (its keys from the encrypted credentials), labelled with the
    account's VAT number. `options` go to MaventaClient (``base_url``, ``timeout``, ``vendor_api_key``)."""
    credentials = account.credentials or {}
    client = MaventaClient(
        company_uuid=str(credentials.get(COMPANY_UUID) or ""),
        user_api_key=str(credentials.get(USER_API_KEY) or ""),
        label=account.external_id,
        **options,
    )
    return _TOKENS.attach(client)


def registration_client(**options) -> MaventaClient:
    """A client without an account: it can only register users and companies (our vendor key)."""
    return MaventaClient(**options)
