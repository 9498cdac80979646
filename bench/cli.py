"""How long the `vxdial` command takes to start: `vxdial --version` and a one-prompt
`vxdial try hello.vxml` (targets 0.2 s and 0.5 s), and for comparison `vxdial --help` and
an account command that opens the database (`vxdial sender list`).

Each command runs N times as a user runs it (the installed console script, a new process
each time, its output checked), after two warm-up runs that fill the page cache and the
bytecode caches; the figures are the median and the 95th percentile of the wall time,
and the median CPU time (user + system) of the process: on a machine shared with other
work, the wall time grows with the load and the CPU time much less.
With --importtime, each command is run once more under `python -X importtime` and the
packages that take the most import time (self time, summed per package) are listed.

    .venv/bin/python bench/cli.py [--runs 30] [--importtime]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import VXDIAL, machine

HELLO = """<?xml version="1.0" encoding="UTF-8"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><block><prompt>Hello.</prompt></block></form>
</vxml>
"""


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    expected_stdout: str  # a piece of standard output that shows the command worked
    target_s: float | None


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def run_once(case: Case, env: dict[str, str]) -> tuple[float, float]:
    """The wall time and the CPU time (user + system) of one run, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [VXDIAL, *case.args], env=env, capture_output=True, text=True, timeout=60
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0 or case.expected_stdout not in result.stdout:
        raise SystemExit(
            f"{case.name} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return elapsed, cpu


def import_offenders(case: Case, env: dict[str, str], top: int) -> list[tuple[str, float]]:
    """The packages with the most import self time (ms) while ``case`` runs."""
    program = (
        f"import sys; from vxdial.cli import main; sys.argv = ['vxdial', *{case.args!r}]; main()"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", program],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    per_package: Counter[str] = Counter()
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        if not self_us.strip().isdigit():
            continue  # the header line
        parts = name.strip().split(".")
        # vxdial's own packages one level down (vxdial.voicexml, vxdial.store), others whole.
        package = ".".join(parts[:2]) if parts[0] == "vxdial" else parts[0]
        per_package[package] += int(self_us) / 1000
    return per_package.most_common(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per command")
    parser.add_argument(
        "--importtime", action="store_true", help="also list the slowest imports per command"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vxdial-bench-cli-") as folder:
        run(Path(folder), options.runs, options.importtime)


def run(folder: Path, runs: int, importtime: bool) -> None:
    hello = folder / "hello.vxml"
    hello.write_text(HELLO)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VXDIAL_")},
        "VXDIAL_DATABASE_URL": f"sqlite:///{folder / 'vxdial.db'}",
        "COLUMNS": "120",
    }
    subprocess.run([VXDIAL, "migrate"], env=env, check=True, capture_output=True)
    cases = [
        Case("vxdial --version", ["--version"], "vxdial ", 0.2),
        Case("vxdial try hello.vxml", ["try", str(hello)], "Hello.", 0.5),
        Case("vxdial --help", ["--help"], "Usage", None),
        Case("vxdial sender list", ["sender", "list"], "login", None),
    ]

    print(f"machine: {machine()}")
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(f"{runs} runs per command, after 2 warm-up runs\n")
    print(f"{'command':<24} {'median':>8} {'p95':>8} {'min':>8} {'CPU':>8}  target")
    for case in cases:
        for _ in range(2):
            run_once(case, env)
        measured = [run_once(case, env) for _ in range(runs)]
        walls = [wall for wall, _ in measured]
        cpu = statistics.median(cpu for _, cpu in measured)
        target = f"<= {case.target_s:g} s" if case.target_s is not None else "-"
        print(
            f"{case.name:<24} {statistics.median(walls):>7.3f}s "
            f"{percentile(walls, 95):>7.3f}s {min(walls):>7.3f}s {cpu:>7.3f}s  {target}",
            flush=True,
        )
    load_after = os.getloadavg()
    print(f"\nload average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")

    if importtime:
        for case in cases:
            print(f"\nimport self time by package, {case.name} (ms):")
            for package, ms in import_offenders(case, env, top=10):
                print(f"  {package:<28} {ms:7.1f}")


if __name__ == "__main__":
    main()
