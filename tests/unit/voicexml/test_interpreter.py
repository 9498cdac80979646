"""vxdial.voicexml.interpreter: output, variables and scopes, control flow, the FIA.

Input (fields, grammars, properties) is in test_interpreter_input.py, events and
hangups in test_interpreter_events.py, errors and limits in test_interpreter_errors.py.
"""

from __future__ import annotations

from vxdial import voicexml
from vxdial.voicexml.testing import MemoryFetcher, ScriptedChannel

from .helpers import SESSION, START, heard, run, vxml

# Output


async def test_block_prompt_with_value_and_normalized_whitespace() -> None:
    result = await run(
        vxml("""
        <var name="who" expr="'Alice'"/>
        <form><block>
          <prompt>Hello   <value expr="who"/>,
             welcome.</prompt>
        </block></form>""")
    )
    assert result.heard == ["Hello Alice, welcome."]
    assert result.end == voicexml.SessionEnd("end")
    assert result.channel.hung_up


async def test_bare_text_value_and_audio_in_executable_content_are_implicit_prompts() -> None:
    result = await run(
        vxml("""
        <form><block>
          Good morning.
          <assign name="dummy" expr="1"/>
        </block></form>""")
    )
    assert result.end.event == "error.semantic"  # dummy is not declared
    assert result.heard == ["Good morning."]
    assert await heard("<form><block>You owe <value expr='3 * 4'/> dollars.</block></form>") == [
        "You owe 12 dollars."
    ]


async def test_document_without_namespace() -> None:
    body = vxml("<form><block><prompt>plain</prompt></block></form>", namespace=False)
    assert (await run(body)).heard == ["plain"]


async def test_audio_resolves_against_the_document_and_keeps_its_fallback_text() -> None:
    result = await run(
        {
            START: vxml("""<form><block>
              <prompt>Hi <audio src="sounds/beep.wav">beep</audio> there</prompt>
              <audio expr="'/abs.wav'"/>
            </block></form>"""),
            "http://app.example/ivr/sounds/beep.wav": b"RIFF....",
            "http://app.example/abs.wav": b"RIFF....",
        }
    )
    first, second = result.channel.prompts
    assert first.text == "Hi beep there"
    assert first.audio_urls == ("http://app.example/ivr/sounds/beep.wav",)
    assert second.audio_urls == ("http://app.example/abs.wav",) and second.text == ""
    fetched = [request.url for request in result.fetcher.requests[1:]]
    assert fetched == list(first.audio_urls + second.audio_urls)  # fetched before playing


async def test_missing_audio_says_its_content_or_nothing_without_content() -> None:
    """VoiceXML 2.0 section 4.1.3: the content of an <audio> whose file cannot be
    fetched is played instead; without content nothing is played and no event thrown."""
    result = await run(
        vxml("""<form>
          <catch event="error.badfetch">caught <value expr="_message"/><exit/></catch>
          <field name="f" type="boolean">
            <prompt>Hi <audio src="gone.wav">beep</audio></prompt>
            <filled><prompt><audio src="gone-too.wav"/></prompt>after<exit/></filled>
          </field>
          </form>"""),
        ["1"],
    )
    first, after = result.channel.prompts
    assert first.text == "Hi beep" and first.audio_urls == ()
    assert after.text == "after" and result.end.reason == "exit"


async def test_ssml_inside_prompts_is_said_as_text() -> None:
    said = await heard("""<form><block><prompt>
        <say-as interpret-as="digits">123</say-as><break time="1s"/>and <emphasis>now</emphasis>
        <sub alias="World Wide Web">WWW</sub><mark name="m"/><s>one</s><s>two</s>
    </prompt></block></form>""")
    assert said == ["123 and now World Wide Web one two"]


async def test_prompt_cond_and_bargein_attribute_and_property() -> None:
    result = await run(
        vxml("""
        <property name="bargein" value="false"/>
        <form><block>
          <prompt cond="false">never</prompt>
          <prompt>default from the property</prompt>
          <prompt bargein="true">explicit</prompt>
        </block></form>""")
    )
    assert [(p.text, p.bargein) for p in result.channel.prompts] == [
        ("default from the property", False),
        ("explicit", True),
    ]


