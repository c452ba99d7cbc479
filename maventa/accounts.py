"""A Maventa account's setup, as Severa's own integration does it (maventa-severa.md §1):
register a new Maventa user and company, or link an existing company; send the authentication (KYC)
request and follow its state; choose the settings once the company is verified; switch sending on or off.

Every call to Maventa leaves one timeline row (``action="account"``) tagged ``[Maventa <VAT number>]``;
every function answers a ``Result`` (ok, and a sentence for the screen). Keys only ever go to the account's
encrypted ``credentials`` — never to a message, a row or a page.

Readings chosen where the sources are silent or unsure:

- **The signatory** is given to Maventa in the authorization request's ``options`` (a JSON string,
  "partner's own KYC proof" in the spec) as ``{"signatory": name}``; Maventa itself knows the signatory
  only by the e-mail the request goes to.
- **Settings PATCH**: each group changed (``send_invoice_email``, ``send_invoice_print``,
  ``invoice_notifications``) is sent whole, as just read with our change in it, together with ``details``
  and ``address`` as read (the spec marks those required on PATCH); so nothing else of the company's
  settings changes whether or not Maventa merges partial groups.
- **Keys of an existing account** are checked by asking ``GET /oauth2/current`` with them: a 401 means
  wrong keys (nothing stored); a company whose business id is not the account's VAT number is refused.
- **A company already signed** (Maventa's ``auth_authorized`` answer to a new request) is not an error:
  its state is read and stored.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid as uuid_module
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from connectors.http import ApiError, RetryableError
from connectors.locks import try_lock
from connectors.models import TargetAccount
from connectors.registry import SourceStatus, Unsupported
from connectors.text import Text, is_email, join, words_of
from syncjobs.services import Outcome, log_attempt

from .client import AUTH_LOCALES, BidTaken, MaventaClient, MaventaError
from .services import client_for, registration_client
from .setup import COMPANY_UUID, USER_API_KEY, AccountSetup, has_keys, setup_of, store_setup
from .validate import luhn_ok

log = logging.getLogger(__name__)

ACTION = "account"
PAYMENT_KINDS = ("bankgiro", "plusgiro", "iban")
COUNTRIES = ("FI", "SE", "NO", "DK", "NL")  # what POST /v1/companies takes (the 2023 spec's enum)

# The refusal Severa's own integration gives (maventa-severa.md §1), and where to change it.
CANNOT_BE_SENT = Text("Status of the invoices to be transferred can not be sent")
WHERE_TO_CHANGE = Text(
    "Choose a status that is not marked Sent in Severa (Settings → Invoice statuses), or another status here."
)
LOCKED = Text(
    "Every other setting stays locked until the company is verified: send the authentication request "
    "and let the signatory sign it, then press Update."
)


@dataclass(frozen=True)
class Result:
    """What happened, for the screen: ``ok`` and one sentence (in the reader's language when shown);
    ``invalid``: the input itself was refused (the form is shown again with it)."""

    ok: bool
    message: Text
    invalid: bool = False


def _ok(message: Text) -> Result:
    return Result(True, message)


def _refused(message: Text, *, invalid: bool = False) -> Result:
    return Result(False, message, invalid)


def _log(account, outcome: str, message: Text, exchange=None) -> None:
    log_attempt(
        connection=account.connection,
        account=account,
        action=ACTION,
        outcome=outcome,
        message=message,
        exchange=exchange,
    )


def _failed(account, doing: Text, exc: Exception) -> Result:
    """An outside call that failed: logged with its exchange, said in words with what to do next."""
    retryable = isinstance(exc, RetryableError) or not isinstance(exc, ApiError)
    todo = (
        Text("Maventa did not answer properly this time; nothing was changed. Try again in a few minutes.")
        if retryable
        else Text("Nothing was changed. Correct what Maventa names, then try again.")
    )
    # Maventa's words may or may not end a sentence: what to do follows after a dash, never after "..".
    message = join([Text("%(doing)s failed: %(detail)s", doing=doing, detail=words_of(exc)), todo], " — ")
    _log(
        account,
        Outcome.RETRYABLE if retryable else Outcome.ERROR,
        message,
        getattr(exc, "exchange", None),
    )
    if not isinstance(exc, ApiError):
        log.exception("%s of %s failed", doing.english(), account.tag)
    return _refused(message)


def _vat(account) -> str:
    return (account.external_id or "").strip().upper()


def _country(account, setup: AccountSetup) -> str:
    return (setup.country or _vat(account)[:2]).upper()


def _now() -> str:
    return timezone.now().isoformat()


BUSY = Text(
    "Someone is registering or linking this account at Maventa right now: wait a moment, then reload the "
    "page."
)


def _one_at_a_time(service):
    """Registering and linking create things at Maventa: one at a time per account (two presses of
    Register would make two users), under a lock every worker and web process shares."""

    @functools.wraps(service)
    def run(account, **kw):
        with try_lock(f"maventa-account-setup:{account.pk}") as got:
            if not got:
                return _refused(BUSY)
            return service(account, **kw)

    return run


def _update(account, *, credentials: dict | None = None, **changes) -> AccountSetup:
    """Change some of the account's setup (and credentials) on its row, locked, so two changes made at the
    same time (a refresh by the schedule, a person saving settings) never undo each other; the account
    object given is brought up to date."""
    with transaction.atomic():
        fresh = TargetAccount.objects.select_for_update().get(pk=account.pk)
        setup = setup_of(fresh)
        for name, value in changes.items():
            setattr(setup, name, value)
        fields = ["settings"]
        if credentials:
            fresh.credentials = {**(fresh.credentials or {}), **credentials}
            fields.append("credentials")
        store_setup(fresh, setup, save=False)
        fresh.save(update_fields=fields)
    account.settings, account.credentials = fresh.settings, fresh.credentials
    return setup


# --- a new account -----------------------------------------------------------------------------------


@_one_at_a_time
def register(
    account: TargetAccount,
    *,
    email: str,
    first_name: str,
    last_name: str,
    activate_duetto: bool,
    address: dict,
    company_email: str = "",
) -> Result:
    """A Maventa user for the person (``POST /v1/users``), then the account's company (``POST
    /v1/companies``: its name, the VAT number as business id, ``activate_duetto`` as chosen); the user API
    key and company UUID are stored encrypted. When no user API key comes back the person already has a
    Maventa user: nothing more is registered and the answer says what to do. The user's key is kept as
    soon as it comes, so a company Maventa refused (a mistyped VAT number, corrected under Edit) is
    registered again with the same user. The authentication request is the person's next step (Severa's
    help page: "Send authentication request")."""
    setup = setup_of(account)
    vat = _vat(account)
    if has_keys(account):
        return _refused(
            Text(
                "%(vat)s already has a Maventa user API key and company UUID: nothing was registered. To "
                "use another Maventa company, enter its keys under Existing account.",
                vat=vat,
            )
        )
    email = (email or "").strip()
    company_email = (company_email or email).strip()
    country = _country(account, setup)
    problems = []
    if not is_email(email):
        problems.append(Text("Enter the person's e-mail address."))
    if company_email and not is_email(company_email):
        problems.append(Text("Enter the company's e-mail address."))
    if country not in COUNTRIES:
        problems.append(
            Text(
                "Maventa registers companies of %(countries)s only; %(vat)s is not one of them.",
                countries=", ".join(COUNTRIES),
                vat=vat,
            )
        )
    name = (account.name or "").strip()
    if len(name) < 3:
        problems.append(Text("The company's name needs at least 3 characters: set it under Edit."))
    missing = [
        key for key in ("address1", "post_code", "post_office", "city") if not (address or {}).get(key)
    ]
    if missing:
        problems.append(Text("Enter the company's street address, postcode, post office and city."))
    if problems:
        return _refused(join(problems), invalid=True)

    client = registration_client(label=vat)
    # A user made by an earlier attempt whose company was refused (its key kept, encrypted): used again,
    # since Maventa gives no key for a user that exists.
    user_api_key = str((account.credentials or {}).get(USER_API_KEY) or "")
    if user_api_key:
        _log(account, Outcome.INFO, Text("Using the Maventa user created by the earlier attempt."))
    else:
        doing = Text("Registering the Maventa user")
        try:
            user_api_key = client.create_user(
                email, first_name=first_name.strip(), last_name=last_name.strip()
            )
        except Exception as exc:
            return _failed(account, doing, exc)
        if not user_api_key:
            message = Text(
                "This person already has a Maventa user: finish the company in Maventa, then paste its "
                "user API key and company UUID under Existing account"
            )
            _log(account, Outcome.INFO, message, client.last_exchange)
            return _refused(message)
        _update(account, credentials={USER_API_KEY: user_api_key})
        _log(
            account,
            Outcome.OK,
            Text("Maventa user created for %(email)s.", email=email),
            client.last_exchange,
        )

    doing = Text("Registering the company at Maventa")
    try:
        company_uuid = client.create_company(
            user_api_key=user_api_key,
            name=name,
            bid=vat,
            no_vat=False,
            address1=str(address.get("address1") or "").strip(),
            address2=str(address.get("address2") or "").strip(),
            post_code=str(address.get("post_code") or "").strip(),
            post_office=str(address.get("post_office") or "").strip(),
            city=str(address.get("city") or "").strip(),
            country=country,
            email=company_email,
            activate_duetto=bool(activate_duetto),
        )
    except BidTaken as exc:
        message = Text(
            "Maventa already has a company with the VAT number %(vat)s, so it cannot be registered again. "
            "Use Existing account: enter that company's user API key and company UUID (from Maventa).",
            vat=vat,
        )
        _log(account, Outcome.ERROR, message, exc.exchange)
        return _refused(message)
    except Exception as exc:
        return _failed(account, doing, exc)

    _update(
        account,
        credentials={USER_API_KEY: user_api_key, COMPANY_UUID: company_uuid},
        origin="registered",
        country=country,
        company_email=company_email,
        auth_email=setup.auth_email or company_email,
        auth_state="NONE",
        company_state="UNVERIFIED",
    )
    message = Text(
        "Registered at Maventa (Duetto %(duetto)s); the user API key and company UUID are stored. Next: send "
        "the authentication request.",
        duetto=Text("on") if activate_duetto else Text("off"),
    )
    _log(account, Outcome.OK, message, client.last_exchange)
    return _ok(message)


# --- an existing account -----------------------------------------------------------------------------


def _same_company(vat: str, company: dict) -> bool:
    """Whether Maventa's company (``/oauth2/current``) is the account's: its VAT number, or a business id
    whose digits are the VAT number's (SE 5566778899 in SE556677889901, FI 2345678-0 = FI23456780)."""
    vat_digits = re.sub(r"\D", "", vat)
    given = [str(company.get(k) or "").upper() for k in ("vat", "bid")]
    given = [g for g in given if g]
    if not given:
        return True  # Maventa said nothing to compare with
    for value in given:
        digits = re.sub(r"\D", "", value)
        if value.replace(" ", "") == vat or (len(digits) >= 7 and digits in vat_digits):
            return True
    return False


