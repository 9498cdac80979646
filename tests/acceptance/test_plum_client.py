"""A real Plum client's bytes, end to end (issue 11): what a .NET ``WebRequest`` sends to
queuecall.php, what such a client reads of the answer, and what its result_url handler
reads of the result post, on the sim carrier, on SQLite and PostgreSQL.

The public C# sender this mirrors builds its body with ``HttpUtility.UrlEncode`` (lowercase
``%2f`` escapes, ``+`` for spaces, CRLF in call_parameters as ``%0d%0a``), posts it with
``Expect: 100-continue`` (the body goes only after the server's ``100 Continue``), and looks
for the word "failed" in the answer before reading ``call_id`` from it. Its handler reads
the result post as ASP.NET's ``Request.Form`` does (form decoding, nothing trimmed).
``message_reference`` and ``call_parameters`` are arbitrary data (the Plum text limits only
their length): they travel exactly as sent, everywhere.
"""

from __future__ import annotations

import csv
import io
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx
import lxml.html

from tests.acceptance.dialing_support import GOODBYE, Dialing
from tests.acceptance.web_support import Browser
from vxdial.config import SimRule

REFERENCE = "  ACCT 0042  "
PARAMETERS = "Hello Bob.\r\nYour appointment is tomorrow.\tRoom 4"


def dotnet_urlencode(value: str) -> str:
    """``System.Web.HttpUtility.UrlEncode``: UTF-8, ``+`` for spaces, lowercase hex, and
    ``-_.!*()`` left as they are."""
    pieces = quote_plus(value, safe="-_.!*()").split("%")
    return pieces[0] + "".join("%" + piece[:2].lower() + piece[2:] for piece in pieces[1:])


def dotnet_post(base_url: str, path: str, fields: list[tuple[str, str]]) -> tuple[bytes, bytes]:
    """POST as .NET's HttpWebRequest does: headers first with ``Expect: 100-continue``,
    the body only once the server said ``100 Continue``. Returns (interim, final) bytes."""
    url = urlsplit(base_url)
    body = "&".join(f"{name}={dotnet_urlencode(value)}" for name, value in fields).encode()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Host: {url.hostname}:{url.port}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n"
        "Connection: Keep-Alive\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname or "", url.port or 80), timeout=30) as sock:
        sock.sendall(head)
        interim = _read_head(sock)
        sock.sendall(body)
        final_head = _read_head(sock)
        length = int(_header(final_head, b"content-length"))
        payload = b""
        while len(payload) < length:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection mid-answer"
            payload += chunk
    return interim, final_head + payload


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        assert chunk, f"the server closed the connection after {data!r}"
        data += chunk
    return data


def _header(head: bytes, name: bytes) -> bytes:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    raise AssertionError(f"no {name!r} in {head!r}")


def request_form(body: bytes) -> dict[str, str]:
    """What ASP.NET's ``Request.Form`` gives a handler: decoded, nothing trimmed."""
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


def test_dotnet_urlencode_matches_httputility() -> None:
    # The documented HttpUtility.UrlEncode results.
    assert dotnet_urlencode("http://a.example/x?y=1") == "http%3a%2f%2fa.example%2fx%3fy%3d1"
    assert dotnet_urlencode("a b\r\n") == "a+b%0d%0a"
    assert dotnet_urlencode("+1;ani=8") == "%2b1%3bani%3d8"


def test_a_dotnet_client_queues_a_call_and_reads_its_result(
    start_dialing: Callable[..., Dialing],
) -> None:
    dialing = start_dialing(SimRule(match="*", ring_seconds=1))
    dialing.webapp.bodies["/start.vxml"] = GOODBYE
    interim, answer = dotnet_post(
        dialing.base,
        "/webservice/queuecall.php",
        [
            ("login", "alice"),
            ("pin", "1111"),
            ("phone_number", "+15551230000;ani=8009957586"),
            ("start_url", dialing.webapp.url("/start.vxml")),
            ("result_url", dialing.webapp.url("/result")),
            ("message_reference", REFERENCE),
            ("call_parameters", PARAMETERS),
        ],
    )
    assert interim.startswith(b"HTTP/1.1 100 ")  # it waited for this before sending the body
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert _header(head, b"content-type").startswith(b"text/xml")
    text = payload.decode()
    assert "failed" not in text, text  # the client's own test
    root = ET.fromstring(payload)
    assert root.tag == "queuecall" and root.get("status") == "queued"
    call_id = int(root.get("call_id", ""))
    assert root.findtext("phone_number") == "+15551230000;ani=8009957586"

    call = dialing.call(call_id)
    assert (call["phone_number"], call["ani"]) == ("15551230000", "18009957586")
    assert (call["message_reference"], call["call_parameters"]) == (REFERENCE, PARAMETERS)

    [result] = dialing.wait_results(1)
    assert result["result"] == "completed"
    [post] = dialing.result_posts()
    received = request_form(post.body)
    assert received["call_id"] == str(call_id)
    assert received["message_reference"] == REFERENCE
    assert received["call_parameters"] == PARAMETERS
    [start] = dialing.webapp.seen("/start.vxml", "POST")
    started = request_form(start.body)
    assert (started["message_reference"], started["call_parameters"]) == (REFERENCE, PARAMETERS)


