"""The demo under /demo/ (issue 11 item 14): VoiceXML applications served by vxdial
itself, run by the real interpreter over real HTTP, and the result inbox with its
signature check, its login and its bounds. The quick start that uses them end to end
is tests/acceptance/test_quickstart.py.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
import pytest

from tests.acceptance.web_support import (
    ADMIN_PIN,
    ALICE,
    ALICE_PIN,
    BOB,
    BOB_PIN,
    Web,
    parse,
    running_web,
    text_of,
)
from tests.support.webapp import WebApp
from vxdial import voicexml
from vxdial.config import DemoSettings
from vxdial.voicexml.testing import ScriptedChannel

HOSTILE = '</prompt><exit/> & "quotes" <b>'


@pytest.fixture
def demo(sqlite_url: str, webapp: WebApp) -> Iterator[Web]:
    with running_web(sqlite_url, webapp, demo=DemoSettings(inbox_size=3)) as found:
        yield found


# -- the applications, run by the interpreter ------------------------------------------


@dataclass
class Heard:
    end: voicexml.SessionEnd
    said: list[str]


async def call(
    web: Web,
    path: str,
    keys: list[str] = [],  # noqa: B006 - read only
    *,
    fields: Mapping[str, str] | None = None,
    session: Mapping[str, object] | None = None,
) -> Heard:
    """Run the demo application at ``path`` as the dialer does: POSTed ``fields`` (GET
    without), keys pressed one group per input."""
    url = f"{web.base}{path}"
    start = (
        voicexml.FetchRequest(url, "POST", dict(fields))
        if fields is not None
        else voicexml.FetchRequest(url)
    )
    channel = ScriptedChannel(keys)
    async with aiohttp.ClientSession() as http:
        end = await voicexml.run_session(
            start,
            channel=channel,
            fetcher=voicexml.HttpFetcher(http).for_call(),
            session=session if session is not None else {"connection": {"callee_type": "voice"}},
        )
    return Heard(end, [" ".join(text.split()) for text in channel.heard])


async def test_hello_says_the_posted_fields_escaped(demo: Web) -> None:
    heard = await call(
        demo,
        "/demo/hello.vxml",
        fields={
            "call_id": "1",
            "message_reference": HOSTILE,
            # CR, LF and TAB are text; other C0 controls cannot be in XML and are replaced.
            "call_parameters": "Hello Bob.\r\nYour appointment\tis tomorrow.\x01",
        },
    )
    assert heard.end.reason == "end", heard.end
    assert heard.said == [
        "Hello! This is a test call from vxdial.",
        f"Your reference is {HOSTILE}.",
        "Hello Bob. Your appointment is tomorrow.\ufffd",
        "Goodbye.",
    ]


async def test_hello_by_get_with_nothing_posted(demo: Web) -> None:
    heard = await call(demo, "/demo/hello.vxml")
    assert heard.end.reason == "end"
    assert heard.said == ["Hello! This is a test call from vxdial.", "Goodbye."]


async def test_hello_cuts_a_field_to_its_limit(demo: Web) -> None:
    heard = await call(demo, "/demo/hello.vxml", fields={"call_parameters": "x" * 300 + "END"})
    assert heard.said[1] == "x" * 255


APPOINTMENT = {
    "call_id": "12",
    "message_reference": "A-42",
    "call_parameters": "Your appointment with Dr Who is on Monday at 9 a.m.",
}
ASK = "Your appointment with Dr Who is on Monday at 9 a.m. Press 1 to confirm, or 2 to cancel."
GREETING = ["Hello, this is vxdial with an appointment reminder.", "Reference A-42."]


async def test_appointment_confirmed_with_1(demo: Web) -> None:
    heard = await call(demo, "/demo/appointment.vxml", ["1"], fields=APPOINTMENT)
    assert (heard.end.reason, dict(heard.end.values)) == ("exit", {"answer": "confirmed"})
    assert heard.said == [
        *GREETING,
        ASK,
        "Thank you. Your appointment is confirmed. Goodbye.",
    ]


async def test_appointment_canceled_with_2_after_silence_and_a_wrong_key(demo: Web) -> None:
    heard = await call(demo, "/demo/appointment.vxml", ["", "7", "2"], fields=APPOINTMENT)
    assert (heard.end.reason, dict(heard.end.values)) == ("exit", {"answer": "canceled"})
    assert heard.said == [
        *GREETING,
        ASK,
        "Sorry, I did not hear a key.",
        ASK,
        "Sorry, that key is not an option.",
        ASK,
        "Your appointment is canceled. Goodbye.",
    ]


async def test_appointment_ends_after_three_silences(demo: Web) -> None:
    heard = await call(demo, "/demo/appointment.vxml", [], fields=APPOINTMENT)
    assert (heard.end.reason, dict(heard.end.values)) == ("exit", {})
    assert heard.said[-1] == "We did not hear from you. We will be in touch. Goodbye."
    assert heard.said.count(ASK) == 3


async def test_appointment_fetched_by_get_has_a_default_text(demo: Web) -> None:
    heard = await call(demo, "/demo/appointment.vxml", ["1"])
    assert heard.said[:2] == [
        "Hello, this is vxdial with an appointment reminder.",
        "Your appointment is tomorrow at 10 a.m. Press 1 to confirm, or 2 to cancel.",
    ]


SATISFACTION = (
    "How satisfied are you with our service? Press a key from 1, not at all, to 5, very satisfied."
)
RECOMMEND = "Would you recommend us to a friend? Press 1 for yes, or 2 for no."


async def test_survey_submits_its_answers(demo: Web) -> None:
    heard = await call(
        demo, "/demo/survey.vxml", ["4", "9", "2"], fields={"call_id": "77", "attempt": "1"}
    )
    assert heard.end.reason == "end", heard.end
    assert heard.said == [
        "Hello, this is vxdial with a short survey of two questions.",
        SATISFACTION,
        RECOMMEND,
        "Please press 1 for yes, or 2 for no.",
        RECOMMEND,
        "Thank you. You rated us 4 out of 5, and you would not recommend us. Goodbye.",
    ]


def test_survey_answers_that_are_not_answers_are_not_said(demo: Web) -> None:
    response = httpx.post(
        f"{demo.base}/demo/survey/answers",
        data={"satisfaction": "<b>9</b>", "recommend": "yes"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/voicexml+xml")
    assert "Your answers could not be read." in response.text
    assert "<b>" not in response.text and "&lt;b&gt;" not in response.text


async def test_voicemail_left_once_on_an_answering_machine(demo: Web) -> None:
    heard = await call(
        demo,
        "/demo/voicemail.vxml",
        ["1"],
        fields={"message_reference": "invoice 7", "call_parameters": "Your invoice is ready."},
        session={"connection": {"callee_type": "answeringmachine"}},
    )
    assert (heard.end.reason, dict(heard.end.values)) == (
        "exit",
        {"callee_type": "answeringmachine"},
    )
    assert heard.said == [
        "Hello, this is a message from vxdial. It is about invoice 7.",
        "Your invoice is ready.",
        "Thank you, and goodbye.",
    ]


async def test_voicemail_repeated_for_a_person_who_presses_1(demo: Web) -> None:
    heard = await call(
        demo,
        "/demo/voicemail.vxml",
        ["1"],
        fields={"call_parameters": "Your invoice is ready."},
        session={"connection": {"callee_type": "voice"}},
    )
    assert dict(heard.end.values) == {"callee_type": "voice"}
    assert heard.said == [
        "Hello, this is a message from vxdial.",
        "Your invoice is ready.",
        "To hear this message again, press 1.",
        "Your invoice is ready.",
        "Thank you, and goodbye.",
    ]


async def test_voicemail_without_a_callee_type_is_left_as_for_a_machine(demo: Web) -> None:
    heard = await call(demo, "/demo/voicemail.vxml", ["1"], session={})
    assert dict(heard.end.values) == {"callee_type": "unknown"}
    assert heard.said == [
        "Hello, this is a message from vxdial.",
        "We tried to reach you about your account. Please call us back.",
        "Thank you, and goodbye.",
    ]


@pytest.mark.parametrize(
    "path",
    ["/demo/hello.vxml", "/demo/appointment.vxml", "/demo/survey.vxml", "/demo/voicemail.vxml"],
)
def test_each_application_answers_get_and_post_and_bounds_the_body(demo: Web, path: str) -> None:
    url = demo.base + path
    for response in (httpx.get(url), httpx.post(url, data={"call_id": "1"})):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/voicexml+xml")
        assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    too_large = httpx.post(
        url,
        content=b"call_parameters=" + b"x" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert too_large.status_code == 413
    too_many = httpx.post(
        url,
        content="&".join(f"f{n}=1" for n in range(100)).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert too_many.status_code == 400


def test_the_demo_index_lists_the_applications(demo: Web) -> None:
    response = httpx.get(f"{demo.base}/demo/")
    assert response.status_code == 200
    rows = parse(response).xpath("//table[@id='demo-apps']/tbody/tr/td[1]")
    assert [text_of(r) for r in rows] == [
        f"{demo.base}/demo/{name}.vxml" for name in ("hello", "appointment", "survey", "voicemail")
    ]


# -- the result inbox ------------------------------------------------------------------


def queue_call(web: Web, **fields: Any) -> int:
    """One of alice's calls (not dialed: the dialer does not run here)."""
    response = web.api().post(
        "/api/v1/calls",
        json={"phone_number": "15551234567", "start_url": f"{web.base}/demo/hello.vxml", **fields},
    )
    assert response.status_code == 201, response.text
    call_id: int = response.json()["id"]
    return call_id


