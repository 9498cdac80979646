"""`vxdial worker` processes: SIGKILL recovery, and two workers sharing PostgreSQL.

The API runs in this process (uvicorn on loopback, not dialing); the dialing happens in
real `vxdial worker` subprocesses against the same database, in real time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import make_settings
from tests.support.servers import serve_in_thread
from tests.support.webapp import WebApp
from vxdial.app import accounts_for, open_store
from vxdial.store import tables

VXDIAL = str(Path(sys.executable).with_name("vxdial"))

HOLD = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><field name="x" type="digits"><prompt>Please hold.</prompt>
    <noinput><reprompt/></noinput></field></form>
</vxml>"""
HELLO = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form><block>Hi.</block></form></vxml>"""


class Workers:
    def __init__(self, database_url: str, config: Path) -> None:
        self.env = {**os.environ, "VXDIAL_DATABASE_URL": database_url, "VXDIAL_CONFIG": str(config)}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log = config.with_suffix(".log").open("wb")  # a file: a full pipe blocks

    def start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [VXDIAL, "worker"], env=self.env, stdout=subprocess.DEVNULL, stderr=self.log
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers_env(
    database_url: str, webapp: WebApp, tmp_path: Path
) -> Iterator[tuple[Workers, httpx.Client, Path]]:
    config = tmp_path / "vxdial.toml"
    settings = make_settings(database_url)
    store = open_store(settings)
    accounts_for(store, settings).add_sender("alice", "1111")
    store.close()
    workers = Workers(database_url, config)
    with serve_in_thread(settings) as base:
        client = httpx.Client(base_url=base, auth=("alice", "1111"), timeout=60)
        try:
            yield workers, client, config
        finally:
            workers.stop_all()
            client.close()


def wait_for(check: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def upload(client: httpx.Client, webapp: WebApp, name: str, count: int) -> int:
    phone_list = "".join(f"1555{i:07d}\n" for i in range(count)).encode()
    response = client.post(
        "/api/v1/campaigns",
        data={
            "campaign_name": name,
            "start_url": webapp.url("/start.vxml"),
            "result_url": webapp.url("/result"),
        },
        files={"phone_list": ("l.csv", phone_list)},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def states(database_url: str) -> Counter[str]:
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return Counter(
                dict(
                    conn.execute(
                        sa.select(tables.calls.c.state, sa.func.count()).group_by(
                            tables.calls.c.state
                        )
                    ).all()
                )
            )
    finally:
        engine.dispose()


def test_a_killed_worker_loses_no_call_and_redials_no_answered_one(
    workers_env: tuple[Workers, httpx.Client, Path], webapp: WebApp, database_url: str
) -> None:
    workers, client, config = workers_env
    config.write_text(
        "[dialer]\nlines = 20\ncps = 1000\nlease_s = 5\npoll_s = 0.1\n"
        # The first ten ring for 10 s, the others answer at once and talk 15 s: from
        # the moment ten are connected, the kill has seconds to find the ringing ones
        # still ringing, however slowly a loaded machine polls.
        '[[sim.rule]]\nmatch = "1555000000*"\nring_seconds = 10\ntalk_seconds = 2\n'
        '[[sim.rule]]\nmatch = "*"\nring_seconds = 0.2\ntalk_seconds = 15\n'
    )
    webapp.bodies["/start.vxml"] = HOLD
    upload(client, webapp, "recover", 20)
    first = workers.start()
    wait_for(lambda: states(database_url)["connected"] >= 10, 30)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = states(database_url)
    assert before["connected"] >= 10 and before["ringing"] + before["dialing"] >= 1
    workers.start()
    wait_for(lambda: len(webapp.seen("/result", "POST")) >= 20, 90)

    final = states(database_url)
    assert sum(final.values()) == 20
    assert set(final) == {"completed"}
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        attempts = conn.execute(
            sa.select(
                tables.call_attempts.c.call_id,
                tables.call_attempts.c.outcome,
                tables.call_attempts.c.answered_at,
            )
        ).all()
        deliveries = conn.execute(
            sa.select(tables.deliveries.c.call_id, tables.deliveries.c.delivery_key)
        ).all()
    engine.dispose()
    answered = Counter(call_id for call_id, _, at in attempts if at is not None)
    assert answered and max(answered.values()) == 1  # no answered call dialed again
    lost = [call_id for call_id, outcome, _ in attempts if outcome == "lost"]
    assert lost  # the ringing calls of the dead worker were given back, and dialed again
    assert len(deliveries) == 20 and len({c for c, _ in deliveries}) == 20
    keys = {c: k for c, k in deliveries}
    posts: dict[str, set[str]] = defaultdict(set)
    for post in webapp.seen("/result", "POST"):
        call_id = parse_qs(post.body.decode())["call_id"][0]
        headers = {k.lower(): v for k, v in post.headers.items()}
        posts[call_id].add(headers["x-vxdial-delivery"])
    assert {int(c) for c in posts} == set(keys)
    assert all(keys[int(c)] in ids and len(ids) == 1 for c, ids in posts.items())


# Several workers share PostgreSQL (a SQLite file is one host's, and its writers take turns).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_share_five_thousand_calls_without_duplicates(
    workers_env: tuple[Workers, httpx.Client, Path], webapp: WebApp, database_url: str
) -> None:
    workers, client, config = workers_env
    config.write_text(
        "[dialer]\nlines = 400\ncps = 100000\npoll_s = 0.05\n"
        '[[sim.rule]]\nmatch = "*"\nring_seconds = 0\n'
    )
    webapp.bodies["/start.vxml"] = HELLO
    upload(client, webapp, "shared", 5000)
    workers.start()
    workers.start()
    wait_for(lambda: len(webapp.seen("/result", "POST")) >= 5000, 180)
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        per_call = conn.execute(
            sa.select(tables.call_attempts.c.call_id, sa.func.count()).group_by(
                tables.call_attempts.c.call_id
            )
        ).all()
        by_worker = conn.execute(
            sa.select(tables.call_attempts.c.worker, sa.func.count()).group_by(
                tables.call_attempts.c.worker
            )
        ).all()
    engine.dispose()
    assert len(per_call) == 5000
    assert {count for _, count in per_call} == {1}  # no call dialed twice
    assert len(by_worker) == 2 and all(count > 500 for _, count in by_worker)
    call_ids = [parse_qs(p.body.decode())["call_id"][0] for p in webapp.seen("/result", "POST")]
    assert len(call_ids) == len(set(call_ids)) == 5000
    assert states(database_url) == Counter({"completed": 5000})


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_call_queued_by_the_api_process_wakes_an_idle_worker_over_postgresql(
    workers_env: tuple[Workers, httpx.Client, Path], webapp: WebApp, database_url: str
) -> None:
    """Issue 12, item 17: the worker's safety poll is an hour; the call queued by the
    API (another process) reaches it by PostgreSQL NOTIFY, and so does its result's."""
    workers, client, config = workers_env
    config.write_text(
        '[dialer]\ncps = 1000\npoll_s = 3600\n[[sim.rule]]\nmatch = "*"\nring_seconds = 0\n'
    )
    webapp.bodies["/start.vxml"] = HELLO
    workers.start()
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    name = engine.url.database

    def listening() -> bool:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = :name AND query = 'LISTEN vxdial_work'"
                    ),
                    {"name": name},
                ).scalar()
            )

    try:
        wait_for(listening, 60)
    finally:
        engine.dispose()
    time.sleep(1)  # past the worker's first look (not needed for the outcome)
    response = client.post(
        "/api/v1/calls",
        json={
            "phone_number": "15551230000",
            "start_url": webapp.url("/start.vxml"),
            "result_url": webapp.url("/result"),
        },
    )
    assert response.status_code == 201, response.text
    wait_for(lambda: len(webapp.seen("/result", "POST")) >= 1, 60)  # a hang guard
    [post] = webapp.seen("/result", "POST")
    assert parse_qs(post.body.decode())["result"] == ["completed"]
