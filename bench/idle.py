"""Figure: what an idle `vxdial serve` costs, in percent of one core.

A real `vxdial serve` (HTTP, dialer, result deliverer, housekeeping: the whole process)
with one sender and nothing to do, at `--sim-speed 1` and `--sim-speed 30`, on SQLite and
on PostgreSQL. After it has started and settled, its CPU time (user + system, from
/proc/PID/stat) is read over a window of real time (30 s); the figure is CPU seconds per
second of that window, in percent. The goal (issue 12, item 17) is at most 0.5 % at any
speed: an idle dialer sleeps until work is announced or due, and looks by itself only
every `[dialer] poll_s` real seconds.

Usage: python bench/idle.py [--seconds 30] [--speeds 1,30] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import time

from _common import database, machine, vxdial_server

SETTLE_S = 3.0  # start-up work (migrations, the first sweep, imports) is not idle cost


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may hold spaces: split after its closing bracket.
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(engine: str, speed: float, seconds: float, *, dialer: bool = True) -> float:
    """Percent of one core an idle server used over ``seconds``."""
    args = ["--sim-speed", f"{speed:g}", "--log-level", "warning"]
    if not dialer:
        args.append("--no-dialer")
    with database(engine) as url, vxdial_server(url, serve_args=args) as server:
        time.sleep(SETTLE_S)
        pid = server.process.pid
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        cpu_after, wall_after = cpu_seconds(pid), time.monotonic()
    return 100 * (cpu_after - cpu_before) / (wall_after - wall_before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--speeds", default="1,30")
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"idle `vxdial serve` (dialer on, sim driver), CPU over {args.seconds:g} s of real time")
    print("| database | --sim-speed | CPU (% of one core) | goal |")
    print("|---|---|---|---|")
    for engine in args.engines.split(","):
        for speed in (float(s) for s in args.speeds.split(",")):
            percent = measure(engine, speed, args.seconds)
            print(f"| {engine} | {speed:g} | {percent:.2f} % | ≤ 0.5 % |", flush=True)
        # The floor: HTTP only (uvicorn wakes every 0.1 s to check for a stop), no dialer.
        percent = measure(engine, 1.0, args.seconds, dialer=False)
        print(f"| {engine} | `--no-dialer` | {percent:.2f} % | (reference) |", flush=True)


if __name__ == "__main__":
    main()