def test_data_fields_travel_exactly_through_a_phone_list(
    start_dialing: Callable[..., Dialing],
) -> None:
    dialing = start_dialing(SimRule(match="*", ring_seconds=1))
    dialing.webapp.bodies["/start.vxml"] = GOODBYE
    phone_list = (
        b'15551230001,"  ACCT 0042  ","Hello Bob.\r\nYour appointment is tomorrow.\tRoom 4"\r\n'
        b'15551230002,"=HYPERLINK(""http://evil.example"")","-2+3"\r\n'
        b"15551230003, trimmed ,\r\n"
    )
    response = dialing.alice.post(
        "/api/v1/campaigns",
        data={
            "campaign_name": "exact",
            "start_url": dialing.webapp.url("/start.vxml"),
            "result_url": dialing.webapp.url("/result"),
        },
        files={"phone_list": ("list.csv", phone_list)},
    )
    assert response.status_code == 201, response.text
    campaign = response.json()
    expected = {
        "15551230001": (REFERENCE, PARAMETERS),
        "15551230002": ('=HYPERLINK("http://evil.example")', "-2+3"),
        "15551230003": ("trimmed", ""),
    }
    results = dialing.wait_results(3)
    posted = {r["phone_number"]: (r["message_reference"], r["call_parameters"]) for r in results}
    assert posted == expected
    started = [request_form(s.body) for s in dialing.webapp.seen("/start.vxml", "POST")]
    assert {s["phone_number"]: (s["message_reference"], s["call_parameters"]) for s in started} == (
        expected
    )
    calls = {
        c["phone_number"]: c
        for c in dialing.alice.get(f"/api/v1/campaigns/{campaign['id']}/calls").json()["items"]
    }
    assert calls["15551230001"]["line"] == 1
    assert calls["15551230003"]["line"] == 4  # the first record took two lines

    # results.csv: quoted where needed, so a CSV reader gets the values back; a cell a
    # spreadsheet would evaluate starts with a single quote (OWASP, "CSV Injection").
    exported = dialing.alice.get(f"/api/v1/campaigns/{campaign['id']}/results.csv").text
    rows = {row["phone_number"]: row for row in csv.DictReader(io.StringIO(exported, newline=""))}
    assert (rows["15551230001"]["message_reference"], rows["15551230001"]["call_parameters"]) == (
        REFERENCE,
        PARAMETERS,
    )
    assert rows["15551230002"]["message_reference"] == '\'=HYPERLINK("http://evil.example")'
    assert rows["15551230002"]["call_parameters"] == "'-2+3"


def test_the_json_api_and_the_web_page_show_the_data_as_sent(
    start_dialing: Callable[..., Dialing],
) -> None:
    dialing = start_dialing(SimRule(match="*", ring_seconds=3600))  # never answered here
    markup = "<b>bold</b> & <script>alert(1)</script>\r\nline two"
    call = dialing.queue(message_reference=REFERENCE, call_parameters=markup)
    assert (call["message_reference"], call["call_parameters"]) == (REFERENCE, markup)
    assert dialing.call(call["id"])["call_parameters"] == markup

    with httpx.Client(base_url=dialing.base, timeout=30, trust_env=False) as client:
        browser = Browser(client)
        assert browser.login("alice", "1111").status_code == 303
        page = browser.get(f"/web/calls/{call['id']}")
    assert page.status_code == 200
    assert "<b>bold</b>" not in page.text and "<script>alert" not in page.text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in page.text
    document = lxml.html.fromstring(page.text)
    shown = {dt.text_content(): dt.getnext().text_content() for dt in document.xpath("//dl/dt")}
    assert shown["Message reference"] == REFERENCE
    assert shown["Call parameters"] == markup.replace("\r\n", "\n")  # HTML reads CRLF as LF