async def test_empty_prompts_are_not_played() -> None:
    assert await heard("<form><block><prompt>  </prompt><prompt>x</prompt></block></form>") == ["x"]


# Variables and scopes


async def test_session_variables_are_visible_qualified_and_bare() -> None:
    said = await heard("""<form><block>
        <value expr="session.telephone.ani"/> <value expr="telephone.dnis"/>
        <value expr="session.connection.callee_type"/> <value expr="session.call_id"/>
        <value expr="session.message_reference"/> <value expr="session.call_parameters"/>
        <value expr="session.connection.protocol.name"/>
    </block></form>""")
    assert said == ["15550001111 15551234567 voice 42 ref-7 lang=en sip"]


async def test_scopes_document_dialog_anonymous() -> None:
    said = await heard("""
      <var name="x" expr="'doc'"/>
      <form>
        <var name="x" expr="'dialog'"/>
        <block>
          <var name="x" expr="'anon'"/>
          <value expr="x"/> <value expr="dialog.x"/> <value expr="document.x"/>
          <assign name="x" expr="'anon2'"/>
          <assign name="dialog.x" expr="'dialog2'"/>
          <assign name="document.x" expr="'doc2'"/>
        </block>
        <block>
          <value expr="x"/> <value expr="dialog.x"/> <value expr="document.x"/>
          <value expr="typeof application"/>
        </block>
      </form>""")
    assert said == ["anon dialog doc", "dialog2 dialog2 doc2 object"]


async def test_assign_updates_the_variable_where_it_is_declared() -> None:
    said = await heard("""
      <var name="n" expr="1"/>
      <form>
        <block><assign name="n" expr="n + 1"/></block>
        <block><value expr="n"/> <value expr="document.n"/></block>
      </form>""")
    assert said == ["2 2"]


async def test_anonymous_variables_do_not_outlive_their_block() -> None:
    result = await run(
        vxml("""<form>
          <block><var name="temp" expr="1"/></block>
          <block><value expr="temp"/></block>
        </form>""")
    )
    assert result.end.event == "error.semantic"
    assert "temp is not defined" in (result.end.message or "")


async def test_var_without_expr_is_undefined_and_assign_makes_objects() -> None:
    said = await heard("""<form>
        <var name="o"/>
        <block>
          <value expr="typeof o"/>
          <assign name="o" expr="({a: {b: 1}})"/>
          <assign name="o.a.b" expr="o.a.b + 41"/>
          <value expr="o.a.b"/>
        </block></form>""")
    assert said == ["undefined", "42"]


async def test_script_functions_and_variables_land_in_their_scope() -> None:
    said = await heard("""
      <script><![CDATA[
        var greeting = "hi";
        function twice(s) { return s + " " + s; }
      ]]></script>
      <form>
        <script>var local = twice(greeting);</script>
        <block>
          <script>var inner = local + "!";</script>
          <value expr="inner"/> <value expr="document.greeting"/> <value expr="dialog.local"/>
        </block>
        <block><value expr="typeof inner"/></block>
      </form>""")
    assert said == ["hi hi! hi hi hi", "undefined"]


async def test_script_src_is_fetched_relative_to_the_document() -> None:
    documents = {
        START: vxml("""<script src="lib/util.js"/>
            <form><block><value expr="shout('ok')"/></block></form>"""),
        "http://app.example/ivr/lib/util.js": "function shout(s) { return s.toUpperCase(); }",
    }
    result = await run(documents)
    assert result.heard == ["OK"]


async def test_script_srcexpr() -> None:
    documents = {
        START: vxml("""<var name="lib" expr="'lib/'"/><form><block>
            <script srcexpr="lib + 'two.js'"/><value expr="two"/></block></form>"""),
        "http://app.example/ivr/lib/two.js": "var two = 2;",
    }
    assert (await run(documents)).heard == ["2"]


