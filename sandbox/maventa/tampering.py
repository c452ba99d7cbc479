"""What a person does in Maventa's own screens, for reconciliation tests (control endpoint under
``/maventa/_sandbox/``, no auth):

- ``send_outside`` (POST ``{invoice_id}``): the same invoice sent again from Maventa's own screens (uploaded
  by hand): a new Maventa invoice of the same company with the same number, reference and sums, no uuid of
  ours, PENDING and delivered like any other.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ..core import BadRequest, Request, Response, Router, json_response

if TYPE_CHECKING:
    from .simulator import MaventaSimulator


class Tampering:
    def __init__(self, sim: MaventaSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("POST", "/_sandbox/send_outside", self.send_outside)

    def send_outside(self, request: Request) -> Response:
        sim = self.sim
        body = sim.control_body(request)
        wanted = str(body.get("invoice_id") or "")
        with sim.lock:
            original = next(
                (i for c in sim.companies.values() for i in c.invoices.values() if i.id == wanted), None
            )
            if original is None:
                raise BadRequest(f"no invoice {wanted!r}")
            company = sim.companies[original.company]
            twin = copy.deepcopy(original)
            twin.id, twin.uuid = sim.new_id(), None
            twin.created_wall = sim.wall()
            twin.status, twin.actions = "PENDING", twin.actions[:1]
            twin.deliver_at = sim.clock() + float(sim.knobs["delivery_seconds"])
            company.invoices[twin.id] = twin
            sim.pending[twin.id] = twin
            sim.invoice_uuids[twin.id] = (company.id, twin.id)
        return json_response({"id": twin.id, "number": twin.document["number"]}, 201)