@_one_at_a_time
def link_existing(
    account: TargetAccount,
    *,
    user_api_key: str,
    company_uuid: str,
    auth_email: str,
    auth_locale: str,
    signatory: str,
) -> Result:
    """Take an existing Maventa company into use: check its keys, link it to our vendor (``POST
    /v1/company/vendors``), store the keys encrypted, and send the authentication request at once. Wrong
    keys (Maventa answers 401): nothing is stored."""
    user_api_key, company_uuid = (user_api_key or "").strip(), (company_uuid or "").strip()
    vat = _vat(account)
    problems = []
    if not user_api_key:
        problems.append(Text("Enter the user API key."))
    try:
        uuid_module.UUID(company_uuid)
    except ValueError:
        problems.append(Text("The company UUID is 32 hexadecimal digits in five groups (8-4-4-4-12)."))
    problems += _authentication_problems(auth_email, auth_locale, signatory)
    if problems:
        return _refused(join(problems), invalid=True)

    client = MaventaClient(company_uuid=company_uuid, user_api_key=user_api_key, label=vat)
    doing = Text("Checking the keys at Maventa")
    try:
        current = client.current()
    except MaventaError as exc:
        if exc.status == 401:
            message = Text(
                "Maventa did not accept the user API key and company UUID: they are wrong, or belong to "
                "another Maventa environment. Nothing was stored; copy both again from Maventa."
            )
            _log(account, Outcome.ERROR, message, exc.exchange)
            return _refused(message, invalid=True)
        return _failed(account, doing, exc)
    except Exception as exc:
        return _failed(account, doing, exc)
    company = current.get("company") if isinstance(current.get("company"), dict) else {}
    if not _same_company(vat, company):
        message = Text(
            "These keys belong to the Maventa company %(name)s (%(bid)s), not to %(vat)s. Nothing was "
            "stored.",
            name=str(company.get("name") or ""),
            bid=str(company.get("vat") or company.get("bid") or ""),
            vat=vat,
        )
        _log(account, Outcome.ERROR, message)
        return _refused(message, invalid=True)

    doing = Text("Linking the company to our service at Maventa")
    try:
        state = client.link_vendor()
    except Exception as exc:
        return _failed(account, doing, exc)
    setup = setup_of(account)
    _update(
        account,
        credentials={USER_API_KEY: user_api_key, COMPANY_UUID: company_uuid},
        origin="linked",
        country=setup.country or str(company.get("country") or "").upper() or vat[:2],
    )
    _log(
        account,
        Outcome.OK,
        Text("Existing Maventa company linked to our service (%(state)s); its keys are stored.", state=state),
        client.last_exchange,
    )
    requested = request_authentication(
        account, signatory=signatory, auth_email=auth_email, auth_locale=auth_locale
    )
    linked = Text("The existing Maventa company is linked and its keys are stored.")
    return Result(requested.ok, join([linked, requested.message]))