async def test_script_src_fetch_failure_is_badfetch() -> None:
    result = await run(vxml('<form><block><script src="gone.js"/></block></form>'))
    assert result.end.event == "error.badfetch.http.404"
    assert result.end.message == ("line 3: <script src>: http://app.example/ivr/gone.js: HTTP 404")


async def test_audio_without_src_or_expr_is_badfetch() -> None:
    result = await run(vxml("<form><block><audio>fallback</audio></block></form>"))
    assert result.end.event == "error.badfetch"
    assert "<audio> needs exactly one of src, expr" in (result.end.message or "")


async def test_document_variables_survive_a_dialog_change_dialog_variables_do_not() -> None:
    said = await heard("""
      <var name="visits" expr="0"/>
      <form id="a">
        <var name="mine" expr="'a'"/>
        <block><assign name="visits" expr="visits + 1"/><goto next="#b"/></block>
      </form>
      <form id="b">
        <block><value expr="visits"/> <value expr="typeof mine"/></block>
      </form>""")
    assert said == ["1 undefined"]


async def test_a_new_document_gets_fresh_document_and_application_scopes() -> None:
    documents = {
        START: vxml("""<var name="x" expr="1"/>
            <form><block><assign name="application.lastresult$" expr="'kept?'"/>
            <goto next="next.vxml"/></block></form>"""),
        "http://app.example/ivr/next.vxml": vxml(
            """<form><block><value expr="typeof x"/> <value expr="application.lastresult$"/>
            </block></form>"""
        ),
    }
    result = await run(documents)
    assert result.heard == ["undefined undefined"]


# Control flow


async def test_if_elseif_else() -> None:
    body = """<var name="n" expr="{n}"/><form><block>
        <if cond="n == 1">one<elseif cond="n == 2"/>two<else/>many</if>
    </block></form>"""
    assert await heard(body.format(n=1)) == ["one"]
    assert await heard(body.format(n=2)) == ["two"]
    assert await heard(body.format(n=7)) == ["many"]


async def test_nested_if_and_if_without_match() -> None:
    said = await heard("""<form><block>
        <if cond="true"><if cond="false">no</if>yes</if>
        <if cond="false">no</if>
    </block></form>""")
    assert said == ["yes"]


async def test_goto_next_dialog_in_the_same_document() -> None:
    said = await heard("""
      <form><block>first<goto next="#second"/>not said</block><block>nor this</block></form>
      <form id="second"><block>second</block></form>""")
    assert said == ["first", "second"]


async def test_goto_other_document_relative_and_fragment() -> None:
    documents = {
        START: vxml('<form><block><goto next="../other/page.vxml#two"/></block></form>'),
        "http://app.example/other/page.vxml": vxml(
            '<form id="one"><block>one</block></form><form id="two"><block>two</block></form>'
        ),
    }
    result = await run(documents)
    assert result.heard == ["two"]
    assert [r.url for r in result.fetcher.requests] == [START, "http://app.example/other/page.vxml"]


async def test_goto_document_without_fragment_starts_at_its_first_dialog() -> None:
    documents = {
        START: vxml("<form><block><goto expr=\"'p' + 'age.vxml'\"/></block></form>"),
        "http://app.example/ivr/page.vxml": vxml(
            '<form id="one"><block>one</block></form><form id="two"><block>two</block></form>'
        ),
    }
    assert (await run(documents)).heard == ["one"]


async def test_start_url_fragment_selects_the_dialog() -> None:
    body = vxml('<form id="a"><block>a</block></form><form id="b"><block>b</block></form>')
    result = await run({START: body}, start=START + "#b")
    assert result.heard == ["b"]
    assert result.fetcher.requests[0].url == START