def secret_of(web: Web, login: str = ALICE, pin: str = ALICE_PIN) -> str:
    secret: str = web.api(login, pin).get("/api/v1/me").json()["result_secret"]
    return secret


def result_body(call_id: int, **fields: str) -> bytes:
    return urlencode(
        {
            "call_id": str(call_id),
            "phone_number": "15551234567",
            "message_reference": "",
            "call_parameters": "",
            "campaign_id": "1",
            "campaign_name": "default",
            "result": "completed",
            "callee_type": "voice",
            "attempts": "1",
            "duration": "4",
            **fields,
        }
    ).encode()


def post_result(
    web: Web, body: bytes, *, secret: str | None, delivery: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Vxdial-Signature"] = f"sha256={digest}"
    headers["X-Vxdial-Delivery"] = delivery or str(uuid.uuid4())
    return httpx.post(f"{web.base}/demo/results", content=body, headers=headers)


@dataclass
class Row:
    delivery: str
    signature: str
    call_id: str
    times: int
    cells: list[str]


def inbox_rows(response: httpx.Response) -> list[Row]:
    assert response.status_code == 200, response.text
    return [
        Row(
            tr.get("data-delivery"),
            tr.get("data-signature"),
            tr.get("data-call-id"),
            int(tr.get("data-times")),
            [text_of(td) for td in tr.xpath("td")],
        )
        for tr in parse(response).xpath("//table[@id='inbox']/tbody/tr[@data-delivery]")
    ]


def test_results_are_verified_deduplicated_and_listed_newest_first(demo: Web) -> None:
    call_id = queue_call(demo, message_reference="ACCT 0042")
    secret = secret_of(demo)
    body = result_body(call_id, message_reference="ACCT 0042")
    first = post_result(demo, body, secret=secret, delivery="delivery-1")
    assert first.status_code == 200, first.text
    assert post_result(demo, body, secret=secret, delivery="delivery-1").status_code == 200
    forged = post_result(demo, result_body(call_id, result="failed"), secret="guess")
    assert forged.status_code == 403
    unsigned = post_result(demo, body, secret=None, delivery="delivery-2")
    assert unsigned.status_code == 403

    alice = demo.logged_in(ALICE, ALICE_PIN)
    page = alice.get("/demo/results")
    rows = inbox_rows(page)
    assert [(r.delivery, r.signature, r.times) for r in rows] == [
        ("delivery-2", "missing", 1),
        (rows[1].delivery, "bad", 1),
        ("delivery-1", "good", 2),
    ]
    good = rows[2]
    assert good.call_id == str(call_id)
    assert good.cells[1] == "good" and good.cells[3] == "completed"
    assert "ACCT 0042" in good.cells
    assert page.headers["refresh"] == "5"
    # Each row links to the call's page in the web interface.
    assert parse(page).xpath(f"//table[@id='inbox']//a[@href='/web/calls/{call_id}']")


def test_the_signature_is_checked_against_the_body_as_sent(demo: Web) -> None:
    call_id = queue_call(demo)
    secret = secret_of(demo)
    body = result_body(call_id, message_reference="a b")  # urlencode writes "a+b"
    assert post_result(demo, body, secret=secret).status_code == 200
    same_fields = body.replace(b"a+b", b"a%20b")  # the same form, other bytes
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    response = httpx.post(
        f"{demo.base}/demo/results",
        content=same_fields,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Vxdial-Signature": f"sha256={digest}",
        },
    )
    assert response.status_code == 403