# --- authentication (KYC) ----------------------------------------------------------------------------


def _authentication_problems(auth_email: str, auth_locale: str, signatory: str) -> list[Text]:
    problems = []
    if not (signatory or "").strip():
        problems.append(Text("Enter the signatory: the person who may sign for the company."))
    if not is_email((auth_email or "").strip()):
        problems.append(Text("Enter the e-mail address the authentication request goes to."))
    if (auth_locale or "").upper() not in AUTH_LOCALES:
        problems.append(Text("Choose the e-mail's language: %(locales)s.", locales=", ".join(AUTH_LOCALES)))
    return problems


def _no_keys(account) -> Result:
    return _refused(
        Text(
            "%(vat)s has no Maventa keys yet: register a new account or enter an existing one first.",
            vat=_vat(account),
        )
    )


def request_authentication(
    account: TargetAccount, *, signatory: str, auth_email: str, auth_locale: str
) -> Result:
    """``POST /v1/company/authorization``: Maventa mails the signatory a strong-authentication signing
    request in the chosen language (FI, SE, NO, EN, NL); the state is then read and stored."""
    if not has_keys(account):
        return _no_keys(account)
    problems = _authentication_problems(auth_email, auth_locale, signatory)
    if problems:
        return _refused(join(problems), invalid=True)
    auth_email, auth_locale, signatory = auth_email.strip(), auth_locale.upper(), signatory.strip()
    client = client_for(account)
    doing = Text("Sending the authentication request")
    try:
        client.request_authorization(auth_email, auth_locale, options={"signatory": signatory})
    except MaventaError as exc:
        if exc.code != "auth_authorized":
            return _failed(account, doing, exc)
        _log(account, Outcome.INFO, Text("Maventa says the company is already authorised."), exc.exchange)
        return refresh_authentication(account)
    except Exception as exc:
        return _failed(account, doing, exc)
    _update(
        account,
        signatory=signatory,
        auth_email=auth_email,
        auth_locale=auth_locale,
        auth_requested_at=_now(),
        auth_state="PENDING",
    )
    sent = Text(
        "Authentication request sent to %(email)s (%(locale)s) for %(signatory)s to sign.",
        email=auth_email,
        locale=auth_locale,
        signatory=signatory,
    )
    _log(account, Outcome.OK, sent, client.last_exchange)
    refreshed = refresh_authentication(account)
    return Result(refreshed.ok, join([sent, refreshed.message]))


