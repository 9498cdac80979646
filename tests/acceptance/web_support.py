"""Helpers of the web interface's acceptance tests: a running vxdial with two senders and
the admin, browsers (httpx clients with their own cookie jars) that log in through the
login form, and strict reading of the pages' HTML."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import lxml.html

from tests.conftest import T0 as FAKE_T0
from tests.conftest import make_settings
from tests.support.servers import serve_in_thread
from tests.support.webapp import WebApp
from vxdial.app import accounts_for, open_store
from vxdial.config import AuthSettings, Settings
from vxdial.domain.clock import Clock, FakeClock

ALICE, ALICE_PIN = "alice", "4821-alice"
BOB, BOB_PIN = "bob", "7390-bob"
ADMIN_PIN = "2468-admin"
CSRF_HEADING = "Form expired or forged (CSRF check failed)"


def parse(response: httpx.Response) -> Any:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    return lxml.html.fromstring(response.text)


def text_of(element: Any) -> str:
    return " ".join(element.text_content().split())


def csrf_of(response: httpx.Response) -> str:
    [token] = set(parse(response).xpath("//input[@name='csrf_token']/@value"))
    assert token
    return str(token)


def label_for(page: Any, label: str) -> Any:
    """The input a <label> with exactly this text is for (the form must be accessible)."""
    [found] = [lab for lab in page.xpath("//label") if text_of(lab) == label]
    [control] = page.xpath(f"//*[@id='{found.get('for')}']")
    return control


@dataclass
class Browser:
    """One browser: a cookie jar, the CSRF token of its session once logged in."""

    client: httpx.Client
    csrf: str = ""
    login_name: str = ""

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        return self.client.post(path, data=form, **kwargs)

    def login(self, login: str, pin: str) -> httpx.Response:
        page = self.client.get("/web/login")
        assert page.status_code == 200, page.text
        response = self.client.post(
            "/web/login", data={"login": login, "pin": pin, "csrf_token": csrf_of(page)}
        )
        if response.status_code == 303:
            home = self.client.get(response.headers["location"])
            assert home.status_code == 200, home.text
            self.csrf = csrf_of(home)
            self.login_name = login
        return response


@dataclass
class Web:
    base: str
    settings: Settings
    clock: Clock
    webapp: WebApp
    browsers: list[Browser] = field(default_factory=list)

    def browser(self) -> Browser:
        client = httpx.Client(base_url=self.base, timeout=30, trust_env=False)
        found = Browser(client)
        self.browsers.append(found)
        return found

    def logged_in(self, login: str, pin: str) -> Browser:
        found = self.browser()
        response = found.login(login, pin)
        assert response.status_code == 303, response.text
        return found

    def api(self, login: str = ALICE, pin: str = ALICE_PIN) -> httpx.Client:
        client = httpx.Client(base_url=self.base, auth=(login, pin), timeout=30, trust_env=False)
        self.browsers.append(Browser(client))
        return client

    @property
    def start_url(self) -> str:
        return self.webapp.url("/start.vxml")


@contextlib.contextmanager
def running_web(
    database_url: str,
    webapp: WebApp,
    *,
    clock: Clock | None = None,
    dialing: bool = False,
    **sections: Any,
) -> Iterator[Web]:
    sections.setdefault("auth", AuthSettings(max_failures_per_login=3, failure_window_s=600))
    settings = make_settings(database_url, **sections)
    store = open_store(settings)
    try:
        accounts = accounts_for(store, settings)
        accounts.add_sender(ALICE, ALICE_PIN)
        accounts.add_sender(BOB, BOB_PIN)
        accounts.set_admin_pin(ADMIN_PIN)
    finally:
        store.close()
    clock = clock or FakeClock(FAKE_T0)
    with serve_in_thread(settings, clock=clock, dialing=dialing) as base:
        web = Web(base, settings, clock, webapp)
        try:
            yield web
        finally:
            for browser in web.browsers:
                browser.client.close()
