"""RTP sessions and the engine that paces them.

One ``MediaEngine`` per driver owns a range of UDP ports and a single pacing timer.
Sessions are spread over ``SLOTS`` slots of ``TICK_S`` each (20 ms in all): every tick
the engine sends the next packet of every connected session of one slot, so each
session sends exactly every 20 ms and the work of a tick is 1/``SLOTS`` of all streams.
Tick deadlines are computed from the loop's monotonic clock (``t0 + n * TICK_S``), never
by sleeping a period after the last send, so lateness does not accumulate; a late tick
is caught up at once (a burst, which receivers' jitter buffers absorb), and after a
stall longer than ``MAX_CATCH_UP_S`` the missed ticks are dropped.

A connected session sends all the time: the prompt being played, DTMF events, and
silence otherwise (carriers' media timeouts and NAT bindings both want a steady
stream, and a far end latching symmetric RTP needs our packets). It receives audio (kept
only while recording) and RFC 4733 telephone-events, from the address and port of the
SDP answer only: anyone can send a datagram to an RTP port, and a key from elsewhere
must not count as the callee's (issue 12). A far end behind NAT, whose packets come from
elsewhere than its SDP says, needs the engine's ``latching`` (``[sip] rtp_latching``).
Everything runs on the event loop: sockets are non-blocking, written with ``sendto``, and
read with ``recvfrom`` when one poll per tick finds them readable (no reader callback per
packet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import selectors
import socket
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from math import isqrt

from vxdial.domain import g711, media
from vxdial.telephony.rtp import _audio, _packet
from vxdial.telephony.rtp._errors import MediaError

log = logging.getLogger("vxdial.rtp")

__all__ = [
    "BEEP_S",
    "DTMF_GAP_S",
    "DTMF_PAUSE_S",
    "DTMF_TONE_S",
    "DTMF_VOLUME",
    "LATCHING",
    "PACKET_SAMPLES",
    "PCMA",
    "PCMU",
    "PLAYOUT_S",
    "PTIME_S",
    "SLOTS",
    "SPEECH_RMS",
    "TICK_S",
    "Codec",
    "MediaEngine",
    "RtpSession",
    "is_speech",
]

PTIME_S = 0.020  # one packet of audio
PACKET_SAMPLES = 160  # 20 ms at 8 kHz
SLOTS = 10  # sessions are spread over this many ticks of each 20 ms
TICK_S = PTIME_S / SLOTS
MAX_CATCH_UP_S = 0.2  # a stall longer than this drops the missed ticks

DTMF_TONE_S = 0.100  # the length of each key sent (RFC 4733 event duration)
DTMF_GAP_S = 0.100  # silence after each key (the end packet's two repeats included)
DTMF_PAUSE_S = 1.0  # "p", "w" and "," in send_dtmf (RFC 3966 post-dial pauses)
DTMF_VOLUME = 10  # -10 dBm0, a typical DTMF level (RFC 4733 section 2.3.4)
END_REPEATS = 3  # RFC 4733 section 2.5.1.4: the end packet is sent three times

PLAYOUT_S = 0.1  # after a prompt's last packet, until the far end has played it
BEEP_S = 0.25  # the tone before a recording
BEEP_HZ = 1000.0
SPEECH_RMS = 300  # a 20 ms frame louder than this (about -40 dBFS) is speech, not silence
# The shortest silence that ends a recording: less is the gap between two packets of
# speech (a final silence of 0 would end it inside the first word).
MIN_SILENCE_S = 0.1
MAX_TIME_GRACE_S = 0.1  # how long after max_time_s the clock ends a silent recording
MAX_GAP_SAMPLES = 8000 * 10  # a longer jump of the timestamps is a new stream, not a gap
# Where media is accepted from besides the SDP answer's address and port, before the
# first packet from there: nowhere ("off"), another port of that host ("host": a NAT
# that keeps the address but not the port), or any address ("any": a far end behind a
# NAT that writes its private address in its SDP). The first such packet moves the
# stream there for good (symmetric RTP, RFC 4961); see docs/MEDIA.md.
LATCHING = ("off", "host", "any")
_DSCP_EF = 46  # expedited forwarding, the class of voice
_RECENT_EVENTS = 32  # telephone-event timestamps remembered to count each key once
_ENCODED_CACHE = 32  # prompts kept encoded (the same prompt is played on many calls)

# In-band DTMF (ITU-T Q.23) for a far end that did not accept telephone-events.
_DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
_DTMF_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
_DTMF_GRID = ("123A", "456B", "789C", "*0#D")


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP audio codec: G.711 µ-law ("PCMU", payload type 0) or A-law ("PCMA", 8)."""

    name: str
    payload_type: int
    clock_rate: int = 8000


