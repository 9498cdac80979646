"""vxdial dialing through the SIP driver, end to end: ``[telephony] driver = "sip"``,
SIPp as the trunk and callee, the customer's application on a loopback HTTP server,
real RTP (prompts spoken by espeak-ng, keys sent back as RFC 4733 events).

Real time throughout (a SIP callee cannot be sped up): the calls are short.
"""

from __future__ import annotations

import array
import io
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.conftest import make_settings
from tests.support.servers import serve_in_thread
from tests.support.sipp import Sipp, free_udp_port
from tests.support.webapp import WebApp
from vxdial.app import accounts_for, open_store
from vxdial.config import DialerSettings, SipSettings, TelephonySettings
from vxdial.domain import media

TWO_DIGITS = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form>
    <field name="code" type="digits?length=2">
      <prompt>Please enter your two digit code.</prompt>
      <filled><submit next="/code" namelist="code" method="post"/></filled>
    </field>
  </form>
</vxml>"""
AUDIO = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form><block>
<prompt><audio src="/hello.wav">Hello, said instead.</audio></prompt>
<prompt><audio src="/missing.wav">The file is missing.</audio></prompt>
</block></form></vxml>"""
RECORD = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form>
<record name="message" beep="true" maxtime="4s" finalsilence="3s" dtmfterm="true">
<filled><submit next="/message" namelist="message" method="post"
  enctype="multipart/form-data"/></filled></record></form></vxml>"""
GOODBYE = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form><block>Goodbye.</block></form></vxml>"""
# The prompt plays before the field waits for keys (a prompt queued at the very end of
# a document is flushed after the application has ended, and a hangup then is no news).
LONG_PROMPT = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form>
<field name="choice" type="digits?length=1"><prompt bargein="false">
This is a long announcement that keeps on talking about many things for a good while,
so that the callee has plenty of time to hang up in the middle of it, which he will.
</prompt><filled><submit next="/choice" namelist="choice"/></filled></field></form></vxml>"""


@dataclass
class SipDialing:
    base: str
    webapp: WebApp
    alice: httpx.Client

    def results(self) -> list[dict[str, str]]:
        return [
            {k: v[0] for k, v in parse_qs(r.body.decode(), keep_blank_values=True).items()}
            for r in self.webapp.seen("/result", "POST")
        ]

    def wait_results(self, count: int, timeout_s: float = 60.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout_s
        while len(self.results()) < count:
            assert time.monotonic() < deadline, f"{len(self.results())} results of {count}"
            time.sleep(0.05)
        return self.results()

    def queue(self, **fields: Any) -> dict[str, Any]:
        body = {
            "phone_number": "15551230000",
            "start_url": self.webapp.url("/start.vxml"),
            "result_url": self.webapp.url("/result"),
            **fields,
        }
        response = self.alice.post("/api/v1/calls", json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def attempts(self, call_id: int) -> list[dict[str, Any]]:
        return self.alice.get(f"/api/v1/calls/{call_id}/attempts").json()  # type: ignore[no-any-return]

    def events(self, call_id: int) -> list[dict[str, Any]]:
        return self.alice.get(f"/api/v1/calls/{call_id}/events").json()["items"]  # type: ignore[no-any-return]


Start = Callable[[Sipp, str], SipDialing]


@pytest.fixture
def start_sip_dialing(webapp: WebApp) -> Iterator[Start]:
    """``start(sipp, database_url)``: vxdial serving and dialing through SIPp."""
    stack: list[Any] = []

    def start(sipp: Sipp, database_url: str) -> SipDialing:
        rtp_low = 40000 + free_udp_port() % 10000 // 2 * 2
        settings = make_settings(
            database_url,
            telephony=TelephonySettings(driver="sip"),
            dialer=DialerSettings(cps=1000, poll_s=0.2, lease_s=120, ring_timeout_s=10),
            sip=SipSettings(
                trunk=sipp.trunk,
                bind=f"127.0.0.1:{free_udp_port()}",
                rtp_ports=f"{rtp_low}-{rtp_low + 200}",
                caller_id="15550001111",
                cps=50,
                options_interval_s=0,
            ),
        )
        store = open_store(settings)
        accounts_for(store, settings).add_sender("alice", "1111")
        store.close()
        context = serve_in_thread(settings, dialing=True)
        base = context.__enter__()
        stack.append(context)
        client = httpx.Client(base_url=base, auth=("alice", "1111"), timeout=30)
        stack.append(client)
        return SipDialing(base, webapp, client)

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)


def test_the_callee_s_rfc4733_keys_reach_the_application(
    start_sip_dialing: Start, sqlite_url: str, webapp: WebApp, tmp_path: Path
) -> None:
    sipp = Sipp.uas(
        "uas_answer_dtmf.xml", tmp_path, values={"FIRST": "4", "SECOND": "2", "THINK_MS": "1500"}
    )
    dialing = start_sip_dialing(sipp, sqlite_url)
    webapp.bodies["/start.vxml"] = TWO_DIGITS
    webapp.bodies["/code"] = GOODBYE
    call = dialing.queue(
        phone_number="15551230000;ani=15557654321;postd=9", message_reference="sip-1"
    )
    [result] = dialing.wait_results(1)
    assert (result["result"], result["callee_type"], result["attempts"]) == (
        "completed",
        "voice",
        "1",
    )
    [code] = webapp.seen("/code", "POST")
    assert parse_qs(code.body.decode())["code"] == ["42"]
    assert sipp.wait(30) == 0, sipp.errors()  # it got our BYE after "Goodbye."
    [attempt] = dialing.attempts(call["id"])
    assert attempt["outcome"] == "answer"
    events = dialing.events(call["id"])
    assert [e["kind"] for e in events][:3] == ["dialing", "ringing", "connected"]
    prompts = [e["detail"] for e in events if e["kind"] == "prompt"]
    assert prompts == ["Please enter your two digit code.", "Goodbye."]
    # ;postd= went out as RFC 4733 events once answered; ;ani= is the caller ID.
    assert [e["detail"] for e in events if e["kind"] == "postd"] == ["9"]
    assert "P-Asserted-Identity: <sip:15557654321@127.0.0.1>" in sipp.messages()


def test_the_callee_hangs_up_in_the_middle_of_a_prompt(
    start_sip_dialing: Start, sqlite_url: str, webapp: WebApp, tmp_path: Path
) -> None:
    sipp = Sipp.uas("uas_answer_bye.xml", tmp_path, values={"TALK_MS": "1500"})
    dialing = start_sip_dialing(sipp, sqlite_url)
    webapp.bodies["/start.vxml"] = LONG_PROMPT
    call = dialing.queue()
    [result] = dialing.wait_results(1)
    assert result["result"] == "completed"
    assert sipp.wait(30) == 0, sipp.errors()  # our 200 answered its BYE
    [attempt] = dialing.attempts(call["id"])
    assert attempt["outcome"] == "answer"
    assert attempt["cause"] == "callee hung up"
    assert int(result["duration"]) >= 1
    assert webapp.seen("/choice") == []


def test_a_campaign_uploaded_with_queuecalls_is_dialed_over_sip(
    start_sip_dialing: Start, database_url: str, webapp: WebApp, tmp_path: Path
) -> None:
    numbers = ["15551230001", "15551230002", "15551230003"]
    sipp = Sipp.uas("uas_answer.xml", tmp_path, calls=len(numbers))
    dialing = start_sip_dialing(sipp, database_url)
    webapp.bodies["/start.vxml"] = GOODBYE
    phone_list = "".join(f"{n},ref-{n[-1]}\n" for n in numbers).encode()
    response = dialing.alice.post(
        "/webservice/queuecalls.php",
        data={
            "login": "alice",
            "pin": "1111",
            "campaign_name": "sip-campaign",
            "start_url": webapp.url("/start.vxml"),
            "result_url": webapp.url("/result"),
        },
        files={"phone_list": ("list.csv", phone_list)},
    )
    assert response.status_code == 200 and "<error" not in response.text, response.text
    results = dialing.wait_results(len(numbers))
    assert sorted(r["phone_number"] for r in results) == numbers
    assert {(r["result"], r["callee_type"], r["attempts"]) for r in results} == {
        ("completed", "voice", "1")
    }
    assert sorted(r["message_reference"] for r in results) == ["ref-1", "ref-2", "ref-3"]
    # SIPp saw three INVITEs (one per number, each ACKed) and our three BYEs.
    assert sipp.wait(30) == 0, sipp.errors()
    invites = [m for m in sipp.messages().split("\n\n") if m.lstrip().startswith("INVITE sip:")]
    assert sorted(i.split()[1].split("@")[0] for i in invites) == [f"sip:{n}" for n in numbers]


def test_audio_files_are_played_and_a_missing_one_is_said(
    start_sip_dialing: Start, sqlite_url: str, webapp: WebApp, tmp_path: Path
) -> None:
    sipp = Sipp.uas("uas_answer.xml", tmp_path)
    dialing = start_sip_dialing(sipp, sqlite_url)
    webapp.bodies["/start.vxml"] = AUDIO
    webapp.bodies["/hello.wav"] = media.silence_wav(0.5)
    webapp.statuses["/missing.wav"] = 404
    call = dialing.queue()
    [result] = dialing.wait_results(1)
    assert result["result"] == "completed"
    assert sipp.wait(30) == 0, sipp.errors()
    # Fetched by the interpreter (to know it exists), then by the leg to play it.
    assert len(webapp.seen("/hello.wav", "GET")) == 2
    assert webapp.seen("/missing.wav", "GET")
    prompts = [e["detail"] for e in dialing.events(call["id"]) if e["kind"] == "prompt"]
    assert prompts == ["Hello, said instead.", "The file is missing."]
    [attempt] = dialing.attempts(call["id"])
    assert attempt["cause"] == "the application ended"


def test_the_callee_s_speech_is_recorded(
    start_sip_dialing: Start, sqlite_url: str, webapp: WebApp, tmp_path: Path
) -> None:
    sipp = Sipp.uas("uas_answer_speak.xml", tmp_path, values={"THINK_MS": "300"})
    dialing = start_sip_dialing(sipp, sqlite_url)
    webapp.bodies["/start.vxml"] = RECORD
    webapp.bodies["/message"] = GOODBYE
    dialing.queue()
    [result] = dialing.wait_results(1)
    assert result["result"] == "completed"
    assert sipp.wait(30) == 0, sipp.errors()
    [posted] = webapp.seen("/message", "POST")
    # The WAV the leg recorded from SIPp's RTP (A-law speech): 4 s at most (maxtime).
    start = posted.body.index(b"RIFF")
    audio = posted.body[start:]
    with wave.open(io.BytesIO(audio)) as recording:
        seconds = recording.getnframes() / recording.getframerate()
        samples = recording.readframes(recording.getnframes())
    assert 2.0 <= seconds <= 4.1
    assert max(abs(v) for v in array.array("h", samples)) > 1000  # speech, not silence


def test_a_busy_callee_is_stored_with_the_sip_status_as_cause(
    start_sip_dialing: Start, sqlite_url: str, webapp: WebApp, tmp_path: Path
) -> None:
    sipp = Sipp.uas("uas_reject.xml", tmp_path, values={"STATUS": "486", "REASON": "Busy Here"})
    dialing = start_sip_dialing(sipp, sqlite_url)
    call = dialing.queue(max_retries=0)
    [result] = dialing.wait_results(1)
    assert (result["result"], result["attempts"]) == ("failed", "1")
    [attempt] = dialing.attempts(call["id"])
    assert (attempt["outcome"], attempt["cause"]) == ("busy", "SIP 486 Busy Here")
    assert sipp.wait(30) == 0, sipp.errors()
    assert webapp.seen("/start.vxml", "POST") == []  # nobody answered: no application


def test_an_error_inside_the_interpreter_hangs_up_and_completes_the_call(
    start_sip_dialing: Start, database_url: str, webapp: WebApp, tmp_path: Path
) -> None:
    """Issue 12, item 4, over SIP: 250 nested <if> (a RecursionError in the interpreter,
    or its own VoiceXML error) after the answer: our BYE, one attempt, completed."""
    sipp = Sipp.uas("uas_answer.xml", tmp_path)
    dialing = start_sip_dialing(sipp, database_url)
    webapp.bodies["/start.vxml"] = (
        b'<?xml version="1.0"?><vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">'
        b"<form><block>" + b'<if cond="true">' * 250 + b"Deep." + b"</if>" * 250
    ) + b"</block></form></vxml>"
    call = dialing.queue(max_retries=0)
    [result] = dialing.wait_results(1)
    assert (result["result"], result["callee_type"], result["attempts"]) == (
        "completed",
        "voice",
        "1",
    )
    assert sipp.wait(30) == 0, sipp.errors()  # it got our BYE
    [attempt] = dialing.attempts(call["id"])
    assert attempt["outcome"] == "answer"
    kinds = [e["kind"] for e in dialing.events(call["id"])]
    assert {"internal_error", "application_error"} & set(kinds), kinds
