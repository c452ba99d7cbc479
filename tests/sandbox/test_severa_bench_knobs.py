"""The Severa simulator's knobs for the fault run and the transfer bench: a share of calls answered 429
within the limit (``throttle_rate``), and many invoices put in "to transfer" at once in a chosen customer
mix (``POST /_sandbox/generate {count, mix}``)."""

import json
from collections import Counter

import pytest

from sandbox.core import Request
from sandbox.severa import QUOTA_MESSAGE, SeveraSimulator, data


def control(sim, path, body=None, method="POST"):
    return sim.handle(Request(method, f"/_sandbox/{path}", body=json.dumps(body or {}).encode()))


def test_a_share_of_calls_within_the_limit_meets_429_and_does_not_count(severa, severa_sim):
    severa.login()
    severa_sim.set_knobs(throttle_rate=0.3, retry_after_rate=0.0)
    answers = [severa.get("/v1/invoicestatuses") for _ in range(400)]  # paced: within 10 a second
    statuses = Counter(a.status for a in answers)
    assert set(statuses) == {200, 429} and 80 <= statuses[429] <= 160, statuses
    refused = [a for a in answers if a.status == 429]
    assert refused[0].json() == {"statusCode": 429, "message": QUOTA_MESSAGE.format(limit=10, window=1.0)}
    logged = [c for c in severa_sim.calls if c["endpoint"] == "GET /v1/invoicestatuses"]
    assert [c["throttled"] for c in logged] == [a.status == 429 for a in answers]
    assert len(severa_sim._window) <= 10  # refused calls are not admitted


def test_throttled_calls_carry_retry_after_only_sometimes(severa, severa_sim):
    severa.login()
    severa_sim.set_knobs(throttle_rate=1.0, retry_after_rate=1.0)
    answer = severa.get("/v1/invoicestatuses")
    assert answer.status == 429 and answer.headers["Retry-After"] == "1"


def test_throttle_rate_applies_without_a_limit_too(severa, severa_sim):
    severa.login()
    severa.pace = 0
    severa_sim.set_knobs(rate_limit=0, throttle_rate=0.0)
    assert {severa.get("/v1/invoicestatuses").status for _ in range(30)} == {200}
    severa_sim.set_knobs(throttle_rate=1.0)
    assert severa.get("/v1/invoicestatuses").status == 429


def test_the_limit_still_holds_with_the_knob_off(severa, severa_sim, severa_clock):
    severa.login()
    severa_clock.advance(1.0)
    severa.pace = 0
    answers = [severa.get("/v1/invoicestatuses") for _ in range(11)]
    assert [a.status for a in answers] == [200] * 10 + [429]
    assert not any(c["throttled"] for c in severa_sim.calls)


def test_generate_a_mix_puts_them_in_to_transfer_in_its_proportions():
    sim = SeveraSimulator(seed=3, seed_invoices=False)
    answer = control(sim, "generate", {"count": 500, "mix": {"peppol": 2, "ovt": 1, "email": 1, "print": 1}})
    assert answer.status == 201, answer.text
    body = answer.json()
    made = [sim.invoices[g] for g in body["invoices"]]
    assert len(made) == 500 and all(i.status == data.TO_TRANSFER for i in made)
    assert all([s for s, _ in i.history] == [data.DRAFT, data.TO_TRANSFER] for i in made)
    customers = Counter(i.customer for i in made)
    assert customers == {
        data.PEPPOL_CUSTOMER: 200,
        data.OVT_CUSTOMER: 100,
        data.EMAIL_CUSTOMER: 100,
        data.PRINT_CUSTOMER: 100,
    }
    assert body["customers"]["Erik Svensson"] == 100
    # interleaved: every prefix of five has the proportions
    assert Counter(i.customer for i in made[:5])[data.PEPPOL_CUSTOMER] == 2
    # each company's numbers go on without a gap or a repeat
    for company in (data.AB_COMPANY, data.OY_COMPANY):
        numbers = sorted(i.number for i in made if i.company == company)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert body["numbers"] == [i.number for i in made]