PCMU = Codec("PCMU", 0)
PCMA = Codec("PCMA", 8)
_CODECS_BY_PT = {PCMU.payload_type: PCMU, PCMA.payload_type: PCMA}
_SILENCE = {  # one packet of silence per codec name
    "PCMU": bytes([g711.ULAW_SILENCE]) * PACKET_SAMPLES,
    "PCMA": bytes([g711.ALAW_SILENCE]) * PACKET_SAMPLES,
}


class MediaEngine:
    """Owns the RTP ports ``port_min``..``port_max`` on ``bind_host`` (even ports; RTCP is
    not used, so odd ports stay free) and the pacing timer of every session.

    ``telephone_event_pt`` is the payload type we offer for RFC 4733 events (incoming
    events are accepted on it and on whatever ``connect`` was given). ``latching`` (one
    of ``LATCHING``) says where else than the SDP answer's address media may come from;
    ``packets_dropped`` counts the datagrams refused for their source. For benchmarks,
    ``measure_send_deviation()`` starts recording, per packet sent, how late it left
    relative to its deadline (seconds) into ``send_deviations_s``.
    """

    def __init__(
        self,
        *,
        bind_host: str,
        port_min: int,
        port_max: int,
        telephone_event_pt: int = 101,
        latching: str = "off",
    ) -> None:
        if not 0 < port_min <= port_max <= 65535:
            raise ValueError(f"bad RTP port range {port_min}-{port_max}")
        if latching not in LATCHING:
            raise ValueError(f"latching must be one of {', '.join(LATCHING)}")
        self.latching = latching
        self.packets_dropped = 0
        self.bind_host = bind_host
        self.port_min = port_min
        self.port_max = port_max
        self.telephone_event_pt = telephone_event_pt
        first = port_min + (port_min & 1)
        # FIFO: a port just released goes last, so late packets of an ended call are
        # unlikely to reach the next call.
        self._free_ports = deque(range(first, port_max + 1, 2))
        self._family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self._slots: list[list[RtpSession]] = [[] for _ in range(SLOTS)]
        self._sessions: set[RtpSession] = set()
        # Every session's socket, polled (never waited on) once per tick.
        self._readable = selectors.DefaultSelector()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_tick_at = 0.0
        self._tick = 0
        self._encoded: OrderedDict[tuple[bytes, str], bytes] = OrderedDict()
        self.send_deviations_s: list[float] | None = None
        self.packets_sent = 0
        self.ticks_dropped = 0

    @property
    def sessions_open(self) -> int:
        return len(self._sessions)

    def measure_send_deviation(self, enabled: bool = True) -> None:
        """Start (with a fresh list) or stop recording ``send_deviations_s``."""
        self.send_deviations_s = [] if enabled else None

    async def open_session(self) -> RtpSession:
        """A session bound to a free even port of the range (what the SDP offer
        announces). Raises ``MediaError`` when every port is taken. The session must
        be closed (``await session.close()``), which returns its port."""
        self._loop = asyncio.get_running_loop()
        for _ in range(len(self._free_ports)):
            port = self._free_ports.popleft()
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            try:
                sock.bind((self.bind_host, port))
            except OSError:  # taken by another program: try it again later
                sock.close()
                self._free_ports.append(port)
                continue
            sock.setblocking(False)
            # DSCP EF (46, RFC 3246/4594): networks that honour it queue voice first.
            with contextlib.suppress(OSError):
                if self._family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, _DSCP_EF << 2)
                else:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, _DSCP_EF << 2)
            session = RtpSession(self, sock, port)
            self._sessions.add(session)
            self._readable.register(sock, selectors.EVENT_READ, session)
            return session
        raise MediaError(f"no free RTP port in {self.port_min}-{self.port_max} on {self.bind_host}")

    async def aclose(self) -> None:
        """Close every session still open and stop the pacing timer."""
        for session in list(self._sessions):
            await session.close()
        self._stop_timer()
        self._readable.close()

    # Called by sessions.

    def _release(self, session: RtpSession) -> None:
        self._detach(session)
        if session in self._sessions:
            self._sessions.discard(session)
            self._readable.unregister(session._sock)
            self._free_ports.append(session.local_port)

    def _attach(self, session: RtpSession) -> None:
        if session.slot is not None:
            return
        index = min(range(SLOTS), key=lambda i: len(self._slots[i]))
        self._slots[index].append(session)
        session.slot = index
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._loop = loop
            self._next_tick_at = loop.time()
            self._timer = loop.call_at(self._next_tick_at, self._on_tick)

    def _detach(self, session: RtpSession) -> None:
        if session.slot is None:
            return
        self._slots[session.slot].remove(session)
        session.slot = None
        if not any(self._slots):
            self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _encode(self, pcm: bytes, codec: Codec) -> bytes:
        # bytes cache their hash, and the same prompt object (the speech renderer's
        # cache entry) is played on many calls: the lookup is cheap.
        key = (pcm, codec.name)
        encoded = self._encoded.get(key)
        if encoded is None:
            encoded = g711.encode(pcm, codec.name)
            self._encoded[key] = encoded
            if len(self._encoded) > _ENCODED_CACHE:
                self._encoded.popitem(last=False)
        else:
            self._encoded.move_to_end(key)
        return encoded

    def _on_tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        if now - self._next_tick_at > MAX_CATCH_UP_S:
            missed = int((now - self._next_tick_at) / TICK_S)
            self.ticks_dropped += missed
            self._tick = (self._tick + missed) % SLOTS
            self._next_tick_at += missed * TICK_S
        deviations = self.send_deviations_s
        failed: list[RtpSession] = []
        while self._next_tick_at <= now:
            due = self._next_tick_at
            slot = self._slots[self._tick]
            for session in slot:
                try:
                    session._send_next()
                except Exception:  # a bug in one stream must not stop the others
                    log.exception("rtp.stream_failed port=%d", session.local_port)
                    failed.append(session)
                if deviations is not None:
                    deviations.append(time.monotonic() - due)
            self.packets_sent += len(slot)
            self._tick = (self._tick + 1) % SLOTS
            self._next_tick_at += TICK_S
        # Then what arrived: one non-blocking poll of every session's socket per tick
        # costs far less than a loop wakeup per packet (an epoll event and a callback
        # each), and reads only the sockets that have something.
        for key, _ in self._readable.select(0):
            session = key.data
            try:
                session._drain()
            except Exception:
                log.exception("rtp.stream_failed port=%d", session.local_port)
                failed.append(session)
        for session in dict.fromkeys(failed):  # it stops (once); what waits on it is told
            self._detach(session)
            session._fail_sending(MediaError("the RTP stream failed (see the log)"))
        if self._timer is not None:
            self._timer = self._loop.call_at(self._next_tick_at, self._on_tick)


