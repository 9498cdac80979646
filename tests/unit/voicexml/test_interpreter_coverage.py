"""vxdial.voicexml.interpreter: the corner cases of the FIA (VoiceXML 2.0 section 2.1.6
and appendix C), of event selection (section 5.2), of input and of record/transfer that
the other test_interpreter*.py files leave out, each with a small document."""

from __future__ import annotations

import logging

import pytest

from vxdial import voicexml
from vxdial.domain import media
from vxdial.voicexml.testing import MemoryFetcher, ScriptedChannel

from .helpers import SESSION, START, heard, run, vxml

BASE = "http://app.example/ivr/"


def leaf(body: str, root: str = "root.vxml") -> str:
    """A document of the application whose root is ``root``."""
    return vxml(body).replace('<vxml version="2.1"', f'<vxml version="2.1" application="{root}"')


# -- the FIA: <filled> --------------------------------------------------------------------


async def test_filled_mode_all_fires_only_when_the_last_of_its_names_is_filled() -> None:
    body = vxml("""<form>
        <field name="a" type="boolean"><prompt>a?</prompt></field>
        <field name="b" type="boolean"><prompt>b?</prompt></field>
        <field name="c" type="boolean"><prompt>c?</prompt></field>
        <filled mode="all" namelist="a c">all of a and c</filled>
        <filled mode="any" namelist="b">b</filled>
      </form>""")
    result = await run(body, ["1", "1", "1"])
    assert result.heard == ["a?", "b?", "b", "c?", "all of a and c"]


async def test_filled_mode_all_counts_items_filled_by_their_expr() -> None:
    # a is filled from the start (its expr), so filling b alone completes "a b".
    body = vxml("""<form>
        <field name="a" type="boolean" expr="true"><prompt>never</prompt></field>
        <field name="b" type="boolean"><prompt>b?</prompt></field>
        <filled mode="all">all: <value expr="a"/> <value expr="b"/></filled>
      </form>""")
    assert (await run(body, ["2"])).heard == ["b?", "all: true false"]


async def test_form_filled_without_namelist_watches_input_items_not_blocks() -> None:
    body = vxml("""<form>
        <block>start</block>
        <field name="a" type="boolean"><prompt>a?</prompt></field>
        <filled>any input</filled>
      </form>""")
    assert (await run(body, ["1"])).heard == ["start", "a?", "any input"]


async def test_an_event_in_a_form_level_filled_uses_the_form_scope_catches() -> None:
    # Section 5.2.2: form-level counters and handlers serve events thrown in a
    # form-level <filled>; the field's own handlers are not in scope there.
    body = vxml("""<form>
        <catch event="oops">form caught<exit/></catch>
        <field name="a" type="boolean">
          <catch event="oops">field caught<exit/></catch>
        </field>
        <filled><throw event="oops"/></filled>
      </form>""")
    assert (await run(body, ["1"])).heard == ["form caught"]


async def test_an_event_in_a_field_filled_uses_the_field_catches() -> None:
    body = vxml("""<form>
        <catch event="oops">form caught<exit/></catch>
        <field name="a" type="boolean">
          <catch event="oops">field caught <value expr="a"/><exit/></catch>
          <filled><throw event="oops"/></filled>
        </field>
      </form>""")
    assert (await run(body, ["1"])).heard == ["field caught true"]


# -- the FIA: <clear>, <goto nextitem>, prompt counters -----------------------------------


async def test_clear_of_one_item_resets_its_prompt_and_event_counters() -> None:
    body = vxml("""<form>
        <field name="f" type="boolean">
          <prompt count="1">first prompt</prompt>
          <prompt count="2">second prompt</prompt>
          <noinput count="1">first noinput</noinput>
          <noinput count="2">second noinput<clear namelist="f"/><reprompt/></noinput>
          <filled>got <value expr="f"/></filled>
        </field>
      </form>""")
    result = await run(body, [None, None, None, "1"])
    # After the <clear>, f is as new: prompt counter 1, noinput counter 0.
    assert result.heard == [
        "first prompt",
        "first noinput",
        "second noinput",
        "first prompt",
        "first noinput",
        "got true",
    ]


