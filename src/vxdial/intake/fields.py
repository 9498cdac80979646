"""The request fields of queuecall / queuecalls (and the JSON API), checked one by one.

Types, lengths and ranges are those of the Plum text (spec/plum-outbound-v3.txt,
PRODUCT.md section 2). Every problem is reported, each naming its field; nothing is
truncated silently; an empty value counts as absent (HTML forms send every field).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from vxdial.domain import calls, errors, numbers, timeexpr
from vxdial.domain.campaigns import DEFAULT_CAMPAIGN_NAME
from vxdial.domain.clock import from_epoch_s
from vxdial.domain.errors import quote

LENGTHS = {
    "login": 128,
    "pin": 16,
    "phone_number": 128,
    "caller_id": 128,
    "start_url": 255,
    "result_url": 255,
    "message_reference": 255,
    "call_parameters": 255,
    "campaign_name": 64,
    "scheduled_time": 80,
    "expiration_time": 80,
}
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# message_reference and call_parameters are the sender's own data ("arbitrary data with
# possibly several different parameters", the Plum text): line breaks and tabs are
# theirs to use; NUL cannot be stored, and the other controls have no place in text.
DATA_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DATA_FIELDS = ("message_reference", "call_parameters")
FieldValue = str | int | None
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A checked queuecall: one call, with its settings."""

    call: calls.NewCall
    settings: calls.CallSettings


@dataclass(frozen=True, slots=True)
class CampaignRequest:
    """A checked queuecalls, before its phone_list is read."""

    campaign_name: str
    settings: calls.CallSettings
    # queuecalls' own message_reference / call_parameters: the value for lines that
    # leave theirs out.
    message_reference: str | None
    call_parameters: str | None
    # The caller ID of every line without ;ani=, as sent: a national one is read in
    # each line's country (PRODUCT.md section 8).
    caller_id: str | None = None


class _Problems:
    """Collects the problems of one request, in field order."""

    def __init__(self, form: Mapping[str, FieldValue]) -> None:
        self.form = form
        self.found: list[errors.InvalidInput] = []

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.form.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            if required:
                self.found.append(errors.InvalidInput(name, "is required"))
            return None
        text = str(value).strip()
        limit = LENGTHS.get(name)
        if limit is not None and len(text) > limit:
            self.found.append(errors.InvalidInput(name, f"is longer than {limit} characters"))
            return None
        if CONTROL_CHARACTERS.search(text):
            # NUL cannot be stored at all, and the others break logs, CSV and XML.
            self.found.append(errors.InvalidInput(name, "must not contain control characters"))
            return None
        return text

    def data(self, name: str) -> str | None:
        """A field of the sender's own data, exactly as sent: no trimming, CR, LF and
        TAB allowed (they reach start_url and result_url byte for byte)."""
        value = self.form.get(name)
        if value is None or value == "":
            return None
        text = str(value)
        limit = LENGTHS[name]
        if len(text) > limit:
            self.found.append(errors.InvalidInput(name, f"is longer than {limit} characters"))
            return None
        if DATA_CONTROL_CHARACTERS.search(text):
            self.found.append(
                errors.InvalidInput(
                    name, "must not contain control characters other than tab, CR and LF"
                )
            )
            return None
        return text

    def check(self, name: str, value: str | None, parse: Callable[[str], T]) -> T | None:
        if value is None:
            return None
        try:
            return parse(value)
        except errors.InvalidInput as exc:
            self.found.append(errors.InvalidInput(name, exc.reason))
            return None

    def add(self, name: str, reason: str) -> None:
        self.found.append(errors.InvalidInput(name, reason))

    def raise_if_any(self) -> None:
        if self.found:
            raise errors.InvalidInputs(self.found)


def parse_call_request(
    form: Mapping[str, FieldValue], *, now: datetime, zone: ZoneInfo
) -> CallRequest:
    """Check a queuecall's fields (login and PIN excluded); raise ``InvalidInputs``."""
    problems = _Problems(form)
    phone = problems.text("phone_number", required=True)
    destination = problems.check("phone_number", phone, numbers.parse_destination)
    settings, message_reference, call_parameters = _settings(problems, now=now, zone=zone)
    # Extension fields (PRODUCT.md section 8) after the Plum ones.
    caller_id = problems.text("caller_id")
    ani = destination.ani if destination is not None else None
    if caller_id is not None and destination is not None and ani is None:
        ani = problems.check(
            "caller_id", caller_id, lambda text: numbers.parse_caller_id(text, destination.number)
        )
    else:  # ;ani= wins, but a caller_id that no number could read is still an error
        problems.check("caller_id", caller_id, numbers.check_caller_id)
    problems.raise_if_any()
    assert destination is not None and settings is not None
    return CallRequest(
        calls.NewCall(
            phone_number=destination.number,
            ani=ani,
            postd=destination.postd,
            message_reference=message_reference,
            call_parameters=call_parameters,
        ),
        settings,
    )


