"""queuecall.php over real HTTP against a running vxdial, on SQLite and PostgreSQL.

PRODUCT.md section 2 (and spec/plum-outbound-v3.txt): fields and limits, the GET probe
of start_url / result_url, the XML answer (always HTTP 200 text/xml), login and PIN;
section 7 for reading the queued call back through /api/v1.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import (
    ALICE,
    ALICE_PIN,
    BOB,
    BOB_PIN,
    OMIT,
    PREFIXES,
    START_PATH,
    T0_S,
    Answer,
    Vxdial,
    assert_failed,
    path_of,
    phone_reason,
    read_answer,
)
from tests.support.servers import free_port
from vxdial.accounts import PinHasher
from vxdial.app import accounts_for
from vxdial.config import AuthSettings, IntakeSettings
from vxdial.domain.clock import SystemClock

HOUR = 3600
DAY = 86400


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def api_epoch(value: str | None) -> int | None:
    return None if value is None else int(datetime.fromisoformat(value).timestamp())


def queued_call_id(answer: Answer) -> int:
    assert answer.status == "queued", answer.text
    return int(answer.root.get("call_id", ""))


def default_campaign(server: Vxdial, login: str = ALICE, pin: str = ALICE_PIN) -> dict[str, Any]:
    [found] = [c for c in server.campaigns(login=login, pin=pin) if c["name"] == "default"]
    return found


# -- the answer to a queued call ------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_queued_answer_is_exactly_the_documented_one(
    shared_vxdial: Vxdial, encoding: str, prefix: str
) -> None:
    server = shared_vxdial
    answer = server.queuecall(encoding=encoding, prefix=prefix, phone_number="+1 (555) 123-4567")

    assert answer.status == "queued"
    assert set(answer.root.attrib) == {"status", "call_id"}
    call_id = queued_call_id(answer)
    assert call_id > 0
    assert [(c.tag, dict(c.attrib), c.text) for c in answer.root] == [
        ("login", {}, ALICE),
        ("phone_number", {}, "+1 (555) 123-4567"),  # as sent; the API has the E.164 digits
        ("start_url", {}, server.start_url),
        ("scheduled_timestamp", {}, str(T0_S)),
        ("expiration_timestamp", {}, "0"),
    ]

    # The call exists as answered, queued, in the sender's campaign named "default".
    call = server.api_json(f"/calls/{call_id}")
    default = default_campaign(server)
    assert call["id"] == call_id
    assert call["campaign_id"] == default["id"]
    assert call["campaign_name"] == "default"
    assert call["state"] == "queued"
    assert call["phone_number"] == "15551234567"
    assert call["settings"]["start_url"] == server.start_url
    assert api_epoch(call["settings"]["scheduled_at"]) == T0_S
    assert call["settings"]["expires_at"] is None
    listed = server.api_all(f"/campaigns/{default['id']}/calls")
    assert call_id in [c["id"] for c in listed]


def test_each_queued_call_gets_its_own_id(shared_vxdial: Vxdial) -> None:
    ids = [queued_call_id(shared_vxdial.queuecall()) for _ in range(3)]
    assert len(set(ids)) == 3


def test_every_field_reaches_the_stored_call(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    result_url = server.webapp.url("/result")
    answer = server.queuecall(
        phone_number="tel:+1-555-123-4567;ani=+1 555 765 4321;postd=12p34#",
        result_url=result_url,
        message_reference="order 1138",
        call_parameters="lang=en&amount=12,50",
        max_retries="3",
        retry_interval="120",
        scheduled_timestamp=str(T0_S + HOUR),
        expiration_timestamp=str(T0_S + DAY),
    )
    call_id = queued_call_id(answer)
    assert (
        answer.child_text("phone_number") == "tel:+1-555-123-4567;ani=+1 555 765 4321;postd=12p34#"
    )
    assert answer.child_text("scheduled_timestamp") == str(T0_S + HOUR)
    assert answer.child_text("expiration_timestamp") == str(T0_S + DAY)

    call = server.api_json(f"/calls/{call_id}")
    assert call["phone_number"] == "15551234567"
    assert call["ani"] == "15557654321"
    assert call["postd"] == "12p34#"
    assert call["message_reference"] == "order 1138"
    assert call["call_parameters"] == "lang=en&amount=12,50"
    assert call["attempts"] == 0
    assert api_epoch(call["queued_at"]) == T0_S
    settings = call["settings"]
    assert settings["start_url"] == server.start_url
    assert settings["result_url"] == result_url
    assert settings["max_retries"] == 3
    assert settings["retry_interval"] == 120
    assert api_epoch(settings["scheduled_at"]) == T0_S + HOUR
    assert api_epoch(settings["expires_at"]) == T0_S + DAY


@pytest.mark.parametrize(
    ("fields", "max_retries"),
    [
        ({"max_retry": "4"}, 4),
        ({"max_retries": "4", "max_retry": "4"}, 4),
        ({"max_retries": "0"}, 0),
        ({"max_retries": "10", "retry_interval": "172800"}, 10),
        ({}, 0),
    ],
    ids=["alias", "both-equal", "zero", "upper-bounds", "default"],
)
def test_max_retry_is_an_alias_of_max_retries(
    shared_vxdial: Vxdial, fields: dict[str, str], max_retries: int
) -> None:
    call_id = queued_call_id(shared_vxdial.queuecall(**fields))
    call = shared_vxdial.api_json(f"/calls/{call_id}")
    assert call["settings"]["max_retries"] == max_retries


@pytest.mark.parametrize(
    ("given", "number"),
    [
        ("15551234567", "15551234567"),
        ("+15551234567", "15551234567"),
        ("1 (555) 123-4567", "15551234567"),
        ("1.555.123.4567", "15551234567"),
        ("  +1 555-123-4567  ", "15551234567"),
        ("tel:+1-555-123-4567", "15551234567"),
        ("+44 20 7946 0958", "442079460958"),
        ("15551234567;ani=15557654321", "15551234567"),
        ("+15551234567;ani=8001234567", "15551234567"),
    ],
)
def test_phone_number_is_echoed_as_sent_and_stored_as_digits(
    shared_vxdial: Vxdial, given: str, number: str
) -> None:
    """Issue 11: Plum's example answer shows ``+1234567890;ani=8001234567``, the number as
    the client sent it; the normalized E.164 digits are the API's."""
    answer = shared_vxdial.queuecall(phone_number=given)
    assert answer.status == "queued", answer.text
    assert answer.child_text("phone_number") == given
    call = shared_vxdial.api_json(f"/calls/{queued_call_id(answer)}")
    assert call["phone_number"] == number


