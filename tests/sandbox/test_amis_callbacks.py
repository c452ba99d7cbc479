"""The AMIS simulator's callbacks (shape, HMAC, generation, faults), get_call_back_detail_error, and its
place in the sandbox server."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import requests

from sandbox.amis import DEMO_APP_ID
from sandbox.server import default_app
from sandbox.testing import LiveSandbox

from .amis_helpers import CALLBACK_URL, receipt, sale


def _bodies(sender):
    return [json.loads(c["body"]) for c in sender.calls]


def _results(callback):
    return json.loads(callback["data"])


def test_save_callback_shape_and_signature(amis, amis_sim, sender):
    amis.save([sale("P1"), receipt("P2")])
    assert sender.calls == []  # nothing before the simulator runs what is due
    amis_sim.pump()
    [call] = sender.calls
    assert call["method"] == "POST" and call["url"] == CALLBACK_URL
    body = json.loads(call["body"])
    assert set(body) == {
        "success",
        "error_code",
        "error_message",
        "signature",
        "data_type",
        "data",
        "org_company_code",
        "app_id",
    }
    assert (body["success"], body["data_type"], body["org_company_code"], body["app_id"]) == (
        True,
        1,
        "demo-hanoi",
        DEMO_APP_ID,
    )
    assert isinstance(body["data"], str)
    expected = hmac.new(DEMO_APP_ID.encode(), body["data"].encode(), hashlib.sha256).hexdigest()
    assert body["signature"] == expected and body["signature"] == body["signature"].lower()
    results = _results(body)
    assert [r["org_refid"] for r in results] == ["P1", "P2"]
    assert {r["session_id"] for r in results} and all(r["success"] for r in results)
    assert [r["voucher_type"] for r in results] == [13, 5]
    assert all("refno" not in r for r in results)  # a proposal has no AMIS number yet


def test_generation_callback_carries_refid_refno_and_line_ids(amis, amis_sim, sender):
    amis.save([sale("Q1")])
    amis.control("POST", "generate", {"company": "demo-hanoi"})
    generated = [b for b in _bodies(sender) if b["data_type"] == 18]
    [result] = _results(generated[0])
    assert result["org_refid"] == "Q1" and result["refno"] == "BH00001" and result["refid"]
    assert result["detail"][0]["ref_detail_id"] and result["detail"][0]["refid"] == result["refid"]


def test_is_get_new_id_false_keeps_our_ids(amis, sender):
    voucher = sale("Q2", refid="11111111-1111-4111-8111-111111111111", is_get_new_id=False)
    amis.save([voucher])
    amis.control("POST", "generate", {"company": "demo-hanoi"})
    [result] = _results(next(b for b in _bodies(sender) if b["data_type"] == 18))
    assert result["refid"] == voucher["refid"] and result["detail"][0]["ref_detail_id"] == "Q2-1"


def test_auto_generation_after_the_knob_delay(amis, amis_sim, clock, sender):
    amis_sim.set_knobs(auto_generate=True, auto_generate_seconds=30, callback_delay_seconds=2)
    amis.save([receipt("R1")])
    clock.advance(1)
    amis_sim.pump()
    assert sender.calls == []  # the callback delay
    clock.advance(1)
    amis_sim.pump()
    assert [b["data_type"] for b in _bodies(sender)] == [1]
    clock.advance(20)
    amis.save([receipt("R1", amount=100)])  # a resend restarts the accountant's wait
    amis.control("POST", "advance", {"seconds": 29})
    assert [b["data_type"] for b in _bodies(sender)] == [1, 1]
    amis.control("POST", "advance", {"seconds": 3})
    assert [b["data_type"] for b in _bodies(sender)] == [1, 1, 18]
    rows = amis.control("GET", "proposals").json()["proposals"]["demo-hanoi"]
    assert rows[0]["refno"] == "PT00001" and rows[0]["total_amount"] == 100


def test_delete_callback(amis, amis_sim, sender):
    amis.save([sale("S1")])
    amis.delete([{"voucher_type": 13, "org_refid": "S1"}])
    amis_sim.pump()
    assert [b["data_type"] for b in _bodies(sender)] == [1, 2]
    assert _results(_bodies(sender)[1])[0]["org_refid"] == "S1"


def test_business_errors_by_callback_mode(amis, amis_sim, sender):
    amis_sim.set_knobs(business_errors="callback")
    good, bad = sale("T1"), sale("T2", account_object_code="NOBODY")
    assert amis.save([good, bad]).json()["Success"] is True
    amis_sim.pump()
    [body] = _bodies(sender)
    assert (
        body["success"] is False
        and body["error_code"] == "InvalidParam"
        and "NOBODY" in body["error_message"]
    )
    by_ref = {r["org_refid"]: r for r in _results(body)}
    assert by_ref["T1"]["success"] is True and by_ref["T2"]["success"] is False
    proposals = amis.control("GET", "proposals").json()["proposals"]["demo-hanoi"]
    assert [p["org_refid"] for p in proposals] == ["T1"]
    # malformed calls are still refused at once
    assert amis.save([sale("T3", org_refno=None)]).json()["Success"] is False


def test_save_dictionary_callback(amis, amis_sim, sender):
    item = {"dictionary_type": 5, "stock_code": "KHO03", "stock_name": "Kho ba"}
    amis.call("save_dictionary", {"org_company_code": "demo-hanoi", "dictionary": [item]})
    amis_sim.pump()
    [body] = _bodies(sender)
    assert body["data_type"] == 7 and _results(body)[0]["code"] == "KHO03"


def test_duplicated_callbacks(amis, amis_sim, sender):
    amis_sim.set_knobs(callback_duplicate_rate=1.0)
    amis.save([receipt("U1")])
    amis_sim.pump()
    assert len(sender.calls) == 2 and sender.calls[0]["body"] == sender.calls[1]["body"]


def test_out_of_order_callbacks(amis, amis_sim, sender):
    amis_sim.set_knobs(callback_out_of_order_rate=1.0)
    amis.save([receipt("V1")])
    amis_sim.pump()
    assert sender.calls == []  # held back until the next one
    amis.save([receipt("V2")])
    amis_sim.pump()
    assert [_results(b)[0]["org_refid"] for b in _bodies(sender)] == ["V2", "V1"]
    amis.save([receipt("V3")])
    amis.control("POST", "flush")  # flush releases what is held
    assert [_results(b)[0]["org_refid"] for b in _bodies(sender)][-1] == "V3"


def _detail_errors(amis, **body):
    payload = {"from_date": "2025-03-01", "to_date": "2025-03-01", "skip": 0, "take": 100, **body}
    resp = amis.call("get_call_back_detail_error", payload).json()
    assert resp["Success"] is True, resp
    return json.loads(resp["Data"])


def test_lost_callbacks_are_listed_by_get_call_back_detail_error(amis, amis_sim, sender):
    amis_sim.set_knobs(callback_lost_rate=1.0)
    amis.save([receipt("W1"), receipt("W2")])
    amis_sim.pump()
    assert sender.calls == []
    rows = _detail_errors(amis)
    assert [r["org_refid"] for r in rows] == ["W1", "W2"] and rows[0]["data_type"] == 1
    assert _detail_errors(amis, from_date="2025-03-02", to_date="2025-03-03") == []
    assert _detail_errors(amis, skip=1, take=1)[0]["org_refid"] == "W2"
    bad = amis.call("get_call_back_detail_error", {"from_date": "x", "to_date": "2025-03-01"}).json()
    assert bad["ErrorCode"] == "InvalidParam"
    assert (
        amis.call(
            "get_call_back_detail_error", {"from_date": "2025-03-01", "to_date": "2025-03-01", "take": 101}
        ).json()["ErrorCode"]
        == "InvalidParam"
    )


def test_failing_deliveries_are_retried_then_listed(amis, amis_sim, sender):
    sender.status = 500
    amis_sim.set_knobs(callback_max_attempts=2)
    amis.save([receipt("X1")])
    amis_sim.pump()
    assert len(sender.calls) == 2
    assert [r["org_refid"] for r in _detail_errors(amis)] == ["X1"]
    sender.status = 200
    amis.save([receipt("X2")])
    amis_sim.pump()
    assert [r["org_refid"] for r in _detail_errors(amis)] == ["X1"]  # the delivered one is not listed


def test_callback_url_per_company(amis, amis_sim, sender):
    amis.control("POST", "callback_url", {"company": "demo-hcm", "url": "http://other.test/cb"})
    amis.save([receipt("Y1")], company="demo-hcm")
    amis.save([receipt("Y1")])
    amis_sim.pump()
    assert sorted(c["url"] for c in sender.calls) == sorted([CALLBACK_URL, "http://other.test/cb"])
    assert {json.loads(c["body"])["org_company_code"] for c in sender.calls} == {"demo-hanoi", "demo-hcm"}
    shown = amis.control("GET", "callbacks").json()["callbacks"]
    assert len(shown) == 2 and all(c["deliveries"][0]["ok"] for c in shown)


def test_control_companies_and_knobs(amis):
    resp = amis.control("POST", "companies", {"org_company_code": "k6aguh1l", "access_code": "s3cret"})
    assert resp.status == 201
    assert amis.connect("k6aguh1l", "s3cret").json()["Success"] is True
    codes = {c["org_company_code"] for c in amis.control("GET", "companies").json()["companies"]}
    assert {"demo-hanoi", "demo-hcm", "demo-tmdt", "k6aguh1l"} <= codes
    assert amis.control("POST", "knobs", {"business_errors": "later"}).status == 400
    assert amis.control("POST", "generate", {"company": "nobody"}).status == 400


def test_default_app_mounts_amis_beside_the_others():
    app = default_app(
        seed_orders=False, webhook_background=False, amis_options={"callback_background": False}
    )
    try:
        assert {"/haravan", "/meinvoice", "/amis"} <= set(app.mounts)
    finally:
        app.close()


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"Success":true,"ErrorCode":null,"ErrorMessage":null,"Data":null}')

    def log_message(self, *args):
        pass


def test_live_sandbox_serves_amis_and_calls_back_in_the_background():
    _Receiver.received = []
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{receiver.server_port}/cb"
    try:
        with LiveSandbox() as live:
            sim = live["/amis"]
            sim.set_knobs(callback_delay_seconds=0, auto_generate_seconds=0.2)
            sim.companies["demo-tmdt"].callback_url = url
            base = live.url + "/amis"
            connect = requests.post(
                base + "/api/oauth/actopen/connect",
                json={"app_id": DEMO_APP_ID, "access_code": "demo", "org_company_code": "demo-tmdt"},
                timeout=5,
            ).json()
            token = json.loads(connect["Data"])["access_token"]
            resp = requests.post(
                base + "/apir/sync/actopen/save",
                json={"app_id": DEMO_APP_ID, "org_company_code": "demo-tmdt", "voucher": [receipt("Z1")]},
                headers={"X-MISA-AccessToken": token},
                timeout=5,
            )
            assert resp.json()["Success"] is True
            for _ in range(100):
                if len(_Receiver.received) >= 2:
                    break
                threading.Event().wait(0.05)
            assert [b["data_type"] for b in _Receiver.received] == [1, 18]
    finally:
        receiver.shutdown()
        receiver.server_close()
