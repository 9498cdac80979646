"""vxdial.voicexml.interpreter: throwing and catching events (VoiceXML 2.0 section 5.2),
the default handlers, and the caller hanging up."""

from __future__ import annotations

from vxdial import voicexml

from .helpers import START, heard, run, vxml

# Throw and catch


async def test_throw_and_catch_with_event_and_message_variables() -> None:
    said = await heard("""<form>
        <catch event="app.problem">caught <value expr="_event"/> / <value expr="_message"/>
          <exit/></catch>
        <block><throw event="app.problem.minor" message="it broke"/></block>
      </form>""")
    assert said == ["caught app.problem.minor / it broke"]


async def test_throw_eventexpr_and_messageexpr_and_undefined_message() -> None:
    said = await heard("""<form>
        <catch event="a"><value expr="_event"/> <value expr="_message"/></catch>
        <catch event="b"><value expr="typeof _message"/><exit/></catch>
        <block><throw eventexpr="'a'" messageexpr="'m' + 1"/></block>
        <block><throw event="b"/></block>
      </form>""")
    assert said == ["a m1", "undefined"]


async def test_the_innermost_scope_wins_then_document_order() -> None:
    body = """
      <catch event="e">document</catch>
      <form>
        <catch event="e">form first</catch>
        <catch event="e">form second</catch>
        <field name="f" type="boolean">
          {item}
          <prompt>ask</prompt>
          <filled><throw event="e"/></filled>
        </field>
      </form>"""
    assert await heard(body.format(item='<catch event="e">field</catch>'), ["1"]) == [
        "ask",
        "field",
    ]
    assert await heard(body.format(item=""), ["1"]) == ["ask", "form first"]


async def test_document_level_catch_for_an_event_in_a_form_item() -> None:
    said = await heard("""
      <catch event="e">document<exit/></catch>
      <form><catch event="other">no</catch><block><throw event="e"/></block></form>""")
    assert said == ["document"]


async def test_prefix_matching_takes_whole_tokens_and_catch_all() -> None:
    said = await heard("""<form>
        <catch event="err">no: err does not catch error</catch>
        <catch event="error.semantic. app">prefix (<value expr="_event"/>)</catch>
        <catch>catch-all (<value expr="_event"/>)</catch>
        <block><throw event="error.semantic.detail"/></block>
        <block><throw event="application.thing"/></block>
        <block><throw event="app"/></block>
      </form>""")
    assert said == [
        "prefix (error.semantic.detail)",
        "catch-all (application.thing)",
        "prefix (app)",
    ]


async def test_cond_false_removes_a_catch() -> None:
    said = await heard("""<form>
        <var name="strict" expr="false"/>
        <catch event="e" cond="strict">strict</catch>
        <catch event="e">lenient</catch>
        <block><throw event="e"/></block>
      </form>""")
    assert said == ["lenient"]


async def test_count_selects_the_highest_count_not_above_the_counter() -> None:
    body = vxml("""<form><field name="f" type="boolean">
        <noinput>first</noinput>
        <noinput count="2">second</noinput>
        <noinput count="3">third<reprompt/></noinput>
        <noinput count="5">fifth<exit/></noinput>
        <prompt>ask</prompt>
      </field></form>""")
    result = await run(body, [])
    assert result.heard == ["ask", "first", "second", "third", "ask", "third", "ask", "fifth"]


async def test_a_count_in_an_outer_scope_beats_a_lower_count_in_an_inner_one() -> None:
    # Correct count first (the highest not above the counter), scope order second.
    body = vxml("""
      <catch event="noinput" count="2">document second<exit/></catch>
      <form><field name="f" type="boolean">
        <noinput>field first</noinput>
      </field></form>""")
    result = await run(body, [])
    assert result.heard == ["field first", "document second"]


async def test_counters_count_every_prefix_of_the_event_name() -> None:
    # 5.2.2: "error.badfetch" then "error.semantic" make the second "error".
    said = await heard("""<form>
        <catch event="error">any error (<value expr="_event"/>)</catch>
        <catch event="error" count="2">second error (<value expr="_event"/>)<exit/></catch>
        <block name="a"><throw event="error.badfetch"/></block>
        <block name="b"><throw event="error.semantic"/></block>
      </form>""")
    # Each block is its own form item: item counters start at zero for b.
    assert said == ["any error (error.badfetch)", "any error (error.semantic)"]
    said = await heard(
        """<form>
        <var name="round" expr="0"/>
        <catch event="error">any error (<value expr="_event"/>)</catch>
        <catch event="error" count="2">second error (<value expr="_event"/>)<exit/></catch>
        <field name="f" type="boolean">
          <filled><assign name="round" expr="round + 1"/><assign name="f" expr="undefined"/>
            <if cond="round == 1"><throw event="error.badfetch"/>
            <else/><throw event="error.semantic"/></if></filled>
        </field>
      </form>""",
        ["1", "1"],
    )
    assert said == ["any error (error.badfetch)", "second error (error.semantic)"]


async def test_item_counters_persist_while_the_form_is_visited_and_reset_on_entry() -> None:
    said = await heard("""<form id="f">
        <var name="entered" expr="0"/>
        <catch event="noinput" count="2">second noinput, leave<goto next="#g"/></catch>
        <field name="x" type="boolean"><prompt>x</prompt><noinput>first noinput</noinput></field>
      </form>
      <form id="g">
        <var name="back" expr="false"/>
        <block><if cond="!document.returned"><assign name="document.returned" expr="true"/>
          <goto next="#f"/></if><exit/></block>
      </form>
      <var name="returned" expr="false"/>""")
    # Entering form f again resets its counters: "first noinput" is heard again.
    assert said == [
        "x",
        "first noinput",
        "second noinput, leave",
        "x",
        "first noinput",
        "second noinput, leave",
    ]


