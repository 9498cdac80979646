"""A running vxdial that dials through the sim carrier on a scaled clock, for the
acceptance tests that follow calls to their results (the ``start_dialing`` fixture of
tests/acceptance/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx

from tests.support.webapp import Seen, WebApp
from vxdial.domain.clock import ScaledClock
from vxdial.telephony import SimDriver

SPEED = 60.0

GOODBYE = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form><block>Goodbye.</block></form></vxml>"""


@dataclass
class Dialing:
    base: str
    webapp: WebApp
    clock: ScaledClock
    driver: SimDriver
    alice: httpx.Client
    admin: httpx.Client

    def queue(self, **fields: Any) -> dict[str, Any]:
        body = {
            "phone_number": "15551230000",
            "start_url": self.webapp.url("/start.vxml"),
            "result_url": self.webapp.url("/result"),
            **fields,
        }
        response = self.alice.post("/api/v1/calls", json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def results(self) -> list[dict[str, str]]:
        return [
            {k: v[0] for k, v in parse_qs(r.body.decode(), keep_blank_values=True).items()}
            for r in self.webapp.seen("/result", "POST")
        ]

    def result_posts(self) -> list[Seen]:
        return self.webapp.seen("/result", "POST")

    def wait_for(self, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < deadline, "timed out waiting"
            time.sleep(0.02)

    def wait_results(self, count: int, timeout_s: float = 30.0) -> list[dict[str, str]]:
        self.wait_for(lambda: len(self.results()) >= count, timeout_s)
        return self.results()

    def call(self, call_id: int) -> dict[str, Any]:
        return self.alice.get(f"/api/v1/calls/{call_id}").json()  # type: ignore[no-any-return]

    def events(self, call_id: int) -> list[dict[str, Any]]:
        return self.alice.get(f"/api/v1/calls/{call_id}/events").json()["items"]  # type: ignore[no-any-return]

    def attempts(self, call_id: int) -> list[dict[str, Any]]:
        return self.alice.get(f"/api/v1/calls/{call_id}/attempts").json()  # type: ignore[no-any-return]
