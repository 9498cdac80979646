"""vxdial.domain.numbers: phone_number values (PRODUCT.md section 2) -> E.164 digits."""

from __future__ import annotations

import functools
from collections.abc import Callable

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers.phonemetadata import PhoneMetadata

from vxdial.domain import errors, numbers


def invalid(text: str) -> errors.InvalidInput:
    with pytest.raises(errors.InvalidInput) as caught:
        numbers.parse_destination(text)
    assert caught.value.field == "phone_number"
    return caught.value


# Digits with the country code, and the tolerated separators.


@pytest.mark.parametrize(
    "text",
    [
        "15551234567",
        "+15551234567",
        "1 555 123 4567",
        "1.555.123.4567",
        "1-555-123-4567",
        "1 (555) 123-4567",
        "+1 (555) 123-4567",
        "(1) 555.123-4567",
        "  15551234567  ",
        "1\t555\t1234567",
    ],
)
def test_digits_with_tolerated_separators(text: str) -> None:
    assert numbers.parse_destination(text) == numbers.Destination("15551234567", None, None)


def test_destination_fields_default_to_none() -> None:
    destination = numbers.parse_destination("15551234567")
    assert destination.number == "15551234567"
    assert destination.ani is None
    assert destination.postd is None
    assert str(destination) == "15551234567"


@pytest.mark.parametrize("text", ["", " ", "\t \n"])
def test_empty_is_required(text: str) -> None:
    assert invalid(text).reason == "is required"


# tel: URIs (RFC 3966), global numbers only.


@pytest.mark.parametrize(
    "text",
    [
        "tel:+15551234567",
        "tel:+1-555-123-4567",
        "tel:+1.555.123.4567",
        "tel:+1(555)123-4567",
        "TEL:+15551234567",
        "Tel:+1-555-123-4567",
    ],
)
def test_global_tel_uri(text: str) -> None:
    assert numbers.parse_destination(text) == numbers.Destination("15551234567")


@pytest.mark.parametrize(
    "text", ["tel:15551234567", "tel:555-1234;phone-context=+1", "tel:5551234567"]
)
def test_local_tel_uri_is_rejected(text: str) -> None:
    reason = invalid(text).reason
    assert reason == f'"{text}" is not a global tel: URI (it must start with "tel:+")'


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("+", "+"),
        ("tel:+", "+"),
        ("tel:+;ani=15557654321", "+"),
        ("tel:+;", "+"),
        ("()", "()"),
        (" - . ", "- ."),
    ],
)
def test_separators_without_digits_are_rejected(text: str, shown: str) -> None:
    assert invalid(text).reason == f'"{shown}" is not a valid phone number (no digits)'


@pytest.mark.parametrize("text", ["+ +", "1+5551234567", "15551234567+", "+1 555 +123 4567"])
def test_plus_only_at_the_start(text: str) -> None:
    assert invalid(text).reason == f'"{text}" is not a valid phone number ("+" only at the start)'


# ;ani= and ;postd=, on plain digits and on tel: URIs.


@pytest.mark.parametrize("body", ["15551234567", "+1 555 123 4567", "tel:+1-555-123-4567"])
def test_ani_parameter(body: str) -> None:
    destination = numbers.parse_destination(f"{body};ani=+44 20 7946 0000")
    assert destination == numbers.Destination("15551234567", "442079460000", None)
    assert str(destination) == "15551234567;ani=442079460000"


@pytest.mark.parametrize("body", ["15551234567", "tel:+15551234567"])
def test_postd_parameter(body: str) -> None:
    destination = numbers.parse_destination(f"{body};postd=1w2p#*")
    assert destination == numbers.Destination("15551234567", None, "1w2p#*")
    assert str(destination) == "15551234567;postd=1w2p#*"


