"""Figures of issue 12: /healthz latency p99 and RTP send jitter p99 while ten calls run
hostile VoiceXML documents (goals: /healthz p99 < 50 ms, jitter p99 < 5 ms), and the same
two figures with no hostile call (the baseline).

What runs: the whole service in this process, built as `vxdial serve` builds it
(``vxdial.app.create_app``, uvicorn on loopback; here on a thread of its own, whose event
loop serves HTTP, dials and paces RTP), ``[telephony] driver = "sip"`` towards SIPp as the
far end (tests/sipp/uas_answer_keys.xml: it answers every call and presses a key every
second), on a SQLite database. The customer's application is an aiohttp server in
another process.

1. Twenty "normal" calls each hear a long spoken prompt again and again (espeak-ng,
   G.711, 20 ms packets, no barge-in): the RTP streams whose send jitter is measured
   (bench/rtp.py's hook on the driver's MediaEngine: how late each packet left).
2. A client in another process asks ``GET /healthz`` every 10 ms on a keep-alive
   connection (the handler pings the database on the store's thread). A request held
   up for 300 ms also stands for the 29 the client would have sent meanwhile: the
   "p99 CO" column counts them (HdrHistogram's correction for coordinated omission),
   and is the figure.
3. Baseline: ``--seconds`` with the twenty calls only. Then ten more lines take calls
   whose documents are hostile, and the same figures are taken for ``--seconds`` while
   they run; a hostile call that ends (each is bounded by [voicexml]: session_cpu_s,
   max_steps, script_time_s) is replaced by the next one queued, so ten run throughout:

   - scripts: ten ``<script>``s each spinning 0.9 s, then the document again;
   - blocks2500 / blocks8000: that many empty ``<block/>``s, then the document again
     (until max_steps);
   - big: a document just under max_document_bytes (1 MiB) of empty blocks;
   - foreach: ``<foreach>`` over a 400,000-item array, an ``<assign>`` per item;
   - srgs: a DTMF grammar whose ``<tag>`` spins 0.9 s for the key the callee presses.

   Then every call is canceled (hung up), and the script waits until every session's
   thread has ended before the next run, saying how long that took.

The machine's floor (an idle event loop's 2 ms timer lateness, as bench/rtp.py measures
it) is printed before and after. ``--switch-interval`` runs each of CPython's switch
intervals in turn (``sys.setswitchinterval``: how long a thread may keep the GIL while
another waits for it; the default is 5 ms), ``--runs`` times. ``--throughput N`` also
measures what a switch interval costs: completed calls per second of N calls through the
same in-process service with the sim carrier answering at once (as bench/dialer.py),
each call's session on its thread.

What-ifs, to find where the time goes:

- ``--realtime``: the serving thread (and the /healthz client) under SCHED_RR, as
  docs/MEDIA.md suggests (``chrt -r 10 vxdial serve``); the sessions' threads leave it
  (voicexml.isolation);
- ``--in-processes``: the same hostile documents run in ten processes of their own
  (sessions in a loop, documents from memory) instead of as calls: the CPU they take,
  without sharing the service's GIL;
- ``--nice N``: the hostile sessions (threads or processes) at that niceness.

Usage: python bench/hostile.py [--switch-interval 5,1,0.5] [--runs 2] [--seconds 15]
       [--normal 20] [--hostile 10] [--throughput 3000] [--realtime] [--in-processes]
       [--nice 19]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from _common import ROOT, app_process, free_port, machine
from rtp import idle_lateness

sys.path.insert(0, str(ROOT))

from tests.support.sipp import Sipp, free_udp_port

from vxdial.app import accounts_for, create_app, open_store
from vxdial.config import (
    DatabaseSettings,
    DialerSettings,
    Settings,
    SimRule,
    SimSettings,
    SipSettings,
    TelephonySettings,
    VoicexmlSettings,
)
from vxdial.domain.clock import SystemClock
from vxdial.telephony.rtp import MediaEngine
from vxdial.telephony.sipdriver import SipDriver

HEALTHZ_TARGET_MS = 50.0
JITTER_TARGET_MS = 5.0
POLL_S = 0.010
KEY_EVERY_MS = 1000
REALTIME = 10  # SCHED_RR priority of --realtime, as `chrt -r 10 vxdial serve`
LOGIN, PIN = "bench", "1234"

# -- the customer's application ------------------------------------------------------------

VXML = '<?xml version="1.0"?>\n<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">\n'
SPIN = "var t = Date.now(); while (Date.now() - t &lt; 900) {}"
MAX_DOCUMENT_BYTES = 1024 * 1024  # [voicexml] max_document_bytes's default
SPEECH = (
    "Hello. This is a reminder of your appointment tomorrow at nine thirty, at the clinic "
    "on the corner of Main Street and Second Avenue. Please bring your insurance card and "
    "a list of the medicines you take. If you cannot come, call us at least one day before, "
    "so that someone else can have your place. Press one to confirm, two to cancel, or stay "
    "on the line to speak to someone."
)
# A field whose prompt cannot be barged in: the key pressed every second is ignored while
# it plays; after it, the key (or a second of silence) starts it again.
NORMAL = (
    f'{VXML}<form><property name="timeout" value="1s"/>'
    f'<field name="key" type="digits?length=1"><prompt bargein="false">{SPEECH}</prompt>'
    '<catch event="noinput nomatch"><reprompt/></catch>'
    '<filled><clear namelist="key"/></filled></field></form></vxml>'
)


def _again(kind: str) -> str:
    return f'<goto next="/h/{kind}.vxml"/>'


def hostile_documents() -> dict[str, str]:
    """Each kind of hostile document; each goes to itself again when it is done."""
    big_head, big_tail = f"{VXML}<form>", f"<block>{_again('big')}</block></form></vxml>"
    big_blocks = (MAX_DOCUMENT_BYTES - 1024 - len(big_head) - len(big_tail)) // len("<block/>")
    digits = "".join(f"<item>{d}<tag>{SPIN} out = '{d}';</tag></item>" for d in "0123456789")
    return {
        "scripts": f"{VXML}<form><block>"
        + f"<script>{SPIN}</script>" * 10
        + f"{_again('scripts')}</block></form></vxml>",
        "blocks2500": f"{VXML}<form>"
        + "<block/>" * 2500
        + f"<block>{_again('blocks2500')}</block></form></vxml>",
        "blocks8000": f"{VXML}<form>"
        + "<block/>" * 8000
        + f"<block>{_again('blocks8000')}</block></form></vxml>",
        "big": big_head + "<block/>" * big_blocks + big_tail,
        "foreach": f'{VXML}<var name="total" expr="0"/><form><block>'
        "<script>var items = []; for (var i = 0; i &lt; 400000; i++) items.push(i);</script>"
        '<foreach item="x" array="items"><assign name="total" expr="total + x"/></foreach>'
        f"{_again('foreach')}</block></form></vxml>",
        "srgs": f'{VXML}<form><field name="key"><grammar mode="dtmf" root="key" version="1.0"'
        ' tag-format="semantics/1.0" xmlns="http://www.w3.org/2001/06/grammar">'
        f'<rule id="key"><one-of>{digits}</one-of></rule></grammar>'
        '<catch event="noinput nomatch"><reprompt/></catch>'
        f"<filled>{_again('srgs')}</filled></field></form></vxml>",
    }


KINDS = tuple(hostile_documents())
THROUGHPUT_DOCUMENT = f"{VXML}<form><block><prompt>Hello.</prompt></block></form></vxml>"
# The ten hostile calls up at once, and the order of those that replace them.
MIX: tuple[str, ...] = ("scripts", "blocks2500", "blocks8000", "big", "foreach", "srgs")
MIX += ("scripts", "big", "foreach", "srgs")


def _app_process(port: int, counts: Any) -> None:
    """start_url of every call, the results; counts documents served per kind (and the
    results, last) in ``counts`` (a multiprocessing.Array)."""
    from aiohttp import web

    documents = {kind: body.encode() for kind, body in hostile_documents().items()}
    normal = NORMAL.encode()
    hello = THROUGHPUT_DOCUMENT.encode()

    async def hostile(request: web.Request) -> web.Response:
        await request.read()
        kind = request.match_info["kind"]
        counts[KINDS.index(kind)] += 1
        return web.Response(body=documents[kind], content_type="application/voicexml+xml")

    async def plain(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=normal, content_type="application/voicexml+xml")

    async def short(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=hello, content_type="application/voicexml+xml")

    async def result(request: web.Request) -> web.Response:
        await request.read()
        if request.method == "POST":
            counts[len(KINDS)] += 1
        return web.Response(text="ok")

    app = web.Application(client_max_size=1 << 20)
    app.router.add_route("*", "/h/{kind}.vxml", hostile)
    app.router.add_route("*", "/normal.vxml", plain)
    app.router.add_route("*", "/hello.vxml", short)
    app.router.add_route("*", "/start.vxml", result)  # what app_process waits for
    app.router.add_route("*", "/result", result)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def lower_session_priority(nice: int) -> None:
    """``--nice``: each session thread of the service lowers its own CPU priority (an
    experiment: vxdial does not do it)."""
    from vxdial.voicexml import isolation

    run = isolation._SessionThread._run

    def lowered(self: Any) -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        run(self)

    isolation._SessionThread._run = lowered  # type: ignore[method-assign]


def run_document_forever(kind: str) -> None:
    """``--run-document KIND``: run that hostile document's session again and again in
    this process, documents from memory, a callee pressing 1 whenever asked (what a
    session would cost in a process of its own, outside the service's GIL)."""
    from vxdial import voicexml
    from vxdial.voicexml.testing import MemoryFetcher, ScriptedChannel

    url = f"http://app.invalid/h/{kind}.vxml"
    documents = {f"http://app.invalid/h/{k}.vxml": body for k, body in hostile_documents().items()}

    async def forever() -> None:
        while True:
            await voicexml.run_session(
                voicexml.FetchRequest(url),
                channel=ScriptedChannel(["1"] * 100_000),
                fetcher=MemoryFetcher(documents),
                session={},
            )

    asyncio.run(forever())


@contextlib.contextmanager
def hostile_processes(count: int, nice: int) -> Iterator[None]:
    """``count`` processes (at ``nice``), each running a hostile document of MIX forever."""
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--run-document", MIX[i % len(MIX)]],
            preexec_fn=lambda: os.nice(nice),
        )
        for i in range(count)
    ]
    try:
        yield
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


