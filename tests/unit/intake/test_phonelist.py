"""vxdial.intake.phonelist: streaming an uploaded phone_list (PRODUCT.md section 2)."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator

import pytest

from vxdial.domain import calls
from vxdial.intake import phonelist
from vxdial.intake.phonelist import Rejected, line_starts, read_phone_list

NewCall = calls.NewCall
Item = calls.NewCall | Rejected


def read(data: bytes, **defaults: str | None) -> list[Item]:
    return list(phonelist.read_phone_list(io.BytesIO(data), **defaults))


def good(
    line: int, phone: str, reference: str | None = None, parameters: str | None = None
) -> Item:
    return NewCall(phone, None, None, reference, parameters, line)


# Good lines.


def test_lines_with_one_two_and_three_fields() -> None:
    data = b"15551234567\n15551234568,ref-2\n15551234569,ref-3,a=1&b=2\n"
    assert read(data) == [
        good(1, "15551234567"),
        good(2, "15551234568", "ref-2"),
        good(3, "15551234569", "ref-3", "a=1&b=2"),
    ]


def test_phone_numbers_are_normalized_with_ani_and_postd() -> None:
    data = b'+1 (555) 123-4567\n"tel:+1-555-123-4568;ani=15557654321;postd=1w2",ref\n'
    assert read(data) == [
        good(1, "15551234567"),
        NewCall("15551234568", "15557654321", "1w2", "ref", None, 2),
    ]


def test_last_line_without_a_line_break() -> None:
    assert read(b"15551234567\n15551234568") == [good(1, "15551234567"), good(2, "15551234568")]


def test_empty_file() -> None:
    assert read(b"") == []


def test_quoted_fields_may_contain_commas() -> None:
    data = b'15551234567,"Smith, John","a=1,b=2"\n"15551234568","x,y",\n'
    assert read(data) == [
        good(1, "15551234567", "Smith, John", "a=1,b=2"),
        good(2, "15551234568", "x,y"),
    ]


def test_doubled_quotes_inside_a_quoted_field() -> None:
    assert read(b'15551234567,"say ""hi"""\n') == [good(1, "15551234567", 'say "hi"')]


UNCLOSED = "line is not valid CSV (a quoted field is not closed)"
ONLY_SEPARATORS = "only digits, +, spaces, dots, dashes and brackets are allowed"


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_a_quoted_field_may_hold_line_breaks(ending: bytes) -> None:
    """RFC 4180 section 2.6; issue 11: call_parameters such as "Hello Bob.<CRLF>Your
    appointment is tomorrow." travel exactly as written, reported at their first line."""
    data = ending.join([b"15551234567", b'15551234568,"two', b'lines",p', b"15551234569", b""])
    text = ending.decode()
    assert read(data) == [
        good(1, "15551234567"),
        good(2, "15551234568", f"two{text}lines", "p"),
        good(4, "15551234569"),
    ]


def test_crlf_and_tabs_inside_quotes_reach_call_parameters_exactly() -> None:
    data = (
        b'15551234567,"  ACCT 0042  ","Hello Bob.\r\nYour appointment is tomorrow."\r\n'
        b'15551234568,"\tindented","a\tb\r\n\r\nc"\r\n'
    )
    assert read(data) == [
        good(1, "15551234567", "  ACCT 0042  ", "Hello Bob.\r\nYour appointment is tomorrow."),
        good(3, "15551234568", "\tindented", "a\tb\r\n\r\nc"),  # line 1 took two
    ]


def test_a_record_over_several_lines_is_bounded() -> None:
    # A quote still open after MAX_LINE characters rejects its own line; the lines it
    # read ahead are read again as records of their own.
    filler = [b"1555%07d" % n for n in range(200)]
    data = b'15551234567,"never closed\n' + b"\n".join(filler) + b'\n15551234568,x"\n'
    items = read(data)
    assert items[0] == Rejected(1, UNCLOSED)
    assert items[1:201] == [good(n + 2, f"1555{n:07d}") for n in range(200)]
    assert items[201] == good(202, "15551234568", 'x"')  # a quote inside: an ordinary one