async def test_relative_urls_use_the_final_url_and_xml_base() -> None:
    documents = {
        START: """<vxml version="2.0" xmlns="http://www.w3.org/2001/vxml"
                     xml:base="http://cdn.example/app/">
                   <form><block><goto next="next.vxml"/></block></form></vxml>""",
        "http://cdn.example/app/next.vxml": vxml("<form><block>from the base</block></form>"),
    }
    assert (await run(documents)).heard == ["from the base"]


async def test_goto_nextitem_and_expritem() -> None:
    said = await heard("""<form>
        <block name="a">a<goto nextitem="c"/></block>
        <block name="b">b</block>
        <block name="c">c<goto expritem="'b'"/></block>
      </form>""")
    assert said == ["a", "c", "b"]


async def test_goto_nextitem_selects_an_item_even_if_filled() -> None:
    said = await heard("""<form>
        <var name="again" expr="true"/>
        <block name="a">a</block>
        <block name="b"><if cond="again"><assign name="again" expr="false"/>
          <goto nextitem="a"/></if></block>
        <block name="c">c</block>
      </form>""")
    assert said == ["a", "a", "c"]


async def test_submit_get_with_namelist_in_the_query() -> None:
    documents = {
        START: vxml("""<var name="answer" expr="'yes'"/><var name="n" expr="3"/>
            <form><block><submit next="/save?x=1" namelist="answer n"/></block></form>"""),
        "http://app.example/save?x=1&answer=yes&n=3": vxml("<form><block>saved</block></form>"),
    }
    result = await run(documents)
    assert result.heard == ["saved"]
    assert result.fetcher.requests[1] == voicexml.FetchRequest(
        "http://app.example/save?x=1&answer=yes&n=3"
    )


async def test_submit_post_sends_form_data_and_continues_in_the_answer() -> None:
    documents = {
        START: vxml("""<var name="a" expr="'1 2&amp;3'"/><var name="u"/>
            <form><block><submit expr="'results.php'" method="post"
                           namelist="a u session.call_id"/></block></form>"""),
        "http://app.example/ivr/results.php": vxml("<form><block>thanks</block></form>"),
    }
    result = await run(documents)
    assert result.heard == ["thanks"]
    assert result.fetcher.requests[1] == voicexml.FetchRequest(
        "http://app.example/ivr/results.php",
        "POST",
        {"a": "1 2&3", "u": "", "session.call_id": "42"},
    )


async def test_submit_without_namelist_sends_nothing() -> None:
    documents = {
        START: vxml('<var name="a" expr="1"/><form><block><submit next="r"/></block></form>'),
        "http://app.example/ivr/r": vxml("<form><block>r</block></form>"),
    }
    result = await run(documents)
    assert result.fetcher.requests[1] == voicexml.FetchRequest("http://app.example/ivr/r")


async def test_start_request_is_posted_as_given() -> None:
    fetcher = MemoryFetcher({START: vxml("<form><block>hi</block></form>")})
    request = voicexml.FetchRequest(START, "POST", {"call_id": "42"})
    end = await voicexml.run_session(
        request, channel=ScriptedChannel(), fetcher=fetcher, session=SESSION
    )
    assert end.reason == "end"
    assert fetcher.requests == [request]


async def test_exit_ends_after_playing_queued_prompts() -> None:
    result = await run(vxml("<form><block>bye<exit/>never</block><block>nor</block></form>"))
    assert result.end == voicexml.SessionEnd("exit")
    assert result.heard == ["bye"]
    assert result.channel.hung_up


async def test_exit_namelist_and_expr_values() -> None:
    result = await run(
        vxml("""<var name="a" expr="'x'"/><var name="b" expr="({n: [1, 2]})"/>
            <form><block><exit namelist="a b"/></block></form>""")
    )
    assert result.end.values == {"a": "x", "b": {"n": [1, 2]}}
    result = await run(vxml("<form><block><exit expr=\"'done'\"/></block></form>"))
    assert result.end.values == {"expr": "done"}


