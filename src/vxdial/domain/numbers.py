"""Phone numbers as the product takes them, normalized to E.164 digits.

Accepted (PRODUCT.md section 2): digits with the country code, "+", spaces, dots,
dashes and brackets tolerated ("1 (555) 123-4567"), or an RFC 3966 ``tel:`` URI
("tel:+1-555-123-4567"). Either may carry ``;ani=NUMBER`` (the caller ID for this
call) and ``;postd=DIGITS`` (DTMF sent after answer, RFC 3966 section 5.1.4 with
``p`` one-second pauses and ``w`` waits). The number must be *possible* for its
country (libphonenumber's length rule, ``IS_POSSIBLE``; a local-only length is not
enough, because an outbound dialer needs the whole number).

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
                try:
                    ani = parse_digits(value)
                except errors.InvalidInput as exc:
                    raise errors.InvalidInput(FIELD, f";ani= {exc.reason}") from None
            elif name == "postd":
                postd = _parse_postd(value)
            elif name == "ext":
                raise errors.InvalidInput(
                    FIELD, "the ;ext= parameter is not supported; send the digits with ;postd="
                )
            else:
                shown = name or param
                raise errors.InvalidInput(FIELD, f'unknown parameter ";{shown}"')
    return Destination(parse_digits(body), ani, postd)


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
