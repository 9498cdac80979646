"""Figure: VoiceXML call sessions per second on one core, and memory per session.

A three-form application (a one-key choice, an account number with a noinput and its
reprompt, a confirmation, then a ``<submit>``) is served by a local aiohttp application
in its own process. This process runs the sessions on one event loop, as the dialer
does: each session POSTs the start fields to start_url through ``HttpFetcher`` (one
shared ``aiohttp.ClientSession``), interprets the three forms with a scripted caller
pressing "1", nothing, "12345#", "1", and POSTs its ``<submit>``, which answers a last
prompt and ``<exit/>``. Two fetches, six prompts and four inputs per session.

Throughput is counted in sessions per second of wall time and per CPU-second of this
process (the interpreter's core; the web application runs on another). A second run
takes the documents from memory, for the interpreter's own share.

Memory: N sessions are started together and held at their second input; the growth of
this process's RSS divided by N is the cost of one live session (its ECMAScript context
included), and tracemalloc's count of the Python heap divided by N is the Python part.

Usage: python bench/voicexml.py [--sessions N] [--concurrency N] [--memory-sessions N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import aiohttp

from _common import app_process, free_port, machine
from vxdial import voicexml
from vxdial.domain import media
from vxdial.voicexml import testing

START = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <var name="account" expr="''"/>
  <property name="timeout" value="4s"/>
  <form id="welcome">
    <block>
      <prompt>Hello. This is a reminder of your appointment on
        <value expr="session.call_parameters"/>.</prompt>
    </block>
    <field name="choice" type="digits?length=1">
      <prompt>Press 1 to keep it, 2 to cancel it.</prompt>
      <nomatch>Please press 1 or 2.<reprompt/></nomatch>
      <filled>
        <if cond="choice == '1' || choice == '2'">
          <goto next="#account"/>
        <else/>
          <throw event="nomatch"/>
        </if>
      </filled>
    </field>
  </form>
  <form id="account">
    <field name="number" type="digits?minlength=4;maxlength=8">
      <prompt>Enter your account number, then pound.</prompt>
      <noinput>We did not hear you.<reprompt/></noinput>
      <filled>
        <assign name="account" expr="number"/>
        <goto next="#confirm"/>
      </filled>
    </field>
  </form>
  <form id="confirm">
    <field name="ok" type="boolean">
      <prompt>You entered <value expr="account"/>. Press 1 if that is right.</prompt>
      <filled>
        <var name="choice" expr="'kept'"/>
        <submit next="/done.vxml" method="post" namelist="choice account ok"/>
      </filled>
    </field>
  </form>
</vxml>
"""

