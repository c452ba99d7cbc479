"""Reading a Severa organisation: a client for it."""

import threading

from .client import SeveraClient, Token
from .models import SeveraOrganisation

# A Severa token serves every call of one API client for about an hour: each worker process keeps the ones
# it was given, keyed by a digest of the credentials (never the credentials), never outside the process.
_TOKENS: dict[str, Token] = {}
_TOKENS_LOCK = threading.Lock()


def _remember(owner: str, token: Token) -> None:
    with _TOKENS_LOCK:
        _TOKENS[owner] = token


def client_for(organisation: SeveraOrganisation, **options) -> SeveraClient:
    """A client for the organisation's API client, paced by the organisation's shared 10 requests/s.
    `options` go to SeveraClient (``base_url``, ``timeout``, ``bucket``)."""
    client = SeveraClient(
        client_id=organisation.client_id,
        client_secret=organisation.client_secret,
        organisation=organisation.vat_number,
        **options,
    )
    owner = client.token_owner
    client.token = _TOKENS.get(owner)
    client.on_token = lambda token: _remember(owner, token)
    return client


def organisation_of(connection) -> SeveraOrganisation:
    """The Severa organisation a connection reads (its source key is the organisation's VAT number)."""
    return SeveraOrganisation.objects.get(vat_number=connection.source_key, tenant_id=connection.tenant_id)