@pytest.mark.parametrize("body", ["15551234567", "tel:+15551234567"])
def test_ani_and_postd_in_either_order(body: str) -> None:
    expected = numbers.Destination("15551234567", "15557654321", "123")
    assert numbers.parse_destination(f"{body};ani=15557654321;postd=123") == expected
    assert numbers.parse_destination(f"{body};postd=123;ani=15557654321") == expected
    assert str(expected) == "15551234567;ani=15557654321;postd=123"


def test_parameter_names_are_case_insensitive() -> None:
    destination = numbers.parse_destination("15551234567;ANI=15557654321;PostD=12")
    assert destination == numbers.Destination("15551234567", "15557654321", "12")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "0"),
        ("#", "#"),
        ("1-2.3(4)", "1234"),  # RFC 3966 visual separators are dropped
        ("abcd", "ABCD"),
        ("PW", "pw"),
        ("9" * 64, "9" * 64),
    ],
)
def test_postd_values(value: str, expected: str) -> None:
    assert numbers.parse_destination(f"15551234567;postd={value}").postd == expected


@pytest.mark.parametrize("value", ["", "x", "1 2", "E", "9" * 65, "１２", "1,2"])
def test_invalid_postd(value: str) -> None:
    reason = invalid(f"15551234567;postd={value}").reason
    assert reason == (f';postd= "{value}" must be 1 to 64 of 0-9 * # A-D, p (pause) and w (wait)')


@pytest.mark.parametrize("text", ["15551234567;ani=", "15551234567;ani", "15551234567;ani= "])
def test_empty_ani(text: str) -> None:
    assert invalid(text).reason == ";ani= needs a phone number"


def test_impossible_ani() -> None:
    reason = invalid("15551234567;ani=12").reason
    assert reason.startswith(';ani= "12" is not a valid phone number')


# A caller ID written nationally is read in the called number's country (issue 11,
# PRODUCT.md section 8): Plum's documents write "tel:+10123456789;ani=1234567890".


@pytest.mark.parametrize(
    ("text", "ani"),
    [
        # Plum's own examples: ten NANP digits, no country code.
        ("tel:+10123456789;ani=1234567890", "11234567890"),
        ("+1234567890;ani=8001234567", None),  # "+1234567890" is not possible: see below
        ("15551234567;ani=8009957586", "18009957586"),
        ("15551234567;ani=(800) 995-7586", "18009957586"),
        # Both readings possible: national wins ("+31 25551234" would be the Netherlands).
        ("13125550000;ani=3125551234", "13125551234"),
        # The trunk prefix says national: a London number on a UK call.
        ("442079460000;ani=020 7946 0000", "442079460000"),
        # A country code the national reading cannot take: read with it, as before.
        ("442079460000;ani=15551234567", "15551234567"),
        ("442079460000;ani=442079460000", "442079460000"),
        # Valid internationally (New York), not as a German number: international.
        ("4915112345678;ani=12127365000", "12127365000"),
        # A "+" always means a country code follows.
        ("15551234567;ani=+3125551234", "3125551234"),
        ("15551234567;ani=+1 555 765 4321", "15557654321"),
    ],
)
def test_caller_id_may_be_written_nationally(text: str, ani: str | None) -> None:
    if ani is None:
        assert invalid(text).reason.startswith('"+1234567890" is not a valid phone number')
        return
    assert numbers.parse_destination(text).ani == ani


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "15551234567;ani=12345",
            ';ani= "12345" is not a valid phone number (too short for US, +1, the called '
            "number's country; nor is it one with its country code)",
        ),
        (
            "442079460000;ani=12",
            ';ani= "12" is not a valid phone number (too short for GB, +44, the called '
            "number's country; nor is it one with its country code)",
        ),
        (
            "15551234567;ani=+12345",
            ';ani= "+12345" is not a valid phone number (too short for country code 1)',
        ),
    ],
)
def test_caller_id_impossible_in_both_readings_is_refused(text: str, reason: str) -> None:
    assert invalid(text).reason == reason


