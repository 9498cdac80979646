"""The SIP driver against SIPp as the trunk: every unanswered outcome of PRODUCT.md
section 4, digest authentication (401 and 407, MD5 and SHA-256), retransmissions.

Each test runs one SIPp scenario of tests/sipp/ on free loopback ports; SIPp's exit
status says whether our side of the dialogue was right (it fails the call on an
unexpected or missing message), our DialResult says what we made of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.support.sipp import Sipp
from vxdial.config import SipSettings
from vxdial.domain import calls
from vxdial.domain.clock import SystemClock
from vxdial.telephony.base import DialRequest
from vxdial.telephony.sip import Timers
from vxdial.telephony.sipdriver import SipDriver

# Short RFC 3261 timers (T1 50 ms): Timer B is then 3.2 s instead of 32 s.
FAST = Timers(t1_s=0.05, t2_s=0.4, t4_s=0.5, timer_d_s=0.5)

DriverFactory = Callable[..., SipDriver]


@pytest.fixture
async def make_driver() -> AsyncIterator[DriverFactory]:
    made: list[SipDriver] = []

    def make(sipp: Sipp, *, timers: Timers | None = None, **settings: object) -> SipDriver:
        values: dict[str, object] = {
            "trunk": sipp.trunk,
            "bind": "127.0.0.1:0",
            "rtp_ports": "30000-39999",
            "options_interval_s": 0,
            "caller_id": "15550001111",
            **settings,
        }
        driver = SipDriver(SipSettings(**values), SystemClock(), timers=timers)  # type: ignore[arg-type]
        made.append(driver)
        return driver

    yield make
    for driver in made:
        await driver.aclose()


def request(ring_timeout_s: float = 5.0, caller_id: str | None = None) -> DialRequest:
    return DialRequest(
        call_id=7,
        attempt=1,
        number="15551230000",
        caller_id=caller_id,
        postd=None,
        ring_timeout_s=ring_timeout_s,
    )


def assert_sipp_passed(sipp: Sipp) -> None:
    assert sipp.wait(30) == 0, sipp.errors()


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [
        ("486", "Busy Here", calls.Outcome.BUSY),
        ("600", "Busy Everywhere", calls.Outcome.BUSY),
        ("603", "Decline", calls.Outcome.REJECTED),
        ("480", "Temporarily Unavailable", calls.Outcome.NOANSWER),
        ("408", "Request Timeout", calls.Outcome.NOANSWER),
        ("404", "Not Found", calls.Outcome.UNREACHABLE),
        ("503", "Service Unavailable", calls.Outcome.UNREACHABLE),
    ],
)
async def test_final_responses_map_to_outcomes(
    tmp_path: Path, make_driver: DriverFactory, status: str, reason: str, outcome: calls.Outcome
) -> None:
    sipp = Sipp.uas("uas_reject.xml", tmp_path, values={"STATUS": status, "REASON": reason})
    driver = make_driver(sipp)
    result = await driver.dial(request(caller_id="15557654321"))
    assert (result.outcome, result.cause, result.leg) == (outcome, f"SIP {status} {reason}", None)
    assert_sipp_passed(sipp)
    invite = sipp.messages()
    # Caller ID from the call (;ani=) in From and P-Asserted-Identity.
    assert re.search(r"From: <sip:15557654321@127\.0\.0\.1>;tag=", invite)
    assert "P-Asserted-Identity: <sip:15557654321@127.0.0.1>" in invite
    assert re.search(r"INVITE sip:15551230000@127\.0\.0\.1:\d+ SIP/2\.0", invite)
    assert "m=audio " in invite and "a=rtpmap:101 telephone-event/8000" in invite


async def test_the_default_caller_id_when_the_call_names_none(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas("uas_reject.xml", tmp_path, values={"STATUS": "486", "REASON": "Busy Here"})
    driver = make_driver(sipp, caller_id="15550001111", from_domain="vxdial.example")
    result = await driver.dial(request())
    assert result.outcome is calls.Outcome.BUSY
    assert_sipp_passed(sipp)
    assert "P-Asserted-Identity: <sip:15550001111@vxdial.example>" in sipp.messages()


async def test_ring_timeout_cancels_the_invite(tmp_path: Path, make_driver: DriverFactory) -> None:
    sipp = Sipp.uas("uas_noanswer.xml", tmp_path, values={"CAUSE": "408"})
    driver = make_driver(sipp)
    rang: list[bool] = []
    result = await driver.dial(request(ring_timeout_s=1.0), on_ringing=lambda: rang.append(True))
    assert (result.outcome, result.cause) == (calls.Outcome.NOANSWER, "ring timeout")
    assert rang == [True]
    # SIPp answered the CANCEL 200 and the INVITE 487, and got our ACK of the 487.
    assert_sipp_passed(sipp)
    endpoint = driver.agent.endpoint
    assert (endpoint.sent["CANCEL"], endpoint.sent["ACK"]) == (1, 1)
    assert driver.dials_in_progress == 0


@pytest.mark.parametrize(
    ("code", "header", "algorithm"),
    [
        ("401", "WWW-Authenticate", "MD5"),
        ("407", "Proxy-Authenticate", "MD5"),
        ("401", "WWW-Authenticate", "SHA-256"),
        ("407", "Proxy-Authenticate", "SHA-256"),
    ],
)
async def test_digest_challenges_are_answered(
    tmp_path: Path, make_driver: DriverFactory, code: str, header: str, algorithm: str
) -> None:
    sipp_checks = code == "401" and algorithm == "MD5"  # SIPp verifies only these
    check = (
        '<verifyauth assign_to="authvalid" username="alice" password="secret" />'
        if sipp_checks
        else '<ereg regexp="response=" search_in="msg" check_it="true" assign_to="authvalid" />'
    )
    sipp = Sipp.uas(
        "uas_auth.xml",
        tmp_path,
        values={"CODE": code, "HEADER": header, "ALGORITHM": algorithm, "CHECK": check},
    )
    driver = make_driver(sipp, username="alice", password="secret")
    result = await driver.dial(request())
    # The authenticated INVITE was let through to the callee, who is busy.
    assert (result.outcome, result.cause) == (calls.Outcome.BUSY, "SIP 486 Busy Here")
    assert_sipp_passed(sipp)
    answer = "Authorization" if code == "401" else "Proxy-Authorization"
    invites = [m for m in sipp.messages().split("\n\n") if m.lstrip().startswith("INVITE ")]
    assert len(invites) == 2
    assert f"{answer}:" not in invites[0]
    [line] = [x for x in invites[1].splitlines() if x.startswith(f"{answer}:")]
    assert re.search(r"CSeq: 2 INVITE", invites[1])
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', line.split(":", 1)[1]))
    assert params["algorithm"] == algorithm and params["qop"] == "auth"
    # Recomputed here with hashlib alone (RFC 7616 section 3.4.1).
    h = hashlib.md5 if algorithm == "MD5" else hashlib.sha256

    def hexdigest(text: str) -> str:
        return h(text.encode()).hexdigest()

    ha1 = hexdigest("alice:vxdial.test:secret")
    ha2 = hexdigest(f"INVITE:{params['uri']}")
    expected = hexdigest(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
    assert params["response"] == expected
    assert params["opaque"] == "0p4qu3"


async def test_a_refused_password_fails_cleanly(tmp_path: Path, make_driver: DriverFactory) -> None:
    check = '<verifyauth assign_to="authvalid" username="alice" password="secret" />'
    sipp = Sipp.uas(
        "uas_auth.xml",
        tmp_path,
        values={"CODE": "401", "HEADER": "WWW-Authenticate", "ALGORITHM": "MD5", "CHECK": check},
    )
    driver = make_driver(sipp, username="alice", password="wrong")
    result = await driver.dial(request())
    assert (result.outcome, result.cause) == (calls.Outcome.UNREACHABLE, "SIP 401 Unauthorized")
    assert_sipp_passed(sipp)  # two INVITEs, both ACKed, no third
    assert driver.agent.endpoint.sent["INVITE"] == 2


async def test_a_challenge_without_credentials_is_unreachable(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas(
        "uas_reject.xml",
        tmp_path,
        values={"STATUS": "407", "REASON": "Proxy Authentication Required"},
    )
    driver = make_driver(sipp)
    result = await driver.dial(request())
    assert (result.outcome, result.cause) == (
        calls.Outcome.UNREACHABLE,
        "SIP 407 Proxy Authentication Required",
    )
    assert_sipp_passed(sipp)


async def test_no_response_at_all_is_unreachable_after_timer_b(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas("uas_reject.xml", tmp_path, values={"STATUS": "486", "REASON": "Busy Here"})
    sipp.stop()  # nobody listens on the trunk's port any more
    driver = make_driver(sipp, timers=FAST)
    result = await driver.dial(request())
    assert (result.outcome, result.cause) == (
        calls.Outcome.UNREACHABLE,
        f"no response from the trunk {driver.settings.trunk} within 3.2 s (timer B)",
    )
    # Timer A: T1, 2*T1, 4*T1 ... until Timer B (64*T1): at most six retransmissions
    # (fewer if the machine is slow).
    assert 3 <= driver.agent.endpoint.retransmitted["INVITE"] <= 6


async def test_lost_messages_are_retransmitted(tmp_path: Path, make_driver: DriverFactory) -> None:
    # T1 200 ms; SIPp is silent for 900 ms: INVITE again at 200 and 600 ms (Timer A).
    sipp = Sipp.uas("uas_slow_answer.xml", tmp_path, values={"SILENT_MS": "900"})
    driver = make_driver(sipp, timers=Timers(t1_s=0.2))
    result = await driver.dial(request())
    assert result.outcome is calls.Outcome.ANSWER and result.leg is not None
    assert (result.cause, result.callee_type) == ("SIP 200 OK", calls.CalleeType.VOICE)
    endpoint = driver.agent.endpoint
    assert 1 <= endpoint.retransmitted["INVITE"] <= 2  # 1 if the machine lags 300 ms
    await result.leg.hangup()
    assert_sipp_passed(sipp)
    assert (endpoint.sent["ACK"], endpoint.sent["BYE"]) == (1, 1)
    assert driver.calls_up == 0


async def test_a_lost_final_response_is_taken_from_its_retransmission(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    # SIPp drops its first 486 and sends it again 500 ms later (as a UAS does until it is
    # ACKed): our INVITE transaction still waits, takes the busy, and ACKs it once.
    sipp = Sipp.uas("uas_lost_busy.xml", tmp_path, values={"SILENT_MS": "500"})
    driver = make_driver(sipp, timers=FAST)
    result = await driver.dial(request())
    assert (result.outcome, result.cause) == (calls.Outcome.BUSY, "SIP 486 Busy Here")
    assert_sipp_passed(sipp)
    endpoint = driver.agent.endpoint
    # 100 Trying stopped Timer A: nothing was resent while the 486 was missing.
    assert endpoint.retransmitted["INVITE"] == 0
    assert endpoint.sent["ACK"] == 1


async def test_a_lost_200_ok_is_taken_from_its_retransmission(
    tmp_path: Path, make_driver: DriverFactory
) -> None:
    sipp = Sipp.uas("uas_lost_answer.xml", tmp_path, values={"SILENT_MS": "500"})
    driver = make_driver(sipp, timers=FAST)
    ringing: list[bool] = []
    result = await driver.dial(request(), on_ringing=lambda: ringing.append(True))
    assert ringing == [True]
    assert result.outcome is calls.Outcome.ANSWER and result.leg is not None
    assert result.cause == "SIP 200 OK"
    await result.leg.hangup()
    assert_sipp_passed(sipp)
    endpoint = driver.agent.endpoint
    assert endpoint.retransmitted["INVITE"] == 0
    assert (endpoint.sent["ACK"], endpoint.sent["BYE"]) == (1, 1)
    assert driver.calls_up == 0