class _Playback:
    __slots__ = ("codec", "done", "interruptible", "payload", "position")

    def __init__(
        self, payload: bytes, codec: Codec, interruptible: bool, done: asyncio.Future[None]
    ) -> None:
        self.payload = payload
        self.codec = codec
        self.interruptible = interruptible
        self.done = done
        self.position = 0


# One step of send_dtmf per packet time: (event, end, duration, first) or None (silence).
_DtmfStep = tuple[int, bool, int, bool] | None


class _Recorder:
    def __init__(self, dtmf_term: bool, max_samples: int | None) -> None:
        self.dtmf_term = dtmf_term
        self.max_samples = max_samples
        self.samples = 0
        self.max_reached = False
        self.frames: list[bytes] = []  # pcm16: each packet received, and gaps as silence
        self.speech_frames = 0  # frames up to and including the last one with speech
        self.last_speech_at: float | None = None
        self.termchar: str | None = None
        self.ssrc: int | None = None
        self.next_timestamp: int | None = None  # the RTP timestamp the next packet should have
        self.stopped = asyncio.Event()


class RtpSession:
    """One call's media: an RTP port, the far end's address, what is being played.

    Made by ``MediaEngine.open_session``; ``connect`` (from the SDP answer) starts the
    stream. ``play``, ``send_dtmf`` and ``record`` may be awaited one at a time each;
    once ``close`` has been called they raise ``MediaError`` (the leg turns that into a
    hangup), and so do the ones waiting at that moment.
    """

    def __init__(self, engine: MediaEngine, sock: socket.socket, port: int) -> None:
        self.local_host = engine.bind_host
        self.local_port = port
        self.packets_sent = 0
        self.packets_received = 0
        self.slot: int | None = None  # the engine's pacing slot while connected
        self.remote: tuple[str, int] | None = None  # where we send, and accept from
        self.packets_dropped = 0  # received from elsewhere than ``remote``: refused
        self.codec = PCMU
        self.telephone_event_pt: int | None = None
        self._engine = engine
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._latched = False  # ``remote`` moved to where the far end's packets come from
        self._heard_remote = False  # a packet came from the SDP answer's address: no latching
        self._closed = False
        self._ssrc = random.getrandbits(32)
        self._sequence = random.getrandbits(16)  # RFC 3550: random initial values
        self._timestamp = random.getrandbits(32)
        self._marker = True  # the first packet of the stream starts a talkspurt
        self._playbacks: deque[_Playback] = deque()
        self._dtmf_steps: deque[_DtmfStep] = deque()
        self._dtmf_done: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._dtmf_steps_sent = 0
        self._event_timestamp = 0
        self._digits = ""
        self._digit_arrived = asyncio.Event()
        self._recent_events: deque[tuple[int, int]] = deque(maxlen=_RECENT_EVENTS)
        self._last_event: tuple[int, int, int] | None = None  # ssrc, event, timestamp
        self._recorder: _Recorder | None = None
        self._silence = _SILENCE

    def connect(
        self, remote_host: str, remote_port: int, codec: Codec, telephone_event_pt: int | None
    ) -> None:
        """Send to ``remote_host:remote_port`` with ``codec`` (from the SDP answer, and
        again after a re-INVITE); ``telephone_event_pt`` None means the far end takes no
        RFC 4733 events (``send_dtmf`` then plays tones). Media is accepted from this
        address and port only, unless the engine's ``latching`` allows the first packet
        from elsewhere (before any from here) to move the stream there (symmetric RTP,
        RFC 4961), which is what a far end behind NAT needs.

        Raises ``MediaError`` for a codec other than G.711 or an address that does not
        resolve (an SDP may name a host; it is resolved here, once)."""
        self._check_open()
        if codec.name not in _SILENCE:
            raise MediaError(f"codec {codec.name} is not supported (PCMU and PCMA are)")
        try:
            address = socket.getaddrinfo(
                remote_host, remote_port, self._sock.family, socket.SOCK_DGRAM
            )[0][4]
        except (OSError, IndexError) as exc:
            raise MediaError(f"cannot send RTP to {remote_host}:{remote_port}: {exc}") from exc
        self.remote = (str(address[0]), int(address[1]))
        self.codec = codec
        self.telephone_event_pt = telephone_event_pt
        self._latched = False
        self._heard_remote = False
        self._engine._attach(self)

    async def play(self, pcm: bytes, *, interruptible: bool) -> str:
        """Play ``pcm`` (16-bit signed little-endian mono, 8 kHz) as 20 ms packets (the
        last one padded with silence); returns ``PLAYOUT_S`` after the last packet is
        sent (when the far end has played it), with the keys received meanwhile (and
        those waiting before it started), taken from the buffer. ``interruptible``: a
        key stops it at once, and keys already waiting mean it does not start."""
        self._check_open()
        self._check_sending("play")
        if interruptible and self._digits:
            return self.take_digits()
        if pcm:
            done: asyncio.Future[None] = self._loop.create_future()
            job = _Playback(self._engine._encode(pcm, self.codec), self.codec, interruptible, done)
            self._playbacks.append(job)
            try:
                await done
            finally:
                if job in self._playbacks:
                    self._playbacks.remove(job)
            if not (interruptible and self._digits):
                await self._played_out(interruptible)
        return self.take_digits()

    async def _played_out(self, interruptible: bool) -> None:
        """Wait ``PLAYOUT_S`` after the last packet, the time the far end takes to
        play it (its jitter buffer), so that what comes next (a hangup, the input
        timeout) starts when the callee has heard it; a key cuts it short when
        ``interruptible``."""
        deadline = self._loop.time() + PLAYOUT_S
        while not (interruptible and self._digits):
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                break
            self._digit_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._digit_arrived.wait(), remaining)
            self._check_open()
        self._check_open()

    async def next_digit(self, timeout_s: float) -> str | None:
        """The next key received (RFC 4733), oldest first; None after ``timeout_s``."""
        deadline = self._loop.time() + timeout_s
        while not self._digits:
            self._check_open()
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return None
            self._digit_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._digit_arrived.wait(), remaining)
        key, self._digits = self._digits[0], self._digits[1:]
        return key

    def take_digits(self) -> str:
        """The keys received and not yet taken (emptying the buffer)."""
        digits, self._digits = self._digits, ""
        return digits

    async def send_dtmf(self, digits: str) -> None:
        """Send ``digits`` (0-9, *, #, A-D) as RFC 4733 events: each key ``DTMF_TONE_S``
        long (a packet every 20 ms, the end packet sent three times) then
        ``DTMF_GAP_S`` of silence; "p", "w" and "," (RFC 3966 post-dial) pause
        ``DTMF_PAUSE_S``. Without a negotiated telephone-event type the keys are played
        as in-band tones (ITU-T Q.23). Returns when everything has been sent; prompts
        played meanwhile wait."""
        self._check_open()
        self._check_sending("send_dtmf")
        steps = _dtmf_steps(digits)  # checks the keys
        if self.telephone_event_pt is None:
            await self.play(_inband_dtmf(digits), interruptible=False)
            return
        done: asyncio.Future[None] = self._loop.create_future()
        self._dtmf_steps.extend(steps)
        self._dtmf_done.append((self._dtmf_steps_sent + len(self._dtmf_steps), done))
        await done
        await self._played_out(interruptible=False)

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> media.Recording:
        """Record what the far end sends (a ``BEEP_S`` tone first if ``beep``).

        Ends ``final_silence_s`` after the last speech (a 20 ms frame above
        ``SPEECH_RMS``; after the start if nobody speaks), at ``max_time_s`` (0: no
        limit), or at a key when ``dtmf_term`` (keys are otherwise part of the audio
        and dropped). The WAV holds the audio up to the last speech (the final silence
        is trimmed; at the maximum time it is kept whole); nobody speaking gives an
        empty one with ``duration_s`` 0.
        """
        self._check_open()
        max_samples = round(max_time_s * _audio.RATE_HZ) if max_time_s > 0 else None
        recorder = _Recorder(dtmf_term, max_samples)
        if beep:
            # A key during the beep counts as one during the recording; keys typed
            # before it stay where they were, for the application.
            waiting = self.take_digits()
            keys = await self.play(_beep(), interruptible=dtmf_term)
            self._digits = waiting + self._digits
            if keys and dtmf_term:
                return media.Recording(media.pcm16_wav(b""), 0.0, keys[0])
        self._drain()  # what arrived before now is not part of the recording
        self._recorder = recorder
        started = self._loop.time()
        try:
            while not recorder.stopped.is_set():
                self._check_open()
                now = self._loop.time()
                silence_from = recorder.last_speech_at or started
                deadline = silence_from + max(final_silence_s, MIN_SILENCE_S)
                # The maximum time is counted in audio received (exact whatever the
                # network's delay); the clock ends it only for a far end that stops
                # sending, a little later, for packets still on their way.
                if max_time_s > 0 and started + max_time_s + MAX_TIME_GRACE_S <= deadline:
                    deadline = started + max_time_s + MAX_TIME_GRACE_S
                    if now >= deadline:
                        recorder.max_reached = True
                        break
                if now >= deadline:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(recorder.stopped.wait(), deadline - now)
            self._check_open()
        finally:
            self._recorder = None
        max_reached = recorder.max_reached
        if recorder.speech_frames == 0:
            return media.Recording(
                media.pcm16_wav(b""), 0.0, recorder.termchar, max_time_reached=max_reached
            )
        kept = recorder.frames if max_reached else recorder.frames[: recorder.speech_frames]
        pcm = b"".join(kept)
        if max_time_s > 0:
            pcm = pcm[: 2 * round(max_time_s * _audio.RATE_HZ)]
        return media.Recording(
            media.pcm16_wav(pcm),
            len(pcm) / 2 / _audio.RATE_HZ,
            recorder.termchar,
            max_time_reached=max_reached,
        )

    async def close(self) -> None:
        """Stop sending, release the port; waiting operations raise ``MediaError``."""
        if self._closed:
            return
        self._closed = True
        self._engine._release(self)
        self._sock.close()
        self._fail_sending(MediaError("the media session is closed"))
        self._digit_arrived.set()
        if self._recorder is not None:
            self._recorder.stopped.set()

    def _fail_sending(self, error: MediaError) -> None:
        """Prompts and keys waiting to be sent will not be: their awaits raise ``error``."""
        for job in self._playbacks:
            if not job.done.done():
                job.done.set_exception(error)
                job.done.exception()  # the waiter may be gone: do not warn
        self._playbacks.clear()
        for _, done in self._dtmf_done:
            if not done.done():
                done.set_exception(error)
                done.exception()
        self._dtmf_done.clear()
        self._dtmf_steps.clear()

    def _check_sending(self, operation: str) -> None:
        if self.remote is None:
            raise MediaError(f"{operation} before connect: the far end's address is not known")
        if self.slot is None:
            raise MediaError(f"{operation}: the RTP stream failed (see the log)")

    def _check_open(self) -> None:
        if self._closed:
            raise MediaError("the media session is closed")

    # The pacing loop's side: called by the engine once per 20 ms.

    def _send_next(self) -> None:
        timestamp = self._timestamp
        self._timestamp = (timestamp + PACKET_SAMPLES) & 0xFFFFFFFF
        marker = self._marker
        if self._dtmf_steps:
            step = self._dtmf_steps.popleft()
            self._dtmf_steps_sent += 1
            if step is None:
                payload_type = self.codec.payload_type
                payload = self._silence[self.codec.name]
            else:
                code, end, duration, first = step
                if first:
                    self._event_timestamp = timestamp
                    marker = True
                assert self.telephone_event_pt is not None
                payload_type = self.telephone_event_pt
                payload = _packet.pack_event(code, end=end, volume=DTMF_VOLUME, duration=duration)
                timestamp = self._event_timestamp  # RFC 4733 2.5.1.2: the event's start
            while self._dtmf_done and self._dtmf_done[0][0] <= self._dtmf_steps_sent:
                _, done = self._dtmf_done.popleft()
                if not done.done():
                    done.set_result(None)
        elif self._playbacks:
            job = self._playbacks[0]
            payload_type = job.codec.payload_type
            start = job.position
            payload = job.payload[start : start + PACKET_SAMPLES]
            job.position = start + PACKET_SAMPLES
            if job.position >= len(job.payload):
                if len(payload) < PACKET_SAMPLES:
                    payload += self._silence[job.codec.name][len(payload) :]
                self._playbacks.popleft()
                if not job.done.done():
                    job.done.set_result(None)
        else:
            payload_type = self.codec.payload_type
            payload = self._silence[self.codec.name]
        self._marker = False
        assert self.remote is not None
        packet = (
            _packet.HEADER.pack(
                0x80,
                (0x80 if marker else 0) | payload_type,
                self._sequence,
                timestamp,
                self._ssrc,
            )
            + payload
        )
        self._sequence = (self._sequence + 1) & 0xFFFF
        try:
            self._sock.sendto(packet, self.remote)
        except OSError:  # a full buffer or an ICMP error: RTP drops, it does not retry
            return
        self.packets_sent += 1

    # The receiving side.

    def _drain(self) -> None:
        for _ in range(64):  # bounded, so one flooded port cannot starve the loop
            try:
                data, source = self._sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error reported on the socket
                return
            self._on_datagram(data, source)

    def _accepts(self, source: tuple[str, int]) -> bool:
        """Whether media from ``source`` is the far end's (the SDP answer's address, or
        where the engine's ``latching`` let the stream move); moves it if so."""
        remote = self.remote
        if remote is None:
            return False  # no answer yet: nobody's media to hear
        if source[0] == remote[0] and source[1] == remote[1]:
            self._heard_remote = True
            return True
        latching = self._engine.latching
        if (
            self._latched
            or self._heard_remote
            or latching == "off"
            or (latching == "host" and source[0] != remote[0])
        ):
            return False
        self._latched = True
        self.remote = (source[0], source[1])
        log.info(
            "rtp.latched port=%d announced=%s:%d source=%s:%d",
            self.local_port,
            remote[0],
            remote[1],
            source[0],
            source[1],
        )
        return True

    def _on_datagram(self, data: bytes, source: tuple[str, int]) -> None:
        if not self._accepts(source):
            self.packets_dropped += 1
            self._engine.packets_dropped += 1
            if self.packets_dropped == 1:  # once per call: a flood must not flood the log
                log.warning(
                    "rtp.packet_refused port=%d source=%s:%d expected=%s",
                    self.local_port,
                    source[0],
                    source[1],
                    "none yet" if self.remote is None else f"{self.remote[0]}:{self.remote[1]}",
                )
            return
        if len(data) < _packet.HEADER.size or data[0] & 0xC0 != 0x80:
            return  # not RTP version 2
        payload_type = data[1] & 0x7F
        is_event = payload_type in (self.telephone_event_pt, self._engine.telephone_event_pt)
        # The negotiated type first (an answer may name G.711 with a dynamic number).
        codec = self.codec if payload_type == self.codec.payload_type else None
        codec = codec or _CODECS_BY_PT.get(payload_type)
        if not is_event and codec is None:
            return
        self.packets_received += 1
        if not is_event and self._recorder is None:
            return  # audio nobody records: the common case, done without parsing
        packet = _packet.parse_packet(data)
        if packet is None:
            return
        if is_event:
            event = _packet.parse_event(packet.payload)
            if event is None or event.key is None:
                return
            identity = (packet.ssrc, packet.timestamp)
            if identity in self._recent_events:
                return  # a later packet (or a repeated end packet) of a known event
            self._recent_events.append(identity)
            # RFC 4733 section 2.5.2.3: an event longer than 0xFFFF units goes on in a
            # new segment, timestamped where the last one ended: the same key held.
            last = self._last_event
            held = (
                last is not None
                and last[:2] == (packet.ssrc, event.event)
                and packet.timestamp == (last[2] + 0xFFFF) & 0xFFFFFFFF
            )
            self._last_event = (packet.ssrc, event.event, packet.timestamp)
            if not held:
                self._on_key(event.key)
        elif self._recorder is not None and codec is not None:
            self._on_audio(self._recorder, packet, codec)

    def _on_key(self, key: str) -> None:
        recorder = self._recorder
        if recorder is not None:
            if recorder.dtmf_term and recorder.termchar is None:
                recorder.termchar = key
                recorder.stopped.set()
            return  # while recording, a key is either its end or part of the audio
        self._digits += key
        self._digit_arrived.set()
        if self._playbacks and self._playbacks[0].interruptible:
            job = self._playbacks.popleft()
            if not job.done.done():
                job.done.set_result(None)

    def _on_audio(self, recorder: _Recorder, packet: _packet.RtpPacket, codec: Codec) -> None:
        payload = packet.payload
        if recorder.next_timestamp is not None and packet.ssrc == recorder.ssrc:
            gap = (packet.timestamp - recorder.next_timestamp) & 0xFFFFFFFF
            if gap >= 0x80000000:
                return  # late (reordered or duplicated): its place has passed
            if 0 < gap <= MAX_GAP_SAMPLES:  # lost packets or silence suppression
                recorder.frames.append(b"\0\0" * gap)  # keep the time, as silence
                recorder.samples += gap
        recorder.ssrc = packet.ssrc
        recorder.next_timestamp = (packet.timestamp + len(payload)) & 0xFFFFFFFF
        recorder.frames.append(g711.decode(payload, codec.name))
        recorder.samples += len(payload)
        if is_speech(payload, codec.name):
            recorder.speech_frames = len(recorder.frames)
            recorder.last_speech_at = self._loop.time()
        if recorder.max_samples is not None and recorder.samples >= recorder.max_samples:
            recorder.max_reached = True  # the maximum time, counted in audio received
            recorder.stopped.set()


