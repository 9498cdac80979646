"""Fixtures of the Plum web service acceptance tests: a real vxdial on loopback (uvicorn
in a thread, a FakeClock standing at T0), two senders, the customer's loopback web
application, and helpers that post forms and read the XML answers strictly.

Two kinds of server:

- ``vxdial`` / ``start_vxdial``: one per test, on the fresh database of ``database_url``;
  for tests that change settings or leave state behind (failed logins, probe counts).
- ``shared_vxdial``: one per module and engine, for the many stateless checks (field
  rules, answers); tests on it use their own URL paths and campaign names.
"""

from __future__ import annotations

import contextlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.acceptance.dialing_support import SPEED, Dialing
from tests.acceptance.web_support import Web, running_web
from tests.conftest import ENGINES, T0, fresh_database, make_settings
from tests.support.servers import serve_in_thread
from tests.support.webapp import WebApp, start_webapp
from vxdial.app import accounts_for, open_store
from vxdial.config import DialerSettings, Settings, SimRule, SimSettings
from vxdial.domain import errors, numbers
from vxdial.domain.clock import Clock, FakeClock, ScaledClock, to_epoch_s
from vxdial.store import Store
from vxdial.telephony import SimDriver

# Distinctive PINs, so a test can grep every answer for them.
ALICE, ALICE_PIN = "alice", "Zq7-aliceP1N-x4"
BOB, BOB_PIN = "bob", "Wv3-bobP1N-k9"
T0_S = to_epoch_s(T0)
PREFIXES = ("/webservice", "/outbound/webservice")
START_PATH = "/start.vxml"
OMIT = object()  # a field value meaning "do not send this field"


def path_of(url: str) -> str:
    return urlsplit(url).path


def phone_reason(value: str) -> str:
    """Why the domain refuses ``value`` as a phone_number.

    These tests check that the reason reaches the answer whole, under the right field;
    its wording belongs to tests/unit/domain (PRODUCT.md fixes only its start:
    ``"12" is not a valid phone number``).
    """
    try:
        numbers.parse_destination(value)
    except errors.InvalidInput as exc:
        assert exc.field == "phone_number"
        return exc.reason
    raise AssertionError(f"{value!r} is a valid phone number")


# -- posting ------------------------------------------------------------------------------


