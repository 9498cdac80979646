"""Slow and hostile clients against a real vxdial (issue 12, item 3): heads and bodies
have deadlines, an upload's login is checked before its file is read, and one sender,
or clients that cannot log in, cannot take every upload slot. Clients are bare sockets;
the server's own configuration is tested on the installed `vxdial serve`."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import (
    ALICE,
    ALICE_PIN,
    BOB,
    BOB_PIN,
    Vxdial,
    read_answer,
    running_vxdial,
)
from tests.conftest import make_settings
from tests.support.rawhttp import RawAnswer, RawConnection, file_first_start, multipart_start
from tests.support.servers import free_port
from tests.support.webapp import WebApp
from vxdial.config import IntakeSettings, ServerSettings

QUEUECALLS = "/webservice/queuecalls.php"
VXDIAL = str(Path(sys.executable).with_name("vxdial"))


@pytest.fixture
def start(sqlite_url: str, webapp: WebApp) -> Iterator[Callable[..., Vxdial]]:
    """``start(server=..., intake=...)``: a vxdial on loopback (one engine: these limits
    live in the HTTP edge, not the store)."""
    with contextlib.ExitStack() as stack:

        def started(**sections: object) -> Vxdial:
            settings = make_settings(sqlite_url, **sections)
            return stack.enter_context(running_vxdial(settings, webapp))

        yield started


@pytest.fixture
def connections() -> Iterator[list[RawConnection]]:
    opened: list[RawConnection] = []
    yield opened
    for connection in opened:
        connection.close()


def failed_reasons(answer: RawAnswer) -> list[tuple[str, str]]:
    assert answer.status == 200, answer.text  # a Plum answer, even to a hostile client
    root = ET.fromstring(answer.body)
    assert root.get("status") == "failed", answer.text
    return [(e.get("field") or "", e.text or "") for e in root.findall("error")]


def begin_upload(
    vxdial: Vxdial,
    connections: list[RawConnection],
    fields: dict[str, str],
    *,
    file_first: bool = False,
    declared: int | None = None,
) -> tuple[RawConnection, bytes]:
    """A queuecalls.php upload sent up to its file's first line, then held; returns the
    connection and the rest of the body (``declared``: another Content-Length)."""
    connection = RawConnection(vxdial.base_url)
    connections.append(connection)
    content = b"15551230001\n"
    make = file_first_start if file_first else multipart_start
    start_part, end, content_type = make(fields, content=content)
    length = declared if declared is not None else len(start_part) + len(end)
    headers = {"Content-Type": content_type, "Content-Length": str(length)}
    connection.send(connection.head("POST", QUEUECALLS, headers) + start_part)
    return connection, end


def wait_for_uploads(vxdial: Vxdial, *, sender: int = 0, unauthenticated: int = 0) -> None:
    """Until the server says this many uploads hold a slot (its /metrics)."""
    wanted = {
        f'vxdial_uploads_in_progress{{slot="sender"}} {float(sender)}',
        f'vxdial_uploads_in_progress{{slot="unauthenticated"}} {float(unauthenticated)}',
    }
    deadline = time.monotonic() + 60  # a guard against a hang
    while not wanted <= set(httpx.get(f"{vxdial.base_url}/metrics").text.splitlines()):
        assert time.monotonic() < deadline, "the uploads never took their slots"
        time.sleep(0.02)


def upload_fields(login: str, pin: str, vxdial: Vxdial) -> dict[str, str]:
    return {
        "login": login,
        "pin": pin,
        "campaign_name": f"c-{time.monotonic_ns()}",
        "start_url": vxdial.start_url,
    }


# -- the login is checked before the file ----------------------------------------------


def test_uploads_that_cannot_log_in_are_refused_before_their_file(
    start: Callable[..., Vxdial], connections: list[RawConnection]
) -> None:
    vxdial = start(intake=IntakeSettings(max_concurrent_uploads=8))
    for i in range(8):
        connection, _ = begin_upload(
            vxdial, connections, upload_fields(f"mallory{i}", "guess", vxdial)
        )
        # Answered while its body has not all come (the file's first line was sent).
        reasons = failed_reasons(connection.read_answer())
        assert reasons == [("login", "login or PIN is incorrect")], reasons
    assert vxdial.queuecalls("15551230002\n").status == "queued"


def test_one_sender_cannot_take_every_upload_slot(
    start: Callable[..., Vxdial], connections: list[RawConnection]
) -> None:
    vxdial = start(intake=IntakeSettings(max_concurrent_uploads=3, max_uploads_per_sender=2))
    for held_open in (1, 2):  # bob holds two uploads open
        begin_upload(vxdial, connections, upload_fields(BOB, BOB_PIN, vxdial))
        wait_for_uploads(vxdial, sender=held_open)
    third, _ = begin_upload(vxdial, connections, upload_fields(BOB, BOB_PIN, vxdial))
    assert failed_reasons(third.read_answer()) == [
        ("request", "this sender is already uploading 2 phone lists; try again when one is done")
    ]
    # alice still uploads; and the total is a cap too: with alice's held, nobody else.
    held, rest = begin_upload(vxdial, connections, upload_fields(ALICE, ALICE_PIN, vxdial))
    wait_for_uploads(vxdial, sender=3)
    assert vxdial.queuecalls("15551230002\n").errors == [
        ("request", "too many phone lists are being uploaded; try again shortly")
    ]
    held.send(rest)
    answer = held.read_answer()
    assert ET.fromstring(answer.body).get("status") == "queued", answer.text
    wait_for_uploads(vxdial, sender=2)  # its slot was given back
    assert vxdial.queuecalls("15551230003\n").status == "queued"


def test_uploads_with_the_file_first_hold_only_their_own_slots(
    start: Callable[..., Vxdial], connections: list[RawConnection]
) -> None:
    vxdial = start(intake=IntakeSettings(max_concurrent_uploads=1, max_unauthenticated_uploads=2))
    fields = upload_fields(ALICE, ALICE_PIN, vxdial)
    first, rest = begin_upload(vxdial, connections, fields, file_first=True)
    wait_for_uploads(vxdial, unauthenticated=1)
    second, _ = begin_upload(vxdial, connections, dict(fields), file_first=True)
    assert failed_reasons(second.read_answer()) == [
        (
            "request",
            "too many phone lists are being uploaded before their login and PIN; "
            "send login and pin before phone_list, or try again shortly",
        )
    ]  # one per address
    # A sender whose form puts login and pin first is not held up by them.
    assert vxdial.queuecalls("15551230002\n").status == "queued"
    first.send(rest)  # login and pin arrive last: then it is alice's upload
    answer = first.read_answer()
    assert ET.fromstring(answer.body).get("status") == "queued", answer.text


def test_the_api_and_web_uploads_take_their_senders_slots(
    start: Callable[..., Vxdial], connections: list[RawConnection]
) -> None:
    vxdial = start(intake=IntakeSettings(max_uploads_per_sender=1))
    begin_upload(vxdial, connections, upload_fields(ALICE, ALICE_PIN, vxdial))
    wait_for_uploads(vxdial, sender=1)
    refused = vxdial.client.post(
        "/api/v1/campaigns",
        data={"campaign_name": "api", "start_url": vxdial.start_url},
        files={"phone_list": ("l.csv", b"15551230002\n")},
        auth=(ALICE, ALICE_PIN),
    )
    assert refused.status_code == 503
    assert "already uploading 1 phone lists" in refused.json()["errors"][0]["reason"]
    accepted = vxdial.client.post(
        "/api/v1/campaigns",
        data={"campaign_name": "api", "start_url": vxdial.start_url},
        files={"phone_list": ("l.csv", b"15551230002\n")},
        auth=(BOB, BOB_PIN),
    )
    assert accepted.status_code == 201, accepted.text


# -- bodies have deadlines ---------------------------------------------------------------


def test_a_stalled_body_is_answered_and_frees_its_slot(
    start: Callable[..., Vxdial], connections: list[RawConnection]
) -> None:
    vxdial = start(  # (a rate of 1 byte a second: only the pause can cut it)
        server=ServerSettings(body_timeout_s=1.0, min_body_bytes_per_s=1),
        intake=IntakeSettings(max_uploads_per_sender=1),
    )
    stalled, _ = begin_upload(vxdial, connections, upload_fields(ALICE, ALICE_PIN, vxdial))
    answer = stalled.read_answer()  # it never sends the rest
    assert failed_reasons(answer) == [("request", "the request body stopped for 1 seconds")]
    assert answer.headers["connection"] == "close" and answer.closed
    wait_for_uploads(vxdial, sender=0)  # its slot is given back as the request unwinds
    assert vxdial.queuecalls("15551230002\n").status == "queued"


def test_a_trickling_body_is_cut_at_the_minimum_rate(
    start: Callable[..., Vxdial], connections: list[RawConnection]
) -> None:
    vxdial = start(server=ServerSettings(body_timeout_s=2.0, min_body_bytes_per_s=1000))
    connection, _ = begin_upload(
        vxdial, connections, upload_fields(ALICE, ALICE_PIN, vxdial), declared=10_000_000
    )
    answered = threading.Event()

    def trickle() -> None:  # 20 bytes every 0.1 s: never a 2 s pause, 200 bytes a second
        with contextlib.suppress(OSError):
            while not answered.is_set():
                connection.send(b"1555123" + b"0" * 12 + b"\n")
                answered.wait(0.1)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        answer = connection.read_answer()
    finally:
        answered.set()
        thread.join()
    assert failed_reasons(answer) == [
        ("request", "the request body came slower than 1000 bytes a second")
    ]
    assert answer.closed


def test_a_slow_api_body_gets_408_in_the_error_shape(
    start: Callable[..., Vxdial], connections: list[RawConnection]
) -> None:
    vxdial = start(server=ServerSettings(body_timeout_s=1.0, min_body_bytes_per_s=1))
    connection = RawConnection(vxdial.base_url)
    connections.append(connection)
    headers = {
        "Content-Type": "application/json",
        "Content-Length": "100",
        "Authorization": "Basic " + base64.b64encode(f"{ALICE}:{ALICE_PIN}".encode()).decode(),
    }
    connection.send(connection.head("POST", "/api/v1/calls", headers) + b'{"phone_number": ')
    answer = connection.read_answer()
    assert answer.status == 408
    assert answer.text == (
        '{"errors":[{"field":"request","reason":"the request body stopped for 1 seconds"}]}'
    )
    assert answer.closed


def test_an_oversized_head_gets_431(start: Callable[..., Vxdial]) -> None:
    vxdial = start(server=ServerSettings(max_header_bytes=4096))
    connection = RawConnection(vxdial.base_url)
    try:
        connection.send(connection.head("GET", "/healthz", {"X-Padding": "p" * 8000}))
        answer = connection.read_answer()
    finally:
        connection.close()
    assert answer.status == 431 and answer.closed
    assert httpx.get(f"{vxdial.base_url}/healthz").status_code == 200


# -- heads have deadlines: the installed `vxdial serve` ----------------------------------


@pytest.fixture
def served(sqlite_url: str) -> Iterator[str]:
    """``vxdial serve`` with a head deadline of 1 s; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "VXDIAL_DATABASE_URL": sqlite_url,
        "VXDIAL_SERVER_HEADER_TIMEOUT_S": "1",
        "VXDIAL_DEMO_ENABLED": "false",
    }
    process = subprocess.Popen(
        [VXDIAL, "serve", "--port", str(port), "--no-dialer"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "serve did not answer /healthz"
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_closes_half_sent_heads_and_silent_connections(served: str) -> None:
    half = RawConnection(served)
    silent = RawConnection(served)
    try:
        half.send(b"POST /webservice/queuecalls.php HTTP/1.1\r\nHost: x\r\nContent-Ty")
        answer = half.read_answer()
        assert answer.status == 408 and answer.closed
        assert answer.text == "the request head did not arrive in time"
        assert silent.closed_by_server()
    finally:
        half.close()
        silent.close()
    # A head sent whole in time is served, and its connection kept for the next one.
    kept = RawConnection(served)
    try:
        kept.send(kept.head("GET", "/healthz"))
        first = kept.read_answer()
        assert first.status == 200 and "connection" not in first.headers
        kept.send(kept.head("GET", "/healthz"))
        assert kept.read_answer().status == 200
    finally:
        kept.close()
    assert httpx.get(f"{served}/healthz").status_code == 200


def test_the_limits_are_settings_with_errors_naming_the_key(sqlite_url: str) -> None:
    env = {
        **os.environ,
        "VXDIAL_DATABASE_URL": sqlite_url,
        "VXDIAL_SERVER_BODY_TIMEOUT_S": "0",
    }
    done = subprocess.run(
        [VXDIAL, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "server.body_timeout_s: must be from 0.1 to 3600" in done.stderr


def test_read_answer_helper_reads_plum_answers(vxdial: Vxdial) -> None:
    # The raw client reads what httpx reads (a check of the helper the tests rely on).
    connection = RawConnection(vxdial.base_url)
    try:
        connection.send(connection.head("GET", "/webservice/queuecall.php"))
        raw = connection.read_answer()
    finally:
        connection.close()
    via_httpx = read_answer(vxdial.client.get("/webservice/queuecall.php"), "queuecall")
    assert raw.body == via_httpx.response.content
