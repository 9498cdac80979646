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
from vxdial.config import IntakeSettings


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
    settings = make_settings(sqlite_url, intake=IntakeSettings(max_upload_bytes=4096))
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


JSON = {"Content-Type": "application/json"}


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


# -- item 16: the documented answers, the error shape, the browser guard -------------------

UNSAFE = {"post", "put", "patch", "delete"}


def is_error_shape(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    problems = body.get("errors") if isinstance(body, dict) else None
    return (
        isinstance(problems, list)
        and bool(problems)
        and all(isinstance(p, dict) and set(p) >= {"field", "reason"} for p in problems)
    )


@dataclass
class Seen:
    """What each operation answered, against what it documents."""

    spec: dict[str, Any]
    answers: dict[tuple[str, str], set[int]]

    def record(self, method: str, template: str, response: httpx.Response) -> None:
        self.answers.setdefault((method, template), set()).add(response.status_code)
        if response.status_code >= 400:
            assert is_error_shape(response), (method, template, response.text)

    def undocumented(self) -> dict[tuple[str, str], set[int]]:
        found = {}
        for (method, template), statuses in self.answers.items():
            documented = {int(code) for code in self.spec["paths"][template][method]["responses"]}
            if statuses - documented:
                found[(method, template)] = statuses - documented
        return found


def test_every_operation_documents_the_answers_it_gives(api: Api) -> None:
    spec = api.anonymous.get("/openapi.json").json()
    seen = Seen(spec, {})
    call = api.alice.post(
        "/api/v1/calls", json={"phone_number": "15551234567", "start_url": api.webapp.url("/")}
    ).json()
    operations = [
        (method, template)
        for template, item in spec["paths"].items()
        if template.startswith("/api/v1/")
        for method in item
    ]
    assert len(operations) >= 23  # every operation of the API

    def url(template: str, an_id: object) -> str:
        return template.replace("{call_id}", str(an_id)).replace("{campaign_id}", str(an_id))

    for method, template in operations:
        admin_only = template.startswith("/api/v1/admin/")
        owner, other_role = (api.admin, api.alice) if admin_only else (api.alice, api.admin)
        known_id = call["campaign_id"] if "{campaign_id}" in template else call["id"]

        def send(client: httpx.Client, path: str, verb: str = method, **kw: Any) -> httpx.Response:
            return client.request(verb.upper(), path, **kw)

        seen.record(method, template, send(api.anonymous, url(template, known_id)))  # 401
        seen.record(method, template, send(other_role, url(template, known_id)))  # 403
        if "{" in template:
            seen.record(method, template, send(owner, url(template, 999_999)))  # 404
            seen.record(method, template, send(owner, url(template, "x")))  # 422
        if method in UNSAFE:
            for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
                seen.record(method, template, send(owner, url(template, 999_999), headers=headers))
            plain = send(
                owner, url(template, 999_999), content=b"x", headers={"Content-Type": "text/plain"}
            )
            seen.record(method, template, plain)  # 415
        if "{" not in template and method == "get":
            seen.record(method, template, send(owner, template, params={"limit": "0"}))

    # The answers only some operations give.
    calls, campaigns_ = "/api/v1/calls", "/api/v1/campaigns"
    big = api.alice.post(calls, content=b"{" + b" " * 100_000 + b"}", headers=JSON)
    seen.record("post", calls, big)  # 413
    key = {"Idempotency-Key": "k1"}
    body = {"phone_number": "15551234567", "start_url": api.webapp.url("/")}
    seen.record("post", calls, api.alice.post(calls, json=body, headers=key))
    seen.record(
        "post",
        calls,
        api.alice.post(calls, json={**body, "message_reference": "other"}, headers=key),
    )  # 409
    seen.record("post", calls, post_json_bytes(api.alice, calls, b'{"phone_number": "\\ud800"}'))
    upload_too_big = api.alice.post(  # [intake] max_upload_bytes is 4096 here
        campaigns_,
        data={"campaign_name": "big", "start_url": api.webapp.url("/")},
        files={"phone_list": ("l.csv", b"15551234567\n" * 1000)},
    )
    seen.record("post", campaigns_, upload_too_big)  # 413
    default_cancel = f"/api/v1/campaigns/{call['campaign_id']}/cancel"
    seen.record("post", "/api/v1/campaigns/{campaign_id}/cancel", api.alice.post(default_cancel))
    resume = f"/api/v1/campaigns/{call['campaign_id']}/resume"
    seen.record("post", "/api/v1/campaigns/{campaign_id}/resume", api.alice.post(resume))  # 409
    canceled = api.alice.delete(f"/api/v1/calls/{call['id']}")
    seen.record("delete", "/api/v1/calls/{call_id}", canceled)
    seen.record(
        "delete", "/api/v1/calls/{call_id}", api.alice.delete(f"/api/v1/calls/{call['id']}")
    )

    statuses = set().union(*seen.answers.values())
    assert {200, 201, 401, 403, 404, 409, 413, 415, 422} <= statuses  # the check can fail
    assert seen.undocumented() == {}


def test_405_names_every_method_of_the_path_in_the_error_shape(api: Api) -> None:
    spec = api.anonymous.get("/openapi.json").json()
    for template, item in spec["paths"].items():
        path = template.replace("{call_id}", "1").replace("{campaign_id}", "1")
        documented = sorted(method.upper() for method in item)
        unused = next(m for m in ("PUT", "PATCH", "DELETE", "POST") if m not in documented)
        response = api.alice.request(unused, path)
        assert response.status_code == 405, (unused, path)
        assert response.headers["allow"] == ", ".join(
            m
            for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
            if m in documented
        ), path
        assert is_error_shape(response), response.text


def test_starlettes_own_refusals_are_in_the_error_shape(api: Api) -> None:
    missing = api.alice.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and is_error_shape(missing)
    too_big = api.alice.post("/api/v1/calls", content=b"{" + b" " * 100_000 + b"}", headers=JSON)
    assert too_big.status_code == 413 and is_error_shape(too_big), too_big.text


def test_a_browser_cannot_be_made_to_post_with_a_cached_login(api: Api) -> None:
    secret = api.alice.get("/api/v1/me").json()["result_secret"]
    rotate = "/api/v1/me/rotate-secret"
    plain = api.alice.post(rotate, content=b"x=1", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    assert plain.json()["errors"][0]["field"] == "Content-Type"
    cross = api.alice.post(rotate, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert cross.json()["errors"][0]["field"] == "Sec-Fetch-Site"
    old_browser = api.alice.post(rotate, headers={"Origin": "https://evil.example"})
    assert old_browser.status_code == 403
    assert api.alice.get("/api/v1/me").json()["result_secret"] == secret  # nothing rotated
    upload = {"campaign_name": "forged", "start_url": api.webapp.url("/")}
    forged = api.alice.post(
        "/api/v1/campaigns",
        data=upload,
        files={"phone_list": ("l.csv", b"15551234567\n")},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403
    # Programs, and this server's own pages, go on as before.
    assert api.alice.post(rotate).status_code == 200  # a bare POST, as curl -X POST
    assert api.alice.post(rotate, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    same_host = api.alice.post(rotate, headers={"Origin": api.base})
    assert same_host.status_code == 200
    assert (
        api.alice.post(rotate, content=b"", headers={"Content-Type": "text/plain"}).status_code
        == 200
    )
    uploaded = api.alice.post(
        "/api/v1/campaigns", data=upload, files={"phone_list": ("l.csv", b"15551234567\n")}
    )
    assert uploaded.status_code == 201, uploaded.text
    # The Plum services authenticate with their own fields: not guarded.
    plum = api.anonymous.post(
        "/webservice/queuecall.php",
        data={
            "login": "alice",
            "pin": "1111",
            "phone_number": "15551234567",
            "start_url": api.webapp.url("/"),
        },
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert 'status="queued"' in plum.text
