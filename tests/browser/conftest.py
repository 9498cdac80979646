"""Fixtures of the browser tests: Debian's Chromium driven by Playwright against a real
vxdial (uvicorn on loopback in a thread, the dialer running with the sim carrier on a
ScaledClock), a fresh SQLite database per test, and the customer's loopback application
answering start_url and collecting result_url posts.

Screenshots go to a temporary folder, or to the folder named by VXDIAL_SCREENSHOTS
(``VXDIAL_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/browser`` refreshes the
README's pictures). It is read at import: the tests' environment is cleaned of VXDIAL_*.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    FilePayload,
    Page,
    Playwright,
    Response,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.conftest import fresh_database, make_settings
from tests.support.servers import serve_in_thread
from tests.support.webapp import WebApp
from vxdial.app import accounts_for, open_store
from vxdial.config import DialerSettings, Settings, SimRule, SimSettings
from vxdial.domain.clock import ScaledClock
from vxdial.telephony import SimDriver

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}

# The simulated world runs this many times faster than real time.
SPEED = 20.0
ALICE, ALICE_PIN = "alice", "Zq7-alice-4821"
BOB, BOB_PIN = "bob", "Wv3-bob-9137"
ADMIN_PIN = "Adm-2468-pin"
ACTIVE_STATES = ("dialing", "ringing", "connected")  # a call up on a line
GOOD = [f"1555123{n:04d}" for n in range(1, 10)]  # numbers the sim carrier answers
# Waits for what the dialer does in the background (Playwright's expect timeouts, ms).
SLOW_MS = 90_000

# Pages answer in milliseconds; a loaded machine (make test runs everything) may not.
expect.set_options(timeout=15_000)

_SCREENSHOTS_ENV = os.environ.get("VXDIAL_SCREENSHOTS")
ROOT = Path(__file__).resolve().parents[2]

START = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form>
    <field name="answer" type="digits?length=1">
      <prompt>Your appointment is tomorrow at nine. Press 1 to confirm.</prompt>
      <filled><prompt>Thank you.</prompt></filled>
    </field>
  </form>
</vxml>"""


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


@dataclass
class Site:
    """A running vxdial with its customer application, and ways to look at it."""

    base_url: str
    settings: Settings
    webapp: WebApp
    clock: ScaledClock
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    # Script exceptions and console errors (a CSP violation, a failed fetch of live.json)
    # of every page; the test fails on any at its end.
    script_errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    @property
    def start_url(self) -> str:
        return self.webapp.url("/start.vxml")

    @property
    def result_url(self) -> str:
        return self.webapp.url("/result")

    def new_page(self, viewport: ViewportSize | None = None, **options: Any) -> Page:
        """A page in a browser context of its own (its own cookies)."""
        context = self.browser.new_context(
            viewport=viewport or DESKTOP,
            base_url=self.base_url,
            accept_downloads=True,
            **options,
        )
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.script_errors.append(f"{page.url}: {error}"))
        page.on("console", lambda message: self._console(page, message))
        return page

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx/5xx document as an error: the tests look at statuses.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.script_errors.append(f"{page.url}: {message.text}")

    def api(self, login: str = ALICE, pin: str = ALICE_PIN) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(login, pin), timeout=30, trust_env=False)

    def suspend_dialing(self) -> None:
        """Stop the dialer starting calls (as the admin), so that a test can open its
        pages before anything happens, however slow a loaded machine is; then resume."""
        with self.api("admin", ADMIN_PIN) as client:
            assert client.post("/api/v1/admin/suspend").status_code == 200

    def resume_dialing(self) -> None:
        with self.api("admin", ADMIN_PIN) as client:
            assert client.post("/api/v1/admin/resume").status_code == 200

    def api_json(self, path: str, login: str = ALICE, pin: str = ALICE_PIN) -> Any:
        with self.api(login, pin) as client:
            response = client.get(f"/api/v1{path}")
        assert response.status_code == 200, response.text
        return response.json()

    def upload(
        self, name: str, numbers: list[str], login: str = ALICE, pin: str = ALICE_PIN
    ) -> dict[str, Any]:
        """Upload a campaign through the JSON API (for tests about other pages)."""
        with self.api(login, pin) as client:
            response = client.post(
                "/api/v1/campaigns",
                data={
                    "campaign_name": name,
                    "start_url": self.start_url,
                    "result_url": self.result_url,
                },
                files={"phone_list": ("list.csv", "".join(f"{n}\n" for n in numbers).encode())},
            )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def campaign(self, name: str, login: str = ALICE, pin: str = ALICE_PIN) -> dict[str, Any]:
        """The campaign NAME as the JSON API shows it (total, counts by state)."""
        found = self.api_json("/campaigns?limit=1000", login, pin)["items"]
        [campaign] = [c for c in found if c["name"] == name]
        return campaign  # type: ignore[no-any-return]

    def calls(self, campaign_id: int, login: str = ALICE, pin: str = ALICE_PIN) -> list[Any]:
        page = self.api_json(f"/campaigns/{campaign_id}/calls?limit=1000", login, pin)
        return page["items"]  # type: ignore[no-any-return]

    def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()