def test_the_inbox_page_escapes_what_was_posted(demo: Web) -> None:
    call_id = queue_call(demo)
    script = "<script>alert(1)</script>"
    body = result_body(call_id, message_reference=script, call_parameters='"><img src=x>')
    body += b"&" + urlencode({"<i>field</i>": script}).encode()
    assert post_result(demo, body, secret=secret_of(demo), delivery=script).status_code == 200
    page = demo.logged_in(ALICE, ALICE_PIN).get("/demo/results")
    assert "<script>alert" not in page.text and "<img src=x>" not in page.text
    assert "<i>field" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    [row] = inbox_rows(page)
    assert row.delivery == script and script in row.cells


def test_each_sender_sees_only_its_own_results(demo: Web) -> None:
    call_id = queue_call(demo, message_reference="alice-only")
    assert (
        post_result(
            demo, result_body(call_id, message_reference="alice-only"), secret=secret_of(demo)
        ).status_code
        == 200
    )
    # A post naming alice's call but signed with bob's secret is alice's, marked bad.
    assert (
        post_result(demo, result_body(call_id), secret=secret_of(demo, BOB, BOB_PIN)).status_code
        == 403
    )
    bob = demo.logged_in(BOB, BOB_PIN).get("/demo/results")
    assert inbox_rows(bob) == [] and "alice-only" not in bob.text
    assert parse(bob).xpath("//*[@id='inbox-empty']")
    alice_rows = inbox_rows(demo.logged_in(ALICE, ALICE_PIN).get("/demo/results"))
    assert [r.signature for r in alice_rows] == ["bad", "good"]
    admin = demo.logged_in("admin", ADMIN_PIN).get("/demo/results")
    assert inbox_rows(admin) == [] and parse(admin).xpath("//*[@id='inbox-admin']")