async def test_clear_leaves_the_counters_of_other_items_alone() -> None:
    body = vxml("""<form>
        <var name="once" expr="true"/>
        <field name="g" type="boolean">
          <prompt count="1">g first</prompt><prompt count="2">g again</prompt>
          <nomatch count="1">g nomatch one<reprompt/></nomatch>
          <nomatch count="2">g nomatch two<reprompt/></nomatch>
        </field>
        <field name="f" type="boolean"><prompt>f</prompt>
          <filled><if cond="once"><assign name="once" expr="false"/>
            <clear namelist="f"/><assign name="g" expr="undefined"/></if></filled>
        </field>
      </form>""")
    result = await run(body, ["5", "1", "1", "5", "1", "1"])
    # Clearing f does not touch g, emptied by <assign>: its counters go on.
    assert result.heard == [
        "g first",
        "g nomatch one",
        "g again",
        "f",
        "g again",
        "g nomatch two",
        "g again",
        "f",
    ]


async def test_clear_without_namelist_resets_every_form_item() -> None:
    body = vxml("""<form>
        <var name="round" expr="0"/>
        <field name="a" type="boolean">
          <prompt count="1">a first</prompt><prompt count="2">a again</prompt>
        </field>
        <block name="b"><assign name="round" expr="round + 1"/>
          <if cond="round == 1"><clear/><else/>done <value expr="round"/></if></block>
      </form>""")
    assert (await run(body, ["1", "2"])).heard == ["a first", "a first", "done 2"]


async def test_goto_nextitem_to_a_filled_field_visits_it_again() -> None:
    body = vxml("""<form>
        <var name="again" expr="true"/>
        <field name="a" type="boolean">
          <prompt count="1">a?</prompt><prompt count="2">a once more?</prompt>
          <filled>a is <value expr="a"/></filled>
        </field>
        <block name="b"><if cond="again"><assign name="again" expr="false"/>
          <goto nextitem="a"/></if>end</block>
      </form>""")
    result = await run(body, ["1", "2"])
    # The second visit is the item's second: its prompt counter is 2. Once a is filled
    # again the block (already filled) is not visited: the form ends.
    assert result.heard == ["a?", "a is true", "a once more?", "a is false"]
    assert result.end.reason == "end"


async def test_prompt_counters_reset_when_the_form_is_entered_again() -> None:
    body = vxml("""
      <var name="visits" expr="0"/>
      <form id="f">
        <block><assign name="visits" expr="visits + 1"/></block>
        <field name="a" type="boolean">
          <prompt count="1">first</prompt><prompt count="2">second</prompt>
          <nomatch><reprompt/></nomatch>
          <filled><if cond="visits &lt; 2"><goto next="#f"/></if></filled>
        </field>
      </form>""")
    result = await run(body, ["7", "1", "1"])
    assert result.heard == ["first", "second", "first"]


async def test_a_catch_with_reprompt_queues_the_prompts_of_the_same_item() -> None:
    # Appendix C: prompts are queued on the iteration after a catch only if it
    # executed <reprompt>; a catch that only speaks is heard alone.
    body = """<form><field name="f" type="boolean">
        <prompt>question</prompt>
        <nomatch>wrong key{reprompt}</nomatch>
        <noinput>say something{reprompt}</noinput>
      </field></form>"""
    plain = await run(vxml(body.format(reprompt="")), ["5", None, "1"])
    assert plain.heard == ["question", "wrong key", "say something"]
    again = await run(vxml(body.format(reprompt="<reprompt/>")), ["5", None, "1"])
    assert again.heard == ["question", "wrong key", "question", "say something", "question"]


async def test_an_error_while_initializing_the_form_is_caught_at_form_level() -> None:
    said = await heard("""<form>
        <catch event="error.semantic">form init: <value expr="_event"/><exit/></catch>
        <var name="broken" expr="nosuch.property"/>
        <block>never</block>
      </form>""")
    assert said == ["form init: error.semantic"]


