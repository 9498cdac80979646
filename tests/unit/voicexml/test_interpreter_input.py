"""vxdial.voicexml.interpreter: fields, the builtin DTMF grammars, <filled>, prompt
selection and the properties passed to ``Channel.collect``."""

from __future__ import annotations

import pytest

from vxdial.voicexml.testing import CollectCall

from .helpers import heard, run, vxml


def field(attrs: str, inner: str = "", after: str = "") -> str:
    """A one-field form that says what was filled."""
    return vxml(f"""<form>
      <field name="f" {attrs}>
        <prompt>Enter.</prompt>{inner}
        <filled>got <value expr="f"/></filled>
      </field>{after}
    </form>""")


# The digits grammar


async def test_digits_collects_until_the_termchar() -> None:
    result = await run(field('type="digits"'), ["123#"])
    assert result.heard == ["Enter.", "got 123"]
    assert result.channel.collects == [
        CollectCall(
            max_digits=0,
            timeout_s=5.0,
            interdigit_timeout_s=3.0,
            termchar="#",
            already="",
        )
    ]
    assert result.end.reason == "end"


async def test_digits_value_is_a_string_with_shadow_variables_and_lastresult() -> None:
    said = await heard(
        """<form><field name="pin" type="digits">
          <filled><value expr="typeof pin"/> <value expr="pin$.utterance"/>
            <value expr="pin$.inputmode"/> <value expr="pin$.confidence"/>
            <value expr="pin$.interpretation"/>
            <value expr="application.lastresult$.utterance"/>
            <value expr="application.lastresult$[0].inputmode"/></filled>
        </field></form>""",
        ["0042"],
    )
    assert said == ["string 0042 dtmf 1 0042 0042 dtmf"]


@pytest.mark.parametrize(
    ("type_", "keys", "max_digits", "outcome"),
    [
        ("digits?length=4", "1234", 4, "got 1234"),
        ("digits?length=4", "12#", 4, "nomatch"),
        ("digits?minlength=2;maxlength=3", "1#", 3, "nomatch"),
        ("digits?minlength=2;maxlength=3", "12#", 3, "got 12"),
        ("digits?minlength=2;maxlength=3", "12345", 3, "got 123"),
        ("digits?maxlength=2", "9", 2, "got 9"),
        ("digits", "12*3#", 0, "nomatch"),
        ("digits", "#", 0, "nomatch"),
    ],
)
async def test_digits_parameters(type_: str, keys: str, max_digits: int, outcome: str) -> None:
    result = await run(
        field(f'type="{type_}"', "<nomatch>nomatch<exit/></nomatch>"),
        [keys],
    )
    assert result.heard[-1] == outcome
    assert result.channel.collects[0].max_digits == max_digits


async def test_builtin_grammar_element() -> None:
    body = """<form><field name="f">
        <grammar src="builtin:dtmf/digits?length=2"/>
        <grammar mode="voice" src="spoken.grxml"/>
        <filled>got <value expr="f"/></filled></field></form>"""
    result = await run(vxml(body), ["77"])
    assert result.heard == ["got 77"]
    assert result.channel.collects[0].max_digits == 2


# The boolean grammar


@pytest.mark.parametrize(("keys", "said"), [("1", "true boolean"), ("2", "false boolean")])
async def test_boolean_one_is_true_two_is_false(keys: str, said: str) -> None:
    result = await run(
        vxml("""<form><field name="ok" type="boolean">
          <filled><value expr="ok"/> <value expr="typeof ok"/></filled></field></form>"""),
        [keys],
    )
    assert result.heard == [said]
    assert result.channel.collects[0].max_digits == 1


async def test_boolean_other_keys_do_not_match_and_parameters_change_the_keys() -> None:
    result = await run(field('type="boolean"', "<nomatch>no<exit/></nomatch>"), ["3"])
    assert result.heard == ["Enter.", "no"]
    result = await run(field('type="boolean?y=7;n=9"'), ["9"])
    assert result.heard == ["Enter.", "got false"]


# noinput and nomatch