def test_caller_id_of_a_non_geographic_called_number_needs_its_country_code() -> None:
    # +800 (international freephone) has no national numbering to read a caller ID in.
    assert numbers.parse_caller_id("15557654321", "80012345678") == "15557654321"
    with pytest.raises(errors.InvalidInput):
        numbers.parse_caller_id("2025550", "80012345678")


@given(st.integers(min_value=2_000_000_000, max_value=9_999_999_999))
def test_ten_valid_nanp_digits_are_read_nationally_on_a_nanp_call(national: int) -> None:
    """Ten digits that make a valid NANP number are that number on a NANP call, whatever
    else they could be read as with a country code (+230 6000000, +31 25551234, ...)."""
    if not phonenumbers.is_valid_number(phonenumbers.parse(f"+1{national}")):
        return
    assert numbers.parse_caller_id(str(national), "15551234567") == f"1{national}"
    assert numbers.parse_caller_id(f"1{national}", "15551234567") == f"1{national}"


@pytest.mark.parametrize("text", ["15551234567;ext=12", "tel:+15551234567;ext=12"])
def test_ext_parameter_is_rejected(text: str) -> None:
    assert invalid(text).reason == (
        "the ;ext= parameter is not supported; send the digits with ;postd="
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("15551234567;isub=1", ";isub"),
        ("15551234567;foo", ";foo"),
        ("tel:+15551234567;phone-context=+1", ";phone-context"),
        ("15551234567;=5", ";=5"),
    ],
)
def test_unknown_parameter_is_rejected(text: str, shown: str) -> None:
    assert invalid(text).reason == f'unknown parameter "{shown}"'


def test_impossible_number_before_parameters() -> None:
    assert invalid("12;postd=1").reason.startswith('"12" is not a valid phone number')


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("15551234567;ani=15557654321;ani=15550000000", "ani"),
        ("15551234567;ani=15557654321;ani=15557654321", "ani"),  # even the same value
        ("15551234567;ANI=15557654321;ani=15550000000", "ani"),  # names are case-insensitive
        ("15551234567;postd=1;ani=15557654321;postd=2", "postd"),
        ("tel:+1-555-123-4567;postd=1;PostD=1", "postd"),
    ],
)
def test_repeated_parameter_is_rejected(text: str, name: str) -> None:
    # RFC 3966 forbids repeating a parameter; a caller ID must not be picked at random.
    assert invalid(text).reason == f'parameter ";{name}=" is given twice'


@pytest.mark.parametrize(
    "text", [";ani=15551234567", " ;postd=1", ";ani=15551234567;postd=1", "  ;  "]
)
def test_parameters_without_a_number_before_them(text: str) -> None:
    error = invalid(text)
    assert error.reason == "is required: the number comes before its parameters"
    assert str(error) == "phone_number: is required: the number comes before its parameters"


# Impossible numbers.


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("12", "too short"),
        ("1", "too short"),
        ("1555123456", "too short for country code 1"),
        ("155512345678", "too long for country code 1"),
        ("4420794600001", "too long for country code 44"),
        ("4930", "a local number without its area code for country code 49"),
        ("1555123456789012345678", "too long"),
        ("999123", "no known country code"),
        ("0015551234567", "no known country code"),
    ],
)
def test_impossible_numbers(text: str, why: str) -> None:
    assert invalid(text).reason == f'"{text}" is not a valid phone number ({why})'


def test_product_example_reason() -> None:
    # PRODUCT.md: <rejected line="2">phone_number: "12" is not a valid phone number</rejected>
    error = invalid("12")
    assert error.reason.startswith('"12" is not a valid phone number')
    assert str(error).startswith('phone_number: "12" is not a valid phone number')


def test_reason_escapes_control_characters() -> None:
    reason = invalid("12\x00").reason
    assert "\x00" not in reason
    assert reason.startswith('"12\\u0000" is not a valid phone number')


ONLY_SEPARATORS = "only digits, +, spaces, dots, dashes and brackets are allowed"


