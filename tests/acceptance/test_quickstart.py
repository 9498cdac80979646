"""The README's quick start, run as written (issue 11 item 14).

The shell blocks between ``<!-- quickstart:begin`` and ``<!-- quickstart:end -->`` in
README.md are read from the file and run one command at a time with bash, in an empty
folder whose ``.venv`` is the installed one, against a real ``vxdial serve`` (the sim
carrier, its world 20 times faster). Only what a reader must change is changed: the port
(8080 may be taken here) and ``PIN`` (the one ``sender add`` printed). ``make run`` is
``.venv/bin/vxdial serve`` (checked in the Makefile). Then the call must be over and its
result in /demo/results with a good signature, as the README promises.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.web_support import Browser, parse, text_of
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SIM_SPEED = "20"


def quickstart() -> list[list[str]]:
    """The commands of each shell block of the quick start (continuation lines joined)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count("<!-- quickstart:begin") == 1 and text.count("<!-- quickstart:end -->") == 1
    section = text.split("<!-- quickstart:begin", 1)[1].split("<!-- quickstart:end -->", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [
        [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]
        for block in blocks
    ]


def without_comment(command: str) -> str:
    return re.sub(r"\s+#.*$", "", command)


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder with the installed virtualenv as ``.venv``, as in a checkout."""
    venv = Path(sys.executable).parent.parent
    assert (venv / "bin" / "vxdial").exists()
    (tmp_path / ".venv").symlink_to(venv)
    return tmp_path


@pytest.fixture
def served(folder: Path) -> Iterator[str]:
    """What ``make run`` runs, on a free port; yields its base URL."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:[^\n]*\n(?:\t[^\n]*\n)*?\t[^\n]*vxdial serve\b", makefile, re.M)
    port = free_port()
    process = subprocess.Popen(
        [".venv/bin/vxdial", "serve", "--port", str(port), "--sim-speed", SIM_SPEED],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert process.stdout is not None
        # What the README says a first start prints: the database's one line, the
        # administrator's PIN once, where it listens.
        said = [process.stdout.readline() for _ in range(3)]
        assert said[0].startswith("database: sqlite:///./vxdial.db at revision "), said
        assert said[1].startswith("Created the administrator account: login admin, PIN "), said
        assert "listening on" in said[2], said

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, "/healthz")
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def test_the_readme_quick_start_places_a_call_end_to_end(folder: Path, served: str) -> None:
    blocks = quickstart()
    assert [without_comment(c) for c in blocks[0]] == ["make run"]
    port = served.rsplit(":", 1)[1]
    outputs: list[tuple[str, str]] = []
    pin: str | None = None
    for command in [c for block in blocks[1:] for c in block]:
        assert "127.0.0.1:8080" in command or ".venv/bin/vxdial" in command or "printf" in command
        command = command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        if pin is not None:
            command = re.sub(r"\bPIN\b", pin, command)
        else:
            assert not re.search(r"\bPIN\b", without_comment(command)), "PIN before it is known"
        result = run(command, folder)
        outputs.append((command, result.stdout))
        found = re.search(r"^PIN: (\d+)$", result.stdout, re.M)
        if found:
            pin = found[1]
    assert pin is not None

    def output_of(fragment: str) -> str:
        [found] = [out for command, out in outputs if fragment in command]
        return found

    assert 'status="queued" call_id="1"' in output_of("queuecall.php")
    assert output_of("vxdial try").splitlines() == [
        "Hello, this is vxdial with an appointment reminder.",
        "Your appointment is tomorrow at 10 a.m. Press 1 to confirm, or 2 to cancel.",
        "Thank you. Your appointment is confirmed. Goodbye.",
    ]
    assert 'status="queued"' in output_of("queuecalls.php")
    assert 'calls_queued="2"' in output_of("queuecalls.php")
    assert '"name":"reminders"' in output_of("api/v1/campaigns")

    # The calls are dialed, answered by the sim carrier, run, and their results posted.
    api = httpx.Client(base_url=served, auth=("alice", pin), timeout=30)

    def states() -> list[str]:
        return [api.get(f"/api/v1/calls/{n}").json()["state"] for n in (1, 2, 3)]

    wait_for(lambda: states() == ["completed"] * 3, "the three calls to complete")
    # "log in as alice": the web interface shows the call and what was said.
    browser = Browser(httpx.Client(base_url=served, timeout=30))
    assert browser.login("alice", pin).status_code == 303
    call_page = browser.get("/web/calls/1")
    transcript = [text_of(li) for li in parse(call_page).xpath("//ol[@id='transcript']/li")]
    assert any("Hello! This is a test call from vxdial." in line for line in transcript)
    assert any("Your appointment is tomorrow at 10 a.m." in line for line in transcript)

    # "open /demo/results": each result, signed with alice's secret, checked good.
    def inbox() -> list[tuple[str, str]]:
        page = browser.get("/demo/results")
        assert page.status_code == 200
        rows = parse(page).xpath("//table[@id='inbox']/tbody/tr[@data-delivery]")
        return sorted((row.get("data-call-id"), row.get("data-signature")) for row in rows)

    wait_for(lambda: len(inbox()) == 3, "three results in /demo/results")
    assert inbox() == [("1", "good"), ("2", "good"), ("3", "good")]
    page = parse(browser.get("/demo/results"))
    [first] = page.xpath("//table[@id='inbox']/tbody/tr[@data-call-id='1']")
    cells = [text_of(td) for td in first.xpath("td")]
    assert "completed" in cells and "A-42" in cells and "voice" in cells
    api.close()
    browser.client.close()
