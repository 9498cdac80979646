"""Text-to-speech: espeak-ng renders, SoX resamples to 8 kHz, a cache remembers.

``espeak-ng --stdout`` writes a 22,050 Hz WAV; SoX (``sox -t wav - -t raw -r 8000 ...``)
low-pass filters and resamples it into pcm16 at 8 kHz, better than a plain decimation.
The two run as one pipeline (espeak-ng's stdout is SoX's stdin). Text goes in on stdin,
never on the command line, so no text is ever read as an option.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections import OrderedDict
from pathlib import Path

from vxdial.telephony.rtp._errors import MediaError

__all__ = ["SpeechRenderer"]

_Key = tuple[str, str, bool]  # text, voice, SSML or not
_VOICE = re.compile(r"[A-Za-z0-9_+\-]{1,64}")
_SOX_TO_PCM16_8K = (
    "sox", "-q", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-c", "1", "-b", "16",
    "-e", "signed-integer", "-L", "-",
)  # fmt: skip


class SpeechRenderer:
    """Renders text as pcm16 mono at 8 kHz with espeak-ng (Debian's ``espeak-ng``) and
    SoX (``sox``).

    Renders are cached by (text, voice): in memory (the ``memory_entries`` most recently
    used) and, with ``cache_dir``, on disk (one file per rendering, named by a hash,
    written atomically). Concurrent renders of the same text share one process, and at
    most ``max_processes`` renders (default: one per core) run at once.
    ``processes_started`` counts espeak-ng runs. An unknown voice name is spoken with
    espeak-ng's default voice (espeak-ng falls back without an error).
    """

    def __init__(
        self,
        *,
        voice: str = "en-us",
        cache_dir: Path | None = None,
        memory_entries: int = 256,
        max_processes: int | None = None,
    ) -> None:
        self.voice = self._checked_voice(voice)
        self._cache_dir = cache_dir
        self._memory: OrderedDict[_Key, bytes] = OrderedDict()
        self._memory_entries = memory_entries
        self._pending: dict[_Key, asyncio.Task[bytes]] = {}
        # Renders at once (each an espeak-ng and a SoX process): a campaign of
        # personalised prompts must not start a process pair per call at once.
        self._processes = asyncio.Semaphore(max_processes or os.cpu_count() or 2)
        self.processes_started = 0

    async def render(self, text: str, voice: str | None = None, *, ssml: bool = False) -> bytes:
        """``text`` spoken by ``voice`` (default: the renderer's) as pcm16 8 kHz mono;
        ``ssml``: ``text`` is an SSML ``<speak>`` document (a prompt's ``ssml``), read
        by espeak-ng's SSML mode (breaks, emphasis, prosody, say-as characters).
        Raises ``MediaError`` if the voice name is malformed or espeak-ng/SoX fail."""
        key = (text, self._checked_voice(voice) if voice else self.voice, ssml)
        cached = self._memory.get(key)
        if cached is not None:
            self._memory.move_to_end(key)
            return cached
        task = self._pending.get(key)
        if task is None:
            # One task per text: every caller awaits it shielded, so a caller cancelled
            # while others wait (or while it fills the cache) does not stop it.
            task = asyncio.ensure_future(self._load_or_render(*key))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(task)

    def _settle(self, key: _Key, task: asyncio.Task[bytes]) -> None:
        del self._pending[key]
        if not task.cancelled() and task.exception() is None:
            self._remember(key, task.result())

    def _remember(self, key: _Key, pcm: bytes) -> None:
        self._memory[key] = pcm
        while len(self._memory) > self._memory_entries:
            self._memory.popitem(last=False)

    async def _load_or_render(self, text: str, voice: str, ssml: bool) -> bytes:
        path = self._disk_path(text, voice, ssml)
        if path is not None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                pass
        async with self._processes:
            pcm = await self._run(text, voice, ssml)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(pcm)
            os.replace(temporary, path)
        return pcm

    def _disk_path(self, text: str, voice: str, ssml: bool) -> Path | None:
        if self._cache_dir is None:
            return None
        kind = "ssml" if ssml else "text"
        digest = hashlib.sha256(f"{voice}\0{kind}\0{text}".encode()).hexdigest()
        return self._cache_dir / f"{digest[:2]}" / f"{digest}.pcm16-8k"

    async def _run(self, text: str, voice: str, ssml: bool) -> bytes:
        read_end, write_end = os.pipe()
        espeak: asyncio.subprocess.Process | None = None
        try:
            self.processes_started += 1
            espeak = await asyncio.create_subprocess_exec(
                "espeak-ng", "-v", voice, *(["-m"] if ssml else []), "--stdin", "--stdout",
                stdin=asyncio.subprocess.PIPE, stdout=write_end,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            sox = await asyncio.create_subprocess_exec(
                *_SOX_TO_PCM16_8K,
                stdin=read_end,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            if espeak is not None:  # SoX did not start: espeak-ng would wait for ever
                espeak.kill()
                await espeak.communicate()
            raise MediaError(f"text-to-speech: cannot start espeak-ng/sox: {exc}") from exc
        finally:
            os.close(read_end)
            os.close(write_end)
        try:
            (_, espeak_err), (pcm, sox_err) = await asyncio.gather(
                espeak.communicate(text.encode()), sox.communicate()
            )
        except BaseException:
            for process in (espeak, sox):
                if process.returncode is None:
                    process.kill()
            await asyncio.gather(espeak.wait(), sox.wait())
            raise
        if espeak.returncode != 0:
            message = espeak_err.decode(errors="replace").strip()
            raise MediaError(f"text-to-speech: espeak-ng -v {voice} failed: {message}")
        if sox.returncode != 0:
            raise MediaError(f"text-to-speech: sox failed: {sox_err.decode(errors='replace')}")
        return pcm

    @staticmethod
    def _checked_voice(voice: str) -> str:
        if not _VOICE.fullmatch(voice):
            raise MediaError(f"text-to-speech: malformed voice name {voice!r}")
        return voice