async def test_field_options_with_dtmf_and_enumerate() -> None:
    body = vxml("""<form><field name="drink">
        <prompt>Pick: <enumerate/></prompt>
        <option dtmf="1" value="tea">hot tea</option>
        <option dtmf="2">coffee</option>
        <nomatch>nomatch<exit/></nomatch>
        <filled>got <value expr="drink"/></filled>
      </field></form>""")
    result = await run(body, ["1"])
    assert result.heard == ["Pick: For hot tea, press 1. For coffee, press 2.", "got tea"]
    assert (await run(body, ["2"])).heard[-1] == "got coffee"
    assert (await run(body, ["3"])).heard[-1] == "nomatch"


async def test_menu_numbers_only_the_choices_without_an_explicit_dtmf() -> None:
    # Section 2.2.1: with dtmf="true", choices may only give "0", "*" or "#" of their
    # own (anything else is error.badfetch); the others are numbered from 1.
    body = """<menu dtmf="true">
          <prompt><enumerate><value expr="_dtmf"/> <value expr="_prompt"/>,</enumerate></prompt>
          <choice next="#a">A</choice>
          <choice dtmf="{key}" next="#b">B</choice>
          <choice next="#c">C</choice>
        </menu>
        <form id="a"><block>at A<exit/></block></form>
        <form id="b"><block>at B<exit/></block></form>
        <form id="c"><block>at C<exit/></block></form>"""
    assert await heard(body.format(key="0"), ["2"]) == ["1 A, 0 B, 2 C,", "at C"]
    result = await run(vxml(body.format(key="9")))
    assert result.end.event == "error.badfetch"
    assert "choice 2 has dtmf='9'" in (result.end.message or "")


# -- events: selection ---------------------------------------------------------------------


async def test_catch_count_with_prefix_matching_resets_on_entering_the_form_again() -> None:
    body = vxml("""
      <var name="entries" expr="0"/>
      <var name="k" expr="0"/>
      <form id="f">
        <block><assign name="entries" expr="entries + 1"/></block>
        <catch event="error.app">one (<value expr="_event"/>)</catch>
        <catch event="error.app" count="2">two (<value expr="_event"/>)
          <if cond="entries &lt; 2"><goto next="#f"/><else/><exit/></if></catch>
        <field name="x" type="boolean">
          <filled><assign name="k" expr="k + 1"/><assign name="x" expr="undefined"/>
            <throw eventexpr="'error.app.e' + k"/></filled>
        </field>
      </form>""")
    result = await run(body, ["1", "1", "1", "1"])
    # error.app.e1 and error.app.e2 both count as "error.app" for the item x; entering
    # form f again starts its counters afresh.
    assert result.heard == [
        "one (error.app.e1)",
        "two (error.app.e2)",
        "one (error.app.e3)",
        "two (error.app.e4)",
    ]


async def test_a_catch_of_several_events_keeps_a_counter_per_event() -> None:
    # Section 5.2.2: "noinput nomatch" with count 2 needs the second noinput or the
    # second nomatch, not the second of either.
    body = vxml("""<form><field name="f" type="boolean">
        <catch event="noinput nomatch">first <value expr="_event"/></catch>
        <catch event="noinput nomatch" count="2">second <value expr="_event"/><exit/></catch>
      </field></form>""")
    result = await run(body, [None, "5", None])
    assert result.heard == ["first noinput", "first nomatch", "second noinput"]


async def test_assigning_a_form_item_variable_fills_the_item() -> None:
    said = await heard("""<form>
        <block><assign name="f" expr="'given'"/></block>
        <field name="f" type="boolean"><prompt>never asked</prompt></field>
        <block>f is <value expr="f"/></block>
      </form>""")
    assert said == ["f is given"]