@pytest.mark.parametrize("text", ["15551234567x12", "1 555 123 4567 ext. 12", "15551234567#12"])
def test_extension_in_the_number_is_rejected(text: str) -> None:
    # Extensions go in ;postd=, never in the number itself.
    assert invalid(text).reason == f'"{text}" is not a valid phone number ({ONLY_SEPARATORS})'


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "1-800-FLOWERS",  # letters are not read as keypad digits
        "1 555 CALL NOW",
        "*15551234567",
        "15551234567 x",
        "1/555/123/4567",
        "1_555_123_4567",
        "1,5551234567",
        "1\u00a0555 123 4567",  # a no-break space is not one of the tolerated spaces
        "1\u2013555\u2013123\u20134567",  # nor is an en dash
    ],
)
def test_characters_beyond_the_tolerated_separators_are_rejected(text: str) -> None:
    assert invalid(text).reason == f'"{text}" is not a valid phone number ({ONLY_SEPARATORS})'


def test_characters_beyond_the_tolerated_separators_in_a_tel_uri_and_ani() -> None:
    assert invalid("tel:+1-800-FLOWERS").reason == (
        f'"+1-800-FLOWERS" is not a valid phone number ({ONLY_SEPARATORS})'
    )
    assert invalid("15551234567;ani=1-800-FLOWERS").reason == (
        f';ani= "1-800-FLOWERS" is not a valid phone number ({ONLY_SEPARATORS})'
    )


# Several countries.


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        # US / NANP
        ("1 (212) 555-0100", "12125550100"),
        ("+1 416 555 0100", "14165550100"),  # Canada shares +1
        # UK, with and without the trunk 0
        ("442079460000", "442079460000"),
        ("4402079460000", "442079460000"),
        ("+44 (0)20 7946 0000", "442079460000"),
        ("+44 7911 123456", "447911123456"),
        ("4407911123456", "447911123456"),
        # Germany, with and without the trunk 0
        ("49 30 123456", "4930123456"),
        ("491701234567", "491701234567"),
        ("4901701234567", "491701234567"),
        # Italy: the leading 0 of fixed lines is part of the number, not a trunk prefix
        ("39 06 1234 5678", "390612345678"),
        ("3902123456789", "3902123456789"),
        ("39 312 345 6789", "393123456789"),
        # India, with and without the trunk 0
        ("91 98765 43210", "919876543210"),
        ("91 0 98765 43210", "919876543210"),
        # France, with and without the trunk 0
        ("33 1 23 45 67 89", "33123456789"),
        ("33 0 1 23 45 67 89", "33123456789"),
        ("+33 6 12 34 56 78", "33612345678"),
        # elsewhere
        ("86 138 1234 5678", "8613812345678"),
        ("61 4 1234 5678", "61412345678"),
        ("55 11 98765 4321", "5511987654321"),
    ],
)
def test_countries(text: str, e164: str) -> None:
    assert numbers.parse_destination(text).number == e164


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+800 1234 5678", "80012345678"),  # international freephone
        ("tel:+800-1234-5678", "80012345678"),
        ("870 123 456 789", "870123456789"),  # Inmarsat
        ("882 123 456 789", "882123456789"),  # international networks
        ("883 123 456 789", "883123456789"),
        ("979 123 456 789", "979123456789"),  # international premium rate
    ],
)
def test_non_geographic_country_codes(text: str, e164: str) -> None:
    assert numbers.parse_destination(text).number == e164


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("800123", "too short for country code 800"),
        ("8001234567", "too short for country code 800"),
        ("808123456789", "too long for country code 808"),
    ],
)
def test_impossible_non_geographic_numbers(text: str, why: str) -> None:
    assert invalid(text).reason == f'"{text}" is not a valid phone number ({why})'


# Non-ASCII digits.


