"""The product's reminder application end to end through ``run_session``: start_url
answers a POST with the reminder, the callee presses 1 to confirm or 2 to cancel, and
the answer is submitted to the application's results URL."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from vxdial import voicexml

from .helpers import SESSION, run

START = "http://app.example/reminder/start.php"
RESULTS = "http://app.example/reminder/results.php"
START_FIELDS = {
    "call_id": "42",
    "phone_number": "15551234567",
    "message_reference": "ref-7",
    "call_parameters": "name=Alice&when=tomorrow at nine",
    "campaign_id": "3",
    "campaign_name": "reminders",
    "attempt": "1",
}


def reminder(request: voicexml.FetchRequest) -> str:
    """What the customer's start_url answers: a document made for this call."""
    assert request.method == "POST" and request.data is not None
    params = {k: v[0] for k, v in parse_qs(request.data["call_parameters"]).items()}
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <property name="timeout" value="4s"/>
  <var name="ref" expr="'{request.data["message_reference"]}'"/>
  <form id="reminder">
    <block>
      <prompt bargein="false">Hello {params["name"]}. This is a reminder of your
        appointment {params["when"]}.</prompt>
    </block>
    <field name="answer" type="digits?length=1">
      <prompt>Press 1 to confirm, 2 to cancel.</prompt>
      <filled>
        <if cond="answer == '1'">
          <assign name="answer" expr="'confirmed'"/>
        <elseif cond="answer == '2'"/>
          <assign name="answer" expr="'canceled'"/>
        <else/>
          <prompt>Sorry, <value expr="answer"/> is not a choice.</prompt>
          <clear namelist="answer"/>
        </if>
      </filled>
      <noinput>Sorry, I did not hear you.<reprompt/></noinput>
      <noinput count="3">
        <assign name="answer" expr="'no answer'"/>
      </noinput>
    </field>
    <block>
      <submit next="results.php" method="post" namelist="ref answer session.telephone.dnis"/>
    </block>
  </form>
</vxml>"""


def results(request: voicexml.FetchRequest) -> str:
    assert request.data is not None
    words = {
        "confirmed": "Your appointment is confirmed.",
        "canceled": "Your appointment is canceled.",
    }.get(request.data["answer"], "We will call you again.")
    return f"""<vxml version="2.1"><form><block>
        <prompt>{words} Goodbye.</prompt><disconnect/></block></form></vxml>"""


async def call(keys: list[str | None]) -> tuple[list[str], dict[str, str], voicexml.SessionEnd]:
    result = await run(
        {START: reminder, RESULTS: results},
        keys,
        start=voicexml.FetchRequest(START, "POST", START_FIELDS),
        session=SESSION,
    )
    first, *_, last = result.fetcher.requests
    assert first == voicexml.FetchRequest(START, "POST", START_FIELDS)
    assert last.url == RESULTS and last.method == "POST" and last.data is not None
    assert result.channel.hung_up
    return result.heard, dict(last.data), result.end


GREETING = "Hello Alice. This is a reminder of your appointment tomorrow at nine."
ASK = "Press 1 to confirm, 2 to cancel."


@pytest.mark.parametrize(
    ("key", "answer", "goodbye"),
    [
        ("1", "confirmed", "Your appointment is confirmed. Goodbye."),
        ("2", "canceled", "Your appointment is canceled. Goodbye."),
    ],
)
async def test_confirm_or_cancel(key: str, answer: str, goodbye: str) -> None:
    heard, submitted, end = await call([key])
    assert heard == [GREETING, ASK, goodbye]
    assert submitted == {"ref": "ref-7", "answer": answer, "session.telephone.dnis": "15551234567"}
    assert end == voicexml.SessionEnd("disconnect")


async def test_wrong_key_then_confirm() -> None:
    heard, submitted, _ = await call(["7", "1"])
    assert heard == [
        GREETING,
        ASK,
        "Sorry, 7 is not a choice.",
        ASK,
        "Your appointment is confirmed. Goodbye.",
    ]
    assert submitted["answer"] == "confirmed"


async def test_silence_asks_twice_then_gives_up() -> None:
    heard, submitted, end = await call([])
    assert heard == [
        GREETING,
        ASK,
        "Sorry, I did not hear you.",
        ASK,
        "Sorry, I did not hear you.",
        ASK,
        "We will call you again. Goodbye.",
    ]
    assert submitted["answer"] == "no answer"
    assert end.reason == "disconnect"


async def test_collects_with_the_document_timeout() -> None:
    result = await run(
        {START: reminder, RESULTS: results},
        ["1"],
        start=voicexml.FetchRequest(START, "POST", START_FIELDS),
    )
    (collect,) = result.channel.collects
    assert (collect.max_digits, collect.timeout_s, collect.termchar) == (1, 4.0, "#")
