"""A stand-in for Visma Severa's public REST API v1, mounted at ``/severa`` (so the API is at
``/severa/rest-api/v1/…``), holding the demo organisation "Demokonsult AB".

It follows /work/shared/reference/maventa-severa.md §3 (the ``rantalainen/severa-api-client`` spec, its rate
limiter, ``generoi/severa-mcp``); what the simulator decides where those sources are silent is said in each
module's docstring."""

from . import data
from .auth import ACCESS_TTL_SECONDS, SCOPES
from .control import KNOBS
from .helpers import SeveraError
from .invoices import PATCH_TYPE
from .simulator import API_PREFIX, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, QUOTA_MESSAGE, SeveraSimulator
from .state import Credential, Invoice, Token

__all__ = [
    "ACCESS_TTL_SECONDS",
    "API_PREFIX",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "KNOBS",
    "PATCH_TYPE",
    "QUOTA_MESSAGE",
    "SCOPES",
    "Credential",
    "Invoice",
    "SeveraError",
    "SeveraSimulator",
    "Token",
    "data",
]