async def test_cond_on_catch_is_evaluated_when_the_event_is_thrown() -> None:
    said = await heard("""<form>
        <var name="strict" expr="false"/>
        <catch event="e" cond="strict">strict</catch>
        <catch event="e">lenient<assign name="strict" expr="true"/></catch>
        <block name="a"><throw event="e"/></block>
        <block name="b"><throw event="e"/></block>
      </form>""")
    assert said == ["lenient", "strict"]


async def test_cond_true_catch_with_a_higher_count_wins() -> None:
    said = await heard(
        """<form>
        <catch event="e" count="1">first</catch>
        <catch event="e" count="2" cond="false">hidden second</catch>
        <field name="f" type="boolean">
          <filled><assign name="f" expr="undefined"/><throw event="e"/></filled>
          <catch event="e" count="3"><exit/></catch>
        </field>
      </form>""",
        ["1", "1", "1"],
    )
    # Count 2 is removed by its cond, so the second "e" still takes the count-1 catch.
    assert said == ["first", "first"]


async def test_throw_inside_a_catch_is_handled_by_the_handler_of_the_new_event() -> None:
    said = await heard(
        """
      <catch event="second">document: <value expr="_event"/> <value expr="_message"/>
        <exit/></catch>
      <form>
        <field name="f" type="boolean">
          <catch event="first">field: <value expr="_event"/>
            <throw event="second" message="from first"/></catch>
          <filled><throw event="first"/></filled>
        </field>
      </form>""",
        ["1"],
    )
    assert said == ["field: first", "document: second from first"]


async def test_throw_of_the_same_event_in_its_handler_takes_the_next_count() -> None:
    said = await heard("""<form>
        <catch event="e">once<throw event="e"/></catch>
        <catch event="e" count="2">twice<exit/></catch>
        <block><throw event="e"/></block>
      </form>""")
    assert said == ["once", "twice"]


async def test_message_is_undefined_when_not_given_and_event_is_the_full_name() -> None:
    said = await heard("""<form>
        <catch event="app">
          <value expr="_event"/> <value expr="typeof _message"/>
          <value expr="_message === undefined"/><exit/></catch>
        <block><throw event="app.sub.detail"/></block>
      </form>""")
    assert said == ["app.sub.detail undefined true"]


async def test_error_badfetch_http_404_is_caught_by_error_badfetch() -> None:
    said = await heard("""
      <catch event="error">document: wrong handler<exit/></catch>
      <form>
        <catch event="error.badfetch"><value expr="_event"/><exit/></catch>
        <block><goto next="missing.vxml"/></block>
      </form>""")
    assert said == ["error.badfetch.http.404"]


async def test_in_one_scope_document_order_wins_over_the_longer_name() -> None:
    # Section 5.2.4: matching catches of the correct count are taken in scope, then
    # document order; a more specific event name gives no precedence.
    said = await heard("""<form>
        <catch event="error">error first<exit/></catch>
        <catch event="error.badfetch">error.badfetch second<exit/></catch>
        <block><goto next="missing.vxml"/></block>
      </form>""")
    assert said == ["error first"]


async def test_error_shorthand_catches_every_error_and_help_shorthand_catches_help() -> None:
    said = await heard("""<form>
        <error>error: <value expr="_event"/></error>
        <help>help: <value expr="_event"/><exit/></help>
        <block><value expr="nosuch"/></block>
        <block><throw event="help"/></block>
      </form>""")
    assert said == ["error: error.semantic", "help: help"]


async def test_help_without_a_handler_reprompts() -> None:
    # Section 5.2.5: the default help handler reprompts.
    body = vxml("""<form><field name="f" type="boolean">
        <link dtmf="0" event="help"/>
        <prompt>yes or no</prompt>
        <filled>got <value expr="f"/></filled>
      </field></form>""")
    assert (await run(body, ["0", "1"])).heard == ["yes or no", "yes or no", "got true"]


