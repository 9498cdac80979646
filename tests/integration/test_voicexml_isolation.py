"""vxdial.voicexml.isolation: a session on a thread of its own (issue 12, item 2).

What is asserted is what happened, in what order: the caller's loop keeps running while
a session spins in a script or walks a huge form; channel and fetcher calls run on the
caller's thread; cancelling the caller ends the session; the CPU budget ends a session
that would run on.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import pytest

from tests.unit.voicexml.helpers import START, vxml
from vxdial import voicexml
from vxdial.domain.media import Collected, Prompt
from vxdial.voicexml.testing import MemoryFetcher, ScriptedChannel

SPIN = "<script>var t = Date.now(); while (Date.now() - t &lt; 400) {}</script>"


class ThreadNotingChannel(ScriptedChannel):
    """A scripted caller that notes on which thread each call reached it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.threads: set[int] = set()

    async def play(self, prompt: Prompt) -> str:
        self.threads.add(threading.get_ident())
        return await super().play(prompt)


async def ticks_while(session: asyncio.Task[voicexml.SessionEnd]) -> int:
    """How many times this loop ran a 1 ms timer before ``session`` ended."""
    ticks = 0
    while not session.done():
        await asyncio.sleep(0.001)
        ticks += 1
    return ticks


async def test_the_callers_loop_runs_while_a_script_spins() -> None:
    channel = ThreadNotingChannel()
    document = vxml(f"<form><block>{SPIN * 3}<prompt>done</prompt></block></form>")
    session = asyncio.create_task(
        voicexml.run_isolated(
            voicexml.FetchRequest(START),
            channel=channel,
            fetcher=MemoryFetcher({START: document}),
            session={},
        )
    )
    ticks = await ticks_while(session)
    end = session.result()
    assert end.reason == "end" and channel.heard == ["done"]
    assert channel.threads == {threading.get_ident()}  # the channel ran on this thread
    # 1.2 s of spinning on another thread: this loop ran its timer throughout. Run on
    # this loop (run_session), the same document lets it run at most once or twice.
    assert ticks >= 50


async def test_without_isolation_the_loop_stops_while_a_script_spins() -> None:
    # The control case: what run_isolated prevents.
    document = vxml(f"<form><block>{SPIN * 3}<prompt>done</prompt></block></form>")
    session = asyncio.create_task(
        voicexml.run_session(
            voicexml.FetchRequest(START),
            channel=ScriptedChannel(),
            fetcher=MemoryFetcher({START: document}),
            session={},
        )
    )
    assert await ticks_while(session) < 50


