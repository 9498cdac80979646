"""The real carrier (``[telephony] driver = "sip"``, PRODUCT.md section 4): a SIP user
agent calling through one trunk, with G.711 RTP media.

``SipDriver.dial`` sends an INVITE (SDP offer: the configured codecs and RFC 4733
telephone-event) and maps its final response to an outcome, with the status line as
the cause ("SIP 486 Busy Here"):

- 2xx: answer, ``callee_type`` "voice" (no answering-machine detection: a machine
  that answers is a voice to us);
- 486, 600: busy; 408, 480 and our ring timeout (the INVITE is CANCELled): noanswer;
- 603: rejected;
- anything else, no response at all (Timer B) and transport errors: unreachable.

The driver enforces the trunk's limits itself: ``[sip] cps`` INVITEs per second
(spaced evenly, on the project's ``Clock``) and ``[sip] max_calls`` calls at once
(a call holds its slot from its INVITE until its BYE).

An answered call's ``SipLeg`` speaks through an RTP session (telephony/rtp): prompts
rendered by text-to-speech or fetched audio, keys received as RFC 4733 events. The far
end's BYE ends whatever the leg is doing with ``media.Hangup``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from vxdial import config
from vxdial.domain import calls, errors, media
from vxdial.domain.clock import Clock, to_epoch_s
from vxdial.telephony import rtp
from vxdial.telephony.base import DialRequest, DialResult
from vxdial.telephony.sip import digest, sdp
from vxdial.telephony.sip.message import Response
from vxdial.telephony.sip.transaction import Timers, TransactionTimeout, TransportError
from vxdial.telephony.sip.ua import ANONYMOUS, Call, Identity, UserAgent

__all__ = ["AudioFetch", "MediaSession", "MediaSessions", "SipDriver", "SipLeg", "outcome_of"]

log = logging.getLogger("vxdial.sip")

T = TypeVar("T")

TELEPHONE_EVENT_PT = 101
CODECS = {"PCMU": rtp.PCMU, "PCMA": rtp.PCMA}
TRANSFERRED = "transferred"
WE_HUNG_UP = "we hung up"


class MediaSession(Protocol):
    """What a leg needs of an RTP session (``rtp.RtpSession``)."""

    @property
    def local_host(self) -> str: ...
    @property
    def local_port(self) -> int: ...

    def connect(
        self, remote_host: str, remote_port: int, codec: rtp.Codec, telephone_event_pt: int | None
    ) -> None: ...
    async def play(self, pcm: bytes, *, interruptible: bool) -> str: ...
    async def next_digit(self, timeout_s: float) -> str | None: ...
    def take_digits(self) -> str: ...
    async def send_dtmf(self, digits: str) -> None: ...
    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> media.Recording: ...
    async def close(self) -> None: ...


class MediaSessions(Protocol):
    """Where RTP sessions come from (``rtp.MediaEngine``)."""

    async def open_session(self) -> MediaSession: ...
    async def aclose(self) -> None: ...


# Fetch an audio file: (body, content type); raises errors.Unavailable when it cannot.
AudioFetch = Callable[[str], Awaitable[tuple[bytes, str | None]]]


def outcome_of(status: int) -> calls.Outcome:
    """The outcome of a final response to an INVITE (PRODUCT.md section 4)."""
    if 200 <= status < 300:
        return calls.Outcome.ANSWER
    if status in (486, 600):
        return calls.Outcome.BUSY
    if status in (408, 480):
        return calls.Outcome.NOANSWER
    if status == 603:
        return calls.Outcome.REJECTED
    return calls.Outcome.UNREACHABLE


_UNSPECIFIED_HOSTS = frozenset({"", "0.0.0.0", "::"})


def advertised_address(bind_host: str, trunk: tuple[str, int]) -> str:
    """The address to write into Via, Contact and the SDP when ``[sip] advertise`` is
    unset: the bind host, or for a wildcard bind, the local address the system routes
    towards the trunk (a connected UDP socket sends nothing). Raises
    ``errors.InvalidInput("sip.advertise")`` when no route can be found."""
    if bind_host not in _UNSPECIFIED_HOSTS:
        return bind_host
    family = socket.AF_INET6 if bind_host == "::" else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(trunk)
            return str(probe.getsockname()[0])
    except OSError as error:
        raise errors.InvalidInput(
            "sip.advertise",
            f"no route towards the trunk {trunk[0]}:{trunk[1]} ({error.strerror or error});"
            " set the address the trunk reaches us at",
        ) from error


class CallsPerSecond:
    """INVITEs spaced at least 1/cps apart (no bursts: trunks count per second and
    refuse beyond), on the project's clock."""

    def __init__(self, cps: float, clock: Clock) -> None:
        self._gap_s = 1.0 / cps
        self._clock = clock
        self._next_s = 0.0

    async def take(self) -> None:
        now_s = self._clock.now().timestamp()
        slot_s = max(now_s, self._next_s)
        self._next_s = slot_s + self._gap_s
        if slot_s > now_s:
            await self._clock.sleep(slot_s - now_s)