async def test_document_and_application_root_catches_come_after_the_dialog() -> None:
    documents = {
        START: leaf("""
          <catch event="e.doc">leaf document<throw event="e.root"/></catch>
          <form>
            <catch event="e.form">form<throw event="e.doc"/></catch>
            <block><throw event="e.form"/></block>
          </form>"""),
        BASE + "root.vxml": vxml("""
          <catch event="e">root <value expr="_event"/><exit/></catch>
          <form><block>root form</block></form>"""),
    }
    assert (await run(documents)).heard == ["form", "leaf document", "root e.root"]


# -- events: default handlers -----------------------------------------------------------


async def test_default_handlers(caplog: pytest.LogCaptureFixture) -> None:
    # nomatch and noinput reprompt; an uncaught error ends the session, its reason
    # logged; an uncaught hangup just ends it.
    body = vxml("""<form><field name="f" type="boolean"><prompt>q</prompt>
        <filled><throw event="error.app.broken" message="the reason"/></filled>
      </field></form>""")
    with caplog.at_level(logging.INFO, logger="vxdial.voicexml"):
        result = await run(body, ["5", None, "1"])
    assert result.heard == ["q", "q", "q"]
    assert result.end == voicexml.SessionEnd("error", "error.app.broken", "the reason")
    assert "error.app.broken" in caplog.text and "the reason" in caplog.text
    result = await run(body, hangup_on_collect=1)
    assert result.end.reason == "hangup"


async def test_a_caught_error_has_its_reason_logged(caplog: pytest.LogCaptureFixture) -> None:
    body = vxml("""<form>
        <catch event="error.badfetch">recovered<exit/></catch>
        <block><goto next="missing.vxml"/></block>
      </form>""")
    with caplog.at_level(logging.DEBUG, logger="vxdial.voicexml"):
        result = await run(body)
    assert result.heard == ["recovered"]
    assert "error.badfetch.http.404" in caplog.text
    assert "http://app.example/ivr/missing.vxml: HTTP 404" in caplog.text


# -- input: the builtin grammars through fields ---------------------------------------------


@pytest.mark.parametrize(
    ("type_", "keys", "said"),
    [
        ("boolean", "1", "true boolean"),
        ("boolean", "3", "nomatch"),
        ("date", "20240229", "20240229 string"),
        ("date", "20230229", "nomatch"),
        ("digits", "0042#", "0042 string"),
        ("digits", "4*2#", "nomatch"),
        ("digits?minlength=3", "12#", "nomatch"),
        ("digits?maxlength=3", "1234", "123 string"),
        ("currency", "12*5#", "12.50 string"),
        ("currency", "1*2*3#", "nomatch"),
        ("number", "12*5#", "12.5 number"),
        ("number", "1*2*3#", "nomatch"),
        ("phone", "8005551234*78#", "8005551234x78 string"),
        ("phone", "*12#", "nomatch"),
        ("time", "1930", "1930h string"),
        ("time", "0930", "0930? string"),
        ("time", "2460", "nomatch"),
    ],
)
async def test_builtin_types_through_a_field(type_: str, keys: str, said: str) -> None:
    body = vxml(f"""<form><field name="f" type="{type_}">
        <nomatch>nomatch<exit/></nomatch>
        <filled><value expr="f"/> <value expr="typeof f"/></filled>
      </field></form>""")
    assert (await run(body, [keys])).heard == [said]


async def test_an_external_srgs_grammar_is_fetched_relative_to_the_document() -> None:
    grammar = """<?xml version="1.0"?>
      <grammar xmlns="http://www.w3.org/2001/06/grammar" version="1.0" mode="dtmf" root="r"
               tag-format="semantics/1.0">
        <rule id="r"><one-of>
          <item>1 1<tag>out = "eleven";</tag></item>
          <item>2<tag>out = "two";</tag></item>
        </one-of></rule>
      </grammar>"""
    documents = {
        BASE + "sub/page.vxml": vxml("""<form><field name="f">
            <grammar src="../grammars/pick.grxml" type="application/srgs+xml"/>
            <nomatch>nomatch<exit/></nomatch>
            <filled><value expr="f"/> <value expr="f$.utterance"/></filled>
          </field></form>"""),
        BASE + "grammars/pick.grxml": grammar,
    }
    result = await run(documents, ["11"], start=BASE + "sub/page.vxml")
    assert result.heard == ["eleven 11"]
    result = await run(documents, ["3"], start=BASE + "sub/page.vxml")
    assert result.heard == ["nomatch"]