def multipart(
    fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes]] | None = None
) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type (also for a post without files)."""
    boundary = f"vxdial-test-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, content) in (files or {}).items():
        parts.append(
            (
                f"--{boundary}\r\nContent-Disposition: form-data; "
                f'name="{name}"; filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Answer:
    """A Plum answer, checked to be what every client relies on: HTTP 200, text/xml, XML."""

    response: httpx.Response
    root: ET.Element

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def status(self) -> str | None:
        return self.root.get("status")

    @property
    def errors(self) -> list[tuple[str, str]]:
        """(field, reason) of each <error>; an <error> must have exactly a field attribute."""
        found = []
        for element in self.root.findall("error"):
            assert set(element.attrib) == {"field"} and len(element) == 0, self.text
            found.append((element.attrib["field"], element.text or ""))
        return found

    @property
    def rejected(self) -> list[tuple[int, str]]:
        return [(int(e.get("line", "0")), e.text or "") for e in self.root.findall("rejected")]

    def child_text(self, tag: str) -> str:
        found = self.root.find(tag)
        assert found is not None, f"no <{tag}> in {self.text}"
        return found.text or ""


def read_answer(response: httpx.Response, root_tag: str) -> Answer:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "text/xml"
    assert response.text.startswith('<?xml version="1.0"?>'), response.text[:100]
    root = ET.fromstring(response.content)
    assert root.tag == root_tag, response.text
    assert root.get("status") in {"queued", "failed"}, response.text
    return Answer(response, root)


def assert_failed(answer: Answer, *expected: tuple[str, str]) -> None:
    """``status="failed"`` with exactly these (field, reason) errors, and nothing else."""
    assert answer.status == "failed", answer.text
    assert dict(answer.root.attrib) == {"status": "failed"}, answer.text
    assert answer.errors == list(expected), answer.text
    assert {c.tag for c in answer.root} <= {"error", "rejected"}, answer.text


# -- the server -------------------------------------------------------------------------


@dataclass
class Vxdial:
    base_url: str
    settings: Settings
    clock: Clock  # a FakeClock standing at T0 unless the test asked for the real one
    webapp: WebApp
    client: httpx.Client
    answers: list[str] = field(default_factory=list)  # every answer body, for PIN greps

    @property
    def fake_clock(self) -> FakeClock:
        assert isinstance(self.clock, FakeClock)
        return self.clock

    @property
    def start_url(self) -> str:
        return self.webapp.url(START_PATH)

    def unique_url(self, name: str = "start") -> str:
        """A start_url of its own, so probe counts and statuses are this test's alone."""
        return self.webapp.url(f"/{name}-{uuid.uuid4().hex[:10]}.vxml")

    # Plum web services

    def post(
        self,
        path: str,
        fields: Mapping[str, Any],
        *,
        encoding: str = "urlencoded",
        files: Mapping[str, tuple[str, bytes]] | None = None,
        timeout: float = 30.0,
    ) -> httpx.Response:
        sent = {k: str(v) for k, v in fields.items() if v is not OMIT}
        if encoding == "urlencoded":
            assert not files
            response = self.client.post(path, data=sent, timeout=timeout)
        else:
            body, content_type = multipart(sent, files)
            response = self.client.post(
                path, content=body, headers={"Content-Type": content_type}, timeout=timeout
            )
        self.answers.append(response.text)
        return response

    def queuecall(
        self,
        *,
        encoding: str = "urlencoded",
        prefix: str = "/webservice",
        **fields: Any,
    ) -> Answer:
        sent: dict[str, Any] = {
            "login": ALICE,
            "pin": ALICE_PIN,
            "phone_number": "15551234567",
            "start_url": self.start_url,
        }
        sent.update(fields)
        return read_answer(
            self.post(f"{prefix}/queuecall.php", sent, encoding=encoding), "queuecall"
        )

    def queuecalls(
        self,
        phone_list: bytes | str | None,
        *,
        prefix: str = "/webservice",
        timeout: float = 30.0,
        **fields: Any,
    ) -> Answer:
        sent: dict[str, Any] = {
            "login": ALICE,
            "pin": ALICE_PIN,
            "campaign_name": f"campaign-{uuid.uuid4().hex[:12]}",
            "start_url": self.start_url,
        }
        sent.update(fields)
        files = None
        if phone_list is not None:
            content = phone_list.encode() if isinstance(phone_list, str) else phone_list
            files = {"phone_list": ("list.csv", content)}
        response = self.post(
            f"{prefix}/queuecalls.php",
            sent,
            encoding="multipart",
            files=files,
            timeout=timeout,
        )
        return read_answer(response, "queuecalls")

    # JSON API, to see what was stored

    def api(self, path: str, *, login: str = ALICE, pin: str = ALICE_PIN) -> httpx.Response:
        return self.client.get(f"/api/v1{path}", auth=(login, pin))

    def api_json(self, path: str, *, login: str = ALICE, pin: str = ALICE_PIN) -> Any:
        response = self.api(path, login=login, pin=pin)
        assert response.status_code == 200, response.text
        return response.json()

    def api_all(self, path: str, *, login: str = ALICE, pin: str = ALICE_PIN) -> list[Any]:
        """Every item of a paged listing."""
        items: list[Any] = []
        after = 0
        separator = "&" if "?" in path else "?"
        while True:
            page = self.api_json(f"{path}{separator}limit=1000&after={after}", login=login, pin=pin)
            items += page["items"]
            if page["next_after"] is None:
                return items
            after = page["next_after"]

    def campaigns(self, *, login: str = ALICE, pin: str = ALICE_PIN) -> list[dict[str, Any]]:
        return self.api_all("/campaigns", login=login, pin=pin)

    def open_store(self) -> Store:
        return open_store(self.settings, migrate=False)