def test_control_characters_other_than_tab_cr_lf_are_refused_in_quotes() -> None:
    data = b'15551234567,"a\x0bb"\n15551234568,,"x\x00"\n15551234569,"ok\n"\n'
    assert read(data) == [
        Rejected(
            1, "message_reference: must not contain control characters other than tab, CR and LF"
        ),
        Rejected(
            2, "call_parameters: must not contain control characters other than tab, CR and LF"
        ),
        good(3, "15551234569", "ok\n"),
    ]


def test_the_length_limit_counts_the_line_breaks_of_a_field() -> None:
    fits = b'15551234567,"' + b"r" * 253 + b'\r\n"\n'
    over = b'15551234568,"' + b"r" * 254 + b'\r\n"\n'
    assert read(fits + over) == [
        good(1, "15551234567", "r" * 253 + "\r\n"),
        Rejected(3, "message_reference: is longer than 255 characters"),
    ]


def test_line_after_an_unclosed_quote_stands_on_its_own() -> None:
    # Even a bad number is not reported before its CSV problem.
    data = b'15551234567\n12,"two\n15551234568,"ref, with a comma"\n15551234569\n'
    assert read(data) == [
        good(1, "15551234567"),
        Rejected(2, UNCLOSED),
        good(3, "15551234568", "ref, with a comma"),
        good(4, "15551234569"),
    ]


def test_utf8_text() -> None:
    data = "15551234567,Zoë Ångström,日本語\n".encode()
    assert read(data) == [good(1, "15551234567", "Zoë Ångström", "日本語")]


# BOM, blank lines, line endings, header.


def test_utf8_bom_is_ignored() -> None:
    assert read(b"\xef\xbb\xbf15551234567,ref\n") == [good(1, "15551234567", "ref")]


def test_blank_lines_are_skipped_but_counted() -> None:
    data = b"\n15551234567\n\n   \n\t\n15551234568\n\n"
    assert read(data) == [good(2, "15551234567"), good(6, "15551234568")]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_line_endings(ending: bytes) -> None:
    data = ending.join([b"15551234567,a", b"", b"15551234568,b", b"12", b""])
    assert read(data) == [
        good(1, "15551234567", "a"),
        good(3, "15551234568", "b"),
        Rejected(4, 'phone_number: "12" is not a valid phone number (too short)'),
    ]


def test_mixed_line_endings() -> None:
    data = b"15551234567,a\r\n15551234568,b\n\r\n15551234569,c\r15551234560,d\n"
    assert read(data) == [
        good(1, "15551234567", "a"),
        good(2, "15551234568", "b"),
        good(4, "15551234569", "c"),
        good(5, "15551234560", "d"),
    ]


@pytest.mark.parametrize(
    "header",
    [
        b"phone_number,message_reference,call_parameters",
        b"phone",
        b"Phone_Number",
        b"number,reference",
        b'"phone_number","message_reference"',
    ],
)
def test_header_line_is_skipped(header: bytes) -> None:
    data = header + b"\r\n15551234567,ref\r\n"
    assert read(data) == [good(2, "15551234567", "ref")]


def test_header_after_bom_and_blank_lines() -> None:
    data = b"\xef\xbb\xbf\n\nphone_number\n15551234567\n"
    assert read(data) == [good(4, "15551234567")]


FOUR_FIELDS = "line has 4 fields; at most 3: phone_number,message_reference,call_parameters"
NOT_A_HEADER = f'phone_number: "phone_number" is not a valid phone number ({ONLY_SEPARATORS})'


