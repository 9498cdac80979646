"""Logging in and out, refused logins, the keyboard, and the CSRF check, in Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ADMIN_PIN,
    ALICE,
    ALICE_PIN,
    BOB,
    BOB_PIN,
    Site,
    log_in,
)

CSRF_HEADING = "Form expired or forged (CSRF check failed)"


def test_a_sender_logs_in_sees_the_header_and_logs_out(page: Page) -> None:
    log_in(page, ALICE, ALICE_PIN)
    expect(page).to_have_url(re.compile(r"/web/campaigns$"))
    header = page.locator("header")
    for name in ("Campaigns", "Upload", "Settings"):
        expect(header.get_by_role("link", name=name, exact=True)).to_be_visible()
    for name in ("Senders", "Lines", "Audit log"):
        expect(header.get_by_role("link", name=name, exact=True)).to_have_count(0)
    expect(header).to_contain_text(ALICE)
    # Every form of the page carries the CSRF token.
    forms = page.locator("form")
    assert forms.count() >= 1
    expect(
        page.locator("form[method=post]:not(:has(input[type=hidden][name=csrf_token]))")
    ).to_have_count(0)

    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/web/login"))
    expect(page.get_by_label("PIN", exact=True)).to_be_visible()
    # The session is gone: the campaigns page sends back to the login form.
    page.goto("/web/campaigns")
    expect(page).to_have_url(re.compile(r"/web/login"))
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def test_the_administrator_lands_on_the_senders(page: Page) -> None:
    log_in(page, "admin", ADMIN_PIN)
    expect(page).to_have_url(re.compile(r"/web/admin/senders$"))
    header = page.locator("header")
    for name in ("Senders", "Lines", "Audit log"):
        expect(header.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(header).to_contain_text("admin")
    expect(page.locator(f'tr[data-sender="{ALICE}"]')).to_be_visible()
    expect(page.locator(f'tr[data-sender="{BOB}"]')).to_be_visible()


def test_a_sender_cannot_open_the_admin_pages_nor_the_admin_hers(site: Site) -> None:
    page = site.new_page()
    log_in(page, BOB, BOB_PIN)
    for path in ("/web/admin/senders", "/web/admin/lines", "/web/admin/audit"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.locator(f'tr[data-sender="{ALICE}"]')).to_have_count(0)
        expect(page.locator("#dialing-status")).to_have_count(0)
    admin = site.new_page()
    log_in(admin, "admin", ADMIN_PIN)
    for path in ("/web/campaigns", "/web/upload", "/web/settings"):
        response = admin.goto(path)
        assert response is not None and response.status == 403, path
        expect(admin.locator("#result-secret")).to_have_count(0)


def test_a_wrong_pin_is_refused(page: Page) -> None:
    page.goto("/web/login")
    page.get_by_label("Login", exact=True).fill(ALICE)
    page.get_by_label("PIN", exact=True).fill("not-her-pin-0")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Log in").click()
    response = navigation.value
    assert response is not None and response.status == 401
    expect(page.get_by_role("alert")).to_contain_text("Wrong login or PIN")
    # The form again, and no session.
    expect(page.get_by_label("PIN", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    # The PIN typed is not echoed back into the page.
    assert "not-her-pin-0" not in page.content()
    page.goto("/web/campaigns")
    expect(page).to_have_url(re.compile(r"/web/login"))


def test_an_unknown_login_gets_the_same_answer(page: Page) -> None:
    page.goto("/web/login")
    page.get_by_label("Login", exact=True).fill("nobody")
    page.get_by_label("PIN", exact=True).fill(ALICE_PIN)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Log in").click()
    assert navigation.value is not None and navigation.value.status == 401
    expect(page.get_by_role("alert")).to_contain_text("Wrong login or PIN")


def test_logging_in_with_the_keyboard_alone(page: Page) -> None:
    page.goto("/web/login")
    login = page.get_by_label("Login", exact=True)
    pin = page.get_by_label("PIN", exact=True)
    for _ in range(20):  # Tab through the page until the Login field has the focus
        if login.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(login).to_be_focused()
    page.keyboard.type(ALICE)
    page.keyboard.press("Tab")
    expect(pin).to_be_focused()
    page.keyboard.type(ALICE_PIN)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/web/campaigns$"))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def _settings_form_action(page: Page) -> str:
    form = page.locator("form", has=page.get_by_role("button", name="Rotate secret"))
    action = form.get_attribute("action")
    assert action, "the Rotate secret form has no action"
    return action


def test_a_post_without_the_csrf_token_is_refused(page: Page, site: Site) -> None:
    log_in(page, ALICE, ALICE_PIN)
    page.goto("/web/settings")
    secret = page.locator("#result-secret").inner_text().strip()
    assert secret
    action = _settings_form_action(page)

    # A request with the session cookie but no token (what another site could forge).
    refused = page.request.post(action, form={}, max_redirects=0)
    assert refused.status == 403
    assert CSRF_HEADING in refused.text()
    # A wrong token is no better.
    forged = page.request.post(action, form={"csrf_token": "forged"}, max_redirects=0)
    assert forged.status == 403

    # The real form with its token field removed: the browser shows the 403 page.
    page.locator("input[name=csrf_token]").evaluate_all("fields => fields.forEach(f => f.remove())")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Rotate secret").click()
    assert navigation.value is not None and navigation.value.status == 403
    expect(page.get_by_role("heading", name=CSRF_HEADING)).to_be_visible()

    # Nothing changed.
    page.goto("/web/settings")
    expect(page.locator("#result-secret")).to_have_text(secret)
    assert site.api_json("/me")["result_secret"] == secret


def test_the_login_form_refuses_a_post_without_its_token(page: Page) -> None:
    page.goto("/web/login")
    refused = page.request.post(
        "/web/login", form={"login": ALICE, "pin": ALICE_PIN}, max_redirects=0
    )
    assert refused.status == 403
    assert CSRF_HEADING in refused.text()
    page.goto("/web/campaigns")
    expect(page).to_have_url(re.compile(r"/web/login"))


def test_the_pages_with_the_keyboard(site: Site, page: Page) -> None:
    site.upload("keys", ["15551230001", "15551230002"])
    log_in(page, ALICE, ALICE_PIN)
    # The first Tab reaches the skip link, which shows itself and leads to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.evaluate("link => link.getBoundingClientRect().left >= 0")
    assert skip.evaluate("link => getComputedStyle(link).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    # Tab on to the campaign's link and open it with Enter; then its Pause button.
    link = page.locator('tr[data-campaign="keys"]').get_by_role("link", name="keys", exact=True)
    for _ in range(40):
        if link.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(link).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/web/campaigns/keys$"))
    pause = page.get_by_role("button", name="Pause")
    for _ in range(60):
        if pause.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(pause).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#campaign-state")).to_have_text("paused")


def test_too_many_wrong_pins_lock_the_login_for_a_while(site: Site, page: Page) -> None:
    for _ in range(5):
        page.goto("/web/login")
        page.get_by_label("Login", exact=True).fill(ALICE)
        page.get_by_label("PIN", exact=True).fill("not-her-pin-0")
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Log in").click()
        assert navigation.value is not None and navigation.value.status == 401
    # Now even her PIN is refused, on the web and through the API (one throttle)...
    page.goto("/web/login")
    page.get_by_label("Login", exact=True).fill(ALICE)
    page.get_by_label("PIN", exact=True).fill(ALICE_PIN)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Log in").click()
    response = navigation.value
    assert response is not None and response.status == 429
    assert int(response.headers["retry-after"]) > 0
    expect(page.get_by_role("heading", name="Too many attempts")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    with site.api() as client:
        assert client.get("/api/v1/me").status_code == 429
    # ... while bob, from the same address, logs in.
    log_in(page, BOB, BOB_PIN)
