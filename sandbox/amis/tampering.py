"""What an accountant does in AMIS's own screens, for reconciliation tests (control endpoints under
``/amis/_sandbox/``, no auth). Each behaves as AMIS does (amis.md §10–§11):

- ``delete_proposal`` (POST ``{company, org_refid}``): a waiting proposal deleted in AMIS. AMIS sends **no**
  callback and ``get_call_back_detail_error`` lists nothing; the proposal is gone, so a later ``save`` of the
  same org_refid is a new proposal (§11: after ``VoucherNotFound`` the key is accepted again).
- ``edit_voucher`` (POST ``{company, org_refid, total}``): a generated voucher's total changed; AMIS pushes
  the voucher back (data_type 22, ``custom_param.ModelState`` 2 edit).
- ``delete_voucher`` (POST ``{company, org_refid}``): a generated voucher deleted (data_type 22,
  ModelState 3).
- ``add_voucher`` (POST ``{company, custom_field1, org_refno?, total, voucher_type?}``): a voucher entered in
  AMIS's own screens (a copy of an order's voucher, say): a new refno, no org_refid; pushed back (data_type
  22, ModelState 1).

sandbox: data_type 22 pushes are sent for every company (a real company chooses them in its app settings
[R, one production module]); the pushed voucher carries what the save carried (``org_refid``, ``org_refno``,
``custom_field1``) with AMIS's ``refid``/``refno`` and its current totals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import BadRequest, Request, Response, Router, json_response
from .companies import new_id
from .helpers import key, text
from .vouchers import REFNO_PREFIX

if TYPE_CHECKING:
    from .simulator import AmisSimulator

PUSHED_BACK = 22
ADDED, EDITED, DELETED = 1, 2, 3


class Tampering:
    def __init__(self, sim: AmisSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("POST", "/_sandbox/delete_proposal", self.delete_proposal)
        router.add("POST", "/_sandbox/edit_voucher", self.edit_voucher)
        router.add("POST", "/_sandbox/delete_voucher", self.delete_voucher)
        router.add("POST", "/_sandbox/add_voucher", self.add_voucher)

    def _company(self, body: dict):
        company = self.sim.companies.get(key(body.get("company")))
        if company is None:
            raise BadRequest(f"no company {body.get('company')!r}")
        return company

    def _proposal(self, company, body: dict, status: str):
        proposal = company.proposals.get(key(body.get("org_refid")))
        if proposal is None or proposal.status != status:
            raise BadRequest(f"no {status} voucher {body.get('org_refid')!r} in {company.code}")
        return proposal

    def push(self, company, voucher: dict, model_state: int) -> None:
        """Schedule a data_type 22 callback: ``{voucher: [voucher], custom_param: {ModelState}}``."""
        self.sim.callbacks.schedule(
            company,
            PUSHED_BACK,
            [voucher],
            data={"voucher": [voucher], "custom_param": {"ModelState": model_state}},
        )

    @staticmethod
    def held(proposal) -> dict:
        return {**proposal.voucher, "refid": proposal.refid, "refno": proposal.refno}

    def delete_proposal(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        with self.sim.lock:
            company = self._company(body)
            proposal = self._proposal(company, body, "proposal")
            del company.proposals[key(proposal.org_refid)]
        return json_response({"deleted": proposal.org_refid, "callback": None})

    def edit_voucher(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        if body.get("total") is None:
            raise BadRequest("total is required")
        with self.sim.lock:
            company = self._company(body)
            proposal = self._proposal(company, body, "generated")
            proposal.voucher = {
                **proposal.voucher,
                "total_amount": body["total"],
                "total_amount_oc": body["total"],
            }
            self.push(company, self.held(proposal), EDITED)
        return json_response({"voucher": self.held(proposal)})

    def delete_voucher(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        with self.sim.lock:
            company = self._company(body)
            proposal = self._proposal(company, body, "generated")
            proposal.status = "deleted"
            self.push(company, self.held(proposal), DELETED)
        return json_response({"deleted": proposal.refno})

    def add_voucher(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        if body.get("total") is None or not text(body.get("custom_field1")):
            raise BadRequest("custom_field1 and total are required")
        voucher_type = int(body.get("voucher_type") or 13)
        prefix = REFNO_PREFIX.get(voucher_type)
        if prefix is None:
            raise BadRequest(f"unknown voucher_type {voucher_type}")
        with self.sim.lock:
            company = self._company(body)
            company.next_refno[prefix] = company.next_refno.get(prefix, 0) + 1
            voucher = {
                "voucher_type": voucher_type,
                "org_refid": None,
                "org_refno": body.get("org_refno"),
                "custom_field1": text(body.get("custom_field1")),
                "refid": new_id(self.sim),
                "refno": f"{prefix}{company.next_refno[prefix]:05d}",
                "total_amount": body["total"],
                "total_amount_oc": body["total"],
            }
            self.push(company, voucher, ADDED)
        return json_response({"voucher": voucher}, 201)