async def test_catch_with_several_event_names() -> None:
    said = await heard(
        """<form><field name="f" type="boolean"><prompt>ask</prompt>
          <catch event="noinput nomatch">again (<value expr="_event"/>)</catch>
          <filled>ok</filled></field></form>""",
        [None, "7", "1"],
    )
    assert said == ["ask", "again (noinput)", "again (nomatch)", "ok"]


async def test_an_event_thrown_by_a_handler_is_handled_in_turn() -> None:
    said = await heard("""<form>
        <catch event="one">one<throw event="two"/></catch>
        <catch event="two">two</catch>
        <block><throw event="one"/></block>
        <block>after</block>
      </form>""")
    assert said == ["one", "two", "after"]


async def test_after_a_handler_the_fia_goes_on_with_the_next_unfilled_item() -> None:
    said = await heard("""<form>
        <catch event="e">handled</catch>
        <block>a<throw event="e"/>never</block>
        <block>b</block>
      </form>""")
    assert said == ["a", "handled", "b"]


async def test_goto_nextitem_from_a_catch_without_reprompt_queues_no_prompts() -> None:
    # The FIA: prompts are not queued when the last iteration ended in a catch that had
    # no <reprompt> (and the dialog did not change).
    body = """<form>
        <field name="a" type="boolean"><prompt>first</prompt>
          <noinput>skip{reprompt}<goto nextitem="b"/></noinput></field>
        <field name="b" type="boolean"><prompt>second</prompt>
          <noinput><exit/></noinput></field>
      </form>"""
    assert (await run(vxml(body.format(reprompt="")), [])).heard == ["first", "skip"]
    assert (await run(vxml(body.format(reprompt="<reprompt/>")), [])).heard == [
        "first",
        "skip",
        "second",
    ]


# Default handlers


async def test_uncaught_error_ends_the_session_with_the_event() -> None:
    result = await run(
        vxml('<form><block>hi<throw event="error.app.broken" message="m"/></block></form>')
    )
    assert result.end == voicexml.SessionEnd("error", "error.app.broken", "m")
    assert result.heard == ["hi"]  # queued prompts are played before the end
    assert result.channel.hung_up


async def test_uncaught_application_event_is_an_error_end() -> None:
    result = await run(vxml('<form><block><throw event="app.unhandled"/></block></form>'))
    assert result.end.reason == "error"
    assert result.end.event == "app.unhandled"
    assert "no <catch>" in (result.end.message or "")


async def test_uncaught_exit_event_exits_and_cancel_continues() -> None:
    result = await run(vxml('<form><block><throw event="exit"/></block></form>'))
    assert result.end == voicexml.SessionEnd("exit")
    said = await heard("""<form><block><throw event="cancel"/></block><block>went on</block>
        </form>""")
    assert said == ["went on"]


# The caller hangs up


async def test_caller_hangup_during_input_ends_without_hanging_up_again() -> None:
    body = vxml("""<form><field name="f" type="boolean"><prompt>ask</prompt></field></form>""")
    result = await run(body, hangup_on_collect=1)
    assert result.end == voicexml.SessionEnd("hangup")
    assert result.heard == ["ask"]
    assert not result.channel.hung_up


async def test_caller_hangup_during_a_prompt() -> None:
    body = vxml("""<form><field name="f" type="boolean">
        <prompt>one</prompt><prompt>two</prompt></field></form>""")
    result = await run(body, hangup_on_play=2)
    assert result.end.reason == "hangup"
    assert result.heard == ["one"]
    assert not result.channel.hung_up


async def test_hangup_handler_runs_and_may_submit_but_says_nothing() -> None:
    documents = {
        START: vxml("""
          <var name="answer" expr="'none'"/>
          <catch event="connection.disconnect.hangup">
            <prompt>nobody hears this</prompt>
            <submit next="hungup" method="post" namelist="answer"/>
          </catch>
          <form><field name="f" type="boolean"><prompt>ask</prompt></field></form>"""),
        "http://app.example/ivr/hungup": vxml(
            "<form><block>dropped</block><field name='g' type='boolean'/></form>"
        ),
    }
    result = await run(documents, hangup_on_collect=1)
    assert result.end.reason == "hangup"
    assert result.heard == ["ask"]
    assert result.fetcher.requests[-1] == voicexml.FetchRequest(
        "http://app.example/ivr/hungup", "POST", {"answer": "none"}
    )
    assert not result.channel.hung_up


async def test_hangup_handler_exit_keeps_the_hangup_reason_and_values() -> None:
    body = vxml("""
      <catch event="connection.disconnect"><exit expr="'bye'"/></catch>
      <form><field name="f" type="boolean"/></form>""")
    result = await run(body, hangup_on_collect=1)
    assert result.end == voicexml.SessionEnd("hangup", values={"expr": "bye"})


async def test_hangup_while_playing_the_last_prompts_before_exit() -> None:
    result = await run(vxml("<form><block>bye<exit/></block></form>"), hangup_on_play=1)
    assert result.end.reason == "exit"
    assert not result.channel.hung_up
