"""vxdial.intake.fields: the queuecall / queuecalls fields (PRODUCT.md section 2)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vxdial.domain import calls, errors
from vxdial.intake import fields

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_S = 1_772_366_400
ZONE = ZoneInfo("America/New_York")  # UTC-5 on NOW
START_URL = "http://app.example/start.vxml"
CALL = {"phone_number": "15551234567", "start_url": START_URL}
CAMPAIGN = {"campaign_name": "reminders", "start_url": START_URL}

Form = Mapping[str, fields.FieldValue]


def call(**extra: fields.FieldValue) -> fields.CallRequest:
    return fields.parse_call_request({**CALL, **extra}, now=NOW, zone=ZONE)


def campaign(**extra: fields.FieldValue) -> fields.CampaignRequest:
    return fields.parse_campaign_request({**CAMPAIGN, **extra}, now=NOW, zone=ZONE)


def call_problems(form: Form) -> list[tuple[str, str]]:
    with pytest.raises(errors.InvalidInputs) as caught:
        fields.parse_call_request(form, now=NOW, zone=ZONE)
    return [(p.field, p.reason) for p in caught.value.problems]


def campaign_problems(form: Form) -> list[tuple[str, str]]:
    with pytest.raises(errors.InvalidInputs) as caught:
        fields.parse_campaign_request(form, now=NOW, zone=ZONE)
    return [(p.field, p.reason) for p in caught.value.problems]


def problems(**extra: fields.FieldValue) -> list[tuple[str, str]]:
    """The problems of a queuecall that is CALL plus ``extra``."""
    return call_problems({**CALL, **extra})


# A good request, and the defaults.


def test_minimal_call_request_gets_the_defaults() -> None:
    request = call()
    assert request.call == calls.NewCall("15551234567")
    assert request.settings == calls.CallSettings(
        start_url=START_URL,
        result_url=None,
        max_retries=0,
        retry_interval_s=600,
        scheduled_at=NOW,
        expires_at=None,
    )


def test_full_call_request() -> None:
    request = call(
        phone_number="tel:+1-555-123-4567;ani=15557654321;postd=12#",
        result_url="https://app.example/result",
        message_reference="ref-1",
        call_parameters="a=1&b=2",
        max_retries="3",
        retry_interval="120",
        scheduled_timestamp=str(NOW_S + 3600),
        expiration_timestamp=str(NOW_S + 86400),
    )
    assert request.call == calls.NewCall(
        "15551234567", "15557654321", "12#", "ref-1", "a=1&b=2", None
    )
    assert request.settings == calls.CallSettings(
        start_url=START_URL,
        result_url="https://app.example/result",
        max_retries=3,
        retry_interval_s=120,
        scheduled_at=NOW + timedelta(hours=1),
        expires_at=NOW + timedelta(days=1),
    )


def test_minimal_campaign_request_gets_the_defaults() -> None:
    request = campaign()
    assert request == fields.CampaignRequest(
        campaign_name="reminders",
        settings=calls.CallSettings(START_URL, None, 0, 600, NOW, None),
        message_reference=None,
        call_parameters=None,
    )


def test_campaign_request_keeps_its_default_strings() -> None:
    request = campaign(message_reference="ref", call_parameters="p=1", max_retry="2")
    assert (request.message_reference, request.call_parameters) == ("ref", "p=1")
    assert request.settings.max_retries == 2


def test_values_are_trimmed() -> None:
    request = call(
        phone_number="  15551234567 ",
        start_url=f" {START_URL}\t",
        max_retries=" 2 ",
    )
    assert request.call.phone_number == "15551234567"
    assert request.settings.start_url == START_URL
    assert request.settings.max_retries == 2


# message_reference and call_parameters are the sender's data (issue 11): exactly as sent.

DATA_VALUES = [
    "  ACCT 0042  ",
    "Hello Bob.\r\nYour appointment is tomorrow.",
    "a=1\tb=2\n",
    "\r\n",
    "   ",
    "ü€😀 and \x85 (NEL) and \u2028",
    "x" * 255,
    "\n" * 255,
]


@pytest.mark.parametrize("value", DATA_VALUES)
@pytest.mark.parametrize("name", ["message_reference", "call_parameters"])
def test_data_fields_keep_the_value_exactly_as_sent(name: str, value: str) -> None:
    assert getattr(call(**{name: value}).call, name) == value
    assert getattr(campaign(**{name: value}), name) == value


@pytest.mark.parametrize(
    "character", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"]
)
@pytest.mark.parametrize("name", ["message_reference", "call_parameters"])
def test_data_fields_refuse_other_control_characters(name: str, character: str) -> None:
    assert problems(**{name: f"a{character}b"}) == [
        (name, "must not contain control characters other than tab, CR and LF")
    ]


@pytest.mark.parametrize("name", ["message_reference", "call_parameters"])
def test_data_field_length_counts_every_character_sent(name: str) -> None:
    # 254 characters and the two of a CRLF: one over the limit, nothing trimmed to fit.
    assert problems(**{name: "x" * 254 + "\r\n"}) == [(name, "is longer than 255 characters")]
    assert problems(**{name: " " * 256}) == [(name, "is longer than 255 characters")]


def test_integer_values_are_accepted() -> None:
    # The JSON API hands over ints where forms send strings.
    request = call(max_retries=4, retry_interval=60, scheduled_timestamp=0)
    assert request.settings.max_retries == 4
    assert request.settings.retry_interval_s == 60
    assert request.settings.scheduled_at == NOW


# Required fields.


def test_phone_number_is_required() -> None:
    assert call_problems({"start_url": START_URL}) == [("phone_number", "is required")]


def test_start_url_is_required() -> None:
    assert call_problems({"phone_number": "15551234567"}) == [("start_url", "is required")]


def test_campaign_name_is_required() -> None:
    assert campaign_problems({"start_url": START_URL}) == [("campaign_name", "is required")]


def test_campaign_needs_no_phone_number() -> None:
    assert campaign().campaign_name == "reminders"


def test_start_url_is_required_for_a_campaign() -> None:
    assert campaign_problems({"campaign_name": "x"}) == [("start_url", "is required")]


@pytest.mark.parametrize("empty", ["", " ", "\t\r\n", None])
def test_empty_required_fields_count_as_absent(empty: str | None) -> None:
    assert call_problems({"phone_number": empty, "start_url": empty}) == [
        ("phone_number", "is required"),
        ("start_url", "is required"),
    ]
    assert campaign_problems({"campaign_name": empty, "start_url": START_URL}) == [
        ("campaign_name", "is required")
    ]


@pytest.mark.parametrize("empty", ["", "  "])
def test_empty_optional_fields_count_as_absent(empty: str) -> None:
    # Spaces alone are data in message_reference and call_parameters (kept as sent).
    names = [
        "result_url",
        *(["message_reference", "call_parameters"] if empty == "" else []),
        "max_retries",
        "max_retry",
        "retry_interval",
        "scheduled_timestamp",
        "expiration_timestamp",
        "scheduled_time",
        "expiration_time",
    ]
    request = call(**dict.fromkeys(names, empty))
    assert request.call == calls.NewCall("15551234567")
    assert request.settings == calls.CallSettings(START_URL, None, 0, 600, NOW, None)


# Lengths: at the limit is fine, one more is an error.


def padded_phone(length: int) -> str:
    # A possible number made longer with inner spaces (separators are tolerated).
    return "1" + " " * (length - 11) + "5551234567"


def padded_url(length: int) -> str:
    base = "http://app.example/"
    return base + "x" * (length - len(base))


def padded_expression(length: int) -> str:
    return "+1" + " " * (length - 5) + "day"


GOOD_AT: dict[str, Callable[[int], str]] = {
    "phone_number": padded_phone,
    "start_url": padded_url,
    "result_url": padded_url,
    "message_reference": lambda n: "r" * n,
    "call_parameters": lambda n: "p" * n,
    "scheduled_time": padded_expression,
    "expiration_time": lambda n: "+2" + " " * (n - 5) + "day",
}


@pytest.mark.parametrize("name", sorted(GOOD_AT))
def test_length_limits_of_a_call(name: str) -> None:
    limit = fields.LENGTHS[name]
    make = GOOD_AT[name]
    assert len(make(limit)) == limit
    call(**{name: make(limit)})  # at the limit: accepted
    assert problems(**{name: make(limit + 1)}) == [(name, f"is longer than {limit} characters")]


def test_length_limits_are_those_of_the_plum_text() -> None:
    assert fields.LENGTHS == {
        "login": 128,
        "pin": 16,
        "phone_number": 128,
        "start_url": 255,
        "result_url": 255,
        "message_reference": 255,
        "call_parameters": 255,
        "campaign_name": 64,
        "scheduled_time": 80,
        "expiration_time": 80,
        "caller_id": 128,  # ours (PRODUCT.md section 8), as long as a phone_number
    }


def test_length_limits_of_a_campaign() -> None:
    assert campaign(campaign_name="c" * 64).campaign_name == "c" * 64
    form = {**CAMPAIGN, "campaign_name": "c" * 65}
    assert campaign_problems(form) == [("campaign_name", "is longer than 64 characters")]
    request = campaign(message_reference="r" * 255, call_parameters="p" * 255)
    assert request.message_reference == "r" * 255
    form = {**CAMPAIGN, "message_reference": "r" * 256, "call_parameters": "p" * 256}
    assert campaign_problems(form) == [
        ("message_reference", "is longer than 255 characters"),
        ("call_parameters", "is longer than 255 characters"),
    ]


def test_length_counts_characters_not_bytes() -> None:
    assert call(message_reference="é" * 255).call.message_reference == "é" * 255
    assert problems(message_reference="é" * 256) == [
        ("message_reference", "is longer than 255 characters")
    ]


def test_an_overlong_value_is_not_truncated_silently_nor_echoed() -> None:
    found = problems(message_reference="secret" * 50)
    assert found == [("message_reference", "is longer than 255 characters")]
    assert "secret" not in found[0][1]


@pytest.mark.parametrize("bad", ["a\tb", "a\nb", "a\x00b", "a\x7fb"])
def test_campaign_name_must_be_printable(bad: str) -> None:
    assert campaign_problems({**CAMPAIGN, "campaign_name": bad}) == [
        ("campaign_name", "must not contain control characters")
    ]


# URLs.


@pytest.mark.parametrize(
    "url",
    [
        "http://app.example/start.vxml",
        "https://app.example/start.vxml?x=1&y=2",
        "HTTPS://App.Example:8443/x",
        "http://127.0.0.1:8080/",
        "http://[::1]:8080/start",
        "http://user:pass@app.example/",
    ],
)
@pytest.mark.parametrize("name", ["start_url", "result_url"])
def test_good_urls(name: str, url: str) -> None:
    settings = call(**{name: url}).settings
    assert getattr(settings, name) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://app.example/start.vxml",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "/start.vxml",
        "app.example/start.vxml",
        "//app.example/start.vxml",
        "http://",
        "http:///start.vxml",
        "http:app.example",
    ],
)
@pytest.mark.parametrize("name", ["start_url", "result_url"])
def test_urls_must_be_absolute_http(name: str, url: str) -> None:
    assert problems(**{name: url}) == [
        (name, f'"{url}" is not an absolute http:// or https:// URL')
    ]


@pytest.mark.parametrize("name", ["start_url", "result_url"])
def test_urls_must_not_contain_spaces(name: str) -> None:
    assert problems(**{name: "http://app.example/a b"}) == [
        (name, "must not contain spaces or control characters")
    ]


@pytest.mark.parametrize("name", ["start_url", "result_url"])
def test_text_fields_must_not_contain_control_characters(name: str) -> None:
    assert problems(**{name: "http://app.example/\x00"}) == [
        (name, "must not contain control characters")
    ]


@pytest.mark.parametrize("url", ["http://app.example:99999/", "http://[::1/"])
def test_malformed_urls(url: str) -> None:
    [(name, reason)] = problems(start_url=url)
    assert name == "start_url"
    assert reason.startswith(f'"{url}" is not a valid URL (')


# max_retries and its alias max_retry.


@pytest.mark.parametrize("value", ["0", "1", "10"])
def test_max_retries_in_range(value: str) -> None:
    assert call(max_retries=value).settings.max_retries == int(value)
    assert call(max_retry=value).settings.max_retries == int(value)


@pytest.mark.parametrize("value", ["-1", "11", "100", "1.5", "3x", "x", "+3", "1e1", "٣"])
@pytest.mark.parametrize("name", ["max_retries", "max_retry"])
def test_max_retries_out_of_range(name: str, value: str) -> None:
    assert problems(**{name: value}) == [(name, f'must be an integer from 0 to 10, not "{value}"')]


def test_max_retries_and_alias_agreeing() -> None:
    assert call(max_retries="4", max_retry="4").settings.max_retries == 4


def test_max_retries_and_alias_differing() -> None:
    assert problems(max_retries="4", max_retry="5") == [
        ("max_retry", "differs from max_retries; give one of them")
    ]


INTEGER_RANGES = {
    "max_retries": "0 to 10",
    "max_retry": "0 to 10",
    "retry_interval": "60 to 172800",
}


@pytest.mark.parametrize(
    "value", ["--3", "-0", "+3", "+600", "3.0", "600.0", "- 3", "0x10", "1_000", "٣", "６００"]
)
@pytest.mark.parametrize("name", sorted(INTEGER_RANGES))
def test_integers_are_ascii_digits_only(name: str, value: str) -> None:
    # Signs, decimal points and non-ASCII digits are refused, never a crash.
    assert problems(**{name: value}) == [
        (name, f'must be an integer from {INTEGER_RANGES[name]}, not "{value}"')
    ]


@pytest.mark.parametrize("name", sorted(INTEGER_RANGES))
def test_negative_json_integers_are_refused(name: str) -> None:
    assert problems(**{name: -1}) == [
        (name, f'must be an integer from {INTEGER_RANGES[name]}, not "-1"')
    ]


def test_leading_zeros_are_still_digits() -> None:
    request = call(max_retries="03", retry_interval="0600")
    assert (request.settings.max_retries, request.settings.retry_interval_s) == (3, 600)


# retry_interval.


@pytest.mark.parametrize("value", ["60", "61", "600", "172799", "172800"])
def test_retry_interval_in_range(value: str) -> None:
    assert call(retry_interval=value).settings.retry_interval_s == int(value)


@pytest.mark.parametrize("value", ["59", "172801", "0", "-60", "600.0", "10m", "-0"])
def test_retry_interval_out_of_range(value: str) -> None:
    assert problems(retry_interval=value) == [
        ("retry_interval", f'must be an integer from 60 to 172800, not "{value}"')
    ]


# scheduled_timestamp / expiration_timestamp.


def test_scheduled_timestamp_zero_is_now() -> None:
    assert call(scheduled_timestamp="0").settings.scheduled_at == NOW


def test_scheduled_timestamp_in_the_future() -> None:
    request = call(scheduled_timestamp="1795800000")
    assert request.settings.scheduled_at == datetime(2026, 11, 27, 17, 20, tzinfo=UTC)


@pytest.mark.parametrize("value", ["1", "1000000000", str(NOW_S - 1), str(NOW_S)])
def test_scheduled_timestamp_in_the_past_is_now(value: str) -> None:
    assert call(scheduled_timestamp=value).settings.scheduled_at == NOW


def test_largest_timestamp() -> None:
    request = call(scheduled_timestamp=str(fields.MAX_TIMESTAMP))
    assert request.settings.scheduled_at == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["-1", "-1772366400", "1.5", "1772366400.0", "1e9", "soon", "0x10", "１２", "253402300800"],
)
@pytest.mark.parametrize("name", ["scheduled_timestamp", "expiration_timestamp"])
def test_bad_timestamps(name: str, value: str) -> None:
    assert problems(**{name: value}) == [
        (name, f'must be 0 or a UNIX time (whole seconds since 1970), not "{value}"')
    ]


def test_expiration_timestamp_zero_is_never() -> None:
    assert call(expiration_timestamp="0").settings.expires_at is None


def test_expiration_timestamp_in_the_future() -> None:
    request = call(expiration_timestamp=str(NOW_S + 60))
    assert request.settings.expires_at == NOW + timedelta(minutes=1)


@pytest.mark.parametrize("value", ["1", str(NOW_S - 1), str(NOW_S)])
def test_expiration_timestamp_already_past(value: str) -> None:
    assert problems(expiration_timestamp=value) == [("expiration_timestamp", "is already past")]


# scheduled_time / expiration_time.


def test_scheduled_time_now() -> None:
    assert call(scheduled_time="now").settings.scheduled_at == NOW


@pytest.mark.parametrize(
    ("expression", "moment"),
    [
        ("+3 days", NOW + timedelta(days=3)),
        ("tomorrow 9am", datetime(2026, 3, 2, 14, 0, tzinfo=UTC)),  # 9am in New York
        ("oct 14th, 2026 11:05PM EST", datetime(2026, 10, 15, 4, 5, tzinfo=UTC)),
        ("next monday", datetime(2026, 3, 2, 5, 0, tzinfo=UTC)),
        ("2026-03-01 12:00:01 UTC", NOW + timedelta(seconds=1)),
    ],
)
def test_scheduled_time_expressions(expression: str, moment: datetime) -> None:
    assert call(scheduled_time=expression).settings.scheduled_at == moment


def test_expression_without_a_zone_uses_the_given_zone() -> None:
    form = {**CALL, "scheduled_time": "2026-06-01 09:00"}
    paris = fields.parse_call_request(form, now=NOW, zone=ZoneInfo("Europe/Paris"))
    tokyo = fields.parse_call_request(form, now=NOW, zone=ZoneInfo("Asia/Tokyo"))
    assert paris.settings.scheduled_at == datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
    assert tokyo.settings.scheduled_at == datetime(2026, 6, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("expression", ["yesterday", "-1 second", "oct 14th, 2003 11:05PM EST"])
def test_scheduled_time_in_the_past_is_now(expression: str) -> None:
    assert call(scheduled_time=expression).settings.scheduled_at == NOW


def test_expiration_time() -> None:
    assert call(expiration_time="+2 days").settings.expires_at == NOW + timedelta(days=2)


@pytest.mark.parametrize("expression", ["now", "yesterday", "-1 hour"])
def test_expiration_time_already_past(expression: str) -> None:
    assert problems(expiration_time=expression) == [("expiration_time", "is already past")]


@pytest.mark.parametrize("name", ["scheduled_time", "expiration_time"])
@pytest.mark.parametrize("expression", ["blah blah", "tomorrow at 9am", "in 3 days", "99:99"])
def test_invalid_expressions_name_their_field(name: str, expression: str) -> None:
    [(field, reason)] = problems(**{name: expression})
    assert field == name
    assert reason.startswith(f'"{expression}" is not a time expression (')


@pytest.mark.parametrize(
    ("timestamp", "expression"),
    [("scheduled_timestamp", "scheduled_time"), ("expiration_timestamp", "expiration_time")],
)
def test_timestamp_and_expression_together(timestamp: str, expression: str) -> None:
    assert problems(**{timestamp: "0", expression: "+1 day"}) == [
        (expression, f"give either {timestamp} or {expression}, not both")
    ]


# Expiration against the schedule.


@pytest.mark.parametrize(
    ("schedule", "expiration"),
    [
        ({"scheduled_time": "+2 hours"}, {"expiration_time": "+1 hour"}),
        ({"scheduled_time": "+1 hour"}, {"expiration_time": "+1 hour"}),
        ({"scheduled_timestamp": str(NOW_S + 7200)}, {"expiration_timestamp": str(NOW_S + 7200)}),
        ({"scheduled_timestamp": str(NOW_S + 7200)}, {"expiration_time": "+1 hour"}),
    ],
)
def test_expiration_not_after_the_schedule(
    schedule: dict[str, str], expiration: dict[str, str]
) -> None:
    [name] = expiration
    assert problems(**schedule, **expiration) == [(name, "must be later than the scheduled time")]


def test_expiration_one_second_after_the_schedule() -> None:
    request = call(scheduled_timestamp=str(NOW_S + 7200), expiration_timestamp=str(NOW_S + 7201))
    assert request.settings.scheduled_at == NOW + timedelta(seconds=7200)
    assert request.settings.expires_at == NOW + timedelta(seconds=7201)


def test_expiration_after_a_past_schedule_only_needs_to_be_after_now() -> None:
    request = call(scheduled_time="yesterday", expiration_time="+1 minute")
    assert request.settings.scheduled_at == NOW
    assert request.settings.expires_at == NOW + timedelta(minutes=1)


# Several problems at once, in field order.


# The order of the Plum text's table: phone_number (queuecall) or campaign_name
# (queuecalls), start_url, result_url, message_reference, call_parameters,
# max_retries, max_retry, retry_interval, scheduled_*, expiration_*.
SHARED_BAD = {
    "expiration_time": "blah",
    "scheduled_timestamp": "-1",
    "retry_interval": "59",
    "max_retry": "x",
    "max_retries": "11",
    "call_parameters": "p" * 256,
    "message_reference": "r" * 256,
    "result_url": "nope",
    "start_url": "ftp://x",
}
SHARED_ORDER = [
    "start_url",
    "result_url",
    "message_reference",
    "call_parameters",
    "max_retries",
    "max_retry",
    "retry_interval",
    "scheduled_timestamp",
    "expiration_time",
]


def test_every_problem_is_reported_in_field_order() -> None:
    # The form lists the fields backwards: the order is the table's, not the form's.
    found = call_problems({**SHARED_BAD, "phone_number": "12"})
    assert [name for name, _ in found] == ["phone_number", *SHARED_ORDER]
    assert found[0] == ("phone_number", '"12" is not a valid phone number (too short)')


def test_every_campaign_problem_is_reported_in_field_order() -> None:
    found = campaign_problems({**SHARED_BAD, "campaign_name": "c" * 65})
    assert [name for name, _ in found] == ["campaign_name", *SHARED_ORDER]


def test_scheduled_time_is_reported_before_expiration_timestamp() -> None:
    found = problems(expiration_timestamp="soon", scheduled_time="blah", retry_interval="1")
    assert [name for name, _ in found] == [
        "retry_interval",
        "scheduled_time",
        "expiration_timestamp",
    ]


def test_the_error_lists_every_problem() -> None:
    with pytest.raises(errors.InvalidInputs) as caught:
        fields.parse_call_request({"max_retries": "11"}, now=NOW, zone=ZONE)
    error = caught.value
    assert isinstance(error, errors.InvalidInput)
    assert (error.field, error.reason) == ("phone_number", "is required")
    assert str(error) == (
        "phone_number: is required; start_url: is required; "
        'max_retries: must be an integer from 0 to 10, not "11"'
    )


def test_campaign_problems_in_field_order() -> None:
    found = campaign_problems(
        {"campaign_name": "", "start_url": "x", "retry_interval": "1", "call_parameters": "p" * 300}
    )
    assert [name for name, _ in found] == [
        "campaign_name",
        "start_url",
        "call_parameters",
        "retry_interval",
    ]


def test_message_reference_is_reported_before_max_retries() -> None:
    found = problems(max_retries="11", message_reference="r" * 256, call_parameters="p" * 256)
    assert [name for name, _ in found] == ["message_reference", "call_parameters", "max_retries"]


# The PIN is never echoed.


@pytest.mark.parametrize("parse", [fields.parse_call_request, fields.parse_campaign_request])
def test_no_message_shows_the_pin(parse: Callable[..., object]) -> None:
    pin = "73914"
    form = {
        "login": "alice",
        "pin": pin,
        "phone_number": "12",
        "campaign_name": "\x00",
        "start_url": "nope",
        "max_retries": "99",
        "scheduled_time": "soonish",
        "message_reference": "x" * 256,
    }
    with pytest.raises(errors.InvalidInputs) as caught:
        parse(form, now=NOW, zone=ZONE)
    assert caught.value.problems
    texts = [str(caught.value), *(str(p) for p in caught.value.problems)]
    assert not any(pin in text for text in texts)
    assert not any(p.field == "pin" for p in caught.value.problems)


def test_login_and_pin_are_not_checked_here() -> None:
    request = call(login="x" * 500, pin="y" * 500)
    assert request.call.phone_number == "15551234567"


# caller_id (PRODUCT.md section 8): the caller ID of calls without ;ani=, national or not.


@pytest.mark.parametrize(
    ("caller_id", "ani"),
    [
        ("8009957586", "18009957586"),
        ("+44 20 7946 0000", "442079460000"),
        ("1 800 995 7586", "18009957586"),
    ],
)
def test_caller_id_is_the_ani_of_a_call_without_one(caller_id: str, ani: str) -> None:
    assert call(caller_id=caller_id).call.ani == ani


def test_ani_of_the_number_wins_over_caller_id() -> None:
    request = call(phone_number="15551234567;ani=8001112222", caller_id="8009957586")
    assert request.call.ani == "18001112222"


@pytest.mark.parametrize(
    ("caller_id", "reason"),
    [
        (
            "12345",
            '"12345" is not a valid phone number (too short for US, +1, the called number\'s '
            "country; nor is it one with its country code)",
        ),
        (
            "800-FLOWERS",
            '"800-FLOWERS" is not a valid phone number (only digits, +, spaces, '
            "dots, dashes and brackets are allowed)",
        ),
        ("+12345", '"+12345" is not a valid phone number (too short for country code 1)'),
        ("1" * 129, "is longer than 128 characters"),
    ],
)
def test_a_caller_id_no_reading_makes_possible_is_refused(caller_id: str, reason: str) -> None:
    assert problems(caller_id=caller_id) == [("caller_id", reason)]


def test_caller_id_is_checked_even_beside_an_ani() -> None:
    assert problems(phone_number="15551234567;ani=8001112222", caller_id="x") == [
        (
            "caller_id",
            '"x" is not a valid phone number (only digits, +, spaces, dots, dashes '
            "and brackets are allowed)",
        )
    ]


def test_campaign_keeps_caller_id_as_sent_for_each_line_to_read() -> None:
    assert campaign(caller_id=" 800 995 7586 ").caller_id == "800 995 7586"
    assert campaign().caller_id is None
    # What no country could read is refused for the whole upload.
    assert campaign_problems({**CAMPAIGN, "caller_id": "+12345"}) == [
        ("caller_id", '"+12345" is not a valid phone number (too short for country code 1)')
    ]
    assert campaign_problems({**CAMPAIGN, "caller_id": "call me"})[0][0] == "caller_id"
