"""PHP ``strtotime`` for the Plum fields ``scheduled_time`` and ``expiration_time``.

Plum's outbound API takes times as PHP ``strtotime`` expressions of at most 80
characters: "now", "oct 14th, 2003 11:05PM EST", "+3 days", "tomorrow 9am",
"next monday", "first day of next month". Text that names no zone is read in the
server's configured zone. :func:`parse` returns exactly the moment that
``strtotime($text, $now)`` returns under ``date_default_timezone_set($zone)`` in PHP 8.2
(timelib 2022.12), and raises :class:`InvalidTimeExpression` where strtotime returns false.

How it works
------------
This module ports timelib's scanner (``parse_date.re``) and the arithmetic that turns
its result into a timestamp (``timelib_fill_holes``, ``timelib_update_ts`` in
``tm2unixtime.c``). PHP's many quirks follow from the port; they are not added as
special cases:

1. Scan. The text, trimmed of ASCII white space, is cut into tokens by the rules in
   ``_RULES``. At each position the longest match wins, and on a tie the earlier rule
   wins, as in the re2c scanner. Each rule's action fills in a ``_Fields`` record:
   absolute date and time fields, a zone, and relative amounts. Any scanner error
   (an unexpected character, an unknown zone, a date or time given twice, a third zone)
   makes the whole text invalid. A second zone only gets a warning in PHP, so it is
   ignored.
2. Fill holes. Fields the text did not set come from ``now`` in the zone. A date
   without a time means midnight.
3. Resolve. Special relatives ("first monday of", "+2 weekdays"), weekday moves,
   relative amounts and "first/last day of" are applied to the wall-clock fields. These
   are then normalised the way timelib does it, so "jan 31 +1 month" is March 3rd,
   "2026-02-30" is March 2nd, and "+1 hour" is wall-clock arithmetic, as in PHP.
4. Localise. The wall clock becomes a UTC instant. It is read with the text's own zone
   (an offset, an abbreviation or an identifier) or else with the configured one, and
   DST gaps and overlaps are resolved by timelib's rule (``do_adjust_timezone``).

Grammar (case-insensitive unless noted)
---------------------------------------
- Words: ``now``, ``today``/``midnight`` (00:00), ``noon``, ``tomorrow``, ``yesterday``.
- Times: ``9am``, ``9 a.m.``, ``11:05PM``, ``11.05.30 pm``; ``14:30``, ``14:30:15``,
  ``14:30:15.25``, ``1430``, ``143015``, each with an optional ``t`` prefix (``T14:30``);
  ``back of 7pm`` (19:15), ``front of 7`` (06:45).
- Dates: ISO ``2026-11-27``, ``+2026-11-27``, ``2026/11/27``, ``20261127``, ``2026-11``,
  ``26-11-27``; American ``11/27/2026``, ``11/27/26``, ``11/27``; European
  ``27-11-2026``, ``27.11.2026``, ``27.11.26``; textual ``27 November 2026``,
  ``27-nov-26``, ``Nov 27th, 2026``, ``November 27``, ``27 Nov``, ``November 2026``,
  ``2026 Nov``, ``Nov-27-2026``, ``2026-Nov-27``; Roman months in capitals
  (``27.XI.2026``); day of year ``2026.331``; ISO weeks ``2026W48``, ``2026-W48-5``;
  a bare month (``november``); a bare 4-digit year (``1999``) only where it cannot be a
  time (``2026`` alone is 20:26, as in PHP).
- Date and time together: ``2026-11-27T10:00:00Z``, ``2026-11-27T10:00:00.5+02:00``,
  ``20261127T100000``, ``2026:11:27 10:00:00`` (EXIF), ``27/Nov/2026:10:00:00 +0100``
  (Common Log Format), ``Nov 27 10:00``; ``@1700000000`` and ``@1700000000.25`` (Unix
  time, UTC).
- Zones: abbreviations (``EST``, ``CEST``, ``UTC``, ``GMT``, ``Z``, military letters, the
  144 that PHP knows, each with the fixed offset PHP gives it), identifiers
  (``Europe/Paris``, ``Japan``; case-insensitive after a capital), offsets ``+02``,
  ``+0200``, ``+02:00``, ``-05:30:15``, ``GMT+2``, and any of these in parentheses.
- Relative: ``+3 days``, ``-1 week 2 days``, ``3 hours ago``, ``+1 month``, ``+90 min``,
  ``+500 ms``; units sec, min, hour, day, week, fortnight, month, year, ms, usec and
  their plurals; ``next``/``last``/``previous``/``this`` or ``first``..``twelfth``
  before a unit (``next year``, ``third day``); ``next week`` and ``monday next week``
  (weeks start on Monday); weekdays ``monday``, ``next friday``, ``last fri``,
  ``this sunday``, ``+2 mondays``; business days ``+3 weekdays``;
  ``first day of``/``last day of`` (``first day of next month``, ``last day of february``);
  ``first monday of january 2027``, ``last friday of next month``.
- Separators: blanks, tabs, NBSP, commas and full stops between tokens.

Case-sensitive exceptions (as in PHP): the ``T`` between an ISO date and its time,
the ``W`` of ISO weeks, Roman month numerals, day suffixes (``27th``, not ``27TH``),
``GMT`` before an offset, and the capital that must start a zone identifier.

PHP's quirks, kept because PHP has them (each is in the test corpus)
--------------------------------------------------------------------
- A word that is no keyword is read as a zone: "at" in "tomorrow at 9am" is an unknown
  zone, so the text is invalid; "tomorrowx" is tomorrow in military zone X (UTC-11).
- "2026" alone is 20:26 today; "10:00 2026" is a year. "next week" is Monday of next
  week at the current time of day; "weekday" alone means Monday.
- A weekday or "tomorrow" resets the time to 00:00 unless a time comes after it:
  "tomorrow 9am" is 09:00, "9am tomorrow" is 00:00. "+2 mondays" keeps the time.
- "first day of next month" keeps the time of day; "last day of february" is midnight.
- Signs multiply ("--1 day" is a day later); "+1.5 hours" is zone +01:00 and 5 hours.
- "back of 7pm" is 19:15, but "Back of 7pm" (capital B) is front of: 18:45.
- Text that is only white space means now; an empty text is invalid.
- A second zone is ignored (PHP warns); a third is an error. An abbreviation is a fixed
  offset whatever the date ("EST" in July is -05:00).

Where this differs from PHP, on purpose
---------------------------------------
- Results are ``datetime`` objects, so a moment outside 0001-01-01..9999-12-31 UTC
  raises :class:`InvalidTimeExpression` ("+10000 years", "0000-01-01", "@-99999999999").
  PHP returns a timestamp there. For the same reason, wall-clock times within two days
  of those limits are localised with the offset in force two days inside them.
- Text longer than 80 characters raises: the Plum fields are at most 80 characters
  long. PHP has no limit.
- ``now`` is truncated to the whole second, because PHP's ``$now`` is an integer. The
  result is always in whole seconds too: sub-second parts ("@1.5", "+500 ms") only
  matter where they carry into the seconds, as in PHP.
- Zone data is the system tz database that ``zoneinfo`` reads. PHP is built with its
  own copy unless it uses the system one, as Debian's build does. The two agree only if
  their tz database versions agree. A DST flag that ``zoneinfo`` cannot see (a zone
  whose ``dst()`` is zero while the tz file says DST) could change how an overlap is
  resolved for text that names a zone identifier; no such case is known in current data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import json
import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final, NoReturn

__all__ = ["MAX_LENGTH", "InvalidTimeExpression", "parse"]

MAX_LENGTH: Final = 80
"""The longest text the Plum fields accept."""


class InvalidTimeExpression(ValueError):
    """The text is not a time expression PHP's strtotime accepts. str() is a short, clear reason."""


