"""PostgreSQL restarted in the middle of a campaign (issue 12, item 18).

A PostgreSQL of the test's own (never the machine's shared one) is stopped and started
again while `vxdial serve` and a `vxdial worker` both dial a campaign through the sim
carrier (short rings and calls, in real time). What the user sees: /healthz says the
database is down while it is, intake answers a clear error (Plum: status="failed"
naming the database; API: 503), and afterwards every process goes on without a restart;
every call ends once, with the attempts its callee's rule gives (no call dialed twice,
no answered call dialed again), and one result post each.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import sqlalchemy as sa

from tests.faults.support import PrivatePostgres, Vxdial, wait_until
from tests.support.webapp import WebApp
from vxdial.app import accounts_for, open_store
from vxdial.config import DatabaseSettings, Settings
from vxdial.store import tables

# Real time in both processes: a scaled clock (--sim-speed) is one process's own
# (README), and two dialers on different scaled clocks disagree about leases. The
# default lease (60 s) outlasts the outage: a lease must (docs/FAULTS.md).
CONFIG = """
[dialer]
lines = 30
cps = 1000
[[sim.rule]]
match = "1555100*"
outcome = "busy"
[[sim.rule]]
match = "*"
ring_seconds = 0.3
talk_seconds = 1.5
"""
HOLD = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><field name="x" type="digits"><prompt>Please hold.</prompt>
    <noinput><reprompt/></noinput></field></form>
</vxml>"""


def expected(phone_number: str) -> tuple[str, list[str]]:
    """The call's final state and its attempts' outcomes, as its callee's rule says."""
    if phone_number.startswith("1555100"):
        return "failed", ["busy"]
    return "completed", ["answer"]


@pytest.fixture
def running(private_postgres: PrivatePostgres, webapp: WebApp, tmp_path: Path) -> Iterator[Vxdial]:
    settings = Settings(database=DatabaseSettings(url=private_postgres.url))
    store = open_store(settings)
    accounts_for(store, settings).add_sender("alice", "1111")
    store.close()
    webapp.bodies["/start.vxml"] = HOLD
    vxdial = Vxdial(tmp_path, private_postgres.url, CONFIG)
    try:
        vxdial.worker()
        vxdial.serve()
        yield vxdial
    finally:
        vxdial.stop()


def states(url: str) -> Counter[str]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(tables.calls.c.state, sa.func.count()).group_by(tables.calls.c.state)
            ).all()
        return Counter(dict(rows))
    finally:
        engine.dispose()


def queuecall(client: httpx.Client, webapp: WebApp, phone_number: str) -> ET.Element:
    response = client.post(
        "/webservice/queuecall.php",
        data={
            "login": "alice",
            "pin": "1111",
            "phone_number": phone_number,
            "start_url": webapp.url("/start.vxml"),
            "result_url": webapp.url("/result"),
            "max_retries": "0",
        },
    )
    assert response.status_code == 200, response.text
    return ET.fromstring(response.content)


def test_postgresql_restarted_mid_campaign(
    running: Vxdial, private_postgres: PrivatePostgres, webapp: WebApp
) -> None:
    vxdial = running
    url = private_postgres.url
    api = vxdial.client(auth=("alice", "1111"))
    phone_list = "".join(f"15551{n % 2}0{n:04d}\n" for n in range(40))
    upload = api.post(
        "/api/v1/campaigns",
        data={
            "campaign_name": "restart",
            "start_url": webapp.url("/start.vxml"),
            "result_url": webapp.url("/result"),
            "max_retries": "0",
        },
        files={"phone_list": ("list.csv", phone_list.encode())},
    )
    assert upload.status_code == 201, upload.text
    queued = {int(c["id"]) for c in api.get("/api/v1/calls?limit=1000").json()["items"]}
    assert len(queued) == 40
    # Mid-campaign: calls up, some over, most still to come.
    wait_until(lambda: states(url)["connected"] >= 5 and states(url)["completed"] >= 1, "calls")

    private_postgres.stop("fast")
    with vxdial.client() as anonymous:
        health = anonymous.get("/healthz")
        assert health.status_code == 503, health.text
        assert health.json()["status"] == "unavailable"
        assert "database" in health.json()["database"]
        # Intake: a clear refusal, never "queued" for what cannot be stored.
        answer = queuecall(anonymous, webapp, "15551239999")
        assert answer.get("status") == "failed", ET.tostring(answer)
        reasons = [(e.get("field"), e.text or "") for e in answer.findall("error")]
        assert len(reasons) == 1 and "database is unavailable" in reasons[0][1], reasons
        created = api.post(
            "/api/v1/calls",
            json={"phone_number": "15551239998", "start_url": webapp.url("/start.vxml")},
        )
        assert created.status_code == 503, created.text
        assert "database is unavailable" in created.json()["errors"][0]["reason"]
        # Down for longer than a call lasts (1.5 s of talk): the calls up hang up
        # meanwhile, so their ends, results and new claims all meet the outage.
        time.sleep(2.0)
    private_postgres.start()

    wait_until(lambda: vxdial.client().get("/healthz").status_code == 200, "/healthz up")
    assert vxdial.client().get("/healthz").json()["database"] == "ok"
    for n in range(3):  # intake works again, on the same processes
        answer = queuecall(api, webapp, f"1555123000{n}")
        assert answer.get("status") == "queued", ET.tostring(answer)
        queued.add(int(answer.get("call_id", "0")))

    wait_until(
        lambda: (
            len({p.headers.get("X-Vxdial-Delivery") for p in webapp.seen("/result")}) >= len(queued)
        ),
        "every result",
        timeout_s=90,
    )
    assert all(p.popen.poll() is None for p in vxdial.processes), vxdial.logs()

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        calls = {
            r.id: r
            for r in conn.execute(
                sa.select(
                    tables.calls.c.id,
                    tables.calls.c.state,
                    tables.calls.c.attempts,
                    tables.calls.c.phone_number,
                )
            )
        }
        attempts = conn.execute(
            sa.select(
                tables.call_attempts.c.call_id,
                tables.call_attempts.c.attempt,
                tables.call_attempts.c.outcome,
            ).order_by(tables.call_attempts.c.call_id, tables.call_attempts.c.attempt)
        ).all()
    engine.dispose()
    assert set(calls) == queued  # nothing lost, nothing stored that was refused
    outcomes: dict[int, list[str | None]] = defaultdict(list)
    for call_id, number, outcome in attempts:
        assert number == len(outcomes[call_id]) + 1
        outcomes[call_id].append(outcome)
    for call_id, call in calls.items():
        # Dialed exactly as its callee's rules say: no attempt lost or repeated.
        state, attempted = expected(call.phone_number)
        assert (call.state, outcomes[call_id]) == (state, attempted), (call_id, vxdial.logs())
        assert call.attempts == len(attempted)

    posts: dict[str, set[str]] = defaultdict(set)
    for post in webapp.seen("/result", "POST"):
        call_id = parse_qs(post.body.decode())["call_id"][0]
        posts[call_id].add(post.headers["X-Vxdial-Delivery"])
    assert {int(c) for c in posts} == queued
    assert all(len(keys) == 1 for keys in posts.values())
    assert len(webapp.seen("/result", "POST")) == len(queued)  # one post each
    for process in vxdial.processes:  # each said so, and went on by itself
        # (its dialer or its deliverer, whichever was asking the database: an idle
        # dialer makes no query, so it may never have met the outage)
        assert ".store_unavailable" in process.output(), process.output()[-3000:]
        assert ".store_available" in process.output(), process.output()[-3000:]