def test_the_echo_is_the_value_byte_for_byte(shared_vxdial: Vxdial) -> None:
    answer = shared_vxdial.queuecall(phone_number="\t1 (555) 123-4567 ")
    assert "<phone_number>\t1 (555) 123-4567 </phone_number>" in answer.text


def test_values_are_escaped_in_the_answer(shared_vxdial: Vxdial) -> None:
    start_url = shared_vxdial.webapp.url("/start.vxml?a=1&b=<2>")
    answer = shared_vxdial.queuecall(start_url=start_url)
    assert answer.status == "queued", answer.text
    assert "a=1&amp;b=&lt;2&gt;" in answer.text
    assert answer.child_text("start_url") == start_url


# -- scheduled_timestamp and expiration_timestamp in the answer ------------------------


@pytest.mark.parametrize(
    ("fields", "scheduled", "expiration"),
    [
        ({}, T0_S, 0),
        ({"scheduled_timestamp": "0"}, T0_S, 0),
        ({"scheduled_timestamp": "1000000000"}, T0_S, 0),
        ({"scheduled_timestamp": str(T0_S - 1)}, T0_S, 0),
        ({"scheduled_time": "now"}, T0_S, 0),
        ({"scheduled_time": "yesterday"}, T0_S, 0),
        ({"scheduled_time": "oct 14th, 2003 11:05PM EST"}, T0_S, 0),
        ({"scheduled_timestamp": str(T0_S + HOUR)}, T0_S + HOUR, 0),
        ({"scheduled_time": "+3 days"}, T0_S + 3 * DAY, 0),
        ({"scheduled_time": "tomorrow 9am"}, epoch(2026, 3, 2, 9), 0),
        ({"scheduled_time": "next monday"}, epoch(2026, 3, 2), 0),
        ({"scheduled_time": "oct 14th, 2030 11:05PM EST"}, epoch(2030, 10, 15, 4, 5), 0),
        ({"expiration_timestamp": "0"}, T0_S, 0),
        ({"expiration_timestamp": str(T0_S + DAY)}, T0_S, T0_S + DAY),
        ({"expiration_time": "+2 days"}, T0_S, T0_S + 2 * DAY),
        (
            {"scheduled_time": "tomorrow 9am", "expiration_time": "tomorrow 5pm"},
            epoch(2026, 3, 2, 9),
            epoch(2026, 3, 2, 17),
        ),
        (
            {"scheduled_timestamp": "0", "expiration_timestamp": str(T0_S + 1)},
            T0_S,
            T0_S + 1,
        ),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else str(v),
)
def test_answered_timestamps(
    shared_vxdial: Vxdial, fields: dict[str, str], scheduled: int, expiration: int
) -> None:
    """The clock stands at T0 (2026-03-01 12:00 UTC, a Sunday); the zone is UTC."""
    answer = shared_vxdial.queuecall(**fields)
    assert answer.status == "queued", answer.text
    assert answer.child_text("scheduled_timestamp") == str(scheduled)
    assert answer.child_text("expiration_timestamp") == str(expiration)
    settings = shared_vxdial.api_json(f"/calls/{queued_call_id(answer)}")["settings"]
    assert api_epoch(settings["scheduled_at"]) == scheduled
    assert api_epoch(settings["expires_at"]) == (expiration or None)


def test_expressions_without_a_zone_are_read_in_the_configured_zone(start_vxdial: Any) -> None:
    server: Vxdial = start_vxdial(timezone="America/New_York")
    # 9am in New York on 2 March 2026 (EST, UTC-5); an explicit zone still wins.
    answer = server.queuecall(scheduled_time="tomorrow 9am")
    assert answer.child_text("scheduled_timestamp") == str(epoch(2026, 3, 2, 14))
    answer = server.queuecall(scheduled_time="oct 14th, 2030 11:05PM EST")
    assert answer.child_text("scheduled_timestamp") == str(epoch(2030, 10, 15, 4, 5))


def test_scheduled_timestamp_is_the_moment_of_queuing_on_the_real_clock(
    start_vxdial: Any,
) -> None:
    server: Vxdial = start_vxdial(clock=SystemClock())
    for fields in ({}, {"scheduled_timestamp": "0"}, {"scheduled_time": "now"}):
        before = int(time.time())
        answer = server.queuecall(**fields)
        after = int(time.time())
        assert before <= int(answer.child_text("scheduled_timestamp")) <= after, fields
        assert answer.child_text("expiration_timestamp") == "0"


# -- field rules --------------------------------------------------------------------------

LONG_URL = "http://127.0.0.1/" + "a" * 240  # 257 characters
NOT_A_TIMESTAMP = "must be 0 or a UNIX time (whole seconds since 1970), not {}"
FIELD_RULES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("phone-missing", {"phone_number": OMIT}, [("phone_number", "is required")]),
    ("phone-empty", {"phone_number": "  "}, [("phone_number", "is required")]),
    ("phone-too-short", {"phone_number": "12"}, [("phone_number", phone_reason("12"))]),
    ("phone-short-for-country", {"phone_number": "1555"}, [("phone_number", phone_reason("1555"))]),
    ("phone-letters", {"phone_number": "abc"}, [("phone_number", phone_reason("abc"))]),
    (
        "phone-no-country",
        {"phone_number": "999999999999"},
        [("phone_number", phone_reason("999999999999"))],
    ),
    (
        "phone-too-long-number",
        {"phone_number": "1555123456789012345"},
        [("phone_number", phone_reason("1555123456789012345"))],
    ),
    (
        "phone-over-128",
        {"phone_number": "1" * 129},
        [("phone_number", "is longer than 128 characters")],
    ),
    (
        "phone-local-tel",
        {"phone_number": "tel:15551234567"},
        [("phone_number", phone_reason("tel:15551234567"))],
    ),
    (
        "phone-bad-ani",
        {"phone_number": "15551234567;ani=12"},
        [("phone_number", phone_reason("15551234567;ani=12"))],
    ),
    (
        "phone-empty-ani",
        {"phone_number": "15551234567;ani="},
        [("phone_number", phone_reason("15551234567;ani="))],
    ),
    (
        "phone-bad-postd",
        {"phone_number": "15551234567;postd=x!"},
        [("phone_number", phone_reason("15551234567;postd=x!"))],
    ),
    (
        "phone-unknown-parameter",
        {"phone_number": "15551234567;foo=1"},
        [("phone_number", phone_reason("15551234567;foo=1"))],
    ),
    (
        "phone-ext-parameter",
        {"phone_number": "15551234567;ext=12"},
        [("phone_number", phone_reason("15551234567;ext=12"))],
    ),
    (
        "phone-extension",
        {"phone_number": "+1 (555) 123-4567 ext. 12"},
        [("phone_number", phone_reason("+1 (555) 123-4567 ext. 12"))],
    ),
    ("start-missing", {"start_url": OMIT}, [("start_url", "is required")]),
    (
        "start-not-http",
        {"start_url": "ftp://127.0.0.1/start.vxml"},
        [("start_url", '"ftp://127.0.0.1/start.vxml" is not an absolute http:// or https:// URL')],
    ),
    (
        "start-relative",
        {"start_url": "/start.vxml"},
        [("start_url", '"/start.vxml" is not an absolute http:// or https:// URL')],
    ),
    (
        "start-space",
        {"start_url": "http://127.0.0.1/a b.vxml"},
        [("start_url", "must not contain spaces or control characters")],
    ),
    ("start-over-255", {"start_url": LONG_URL}, [("start_url", "is longer than 255 characters")]),
    (
        "result-not-http",
        {"result_url": "mailto:ops@example.com"},
        [("result_url", '"mailto:ops@example.com" is not an absolute http:// or https:// URL')],
    ),
    (
        "result-over-255",
        {"result_url": LONG_URL},
        [("result_url", "is longer than 255 characters")],
    ),
    (
        "message-reference-over-255",
        {"message_reference": "m" * 256},
        [("message_reference", "is longer than 255 characters")],
    ),
    (
        "call-parameters-over-255",
        {"call_parameters": "p" * 256},
        [("call_parameters", "is longer than 255 characters")],
    ),
    (
        "max-retries-11",
        {"max_retries": "11"},
        [("max_retries", 'must be an integer from 0 to 10, not "11"')],
    ),
    (
        "max-retries-negative",
        {"max_retries": "-1"},
        [("max_retries", 'must be an integer from 0 to 10, not "-1"')],
    ),
    (
        "max-retries-word",
        {"max_retries": "three"},
        [("max_retries", 'must be an integer from 0 to 10, not "three"')],
    ),
    (
        "max-retries-fraction",
        {"max_retries": "2.5"},
        [("max_retries", 'must be an integer from 0 to 10, not "2.5"')],
    ),
    (
        "max-retry-11",
        {"max_retry": "11"},
        [("max_retry", 'must be an integer from 0 to 10, not "11"')],
    ),
    (
        "max-retry-differs",
        {"max_retries": "2", "max_retry": "3"},
        [("max_retry", "differs from max_retries; give one of them")],
    ),
    (
        "retry-interval-59",
        {"retry_interval": "59"},
        [("retry_interval", 'must be an integer from 60 to 172800, not "59"')],
    ),
    (
        "retry-interval-172801",
        {"retry_interval": "172801"},
        [("retry_interval", 'must be an integer from 60 to 172800, not "172801"')],
    ),
    (
        "scheduled-timestamp-negative",
        {"scheduled_timestamp": "-5"},
        [("scheduled_timestamp", NOT_A_TIMESTAMP.format('"-5"'))],
    ),
    (
        "scheduled-timestamp-word",
        {"scheduled_timestamp": "soon"},
        [("scheduled_timestamp", NOT_A_TIMESTAMP.format('"soon"'))],
    ),
    (
        "scheduled-timestamp-after-9999",
        {"scheduled_timestamp": "253402300800"},
        [("scheduled_timestamp", NOT_A_TIMESTAMP.format('"253402300800"'))],
    ),
    (
        "expiration-timestamp-word",
        {"expiration_timestamp": "never"},
        [("expiration_timestamp", NOT_A_TIMESTAMP.format('"never"'))],
    ),
    (
        "scheduled-both-forms",
        {"scheduled_timestamp": str(T0_S + HOUR), "scheduled_time": "+1 hour"},
        [("scheduled_time", "give either scheduled_timestamp or scheduled_time, not both")],
    ),
    (
        "expiration-both-forms",
        {"expiration_timestamp": str(T0_S + DAY), "expiration_time": "+1 day"},
        [("expiration_time", "give either expiration_timestamp or expiration_time, not both")],
    ),
    (
        "scheduled-time-over-80",
        {"scheduled_time": "+1 day " + "x" * 80},
        [("scheduled_time", "is longer than 80 characters")],
    ),
    (
        "expiration-time-over-80",
        {"expiration_time": "+1 day " + "x" * 80},
        [("expiration_time", "is longer than 80 characters")],
    ),
    (
        "expiration-timestamp-past",
        {"expiration_timestamp": str(T0_S - 60)},
        [("expiration_timestamp", "is already past")],
    ),
    (
        "expiration-timestamp-now",
        {"expiration_timestamp": str(T0_S)},
        [("expiration_timestamp", "is already past")],
    ),
    (
        "expiration-time-past",
        {"expiration_time": "yesterday"},
        [("expiration_time", "is already past")],
    ),
    (
        "expiration-before-scheduled",
        {"scheduled_timestamp": str(T0_S + HOUR), "expiration_timestamp": str(T0_S + 60)},
        [("expiration_timestamp", "must be later than the scheduled time")],
    ),
    (
        "expiration-at-scheduled",
        {"scheduled_time": "tomorrow 9am", "expiration_time": "tomorrow 9am"},
        [("expiration_time", "must be later than the scheduled time")],
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [pytest.param(fields, expected, id=name) for name, fields, expected in FIELD_RULES],
)
def test_field_rule(
    shared_vxdial: Vxdial, fields: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert_failed(shared_vxdial.queuecall(**fields), *expected)


@pytest.mark.parametrize("number", ["12", "abc", "1555", "999999999999", "1555123456789012345"])
def test_an_invalid_phone_number_is_named_as_product_md_shows(
    shared_vxdial: Vxdial, number: str
) -> None:
    answer = shared_vxdial.queuecall(phone_number=number)
    [(field, reason)] = answer.errors
    assert field == "phone_number"
    assert reason.startswith(f'"{number}" is not a valid phone number'), reason


@pytest.mark.parametrize(
    "fields",
    [
        {"phone_number": "1" * 128},  # long, but within 128: judged as a number
        {"message_reference": "m" * 255, "call_parameters": "p" * 255},
        {"start_url": "http://127.0.0.1:1/" + "s" * 236},  # 255 characters
        {"scheduled_time": "+1 day" + " " * 10 + "+1 hour".rjust(64)},  # 80 characters
        {"retry_interval": "60"},
        {"retry_interval": "172800"},
        {"max_retries": "10"},
    ],
    ids=["phone-128", "texts-255", "url-255", "time-80", "interval-60", "interval-max", "r10"],
)
def test_limits_are_inclusive(shared_vxdial: Vxdial, fields: dict[str, Any]) -> None:
    answer = shared_vxdial.queuecall(**fields)
    # Not refused for its length or range (the number or the URL may still fail).
    for field, reason in answer.errors:
        assert not reason.startswith("is longer than"), (field, reason)
        assert "must be an integer" not in reason, (field, reason)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_every_problem_is_reported_at_once(shared_vxdial: Vxdial, encoding: str) -> None:
    answer = shared_vxdial.queuecall(
        encoding=encoding,
        phone_number="12",
        start_url=OMIT,
        max_retries="11",
        retry_interval="5",
        call_parameters="p" * 256,
    )
    expected = [
        ("phone_number", phone_reason("12")),
        ("start_url", "is required"),
        ("max_retries", 'must be an integer from 0 to 10, not "11"'),
        ("retry_interval", 'must be an integer from 60 to 172800, not "5"'),
        ("call_parameters", "is longer than 255 characters"),
    ]
    assert sorted(answer.errors) == sorted(expected), answer.text
    assert_failed(answer, *answer.errors)


def test_an_unreadable_time_expression_is_refused(shared_vxdial: Vxdial) -> None:
    for name in ("scheduled_time", "expiration_time"):
        answer = shared_vxdial.queuecall(**{name: "when pigs fly"})
        assert answer.status == "failed", answer.text
        [(field, reason)] = answer.errors
        assert field == name
        assert reason.startswith('"when pigs fly" is not a time expression'), reason
        assert_failed(answer, (field, reason))


def test_a_refused_call_is_not_queued(shared_vxdial: Vxdial) -> None:
    default_id = default_campaign(shared_vxdial)["id"]
    before = shared_vxdial.api_json(f"/campaigns/{default_id}")["total"]
    assert shared_vxdial.queuecall(phone_number="12").status == "failed"
    assert shared_vxdial.queuecall(max_retries="11").status == "failed"
    assert shared_vxdial.queuecall(start_url=OMIT).status == "failed"
    assert shared_vxdial.api_json(f"/campaigns/{default_id}")["total"] == before


# -- the request itself -------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_get_is_refused_with_a_failed_answer(shared_vxdial: Vxdial, prefix: str) -> None:
    response = shared_vxdial.client.get(
        f"{prefix}/queuecall.php",
        params={
            "login": ALICE,
            "pin": ALICE_PIN,
            "phone_number": "15551234567",
            "start_url": shared_vxdial.start_url,
        },
    )
    assert ALICE_PIN not in response.text
    assert_failed(read_answer(response, "queuecall"), ("request", "queuecall.php takes a POST"))


def test_an_unknown_body_type_is_refused(shared_vxdial: Vxdial) -> None:
    response = shared_vxdial.client.post(
        "/webservice/queuecall.php",
        json={"login": ALICE, "pin": ALICE_PIN, "phone_number": "15551234567"},
    )
    assert_failed(
        read_answer(response, "queuecall"),
        (
            "request",
            "send the fields as application/x-www-form-urlencoded or multipart/form-data,"
            " not application/json",
        ),
    )


MALFORMED_MULTIPART = [
    pytest.param("multipart/form-data", b"login=alice", id="no-boundary"),
    pytest.param("multipart/form-data; boundary=xyz", b"garbage", id="garbage"),
]


@pytest.mark.parametrize(("content_type", "body"), MALFORMED_MULTIPART)
def test_a_malformed_multipart_body_gets_a_failed_answer(
    shared_vxdial: Vxdial, content_type: str, body: bytes
) -> None:
    response = shared_vxdial.client.post(
        "/webservice/queuecall.php", content=body, headers={"Content-Type": content_type}
    )
    answer = read_answer(response, "queuecall")
    [(field, reason)] = answer.errors
    assert field == "request"
    assert reason.startswith("the form cannot be read"), reason
    assert_failed(answer, (field, reason))


def test_an_oversized_request_is_refused(shared_vxdial: Vxdial) -> None:
    answer = shared_vxdial.queuecall(message_reference="m" * 70_000)
    assert_failed(answer, ("request", "the upload is larger than the limit of 65536 bytes"))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"login": OMIT, "pin": OMIT}, [("login", "is required"), ("pin", "is required")]),
        ({"login": OMIT}, [("login", "is required")]),
        ({"pin": OMIT}, [("pin", "is required")]),
        ({"login": "", "pin": "   "}, [("login", "is required"), ("pin", "is required")]),
    ],
    ids=["both", "login", "pin", "blank"],
)
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_login_and_pin_are_required(
    shared_vxdial: Vxdial,
    encoding: str,
    fields: dict[str, Any],
    expected: list[tuple[str, str]],
) -> None:
    answer = shared_vxdial.queuecall(encoding=encoding, **fields)
    assert_failed(answer, *expected)
    assert ALICE_PIN not in answer.text


