"""The administrator's pages over real HTTP on SQLite and PostgreSQL: senders (add,
disable, enable, reset PIN, lines), lines in use and the global suspend, the audit log
of web and API admin actions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.acceptance.web_support import (
    ADMIN_PIN,
    ALICE,
    ALICE_PIN,
    BOB,
    BOB_PIN,
    Browser,
    Web,
    label_for,
    parse,
    text_of,
)

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL


@pytest.fixture
def admin(web: Web) -> Browser:
    return web.logged_in("admin", ADMIN_PIN)


def sender_row(admin: Browser, login: str) -> Any:
    page = parse(admin.get("/web/admin/senders"))
    [row] = page.xpath("//tr[@data-sender=$login]", login=login)
    return row


def audit_rows(admin: Browser) -> list[list[str]]:
    page = parse(admin.get("/web/admin/audit"))
    return [
        [text_of(cell) for cell in row.xpath("./td")]
        for row in page.xpath("//table[@id='audit']//tbody/tr[@data-audit-id]")
    ]


def test_the_senders_page(web: Web, admin: Browser) -> None:
    page = parse(admin.get("/web/admin/senders"))
    assert page.xpath("//tr[@data-sender]/@data-sender") == [ALICE, BOB]
    row = sender_row(admin, ALICE)
    assert text_of(row.xpath(".//*[contains(@class,'state')]")[0]) == "enabled"
    assert [text_of(b) for b in row.xpath(".//button")] == ["Disable", "Reset PIN", "Save lines"]
    assert label_for(page, f"PIN for {ALICE}").get("name") == "pin"
    assert label_for(page, f"Lines for {ALICE}").get("name") == "lines"
    for label in ("New login", "New PIN", "Lines"):
        assert label_for(page, label) is not None


def test_add_a_sender_who_then_logs_in(web: Web, admin: Browser) -> None:
    added = admin.post("/web/admin/senders", {"login": "carol", "pin": "5555-carol", "lines": "3"})
    assert added.status_code == 200
    assert "Sender carol added." in text_of(parse(added).xpath("//*[@role='status']")[0])
    row = sender_row(admin, "carol")
    assert text_of(row.xpath(".//td[contains(@class,'lines')]")[0]) == "3"
    carol = web.logged_in("carol", "5555-carol")
    page = parse(carol.get("/web/campaigns"))
    assert page.xpath("//tr/@data-campaign") == ["default"]
    # Without a PIN one is generated and shown once.
    generated = admin.post("/web/admin/senders", {"login": "dave", "pin": "", "lines": ""})
    notice = text_of(parse(generated).xpath("//*[@role='status']")[0])
    pin = notice.split("Its PIN is ")[1].split(" ")[0]
    assert web.browser().login("dave", pin).status_code == 303
    # Refusals name the field.
    taken = admin.post("/web/admin/senders", {"login": "carol", "pin": "5555-carol"})
    assert taken.status_code == 422
    assert "login" in text_of(parse(taken).xpath("//*[@role='alert']")[0])
    bad_lines = admin.post("/web/admin/senders", {"login": "erin", "lines": "many"})
    assert bad_lines.status_code == 422
    assert "lines" in text_of(parse(bad_lines).xpath("//*[@role='alert']")[0])
    as_admin = admin.post("/web/admin/senders", {"login": "admin", "pin": "5555-admin"})
    assert as_admin.status_code == 422


def test_disable_and_enable_a_sender(web: Web, admin: Browser) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    response = admin.post(f"/web/admin/senders/{ALICE}/disable")
    assert response.status_code == 303
    assert text_of(sender_row(admin, ALICE).xpath(".//*[contains(@class,'state')]")[0]) == (
        "disabled"
    )
    # Its session ended, it cannot log in again, and the API refuses it too.
    assert alice.get("/web/campaigns").headers["location"] == "/web/login"
    again = web.browser().login(ALICE, ALICE_PIN)
    assert again.status_code == 403
    assert "disabled" in text_of(parse(again).xpath("//*[@role='alert']")[0])
    assert web.api().get("/api/v1/me").status_code == 403
    admin.post(f"/web/admin/senders/{ALICE}/enable")
    assert web.browser().login(ALICE, ALICE_PIN).status_code == 303
    assert next(text_of(b) for b in sender_row(admin, ALICE).xpath(".//button")) == "Disable"


def test_reset_a_pin(web: Web, admin: Browser) -> None:
    bob = web.logged_in(BOB, BOB_PIN)
    response = admin.post(f"/web/admin/senders/{BOB}/pin", {"pin": "9999-newbob"})
    assert response.status_code == 200
    assert "PIN of bob reset." in text_of(parse(response).xpath("//*[@role='status']")[0])
    assert "9999-newbob" not in response.text
    # The old PIN's session is over; the new PIN works, the old one does not.
    assert bob.get("/web/campaigns").status_code == 303
    assert web.browser().login(BOB, BOB_PIN).status_code == 401
    assert web.browser().login(BOB, "9999-newbob").status_code == 303
    short = admin.post(f"/web/admin/senders/{BOB}/pin", {"pin": "1"})
    assert short.status_code == 422
    assert f"PIN for {BOB}" in text_of(parse(short).xpath("//*[@role='alert']")[0])
    assert admin.post("/web/admin/senders/nobody/pin", {"pin": "9999-x"}).status_code == 404


def test_set_lines(web: Web, admin: Browser) -> None:
    assert admin.post(f"/web/admin/senders/{ALICE}/lines", {"lines": "7"}).status_code == 303
    assert text_of(sender_row(admin, ALICE).xpath(".//td[contains(@class,'lines')]")[0]) == "7"
    assert web.api().get("/api/v1/me").json()["lines"] == 7
    admin.post(f"/web/admin/senders/{ALICE}/lines", {"lines": ""})
    assert web.api().get("/api/v1/me").json()["lines"] is None
    refused = admin.post(f"/web/admin/senders/{ALICE}/lines", {"lines": "0"})
    assert refused.status_code == 422
    assert "from 1 to 100000" in text_of(parse(refused).xpath("//*[@role='alert']")[0])


def test_lines_page_suspend_and_resume(web: Web, admin: Browser) -> None:
    page = parse(admin.get("/web/admin/lines"))
    assert text_of(page.xpath("//*[@id='dialing-status']")[0]) == "Dialing is running"
    assert text_of(page.xpath("//table[@id='lines-in-use']//*[@id='lines-total']")[0]) == "0"
    assert [text_of(b) for b in page.xpath("//main//button")] == ["Suspend all dialing"]
    assert admin.post("/web/admin/suspend").status_code == 303
    page = parse(admin.get("/web/admin/lines"))
    assert text_of(page.xpath("//*[@id='dialing-status']")[0]) == "Dialing is suspended"
    assert [text_of(b) for b in page.xpath("//main//button")] == ["Resume all dialing"]
    status = web.api("admin", ADMIN_PIN).get("/api/v1/admin/status").json()
    assert status["suspended"] is True
    # Senders see it on their campaigns page.
    alice = web.logged_in(ALICE, ALICE_PIN)
    assert "suspended all dialing" in text_of(parse(alice.get("/web/campaigns")).xpath("//main")[0])
    admin.post("/web/admin/resume")
    assert web.api("admin", ADMIN_PIN).get("/api/v1/admin/status").json()["suspended"] is False


def test_the_audit_log_has_web_and_api_actions(web: Web, admin: Browser) -> None:
    admin.post("/web/admin/senders", {"login": "carol", "pin": "5555-carol"})
    admin.post(f"/web/admin/senders/{BOB}/disable")
    admin.post(f"/web/admin/senders/{BOB}/lines", {"lines": "4"})
    admin.post("/web/admin/suspend")
    assert web.api("admin", ADMIN_PIN).post("/api/v1/admin/resume").status_code == 200
    rows = audit_rows(admin)
    # time, admin, action, target, address, via, detail; newest first.
    assert [(r[1], r[2], r[3], r[5]) for r in rows] == [
        ("admin", "dialing.resume", "", "api"),
        ("admin", "dialing.suspend", "", "web"),
        ("admin", "sender.lines", BOB, "web"),
        ("admin", "sender.disable", BOB, "web"),
        ("admin", "sender.add", "carol", "web"),
    ]
    assert {r[4] for r in rows} == {"127.0.0.1"}
    assert rows[0][0] == "2026-03-01 12:00:00 UTC"
    assert rows[2][6] == "4 lines"
    # PINs never reach the log.
    assert "5555-carol" not in admin.get("/web/admin/audit").text


def test_the_api_admin_cancels_are_audited(web: Web, admin: Browser) -> None:
    call = web.api().post(
        "/api/v1/calls", json={"phone_number": "15551234567", "start_url": web.start_url}
    )
    call_id = call.json()["id"]
    uploaded = web.api().post(
        "/api/v1/campaigns",
        data={"campaign_name": "to cancel", "start_url": web.start_url},
        files={"phone_list": ("l.csv", b"15551234567\n", "text/csv")},
    )
    campaign_id = uploaded.json()["id"]  # (default, of the single call, cannot be canceled)
    api_admin = web.api("admin", ADMIN_PIN)
    assert api_admin.delete(f"/api/v1/admin/calls/{call_id}").status_code == 200
    assert api_admin.post(f"/api/v1/admin/campaigns/{campaign_id}/cancel").status_code == 200
    rows = audit_rows(admin)
    assert [(r[2], r[3], r[5]) for r in rows] == [
        ("campaign.cancel", f"campaign {campaign_id}", "api"),
        ("call.cancel", f"call {call_id}", "api"),
    ]
    # A refused action is not recorded.
    assert api_admin.delete(f"/api/v1/admin/calls/{call_id}").status_code == 409
    assert len(audit_rows(admin)) == 2