@pytest.mark.parametrize(
    "text",
    [
        "１５５５１２３４５６７",  # fullwidth
        "١٥٥٥١٢٣٤٥٦٧",  # Arabic-Indic
        "۱۵۵۵۱۲۳۴۵۶۷",  # Extended Arabic-Indic (Persian)
        "१५५५१२३४५६७",  # Devanagari
        "1５５５1234567",  # mixed with ASCII
        "+１ (５５５) １２３-４５６７",  # with ASCII separators
    ],
)
def test_non_ascii_digits(text: str) -> None:
    assert numbers.parse_destination(text).number == "15551234567"


@pytest.mark.parametrize("text", ["＋１ (５５５) １２３-４５６７", "＋15551234567"])
def test_fullwidth_plus_is_not_a_tolerated_separator(text: str) -> None:
    # Unicode digits are normalized, but the separators are the ASCII ones only.
    assert invalid(text).reason == f'"{text}" is not a valid phone number ({ONLY_SEPARATORS})'


def test_non_ascii_digits_in_ani() -> None:
    assert numbers.parse_destination("15551234567;ani=١٥٥٥٧٦٥٤٣٢١").ani == "15557654321"


@pytest.mark.parametrize("text", ["¹⁵⁵⁵¹²³⁴⁵⁶⁷", "①5551234567"])
def test_digit_like_symbols_are_not_digits(text: str) -> None:
    # str.isdigit() is true for these, but they are not decimal digits.
    assert invalid(text).reason.startswith(f'"{text}" is not a valid phone number')


# The fast path of parse_digits agrees with the slow path.

COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _metadata(country_code: int) -> PhoneMetadata | None:
    region = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code][0]
    if region == "001":
        return PhoneMetadata.metadata_for_nongeo_region(country_code, None)
    return PhoneMetadata.metadata_for_region(region, None)


@functools.cache
def _national_starts(country_code: int) -> st.SearchStrategy[str]:
    """Starts of a national number that look like a trunk prefix, for this country."""
    starts: list[st.SearchStrategy[str]] = [st.sampled_from(["", "0", "00", "01", "1", "8"])]
    metadata = _metadata(country_code)
    if metadata is not None:
        if metadata.national_prefix:
            starts.append(st.just(metadata.national_prefix))
        if metadata.national_prefix_for_parsing:
            starts.append(
                st.from_regex(
                    metadata.national_prefix_for_parsing, fullmatch=True, alphabet="0123456789"
                )
            )
    return st.one_of(starts)


@st.composite
def e164_like(draw: st.DrawFn) -> str:
    """A real country code, then 0 to 18 digits that often start like a trunk prefix."""
    country_code = draw(st.sampled_from(COUNTRY_CODES))
    start = draw(_national_starts(country_code))
    rest = draw(st.text(alphabet="0123456789", max_size=18))
    length = draw(st.integers(min_value=0, max_value=18))
    return str(country_code) + (start + rest)[:length]


def _outcome(parse: Callable[[str], str], text: str) -> str:
    try:
        return "ok " + parse(text)
    except errors.InvalidInput as exc:
        return "error " + str(exc)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e164_like())
def test_fast_path_agrees_with_slow_path(digits: str) -> None:
    # Both must give the same E.164 digits, or both raise (with the same message).
    assert _outcome(numbers.parse_digits, digits) == _outcome(numbers._parse_slow, digits)


@st.composite
def formatted(draw: st.DrawFn) -> tuple[str, str]:
    """Digits as above, written with the separators PRODUCT.md tolerates."""
    digits = draw(e164_like())
    text = draw(st.sampled_from(["", "+", "+ ", "("]))
    for digit in digits:
        text += digit + draw(st.sampled_from(["", "", "", " ", ".", "-", ") ", "("]))
    return text, digits


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formatted())
def test_separators_change_nothing(case: tuple[str, str]) -> None:
    text, digits = case
    bare = _outcome(numbers.parse_digits, digits).split(" ")[0]
    assert _outcome(numbers.parse_digits, text).split(" ")[0] == bare
    if bare == "ok":
        assert numbers.parse_digits(text) == numbers.parse_digits(digits)
        assert numbers._parse_slow(text) == numbers.parse_digits(digits)
