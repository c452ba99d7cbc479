"""A Maventa account's setup and settings, as stored on its ``TargetAccount``.

One account per sending company (the organisation's VAT number is the account's id). The keys Maventa
gives (user API key, company UUID) are the account's encrypted ``credentials``; everything else a person
chooses or Maventa reports is in ``settings`` under the names below, read through ``setup_of`` so every
module agrees on them and on their defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

# credentials
USER_API_KEY = "user_api_key"
COMPANY_UUID = "company_uuid"

# Maventa's company_state that lets a company send (anything else: Maventa answers auth_unauthorized)
VERIFIED = "VERIFIED"
AUTH_LOCALES = ("FI", "SE", "NO", "EN", "NL")


@dataclass
class AccountSetup:
    # The Severa company this account sends for (its guid in organizationdetails.activeCompanies)
    company_guid: str = ""
    country: str = ""  # ISO alpha-2 of the company: "SE", "FI"
    # How the account came to be: "" (not yet), "registered" (by us), "linked" (an existing account)
    origin: str = ""
    company_email: str = ""  # the company's e-mail given at registration (prefills the auth e-mail)
    # Authentication (KYC) as Maventa last reported it
    auth_state: str = ""  # PENDING | SENT | SIGNED | CANCELED | NONE
    company_state: str = ""  # VERIFIED | UNVERIFIED | UNKNOWN
    auth_email: str = ""
    auth_locale: str = ""
    signatory: str = ""
    auth_requested_at: str = ""  # ISO moment
    auth_checked_at: str = ""  # ISO moment
    # Settings (open once the company is verified)
    attach_pdf: bool = True  # send Severa's own PDF with the XML (else Maventa renders its own image)
    email_fallback: bool = True  # e-mail the invoice when the customer has no e-invoice address
    print_allowed: bool = True  # else print (letter) when neither an e-invoice address nor an e-mail
    error_emails: list[str] = field(default_factory=list)  # Maventa's on_send_errors + our alert digest
    status_to_transfer: str = ""  # Severa invoice status guids
    status_after: str = ""
    status_error: str = ""
    # Where the buyer pays (Severa's API carries no bank details): {"kind": bankgiro|plusgiro|iban,
    # "account": …, "bic": …}
    payment: dict = field(default_factory=dict)
    enabled: bool = False

    @property
    def verified(self) -> bool:
        return self.company_state == VERIFIED

    @property
    def statuses_chosen(self) -> bool:
        return bool(self.status_to_transfer and self.status_after and self.status_error)

    @property
    def sending(self) -> bool:
        """Whether invoices go out: switched on, verified and with its statuses chosen."""
        return self.enabled and self.verified and self.statuses_chosen


_NAMES = {f.name for f in fields(AccountSetup)}


def setup_of(account) -> AccountSetup:
    stored = account.settings if isinstance(account.settings, dict) else {}
    return AccountSetup(**{k: v for k, v in stored.items() if k in _NAMES})


def store_setup(account, setup: AccountSetup, *, save: bool = True) -> None:
    """Write the setup back, keeping any other keys the account's settings hold."""
    account.settings = {**(account.settings or {}), **asdict(setup)}
    if save:
        account.save(update_fields=["settings"])


def has_keys(account) -> bool:
    return bool(account.credentials.get(USER_API_KEY) and account.credentials.get(COMPANY_UUID))
