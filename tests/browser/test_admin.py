"""The administrator's pages in Chromium: senders (add, disable, enable, PIN, lines),
dialing suspended and resumed across the platform, and the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ADMIN_PIN,
    ALICE,
    ALICE_PIN,
    GOOD,
    SLOW_MS,
    Site,
    count,
    is_live,
    log_in,
    wait_until,
)
from vxdial.config import SimRule

CAROL, CAROL_PIN, CAROL_NEW_PIN = "carol", "Cq5-carol-7315", "Cq5-carol-8426"


def try_login(page: Page, login: str, pin: str) -> int:
    """Submit the login form; the status of the answer."""
    page.goto("/web/login")
    page.get_by_label("Login", exact=True).fill(login)
    page.get_by_label("PIN", exact=True).fill(pin)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Log in").click()
    response = navigation.value
    assert response is not None
    # A redirect after a good login: the status of the page it led to.
    return response.status


def test_add_disable_enable_a_sender(site: Site) -> None:
    admin = site.new_page()
    log_in(admin, "admin", ADMIN_PIN)

    admin.get_by_label("New login").fill(CAROL)
    admin.get_by_label("New PIN").fill(CAROL_PIN)
    admin.get_by_label("Lines", exact=True).fill("3")
    admin.get_by_role("button", name="Add sender").click()
    row = admin.locator(f'tr[data-sender="{CAROL}"]')
    expect(row).to_be_visible()
    expect(row.locator(".state")).to_have_text("enabled")
    carol_api = site.api_json("/me", CAROL, CAROL_PIN)
    assert carol_api["enabled"] is True and carol_api["lines"] == 3

    # Carol can log in.
    carol = site.new_page()
    log_in(carol, CAROL, CAROL_PIN)
    expect(carol).to_have_url(re.compile(r"/web/campaigns$"))

    # Disabled: her session ends and she cannot log in again.
    admin.locator(f'tr[data-sender="{CAROL}"]').get_by_role("button", name="Disable").click()
    row = admin.locator(f'tr[data-sender="{CAROL}"]')
    expect(row.locator(".state")).to_have_text("disabled")
    expect(row.get_by_role("button", name="Enable")).to_be_visible()
    carol.goto("/web/campaigns")
    expect(carol).to_have_url(re.compile(r"/web/login"))
    other = site.new_page()
    # With her PIN she is told the account is disabled (as the API answers 403); without
    # it, nothing tells that the account exists.
    assert try_login(other, CAROL, CAROL_PIN) == 403
    expect(other.get_by_role("alert")).to_contain_text("This account is disabled")
    expect(other.get_by_role("button", name="Log out")).to_have_count(0)
    assert try_login(other, CAROL, "Cq5-wrong-0000") == 401
    expect(other.get_by_role("alert")).to_contain_text("Wrong login or PIN")

    # A new PIN and more lines, then enabled again: the new PIN works, the old one not.
    admin.get_by_label(f"PIN for {CAROL}").fill(CAROL_NEW_PIN)
    admin.locator(f'tr[data-sender="{CAROL}"]').get_by_role("button", name="Reset PIN").click()
    admin.get_by_label(f"Lines for {CAROL}").fill("5")
    admin.locator(f'tr[data-sender="{CAROL}"]').get_by_role("button", name="Save lines").click()
    expect(admin.get_by_label(f"Lines for {CAROL}")).to_have_value("5")
    admin.locator(f'tr[data-sender="{CAROL}"]').get_by_role("button", name="Enable").click()
    expect(admin.locator(f'tr[data-sender="{CAROL}"] .state')).to_have_text("enabled")
    assert try_login(other, CAROL, CAROL_PIN) == 401
    log_in(other, CAROL, CAROL_NEW_PIN)
    me = site.api_json("/me", CAROL, CAROL_NEW_PIN)
    assert me["enabled"] is True and me["lines"] == 5

    # Every change is in the audit log, with its target.
    admin.locator("header").get_by_role("link", name="Audit log", exact=True).click()
    audit = admin.locator("table#audit")
    expect(audit).to_be_visible()
    carol_rows = audit.locator("tbody tr", has_text=CAROL)
    expect(carol_rows).to_have_count(5)  # added, disabled, PIN reset, lines, enabled
    # The PINs themselves are never written there.
    assert CAROL_PIN not in admin.content() and CAROL_NEW_PIN not in admin.content()


def test_a_refused_sender_form_shows_why(site: Site, page: Page) -> None:
    log_in(page, "admin", ADMIN_PIN)
    page.get_by_label("New login").fill(ALICE)  # taken
    page.get_by_label("New PIN").fill(CAROL_PIN)
    page.get_by_role("button", name="Add sender").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator(f'tr[data-sender="{ALICE}"]')).to_have_count(1)


def test_suspending_all_dialing(start_site: Callable[..., Site]) -> None:
    site = start_site(SimRule(match="*", dtmf="1", ring_seconds=20), alice_lines=2)
    admin = site.new_page()
    log_in(admin, "admin", ADMIN_PIN)
    admin.locator("header").get_by_role("link", name="Lines", exact=True).click()
    status = admin.locator("#dialing-status")
    expect(status).to_have_text(re.compile("Dialing is running"))
    expect(admin.locator("#lines-in-use")).to_have_text(re.compile(r"\d"))
    admin.get_by_role("button", name="Suspend all dialing").click()
    expect(status).to_have_text(re.compile("Dialing is suspended"))

    # Alice's campaign waits: two polls of her page later, nothing was dialed.
    numbers = GOOD[:4]
    campaign = site.upload("held", numbers)
    alice = site.new_page()
    log_in(alice, ALICE, ALICE_PIN)
    alice.goto("/web/campaigns/held")
    for _ in range(2):
        with alice.expect_response(is_live, timeout=SLOW_MS):
            pass
    assert count(alice, "queued") == len(numbers)
    assert count(alice, "completed") == 0
    counts = site.campaign("held")["counts"]
    assert {state: n for state, n in counts.items() if n} == {"queued": len(numbers)}
    assert all(c["attempts"] == 0 for c in site.calls(campaign["id"]))

    admin.get_by_role("button", name="Resume all dialing").click()
    expect(status).to_have_text(re.compile("Dialing is running"))
    expect(alice.locator('[data-count="completed"]').first).to_have_text(
        re.compile(rf"\b{len(numbers)}\b"), timeout=SLOW_MS
    )
    wait_until(lambda: site.campaign("held")["counts"].get("completed") == len(numbers))

    admin.locator("header").get_by_role("link", name="Audit log", exact=True).click()
    expect(admin.locator("table#audit tbody tr")).to_have_count(2)  # suspended, resumed


def test_the_lines_page_shows_the_calls_up_as_they_come_and_go(
    start_site: Callable[..., Site],
) -> None:
    # Callees who press nothing and hang up after 40 s: each call holds a line for
    # ~2.5 s of real time; the campaign lasts three of the page's 5 s refreshes.
    site = start_site(SimRule(match="*", ring_seconds=10, talk_seconds=40), alice_lines=2)
    admin = site.new_page()
    log_in(admin, "admin", ADMIN_PIN)
    admin.goto("/web/admin/lines")
    expect(admin.locator("#lines-total")).to_have_text("0")
    admin.evaluate("window.vxdialTestMarker = 'not reloaded'")
    numbers = [f"1555321{n:04d}" for n in range(1, 13)]
    site.upload("busy", numbers)
    # The page refreshes itself: alice's two lines in use (her limit), then none.
    alice_row = admin.locator('#lines-in-use tr[data-sender="alice"]')
    expect(alice_row.locator("td").last).to_have_text("2", timeout=SLOW_MS)
    expect(alice_row.locator("td").first).to_have_text("2")  # her own lines
    expect(admin.locator("#lines-total")).to_have_text("2")
    wait_until(lambda: site.campaign("busy")["counts"]["completed"] == len(numbers), 120)
    expect(alice_row).to_have_count(0, timeout=SLOW_MS)
    expect(admin.locator("#lines-total")).to_have_text("0")
    assert admin.evaluate("window.vxdialTestMarker") == "not reloaded"