class SipDriver:
    """A ``Driver`` that calls through ``[sip] trunk``.

    ``start()`` opens the SIP socket and the OPTIONS keepalive (``dial`` starts it
    when nobody did); ``aclose()`` hangs up every call and closes the sockets.
    ``media`` and ``fetch_audio`` default to the real RTP engine and no audio files
    (text prompts only); ``timers`` to RFC 3261's.
    """

    def __init__(
        self,
        settings: config.SipSettings,
        clock: Clock,
        *,
        media_engine: MediaSessions | None = None,
        speech: rtp.SpeechRenderer | None = None,
        fetch_audio: AudioFetch | None = None,
        timers: Timers | None = None,
    ) -> None:
        """Raises ``errors.InvalidInput`` naming the ``sip.*`` setting at fault."""
        if not settings.trunk:
            raise errors.InvalidInput("sip.trunk", 'is required when telephony.driver is "sip"')
        trunk_host, trunk_port = config.sip_trunk(settings.trunk, "sip.trunk")
        bind_host, bind_port = config.host_port(settings.bind, "sip.bind")
        advertised_host = settings.advertise or advertised_address(
            bind_host, (trunk_host, trunk_port)
        )
        port_min, port_max = config.port_range(settings.rtp_ports, "sip.rtp_ports")
        self.settings = settings
        self._clock = clock
        credentials = (
            digest.Credentials(settings.username, settings.password, settings.realm or None)
            if settings.username
            else None
        )
        self.agent = UserAgent(
            Identity(
                trunk=(trunk_host, trunk_port),
                trunk_host=trunk_host,
                from_domain=settings.from_domain or trunk_host,
                credentials=credentials,
            ),
            bind_host=bind_host,
            bind_port=bind_port,
            timers=timers or Timers(t1_s=settings.t1_s),
            contact_host=advertised_host,
        )
        self.advertised_host = advertised_host
        self._media = media_engine or rtp.MediaEngine(
            bind_host=bind_host,
            port_min=port_min,
            port_max=port_max,
            telephone_event_pt=TELEPHONE_EVENT_PT,
            latching=settings.rtp_latching,
        )
        if speech is None:
            missing = [program for program in ("espeak-ng", "sox") if not shutil.which(program)]
            if missing:
                # Refused at start rather than found out on the first answered call.
                raise errors.InvalidInput(
                    "telephony.driver",
                    f'"sip" speaks prompts with espeak-ng and sox, and {" and ".join(missing)}'
                    " cannot be found on PATH (Debian: apt-get install espeak-ng sox)",
                )
        self._speech = speech or rtp.SpeechRenderer(voice=settings.voice)
        self._fetch_audio = fetch_audio
        self._codecs = tuple(CODECS[name] for name in settings.codecs)
        self._slots = asyncio.Semaphore(settings.max_calls)
        self._cps = CallsPerSecond(settings.cps, clock)
        self._legs: set[SipLeg] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._keepalive: asyncio.Task[None] | None = None
        self._started = False
        self._start_lock = asyncio.Lock()
        self._closed = False
        self.trunk_up: bool | None = None  # what the last OPTIONS said (None: not asked)
        self.calls_up = 0
        self.dials_in_progress = 0

    async def start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            try:
                await self.agent.start()
            except OSError as exc:
                raise errors.InvalidInput(
                    "sip.bind", f"cannot listen on {self.settings.bind}: {exc.strerror or exc}"
                ) from exc
            self._started = True
            if self.settings.options_interval_s > 0:
                self._keepalive = asyncio.create_task(self._keep_alive())
            host, port = self.agent.local_address
            log.info("sip.started address=%s:%d trunk=%s", host, port, self.settings.trunk)

    @property
    def local_address(self) -> tuple[str, int]:
        return self.agent.local_address

    async def dial(
        self, request: DialRequest, *, on_ringing: Callable[[], None] | None = None
    ) -> DialResult:
        """Place the call; see the module's docstring for outcomes and causes.

        Cancelling the awaiting task CANCELs the INVITE (in the background: the 487,
        or a 2xx that crossed it and is hung up at once) and re-raises."""
        if self._closed:
            raise RuntimeError("the SIP driver is closed")
        await self.start()
        await self._slots.acquire()
        handed_over = False
        session: MediaSession | None = None
        self.dials_in_progress += 1
        try:
            await self._cps.take()
            try:
                session = await self._media.open_session()
            except rtp.MediaError as exc:
                return DialResult(calls.Outcome.UNREACHABLE, f"no RTP port: {exc}")
            result, handed_over = await self._place(request, session, on_ringing)
            return result
        finally:
            self.dials_in_progress -= 1
            if not handed_over:
                if session is not None:
                    await _close_quietly(session)
                self._slots.release()

    async def _place(
        self,
        request: DialRequest,
        session: MediaSession,
        on_ringing: Callable[[], None] | None,
    ) -> tuple[DialResult, bool]:
        """(the result, whether its leg now owns the RTP session and the slot)."""
        offer = _Offer(
            session, self._codecs, to_epoch_s(self._clock.now()), host=self.advertised_host
        )
        caller_id = (request.caller_id or self.settings.caller_id or ANONYMOUS).removeprefix("+")
        call = self.agent.call(
            number=request.number.removeprefix("+"),
            caller_id=caller_id,
            sdp_offer=offer.offer,
            answer_offer=offer.answer,
        )
        ring_timeout_s = (
            request.ring_timeout_s if request.ring_timeout_s > 0 else self.settings.ring_timeout_s
        )
        log.info(
            "sip.invite call_id=%d attempt=%d sip_call_id=%s",
            request.call_id,
            request.attempt,
            call.call_id,
        )
        try:
            final = await call.setup(ring_timeout_s, on_ringing)
        except asyncio.CancelledError:
            self._spawn(self._abandon(call))
            raise
        except TransactionTimeout:
            timeout_s = self.agent.timers.timeout_s
            return DialResult(
                calls.Outcome.UNREACHABLE,
                f"no response from the trunk {self.settings.trunk} within {timeout_s:g} s"
                " (timer B)",
            ), False
        except TransportError as exc:
            return DialResult(calls.Outcome.UNREACHABLE, f"transport error: {exc}"), False
        if final is None:
            return DialResult(calls.Outcome.NOANSWER, "ring timeout"), False
        cause = _cause(final)
        outcome = outcome_of(final.status)
        log.info(
            "sip.final call_id=%d attempt=%d status=%d outcome=%s",
            request.call_id,
            request.attempt,
            final.status,
            outcome.value,
        )
        if outcome is not calls.Outcome.ANSWER:
            return DialResult(outcome, cause), False
        try:
            offer.connect(call.remote_media)
        except (sdp.SdpError, rtp.MediaError) as exc:
            await call.bye('SIP;cause=488;text="Not Acceptable Here"')
            return DialResult(calls.Outcome.UNREACHABLE, f"{cause}, unusable SDP: {exc}"), False
        call.on_media_change = offer.reconnect
        leg = SipLeg(
            call,
            session,
            speech=self._speech,
            fetch_audio=self._fetch_audio,
            voice=self.settings.voice,
            on_closed=self._leg_closed,
        )
        self._legs.add(leg)
        self.calls_up += 1
        return DialResult(calls.Outcome.ANSWER, cause, calls.CalleeType.VOICE, leg), True

    async def _abandon(self, call: Call) -> None:
        """CANCEL an abandoned dial (its RTP session and slot are freed by ``dial``
        at once: the CANCEL needs neither)."""
        with contextlib.suppress(TransactionTimeout, TransportError):
            await call.abandon("call abandoned")

    def _leg_closed(self, leg: SipLeg) -> None:
        if leg in self._legs:
            self._legs.discard(leg)
            self.calls_up -= 1
            self._slots.release()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _keep_alive(self) -> None:
        """OPTIONS to the trunk every ``options_interval_s``; logs when it stops or
        starts answering (any response counts: the trunk is there)."""
        while True:
            try:
                response = await self.agent.options()
            except (TransactionTimeout, TransportError) as exc:
                if self.trunk_up is not False:
                    log.warning("sip.trunk_down trunk=%s error=%s", self.settings.trunk, exc)
                self.trunk_up = False
            else:
                if self.trunk_up is not True:
                    log.info(
                        "sip.trunk_up trunk=%s status=%d", self.settings.trunk, response.status
                    )
                self.trunk_up = True
            await self._clock.sleep(self.settings.options_interval_s)

    async def aclose(self) -> None:
        """Hang up every call still up, let CANCELs finish, close the sockets; ``dial``
        raises ``RuntimeError`` afterwards."""
        self._closed = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        await asyncio.gather(*(leg.hangup() for leg in list(self._legs)), return_exceptions=True)
        if self._background:
            await asyncio.wait(set(self._background), timeout=self.agent.timers.timeout_s)
        await self._media.aclose()
        self.agent.close()


