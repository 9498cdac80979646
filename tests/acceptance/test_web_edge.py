"""The web interface's edge against hostile posts, through real HTTP: form bodies are
bounded before they are read, and a huge rejected line costs no memory (issue 12 items
6 and 12)."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator

import pytest

from tests.acceptance.web_support import ALICE, ALICE_PIN, Web, parse, running_web, text_of
from tests.support.rawhttp import RawConnection, multipart_start
from tests.support.webapp import WebApp
from vxdial.config import IntakeSettings

LINE_MIB = 40
MULTIPART = "multipart/form-data; boundary=b0undary"


@pytest.fixture
def web_small_uploads(sqlite_url: str, webapp: WebApp) -> Iterator[Web]:
    with running_web(sqlite_url, webapp, intake=IntakeSettings(max_upload_bytes=4096)) as running:
        yield running


def streamed_upload(csrf: str, start_url: str, huge_line_bytes: int) -> Iterator[bytes]:
    """A multipart web upload, sent in pieces: its phone_list holds a good line, a line of
    ``huge_line_bytes`` digits (rejected), and another good line."""
    boundary = uuid.uuid4().hex
    for name, value in (
        ("csrf_token", csrf),
        ("campaign_name", "huge line"),
        ("start_url", start_url),
    ):
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="phone_list"; '
        'filename="l.csv"\r\nContent-Type: text/csv\r\n\r\n15552000001\n'
    ).encode()
    piece = b"9" * (1024 * 1024)
    for _ in range(huge_line_bytes // len(piece)):
        yield piece
    yield f"\n15552000002\n\r\n--{boundary}--\r\n".encode()


def boundary_of(first_piece: bytes) -> str:
    return first_piece[2:34].decode()


def test_a_huge_rejected_line_costs_no_memory(web: Web) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    pieces = streamed_upload(alice.csrf, web.start_url, LINE_MIB * 1024 * 1024)
    first = next(pieces)

    def body() -> Iterator[bytes]:
        yield first
        yield from pieces

    tracemalloc.start()  # the server runs in this process: its allocations are traced
    try:
        response = alice.client.post(
            "/web/upload",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary_of(first)}"},
            timeout=300,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text[:500]
    page = parse(response)
    assert text_of(page.xpath("//*[@id='accepted-count']")[0]) == "2"
    [row] = page.xpath("//table[@id='rejected']//tbody/tr")
    number, text, reason = (text_of(cell) for cell in row.xpath("./td"))
    assert (number, text) == ("2", "9" * 300)  # the start of the line, as much as is shown
    assert reason.startswith("line is longer than")
    # The 40 MiB line was never held: what the upload kept at once is a few buffers.
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


# -- item 6: form bodies are bounded before they are read ---------------------------------


def test_a_huge_login_post_is_refused_by_its_length_unread(web: Web) -> None:
    connection = RawConnection(web.base)
    try:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(512 * 1024 * 1024),
        }
        connection.send(
            connection.head("POST", "/web/login", headers) + b"login=a&pin=" + b"1" * 1000
        )
        answer = connection.read_answer()  # the other 512 MiB are never sent
    finally:
        connection.close()
    assert answer.status == 413 and answer.closed
    assert "larger than the limit of 4096 bytes" in answer.text


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", MULTIPART])
def test_a_chunked_login_post_is_cut_while_it_streams(web: Web, content_type: str) -> None:
    connection = RawConnection(web.base)
    try:
        headers = {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
        connection.send(connection.head("POST", "/web/login", headers))
        for _ in range(8):  # 32 KiB, and no last chunk: the body "goes on"
            connection.send(b"1000\r\n" + b"a" * 4096 + b"\r\n")
        answer = connection.read_answer()
    finally:
        connection.close()
    assert answer.status == 413 and answer.closed


def test_the_forms_of_a_session_are_bounded(web: Web) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    secret = web.api().get("/api/v1/me").json()["result_secret"]
    big = alice.post("/web/settings/rotate-secret", {"padding": "x" * 100_000})
    assert big.status_code == 413
    with_a_file = alice.client.post(
        "/web/settings/rotate-secret",
        data={"csrf_token": alice.csrf},
        files={"f": ("f.txt", b"x")},
    )
    assert with_a_file.status_code == 400
    assert web.api().get("/api/v1/me").json()["result_secret"] == secret  # nothing done
    assert alice.post("/web/settings/rotate-secret").status_code == 303


def test_a_forged_web_upload_is_refused_before_its_file(web: Web) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    cookie = "; ".join(f"{k}={v}" for k, v in alice.client.cookies.items())
    connection = RawConnection(web.base)
    try:
        start, _, content_type = multipart_start(
            {"csrf_token": "forged", "campaign_name": "x", "start_url": web.start_url},
            content=b"15552000001\n",
        )
        headers = {"Content-Type": content_type, "Content-Length": "10000000", "Cookie": cookie}
        connection.send(connection.head("POST", "/web/upload", headers) + start)
        answer = connection.read_answer()  # the rest of the 10 MB never comes
    finally:
        connection.close()
    assert answer.status == 403 and answer.closed
    assert "CSRF check failed" in answer.text


def test_the_web_upload_keeps_max_upload_bytes(web_small_uploads: Web) -> None:
    alice = web_small_uploads.logged_in(ALICE, ALICE_PIN)
    response = alice.client.post(
        "/web/upload",
        data={"csrf_token": alice.csrf, "campaign_name": "big", "start_url": "http://x/"},
        files={"phone_list": ("l.csv", b"15552000001\n" * 1000, "text/csv")},
    )
    assert response.status_code == 413
    assert "larger than the limit of 4096 bytes" in text_of(parse(response).xpath("//main")[0])
