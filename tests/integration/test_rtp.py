"""RtpSession on loopback against a raw UDP peer (exact packets) and against another
RtpSession (both ends of a call)."""

from __future__ import annotations

import asyncio
import io
import itertools
import math
import os
import random
import socket
import wave
from collections.abc import AsyncIterator, Callable
from typing import cast

import pytest

from vxdial.domain import g711
from vxdial.telephony.rtp import (
    PCMA,
    PCMU,
    Codec,
    MediaEngine,
    MediaError,
    RtpSession,
    SpeechRenderer,
    _audio,
    _packet,
)
from vxdial.telephony.rtp import _session as rtp_session

EVENT_PT = 101
# How long a wait for packets may last before the test fails: a guard against a hang,
# far above the fraction of a second the packets take on a machine however loaded.
GUARD_S = 30


def tone(seconds: float, frequency: float = 440.0) -> bytes:
    return _audio.tone((frequency,), seconds)


class Peer(asyncio.DatagramProtocol):
    """A bare UDP socket standing for the far end: keeps every RTP packet it receives
    and sends whatever a test builds."""

    def __init__(self) -> None:
        self.packets: list[_packet.RtpPacket] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self._changed = asyncio.Event()
        self.sequence = random.getrandbits(16)
        self.ssrc = random.getrandbits(32)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        packet = _packet.parse_packet(data)
        assert packet is not None, data
        self.packets.append(packet)
        self._changed.set()

    async def wait_for(self, condition: Callable[[list[_packet.RtpPacket]], bool]) -> None:
        while not condition(self.packets):
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), GUARD_S)

    def send(self, session: RtpSession, payload_type: int, timestamp: int, payload: bytes) -> None:
        assert self.transport is not None
        header = _packet.pack_header(payload_type, self.sequence, timestamp, self.ssrc, False)
        self.sequence += 1
        self.transport.sendto(header + payload, ("127.0.0.1", session.local_port))

    def send_key(self, session: RtpSession, key: str, timestamp: int) -> None:
        """One key as a sender following RFC 4733 does it: start packets with growing
        durations, then the end packet three times, all with the event's timestamp."""
        code = _packet.event_code(key)
        for duration in (160, 320, 480):
            self.send(
                session,
                EVENT_PT,
                timestamp,
                _packet.pack_event(code, end=False, volume=10, duration=duration),
            )
        for _ in range(3):
            self.send(
                session,
                EVENT_PT,
                timestamp,
                _packet.pack_event(code, end=True, volume=10, duration=640),
            )


_peers: list[Peer] = []


async def open_peer() -> Peer:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    _peers.append(peer)
    return peer


@pytest.fixture(autouse=True)
async def _close_peers() -> AsyncIterator[None]:
    yield
    while _peers:
        transport = _peers.pop().transport
        if transport is not None:
            transport.close()
    await asyncio.sleep(0)  # the transports close on the next loop iteration


def audio_packets(
    packets: list[_packet.RtpPacket], codec_silence: int = 0xFF
) -> list[_packet.RtpPacket]:
    """The packets that carry sound (not the silence sent between prompts)."""
    silence = bytes([codec_silence]) * 160
    return [p for p in packets if p.payload_type in (0, 8) and p.payload != silence]


@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    # A port range per test process, so parallel runs rarely meet (taken ports are
    # skipped anyway).
    base = 30000 + (os.getpid() % 500) * 40
    media = MediaEngine(bind_host="127.0.0.1", port_min=base, port_max=base + 39)
    yield media
    await media.aclose()


