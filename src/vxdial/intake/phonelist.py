"""Reading an uploaded phone_list, line by line, in constant memory.

One call a line, CSV: ``phone[,message_reference[,call_parameters]]`` (PRODUCT.md
section 2). Quoted fields may hold commas (and, being CSV, even line breaks: such a
record is reported at the line where it starts). A UTF-8 byte order mark, blank
lines and CRLF endings are accepted; a first line that is a header naming the
columns ("phone_number,...") is skipped. Bytes that are not UTF-8 reject their line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from vxdial.domain import calls, errors, numbers

MAX_FIELDS = 3
# Fields are at most 255 characters; a larger limit than that only lets an unbalanced
# quote swallow the rest of the file before it is reported.
FIELD_SIZE_LIMIT = 4096
_HEADER_NAMES = {"phone", "phone_number", "number", "phonenumber"}
PHONE_MAX = 128
TEXT_MAX = 255
_FIELD_LIMITS = (
    ("phone_number", PHONE_MAX),
    ("message_reference", TEXT_MAX),
    ("call_parameters", TEXT_MAX),
)
_REPLACEMENT = "\ufffd"  # what undecodable bytes become

csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str  # "field: reason", as the answer shows it


def read_phone_list(
    stream: BinaryIO,
    *,
    message_reference: str | None = None,
    call_parameters: str | None = None,
) -> Iterator[calls.NewCall | Rejected]:
    """Yield a ``NewCall`` (with its ``line``) or a ``Rejected`` for every non-blank line."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.reader(text, strict=True)
    parse_destination = numbers.parse_destination
    new_call = calls.NewCall
    end_of_previous = 0
    first = True
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line = end_of_previous + 1
            end_of_previous = reader.line_num
            first = False
            yield Rejected(line, f"line is not valid CSV ({exc})")
            continue
        line = end_of_previous + 1
        end_of_previous = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if first:
            first = False
            if fields[0].strip().lower() in _HEADER_NAMES:
                continue
        count = len(fields)
        if count > MAX_FIELDS:
            yield Rejected(
                line,
                f"line has {count} fields; at most {MAX_FIELDS}: "
                "phone_number,message_reference,call_parameters",
            )
            continue
        phone = fields[0]
        reference = fields[1] if count > 1 else ""
        parameters = fields[2] if count > 2 else ""
        # One cheap test for the common, clean line; the slow one names the problem.
        if (
            len(phone) > PHONE_MAX
            or len(reference) > TEXT_MAX
            or len(parameters) > TEXT_MAX
            or (_REPLACEMENT in phone or _REPLACEMENT in reference or _REPLACEMENT in parameters)
        ):
            yield Rejected(line, _field_problem(fields))
            continue
        try:
            destination = parse_destination(phone)
        except errors.InvalidInput as exc:
            yield Rejected(line, str(exc))
            continue
        yield new_call(
            destination.number,
            destination.ani,
            destination.postd,
            reference or message_reference,
            parameters or call_parameters,
            line,
        )


def _field_problem(fields: list[str]) -> str:
    for value, (name, limit) in zip(fields, _FIELD_LIMITS, strict=False):
        if len(value) > limit:
            return f"{name}: is longer than {limit} characters"
        if _REPLACEMENT in value:
            return f"{name}: is not valid UTF-8 text"
    raise AssertionError("no problem found")
