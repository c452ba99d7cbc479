"""What people do in meInvoice's own screens, behind the integration's back, for reconciliation tests
(control endpoints under ``/meinvoice/_sandbox/``, no auth):

- ``delete_invoice`` (POST ``{mst, ref_id}``): the invoice is marked deleted. ``invoice/status`` still answers
  it with ``IsDelete: true``; ``invoice/paging`` no longer lists it (sandbox: MISA's paging of deleted
  invoices is Unconfirmed; leaving them out is the stricter reading for a client).
- ``edit_invoice`` (POST ``{mst, ref_id, total}``): its ``TotalAmount`` becomes ``total`` (sandbox: a stand-in
  for a person correcting the invoice; MISA corrects issued invoices with adjustment or replacement invoices).
- ``issue_outside`` (POST ``{mst, series?, date?, total, buyer_legal_name?, buyer_full_name?}``): an original
  invoice issued from meInvoice's own screens: a fresh RefID, the next number of the series; answers its
  status row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from ..core import BadRequest, Request, Response, Router, json_response
from .lookups import control_row

if TYPE_CHECKING:
    from .simulator import MeInvoiceSimulator


class Tampering:
    def __init__(self, sim: MeInvoiceSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("POST", "/_sandbox/delete_invoice", self.delete_invoice)
        router.add("POST", "/_sandbox/edit_invoice", self.edit_invoice)
        router.add("POST", "/_sandbox/issue_outside", self.issue_outside)

    def _account(self, body: dict):
        mst = str(body.get("mst") or "").strip()
        account = self.sim.accounts.get(mst)
        if account is None:
            raise BadRequest(f"no account {mst!r}")
        return account

    def _invoice(self, body: dict):
        account = self._account(body)
        invoice = account.find_ref(str(body.get("ref_id") or ""))
        if invoice is None:
            raise BadRequest(f"no invoice with RefID {body.get('ref_id')!r} on {account.tax_code}")
        return invoice

    def delete_invoice(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        with self.sim.lock:
            invoice = self._invoice(body)
            invoice.deleted = True
            return json_response({"invoice": control_row(self.sim, invoice)})

    def edit_invoice(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        if body.get("total") is None:
            raise BadRequest("total is required")
        with self.sim.lock:
            invoice = self._invoice(body)
            invoice.data["TotalAmount"] = body["total"]
            invoice.data["TotalAmountOC"] = body["total"]
            return json_response({"invoice": control_row(self.sim, invoice)})

    def issue_outside(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        if body.get("total") is None:
            raise BadRequest("total is required")
        with self.sim.lock:
            account = self._account(body)
            template = next((t for t in account.templates if not t.get("Inactive")), None)
            series = str(body.get("series") or (template or {}).get("InvSeries") or "")
            if not series:
                raise BadRequest("the account has no active series; give one")
            day = dt.date.fromisoformat(body["date"]) if body.get("date") else self.sim.today()
            raw = {
                "RefID": str(uuid.uuid4()),
                "InvSeries": series,
                "InvDate": day.isoformat(),
                "CurrencyCode": "VND",
                "BuyerLegalName": body.get("buyer_legal_name") or "",
                "BuyerFullName": body.get("buyer_full_name") or "",
                "TotalAmount": body["total"],
                "TotalAmountOC": body["total"],
            }
            checked = {"series": series, "date": day, "ref_id": raw["RefID"], "reference_type": 0}
            invoice = self.sim.issue(account, raw, checked)
            return json_response({"invoice": control_row(self.sim, invoice)}, 201)
