"""vxdial.voicexml.interpreter: unusable documents, failed fetches, script errors, limits.

``run_session`` never raises for them: the session ends with reason "error", the event
and a message a developer can act on; errors inside a running application are events the
application may catch first.
"""

from __future__ import annotations

import pytest

from vxdial import voicexml

from .helpers import START, run, vxml

# Unusable documents and failed fetches


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<vxml version='2.1'><form><block>", "not well-formed XML"),
        ("", "not well-formed XML"),
        ("<html><body>Oops</body></html>", "the root element is <html>, not <vxml>"),
        (vxml("<form><blok/></form>"), "line 3: <blok> is not allowed in <form>"),
        (vxml("<form><block><goto/></block></form>"), "<goto> needs exactly one of next"),
        ("<vxml version='1.0'><form/></vxml>", "VoiceXML version '1.0' is not supported"),
        (vxml("<form><block><if>x</if></block></form>"), "<if> needs a cond attribute"),
    ],
)
async def test_unusable_start_document_is_error_badfetch(body: str, message: str) -> None:
    result = await run(body)
    assert result.end.reason == "error"
    assert result.end.event == "error.badfetch"
    assert message in (result.end.message or "")
    assert START in (result.end.message or "")
    assert result.channel.hung_up  # the call is ended (nothing was said)


async def test_start_fetch_failure_names_the_url_and_reason() -> None:
    fetch_error = voicexml.FetchError("connection refused")
    result = await run({START: fetch_error})
    assert result.end == voicexml.SessionEnd(
        "error", "error.badfetch", f"{START}: connection refused"
    )


async def test_http_status_gives_a_specific_badfetch_event() -> None:
    result = await run({})
    assert result.end.event == "error.badfetch.http.404"
    assert result.end.message == f"{START}: HTTP 404"


async def test_a_failed_transition_is_caught_in_the_document_that_asked() -> None:
    result = await run(
        vxml("""<form>
          <catch event="error.badfetch">could not go: <value expr="_message"/><exit/></catch>
          <block><goto next="missing.vxml"/></block>
        </form>""")
    )
    assert result.heard == ["could not go: line 5: http://app.example/ivr/missing.vxml: HTTP 404"]


async def test_a_bad_target_document_is_caught_in_the_document_that_asked() -> None:
    documents = {
        START: vxml("""<catch event="error.badfetch">caught<exit/></catch>
            <form><block><submit next="next.vxml"/></block></form>"""),
        "http://app.example/ivr/next.vxml": "<vxml><form>",
    }
    assert (await run(documents)).heard == ["caught"]


async def test_goto_to_a_missing_dialog_or_item() -> None:
    result = await run(vxml('<form><block><goto next="#nowhere"/></block></form>'))
    assert result.end.event == "error.badfetch"
    assert "no dialog with id 'nowhere'" in (result.end.message or "")
    result = await run(vxml('<form><block><goto nextitem="nothing"/></block></form>'))
    assert result.end.event == "error.badfetch"
    assert "no form item 'nothing'" in (result.end.message or "")


async def test_object_and_consultation_transfer_throw_error_unsupported() -> None:
    result = await run(vxml('<form><object name="o" classid="x:y"/></form>'))
    assert result.end.event == "error.unsupported.objectname"
    result = await run(
        vxml('<form><transfer name="t" dest="tel:+15550001" type="consultation"/></form>')
    )
    assert result.end.event == "error.unsupported.transfer.consultation"


# Script errors


async def test_script_error_is_error_semantic_with_the_line() -> None:
    result = await run(vxml("<form><block>\n<value expr='nosuch + 1'/></block></form>"))
    assert result.end.reason == "error"
    assert result.end.event == "error.semantic"
    assert result.end.message == "line 4: <value expr>: ReferenceError: nosuch is not defined"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('<var name="x" expr="1 +"/>', "<var>: SyntaxError"),
        ('<assign name="undeclared" expr="1"/>', "<assign>: undeclared is not declared"),
        ('<assign name="session.call_id" expr="1"/>', "session.call_id is read-only"),
        ('<if cond="(">x</if>', "<if>: SyntaxError"),
        ("<script>throw new Error('boom');</script>", "<script>: Error: boom"),
        ('<exit namelist="nosuch"/>', "<exit>: ReferenceError: nosuch is not defined"),
    ],
)
async def test_script_errors_in_elements(content: str, message: str) -> None:
    result = await run(vxml(f"<form><block>{content}</block></form>"))
    assert result.end.event == "error.semantic"
    assert message in (result.end.message or "")


async def test_script_errors_can_be_caught() -> None:
    result = await run(
        vxml("""<catch event="error.semantic">recovered<exit/></catch>
          <var name="x" expr="nosuch()"/><form><block>never</block></form>""")
    )
    assert result.heard == ["recovered"]
    assert result.end.reason == "exit"


