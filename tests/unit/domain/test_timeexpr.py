"""vxdial.domain.timeexpr: PHP strtotime semantics.

The differential test asks PHP itself. One PHP process per test session evaluates every
expression for every "now" and zone; then each result is compared with parse(). PHP's
false must be InvalidTimeExpression, and so must a PHP timestamp outside the years
1 to 9999 (a documented limit of datetime). PHP must be installed: `make test` installs
php-cli. Without it the test fails; it never skips.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vxdial.domain import timeexpr

CORPUS_FILE = Path(__file__).with_name("timeexpr_corpus.txt")

# Expressions a line of the corpus file cannot hold: white space at either end, control
# characters, NBSPs, non-ASCII text.
EXTRA_EXPRESSIONS = [
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\r",
    " \r",
    "\x0b",
    "  now  ",
    "\tnow\n",
    "now\r\n",
    "\x0bnow\x0c",
    " tomorrow 9am ",
    "next\u00a0monday",
    "tomorrow\u00a09am",
    "10:00\u202fpm",
    "next\u202fweek",
    "+5 µs",
    "500 µsec ago",
    "１０am",
    "now é",
    "tomorrow — 9am",
    "tomorrow\x009am",
    "now\x00",
    "\x00",
]

# The moments strtotime's $now takes in the test, and why each is there.
NOWS = {
    "a Wednesday afternoon": datetime(2026, 5, 13, 14, 15, 16, tzinfo=UTC),
    "an hour before New York springs forward": datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
    "half an hour before Berlin falls back": datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    "the last second of January": datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC),
    "a leap day": datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
    "a Saturday morning": datetime(2026, 5, 16, 9, 0, tzinfo=UTC),
}

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney"]

# Reads {"exprs", "nows", "zones"}; prints [zone][now][expr] => timestamp or false.
PHP_SCRIPT = """<?php
$request = json_decode(file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);
$results = [];
foreach ($request["zones"] as $zone) {
    date_default_timezone_set($zone);
    $byNow = [];
    foreach ($request["nows"] as $now) {
        $row = [];
        foreach ($request["exprs"] as $expr) {
            $row[] = strtotime($expr, $now);
        }
        $byNow[] = $row;
    }
    $results[] = $byNow;
}
echo json_encode(["php" => PHP_VERSION, "results" => $results], JSON_THROW_ON_ERROR);
"""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DATETIME_MIN_TS = (datetime.min.replace(tzinfo=UTC) - EPOCH) // timedelta(seconds=1)
DATETIME_MAX_TS = (datetime.max.replace(tzinfo=UTC) - EPOCH) // timedelta(seconds=1)


def corpus() -> list[str]:
    lines = CORPUS_FILE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def generated_expressions(count: int = 400) -> list[str]:
    """Pairs and triples of corpus pieces, to reach combinations nobody wrote down."""
    lines = corpus()
    pieces = sorted({piece for line in lines for piece in line.split()} | set(lines))
    rng = random.Random(20260513)
    found: set[str] = set()
    while len(found) < count:
        separator = rng.choice([" ", ", ", "  "])
        parts = [rng.choice(pieces) for _ in range(rng.randint(2, 3))]
        found.add(separator.join(parts)[: timeexpr.MAX_LENGTH])
    return sorted(found)


@functools.cache
def all_expressions() -> list[str]:
    return list(dict.fromkeys(corpus() + EXTRA_EXPRESSIONS + generated_expressions()))


@pytest.fixture(scope="session")
def php_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """PHP's strtotime() for all expressions, nows and zones: one PHP run per session."""
    php = shutil.which("php")
    if php is None:
        pytest.fail(
            "PHP's command-line interpreter `php` is not on PATH. The differential test of "
            "vxdial.domain.timeexpr compares it with PHP's strtotime(); `make test` installs "
            "php-cli (or: apt-get install php-cli).",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("php_strtotime")
    script = workdir / "strtotime.php"
    script.write_text(PHP_SCRIPT, encoding="utf-8")
    request = workdir / "request.json"
    nows = [int(now.timestamp()) for now in NOWS.values()]
    request.write_text(
        json.dumps({"exprs": all_expressions(), "nows": nows, "zones": ZONES}), encoding="utf-8"
    )
    completed = subprocess.run(
        [php, "-d", "display_errors=stderr", str(script), str(request)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(f"php failed ({completed.returncode}): {completed.stderr}", pytrace=False)
    results: dict[str, Any] = json.loads(completed.stdout)
    return results


def php_expectation(value: int | bool) -> int | None:
    """What parse() must return for PHP's answer: a timestamp, or None for an error."""
    if value is False or not isinstance(value, int):
        return None
    if not DATETIME_MIN_TS <= value <= DATETIME_MAX_TS:
        return None  # outside what a datetime can hold: parse() rejects it on purpose
    return value


def python_answer(expr: str, now: datetime, zone: ZoneInfo) -> int | None:
    try:
        moment = timeexpr.parse(expr, now=now, zone=zone)
    except timeexpr.InvalidTimeExpression:
        return None
    assert moment.tzinfo is UTC
    assert moment.microsecond == 0
    return (moment - EPOCH) // timedelta(seconds=1)


def show(ts: int | None, zone: ZoneInfo) -> str:
    if ts is None:
        return "invalid"
    return datetime.fromtimestamp(ts, zone).isoformat()


def test_corpus_is_large_enough() -> None:
    assert len(corpus()) >= 250
    assert len(all_expressions()) >= 800


@pytest.mark.parametrize("zone_name", ZONES)
def test_parse_matches_php_strtotime(php_results: dict[str, Any], zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    per_now = php_results["results"][ZONES.index(zone_name)]
    mismatches = []
    compared = 0
    for (label, now), php_row in zip(NOWS.items(), per_now, strict=True):
        for expr, php_value in zip(all_expressions(), php_row, strict=True):
            expected = php_expectation(php_value)
            got = python_answer(expr, now, zone)
            compared += 1
            if got != expected:
                mismatches.append(
                    f"{expr!r} at {label} ({now.astimezone(zone).isoformat()}): "
                    f"PHP {show(expected, zone)}, parse() {show(got, zone)}"
                )
    assert compared == len(NOWS) * len(all_expressions())
    assert not mismatches, (
        f"{len(mismatches)} of {compared} differ from PHP {php_results['php']} in {zone_name}:\n"
        + "\n".join(mismatches[:40])
    )


# --- The product's examples, by hand ---------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")
WEDNESDAY = datetime(2026, 5, 13, 14, 15, 16, tzinfo=UTC)  # 10:15:16 EDT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", datetime(2026, 5, 13, 14, 15, 16, tzinfo=UTC)),
        ("oct 14th, 2003 11:05PM EST", datetime(2003, 10, 15, 4, 5, tzinfo=UTC)),
        ("+3 days", datetime(2026, 5, 16, 14, 15, 16, tzinfo=UTC)),
        ("tomorrow 9am", datetime(2026, 5, 14, 13, 0, tzinfo=UTC)),  # 09:00 EDT
        ("next monday", datetime(2026, 5, 18, 4, 0, tzinfo=UTC)),  # midnight EDT
        ("first day of next month", datetime(2026, 6, 1, 14, 15, 16, tzinfo=UTC)),  # keeps time
        ("jan 31 +1 month", datetime(2026, 3, 3, 5, 0, tzinfo=UTC)),  # Feb 31 is March 3
        ("last day of february", datetime(2026, 2, 28, 5, 0, tzinfo=UTC)),
        ("first monday of january 2027", datetime(2027, 1, 4, 5, 0, tzinfo=UTC)),
        ("monday next week", datetime(2026, 5, 18, 4, 0, tzinfo=UTC)),
        ("-1 week 2 days", datetime(2026, 5, 8, 14, 15, 16, tzinfo=UTC)),
        ("3 hours ago", datetime(2026, 5, 13, 11, 15, 16, tzinfo=UTC)),
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T10:00:00+02:00", datetime(2026, 11, 27, 8, 0, tzinfo=UTC)),
        ("Europe/Paris", datetime(2026, 5, 13, 8, 15, 16, tzinfo=UTC)),  # 10:15:16 in Paris
        ("@1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("  TOMORROW,  9 A.M.  ", datetime(2026, 5, 14, 13, 0, tzinfo=UTC)),
    ],
)
def test_examples(text: str, expected: datetime) -> None:
    assert timeexpr.parse(text, now=WEDNESDAY, zone=NEW_YORK) == expected


def test_time_in_a_dst_gap_moves_forward() -> None:
    saturday = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # noon EST, the day before the change
    moment = timeexpr.parse("tomorrow 02:30", now=saturday, zone=NEW_YORK)
    assert moment.astimezone(NEW_YORK).isoformat() == "2026-03-08T03:30:00-04:00"


def test_days_are_wall_clock_days_across_dst() -> None:
    saturday = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)
    moment = timeexpr.parse("+1 day", now=saturday, zone=NEW_YORK)
    assert moment.astimezone(NEW_YORK).isoformat() == "2026-03-08T12:00:00-04:00"
    assert moment - saturday == timedelta(hours=23)


def test_now_is_truncated_to_the_second() -> None:
    now = datetime(2026, 5, 13, 14, 15, 16, 999999, tzinfo=UTC)
    assert timeexpr.parse("+1 sec", now=now, zone=NEW_YORK) == datetime(
        2026, 5, 13, 14, 15, 17, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty expression"),
        ("blah", 'unexpected "blah" at position 1'),
        ("tomorrow at noonish", 'unexpected "at" at position 10'),
        ("32 jan 2026", 'unexpected "32" at position 1'),
        ("2026-13-01", 'unexpected "3-01" at position 7'),
        ("25:00", 'unexpected "25:00" at position 1'),
        ("now!", 'unexpected "!" at position 4'),
        ("9am 10am", 'a second time of day: "10am" at position 5'),
        ("2026-01-01 2026-01-02", 'a second date: "2026-01-02" at position 12'),
        ("EST EDT PST", 'a third time zone: "PST" at position 9'),
        ("10:00 Mars/Olympus", 'unknown time zone "Mars/Olympus" at position 7'),
        ("@123.", 'incomplete number "@123." at position 1'),
        ("+10000 years", "the moment is outside the years 1 to 9999"),
        ("now" + " " * 78, "longer than 80 characters"),
    ],
)
def test_invalid_expressions_say_why(text: str, reason: str) -> None:
    with pytest.raises(timeexpr.InvalidTimeExpression) as raised:
        timeexpr.parse(text, now=WEDNESDAY, zone=NEW_YORK)
    assert str(raised.value) == reason


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        timeexpr.parse("now", now=datetime(2026, 5, 13), zone=NEW_YORK)


# --- Properties ------------------------------------------------------------------------

PROPERTY_ZONES = [ZoneInfo(name) for name in [*ZONES, "Australia/Lord_Howe", "America/St_Johns"]]
# The grammar's own characters, so that random text often gets deep into it.
GRAMMAR_ALPHABET = st.sampled_from([*"0123456789 :./-+@,()aAmMpPtTWZ", "\u00a0", "µ"])
GRAMMAR_WORDS = st.sampled_from(
    ["now", "next", "last", "this", "day", "week", "month", "of", "first", "monday", "ago",
     "tomorrow", "noon", "EST", "Europe/Berlin", "jan", "XI", "sec", "weekdays", "back of"]
)  # fmt: skip


def wall_clock_exists_once(wall: datetime, zone: ZoneInfo) -> bool:
    """True when the naive wall-clock time happens exactly once in the zone."""
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        return False  # in an overlap
    return first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall  # not in a gap


@settings(deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=timeexpr.MAX_LENGTH),
        st.text(GRAMMAR_ALPHABET, max_size=timeexpr.MAX_LENGTH),
        st.lists(st.one_of(GRAMMAR_WORDS, st.text(GRAMMAR_ALPHABET, max_size=6)), max_size=8).map(
            " ".join
        ),
    ),
    zone=st.sampled_from(PROPERTY_ZONES),
)
def test_parse_returns_a_utc_second_or_raises_invalid_time_expression(
    text: str, zone: ZoneInfo
) -> None:
    try:
        moment = timeexpr.parse(text, now=WEDNESDAY, zone=zone)
    except timeexpr.InvalidTimeExpression as error:
        assert str(error)
    else:
        assert moment.tzinfo is UTC
        assert moment.microsecond == 0


