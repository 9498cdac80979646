"""Reading an uploaded phone_list, line by line, in constant memory.

One call a line, CSV: ``phone[,message_reference[,call_parameters]]`` (PRODUCT.md
section 2). Quoted fields may hold commas and doubled quotes, but not line breaks:
each physical line is one record, so an unbalanced quote rejects its own line and
never swallows the lines after it. A UTF-8 byte order mark, blank lines (also lines
of empty fields, as spreadsheets export them), and LF, CRLF or CR endings are
accepted; a first line that is a header naming the columns ("phone_number,...") is
skipped. Fields are trimmed. Bytes that are not UTF-8 reject their line; a line
longer than ``MAX_LINE`` characters is rejected without being held in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from vxdial.domain import calls, errors, numbers
from vxdial.intake.fields import CONTROL_CHARACTERS

MAX_FIELDS = 3
PHONE_MAX = 128
TEXT_MAX = 255
# Three full fields, quoted, with their doubled quotes: anything longer is not a line
# we could accept, and reading it whole would let one line take any amount of memory.
MAX_LINE = 2 * (PHONE_MAX + 2 * TEXT_MAX) + 16
_HEADER_NAMES = {"phone", "phone_number", "number", "phonenumber"}
_FIELD_LIMITS = (
    ("phone_number", PHONE_MAX),
    ("message_reference", TEXT_MAX),
    ("call_parameters", TEXT_MAX),
)
_REPLACEMENT = "\ufffd"  # what undecodable bytes become
_CONTROL = CONTROL_CHARACTERS
_LINE_ENDS = "\r\n"
_READ = MAX_LINE + 2  # a longest line with its CRLF


class _Unterminated(Exception):
    """A quoted field ran past the end of its line."""


class _OneLine:
    """The input of the csv reader: the one line we hand it, and never the next.

    When a quoted field is not closed on its line, csv asks for the next line; we
    refuse, so the line is rejected alone (csv starts every record afresh).
    """

    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line: str | None = None

    def __iter__(self) -> _OneLine:
        return self

    def __next__(self) -> str:
        line = self.line
        if line is None:
            raise _Unterminated
        self.line = None
        return line


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
    parse_destination = numbers.parse_destination
    new_call = calls.NewCall
    readline = text.readline
    one_line = _OneLine()
    quoted = csv.reader(one_line, strict=True)
    line = 0
    first = True
    ended_in_cr = False  # the last read ended in a CR, maybe the first half of a CRLF
    while raw := readline(_READ):
        if ended_in_cr and raw[0] == "\n":
            # The LF of a CRLF that the read limit split from its CR: not a line.
            raw = raw[1:]
            if not raw:
                ended_in_cr = False
                continue
        ended_in_cr = raw[-1] == "\r"
        line += 1
        if len(raw) == _READ and raw[-1] not in _LINE_ENDS:
            ended_in_cr = _skip_rest_of_line(readline)
            first = False
            yield Rejected(line, f"line is longer than {MAX_LINE} characters")
            continue
        record = raw.rstrip(_LINE_ENDS)
        if len(record) > MAX_LINE:
            first = False
            yield Rejected(line, f"line is longer than {MAX_LINE} characters")
            continue
        if '"' in record:
            one_line.line = record
            try:
                fields = next(quoted)
            except _Unterminated:
                first = False
                yield Rejected(line, "line is not valid CSV (a quoted field is not closed)")
                continue
            except csv.Error as exc:
                one_line.line = None
                first = False
                yield Rejected(line, f"line is not valid CSV ({exc})")
                continue
        else:
            fields = record.split(",")
        count = len(fields)
        phone = fields[0].strip()
        reference = fields[1].strip() if count > 1 else ""
        parameters = fields[2].strip() if count > 2 else ""
        if not (phone or reference or parameters) and all(not f.strip() for f in fields):
            continue  # a blank line, or one of empty fields
        if first:
            first = False
            if phone.lower() in _HEADER_NAMES:
                continue
        if count > MAX_FIELDS:
            yield Rejected(
                line,
                f"line has {count} fields; at most {MAX_FIELDS}: "
                "phone_number,message_reference,call_parameters",
            )
            continue
        # One cheap test clears the common, short line; longer ones get each field checked.
        if len(record) > PHONE_MAX or _REPLACEMENT in record or not record.isprintable():
            problem = _field_problem((phone, reference, parameters))
            if problem is not None:
                yield Rejected(line, problem)
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


def _skip_rest_of_line(readline: Callable[[int], str]) -> bool:
    """Read past the end of an overlong line; True if it ended in a CR."""
    while rest := readline(_READ):
        if rest[-1] in _LINE_ENDS:
            return rest[-1] == "\r"
    return False


def _field_problem(fields: tuple[str, str, str]) -> str | None:
    for value, (name, limit) in zip(fields, _FIELD_LIMITS, strict=True):
        if len(value) > limit:
            return f"{name}: is longer than {limit} characters"
        if _REPLACEMENT in value:
            return f"{name}: is not valid UTF-8 text"
        if _CONTROL.search(value):
            return f"{name}: must not contain control characters"
    return None
