"""Sending and following invoices (maventa-severa.md §2 "Send", "Status, actions"):

- ``POST /v1/invoices`` (multipart; scope ``invoice:send``): ``file`` (with a filename) is the UBL XML or a
  ZIP holding it (+ the invoice PDF + attachments); ``format`` one of ``FORMATS``; ``recipient_eia``,
  ``recipient_operator``, ``recipient_email``, ``disabled_routes[]``, ``sender_comment``, ``uuid``, ``lang``.
  A company not VERIFIED is refused 401 ``auth_unauthorized`` ("Unauthorized"). → 201 the invoice.
- ``GET /v1/invoices/{id}`` (by Maventa's id or by the ``uuid`` sent), ``GET /v1/invoices/{id}/actions``,
  ``GET /v1/invoices/{id}/files/{file_id}`` (the file as sent),
  ``GET /v1/invoices?direction=SENT`` (default RECEIVED; ``status[]``, ``number``, ``created_at_start``,
  ``created_at_end``, ``page``,
  ``per_page`` ≤ 100, X-Total / X-Total-Pages / X-Page / X-Per-Page / X-Next-Page headers).

Status: PENDING, then after the knob ``delivery_seconds`` DELIVERED (actions CREATED → SENT → DELIVERED on the
route's channel) or FAILED with an ERROR action (the knob ``delivery_failure_rate``, no route, or the PEPPOL
route's validation).

Routing (support.maventa.fi, §2): ``recipient_eia`` + ``recipient_operator`` force that e-invoice address (no
fallback); else an e-invoice address the directory knows (``recipient_eia``, the buyer's EndpointID, or the
buyer's business id) → EINVOICE; else ``recipient_email`` (or the buyer's contact e-mail) when the company's
``send_invoice_email.enabled`` → EMAIL; else PRINT when ``send_invoice_print.enabled`` and the buyer has a
street address; ``disabled_routes[]`` removes a channel. No channel left → FAILED "No delivery route".

sandbox choices (Unconfirmed in the reference):
- a repeated ``uuid`` ("if it already exists you know the invoice got created already", §2) answers
  **422** ``{code: "uuid_already_used"}`` with the uuid in ``details``, and stores nothing;
  the client then reads ``GET /v1/invoices/{uuid}``. The uuid must be a UUID (400 otherwise);
- the invoice's ``id`` is Maventa's own UUID, never the ``uuid`` sent (a client that assumes they are equal
  fails here); both find it;
- only PEPPOLBIS30 is read: another listed format is 400 ``invalid_parameters`` "not supported by the
  sandbox"; a ZIP must hold exactly one ``.xml``; amounts are strings (exact decimals)."""

from __future__ import annotations

import copy
import io
import zipfile
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..core import Request, Response, json_response
from .helpers import MaventaError, first, form_fields, invalid, is_email, is_uuid, iso, many, not_found
from .state import Company, Invoice
from .ubl import NotUbl, check

if TYPE_CHECKING:
    from .simulator import MaventaSimulator

FORMATS = [
    "VISMAXML53",
    "VISMAXML60",
    "SVEFAKTURA10",
    "SEDI",
    "E2B",
    "EHF20",
    "PEPPOLBIS20",
    "PEPPOLBIS30",
    "SIUBL11",
    "SIUBL12",
    "SIUBL20",
    "OIOUBL",
    "VISMAUBL10",
    "VISMAUBL30",
    "FINVOICE13",
    "FINVOICE20",
    "FINVOICE30",
    "TEAPPS27",
    "TEAPPS30",
]
SIMULATED_FORMATS = ("PEPPOLBIS30",)
ROUTES = ("einvoice", "email", "print")
LANGS = ("FI", "SE", "NO", "DK", "NL", "EN")
MAX_PER_PAGE = 100
SEND_SCOPES = ("invoice:send",)
READ_SCOPES = ("invoice:send", "invoice:receive", "document:send", "document:receive")


