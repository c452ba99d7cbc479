"""The AMIS simulator's API: connect and tokens, the envelope, master data, save and delete."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.amis import DEMO_APP_ID, TICKS_AT_UNIX_EPOCH

from .amis_helpers import SYNC, receipt, sale

# --- connect and tokens ------------------------------------------------------------------------------


def test_connect_answers_data_as_json_text_with_dotnet_ticks(amis, clock):
    resp = amis.connect("demo-hcm")
    assert resp.status == 200
    body = resp.json()
    assert set(body) >= {"Success", "ErrorCode", "ErrorMessage", "Data"}
    assert body["Success"] is True and body["ErrorCode"] is None
    assert isinstance(body["Data"], str)
    data = json.loads(body["Data"])
    assert data["access_token"] and data["tenant_code"] == "demo-hcm"
    # 12 h on Vietnam wall time (knob ticks_clock "local"); ticks and expired_time name the same reading
    expires_vn = (clock.wall() + timedelta(hours=12)).astimezone(UTC).replace(tzinfo=None) + timedelta(
        hours=7
    )
    assert data["expired_time"] == expires_vn.strftime("%Y-%m-%dT%H:%M:%S")
    seconds = (data["expired_time_ticks"] - TICKS_AT_UNIX_EPOCH) / 10**7
    assert datetime(1970, 1, 1) + timedelta(seconds=seconds) == expires_vn


def test_ticks_on_utc_when_the_knob_says_so(amis, amis_sim, clock):
    amis_sim.set_knobs(ticks_clock="utc")
    data = json.loads(amis.connect().json()["Data"])
    expires = clock.wall() + timedelta(hours=12)
    seconds = (data["expired_time_ticks"] - TICKS_AT_UNIX_EPOCH) / 10**7
    assert datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds) == expires


@pytest.mark.parametrize(
    ("company", "access_code", "app_id", "code"),
    [
        ("demo-hanoi", "wrong", DEMO_APP_ID, "InvalidAccessToken"),
        ("nobody", "demo", DEMO_APP_ID, "InvalidAccessToken"),
        ("demo-hanoi", "demo", "other-app", "InvalidAppID"),
    ],
)
def test_connect_refusals_are_http_200(amis, company, access_code, app_id, code):
    resp = amis.connect(company, access_code, app_id)
    assert resp.status == 200
    body = resp.json()
    assert body["Success"] is False and body["ErrorCode"] == code and body["ErrorMessage"]
    assert body["Data"] is None


def test_tokens_expire_after_12_hours(amis, clock):
    token = amis.token()
    assert amis.call("get_company_info", {"branch_id": None}).json()["Success"] is True
    clock.advance(12 * 3600)
    body = amis.call("get_company_info", {"branch_id": None}, token=token).json()
    assert (body["Success"], body["ErrorCode"]) == (False, "ExpiredToken")
    amis.tokens.clear()  # connect again: a fresh token works
    assert amis.call("get_company_info", {"branch_id": None}).json()["Success"] is True


def test_missing_or_unknown_token_is_invalid_token(amis):
    for token in ("", "nonsense"):
        body = amis.call("get_company_info", {}, token=token).json()
        assert body["ErrorCode"] == "InvalidToken"


def test_token_expiry_knob_and_control(amis, amis_sim):
    amis.token()
    amis_sim.set_knobs(token_expiry_rate=1.0)
    assert amis.call("get_company_info", {}).json()["ErrorCode"] == "ExpiredToken"
    amis_sim.set_knobs(token_expiry_rate=0.0)
    amis.tokens.clear()
    amis.token()
    assert amis.control("POST", "expire_tokens", {"company": "demo-hanoi"}).json() == {"expired": 1}
    assert amis.call("get_company_info", {}).json()["ErrorCode"] == "ExpiredToken"


def test_wrong_app_id_in_a_data_call(amis):
    body = amis.call("get_company_info", {"app_id": "x"}).json()
    assert body["ErrorCode"] == "InvalidAppID"


@pytest.mark.parametrize(
    ("knob", "code"), [("app_disconnected", "AppIDDisconnect"), ("db_not_connected", "DBAmisNotConnectDBACT")]
)
def test_company_refusal_knobs(amis, amis_sim, knob, code):
    amis.token("demo-hcm")
    amis_sim.set_knobs(**{knob: "demo-hcm"})
    assert amis.connect("demo-hcm").json()["ErrorCode"] == code
    assert amis.call("get_company_info", {}, company="demo-hcm").json()["ErrorCode"] == code
    assert amis.connect("demo-hanoi").json()["Success"] is True  # other companies unaffected
    amis_sim.set_knobs(**{knob: "*"})
    assert amis.connect("demo-hanoi").json()["ErrorCode"] == code


def test_company_info_and_both_prefixes(amis):
    for prefix in (SYNC, "/amis/api/sync/actopen/"):
        body = amis.call("get_company_info", {"branch_id": None}, prefix=prefix).json()
        assert body["Success"] is True
        info = json.loads(body["Data"])
        assert info["company_name"] == "Công ty TNHH Demo Hà Nội" and info["org_company_code"] == "demo-hanoi"


def test_unknown_route_and_method(amis):
    assert amis.call("nothing", {}).status == 404
    assert amis.raw("GET", "/amis/api/oauth/actopen/connect").status == 405


def test_org_company_code_must_match_the_token(amis):
    body = amis.call("get_company_info", {"org_company_code": "demo-hcm"}).json()
    assert body["ErrorCode"] == "InvalidParam"
    missing = amis.call("save", {"voucher": [receipt("O1")]}).json()
    assert missing["ErrorCode"] == "InvalidParam" and "org_company_code" in missing["ErrorMessage"]


def test_server_error_knob(amis, amis_sim):
    amis.token()
    amis_sim.set_knobs(error_rate=1.0)
    statuses = {amis.call("get_company_info", {}).status for _ in range(20)}
    assert statuses <= {500, 502, 503} and statuses


# --- master data -------------------------------------------------------------------------------------


def _dictionary(amis, data_type, **body):
    resp = amis.call(
        "get_dictionary", {"data_type": data_type, "branch_id": None, "skip": 0, "take": 100, **body}
    )
    payload = resp.json()
    assert payload["Success"] is True, payload
    return json.loads(payload["Data"]), json.loads(payload["CustomData"])


def test_dictionary_holds_the_demo_master_data(amis):
    accounts = {a["account_number"] for a in _dictionary(amis, 5)[0]}
    assert {"131", "1111", "1121", "1561", "33311", "5111", "5113", "5212", "632"} <= accounts
    objects = {a["account_object_code"] for a in _dictionary(amis, 1)[0]}
    assert {"KHACHLE", "KHACHLE_SHOPEE"} <= objects
    stocks = _dictionary(amis, 3)[0]
    assert {s["stock_code"] for s in stocks} == {"KHO01", "KHO02"}
    assert all(s["dictionary_type"] == 5 for s in stocks)  # the returned type is the save-side number
    units = _dictionary(amis, 6)[0]
    assert {u["organization_unit_type_id"] for u in units} == {1, 2, 3}
    assert _dictionary(amis, 2)[0] and _dictionary(amis, 4)[0]
    assert _dictionary(amis, 9)[0] == []


def test_dictionary_pages_until_a_short_page(amis):
    seen, skip = [], 0
    while True:
        page, _ = _dictionary(amis, 5, skip=skip, take=7)
        seen += page
        if len(page) < 7:
            break
        skip += 7
    assert len(seen) == len(_dictionary(amis, 5)[0]) and len({a["account_number"] for a in seen}) == len(seen)


def test_take_above_100_is_cut(amis, amis_sim):
    amis_sim.set_knobs(max_take=3)
    assert len(_dictionary(amis, 5, take=1000)[0]) == 3


def test_dictionary_refuses_bad_parameters(amis):
    for body in (
        {"data_type": 0},
        {"data_type": "x"},
        {"data_type": 1, "take": -1},
        {"data_type": 1, "last_sync_time": "soon"},
    ):
        assert amis.call("get_dictionary", body).json()["ErrorCode"] == "InvalidParam"


def test_incremental_read_with_last_sync_time(amis, clock):
    _, custom = _dictionary(amis, 1)
    clock.advance(60)
    item = {"dictionary_type": 1, "account_object_code": "KH_NEW", "account_object_name": "Khách mới"}
    assert amis.call("save_dictionary", {"org_company_code": "demo-hanoi", "dictionary": [item]}).json()[
        "Success"
    ]
    changed, _ = _dictionary(amis, 1, last_sync_time=custom["LastSyncTime"])
    assert [c["account_object_code"] for c in changed] == ["KH_NEW"]


def test_dictionary_burst_answers_429_with_retry_after(amis, amis_sim, clock):
    amis_sim.set_knobs(dictionary_burst=2, dictionary_window_seconds=10)
    for _ in range(2):
        _dictionary(amis, 1)
    resp = amis.call("get_dictionary", {"data_type": 1, "skip": 0, "take": 100})
    assert resp.status == 429 and resp.headers["Retry-After"] == "10"
    assert amis.call("get_dictionary", {"data_type": 1}, company="demo-hcm").status == 200  # per company
    clock.advance(10)
    _dictionary(amis, 1)


def test_save_dictionary_upserts_by_code_and_limits(amis):
    item = {
        "dictionary_type": 3,
        "inventory_item_code": "sku-new",
        "inventory_item_name": "Mới",
        "unit_name": "Cái",
    }
    body = {"org_company_code": "demo-hanoi", "dictionary": [item]}
    assert amis.call("save_dictionary", body).json()["Success"] is True
    renamed = {**item, "inventory_item_code": "SKU-NEW", "inventory_item_name": "Đổi tên"}
    amis.call("save_dictionary", {**body, "dictionary": [renamed]})
    rows = [r for r in _dictionary(amis, 2)[0] if r["inventory_item_code"].upper() == "SKU-NEW"]
    assert len(rows) == 1 and rows[0]["inventory_item_name"] == "Đổi tên"
    too_many = [{**item, "inventory_item_code": f"S{i}"} for i in range(201)]
    assert (
        amis.call("save_dictionary", {**body, "dictionary": too_many}).json()["ErrorCode"] == "InvalidParam"
    )
    missing = [{"dictionary_type": 1, "account_object_code": "X"}]
    assert amis.call("save_dictionary", {**body, "dictionary": missing}).json()["ErrorCode"] == "InvalidParam"


# --- save ----------------------------------------------------------------------------------------------


def _proposals(amis, company="demo-hanoi"):
    return amis.control("GET", "proposals", query={"company": company}).json()["proposals"][company]


@pytest.mark.parametrize(
    "voucher",
    [
        sale("A1"),
        sale("A2", reftype=3531),
        sale("A3", reftype=3537),
        receipt("A4"),
        receipt("A5", voucher_type=1, reftype=1500, debit="1121"),
        {**sale("A6", reftype=3530), "voucher_type": 20, "reftype": 3520, "org_reftype": 3520},
        sale("A7", is_sale_with_outward=True, in_outward={"reftype": 2020, "voucher_type": 8}),
    ],
    ids=["3530", "3531", "3537", "receipt-1010", "deposit-1500", "order-3520", "with-outward-2020"],
)
def test_save_accepts_the_documented_pairs(amis, voucher):
    if voucher["voucher_type"] == 20:
        voucher["detail"][0]["debit_account"] = "131"
    resp = amis.save([voucher])
    assert resp.status == 200
    assert resp.json() == {"Success": True, "ErrorCode": None, "ErrorMessage": None, "Data": None}
    assert [p["org_refid"] for p in _proposals(amis)] == [voucher["org_refid"]]


def _refused(amis, vouchers, **kw):
    resp = amis.save(vouchers, **kw)
    assert resp.status == 200
    body = resp.json()
    assert body["Success"] is False, body
    return body


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"voucher_type": 13, "reftype": 3520}, "reftype"),
        ({"voucher_type": 99}, "voucher_type"),
        ({"org_refno": None}, "org_refno"),
        ({"posted_date": ""}, "posted_date"),
        ({"refdate": "01/03/2025"}, "refdate"),
        ({"total_amount": None}, "total_amount"),
        ({"currency_id": "USD"}, "currency_id"),
        ({"is_sale_with_outward": True}, "in_outward"),
        ({"is_sale_with_outward": True, "in_outward": {"reftype": 2021}}, "2020"),
    ],
)
def test_save_refuses_malformed_vouchers(amis, change, needle):
    body = _refused(amis, [sale("B1", **change)])
    assert body["ErrorCode"] == "InvalidParam" and needle in body["ErrorMessage"]
    assert _proposals(amis) == []


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda v: v.update(account_object_code="NOBODY"), "NOBODY"),
        (lambda v: v["detail"][0].update(inventory_item_code="NOSKU"), "NOSKU"),
        (lambda v: v["detail"][0].update(stock_code="KHO99"), "KHO99"),
        (lambda v: v["detail"][0].update(credit_account="5119"), "5119"),
        (lambda v: v["detail"][0].update(debit_account="1111"), "131"),
        (lambda v: v.update(total_amount=320000, total_amount_oc=320000), "total_amount"),
        (lambda v: v.update(total_vat_amount=30000), "total_vat_amount"),
        (lambda v: v["detail"][0].update(amount=300001.5), "nguyên"),
        (lambda v: v["detail"][0].update(quantity=3), "quantity"),
        (lambda v: v.update(total_amount_oc=1), "_oc"),
    ],
)
def test_save_refuses_business_errors_synchronously(amis, mutate, needle):
    voucher = sale("C1")
    mutate(voucher)
    body = _refused(amis, [voucher])
    assert body["ErrorCode"] == "InvalidParam" and needle in body["ErrorMessage"]
    errors = json.loads(body["Data"])
    assert errors[0]["org_refid"] == "C1"
    assert _proposals(amis) == []


def test_one_bad_voucher_refuses_the_whole_call(amis):
    good, bad = sale("D1"), sale("D2", account_object_code="NOBODY")
    _refused(amis, [good, bad])
    assert _proposals(amis) == []


def test_codes_may_come_in_the_same_calls_dictionary(amis):
    voucher = sale("E1", account_object_code="KH_HARAVAN_9")
    voucher["detail"][0]["inventory_item_code"] = "SKU-NEW-9"
    dictionary = [
        {"dictionary_type": 1, "account_object_code": "KH_HARAVAN_9", "account_object_name": "Nguyễn Văn A"},
        {
            "dictionary_type": 3,
            "inventory_item_code": "SKU-NEW-9",
            "inventory_item_name": "Mới",
            "unit_name": "Cái",
        },
    ]
    assert amis.save([voucher], dictionary=dictionary).json()["Success"] is True
    assert any(o["account_object_code"] == "KH_HARAVAN_9" for o in _dictionary(amis, 1)[0])


def test_save_limits(amis):
    many = [receipt(f"F{i}") for i in range(101)]
    assert "100" in _refused(amis, many)["ErrorMessage"]
    line = sale("F")["detail"][0]
    lines = [
        dict(line, amount=1000, quantity=1, unit_price=1000, discount_amount=0, vat_amount=0)
        for _ in range(501)
    ]
    big = sale(
        "F-big",
        lines=lines,
        total_sale_amount=501000,
        total_discount_amount=0,
        total_vat_amount=0,
        total_amount=501000,
        total_amount_oc=501000,
    )
    assert "500" in _refused(amis, [big])["ErrorMessage"]
    assert "trùng" in _refused(amis, [receipt("F1"), receipt("F1")])["ErrorMessage"]


def test_resend_updates_the_waiting_proposal(amis):
    amis.save([sale("G1")])
    changed = sale("G1", org_refno="#1001-b", journal_memo="sửa")
    assert amis.save([changed]).json()["Success"] is True
    [row] = _proposals(amis)
    assert (row["status"], row["versions"], row["org_refno"]) == ("proposal", 2, "#1001-b")


def test_resend_after_generation_is_created_voucher(amis):
    amis.save([sale("H1")])
    generated = amis.control("POST", "generate", {"company": "demo-hanoi", "org_refid": "H1"}).json()[
        "generated"
    ]
    assert generated[0]["refno"] == "BH00001"
    body = _refused(amis, [sale("H1")])
    assert body["ErrorCode"] == "IsCreatedVoucher"
    assert "Đã sinh chứng từ kế toán" in body["ErrorMessage"]
    [row] = _proposals(amis)
    assert (row["status"], row["versions"]) == ("generated", 1)


def test_same_org_refid_in_two_companies_are_two_proposals(amis):
    amis.save([sale("I1")])
    amis.save([sale("I1")], company="demo-tmdt")
    assert len(_proposals(amis)) == 1 and len(_proposals(amis, "demo-tmdt")) == 1


def test_save_latency_knob(amis, amis_sim):
    import time

    amis.token()
    amis_sim.set_knobs(save_latency_ms=50)
    started = time.perf_counter()
    amis.save([receipt("J1")])
    assert time.perf_counter() - started >= 0.05


@pytest.mark.parametrize("mode", ["504", "sleep"])
def test_timeout_after_accept_stores_the_call(amis, amis_sim, mode):
    amis.token()
    amis_sim.set_knobs(
        timeout_after_accept_rate=1.0, lost_answer_mode=mode, timeout_after_accept_seconds=0.01
    )
    resp = amis.save([receipt("K1")])
    if mode == "504":
        assert resp.status == 504
    assert [p["org_refid"] for p in _proposals(amis)] == ["K1"]
    assert amis_sim.calls[-1]["lost"] is True


# --- delete -------------------------------------------------------------------------------------------


def test_delete_a_waiting_proposal(amis):
    amis.save([sale("L1")])
    resp = amis.delete([{"voucher_type": 13, "org_refid": "L1"}])
    assert resp.json()["Success"] is True
    assert _proposals(amis)[0]["status"] == "deleted"
    assert amis.delete([{"voucher_type": 13, "org_refid": "L1"}]).json()["ErrorCode"] == "VoucherNotFound"
    # a deleted org_refid is not taken again (the replacement takes a new one) unless the knob allows it
    assert _refused(amis, [sale("L1")])["ErrorCode"] == "InvalidParam"
    amis.sim.set_knobs(reuse_deleted_refid=True)
    assert amis.save([sale("L1")]).json()["Success"] is True


def test_delete_refusals(amis):
    amis.save([sale("M1"), sale("M2")])
    amis.control("POST", "generate", {"company": "demo-hanoi", "org_refid": "M2"})
    assert amis.delete([{"voucher_type": 13, "org_refid": "nope"}]).json()["ErrorCode"] == "VoucherNotFound"
    assert amis.delete([{"voucher_type": 5, "org_refid": "M1"}]).json()["ErrorCode"] == "VoucherNotFound"
    body = amis.delete(
        [{"voucher_type": 13, "org_refid": "M1"}, {"voucher_type": 13, "org_refid": "M2"}]
    ).json()
    assert body["ErrorCode"] == "IsCreatedVoucher"
    assert {p["org_refid"]: p["status"] for p in _proposals(amis)} == {"M1": "proposal", "M2": "generated"}


def test_delete_takes_http_delete_and_post_only_with_the_knob(amis, amis_sim):
    amis.save([sale("N1")])
    assert amis.delete([{"voucher_type": 13, "org_refid": "N1"}], method="POST").status == 405
    amis_sim.set_knobs(delete_allows_post=True)
    assert amis.delete([{"voucher_type": 13, "org_refid": "N1"}], method="POST").json()["Success"] is True


def test_get_dictionary_delete_lists_what_the_accountant_deleted(amis, clock):
    _, custom = _dictionary(amis, 1)
    clock.advance(60)
    resp = amis.control(
        "POST", "delete_dictionary", {"company": "demo-hanoi", "data_type": 1, "code": "KH00001"}
    )
    assert resp.status == 200
    assert "KH00001" not in {o["account_object_code"] for o in _dictionary(amis, 1)[0]}
    body = amis.call(
        "get_dictionary_delete", {"data_type": 1, "last_sync_time": custom["LastSyncTime"]}
    ).json()
    assert [o["account_object_code"] for o in json.loads(body["Data"])] == ["KH00001"]
    assert (
        amis.control(
            "POST", "delete_dictionary", {"company": "demo-hanoi", "data_type": 1, "code": "?"}
        ).status
        == 400
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.tuples(
            st.integers(1, 20),  # quantity
            st.integers(0, 5_000_000),  # unit price (đồng)
            st.integers(0, 100),  # discount, % of the amount
            st.sampled_from([0, 5, 8, 10]),  # VAT rate
        ),
        min_size=1,
        max_size=6,
    ),
    off_by=st.sampled_from([-1, 1]),
)
def test_totals_are_line_sums_and_sale_minus_discount_plus_vat(amis, lines, off_by):
    detail, sale_total, discount_total, vat_total = [], 0, 0, 0
    for number, (quantity, price, pct, rate) in enumerate(lines, 1):
        amount = quantity * price
        discount = amount * pct // 100
        vat = (amount - discount) * rate // 100
        sale_total, discount_total, vat_total = (
            sale_total + amount,
            discount_total + discount,
            vat_total + vat,
        )
        detail.append(
            {
                "inventory_item_code": "SKU-MU-03",
                "quantity": quantity,
                "unit_price": price,
                "amount": amount,
                "discount_amount": discount,
                "vat_rate": rate,
                "vat_amount": vat,
                "vat_account": "33311",
                "debit_account": "131",
                "credit_account": "5111",
                "sort_order": number,
            }
        )
    total = sale_total - discount_total + vat_total
    refid = f"H-{uuid.uuid4()}"
    header = {
        "total_sale_amount": sale_total,
        "total_discount_amount": discount_total,
        "total_vat_amount": vat_total,
        "total_amount_oc": None,
    }
    wrong = amis.save([sale(refid, lines=detail, total_amount=total + off_by, **header)]).json()
    assert wrong["Success"] is False and "total_amount" in wrong["ErrorMessage"]
    assert amis.save([sale(refid, lines=detail, total_amount=total, **header)]).json()["Success"] is True