def test_only_the_first_line_can_be_a_header() -> None:
    data = b"15551234567\nphone_number\n"
    assert read(data) == [good(1, "15551234567"), Rejected(2, NOT_A_HEADER)]


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (b"12", 'phone_number: "12" is not a valid phone number (too short)'),
        (b'"phone_number', UNCLOSED),
        (b"x,a,b,c", FOUR_FIELDS),
        (b"\xffphone", "phone_number: is not valid UTF-8 text"),
    ],
)
def test_a_rejected_first_line_is_still_the_first_line(first: bytes, reason: str) -> None:
    data = first + b"\nphone_number\n15551234567\n"
    assert read(data) == [Rejected(1, reason), Rejected(2, NOT_A_HEADER), good(3, "15551234567")]


@pytest.mark.parametrize("empty", [b",,", b" , ", b'"",""'])
def test_header_after_a_line_of_empty_fields(empty: bytes) -> None:
    data = empty + b"\nphone_number\n15551234567\n"
    assert read(data) == [good(3, "15551234567")]


def test_header_only_gives_nothing() -> None:
    assert read(b"phone_number,message_reference\n") == []


# Bad lines: each rejected with its line number, the others still read.


def test_four_fields_are_rejected() -> None:
    data = b"15551234567,a,b,c\n15551234568,a,b\n"
    assert read(data) == [
        Rejected(
            1,
            "line has 4 fields; at most 3: phone_number,message_reference,call_parameters",
        ),
        good(2, "15551234568", "a", "b"),
    ]


def test_trailing_comma_after_three_fields_is_a_fourth_field() -> None:
    [item] = read(b"15551234567,a,b,\n")
    assert item == Rejected(
        1, "line has 4 fields; at most 3: phone_number,message_reference,call_parameters"
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"12", 'phone_number: "12" is not a valid phone number (too short)'),
        (b",ref", "phone_number: is required"),
        (
            b"15551234567;ext=9",
            "phone_number: the ;ext= parameter is not supported; send the digits with ;postd=",
        ),
        (
            b"15551234567;postd=x",
            'phone_number: ;postd= "x" must be 1 to 64 of 0-9 * # A-D, p (pause) and w (wait)',
        ),
        (
            b"tel:15551234567",
            'phone_number: "tel:15551234567" is not a global tel: URI (it must start with "tel:+")',
        ),
    ],
)
def test_bad_phone_numbers(line: bytes, reason: str) -> None:
    data = b"15551234567\n" + line + b"\n15551234568\n"
    assert read(data) == [good(1, "15551234567"), Rejected(2, reason), good(3, "15551234568")]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"1" * 129, "phone_number: is longer than 128 characters"),
        (b"15551234567," + b"r" * 256, "message_reference: is longer than 255 characters"),
        (b"15551234567,r," + b"p" * 256, "call_parameters: is longer than 255 characters"),
        (b"1" * 129 + b"," + b"r" * 256, "phone_number: is longer than 128 characters"),
    ],
)
def test_overlong_fields_are_rejected_with_the_field_name(line: bytes, reason: str) -> None:
    data = b"15551234567\n" + line + b"\n15551234568\n"
    assert read(data) == [good(1, "15551234567"), Rejected(2, reason), good(3, "15551234568")]


def test_fields_at_their_limits_are_accepted() -> None:
    phone = "1" + " " * 117 + "5551234567"  # 128 characters, spaces are tolerated
    reference, parameters = "r" * 255, "é" * 255
    data = f'"{phone}",{reference},{parameters}\n'.encode()
    assert read(data) == [good(1, "15551234567", reference, parameters)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"15551234567,caf\xe9", "message_reference: is not valid UTF-8 text"),
        (b"15551234567,ok,\xff\xfe", "call_parameters: is not valid UTF-8 text"),
        (b"1555\x80234567", "phone_number: is not valid UTF-8 text"),
        (b"15551234567,\xe2\x82", "message_reference: is not valid UTF-8 text"),  # cut short
    ],
)
def test_invalid_utf8_rejects_only_its_line(line: bytes, reason: str) -> None:
    data = b"15551234567\n" + line + b"\n15551234568,\xc3\xa9\n"
    assert read(data) == [
        good(1, "15551234567"),
        Rejected(2, reason),
        good(3, "15551234568", "é"),
    ]


