"""A sender's pages over real HTTP on SQLite and PostgreSQL: campaigns, a campaign with
its calls table (filters, search, keyset paging), live JSON, export, steering, a call,
upload, settings."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from tests.acceptance.web_support import (
    ALICE,
    ALICE_PIN,
    Browser,
    Web,
    csrf_of,
    label_for,
    parse,
    text_of,
)

STATES = ["queued", "dialing", "ringing", "connected", "completed", "failed", "expired", "canceled"]

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL


def upload_via_api(web: Web, name: str, phone_list: str, **fields: str) -> dict[str, Any]:
    response = web.api().post(
        "/api/v1/campaigns",
        data={"campaign_name": name, "start_url": web.start_url, **fields},
        files={"phone_list": ("list.csv", phone_list.encode(), "text/csv")},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def numbers(count: int, start: int = 0) -> str:
    return "".join(f"1555{2000000 + start + i:07d},ref-{start + i}\n" for i in range(count))


def counts_of(element: Any) -> dict[str, int]:
    return {
        cell.get("data-count"): int(text_of(cell)) for cell in element.xpath(".//*[@data-count]")
    }


def visible_buttons(element: Any) -> list[str]:
    return [
        text_of(button)
        for button in element.xpath(".//form[not(@hidden)]//button")
        if text_of(button) in ("Pause", "Resume", "Cancel")
    ]


def test_the_campaigns_page_lists_default_and_uploads(web: Web) -> None:
    upload_via_api(web, "spring", numbers(3))
    web.api().post(
        "/api/v1/calls", json={"phone_number": "15551234567", "start_url": web.start_url}
    )
    alice = web.logged_in(ALICE, ALICE_PIN)
    page = parse(alice.get("/web/campaigns"))
    rows = {row.get("data-campaign"): row for row in page.xpath("//tr[@data-campaign]")}
    assert set(rows) == {"default", "spring"}
    spring = rows["spring"]
    [link] = spring.xpath(".//a[@href='/web/campaigns/spring']")
    assert text_of(link) == "spring"
    assert text_of(spring.xpath(".//*[contains(@class,'state')]")[0]) == "active"
    assert counts_of(spring) == {s: (3 if s == "queued" else 0) for s in STATES}
    [bar] = spring.xpath(".//progress")
    assert bar.get("max") == "3" and bar.get("value") == "0"
    assert visible_buttons(spring) == ["Pause", "Cancel"]
    assert counts_of(rows["default"])["queued"] == 1
    # Created and scheduled times, in the configured zone.
    assert "2026-03-01 12:00:00 UTC" in text_of(spring)
    # The page's live endpoint.
    live = alice.get("/web/live/campaigns.json").json()
    spring_live = next(c for c in live["campaigns"] if c["name"] == "spring")
    assert spring_live["state"] == "active" and spring_live["counts"]["queued"] == 3


def test_pause_resume_and_cancel_a_campaign(web: Web) -> None:
    upload_via_api(web, "steered", numbers(4))
    alice = web.logged_in(ALICE, ALICE_PIN)
    paused = alice.post("/web/campaigns/steered/pause", {"back": "/web/campaigns"})
    assert paused.status_code == 303 and paused.headers["location"] == "/web/campaigns"
    row = parse(alice.get("/web/campaigns")).xpath("//tr[@data-campaign='steered']")[0]
    assert text_of(row.xpath(".//*[contains(@class,'state')]")[0]) == "paused"
    assert visible_buttons(row) == ["Resume", "Cancel"]
    assert web.api().get("/api/v1/campaigns").json()["items"][-1]["state"] == "paused"
    alice.post("/web/campaigns/steered/resume")
    assert alice.get("/web/campaigns/steered/live.json").json()["state"] == "active"
    canceled = alice.post("/web/campaigns/steered/cancel")
    assert canceled.headers["location"] == "/web/campaigns/steered"
    page = parse(alice.get("/web/campaigns/steered"))
    assert text_of(page.xpath("//*[@id='campaign-state']")[0]) == "canceled"
    assert visible_buttons(page) == []
    counts = alice.get("/web/campaigns/steered/live.json").json()["counts"]
    assert counts["canceled"] == 4 and counts["queued"] == 0
    # Resuming a canceled campaign is refused with a clear page.
    refused = alice.post("/web/campaigns/steered/resume")
    assert refused.status_code == 409
    assert "cannot resume" in text_of(parse(refused).xpath("//main")[0])


def test_the_campaign_page(web: Web) -> None:
    created = upload_via_api(
        web, "big one", numbers(120), result_url=web.webapp.url("/result"), max_retries="2"
    )
    alice = web.logged_in(ALICE, ALICE_PIN)
    response = alice.get("/web/campaigns/big%20one")
    assert response.status_code == 200
    page = parse(response)
    [dl] = page.xpath("//dl[contains(@class,'settings')]")
    settings = dict(
        zip(dl.xpath("./dt/text()"), [text_of(d) for d in dl.xpath("./dd")], strict=True)
    )
    assert settings["Start URL"] == web.start_url
    assert settings["Result URL"] == web.webapp.url("/result")
    assert settings["Max retries"] == "2" and settings["State"] == "active"
    assert counts_of(page.xpath("//dl[contains(@class,'counts')]")[0])["queued"] == 120
    assert page.xpath("//svg[@id='chart']")
    assert page.xpath("//a[text()='Export CSV']/@href") == ["/web/campaigns/big%20one/export.csv"]
    assert label_for(page, "State").tag == "select"
    assert label_for(page, "Search").get("name") == "q"
    ids = [int(i) for i in page.xpath("//table[@id='calls']//tr/@data-call-id")]
    assert len(ids) == 50 and ids == sorted(ids)
    assert created["total"] == 120 and created["counts"]["queued"] == 120
    # Keyset paging: next, next, then previous comes back.
    [next_href] = page.xpath("//a[text()='Next page']/@href")
    assert not page.xpath("//a[text()='Previous page']")
    second = parse(alice.get(next_href))
    second_ids = [int(i) for i in second.xpath("//table[@id='calls']//tr/@data-call-id")]
    assert len(second_ids) == 50 and second_ids[0] > ids[-1]
    third = parse(alice.get(second.xpath("//a[text()='Next page']/@href")[0]))
    third_ids = [int(i) for i in third.xpath("//table[@id='calls']//tr/@data-call-id")]
    assert len(third_ids) == 20 and not third.xpath("//a[text()='Next page']")
    back = parse(alice.get(third.xpath("//a[text()='Previous page']/@href")[0]))
    assert [int(i) for i in back.xpath("//table[@id='calls']//tr/@data-call-id")] == second_ids
    first_again = parse(alice.get(back.xpath("//a[text()='Previous page']/@href")[0]))
    assert [int(i) for i in first_again.xpath("//table[@id='calls']//tr/@data-call-id")] == ids
    assert not first_again.xpath("//a[text()='Previous page']")


def test_filter_and_search_the_calls(web: Web) -> None:
    upload_via_api(web, "mixed", numbers(10))
    alice = web.logged_in(ALICE, ALICE_PIN)
    page = parse(alice.get("/web/campaigns/mixed"))
    ids = [int(i) for i in page.xpath("//table[@id='calls']//tr/@data-call-id")]
    # Cancel two calls: the state filter finds exactly them.
    for call_id in ids[:2]:
        assert alice.post(f"/web/calls/{call_id}/cancel").status_code == 303
    canceled = parse(alice.get("/web/campaigns/mixed?state=canceled"))
    assert [int(i) for i in canceled.xpath("//table[@id='calls']//tr/@data-call-id")] == ids[:2]
    queued = parse(alice.get("/web/campaigns/mixed?state=queued"))
    assert [int(i) for i in queued.xpath("//table[@id='calls']//tr/@data-call-id")] == ids[2:]
    # Search by number (as typed, with + and spaces) and by message reference.
    by_number = parse(alice.get("/web/campaigns/mixed", params={"q": "+1 555 2000003"}))
    assert [int(i) for i in by_number.xpath("//table[@id='calls']//tr/@data-call-id")] == [ids[3]]
    by_reference = parse(alice.get("/web/campaigns/mixed", params={"q": "ref-7"}))
    assert [int(i) for i in by_reference.xpath("//table[@id='calls']//tr/@data-call-id")] == [
        ids[7]
    ]
    both = parse(alice.get("/web/campaigns/mixed", params={"q": "ref-0", "state": "queued"}))
    assert both.xpath("//table[@id='calls']//tr/@data-call-id") == []
    assert "No calls match this filter." in text_of(both.xpath("//table[@id='calls']")[0])


def test_live_json_has_state_counts_and_history(web: Web) -> None:
    upload_via_api(web, "live", numbers(5))
    alice = web.logged_in(ALICE, ALICE_PIN)
    first = alice.get("/web/campaigns/live/live.json")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    body = first.json()
    assert body["state"] == "active" and body["total"] == 5
    assert body["counts"] == {s: (5 if s == "queued" else 0) for s in STATES}
    assert body["history"][-1]["counts"]["queued"] == 5
    page = parse(alice.get("/web/campaigns"))
    call_ids = [int(i) for i in parse(alice.get("/web/campaigns/live")).xpath("//tr/@data-call-id")]
    assert page is not None
    alice.post(f"/web/calls/{call_ids[0]}/cancel")
    web.clock.advance(5)  # type: ignore[attr-defined]
    later = alice.get("/web/campaigns/live/live.json").json()
    assert later["counts"]["canceled"] == 1 and later["counts"]["queued"] == 4
    assert later["done"] == 1
    assert [h["counts"]["canceled"] for h in later["history"]][-2:] == [0, 1]
    assert later["history"][-1]["t"] - later["history"][-2]["t"] >= 5000
    # The page asks only for what it lacks: the samples from its last one on.
    last_t = later["history"][-1]["t"]
    web.clock.advance(5)  # type: ignore[attr-defined]
    recent = alice.get("/web/campaigns/live/live.json", params={"since": last_t}).json()
    assert [h["t"] for h in recent["history"]] == [last_t, last_t + 5000]
    assert recent["counts"]["canceled"] == 1


def test_export_csv_is_the_results(web: Web) -> None:
    upload_via_api(web, "export me", numbers(3))
    alice = web.logged_in(ALICE, ALICE_PIN)
    response = alice.get("/web/campaigns/export%20me/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="export_me-results.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["phone_number"] for r in rows] == ["15552000000", "15552000001", "15552000002"]
    assert [r["message_reference"] for r in rows] == ["ref-0", "ref-1", "ref-2"]
    assert {r["state"] for r in rows} == {"queued"}


def test_the_call_page_and_cancel(web: Web) -> None:
    queued = web.api().post(
        "/api/v1/calls",
        json={
            "phone_number": "15551234567",
            "start_url": web.start_url,
            "message_reference": "appt-9",
            "result_url": web.webapp.url("/result"),
        },
    )
    call_id = queued.json()["id"]
    alice = web.logged_in(ALICE, ALICE_PIN)
    page = parse(alice.get(f"/web/calls/{call_id}"))
    assert text_of(page.xpath("//*[@id='call-state']")[0]) == "queued"
    assert "appt-9" in text_of(page.xpath("//dl")[0])
    assert page.xpath("//table[@id='attempts']") and page.xpath("//table[@id='events']")
    assert page.xpath("//*[@id='transcript']") and page.xpath("//*[@id='deliveries']")
    [cancel] = page.xpath("//form[@action=$a]", a=f"/web/calls/{call_id}/cancel")
    assert text_of(cancel.xpath(".//button")[0]) == "Cancel call"
    response = alice.post(f"/web/calls/{call_id}/cancel")
    assert response.status_code == 303
    after = parse(alice.get(response.headers["location"]))
    assert text_of(after.xpath("//*[@id='call-state']")[0]) == "canceled"
    assert not after.xpath("//button[text()='Cancel call']")
    assert "canceled" in [text_of(e) for e in after.xpath("//table[@id='events']//td[3]")]
    # The result is in the outbox: the deliveries section shows it.
    assert web.webapp.url("/result") in text_of(after.xpath("//*[@id='deliveries']")[0])
    assert alice.get(f"/web/live/calls/{call_id}.json").json()["state"] == "canceled"
    # Canceling again: a clear 409 page.
    again = alice.post(f"/web/calls/{call_id}/cancel")
    assert again.status_code == 409
    assert "already canceled" in text_of(parse(again).xpath("//main")[0])


def upload_form(alice: Browser) -> str:
    return csrf_of(alice.get("/web/upload"))


def web_upload(
    alice: Browser, phone_list: bytes, *, csrf: str | None = None, **fields: str
) -> httpx.Response:
    data = {"csrf_token": alice.csrf if csrf is None else csrf, **fields}
    return alice.client.post(
        "/web/upload", data=data, files={"phone_list": ("numbers.csv", phone_list, "text/csv")}
    )


def test_upload_a_campaign(web: Web) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    form = parse(alice.get("/web/upload"))
    for label in ("Campaign name", "Phone list", "Start URL", "Result URL", "Max retries"):
        assert label_for(form, label) is not None
    assert label_for(form, "Phone list").get("type") == "file"
    assert form.xpath("//progress[@id='upload-progress']")
    assert [text_of(b) for b in form.xpath("//form[@id='upload-form']//button")] == ["Upload"]
    phone_list = b"15552000001,first\n12,too short\n15552000002\nnot a number,x\n"
    response = web_upload(alice, phone_list, campaign_name="from the web", start_url=web.start_url)
    assert response.status_code == 200, response.text
    page = parse(response)
    assert text_of(page.xpath("//*[@id='accepted-count']")[0]) == "2"
    rejected = [
        [text_of(cell) for cell in row.xpath("./td")]
        for row in page.xpath("//table[@id='rejected']//tbody/tr")
    ]
    assert [r[0] for r in rejected] == ["2", "4"]
    assert rejected[0][1] == "12,too short"
    assert "12" in rejected[0][2] and "not a valid phone number" in rejected[0][2]
    assert page.xpath("//a[@href='/web/campaigns/from%20the%20web']")
    # The campaign page lists them too (line and reason).
    campaign_page = parse(alice.get("/web/campaigns/from%20the%20web"))
    assert campaign_page.xpath("//table[@id='campaign-rejected']//tr/@data-line") == ["2", "4"]
    assert "(2)" in text_of(campaign_page.xpath("//h2[@id='h-campaign-rejected']")[0])
    assert not parse(alice.get("/web/campaigns/default")).xpath("//*[@id='campaign-rejected']")
    # The same intake as queuecalls.php: the API sees the campaign and its rejections.
    campaigns = web.api().get("/api/v1/campaigns").json()["items"]
    created = next(c for c in campaigns if c["name"] == "from the web")
    rejections = web.api().get(f"/api/v1/campaigns/{created['id']}/rejections").json()
    assert [r["line"] for r in rejections["items"]] == [2, 4]


def test_upload_refusals_name_the_field(web: Web) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    missing = web_upload(alice, b"15552000001\n", campaign_name="x", start_url="")
    assert missing.status_code == 422
    assert "start_url" in text_of(parse(missing).xpath("//*[@role='alert']")[0])
    bad_retries = web_upload(
        alice, b"15552000001\n", campaign_name="x", start_url=web.start_url, max_retries="11"
    )
    assert bad_retries.status_code == 422
    assert "max_retries" in text_of(parse(bad_retries).xpath("//*[@role='alert']")[0])
    # The values typed are kept.
    assert label_for(parse(bad_retries), "Campaign name").get("value") == "x"
    none_good = web_upload(alice, b"12\n34\n", campaign_name="y", start_url=web.start_url)
    assert none_good.status_code == 422
    page = parse(none_good)
    assert "phone_list" in text_of(page.xpath("//*[@role='alert']")[0])
    assert page.xpath("//table[@id='rejected']//tbody/tr/@data-line") == ["1", "2"]
    web_upload(alice, b"15552000001\n", campaign_name="twice", start_url=web.start_url)
    twice = web_upload(alice, b"15552000001\n", campaign_name="twice", start_url=web.start_url)
    assert twice.status_code == 422
    assert "campaign_name" in text_of(parse(twice).xpath("//*[@role='alert']")[0])
    forged = web_upload(
        alice, b"15552000001\n", csrf="forged", campaign_name="z", start_url=web.start_url
    )
    assert forged.status_code == 403
    assert "z" not in [c["name"] for c in web.api().get("/api/v1/campaigns").json()["items"]]


def test_settings_show_and_rotate_the_secret(web: Web) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    before = web.api().get("/api/v1/me").json()["result_secret"]
    page = parse(alice.get("/web/settings"))
    assert text_of(page.xpath("//*[@id='result-secret']")[0]) == before
    answer = alice.post("/web/settings/rotate-secret")
    assert (answer.status_code, answer.headers["location"]) == (303, "/web/settings?rotated=1")
    rotated = parse(alice.get(answer.headers["location"]))
    assert "The secret was replaced" in text_of(rotated.xpath("//*[@role='status']")[0])
    after = text_of(rotated.xpath("//*[@id='result-secret']")[0])
    assert after != before and len(after) == 64
    assert web.api().get("/api/v1/me").json()["result_secret"] == after
