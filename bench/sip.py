"""Figures of the SIP driver against SIPp (Debian's sip-tester) on this machine.

1. Call setup rate: our driver dials N calls at a rate R ([sip] cps = R) to SIPp as the
   far end (tests/sipp/uas_answer.xml: 200 OK with SDP at once, then our BYE); a setup
   is INVITE -> 200 -> ACK, each call hung up as soon as it is answered. For each R the
   script reports the rate reached and the failed setups; the figure is the largest R
   reached (within 5 %) with under 0.1 % failed.
2. The same ramp with SIPp itself as the calling side (its built-in "uac" scenario)
   against the same far end: our figure as a ratio of SIPp's.
3. Concurrent answered calls with media: N calls up at once, each streaming a spoken
   prompt (espeak-ng, G.711) as RTP; the RTP engine records how late each packet left
   (bench/rtp.py's measurement hook); the figure is the largest N whose send jitter p99
   stays under 5 ms.

Everything runs on loopback on this machine: our process (one event loop: SIP, RTP and
the dialing tasks), SIPp in another. The machine may be shared: the figures are a floor.

The machine's own scheduling noise is measured as bench/rtp.py does (an idle event
loop's 2 ms timer lateness, before and after): no pacing beats that floor. ``--realtime``
runs this process under SCHED_RR, as bench/rtp.py can, to take the other processes of a
shared machine out of the jitter figure.

Usage: python bench/sip.py [--rates 100,200,400] [--calls-s 5] [--concurrent 100,250,500]
       [--sipp-rates 200,400,800] [--skip-setup] [--skip-media] [--skip-sipp] [--realtime]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine
from rtp import idle_lateness

sys.path.insert(0, str(ROOT))

from tests.support.sipp import Sipp, free_udp_port

from vxdial.config import SipSettings
from vxdial.domain import calls, media
from vxdial.domain.clock import SystemClock
from vxdial.telephony.base import DialRequest
from vxdial.telephony.rtp import MediaEngine, SpeechRenderer
from vxdial.telephony.sipdriver import SipDriver

PROMPT = (
    "Hello. This is a reminder of your appointment tomorrow at nine thirty. "
    "Press one to confirm, two to cancel, or stay on the line to speak to someone."
)
JITTER_TARGET_S = 0.005
FAILED_TARGET = 0.001
RTP_PORTS = (30000, 35999)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def request(index: int) -> DialRequest:
    return DialRequest(
        call_id=index,
        attempt=1,
        number=f"1555{index:07d}",
        caller_id="15550001111",
        postd=None,
        ring_timeout_s=30,
    )


def driver_for(sipp: Sipp, *, cps: float, max_calls: int, engine: MediaEngine) -> SipDriver:
    settings = SipSettings(
        trunk=sipp.trunk,
        bind="127.0.0.1:0",
        rtp_ports=f"{RTP_PORTS[0]}-{RTP_PORTS[1]}",
        cps=cps,
        max_calls=max_calls,
        options_interval_s=0,
    )
    return SipDriver(
        settings, SystemClock(), media_engine=engine, speech=SpeechRenderer(voice="en-us")
    )


def engine() -> MediaEngine:
    return MediaEngine(bind_host="127.0.0.1", port_min=RTP_PORTS[0], port_max=RTP_PORTS[1])


async def setup_rate(rate: float, seconds: float, folder: Path) -> dict[str, float]:
    """Dial rate*seconds calls at ``rate``; each is hung up once answered."""
    count = max(1, round(rate * seconds))
    sipp = Sipp.uas("uas_answer.xml", folder, calls=count, timeout_s=seconds * 4 + 30)
    media_engine = engine()
    driver = driver_for(sipp, cps=rate, max_calls=count, engine=media_engine)
    await driver.start()
    answered_at: list[float] = []

    async def one(index: int) -> bool:
        result = await driver.dial(request(index))
        if result.leg is None:
            return False
        answered_at.append(time.monotonic())
        await result.leg.hangup()
        return result.outcome is calls.Outcome.ANSWER

    started = time.monotonic()
    outcomes = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    elapsed = (max(answered_at) if answered_at else time.monotonic()) - started
    failed = sum(1 for o in outcomes if o is not True)
    retransmitted = sum(driver.agent.endpoint.retransmitted.values())
    await driver.aclose()
    sipp_status = await asyncio.to_thread(sipp.wait, 60)
    return {
        "rate": rate,
        "calls": count,
        "reached": count / elapsed if elapsed > 0 else 0.0,
        "failed": failed,
        "retransmissions": retransmitted,
        "sipp_status": sipp_status,
    }


def sipp_uac_rate(rate: float, seconds: float, folder: Path) -> dict[str, float]:
    """SIPp's built-in uac scenario against the same far end (uas_answer.xml)."""
    count = max(1, round(rate * seconds))
    far = Sipp.uas("uas_answer.xml", folder, calls=count, timeout_s=seconds * 4 + 30)
    stats = folder / f"uac_{int(rate)}.csv"
    args = [
        "sipp",
        "-sn",
        "uac",
        f"127.0.0.1:{far.port}",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_udp_port()),
        "-mp",
        str(free_udp_port(even=True)),
        "-r",
        f"{rate:g}",
        "-m",
        str(count),
        "-d",
        "0",
        "-l",
        str(count),
        "-nostdin",
        "-timeout",
        f"{seconds * 4 + 30:g}s",
        "-trace_stat",
        "-stf",
        str(stats),
        "-fd",
        "1",
    ]
    started = time.monotonic()
    subprocess.run(args, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    far.wait(60)
    rows = list(csv.DictReader(stats.open(), delimiter=";")) if stats.exists() else []
    last = rows[-1] if rows else {}
    successful = int(last.get("SuccessfulCall(C)", 0) or 0)
    failed = int(last.get("FailedCall(C)", 0) or 0)
    return {
        "rate": rate,
        "calls": count,
        "reached": successful / elapsed if elapsed > 0 else 0.0,
        "failed": failed + max(0, count - successful - failed),
    }


async def concurrent_media(calls_up: int, seconds: float, folder: Path) -> dict[str, float]:
    """``calls_up`` answered calls streaming a prompt at once; send jitter while all are up."""
    sipp = Sipp.uas("uas_answer.xml", folder, calls=calls_up, timeout_s=600)
    media_engine = engine()
    driver = driver_for(sipp, cps=200, max_calls=calls_up, engine=media_engine)
    await driver.start()
    results = await asyncio.gather(*(driver.dial(request(i)) for i in range(calls_up)))
    legs = [r.leg for r in results if r.leg is not None]
    stop = asyncio.Event()

    async def speak(leg: object) -> None:
        while not stop.is_set():
            try:
                await leg.play(media.Prompt(PROMPT, bargein=False))  # type: ignore[attr-defined]
            except media.Hangup:
                return

    speaking = [asyncio.ensure_future(speak(leg)) for leg in legs]
    await asyncio.sleep(2.0)  # the prompt rendered once (cached), every stream running
    cpu_before = time.process_time()
    media_engine.measure_send_deviation()
    await asyncio.sleep(seconds)
    deviations = list(media_engine.send_deviations_s or [])
    media_engine.measure_send_deviation(False)
    cpu_s = time.process_time() - cpu_before
    stop.set()
    for leg in legs:
        await leg.hangup()
    await asyncio.gather(*speaking, return_exceptions=True)
    await driver.aclose()
    await asyncio.to_thread(sipp.wait, 60)
    return {
        "calls": calls_up,
        "answered": len(legs),
        "packets": len(deviations),
        "p50_ms": 1000 * statistics.median(deviations) if deviations else float("nan"),
        "p99_ms": 1000 * percentile(deviations, 0.99) if deviations else float("nan"),
        "max_ms": 1000 * max(deviations) if deviations else float("nan"),
        "cpu_share": cpu_s / seconds,
    }


def figures(values: str) -> list[float]:
    return [float(v) for v in values.split(",") if v.strip()]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,100,200,300,400,600")
    parser.add_argument("--sipp-rates", default="100,200,400,800,1600")
    parser.add_argument("--calls-s", type=float, default=5.0, help="seconds of calls per rate")
    parser.add_argument("--concurrent", default="100,250,500,750")
    parser.add_argument("--media-s", type=float, default=5.0)
    parser.add_argument("--skip-setup", action="store_true")
    parser.add_argument("--skip-sipp", action="store_true")
    parser.add_argument("--skip-media", action="store_true")
    parser.add_argument(
        "--realtime", action="store_true", help="SCHED_RR priority 10, as bench/rtp.py"
    )
    args = parser.parse_args()
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
    logging.basicConfig(level=logging.ERROR)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print("scheduling:", "SCHED_RR priority 10" if args.realtime else "normal (SCHED_OTHER)")
    version = subprocess.run(["sipp", "-v"], capture_output=True, text=True).stdout.strip()
    print(f"far end: {version.splitlines()[0] if version else 'sipp'} on loopback")
    ours_best = sipp_best = 0.0
    sipp_limited = False  # whether SIPp's ramp found its limit (else its figure is a floor)
    with tempfile.TemporaryDirectory(prefix="vxdial-bench-sip-") as tmp:
        folder = Path(tmp)
        if not args.skip_setup:
            print("\ncall setup rate, our driver (each call: INVITE, 200, ACK, BYE, 200)")
            print(f"{'target/s':>9} {'calls':>6} {'reached/s':>10} {'failed':>7} {'retrans':>8}")
            for rate in figures(args.rates):
                row = await setup_rate(rate, args.calls_s, folder)
                print(
                    f"{rate:9g} {row['calls']:6.0f} {row['reached']:10.1f} "
                    f"{row['failed']:7.0f} {row['retransmissions']:8.0f}"
                )
                good = row["failed"] <= FAILED_TARGET * row["calls"]
                if good and row["reached"] >= 0.95 * rate:
                    ours_best = rate
                else:
                    break
            print(f"-> largest setup rate with < 0.1 % failed: {ours_best:g}/s")
        if not args.skip_sipp:
            print("\ncall setup rate, SIPp's uac against the same far end")
            print(f"{'target/s':>9} {'calls':>6} {'reached/s':>10} {'failed':>7}")
            for rate in figures(args.sipp_rates):
                row = await asyncio.to_thread(sipp_uac_rate, rate, args.calls_s, folder)
                print(f"{rate:9g} {row['calls']:6.0f} {row['reached']:10.1f} {row['failed']:7.0f}")
                good = row["failed"] <= FAILED_TARGET * row["calls"]
                if good and row["reached"] >= 0.95 * rate:
                    sipp_best = rate
                else:
                    sipp_limited = True
                    break
            print(f"-> SIPp's largest setup rate with < 0.1 % failed: {sipp_best:g}/s")
            if ours_best and sipp_best:
                bound = "" if sipp_limited else " at most (SIPp did not reach its limit)"
                print(f"-> ours / SIPp's: {ours_best / sipp_best:.2f}{bound}")
        if not args.skip_media:
            print("\nconcurrent answered calls, each streaming a prompt (RTP send jitter)")
            p50, p99 = await idle_lateness(2.0)
            print(
                f"idle event loop, 2 ms timer lateness (the floor): "
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"
            )
            print(
                f"{'calls':>6} {'answered':>9} {'packets':>8} {'p50 ms':>7} "
                f"{'p99 ms':>7} {'max ms':>7} {'CPU':>5}"
            )
            best = 0
            for count in figures(args.concurrent):
                row = await concurrent_media(int(count), args.media_s, folder)
                print(
                    f"{row['calls']:6.0f} {row['answered']:9.0f} {row['packets']:8.0f} "
                    f"{row['p50_ms']:7.2f} {row['p99_ms']:7.2f} {row['max_ms']:7.2f} "
                    f"{row['cpu_share']:5.2f}"
                )
                if row["answered"] == count and row["p99_ms"] < 1000 * JITTER_TARGET_S:
                    best = int(count)
                else:
                    break
            print(f"-> largest number of calls streaming with p99 < 5 ms: {best}")
            p50, p99 = await idle_lateness(2.0)
            print(f"idle event loop afterwards: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
