"""Phone numbers as the product takes them, normalized to E.164 digits.

Accepted (PRODUCT.md section 2): digits with the country code, "+", spaces, dots,
dashes and brackets tolerated ("1 (555) 123-4567"), or an RFC 3966 ``tel:`` URI
("tel:+1-555-123-4567"). Either may carry ``;ani=NUMBER`` (the caller ID for this
call) and ``;postd=DIGITS`` (DTMF sent after answer, RFC 3966 section 5.1.4 with
``p`` one-second pauses and ``w`` waits). The number must be *possible* for its
country (libphonenumber's length rule, ``IS_POSSIBLE``; a local-only length is not
enough, because an outbound dialer needs the whole number).

A caller ID (``;ani=``, the ``caller_id`` field) may also be written nationally, as
Plum's own documents do (``ani=8009957586`` on a US call): ``parse_caller_id`` reads it
in the country of the called number when it is not possible with a country code, or
when both readings are possible and differ (see its docstring for the tie rules).

Parsing uses ``phonenumbers`` (Google's libphonenumber metadata). A full
``phonenumbers.parse`` costs ~9 us, too much for a million-line phone list, so
``parse_digits`` takes a fast path for the common case: plain digits whose national
part neither starts with 0 nor matches the country's national-prefix-for-parsing
pattern. For those, ``parse`` provably changes nothing and possibility depends only
on (country code, length), which we memoize from phonenumbers itself. Everything
else goes the slow way. tests/unit/domain/test_numbers.py checks the two paths agree
on generated numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneNumber, ValidationResult
from phonenumbers.phonemetadata import PhoneMetadata

from vxdial.domain import errors
from vxdial.domain.errors import quote

FIELD = "phone_number"

IS_POSSIBLE = ValidationResult.IS_POSSIBLE
_SEPARATORS = str.maketrans("", "", " .-()+\t")
_VISUAL_SEPARATORS = str.maketrans("", "", "-.()")
_POSTD_RE = re.compile(r"[0-9*#ABCDpw]{1,64}")
_MAX_NSN_LENGTH = 17  # phonenumbers' _MAX_LENGTH_FOR_NSN
_NON_GEO_REGION = "001"

_REASONS: dict[int, str] = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong length",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}


class Destination(NamedTuple):
    """Where a call goes: E.164 digits (no "+"), its caller ID and post-dial digits."""

    number: str
    ani: str | None = None
    postd: str | None = None

    def __str__(self) -> str:
        text = self.number
        if self.ani:
            text += f";ani={self.ani}"
        if self.postd:
            text += f";postd={self.postd}"
        return text


def parse_destination(text: str) -> Destination:
    """Parse a ``phone_number`` value; raise ``InvalidInput("phone_number", reason)``."""
    raw = text.strip()
    if ";" not in raw and raw[:1] not in ("t", "T"):  # neither parameters nor tel:
        if not raw:
            raise errors.InvalidInput(FIELD, "is required")
        return Destination(parse_digits(raw))
    body, _, params_text = raw.partition(";")
    if body[:4].lower() == "tel:":
        body = body[4:]
        if not body.startswith("+"):
            raise errors.InvalidInput(
                FIELD, f'{quote(raw)} is not a global tel: URI (it must start with "tel:+")'
            )
    if not body.strip():
        raise errors.InvalidInput(FIELD, "is required: the number comes before its parameters")
    ani: str | None = None
    postd: str | None = None
    seen: set[str] = set()
    if params_text:
        for param in params_text.split(";"):
            name, _, value = param.partition("=")
            name = name.strip().lower()
            value = value.strip()
            if name in seen:
                raise errors.InvalidInput(FIELD, f'parameter ";{name}=" is given twice')
            seen.add(name)
            if name == "ani":
                if not value:
                    raise errors.InvalidInput(FIELD, ";ani= needs a phone number")
                ani = value  # read once the called number (its country) is known
            elif name == "postd":
                postd = _parse_postd(value)
            elif name == "ext":
                raise errors.InvalidInput(
                    FIELD, "the ;ext= parameter is not supported; send the digits with ;postd="
                )
            else:
                shown = name or param
                raise errors.InvalidInput(FIELD, f'unknown parameter ";{shown}"')
    number = parse_digits(body)
    if ani is not None:
        try:
            ani = parse_caller_id(ani, number)
        except errors.InvalidInput as exc:
            raise errors.InvalidInput(FIELD, f";ani= {exc.reason}") from None
    return Destination(number, ani, postd)


def parse_caller_id(text: str, called: str) -> str:
    """A caller ID as E.164 digits, written with its country code or nationally in the
    country of ``called`` (E.164 digits); raise ``InvalidInput("phone_number", reason)``.

    Plum's documents write caller IDs nationally (``tel:+10123456789;ani=1234567890``
    "displays a caller ID of 123-456-7890"), while our contract has always taken them
    with a country code. Both readings are tried:

    - a leading "+" means a country code follows: that reading only;
    - if only one reading is a possible number, it is the one;
    - if both are and they differ, a number that starts with the called country's trunk
      prefix (0 in most of Europe) is national; otherwise the reading that is a *valid*
      number (libphonenumber's number ranges) wins when only one is, and national wins a
      tie ("3125551234" on a US call is Chicago, not +31 25551234 in the Netherlands).

    What is possible in neither reading is refused, naming the country it was read in.
    """
    stripped = text.strip()
    try:
        international: str | None = parse_digits(stripped)
        international_error: errors.InvalidInput | None = None
    except errors.InvalidInput as exc:
        international, international_error = None, exc
    if stripped.startswith("+") or (international_error and _is_syntax_error(international_error)):
        if international_error is not None:
            raise international_error
        assert international is not None
        return international
    region = _region_of(called)
    if region is None:  # a non-geographic called number: no national numbering to read in
        if international_error is not None:
            raise international_error
        assert international is not None
        return international
    national, national_reason = _parse_national(stripped, region)
    if national is None:
        if international is not None:
            return international
        country_code = phonenumbers.country_code_for_region(region)
        raise errors.InvalidInput(
            FIELD,
            f"{quote(stripped)} is not a valid phone number ({national_reason} for "
            f"{region}, +{country_code}, the called number's country; nor is it one with "
            "its country code)",
        )
    if international is None or international == national:
        return national
    trunk_prefix = _trunk_prefix(region)
    digits = stripped.translate(_SEPARATORS)
    if trunk_prefix and digits.startswith(trunk_prefix):
        return national
    national_valid = _is_valid(national)
    if national_valid != _is_valid(international):
        return national if national_valid else international
    return national


def check_caller_id(text: str) -> None:
    """Refuse a caller ID that no called number could make readable: letters, a "+"
    inside, no digits, or an impossible number after a "+". Whether a national one is
    possible depends on the called number's country (``CallerIds``)."""
    stripped = text.strip()
    try:
        parse_digits(stripped)
    except errors.InvalidInput as exc:
        if stripped.startswith("+") or _is_syntax_error(exc):
            raise


class CallerIds:
    """One caller ID (a request's ``caller_id``) read for many called numbers: the
    reading depends only on the called number's country, so each country's answer is
    kept (a phone_list of a million lines reads it a handful of times)."""

    __slots__ = ("_by_region", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._by_region: dict[str | None, str | errors.InvalidInput] = {}

    def for_called(self, called: str) -> str:
        """The caller ID as E.164 digits for a call to ``called``, or raise."""
        region = _region_of(called)
        reading = self._by_region.get(region)
        if reading is None:
            try:
                reading = parse_caller_id(self.text, called)
            except errors.InvalidInput as exc:
                reading = exc
            self._by_region[region] = reading
        if isinstance(reading, errors.InvalidInput):
            raise reading
        return reading


def _is_syntax_error(exc: errors.InvalidInput) -> bool:
    # Letters, a "+" in the middle, no digits: no reading can mend those.
    return "(only digits" in exc.reason or "(no digits)" in exc.reason or '"+" only' in exc.reason


@cache
def _region_by_country_code(country_code: int) -> str | None:
    region: str = phonenumbers.region_code_for_country_code(country_code)
    return None if region in (_NON_GEO_REGION, "ZZ") else region


def _region_of(e164: str) -> str | None:
    split = _split_country_code(e164)
    return None if split is None else _region_by_country_code(split[0])


def _parse_national(text: str, region: str) -> tuple[str | None, str]:
    """``text`` read as a national number of ``region``: (E.164 digits or None, reason)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return None, _parse_error_reason(exc)
    verdict = phonenumbers.is_possible_number_with_reason(number)
    if verdict != IS_POSSIBLE:
        return None, _REASONS.get(verdict, "not a possible number")
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164[1:], ""


@cache
def _trunk_prefix(region: str) -> str | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    prefix: str | None = None if metadata is None else metadata.national_prefix
    return prefix


def _is_valid(e164: str) -> bool:
    valid: bool = phonenumbers.is_valid_number(phonenumbers.parse("+" + e164, None))
    return valid


def parse_digits(text: str) -> str:
    """Normalize one number with its country code to E.164 digits, or raise."""
    digits = text.translate(_SEPARATORS)
    if digits.isascii() and digits.isdecimal() and text.rfind("+") <= 0:
        key = (digits[:4], len(digits))
        plan = _plans.get(key)
        if plan is None:
            plan = _plan(*key)
        if plan is not _SLOW:
            start, national_prefix, verdict, country_code = plan
            if national_prefix is None or not national_prefix.match(digits, start):
                if verdict != IS_POSSIBLE:
                    raise _impossible(text, verdict, country_code)
                return digits
        return _parse_slow(text)
    if text.rfind("+") > 0 and text[: text.rfind("+")].strip():
        raise errors.InvalidInput(
            FIELD, f'{quote(text)} is not a valid phone number ("+" only at the start)'
        )
    if not digits:
        raise errors.InvalidInput(FIELD, f"{quote(text)} is not a valid phone number (no digits)")
    if not digits.isdecimal():
        # phonenumbers would read letters as keypad digits (1-800-FLOWERS) and drop
        # other junk; the contract allows digits and a few separators only.
        raise errors.InvalidInput(
            FIELD,
            f"{quote(text)} is not a valid phone number (only digits, +, spaces, dots, "
            "dashes and brackets are allowed)",
        )
    return _parse_slow(text)  # digits of other scripts: phonenumbers normalizes them


# What the fast path needs to know, memoized by (first four digits, length): where the
# national number starts, the country's national-prefix pattern (a match sends the
# number the slow way, since phonenumbers may strip that prefix), and the verdict on
# the length. _SLOW marks keys that always take the slow path.
_Plan = tuple[int, "re.Pattern[str] | None", int, int]  # verdict: a ValidationResult
_SLOW: _Plan = (0, None, ValidationResult.INVALID_LENGTH, 0)
_plans: dict[tuple[str, int], _Plan] = {}
_MAX_PLANS = 50_000


def _plan(prefix: str, length: int) -> _Plan:
    plan = _SLOW
    split = _split_country_code(prefix)
    if split is not None:
        country_code, national_start = split
        nsn_length = length - len(str(country_code))
        rule = _country_rule(country_code)
        if (
            rule is not None
            and national_start[:1] not in ("0", "")
            and 2 <= nsn_length <= _MAX_NSN_LENGTH
        ):
            start = len(str(country_code))
            verdict = _length_verdict(country_code, nsn_length)
            plan = (start, rule.national_prefix, verdict, country_code)
    if len(_plans) >= _MAX_PLANS:
        _plans.clear()
    _plans[(prefix, length)] = plan
    return plan


def _parse_slow(text: str) -> str:
    candidate = text.strip()
    if not candidate.startswith("+"):
        candidate = "+" + candidate
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException as exc:
        reason = _parse_error_reason(exc)
        if reason == "not a phone number" and text.translate(_SEPARATORS).isdigit():
            reason = "too short"
        raise errors.InvalidInput(
            FIELD, f"{quote(text)} is not a valid phone number ({reason})"
        ) from None
    verdict = phonenumbers.is_possible_number_with_reason(number)
    if verdict != ValidationResult.IS_POSSIBLE:
        raise _impossible(text, verdict, number.country_code)
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164[1:]


def _parse_postd(value: str) -> str:
    cleaned = value.translate(_VISUAL_SEPARATORS)
    cleaned = "".join(c.upper() if c in "abcd" else c.lower() if c in "PW" else c for c in cleaned)
    if not _POSTD_RE.fullmatch(cleaned):
        raise errors.InvalidInput(
            FIELD,
            f";postd= {quote(value)} must be 1 to 64 of 0-9 * # A-D, p (pause) and w (wait)",
        )
    return cleaned


@dataclass(frozen=True, slots=True)
class _CountryRule:
    national_prefix: re.Pattern[str] | None


@cache
def _country_rule(country_code: int) -> _CountryRule | None:
    region = phonenumbers.region_code_for_country_code(country_code)
    if region == _NON_GEO_REGION:
        return None
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None:
        return None
    pattern = metadata.national_prefix_for_parsing
    return _CountryRule(re.compile(pattern) if pattern else None)


@cache
def _length_verdict(country_code: int, nsn_length: int) -> int:
    # For type UNKNOWN, possibility is decided by the length of the national number only
    # (phonenumbers._test_number_length), so any digits of that length give the same answer.
    sample = PhoneNumber(country_code=country_code, national_number=int("1" * nsn_length))
    result: int = phonenumbers.is_possible_number_with_reason(sample)
    return result


def _split_country_code(digits: str) -> tuple[int, str] | None:
    if not digits or digits[0] == "0":
        return None
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[size:]
    return None


def _impossible(text: str, verdict: int, country_code: int | None) -> errors.InvalidInput:
    reason = _REASONS.get(verdict, "not a possible number")
    return errors.InvalidInput(
        FIELD,
        f"{quote(text)} is not a valid phone number ({reason} for country code {country_code})",
    )


def _parse_error_reason(exc: phonenumbers.NumberParseException) -> str:
    kind = exc.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return "no known country code"
    if kind == phonenumbers.NumberParseException.TOO_SHORT_NSN:
        return "too short"
    if kind == phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD:
        return "too short"
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return "too long"
    return "not a phone number"