@contextlib.contextmanager
def customer_app() -> Iterator[tuple[str, Any]]:
    counts = multiprocessing.Array("i", len(KINDS) + 1, lock=False)
    with app_process(_app_process, free_port(), counts) as base:
        yield base, counts


# -- the /healthz client -------------------------------------------------------------------

POLLER = r"""
import http.client, json, sys, threading, time
host, port, period = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
records, lock = [], threading.Lock()

def commands():
    for _ in sys.stdin:  # each line: hand over what was recorded since the last one
        with lock:
            taken = records[:]
            records.clear()
        sys.stdout.write(json.dumps(taken) + "\n")
        sys.stdout.flush()
    raise SystemExit

reader = threading.Thread(target=commands, daemon=True)
reader.start()
connection, due = None, time.monotonic()
while reader.is_alive():
    now = time.monotonic()
    if now < due:
        time.sleep(due - now)
    sent = time.monotonic()
    try:
        if connection is None:
            connection = http.client.HTTPConnection(host, port, timeout=10)
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        answer.read()
        status = answer.status
    except Exception:
        connection, status = None, 0
    done = time.monotonic()
    with lock:
        records.append((sent, done, status))
    due = max(due + period, done)  # late: the next one at once (no catching up)
"""


class Poller:
    """``GET /healthz`` every ``POLL_S`` from another process; ``take()`` gives the
    (sent, done, status) of the requests since the last ``take()``."""

    def __init__(self, base: str, *, realtime: bool) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.process = subprocess.Popen(
            [sys.executable, "-c", POLLER, host, port, str(POLL_S)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if realtime:
            os.sched_setscheduler(self.process.pid, os.SCHED_RR, os.sched_param(REALTIME))

    def take(self) -> list[tuple[float, float, int]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("take\n")
        self.process.stdin.flush()
        return [tuple(r) for r in json.loads(self.process.stdout.readline())]  # type: ignore[misc]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def corrected(latencies: Sequence[float], period: float) -> list[float]:
    """Each latency, and for one longer than the period the latencies of the requests
    the client would have sent meanwhile (HdrHistogram's recordValueWithExpectedInterval)."""
    values: list[float] = []
    for latency in latencies:
        values.append(latency)
        missed = latency - period
        while missed > 0:
            values.append(missed)
            missed -= period
    return values


# -- the service ---------------------------------------------------------------------------


@dataclass
class Running:
    base: str
    server: uvicorn.Server
    thread: threading.Thread
    driver: SipDriver | None
    engine: MediaEngine | None

    def loop_cpu_s(self) -> float:
        return thread_cpu_s(self.thread.native_id)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def thread_cpu_s(native_id: int | None) -> float:
    """User + system CPU of one thread of this process (Linux)."""
    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(
    settings: Settings,
    driver: SipDriver | None,
    engine: MediaEngine | None,
    *,
    realtime: bool = False,
) -> Running:
    """``create_app`` served by uvicorn on a thread, as ``vxdial serve`` serves it."""
    store = open_store(settings)
    try:
        accounts_for(store, settings).add_sender(LOGIN, PIN)
    finally:
        store.close()
    port = free_port()
    app = create_app(settings, tune_gc=True, driver=driver)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="vxdial-serve", daemon=True)
    thread.start()
    if realtime:  # before it starts the service: the threads it starts inherit it
        os.sched_setscheduler(thread.native_id, os.SCHED_RR, os.sched_param(REALTIME))  # type: ignore[arg-type]
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("vxdial did not start")
        time.sleep(0.01)
    return Running(f"http://127.0.0.1:{port}", server, thread, driver, engine)


def queue(client: httpx.Client, app: str, path: str, numbers: Sequence[int]) -> list[int]:
    ids = []
    for number in numbers:
        response = client.post(
            "/api/v1/calls",
            json={
                "phone_number": f"1555{number:07d}",
                "start_url": f"{app}{path}",
                "result_url": f"{app}/result",
            },
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def wait_for(what: str, check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def session_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("vxml-session-"))


@dataclass
class Window:
    healthz_ms: list[float]
    healthz_corrected_ms: list[float]
    healthz_failed: int
    jitter_ms: list[float]
    loop_cpu: float  # share of one core
    process_cpu: float
    sessions: int
    fetched: dict[str, int]
    ended: int


def measure(running: Running, poller: Poller, counts: Any, seconds: float) -> Window:
    assert running.engine is not None
    poller.take()
    fetched_before = list(counts)
    running.engine.measure_send_deviation()
    loop_before, process_before = running.loop_cpu_s(), time.process_time()
    started = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    deviations = running.engine.send_deviations_s or []
    running.engine.measure_send_deviation(False)
    loop_cpu = (running.loop_cpu_s() - loop_before) / wall
    process_cpu = (time.process_time() - process_before) / wall
    sessions = session_threads()
    records = poller.take()
    latencies = [done - sent for sent, done, status in records if status == 200]
    fetched = {k: counts[i] - fetched_before[i] for i, k in enumerate(KINDS)}
    return Window(
        healthz_ms=[1000 * v for v in latencies],
        healthz_corrected_ms=[1000 * v for v in corrected(latencies, POLL_S)],
        healthz_failed=sum(1 for *_, status in records if status != 200),
        jitter_ms=[1000 * v for v in deviations],
        loop_cpu=loop_cpu,
        process_cpu=process_cpu,
        sessions=sessions,
        fetched=fetched,
        ended=counts[len(KINDS)] - fetched_before[len(KINDS)],
    )


def sip_settings(folder: Path, sipp: Sipp, calls: int, session_threads: int = 0) -> Settings:
    rtp_low = 40000 + free_udp_port() % 10000 // 2 * 2
    return Settings(
        voicexml=VoicexmlSettings(session_threads=session_threads),
        database=DatabaseSettings(url=f"sqlite:///{folder}/vxdial.db"),
        telephony=TelephonySettings(driver="sip"),
        dialer=DialerSettings(lines=calls, cps=50, poll_s=0.25, ring_timeout_s=10),
        sip=SipSettings(
            trunk=sipp.trunk,
            bind=f"127.0.0.1:{free_udp_port()}",
            rtp_ports=f"{rtp_low}-{rtp_low + 4 * calls + 100}",
            caller_id="15550001111",
            cps=50,
            max_calls=calls,
            options_interval_s=0,
        ),
    )


def run(args: argparse.Namespace, app: str, counts: Any) -> tuple[Window, Window, float]:
    """One baseline window, then one with the hostile calls, on a fresh service; and how
    long after the hang-ups the last session's thread ended."""
    folder = Path(tempfile.mkdtemp(prefix="vxdial-hostile-"))
    reserve = args.hostile * 5  # replacements for the hostile calls that end
    sipp = Sipp.uas(
        "uas_answer_keys.xml",
        folder,
        calls=args.normal + reserve,
        timeout_s=3600,
        values={"KEY": "1", "EVERY_MS": str(KEY_EVERY_MS)},
    )
    settings = sip_settings(folder, sipp, args.normal + args.hostile, args.session_threads)
    engine = MediaEngine(
        bind_host="127.0.0.1",
        port_min=int(settings.sip.rtp_ports.split("-")[0]),
        port_max=int(settings.sip.rtp_ports.split("-")[1]),
    )
    driver = SipDriver(settings.sip, SystemClock(), media_engine=engine)
    running = serve(settings, driver, engine, realtime=args.realtime)
    poller = Poller(running.base, realtime=args.realtime)
    client = httpx.Client(base_url=running.base, auth=(LOGIN, PIN), timeout=60)
    ids: list[int] = []
    try:
        ids += queue(client, app, "/normal.vxml", range(args.normal))
        wait_for("the normal calls", lambda: driver.calls_up >= args.normal, 60)
        time.sleep(args.warmup)  # the prompt rendered (once), every stream running
        print("(the baseline window begins)", file=sys.stderr, flush=True)
        baseline = measure(running, poller, counts, args.seconds)
        if args.in_processes:
            with hostile_processes(args.hostile, args.nice):
                time.sleep(2.0)
                print("(the hostile window begins)", file=sys.stderr, flush=True)
                hostile = measure(running, poller, counts, args.seconds)
        else:
            order = [MIX[i % len(MIX)] for i in range(reserve)]
            for index, kind in enumerate(order):
                ids += queue(client, app, f"/h/{kind}.vxml", [args.normal + index])
            wait_for("the hostile calls", lambda: driver.calls_up >= args.normal + args.hostile, 60)
            time.sleep(2.0)  # in their documents
            print("(the hostile window begins)", file=sys.stderr, flush=True)
            hostile = measure(running, poller, counts, args.seconds)
    finally:
        for call_id in ids:  # hang up, and dial nothing more
            with contextlib.suppress(httpx.HTTPError):
                client.delete(f"/api/v1/calls/{call_id}")
        hung_up = time.monotonic()
        with contextlib.suppress(RuntimeError):
            wait_for("the calls to end", lambda: driver.calls_up == 0, 30)
        client.close()
        poller.close()
        running.stop()
        sipp.stop()
        shutil.rmtree(folder, ignore_errors=True)
        # The next run starts clean: no session of this one still spending CPU.
        wait_for("the sessions' threads to end", lambda: session_threads() == 0, 600)
        unwound_s = time.monotonic() - hung_up
    return baseline, hostile, unwound_s


# -- throughput: completed calls per second, sim carrier -----------------------------------


def throughput(calls: int, app: str, counts: Any) -> float:
    """Completed calls/s of ``calls`` calls through the in-process service (sim carrier
    answering at once, 1,000 lines), from the upload to the last result received."""
    folder = Path(tempfile.mkdtemp(prefix="vxdial-throughput-"))
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{folder}/vxdial.db"),
        dialer=DialerSettings(lines=1000, cps=100_000, poll_s=0.05),
        sim=SimSettings(rule=(SimRule(match="*", ring_seconds=0),)),
    )
    running = serve(settings, None, None)
    try:
        phone_list = "".join(f"1555{i:07d}\n" for i in range(calls)).encode()
        before = counts[len(KINDS)]
        response = httpx.post(
            f"{running.base}/webservice/queuecalls.php",
            data={
                "login": LOGIN,
                "pin": PIN,
                "campaign_name": "throughput",
                "start_url": f"{app}/hello.vxml",
                "result_url": f"{app}/result",
            },
            files={"phone_list": ("list.csv", phone_list)},
            timeout=300,
        )
        assert 'status="queued"' in response.text[:300], response.text[:500]
        started = time.monotonic()
        wait_for("the results", lambda: counts[len(KINDS)] - before >= calls, 600)
        return calls / (time.monotonic() - started)
    finally:
        running.stop()
        shutil.rmtree(folder, ignore_errors=True)


# -- report --------------------------------------------------------------------------------


def floor(realtime: bool) -> tuple[float, float]:
    """An idle event loop's 2 ms timer lateness (bench/rtp.py), on a thread scheduled as
    the serving thread is."""

    def measure() -> tuple[float, float]:
        if realtime:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME))
        return asyncio.run(idle_lateness(3.0))

    result: list[tuple[float, float]] = []
    thread = threading.Thread(target=lambda: result.append(measure()))
    thread.start()
    thread.join()
    return result[0]


