"""vxdial.voicexml.start: the start document's POST falls back to GET when the server
refuses the method (405, 501: RFC 9110 sections 15.5.6 and 15.6.2)."""

from __future__ import annotations

import pytest

from tests.unit.voicexml.helpers import SESSION, vxml
from vxdial import voicexml
from vxdial.voicexml.start import StartFetcher, with_query
from vxdial.voicexml.testing import MemoryFetcher, ScriptedChannel

START = "http://app.example/static/start.vxml"
FIELDS = {"call_id": "7", "message_reference": "ACCT 0042 & co", "call_parameters": "a=b\r\nc"}
HELLO = vxml("<form><block>Hello from a static server.</block></form>")


def static_server(status: int) -> MemoryFetcher:
    """A server that answers a POST of START with ``status`` and a GET with the document."""

    def answer(request: voicexml.FetchRequest) -> str:
        if request.method == "POST":
            raise voicexml.FetchError(f"HTTP {status}", status=status)
        return HELLO

    fetcher = MemoryFetcher()
    fetcher.documents[START] = answer
    fetcher.documents[with_query(START, FIELDS)] = answer
    return fetcher


async def run_start(
    fetcher: MemoryFetcher, start: voicexml.FetchRequest
) -> tuple[voicexml.SessionEnd, ScriptedChannel, list[tuple[int, str]]]:
    fallbacks: list[tuple[int, str]] = []
    channel = ScriptedChannel()
    end = await voicexml.run_session(
        start,
        channel=channel,
        fetcher=StartFetcher(fetcher, start, lambda status, url: fallbacks.append((status, url))),
        session=SESSION,
    )
    return end, channel, fallbacks


@pytest.mark.parametrize("status", [405, 501])
async def test_a_refused_post_is_fetched_again_with_get_and_the_fields_in_the_query(
    status: int,
) -> None:
    fetcher = static_server(status)
    end, channel, fallbacks = await run_start(fetcher, voicexml.FetchRequest(START, "POST", FIELDS))
    assert end.reason == "end"
    assert channel.heard == ["Hello from a static server."]
    get_url = f"{START}?call_id=7&message_reference=ACCT+0042+%26+co&call_parameters=a%3Db%0D%0Ac"
    assert fallbacks == [(status, get_url)]
    assert [(r.method, r.url, r.data) for r in fetcher.requests] == [
        ("POST", START, FIELDS),
        ("GET", get_url, None),
    ]


@pytest.mark.parametrize("status", [404, 500, 403])
async def test_other_failures_of_the_post_stand(status: int) -> None:
    fetcher = static_server(status)
    end, _, fallbacks = await run_start(fetcher, voicexml.FetchRequest(START, "POST", FIELDS))
    assert (end.reason, end.event) == ("error", f"error.badfetch.http.{status}")
    assert fallbacks == []
    assert [r.method for r in fetcher.requests] == ["POST"]


async def test_a_start_fetched_with_get_is_left_alone() -> None:
    fetcher = static_server(501)
    end, channel, fallbacks = await run_start(fetcher, voicexml.FetchRequest(START))
    assert end.reason == "end" and channel.heard == ["Hello from a static server."]
    assert fallbacks == []
    assert [(r.method, r.url) for r in fetcher.requests] == [("GET", START)]


async def test_only_the_start_request_falls_back_not_the_applications_own_posts() -> None:
    """A ``<submit method="post">`` of the application to a server refusing POST is the
    application's error.badfetch, even to the start URL itself."""
    fetcher = MemoryFetcher()
    posts = 0

    def answer(request: voicexml.FetchRequest) -> str:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            raise voicexml.FetchError("HTTP 405", status=405)
        return vxml(
            f"""<form><block>Once.
            <submit next="{START}" method="post" namelist="x"/></block>
            <var name="x" expr="1"/></form>"""
        )

    fetcher.documents[START] = answer
    fetcher.documents[with_query(START, FIELDS)] = answer
    end, channel, fallbacks = await run_start(fetcher, voicexml.FetchRequest(START, "POST", FIELDS))
    assert len(fallbacks) == 1
    assert channel.heard == ["Once."]
    assert (end.reason, end.event) == ("error", "error.badfetch.http.405")
    assert posts == 2


async def test_the_fragment_of_the_start_url_still_names_the_dialog() -> None:
    fetcher = MemoryFetcher()
    document = vxml(
        '<form id="first"><block>First.</block></form>'
        '<form id="second"><block>Second.</block></form>'
    )

    def answer(request: voicexml.FetchRequest) -> str:
        if request.method == "POST":
            raise voicexml.FetchError("HTTP 501", status=501)
        return document

    fetcher.documents[START] = answer
    fetcher.documents[f"{START}?call_id=7"] = answer
    end, channel, fallbacks = await run_start(
        fetcher, voicexml.FetchRequest(f"{START}#second", "POST", {"call_id": "7"})
    )
    assert channel.heard == ["Second."] and end.reason == "end"
    assert [status for status, _ in fallbacks] == [501]


def test_with_query_keeps_the_query_and_the_fragment() -> None:
    assert with_query("http://h/a.vxml", {}) == "http://h/a.vxml"
    assert with_query("http://h/a.vxml", {"a": "1 2"}) == "http://h/a.vxml?a=1+2"
    assert with_query("http://h/a.vxml?x=1", {"a": "+"}) == "http://h/a.vxml?x=1&a=%2B"
    assert with_query("http://h/a.vxml?", {"a": "é"}) == "http://h/a.vxml?a=%C3%A9"
    assert with_query("http://h/a.vxml?x=1#f", {"a": "1"}) == "http://h/a.vxml?x=1&a=1#f"
