"""Accounts under attack and after a PIN reset: the account commands end web sessions, a
login cannot be locked for its owner by guessers elsewhere, and the ``default`` campaign
of single calls cannot be canceled (a real vxdial on loopback, the installed command)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.web_support import (
    ADMIN_PIN,
    ALICE,
    ALICE_PIN,
    Web,
    parse,
    running_web,
    text_of,
)
from tests.support.webapp import WebApp
from vxdial.config import AuthSettings

VXDIAL = str(Path(sys.executable).with_name("vxdial"))


def run_vxdial(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VXDIAL_DATABASE_URL": database_url}
    return subprocess.run([VXDIAL, *args], env=env, capture_output=True, text=True, timeout=60)


def logged_out(web: Web, client: httpx.Client, path: str) -> bool:
    response = client.get(path)
    return response.status_code == 303 and response.headers["location"] == "/web/login"


@pytest.mark.parametrize(
    ("login", "pin", "home", "command"),
    [
        (ALICE, ALICE_PIN, "/web/campaigns", ("sender", "set-pin", ALICE, "--pin", "5555-new")),
        (ALICE, ALICE_PIN, "/web/campaigns", ("sender", "set-pin", ALICE)),
        ("admin", ADMIN_PIN, "/web/admin/senders", ("admin", "set-pin", "--pin", "6666-new")),
    ],
)
def test_a_pin_reset_by_the_account_commands_ends_the_web_sessions(
    web: Web, database_url: str, login: str, pin: str, home: str, command: tuple[str, ...]
) -> None:
    first = web.logged_in(login, pin)
    second = web.logged_in(login, pin)
    other = web.logged_in("bob", "7390-bob")
    assert first.get(home).status_code == 200

    done = run_vxdial(database_url, *command)

    assert done.returncode == 0, done.stderr
    assert logged_out(web, first.client, home)
    assert logged_out(web, second.client, home)
    assert other.get("/web/campaigns").status_code == 200  # another account's session lives


# -- the login throttle -------------------------------------------------------------------


@pytest.fixture
def guarded_web(database_url: str, webapp: WebApp) -> Iterator[Web]:
    """A vxdial with the default throttle (5 failures per login and address, 50 per login,
    20 per address, in 5 minutes)."""
    with running_web(database_url, webapp, auth=AuthSettings()) as running:
        yield running


def client_from(web: Web, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8 is this host)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=web.base, transport=transport, timeout=30, trust_env=False)


def test_guessers_from_many_addresses_do_not_lock_the_owner_out(guarded_web: Web) -> None:
    # 10 addresses x 5 wrong PINs: the login's total (50) is reached.
    for host in range(10):
        with client_from(guarded_web, f"127.0.1.{host + 1}") as guesser:
            statuses = [
                guesser.get("/api/v1/me", auth=(ALICE, f"wrong-{i}")).status_code for i in range(6)
            ]
        assert statuses == [401] * 5 + [429], statuses  # each guesser is stopped at its 5
    with client_from(guarded_web, "127.0.2.1") as latecomer:
        # A new guesser is still told no (wrong PIN), and its PIN is checked...
        assert latecomer.get("/api/v1/me", auth=(ALICE, "wrong-x")).status_code == 401
    with client_from(guarded_web, "127.0.3.1") as owner:
        # ... and the owner's own server, with the right PIN, gets in.
        response = owner.get("/api/v1/me", auth=(ALICE, ALICE_PIN))
        assert response.status_code == 200, response.text
    with client_from(guarded_web, "127.0.1.1") as guesser:
        # A guesser over its own limit stays refused, even with the right PIN.
        assert guesser.get("/api/v1/me", auth=(ALICE, ALICE_PIN)).status_code == 429


# -- the default campaign -------------------------------------------------------------------

DEFAULT_REASON = (
    "the default campaign holds your single calls and cannot be canceled; "
    "pause it to stop dialing them, or cancel its calls one by one"
)


def test_the_default_campaign_cannot_be_canceled(web: Web) -> None:
    api = web.api()
    first = api.post(
        "/api/v1/calls", json={"phone_number": "15551234567", "start_url": web.start_url}
    )
    assert first.status_code == 201, first.text
    default_id = first.json()["campaign_id"]

    refused = api.post(f"/api/v1/campaigns/{default_id}/cancel")
    assert refused.status_code == 409
    assert refused.json() == {"errors": [{"field": "campaign", "reason": DEFAULT_REASON}]}
    admin = web.api("admin", ADMIN_PIN).post(f"/api/v1/admin/campaigns/{default_id}/cancel")
    assert admin.status_code == 409
    assert admin.json()["errors"][0]["reason"] == DEFAULT_REASON

    alice = web.logged_in(ALICE, ALICE_PIN)
    for page in ("/web/campaigns", "/web/campaigns/default"):
        html = parse(alice.get(page))
        assert not html.xpath("//form[@action='/web/campaigns/default/cancel']"), page
        assert html.xpath("//form[@action='/web/campaigns/default/pause']"), page
    by_form = alice.post("/web/campaigns/default/cancel")
    assert by_form.status_code == 409
    assert DEFAULT_REASON in text_of(parse(by_form).xpath("//main")[0])

    # Pausing is fine, and a single call queued meanwhile waits instead of being canceled.
    assert api.post(f"/api/v1/campaigns/{default_id}/pause").json()["state"] == "paused"
    later = api.post(
        "/api/v1/calls", json={"phone_number": "15551234568", "start_url": web.start_url}
    )
    assert later.status_code == 201
    assert api.get(f"/api/v1/calls/{later.json()['id']}").json()["state"] == "queued"
    assert api.get(f"/api/v1/campaigns/{default_id}").json()["state"] == "paused"