class WaitingChannel(ScriptedChannel):
    """A caller who never presses a key: collect waits until cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def collect(self, **kwargs: object) -> Collected:  # type: ignore[override]
        self.waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")


@pytest.fixture
def threads() -> Iterator[voicexml.SessionThreads]:
    """Session threads of the test's own (the process's default ones outlive tests)."""
    made = voicexml.SessionThreads(2)
    yield made
    made.close()


async def test_cancelling_the_caller_ends_the_session_and_its_wait(
    threads: voicexml.SessionThreads,
) -> None:
    channel = WaitingChannel()
    document = vxml("<form><field name='f' type='digits'><prompt>say</prompt></field></form>")
    session = asyncio.create_task(
        threads.run(
            voicexml.FetchRequest(START),
            channel=channel,
            fetcher=MemoryFetcher({START: document}),
            session={},
        )
    )
    await asyncio.wait_for(channel.waiting.wait(), 30)
    assert threads.sessions == 1
    session.cancel()
    done, _ = await asyncio.wait({session}, timeout=30)
    assert session in done and session.cancelled()
    assert channel.cancelled.is_set()  # unwound before the caller went on
    await sessions_end(threads)


async def sessions_end(threads: voicexml.SessionThreads) -> None:
    for _ in range(3000):  # the sessions end (a hang guard, not a timing)
        if threads.sessions == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a session is still running on its thread")


@pytest.mark.parametrize(
    "body",
    [
        # Two hundred 0.4 s scripts in one block (80 s), nothing awaited between them.
        f"<form><block>{SPIN * 200}</block></form>",
        # Nine million items (a minute), nothing awaited between them either.
        "<var name='a' expr='new Array(3000).fill(1)'/><var name='n' expr='0'/>"
        "<form><block><foreach item='x' array='a'><foreach item='y' array='a'>"
        "<assign name='n' expr='n + 1'/></foreach></foreach></block></form>",
    ],
    ids=["scripts", "foreach"],
)
async def test_cancelling_ends_a_session_that_never_waits(
    body: str, threads: voicexml.SessionThreads
) -> None:
    # A hung-up call's session stops then, not once its CPU budget is spent.
    fetched = asyncio.Event()

    def start_document(request: voicexml.FetchRequest) -> str:
        fetched.set()
        return vxml(body)

    session = asyncio.create_task(
        threads.run(
            voicexml.FetchRequest(START),
            channel=ScriptedChannel(),
            fetcher=MemoryFetcher({START: start_document}),
            session={},
            limits=voicexml.Limits(session_cpu_s=3600),
        )
    )
    await asyncio.wait_for(fetched.wait(), 30)
    await asyncio.sleep(0.2)  # into the scripts or the items
    session.cancel()
    done, _ = await asyncio.wait({session}, timeout=30)
    assert session in done and session.cancelled()
    await sessions_end(threads)


def _waiting_session_policies() -> tuple[int, set[int]] | None:
    """On a thread of this process under SCHED_RR (None: not permitted here), run a
    session until it waits for keys; the caller's policy and its session threads'."""
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
    except PermissionError:
        return None

    async def main() -> tuple[int, set[int]]:
        channel = WaitingChannel()
        document = vxml("<form><field name='f' type='digits'><prompt>say</prompt></field></form>")
        threads = voicexml.SessionThreads(1)  # made here, by a SCHED_RR thread
        before = set(threading.enumerate())
        session = asyncio.create_task(
            threads.run(
                voicexml.FetchRequest(START),
                channel=channel,
                fetcher=MemoryFetcher({START: document}),
                session={},
            )
        )
        await asyncio.wait_for(channel.waiting.wait(), 30)
        policies = {
            os.sched_getscheduler(t.native_id)  # type: ignore[arg-type]
            for t in set(threading.enumerate()) - before
        }
        session.cancel()
        await asyncio.wait({session}, timeout=30)
        threads.close()
        return os.sched_getscheduler(0), policies

    return asyncio.run(main())


@pytest.mark.skipif(not hasattr(os, "sched_setscheduler"), reason="Linux scheduling policies")
async def test_a_session_never_runs_at_its_callers_real_time_priority() -> None:
    # A thread inherits its creator's policy: a serving loop under SCHED_RR (chrt -r 10
    # vxdial serve) must not lend it to the customer's scripts.
    seen = await asyncio.to_thread(_waiting_session_policies)
    if seen is None:
        pytest.skip("setting SCHED_RR needs CAP_SYS_NICE")
    caller, sessions = seen
    assert caller == os.SCHED_RR
    assert sessions == {os.SCHED_OTHER}


async def test_fetches_run_on_the_callers_thread() -> None:
    threads: list[int] = []
    leaf = "http://app.example/ivr/leaf.vxml"

    def leaf_document(request: voicexml.FetchRequest) -> str:
        threads.append(threading.get_ident())
        return vxml("<form><block><prompt>leaf</prompt></block></form>")

    fetcher = MemoryFetcher(
        {START: vxml(f"<form><block><goto next='{leaf}'/></block></form>"), leaf: leaf_document}
    )
    channel = ScriptedChannel()
    end = await voicexml.run_isolated(
        voicexml.FetchRequest(START), channel=channel, fetcher=fetcher, session={}
    )
    assert end.reason == "end" and channel.heard == ["leaf"]
    assert threads == [threading.get_ident()]


async def test_a_session_over_its_cpu_budget_ends_naming_the_limit() -> None:
    # A <foreach> over a big array: every item costs a little, together a lot.
    document = vxml(
        "<var name='big' expr='new Array(200000).fill(1)'/>"
        "<form><block><foreach item='x' array='big'><assign name='big' expr='big'/></foreach>"
        "<prompt>never</prompt></block></form>"
    )
    channel = ScriptedChannel()
    end = await voicexml.run_isolated(
        voicexml.FetchRequest(START),
        channel=channel,
        fetcher=MemoryFetcher({START: document}),
        session={},
        limits=voicexml.Limits(session_cpu_s=0.3),
    )
    assert (end.reason, end.event) == ("error", "error.semantic")
    assert "more than 0.3 s of CPU (session_cpu_s)" in (end.message or "")
    assert channel.heard == []


async def test_the_cpu_budget_holds_between_the_scripts_of_one_block() -> None:
    # Forty 0.25 s scripts in one <block>: the budget is checked before each element,
    # not only between form items (when all forty ran before the session ended).
    spin = "http://app.example/ivr/spin.js"
    document = vxml(f"<form><block>{f'<script src={spin!r}/>' * 40}</block></form>")
    fetcher = MemoryFetcher(
        {START: document, spin: "var t = Date.now(); while (Date.now() - t < 250) {}"}
    )
    end = await voicexml.run_isolated(
        voicexml.FetchRequest(START),
        channel=ScriptedChannel(),
        fetcher=fetcher,
        session={},
        limits=voicexml.Limits(session_cpu_s=0.5),
    )
    assert "more than 0.5 s of CPU (session_cpu_s)" in (end.message or "")
    assert len([r for r in fetcher.requests if r.url == spin]) < 40


async def test_keys_end_collection_on_the_grammars_structure() -> None:
    # The channel asks complete() on its own thread; the answer comes from the grammar's
    # structure: "12" fills a length-2 digits field without waiting for more keys.
    document = vxml(
        "<form><field name='n' type='digits?length=2'><prompt>number</prompt>"
        "<filled><prompt>got <value expr='n'/></prompt></filled></field></form>"
    )
    channel = ScriptedChannel(["12"])
    end = await voicexml.run_isolated(
        voicexml.FetchRequest(START),
        channel=channel,
        fetcher=MemoryFetcher({START: document}),
        session={},
    )
    assert end.reason == "end"
    assert channel.heard == ["number", "got 12"]


async def test_sessions_sharing_a_thread_go_on_and_are_charged_their_own_cpu() -> None:
    """One thread, two sessions: one walks nine million items; the other, a short one
    with a budget of 0.5 s of CPU, runs to its end meanwhile, charged only its own CPU
    (a thread's CPU time would have charged it the other's seconds)."""
    threads = voicexml.SessionThreads(1)
    heavy_document = vxml(
        "<var name='a' expr='new Array(3000).fill(1)'/><var name='n' expr='0'/>"
        "<form><block><foreach item='x' array='a'><foreach item='y' array='a'>"
        "<assign name='n' expr='n + 1'/></foreach></foreach></block></form>"
    )
    started = asyncio.Event()

    def heavy(request: voicexml.FetchRequest) -> str:
        started.set()
        return heavy_document

    try:
        hog = asyncio.create_task(
            threads.run(
                voicexml.FetchRequest("http://app.example/heavy.vxml"),
                channel=ScriptedChannel(),
                fetcher=MemoryFetcher({"http://app.example/heavy.vxml": heavy}),
                session={},
                limits=voicexml.Limits(session_cpu_s=3600),
            )
        )
        await asyncio.wait_for(started.wait(), 30)
        await asyncio.sleep(0.7)  # the hog has used more than the light one may
        channel = ScriptedChannel()
        light = vxml(
            "<form><block><prompt>one</prompt></block><block><prompt>two</prompt></block></form>"
        )
        end = await threads.run(
            voicexml.FetchRequest(START),
            channel=channel,
            fetcher=MemoryFetcher({START: light}),
            session={},
            limits=voicexml.Limits(session_cpu_s=0.5),
        )
        assert (end.reason, channel.heard) == ("end", ["one", "two"])
        assert not hog.done()  # it went on while the hog was still walking
        hog.cancel()
        await asyncio.wait({hog}, timeout=30)
    finally:
        threads.close()