AUTH_WORDS = {
    "NONE": Text("No authentication request sent yet."),
    "PENDING": Text("The authentication request is on its way to the signatory."),
    "SENT": Text("Waiting for the signatory to sign the authentication request (sent by e-mail)."),
    "SIGNED": Text("The authentication request is signed."),
    "CANCELED": Text("The authentication request was canceled: send a new one."),
}
COMPANY_WORDS = {
    "VERIFIED": Text("The company is verified: it can send invoices."),
    "UNVERIFIED": Text("The company is not verified yet: it cannot send invoices."),
    "UNKNOWN": Text("Maventa does not know yet whether the company is verified."),
}


def auth_words(setup: AccountSetup) -> Text:
    """Where the authentication stands, in words (the screen and the log)."""
    auth = AUTH_WORDS.get(
        setup.auth_state or "NONE", Text("Authentication state %(state)s.", state=setup.auth_state)
    )
    company = COMPANY_WORDS.get(
        setup.company_state or "UNKNOWN", Text("Company state %(state)s.", state=setup.company_state)
    )
    return join([auth, company])


def refresh_authentication(account: TargetAccount) -> Result:
    """``GET /v1/company/authorization``: ``auth_state``, ``company_state`` and when they were read,
    stored on the account."""
    if not has_keys(account):
        return _no_keys(account)
    client = client_for(account)
    try:
        status = client.authorization()
    except Exception as exc:
        return _failed(account, Text("Reading the authentication status"), exc)
    seen = {"auth_email": status.auth_email} if status.auth_email else {}
    setup = _update(
        account,
        auth_state=status.auth_state,
        company_state=status.company_state,
        auth_checked_at=_now(),
        **seen,
    )
    words = auth_words(setup)
    if setup.verified:
        words = join([words, Text("Choose the settings and statuses below, then switch sending on.")])
    _log(account, Outcome.OK, words, client.last_exchange)
    return _ok(words)