async def test_shadow_variables_and_lastresult_of_a_boolean() -> None:
    said = await heard(
        """<form><field name="ok" type="boolean">
          <filled><value expr="ok$.utterance"/> <value expr="ok$.inputmode"/>
            <value expr="ok$.confidence"/> <value expr="ok$.interpretation"/>
            <value expr="application.lastresult$.interpretation"/>
            <value expr="application.lastresult$.length"/></filled>
        </field></form>""",
        ["2"],
    )
    assert said == ["2 dtmf 1 false false 1"]


# -- input: properties reaching the channel ---------------------------------------------


async def test_termchar_changed_ends_the_input_and_is_not_part_of_it() -> None:
    body = vxml("""<property name="termchar" value="*"/>
      <form><field name="f" type="digits"><filled>got <value expr="f"/></filled></field>
      </form>""")
    result = await run(body, ["12*"])
    assert result.heard == ["got 12"]
    assert result.channel.collects[0].termchar == "*"


async def test_empty_termchar_makes_hash_an_ordinary_key() -> None:
    body = vxml("""<property name="termchar" value=""/>
      <form><field name="f" type="digits">
        <nomatch>nomatch<exit/></nomatch><filled>got <value expr="f"/></filled></field>
      </form>""")
    result = await run(body, ["12"])
    assert result.heard == ["got 12"]
    assert result.channel.collects[0].termchar is None
    result = await run(body, ["12#"])
    assert result.heard == ["nomatch"]  # "#" is a key the digits grammar refuses


async def test_timeouts_from_the_application_root_field_and_prompt() -> None:
    documents = {
        START: leaf("""<form>
            <field name="a" type="digits?length=1"/>
            <field name="b" type="digits?length=1">
              <property name="interdigittimeout" value="250ms"/></field>
            <field name="c" type="digits?length=1"><prompt timeout="9s">c</prompt></field>
          </form>"""),
        BASE + "root.vxml": vxml("""<property name="timeout" value="3s"/>
          <property name="interdigittimeout" value="2s"/><form><block/></form>"""),
    }
    result = await run(documents, ["1", "2", "3"])
    assert [(c.timeout_s, c.interdigit_timeout_s) for c in result.channel.collects] == [
        (3.0, 2.0),
        (3.0, 0.25),
        (9.0, 2.0),
    ]


async def test_bargein_property_false_ignores_keys_during_the_prompts() -> None:
    body = vxml("""<form><field name="f" type="digits?length=2">
        <property name="bargein" value="false"/>
        <prompt>Listen.</prompt>
        <noinput>nothing<exit/></noinput>
        <filled>got <value expr="f"/></filled></field></form>""")
    result = await run(body, ["42"], typeahead=True)
    assert result.channel.prompts[0].bargein is False
    assert result.heard == ["Listen.", "nothing"]
    assert result.channel.collects[0].already == ""


async def test_inputmodes_voice_hears_no_keys() -> None:
    body = vxml("""<property name="inputmodes" value="voice"/>
      <form><field name="f" type="boolean"><prompt>say it</prompt>
        <noinput>noinput<exit/></noinput><filled>got it</filled></field></form>""")
    assert (await run(body, ["1"])).heard == ["say it", "noinput"]
    dtmf = body.replace('value="voice"', 'value="dtmf"')
    assert (await run(dtmf, ["1"])).heard == ["say it", "got it"]


# -- documents and transitions -------------------------------------------------------------


async def test_maxage_maxstale_and_fetchtimeout_attributes_reach_the_fetcher() -> None:
    documents = {
        START: vxml("""<form><block>
            <goto next="a.vxml" maxage="30" maxstale="60" fetchtimeout="2s"/></block></form>"""),
        BASE + "a.vxml": vxml("<form><block>a<exit/></block></form>"),
    }
    result = await run(documents)
    request = result.fetcher.requests[1]
    assert (request.maxage_s, request.maxstale_s, request.timeout_s) == (30.0, 60.0, 2.0)