async def test_noinput_and_nomatch_default_handlers_reprompt() -> None:
    result = await run(field('type="digits?length=1"'), [None, "x", "5"])
    assert result.heard == ["Enter.", "Enter.", "Enter.", "got 5"]


async def test_a_catch_without_reprompt_does_not_replay_the_field_prompts() -> None:
    body = field('type="boolean"', "<noinput>Please press a key.</noinput>")
    result = await run(body, [None, "1"])
    assert result.heard == ["Enter.", "Please press a key.", "got true"]


async def test_a_catch_with_reprompt_replays_the_field_prompts() -> None:
    body = field('type="boolean"', "<noinput>Please press a key.<reprompt/></noinput>")
    result = await run(body, [None, "1"])
    assert result.heard == ["Enter.", "Please press a key.", "Enter.", "got true"]


async def test_silent_caller_after_the_keys_run_out() -> None:
    body = field(
        'type="boolean"',
        """<noinput count="3">Goodbye.<exit/></noinput>""",
    )
    result = await run(body, [])
    assert result.heard == ["Enter.", "Enter.", "Enter.", "Goodbye."]
    assert result.end.reason == "exit"


# Prompt selection


async def test_prompt_count_tapering_and_cond() -> None:
    body = vxml("""<form><field name="f" type="digits?length=1">
        <prompt count="1">first</prompt>
        <prompt count="2">second</prompt>
        <prompt count="2" cond="false">hidden</prompt>
        <prompt count="4">fourth</prompt>
        <noinput count="5"><exit/></noinput>
      </field></form>""")
    result = await run(body, [])
    assert result.heard == ["first", "second", "second", "fourth", "fourth"]


async def test_prompts_with_only_high_counts_say_nothing_on_the_first_visit() -> None:
    body = vxml("""<form><field name="f" type="boolean">
        <prompt count="2">second</prompt><noinput count="2"><exit/></noinput>
      </field></form>""")
    result = await run(body, [])
    assert result.heard == ["second"]


async def test_implicit_prompt_text_in_a_field() -> None:
    said = await heard(
        """<form><field name="f" type="boolean">Press <value expr="1"/>.
          <filled>ok</filled></field></form>""",
        ["1"],
    )
    assert said == ["Press 1.", "ok"]


# Filled


async def test_field_filled_then_form_filled_in_document_order() -> None:
    body = vxml("""<form>
        <field name="a" type="boolean"><filled>a filled</filled></field>
        <filled mode="any">form any</filled>
        <field name="b" type="boolean"><filled>b filled</filled></field>
        <filled mode="all">form all: <value expr="a"/> <value expr="b"/></filled>
        <filled namelist="b">only b</filled>
      </form>""")
    result = await run(body, ["1", "2"])
    # Every <filled> whose variables were just filled runs, in document order: the
    # form-level one written before field b runs before b's own.
    assert result.heard == [
        "a filled",
        "form any",
        "form any",
        "b filled",
        "form all: true false",
        "only b",
    ]


async def test_filled_can_clear_its_field_to_ask_again() -> None:
    body = vxml("""<form><field name="n" type="digits">
        <prompt>Number?</prompt>
        <filled><if cond="n &lt; 10">Too small.<clear namelist="n"/>
          <else/>OK <value expr="n"/></if></filled>
      </field></form>""")
    result = await run(body, ["3#", "12#"])
    assert result.heard == ["Number?", "Too small.", "Number?", "OK 12"]


async def test_a_throw_in_filled_skips_the_rest_of_the_filled_actions() -> None:
    body = vxml("""<form>
        <catch event="oops">caught</catch>
        <field name="a" type="boolean"><filled>one<throw event="oops"/>never</filled></field>
        <filled>form level never</filled>
        <block>after</block>
      </form>""")
    result = await run(body, ["1"])
    assert result.heard == ["one", "caught", "after"]


async def test_field_guard_expr_and_cond() -> None:
    body = vxml("""<form>
        <field name="pre" type="boolean" expr="true"><prompt>never</prompt></field>
        <field name="off" type="boolean" cond="false"><prompt>never</prompt></field>
        <block>done <value expr="pre"/> <value expr="typeof off"/></block>
      </form>""")
    result = await run(body)
    assert result.heard == ["done true undefined"]