@settings(deadline=None)
@given(
    days=st.integers(min_value=-3000, max_value=3000),
    now=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(PROPERTY_ZONES),
    spelling=st.sampled_from(["{:+d} days", "{:+d} day", "{:+d}days"]),
)
def test_adding_days_keeps_the_wall_clock(
    days: int, now: datetime, zone: ZoneInfo, spelling: str
) -> None:
    """Like PHP, "+N days" is the same local time N calendar days later, across DST."""
    moment = timeexpr.parse(spelling.format(days), now=now, zone=zone)
    start = now.replace(microsecond=0).astimezone(zone).replace(tzinfo=None)
    wall = start + timedelta(days=days)
    if wall_clock_exists_once(wall, zone):
        assert moment.astimezone(zone).replace(tzinfo=None) == wall


@given(
    ts=st.integers(min_value=DATETIME_MIN_TS + 86400, max_value=DATETIME_MAX_TS - 86400),
    zone=st.sampled_from(PROPERTY_ZONES),
)
def test_unix_time_ignores_the_zone(ts: int, zone: ZoneInfo) -> None:
    moment = timeexpr.parse(f"@{ts}", now=WEDNESDAY, zone=zone)
    assert (moment - EPOCH) // timedelta(seconds=1) == ts


@given(text=st.sampled_from(corpus()), zone=st.sampled_from(PROPERTY_ZONES))
def test_repeated_parses_agree(text: str, zone: ZoneInfo) -> None:
    """The scanner's results are cached; evaluating one must not change the next."""

    def answers() -> Iterator[int | None]:
        for now in NOWS.values():
            yield python_answer(text, now, zone)

    assert list(answers()) == list(answers())