async def test_submit_multipart_enctype_without_a_recording() -> None:
    documents = {
        START: vxml("""<var name="a" expr="'x'"/><form><block>
            <submit next="save" method="post" enctype="multipart/form-data" namelist="a"/>
          </block></form>"""),
        BASE + "save": vxml("<form><block>saved<exit/></block></form>"),
    }
    result = await run(documents)
    request = result.fetcher.requests[1]
    assert (request.method, request.enctype, dict(request.data or {})) == (
        "POST",
        "multipart/form-data",
        {"a": "x"},
    )
    assert result.heard == ["saved"]


async def test_submit_a_get_to_the_root_reloads_it_goto_keeps_it() -> None:
    root = vxml("""<var name="n" expr="0"/>
      <form id="home"><block>root n=<value expr="n"/><exit/></block></form>""")
    documents = {
        START: leaf("""<form><block><assign name="application.n" expr="5"/>
            <{element} next="root.vxml"/></block></form>"""),
        BASE + "root.vxml": root,
    }
    kept = dict(documents, **{START: documents[START].format(element="goto")})
    assert (await run(kept)).heard == ["root n=5"]
    reloaded = dict(documents, **{START: documents[START].format(element="submit")})
    assert (await run(reloaded)).heard == ["root n=0"]


async def test_subdialog_srcexpr_and_its_filled() -> None:
    said = await heard(
        """<var name="where" expr="'#ask'"/>
      <form>
        <subdialog name="s" srcexpr="where">
          <filled>answer <value expr="s.pin"/><exit/></filled>
        </subdialog>
      </form>
      <form id="ask">
        <field name="pin" type="digits?length=2"><prompt>pin</prompt>
          <filled><return namelist="pin"/></filled></field>
      </form>""",
        ["42"],
    )
    assert said == ["pin", "answer 42"]


async def test_link_expr_and_eventexpr() -> None:
    body = """<var name="target" expr="'#other'"/>
      <form>
        <link dtmf="1" expr="target"/>
        <link dtmf="2" eventexpr="'app.' + 'two'" messageexpr="'m'"/>
        <catch event="app.two">caught <value expr="_message"/><exit/></catch>
        <field name="f" type="digits?length=3"><prompt>keys</prompt></field>
      </form>
      <form id="other"><block>other<exit/></block></form>"""
    assert await heard(body, ["1"]) == ["keys", "other"]
    assert await heard(body, ["2"]) == ["keys", "caught m"]


# -- ECMAScript -------------------------------------------------------------------------


async def test_session_variables_from_the_session_mapping() -> None:
    said = await heard("""<form><block>
        <value expr="session.connection.local.uri"/> <value expr="session.connection.remote.uri"/>
        <value expr="typeof session.call_id"/> <value expr="session.telephone.ani"/>
      </block></form>""")
    assert said == ["sip:15550001111@vxdial sip:15551234567@trunk number 15550001111"]
    assert SESSION["call_id"] == 42


async def test_script_src_in_a_leaf_is_fetched_relative_to_that_leaf() -> None:
    documents = {
        START: vxml('<form><block><goto next="deep/leaf.vxml"/></block></form>'),
        BASE + "deep/leaf.vxml": vxml("""<form><block>
            <script src="util.js"/><value expr="where"/></block></form>"""),
        BASE + "deep/util.js": "var where = 'deep';",
        BASE + "util.js": "var where = 'top';",
    }
    assert (await run(documents)).heard == ["deep"]


async def test_the_time_limit_stops_a_runaway_guard_condition() -> None:
    body = vxml("""<script>function spin() { for (;;) {} }</script>
      <form><block cond="spin()">never</block></form>""")
    result = await run(body, limits=voicexml.Limits(script_time_s=0.05))
    assert result.end.event == "error.semantic"
    assert result.end.message == "limit exceeded: a script ran longer than 0.05 s"