class _Offer:
    """Our side of one call's offer/answer: the SDP we send, and the far end's
    address and codec applied to the RTP session."""

    def __init__(
        self,
        session: MediaSession,
        codecs: tuple[rtp.Codec, ...],
        session_id: int,
        *,
        host: str,
    ) -> None:
        self._host = host  # the advertised address: the session's may be 0.0.0.0
        self._session = session
        self._codecs = codecs
        self._session_id = session_id
        self._version = 0
        self._last: tuple[str, int, str, int | None] | None = None

    def _media(self) -> sdp.MediaOffer:
        return sdp.MediaOffer(
            host=self._host,
            port=self._session.local_port,
            codecs=tuple((c.name, c.payload_type) for c in self._codecs),
            telephone_event_pt=TELEPHONE_EVENT_PT,
            session_id=self._session_id,
            version=self._version,
        )

    def offer(self) -> bytes:
        return sdp.offer(self._media())

    def answer(self, description: sdp.Description) -> bytes:
        body, _ = sdp.answer_to(description, self._media())
        return body

    def connect(self, description: sdp.Description | None) -> None:
        """Point the session at the far end of the SDP answer; raises ``SdpError``."""
        if description is None:
            raise sdp.SdpError("the answer has no SDP")
        if description.port == 0:
            raise sdp.SdpError("the audio stream was refused")
        name, pt = sdp.choose_codec(
            description, tuple((c.name, c.payload_type) for c in self._codecs)
        )
        codec = rtp.Codec(name, pt)
        key = (description.host, description.port, name, description.telephone_event_pt)
        if key != self._last:
            self._session.connect(
                description.host, description.port, codec, description.telephone_event_pt
            )
            self._last = key

    def reconnect(self, description: sdp.Description) -> None:
        try:
            self.connect(description)
        except (sdp.SdpError, rtp.MediaError) as exc:
            log.warning("sip.media_update_refused error=%s", exc)


