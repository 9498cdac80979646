"""The web interface over calls that were really dialed (the sim carrier, the dialer, the
VoiceXML interpreter and result delivery all running), on SQLite and PostgreSQL: the
call page shows each attempt, the events, the transcript and the result_url delivery;
the counts by state follow the dialer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.acceptance.web_support import ALICE, ALICE_PIN, Web, parse, running_web, text_of
from tests.support.webapp import WebApp
from vxdial.config import DialerSettings, SimRule, SimSettings
from vxdial.domain.clock import ScaledClock

SPEED = 60.0
CONFIRM = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form>
    <field name="answer" type="digits?length=1">
      <prompt>Your appointment is tomorrow at nine. Press 1 to confirm.</prompt>
      <filled><prompt>Thank you.</prompt></filled>
    </field>
  </form>
</vxml>"""

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL


@pytest.fixture
def web(database_url: str, webapp: WebApp) -> Iterator[Web]:
    rules = (
        SimRule(match="1555123*", dtmf="1", ring_seconds=2),
        SimRule(match="1555999*", outcome="busy"),
    )
    with running_web(
        database_url,
        webapp,
        clock=ScaledClock(SPEED),
        dialing=True,
        dialer=DialerSettings(cps=1000, poll_s=1.0, lease_s=120),
        sim=SimSettings(speed=SPEED, rule=rules),
    ) as running:
        webapp.bodies["/start.vxml"] = CONFIRM
        yield running


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_dialed_call_on_its_page(web: Web) -> None:
    api = web.api()
    answered = api.post(
        "/api/v1/calls",
        json={
            "phone_number": "15551230001",
            "start_url": web.start_url,
            "result_url": web.webapp.url("/result"),
            "message_reference": "appt-1",
        },
    ).json()
    busy = api.post(
        "/api/v1/calls",
        json={
            "phone_number": "15559990001",
            "start_url": web.start_url,
            "max_retries": 1,
            "retry_interval": 60,
        },
    ).json()
    alice = web.logged_in(ALICE, ALICE_PIN)

    def final(call_id: int) -> bool:
        state = alice.get(f"/web/live/calls/{call_id}.json").json()["state"]
        return state in ("completed", "failed")

    wait_for(lambda: final(answered["id"]) and final(busy["id"]))
    wait_for(lambda: len(web.webapp.seen("/result", "POST")) == 1)
    wait_for(
        lambda: (
            "delivered"
            in text_of(
                parse(alice.get(f"/web/calls/{answered['id']}")).xpath("//*[@id='deliveries']")[0]
            )
        )
    )
    page = parse(alice.get(f"/web/calls/{answered['id']}"))
    assert text_of(page.xpath("//*[@id='call-state']")[0]) == "completed"
    [attempt] = page.xpath("//table[@id='attempts']//tbody/tr[@data-attempt]")
    assert "answer" in [text_of(c) for c in attempt.xpath("./td")]
    transcript = text_of(page.xpath("//*[@id='transcript']")[0])
    assert "Your appointment is tomorrow at nine" in transcript
    assert "callee pressed 1" in transcript
    kinds = [text_of(c) for c in page.xpath("//table[@id='events']//tbody/tr/td[3]")]
    assert "connected" in kinds and "completed" in kinds
    deliveries = page.xpath("//*[@id='deliveries']")[0]
    assert "200" in [text_of(c) for c in deliveries.xpath(".//tbody/tr/td[2]")]
    assert not page.xpath("//button[text()='Cancel call']")

    busy_page = parse(alice.get(f"/web/calls/{busy['id']}"))
    assert text_of(busy_page.xpath("//*[@id='call-state']")[0]) == "failed"
    rows = busy_page.xpath("//table[@id='attempts']//tbody/tr[@data-attempt]")
    assert [text_of(r.xpath("./td")[4]) for r in rows] == ["busy", "busy"]

    # The counts by state, kept by the store as the dialer moved the calls.
    live = alice.get("/web/campaigns/default/live.json").json()
    assert live["counts"]["completed"] == 1 and live["counts"]["failed"] == 1
    assert live["total"] == 2 and live["done"] == 2
    assert sum(live["counts"].values()) == 2
    row = parse(alice.get("/web/campaigns")).xpath("//tr[@data-campaign='default']")[0]
    assert row.xpath(".//progress/@value") == ["2"] and row.xpath(".//progress/@max") == ["2"]
    completed = parse(alice.get("/web/campaigns/default?state=completed"))
    assert completed.xpath("//table[@id='calls']//tr/@data-call-id") == [str(answered["id"])]