class Invoices:
    def __init__(self, sim: MaventaSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add(("POST", "GET"), "/v1/invoices", self.collection)
        router.add("GET", "/v1/invoices/{id}/actions", self.actions)
        router.add("GET", "/v1/invoices/{id}/files/{file_id}", self.file)
        router.add("GET", "/v1/invoices/{id}", self.read)

    def collection(self, request: Request, context: dict) -> Response:
        return self.send(request, context) if request.method == "POST" else self.list(request, context)

    # --- send ------------------------------------------------------------------------------------

    def send(self, request: Request, context: dict) -> Response:
        sim = self.sim
        token = sim.authenticate(request, context, *SEND_SCOPES)
        with sim.lock:
            if sim.companies[token.company].company_state != "VERIFIED":
                raise MaventaError(401, "auth_unauthorized", "Unauthorized")
        fields, files = form_fields(request)
        upload = files.get("file")
        if upload is None or not upload.filename:
            raise invalid("file is missing (a multipart part with a filename)", ["file"])
        fmt = first(fields, "format").upper()
        if fmt not in FORMATS:
            raise invalid(f"format does not have a valid value ({', '.join(FORMATS)})", ["format"])
        if fmt not in SIMULATED_FORMATS:
            raise invalid(f"format {fmt} is not supported by the sandbox (only PEPPOLBIS30)", ["format"])
        disabled = [r.lower() for r in many(fields, "disabled_routes")]
        if any(r not in ROUTES for r in disabled):
            raise invalid(
                f"disabled_routes does not have a valid value ({', '.join(ROUTES)})", ["disabled_routes"]
            )
        lang = first(fields, "lang").upper()
        if lang and lang not in LANGS:
            raise invalid(f"lang does not have a valid value ({', '.join(LANGS)})", ["lang"])
        email = first(fields, "recipient_email")
        if email and not is_email(email):
            raise invalid("recipient_email is invalid", ["recipient_email"])
        given_uuid = first(fields, "uuid")
        if given_uuid and not is_uuid(given_uuid):
            raise invalid("uuid is invalid", ["uuid"])
        xml, stored_files = self._unpack(upload)
        try:
            document = check(xml)
        except NotUbl as bad:
            raise invalid("Invoice file did not pass the minimum content check", bad.problems) from bad
        send_fields = {
            "recipient_eia": first(fields, "recipient_eia") or None,
            "recipient_operator": first(fields, "recipient_operator") or None,
            "recipient_email": email or None,
            "disabled_routes": disabled,
            "sender_comment": first(fields, "sender_comment") or None,
            "lang": lang or None,
        }
        with sim.lock:
            company = sim.companies[token.company]
            if given_uuid and given_uuid.lower() in sim.invoice_uuids:
                raise MaventaError(
                    422, "uuid_already_used", f"Invoice with uuid {given_uuid} already exists", [given_uuid]
                )
            invoice = self._store(company, given_uuid.lower() or None, document, send_fields, stored_files)
            context["invoice"] = invoice.id
            answer = self.as_json(invoice)
        return json_response(answer, 201)

    def _unpack(self, upload) -> tuple[bytes, list[dict]]:
        data = upload.data
        if not data.startswith(b"PK\x03\x04"):
            return data, [self._file(upload.filename, "INVOICE_XML", "application/xml", data)]
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}
        except zipfile.BadZipFile as exc:
            raise invalid("file is not a valid ZIP archive", ["file"]) from exc
        xmls = [n for n in members if n.lower().endswith(".xml")]
        if len(xmls) != 1:
            raise invalid(f"the ZIP must hold exactly one XML invoice, found {len(xmls)}", ["file"])
        stored = [self._file(xmls[0], "INVOICE_XML", "application/xml", members[xmls[0]])]
        pdfs = [n for n in members if n.lower().endswith(".pdf")]
        for name, content in members.items():
            if name == xmls[0]:
                continue
            is_image = name == (pdfs[0] if pdfs else None)  # sandbox: the first PDF is the invoice image
            mimetype = "application/pdf" if name.lower().endswith(".pdf") else "application/octet-stream"
            stored.append(self._file(name, "INVOICE_IMAGE" if is_image else "ATTACHMENT", mimetype, content))
        return members[xmls[0]], stored

    def _file(self, name: str, kind: str, mimetype: str, data: bytes) -> dict:
        """A stored file; ``data`` stays out of the JSON answers (``GET …/files/{file_id}`` serves it)."""
        return {
            "id": self.sim.new_id(),
            "filename": name.rsplit("/", 1)[-1],
            "type": kind,
            "mimetype": mimetype,
            "data": data,
        }

    def _store(self, company: Company, given_uuid, document, send_fields, files) -> Invoice:
        sim = self.sim
        channel, recipient, why = self.route(company, document, send_fields)
        error = None
        if channel is None:
            error = f"No delivery route: {why}"
        elif channel == "EINVOICE" and recipient.get("network") == "PEPPOL" and not document["buyer"]["eia"]:
            error = (
                "PEPPOL validation failed: [PEPPOL-EN16931-R020] Buyer electronic address MUST be provided"
            )
        elif sim.roll(float(sim.knobs["delivery_failure_rate"])):
            error = f"Delivery failed on channel {channel}: the receiving operator rejected the invoice"
        now = sim.clock()
        invoice = Invoice(
            id=sim.new_id(),
            uuid=given_uuid,
            company=company.id,
            document=document,
            fields=send_fields,
            files=files,
            created_wall=sim.wall(),
            deliver_at=now + float(sim.knobs["delivery_seconds"]),
            channel=channel,
            recipient=recipient,
            why=why,
            outcome_error=error,
        )
        invoice.actions.append(self._action("CREATED", None, f"Invoice created. Route: {why}", now))
        company.invoices[invoice.id] = invoice
        sim.pending[invoice.id] = invoice
        sim.invoice_uuids[given_uuid or invoice.id] = (company.id, invoice.id)
        return invoice

    def route(self, company: Company, document: dict, fields: dict) -> tuple[str | None, dict, str]:
        """(channel, recipient, why): the channel Maventa picks and the sentence that explains it."""
        sim = self.sim
        buyer = document["buyer"]
        allowed = [r for r in ROUTES if r not in fields["disabled_routes"]]
        base = {"eia": None, "operator": None, "email": None, "network": None}
        eia, operator = fields["recipient_eia"], fields["recipient_operator"]
        if eia and operator:
            if "einvoice" not in allowed:
                return None, base, "recipient_eia and recipient_operator were given but einvoice is disabled"
            return (
                "EINVOICE",
                {**base, "eia": eia, "operator": operator},
                "recipient_eia and recipient_operator given",
            )
        if "einvoice" in allowed:
            for value, source in ((eia, "recipient_eia"), (buyer["eia"], "the buyer's EndpointID")):
                entry = sim.find_receiver(eia=value) if value else None
                if entry:
                    return (
                        "EINVOICE",
                        self._from_entry(base, entry),
                        f"{source} {value} is a known e-invoice address",
                    )
            for value in (buyer["bid"], buyer["vat"]):
                entry = sim.find_receiver(bid=value) if value else None
                if entry:
                    return (
                        "EINVOICE",
                        self._from_entry(base, entry),
                        f"business id {value} has the e-invoice address {entry['eia']}",
                    )
        email = fields["recipient_email"] or buyer["email"]
        settings = sim.companies[company.id].settings
        if "email" in allowed and email and settings["send_invoice_email"]["enabled"]:
            return "EMAIL", {**base, "email": email}, f"no e-invoice address; e-mail to {email}"
        if "print" in allowed and settings["send_invoice_print"]["enabled"] and buyer["street"]:
            return "PRINT", base, "no e-invoice address and no e-mail route; printed and posted"
        return None, base, "no e-invoice address, no e-mail route and no print route (or disabled)"

    @staticmethod
    def _from_entry(base: dict, entry: dict) -> dict:
        return {**base, "eia": entry["eia"], "operator": entry["operator"], "network": entry["network"]}

    def _action(self, kind: str, channel: str | None, message: str, moment: float) -> dict:
        return {
            "type": kind,
            "channel": channel,
            "message": message,
            "happened_at": iso(self.sim.wall_at(moment)),
            "key": None,
        }

    def progress(self, invoice: Invoice, now: float) -> None:
        """PENDING → DELIVERED / FAILED once ``deliver_at`` came (called with the lock held)."""
        if invoice.status != "PENDING" or invoice.deliver_at > now:
            return
        at = invoice.deliver_at
        if invoice.outcome_error:
            invoice.status = "FAILED"
            invoice.actions.append(self._action("ERROR", invoice.channel, invoice.outcome_error, at))
            return
        invoice.status = "DELIVERED"
        where = invoice.recipient.get("eia") or invoice.recipient.get("email") or "postal address"
        invoice.actions.append(self._action("SENT", invoice.channel, f"Sent to {where}", at))
        invoice.actions.append(self._action("DELIVERED", invoice.channel, f"Delivered to {where}", at))

    # --- read ------------------------------------------------------------------------------------

    def _find(self, token, ident: str) -> Invoice:
        sim = self.sim
        found = sim.invoice_uuids.get(ident.lower())
        company = sim.companies[token.company]
        invoice = company.invoices.get(found[1]) if found and found[0] == company.id else None
        invoice = invoice or company.invoices.get(ident.lower())
        if invoice is None:
            raise not_found("Invoice")
        return invoice

    def read(self, request: Request, context: dict, id: str) -> Response:
        sim = self.sim
        token = sim.authenticate(request, context, *READ_SCOPES)
        with sim.lock:
            return json_response(self.as_json(self._find(token, id)))

    def actions(self, request: Request, context: dict, id: str) -> Response:
        sim = self.sim
        token = sim.authenticate(request, context, *READ_SCOPES)
        types = [t.upper() for t in request.query.get("type[]") or request.query.get("type") or []]
        with sim.lock:
            rows = [a for a in self._find(token, id).actions if not types or a["type"] in types]
            return json_response(copy.deepcopy(rows))

    def file(self, request: Request, context: dict, id: str, file_id: str) -> Response:
        sim = self.sim
        token = sim.authenticate(request, context, *READ_SCOPES)
        with sim.lock:
            found = next((f for f in self._find(token, id).files if f["id"] == file_id), None)
            if found is None:
                raise not_found("File")
            headers = {
                "Content-Type": found["mimetype"],
                "Content-Disposition": f'attachment; filename="{found["filename"]}"',
            }
            return Response(200, headers, found["data"])

    def list(self, request: Request, context: dict) -> Response:
        sim = self.sim
        token = sim.authenticate(request, context, *READ_SCOPES)
        direction = (request.arg("direction") or "RECEIVED").upper()
        if direction not in ("SENT", "RECEIVED"):
            raise invalid("direction does not have a valid value (SENT, RECEIVED)", ["direction"])
        try:
            page = int(request.arg("page") or 1)
            per_page = int(request.arg("per_page") or 10)
        except ValueError as exc:
            raise invalid("page and per_page must be integers", ["page", "per_page"]) from exc
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise invalid(f"per_page must be 1 … {MAX_PER_PAGE}, page ≥ 1", ["page", "per_page"])
        statuses = [s.upper() for s in request.query.get("status[]") or []]
        number = request.arg("number")
        bounds = []
        for name in ("created_at_start", "created_at_end"):
            raw = request.arg(name)
            try:
                moment = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
            except ValueError as exc:
                raise invalid(f"{name} must be an ISO 8601 time", [name]) from exc
            if moment is not None and moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            bounds.append(moment)
        with sim.lock:
            rows = [] if direction == "RECEIVED" else list(sim.companies[token.company].invoices.values())
            rows = [
                i
                for i in rows
                if (not statuses or i.status in statuses)
                and (not number or i.document["number"] == number)
                and (bounds[0] is None or i.created_wall >= bounds[0])
                and (bounds[1] is None or i.created_wall <= bounds[1])
            ]
            rows.sort(key=lambda i: i.created_wall, reverse=True)
            total_pages = max(1, -(-len(rows) // per_page))
            chosen = [self.as_json(i) for i in rows[(page - 1) * per_page : page * per_page]]
        headers = {
            "X-Total": str(len(rows)),
            "X-Total-Pages": str(total_pages),
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
        }
        return json_response(chosen, headers=headers)

    def as_json(self, invoice: Invoice) -> dict:
        sim = self.sim
        company = sim.companies[invoice.company]
        doc = invoice.document
        buyer = doc["buyer"]
        return {
            "id": invoice.id,
            "status": invoice.status,
            "reference": doc["reference"],
            "number": doc["number"],
            "sender": {
                "eia": company.eia,
                "bid": company.bid,
                "name": company.name,
                "country": company.country,
            },
            "recipient": {
                "eia": invoice.recipient.get("eia"),
                "bid": buyer["bid"] or buyer["vat"],
                "name": buyer["name"],
                "country": buyer["country"],
                "operator": invoice.recipient.get("operator"),
            },
            "received_at": iso(invoice.created_wall),
            "created_at": iso(invoice.created_wall),
            "date": doc["date"],
            "date_due": doc["date_due"],
            "source_format": "PEPPOLBIS30",
            "sum": doc["sum"],
            "sum_tax": doc["sum_tax"],
            "currency": doc["currency"],
            "origin": "INTERNAL",
            "destination": invoice.channel,
            "comment": invoice.fields.get("sender_comment"),
            "files": [
                {
                    **{k: v for k, v in f.items() if k != "data"},
                    "href": f"/v1/invoices/{invoice.id}/files/{f['id']}",
                }
                for f in invoice.files
            ],
            "actions": copy.deepcopy(invoice.actions),
            "revision": 1,
            "virtual_barcode": None,
        }