DONE = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><block><prompt>Thank you. Goodbye.</prompt><exit/></block></form>
</vxml>
"""

CALLER = ("1", "", "12345#", "1")
HEARD = [
    "Hello. This is a reminder of your appointment on 14 March at 10:30.",
    "Press 1 to keep it, 2 to cancel it.",
    "Enter your account number, then pound.",
    "We did not hear you.",
    "Enter your account number, then pound.",
    "You entered 12345. Press 1 if that is right.",
    "Thank you. Goodbye.",
]
START_FIELDS = {
    "call_id": "1",
    "phone_number": "15551234567",
    "message_reference": "bench",
    "call_parameters": "14 March at 10:30",
    "campaign_id": "1",
    "campaign_name": "bench",
    "attempt": "1",
}
SESSION: dict[str, object] = {
    "telephone": {"ani": "15550000000", "dnis": "15551234567"},
    "connection": {"callee_type": "voice"},
    "call_id": 1,
    "message_reference": "bench",
    "call_parameters": "14 March at 10:30",
}


# -- the customer's application, in its own process ---------------------------------------


def _app_process(port: int) -> None:
    from aiohttp import web

    async def start(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(body=START, content_type="application/voicexml+xml")

    async def done(request: web.Request) -> web.Response:
        fields = await request.post()
        assert fields.get("account") == "12345", dict(fields)
        return web.Response(body=DONE, content_type="application/voicexml+xml")

    app = web.Application()
    app.router.add_route("*", "/start.vxml", start)
    app.router.add_post("/done.vxml", done)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@contextmanager
def customer_app() -> Iterator[str]:
    with app_process(_app_process, free_port()) as base:
        yield base


# -- sessions -----------------------------------------------------------------------------


async def one_session(
    start_url: str, fetcher: voicexml.Fetcher, channel: testing.ScriptedChannel | None = None
) -> testing.ScriptedChannel:
    channel = channel or testing.ScriptedChannel(CALLER)
    end = await voicexml.run_session(
        voicexml.FetchRequest(start_url, "POST", START_FIELDS),
        channel=channel,
        fetcher=fetcher,
        session=SESSION,
    )
    assert end.reason == "exit", end
    return channel


async def run_many(start_url: str, fetcher: voicexml.Fetcher, count: int, concurrency: int) -> None:
    """``count`` sessions, at most ``concurrency`` at once (as the dialer's lines)."""
    remaining = count

    async def line() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one_session(start_url, fetcher)

    await asyncio.gather(*(line() for _ in range(concurrency)))


def memory_fetcher() -> testing.MemoryFetcher:
    return testing.MemoryFetcher(
        {"http://app.test/start.vxml": START, "http://app.test/done.vxml": DONE}
    )


async def throughput(
    label: str, start_url: str, fetcher: voicexml.Fetcher, sessions: int, concurrency: int
) -> None:
    heard = (await one_session(start_url, fetcher)).heard
    assert heard == HEARD, heard
    await run_many(start_url, fetcher, max(200, sessions // 10), concurrency)  # warm up
    gc.collect()
    cpu_started, started = time.process_time(), time.perf_counter()
    await run_many(start_url, fetcher, sessions, concurrency)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        f"voicexml {label:22s}: {sessions:,} sessions in {elapsed:.2f} s = "
        f"{sessions / elapsed:,.0f} sessions/s; {cpu:.2f} CPU-s in this process = "
        f"{sessions / cpu:,.0f} sessions per CPU-second (concurrency {concurrency})"
    )


# -- memory -------------------------------------------------------------------------------


class HeldChannel:
    """A scripted caller held at its ``hold_at``-th input until ``release`` is set."""

    def __init__(self, hold_at: int, arrived: asyncio.Queue[None], release: asyncio.Event):
        self._scripted = testing.ScriptedChannel(CALLER)
        self._collects = 0
        self._hold_at = hold_at
        self._arrived = arrived
        self._release = release

    async def play(self, prompt: media.Prompt) -> str:
        return await self._scripted.play(prompt)

    async def collect(
        self,
        *,
        max_digits: int,
        timeout_s: float,
        interdigit_timeout_s: float,
        termchar: str | None = "#",
        already: str = "",
        complete: Callable[[str], bool] | None = None,
    ) -> media.Collected:
        self._collects += 1
        if self._collects == self._hold_at:
            self._arrived.put_nowait(None)
            await self._release.wait()
        return await self._scripted.collect(
            max_digits=max_digits,
            timeout_s=timeout_s,
            interdigit_timeout_s=interdigit_timeout_s,
            termchar=termchar,
            already=already,
            complete=complete,
        )

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> media.Recording:
        return await self._scripted.record(
            max_time_s=max_time_s, final_silence_s=final_silence_s, dtmf_term=dtmf_term, beep=beep
        )

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> media.TransferResult:
        return await self._scripted.transfer(
            destination=destination,
            bridge=bridge,
            connect_timeout_s=connect_timeout_s,
            max_time_s=max_time_s,
        )

    async def hangup(self) -> None:
        await self._scripted.hangup()


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def memory(start_url: str, fetcher: voicexml.Fetcher, count: int) -> None:
    arrived: asyncio.Queue[None] = asyncio.Queue()
    release = asyncio.Event()

    async def session() -> None:
        channel = HeldChannel(2, arrived, release)
        end = await voicexml.run_session(
            voicexml.FetchRequest(start_url, "POST", START_FIELDS),
            channel=channel,
            fetcher=fetcher,
            session=SESSION,
        )
        assert end.reason == "exit", end

    gc.collect()
    rss_before = rss_kb()
    tracemalloc.start()
    heap_before = tracemalloc.get_traced_memory()[0]
    tasks = [asyncio.ensure_future(session()) for _ in range(count)]
    for _ in range(count):
        await arrived.get()
    gc.collect()
    heap_held = tracemalloc.get_traced_memory()[0]
    rss_held = rss_kb()
    tracemalloc.stop()
    release.set()
    await asyncio.gather(*tasks)
    rss_per = (rss_held - rss_before) / count
    heap_per = (heap_held - heap_before) / 1024 / count
    print(
        f"voicexml {'memory':22s}: {count:,} sessions held at their second input: "
        f"RSS +{(rss_held - rss_before) / 1024:.0f} MB = {rss_per:.0f} KB per session "
        f"(ECMAScript context included); Python heap {heap_per:.0f} KB per session "
        f"(tracemalloc)"
    )


async def main_async(args: argparse.Namespace) -> None:
    with customer_app() as base:
        start_url = f"{base}/start.vxml"
        connector = aiohttp.TCPConnector(limit=max(100, args.concurrency))
        async with aiohttp.ClientSession(connector=connector) as http:
            fetcher = voicexml.HttpFetcher(http)
            # Memory first, in a heap that no burst of sessions has grown yet.
            await one_session(start_url, fetcher)
            await memory(start_url, fetcher, args.memory_sessions)
            await throughput(
                "HTTP (local server)", start_url, fetcher, args.sessions, args.concurrency
            )
    await throughput(
        "documents from memory",
        "http://app.test/start.vxml",
        memory_fetcher(),
        args.sessions,
        args.concurrency,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--memory-sessions", type=int, default=1_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