@pytest.mark.parametrize("end", [b"", b"\n", b"\r\n", b"\r"])
def test_unbalanced_quote_at_the_end_is_rejected(end: bytes) -> None:
    data = b'15551234567\n15551234568,"ref' + end
    assert read(data) == [good(1, "15551234567"), Rejected(2, UNCLOSED)]


def test_text_after_a_closing_quote_is_rejected() -> None:
    data = b'15551234567\n"1555"1234568,ref\n15551234569\n'
    items = read(data)
    assert items[0] == good(1, "15551234567")
    assert isinstance(items[1], Rejected)
    assert items[1].line == 2
    assert items[1].reason.startswith("line is not valid CSV (")
    assert items[2] == good(3, "15551234569")


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_unbalanced_quote_does_not_swallow_the_lines_after_it(ending: bytes) -> None:
    data = ending.join([b"15551234567", b'"15551234568,ref', b"15551234569", b"15551234560,x", b""])
    assert read(data) == [
        good(1, "15551234567"),
        Rejected(2, UNCLOSED),
        good(3, "15551234569"),
        good(4, "15551234560", "x"),
    ]


def test_unbalanced_quotes_lose_no_other_line() -> None:
    lines = [b"1555%07d" % i for i in range(2000)]
    data = b"".join(b'"' + line + b",ref\n" for line in lines)  # every line opens a quote
    assert read(data) == [Rejected(n, UNCLOSED) for n in range(1, 2001)]
    data = b'"15551234567,ref\n' + b"\n".join(lines) + b"\n"
    items = read(data)
    assert items[0] == Rejected(1, UNCLOSED)
    assert items[1:] == [good(n + 2, f"1555{n:07d}") for n in range(2000)]


def test_a_quote_inside_an_unquoted_field_is_kept() -> None:
    # csv's rule: a quote that does not open the field is an ordinary character.
    assert read(b'15551234567,say "hi"\n') == [good(1, "15551234567", 'say "hi"')]


# Defaults from the request.


def test_defaults_apply_only_to_empty_fields() -> None:
    data = (
        b"15551234567\n"
        b"15551234568,\n"
        b"15551234569,,\n"
        b"15551234560,own\n"
        b"15551234561,,own-p\n"
        b"15551234562,own,own-p\n"
        b'15551234563,"",""\n'
    )
    assert read(data, message_reference="M", call_parameters="P") == [
        good(1, "15551234567", "M", "P"),
        good(2, "15551234568", "M", "P"),
        good(3, "15551234569", "M", "P"),
        good(4, "15551234560", "own", "P"),
        good(5, "15551234561", "M", "own-p"),
        good(6, "15551234562", "own", "own-p"),
        good(7, "15551234563", "M", "P"),
    ]


def test_without_defaults_empty_fields_are_none() -> None:
    assert read(b"15551234567,,\n") == [good(1, "15551234567", None, None)]


# Fields are trimmed; lines of empty fields are blank lines.


def test_unquoted_fields_are_trimmed_and_quoted_ones_kept_exactly() -> None:
    data = b' 15551234567 , ref ,\ta=1 \n\t15551234568\t,  "  quoted  " , " "\n'
    assert read(data) == [
        good(1, "15551234567", "ref", "a=1"),
        good(2, "15551234568", "  quoted  ", " "),
    ]


def test_fields_of_spaces_take_the_defaults() -> None:
    data = b"15551234567,  ,\t\n"
    assert read(data, message_reference="M", call_parameters="P") == [
        good(1, "15551234567", "M", "P")
    ]


def test_field_limits_apply_after_trimming() -> None:
    data = b"  15551234567  ,  " + b"r" * 255 + b"  \n"
    assert read(data) == [good(1, "15551234567", "r" * 255)]