def refresh_pending_authentications() -> dict[str, int]:
    """Every Maventa account with keys whose company is not verified yet: its authentication state read
    again (the beat task ``maventa.refresh_authorizations``). One account failing does not stop the
    others. Counts of what happened: ``checked``, ``verified`` (now), ``failed``."""
    counts = {"checked": 0, "verified": 0, "failed": 0}
    accounts = TargetAccount.objects.filter(connection__target_kind="maventa").select_related("connection")
    for account in accounts.order_by("pk"):
        if not has_keys(account) or setup_of(account).verified:
            continue
        counts["checked"] += 1
        try:
            result = refresh_authentication(account)
        except Exception:  # the database, say: the next account still gets its turn
            log.exception("refreshing the authentication of %s failed", account.tag)
            counts["failed"] += 1
            continue
        if not result.ok:
            counts["failed"] += 1
        elif setup_of(account).verified:
            counts["verified"] += 1
    return counts


# --- settings ----------------------------------------------------------------------------------------


def source_statuses(connection) -> list[SourceStatus] | None:
    """The statuses the connection's source reports (Severa's invoice statuses), or None when it cannot
    tell them."""
    try:
        return list(connection.source.statuses(connection))
    except (Unsupported, LookupError):
        return None
    except Exception:  # the source failing must not take the account's page down with it
        log.exception("the statuses of %s could not be read", connection)
        return None


