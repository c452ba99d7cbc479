"""A stand-in for Maventa AutoXChange (Visma's e-invoicing operator), mounted at ``/maventa``, so invoices can
be registered for, authorised and sent in tests and the demo without a Maventa account.

It follows /work/shared/reference/maventa-severa.md §2 (the AX swagger as generated clients carry it,
Maventa's documentation, a Ruby client's recorded error codes); what the simulator decides where those
sources are silent is marked "sandbox:" in each module's docstring."""

from .control import KNOBS
from .demo import DEMO_COMPANIES, DEMO_RECEIVERS, DEMO_VENDOR_API_KEY, MAVENTA_OPERATOR
from .helpers import MaventaError, normalise_bid
from .invoices import FORMATS
from .oauth import DEFAULT_SCOPE, SCOPES
from .simulator import MaventaSimulator
from .state import Company, Invoice, Token, User
from .ubl import CUSTOMIZATION_ID, PROFILE_ID

__all__ = [
    "CUSTOMIZATION_ID",
    "DEFAULT_SCOPE",
    "DEMO_COMPANIES",
    "DEMO_RECEIVERS",
    "DEMO_VENDOR_API_KEY",
    "FORMATS",
    "KNOBS",
    "MAVENTA_OPERATOR",
    "PROFILE_ID",
    "SCOPES",
    "Company",
    "Invoice",
    "MaventaError",
    "MaventaSimulator",
    "Token",
    "User",
    "normalise_bid",
]