def parse(text: str, *, now: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """Return the moment `text` denotes, as an aware datetime in UTC, whole seconds,
    exactly as PHP's strtotime($text, $now) with date_default_timezone_set(zone) would.
    `now` is aware. Raises InvalidTimeExpression."""
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    if len(text) > MAX_LENGTH:
        raise InvalidTimeExpression(f"longer than {MAX_LENGTH} characters")
    scanned = _scan(text)
    if isinstance(scanned, str):
        raise InvalidTimeExpression(scanned)
    now_ts = (now - _UTC_EPOCH) // _ONE_SECOND
    ts = _resolve(scanned, now_ts, zone)
    if not _MIN_TS <= ts <= _MAX_TS:
        raise InvalidTimeExpression("the moment is outside the years 1 to 9999")
    return _UTC_EPOCH + timedelta(seconds=ts)


# --- Time arithmetic constants ---------------------------------------------------------

_UTC_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND: Final = timedelta(seconds=1)
_MIN_TS: Final = (datetime.min.replace(tzinfo=UTC) - _UTC_EPOCH) // _ONE_SECOND
_MAX_TS: Final = (datetime.max.replace(tzinfo=UTC, microsecond=0) - _UTC_EPOCH) // _ONE_SECOND
_TWO_DAYS_S: Final = 2 * 86400
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

# --- The lexicon of parse_date.re ------------------------------------------------------
#
# Each name below is the re2c definition of the same name. re2c's 'single-quoted' strings
# are case-insensitive and its "double-quoted" ones are not; _words() builds the former.
# Patterns are compiled with re.ASCII so that case folding stays within ASCII, as in C.


def _words(*words: str) -> str:
    """A case-insensitive alternation of literal words."""
    return "(?i:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


_SPACE: Final = "(?:[ \t]+|\u00a0+|\u202f+)"  # blanks, NBSPs or narrow NBSPs
_FRAC: Final = r"\.[0-9]+"
_HOUR24: Final = "(?:2[0-4]|[01]?[0-9])"
_HOUR24LZ: Final = "(?:[01][0-9]|2[0-4])"
_HOUR12: Final = "(?:1[0-2]|0?[1-9])"
_MINUTE: Final = "[0-5]?[0-9]"
_MINUTELZ: Final = "[0-5][0-9]"
_SECOND: Final = f"(?:60|{_MINUTE})"
_SECONDLZ: Final = f"(?:60|{_MINUTELZ})"
# The meridian swallows the blank (or the end of the text) after it.
_MERIDIAN: Final = r"[AaPp]\.?[Mm]\.?[\0\t ]"
_TZ: Final = r"(?:\(?[A-Za-z]{1,6}\)?|[A-Z][a-z]+(?:[_/-][A-Za-z]+)+)"
_TZCORRECTION: Final = (
    f"(?:GMT)?[+-](?:{_HOUR24}(?::?{_MINUTE})?"
    f"|{_HOUR24LZ}{_MINUTELZ}{_SECONDLZ}|{_HOUR24LZ}:{_MINUTELZ}:{_SECONDLZ})"
)
_DAYSUF: Final = "(?:st|nd|rd|th)"
_MONTH: Final = "(?:1[0-2]|0?[0-9])"
_DAY: Final = f"(?:(?:3[01]|[0-2]?[0-9]){_DAYSUF}?)"
_YEAR: Final = "[0-9]{1,4}"
_YEAR2: Final = "[0-9]{2}"
_YEAR4: Final = "[0-9]{4}"
_YEAR4_WITH_SIGN: Final = "[+-]?[0-9]{4}"
_YEARX: Final = "[+-][0-9]{5,19}"
_DAY_OF_YEAR: Final = "(?:00[1-9]|0[1-9][0-9]|[12][0-9][0-9]|3[0-5][0-9]|36[0-6])"
_WEEK_OF_YEAR: Final = "(?:0[1-9]|[1-4][0-9]|5[0-3])"
_MONTHLZ: Final = "(?:0[0-9]|1[0-2])"
_DAYLZ: Final = "(?:0[0-9]|[12][0-9]|3[01])"

_DAYFULLS: Final = _words(
    "sundays", "mondays", "tuesdays", "wednesdays", "thursdays", "fridays", "saturdays"
)
_DAYFULL: Final = _words(
    "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"
)
_DAYABBR: Final = _words("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAYSPECIAL: Final = _words("weekday", "weekdays")
_DAYTEXT: Final = f"(?:{_DAYFULLS}|{_DAYFULL}|{_DAYABBR}|{_DAYSPECIAL})"
_MONTHFULL: Final = _words(
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december",
)  # fmt: skip
_MONTHABBR: Final = _words(
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"
)
_MONTHROMAN: Final = "(?:XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I)"  # capitals only
_MONTHTEXT: Final = f"(?:{_MONTHFULL}|{_MONTHABBR}|{_MONTHROMAN})"

_T: Final = "[Tt]"
_TIMETINY12: Final = f"{_HOUR12}{_SPACE}?{_MERIDIAN}"
_TIMESHORT12: Final = f"{_HOUR12}[:.]{_MINUTELZ}{_SPACE}?{_MERIDIAN}"
_TIMELONG12: Final = f"{_HOUR12}[:.]{_MINUTE}[:.]{_SECONDLZ}{_SPACE}?{_MERIDIAN}"
_TIMETINY24: Final = f"{_T}{_HOUR24}"
_TIMESHORT24: Final = f"{_T}?{_HOUR24}[:.]{_MINUTE}"
_TIMELONG24: Final = f"{_T}?{_HOUR24}[:.]{_MINUTE}[:.]{_SECOND}"
_ISO8601LONG: Final = f"{_T}?{_HOUR24}[:.]{_MINUTE}[:.]{_SECOND}{_FRAC}"
_ISO8601NORMTZ: Final = (
    f"{_T}?{_HOUR24}[:.]{_MINUTE}[:.]{_SECONDLZ}{_SPACE}?(?:{_TZCORRECTION}|{_TZ})"
)
_GNUNOCOLON: Final = f"{_T}?{_HOUR24LZ}{_MINUTELZ}"
_ISO8601NOCOLON: Final = f"{_T}?{_HOUR24LZ}{_MINUTELZ}{_SECONDLZ}"

_AMERICANSHORT: Final = f"{_MONTH}/{_DAY}"
_AMERICAN: Final = f"{_MONTH}/{_DAY}/{_YEAR}"
_ISO8601DATESLASH: Final = f"{_YEAR4}/{_MONTHLZ}/{_DAYLZ}/?"
_DATESLASH: Final = f"{_YEAR4}/{_MONTH}/{_DAY}"
_ISO8601DATE4: Final = f"{_YEAR4_WITH_SIGN}-{_MONTHLZ}-{_DAYLZ}"
_ISO8601DATE2: Final = f"{_YEAR2}-{_MONTHLZ}-{_DAYLZ}"
_ISO8601DATEX: Final = f"{_YEARX}-{_MONTHLZ}-{_DAYLZ}"
_GNUDATESHORTER: Final = f"{_YEAR4}-{_MONTH}"
_GNUDATESHORT: Final = f"{_YEAR}-{_MONTH}-{_DAY}"
_POINTEDDATE4: Final = f"{_DAY}[.\t-]{_MONTH}[.-]{_YEAR4}"
_POINTEDDATE2: Final = rf"{_DAY}[.\t]{_MONTH}\.{_YEAR2}"
_DATEFULL: Final = f"{_DAY}[ \t.-]*{_MONTHTEXT}[ \t.-]*{_YEAR}"
_DATENODAY: Final = f"{_MONTHTEXT}[ .\t-]*{_YEAR4}"
_DATENODAYREV: Final = f"{_YEAR4}[ .\t-]*{_MONTHTEXT}"
_DATETEXTUAL: Final = f"{_MONTHTEXT}[ .\t-]*{_DAY}[,.stndrh\t ]+{_YEAR}"
_DATENOYEAR: Final = f"{_MONTHTEXT}[ .\t-]*{_DAY}(?:[,.stndrh\t ]+|\\0)"
_DATENOYEARREV: Final = f"{_DAY}[ .\t-]*{_MONTHTEXT}"
_DATENOCOLON: Final = f"{_YEAR4}{_MONTHLZ}{_DAYLZ}"

_SOAP: Final = (
    f"{_YEAR4}-{_MONTHLZ}-{_DAYLZ}T{_HOUR24LZ}:{_MINUTELZ}:{_SECONDLZ}{_FRAC}(?:{_TZCORRECTION})?"
)
_XMLRPC: Final = f"{_YEAR4}{_MONTHLZ}{_DAYLZ}T{_HOUR24}:{_MINUTELZ}:{_SECONDLZ}"
_XMLRPCNOCOLON: Final = f"{_YEAR4}{_MONTHLZ}{_DAYLZ}{_T}{_HOUR24}{_MINUTELZ}{_SECONDLZ}"
_WDDX: Final = f"{_YEAR4}-{_MONTH}-{_DAY}T{_HOUR24}:{_MINUTE}:{_SECOND}"
_PGYDOTD: Final = f"{_YEAR4}[.-]?{_DAY_OF_YEAR}"
_PGTEXTSHORT: Final = f"{_MONTHABBR}-{_DAYLZ}-{_YEAR}"
_PGTEXTREVERSE: Final = f"{_YEAR}-{_MONTHABBR}-{_DAYLZ}"
_MSSQLTIME: Final = f"{_HOUR12}:{_MINUTELZ}:{_SECONDLZ}[:.][0-9]+{_MERIDIAN}"
_ISOWEEKDAY: Final = f"{_YEAR4}-?W{_WEEK_OF_YEAR}-?[0-7]"
_ISOWEEK: Final = f"{_YEAR4}-?W{_WEEK_OF_YEAR}"
_EXIF: Final = f"{_YEAR4}:{_MONTHLZ}:{_DAYLZ} {_HOUR24LZ}:{_MINUTELZ}:{_SECONDLZ}"
_FIRSTDAYOF: Final = _words("first day of")
_LASTDAYOF: Final = _words("last day of")
_BACKOF: Final = _words("back of ") + f"{_HOUR24}(?:{_SPACE}?{_MERIDIAN})?"
_FRONTOF: Final = _words("front of ") + f"{_HOUR24}(?:{_SPACE}?{_MERIDIAN})?"
_CLF: Final = (
    f"{_DAY}/{_MONTHABBR}/{_YEAR4}:{_HOUR24LZ}:{_MINUTELZ}:{_SECONDLZ}{_SPACE}{_TZCORRECTION}"
)
_TIMESTAMP: Final = "@-?[0-9]+"
_TIMESTAMPMS: Final = r"@-?[0-9]+\.[0-9]{0,6}"

_RELTEXTNUMBER: Final = _words(
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eight", "eighth",
    "ninth", "tenth", "eleventh", "twelfth",
)  # fmt: skip
_RELTEXTTEXT: Final = _words("next", "last", "previous", "this")
_RELTEXTUNIT: Final = (
    "(?:"
    + _words("ms", "µs", "weeks")
    + "|(?i:(?:msec|millisecond|µsec|microsecond|usec|sec|second|min|minute|hour|day"
    + "|fortnight|forthnight|month|year)s?)"
    + f"|{_DAYTEXT})"
)
_RELNUMBER: Final = "[+-]*[ \t]*[0-9]{1,13}"
_RELATIVE: Final = f"{_RELNUMBER}{_SPACE}?(?:{_RELTEXTUNIT}|{_words('week')})"
_RELATIVETEXT: Final = f"(?:{_RELTEXTNUMBER}|{_RELTEXTTEXT}){_SPACE}{_RELTEXTUNIT}"
_RELATIVETEXTWEEK: Final = f"{_RELTEXTTEXT}{_SPACE}{_words('week')}"
_WEEKDAYOF: Final = (
    f"(?:{_RELTEXTNUMBER}|{_RELTEXTTEXT}){_SPACE}"
    f"(?:{_DAYFULLS}|{_DAYFULL}|{_DAYABBR}){_SPACE}{_words('of')}"
)

# --- Lookup tables ---------------------------------------------------------------------

_MONTHS: Final = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
    "i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9,
    "x": 10, "xi": 11, "xii": 12,
    "january": 1, "february": 2, "march": 3, "april": 4, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip

# Ordinal and relative words: value and "behavior". Behavior 1 ("this") keeps today
# when it is the weekday asked for; 0 moves on to the next one.
_RELATIVE_WORDS: Final = {
    "first": (1, 0), "next": (1, 0), "second": (2, 0), "third": (3, 0), "fourth": (4, 0),
    "fifth": (5, 0), "sixth": (6, 0), "seventh": (7, 0), "eight": (8, 0), "eighth": (8, 0),
    "ninth": (9, 0), "tenth": (10, 0), "eleventh": (11, 0), "twelfth": (12, 0),
    "last": (-1, 0), "previous": (-1, 0), "this": (0, 1),
}  # fmt: skip


class _Unit(enum.Enum):
    MICROSECOND = enum.auto()
    SECOND = enum.auto()
    MINUTE = enum.auto()
    HOUR = enum.auto()
    DAY = enum.auto()
    MONTH = enum.auto()
    YEAR = enum.auto()
    WEEKDAY = enum.auto()  # multiplier: the day, 0 = Sunday
    SPECIAL = enum.auto()  # multiplier: the kind of special relative (business days)


# timelib's "special relative" kinds, and its "first/last day of" marks.
_SPECIAL_WEEKDAY: Final = 1  # "+3 weekdays": business days
_SPECIAL_DAY_OF_WEEK_IN_MONTH: Final = 2  # "second monday of"
_SPECIAL_LAST_DAY_OF_WEEK_IN_MONTH: Final = 3  # "last monday of"
_FIRST_DAY_OF_MONTH: Final = 1
_LAST_DAY_OF_MONTH: Final = 2

_RELATIVE_UNITS: Final = {
    "ms": (_Unit.MICROSECOND, 1000), "msec": (_Unit.MICROSECOND, 1000),
    "msecs": (_Unit.MICROSECOND, 1000), "millisecond": (_Unit.MICROSECOND, 1000),
    "milliseconds": (_Unit.MICROSECOND, 1000), "µs": (_Unit.MICROSECOND, 1),
    "usec": (_Unit.MICROSECOND, 1), "usecs": (_Unit.MICROSECOND, 1),
    "µsec": (_Unit.MICROSECOND, 1), "µsecs": (_Unit.MICROSECOND, 1),
    "microsecond": (_Unit.MICROSECOND, 1), "microseconds": (_Unit.MICROSECOND, 1),
    "sec": (_Unit.SECOND, 1), "secs": (_Unit.SECOND, 1), "second": (_Unit.SECOND, 1),
    "seconds": (_Unit.SECOND, 1), "min": (_Unit.MINUTE, 1), "mins": (_Unit.MINUTE, 1),
    "minute": (_Unit.MINUTE, 1), "minutes": (_Unit.MINUTE, 1), "hour": (_Unit.HOUR, 1),
    "hours": (_Unit.HOUR, 1), "day": (_Unit.DAY, 1), "days": (_Unit.DAY, 1),
    "week": (_Unit.DAY, 7), "weeks": (_Unit.DAY, 7), "fortnight": (_Unit.DAY, 14),
    "fortnights": (_Unit.DAY, 14), "forthnight": (_Unit.DAY, 14),
    "forthnights": (_Unit.DAY, 14), "month": (_Unit.MONTH, 1), "months": (_Unit.MONTH, 1),
    "year": (_Unit.YEAR, 1), "years": (_Unit.YEAR, 1),
    "mondays": (_Unit.WEEKDAY, 1), "monday": (_Unit.WEEKDAY, 1), "mon": (_Unit.WEEKDAY, 1),
    "tuesdays": (_Unit.WEEKDAY, 2), "tuesday": (_Unit.WEEKDAY, 2), "tue": (_Unit.WEEKDAY, 2),
    "wednesdays": (_Unit.WEEKDAY, 3), "wednesday": (_Unit.WEEKDAY, 3),
    "wed": (_Unit.WEEKDAY, 3), "thursdays": (_Unit.WEEKDAY, 4),
    "thursday": (_Unit.WEEKDAY, 4), "thu": (_Unit.WEEKDAY, 4),
    "fridays": (_Unit.WEEKDAY, 5), "friday": (_Unit.WEEKDAY, 5), "fri": (_Unit.WEEKDAY, 5),
    "saturdays": (_Unit.WEEKDAY, 6), "saturday": (_Unit.WEEKDAY, 6),
    "sat": (_Unit.WEEKDAY, 6), "sundays": (_Unit.WEEKDAY, 0), "sunday": (_Unit.WEEKDAY, 0),
    "sun": (_Unit.WEEKDAY, 0),
    "weekday": (_Unit.SPECIAL, _SPECIAL_WEEKDAY), "weekdays": (_Unit.SPECIAL, _SPECIAL_WEEKDAY),
}  # fmt: skip

# The zone abbreviations PHP 8.2 knows (DateTimeZone::listAbbreviations(), first entry
# of each): abbreviation -> (UTC offset in seconds, is DST). timelib reads an
# abbreviation as this fixed offset whatever the date, so "EST" in July is still -05:00.
_ZONE_ABBREVIATIONS: Final = {
    "a": (3600, False), "acdt": (37800, True), "acst": (34200, False), "addt": (-7200, True),
    "adt": (-10800, True), "aedt": (39600, True), "aest": (36000, False),
    "ahdt": (-32400, True), "ahst": (-36000, False), "akdt": (-28800, True),
    "akst": (-32400, False), "amt": (-13840, False), "apt": (-10800, True),
    "ast": (-14400, False), "awdt": (32400, True), "awst": (28800, False),
    "awt": (-10800, True), "b": (7200, False), "bdst": (7200, True), "bdt": (-36000, True),
    "bmt": (-14309, False), "bst": (3600, True), "c": (10800, False), "cast": (34200, False),
    "cat": (7200, False), "cddt": (-14400, True), "cdt": (-18000, True),
    "cemt": (10800, True), "cest": (7200, True), "cet": (3600, False),
    "chst": (36000, False), "cmt": (-15408, False), "cpt": (-18000, True),
    "cst": (-21600, False), "cwt": (-18000, True), "d": (14400, False),
    "dmt": (-1521, False), "e": (18000, False), "eat": (10800, False),
    "eddt": (-10800, True), "edt": (-14400, True), "eest": (10800, True),
    "eet": (7200, False), "emt": (-26248, False), "ept": (-14400, True),
    "est": (-18000, False), "ewt": (-14400, True), "f": (21600, False),
    "ffmt": (-14660, False), "fmt": (-4056, False), "g": (25200, False),
    "gdt": (39600, True), "gmt": (0, False), "gst": (36000, False), "h": (28800, False),
    "hdt": (-34200, True), "hkst": (32400, True), "hkt": (28800, False),
    "hmt": (-19776, False), "hpt": (-34200, True), "hst": (-36000, False),
    "hwt": (-34200, True), "i": (32400, False), "iddt": (14400, True), "idt": (10800, True),
    "imt": (25025, False), "ist": (7200, False), "jdt": (36000, True), "jmt": (8440, False),
    "jst": (32400, False), "k": (36000, False), "kdt": (36000, True), "kmt": (5736, False),
    "kst": (30600, False), "l": (39600, False), "lst": (9394, True), "m": (43200, False),
    "mddt": (-18000, True), "mdst": (16279, True), "mdt": (-21600, True),
    "mest": (7200, True), "met": (3600, False), "mmt": (9017, False), "mpt": (-21600, True),
    "msd": (14400, True), "msk": (10800, False), "mst": (-25200, False),
    "mwt": (-21600, True), "n": (-3600, False), "nddt": (-5400, True),
    "ndt": (-9052, True), "npt": (-9000, True), "nst": (-12600, False),
    "nwt": (-9000, True), "nzdt": (46800, True), "nzmt": (41400, False),
    "nzst": (43200, False), "o": (-7200, False), "p": (-10800, False),
    "pddt": (-21600, True), "pdt": (-25200, True), "pkst": (21600, True),
    "pkt": (18000, False), "plmt": (25590, False), "pmt": (-13236, False),
    "ppmt": (-17340, False), "ppt": (-25200, True), "pst": (-28800, False),
    "pwt": (-25200, True), "q": (-14400, False), "qmt": (-18840, False),
    "r": (-18000, False), "rmt": (5794, False), "s": (-21600, False),
    "sast": (7200, False), "sdmt": (-16800, False), "sjmt": (-20173, False),
    "smt": (-13884, False), "sst": (-39600, False), "t": (-25200, False),
    "tbmt": (10751, False), "tmt": (12344, False), "u": (-28800, False),
    "uct": (0, False), "utc": (0, False), "v": (-32400, False), "w": (-36000, False),
    "wast": (7200, True), "wat": (3600, False), "wemt": (7200, True), "west": (3600, True),
    "wet": (0, False), "wib": (25200, False), "wit": (32400, False),
    "wita": (28800, False), "wmt": (5040, False), "x": (-39600, False),
    "y": (-43200, False), "yddt": (-25200, True), "ydt": (-28800, True),
    "ypt": (-28800, True), "yst": (-32400, False), "ywt": (-28800, True), "z": (0, False),
}  # fmt: skip


@functools.cache
def _zone_keys() -> dict[str, str]:
    """Zone identifiers by their ASCII-lowercased form: PHP looks them up case-insensitively."""
    return {_lower(key): key for key in zoneinfo.available_timezones()}


def _find_zone(name: str) -> zoneinfo.ZoneInfo | None:
    key = _zone_keys().get(_lower(name))
    if key is None:
        return None
    try:
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


_DIGITS: Final = frozenset("0123456789")
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower(text: str) -> str:
    """Lower-case ASCII letters only, like C's tolower() in the "C" locale."""
    return text.translate(_ASCII_LOWER)


# --- What the scanner builds -----------------------------------------------------------


class _ZoneKind(enum.Enum):
    NONE = enum.auto()
    OFFSET = enum.auto()  # "+02:00", "@1700000000" (UTC)
    ABBREVIATION = enum.auto()  # "CEST": a fixed offset
    IDENTIFIER = enum.auto()  # "Europe/Paris": rules and history


@dataclasses.dataclass
class _Relative:
    """timelib's ``relative``: amounts to add, and moves to make, after the absolute fields."""

    y: int = 0
    m: int = 0
    d: int = 0
    h: int = 0
    i: int = 0
    s: int = 0
    us: int = 0
    weekday: int = 0  # 0 = Sunday; negative after "ago"
    # 0: the next such day after today; 1: today counts; 2: within the week ("this week").
    weekday_behavior: int = 0
    have_weekday_relative: bool = False
    have_special_relative: bool = False
    special_type: int = 0
    special_amount: int = 0
    first_last_day_of: int = 0


@dataclasses.dataclass
class _Fields:
    """timelib's ``timelib_time`` as the scanner leaves it; None is TIMELIB_UNSET."""

    y: int | None = None
    m: int | None = None
    d: int | None = None
    h: int | None = None
    i: int | None = None
    s: int | None = None
    us: int | None = None
    have_time: int = 0  # a count: "10:00 2026" reads 2026 as a year after a time
    have_date: bool = False
    have_zone: int = 0
    have_relative: bool = False
    zone_kind: _ZoneKind = _ZoneKind.NONE
    z: int = 0  # seconds east of UTC, for OFFSET and ABBREVIATION
    dst: int | None = None
    zone: zoneinfo.ZoneInfo | None = None  # for IDENTIFIER
    relative: _Relative = dataclasses.field(default_factory=_Relative)


class _ScanError(Exception):
    """The text is invalid: what strtotime reports as an error (not a warning)."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(reason)
        self.position = position
        self.reason = reason


class _TokenIgnored(Exception):
    """PHP only warns about this token (a second zone) and drops it."""


# --- Reading numbers and words inside one token ----------------------------------------


class _Cursor:
    """Reads fields out of one matched token, like timelib's char-pointer helpers.

    The token ends at its first NUL, and reading past its end gives NUL, as in C."""

    def __init__(self, token: str, position: int) -> None:
        self.text = token.split("\0", 1)[0]
        self.pos = 0
        self.position = position  # of the token in the text, for error messages

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else "\0"

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def is_digit(self, offset: int = 0) -> bool:
        return self.peek(offset) in _DIGITS

    def number(self, max_digits: int) -> tuple[int | None, int]:
        """timelib_get_nr_ex: skip to the next digit, read up to max_digits of them.
        Returns the number (None if there is none) and how many digits it had."""
        while not self.is_digit():
            if self.at_end():
                return None, 0
            self.pos += 1
        start = self.pos
        while self.is_digit() and self.pos - start < max_digits:
            self.pos += 1
        return int(self.text[start : self.pos]), self.pos - start

    def digits(self, max_digits: int) -> int:
        """A number the token's pattern guarantees is there."""
        value, _ = self.number(max_digits)
        if value is None:
            raise AssertionError(f"the pattern guarantees a number in {self.text!r}")
        return value

    def signed_number(self, max_digits: int) -> int:
        """timelib_get_signed_nr: signs (each "-" flips it), then up to max_digits digits.

        Like strtoll(), a number too large for 64 bits saturates rather than failing."""
        while not self.is_digit() and self.peek() not in "+-":
            if self.at_end():
                raise _ScanError(self.position, f"incomplete number {_quote(self.text)}")
            self.pos += 1
        sign = 1
        while self.peek() in "+-" and not self.at_end():
            if self.peek() == "-":
                sign = -sign
            self.pos += 1
        value, _ = self.number(max_digits)
        if value is None:  # cannot happen: every pattern that gets here has a digit
            raise AssertionError(f"the pattern guarantees a number in {self.text!r}")
        return sign * min(value, _INT64_MAX)

    def fraction(self) -> int:
        """timelib_get_frac_nr: ".25" -> 250000 microseconds."""
        while self.peek() not in ".:" and not self.is_digit():
            if self.at_end():
                raise AssertionError(f"the pattern guarantees a fraction in {self.text!r}")
            self.pos += 1
        start = self.pos
        while not self.at_end() and (self.peek() in ".:" or self.is_digit()):
            self.pos += 1
        run = self.text[start + 1 : self.pos]
        # strtod() reads the longest prefix that is a number ("25", "2.5"; ":" stops it).
        match = re.match(r"[0-9]*(?:\.[0-9]*)?", run)
        number = match.group(0) if match else ""
        value = float(number) if number not in ("", ".") else 0.0
        return int(value * 10.0 ** (7 - (self.pos - start)))

    def eat_spaces(self) -> None:
        while self.peek() in " \t\u00a0\u202f" and not self.at_end():
            self.pos += 1

    def skip(self, characters: str) -> None:
        while self.peek() in characters and not self.at_end():
            self.pos += 1

    def letters(self) -> str:
        start = self.pos
        while self.peek().isascii() and self.peek().isalpha():
            self.pos += 1
        return self.text[start : self.pos]

    def skip_day_suffix(self) -> None:
        if self.peek() in " \t\n\v\f\r":
            return
        if _lower(self.peek() + self.peek(1)) in ("nd", "rd", "st", "th"):
            self.pos += 2

    def month(self) -> int:
        """timelib_get_month: a month name or Roman numeral, after separators."""
        self.skip(" \t-./")
        return _MONTHS.get(_lower(self.letters()), 0)

    def relative_word(self) -> tuple[int, int | None]:
        """timelib_get_relative_text: "next" -> (1, 0); the behavior is None if unknown."""
        self.skip(" \t-/")
        value, behavior = _RELATIVE_WORDS.get(_lower(self.letters()), (0, None))
        return value, behavior

    def relative_unit(self) -> tuple[_Unit, int] | None:
        """timelib_lookup_relunit: the word up to the next separator, as a unit."""
        start = self.pos
        while not self.at_end() and self.peek() not in " ,\t;:/.-()":
            self.pos += 1
        return _RELATIVE_UNITS.get(_lower(self.text[start : self.pos]))

    def meridian(self, hour: int) -> int:
        """timelib_meridian: the hours to add for "am"/"pm" (12am is 0:00, 12pm is noon)."""
        while self.peek() not in "AaPp\0":
            self.pos += 1
        is_am = self.peek() in "Aa"
        self.pos += 1
        return (-12 if hour == 12 else 0) if is_am else (12 if hour != 12 else 0)


def _process_year(year: int | None, length: int) -> int | None:
    """Two-digit years: 00-69 are 2000-2069, 70-99 are 1970-1999."""
    if year is None or length >= 4 or year >= 100:
        return year
    return year + (2000 if year < 70 else 1900)


def _quote(text: str) -> str:
    return json.dumps(text.replace("\0", "").strip(), ensure_ascii=False)


# --- The scanner -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Token:
    text: str  # as matched; may end in the NUL that stands for the end of the text
    position: int  # in the trimmed text, from 0


class _Builder:
    """The actions of parse_date.re's rules, filling in one ``_Fields``."""

    def __init__(self) -> None:
        self.f = _Fields()

    # timelib's TIMELIB_HAVE_*/UNHAVE_* macros.

    def have_time(self, token: _Token) -> None:
        if self.f.have_time:
            raise _ScanError(token.position, f"a second time of day: {_quote(token.text)}")
        self.f.have_time = 1
        self.f.h = self.f.i = self.f.s = self.f.us = 0

    def unhave_time(self) -> None:
        self.f.have_time = 0
        self.f.h = self.f.i = self.f.s = self.f.us = 0

    def have_date(self, token: _Token) -> None:
        if self.f.have_date:
            raise _ScanError(token.position, f"a second date: {_quote(token.text)}")
        self.f.have_date = True

    def unhave_date(self) -> None:
        self.f.have_date = False
        self.f.y = self.f.m = self.f.d = 0

    def have_zone(self, token: _Token) -> None:
        if self.f.have_zone > 1:
            raise _ScanError(token.position, f"a third time zone: {_quote(token.text)}")
        self.f.have_zone += 1
        if self.f.have_zone > 1:
            raise _TokenIgnored

    def have_relative(self) -> None:
        self.f.have_relative = True

    def have_weekday_relative(self) -> None:
        self.f.have_relative = True
        self.f.relative.have_weekday_relative = True

    def have_special_relative(self) -> None:
        self.f.have_relative = True
        self.f.relative.have_special_relative = True

    # Shared pieces of the actions.

    def set_relative(self, cursor: _Cursor, amount: int, behavior: int, keep_time: bool) -> None:
        """timelib_set_relative: add `amount` of the unit named next."""
        unit = cursor.relative_unit()
        if unit is None:
            return
        kind, multiplier = unit
        rel = self.f.relative
        if kind is _Unit.WEEKDAY:
            self.have_weekday_relative()
            if not keep_time:
                self.unhave_time()
            rel.d += (amount - 1 if amount > 0 else amount) * 7
            rel.weekday = multiplier
            rel.weekday_behavior = behavior
        elif kind is _Unit.SPECIAL:
            self.have_special_relative()
            if not keep_time:
                self.unhave_time()
            rel.special_type = multiplier
            rel.special_amount = amount
        else:
            field = {
                _Unit.MICROSECOND: "us",
                _Unit.SECOND: "s",
                _Unit.MINUTE: "i",
                _Unit.HOUR: "h",
                _Unit.DAY: "d",
                _Unit.MONTH: "m",
                _Unit.YEAR: "y",
            }[kind]
            total = getattr(rel, field) + amount * multiplier
            if not _INT64_MIN <= total <= _INT64_MAX:
                raise _ScanError(cursor.position, f"number out of range in {_quote(cursor.text)}")
            setattr(rel, field, total)

    def parse_zone(self, cursor: _Cursor, token: _Token) -> None:
        """timelib_parse_zone: an offset, an abbreviation or a zone identifier."""
        f = self.f
        cursor.skip(" \t(")
        if cursor.text.startswith("GMT", cursor.pos) and cursor.peek(3) in ("+", "-"):
            cursor.pos += 3
        if cursor.peek() in ("+", "-") and not cursor.at_end():
            sign = 1 if cursor.peek() == "+" else -1
            cursor.pos += 1
            f.zone_kind = _ZoneKind.OFFSET
            f.dst = 0
            offset = _zone_offset(cursor)
            if offset is None:
                raise _ScanError(token.position, f"bad zone offset in {_quote(token.text)}")
            f.z = sign * offset
        else:
            start = cursor.pos
            while cursor.peek().isascii() and (cursor.peek().isalnum() or cursor.peek() in "/_-+"):
                cursor.pos += 1
            word = cursor.text[start : cursor.pos]
            found = False
            abbreviation = _ZONE_ABBREVIATIONS.get(_lower(word)) if len(word) < 6 else None
            if abbreviation is not None:
                offset, is_dst = abbreviation
                f.zone_kind = _ZoneKind.ABBREVIATION
                f.dst = int(is_dst)
                f.z = offset - f.dst * 3600
                found = True
            if not found or word == "UTC":
                zone = _find_zone(word)
                if zone is not None:
                    f.zone = zone
                    f.zone_kind = _ZoneKind.IDENTIFIER
                    found = True
            if not found and ("/" in word or token.text[0] in _DIGITS):
                raise _ScanError(token.position + start, f"unknown time zone {_quote(word)}")
            if not found:  # a word, taken for a zone because nothing else matched
                raise _ScanError(token.position + start, "unexpected")
        cursor.skip(")")

    # The rules' actions, in the order of _RULES.

    def on_yesterday(self, token: _Token) -> None:
        self.have_relative()
        self.unhave_time()
        self.f.relative.d = -1

    def on_now(self, token: _Token) -> None:
        pass

    def on_noon(self, token: _Token) -> None:
        self.unhave_time()
        self.have_time(token)
        self.f.h = 12

    def on_midnight_today(self, token: _Token) -> None:
        self.unhave_time()

    def on_tomorrow(self, token: _Token) -> None:
        self.have_relative()
        self.unhave_time()
        self.f.relative.d = 1

    def on_timestamp(self, token: _Token) -> None:
        self._timestamp(token, with_fraction=False)

    def on_timestamp_ms(self, token: _Token) -> None:
        self._timestamp(token, with_fraction=True)

    def _timestamp(self, token: _Token, with_fraction: bool) -> None:
        f = self.f
        self.have_relative()
        self.unhave_date()
        self.unhave_time()
        self.have_zone(token)
        cursor = _Cursor(token.text, token.position)
        seconds = cursor.signed_number(24)
        microseconds = 0
        if with_fraction:
            before = cursor.pos
            microseconds = cursor.signed_number(6) * 10 ** (7 - (cursor.pos - before))
            if token.text[1] == "-":
                microseconds = -microseconds
        f.y, f.m, f.d = 1970, 1, 1
        f.h = f.i = f.s = f.us = 0
        f.relative.s += seconds
        if with_fraction:
            f.relative.us = microseconds
        f.zone_kind = _ZoneKind.OFFSET
        f.z = 0
        f.dst = 0

    def on_first_last_day_of(self, token: _Token) -> None:
        self.have_relative()
        last = token.text[0] in "lL"
        self.f.relative.first_last_day_of = _LAST_DAY_OF_MONTH if last else _FIRST_DAY_OF_MONTH

    def on_back_front_of(self, token: _Token) -> None:
        f = self.f
        self.unhave_time()
        self.have_time(token)
        cursor = _Cursor(token.text, token.position)
        if token.text[0] == "b":  # only a lower-case "b": PHP reads "Back of 7" as "front of"
            f.h = cursor.digits(2)
            f.i = 15
        else:
            f.h = cursor.digits(2) - 1
            f.i = 45
        if not cursor.at_end():
            cursor.eat_spaces()
            f.h += cursor.meridian(f.h)

    def on_weekday_of(self, token: _Token) -> None:
        rel = self.f.relative
        self.have_relative()
        self.have_special_relative()
        cursor = _Cursor(token.text, token.position)
        amount, behavior = cursor.relative_word()
        cursor.eat_spaces()
        if amount > 0:  # first, second, ...
            rel.special_type = _SPECIAL_DAY_OF_WEEK_IN_MONTH
            self.set_relative(cursor, amount, 1, keep_time=False)
        else:  # last, this, previous
            rel.special_type = _SPECIAL_LAST_DAY_OF_WEEK_IN_MONTH
            self.set_relative(cursor, amount, behavior or 0, keep_time=False)

    def on_time12(self, token: _Token) -> None:
        f = self.f
        self.have_time(token)
        cursor = _Cursor(token.text, token.position)
        f.h = cursor.digits(2)
        if cursor.peek() in ":.":
            f.i = cursor.digits(2)
            if cursor.peek() in ":.":
                f.s = cursor.digits(2)
        cursor.eat_spaces()
        f.h += cursor.meridian(f.h)

    def on_mssqltime(self, token: _Token) -> None:
        f = self.f
        self.have_time(token)
        cursor = _Cursor(token.text, token.position)
        f.h = cursor.digits(2)
        f.i = cursor.digits(2)
        if cursor.peek() in ":.":
            f.s = cursor.digits(2)
            if cursor.peek() in ":.":
                f.us = cursor.fraction()
        cursor.eat_spaces()
        f.h += cursor.meridian(f.h)

    def on_time24(self, token: _Token) -> None:
        f = self.f
        self.have_time(token)
        cursor = _Cursor(token.text, token.position)
        f.h = cursor.digits(2)
        if cursor.peek() in ":.":
            f.i = cursor.digits(2)
            if cursor.peek() in ":.":
                f.s = cursor.digits(2)
                if cursor.peek() == ".":
                    f.us = cursor.fraction()
        if not cursor.at_end():
            self.parse_zone(cursor, token)

    def on_gnunocolon(self, token: _Token) -> None:
        """ "1430" is a time; after a time, it is a year ("10:00 2026")."""
        f = self.f
        cursor = _Cursor(token.text, token.position)
        if f.have_time == 0:
            f.h = cursor.digits(2)
            f.i = cursor.digits(2)
            f.s = 0
        elif f.have_time == 1:
            f.y = cursor.digits(4)
        else:
            raise _ScanError(token.position, f"a second time of day: {_quote(token.text)}")
        f.have_time += 1

    def on_iso8601nocolon(self, token: _Token) -> None:
        f = self.f
        self.have_time(token)
        cursor = _Cursor(token.text, token.position)
        f.h = cursor.digits(2)
        f.i = cursor.digits(2)
        f.s = cursor.digits(2)
        if not cursor.at_end():
            self.parse_zone(cursor, token)

    def on_american(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.m = cursor.digits(2)
        f.d = cursor.digits(2)
        if cursor.peek() == "/":
            f.y = _process_year(*cursor.number(4))

    def on_iso_date(self, token: _Token) -> None:
        """iso8601date4, iso8601dateslash, dateslash: a 4-digit year, maybe signed."""
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.y = cursor.signed_number(4)
        f.m = cursor.digits(2)
        f.d = cursor.digits(2)

    def on_iso_date2(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        year = cursor.number(4)
        f.m = cursor.digits(2)
        f.d = cursor.digits(2)
        f.y = _process_year(*year)

    def on_iso_datex(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.y = cursor.signed_number(19)
        f.m = cursor.digits(2)
        f.d = cursor.digits(2)

    def on_gnudateshorter(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        year = cursor.number(4)
        f.m = cursor.digits(2)
        f.d = 1
        f.y = _process_year(*year)

    def on_gnudateshort(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        year = cursor.number(4)
        f.m = cursor.digits(2)
        f.d = cursor.digits(2)
        f.y = _process_year(*year)

    def on_datefull(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.d = cursor.digits(2)
        cursor.skip_day_suffix()
        f.m = cursor.month()
        f.y = _process_year(*cursor.number(4))

    def on_pointed_date4(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.d = cursor.digits(2)
        f.m = cursor.digits(2)
        f.y = cursor.digits(4)

    def on_pointed_date2(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.d = cursor.digits(2)
        f.m = cursor.digits(2)
        f.y = _process_year(*cursor.number(2))

    def on_datenoday(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.m = cursor.month()
        f.y = _process_year(*cursor.number(4))
        f.d = 1

    def on_datenodayrev(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        year = cursor.number(4)
        f.m = cursor.month()
        f.d = 1
        f.y = _process_year(*year)

    def on_datetextual(self, token: _Token) -> None:
        """datetextual and datenoyear: "Nov 27th, 2026", "November 27"."""
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.m = cursor.month()
        f.d = cursor.digits(2)
        f.y = _process_year(*cursor.number(4))

    def on_datenoyearrev(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.d = cursor.digits(2)
        cursor.skip_day_suffix()
        f.m = cursor.month()

    def on_datenocolon(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.y = cursor.digits(4)
        f.m = cursor.digits(2)
        f.d = cursor.digits(2)

    def on_date_and_time(self, token: _Token) -> None:
        """xmlrpc, xmlrpcnocolon, soap, wddx and exif."""
        f = self.f
        self.have_time(token)
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.y = cursor.digits(4)
        f.m = cursor.digits(2)
        f.d = cursor.digits(2)
        f.h = cursor.digits(2)
        f.i = cursor.digits(2)
        f.s = cursor.digits(2)
        if cursor.peek() == ".":
            f.us = cursor.fraction()
            if not cursor.at_end():
                self.parse_zone(cursor, token)

    def on_pgydotd(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        year = cursor.number(4)
        f.d = cursor.digits(3)
        f.m = 1
        f.y = _process_year(*year)

    def on_isoweekday(self, token: _Token) -> None:
        self._isoweek(token, with_day=True)

    def on_isoweek(self, token: _Token) -> None:
        self._isoweek(token, with_day=False)

    def _isoweek(self, token: _Token, with_day: bool) -> None:
        f = self.f
        self.have_date(token)
        self.have_relative()
        cursor = _Cursor(token.text, token.position)
        f.y = cursor.digits(4)
        week = cursor.digits(2)
        day = cursor.digits(1) if with_day else 1
        f.m = 1
        f.d = 1
        f.relative.d = _day_number_from_week_number(f.y, week, day)

    def on_pgtextshort(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.m = cursor.month()
        f.d = cursor.digits(2)
        f.y = _process_year(*cursor.number(4))

    def on_pgtextreverse(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        year = cursor.number(4)
        f.m = cursor.month()
        f.d = cursor.digits(2)
        f.y = _process_year(*year)

    def on_clf(self, token: _Token) -> None:
        f = self.f
        self.have_time(token)
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.d = cursor.digits(2)
        f.m = cursor.month()
        f.y = cursor.digits(4)
        f.h = cursor.digits(2)
        f.i = cursor.digits(2)
        f.s = cursor.digits(2)
        cursor.eat_spaces()
        self.parse_zone(cursor, token)

    def on_year4(self, token: _Token) -> None:
        self.f.y = _Cursor(token.text, token.position).digits(4)

    def on_ago(self, token: _Token) -> None:
        """Negate the relative amounts so far (not microseconds: timelib forgets them)."""
        rel = self.f.relative
        rel.y, rel.m, rel.d = -rel.y, -rel.m, -rel.d
        rel.h, rel.i, rel.s = -rel.h, -rel.i, -rel.s
        rel.weekday = -rel.weekday
        if rel.weekday == 0:
            rel.weekday = -7
        if rel.have_special_relative and rel.special_type == _SPECIAL_WEEKDAY:
            rel.special_amount = -rel.special_amount

    def on_daytext(self, token: _Token) -> None:
        rel = self.f.relative
        self.have_relative()
        self.have_weekday_relative()
        self.unhave_time()
        unit = _Cursor(token.text, token.position).relative_unit()
        if unit is None:
            raise AssertionError(f"the pattern guarantees a day name in {token.text!r}")
        # "weekday" alone takes the multiplier of its special kind (1): it means Monday.
        rel.weekday = unit[1]
        if rel.weekday_behavior != 2:
            rel.weekday_behavior = 1

    def on_relativetextweek(self, token: _Token) -> None:
        rel = self.f.relative
        self.have_relative()
        cursor = _Cursor(token.text, token.position)
        while not cursor.at_end():
            start = cursor.pos
            amount, behavior = cursor.relative_word()
            cursor.eat_spaces()
            self.set_relative(cursor, amount, behavior or 0, keep_time=False)
            rel.weekday_behavior = 2
            # "next week" alone means Monday of that week; "friday next week" keeps Friday.
            if not rel.have_weekday_relative:
                self.have_weekday_relative()
                rel.weekday = 1
            if cursor.pos == start:
                break

    def on_relativetext(self, token: _Token) -> None:
        self.have_relative()
        cursor = _Cursor(token.text, token.position)
        while not cursor.at_end():
            start = cursor.pos
            amount, behavior = cursor.relative_word()
            cursor.eat_spaces()
            self.set_relative(cursor, amount, behavior or 0, keep_time=False)
            if cursor.pos == start:
                break

    def on_monthtext(self, token: _Token) -> None:
        self.have_date(token)
        self.f.m = _MONTHS.get(_lower(_Cursor(token.text, token.position).letters()), 0)

    def on_zone(self, token: _Token) -> None:
        self.have_zone(token)
        cursor = _Cursor(token.text, token.position)
        cursor.eat_spaces()
        self.parse_zone(cursor, token)

    def on_dateshort_with_time12(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.m = cursor.month()
        f.d = cursor.digits(2)
        self.have_time(token)
        f.h = cursor.digits(2)
        f.i = cursor.digits(2)
        if cursor.peek() in ":.":
            f.s = cursor.digits(2)
            if cursor.peek() == ".":
                f.us = cursor.fraction()
        f.h += cursor.meridian(f.h)

    def on_dateshort_with_time24(self, token: _Token) -> None:
        f = self.f
        self.have_date(token)
        cursor = _Cursor(token.text, token.position)
        f.m = cursor.month()
        f.d = cursor.digits(2)
        self.have_time(token)
        f.h = cursor.digits(2)
        f.i = cursor.digits(2)
        if cursor.peek() == ":":
            f.s = cursor.digits(2)
            if cursor.peek() == ".":
                f.us = cursor.fraction()
        if not cursor.at_end():
            self.parse_zone(cursor, token)

    def on_relative(self, token: _Token) -> None:
        self.have_relative()
        cursor = _Cursor(token.text, token.position)
        while not cursor.at_end():
            start = cursor.pos
            amount = cursor.signed_number(24)
            cursor.eat_spaces()
            self.set_relative(cursor, amount, 1, keep_time=True)
            if cursor.pos == start:
                break

    def on_separator(self, token: _Token) -> None:
        pass

    def on_unexpected(self, token: _Token) -> NoReturn:
        raise _ScanError(token.position, "unexpected")


def _zone_offset(cursor: _Cursor) -> int | None:
    """timelib_parse_tz_cor: "2", "02", "0200", "2:00", "02:00", "020000", "02:00:00"."""
    start = cursor.pos
    while not cursor.at_end() and (cursor.is_digit() or cursor.peek() == ":"):
        cursor.pos += 1
    run = cursor.text[start : cursor.pos]

    def leading_int(text: str) -> int:  # strtol(): the leading digits
        digits = re.match(r"[0-9]*", text)
        return int(digits.group(0)) if digits and digits.group(0) else 0

    if len(run) in (1, 2):
        return leading_int(run) * 3600
    if len(run) in (3, 4):
        if run[1] == ":":
            return leading_int(run) * 3600 + leading_int(run[2:]) * 60
        if run[2] == ":":
            return leading_int(run) * 3600 + leading_int(run[3:]) * 60
        value = leading_int(run)
        return (value // 100) * 3600 + (value % 100) * 60
    if len(run) == 5 and run[2] == ":":
        return leading_int(run) * 3600 + leading_int(run[3:]) * 60
    if len(run) == 6:
        value = leading_int(run)
        return (value // 10000) * 3600 + ((value // 100) % 100) * 60 + value % 100
    if len(run) == 8 and run[2] == ":" and run[5] == ":":
        return leading_int(run) * 3600 + leading_int(run[3:]) * 60 + leading_int(run[6:])
    return None


_Action = Callable[[_Builder, _Token], None]


@dataclasses.dataclass(frozen=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]
    action: _Action


def _rule(name: str, action: _Action, *alternatives: str) -> _Rule:
    return _Rule(name, re.compile("|".join(alternatives), re.ASCII), action)


# parse_date.re's rules, in its order: on a tie for the longest match, the first wins.
_RULES: Final = (
    _rule("yesterday", _Builder.on_yesterday, _words("yesterday")),
    _rule("now", _Builder.on_now, _words("now")),
    _rule("noon", _Builder.on_noon, _words("noon")),
    _rule("midnight | today", _Builder.on_midnight_today, _words("midnight", "today")),
    _rule("tomorrow", _Builder.on_tomorrow, _words("tomorrow")),
    _rule("timestamp", _Builder.on_timestamp, _TIMESTAMP),
    _rule("timestampms", _Builder.on_timestamp_ms, _TIMESTAMPMS),
    _rule("firstdayof | lastdayof", _Builder.on_first_last_day_of, _FIRSTDAYOF, _LASTDAYOF),
    _rule("backof | frontof", _Builder.on_back_front_of, _BACKOF, _FRONTOF),
    _rule("weekdayof", _Builder.on_weekday_of, _WEEKDAYOF),
    _rule("time12", _Builder.on_time12, _TIMETINY12, _TIMESHORT12, _TIMELONG12),
    _rule("mssqltime", _Builder.on_mssqltime, _MSSQLTIME),
    _rule("time24", _Builder.on_time24, _TIMETINY24, _TIMESHORT24, _TIMELONG24, _ISO8601LONG),
    _rule("gnunocolon", _Builder.on_gnunocolon, _GNUNOCOLON),
    _rule("iso8601nocolon", _Builder.on_iso8601nocolon, _ISO8601NOCOLON),
    _rule("american", _Builder.on_american, _AMERICANSHORT, _AMERICAN),
    _rule(
        "iso8601date4 | iso8601dateslash | dateslash",
        _Builder.on_iso_date,
        _ISO8601DATE4,
        _ISO8601DATESLASH,
        _DATESLASH,
    ),
    _rule("iso8601date2", _Builder.on_iso_date2, _ISO8601DATE2),
    _rule("iso8601datex", _Builder.on_iso_datex, _ISO8601DATEX),
    _rule("gnudateshorter", _Builder.on_gnudateshorter, _GNUDATESHORTER),
    _rule("gnudateshort", _Builder.on_gnudateshort, _GNUDATESHORT),
    _rule("datefull", _Builder.on_datefull, _DATEFULL),
    _rule("pointeddate4", _Builder.on_pointed_date4, _POINTEDDATE4),
    _rule("pointeddate2", _Builder.on_pointed_date2, _POINTEDDATE2),
    _rule("datenoday", _Builder.on_datenoday, _DATENODAY),
    _rule("datenodayrev", _Builder.on_datenodayrev, _DATENODAYREV),
    _rule("datetextual | datenoyear", _Builder.on_datetextual, _DATETEXTUAL, _DATENOYEAR),
    _rule("datenoyearrev", _Builder.on_datenoyearrev, _DATENOYEARREV),
    _rule("datenocolon", _Builder.on_datenocolon, _DATENOCOLON),
    _rule(
        "xmlrpc | xmlrpcnocolon | soap | wddx | exif",
        _Builder.on_date_and_time,
        _XMLRPC,
        _XMLRPCNOCOLON,
        _SOAP,
        _WDDX,
        _EXIF,
    ),
    _rule("pgydotd", _Builder.on_pgydotd, _PGYDOTD),
    _rule("isoweekday", _Builder.on_isoweekday, _ISOWEEKDAY),
    _rule("isoweek", _Builder.on_isoweek, _ISOWEEK),
    _rule("pgtextshort", _Builder.on_pgtextshort, _PGTEXTSHORT),
    _rule("pgtextreverse", _Builder.on_pgtextreverse, _PGTEXTREVERSE),
    _rule("clf", _Builder.on_clf, _CLF),
    _rule("year4", _Builder.on_year4, _YEAR4),
    _rule("ago", _Builder.on_ago, _words("ago")),
    _rule("daytext", _Builder.on_daytext, _DAYTEXT),
    _rule("relativetextweek", _Builder.on_relativetextweek, _RELATIVETEXTWEEK),
    _rule("relativetext", _Builder.on_relativetext, _RELATIVETEXT),
    _rule("monthfull | monthabbr", _Builder.on_monthtext, _MONTHFULL, _MONTHABBR),
    _rule("tzcorrection | tz", _Builder.on_zone, _TZCORRECTION, _TZ),
    _rule(
        "dateshortwithtime12",
        _Builder.on_dateshort_with_time12,
        _DATENOYEAR + _TIMESHORT12,
        _DATENOYEAR + _TIMELONG12,
    ),
    _rule(
        "dateshortwithtime24",
        _Builder.on_dateshort_with_time24,
        _DATENOYEAR + _TIMESHORT24,
        _DATENOYEAR + _TIMELONG24,
        _DATENOYEAR + _ISO8601NORMTZ,
    ),
    _rule("relative", _Builder.on_relative, _RELATIVE),
    _rule("separator", _Builder.on_separator, "[.,]", _SPACE, "[\0\n]"),
    _rule("any", _Builder.on_unexpected, "(?s:.)"),
)


def _longest_match(source: str, pos: int) -> tuple[_Rule, int]:
    """The rule re2c would pick at `pos`, and where its token ends."""
    best_rule, best_end = _RULES[-1], pos
    for rule in _RULES:
        match = rule.pattern.match(source, pos)
        if match is None:
            continue
        # Python's regexes return the first match they find, re2c's the longest: look for
        # a longer one. Only a strictly longer match can beat an earlier rule.
        end = match.end()
        for candidate in range(len(source), max(end, best_end), -1):
            if rule.pattern.fullmatch(source, pos, candidate):
                end = candidate
                break
        if end > best_end:
            best_rule, best_end = rule, end
    return best_rule, best_end


_C_SPACE: Final = " \t\n\v\f\r"  # isspace() in the "C" locale


@functools.lru_cache(maxsize=4096)
def _scan(text: str) -> _Fields | str:
    """The fields `text` sets, or why PHP rejects it. Callers must not change the result."""
    if not text:
        return "empty expression"
    # timelib's trim: white space all the way through leaves its last character.
    leading = min(len(text) - len(text.lstrip(_C_SPACE)), len(text) - 1)
    body = text[leading:].rstrip(_C_SPACE) or text[-1]
    # The re2c scanner reads a NUL after the text; some patterns match it ("10am", "May 5").
    source = body + "\0"
    builder = _Builder()
    pos = 0
    try:
        while pos < len(body):
            rule, end = _longest_match(source, pos)
            with contextlib.suppress(_TokenIgnored):
                rule.action(builder, _Token(source[pos:end], pos))
            pos = end
    except _ScanError as error:
        shown = _quote(_word_at(body, error.position))
        if error.reason == "unexpected":
            return f"unexpected {shown} at position {leading + error.position + 1}"
        return f"{error.reason} at position {leading + error.position + 1}"
    return builder.f


def _word_at(text: str, position: int) -> str:
    """The run of characters at `position` up to the next blank, for error messages."""
    match = re.compile(r"\S{1,20}").match(text, position)
    return match.group(0) if match else text[position : position + 1]


# --- From fields to a moment -----------------------------------------------------------
#
# A port of timelib_fill_holes() and timelib_update_ts(). Integer division in C truncates
# toward zero, so _cdiv() stands in for "/" where an operand may be negative.


def _cdiv(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# Index 0 is December of the year before; 1..12 are January..December.
_DAYS_IN_MONTH: Final = (31, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DAYS_IN_MONTH_LEAP: Final = (31, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DAYS_PER_ERA: Final = 146097  # 400 Gregorian years
_YEARS_PER_ERA: Final = 400
_HINNANT_EPOCH_SHIFT: Final = 719468  # days from 0000-03-01 to 1970-01-01


def _epoch_days(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a normalised date (Howard Hinnant's days_from_civil)."""
    y -= m <= 2
    era = y // _YEARS_PER_ERA
    year_of_era = y - era * _YEARS_PER_ERA
    day_of_year = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * _DAYS_PER_ERA + day_of_era - _HINNANT_EPOCH_SHIFT


def _day_of_week(y: int, m: int, d: int) -> int:
    """0 = Sunday .. 6 = Saturday."""
    return (_epoch_days(y, m, d) + 4) % 7  # 1970-01-01 was a Thursday


def _day_number_from_week_number(year: int, week: int, day: int) -> int:
    """timelib_daynr_from_weeknr: days from January 1st to day `day` of ISO week `week`."""
    dow = _day_of_week(year, 1, 1)
    first_monday = -(dow - 7 if dow > 4 else dow)
    return first_monday + (week - 1) * 7 + day


def _days_in_month(month: int, year: int) -> int:
    return (_DAYS_IN_MONTH_LEAP if _is_leap(year) else _DAYS_IN_MONTH)[month]


def _range_limit(start: int, end: int, adj: int, a: int, b: int) -> tuple[int, int]:
    """do_range_limit: carry `a` into `b` until start <= a < end (one pass, like timelib)."""
    if a < start:
        steps = _cdiv(start - (a + 1), adj)
        b -= steps + 1
        a += adj * steps + adj
    if a >= end:
        b += _cdiv(a, adj)
        a -= adj * _cdiv(a, adj)
    return a, b


@dataclasses.dataclass
class _WallClock:
    y: int
    m: int
    d: int
    h: int
    i: int
    s: int
    us: int

    def range_limit_days(self) -> bool:
        """do_range_limit_days: move whole months between d and m; True if it did."""
        if self.d >= _DAYS_PER_ERA or self.d <= -_DAYS_PER_ERA:
            self.y += _YEARS_PER_ERA * _cdiv(self.d, _DAYS_PER_ERA)
            self.d -= _DAYS_PER_ERA * _cdiv(self.d, _DAYS_PER_ERA)
        self.m, self.y = _range_limit(1, 13, 12, self.m, self.y)
        year = self.y
        changed = False
        while self.d <= 0 and self.m > 0:
            previous_month = self.m - 1 if self.m > 1 else 12
            previous_year = self.y if self.m > 1 else self.y - 1
            self.d += _days_in_month(previous_month, previous_year)
            self.m -= 1
            changed = True
        while self.d > 0 and self.m <= 12 and self.d > _days_in_month(self.m, year):
            self.d -= _days_in_month(self.m, year)
            self.m += 1
            changed = True
        return changed

    def from_epoch_days(self) -> None:
        """magic_date_calc: read d as days since 1969-12-31 (fast path for timestamps)."""
        if self.d < -719498:
            return
        g = self.d + _HINNANT_EPOCH_SHIFT - 1
        y = _cdiv(10000 * g + 14780, 3652425)
        ddd = g - (365 * y + _cdiv(y, 4) - _cdiv(y, 100) + _cdiv(y, 400))
        if ddd < 0:
            y -= 1
            ddd = g - (365 * y + _cdiv(y, 4) - _cdiv(y, 100) + _cdiv(y, 400))
        mi = _cdiv(100 * ddd + 52, 3060)
        self.m = (mi + 2) % 12 + 1
        self.y = y + _cdiv(mi + 2, 12)
        self.d = ddd - _cdiv(mi * 306 + 5, 10) + 1

    def normalize(self) -> None:
        """timelib_do_normalize: carry every field into range, "feb 30" into March."""
        self.us, self.s = _range_limit(0, 1000000, 1000000, self.us, self.s)
        self.s, self.i = _range_limit(0, 60, 60, self.s, self.i)
        self.i, self.h = _range_limit(0, 60, 60, self.i, self.h)
        self.h, self.d = _range_limit(0, 24, 24, self.h, self.d)
        self.m, self.y = _range_limit(1, 13, 12, self.m, self.y)
        if self.y == 1970 and self.m == 1 and self.d != 1:
            self.from_epoch_days()
        while self.range_limit_days():
            pass
        self.m, self.y = _range_limit(1, 13, 12, self.m, self.y)


def _adjust_for_weekday(clock: _WallClock, rel: _Relative) -> None:
    """do_adjust_for_weekday: move to the weekday asked for."""
    current_dow = _day_of_week(clock.y, clock.m, clock.d)
    weekday = rel.weekday
    if rel.weekday_behavior == 2:  # within the current Monday-to-Sunday week
        if current_dow == 0 and weekday != 0:
            weekday -= 7
        if weekday == 0 and current_dow != 0:
            weekday = 7
        clock.d += weekday - current_dow
        return
    difference = weekday - current_dow
    if (rel.d < 0 and difference < 0) or (rel.d >= 0 and difference <= -rel.weekday_behavior):
        difference += 7
    if weekday >= 0:
        clock.d += difference
    else:
        clock.d -= 7 - (abs(weekday) - current_dow)


def _adjust_special_weekday(clock: _WallClock, count: int) -> None:
    """do_adjust_special_weekday: move `count` business days (Monday to Friday)."""
    dow = _day_of_week(clock.y, clock.m, clock.d)
    clock.d += _cdiv(count, 5) * 7
    rem = count - 5 * _cdiv(count, 5)
    if count > 0:
        if rem == 0:
            if dow == 0:
                clock.d -= 2
            elif dow == 6:
                clock.d -= 1
        elif dow == 6:
            clock.d += 1
        elif dow + rem > 5:
            clock.d += 2
    else:
        if rem == 0:
            if dow == 6:
                clock.d += 2
            elif dow == 0:
                clock.d += 1
        elif dow == 0:
            clock.d -= 1
        elif dow + rem < 1:
            clock.d -= 2
    clock.d += rem


def _apply_first_last_day_of(clock: _WallClock, mark: int) -> None:
    if mark == _FIRST_DAY_OF_MONTH:
        clock.d = 1
    elif mark == _LAST_DAY_OF_MONTH:
        clock.d = 0
        clock.m += 1


def _resolve(fields: _Fields, now_ts: int, default_zone: zoneinfo.ZoneInfo) -> int:
    """timelib_fill_holes() then timelib_update_ts(): the Unix time the fields denote."""
    now_local = (_UTC_EPOCH + timedelta(seconds=now_ts)).astimezone(default_zone)

    # Fill holes: unset fields come from now; a date without a time is at midnight.
    h, i, s, us = fields.h, fields.i, fields.s, fields.us
    if fields.have_date and not fields.have_time:
        h = i = s = us = 0
    clock = _WallClock(
        y=now_local.year if fields.y is None else fields.y,
        m=now_local.month if fields.m is None else fields.m,
        d=now_local.day if fields.d is None else fields.d,
        h=now_local.hour if h is None else h,
        i=now_local.minute if i is None else i,
        s=now_local.second if s is None else s,
        us=0 if us is None else us,
    )
    rel = dataclasses.replace(fields.relative)  # the cached fields stay untouched

    # do_adjust_special_early
    if rel.have_special_relative:
        if rel.special_type == _SPECIAL_DAY_OF_WEEK_IN_MONTH:
            clock.d = 1
            clock.m += rel.m
            rel.m = 0
        elif rel.special_type == _SPECIAL_LAST_DAY_OF_WEEK_IN_MONTH:
            clock.d = 1
            clock.m += rel.m + 1
            rel.m = 0
    _apply_first_last_day_of(clock, rel.first_last_day_of)
    clock.normalize()

    # do_adjust_relative
    if rel.have_weekday_relative:
        _adjust_for_weekday(clock, rel)
    clock.normalize()
    if fields.have_relative:
        clock.us += rel.us
        clock.s += rel.s
        clock.i += rel.i
        clock.h += rel.h
        clock.d += rel.d
        clock.m += rel.m
        clock.y += rel.y
    _apply_first_last_day_of(clock, rel.first_last_day_of)
    clock.normalize()

    # do_adjust_special
    if rel.have_special_relative and rel.special_type == _SPECIAL_WEEKDAY:
        _adjust_special_weekday(clock, rel.special_amount)
    clock.normalize()

    local_ts = _epoch_days(clock.y, clock.m, clock.d) * 86400 + clock.h * 3600
    local_ts += clock.i * 60 + clock.s

    # do_adjust_timezone
    if fields.zone_kind is _ZoneKind.OFFSET:
        return local_ts - fields.z
    if fields.zone_kind is _ZoneKind.ABBREVIATION:
        return local_ts - fields.z - (fields.dst or 0) * 3600
    zone = fields.zone if fields.zone_kind is _ZoneKind.IDENTIFIER else default_zone
    assert zone is not None
    # PHP 8.2 leaves the DST flag of a zone identifier unset, and timelib's unset value
    # (-9999999) is true; only "UTC", found as an abbreviation first, sets it to 0.
    dst = fields.dst is None or fields.dst != 0
    return _localise(local_ts, zone, dst=dst, have_zone=fields.have_zone > 0)


def _offset_at(zone: zoneinfo.ZoneInfo, ts: int) -> tuple[int, bool]:
    """timelib_get_time_zone_offset_info: the UTC offset and DST flag in force at `ts`."""
    ts = min(max(ts, _MIN_TS + _TWO_DAYS_S), _MAX_TS - _TWO_DAYS_S)
    local = (_UTC_EPOCH + timedelta(seconds=ts)).astimezone(zone)
    offset = local.utcoffset()
    assert offset is not None
    return offset // _ONE_SECOND, bool(local.dst())


def _transition_at_or_before(zone: zoneinfo.ZoneInfo, ts: int) -> int | None:
    """When the period in force at `ts` began, if within two days before it, else None.

    timelib knows every transition; _localise() only needs the ones that close to `ts`."""
    here = _offset_at(zone, ts)
    low, high = ts - _TWO_DAYS_S, ts
    if _offset_at(zone, low) == here:
        return None
    while high - low > 1:  # _offset_at(low) != here == _offset_at(high)
        middle = (low + high) // 2
        if _offset_at(zone, middle) == here:
            high = middle
        else:
            low = middle
    return high


def _localise(local_ts: int, zone: zoneinfo.ZoneInfo, *, dst: bool, have_zone: bool) -> int:
    """do_adjust_timezone for a zone identifier: the UTC time of wall-clock `local_ts`.

    In a gap the wall clock moves forward by the gap ("02:30" becomes 03:30). In an
    overlap, which of the two moments wins follows from timelib's two-step guess, and
    differs between zones east of UTC (the later) and west of it (the earlier)."""
    current_offset, current_is_dst = _offset_at(zone, local_ts)
    after_ts = local_ts - current_offset
    after_offset, _ = _offset_at(zone, after_ts)
    actual_offset = after_offset
    actual_ts = after_ts  # a moment in the period whose start matters below
    if current_offset == after_offset and have_zone:
        # A zone named in the text: make sure no DST change is missed.
        if current_offset >= 0 and dst and not current_is_dst:
            earlier_ts = local_ts - current_offset - 7200
            earlier_offset, _ = _offset_at(zone, earlier_ts)
            after_start = _transition_at_or_before(zone, after_ts)
            if earlier_offset != after_offset and (
                after_start is not None and local_ts - earlier_offset < after_start
            ):
                actual_offset, actual_ts = earlier_offset, earlier_ts
        elif current_offset <= 0 and current_is_dst and not dst:
            later_ts = local_ts - current_offset + 7200
            later_offset, _ = _offset_at(zone, later_ts)
            later_start = _transition_at_or_before(zone, later_ts)
            if later_offset != after_offset and (
                later_start is None or local_ts - later_offset >= later_start
            ):
                actual_offset, actual_ts = later_offset, later_ts
    if current_offset == actual_offset:
        return local_ts - current_offset
    actual_start = _transition_at_or_before(zone, actual_ts)
    in_transition = (
        actual_start is not None
        and local_ts - actual_offset >= actual_start + (current_offset - actual_offset)
        and local_ts - actual_offset < actual_start
    )
    return local_ts - (current_offset if in_transition else actual_offset)