async def test_guard_condition_error_is_handled_at_form_level() -> None:
    result = await run(
        vxml("""<form><catch event="error.semantic"><value expr="_message"/><exit/></catch>
          <block cond="nosuch">never</block></form>""")
    )
    assert result.heard == ["line 4: <block cond>: ReferenceError: nosuch is not defined"]


# Limits


async def test_runaway_script_is_stopped_by_the_time_limit() -> None:
    limits = voicexml.Limits(script_time_s=0.05)
    body = vxml("""<catch event="error">caught<exit/></catch>
      <form><block>before<script>while (true) {}</script></block></form>""")
    result = await run(body, limits=limits)  # the loop never ends: only the limit stops it
    assert result.end.reason == "error"
    assert result.end.event == "error.semantic"
    assert result.end.message == "limit exceeded: a script ran longer than 0.05 s"
    assert result.heard == []  # not catchable; the queue is dropped
    assert result.channel.hung_up


async def test_runaway_memory_is_stopped_by_the_memory_limit() -> None:
    limits = voicexml.Limits(script_memory_bytes=4 * 1024 * 1024)
    body = vxml("""<var name="a" expr="[]"/>
      <form><block><script>while (true) a.push({n: a.length});</script></block></form>""")
    result = await run(body, limits=limits)
    assert result.end.event == "error.semantic"
    assert result.end.message == "limit exceeded: scripts used more than 4 MiB"


async def test_goto_loop_between_documents_is_stopped() -> None:
    documents = {
        START: vxml('<form><block><goto next="b.vxml"/></block></form>'),
        "http://app.example/ivr/b.vxml": vxml(
            '<form><block><goto next="start.vxml"/></block></form>'
        ),
    }
    result = await run(documents, limits=voicexml.Limits(max_documents=10))
    assert result.end.event == "error.semantic"
    assert "more than 10 documents" in (result.end.message or "")
    assert len(result.fetcher.requests) == 10


async def test_endless_loop_inside_a_document_is_stopped() -> None:
    body = vxml('<form id="again"><block>loop<goto next="#again"/></block></form>')
    result = await run(body, limits=voicexml.Limits(max_steps=200))
    assert result.end.event == "error.semantic"
    assert "more than 200 interpreter steps" in (result.end.message or "")
    assert result.heard == []


async def test_endless_event_loop_is_stopped() -> None:
    body = vxml(
        '<catch event="e"><throw event="e"/></catch><form><block><throw event="e"/></block></form>'
    )
    result = await run(body, limits=voicexml.Limits(max_steps=100))
    assert "interpreter steps" in (result.end.message or "")


async def test_endless_noinput_loop_with_a_silent_caller_is_stopped() -> None:
    body = vxml('<form><field name="f" type="boolean"><prompt>hello?</prompt></field></form>')
    result = await run(body, limits=voicexml.Limits(max_steps=50))
    assert result.end.reason == "error"
    assert 10 < len(result.channel.collects) < 50


async def test_a_document_over_max_document_bytes_is_a_badfetch() -> None:
    """Issue 12, item 8 ([voicexml] max_document_bytes): the body is refused before it is
    parsed, naming the limit; one byte less is fine."""
    small = vxml("<form><block>fits</block></form>")
    limit = len(small.encode())
    done = await run(small, limits=voicexml.Limits(max_document_bytes=limit))
    assert done.end.reason == "end" and done.heard == ["fits"]
    over = await run(small, limits=voicexml.Limits(max_document_bytes=limit - 1))
    assert (over.end.reason, over.end.event) == ("error", "error.badfetch")
    assert f"more than the limit of {limit - 1} (max_document_bytes)" in (over.end.message or "")


@pytest.mark.parametrize(
    "element",
    [
        '<goto next="http://[x/next.vxml"/>',
        '<submit next="http://[x/next.vxml"/>',
        '<data name="d" src="http://[x/data.xml"/>',
        '<script src="http://[x/s.js"/>',
    ],
)
async def test_a_uri_the_parser_refuses_is_a_catchable_badfetch(element: str) -> None:
    """VoiceXML 2.0 section 5.2.6: a URI that cannot be fetched is error.badfetch, which
    the application may catch; ``http://[x`` made urljoin raise, ending the session
    without an event (and, before the dialer's safety net, as a failed dial)."""
    done = await run(
        vxml(
            "<var name='d'/><catch event='error.badfetch'><prompt>caught</prompt></catch>"
            f"<form><block>{element}</block></form>"
        )
    )
    assert done.heard == ["caught"]
    assert done.end.reason == "end"
