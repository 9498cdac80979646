"""Reading an uploaded phone_list, line by line, in constant memory.

One call a line, CSV: ``phone[,message_reference[,call_parameters]]`` (PRODUCT.md
section 2). Quoted fields may hold commas, doubled quotes and line breaks (RFC 4180
section 2.6): message_reference and call_parameters are the sender's data and travel
exactly as written, so a quoted field keeps its spaces, tabs and CR/LF. Unquoted fields
are trimmed (spreadsheets and people write ", "). A record that runs over several lines
is reported at the line where it starts; it may span at most ``MAX_LINE`` characters,
and a quote that does not close within them (or closes into a record that is not valid
CSV) rejects only the line where it opened: reading resumes on the next line, so an
unbalanced quote never swallows the lines after it. A UTF-8 byte order mark, blank lines
(also lines of empty fields, as spreadsheets export them), and LF, CRLF or CR endings
are accepted; a first line that is a header naming the columns ("phone_number,...") is
skipped. Bytes that are not UTF-8 reject their line; a line longer than ``MAX_LINE``
characters is rejected without being held in memory.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from vxdial.domain import calls, errors, numbers
from vxdial.intake.fields import CONTROL_CHARACTERS, DATA_CONTROL_CHARACTERS

MAX_FIELDS = 3
PHONE_MAX = 128
TEXT_MAX = 255
# Three full fields, quoted, with their doubled quotes: anything longer is not a line
# (or a record of several lines) we could accept, and reading it whole would let one
# line take any amount of memory.
MAX_LINE = 2 * (PHONE_MAX + 2 * TEXT_MAX) + 16
_HEADER_NAMES = {"phone", "phone_number", "number", "phonenumber"}
_FIELD_LIMITS = (
    ("phone_number", PHONE_MAX, CONTROL_CHARACTERS),
    ("message_reference", TEXT_MAX, DATA_CONTROL_CHARACTERS),
    ("call_parameters", TEXT_MAX, DATA_CONTROL_CHARACTERS),
)
_REPLACEMENT = "\ufffd"  # what undecodable bytes become
_LINE_ENDS = "\r\n"
_READ = MAX_LINE + 2  # a longest line with its CRLF
_BLANKS = " \t"
UNCLOSED = "line is not valid CSV (a quoted field is not closed)"


class _Unterminated(Exception):
    """A quoted field ran past the end of the text given."""


class _BadCsv(Exception):
    """The record is not CSV; the message says why."""


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str  # "field: reason", as the answer shows it


def read_phone_list(
    stream: BinaryIO,
    *,
    message_reference: str | None = None,
    call_parameters: str | None = None,
    caller_id: str | None = None,
) -> Iterator[calls.NewCall | Rejected]:
    """Yield a ``NewCall`` (with its ``line``) or a ``Rejected`` for every non-blank line.

    ``message_reference`` and ``call_parameters`` are the values of lines that leave
    theirs empty; ``caller_id`` is the caller ID of lines without ``;ani=``, read in
    each line's country (a line whose country cannot read it is rejected).
    """
    parse_destination = numbers.parse_destination
    caller_ids = numbers.CallerIds(caller_id) if caller_id else None
    new_call = calls.NewCall
    next_line = _physical_lines(stream).__next__
    pending: deque[str] = deque()  # lines read ahead for a quoted line break, not yet used
    read = 0  # physical lines taken so far
    first = True
    while True:
        if pending:
            raw = pending.popleft()
        else:
            try:
                raw = next_line()
            except StopIteration:
                return
        read += 1
        line = read  # where this record starts
        if not raw:  # too long: _physical_lines does not keep its text
            first = False
            yield Rejected(line, f"line is longer than {MAX_LINE} characters")
            continue
        record = raw.rstrip(_LINE_ENDS)
        quoted: tuple[bool, ...] = ()
        if '"' in record:
            try:
                fields, quoted = _split(record)
            except _Unterminated:
                joined = _join_quoted(raw, pending, next_line)
                if joined is None:
                    first = False
                    yield Rejected(line, UNCLOSED)
                    continue
                (fields, quoted), record, used = joined
                read += used
                for _ in range(used):
                    pending.popleft()
            except _BadCsv as exc:
                first = False
                yield Rejected(line, f"line is not valid CSV ({exc})")
                continue
        else:
            fields = record.split(",")
        count = len(fields)
        if quoted:
            phone = fields[0] if quoted[0] else fields[0].strip()
            reference = (fields[1] if quoted[1] else fields[1].strip()) if count > 1 else ""
            parameters = (fields[2] if quoted[2] else fields[2].strip()) if count > 2 else ""
            phone = phone.strip()  # a number is never data: "  1555 " is 1555
        else:
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
            ani = destination.ani
            if ani is None and caller_ids is not None:
                try:
                    ani = caller_ids.for_called(destination.number)
                except errors.InvalidInput as exc:
                    yield Rejected(line, f"caller_id: {exc.reason}")
                    continue
        except errors.InvalidInput as exc:
            yield Rejected(line, str(exc))
            continue
        yield new_call(
            destination.number,
            ani,
            destination.postd,
            reference or message_reference,
            parameters or call_parameters,
            line,
        )


def _physical_lines(stream: BinaryIO) -> Iterator[str]:
    """Each line of the upload with its ending; a line longer than ``MAX_LINE`` comes as
    "" (no line is empty otherwise), its text never held whole."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    readline = text.readline
    ended_in_cr = False  # the last read ended in a CR, maybe the first half of a CRLF
    while raw := readline(_READ):
        if ended_in_cr and raw[0] == "\n":
            # The LF of a CRLF that the read limit split from its CR: not a line.
            raw = raw[1:]
            if not raw:
                ended_in_cr = False
                continue
        ended_in_cr = raw[-1] == "\r"
        if len(raw) == _READ and raw[-1] not in _LINE_ENDS:
            ended_in_cr = _skip_rest_of_line(readline)
            yield ""
        elif len(raw) > MAX_LINE and len(raw.rstrip(_LINE_ENDS)) > MAX_LINE:
            yield ""
        else:
            yield raw


