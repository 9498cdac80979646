"""SIPp (Debian's sip-tester) as the far end of the SIP tests: a scenario file from
tests/sipp/ run as a subprocess on loopback, on free ports.

``Sipp.uas(scenario, calls=N)`` starts it answering N calls; ``wait()`` returns its
exit status (0: every call went through the scenario, 1: some failed) and keeps its
error log and its statistics for the assertion message.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"
DTMF_PCAPS = Path("/usr/share/sip-tester")


def free_udp_port(*, even: bool = False) -> int:
    """A UDP port nobody is bound to on 127.0.0.1 (even ones for RTP)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if not even or port % 2 == 0:
            return port


@dataclass
class Sipp:
    scenario: Path
    port: int
    media_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    returncode: int | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def trunk(self) -> str:
        return f"sip:127.0.0.1:{self.port}"

    @classmethod
    def uas(
        cls,
        scenario: str,
        folder: Path,
        *,
        calls: int = 1,
        timeout_s: float = 60,
        values: dict[str, str] | None = None,
        extra: list[str] | None = None,
    ) -> Sipp:
        """Start SIPp answering ``calls`` calls with ``tests/sipp/<scenario>``, its
        ``@NAME@`` placeholders replaced by ``values`` (SIPp itself wants literal
        status codes)."""
        text = (SCENARIOS / scenario).read_text()
        for name, value in (values or {}).items():
            text = text.replace(f"@{name}@", value)
        left = re.findall(r"@[A-Z_]+@", text)
        if left:
            raise ValueError(f"{scenario}: no value for {', '.join(sorted(set(left)))}")
        rendered = folder / scenario
        rendered.write_text(text)
        sipp = cls(
            rendered,
            free_udp_port(),
            free_udp_port(even=True),
            folder,
            extra=list(extra or []),
        )
        args = [
            "sipp",
            "-sf",
            str(sipp.scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(sipp.port),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(sipp.media_port),
            "-m",
            str(calls),
            "-timeout",
            f"{timeout_s:g}s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(folder / "sipp_errors.log"),
            "-trace_stat",
            "-stf",
            str(folder / "sipp_stats.csv"),
            "-trace_msg",
            "-message_file",
            str(folder / "sipp_messages.log"),
            *sipp.extra,
        ]
        sipp.process = subprocess.Popen(
            args,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        sipp._wait_bound()
        return sipp

    def _wait_bound(self) -> None:
        """Until SIPp listens (its port is taken), so the first INVITE is not lost."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"sipp exited at start: {self.errors()}")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", self.port))
                except OSError:
                    return
            time.sleep(0.02)
        raise RuntimeError("sipp did not start")

    def wait(self, timeout_s: float = 60) -> int:
        assert self.process is not None
        try:
            self.returncode = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return self.returncode

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def errors(self) -> str:
        stderr = b""
        if (
            self.process is not None
            and self.process.stderr is not None
            and self.process.poll() is not None
        ):
            stderr = self.process.stderr.read()
        log = self.folder / "sipp_errors.log"
        logged = log.read_text(errors="replace") if log.exists() else ""
        return (stderr.decode(errors="replace") + logged)[-4000:]

    def messages(self) -> str:
        log = self.folder / "sipp_messages.log"
        return log.read_text(errors="replace") if log.exists() else ""


@contextlib.contextmanager
def sipp_uas(scenario: str, folder: Path, **options: object) -> Iterator[Sipp]:
    """``Sipp.uas`` as a context: killed on the way out if still running."""
    sipp = Sipp.uas(scenario, folder, **options)  # type: ignore[arg-type]
    try:
        yield sipp
    finally:
        sipp.stop()
