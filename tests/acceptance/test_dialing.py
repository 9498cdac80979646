"""The dialer end to end: real HTTP, the sim carrier, the customer's application on
loopback serving VoiceXML and collecting result_url posts; on SQLite and PostgreSQL.

The simulated world runs SPEED times faster (one ScaledClock shared by the dialer, the
sim carrier and the intake), so retry intervals of a minute pass in a second or two.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs

import httpx

from tests.acceptance.dialing_support import GOODBYE, SPEED, Dialing
from vxdial.config import SimRule
from vxdial.domain.clock import to_epoch_s

CONFIRM = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form id="reminder">
    <field name="answer" type="digits?length=1">
      <prompt>Your appointment is tomorrow at nine. Press 1 to confirm, 2 to cancel.</prompt>
      <filled>
        <if cond="answer == '1'">
          <prompt>Thank you, see you tomorrow.</prompt>
        <else/>
          <prompt>Your appointment is canceled.</prompt>
        </if>
        <submit next="/confirm" namelist="answer" method="post"/>
      </filled>
    </field>
  </form>
</vxml>"""


def test_answered_and_confirmed_with_a_key(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing(SimRule(match="1555123*", dtmf="1", ring_seconds=2))
    dialing.webapp.bodies["/start.vxml"] = CONFIRM
    dialing.webapp.bodies["/confirm"] = GOODBYE
    call = dialing.queue(message_reference="appt-42", call_parameters="name=Pat")
    [result] = dialing.wait_results(1)
    assert result["call_id"] == str(call["id"])
    assert result["result"] == "completed"
    assert result["callee_type"] == "voice"
    assert result["attempts"] == "1"
    assert result["message_reference"] == "appt-42"
    assert int(result["duration"]) >= 1
    # The application got the call's fields, and then the caller's answer.
    [start] = dialing.webapp.seen("/start.vxml", "POST")
    fields = parse_qs(start.body.decode())
    assert fields["call_id"] == [str(call["id"])]
    assert fields["message_reference"] == ["appt-42"]
    assert fields["call_parameters"] == ["name=Pat"]
    assert fields["campaign_name"] == ["default"]
    assert fields["attempt"] == ["1"]
    [confirm] = dialing.webapp.seen("/confirm", "POST")
    assert parse_qs(confirm.body.decode())["answer"] == ["1"]
    # The transcript.
    events = dialing.events(call["id"])
    kinds = [e["kind"] for e in events]
    assert kinds[:3] == ["dialing", "ringing", "connected"]
    prompts = [e["detail"] for e in events if e["kind"] == "prompt"]
    assert prompts == [
        "Your appointment is tomorrow at nine. Press 1 to confirm, 2 to cancel.",
        "Thank you, see you tomorrow.",
        "Goodbye.",
    ]
    assert any(e["kind"] == "dtmf" and e["detail"].startswith("1") for e in events)
    assert kinds[-1] == "completed"
    final = dialing.call(call["id"])
    assert final["state"] == "completed" and final["callee_type"] == "voice"


def test_busy_then_answered_on_the_third_attempt(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing(SimRule(match="*", attempts=("busy", "busy", "answer")))
    call = dialing.queue(max_retries=3, retry_interval=60)
    [result] = dialing.wait_results(1)
    assert (result["result"], result["attempts"], result["callee_type"]) == (
        "completed",
        "3",
        "voice",
    )
    attempts = dialing.attempts(call["id"])
    assert [a["outcome"] for a in attempts] == ["busy", "busy", "answer"]
    assert attempts[0]["cause"] == "sim: busy"
    starts = [a["started_at"] for a in attempts]
    gaps = [_seconds(b) - _seconds(a) for a, b in itertools.pairwise(starts)]
    assert all(gap >= 60 for gap in gaps), gaps
    assert int(result["start_timestamp"]) <= int(result["last_attempt_timestamp"])


def test_never_answered_fails_after_every_attempt(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing(SimRule(match="*", outcome="noanswer"))
    call = dialing.queue(max_retries=2, retry_interval=60)
    [result] = dialing.wait_results(1, timeout_s=60)
    assert (result["result"], result["attempts"], result["callee_type"]) == (
        "failed",
        "3",
        "noanswer",
    )
    attempts = dialing.attempts(call["id"])
    assert [a["outcome"] for a in attempts] == ["noanswer"] * 3
    assert all(a["cause"] == "ring timeout" for a in attempts)
    starts = [_seconds(a["started_at"]) for a in attempts]
    assert all(b - a >= 60 + 30 for a, b in itertools.pairwise(starts))  # ring + wait


def test_expiration_mid_retries(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing(SimRule(match="*", outcome="busy"))
    # 170: the third attempt (120 s) has 50 simulated seconds (~0.8 s of real time) to
    # start before expiry, even on a loaded machine; the fourth would start after 180.
    expires = to_epoch_s(dialing.clock.now()) + 170
    call = dialing.queue(max_retries=5, retry_interval=60, expiration_timestamp=expires)
    [result] = dialing.wait_results(1)
    assert result["result"] == "expired"
    assert result["callee_type"] == "busy"
    assert result["attempts"] == "3"  # at 0, 60 and 120 s; the next would start after 170
    assert len(dialing.attempts(call["id"])) == 3


def test_scheduled_in_the_future(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing()
    start_at = to_epoch_s(dialing.clock.now()) + 120
    call = dialing.queue(scheduled_timestamp=start_at)
    time.sleep(60 / SPEED)  # a simulated minute: nothing yet
    assert dialing.call(call["id"])["state"] == "queued"
    [result] = dialing.wait_results(1)
    assert result["result"] == "completed"
    assert int(result["start_timestamp"]) >= start_at


def test_cancel_a_queued_call(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing()
    start_at = to_epoch_s(dialing.clock.now()) + 3600
    call = dialing.queue(scheduled_timestamp=start_at)
    response = dialing.alice.delete(f"/api/v1/calls/{call['id']}")
    assert response.status_code == 200 and response.json()["state"] == "canceled"
    [result] = dialing.wait_results(1)
    assert (result["result"], result["attempts"]) == ("canceled", "0")
    assert dialing.alice.delete(f"/api/v1/calls/{call['id']}").status_code == 409


def test_cancel_a_connected_call_hangs_up(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing(SimRule(match="*", dtmf=""))
    dialing.webapp.bodies["/start.vxml"] = LONG_CALL
    call = dialing.queue()
    dialing.wait_for(lambda: dialing.call(call["id"])["state"] == "connected")
    response = dialing.alice.delete(f"/api/v1/calls/{call['id']}")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    [result] = dialing.wait_results(1)
    assert result["result"] == "completed"  # answered calls end completed
    events = dialing.events(call["id"])
    assert any(e["kind"] == "cancel_requested" for e in events)
    assert any("canceled by request" in (e["detail"] or "") for e in events)


def test_pause_and_resume_a_campaign(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing()
    response = dialing.alice.post(
        "/api/v1/campaigns",
        data={
            "campaign_name": "spring",
            "start_url": dialing.webapp.url("/start.vxml"),
            "result_url": dialing.webapp.url("/result"),
            "scheduled_timestamp": str(to_epoch_s(dialing.clock.now()) + 30),
        },
        files={"phone_list": ("l.csv", b"15551230001\n15551230002\n15551230003\n")},
    )
    campaign = response.json()
    paused = dialing.alice.post(f"/api/v1/campaigns/{campaign['id']}/pause").json()
    assert paused["state"] == "paused"
    time.sleep(90 / SPEED)
    assert dialing.results() == []
    assert dialing.alice.get(f"/api/v1/campaigns/{campaign['id']}").json()["counts"]["queued"] == 3
    resumed = dialing.alice.post(f"/api/v1/campaigns/{campaign['id']}/resume").json()
    assert resumed["state"] == "active"
    results = dialing.wait_results(3)
    assert sorted(r["result"] for r in results) == ["completed"] * 3


def test_cancel_a_campaign(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing()
    response = dialing.alice.post(
        "/api/v1/campaigns",
        data={
            "campaign_name": "gone",
            "start_url": dialing.webapp.url("/start.vxml"),
            "result_url": dialing.webapp.url("/result"),
            "scheduled_timestamp": str(to_epoch_s(dialing.clock.now()) + 3600),
        },
        files={"phone_list": ("l.csv", b"".join(b"1555123%04d\n" % i for i in range(50)))},
    )
    campaign = response.json()
    canceled = dialing.alice.post(f"/api/v1/campaigns/{campaign['id']}/cancel").json()
    assert canceled["state"] == "canceled"
    assert canceled["counts"]["canceled"] == 50
    results = dialing.wait_results(50)
    assert {r["result"] for r in results} == {"canceled"}
    csv_rows = dialing.alice.get(
        f"/api/v1/campaigns/{campaign['id']}/results.csv"
    ).text.splitlines()
    assert csv_rows[0].startswith("call_id,line,phone_number")
    assert len(csv_rows) == 51 and all(",canceled," in row for row in csv_rows[1:])


def test_lines_are_never_exceeded(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing(SimRule(match="*", ring_seconds=5), lines=4)
    dialing.webapp.bodies["/start.vxml"] = GOODBYE
    for i in range(30):
        dialing.queue(phone_number=f"1555123{i:04d}")
    dialing.wait_results(30, timeout_s=60)
    assert dialing.driver.max_lines_in_use == 4


def test_a_senders_lines_are_never_exceeded(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing(SimRule(match="*", ring_seconds=5), lines=50, sender_lines=2)
    for i in range(12):
        dialing.queue(phone_number=f"1555123{i:04d}")
    dialing.wait_results(12, timeout_s=60)
    assert dialing.driver.max_lines_in_use == 2


def test_results_are_signed(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing()
    secret = dialing.alice.get("/api/v1/me").json()["result_secret"]
    dialing.queue()
    dialing.wait_results(1)
    [post] = dialing.result_posts()
    expected = "sha256=" + hmac.new(secret.encode(), post.body, hashlib.sha256).hexdigest()
    headers = {k.lower(): v for k, v in post.headers.items()}
    assert headers["x-vxdial-signature"] == expected
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert len(headers["x-vxdial-delivery"]) == 36
    dialing.wait_for(
        lambda: "vxdial_results_delivered_total 1.0" in httpx.get(f"{dialing.base}/metrics").text
    )
    metrics = httpx.get(f"{dialing.base}/metrics").text
    assert "vxdial_dialer_attempts_started_total 1.0" in metrics
    assert "vxdial_dialer_calls_answered_total 1.0" in metrics


def test_result_url_down_for_a_while(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing()
    dialing.webapp.status_sequences["POST /result"] = [500, 503]
    call = dialing.queue()
    dialing.wait_for(lambda: len(dialing.result_posts()) >= 3, timeout_s=60)
    posts = dialing.result_posts()
    keys = {{k.lower(): v for k, v in p.headers.items()}["x-vxdial-delivery"] for p in posts}
    assert len(keys) == 1  # the same delivery id every time
    assert len({p.body for p in posts}) == 1
    dialing.wait_for(
        lambda: (
            dialing.alice.get(f"/api/v1/calls/{call['id']}/deliveries").json()[0]["state"]
            == "delivered"
        )
    )
    [delivery] = dialing.alice.get(f"/api/v1/calls/{call['id']}/deliveries").json()
    assert [t["status"] for t in delivery["tries"]] == [500, 503, 200]
    assert delivery["attempts"] == 3


def test_admin_suspend_and_resume(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing()
    suspended = dialing.admin.post("/api/v1/admin/suspend")
    assert suspended.status_code == 200 and suspended.json()["suspended"] is True
    call = dialing.queue()
    time.sleep(60 / SPEED)
    assert dialing.call(call["id"])["state"] == "queued"
    resumed = dialing.admin.post("/api/v1/admin/resume").json()
    assert resumed["suspended"] is False and resumed["lines"] == 100
    [result] = dialing.wait_results(1)
    assert result["result"] == "completed"
    assert dialing.alice.post("/api/v1/admin/suspend").status_code == 403


def test_the_maximum_call_duration_hangs_up(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing(max_call_s=90)
    dialing.webapp.bodies["/start.vxml"] = LONG_CALL  # would hold forever
    call = dialing.queue()
    [result] = dialing.wait_results(1)
    assert result["result"] == "completed"
    assert 89 <= int(result["duration"]) <= 95
    events = dialing.events(call["id"])
    assert any("maximum call duration (90 s)" in (e["detail"] or "") for e in events)


LONG_CALL = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><field name="x" type="digits"><prompt>Please hold.</prompt>
    <noinput><reprompt/></noinput></field></form>
</vxml>"""


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
