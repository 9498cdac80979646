"""A sender's campaigns in Chromium: upload, watch it dial to the end live, pause and
resume, cancel, a call's page, the CSV export, and the result secret."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, Response, expect

from tests.browser.conftest import (
    ACTIVE_STATES,
    ALICE,
    ALICE_PIN,
    GOOD,
    SLOW_MS,
    Site,
    count,
    csv_file,
    is_live,
    log_in,
    phone_list,
    wait_until,
)
from vxdial.config import SimRule
from vxdial.delivery import signature

# Lines 3, 7 and 12 of the list are bad.
BAD = {3: "12,too-short", 7: "not-a-number,ref-7", 12: "1555123000012345678,too-long"}


def spring_list() -> tuple[str, int]:
    """A dozen lines, three of them bad; (content, good lines)."""
    lines: list[str] = []
    good = iter(GOOD)
    for number in range(1, 13):
        lines.append(BAD[number] if number in BAD else f"{next(good)},ref-{number}")
    return phone_list(lines, []), len(GOOD)


RECORD_PROGRESS = """() => {
  window.vxdialTestMarker = "not reloaded";
  window.vxdialUploadProgress = [];
  const value = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, "value");
  Object.defineProperty(HTMLProgressElement.prototype, "value", {
    configurable: true,
    get() { return value.get.call(this); },
    set(v) {
      if (this.id === "upload-progress") window.vxdialUploadProgress.push(Number(v));
      value.set.call(this, v);
    },
  });
}"""


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_upload_a_campaign_and_watch_it_to_the_end(
    start_site: Callable[..., Site], engine: str
) -> None:
    # Two lines for alice, each call ringing 1.5 s of real time: the campaign lasts
    # several of the page's 2 s polls. Nothing is dialed until the campaign's page is
    # open (dialing suspended meanwhile), however long a loaded machine takes to open it.
    site = start_site(SimRule(match="*", dtmf="1", ring_seconds=30), alice_lines=2, engine=engine)
    site.suspend_dialing()
    page = site.new_page()
    log_in(page, ALICE, ALICE_PIN)
    page.locator("header").get_by_role("link", name="Upload", exact=True).click()
    expect(page).to_have_url(re.compile(r"/web/upload$"))

    content, good = spring_list()
    page.get_by_label("Campaign name").fill("spring")
    page.get_by_label("Phone list").set_input_files(files=csv_file("spring.csv", content.encode()))
    page.get_by_label("Start URL").fill(site.start_url)
    page.get_by_label("Result URL").fill(site.result_url)
    # The script sends the form itself (XMLHttpRequest) to show the upload's progress:
    # note every value given to the progress bar, and that the page is not reloaded.
    page.evaluate(RECORD_PROGRESS)
    page.get_by_role("button", name="Upload").click()

    expect(page.locator("#accepted-count")).to_have_text(str(good))
    expect(page.locator("#rejected-count")).to_have_text(str(len(BAD)))
    rejected = page.locator("#rejected tbody tr")
    expect(rejected).to_have_count(len(BAD))
    for row, (line, text) in zip(rejected.all(), sorted(BAD.items()), strict=True):
        expect(row).to_have_attribute("data-line", str(line))
        number = text.split(",")[0]
        expect(row).to_contain_text(text)
        expect(row).to_contain_text(f'"{number}" is not a valid phone number')
    assert page.evaluate("window.vxdialTestMarker") == "not reloaded"
    progress = page.evaluate("window.vxdialUploadProgress")
    assert progress and progress[0] == 0 and progress[-1] == 100, progress

    # The campaigns list.
    page.locator("header").get_by_role("link", name="Campaigns", exact=True).click()
    row = page.locator('tr[data-campaign="spring"]')
    expect(row).to_be_visible()
    expect(row.locator(".state")).to_have_text("active")
    expect(row.locator("progress")).to_have_attribute("max", str(good))

    # The campaign's page, left to update itself.
    row.get_by_role("link", name="spring", exact=True).click()
    expect(page).to_have_url(re.compile(r"/web/campaigns/spring$"))
    expect(page.locator("svg#chart")).to_have_count(1)
    navigations: list[str] = []
    live: list[Response] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.on("response", lambda response: live.append(response) if is_live(response) else None)
    page.evaluate("window.vxdialTestMarker = 'not reloaded'")
    assert count(page, "completed") == 0
    site.resume_dialing()

    expect(page.locator('[data-count="completed"]').first).to_have_text(
        re.compile(rf"\b{good}\b"), timeout=SLOW_MS
    )
    expect(page.locator("[data-progress-text]")).to_have_text(f"{good} of {good} finished")
    assert page.locator("progress").evaluate("p => [p.value, p.max]") == [good, good]
    # The chart was drawn from the live data: a line for the completed calls.
    expect(page.locator('svg#chart polyline[data-state="completed"]')).to_have_count(1)
    # Updated by the page's own polling, without a reload.
    assert page.evaluate("window.vxdialTestMarker") == "not reloaded"
    assert navigations == []
    assert live and all(r.status == 200 for r in live)

    # The calls table: every call, with its number; and the list's rejected lines.
    page.reload()
    rejected_here = page.locator("#campaign-rejected tr[data-line]")
    expect(rejected_here).to_have_count(len(BAD))
    expect(rejected_here.first).to_be_hidden()  # folded until asked for
    page.get_by_text("Show them").click()
    expect(rejected_here).to_have_text(
        [re.compile(rf"^{line}.*not a valid phone number") for line in sorted(BAD)]
    )
    calls = site.calls(site.campaign("spring")["id"])
    assert len(calls) == good
    rows = page.locator("table#calls tr[data-call-id]")
    expect(rows).to_have_count(good)
    shown = {int(r.get_attribute("data-call-id") or 0) for r in rows.all()}
    assert shown == {c["id"] for c in calls}
    for call in calls:
        call_row = page.locator(f'table#calls tr[data-call-id="{call["id"]}"]')
        expect(call_row).to_contain_text(call["phone_number"])
        expect(call_row.locator(".state")).to_have_text("completed")

    # Every result was posted to result_url.
    wait_until(lambda: len(site.webapp.seen("/result", "POST")) == good)

    # The CSV export matches the calls.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    path = download.value.path()
    with open(path, newline="") as f:
        exported = list(csv.DictReader(f))
    assert len(exported) == good
    by_id = {int(r["call_id"]): r for r in exported}
    assert set(by_id) == {c["id"] for c in calls}
    for call in calls:
        row_of = by_id[call["id"]]
        assert row_of["phone_number"] == call["phone_number"]
        assert row_of["line"] == str(call["line"])
        assert row_of["message_reference"] == call["message_reference"]
        assert row_of["state"] == "completed"
        assert row_of["callee_type"] == "voice"
        assert row_of["attempts"] == "1"


def test_pause_and_resume_a_campaign(start_site: Callable[..., Site]) -> None:
    site = start_site(SimRule(match="*", dtmf="1", ring_seconds=20), alice_lines=1)
    numbers = GOOD
    site.suspend_dialing()  # until the page is open, however long that takes
    campaign = site.upload("summer", numbers)
    page = site.new_page()
    log_in(page, ALICE, ALICE_PIN)
    page.goto("/web/campaigns/summer")
    state = page.locator("#campaign-state")
    expect(state).to_have_text("active")
    site.resume_dialing()
    # Paused with a call up (its ring alone lasts a second of real time, each of the
    # nine calls longer): the call goes on, the rest wait.
    wait_until(lambda: sum(site.campaign("summer")["counts"].get(s, 0) for s in ACTIVE_STATES) > 0)

    page.get_by_role("button", name="Pause").click()
    expect(state).to_have_text("paused")
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    assert site.campaign("summer")["state"] == "paused"
    # The call on the line ends; nothing more is dialed.
    wait_until(lambda: sum(site.campaign("summer")["counts"].get(s, 0) for s in ACTIVE_STATES) == 0)
    counts = site.campaign("summer")["counts"]
    assert counts.get("queued", 0) > 0
    for _ in range(2):  # two polls of the page later, its counts still stand still
        with page.expect_response(is_live, timeout=SLOW_MS):
            pass
    assert count(page, "completed") == counts.get("completed", 0)
    assert count(page, "queued") == counts["queued"]
    assert site.campaign("summer")["counts"] == counts

    page.get_by_role("button", name="Resume").click()
    expect(state).to_have_text("active")
    expect(page.locator('[data-count="completed"]').first).to_have_text(
        re.compile(rf"\b{len(numbers)}\b"), timeout=SLOW_MS
    )
    assert site.campaign("summer")["counts"].get("completed") == len(numbers)
    del campaign


def test_cancel_a_campaign_from_the_list(start_site: Callable[..., Site]) -> None:
    site = start_site(SimRule(match="*", dtmf="1", ring_seconds=20), alice_lines=1)
    site.suspend_dialing()  # the campaign is still there to pause, however slow the page
    site.upload("autumn", GOOD[:5])
    page = site.new_page()
    log_in(page, ALICE, ALICE_PIN)
    row = page.locator('tr[data-campaign="autumn"]')
    expect(row.locator(".state")).to_have_text("active")
    row.get_by_role("button", name="Pause").click()
    row = page.locator('tr[data-campaign="autumn"]')
    expect(row.locator(".state")).to_have_text("paused")
    row.get_by_role("button", name="Cancel").click()
    row = page.locator('tr[data-campaign="autumn"]')
    expect(row.locator(".state")).to_have_text("canceled")
    wait_until(lambda: sum(site.campaign("autumn")["counts"].get(s, 0) for s in ACTIVE_STATES) == 0)
    counts = site.campaign("autumn")["counts"]
    assert counts.get("queued", 0) == 0
    assert counts.get("canceled", 0) == 5
    page.reload()
    expect(page.locator('tr[data-campaign="autumn"] [data-count="canceled"]')).to_have_text(
        re.compile(rf"\b{counts['canceled']}\b")
    )


def test_a_call_page_and_cancelling_a_call(start_site: Callable[..., Site]) -> None:
    site = start_site(SimRule(match="*", dtmf="1", ring_seconds=20), alice_lines=1)
    site.suspend_dialing()  # until the page is open, however long that takes
    campaign = site.upload("winter", GOOD[:6])
    page = site.new_page()
    log_in(page, ALICE, ALICE_PIN)
    page.goto("/web/campaigns/winter")
    expect(page.locator("#campaign-state")).to_have_text("active")
    site.resume_dialing()
    # Paused once a call has completed: of six calls of more than a second each, some
    # are still queued.
    wait_until(lambda: site.campaign("winter")["counts"].get("completed", 0) >= 1)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#campaign-state")).to_have_text("paused")
    wait_until(lambda: sum(site.campaign("winter")["counts"].get(s, 0) for s in ACTIVE_STATES) == 0)
    calls = site.calls(campaign["id"])
    done = next(c for c in calls if c["state"] == "completed")
    waiting = next(c for c in calls if c["state"] == "queued")

    # A completed call: its attempt, events, transcript and result delivery.
    page.goto("/web/campaigns/winter")
    page.locator(f'tr[data-call-id="{done["id"]}"]').get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/web/calls/{done['id']}$"))
    expect(page.locator("#call-state")).to_have_text("completed")
    expect(page.locator("#attempts tr[data-attempt]")).to_have_count(1)
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("Your appointment is tomorrow at nine. Press 1 to confirm.")
    expect(transcript).to_contain_text("Thank you.")
    expect(page.locator("#events")).to_contain_text("connected")
    expect(page.locator("#deliveries")).to_contain_text(site.result_url)
    expect(page.get_by_role("button", name="Cancel call")).to_have_count(0)

    # A queued one, canceled from its page.
    page.goto(f"/web/calls/{waiting['id']}")
    expect(page.locator("#call-state")).to_have_text("queued")
    page.get_by_role("button", name="Cancel call").click()
    expect(page.locator("#call-state")).to_have_text("canceled")
    expect(page.get_by_role("button", name="Cancel call")).to_have_count(0)
    assert site.api_json(f"/calls/{waiting['id']}")["state"] == "canceled"
    # The others were left alone.
    others = [c for c in site.calls(campaign["id"]) if c["id"] != waiting["id"]]
    assert all(c["state"] != "canceled" for c in others)


def test_rotating_the_result_secret(site: Site, page: Page) -> None:
    log_in(page, ALICE, ALICE_PIN)
    page.locator("header").get_by_role("link", name="Settings", exact=True).click()
    secret = page.locator("#result-secret")
    old = secret.inner_text().strip()
    assert old == site.api_json("/me")["result_secret"]
    page.get_by_role("button", name="Rotate secret").click()
    expect(secret).not_to_have_text(old)
    new = secret.inner_text().strip()
    assert new and new != old
    assert site.api_json("/me")["result_secret"] == new
    page.reload()  # shows the secret again, and does not rotate it again
    expect(secret).to_have_text(new)
    assert site.api_json("/me")["result_secret"] == new

    # The next result is signed with the new secret, not the old one.
    site.upload("signed", GOOD[:1])
    wait_until(lambda: len(site.webapp.seen("/result", "POST")) == 1)
    [post] = site.webapp.seen("/result", "POST")
    header = {k.lower(): v for k, v in post.headers.items()}["x-vxdial-signature"]
    assert header == signature(new, post.body)
    assert header != signature(old, post.body)
