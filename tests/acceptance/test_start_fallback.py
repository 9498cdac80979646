"""A start_url whose server refuses the answered call's POST (issue 11 item 14).

A VoiceXML file served by a static file server cannot be POSTed to: Python's
``http.server`` answers 501, nginx 405. The dialer (and ``vxdial try --post``) then
fetches it with GET, the call's fields in the query string, and says so in the call's
events. Real servers on loopback: ``python3 -m http.server`` as a subprocess, and an
aiohttp application answering 405; the real dialer with the sim carrier.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest
from aiohttp import web

from tests.conftest import make_settings
from tests.support.servers import serve_in_thread
from vxdial.app import accounts_for, open_store
from vxdial.config import DialerSettings, SimRule, SimSettings
from vxdial.domain.clock import ScaledClock
from vxdial.telephony import SimDriver

VXDIAL = str(Path(sys.executable).with_name("vxdial"))
SPEED = 50.0

CONFIRM = """<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form>
    <field name="answer">
      <prompt>Served by a static file server. Press 1 to confirm.</prompt>
      <option dtmf="1" value="confirmed">confirm</option>
      <filled><prompt>You <value expr="answer"/>.</prompt></filled>
    </field>
  </form>
</vxml>
"""


@dataclass
class StaticServer:
    base: str
    log: list[str]  # the request lines it logged (on standard error)


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[StaticServer]:
    """``python3 -m http.server`` over a folder holding start.vxml: 501 to any POST."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "start.vxml").write_text(CONFIRM, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"port (\d+)", first)
        assert found, first
        log: list[str] = []
        stderr = process.stderr
        assert stderr is not None

        def read_log() -> None:
            for line in stderr:
                log.append(line)

        threading.Thread(target=read_log, daemon=True).start()
        yield StaticServer(f"http://127.0.0.1:{found[1]}", log)
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class RefusingApp:
    """An aiohttp application that answers POST with 405 (as nginx does for a static
    file) and GET with a document saying the message_reference of its query string."""

    base: str = ""
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def refusing_app() -> Iterator[RefusingApp]:
    state = RefusingApp()

    async def answer(request: web.Request) -> web.Response:
        state.seen.append((request.method, dict(request.query)))
        if request.method != "GET":
            raise web.HTTPMethodNotAllowed(request.method, ["GET"])
        reference = escape(request.query.get("message_reference", "nothing"))
        document = f"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><block>The reference is {reference}.</block></form>
</vxml>"""
        return web.Response(text=document, content_type="application/voicexml+xml")

    app = web.Application()
    app.router.add_route("*", "/app.vxml", answer)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    host, port = runner.addresses[0][:2]
    state.base = f"http://{host}:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.fixture
def dialing(sqlite_url: str) -> Iterator[httpx.Client]:
    """vxdial with the dialer and the sim carrier (a callee who presses 1), on loopback;
    yields an API client logged in as alice."""
    rules = (SimRule(match="*", dtmf="1", ring_seconds=1),)
    settings = make_settings(
        sqlite_url,
        dialer=DialerSettings(cps=1000, poll_s=0.5),
        sim=SimSettings(speed=SPEED, rule=rules),
    )
    store = open_store(settings)
    accounts_for(store, settings).add_sender("alice", "1111")
    store.close()
    clock = ScaledClock(SPEED)
    driver = SimDriver(rules, clock)
    with (
        serve_in_thread(settings, clock=clock, dialing=True, driver=driver) as base,
        httpx.Client(base_url=base, auth=("alice", "1111"), timeout=30) as client,
    ):
        yield client


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def run_call(client: httpx.Client, start_url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Queue a call to ``start_url``; its final state and its events."""
    queued = client.post(
        "/api/v1/calls",
        json={
            "phone_number": "15551230000",
            "start_url": start_url,
            "message_reference": "ACCT <0042> & co",
            "call_parameters": "Hello Bob.",
        },
    )
    assert queued.status_code == 201, queued.text
    call_id = queued.json()["id"]
    wait_for(lambda: client.get(f"/api/v1/calls/{call_id}").json()["state"] == "completed")
    events = client.get(f"/api/v1/calls/{call_id}/events").json()["items"]
    return client.get(f"/api/v1/calls/{call_id}").json(), events