@pytest.mark.parametrize(
    "empty", [b",", b",,", b" , ", b"\t,\t,\t", b'"",""', b'"", ,""', b",,,", b" , , , , "]
)
def test_lines_of_empty_fields_are_skipped(empty: bytes) -> None:
    data = b"15551234567\n" + empty + b"\n15551234568\n" + empty + b"\n"
    assert read(data) == [good(1, "15551234567"), good(3, "15551234568")]


def test_a_phone_number_is_still_required_beside_other_fields() -> None:
    assert read(b" ,ref\n,,p\n") == [
        Rejected(1, "phone_number: is required"),
        Rejected(2, "phone_number: is required"),
    ]


# Overlong lines.


def test_max_line_fits_three_full_quoted_fields() -> None:
    reference = '"' * phonelist.TEXT_MAX  # each doubled inside its quotes
    phone = "1" + " " * (phonelist.PHONE_MAX - 11) + "5551234567"
    doubled = reference.replace('"', '""')
    line = f'"{phone}","{doubled}","{doubled}"'
    assert len(line) <= phonelist.MAX_LINE
    assert read(line.encode() + b"\n") == [good(1, "15551234567", reference, reference)]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_a_megabyte_line_is_rejected_and_the_next_one_read(ending: bytes) -> None:
    data = b"15551234567" + ending + b"1" * 1_000_000 + ending + b"15551234568,ref" + ending
    tracemalloc.start()
    try:
        items = read(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert items == [
        good(1, "15551234567"),
        Rejected(2, f"line is longer than {phonelist.MAX_LINE} characters"),
        good(3, "15551234568", "ref"),
    ]
    assert peak < 200_000, f"peak {peak} bytes: the long line was held whole"


def test_a_megabyte_line_at_the_end_without_a_line_break() -> None:
    data = b"15551234567\n" + b'"' + b"x" * 1_000_000
    assert read(data) == [
        good(1, "15551234567"),
        Rejected(2, f"line is longer than {phonelist.MAX_LINE} characters"),
    ]


# Line numbers.


def test_line_numbers_are_exact() -> None:
    lines = [
        b"\xef\xbb\xbfphone_number,message_reference",  # 1 header
        b"15551234567,a",  # 2
        b"",  # 3 blank
        b"12",  # 4 bad
        b'15551234568,"multi',  # 5 good: the quoted field goes on ...
        b'line",ref',  # 6 ... on this line
        b"15551234569,a,b,c,d",  # 7 bad
        b"   ",  # 8 blank
        b"15551234560,\xff",  # 9 bad
        b" , ,",  # 10 empty fields
        b"1" * 5000,  # 11 too long
        b"15551234561",  # 12
    ]
    data = b"\r\n".join(lines) + b"\r\n"
    assert [(type(item).__name__, item.line) for item in read(data)] == [
        ("NewCall", 2),
        ("Rejected", 4),
        ("NewCall", 5),
        ("Rejected", 7),
        ("Rejected", 9),
        ("Rejected", 11),
        ("NewCall", 12),
    ]


def test_reads_lazily() -> None:
    items = phonelist.read_phone_list(io.BytesIO(b"15551234567\n12\n"))
    assert next(items) == good(1, "15551234567")
    assert isinstance(next(items), Rejected)
    with pytest.raises(StopIteration):
        next(items)


# Memory stays flat.


class GeneratedList(io.RawIOBase):
    """A phone_list made on demand: never more than one chunk of lines exists at a time."""

    def __init__(self, lines: Iterator[bytes], lines_per_chunk: int = 500) -> None:
        self._lines = lines
        self._lines_per_chunk = lines_per_chunk
        self._pending = memoryview(b"")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            chunk = b"".join(next(self._lines, b"") for _ in range(self._lines_per_chunk))
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.bytes_read += size
        return size


LINES = 300_000


def generated_lines() -> Iterator[bytes]:
    yield b"phone_number,message_reference,call_parameters\n"
    for line in range(2, LINES + 1):
        if line % 1000 == 0:
            yield b"\n"
        elif line % 997 == 0:
            yield b"12,bad\n"
        else:
            yield b'1555%07d,ref-%d,"a=%d,b=2"\r\n' % (line, line, line)


def test_memory_stays_flat_over_a_large_list() -> None:
    stream = GeneratedList(generated_lines())
    calls_seen = rejected = 0
    last_line = 0
    tracemalloc.start()
    try:
        for item in phonelist.read_phone_list(
            io.BufferedReader(stream), message_reference="default"
        ):
            assert item.line is not None and item.line > last_line
            last_line = item.line
            if isinstance(item, Rejected):
                rejected += 1
            else:
                calls_seen += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    blank = LINES // 1000
    bad = len([n for n in range(2, LINES + 1) if n % 997 == 0 and n % 1000 != 0])
    assert rejected == bad
    assert calls_seen == LINES - 1 - blank - bad
    assert last_line == LINES - 1  # line 300000 is blank
    assert stream.bytes_read > 10_000_000  # the whole list went through
    assert peak < 2_000_000, f"peak {peak} bytes while reading {stream.bytes_read} bytes"


# caller_id (PRODUCT.md section 8): read in each line's country.


def test_caller_id_is_read_in_each_lines_country() -> None:
    data = (
        b"15551234567\n"  # US: ten digits are a US number ...
        b"442079460000\n"  # ... and a UK freephone number on a UK call
        b"15551234568;ani=8001112222\n"  # its own ;ani= wins
        b'"tel:+1-555-123-4569;ani=+442079460000"\n'
    )
    assert read(data, caller_id="8009957586") == [
        calls.NewCall("15551234567", "18009957586", line=1),
        calls.NewCall("442079460000", "448009957586", line=2),
        calls.NewCall("15551234568", "18001112222", line=3),
        calls.NewCall("15551234569", "442079460000", line=4),
    ]


def test_a_line_whose_country_cannot_read_the_caller_id_is_rejected_alone() -> None:
    # Eight digits: a Berlin number on a German call, nothing on a US or UK one.
    items = read(b"4930123456\n15551234567\n442079460000\n", caller_id="20794600")
    assert items[0] == calls.NewCall("4930123456", "4920794600", line=1)
    assert [(item.line, item.reason) for item in items[1:] if isinstance(item, Rejected)] == [
        (
            2,
            'caller_id: "20794600" is not a valid phone number (too short for US, +1, the '
            "called number's country; nor is it one with its country code)",
        ),
        (
            3,
            'caller_id: "20794600" is not a valid phone number (a local number without its '
            "area code for GB, +44, the called number's country; nor is it one with its "
            "country code)",
        ),
    ]


def test_a_caller_id_with_its_country_code_is_the_same_everywhere() -> None:
    items = read(b"15551234567\n442079460000\n", caller_id="+1 800 995 7586")
    assert [item.ani for item in items if isinstance(item, calls.NewCall)] == [
        "18009957586",
        "18009957586",
    ]


# -- the start of rejected lines, for the web's answer ------------------------------------


def test_line_starts_numbers_lines_as_the_reader_does() -> None:
    text = '\ufeff12,a\r\n\r\n15551230001\r34,"b\nc"\n56\n'.encode()
    rejected = [r.line for r in read_phone_list(io.BytesIO(text)) if isinstance(r, Rejected)]
    starts = line_starts(io.BytesIO(text), set(rejected) | {2}, 3)
    assert starts == {1: "12,", 2: "", 4: "34,", 6: "56"}


def test_line_starts_holds_only_what_it_keeps_of_a_huge_line() -> None:
    huge = 20 * 1024 * 1024
    stream = io.BytesIO(b"15551230001\n" + b"9" * huge + b"\r\n12,after\n")
    tracemalloc.start()
    try:
        starts = line_starts(stream, {2, 3}, 300)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert starts == {2: "9" * 300, 3: "12,after"}
    assert peak < 1024 * 1024  # a few reads of a longest line, not the 20 MiB line
    assert not stream.closed