def row(label: str, w: Window) -> str:
    return (
        f"{label:9s} {statistics.median(w.healthz_ms) if w.healthz_ms else float('nan'):6.1f}"
        f" {percentile(w.healthz_ms, 0.99):7.1f} {percentile(w.healthz_corrected_ms, 0.99):7.1f}"
        f" {max(w.healthz_ms, default=float('nan')):7.1f} {len(w.healthz_ms):5d}"
        f" {w.healthz_failed:4d} |"
        f" {statistics.median(w.jitter_ms) if w.jitter_ms else float('nan'):5.2f}"
        f" {percentile(w.jitter_ms, 0.99):7.2f} {max(w.jitter_ms, default=float('nan')):7.1f}"
        f" {len(w.jitter_ms):6d} | {w.loop_cpu:4.2f} {w.process_cpu:4.2f} {w.sessions:4d}"
        f" | {os.getloadavg()[0]:4.1f}"
    )


HEADER = (
    "          /healthz (ms)                         | RTP send jitter (ms)         |"
    " CPU (cores)    |\n"
    "window       p50     p99  p99 CO     max  reqs fail |   p50     p99     max packets |"
    " loop proc thr  | load"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--switch-interval", default="5", help="ms, comma-separated (CPython's default: 5)"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per switch interval")
    parser.add_argument("--session-threads", type=int, default=4, help="[voicexml] session_threads")
    parser.add_argument("--seconds", type=float, default=15.0, help="each window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--normal", type=int, default=20)
    parser.add_argument("--hostile", type=int, default=10)
    parser.add_argument(
        "--throughput", type=int, default=0, help="sim calls per switch interval (0: none)"
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="the serving thread (and the /healthz client) under SCHED_RR, as docs/MEDIA.md",
    )
    parser.add_argument(
        "--in-processes",
        action="store_true",
        help="run the hostile documents in processes of their own instead of as calls"
        " (what isolating sessions in processes would give)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="the hostile sessions' niceness (threads or processes; an experiment)",
    )
    parser.add_argument("--run-document", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_document:
        run_document_forever(args.run_document)
        return
    if args.nice:
        lower_session_priority(args.nice)
    intervals = [float(v) / 1000 for v in args.switch_interval.split(",") if v.strip()]
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(
        "hostile documents: "
        + ("in processes of their own" if args.in_processes else "as calls, in the service")
        + "; scheduling: "
        + ("SCHED_RR for the serving thread" if args.realtime else "normal (SCHED_OTHER)")
        + (f"; hostile sessions at nice {args.nice}" if args.nice else "")
    )
    with customer_app() as (app, counts):
        p50, p99 = floor(args.realtime)
        print(
            f"idle event loop, 2 ms timer lateness (the floor): p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        )
        summary: dict[float, list[tuple[Window, Window]]] = {}
        rates: dict[float, list[float]] = {}
        # Each round runs every switch interval once, so that each meets the same
        # neighbours on a shared machine.
        for number in range(args.runs):
            for interval in intervals:
                sys.setswitchinterval(interval)
                print(f"\nswitch interval {1000 * interval:g} ms, run {number + 1}")
                print(HEADER)
                baseline, hostile, unwound_s = run(args, app, counts)
                summary.setdefault(interval, []).append((baseline, hostile))
                print(row("baseline", baseline))
                print(row("hostile", hostile))
                fetched = ", ".join(f"{k} {v}" for k, v in hostile.fetched.items())
                if not args.in_processes:
                    print(f"          hostile documents fetched: {fetched}")
                print(
                    f"          calls ended {hostile.ended}; every session's thread gone"
                    f" {unwound_s:.1f} s after the hang-ups"
                )
                if args.throughput:
                    rate = throughput(args.throughput, app, counts)
                    rates.setdefault(interval, []).append(rate)
                    print(f"throughput: {args.throughput} sim calls, {rate:.0f} completed calls/s")
        sys.setswitchinterval(0.005)
        p50, p99 = floor(args.realtime)
        print(f"\nidle event loop afterwards: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print("\nsummary (p99 over the runs; goals: /healthz < 50 ms, jitter < 5 ms)")
    for interval, windows in summary.items():

        def spread(values: list[float]) -> str:
            return f"{min(values):.1f}–{max(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"

        base_h = [percentile(b.healthz_corrected_ms, 0.99) for b, _ in windows]
        host_h = [percentile(h.healthz_corrected_ms, 0.99) for _, h in windows]
        base_j = [percentile(b.jitter_ms, 0.99) for b, _ in windows]
        host_j = [percentile(h.jitter_ms, 0.99) for _, h in windows]
        print(
            f"switch {1000 * interval:g} ms: /healthz p99 baseline {spread(base_h)} ms,"
            f" hostile {spread(host_h)} ms; jitter p99 baseline {spread(base_j)} ms,"
            f" hostile {spread(host_j)} ms"
            + (f"; {spread(rates[interval])} calls/s" if interval in rates else "")
        )


if __name__ == "__main__":
    main()