async def test_disconnect_plays_the_queue_hangs_up_then_runs_the_hangup_handler() -> None:
    documents = {
        START: vxml("""
          <catch event="connection.disconnect.hangup">
            <prompt>not heard: the call is gone</prompt>
            <submit next="log" namelist="_event"/>
          </catch>
          <var name="result" expr="'ok'"/>
          <form><block>Goodbye.<disconnect namelist="result"/>never</block></form>"""),
        "http://app.example/ivr/log?_event=connection.disconnect.hangup": vxml(
            "<form><block>also dropped</block></form>"
        ),
    }
    result = await run(documents)
    assert result.end == voicexml.SessionEnd("disconnect", values={"result": "ok"})
    assert result.heard == ["Goodbye."]
    assert result.channel.hung_up
    assert len(result.fetcher.requests) == 2


async def test_disconnect_without_a_handler() -> None:
    result = await run(vxml("<form><block>bye<disconnect/></block></form>"))
    assert result.end == voicexml.SessionEnd("disconnect")
    assert result.heard == ["bye"] and result.channel.hung_up


async def test_clear_resets_form_items_and_variables() -> None:
    said = await heard("""<form>
        <var name="rounds" expr="0"/>
        <var name="v" expr="1"/>
        <block name="b">
          <assign name="rounds" expr="rounds + 1"/>round <value expr="rounds"/>
          <if cond="rounds &lt; 2"><clear namelist="b v"/></if>
        </block>
        <block><value expr="typeof v"/></block>
      </form>""")
    assert said == ["round 1", "round 2", "undefined"]


async def test_log_is_silent() -> None:
    assert await heard("""<form><block><log label="x">note <value expr="1"/></log>
        said</block></form>""") == ["said"]


# The FIA


async def test_running_off_the_end_of_a_form_ends_without_visiting_the_next_form() -> None:
    result = await run(vxml("<form><block>a</block></form><form><block>b</block></form>"))
    assert result.heard == ["a"]
    assert result.end.reason == "end"


async def test_guard_conditions_select_the_first_unfilled_item_whose_cond_is_true() -> None:
    said = await heard("""<form>
        <var name="skip" expr="true"/>
        <block name="a" cond="skip">a</block>
        <block name="b" expr="'prefilled'">b</block>
        <block name="c" cond="!skip">c</block>
        <block name="d">d<assign name="skip" expr="false"/></block>
      </form>""")
    # a, then d (b is filled, c's cond is false), then c (its cond became true).
    assert said == ["a", "d", "c"]


async def test_form_item_variable_of_a_block_is_set_before_it_runs() -> None:
    said = await heard("""<form>
        <block name="b"><value expr="b"/></block>
        <block><value expr="typeof b"/></block>
      </form>""")
    assert said == ["true", "boolean"]


async def test_form_items_initialize_in_document_order_with_vars() -> None:
    said = await heard("""<form>
        <var name="before" expr="typeof late"/>
        <block name="late" expr="undefined">x <value expr="before"/></block>
      </form>""")
    assert said == ["x undefined"]


async def test_a_form_of_many_blocks_is_visited_in_order_with_one_engine_call_a_step() -> None:
    """VoiceXML 2.0 appendix C (the select phase): each iteration takes the first item
    whose variable is undefined. The engine is asked once per iteration, not once per
    item before it (issue 12, item 2: 8,000 empty blocks took minutes)."""
    blocks = "".join(f"<block><prompt>b{n}</prompt></block>" for n in range(300))
    done = await run(vxml(f"<form>{blocks}</form>"), limits=voicexml.Limits(max_steps=10**6))
    assert done.heard == [f"b{n}" for n in range(300)]


async def test_the_select_phase_still_sees_a_variable_cleared_behind_it() -> None:
    done = await run(
        vxml(
            "<form><var name='again' expr='true'/>"
            "<block name='one'><prompt>one</prompt></block>"
            "<block name='two'><prompt>two</prompt>"
            "<if cond='again'><assign name='again' expr='false'/><clear namelist='one'/></if>"
            "</block></form>"
        )
    )
    assert done.heard == ["one", "two", "one"]
