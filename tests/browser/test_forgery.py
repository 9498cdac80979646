"""Every form the pages show refuses a post without its CSRF token, or with another
session's, and nothing changes; and a PIN reset ends the sender's open sessions."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN_PIN, ALICE, ALICE_PIN, BOB, BOB_PIN, SLOW_MS, Site, log_in

CSRF_HEADING = "Form expired or forged (CSRF check failed)"


def post_forms(page: Page) -> list[tuple[str, dict[str, str]]]:
    """(action, fields but the token) of every POST form of the page, hidden ones too."""
    found: list[tuple[str, dict[str, str]]] = page.locator("form[method=post]").evaluate_all(
        """forms => forms.map(form => [
            new URL(form.action).pathname,
            Object.fromEntries([...form.elements]
                .filter(e => e.name && e.name !== "csrf_token" && e.type !== "file")
                .map(e => [e.name, e.value || "7"]))
        ])"""
    )
    return [(action, fields) for action, fields in found if action != "/web/logout"]


def refuse_every_form(page: Page, site: Site, paths: list[str], other_token: str) -> set[str]:
    """Post every form of these pages without a token and with ``other_token``: 403."""
    actions: set[str] = set()
    for path in paths:
        page.goto(path)
        own_token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        assert own_token and own_token != other_token
        for action, fields in post_forms(page):
            for token in (None, other_token):
                sent: dict[str, str | float | bool] = dict(fields)
                if token is not None:
                    sent["csrf_token"] = token
                answer = page.request.post(action, form=sent, max_redirects=0)
                assert answer.status == 403, (action, token, answer.status)
                assert CSRF_HEADING in answer.text(), action
            actions.add(action)
    return actions


def test_every_form_needs_its_own_sessions_token(site: Site) -> None:
    # Dialing suspended: every call stays queued, so each has its Cancel call form.
    with site.api("admin", ADMIN_PIN) as client:
        assert client.post("/api/v1/admin/suspend").status_code == 200
    campaign = site.upload("guarded", [f"1555666{n:04d}" for n in range(1, 4)])
    with site.api() as client:
        assert client.post(f"/api/v1/campaigns/{campaign['id']}/pause").status_code == 200
    call_id = site.calls(campaign["id"])[0]["id"]
    secret = site.api_json("/me")["result_secret"]

    bob = site.new_page()
    log_in(bob, BOB, BOB_PIN)
    bobs_token = bob.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    alice = site.new_page()
    log_in(alice, ALICE, ALICE_PIN)
    actions = refuse_every_form(
        alice,
        site,
        [
            "/web/campaigns",
            "/web/campaigns/guarded",
            f"/web/calls/{call_id}",
            "/web/upload",
            "/web/settings",
        ],
        bobs_token,
    )
    assert {
        "/web/campaigns/guarded/resume",
        "/web/campaigns/guarded/cancel",
        f"/web/calls/{call_id}/cancel",
        "/web/upload",
        "/web/settings/rotate-secret",
    } <= actions
    # The logout form too: the session stays open.
    assert alice.request.post("/web/logout", form={}, max_redirects=0).status == 403
    alice.goto("/web/campaigns")
    expect(alice.get_by_role("button", name="Log out")).to_be_visible()

    admin = site.new_page()
    log_in(admin, "admin", ADMIN_PIN)
    admin_actions = refuse_every_form(
        admin, site, ["/web/admin/senders", "/web/admin/lines"], bobs_token
    )
    assert {
        "/web/admin/senders",
        f"/web/admin/senders/{ALICE}/disable",
        f"/web/admin/senders/{ALICE}/pin",
        f"/web/admin/senders/{ALICE}/lines",
        "/web/admin/resume",
    } <= admin_actions

    # Nothing happened: same campaign state and calls, same secret, same senders, dialing
    # still suspended, and nothing in the audit log but the suspension.
    assert site.campaign("guarded")["state"] == "paused"
    assert {c["state"] for c in site.calls(campaign["id"])} == {"queued"}
    assert site.api_json("/me")["result_secret"] == secret
    assert [c["name"] for c in site.api_json("/campaigns")["items"]] == ["default", "guarded"]
    me = site.api_json("/me")
    assert me["enabled"] is True and me["lines"] == 2
    assert site.api_json("/admin/status", "admin", ADMIN_PIN)["suspended"] is True
    admin.goto("/web/admin/audit")
    expect(admin.locator("table#audit tbody tr[data-audit-id]")).to_have_count(1)


def test_a_pin_reset_ends_the_senders_sessions(site: Site) -> None:
    bob = site.new_page()
    log_in(bob, BOB, BOB_PIN)
    admin = site.new_page()
    log_in(admin, "admin", ADMIN_PIN)
    admin.get_by_label(f"PIN for {BOB}").fill("Wv3-bob-new-1")
    admin.locator(f'tr[data-sender="{BOB}"]').get_by_role("button", name="Reset PIN").click()
    expect(admin.get_by_role("status")).to_be_visible()
    # Bob's open campaigns page notices at its next poll (every 2 s) and goes to the login
    # page by itself (a navigation of ours meanwhile could be cut short by that one).
    expect(bob).to_have_url(re.compile(r"/web/login"), timeout=SLOW_MS)
    bob.goto("/web/campaigns")
    expect(bob).to_have_url(re.compile(r"/web/login"))
    log_in(bob, BOB, "Wv3-bob-new-1")
    expect(bob).to_have_url(re.compile(r"/web/campaigns$"))
