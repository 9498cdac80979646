"""Debian's baresip as an auto-answering callee for the SIP smoke test.

``Baresip.start(folder)`` writes a config directory in ``folder`` and runs baresip on
free loopback ports: it answers any INVITE to ``trunk`` at once (account
``answermode=auto``), sends ``source`` (a WAV file, 8 kHz mono; default a minute of
silence, since baresip hangs up when its source file ends) with no sound card (the
``aufile`` source and the ``aubridge`` player, which plays nowhere), and the ``sndfile``
filter writes what it received and sent, decoded, to ``dump-*-dec.wav`` and
``dump-*-enc.wav``. The ``ctrl_tcp`` module lets a test send commands (``sndcode 5``
sends a key as RFC 4733, ``hangup``) and wait for call events (``CALL_ESTABLISHED``,
``CALL_CLOSED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODULES = Path("/usr/lib/baresip/modules")
USER = "callee"


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def free_sip_port() -> int:
    """A port free for baresip's SIP listeners: UDP and TCP on it, TLS on the next."""
    while True:
        port = free_port(socket.SOCK_DGRAM)
        if port >= 65535:
            continue
        try:
            with contextlib.ExitStack() as stack:
                for kind, number in (
                    (socket.SOCK_STREAM, port),
                    (socket.SOCK_STREAM, port + 1),
                    (socket.SOCK_DGRAM, port + 1),
                ):
                    probe = stack.enter_context(socket.socket(socket.AF_INET, kind))
                    probe.bind(("127.0.0.1", number))
        except OSError:
            continue
        return port


def silence_wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * round(seconds * 8000))
    return path


def read_wav(path: Path) -> bytes:
    """The pcm16 frames of a WAV file baresip has finished (8 kHz mono)."""
    with wave.open(io.BytesIO(path.read_bytes())) as read:
        assert (read.getframerate(), read.getnchannels(), read.getsampwidth()) == (8000, 1, 2)
        return read.readframes(read.getnframes())


@dataclass
class Baresip:
    folder: Path
    sip_port: int
    control_port: int
    rtp_ports: tuple[int, int]
    process: asyncio.subprocess.Process | None = None
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _responses: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _listener: asyncio.Task[None] | None = None
    _calls_closed: int = 0

    @property
    def trunk(self) -> str:
        return f"sip:127.0.0.1:{self.sip_port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "baresip.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace").replace("\r", "\n")

    @classmethod
    async def start(
        cls,
        folder: Path,
        *,
        source: Path | None = None,
        rtp_ports: tuple[int, int],
        user: str = USER,
    ) -> Baresip:
        """Run baresip with its config in ``folder``; returns once it is ready and its
        control connection is open. It answers INVITEs whose Request-URI names ``user``
        (a phone number, for calls the dialer places)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "dump").mkdir(exist_ok=True)
        source = source or silence_wav(folder / "silence.wav", 60)
        sip_port = free_sip_port()
        control_port = free_port(socket.SOCK_STREAM)
        while control_port in (sip_port, sip_port + 1):
            control_port = free_port(socket.SOCK_STREAM)
        config = f"""\
poll_method epoll
sip_listen 127.0.0.1:{sip_port}
sip_trans_def udp
net_interface 127.0.0.1
ctrl_tcp_listen 127.0.0.1:{control_port}
audio_player aubridge,nowhere
audio_alert aubridge,nowhere
audio_source aufile,{source}
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports {rtp_ports[0]}-{rtp_ports[1]}
snd_path {folder / "dump"}
module_path {MODULES}
module g711.so
module account.so
module aufile.so
module aubridge.so
module sndfile.so
module ctrl_tcp.so
module_app menu.so
"""
        (folder / "config").write_text(config)
        account = f"<sip:{user}@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"
        (folder / "accounts").write_text(account)
        (folder / "contacts").write_text("")
        baresip = cls(folder, sip_port, control_port, rtp_ports)
        with baresip.log_path.open("wb") as log:
            baresip.process = await asyncio.create_subprocess_exec(
                # Line-buffered, so the log can be waited on as it happens.
                "stdbuf", "-oL", "-eL", "baresip", "-f", str(folder), "-v",
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        await baresip.wait_for_log("baresip is ready.", 15)
        baresip._reader, baresip._writer = await asyncio.open_connection("127.0.0.1", control_port)
        baresip._listener = asyncio.create_task(baresip._listen())
        return baresip

    async def wait_for_log(self, text: str, timeout_s: float = 10) -> None:
        """Until baresip's log holds ``text`` (TimeoutError after ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            while text not in self.log():
                assert self.process is not None
                if self.process.returncode is not None:
                    raise RuntimeError(f"baresip exited:\n{self.log()}")
                await asyncio.sleep(0.05)

    async def _listen(self) -> None:
        """Reads ctrl_tcp's netstrings: events and command responses."""
        assert self._reader is not None
        while True:
            length = await self._reader.readuntil(b":")
            body = await self._reader.readexactly(int(length[:-1]))
            await self._reader.readexactly(1)  # the netstring's ","
            message = json.loads(body)
            if message.get("event"):
                self._events.put_nowait(message)
            else:
                self._responses.put_nowait(message)

    async def command(self, command: str, params: str = "") -> dict[str, Any]:
        """Run a baresip command (as typed in its menu) and return its response."""
        assert self._writer is not None
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        async with asyncio.timeout(10):
            return await self._responses.get()

    async def event(self, kind: str, timeout_s: float = 15) -> dict[str, Any]:
        """The next call event of type ``kind`` (earlier events of other types are
        skipped)."""
        async with asyncio.timeout(timeout_s):
            while True:
                message = await self._events.get()
                if message.get("type") == kind:
                    return message

    async def call_closed(self) -> dict[str, Any]:
        """Waits for the next ``CALL_CLOSED`` event and for the call's audio to be
        destroyed, which is when sndfile finishes its WAV files; returns the event."""
        closed = await self.event("CALL_CLOSED")
        self._calls_closed += 1
        async with asyncio.timeout(10):  # one "audio: destroyed" per call closed
            while self.log().count("audio: destroyed") < self._calls_closed:
                await asyncio.sleep(0.05)
        return closed

    def dumps(self, direction: str) -> list[Path]:
        """The WAV files sndfile wrote: "dec" (received) or "enc" (sent), oldest first."""
        return sorted((self.folder / "dump").glob(f"dump-*-{direction}.wav"))

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(5):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