async def test_the_memory_limit_is_not_catchable() -> None:
    body = vxml("""<catch event="error.semantic">caught<exit/></catch>
      <form><block><script>
        var parts = []; while (true) parts.push("x".repeat(1024));
      </script></block></form>""")
    result = await run(body, limits=voicexml.Limits(script_memory_bytes=4 * 1024 * 1024))
    assert result.end.message == "limit exceeded: scripts used more than 4 MiB"
    assert result.heard == []


async def test_cond_and_expr_on_prompts_values_and_exit() -> None:
    said = await heard("""<form>
        <var name="n" expr="2"/>
        <block>
          <prompt cond="n &gt; 1">many</prompt><prompt cond="n &lt;= 1">few</prompt>
          <audio expr="'gone-' + n + '.wav'">fallback <value expr="n * 2"/></audio>
          <log expr="'n=' + n"/>
        </block></form>""")
    assert said == ["many", "fallback 4"]


# -- record and transfer ---------------------------------------------------------------


async def _run_channel(
    body: str, channel: ScriptedChannel, documents: dict[str, str] | None = None
) -> voicexml.SessionEnd:
    fetcher = MemoryFetcher({START: vxml(body), **(documents or {})})
    return await voicexml.run_session(
        voicexml.FetchRequest(START), channel=channel, fetcher=fetcher, session=SESSION
    )


async def test_record_cut_by_maxtime_and_ended_by_silence() -> None:
    channel = ScriptedChannel(
        recordings=[
            media.Recording(media.silence_wav(1.0), 1.0, max_time_reached=True),
            media.Recording(media.silence_wav(0.5), 0.5),
        ]
    )
    await _run_channel(
        """<form>
          <record name="a" maxtime="1s" dtmfterm="false">
            <filled><value expr="a$.maxtime"/> <value expr="typeof a$.termchar"/>
              <value expr="a$.duration"/></filled></record>
          <record name="b"><filled><value expr="b$.maxtime"/> <value expr="b$.size &gt; 44"/>
            <value expr="b.duration"/><exit/></filled></record>
        </form>""",
        channel,
    )
    assert channel.heard == ["true undefined 1000", "false true 500"]
    first, second = channel.records
    assert (first.max_time_s, first.dtmf_term, first.beep) == (1.0, False, False)
    assert (second.max_time_s, second.final_silence_s, second.dtmf_term) == (0.0, 2.0, True)


async def test_bridged_transfer_busy_and_defaults() -> None:
    channel = ScriptedChannel(transfers=[media.TransferResult("busy")])
    await _run_channel(
        """<form><transfer name="t" dest="tel:+15550001" bridge="true">
            <filled><if cond="t == 'busy'">busy, <value expr="t$.duration"/>
              <value expr="typeof t$.inputmode"/> <value expr="typeof t$.utterance"/></if>
              <exit/></filled>
          </transfer></form>""",
        channel,
    )
    assert channel.heard == ["busy, 0 undefined undefined"]
    (call,) = channel.transfers
    assert (call.bridge, call.connect_timeout_s, call.max_time_s) == (True, 30.0, 0.0)


class _GoneDuringMedia(ScriptedChannel):
    """A caller who hangs up during any recording or transfer."""

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> media.Recording:
        raise media.Hangup("caller hung up")

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> media.TransferResult:
        raise media.Hangup("caller hung up")


@pytest.mark.parametrize(
    "item", ['<record name="r"/>', '<transfer name="t" dest="tel:+1555" bridge="true"/>']
)
async def test_caller_hangs_up_during_a_record_or_a_transfer(item: str) -> None:
    channel = _GoneDuringMedia()
    end = await _run_channel(
        f"""<catch event="connection.disconnect.hangup"><exit expr="'gone'"/></catch>
        <form>{item}</form>""",
        channel,
    )
    assert end == voicexml.SessionEnd("hangup", values={"expr": "gone"})
    assert not channel.hung_up