def is_speech(payload: bytes, codec_name: str) -> bool:
    """Whether a frame of G.711 codes is speech (RMS above ``SPEECH_RMS``) rather than
    silence or line noise; computed from the squared level of each code, undecoded."""
    if not payload:
        return False
    squares = g711.squared_amplitudes(codec_name)
    return isqrt(sum(map(squares.__getitem__, payload)) // len(payload)) > SPEECH_RMS


def _dtmf_steps(digits: str) -> list[_DtmfStep]:
    steps: list[_DtmfStep] = []
    tone_packets = round(DTMF_TONE_S / PTIME_S)
    gap_packets = round(DTMF_GAP_S / PTIME_S)
    pause_packets = round(DTMF_PAUSE_S / PTIME_S)
    for key in digits:
        if key in "pPwW,":
            steps.extend([None] * pause_packets)
            continue
        code = _packet.event_code(key)
        for index in range(1, tone_packets):
            steps.append((code, False, index * PACKET_SAMPLES, index == 1))
        final = tone_packets * PACKET_SAMPLES
        steps.extend((code, True, final, tone_packets == 1 and n == 0) for n in range(END_REPEATS))
        steps.extend([None] * max(0, gap_packets - (END_REPEATS - 1)))
    return steps


def _inband_dtmf(digits: str) -> bytes:
    """``digits`` as ITU-T Q.23 tones, with the timing of the RFC 4733 events."""
    chunks: list[bytes] = []
    for key in digits:
        if key in "pPwW,":
            chunks.append(b"\0\0" * round(DTMF_PAUSE_S * _audio.RATE_HZ))
            continue
        key = _packet.DTMF_EVENTS[_packet.event_code(key)]
        row = next(i for i, keys in enumerate(_DTMF_GRID) if key in keys)
        column = _DTMF_GRID[row].index(key)
        chunks.append(
            _audio.tone((_DTMF_ROWS[row], _DTMF_COLUMNS[column]), DTMF_TONE_S, amplitude=6000)
        )
        chunks.append(b"\0\0" * round(DTMF_GAP_S * _audio.RATE_HZ))
    return b"".join(chunks)


_BEEP_PCM: bytes | None = None


def _beep() -> bytes:
    global _BEEP_PCM
    if _BEEP_PCM is None:
        _BEEP_PCM = _audio.tone((BEEP_HZ,), BEEP_S)
    return _BEEP_PCM
