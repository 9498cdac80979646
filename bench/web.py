"""Figure: server time to answer the web interface's campaign page over a 1,000,000-call
campaign, p50 and p99, on SQLite and PostgreSQL.

Builds the campaign through the real ingest path (one phone_list upload to
``POST /api/v1/campaigns`` of a running ``vxdial serve --no-dialer``), gives its calls a
mix of final states with one UPDATE (as the dialer would have left them: the count
trigger keeps the per-state counts), logs in through the web login form, then asks for
each page many times, one request at a time over a keep-alive connection on loopback:

- the campaign page's first page of calls;
- a page filtered by state (a state held by 1% of the calls);
- a search by phone number;
- a page deep in the keyset (calls after an id near the end);
- ``live.json``, which the page polls every 2 s;
- the campaigns list.

The time is measured by the client around each request: the server's rendering plus
the loopback HTTP exchange. Usage:
python bench/web.py [--calls N] [--repeat N] [--engine sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable

import httpx
import sqlalchemy as sa

from _common import customer_app, database, machine, vxdial_server

SENDER, PIN = "bench", "1234"
CAMPAIGN = "million"
TARGET_MS = 300.0
# Per 100 calls (by id): 60 completed, 15 failed, 4 canceled, 1 expired, 20 still queued.
STATES_SQL = """
UPDATE calls SET
    state = CASE WHEN id % 100 < 60 THEN 'completed' WHEN id % 100 < 75 THEN 'failed'
                 WHEN id % 100 < 79 THEN 'canceled' WHEN id % 100 < 80 THEN 'expired'
                 ELSE 'queued' END,
    attempts = CASE WHEN id % 100 < 79 THEN 1 + id % 3 ELSE 0 END,
    callee_type = CASE WHEN id % 100 < 60 THEN 'voice' WHEN id % 100 < 75 THEN 'busy' END,
    first_attempt_at = CASE WHEN id % 100 < 79 THEN queued_at + 60000 END,
    last_attempt_at = CASE WHEN id % 100 < 79 THEN queued_at + 120000 END,
    ended_at = CASE WHEN id % 100 < 80 THEN queued_at + 180000 END,
    duration_s = CASE WHEN id % 100 < 60 THEN 20 + id % 40 END
