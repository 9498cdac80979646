"""Figure: concurrent RTP streams one process sends with send jitter p99 < 5 ms, and the
CPU each stream costs.

One ``MediaEngine`` (one event loop, the driver's) opens N sessions; each plays the same
spoken prompt (espeak-ng, G.711 µ-law) as 20 ms packets to a sink process on loopback
(one UDP socket counting what arrives). The engine records, for every packet, how late it
left (time after ``sendto`` returned minus the packet's deadline on the monotonic clock):
the "send deviation". For each N the script reports its p50/p99/max, this process's CPU
time per stream (a share of one core), the packets sent and those the sink received.
The answer is the largest N whose p99 stays under 5 ms.

The machine is shared, and no pacing can be better than the operating system's wakeups:
before and after the runs the script measures an idle event loop's timer lateness (a
2 ms timer, as the engine's), the floor under every figure.

``--echo`` makes the sink send every packet back to where it came from, so each stream
also receives 50 packets a second, as on a real call (audio that nobody records is only
counted); the sink then needs a good part of the second core.

``--realtime`` runs this process (not the sink) under the SCHED_RR real-time policy, as
media servers are deployed (Asterisk's ``-p``, FreeSWITCH's ``-rp``; for vxdial:
``chrt -r 10 vxdial serve`` or systemd's ``CPUSchedulingPolicy=rr``): it needs root or
CAP_SYS_NICE.

Usage: python bench/rtp.py [--streams 100,250,500,750,1000] [--seconds 10] [--echo]
                          [--realtime]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

from _common import machine
from vxdial.telephony.rtp import PCMU, MediaEngine, SpeechRenderer

PROMPT = (
    "Hello. This is a reminder of your appointment tomorrow at nine thirty. "
    "Press one to confirm, two to cancel, or stay on the line to speak to someone."
)
JITTER_TARGET_S = 0.005

SINK = r"""
import select, socket, sys
echo = sys.argv[1] == "echo"
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
sock.bind(("127.0.0.1", 0))
sock.setblocking(False)
print(sock.getsockname()[1], flush=True)
count = 0
while True:
    ready, _, _ = select.select([sock, sys.stdin], [], [])
    if sys.stdin in ready:
        line = sys.stdin.readline()
        if not line:
            break
        print(count, flush=True)  # each line asks for the count so far
        continue
    while True:
        try:
            data, source = sock.recvfrom(2048)
        except BlockingIOError:
            break
        count += 1
        if echo:  # the far end talks back: each packet returns to its stream
            try:
                sock.sendto(data, source)
            except BlockingIOError:
                pass
"""


class Sink:
    def __init__(self, echo: bool) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SINK, "echo" if echo else "count"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def received(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def idle_lateness(seconds: float) -> tuple[float, float]:
    """p50 and p99 (ms) of how late an idle event loop's 2 ms timer fires."""
    loop = asyncio.get_running_loop()
    lateness: list[float] = []
    deadline = loop.time()
    for _ in range(int(seconds / 0.002)):
        deadline += 0.002
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        lateness.append(loop.time() - deadline)
    return 1000 * statistics.median(lateness), 1000 * percentile(lateness, 0.99)


async def run(streams: int, seconds: float, prompt: bytes, sink: Sink) -> dict[str, float]:
    engine = MediaEngine(bind_host="127.0.0.1", port_min=20000, port_max=20000 + 2 * streams + 200)
    sessions = [await engine.open_session() for _ in range(streams)]
    for session in sessions:
        session.connect("127.0.0.1", sink.port, PCMU, 101)
    await asyncio.sleep(0.5)  # every slot running; then measure a steady state
    received_before = sink.received()
    back_before = sum(s.packets_received for s in sessions)
    sent_before = engine.packets_sent
    engine.measure_send_deviation()
    cpu_before, wall_before = time.process_time(), time.monotonic()
    plays = [asyncio.create_task(s.play(prompt, interruptible=False)) for s in sessions]
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu_before
    wall = time.monotonic() - wall_before
    deviations = engine.send_deviations_s or []
    engine.measure_send_deviation(False)
    sent = engine.packets_sent - sent_before
    await asyncio.sleep(0.2)  # what is in flight reaches the sink
    received = sink.received() - received_before
    back = sum(s.packets_received for s in sessions) - back_before
    for task in plays:
        task.cancel()
    await asyncio.gather(*plays, return_exceptions=True)
    await engine.aclose()
    return {
        "p50_ms": 1000 * statistics.median(deviations),
        "p99_ms": 1000 * percentile(deviations, 0.99),
        "max_ms": 1000 * max(deviations),
        "cpu_per_stream_pct": 100 * cpu / wall / streams,
        "cpu_pct": 100 * cpu / wall,
        "sent": sent,
        "lost_pct": 100 * max(0, sent - received) / max(1, sent),
        "back": back,
        "dropped_ticks": engine.ticks_dropped,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="100,250,500,750,1000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--realtime", action="store_true", help="SCHED_RR, priority 10")
    parser.add_argument("--echo", action="store_true", help="the sink sends every packet back")
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    prompt = await SpeechRenderer().render(PROMPT)
    # A prompt longer than the measurement, so every stream sends audio throughout.
    while len(prompt) < 2 * 8000 * (args.seconds + 1):
        prompt += prompt
    sink = Sink(args.echo)
    print(
        "sink:",
        "echoes every packet (each stream also receives 50 packets/s)" if args.echo else "counts",
    )
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
    print("scheduling:", "SCHED_RR priority 10" if args.realtime else "normal (SCHED_OTHER)")
    floor = await idle_lateness(5)
    print(f"idle event loop, 2 ms timer lateness: p50 {floor[0]:.2f} ms, p99 {floor[1]:.2f} ms")
    best = 0
    try:
        print("streams  p50 ms  p99 ms  max ms  CPU/stream  CPU total  packets  lost  received")
        for streams in counts:
            r = await run(streams, args.seconds, prompt, sink)
            print(
                f"{streams:7d}  {r['p50_ms']:6.2f}  {r['p99_ms']:6.2f}  {r['max_ms']:6.1f}"
                f"  {r['cpu_per_stream_pct']:8.3f} %  {r['cpu_pct']:7.1f} %"
                f"  {int(r['sent']):7d}  {r['lost_pct']:.2f} %  {int(r['back']):7d}"
            )
            if r["p99_ms"] < JITTER_TARGET_S * 1000:
                best = max(best, streams)
    finally:
        sink.close()
    floor = await idle_lateness(5)
    print(f"idle event loop, 2 ms timer lateness: p50 {floor[0]:.2f} ms, p99 {floor[1]:.2f} ms")
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"largest tested number of streams with send jitter p99 < 5 ms: {best}")


if __name__ == "__main__":
    asyncio.run(main())
