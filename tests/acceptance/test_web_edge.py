"""The web interface's edge against hostile posts, through real HTTP: form bodies are
bounded before they are read, and a huge rejected line costs no memory (issue 12 items
6 and 12)."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator

from tests.acceptance.web_support import ALICE, ALICE_PIN, Web, parse, text_of

LINE_MIB = 40


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
