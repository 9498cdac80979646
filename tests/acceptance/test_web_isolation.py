"""No page shows another sender's data, on SQLite and PostgreSQL: every GET and POST route
of the web interface that names a campaign or a call answers 404 to another sender and
changes nothing; the admin's routes are refused to senders and the senders' to the admin;
without a session every route leads to the login form.

The routes are read from the application, so a route added later without a case here
fails ``test_every_route_is_covered``.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from tests.acceptance.web_support import (
    ADMIN_PIN,
    ALICE,
    ALICE_PIN,
    BOB,
    BOB_PIN,
    Web,
    parse,
    text_of,
)
from vxdial.web import admin as web_admin
from vxdial.web import routes as web_routes

# Route templates (as the application declares them) -> a concrete path, with NAME and
# ID replaced by alice's campaign and call.
SENDER_ROUTES_WITH_IDS = {
    ("GET", "/web/campaigns/{name:path}"): "/web/campaigns/NAME",
    ("GET", "/web/campaigns/{name:path}/live.json"): "/web/campaigns/NAME/live.json",
    ("GET", "/web/campaigns/{name:path}/export.csv"): "/web/campaigns/NAME/export.csv",
    ("POST", "/web/campaigns/{name:path}/pause"): "/web/campaigns/NAME/pause",
    ("POST", "/web/campaigns/{name:path}/resume"): "/web/campaigns/NAME/resume",
    ("POST", "/web/campaigns/{name:path}/cancel"): "/web/campaigns/NAME/cancel",
    ("GET", "/web/calls/{call_id}"): "/web/calls/ID",
    ("GET", "/web/live/calls/{call_id}.json"): "/web/live/calls/ID.json",
    ("POST", "/web/calls/{call_id}/cancel"): "/web/calls/ID/cancel",
}
SENDER_ROUTES = {
    ("GET", "/web/campaigns"),
    ("GET", "/web/live/campaigns.json"),
    ("GET", "/web/upload"),
    ("POST", "/web/upload"),
    ("GET", "/web/settings"),
    ("POST", "/web/settings/rotate-secret"),
}
OPEN_ROUTES = {  # before login, or for any account
    ("GET", "/"),
    ("GET", "/web"),
    ("GET", "/web/"),
    ("GET", "/web/login"),
    ("POST", "/web/login"),
    ("POST", "/web/logout"),
}
ADMIN_ROUTES = {
    ("GET", "/web/admin/senders"): "/web/admin/senders",
    ("POST", "/web/admin/senders"): "/web/admin/senders",
    ("POST", "/web/admin/senders/{login}/disable"): "/web/admin/senders/bob/disable",
    ("POST", "/web/admin/senders/{login}/enable"): "/web/admin/senders/bob/enable",
    ("POST", "/web/admin/senders/{login}/pin"): "/web/admin/senders/bob/pin",
    ("POST", "/web/admin/senders/{login}/lines"): "/web/admin/senders/bob/lines",
    ("GET", "/web/admin/lines"): "/web/admin/lines",
    ("POST", "/web/admin/suspend"): "/web/admin/suspend",
    ("POST", "/web/admin/resume"): "/web/admin/resume",
    ("GET", "/web/admin/audit"): "/web/admin/audit",
}

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL


def test_every_route_is_covered() -> None:
    declared = {
        (method, route.path)
        for router in (web_routes.router, web_admin.router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    covered = set(SENDER_ROUTES_WITH_IDS) | SENDER_ROUTES | OPEN_ROUTES | set(ADMIN_ROUTES)
    assert declared == covered


def alice_campaign_and_call(web: Web) -> tuple[str, int]:
    api = web.api(ALICE, ALICE_PIN)
    response = api.post(
        "/api/v1/campaigns",
        data={"campaign_name": "alice secret plan", "start_url": web.start_url},
        files={"phone_list": ("list.csv", b"15552000001,alice-ref\n15552000002\n", "text/csv")},
    )
    assert response.status_code == 201, response.text
    campaign_id = response.json()["id"]
    calls = api.get(f"/api/v1/campaigns/{campaign_id}/calls").json()["items"]
    return "alice%20secret%20plan", calls[0]["id"]


def test_another_senders_campaign_or_call_is_404_everywhere(web: Web) -> None:
    name, call_id = alice_campaign_and_call(web)
    bob = web.logged_in(BOB, BOB_PIN)
    # Bob has a campaign of the same name too: still not alice's.
    for template, path in SENDER_ROUTES_WITH_IDS.items():
        method = template[0]
        concrete = path.replace("NAME", name).replace("ID", str(call_id))
        response = bob.get(concrete) if method == "GET" else bob.post(concrete)
        assert response.status_code == 404, (template, response.status_code)
        assert "alice-ref" not in response.text and "15552000001" not in response.text
        if not concrete.endswith(".json"):
            assert "404" in text_of(parse(response).xpath("//main")[0])
    # Nothing of alice's changed.
    alice = web.logged_in(ALICE, ALICE_PIN)
    live = alice.get(f"/web/campaigns/{name}/live.json").json()
    assert live["state"] == "active" and live["counts"]["queued"] == 2
    assert alice.get(f"/web/live/calls/{call_id}.json").json()["state"] == "queued"
    # And bob's own pages list nothing of alice's.
    for path in ("/web/campaigns", "/web/live/campaigns.json", "/web/campaigns/default"):
        response = bob.get(path)
        assert response.status_code == 200
        assert "alice secret plan" not in response.text and "alice-ref" not in response.text


def test_a_campaign_of_the_same_name_is_the_senders_own(web: Web) -> None:
    name, _ = alice_campaign_and_call(web)
    response = web.api(BOB, BOB_PIN).post(
        "/api/v1/campaigns",
        data={"campaign_name": "alice secret plan", "start_url": web.start_url},
        files={"phone_list": ("list.csv", b"15553000001,bob-ref\n", "text/csv")},
    )
    assert response.status_code == 201
    bob = web.logged_in(BOB, BOB_PIN)
    page = bob.get(f"/web/campaigns/{name}")
    assert "bob-ref" in page.text and "alice-ref" not in page.text
    export = bob.get(f"/web/campaigns/{name}/export.csv")
    assert "bob-ref" in export.text and "alice-ref" not in export.text


def test_admin_routes_are_refused_to_senders_and_sender_routes_to_the_admin(web: Web) -> None:
    alice = web.logged_in(ALICE, ALICE_PIN)
    for (method, _), path in ADMIN_ROUTES.items():
        response = alice.get(path) if method == "GET" else alice.post(path, {"lines": "1"})
        assert response.status_code == 403, path
        assert "for the administrator" in text_of(parse(response).xpath("//main")[0])
    assert web.api(BOB, BOB_PIN).get("/api/v1/me").json()["enabled"] is True
    admin = web.logged_in("admin", ADMIN_PIN)
    name, call_id = alice_campaign_and_call(web)
    sender_paths = [
        (m, p.replace("NAME", name).replace("ID", str(call_id)))
        for (m, _), p in SENDER_ROUTES_WITH_IDS.items()
    ] + [(m, p) for m, p in SENDER_ROUTES]
    for method, path in sender_paths:
        response = admin.get(path) if method == "GET" else admin.post(path)
        assert response.status_code == 403, path


def test_without_a_session_every_route_leads_to_login(web: Web) -> None:
    name, call_id = alice_campaign_and_call(web)
    anonymous = web.browser()
    paths = [
        (m, p.replace("NAME", name).replace("ID", str(call_id)))
        for (m, _), p in SENDER_ROUTES_WITH_IDS.items()
    ]
    paths += list(SENDER_ROUTES) + [(m, p) for (m, _), p in ADMIN_ROUTES.items()]
    paths.append(("POST", "/web/logout"))
    for method, path in paths:
        response = anonymous.get(path) if method == "GET" else anonymous.post(path, csrf=False)
        if path.endswith(".json"):
            assert response.status_code == 401, path
        else:
            assert response.status_code == 303, path
            assert response.headers["location"] == "/web/login"
    assert web.api(ALICE, ALICE_PIN).get("/api/v1/me").status_code == 200