class SipLeg:
    """The voice channel of an answered SIP call (a ``CallLeg``): ``heard`` holds the
    text of every prompt played, ``sent_dtmf`` every ``send_dtmf`` string."""

    def __init__(
        self,
        call: Call,
        session: MediaSession,
        *,
        speech: rtp.SpeechRenderer,
        fetch_audio: AudioFetch | None,
        voice: str,
        on_closed: Callable[[SipLeg], None],
    ) -> None:
        self.callee_type = calls.CalleeType.VOICE
        self.heard: list[str] = []
        self.sent_dtmf: list[str] = []
        self.call = call
        self.session = session
        self._speech = speech
        self._fetch_audio = fetch_audio
        self._voice = voice
        self._on_closed = on_closed
        self._closing: asyncio.Task[None] | None = None
        call.on_end = self._ended
        if call.ended.is_set():  # their BYE came between the 2xx and now
            self._ended()

    @property
    def end_cause(self) -> str | None:
        return self.call.end_cause if self.call.ended.is_set() else None

    async def play(self, prompt: media.Prompt) -> str:
        """Play the prompt's audio files, else its text (text-to-speech); returns the
        keys pressed meanwhile (it stops at the first when ``prompt.bargein``)."""
        self._raise_if_ended()
        if prompt.text.strip():
            self.heard.append(prompt.text)
        pcm = await self._guard(self._render(prompt))
        if not pcm:
            return ""
        return await self._guard(self.session.play(pcm, interruptible=prompt.bargein))

    async def collect(
        self,
        *,
        max_digits: int,
        timeout_s: float,
        interdigit_timeout_s: float,
        termchar: str | None = "#",
        already: str = "",
        complete: Callable[[str], bool] | None = None,
    ) -> media.Collected:
        """Keys as they come: ``already`` and keys received since, then each RFC 4733
        event, waiting ``timeout_s`` for the first and ``interdigit_timeout_s`` after."""
        self._raise_if_ended()
        digits, ended_by = media.press_keys(
            "", already + self.session.take_digits(), max_digits, termchar, complete
        )
        while ended_by is None:
            wait_s = interdigit_timeout_s if digits else timeout_s
            key = await self._guard(self.session.next_digit(wait_s))
            if key is None:
                ended_by = "interdigit" if digits else "noinput"
                break
            digits, ended_by = media.press_keys(digits, key, max_digits, termchar, complete)
        return media.Collected(digits, ended_by, termchar if ended_by == "termchar" else None)

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> media.Recording:
        self._raise_if_ended()
        return await self._guard(
            self.session.record(
                max_time_s=max_time_s,
                final_silence_s=final_silence_s,
                dtmf_term=dtmf_term,
                beep=beep,
            )
        )

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> media.TransferResult:
        """Blind: a REFER (RFC 3515) to ``destination``; handed over ("unknown", the
        leg is closed and we hang up, RFC 5589) or refused ("network_busy"; "busy" or
        "noanswer" when the far end's NOTIFY says so). Bridged transfers need a second
        call and media bridging, which this driver does not do: "network_busy"."""
        self._raise_if_ended()
        if bridge:
            return media.TransferResult("network_busy")
        target = self._refer_target(destination)
        try:
            said = await self._guard(self.call.refer(target, connect_timeout_s))
        except (TransactionTimeout, TransportError):
            return media.TransferResult("network_busy")
        if said == "accepted":
            self.call.end_cause = TRANSFERRED
            await self.call.bye()
            return media.TransferResult("unknown")
        status = said.split(" ")[1] if said.count(" ") >= 1 else ""
        if status in ("486", "600"):
            return media.TransferResult("busy")
        if status in ("408", "480", "487"):
            return media.TransferResult("noanswer")
        return media.TransferResult("network_busy")

    async def send_dtmf(self, digits: str) -> None:
        """RFC 4733 events (``;postd=``); "p"/"w" pause as the RTP session says."""
        self._raise_if_ended()
        self.sent_dtmf.append(digits)
        await self._guard(self.session.send_dtmf(digits))

    async def hangup(self) -> None:
        """BYE (a no-op once the call has ended); an operation in progress raises
        ``media.Hangup``."""
        if not self.call.ended.is_set():
            await self.call.bye()
        if self._closing is not None:
            await self._closing

    def _refer_target(self, destination: str) -> str:
        if destination.startswith(("sip:", "sips:")):
            return destination
        number = destination.removeprefix("tel:").split(";", 1)[0].removeprefix("+")
        identity = self.call.agent.identity
        return f"sip:{number}@{identity.trunk_host}:{identity.trunk[1]}"

    async def _render(self, prompt: media.Prompt) -> bytes:
        """The prompt as pcm16: its SSML said by text-to-speech and its audio files
        played, in order (a file that cannot be fetched or decoded is its ``<audio>``
        content, VoiceXML 2.0 section 4.1.3: said, or nothing when it has none). A prompt
        with files but no SSML plays the files, else its text."""
        if prompt.audio_urls and self._fetch_audio is not None:
            if prompt.ssml is None:
                files = [await self._audio_file(url) for url in prompt.audio_urls]
                if all(pcm is not None for pcm in files):
                    return b"".join(pcm or b"" for pcm in files)
            else:
                try:
                    pieces = media.prompt_pieces(prompt.ssml)
                except ValueError as exc:
                    log.warning("sip.ssml_unreadable call=%s error=%s", self.call.call_id, exc)
                else:
                    return await self._render_pieces(pieces)
        if prompt.ssml:
            try:
                return await self._speech.render(prompt.ssml, self._voice, ssml=True)
            except rtp.MediaError as exc:
                log.warning("sip.ssml_fallback call=%s error=%s", self.call.call_id, exc)
        return await self._say(prompt.text, ssml=False)

    async def _render_pieces(self, pieces: tuple[media.Spoken | media.AudioFile, ...]) -> bytes:
        rendered: list[bytes] = []
        for piece in pieces:
            if isinstance(piece, media.Spoken):
                rendered.append(await self._say(piece.ssml, ssml=True))
                continue
            pcm = await self._audio_file(piece.url)
            if pcm is None and piece.fallback is not None:
                # Its content, which may hold other audio files (SSML 1.0 section 3.3.1).
                pcm = await self._render_pieces(media.prompt_pieces(piece.fallback))
            rendered.append(pcm or b"")
        return b"".join(rendered)

    async def _audio_file(self, url: str) -> bytes | None:
        """An audio file as pcm16; None (logged) when it cannot be fetched or decoded."""
        assert self._fetch_audio is not None
        try:
            body, content_type = await self._fetch_audio(url)
            return rtp.decode_audio(body, content_type=content_type, url=url)
        except (errors.Unavailable, rtp.AudioError) as exc:
            log.warning("sip.audio_fallback call=%s error=%s", self.call.call_id, exc)
            return None

    async def _say(self, text: str, *, ssml: bool) -> bytes:
        if not text.strip():
            return b""
        try:
            return await self._speech.render(text, self._voice, ssml=ssml)
        except rtp.MediaError as exc:
            # The call goes on without this prompt: better than ending it for the
            # application's sake; the log says why nothing was heard.
            log.error("sip.tts_failed call=%s error=%s", self.call.call_id, exc)
            return b""

    def _ended(self) -> None:
        """The call ended (either side): free its RTP port and its slot."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())

    async def _close(self) -> None:
        try:
            await _close_quietly(self.session)
        finally:
            self._on_closed(self)

    def _raise_if_ended(self) -> None:
        if self.call.ended.is_set():
            raise media.Hangup(self.call.end_cause or "hangup")

    async def _guard(self, operation: Awaitable[T]) -> T:
        """``operation``, unless the call ends first (``media.Hangup``)."""
        self._raise_if_ended()
        task = asyncio.ensure_future(operation)
        ended = asyncio.ensure_future(self.call.ended.wait())
        try:
            await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            ended.cancel()
        if task.done() and not (self.call.ended.is_set() and task.exception() is not None):
            try:
                return task.result()
            except rtp.MediaError as exc:
                # RTP cannot reach the callee any more (the session reported it): a
                # call nobody can hear is over.
                log.warning("sip.media_failed call=%s error=%s", self.call.call_id, exc)
                self.call.end_cause = f"media failed: {exc}"
                await self.call.bye()
                raise media.Hangup(self.call.end_cause) from exc
        # The call ended first, or the operation failed because it ended (its RTP
        # session closed under it): either way the far end is gone.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise media.Hangup(self.call.end_cause or "hangup")


def _cause(response: Response) -> str:
    return f"SIP {response.status} {response.reason}".strip()


async def _close_quietly(session: MediaSession) -> None:
    try:
        await session.close()
    except Exception:  # closing must not hide what ended the call
        log.exception("sip.rtp_close_failed")
