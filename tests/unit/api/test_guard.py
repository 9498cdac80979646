"""The API's browser guard decides from a request's method, headers and path alone."""

from __future__ import annotations

import pytest

from vxdial.api.v1.guard import refused


def scope(method: str, path: str = "/api/v1/me/rotate-secret", **headers: str) -> dict[str, object]:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": method, "path": path, "headers": raw}


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl -X POST
        {"host": "vx.example:8080", "origin": "http://vx.example:8080"},
        {"sec_fetch_site": "same-origin", "origin": "http://other.example"},  # behind a proxy
        {"sec_fetch_site": "none"},
        {"content_type": "text/plain", "content_length": "0"},  # urllib's empty POST
        {"content_type": "application/json", "content_length": "2"},
    ],
)
def test_programs_and_this_servers_pages_pass(headers: dict[str, str]) -> None:
    assert refused(scope("POST", **headers)) is None


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"sec_fetch_site": "cross-site"}, 403),
        ({"sec_fetch_site": "same-site"}, 403),
        ({"host": "vx.example", "origin": "https://evil.example"}, 403),
        ({"host": "vx.example", "origin": "null"}, 403),
        ({"content_type": "text/plain", "content_length": "3"}, 415),
        (
            {"content_type": "application/x-www-form-urlencoded", "transfer_encoding": "chunked"},
            415,
        ),
        ({"content_type": "multipart/form-data; boundary=x", "content_length": "9"}, 415),
    ],
)
def test_what_a_browser_sends_from_another_site_is_refused(
    headers: dict[str, str], status: int
) -> None:
    found = refused(scope("POST", **headers))
    assert found is not None and found[0] == status


def test_only_the_campaign_upload_takes_multipart_and_reads_are_never_refused() -> None:
    multipart = {"content_type": "multipart/form-data; boundary=x", "content_length": "9"}
    assert refused(scope("POST", "/api/v1/campaigns", **multipart)) is None
    text = {"content_type": "text/plain", "content_length": "9"}
    assert refused(scope("POST", "/api/v1/campaigns", **text)) is not None
    assert refused(scope("GET", sec_fetch_site="cross-site")) is None
    assert refused(scope("DELETE", "/api/v1/calls/1", sec_fetch_site="cross-site")) is not None