def test_without_a_login_the_page_answers_200_and_shows_nothing(demo: Web) -> None:
    call_id = queue_call(demo, message_reference="secret-ref")
    post_result(demo, result_body(call_id, message_reference="secret-ref"), secret=secret_of(demo))
    page = httpx.get(f"{demo.base}/demo/results")  # as the intake's result_url probe
    assert page.status_code == 200
    assert "secret-ref" not in page.text and inbox_rows(page) == []
    assert parse(page).xpath("//*[@id='inbox-login']//a[@href='/web/login']")
    assert "refresh" not in page.headers


def test_the_inbox_keeps_the_last_posts_of_each_sender(demo: Web) -> None:
    call_id = queue_call(demo)
    secret = secret_of(demo)
    for n in range(5):
        assert (
            post_result(demo, result_body(call_id), secret=secret, delivery=f"d-{n}").status_code
            == 200
        )
    rows = inbox_rows(demo.logged_in(ALICE, ALICE_PIN).get("/demo/results"))
    assert [r.delivery for r in rows] == ["d-4", "d-3", "d-2"]  # [demo] inbox_size = 3


def test_posts_that_are_not_results_are_refused(demo: Web) -> None:
    url = f"{demo.base}/demo/results"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert httpx.post(url, content=b"call_id=999999", headers=form).status_code == 404
    assert httpx.post(url, content=b"result=completed", headers=form).status_code == 400
    assert httpx.post(url, content=b"call_id=%C2%B2", headers=form).status_code == 400
    assert httpx.post(url, json={"call_id": 1}).status_code == 415
    assert httpx.post(url, content=b"call_id=1&x=" + b"y" * 70_000, headers=form).status_code == 413
    many = "&".join(f"f{n}=1" for n in range(100)).encode()
    assert httpx.post(url, content=many, headers=form).status_code == 400


def test_the_demo_can_be_turned_off(sqlite_url: str, webapp: WebApp) -> None:
    with running_web(sqlite_url, webapp, demo=DemoSettings(enabled=False)) as web:
        assert httpx.get(f"{web.base}/demo/hello.vxml").status_code == 404
        assert httpx.get(f"{web.base}/demo/results").status_code == 404
        assert httpx.get(f"{web.base}/healthz").status_code == 200
