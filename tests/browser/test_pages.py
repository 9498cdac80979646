"""Every page at desktop and phone width: it renders, every form carries the CSRF token,
nothing overflows the page sideways on a phone, and a screenshot of each is saved
(docs/screenshots/ when VXDIAL_SCREENSHOTS=docs/screenshots)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ADMIN_PIN,
    ALICE,
    ALICE_PIN,
    DESKTOP,
    PHONE,
    Site,
    csv_file,
    log_in,
    no_horizontal_overflow,
    phone_list,
    shoot,
    wait_until,
)
from vxdial.config import SimRule

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
# Numbers whose calls end differently, for a campaign page with some variety.
RULES = (
    SimRule(match="15557770002", outcome="busy"),
    SimRule(match="15557770005", outcome="noanswer", ring_seconds=10),
    SimRule(match="15557770007", callee_type="answeringmachine", ring_seconds=2, talk_seconds=8),
    SimRule(match="*", dtmf="1", ring_seconds=16),
)
FINAL_STATES = ("completed", "failed", "expired", "canceled")
NUMBERS = [f"1555777{n:04d}" for n in range(1, 13)]


CLIPPED_TABLES = """() => [...document.querySelectorAll("table")].filter(table => {
  if (table.hidden || table.getBoundingClientRect().width <= window.innerWidth) return false;
  for (let box = table.parentElement; box; box = box.parentElement) {
    const overflow = getComputedStyle(box).overflowX;
    if (overflow === "auto" || overflow === "scroll") {
      return box.getBoundingClientRect().right > window.innerWidth;
    }
  }
  return true;
}).map(table => table.id || table.className || "a table")"""


def check(page: Page, name: str) -> None:
    """The page as it stands: forms with their token, no sideways overflow; saved."""
    expect(
        page.locator("form[method=post]:not(:has(input[type=hidden][name=csrf_token]))")
    ).to_have_count(0)
    scroll_width, width = no_horizontal_overflow(page)
    assert scroll_width <= width, f"{name}: the page is {scroll_width} px wide in {width} px"
    # A table wider than the screen scrolls inside its own box, where all of it can be
    # reached, rather than being cut off.
    clipped = page.evaluate(CLIPPED_TABLES)
    assert clipped == [], f"{name}: tables cut off: {clipped}"
    shoot(page, name)


def finished(site: Site, name: str) -> bool:
    campaign = site.campaign(name)
    done: int = sum(campaign["counts"].get(s, 0) for s in FINAL_STATES)
    total: int = campaign["total"]
    return done == total


@pytest.fixture
def busy_site(start_site: Callable[..., Site]) -> Site:
    """alice with a finished campaign of mixed results, and a paused one."""
    site = start_site(*RULES, alice_lines=2)
    lines = [f"{n},appt-{i}" for i, n in enumerate(NUMBERS, 1)]
    site.upload("reminders", [*lines, "555-12,appt-13", "call me,appt-14"])  # two bad lines
    # Watched while it runs: the server keeps the samples of the polls for the chart.
    watcher = site.new_page()
    log_in(watcher, ALICE, ALICE_PIN)
    watcher.goto("/web/campaigns/reminders")
    wait_until(lambda: finished(site, "reminders"), 120, what=lambda: site.campaign("reminders"))
    expect(watcher.locator("[data-progress-text]")).to_have_text(
        f"{len(NUMBERS)} of {len(NUMBERS)} finished"
    )
    watcher.context.close()
    site.upload("follow-ups", [f"1555888{n:04d}" for n in range(1, 40)])
    with site.api() as client:
        campaign = site.campaign("follow-ups")
        response = client.post(f"/api/v1/campaigns/{campaign['id']}/pause")
        assert response.status_code == 200, response.text
    return site


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_every_page(busy_site: Site, viewport: str) -> None:
    site = busy_site
    page = site.new_page(VIEWPORTS[viewport])
    shot = f"-{viewport}"

    page.goto("/web/login")
    check(page, "login" + shot)
    log_in(page, ALICE, ALICE_PIN)

    expect(page.locator('tr[data-campaign="reminders"]')).to_be_visible()
    check(page, "campaigns" + shot)

    page.goto("/web/campaigns/reminders")
    expect(page.locator("table#calls tr[data-call-id]")).to_have_count(len(NUMBERS))
    expect(page.locator("svg#chart")).to_have_count(1)
    check(page, "campaign" + shot)

    [call] = [
        c
        for c in site.calls(site.campaign("reminders")["id"])
        if c["phone_number"].endswith(NUMBERS[0])
    ]
    page.goto(f"/web/calls/{call['id']}")
    expect(page.locator("main")).to_contain_text("Your appointment is tomorrow at nine")
    check(page, "call" + shot)

    page.goto("/web/upload")
    page.get_by_label("Campaign name").fill(f"spring-{viewport}")
    content = phone_list(
        [f"1555999{n:04d},ref-{n}" for n in range(1, 10)],
        ["12,too-short", "not-a-number", "1555123000012345678"],
    )
    page.get_by_label("Phone list").set_input_files(files=csv_file("spring.csv", content.encode()))
    page.get_by_label("Start URL").fill(site.start_url)
    page.get_by_label("Result URL").fill(site.result_url)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#accepted-count")).to_have_text(re.compile(r"\b9\b"))
    expect(page.locator("#rejected tbody tr")).to_have_count(3)
    check(page, "upload" + shot)

    page.goto("/web/settings")
    expect(page.locator("#result-secret")).not_to_be_empty()
    check(page, "settings" + shot)

    admin = site.new_page(VIEWPORTS[viewport])
    log_in(admin, "admin", ADMIN_PIN)
    expect(admin.locator(f'tr[data-sender="{ALICE}"]')).to_be_visible()
    check(admin, "admin-senders" + shot)
    admin.goto("/web/admin/lines")
    expect(admin.locator("#dialing-status")).to_be_visible()
    check(admin, "admin-lines" + shot)
    admin.goto("/web/admin/audit")
    expect(admin.locator("table#audit")).to_be_visible()
    check(admin, "admin-audit" + shot)
