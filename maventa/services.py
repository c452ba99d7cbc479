"""What the rest of the Maventa app shares: a client for an account."""

import threading

from connectors.models import TargetAccount

from .client import MaventaClient, Token
from .setup import COMPANY_UUID, USER_API_KEY

# Tokens live an hour: each worker process keeps the ones it was given, keyed by a digest of the keys they
# were issued for (never by the keys), so they never leave the process that asked for them.
_TOKENS: dict[str, Token] = {}
_TOKENS_LOCK = threading.Lock()


def _remember(owner: str, token: Token) -> None:
    with _TOKENS_LOCK:
        _TOKENS[owner] = token


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
    owner = client.token_owner
    client.token = _TOKENS.get(owner)
    client.on_token = lambda token: _remember(owner, token)
    return client


def registration_client(**options) -> MaventaClient:
    """A client without an account: it can only register users and companies (our vendor key)."""
    return MaventaClient(**options)
