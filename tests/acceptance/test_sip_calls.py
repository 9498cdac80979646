"""Answered SIP calls at the driver's level, SIPp as the far end: session refresh
(re-INVITE), blind transfer (REFER), the dial abandoned while ringing (CANCEL), the
OPTIONS keepalive, and a prompt streamed as RTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.support.sipp import Sipp, free_udp_port
from vxdial.config import SipSettings
from vxdial.domain import calls, media
from vxdial.domain.clock import SystemClock
from vxdial.telephony.base import DialRequest
from vxdial.telephony.sipdriver import SipDriver, SipLeg

DriverFactory = Callable[..., SipDriver]


@pytest.fixture
async def make_driver() -> AsyncIterator[DriverFactory]:
    made: list[SipDriver] = []

    def make(sipp: Sipp, **settings: object) -> SipDriver:
        values: dict[str, object] = {
            "trunk": sipp.trunk,
            "bind": "127.0.0.1:0",
            "rtp_ports": "30000-39999",
            "options_interval_s": 0,
            **settings,
        }
        driver = SipDriver(SipSettings(**values), SystemClock())  # type: ignore[arg-type]
        made.append(driver)
        return driver

    yield make
    for driver in made:
        await driver.aclose()


REQUEST = DialRequest(
    call_id=9, attempt=1, number="15551230000", caller_id=None, postd=None, ring_timeout_s=5
)


async def answer(driver: SipDriver) -> SipLeg:
    result = await driver.dial(REQUEST)
    assert result.outcome is calls.Outcome.ANSWER, result.cause
    assert isinstance(result.leg, SipLeg)
    return result.leg


async def test_a_session_refresh_is_answered_and_the_callee_s_bye_ends_the_wait(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas("uas_reinvite.xml", tmp_path)
    driver = make_driver(sipp)
    leg = await answer(driver)
    assert leg.session.codec.name == "PCMU"  # type: ignore[attr-defined]
    # Waiting for keys when the re-INVITE, then the BYE, come.
    with pytest.raises(media.Hangup, match="SIP BYE"):
        await leg.collect(max_digits=1, timeout_s=10, interdigit_timeout_s=5)
    # SIPp checked our 200 chose PCMA, its first codec; the RTP session follows.
    assert sipp.wait(30) == 0, sipp.errors()
    assert leg.session.codec.name == "PCMA"  # type: ignore[attr-defined]
    with pytest.raises(media.Hangup):  # the leg is closed
        await leg.play(media.Prompt("anyone?"))
    await leg.hangup()  # a no-op
    assert driver.agent.endpoint.sent["BYE"] == 0
    assert driver.calls_up == 0


async def test_a_blind_transfer_is_handed_over_with_refer(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas(
        "uas_refer.xml",
        tmp_path,
        values={
            "TARGET": r"sip:15559990000@127\.0\.0\.1:[0-9]+",
            "FRAGMENT": "SIP/2.0 200 OK",
            "THEN": "",
        },
    )
    driver = make_driver(sipp)
    leg = await answer(driver)
    result = await leg.transfer(
        destination="tel:+15559990000", bridge=False, connect_timeout_s=5, max_time_s=0
    )
    assert result.outcome == "unknown"
    assert sipp.wait(30) == 0, sipp.errors()  # REFER's target checked; our BYE came
    with pytest.raises(media.Hangup, match="transferred"):
        await leg.send_dtmf("1")
    assert driver.calls_up == 0


async def test_a_transfer_the_far_end_reports_busy(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas(
        "uas_refer.xml",
        tmp_path,
        values={
            "TARGET": "sip:agent@pbx.example",
            "FRAGMENT": "SIP/2.0 486 Busy Here",
            "THEN": '<nop next="hangup" />',
        },
    )
    driver = make_driver(sipp)
    leg = await answer(driver)
    result = await leg.transfer(
        destination="sip:agent@pbx.example", bridge=False, connect_timeout_s=5, max_time_s=0
    )
    assert result.outcome == "busy"
    assert leg.end_cause is None  # still ours, until the callee hangs up
    with pytest.raises(media.Hangup):
        await leg.collect(max_digits=1, timeout_s=10, interdigit_timeout_s=5)
    assert sipp.wait(30) == 0, sipp.errors()


async def test_a_bridged_transfer_is_not_offered(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas("uas_answer.xml", tmp_path)
    driver = make_driver(sipp)
    leg = await answer(driver)
    result = await leg.transfer(
        destination="tel:+15559990000", bridge=True, connect_timeout_s=5, max_time_s=0
    )
    assert result.outcome == "network_busy"
    await leg.hangup()
    assert sipp.wait(30) == 0, sipp.errors()


async def test_an_abandoned_dial_is_cancelled_in_the_background(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas("uas_noanswer.xml", tmp_path, values={"CAUSE": "487"})
    driver = make_driver(sipp)
    ringing = asyncio.Event()
    dialing = asyncio.ensure_future(driver.dial(REQUEST, on_ringing=ringing.set))
    await ringing.wait()
    dialing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dialing
    await driver.aclose()  # lets the CANCEL finish
    assert sipp.wait(30) == 0, sipp.errors()  # CANCEL with Reason 487, 487 ACKed
    assert driver.agent.endpoint.sent["CANCEL"] == 1


async def test_the_keepalive_asks_the_trunk(tmp_path: Path, make_driver: DriverFactory) -> None:
    sipp = Sipp.uas("uas_options.xml", tmp_path)
    driver = make_driver(sipp, options_interval_s=60)
    await driver.start()
    while driver.trunk_up is None:
        await asyncio.sleep(0.01)
    assert driver.trunk_up is True
    assert sipp.wait(30) == 0, sipp.errors()


async def test_a_prompt_is_streamed_and_our_keys_sent(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas("uas_answer.xml", tmp_path)
    driver = make_driver(sipp)
    leg = await answer(driver)
    keys = await leg.play(media.Prompt("Hello from vxdial.", bargein=False))
    assert keys == ""
    assert leg.heard == ["Hello from vxdial."]
    sent_for_prompt = leg.session.packets_sent  # type: ignore[attr-defined]
    assert sent_for_prompt > 25  # more than half a second of 20 ms packets
    await leg.send_dtmf("1#")
    assert leg.session.packets_sent > sent_for_prompt  # type: ignore[attr-defined]
    await leg.hangup()
    assert sipp.wait(30) == 0, sipp.errors()
    assert driver.calls_up == 0


async def test_calls_beyond_max_calls_wait_for_a_free_slot(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas("uas_answer.xml", tmp_path, calls=2)
    driver = make_driver(sipp, max_calls=1)
    first = await answer(driver)
    second = asyncio.ensure_future(driver.dial(REQUEST))
    await asyncio.sleep(0.3)
    assert not second.done()
    assert driver.agent.endpoint.sent["INVITE"] == 1  # the second waits for the slot
    await first.hangup()
    result = await second
    assert result.outcome is calls.Outcome.ANSWER and result.leg is not None
    assert driver.agent.endpoint.sent["INVITE"] == 2
    await result.leg.hangup()
    assert sipp.wait(30) == 0, sipp.errors()


async def test_no_free_rtp_port_is_unreachable(tmp_path: Path, make_driver: DriverFactory) -> None:
    sipp = Sipp.uas("uas_answer.xml", tmp_path)
    port = free_udp_port(even=True)
    driver = make_driver(sipp, rtp_ports=f"{port}-{port + 1}")  # one even port
    first = await answer(driver)
    result = await driver.dial(REQUEST)
    assert result.outcome is calls.Outcome.UNREACHABLE
    assert result.cause.startswith("no RTP port: ")
    assert driver.agent.endpoint.sent["INVITE"] == 1  # the second call never went out
    await first.hangup()
    assert sipp.wait(30) == 0, sipp.errors()