def test_a_static_file_server_answering_501_runs_the_document(
    dialing: httpx.Client, static_server: StaticServer
) -> None:
    call, events = run_call(dialing, f"{static_server.base}/start.vxml")
    assert call["callee_type"] == "voice"
    fallbacks = [e["detail"] for e in events if e["kind"] == "start_url_get_fallback"]
    assert fallbacks == ["POST answered HTTP 501; fetched again with GET, the fields in the query"]
    assert [e["detail"] for e in events if e["kind"] == "prompt"] == [
        "Served by a static file server. Press 1 to confirm.",
        "You confirmed.",
    ]
    assert any(e["kind"] == "dtmf" and e["detail"].startswith("1") for e in events)
    assert not any(e["kind"] == "application_error" for e in events)
    # The server saw the probe's GET, the refused POST and the GET with the fields.
    wait_for(lambda: sum('"GET /start.vxml?' in line for line in static_server.log) == 1)
    [get] = [line for line in static_server.log if '"GET /start.vxml?' in line]
    assert f"call_id={call['id']}&" in get and "message_reference=ACCT+%3C0042%3E+%26+co" in get
    assert sum(" 501 " in line and '"POST /start.vxml' in line for line in static_server.log) == 1


def test_an_application_answering_405_gets_the_fields_in_the_query(
    dialing: httpx.Client, refusing_app: RefusingApp
) -> None:
    call, events = run_call(dialing, f"{refusing_app.base}/app.vxml")
    fallbacks = [e["detail"] for e in events if e["kind"] == "start_url_get_fallback"]
    assert fallbacks == ["POST answered HTTP 405; fetched again with GET, the fields in the query"]
    assert [e["detail"] for e in events if e["kind"] == "prompt"] == [
        "The reference is ACCT <0042> & co."
    ]
    methods = [method for method, _ in refusing_app.seen]
    assert methods == ["GET", "POST", "GET"]  # the intake's probe, the start POST, the GET
    query = refusing_app.seen[-1][1]
    assert query == {
        "call_id": str(call["id"]),
        "phone_number": "15551230000",
        "message_reference": "ACCT <0042> & co",
        "call_parameters": "Hello Bob.",
        "campaign_id": str(call["campaign_id"]),
        "campaign_name": "default",
        "attempt": "1",
    }


def vxdial_try(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VXDIAL, "try", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


FALLBACK_NOTE = (
    "[the start URL answered POST with HTTP {}: fetched again with GET, "
    "the fields in the query string]"
)


def test_vxdial_try_posting_fields_to_a_static_file_server(static_server: StaticServer) -> None:
    result = vxdial_try(f"{static_server.base}/start.vxml", "--post", "call_id=9", "--dtmf", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Served by a static file server. Press 1 to confirm.",
        "You confirmed.",
    ]
    assert FALLBACK_NOTE.format(501) in result.stderr.splitlines()


def test_vxdial_try_posting_fields_to_an_application_answering_405(
    refusing_app: RefusingApp,
) -> None:
    result = vxdial_try(f"{refusing_app.base}/app.vxml", "--post", "message_reference=R&D 7")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["The reference is R&D 7."]
    assert FALLBACK_NOTE.format(405) in result.stderr.splitlines()
    assert [method for method, _ in refusing_app.seen] == ["POST", "GET"]


def test_vxdial_try_without_fields_sends_one_get(refusing_app: RefusingApp) -> None:
    result = vxdial_try(f"{refusing_app.base}/app.vxml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["The reference is nothing."]
    assert "HTTP 405" not in result.stderr
    assert refusing_app.seen == [("GET", {})]