# -- login and PIN ------------------------------------------------------------------------

WRONG_PIN = "Xx9-wrongP1N-q2"
INCORRECT = ("login", "login or PIN is incorrect")


def test_wrong_login_and_wrong_pin_give_the_same_answer(vxdial: Vxdial) -> None:
    wrong_pin = vxdial.queuecall(pin=WRONG_PIN)
    assert_failed(wrong_pin, INCORRECT)
    others = [
        vxdial.queuecall(login="mallory", pin=ALICE_PIN),
        vxdial.queuecall(login="mallory", pin=WRONG_PIN, encoding="multipart"),
        vxdial.queuecall(pin=BOB_PIN),  # another sender's PIN
        vxdial.queuecall(login="m" * 129),
        vxdial.queuecall(pin="9" * 17),
        vxdial.queuecall(login="ALICE"),
    ]
    for other in others:
        assert other.response.content == wrong_pin.response.content
    assert queued_call_id(vxdial.queuecall()) > 0


def test_the_pin_never_appears_in_an_answer(start_vxdial: Any) -> None:
    server: Vxdial = start_vxdial(
        auth=AuthSettings(max_failures_per_login=2, max_failures_per_address=100)
    )
    missing = server.webapp.url("/missing.vxml")
    server.webapp.statuses["/missing.vxml"] = 404
    for encoding in ("urlencoded", "multipart"):
        server.queuecall(encoding=encoding)  # queued
        server.queuecall(encoding=encoding, phone_number="12", max_retries="x")
        server.queuecall(encoding=encoding, login=OMIT)
        server.queuecall(encoding=encoding, start_url=missing)
        server.queuecall(encoding=encoding, login=BOB, pin=ALICE_PIN)
        server.queuecall(encoding=encoding, pin=WRONG_PIN)
        server.queuecall(encoding=encoding, pin=WRONG_PIN)
        server.queuecall(encoding=encoding)  # throttled now
        server.fake_clock.advance(3600)
    answers = server.answers
    assert len(answers) == 16
    assert sum('status="queued"' in a for a in answers) == 2
    assert sum("too many failed logins" in a for a in answers) == 2
    for text in answers:
        assert ALICE_PIN not in text
        assert WRONG_PIN not in text


