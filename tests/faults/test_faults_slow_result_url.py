"""One sender's result_url answering slowly (issue 12, item 18).

Alice's result_url holds every post for 30 s; Bob's answers at once. Each process posts
at most ``[delivery] concurrency`` results at a time (12 here), and no sender more than
``[delivery] sender_concurrency`` of them (by default half of concurrency), so Alice's
posts waiting on her server never take every slot: Bob's result arrives while all of hers are still
waiting, and hers are delivered once her server answers, one post each.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.faults.support import Vxdial, wait_until
from tests.support.webapp import WebApp
from vxdial.app import accounts_for
from vxdial.config import DatabaseSettings, DeliverySettings, Settings
from vxdial.store import Store

CONFIG = """
[delivery]
concurrency = 12
timeout_s = 60
[[sim.rule]]
match = "*"
ring_seconds = 0
"""
HELLO = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form><block>Hi.</block></form></vxml>"""
SENDER_SHARE = DeliverySettings(concurrency=12).sender_share


@pytest.fixture
def running(webapp: WebApp, tmp_path: Path) -> Iterator[Vxdial]:
    url = f"sqlite:///{tmp_path / 'vxdial.db'}"
    store = Store.open(url)
    store.migrate()
    accounts = accounts_for(store, Settings(database=DatabaseSettings(url=url)))
    accounts.add_sender("alice", "1111")
    accounts.add_sender("bob", "2222")
    store.close()
    webapp.bodies["/start.vxml"] = HELLO
    vxdial = Vxdial(tmp_path, url, CONFIG)
    release = webapp.holds["POST /alice-results"] = threading.Event()
    try:
        vxdial.serve("--sim-speed", "20")
        yield vxdial
    finally:
        release.set()
        vxdial.stop()


def test_a_slow_result_url_holds_up_only_its_own_senders_results(
    running: Vxdial, webapp: WebApp
) -> None:
    vxdial = running
    alice = vxdial.client(auth=("alice", "1111"))
    bob = vxdial.client(auth=("bob", "2222"))
    assert SENDER_SHARE < 12
    phone_list = "".join(f"1555300{n:04d}\n" for n in range(15)).encode()
    upload = alice.post(
        "/api/v1/campaigns",
        data={
            "campaign_name": "slow",
            "start_url": webapp.url("/start.vxml"),
            "result_url": webapp.url("/alice-results"),
        },
        files={"phone_list": ("list.csv", phone_list)},
    )
    assert upload.status_code == 201, upload.text

    def alice_posts() -> list[bool]:
        return [post.answered for post in webapp.seen("/alice-results", "POST")]

    def alice_done() -> bool:
        calls = alice.get("/api/v1/calls?limit=100").json()["items"]
        return len(calls) == 15 and all(c["state"] == "completed" for c in calls)

    # Every one of Alice's results is due, and her server holds as many posts as she
    # may have in flight.
    wait_until(lambda: alice_done() and len(alice_posts()) >= SENDER_SHARE, "Alice's posts")

    call = bob.post(
        "/api/v1/calls",
        json={
            "phone_number": "15553100000",
            "start_url": webapp.url("/start.vxml"),
            "result_url": webapp.url("/bob-results"),
        },
    )
    assert call.status_code == 201, call.text
    wait_until(lambda: webapp.seen("/bob-results", "POST"), "Bob's result", timeout_s=20)
    [bobs] = webapp.seen("/bob-results", "POST")
    assert parse_qs(bobs.body.decode())["call_id"] == [str(call.json()["id"])]
    # ... while Alice's first posts are all still waiting on her server, and no more.
    assert alice_posts() == [False] * SENDER_SHARE

    webapp.holds["POST /alice-results"].set()
    wait_until(lambda: sum(alice_posts()) >= 15, "Alice's results once her server answers")
    delivered = Counter(
        parse_qs(p.body.decode())["call_id"][0] for p in webapp.seen("/alice-results", "POST")
    )
    assert len(delivered) == 15 and set(delivered.values()) == {1}