# Properties


async def test_timeout_properties_at_document_form_and_field_level() -> None:
    body = vxml("""
      <property name="timeout" value="7s"/>
      <property name="interdigittimeout" value="1500ms"/>
      <form>
        <property name="termchar" value="*"/>
        <field name="a" type="digits"/>
        <field name="b" type="digits">
          <property name="timeout" value="2.5s"/><property name="termchar" value=""/>
        </field>
      </form>""")
    result = await run(body, ["1*", "2"])
    first, second = result.channel.collects
    assert (first.timeout_s, first.interdigit_timeout_s, first.termchar) == (7.0, 1.5, "*")
    assert (second.timeout_s, second.interdigit_timeout_s, second.termchar) == (2.5, 1.5, None)


async def test_prompt_timeout_applies_to_the_next_collect_only() -> None:
    body = vxml("""<form><field name="a" type="digits?length=1">
        <prompt timeout="10s">Enter.</prompt>
        <nomatch>Again.</nomatch></field></form>""")
    result = await run(body, ["x", "1"])
    assert [c.timeout_s for c in result.channel.collects] == [10.0, 5.0]


@pytest.mark.parametrize(
    ("name", "value"),
    [("timeout", "5"), ("interdigittimeout", "soon"), ("termchar", "##"), ("bargein", "yes")],
)
async def test_bad_property_values_are_semantic_errors(name: str, value: str) -> None:
    body = vxml(f"""<property name="{name}" value="{value}"/>
      <form><field name="a" type="digits"><prompt>x</prompt></field></form>""")
    result = await run(body, ["1"])
    assert result.end.event == "error.semantic"
    assert name in (result.end.message or "")


# Barge-in


async def test_keys_typed_during_a_bargein_prompt_stop_the_queue_and_are_collected() -> None:
    body = vxml("""<form>
        <block>Welcome.</block>
        <field name="f" type="digits?length=2"><prompt>Enter two digits.</prompt>
          <filled>got <value expr="f"/></filled></field></form>""")
    result = await run(body, ["42"], typeahead=True)
    assert result.heard == ["Welcome.", "got 42"]
    assert result.channel.collects[0].already == "42"


async def test_keys_typed_during_a_prompt_without_bargein_are_ignored() -> None:
    body = vxml("""<form>
        <field name="f" type="digits?length=2">
          <prompt bargein="false">Listen to all of this.</prompt>
          <prompt>Enter two digits.</prompt>
          <noinput>nothing<exit/></noinput>
          <filled>got <value expr="f"/></filled></field></form>""")
    result = await run(body, ["42"], typeahead=True)
    assert result.heard == ["Listen to all of this.", "Enter two digits.", "nothing"]
    assert result.channel.collects[0].already == ""


# Grammars not supported yet


async def test_unknown_builtin_type_throws_error_unsupported_builtin() -> None:
    body = vxml("""<form><field name="d" type="colour"><prompt>never</prompt>
        <catch event="error.unsupported.builtin">
          <value expr="_event"/>: <value expr="_message"/><assign name="d" expr="'n/a'"/>
        </catch>
      </field><block>next</block></form>""")
    result = await run(body)
    assert result.heard == [
        "error.unsupported.builtin: line 3: builtin grammar 'colour' is unknown"
        " (there are boolean, currency, date, digits, number, phone, time)",
        "next",
    ]


async def test_an_inline_srgs_grammar_in_the_voicexml_namespace() -> None:
    body = vxml("""<form><field name="d">
        <grammar mode="dtmf" root="r"><rule id="r"><item repeat="2">1</item></rule></grammar>
        <filled>got <value expr="d"/><exit/></filled>
      </field></form>""")
    result = await run(body, ["11"])
    assert result.heard == ["got 11"]
    assert result.channel.collects[0].max_digits == 2
    assert result.channel.collects[0].complete is not None


async def test_field_without_grammar_is_a_semantic_error() -> None:
    result = await run(vxml('<form><field name="d"><prompt>x</prompt></field></form>'))
    assert result.end.event == "error.semantic"
    assert "has no active grammar" in (result.end.message or "")