def add_senders(settings: Settings) -> None:
    store = open_store(settings)
    try:
        accounts = accounts_for(store, settings)
        accounts.add_sender(ALICE, ALICE_PIN)
        accounts.add_sender(BOB, BOB_PIN)
    finally:
        store.close()


@contextlib.contextmanager
def running_vxdial(
    settings: Settings, webapp: WebApp, *, clock: Clock | None = None
) -> Iterator[Vxdial]:
    add_senders(settings)
    clock = clock or FakeClock(T0)
    with (
        serve_in_thread(settings, clock=clock) as base_url,
        httpx.Client(base_url=base_url, timeout=30.0, trust_env=False) as client,
    ):
        yield Vxdial(base_url, settings, clock, webapp, client)


@pytest.fixture
def start_vxdial(database_url: str, webapp: WebApp) -> Iterator[Callable[..., Vxdial]]:
    """``start_vxdial(intake=..., auth=..., clock=...)``: a server on this test's database."""
    with contextlib.ExitStack() as stack:

        def start(*, clock: Clock | None = None, **sections: object) -> Vxdial:
            settings = make_settings(database_url, **sections)
            return stack.enter_context(running_vxdial(settings, webapp, clock=clock))

        yield start


@pytest.fixture
def vxdial(start_vxdial: Callable[..., Vxdial]) -> Vxdial:
    return start_vxdial()


@pytest.fixture(scope="module", params=ENGINES)
def shared_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from fresh_database(request, request.param, tmp_path_factory.mktemp("shared"))


@pytest.fixture(scope="module")
def shared_vxdial(shared_database_url: str) -> Iterator[Vxdial]:
    """One server per module and engine; its clock never moves."""
    app, server = start_webapp()
    try:
        with running_vxdial(make_settings(shared_database_url), app) as running:
            yield running
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web(database_url: str, webapp: WebApp) -> Iterator[Web]:
    """The app with its web interface on a fresh database (tests/acceptance/test_web_*)."""
    with running_web(database_url, webapp) as running:
        yield running


@pytest.fixture
def start_dialing(database_url: str, webapp: WebApp) -> Iterator[Callable[..., Dialing]]:
    """``start_dialing(*sim_rules, lines=..., sender_lines=..., max_call_s=..., poll_s=...)``:
    a vxdial serving and dialing through the sim carrier at ``SPEED``, sender alice (PIN
    1111)."""
    stack: list[Any] = []

    def start(
        *rules: SimRule,
        lines: int = 100,
        sender_lines: int | None = None,
        max_call_s: float = 3600,
        poll_s: float = 1.0,
    ) -> Dialing:
        settings = make_settings(
            database_url,
            dialer=DialerSettings(
                lines=lines, cps=1000, poll_s=poll_s, lease_s=120, max_call_s=max_call_s
            ),
            sim=SimSettings(speed=SPEED, rule=rules),
        )
        store = open_store(settings)
        accounts = accounts_for(store, settings)
        accounts.add_sender("alice", "1111", lines=sender_lines)
        accounts.set_admin_pin("2468")
        store.close()
        clock = ScaledClock(SPEED)
        driver = SimDriver(rules, clock)
        context = serve_in_thread(settings, clock=clock, dialing=True, driver=driver)
        base = context.__enter__()
        stack.append(context)
        client = httpx.Client(base_url=base, auth=("alice", "1111"), timeout=30)
        admin = httpx.Client(base_url=base, auth=("admin", "2468"), timeout=30)
        stack.extend([client, admin])
        return Dialing(base, webapp, clock, driver, client, admin)

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)
