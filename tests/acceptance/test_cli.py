"""The installed `vxdial` command, run as a subprocess (as a user runs it)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from tests.conftest import T0, PostgresDatabases
from tests.support.servers import free_port
from tests.support.webapp import WebApp
from vxdial.domain import calls
from vxdial.store import Store, migrate

VXDIAL = str(Path(sys.executable).with_name("vxdial"))


def vxdial(
    *args: str, database_url: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VXDIAL_DATABASE_URL": database_url, "COLUMNS": "200"}
    env.update(extra_env or {})
    return subprocess.run([VXDIAL, *args], env=env, capture_output=True, text=True, timeout=60)


class Served:
    def __init__(self, process: subprocess.Popen[str], base: str, first_lines: list[str]) -> None:
        self.process = process
        self.base = base
        self.first_lines = first_lines


def start_serve(database_url: str, *args: str, env: dict[str, str] | None = None) -> Served:
    port = free_port()
    process = subprocess.Popen(
        [VXDIAL, "serve", "--port", str(port), *args],
        env={**os.environ, "VXDIAL_DATABASE_URL": database_url, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    while not any("listening on" in line for line in lines):
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"serve ended: {process.stderr.read() if process.stderr else ''}")
        lines.append(line)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "serve did not answer /healthz"
        time.sleep(0.05)
    return Served(process, base, lines)


def stop(served: Served) -> int:
    served.process.send_signal(signal.SIGINT)
    return served.process.wait(timeout=30)


@pytest.fixture
def served_stopper() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()


def test_sender_commands(sqlite_url: str) -> None:
    added = vxdial("sender", "add", "alice", database_url=sqlite_url)
    assert added.returncode == 0, added.stderr
    pin = re.search(r"PIN: (\d{8})", added.stdout)
    assert pin is not None
    assert (
        vxdial(
            "sender", "add", "bob", "--pin", "4321", "--lines", "3", database_url=sqlite_url
        ).returncode
        == 0
    )
    listed = vxdial("sender", "list", database_url=sqlite_url).stdout
    assert re.search(r"alice\s+.*sender\s+.*yes", listed)
    assert re.search(r"bob\s+.*sender\s+.*yes\s+.*3", listed)
    again = vxdial("sender", "add", "alice", database_url=sqlite_url)
    assert again.returncode == 2
    assert 'login: "alice" already exists' in again.stderr
    assert vxdial("sender", "disable", "bob", database_url=sqlite_url).returncode == 0
    assert re.search(
        r"bob\s+.*sender\s+.*no", vxdial("sender", "list", database_url=sqlite_url).stdout
    )
    changed = vxdial("sender", "set-pin", "alice", database_url=sqlite_url)
    new_pin = re.search(r"PIN: (\d{8})", changed.stdout)
    assert new_pin is not None and new_pin.group(1) != pin.group(1)
    quiet = vxdial("sender", "set-pin", "alice", "--pin", "7777", database_url=sqlite_url)
    assert quiet.returncode == 0 and "7777" not in quiet.stdout
    missing = vxdial("sender", "disable", "nobody", database_url=sqlite_url)
    assert missing.returncode == 2 and 'no account "nobody"' in missing.stderr
    bad = vxdial("sender", "add", "carol", "--pin", "12", database_url=sqlite_url)
    assert bad.returncode == 2 and "pin: must be 4 to 16 characters long" in bad.stderr
    assert "12" not in bad.stderr.replace("16", "")
    assert vxdial("sender", "set-lines", "bob", "5", database_url=sqlite_url).returncode == 0

    # Each account change is in the admin audit log, as the web's and the API's are; the
    # refused commands are not, and no PIN is written there.
    store = Store.open(sqlite_url)
    try:
        entries = list(reversed(store.audit_entries()))
    finally:
        store.close()
    assert [(e.action, e.target, e.detail) for e in entries] == [
        ("sender.add", "alice", None),
        ("sender.add", "bob", None),
        ("sender.disable", "bob", None),
        ("sender.reset_pin", "alice", None),
        ("sender.reset_pin", "alice", None),
        ("sender.lines", "bob", "5 lines"),
    ]
    assert {e.via for e in entries} == {"cli"}
    assert all(e.admin.endswith(" (cli)") and e.address for e in entries)
    assert not any("7777" in repr(e) or "4321" in repr(e) for e in entries)


def test_admin_set_pin(sqlite_url: str) -> None:
    result = vxdial("admin", "set-pin", "--pin", "24680", database_url=sqlite_url)
    assert result.returncode == 0
    listed = vxdial("sender", "list", database_url=sqlite_url).stdout
    assert re.search(r"admin\s+.*admin", listed)


def test_serve_creates_the_admin_once_and_takes_queuecalls(
    database_url: str, webapp: WebApp, served_stopper: list[Served]
) -> None:
    assert (
        vxdial("sender", "add", "alice", "--pin", "1234", database_url=database_url).returncode == 0
    )
    first = start_serve(database_url)
    served_stopper.append(first)
    banner = "".join(first.first_lines)
    admin_pin = re.search(r"login admin, PIN (\d{8})", banner)
    assert admin_pin is not None, banner
    assert f"listening on {first.base}" in banner
    answer = httpx.post(
        f"{first.base}/webservice/queuecall.php",
        data={
            "login": "alice",
            "pin": "1234",
            "phone_number": "15551234567",
            "start_url": webapp.url("/start.vxml"),
        },
    ).text
    assert 'status="queued"' in answer
    me = httpx.get(f"{first.base}/api/v1/me", auth=("admin", admin_pin.group(1)))
    assert me.status_code == 403  # the admin logs in, but is not a sender
    assert stop(first) == 0

    second = start_serve(database_url)
    served_stopper.append(second)
    assert "PIN" not in "".join(second.first_lines)
    assert stop(second) == 0


def test_serve_discards_an_upload_a_crash_left_behind(
    database_url: str, served_stopper: list[Served]
) -> None:
    vxdial("sender", "add", "alice", "--pin", "1234", database_url=database_url)
    store = Store.open(database_url)
    try:
        alice = store.credentials("alice")
        assert alice is not None
        settings = calls.CallSettings("http://a.example/", None, 0, 600, T0, None)
        campaign = store.start_campaign_upload(
            sender_id=alice.sender.id, name="half", settings=settings, now=T0
        )
        store.add_campaign_batch(
            sender_id=alice.sender.id,
            campaign=campaign,
            new_calls=[calls.NewCall("15551234567", line=1)],
            rejections=[],
            now=T0,
        )
        served = start_serve(database_url)
        served_stopper.append(served)
        assert store.calls(alice.sender.id, campaign_id=campaign.id) == []
        store.start_campaign_upload(  # the name is free again
            sender_id=alice.sender.id, name="half", settings=settings, now=T0
        )
        assert stop(served) == 0
    finally:
        store.close()


def test_configuration_file_environment_and_flags(
    tmp_path: Path, sqlite_url: str, served_stopper: list[Served]
) -> None:
    config = tmp_path / "vxdial.toml"
    config.write_text('timezone = "America/New_York"\n[server]\nport = 1\n')
    served = start_serve(sqlite_url, env={"VXDIAL_CONFIG": str(config)})  # --port wins
    served_stopper.append(served)
    assert "time zone America/New_York" in "".join(served.first_lines)
    assert stop(served) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nprot = 9\n")
    result = vxdial("--config", str(bad), "migrate", database_url=sqlite_url)
    assert result.returncode == 2 and "server.prot: is not a known setting" in result.stderr
    result = vxdial("migrate", database_url=sqlite_url, extra_env={"VXDIAL_TIMEZONE": "Mars/Base"})
    assert result.returncode == 2 and "timezone" in result.stderr


def test_migrate(database_url: str) -> None:
    result = vxdial("migrate", database_url=database_url)
    assert result.returncode == 0
    assert f"at revision {migrate.head_revision()} (up to date)" in result.stdout


def test_migrate_says_in_one_line_where_the_database_is_and_what_was_migrated(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    head = migrate.head_revision()
    first = vxdial("migrate", database_url=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"database: {url} at revision {head} (migrated from an empty database)\n"
    assert first.stderr == ""  # none of Alembic's own lines
    again = vxdial("migrate", database_url=url)
    assert again.stdout == f"database: {url} at revision {head} (up to date)\n"
    assert again.stderr == ""

    store = Store.open(url)
    try:
        with store.engine.begin() as conn:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
    finally:
        store.close()
    upgraded = vxdial("migrate", database_url=url)
    assert upgraded.stdout == f"database: {url} at revision {head} (migrated from 0002)\n"


def test_the_database_line_never_shows_a_password(
    postgres_databases: PostgresDatabases,
) -> None:
    url = postgres_databases.fresh()
    try:
        parsed = sa.make_url(url)
        # Trust authentication (the default here) does not check a password; a server
        # that does gets the one TEST_POSTGRES_URL names.
        secret = parsed.password or "s3cret-pw"
        with_password = parsed.set(password=secret).render_as_string(hide_password=False)
        shown = (
            f"{parsed.drivername}://{parsed.username}:***@{parsed.host}:{parsed.port}"
            f"/{parsed.database}"
        )
        head = migrate.head_revision()
        result = vxdial("migrate", database_url=with_password)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"database: {shown} at revision {head} (up to date)\n"
        # psycopg also reads a password from the query string.
        without = parsed.set(password=None).render_as_string(hide_password=False)
        in_query = vxdial("migrate", database_url=f"{without}?password={secret}")
        assert in_query.returncode == 0, in_query.stderr
        assert in_query.stdout.startswith(f"database: {without}?password=***")
        assert secret not in result.stdout + result.stderr + in_query.stdout + in_query.stderr
    finally:
        postgres_databases.drop(url)


def test_account_commands_say_on_stderr_when_they_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    added = vxdial("sender", "add", "alice", "--pin", "1234", database_url=url)
    assert added.stdout == "sender alice added\n"
    assert added.stderr == (
        f"database: {url} at revision {migrate.head_revision()} (migrated from an empty database)\n"
    )
    listed = vxdial("sender", "list", database_url=url)
    assert "alice" in listed.stdout and listed.stderr == ""


def test_serve_says_the_database_revision_in_one_line(
    tmp_path: Path, served_stopper: list[Served]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    served = start_serve(url)
    served_stopper.append(served)
    assert served.first_lines[0] == (
        f"database: {url} at revision {migrate.head_revision()} (migrated from an empty database)\n"
    )
    assert stop(served) == 0
    assert served.process.stderr is not None
    log = served.process.stderr.read()
    assert "alembic" not in log and "Running upgrade" not in log, log