def parse_campaign_request(
    form: Mapping[str, FieldValue],
    *,
    now: datetime,
    zone: ZoneInfo,
    has_phone_list: bool | None = None,
) -> CampaignRequest:
    """Check a queuecalls' fields other than login and PIN.

    ``has_phone_list`` tells whether a list came with them (None: not known here), so a
    missing one is reported with the other problems, in field order.
    """
    problems = _Problems(form)
    name = problems.text("campaign_name", required=True)
    if name is not None and not name.isprintable():
        problems.add("campaign_name", "must not contain control characters")
        name = None
    elif name == DEFAULT_CAMPAIGN_NAME:
        problems.add("campaign_name", '"default" is where single calls go; choose another name')
    if has_phone_list is False:
        problems.add("phone_list", "is required: upload the list of numbers as a file")
    settings, message_reference, call_parameters = _settings(problems, now=now, zone=zone)
    caller_id = problems.text("caller_id")  # an extension field (PRODUCT.md section 8)
    problems.check("caller_id", caller_id, numbers.check_caller_id)
    problems.raise_if_any()
    assert name is not None and settings is not None
    return CampaignRequest(name, settings, message_reference, call_parameters, caller_id)


def _settings(
    problems: _Problems, *, now: datetime, zone: ZoneInfo
) -> tuple[calls.CallSettings | None, str | None, str | None]:
    """The fields every request shares, checked in the order of the Plum text's table:
    the settings (None if any is wrong), message_reference and call_parameters."""
    before = len(problems.found)
    start_url = problems.check("start_url", problems.text("start_url", required=True), _url)
    result_url = problems.check("result_url", problems.text("result_url"), _url)
    message_reference = problems.data("message_reference")
    call_parameters = problems.data("call_parameters")
    max_retries = _max_retries(problems)
    retry_interval = problems.check(
        "retry_interval",
        problems.text("retry_interval"),
        _integer_in(calls.RETRY_INTERVAL_RANGE_S),
    )
    scheduled = _moment(problems, "scheduled_timestamp", "scheduled_time", now=now, zone=zone)
    expires = _moment(problems, "expiration_timestamp", "expiration_time", now=now, zone=zone)
    scheduled_at = now if scheduled is None or scheduled[0] is None else max(now, scheduled[0])
    expires_at = None if expires is None else expires[0]
    if expires is not None and expires_at is not None:
        if expires_at <= now:
            problems.add(expires[1], "is already past")
        elif expires_at <= scheduled_at:
            problems.add(expires[1], "must be later than the scheduled time")
    if len(problems.found) > before or start_url is None:
        return None, message_reference, call_parameters
    settings = calls.CallSettings(
        start_url=start_url,
        result_url=result_url,
        max_retries=calls.DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
        retry_interval_s=(
            calls.DEFAULT_RETRY_INTERVAL_S if retry_interval is None else retry_interval
        ),
        scheduled_at=scheduled_at,
        expires_at=expires_at,
    )
    return settings, message_reference, call_parameters


def _max_retries(problems: _Problems) -> int | None:
    parse = _integer_in(calls.MAX_RETRIES_RANGE)
    value = problems.check("max_retries", problems.text("max_retries"), parse)
    alias = problems.check("max_retry", problems.text("max_retry"), parse)
    if value is not None and alias is not None and value != alias:
        problems.add("max_retry", "differs from max_retries; give one of them")
    return value if value is not None else alias


def _moment(
    problems: _Problems,
    timestamp_field: str,
    expression_field: str,
    *,
    now: datetime,
    zone: ZoneInfo,
) -> tuple[datetime | None, str] | None:
    """(moment or None for "0", the field it came from), or None if neither was given."""
    timestamp = problems.text(timestamp_field)
    expression = problems.text(expression_field)
    if timestamp is not None and expression is not None:
        problems.add(
            expression_field, f"give either {timestamp_field} or {expression_field}, not both"
        )
        return None
    if timestamp is not None:
        seconds = problems.check(timestamp_field, timestamp, _timestamp)
        if seconds is None:
            return None
        return (None if seconds == 0 else from_epoch_s(seconds)), timestamp_field
    if expression is not None:
        try:
            return timeexpr.parse(expression, now=now, zone=zone), expression_field
        except timeexpr.InvalidTimeExpression as exc:
            problems.add(expression_field, f"{quote(expression)} is not a time expression ({exc})")
    return None


def _url(text: str) -> str:
    if any(c.isspace() or not c.isprintable() for c in text):
        raise errors.InvalidInput("url", "must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError as exc:
        raise errors.InvalidInput("url", f"{quote(text)} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise errors.InvalidInput(
            "url", f"{quote(text)} is not an absolute http:// or https:// URL"
        )
    return text


def _integer_in(allowed: range) -> Callable[[str], int]:
    low, high = allowed.start, allowed.stop - 1

    def parse(text: str) -> int:
        # Digits only: "-0", "+3", "3.0" and "--3" are not the integers Plum takes.
        if not (text.isascii() and text.isdigit()) or int(text) not in allowed:
            raise errors.InvalidInput(
                "value", f"must be an integer from {low} to {high}, not {quote(text)}"
            )
        return int(text)

    return parse


def _timestamp(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_TIMESTAMP:
        raise errors.InvalidInput(
            "value", f"must be 0 or a UNIX time (whole seconds since 1970), not {quote(text)}"
        )
    return int(text)