def line_starts(stream: BinaryIO, wanted: set[int], keep_chars: int) -> dict[int, str]:
    """The first ``keep_chars`` characters of each wanted physical line of an upload
    (numbered as ``read_phone_list`` numbers them), for showing rejected lines: memory
    stays bounded by ``keep_chars`` whatever a line's length (a 200 MiB line included).
    ``stream`` is read from where it stands and left open."""
    found: dict[int, str] = {}
    if not wanted:
        return found
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    try:
        readline = text.readline
        last = max(wanted)
        number = 0
        ended_in_cr = False
        while number < last and (piece := readline(_READ)):
            if ended_in_cr and piece[0] == "\n":
                piece = piece[1:]  # the LF of a CRLF split from its CR by the read limit
                if not piece:
                    ended_in_cr = False
                    continue
            number += 1
            ended_in_cr = piece[-1] == "\r"
            if number in wanted:
                found[number] = piece.rstrip(_LINE_ENDS)[:keep_chars]
            if len(piece) == _READ and piece[-1] not in _LINE_ENDS:
                ended_in_cr = _skip_rest_of_line(readline)
    finally:
        text.detach()  # the caller's stream stays open
    return found


def _join_quoted(
    first: str, pending: deque[str], next_line: Callable[[], str]
) -> tuple[tuple[list[str], tuple[bool, ...]], str, int] | None:
    """The record that starts with line ``first`` and whose quoted field holds line
    breaks: (its fields, the record, how many lines of ``pending`` it took). The lines
    after ``first`` are read ahead into ``pending``; the caller takes the used ones out.
    None when no valid record ends within ``MAX_LINE`` characters: the caller rejects
    ``first`` alone and goes on with ``pending``."""
    record = first
    used = 0
    while True:
        if used < len(pending):
            following = pending[used]
        else:
            try:
                following = next_line()
            except StopIteration:
                return None
            pending.append(following)
        if not following:  # a line too long to keep
            return None
        record += following
        used += 1
        joined = record.rstrip(_LINE_ENDS)
        if len(joined) > MAX_LINE:
            return None
        try:
            return _split(joined), joined, used
        except _Unterminated:
            continue
        except _BadCsv:
            return None


def _split(record: str) -> tuple[list[str], tuple[bool, ...]]:
    """CSV fields of one record and whether each was quoted (RFC 4180, with blanks
    allowed around a quoted field, and a quote inside an unquoted field kept as an
    ordinary character, as Python's csv module reads it)."""
    fields: list[str] = []
    quoted: list[bool] = []
    end = len(record)
    start = 0
    while True:
        opening = start
        while opening < end and record[opening] in _BLANKS:
            opening += 1
        if opening < end and record[opening] == '"':
            parts = []
            position = opening + 1
            while True:
                closing = record.find('"', position)
                if closing < 0:
                    raise _Unterminated
                parts.append(record[position:closing])
                if record.startswith('"', closing + 1):  # a doubled quote: one quote
                    parts.append('"')
                    position = closing + 2
                    continue
                position = closing + 1
                break
            while position < end and record[position] in _BLANKS:
                position += 1
            if position < end and record[position] != ",":
                raise _BadCsv(f"text after the closing quote of field {len(fields) + 1}")
            fields.append("".join(parts))
            quoted.append(True)
            if position >= end:
                break
            start = position + 1
            if start == end:  # a final comma: one more, empty, field
                fields.append("")
                quoted.append(False)
                break
        else:
            comma = record.find(",", start)
            if comma < 0:
                fields.append(record[start:])
                quoted.append(False)
                break
            fields.append(record[start:comma])
            quoted.append(False)
            start = comma + 1
    quoted += [False] * (MAX_FIELDS - len(quoted))
    return fields, tuple(quoted)


def _skip_rest_of_line(readline: Callable[[int], str]) -> bool:
    """Read past the end of an overlong line; True if it ended in a CR."""
    while rest := readline(_READ):
        if rest[-1] in _LINE_ENDS:
            return rest[-1] == "\r"
    return False


def _field_problem(fields: tuple[str, str, str]) -> str | None:
    for value, (name, limit, control) in zip(fields, _FIELD_LIMITS, strict=True):
        if len(value) > limit:
            return f"{name}: is longer than {limit} characters"
        if _REPLACEMENT in value:
            return f"{name}: is not valid UTF-8 text"
        if control.search(value):
            if control is CONTROL_CHARACTERS:
                return f"{name}: must not contain control characters"
            return f"{name}: must not contain control characters other than tab, CR and LF"
    return None
