"""The web interface of a real ``vxdial serve`` process (the installed command, its
configuration file, the package's templates and static files), through Chromium: the
administrator's PIN printed at first start, a sender added from the command line, a
campaign uploaded and dialed by the sim carrier to the end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import (
    DESKTOP,
    GOOD,
    SLOW_MS,
    START,
    csv_file,
    log_in,
)
from tests.support.servers import free_port
from tests.support.webapp import WebApp

VXDIAL = str(Path(sys.executable).with_name("vxdial"))
CONFIG = """
[sim]
speed = 20
[[sim.rule]]
match = "*"
ring_seconds = 10
dtmf = "1"

[dialer]
poll_s = 0.5

[auth]
argon2_time_cost = 1
argon2_memory_kib = 1024
argon2_parallelism = 1
"""


class Serve:
    def __init__(self, base_url: str, admin_pin: str) -> None:
        self.base_url = base_url
        self.admin_pin = admin_pin


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    config = tmp_path / "vxdial.toml"
    config.write_text(CONFIG)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VXDIAL_")},
        "VXDIAL_DATABASE_URL": f"sqlite:///{tmp_path / 'vxdial.db'}",
        "VXDIAL_CONFIG": str(config),
        "PYTHONUNBUFFERED": "1",  # the admin's PIN is read from the output file
    }
    subprocess.run([VXDIAL, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [VXDIAL, "sender", "add", "dana", "--pin", "Dn4-dana-5521"],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    out = tmp_path / "serve.out"
    with open(out, "wb") as stdout, open(tmp_path / "serve.err", "wb") as stderr:
        process = subprocess.Popen(
            [VXDIAL, "serve", "--port", str(port)], env=env, stdout=stdout, stderr=stderr
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "serve.err").read_text()
            assert time.monotonic() < deadline, "vxdial serve did not start"
            time.sleep(0.1)
        printed = out.read_text()
        found = re.search(r"login admin, PIN (\S+)", printed)
        assert found, printed
        yield Serve(base, found.group(1))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_campaign_through_vxdial_serve(serve: Serve, webapp: WebApp, browser: Browser) -> None:
    webapp.bodies["/start.vxml"] = START
    context = browser.new_context(viewport=DESKTOP, base_url=serve.base_url)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        # The stylesheet and the script come from the installed package.
        for asset in ("/web/static/app.css", "/web/static/app.js"):
            response = page.request.get(asset)
            assert response.status == 200 and len(response.body()) > 100, asset

        log_in(page, "admin", serve.admin_pin)
        expect(page.locator('tr[data-sender="dana"] .state')).to_have_text("enabled")
        page.get_by_role("button", name="Log out").click()

        log_in(page, "dana", "Dn4-dana-5521")
        page.goto("/web/upload")
        page.get_by_label("Campaign name").fill("first")
        content = "".join(f"{n}\n" for n in GOOD[:3]) + "12\n"
        page.get_by_label("Phone list").set_input_files(
            files=csv_file("first.csv", content.encode())
        )
        page.get_by_label("Start URL").fill(webapp.url("/start.vxml"))
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#accepted-count")).to_have_text("3")
        expect(page.locator("#rejected tbody tr")).to_have_count(1)
        page.get_by_role("link", name="Open campaign first").click()
        expect(page.locator('[data-count="completed"]')).to_have_text("3", timeout=SLOW_MS)
        # Styled by the stylesheet (the header is dark), and the chart drawn by the script.
        background = page.locator("header").evaluate("h => getComputedStyle(h).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), background
        expect(page.locator('svg#chart polyline[data-state="completed"]')).to_have_count(1)
        assert len(webapp.seen("/start.vxml", "POST")) == 3
    finally:
        context.close()
    assert errors == []
