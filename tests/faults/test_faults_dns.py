"""DNS failing for a start_url host (issue 12, item 18).

Names under ``.invalid`` never resolve (RFC 6761 section 6.4), so no resolver of the
machine is touched. What the user sees:

- at intake, queuecall and the API refuse the request naming start_url and the name
  that does not resolve;
- a call queued while its host resolved, dialed after it stopped: the callee answered,
  so the call ends ``completed`` after that one attempt (an answered call is never
  dialed again), with an ``application_error`` event naming the start document's fetch;
- a resolver that does not answer at all (a name server that drops every query, in a
  mount namespace of the `vxdial serve` process alone): the same refusal, naming the
  temporary failure, within the probe's timeout.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.faults.support import IS_ROOT, Vxdial, wait_until
from tests.support.webapp import WebApp
from vxdial.app import accounts_for
from vxdial.config import DatabaseSettings, Settings
from vxdial.domain import calls, campaigns
from vxdial.domain.clock import SystemClock
from vxdial.store import CallToQueue, Store

GONE = "http://app.vxdial-fault.invalid/start.vxml"
CONFIG = """
[intake]
url_check_timeout_s = 5
[[sim.rule]]
match = "*"
ring_seconds = 0
"""


def serve(tmp_path: Path, config: str = CONFIG, wrapper: list[str] | None = None) -> Vxdial:
    url = f"sqlite:///{tmp_path / 'vxdial.db'}"
    store = Store.open(url)
    store.migrate()
    accounts_for(store, Settings(database=DatabaseSettings(url=url))).add_sender("alice", "1111")
    store.close()
    vxdial = Vxdial(tmp_path, url, config)
    vxdial.wrapper = wrapper or []
    return vxdial


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vxdial]:
    """One vxdial for the tests that need nothing else of it (each its own call)."""
    vxdial = serve(tmp_path_factory.mktemp("dns"))
    try:
        vxdial.serve("--sim-speed", "20")
        yield vxdial
    finally:
        vxdial.stop()


def plum_queuecall(vxdial: Vxdial, start_url: str, webapp: WebApp) -> ET.Element:
    response = vxdial.client().post(
        "/webservice/queuecall.php",
        data={
            "login": "alice",
            "pin": "1111",
            "phone_number": "15554000000",
            "start_url": start_url,
            "result_url": webapp.url("/result"),
        },
    )
    assert response.status_code == 200, response.text
    return ET.fromstring(response.content)


def test_a_start_url_whose_host_does_not_resolve_is_refused_at_intake(
    running: Vxdial, webapp: WebApp
) -> None:
    answer = plum_queuecall(running, GONE, webapp)
    assert answer.get("status") == "failed", ET.tostring(answer)
    [(field, reason)] = [(e.get("field"), e.text or "") for e in answer.findall("error")]
    assert field == "start_url"
    assert reason.startswith(f"GET {GONE} failed: cannot resolve host app.vxdial-fault.invalid")
    api = running.client(auth=("alice", "1111")).post(
        "/api/v1/calls", json={"phone_number": "15554000000", "start_url": GONE}
    )
    assert api.status_code == 422, api.text
    assert api.json()["errors"] == [{"field": "start_url", "reason": reason}]


def test_an_answered_call_whose_start_url_host_stopped_resolving_ends_completed(
    running: Vxdial, webapp: WebApp
) -> None:
    # Accepted while its host resolved (the intake probe passed then): stored as intake
    # stored it; by the time it is dialed, the name is gone.
    store = Store.open(running.env["VXDIAL_DATABASE_URL"])
    now = SystemClock().now()
    sender = next(s for s in store.senders() if s.role is campaigns.Role.SENDER)
    default = store.default_campaign(sender.id, now)
    settings = calls.CallSettings(GONE, webapp.url("/result"), 3, 60, now, None)
    [call_id] = store.queue_calls(
        [CallToQueue(sender.id, default.id, calls.NewCall("15554000001"), settings, now)]
    )
    store.close()

    wait_until(lambda: webapp.seen("/result", "POST"), "the result")
    [post] = webapp.seen("/result", "POST")
    result = {k: v[0] for k, v in parse_qs(post.body.decode()).items()}
    assert (result["call_id"], result["result"], result["attempts"]) == (
        str(call_id),
        "completed",
        "1",
    )
    api = running.client(auth=("alice", "1111"))
    call = api.get(f"/api/v1/calls/{call_id}").json()
    assert (call["state"], call["attempts"]) == ("completed", 1)
    events = api.get(f"/api/v1/calls/{call_id}/events").json()["items"]
    [error] = [e for e in events if e["kind"] == "application_error"]
    assert "error.badfetch" in error["detail"]
    assert "cannot resolve host 'app.vxdial-fault.invalid'" in error["detail"]
    assert [e["kind"] for e in events if e["kind"] in ("retry", "completed")] == ["completed"]


# -- a resolver that never answers -----------------------------------------------------------


class SilentNameServer:
    """A UDP socket on port 53 of a loopback address of its own that reads every query
    and answers none."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for last in range(2, 250):
            self.address = f"127.53.{threading.get_native_id() % 250}.{last}"
            try:
                self.socket.bind((self.address, 53))
                break
            except OSError:
                continue
        else:
            pytest.skip("no loopback address with a free port 53")
        self.queries = 0
        self._thread = threading.Thread(target=self._drop, daemon=True)
        self._thread.start()

    def _drop(self) -> None:
        while True:
            try:
                self.socket.recvfrom(4096)
            except OSError:
                return
            self.queries += 1

    def close(self) -> None:
        self.socket.close()


def test_a_resolver_that_never_answers(tmp_path: Path, webapp: WebApp) -> None:
    if not IS_ROOT:
        pytest.skip("needs root: a name server on port 53 and a mount namespace")
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr.strip()}")
    server = SilentNameServer()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {server.address}\noptions timeout:1 attempts:1\n")
    # Only this vxdial sees the silent name server: its own mount namespace, where
    # /etc/resolv.conf is ours.
    wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        f'mount --bind "{resolv}" /etc/resolv.conf && exec "$0" "$@"',
    ]
    vxdial = serve(tmp_path, wrapper=wrapper)
    try:
        vxdial.serve()
        start_url = "http://app.vxdial-fault.test/start.vxml"
        answer = plum_queuecall(vxdial, start_url, webapp)
        assert answer.get("status") == "failed", ET.tostring(answer)
        [(field, reason)] = [(e.get("field"), e.text or "") for e in answer.findall("error")]
        assert field == "start_url"
        assert reason.startswith(f"GET {start_url} failed: cannot resolve host "), reason
        assert server.queries >= 1  # it did ask, and was not answered
    finally:
        vxdial.stop()
        server.close()