def statuses_problem(statuses: list[SourceStatus] | None, chosen: dict[str, str]) -> Text | None:
    """Why the three chosen statuses (to transfer, after, on error) cannot be used, or None."""
    if statuses is None:
        return Text(
            "The Severa invoice statuses are not known yet: connect the Severa organisation (or read it "
            "again), then choose the statuses."
        )
    known = {s.key for s in statuses}
    values = list(chosen.values())
    if not all(values):
        return Text("Choose all three statuses: to transfer, after transfer and on error.")
    if any(v not in known for v in values):
        return Text("A chosen status is not one of Severa's invoice statuses any more: choose again.")
    if len(set(values)) != 3:
        return Text("The status to transfer, the status after transfer and the status on error must differ.")
    return None


def _digits(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "")


def iban_ok(value: str) -> bool:
    """ISO 13616: country letters, two check digits, up to 30 letters and digits; mod 97 of the
    rearranged number is 1."""
    iban = re.sub(r"\s", "", value or "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def payment_problem(kind: str, account_number: str, bic: str = "") -> Text | None:
    """Why a payment account is not valid, or None: Bankgiro 7–8 digits and Plusgiro 2–8 digits, each
    with a Luhn check digit (Peppol SE-R-007/SE-R-008 read the same way); an IBAN with its mod-97 check; a
    BIC of 8 or 11 characters. No kind: the invoices name no payment account."""
    kind = (kind or "").lower()
    if not kind:
        return None
    if kind not in PAYMENT_KINDS:
        return Text("Choose Bankgiro, Plusgiro or IBAN.")
    number = _digits(account_number)
    if kind == "bankgiro" and not (number.isdigit() and 7 <= len(number) <= 8 and luhn_ok(number)):
        return Text(
            "A Bankgiro number has 7 or 8 digits, the last a check digit: check %(number)s.",
            number=account_number,
        )
    if kind == "plusgiro" and not (number.isdigit() and 2 <= len(number) <= 8 and luhn_ok(number)):
        return Text(
            "A Plusgiro number has 2 to 8 digits, the last a check digit: check %(number)s.",
            number=account_number,
        )
    if kind == "iban" and not iban_ok(account_number):
        return Text(
            "This is not a valid IBAN (its check digits do not match): check %(number)s.",
            number=account_number,
        )
    bic = (bic or "").strip().upper()
    if bic and not BIC.match(bic):
        return Text("A BIC has 8 or 11 letters and digits (NDEASESS, HANDFIHH): check %(bic)s.", bic=bic)
    return None


def normal_payment(kind: str, account_number: str, bic: str = "") -> dict:
    """The payment account as stored (``AccountSetup.payment``): digits only for Bankgiro and Plusgiro, an
    IBAN without spaces, the BIC in capitals; {} for none."""
    kind = (kind or "").lower()
    if not kind:
        return {}
    number = _digits(account_number) if kind != "iban" else re.sub(r"\s", "", account_number).upper()
    return {"kind": kind, "account": number, "bic": (bic or "").strip().upper()}


def emails_problem(emails: list[str]) -> Text | None:
    wrong = [e for e in emails if not is_email(e)]
    if wrong:
        return Text("Not e-mail addresses: %(emails)s.", emails=", ".join(wrong))
    return None


def save_settings(
    account: TargetAccount,
    *,
    attach_pdf: bool,
    email_fallback: bool,
    print_allowed: bool,
    error_emails: list[str],
    status_to_transfer: str,
    status_after: str,
    status_error: str,
    payment: dict,
) -> Result:
    """The account's settings, once its company is verified: what Maventa keeps (e-mail fallback
    ``send_invoice_email.enabled``; print ``send_invoice_print.enabled`` and the original PDF
    ``use_own_pdf``; failure mails ``invoice_notifications.on_send_errors.to_emails``) is saved there
    first; then everything is stored on the account."""
    setup = setup_of(account)
    if not has_keys(account):
        return _no_keys(account)
    if not setup.verified:
        return _refused(LOCKED)
    emails = [e.strip() for e in error_emails if e and e.strip()]
    payment = payment or {}
    chosen = {"to": status_to_transfer, "after": status_after, "error": status_error}
    statuses = source_statuses(account.connection)
    status_problem = statuses_problem(statuses, chosen)
    # While sending stays on, the switch's own refusal applies to a status to transfer marked Sent.
    if (
        not status_problem
        and setup.enabled
        and next(s for s in statuses if s.key == status_to_transfer).is_sent
    ):
        status_problem = join([CANNOT_BE_SENT, WHERE_TO_CHANGE], ". ")
    problems = [
        p
        for p in (
            emails_problem(emails),
            status_problem,
            payment_problem(payment.get("kind", ""), payment.get("account", ""), payment.get("bic", "")),
        )
        if p
    ]
    if problems:
        return _refused(join(problems), invalid=True)

    client = client_for(account)
    doing = Text("Saving the settings at Maventa")
    try:
        current = client.get_settings(
            ("send_invoice_email", "send_invoice_print", "invoice_notifications", "details", "address")
        )
        changes = {name: current[name] for name in ("details", "address") if current.get(name)}
        changes["send_invoice_email"] = {
            **(current.get("send_invoice_email") or {}),
            "enabled": bool(email_fallback),
        }
        changes["send_invoice_print"] = {
            **(current.get("send_invoice_print") or {}),
            "enabled": bool(print_allowed),
            "use_own_pdf": bool(attach_pdf),
        }
        notifications = dict(current.get("invoice_notifications") or {})
        on_errors = dict(notifications.get("on_send_errors") or {})
        on_errors["to_emails"] = emails
        on_errors.setdefault("to_user", False)
        notifications["on_send_errors"] = on_errors
        changes["invoice_notifications"] = notifications
        client.update_settings(changes)
    except Exception as exc:
        return _failed(account, doing, exc)

    _update(
        account,
        attach_pdf=bool(attach_pdf),
        email_fallback=bool(email_fallback),
        print_allowed=bool(print_allowed),
        error_emails=emails,
        status_to_transfer=status_to_transfer,
        status_after=status_after,
        status_error=status_error,
        payment=normal_payment(payment.get("kind", ""), payment.get("account", ""), payment.get("bic", "")),
    )
    message = Text("Settings saved, at Maventa too.")
    _log(account, Outcome.OK, message, client.last_exchange)
    return _ok(message)


def enable_problem(account: TargetAccount, setup: AccountSetup | None = None) -> Text | None:
    """Why sending cannot be switched on, or None: the company must be verified, its statuses chosen,
    and the status to transfer must not be one Severa counts as sent."""
    setup = setup or setup_of(account)
    if not has_keys(account):
        return Text("Register a new account or enter an existing one first.")
    if not setup.verified:
        return LOCKED
    if not setup.statuses_chosen:
        return Text("Choose the three statuses under Settings first.")
    statuses = source_statuses(account.connection)
    problem = statuses_problem(
        statuses, {"to": setup.status_to_transfer, "after": setup.status_after, "error": setup.status_error}
    )
    if problem:
        return problem
    to_transfer = next(s for s in statuses if s.key == setup.status_to_transfer)
    if to_transfer.is_sent:
        return join([CANNOT_BE_SENT, WHERE_TO_CHANGE], ". ")
    return None


def set_enabled(account: TargetAccount, enabled: bool) -> Result:
    """The enable switch. Switching off is always allowed; switching on is refused (with where to change
    it) unless ``enable_problem`` finds nothing."""
    with transaction.atomic():
        fresh = TargetAccount.objects.select_for_update().select_related("connection").get(pk=account.pk)
        setup = setup_of(fresh)
        problem = enable_problem(fresh, setup) if enabled else None
        if not problem:
            setup.enabled = bool(enabled)
            store_setup(fresh, setup)
            if enabled:
                from .posting import reconsider

                reconsider(fresh)  # what waited for the switch goes now
    account.settings = fresh.settings
    if problem:
        _log(account, Outcome.INFO, join([Text("Sending not switched on."), problem]))
        return _refused(problem)
    message = (
        Text("Sending is on: invoices in the chosen status go to Maventa.")
        if enabled
        else Text("Sending is off: no invoice goes to Maventa until it is switched on again.")
    )
    _log(account, Outcome.OK, message)
    return _ok(message)
