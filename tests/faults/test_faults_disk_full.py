"""The SQLite database's disk full (issue 12, item 18).

The database file lives on a tmpfs of a few MiB mounted for this test alone (a real full
filesystem: ENOSPC from the kernel, as on a full disk; SQLite's own ``max_page_count``
would only model the main file, not its write-ahead log). `vxdial serve` dials a
campaign through the sim carrier; the disk is filled mid-campaign, then freed.

What the user sees: while full, intake answers a clear error naming the disk (Plum:
status="failed"; API: 503), never "queued" for what it could not store, and /healthz
says the database cannot store anything; once space returns the same process goes on,
and every call accepted, before or during the fault, ends once with one result post.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from tests.faults.support import SmallDisk, Vxdial, wait_until
from tests.support.webapp import WebApp
from vxdial.app import accounts_for
from vxdial.config import DatabaseSettings, Settings
from vxdial.store import Store

SPEED = "20"
FULL = "the database has no space left on its disk; try again later"
CONFIG = """
[dialer]
lines = 10
cps = 1000
lease_s = 3600
[[sim.rule]]
match = "*"
ring_seconds = 2
talk_seconds = 10
"""
HOLD = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><field name="x" type="digits"><prompt>Please hold.</prompt>
    <noinput><reprompt/></noinput></field></form>
</vxml>"""


@pytest.fixture
def disk() -> Iterator[SmallDisk]:
    small = SmallDisk("16m")
    try:
        yield small
    finally:
        small.close()


@pytest.fixture
def running(disk: SmallDisk, webapp: WebApp, tmp_path: Path) -> Iterator[Vxdial]:
    url = f"sqlite:///{disk.path / 'vxdial.db'}"
    store = Store.open(url)
    store.migrate()
    accounts_for(store, Settings(database=DatabaseSettings(url=url))).add_sender("alice", "1111")
    store.close()
    webapp.bodies["/start.vxml"] = HOLD
    vxdial = Vxdial(tmp_path, url, CONFIG)
    try:
        vxdial.serve("--sim-speed", SPEED)
        yield vxdial
    finally:
        vxdial.stop()


def queuecall(client: httpx.Client, webapp: WebApp, phone_number: str) -> ET.Element:
    response = client.post(
        "/webservice/queuecall.php",
        data={
            "login": "alice",
            "pin": "1111",
            "phone_number": phone_number,
            "start_url": webapp.url("/start.vxml"),
            "result_url": webapp.url("/result"),
        },
    )
    assert response.status_code == 200, response.text
    return ET.fromstring(response.content)


def test_the_database_disk_full_then_freed(
    running: Vxdial, disk: SmallDisk, webapp: WebApp
) -> None:
    vxdial = running
    api = vxdial.client(auth=("alice", "1111"))
    phone_list = "".join(f"1555200{n:04d}\n" for n in range(30))
    upload = api.post(
        "/api/v1/campaigns",
        data={
            "campaign_name": "full",
            "start_url": webapp.url("/start.vxml"),
            "result_url": webapp.url("/result"),
        },
        files={"phone_list": ("list.csv", phone_list.encode())},
    )
    assert upload.status_code == 201, upload.text
    accepted = {int(c["id"]) for c in api.get("/api/v1/calls?limit=1000").json()["items"]}
    assert len(accepted) == 30
    wait_until(lambda: len(webapp.seen("/result")) >= 1, "the first result")

    disk.fill()
    # A write may still fit in the space SQLite already holds (its write-ahead log is
    # reused): each answer is either "queued" (and then kept) or the clear refusal.
    refused = 0
    for n in range(300):
        answer = queuecall(api, webapp, f"15552{n:06d}")
        if answer.get("status") == "queued":
            accepted.add(int(answer.get("call_id", "0")))
            continue
        assert [(e.get("field"), e.text) for e in answer.findall("error")] == [("request", FULL)]
        refused += 1
        if refused == 3:
            break
    assert refused == 3
    created = api.post(
        "/api/v1/calls",
        json={"phone_number": "15552999999", "start_url": webapp.url("/start.vxml")},
    )
    assert created.status_code == 503, created.text
    assert created.json() == {"errors": [{"field": "request", "reason": FULL}]}
    health = vxdial.client().get("/healthz")
    assert health.status_code == 503, health.text
    assert health.json()["database"] == FULL
    # Full for 20 s of the simulated world: calls up hang up meanwhile (10 s of talk),
    # so their ends and results meet the full disk too.
    time.sleep(1.0)

    disk.free()
    wait_until(lambda: vxdial.client().get("/healthz").status_code == 200, "/healthz ok")
    answer = queuecall(api, webapp, "15552888888")
    assert answer.get("status") == "queued", ET.tostring(answer)
    accepted.add(int(answer.get("call_id", "0")))

    def delivered() -> set[str]:
        return {p.headers["X-Vxdial-Delivery"] for p in webapp.seen("/result", "POST")}

    wait_until(lambda: len(delivered()) >= len(accepted), "every result", timeout_s=90)
    assert all(p.popen.poll() is None for p in vxdial.processes), vxdial.logs()
    posts: dict[int, list[str]] = defaultdict(list)
    for post in webapp.seen("/result", "POST"):
        fields = parse_qs(post.body.decode())
        assert fields["result"] == ["completed"], fields
        posts[int(fields["call_id"][0])].append(post.headers["X-Vxdial-Delivery"])
    assert set(posts) == accepted  # nothing accepted lost, nothing refused stored
    assert all(len(keys) == 1 for keys in posts.values())  # one post each
    calls = {c["id"]: c for c in api.get("/api/v1/calls?limit=1000").json()["items"]}
    assert set(calls) == accepted
    assert {(c["state"], c["attempts"]) for c in calls.values()} == {("completed", 1)}
