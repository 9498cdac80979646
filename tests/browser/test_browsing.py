"""The campaign page's calls table driven from the browser (filter by state, search,
keyset paging), and the live updates of the campaigns list and of a call's page."""

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
    csv_file,
    log_in,
    wait_until,
)
from vxdial.config import SimRule

PAGE_SIZE = 50


def shown_ids(page: Page) -> list[int]:
    rows = page.locator("table#calls tbody tr[data-call-id]")
    return [int(r.get_attribute("data-call-id") or 0) for r in rows.all()]


def test_filter_search_and_pages_of_the_calls(site: Site) -> None:
    # Dialing suspended: the 120 calls stay queued but for the few canceled below.
    with site.api("admin", ADMIN_PIN) as admin:
        assert admin.post("/api/v1/admin/suspend").status_code == 200
    numbers = [f"1555444{n:04d}" for n in range(1, 121)]
    campaign = site.upload("big", numbers)
    calls = site.calls(campaign["id"])
    ids = [c["id"] for c in calls]
    canceled = ids[3::40]  # three calls, one on each page
    with site.api() as client:
        for call_id in canceled:
            assert client.delete(f"/api/v1/calls/{call_id}").status_code == 200

    page = site.new_page()
    log_in(page, ALICE, ALICE_PIN)
    page.goto("/web/campaigns/big")
    assert shown_ids(page) == ids[:PAGE_SIZE]
    expect(page.get_by_role("link", name="Previous page")).to_have_count(0)

    # Keyset paging, forward to the end and back.
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(rf"\?after={ids[PAGE_SIZE - 1]}$"))
    assert shown_ids(page) == ids[PAGE_SIZE : 2 * PAGE_SIZE]
    page.get_by_role("link", name="Next page").click()
    assert shown_ids(page) == ids[2 * PAGE_SIZE :]
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="Previous page").click()
    assert shown_ids(page) == ids[PAGE_SIZE : 2 * PAGE_SIZE]
    page.get_by_role("link", name="Previous page").click()
    assert shown_ids(page) == ids[:PAGE_SIZE]

    # Filter by state, with the form.
    page.get_by_label("State", exact=True).select_option("canceled")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"state=canceled"))
    assert shown_ids(page) == canceled
    expect(page.locator("table#calls .state")).to_have_text(["canceled"] * len(canceled))
    expect(page.get_by_label("State", exact=True)).to_have_value("canceled")

    # Search by number, then by message reference (none given: the line's number only).
    page.get_by_label("State", exact=True).select_option("")
    page.get_by_label("Search").fill(numbers[77])
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(rf"q={numbers[77]}"))
    assert shown_ids(page) == [ids[77]]
    page.get_by_label("Search").fill("15550000000")
    page.get_by_role("button", name="Filter").click()
    assert shown_ids(page) == []
    expect(page.locator("table#calls tbody")).to_contain_text("No calls")


def test_the_campaigns_list_and_a_call_page_update_live(
    start_site: Callable[..., Site],
) -> None:
    site = start_site(SimRule(match="*", dtmf="1", ring_seconds=20), alice_lines=1)
    # Dialing is suspended while the pages load, so they show the campaign before any
    # call, however long a loaded machine takes to get there; then it resumes.
    site.suspend_dialing()
    numbers = GOOD[:4]
    campaign = site.upload("live", numbers)
    last = site.calls(campaign["id"])[-1]

    listing = site.new_page()
    log_in(listing, ALICE, ALICE_PIN)
    call_page = listing.context.new_page()
    call_page.on("pageerror", lambda error: site.script_errors.append(str(error)))
    call_page.goto(f"/web/calls/{last['id']}")
    expect(call_page.locator("#call-state")).to_have_text("queued")
    row = listing.locator('tr[data-campaign="live"]')
    expect(row.locator('[data-count="completed"]')).to_have_text("0")
    for page in (listing, call_page):
        page.evaluate("window.vxdialTestMarker = 'not reloaded'")

    site.resume_dialing()
    expect(row.locator('[data-count="completed"]')).to_have_text(str(len(numbers)), timeout=SLOW_MS)
    expect(row.locator("[data-progress-text]")).to_have_text(
        f"{len(numbers)} of {len(numbers)} finished"
    )
    # The call's page swapped its content in when the call changed.
    expect(call_page.locator("#call-state")).to_have_text("completed", timeout=SLOW_MS)
    expect(call_page.locator("#transcript")).to_contain_text("Thank you.")
    expect(call_page.get_by_role("button", name="Cancel call")).to_have_count(0)
    for page in (listing, call_page):
        assert page.evaluate("window.vxdialTestMarker") == "not reloaded"
    wait_until(lambda: site.campaign("live")["counts"]["completed"] == len(numbers))


def test_the_pages_work_without_javascript(site: Site) -> None:
    page = site.new_page(java_script_enabled=False)
    log_in(page, ALICE, ALICE_PIN)
    page.goto("/web/upload")
    page.get_by_label("Campaign name").fill("plain")
    page.get_by_label("Phone list").set_input_files(
        files=csv_file("plain.csv", b"15551230001\n12\n")
    )
    page.get_by_label("Start URL").fill(site.start_url)
    with page.expect_navigation():  # a plain form post, answered by the result page
        page.get_by_role("button", name="Upload").click()
    expect(page.locator("#accepted-count")).to_have_text("1")
    expect(page.locator("#rejected tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Open campaign plain").click()
    expect(page.locator("#campaign-state")).to_have_text("active")
    with page.expect_navigation():
        page.get_by_role("button", name="Pause").click()
    expect(page.locator("#campaign-state")).to_have_text("paused")
    assert site.campaign("plain")["state"] == "paused"
