"""Hostile VoiceXML served by a customer's application, through the real dialer (issue
12, item 2): the service keeps answering while calls run them, and each such call ends
on its own limits, answered and completed, never dialed again.

What is asserted is what happened, in order: how many /healthz answers came back while
the hostile calls were up (a loop stalled by them answers none until they end).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.acceptance.dialing_support import Dialing
from vxdial.config import SimRule

SPIN = "<script>var t = Date.now(); while (Date.now() - t &lt; 800) {}</script>"
SPINNING = (
    '<?xml version="1.0"?><vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">'
    f"<form><block>{SPIN * 3}<prompt>done</prompt></block></form></vxml>"
).encode()
BLOCKS = (
    '<?xml version="1.0"?><vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form>'
    + "<block/>" * 6000
    + "</form></vxml>"
).encode()


def test_the_service_answers_while_calls_run_hostile_documents(
    start_dialing: Callable[..., Dialing],
) -> None:
    dialing = start_dialing(SimRule(match="*", ring_seconds=0))
    dialing.webapp.bodies["/spin.vxml"] = SPINNING
    dialing.webapp.bodies["/blocks.vxml"] = BLOCKS
    queued = [
        dialing.queue(phone_number=f"1555123000{n}", start_url=dialing.webapp.url(path))
        for n, path in enumerate(["/spin.vxml", "/spin.vxml", "/blocks.vxml"])
    ]
    dialing.wait_for(lambda: any(dialing.call(c["id"])["state"] == "connected" for c in queued))
    answered_while_up = 0
    with httpx.Client(base_url=dialing.base, timeout=30) as client:
        while any(dialing.call(c["id"])["state"] != "completed" for c in queued):
            assert client.get("/healthz").status_code == 200
            answered_while_up += 1
            time.sleep(0.01)
    # 2.4 s of spinning per call: on the serving loop, /healthz could not have answered
    # while they ran; on their own threads it answers throughout.
    assert answered_while_up >= 20
    results = dialing.wait_results(3)
    assert sorted(r["result"] for r in results) == ["completed"] * 3
    for call in queued:
        assert dialing.call(call["id"])["attempts"] == 1
