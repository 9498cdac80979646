"""The SIP trunk unreachable (issue 12, item 18).

`vxdial serve` with the sip driver calls through a trunk that is either a closed UDP
port on loopback or a silent peer (a socket that reads every datagram and answers none,
as a blackholed address would). T1 is 50 ms here (``[sip] t1_s``), so Timer B gives up
after 3.2 s instead of 32 s. What the user sees: each attempt ends ``unreachable`` with
a cause naming the trunk and timer B; the call is queued again for its retry_interval
while it has retries, else ``failed`` with its result posted (callee_type unreachable);
no call stays up; /metrics counts the unreachable attempts and shows the trunk down.
"""

from __future__ import annotations

import random
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.faults.support import Vxdial, wait_until
from tests.support.webapp import WebApp
from vxdial.app import accounts_for
from vxdial.config import DatabaseSettings, Settings
from vxdial.store import Store

CONFIG = """
[telephony]
driver = "sip"
[sip]
trunk = "sip:127.0.0.1:{trunk_port}"
bind = "127.0.0.1:0"
rtp_ports = "{rtp_low}-{rtp_high}"
t1_s = 0.05
options_interval_s = 1
"""


class SilentPeer:
    """A UDP socket on loopback that reads every datagram and answers none."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.methods: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data, _ = self.socket.recvfrom(65536)
            except OSError:
                return
            self.methods.append(data.split(b" ", 1)[0].decode(errors="replace"))

    def close(self) -> None:
        self.socket.close()


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["closed port", "silent peer"])
def trunk(request: pytest.FixtureRequest) -> Iterator[SilentPeer | int]:
    if request.param == "closed port":
        yield closed_udp_port()
        return
    peer = SilentPeer()
    yield peer
    peer.close()


@pytest.fixture
def running(trunk: SilentPeer | int, tmp_path: Path) -> Iterator[Vxdial]:
    missing = [p for p in ("espeak-ng", "sox") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"the sip driver needs {' and '.join(missing)}")
    url = f"sqlite:///{tmp_path / 'vxdial.db'}"
    store = Store.open(url)
    store.migrate()
    accounts_for(store, Settings(database=DatabaseSettings(url=url))).add_sender("alice", "1111")
    store.close()
    rtp_low = random.randrange(30000, 60000, 2)
    config = CONFIG.format(
        trunk_port=trunk if isinstance(trunk, int) else trunk.port,
        rtp_low=rtp_low,
        rtp_high=rtp_low + 100,
    )
    vxdial = Vxdial(tmp_path, url, config)
    try:
        vxdial.serve()
        yield vxdial
    finally:
        vxdial.stop()


def test_calls_through_an_unreachable_trunk_end_unreachable_and_are_retried(
    running: Vxdial, trunk: SilentPeer | int, webapp: WebApp
) -> None:
    vxdial = running
    api = vxdial.client(auth=("alice", "1111"))
    trunk_uri = f"sip:127.0.0.1:{trunk if isinstance(trunk, int) else trunk.port}"
    queued = {}
    for number, retries in (("15555000001", 1), ("15555000002", 0)):
        created = api.post(
            "/api/v1/calls",
            json={
                "phone_number": number,
                "start_url": webapp.url("/start.vxml"),
                "result_url": webapp.url("/result"),
                "max_retries": retries,
                "retry_interval": 60,
            },
        )
        assert created.status_code == 201, created.text
        queued[retries] = created.json()["id"]

    # The call without retries: failed, its result posted.
    wait_until(lambda: webapp.seen("/result", "POST"), "the result", timeout_s=60)
    [post] = webapp.seen("/result", "POST")
    result = {k: v[0] for k, v in parse_qs(post.body.decode()).items()}
    assert (result["call_id"], result["result"], result["callee_type"], result["attempts"]) == (
        str(queued[0]),
        "failed",
        "unreachable",
        "1",
    )
    cause = f"no response from the trunk {trunk_uri} within 3.2 s (timer B)"
    [attempt] = api.get(f"/api/v1/calls/{queued[0]}/attempts").json()
    assert (attempt["outcome"], attempt["cause"]) == ("unreachable", cause)

    # The call with a retry: queued again for its retry_interval after the attempt ended.
    def retried() -> bool:
        call = api.get(f"/api/v1/calls/{queued[1]}").json()
        return bool(call["state"] == "queued" and call["attempts"] == 1)

    wait_until(retried, "the retry", timeout_s=30)
    call = api.get(f"/api/v1/calls/{queued[1]}").json()
    [attempt] = api.get(f"/api/v1/calls/{queued[1]}/attempts").json()
    assert (attempt["outcome"], attempt["cause"], call["callee_type"]) == (
        "unreachable",
        cause,
        "unreachable",
    )
    ended = datetime.fromisoformat(attempt["ended_at"])
    assert datetime.fromisoformat(call["next_attempt_at"]) == ended + timedelta(seconds=60)
    events = api.get(f"/api/v1/calls/{queued[1]}/events").json()["items"]
    assert [e["kind"] for e in events][-2:] == ["disconnected", "retry"]
    assert events[-2]["detail"] == f"unreachable: {cause}"

    # Nothing hangs: no call up, the service answers, and the figures say what happened.
    assert vxdial.client().get("/healthz").status_code == 200
    wait_until(
        lambda: (
            'vxdial_sip_trunk_up{trunk="' + trunk_uri + '"} 0.0'
            in vxdial.client().get("/metrics").text
        ),
        "the OPTIONS keepalive to give up",
        timeout_s=30,
    )
    metrics = vxdial.client().get("/metrics").text
    assert 'vxdial_dialer_attempts_ended_total{outcome="unreachable"} 2.0' in metrics
    assert "vxdial_dialer_calls_up 0.0" in metrics
    if isinstance(trunk, SilentPeer):
        # Timer A: each INVITE was sent again (T1, 2*T1, ...) before timer B gave up.
        assert trunk.methods.count("INVITE") > 2 * 2
