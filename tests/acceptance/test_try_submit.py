"""``vxdial try`` (PRODUCT.md section 5) as a user meets it, the installed command run as
a subprocess: ``--verbose`` shows the file parts a submit sends (a ``<record>``'s
recording, VoiceXML 2.0 sections 2.3.6 and 5.3.8), and ``--dtmf`` complaints quote the
keys as typed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import BodyPartReader, web

VXDIAL = str(Path(sys.executable).with_name("vxdial"))

START = """<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <var name="greeting" expr="'hi there'"/>
  <form>
    <record name="msg" type="audio/basic" beep="true">
      <prompt>Speak after the tone.</prompt>
      <filled><submit next="save" method="post" namelist="greeting msg"/></filled>
    </record>
  </form>
</vxml>
"""
SAVED = """<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><block>Saved.<exit/></block></form>
</vxml>
"""


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    size: int


@dataclass
class App:
    base: str = ""
    parts: list[Part] = field(default_factory=list)


@pytest.fixture
def app() -> Iterator[App]:
    """The application on loopback: /start.vxml records, /save keeps the parts it gets."""
    state = App()

    async def start(request: web.Request) -> web.Response:
        return web.Response(text=START, content_type="application/voicexml+xml")

    async def save(request: web.Request) -> web.Response:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                raise web.HTTPBadRequest(text="nested multipart")
            body = await part.read()
            content_type = part.headers.get("Content-Type", "")
            state.parts.append(Part(part.name or "", part.filename, content_type, len(body)))
        return web.Response(text=SAVED, content_type="application/voicexml+xml")

    application = web.Application()
    application.router.add_get("/start.vxml", start)
    application.router.add_post("/save", save)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(application, access_log=None, shutdown_timeout=0.1)
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


def vxdial_try(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VXDIAL, "try", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_verbose_shows_the_recording_submitted_as_a_file_part(app: App) -> None:
    """The recording goes as ``msg.ul`` of type audio/basic (headerless µ-law: one byte
    a sample, 8000 for the caller's 1 s), and ``--verbose`` says so beside the fields."""
    result = vxdial_try(app.base + "/start.vxml", "--verbose", "--record-seconds", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Speak after the tone.", "Saved."]
    notes = result.stderr.splitlines()
    assert (
        f"[fetch POST {app.base}/save greeting=hi+there msg=msg.ul (audio/basic, 8000 bytes)]"
        in (notes)
    ), result.stderr
    assert app.parts == [
        Part("greeting", None, "text/plain; charset=utf-8", 8),
        Part("msg", "msg.ul", "audio/basic", 8000),
    ]


@pytest.mark.parametrize(
    ("dtmf", "complaint"),
    [
        ("1,2x", '"x" in "1,2x": DTMF keys are 0-9, *, # and A-D'),
        ("1,ß", '"ß" in "1,ß": DTMF keys are 0-9, *, # and A-D'),
    ],
    ids=["ascii", "non-ascii"],
)
def test_a_bad_dtmf_key_is_quoted_as_typed(tmp_path: Path, dtmf: str, complaint: str) -> None:
    path = tmp_path / "any.vxml"
    path.write_text(SAVED)
    result = vxdial_try(str(path), "--dtmf", dtmf)
    assert result.returncode == 2
    assert complaint in result.stderr, result.stderr
