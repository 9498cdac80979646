"""The web interface's login, sessions, CSRF checks, throttle and error pages, over real
HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.acceptance.web_support import (
    ADMIN_PIN,
    ALICE,
    ALICE_PIN,
    BOB,
    CSRF_HEADING,
    Web,
    csrf_of,
    label_for,
    parse,
    running_web,
    text_of,
)
from tests.support.webapp import WebApp
from vxdial.config import WebSettings
from vxdial.domain.clock import FakeClock

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL


def test_root_and_web_lead_to_the_login_form(web: Web) -> None:
    browser = web.browser()
    response = browser.get("/", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url).endswith("/web/login")
    page = parse(response)
    assert label_for(page, "Login").get("name") == "login"
    pin = label_for(page, "PIN")
    assert pin.get("name") == "pin" and pin.get("type") == "password"
    assert [text_of(b) for b in page.xpath("//form[@action='/web/login']//button")] == ["Log in"]
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_sender_logs_in_and_out(web: Web) -> None:
    browser = web.browser()
    response = browser.login(ALICE, ALICE_PIN)
    assert response.status_code == 303
    assert response.headers["location"] == "/web/campaigns"
    cookie = next(
        v
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and v.startswith("vxdial_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    page = parse(browser.get("/web/campaigns"))
    assert [text_of(a) for a in page.xpath("//header//nav//a")] == [
        "Campaigns",
        "Upload",
        "Settings",
    ]
    assert text_of(page.xpath("//header//*[@id='current-login']")[0]) == ALICE
    assert (
        page.xpath("//header//form[@action='/web/logout']//button")[0].text_content() == "Log out"
    )
    session_cookie = browser.client.cookies.get("vxdial_session")
    assert session_cookie
    # Logging out ends the session on the server: the old cookie opens nothing.
    out = browser.post("/web/logout")
    assert out.status_code == 303 and out.headers["location"] == "/web/login"
    assert browser.get("/web/campaigns").headers["location"] == "/web/login"
    replay = web.browser()
    replay.client.cookies.set("vxdial_session", session_cookie)
    assert replay.get("/web/campaigns").status_code == 303


def test_the_admin_lands_on_senders(web: Web) -> None:
    browser = web.browser()
    response = browser.login("admin", ADMIN_PIN)
    assert response.status_code == 303
    assert response.headers["location"] == "/web/admin/senders"
    page = parse(browser.get("/web/admin/senders"))
    assert [text_of(a) for a in page.xpath("//header//nav//a")] == ["Senders", "Lines", "Audit log"]


@pytest.mark.parametrize(("login", "pin"), [(ALICE, "0000-wrong"), ("nobody", ALICE_PIN)])
def test_a_wrong_login_or_pin_is_refused(web: Web, login: str, pin: str) -> None:
    browser = web.browser()
    response = browser.login(login, pin)
    assert response.status_code == 401
    page = parse(response)
    [alert] = page.xpath("//*[@role='alert']")
    assert "Wrong login or PIN" in text_of(alert)
    assert label_for(page, "Login").get("value") == login  # the form again, PIN not echoed
    assert pin not in response.text
    assert "vxdial_session" not in browser.client.cookies


def test_a_forged_session_cookie_opens_nothing(web: Web) -> None:
    browser = web.browser()
    browser.client.cookies.set("vxdial_session", "made-up.0123456789abcdef")
    assert browser.get("/web/campaigns").headers["location"] == "/web/login"
    assert browser.get("/web/campaigns/default/live.json").status_code == 401


def test_failed_logins_are_throttled_like_the_api(web: Web) -> None:
    browser = web.browser()
    for _ in range(3):
        assert browser.login(ALICE, "0000-wrong").status_code == 401
    response = browser.login(ALICE, ALICE_PIN)  # even the right PIN waits now
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    page = parse(response)
    assert "Too many" in text_of(page.xpath("//h1")[0])
    assert "429" in text_of(page.xpath("//main")[0])
    # The same throttle as the API: its Basic auth for alice is refused too.
    assert web.api(ALICE, ALICE_PIN).get("/api/v1/me").status_code == 429
    # Another sender is not locked out.
    assert web.browser().login(BOB, "7390-bob").status_code == 303


def test_a_post_without_a_valid_csrf_token_is_refused(web: Web) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    for path in (
        "/web/logout",
        "/web/campaigns/default/pause",
        "/web/settings/rotate-secret",
        "/web/calls/1/cancel",
    ):
        for data in ({}, {"csrf_token": "forged"}):
            response = alice.post(path, data, csrf=False)
            assert response.status_code == 403, (path, response.text)
            assert text_of(parse(response).xpath("//h1")[0]) == CSRF_HEADING
    # Nothing happened: still logged in, default still active.
    page = parse(alice.get("/web/campaigns"))
    [state] = page.xpath("//tr[@data-campaign='default']//*[contains(@class,'state')]")
    assert text_of(state) == "active"
    # Another session's token is not this session's.
    bob = web.logged_in(BOB, "7390-bob")
    assert alice.post("/web/logout", {"csrf_token": bob.csrf}, csrf=False).status_code == 403


def test_the_login_form_needs_its_csrf_token(web: Web) -> None:
    browser = web.browser()
    response = browser.post("/web/login", {"login": ALICE, "pin": ALICE_PIN}, csrf=False)
    assert response.status_code == 403
    assert text_of(parse(response).xpath("//h1")[0]) == CSRF_HEADING
    page = browser.get("/web/login")
    forged = browser.post(
        "/web/login", {"login": ALICE, "pin": ALICE_PIN, "csrf_token": "0" * 64}, csrf=False
    )
    assert forged.status_code == 403
    good = browser.post(
        "/web/login", {"login": ALICE, "pin": ALICE_PIN, "csrf_token": csrf_of(page)}, csrf=False
    )
    assert good.status_code == 303


def test_error_pages_have_the_layout_status_and_a_sentence(web: Web) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    missing = alice.get("/web/no-such-page")
    assert missing.status_code == 404
    page = parse(missing)
    assert "404" in text_of(page.xpath("//main")[0])
    assert "There is no page at this address." in text_of(page.xpath("//main")[0])
    assert page.xpath("//header//*[@id='current-login']")  # the layout, logged in
    bad = alice.get("/web/calls/not-a-number")
    assert bad.status_code == 400
    assert "call_id" in text_of(parse(bad).xpath("//main")[0])
    wrong_state = alice.get("/web/campaigns/default?state=sleeping")
    assert wrong_state.status_code == 400
    assert '"sleeping" is not a call state' in text_of(parse(wrong_state))
    # A page of the other role.
    admin_page = alice.get("/web/admin/senders")
    assert admin_page.status_code == 403
    assert "for the administrator" in text_of(parse(admin_page).xpath("//main")[0])
    admin = web.logged_in("admin", ADMIN_PIN)
    sender_page = admin.get("/web/campaigns")
    assert sender_page.status_code == 403
    # The API's errors stay JSON.
    assert web.api().get("/api/v1/calls/999999").json()["errors"]


def test_a_session_ends_after_its_idle_time_and_its_maximum_age(
    database_url: str, webapp: WebApp
) -> None:
    web_settings = WebSettings(session_idle_s=3600, session_max_s=3 * 3600)
    with running_web(database_url, webapp, web=web_settings) as web:
        clock = web.clock
        assert isinstance(clock, FakeClock)
        alice = web.logged_in(ALICE, ALICE_PIN)
        # Used every 50 minutes, it lives on past the idle time...
        for _ in range(3):
            clock.advance(50 * 60)
            assert alice.get("/web/campaigns").status_code == 200
        # ... but not past its maximum age.
        clock.advance(40 * 60)
        assert alice.get("/web/campaigns").headers["location"] == "/web/login"
        # Left alone longer than the idle time, a new session ends too.
        bob = web.logged_in(BOB, "7390-bob")
        clock.advance(3601)
        assert bob.get("/web/campaigns").headers["location"] == "/web/login"
