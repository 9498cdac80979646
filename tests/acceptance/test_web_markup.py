"""Every page of the web interface, as a sender, the admin and nobody, checked for what
assistive technology and the browser tests rely on: a language, one <h1>, unique ids, a
label for every control, a name for every button, a CSRF token in every POST form, and
nothing loaded from another origin."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.acceptance.web_support import (
    ADMIN_PIN,
    ALICE,
    ALICE_PIN,
    Browser,
    Web,
    parse,
    text_of,
)

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL


def check_page(path: str, page: Any) -> None:
    assert page.get("lang") == "en", path
    assert len(page.xpath("//h1")) == 1, path
    ids = Counter(page.xpath("//@id"))
    assert [i for i, n in ids.items() if n > 1] == [], path
    labelled = set(page.xpath("//label/@for"))
    for control in page.xpath("//input[not(@type='hidden')] | //select | //textarea"):
        assert control.get("id") in labelled or control.get("aria-label"), (
            path,
            control.get("name"),
        )
    for button in page.xpath("//button"):
        assert text_of(button) or button.get("aria-label"), path
    for form in page.xpath("//form[@method='post']"):
        assert form.xpath(".//input[@type='hidden'][@name='csrf_token']/@value"), (
            path,
            form.get("action"),
        )
    for url in page.xpath("//script/@src | //link/@href | //img/@src"):
        assert url.startswith("/web/static/"), (path, url)


def visit(browser: Browser, paths: list[str]) -> None:
    for path in paths:
        response = browser.get(path)
        assert response.status_code == 200, (path, response.status_code)
        check_page(path, parse(response))


def test_every_page_is_well_formed(web: Web) -> None:
    api = web.api()
    created = api.post(
        "/api/v1/campaigns",
        data={"campaign_name": "checked", "start_url": web.start_url},
        files={"phone_list": ("l.csv", b"15552000001,a\n12,bad\n", "text/csv")},
    ).json()
    call_id = api.get(f"/api/v1/campaigns/{created['id']}/calls").json()["items"][0]["id"]
    visit(web.browser(), ["/web/login"])
    alice = web.logged_in(ALICE, ALICE_PIN)
    visit(
        alice,
        [
            "/web/campaigns",
            "/web/campaigns/checked",
            "/web/campaigns/checked?state=queued&q=a",
            "/web/campaigns/default",
            f"/web/calls/{call_id}",
            "/web/upload",
            "/web/settings",
        ],
    )
    admin = web.logged_in("admin", ADMIN_PIN)
    visit(admin, ["/web/admin/senders", "/web/admin/lines", "/web/admin/audit"])
    # Error pages and result pages too.
    for browser, path, status in (
        (alice, "/web/nowhere", 404),
        (alice, "/web/admin/lines", 403),
        (admin, "/web/campaigns", 403),
    ):
        response = browser.get(path)
        assert response.status_code == status
        check_page(path, parse(response))
    uploaded = alice.client.post(
        "/web/upload",
        data={"csrf_token": alice.csrf, "campaign_name": "second", "start_url": web.start_url},
        files={"phone_list": ("l.csv", b"15552000001\n1\n", "text/csv")},
    )
    assert uploaded.status_code == 200
    check_page("upload result", parse(uploaded))
    added = admin.post("/web/admin/senders", {"login": "carol", "pin": ""})
    check_page("sender added", parse(added))