WHERE campaign_id = :campaign_id
"""


def make_phone_list(path: str, calls: int) -> None:
    with open(path, "w", newline="") as f:
        for i in range(1, calls + 1):
            f.write(f"1{200 + i % 700}{i:07d},ref-{i}\n")


def number_of(i: int) -> str:
    return f"1{200 + i % 700}{i:07d}"


def build(base_url: str, app: str, path: str, calls: int, database_url: str) -> int:
    """Upload the campaign and set its calls' states; returns the campaign's id."""
    started = time.perf_counter()
    with open(path, "rb") as f:
        response = httpx.post(
            f"{base_url}/api/v1/campaigns",
            auth=(SENDER, PIN),
            data={
                "campaign_name": CAMPAIGN,
                "start_url": f"{app}/start.vxml",
                "result_url": f"{app}/result",
            },
            files={"phone_list": ("list.csv", f, "text/csv")},
            timeout=900,
        )
    assert response.status_code == 201, response.text[:2000]
    campaign = response.json()
    assert campaign["total"] == calls, campaign
    uploaded = time.perf_counter()
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(STATES_SQL), {"campaign_id": campaign["id"]})
    finally:
        engine.dispose()
    print(
        f"  built: {calls:,} calls uploaded in {uploaded - started:.1f} s, "
        f"states set in {time.perf_counter() - uploaded:.1f} s"
    )
    return int(campaign["id"])


def log_in(client: httpx.Client) -> None:
    """Log in through the web form (with its CSRF token, if the form has one)."""
    form = client.get("/web/login")
    assert form.status_code == 200, form.text[:500]
    fields = {"login": SENDER, "pin": PIN}
    tag = re.search(r"<input[^>]*csrf_token[^>]*>", form.text)
    token = re.search(r'value="([^"]*)"', tag.group(0)) if tag else None
    if token:
        fields["csrf_token"] = token.group(1)
    answer = client.post("/web/login", data=fields)
    assert answer.status_code in (200, 303), answer.text[:500]
    check = client.get("/web/campaigns")
    assert check.status_code == 200 and "Log out" in check.text, check.text[:500]


def measure(
    client: httpx.Client, name: str, url: str, repeat: int, check: Callable[[str], bool]
) -> float:
    """Ask for ``url`` ``repeat`` times (after a warm-up); print p50/p99; returns p99."""
    for _ in range(max(3, repeat // 20)):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:500])
        assert check(response.text), (url, response.text[:2000])
    times: list[float] = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        size = len(response.content)
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, round(len(times) * 0.99) - 1)]
    verdict = "ok" if p99 < TARGET_MS else "OVER TARGET"
    print(
        f"  {name:28s} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {times[-1]:7.1f} ms  "
        f"({size / 1000:.0f} KB, {repeat} requests) {verdict}"
    )
    return p99


def run(engine: str, path: str, calls: int, repeat: int) -> None:
    print(f"{engine}:")
    with (
        database(engine) as url,
        customer_app() as app,
        vxdial_server(url, sender=SENDER, pin=PIN) as server,
    ):
        campaign_id = build(server.base_url, app, path, calls, url)
        with httpx.Client(base_url=server.base_url, timeout=60, trust_env=False) as client:
            log_in(client)
            page = f"/web/campaigns/{CAMPAIGN}"
            deep = _deep_id(url, campaign_id)
            middle = calls // 2
            cases: list[tuple[str, str, Callable[[str], bool]]] = [
                ("campaign page, first page", page, rows(50)),
                ("filtered by state (1%)", f"{page}?state=expired", rows(50, "expired")),
                (
                    "filtered by state, deep",
                    f"{page}?state=completed&after={deep}",
                    rows(None, "completed"),
                ),
                ("search by number", f"{page}?q={number_of(middle)}", rows(1)),
                ("search by message_reference", f"{page}?q=ref-{middle}", rows(1)),
                ("deep keyset page", f"{page}?after={deep}", rows(50)),
                ("live.json", f"{page}/live.json", lambda t: f'"total":{calls}' in t),
                ("campaigns list", "/web/campaigns", lambda t: CAMPAIGN in t),
            ]
            worst = max(measure(client, *case[:2], repeat, case[2]) for case in cases)
            export(client, f"{page}/export.csv", calls, "")
            if engine == "postgresql":
                # The export's query plan depends on the table's statistics: again once
                # they describe the million calls (autovacuum would get there by itself).
                analyze(url)
                export(client, f"{page}/export.csv", calls, " after ANALYZE calls")
        print(f"  server peak RSS {server.rss_peak_mb():.0f} MB; worst p99 {worst:.1f} ms")


def export(client: httpx.Client, url: str, calls: int, note: str) -> None:
    """Download the campaign's CSV export once (streamed), and time it."""
    started = time.perf_counter()
    with client.stream("GET", url, timeout=1800) as response:
        assert response.status_code == 200
        lines = sum(chunk.count(b"\n") for chunk in response.iter_bytes())
    assert lines == calls + 1, lines
    elapsed = time.perf_counter() - started
    print(f"  export.csv of {calls:,} calls{note}: {elapsed:.1f} s ({calls / elapsed:,.0f} rows/s)")


def analyze(database_url: str) -> None:
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE calls")
    finally:
        engine.dispose()


def rows(expected: int | None, state: str | None = None) -> Callable[[str], bool]:
    """A check of a campaign page: ``expected`` calls in it (None: some), all in ``state``."""

    def check(text: str) -> bool:
        found = text.count("<tr data-call-id=")
        if found != expected if expected is not None else found == 0:
            return False
        return state is None or text.count(f'class="state state-{state}"') == found

    return check


def _deep_id(database_url: str, campaign_id: int) -> int:
    """An id 100 calls before the campaign's last one."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT id FROM calls WHERE campaign_id = :c ORDER BY id DESC"
                        " LIMIT 1 OFFSET 100"
                    ),
                    {"c": campaign_id},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "phone_list.csv")
        make_phone_list(path, args.calls)
        engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
        for engine in engines:
            run(engine, path, args.calls, args.repeat)


if __name__ == "__main__":
    main()
