"""What a hostile or careless client cannot do: the answers stay well-formed, the other
clients' requests stay unharmed, and resources stay bounded (both engines)."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import ALICE, ALICE_PIN, Vxdial, assert_failed
from vxdial.config import IntakeSettings
from vxdial.intake.service import UploadSlot


def test_control_characters_are_field_errors_and_hurt_no_other_request(
    vxdial: Vxdial,
) -> None:
    def queue(i: int) -> str:
        reference = "bad\x00ref" if i == 7 else f"ok-{i}"
        answer = vxdial.queuecall(message_reference=reference)
        return answer.status or ""

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(queue, range(40)))
    assert statuses.count("queued") == 39
    assert statuses[7] == "failed"
    assert_failed(
        vxdial.queuecall(call_parameters="a\x07b"),
        ("call_parameters", "must not contain control characters"),
    )


def test_a_control_character_rejects_only_its_line(vxdial: Vxdial) -> None:
    answer = vxdial.queuecalls("15551230001,ok\n15551230002,bad\x00\n15551230003\n")
    assert answer.status == "queued"
    assert answer.rejected == [(2, "message_reference: must not contain control characters")]
    assert len(answer.root.findall("call")) == 2


def test_a_login_with_a_nul_is_just_a_wrong_login(vxdial: Vxdial) -> None:
    assert_failed(vxdial.queuecall(login="alice\x00"), ("login", "login or PIN is incorrect"))
    response = vxdial.client.get("/api/v1/me", auth=("alice\x00", ALICE_PIN))
    assert response.status_code == 401


def test_ids_beyond_64_bits_are_refused(vxdial: Vxdial) -> None:
    huge = "99999999999999999999"
    for path in (
        f"/calls/{huge}",
        f"/calls?after={huge}",
        f"/campaigns/{huge}",
        f"/campaigns/{huge}/calls",
        f"/calls?campaign_id={huge}",
    ):
        assert vxdial.api(path).status_code == 422, path


def test_an_oversized_json_body_is_refused_unread(vxdial: Vxdial) -> None:
    response = vxdial.client.post(
        "/api/v1/calls",
        content=b'{"phone_number": "' + b"1" * 200_000 + b'"}',
        headers={"Content-Type": "application/json"},
        auth=(ALICE, ALICE_PIN),
    )
    assert response.status_code == 413


def test_too_many_fields_in_a_form_are_refused(vxdial: Vxdial) -> None:
    fields = {f"extra{i}": "x" for i in range(100)}
    answer = vxdial.queuecalls("15551230001\n", **fields)
    assert answer.status == "failed"
    assert answer.errors[0][0] == "request"


def test_link_local_addresses_are_not_probed(vxdial: Vxdial) -> None:
    answer = vxdial.queuecall(start_url="http://169.254.169.254/latest/meta-data/")
    assert answer.status == "failed"
    [(field, reason)] = answer.errors
    assert field == "start_url"
    assert "is not an address vxdial may connect to" in reason


def test_uploads_at_once_are_bounded(start_vxdial: object, monkeypatch: pytest.MonkeyPatch) -> None:
    vxdial: Vxdial = start_vxdial(intake=IntakeSettings(max_concurrent_uploads=1))  # type: ignore[operator]
    release = threading.Event()
    # The server runs in this process: note when an upload has taken a slot.
    held = threading.Event()
    take = UploadSlot.__enter__

    def taken(slot: UploadSlot) -> UploadSlot:
        entered = take(slot)
        held.set()
        return entered

    monkeypatch.setattr(UploadSlot, "__enter__", taken)

    def slow_body() -> Iterator[bytes]:
        boundary = "slowboundary"
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="phone_list"; '
            'filename="l.csv"\r\n\r\n'
        ).encode()
        release.wait(60)  # a guard against a hang: the test sets it
        yield f"15551230001\r\n--{boundary}--\r\n".encode()

    def slow_upload() -> httpx.Response:
        return httpx.post(
            f"{vxdial.base_url}/webservice/queuecalls.php",
            content=slow_body(),
            headers={"Content-Type": "multipart/form-data; boundary=slowboundary"},
            timeout=30,
        )

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(slow_upload)
        assert held.wait(30)  # the first upload holds the only slot
        second = vxdial.queuecalls("15551230002\n")
        release.set()
        assert first.result().status_code == 200
    assert_failed(second, ("request", "too many phone lists are being uploaded; try again shortly"))
    assert vxdial.queuecalls("15551230003\n").status == "queued"  # the slot is free again


def test_rotate_secret(vxdial: Vxdial) -> None:
    before = vxdial.api_json("/me")["result_secret"]
    rotated = vxdial.client.post("/api/v1/me/rotate-secret", auth=(ALICE, ALICE_PIN))
    assert rotated.status_code == 200
    after = rotated.json()["result_secret"]
    assert after != before and len(after) == 64
    assert vxdial.api_json("/me")["result_secret"] == after


@pytest.mark.parametrize("processes", [4])
def test_processes_migrating_together(processes: int, database_url: str, tmp_path: Path) -> None:
    vxdial_bin = str(Path(sys.executable).with_name("vxdial"))
    fresh = database_url
    if fresh.startswith("sqlite"):
        fresh = f"sqlite:///{tmp_path / 'together.db'}"
    else:
        import sqlalchemy as sa

        from tests.conftest import POSTGRES_ADMIN_URL

        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"vxdial_together_{os.getpid()}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        fresh = sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    try:
        env = {**os.environ, "VXDIAL_DATABASE_URL": fresh}
        runs = [
            subprocess.Popen(
                [vxdial_bin, "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        results = [(run.wait(timeout=60), run.stderr.read() if run.stderr else "") for run in runs]
        assert [code for code, _ in results] == [0] * processes, results
    finally:
        if not fresh.startswith("sqlite"):
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