def test_generated_invoices_follow_their_template():
    sim = SeveraSimulator(seed=3, seed_invoices=False)
    (rc,) = sim.generate_mix(1, {"reverse_charge": 1})
    assert (rc.company, rc.customer, rc.settings["isReverseCharged"]) == (
        data.OY_COMPANY,
        data.PEPPOL_CUSTOMER,
        True,
    )
    (printed,) = sim.generate_mix(1, {"print": 1})
    assert printed.company == data.AB_COMPANY and printed.customer == data.PRINT_CUSTOMER
    assert {r["vatRate"] for r in printed.rows} == {25.0, 6.0}


def test_the_same_mix_gives_the_same_sequence():
    def run():
        sim = SeveraSimulator(seed=3, seed_invoices=False)
        return [i.customer for i in sim.generate_mix(40, {"peppol": 3, "email": 2, "reverse_charge": 1})]

    assert run() == run()


def test_without_a_mix_the_demo_invoices_take_turns(severa_sim):
    made = [severa_sim.invoices[g] for g in control(severa_sim, "generate", {"count": 8}).json()["invoices"]]
    assert [i.customer for i in made[:4]] == [
        data.PEPPOL_CUSTOMER,
        data.EMAIL_CUSTOMER,
        data.OVT_CUSTOMER,
        data.PEPPOL_CUSTOMER,
    ]
    assert made[3].settings["isReverseCharged"] and [i.customer for i in made[4:]] == [
        i.customer for i in made[:4]
    ]


def test_numbers_go_on_after_the_seeded_ones(severa_sim):
    (ab,) = severa_sim.generate_mix(1, {"peppol": 1})
    (oy,) = severa_sim.generate_mix(1, {"ovt": 1})
    assert (ab.number, oy.number) == (1004, 5003)


@pytest.mark.parametrize(
    "mix",
    [
        {"nobody": 1},
        {"peppol": -1},
        {"peppol": 0},
        {"peppol": "2"},
        ["peppol"],
    ],
)
def test_a_bad_mix_is_refused(severa_sim, mix):
    before = len(severa_sim.invoices)
    answer = control(severa_sim, "generate", {"count": 3, "mix": mix})
    assert answer.status == 400 and answer.json()["error"]["type"] == "InvalidRequest", answer.text
    assert len(severa_sim.invoices) == before


def test_two_thousand_at_once_is_quick():
    import time

    sim = SeveraSimulator(seed=3, seed_invoices=False)
    started = time.perf_counter()
    assert control(sim, "generate", {"count": 2000, "mix": {"peppol": 1, "ovt": 1}}).status == 201
    assert time.perf_counter() - started < 5
    assert len(sim.invoices) == 2000


def test_the_client_id_header_reaches_the_simulator_over_http():
    """Severa's ``client_id`` header has an underscore: over real HTTP the simulator sees it as the client
    spelled it (a ``Client-Id`` header is another header, and refused as Severa refuses it)."""
    import requests

    from sandbox.server import SandboxApp
    from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    from sandbox.testing import LiveSandbox

    body = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "scope": "settings:read"}
    with LiveSandbox(SandboxApp({"/severa": SeveraSimulator(seed=3)})) as live:
        url = f"{live.url}/severa/rest-api/v1"
        answer = requests.post(f"{url}/token", json=body, headers={"client_id": DEMO_CLIENT_ID}, timeout=5)
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        listed = requests.get(
            f"{url}/invoicestatuses",
            headers={"Authorization": f"Bearer {token}", "client_id": DEMO_CLIENT_ID},
            timeout=5,
        )
        assert listed.status_code == 200, listed.text
        dashed = requests.post(f"{url}/token", json=body, headers={"Client-Id": DEMO_CLIENT_ID}, timeout=5)
        assert dashed.status_code == 401
        logged = requests.get(f"{live.url}/severa/_sandbox/calls", timeout=5).json()["calls"]
        assert [c["client_id"] for c in logged] == [DEMO_CLIENT_ID, DEMO_CLIENT_ID, None]