@pytest.fixture
def start_site(
    request: pytest.FixtureRequest, tmp_path: Path, webapp: WebApp, browser: Browser
) -> Iterator[Callable[..., Site]]:
    """``start_site(*rules, lines=..., alice_lines=..., engine=...)``: vxdial dialing
    through the sim carrier (every number answered and pressing 1, unless ``rules`` say
    otherwise), on a fresh SQLite database (or PostgreSQL with ``engine="postgresql"``)."""
    stack = contextlib.ExitStack()
    sites: list[Site] = []

    def start(
        *rules: SimRule,
        lines: int = 10,
        alice_lines: int | None = 2,
        cps: float = 1000,
        engine: str = "sqlite",
    ) -> Site:
        rules = rules or (SimRule(match="*", dtmf="1", ring_seconds=4),)
        folder = tmp_path / f"site-{len(sites)}"
        folder.mkdir()
        databases = fresh_database(request, engine, folder)
        database_url = next(databases)
        stack.callback(lambda: next(databases, None))  # drops it, once the server stopped
        settings = make_settings(
            database_url,
            dialer=DialerSettings(lines=lines, cps=cps, poll_s=0.5, lease_s=600),
            sim=SimSettings(speed=SPEED, rule=rules),
        )
        store = open_store(settings)
        try:
            accounts = accounts_for(store, settings)
            accounts.add_sender(ALICE, ALICE_PIN, lines=alice_lines)
            accounts.add_sender(BOB, BOB_PIN)
            accounts.set_admin_pin(ADMIN_PIN)
        finally:
            store.close()
        webapp.bodies["/start.vxml"] = START
        clock = ScaledClock(SPEED)
        driver = SimDriver(rules, clock)
        base = stack.enter_context(
            serve_in_thread(settings, clock=clock, dialing=True, driver=driver)
        )
        site = Site(base, settings, webapp, clock, browser)
        sites.append(site)
        return site

    with stack:
        yield start
        for site in sites:
            site.close()
    for site in sites:
        assert site.script_errors == [], site.script_errors


@pytest.fixture
def site(start_site: Callable[..., Site]) -> Site:
    return start_site()


@pytest.fixture
def page(site: Site) -> Page:
    return site.new_page()


# -- helpers ----------------------------------------------------------------------------


def log_in(page: Page, login: str, pin: str) -> None:
    """Log in through the form, and wait for the page it leads to."""
    page.goto("/web/login")
    page.get_by_label("Login", exact=True).fill(login)
    page.get_by_label("PIN", exact=True).fill(pin)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


@functools.cache
def screenshot_dir() -> Path:
    if _SCREENSHOTS_ENV:
        folder = Path(_SCREENSHOTS_ENV)
        if not folder.is_absolute():
            folder = ROOT / folder
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    # A folder of this run's own: test runs side by side do not write over each other.
    return Path(tempfile.mkdtemp(prefix="vxdial-screenshots-"))


def shoot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as NAME.png (e.g. ``campaign-desktop``)."""
    assert re.fullmatch(r"[a-z0-9-]+", name), name
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def no_horizontal_overflow(page: Page) -> tuple[int, int]:
    """(document scroll width, viewport width): the first must not exceed the second."""
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return int(widths[0]), int(widths[1])


def csv_file(name: str, content: bytes) -> FilePayload:
    """A file for an <input type=file>, from memory."""
    return {"name": name, "mimeType": "text/csv", "buffer": content}


def phone_list(good: list[str], bad: list[str]) -> str:
    return "".join(f"{line}\r\n" for line in [*good, *bad])


def count(page: Page, state: str) -> int:
    text = page.locator(f'[data-count="{state}"]').first.inner_text()
    return int(re.sub(r"\D", "", text) or 0)


def wait_until(
    check: Callable[[], bool], timeout_s: float = 60.0, what: Callable[[], object] = str
) -> None:
    """Wait for something the dialer does in the background (``what()`` says where it
    stands when it times out)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting: {what()}"
        time.sleep(0.05)


def is_live(response: Response) -> bool:
    return urlsplit(response.url).path.endswith("/live.json")