async def test_a_prompt_is_sent_as_paced_20ms_packets(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    pcm = tone(1.0) + tone(0.005)[: 2 * 37]  # 8037 samples: 51 packets, the last padded
    assert await session.play(pcm, interruptible=True) == ""
    await peer.wait_for(lambda packets: len(audio_packets(packets)) >= 51)
    sent = audio_packets(peer.packets)
    assert len(sent) == math.ceil(8037 / 160)
    assert b"".join(p.payload for p in sent) == g711.encode(pcm, "PCMU") + b"\xff" * 123
    # The whole stream, silence included: one SSRC, sequence +1 and timestamp +160 per
    # packet, the marker on the first packet only.
    stream = peer.packets
    assert len({p.ssrc for p in stream}) == 1
    for before, after in itertools.pairwise(stream):
        assert after.sequence == (before.sequence + 1) & 0xFFFF
        assert after.timestamp == (before.timestamp + 160) & 0xFFFFFFFF
    assert stream[0].marker and not any(p.marker for p in stream[1:])
    assert session.packets_sent >= len(stream)


async def test_pcma_is_sent_with_payload_type_8(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMA, EVENT_PT)
    pcm = tone(0.1)
    await session.play(pcm, interruptible=False)
    await peer.wait_for(lambda packets: len(audio_packets(packets, 0xD5)) >= 5)
    sent = audio_packets(peer.packets, 0xD5)
    assert {p.payload_type for p in peer.packets} == {8}
    assert b"".join(p.payload for p in sent) == g711.encode(pcm, "PCMA")


async def test_keys_arrive_once_each(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    peer.send_key(session, "1", timestamp=1000)
    assert await session.next_digit(5) == "1"
    assert await session.next_digit(0.3) is None  # the repeated packets were not keys
    peer.send_key(session, "1", timestamp=2000)  # the same key again: a new event
    peer.send_key(session, "#", timestamp=3000)
    peer.send_key(session, "#", timestamp=3000)  # a retransmission of the same event
    peer.send_key(session, "D", timestamp=4000)
    assert await session.next_digit(5) == "1"
    await asyncio.wait_for(_until(lambda: session.packets_received >= 24), GUARD_S)
    assert session.take_digits() == "#D"
    assert session.take_digits() == ""


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_a_key_interrupts_an_interruptible_prompt(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    playing = asyncio.create_task(session.play(tone(5.0), interruptible=True))
    await peer.wait_for(lambda packets: len(audio_packets(packets)) >= 10)
    peer.send_key(session, "5", timestamp=77)
    assert await playing == "5"
    sent_by_then = session.packets_sent
    await peer.wait_for(lambda packets: len(packets) >= sent_by_then + 30)
    # Loopback keeps order and loses nothing: packet i is the i-th sent. Every packet
    # sent after the key was silence.
    silence = b"\xff" * 160
    assert all(p.payload == silence for p in peer.packets[sent_by_then:])
    assert len(audio_packets(peer.packets)) < 250 / 2  # far short of 5 s
    # Keys waiting before an interruptible prompt stop it before it starts.
    peer.send_key(session, "7", timestamp=99)
    await asyncio.wait_for(_until(lambda: session.packets_received >= 12), GUARD_S)
    assert await session.play(tone(5.0), interruptible=True) == "7"


async def test_keys_do_not_stop_an_uninterruptible_prompt(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    playing = asyncio.create_task(session.play(tone(0.6), interruptible=False))
    await peer.wait_for(lambda packets: len(audio_packets(packets)) >= 5)
    peer.send_key(session, "9", timestamp=5)
    assert await playing == "9"
    await peer.wait_for(lambda packets: len(audio_packets(packets)) >= 30)
    assert len(audio_packets(peer.packets)) == 30


async def test_send_dtmf_follows_rfc_4733(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    await session.send_dtmf("1p#")
    await peer.wait_for(lambda packets: sum(p.payload_type == EVENT_PT for p in packets) >= 14)
    stream = peer.packets
    events: dict[int, list[tuple[int, _packet.TelephoneEvent]]] = {}
    for index, packet in enumerate(stream):
        if packet.payload_type == EVENT_PT:
            event = _packet.parse_event(packet.payload)
            assert event is not None
            events.setdefault(packet.timestamp, []).append((index, event))
    assert len(events) == 2
    for (timestamp, packets), key in zip(sorted(events.items()), "1#", strict=True):
        keys = {event.key for _, event in packets}
        assert keys == {key}
        assert [e.duration for _, e in packets] == [160, 320, 480, 640, 800, 800, 800]
        assert [e.end for _, e in packets] == [False] * 4 + [True] * 3
        assert {e.volume for _, e in packets} == {rtp_session.DTMF_VOLUME}
        first = packets[0][0]
        assert stream[first].marker and not any(stream[i].marker for i, _ in packets[1:])
        assert [i for i, _ in packets] == list(range(first, first + 7))  # one per 20 ms
        del timestamp
    (first_at, first_packets), (second_at, second_packets) = sorted(events.items())
    # 4 + 3 packets of "1", 3 of silence (the gap), 50 for "p" (1 s), then "#".
    assert second_packets[0][0] - first_packets[0][0] == 60
    assert second_at - first_at == 60 * 160
    silence = stream[first_packets[-1][0] + 1 : second_packets[0][0]]
    assert all(p.payload_type == 0 and p.payload == b"\xff" * 160 for p in silence)


async def test_send_dtmf_without_telephone_events_plays_tones(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, None)
    await session.send_dtmf("5")
    await peer.wait_for(lambda packets: len(audio_packets(packets)) >= 5)
    assert {p.payload_type for p in peer.packets} == {0}
    assert len(audio_packets(peer.packets)) == 5  # 100 ms of 770 + 1336 Hz


# -- where media is accepted from (issue 12, item 5) -------------------------------------
#
# Datagrams sent one after another to the same socket on loopback arrive in that order,
# so a packet from the expected peer sent last tells when the ones before it were handled.


async def open_peer_on(host: str) -> Peer:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(Peer, local_addr=(host, 0))
    _peers.append(peer)
    return peer


async def handled(session: RtpSession, peer: Peer) -> None:
    """Send an audio packet from ``peer`` (the expected far end) and wait until the
    session has taken it: every datagram sent to the session before it was handled."""
    received = session.packets_received
    peer.send(session, 0, 0, b"\xff" * 160)
    await asyncio.wait_for(_until(lambda: session.packets_received > received), 5)


@pytest.fixture
async def latching_engines() -> AsyncIterator[Callable[[str], MediaEngine]]:
    made: list[MediaEngine] = []

    def make(latching: str) -> MediaEngine:
        base = 31000 + (os.getpid() % 500) * 40 + len(made) * 8
        media = MediaEngine(
            bind_host="127.0.0.1", port_min=base, port_max=base + 7, latching=latching
        )
        made.append(media)
        return media

    yield make
    for media in made:
        await media.aclose()


async def test_media_from_another_port_is_dropped(engine: MediaEngine) -> None:
    announced = await open_peer()  # the address and port of the SDP answer
    hijacker = await open_peer()  # the same host, another port
    session = await engine.open_session()
    session.connect("127.0.0.1", announced.port, PCMU, EVENT_PT)
    await announced.wait_for(lambda packets: len(packets) >= 3)
    # Before the far end's first packet, and after it: audio and a key, both refused.
    hijacker.send(session, 0, 0, b"\x00" * 160)
    hijacker.send_key(session, "1", 1000)
    await handled(session, announced)
    hijacker.send_key(session, "9", 2000)
    await handled(session, announced)
    assert session.take_digits() == ""
    assert session.remote == ("127.0.0.1", announced.port)
    assert session.packets_dropped == 1 + 6 + 6  # a key is six packets
    assert engine.packets_dropped == session.packets_dropped
    # Our audio keeps going to the SDP's address, never to the hijacker.
    sent = len(announced.packets)
    await announced.wait_for(lambda packets: len(packets) >= sent + 5)
    assert hijacker.packets == []
    # The far end's own key counts.
    announced.send_key(session, "2", 3000)
    await handled(session, announced)
    assert session.take_digits() == "2"


async def test_media_before_the_answer_is_dropped(engine: MediaEngine) -> None:
    stranger = await open_peer()
    announced = await open_peer()
    session = await engine.open_session()  # offered, not yet answered
    stranger.send_key(session, "1", 1000)
    session.connect("127.0.0.1", announced.port, PCMU, EVENT_PT)
    await handled(session, announced)
    assert session.take_digits() == ""
    assert session.packets_dropped == 6


async def test_latching_host_follows_a_nat_port_until_the_far_end_is_heard(
    latching_engines: Callable[[str], MediaEngine],
) -> None:
    engine = latching_engines("host")
    announced = await open_peer()  # what the SDP said, never heard from
    actual = await open_peer()  # where the far end's packets come from (its NAT's port)
    session = await engine.open_session()
    session.connect("127.0.0.1", announced.port, PCMU, EVENT_PT)
    await announced.wait_for(lambda packets: len(packets) >= 3)
    actual.send_key(session, "1", 1000)
    await actual.wait_for(lambda packets: len(packets) >= 5)
    assert session.remote == ("127.0.0.1", actual.port)
    # Latched once: a hijacker from a third port does not move the stream or press keys.
    hijacker = await open_peer()
    hijacker.send_key(session, "9", 2000)
    await handled(session, actual)
    assert session.take_digits() == "1"
    assert session.remote == ("127.0.0.1", actual.port)
    assert session.packets_dropped == 6
    # A re-INVITE (connect again) announces a new address and may latch anew.
    session.connect("127.0.0.1", hijacker.port, PCMU, EVENT_PT)
    await hijacker.wait_for(lambda packets: len(packets) >= 3)


async def test_latching_never_after_the_far_end_was_heard(
    latching_engines: Callable[[str], MediaEngine],
) -> None:
    engine = latching_engines("host")
    announced = await open_peer()
    hijacker = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", announced.port, PCMU, EVENT_PT)
    await handled(session, announced)  # the far end's first packet
    hijacker.send_key(session, "1", 1000)
    await handled(session, announced)
    assert session.take_digits() == ""
    assert session.remote == ("127.0.0.1", announced.port)
    assert session.packets_dropped == 6


async def test_latching_host_stays_on_the_host_and_any_does_not(
    latching_engines: Callable[[str], MediaEngine],
) -> None:
    """127.0.0.2 is another host for the session (the whole of 127/8 is loopback)."""
    for latching, moves in (("host", False), ("any", True)):
        engine = latching_engines(latching)
        announced = await open_peer()
        elsewhere = await open_peer_on("127.0.0.2")
        session = await engine.open_session()
        session.connect("127.0.0.1", announced.port, PCMU, EVENT_PT)
        elsewhere.send_key(session, "1", 1000)
        if moves:
            await elsewhere.wait_for(lambda packets: len(packets) >= 3)
            assert session.remote == ("127.0.0.2", elsewhere.port)
            assert session.take_digits() == "1"
        else:
            await handled(session, announced)
            assert session.remote == ("127.0.0.1", announced.port)
            assert session.take_digits() == ""


def wav_frames(data: bytes) -> tuple[int, bytes]:
    with wave.open(io.BytesIO(data)) as read:
        assert (read.getframerate(), read.getnchannels(), read.getsampwidth()) == (8000, 1, 2)
        return read.getnframes(), read.readframes(read.getnframes())


async def test_record_keeps_the_speech_and_ends_at_final_silence(engine: MediaEngine) -> None:
    caller = await engine.open_session()
    callee = await engine.open_session()
    caller.connect("127.0.0.1", callee.local_port, PCMU, EVENT_PT)
    callee.connect("127.0.0.1", caller.local_port, PCMU, EVENT_PT)
    speech = tone(1.0, 300.0)
    recording = asyncio.create_task(
        caller.record(max_time_s=30, final_silence_s=0.5, dtmf_term=True, beep=False)
    )
    await callee.play(speech, interruptible=False)
    result = await recording
    assert result.termchar is None and not result.max_time_reached
    frames, pcm = wav_frames(result.audio)
    # The speech exactly, after whatever silence the callee sent before it (usually none).
    heard = g711.decode(g711.encode(speech, "PCMU"), "PCMU")
    assert pcm.endswith(heard)
    assert pcm[: -len(heard)] == bytes(len(pcm) - len(heard))
    assert result.duration_s == frames / 8000 >= 1.0


async def test_record_beeps_then_ends_at_a_key(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    recording = asyncio.create_task(
        session.record(max_time_s=30, final_silence_s=5, dtmf_term=True, beep=True)
    )
    beep_packets = math.ceil(rtp_session.BEEP_S / 0.02)
    await peer.wait_for(lambda packets: len(audio_packets(packets)) >= beep_packets)
    # The recording starts PLAYOUT_S (5 packets) after the beep's last packet.
    await peer.wait_for(
        lambda packets: len(packets) > peer.packets.index(audio_packets(packets)[-1]) + 10
    )
    loud = g711.encode(tone(0.02, 500.0), "PCMU")
    for n in range(10):
        peer.send(session, 0, n * 160, loud)
    peer.send_key(session, "#", timestamp=10 * 160)
    result = await recording
    assert result.termchar == "#"
    assert result.duration_s == 0.2
    assert wav_frames(result.audio)[0] == 1600
    assert session.take_digits() == ""  # the key that ended it is not typed ahead


async def test_record_stops_at_max_time_and_silence_gives_nothing(engine: MediaEngine) -> None:
    caller = await engine.open_session()
    callee = await engine.open_session()
    caller.connect("127.0.0.1", callee.local_port, PCMU, EVENT_PT)
    callee.connect("127.0.0.1", caller.local_port, PCMU, EVENT_PT)
    talking = asyncio.create_task(callee.play(tone(10.0, 300.0), interruptible=False))
    result = await caller.record(max_time_s=1.0, final_silence_s=0.5, dtmf_term=False, beep=False)
    assert result.max_time_reached
    assert result.duration_s == 1.0 and wav_frames(result.audio)[0] == 8000
    talking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await talking
    silent = await caller.record(max_time_s=5, final_silence_s=0.3, dtmf_term=False, beep=False)
    assert silent.duration_s == 0 and wav_frames(silent.audio)[0] == 0
    assert not silent.max_time_reached


async def test_a_spoken_prompt_from_one_end_to_the_other(engine: MediaEngine) -> None:
    caller = await engine.open_session()
    callee = await engine.open_session()
    caller.connect("127.0.0.1", callee.local_port, PCMA, EVENT_PT)
    callee.connect("127.0.0.1", caller.local_port, PCMA, EVENT_PT)
    prompt = await SpeechRenderer().render("Thank you for calling. Goodbye.")
    recording = asyncio.create_task(
        callee.record(max_time_s=30, final_silence_s=1.0, dtmf_term=True, beep=False)
    )
    await caller.play(prompt, interruptible=True)
    await caller.send_dtmf("4")
    result = await recording
    assert result.termchar == "4"
    # The speech heard: the prompt up to its last loud frame (espeak-ng ends in silence).
    assert len(prompt) / 16000 - 0.5 < result.duration_s <= len(prompt) / 16000 + 0.02


async def test_close_returns_the_port_and_wakes_waiters(engine: MediaEngine) -> None:
    sessions = [await engine.open_session() for _ in range(20)]  # the whole range
    with pytest.raises(MediaError, match="no free RTP port"):
        await engine.open_session()
    peer = await open_peer()
    first = sessions[0]
    first.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    waiting = asyncio.create_task(first.next_digit(30))
    playing = asyncio.create_task(first.play(tone(30.0), interruptible=True))
    await peer.wait_for(lambda packets: len(packets) >= 2)
    await first.close()
    for task in (waiting, playing):
        with pytest.raises(MediaError, match="closed"):
            await task
    again = await engine.open_session()
    assert again.local_port == first.local_port
    assert again.local_port % 2 == 0
    for session in sessions[1:]:
        await session.close()
    assert engine.sessions_open == 1


async def test_sessions_are_spread_over_the_slots_of_one_timer(engine: MediaEngine) -> None:
    peers = [await open_peer() for _ in range(12)]
    sessions = []
    for peer in peers:
        session = await engine.open_session()
        session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
        sessions.append(session)
    engine.measure_send_deviation()
    await asyncio.gather(*(s.play(tone(0.2), interruptible=False) for s in sessions))
    assert engine.send_deviations_s is not None and len(engine.send_deviations_s) >= 12 * 10
    # Twelve sessions over ten slots: no slot holds more than two.
    assert sorted(len(slot) for slot in engine._slots) == [1] * 8 + [2] * 2


async def test_record_keeps_the_time_of_lost_packets_as_silence(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    await peer.wait_for(lambda packets: len(packets) >= 1)
    recording = asyncio.create_task(
        session.record(max_time_s=30, final_silence_s=0.3, dtmf_term=False, beep=False)
    )
    await asyncio.sleep(0)  # record() runs up to its first wait: it is listening
    loud = g711.encode(tone(0.02, 500.0), "PCMU")
    for n in [*range(10), *range(15, 25)]:  # packets 10 to 14 lost
        peer.send(session, 0, 5000 + n * 160, loud)
    peer.send(session, 0, 5000 + 3 * 160, loud)  # a late duplicate: dropped
    result = await recording
    assert result.duration_s == 0.5
    _, pcm = wav_frames(result.audio)
    assert pcm[10 * 320 : 15 * 320] == bytes(5 * 320)
    assert pcm[15 * 320 : 16 * 320] == g711.decode(loud, "PCMU")


async def test_a_key_held_past_one_event_segment_is_one_key(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    code = _packet.event_code("3")
    # RFC 4733 2.5.2.3: the first segment at its longest, the next one where it ended.
    peer.send(
        session, EVENT_PT, 1000, _packet.pack_event(code, end=False, volume=10, duration=0xFFFF)
    )
    peer.send(
        session,
        EVENT_PT,
        1000 + 0xFFFF,
        _packet.pack_event(code, end=True, volume=10, duration=800),
    )
    peer.send_key(session, "3", timestamp=200_000)
    await asyncio.wait_for(_until(lambda: session.packets_received >= 8), GUARD_S)
    assert session.take_digits() == "33"


async def test_connect_resolves_names_and_refuses_other_codecs(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("localhost", peer.port, PCMU, EVENT_PT)  # an SDP may name a host
    assert session.remote == ("127.0.0.1", peer.port)
    await peer.wait_for(lambda packets: len(packets) >= 2)
    with pytest.raises(MediaError, match="codec G722 is not supported"):
        session.connect("127.0.0.1", peer.port, Codec("G722", 9), EVENT_PT)


async def test_a_key_during_the_beep_ends_the_recording(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    peer.send_key(session, "1", timestamp=10)  # typed ahead, before the recording
    await asyncio.wait_for(_until(lambda: session.packets_received >= 6), GUARD_S)
    recording = asyncio.create_task(
        session.record(max_time_s=30, final_silence_s=5, dtmf_term=True, beep=True)
    )
    await peer.wait_for(lambda packets: len(audio_packets(packets)) >= 3)  # beeping
    peer.send_key(session, "#", timestamp=20)
    result = await recording
    assert (result.termchar, result.duration_s) == ("#", 0.0)
    assert session.take_digits() == "1"  # still there for the application


async def test_a_failing_stream_does_not_stop_the_others(
    engine: MediaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_peer, peer = await open_peer(), await open_peer()
    broken = await engine.open_session()
    broken.connect("127.0.0.1", broken_peer.port, PCMU, EVENT_PT)
    healthy = await engine.open_session()
    healthy.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)

    def fail() -> None:
        raise RuntimeError("a bug in one stream")

    monkeypatch.setattr(broken, "_send_next", fail)
    with pytest.raises(MediaError, match="the RTP stream failed"):
        await broken.play(tone(0.3), interruptible=False)
    assert broken.slot is None  # it no longer sends, once
    with pytest.raises(MediaError, match="the RTP stream failed"):
        await broken.send_dtmf("1")
    await healthy.play(tone(0.3), interruptible=False)  # returns: the timer still runs
    await peer.wait_for(lambda packets: len(audio_packets(packets)) >= 15)


async def test_a_final_silence_of_zero_does_not_cut_the_first_word(engine: MediaEngine) -> None:
    caller = await engine.open_session()
    callee = await engine.open_session()
    caller.connect("127.0.0.1", callee.local_port, PCMU, EVENT_PT)
    callee.connect("127.0.0.1", caller.local_port, PCMU, EVENT_PT)
    speech = tone(0.5, 300.0)
    recording = asyncio.create_task(
        caller.record(max_time_s=30, final_silence_s=0, dtmf_term=False, beep=False)
    )
    await callee.play(speech, interruptible=False)
    result = await recording
    _, pcm = wav_frames(result.audio)
    assert pcm.endswith(g711.decode(g711.encode(speech, "PCMU"), "PCMU"))


async def test_rtp_is_marked_expedited_forwarding(engine: MediaEngine) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        receiver.setblocking(False)
        session = await engine.open_session()
        session.connect("127.0.0.1", receiver.getsockname()[1], PCMU, EVENT_PT)
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(receiver.fileno(), readable.set)
        try:
            await asyncio.wait_for(readable.wait(), GUARD_S)
        finally:
            loop.remove_reader(receiver.fileno())
        _, ancillary, _, _ = receiver.recvmsg(2048, socket.CMSG_SPACE(1))
    (level, kind, tos) = ancillary[0]
    assert (level, kind) == (socket.IPPROTO_IP, socket.IP_TOS)
    assert tos[0] >> 2 == 46  # DSCP EF, in the packet as received


async def test_play_returns_once_the_far_end_has_played_the_prompt(engine: MediaEngine) -> None:
    peer = await open_peer()
    session = await engine.open_session()
    session.connect("127.0.0.1", peer.port, PCMU, EVENT_PT)
    await session.play(tone(0.2), interruptible=False)
    sent_by_then = session.packets_sent
    await peer.wait_for(lambda packets: len(packets) >= sent_by_then)
    last_audio = peer.packets.index(audio_packets(peer.packets)[-1])
    # PLAYOUT_S of silence (5 packets) went out after the prompt before play() returned.
    assert sent_by_then - (last_audio + 1) >= round(rtp_session.PLAYOUT_S / 0.02) - 1
