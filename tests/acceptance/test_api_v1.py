"""The JSON API v1 through real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import make_settings
from tests.support.servers import serve_in_thread
from tests.support.webapp import WebApp
from vxdial.app import accounts_for, open_store
from vxdial.config import AuthSettings


@dataclass
class Api:
    base: str
    webapp: WebApp
    alice: httpx.Client
    bob: httpx.Client
    anonymous: httpx.Client


@pytest.fixture
def api(database_url: str, webapp: WebApp) -> Iterator[Api]:
    settings = make_settings(
        database_url, auth=AuthSettings(max_failures_per_login=3, failure_window_s=60)
    )
    store = open_store(settings)
    accounts = accounts_for(store, settings)
    accounts.add_sender("alice", "1111")
    accounts.add_sender("bob", "2222")
    store.close()
    with serve_in_thread(settings) as base:
        clients = [
            httpx.Client(base_url=base, auth=("alice", "1111"), timeout=30),
            httpx.Client(base_url=base, auth=("bob", "2222"), timeout=30),
            httpx.Client(base_url=base, timeout=30),
        ]
        yield Api(base, webapp, *clients)
        for client in clients:
            client.close()


def new_call(api: Api, **fields: object) -> dict[str, object]:
    return {"phone_number": "15551234567", "start_url": api.webapp.url("/start.vxml"), **fields}


def test_me(api: Api) -> None:
    me = api.alice.get("/api/v1/me").json()
    assert me["login"] == "alice" and me["role"] == "sender" and me["enabled"] is True
    assert len(me["result_secret"]) == 64


def test_create_and_read_a_call(api: Api) -> None:
    response = api.alice.post(
        "/api/v1/calls",
        json=new_call(
            api,
            phone_number="tel:+1-555-123-4567;ani=15557654321;postd=1p2",
            result_url=api.webapp.url("/result"),
            message_reference="appointment-42",
            call_parameters="name=Pat",
            max_retries=3,
            retry_interval=120,
            expiration_time="+3 days",
        ),
    )
    assert response.status_code == 201, response.text
    call = response.json()
    assert response.headers["location"] == f"/api/v1/calls/{call['id']}"
    assert call["phone_number"] == "15551234567"
    assert (call["ani"], call["postd"]) == ("15557654321", "1p2")
    assert call["state"] == "queued" and call["attempts"] == 0
    assert call["campaign_name"] == "default"
    assert call["settings"]["max_retries"] == 3
    assert call["settings"]["retry_interval"] == 120
    assert call["settings"]["expires_at"] is not None
    assert api.alice.get(f"/api/v1/calls/{call['id']}").json() == call
    # The start_url and result_url were each checked with one GET.
    assert len(api.webapp.seen("/start.vxml", "GET")) == 1
    assert len(api.webapp.seen("/result", "GET")) == 1


def test_invalid_fields_are_listed_with_422(api: Api) -> None:
    response = api.alice.post(
        "/api/v1/calls",
        json=new_call(api, phone_number="12", max_retries=11, scheduled_time="blah", extra=1),
    )
    assert response.status_code == 422
    fields = [problem["field"] for problem in response.json()["errors"]]
    assert fields == ["extra"]  # unknown fields are refused before anything else
    response = api.alice.post(
        "/api/v1/calls", json=new_call(api, phone_number="12", max_retries=11)
    )
    assert response.status_code == 422
    problems = {p["field"]: p["reason"] for p in response.json()["errors"]}
    assert problems["phone_number"].startswith('"12" is not a valid phone number')
    assert problems["max_retries"] == 'must be an integer from 0 to 10, not "11"'


def test_start_url_must_answer(api: Api) -> None:
    api.webapp.statuses["/gone"] = 404
    response = api.alice.post(
        "/api/v1/calls", json=new_call(api, start_url=api.webapp.url("/gone"))
    )
    assert response.status_code == 422
    [problem] = response.json()["errors"]
    assert problem["field"] == "start_url"
    assert "HTTP 404" in problem["reason"]


def test_idempotency_key(api: Api) -> None:
    body = new_call(api, message_reference="once")
    headers = {"Idempotency-Key": "order-1"}
    first = api.alice.post("/api/v1/calls", json=body, headers=headers)
    again = api.alice.post("/api/v1/calls", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = api.alice.post(
        "/api/v1/calls", json={**body, "message_reference": "twice"}, headers=headers
    )
    assert other.status_code == 409
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    # The same key is another sender's own.
    assert api.bob.post("/api/v1/calls", json=body, headers=headers).status_code == 201
    listed = api.alice.get("/api/v1/calls").json()["items"]
    assert [c["message_reference"] for c in listed] == ["once"]


def test_idempotency_key_under_concurrency(api: Api) -> None:
    body = new_call(api, message_reference="race")
    headers = {"Idempotency-Key": "race-1"}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(
                lambda _: api.alice.post("/api/v1/calls", json=body, headers=headers), range(8)
            )
        )
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert all(r.status_code in (201, 409) for r in responses)
    assert len(api.alice.get("/api/v1/calls").json()["items"]) == 1


def test_a_failed_request_frees_its_key(api: Api) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    bad = api.alice.post("/api/v1/calls", json=new_call(api, phone_number="12"), headers=headers)
    assert bad.status_code == 422
    api.webapp.statuses["/flaky"] = 500
    failed = api.alice.post(
        "/api/v1/calls", json=new_call(api, start_url=api.webapp.url("/flaky")), headers=headers
    )
    assert failed.status_code == 422
    good = api.alice.post("/api/v1/calls", json=new_call(api), headers=headers)
    assert good.status_code == 201


def test_pages_of_calls(api: Api) -> None:
    ids = [
        api.alice.post("/api/v1/calls", json=new_call(api, message_reference=str(i))).json()["id"]
        for i in range(5)
    ]
    seen: list[int] = []
    after = 0
    while True:
        page = api.alice.get("/api/v1/calls", params={"limit": 2, "after": after}).json()
        seen += [c["id"] for c in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == ids
    assert api.alice.get("/api/v1/calls", params={"limit": 0}).status_code == 422
    assert api.alice.get("/api/v1/calls", params={"state": "nonsense"}).status_code == 422
    queued = api.alice.get("/api/v1/calls", params={"state": "queued"}).json()["items"]
    assert len(queued) == 5


def test_upload_a_campaign(api: Api) -> None:
    phone_list = b"15551230001,a\n12\n15551230002,b,c\n\n1555123,x\n"
    response = api.alice.post(
        "/api/v1/campaigns",
        data={
            "campaign_name": "spring",
            "start_url": api.webapp.url("/start.vxml"),
            "max_retries": "2",
        },
        files={"phone_list": ("list.csv", phone_list, "text/csv")},
    )
    assert response.status_code == 201, response.text
    campaign = response.json()
    assert campaign["name"] == "spring" and campaign["total"] == 2
    assert campaign["lines_rejected"] == 2
    assert campaign["counts"]["queued"] == 2
    assert campaign["settings"]["max_retries"] == 2
    rejected = api.alice.get(f"/api/v1/campaigns/{campaign['id']}/rejections").json()
    assert [r["line"] for r in rejected["items"]] == [2, 5]
    calls = api.alice.get(f"/api/v1/campaigns/{campaign['id']}/calls").json()["items"]
    assert [(c["line"], c["message_reference"], c["call_parameters"]) for c in calls] == [
        (1, "a", None),
        (3, "b", "c"),
    ]
    names = [c["name"] for c in api.alice.get("/api/v1/campaigns").json()["items"]]
    assert names == ["default", "spring"]
    clash = api.alice.post(
        "/api/v1/campaigns",
        data={"campaign_name": "spring", "start_url": api.webapp.url("/start.vxml")},
        files={"phone_list": ("list.csv", phone_list, "text/csv")},
    )
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "campaign_name"


def test_upload_with_no_good_line(api: Api) -> None:
    response = api.alice.post(
        "/api/v1/campaigns",
        data={"campaign_name": "bad", "start_url": api.webapp.url("/start.vxml")},
        files={"phone_list": ("list.csv", b"12\nabc\n", "text/csv")},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "phone_list"
    assert [r["line"] for r in body["rejected"]] == [1, 2]
    names = [c["name"] for c in api.alice.get("/api/v1/campaigns").json()["items"]]
    assert names == ["default"]


def test_campaign_upload_idempotency(api: Api) -> None:
    def upload(content: bytes) -> httpx.Response:
        return api.alice.post(
            "/api/v1/campaigns",
            data={"campaign_name": "once", "start_url": api.webapp.url("/start.vxml")},
            files={"phone_list": ("list.csv", content, "text/csv")},
            headers={"Idempotency-Key": "upload-1"},
        )

    first = upload(b"15551230001\n15551230002\n")
    again = upload(b"15551230001\n15551230002\n")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert upload(b"15551230009\n").status_code == 409


def test_senders_are_isolated(api: Api) -> None:
    call = api.alice.post("/api/v1/calls", json=new_call(api)).json()
    assert api.bob.get(f"/api/v1/calls/{call['id']}").status_code == 404
    assert api.bob.get(f"/api/v1/campaigns/{call['campaign_id']}").status_code == 404
    assert api.bob.get(f"/api/v1/campaigns/{call['campaign_id']}/calls").status_code == 404
    assert api.bob.get(f"/api/v1/campaigns/{call['campaign_id']}/rejections").status_code == 404
    assert api.bob.get("/api/v1/calls").json()["items"] == []
    bob_campaigns = api.bob.get("/api/v1/campaigns").json()["items"]
    assert [c["id"] for c in bob_campaigns] != [call["campaign_id"]]
    assert all(c["total"] == 0 for c in bob_campaigns)
    filtered = api.bob.get("/api/v1/calls", params={"campaign_id": call["campaign_id"]})
    assert filtered.json()["items"] == []


def test_authentication(api: Api) -> None:
    missing = api.anonymous.get("/api/v1/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Basic realm="vxdial"'
    wrong_pin = api.anonymous.get("/api/v1/me", auth=("alice", "9999"))
    wrong_login = api.anonymous.get("/api/v1/me", auth=("nobody", "1111"))
    assert wrong_pin.status_code == wrong_login.status_code == 401
    assert wrong_pin.json() == wrong_login.json()
    for _ in range(2):
        api.anonymous.get("/api/v1/me", auth=("alice", "9999"))
    throttled = api.anonymous.get("/api/v1/me", auth=("alice", "1111"))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0


def test_operations_endpoints(api: Api) -> None:
    health = httpx.get(f"{api.base}/healthz")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    api.alice.post("/api/v1/calls", json=new_call(api))
    metrics = httpx.get(f"{api.base}/metrics").text
    assert "vxdial_intake_calls_queued_total 1.0" in metrics
    spec = httpx.get(f"{api.base}/openapi.json").json()
    for path in (
        "/api/v1/calls",
        "/api/v1/calls/{call_id}",
        "/api/v1/campaigns",
        "/api/v1/campaigns/{campaign_id}/calls",
        "/api/v1/me",
    ):
        assert path in spec["paths"]
    assert "Idempotency-Key" in str(spec["paths"]["/api/v1/calls"]["post"]["parameters"])