def test_a_disabled_sender_is_refused(vxdial: Vxdial) -> None:
    assert vxdial.queuecall().status == "queued"
    store = vxdial.open_store()
    try:
        accounts = accounts_for(store, vxdial.settings)
        accounts.set_enabled(ALICE, False)
        assert_failed(vxdial.queuecall(), ("login", "this account is disabled"))
        # A wrong PIN learns nothing about the account.
        assert_failed(vxdial.queuecall(pin=WRONG_PIN), INCORRECT)
        assert vxdial.queuecall(login=BOB, pin=BOB_PIN).status == "queued"
        accounts.set_enabled(ALICE, True)
        assert vxdial.queuecall().status == "queued"
    finally:
        store.close()


@pytest.fixture
def pin_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 check the server runs (it runs in this process), by the PIN checked:
    a refusal "at once" is one that runs none."""
    checked: list[str] = []
    verify = PinHasher.verify

    def counted(self: PinHasher, pin_hash: str, pin: str) -> bool:
        checked.append(pin)
        return verify(self, pin_hash, pin)

    monkeypatch.setattr(PinHasher, "verify", counted)
    return checked


def test_repeated_failures_for_a_login_are_throttled(
    start_vxdial: Any, pin_checks: list[str]
) -> None:
    server: Vxdial = start_vxdial(
        auth=AuthSettings(
            max_failures_per_login=3, max_failures_per_address=100, failure_window_s=60
        )
    )
    for _ in range(3):
        assert_failed(server.queuecall(pin=WRONG_PIN), INCORRECT)
    assert pin_checks == [WRONG_PIN] * 3

    # Refused at once (no PIN is checked), even with the right PIN, until the window
    # has passed.
    for pin in (ALICE_PIN, WRONG_PIN, ALICE_PIN):
        answer = server.queuecall(pin=pin)
        assert_failed(answer, ("login", "too many failed logins; try again in 60 seconds"))
    assert pin_checks == [WRONG_PIN] * 3
    assert server.queuecall(login=BOB, pin=BOB_PIN).status == "queued"
    assert pin_checks[3:] == [BOB_PIN]

    server.fake_clock.advance(30)
    assert_failed(server.queuecall(), ("login", "too many failed logins; try again in 30 seconds"))
    server.fake_clock.advance(31)
    assert server.queuecall().status == "queued"


def test_repeated_failures_from_an_address_are_throttled(
    start_vxdial: Any, pin_checks: list[str]
) -> None:
    server: Vxdial = start_vxdial(
        auth=AuthSettings(
            max_failures_per_login=100, max_failures_per_address=3, failure_window_s=120
        )
    )
    for login in ("mallory", "trudy", "eve"):
        assert_failed(server.queuecall(login=login, pin=WRONG_PIN), INCORRECT)
    assert pin_checks == [WRONG_PIN] * 3  # unknown logins cost a (decoy) check too
    answer = server.queuecall(login=BOB, pin=BOB_PIN)
    assert_failed(answer, ("login", "too many failed logins; try again in 120 seconds"))
    assert pin_checks == [WRONG_PIN] * 3  # refused at once
    server.fake_clock.advance(121)
    assert server.queuecall(login=BOB, pin=BOB_PIN).status == "queued"


def test_a_flood_of_wrong_pins_is_cut_at_the_limit(
    start_vxdial: Any, pin_checks: list[str]
) -> None:
    server: Vxdial = start_vxdial(
        auth=AuthSettings(max_failures_per_login=5, max_failures_per_address=1000)
    )

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            data = {
                "login": ALICE,
                "pin": WRONG_PIN,
                "phone_number": "15551234567",
                "start_url": server.start_url,
            }
            return await asyncio.gather(
                *(client.post("/webservice/queuecall.php", data=data) for _ in range(40))
            )

    responses = asyncio.run(flood())
    # Checks still running count against the limit: at most 5 argon2 checks for 40
    # guesses, the others refused at once.
    assert 1 <= len(pin_checks) <= 5, pin_checks
    reasons = {read_answer(r, "queuecall").errors[0] for r in responses}
    assert reasons <= {INCORRECT, ("login", "too many failed logins; try again in 300 seconds")}
    assert_failed(server.queuecall(), ("login", "too many failed logins; try again in 300 seconds"))


# -- the GET probe of start_url and result_url ------------------------------------------


@pytest.mark.parametrize("status", [404, 500, 302, 403])
def test_start_url_must_answer_200(shared_vxdial: Vxdial, status: int) -> None:
    url = shared_vxdial.unique_url()
    shared_vxdial.webapp.statuses[path_of(url)] = status
    answer = shared_vxdial.queuecall(start_url=url)
    assert_failed(answer, ("start_url", f"GET {url} answered HTTP {status}; 200 is required"))
    assert len(shared_vxdial.webapp.seen(path_of(url), "GET")) == 1


@pytest.mark.parametrize("status", [404, 500])
def test_result_url_must_answer_200(shared_vxdial: Vxdial, status: int) -> None:
    start_url = shared_vxdial.unique_url()
    result_url = shared_vxdial.unique_url("result")
    shared_vxdial.webapp.statuses[path_of(result_url)] = status
    answer = shared_vxdial.queuecall(start_url=start_url, result_url=result_url)
    assert_failed(
        answer, ("result_url", f"GET {result_url} answered HTTP {status}; 200 is required")
    )
    assert len(shared_vxdial.webapp.seen(path_of(start_url), "GET")) == 1
    assert len(shared_vxdial.webapp.seen(path_of(result_url), "GET")) == 1
    assert shared_vxdial.webapp.seen(path_of(result_url), "POST") == []


def test_both_failing_urls_are_reported(shared_vxdial: Vxdial) -> None:
    start_url = shared_vxdial.unique_url()
    result_url = shared_vxdial.unique_url("result")
    shared_vxdial.webapp.statuses[path_of(start_url)] = 404
    shared_vxdial.webapp.statuses[path_of(result_url)] = 503
    answer = shared_vxdial.queuecall(start_url=start_url, result_url=result_url)
    assert_failed(
        answer,
        ("start_url", f"GET {start_url} answered HTTP 404; 200 is required"),
        ("result_url", f"GET {result_url} answered HTTP 503; 200 is required"),
    )


def test_an_unreachable_start_url_is_refused(shared_vxdial: Vxdial) -> None:
    url = f"http://127.0.0.1:{free_port()}/start.vxml"
    answer = shared_vxdial.queuecall(start_url=url)
    [(field, reason)] = answer.errors
    assert field == "start_url"
    assert reason.startswith(f"GET {url} failed: "), reason
    assert_failed(answer, (field, reason))


def test_a_start_url_that_failed_is_checked_again(shared_vxdial: Vxdial) -> None:
    url = shared_vxdial.unique_url()
    shared_vxdial.webapp.statuses[path_of(url)] = 404
    assert shared_vxdial.queuecall(start_url=url).status == "failed"
    shared_vxdial.webapp.statuses[path_of(url)] = 200
    assert shared_vxdial.queuecall(start_url=url).status == "queued"
    assert len(shared_vxdial.webapp.seen(path_of(url), "GET")) == 2


def test_a_url_that_passed_is_trusted(shared_vxdial: Vxdial) -> None:
    start_url = shared_vxdial.unique_url()
    result_url = shared_vxdial.unique_url("result")
    for _ in range(3):
        answer = shared_vxdial.queuecall(start_url=start_url, result_url=result_url)
        assert answer.status == "queued", answer.text
    assert len(shared_vxdial.webapp.seen(path_of(start_url))) == 1
    assert len(shared_vxdial.webapp.seen(path_of(result_url))) == 1


def test_a_burst_of_queuecalls_probes_start_url_once(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    url = server.unique_url()
    server.webapp.delays[path_of(url)] = 0.3  # all 20 arrive while the first GET is out

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/webservice/queuecall.php",
                        data={
                            "login": ALICE,
                            "pin": ALICE_PIN,
                            "phone_number": f"1555123{n:04d}",
                            "start_url": url,
                        },
                        timeout=30,
                    )
                    for n in range(20)
                )
            )

    answers = [read_answer(r, "queuecall") for r in asyncio.run(burst())]
    assert [a.status for a in answers] == ["queued"] * 20, [a.text for a in answers]
    assert len({queued_call_id(a) for a in answers}) == 20
    assert [a.child_text("phone_number") for a in answers] == [f"1555123{n:04d}" for n in range(20)]
    assert len(server.webapp.seen(path_of(url))) == 1
    assert len(server.webapp.seen(path_of(url), "GET")) == 1


def test_trust_ends_after_url_trust_s(vxdial: Vxdial) -> None:
    assert vxdial.queuecall().status == "queued"
    vxdial.fake_clock.advance(59)
    assert vxdial.queuecall().status == "queued"
    assert len(vxdial.webapp.seen(START_PATH, "GET")) == 1
    vxdial.fake_clock.advance(2)
    assert vxdial.queuecall().status == "queued"
    assert len(vxdial.webapp.seen(START_PATH, "GET")) == 2


def test_with_url_trust_s_zero_each_request_probes(start_vxdial: Any) -> None:
    server: Vxdial = start_vxdial(intake=IntakeSettings(url_check_timeout_s=2.0, url_trust_s=0))
    result_url = server.webapp.url("/result")
    for _ in range(3):
        assert server.queuecall(result_url=result_url).status == "queued"
    assert len(server.webapp.seen(START_PATH, "GET")) == 3
    assert len(server.webapp.seen("/result", "GET")) == 3


@pytest.mark.parametrize("field", ["start_url", "result_url"])
def test_a_url_that_does_not_answer_in_time_is_refused(start_vxdial: Any, field: str) -> None:
    server: Vxdial = start_vxdial(intake=IntakeSettings(url_check_timeout_s=2.0))
    slow = server.webapp.url("/slow.vxml")
    # The URL answers after a minute, later than the test's client waits for vxdial's
    # answer (30 s): the check gave up at its own 2 s, or this test fails.
    server.webapp.delays["/slow.vxml"] = 60.0
    answer = server.queuecall(**{field: slow})
    assert_failed(answer, (field, f"GET {slow} did not answer within 2 seconds"))
