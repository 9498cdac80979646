"""The JSON API's edge against hostile requests, through real HTTP: text that is not
Unicode, the documented answers, the error shape, and requests a browser could be made
to send with a cached login (issue 12 items 14 and 16)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_settings
from tests.support.servers import serve_in_thread
from tests.support.webapp import WebApp
from vxdial.api.v1.models import LONE_SURROGATE, CallCreate
from vxdial.app import accounts_for, open_store


@dataclass
class Api:
    base: str
    webapp: WebApp
    alice: httpx.Client
    admin: httpx.Client
    anonymous: httpx.Client


@pytest.fixture
def api(sqlite_url: str, webapp: WebApp) -> Iterator[Api]:
    """One engine: these requests are refused before anything is stored."""
    settings = make_settings(sqlite_url)
    store = open_store(settings)
    accounts = accounts_for(store, settings)
    accounts.add_sender("alice", "1111")
    accounts.set_admin_pin("2222")
    store.close()
    with serve_in_thread(settings) as base:
        clients = [
            httpx.Client(base_url=base, auth=("alice", "1111"), timeout=30, trust_env=False),
            httpx.Client(base_url=base, auth=("admin", "2222"), timeout=30, trust_env=False),
            httpx.Client(base_url=base, timeout=30, trust_env=False),
        ]
        yield Api(base, webapp, *clients)
        for client in clients:
            client.close()


def post_json_bytes(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


# -- item 14: lone surrogates ------------------------------------------------------------------

TEXT_FIELDS = sorted(
    name for name, info in CallCreate.model_fields.items() if info.annotation in (str, str | None)
)
LONE_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@st.composite
def with_a_lone_surrogate(draw: st.DrawFn) -> str:
    """Any text (surrogates included) holding at least one lone surrogate."""
    text = draw(st.text(st.characters(codec=None), max_size=40))
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(LONE_SURROGATES) + text[at:]


def test_the_text_fields_are_the_ones_expected() -> None:
    assert TEXT_FIELDS == [
        "call_parameters",
        "caller_id",
        "expiration_time",
        "message_reference",
        "phone_number",
        "result_url",
        "scheduled_time",
        "start_url",
    ]


def test_a_lone_surrogate_is_a_422_naming_the_field(api: Api) -> None:
    response = post_json_bytes(api.alice, "/api/v1/calls", b'{"message_reference": "\\ud800"}')
    assert response.status_code == 422, response.text
    assert {"field": "message_reference", "reason": LONE_SURROGATE} in response.json()["errors"]
    # In a field's name, too: refused with a readable answer.
    named = post_json_bytes(
        api.alice,
        "/api/v1/calls",
        b'{"phone_number": "15551234567", "start_url": "http://x/", "\\udfff": "1"}',
    )
    assert named.status_code == 422, named.text
    assert [set(problem) for problem in named.json()["errors"]] == [{"field", "reason"}]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(TEXT_FIELDS), value=with_a_lone_surrogate())
def test_every_text_field_refuses_lone_surrogates(api: Api, field: str, value: str) -> None:
    body: dict[str, Any] = {
        "phone_number": "15551234567",
        "start_url": api.webapp.url("/start.vxml"),
        field: value,
    }
    # json.dumps writes a lone surrogate as the escape "\udXXX": raw JSON bytes.
    response = post_json_bytes(api.alice, "/api/v1/calls", json.dumps(body).encode())
    assert response.status_code == 422, response.text
    assert response.json() == {"errors": [{"field": field, "reason": LONE_SURROGATE}]}
