"""A ``<field>`` without grammars of its own (VoiceXML 2.0 sections 3.1.3 and 3.1.4): legal
while other grammars are active; it waits for input and they listen. Only a field
with no active grammar at all is error.semantic."""

from __future__ import annotations

from tests.unit.voicexml.helpers import START, run, vxml

ROOT = "http://app.example/ivr/root.vxml"


async def test_a_field_without_grammar_listens_to_a_document_link() -> None:
    """VoiceXML 2.0 section 3.1.4: a document's <link> grammars are active in every
    dialog of the document, so a field without grammars of its own waits for input and a
    key of the link follows it (section 2.5)."""
    result = await run(
        vxml("""<link dtmf="0" next="#operator"/>
        <form id="main">
          <field name="account">
            <prompt>Press 0 for the operator.</prompt>
            <filled>never</filled>
          </field>
        </form>
        <form id="operator"><block>operator<exit/></block></form>"""),
        ["0"],
    )
    assert result.heard == ["Press 0 for the operator.", "operator"]
    assert result.end.reason == "exit"
    (collect,) = result.channel.collects
    assert collect.max_digits == 1  # the link's grammar bounds the input


async def test_a_field_without_grammar_listens_to_its_own_and_its_forms_links() -> None:
    """VoiceXML 2.0 sections 2.5 and 3.1.4: links of the field and of its form are active
    grammars of the field (and keys matching no active grammar are nomatch)."""
    result = await run(
        vxml("""<form>
          <link dtmf="9" next="#form-link"/>
          <field name="f">
            <link dtmf="1" event="pressed.one"/>
            <prompt>Go.</prompt>
            <catch event="pressed.one">one</catch>
            <nomatch>no such key</nomatch>
          </field>
        </form>
        <form id="form-link"><block>form link<exit/></block></form>"""),
        ["5", "1", "9"],
    )
    assert result.heard == ["Go.", "no such key", "one", "form link"]  # no <reprompt>


async def test_a_field_without_grammar_listens_to_the_application_roots_links() -> None:
    """VoiceXML 2.0 section 3.1.3: the grammars of the application root document (its
    links) are active in its leaf documents."""
    result = await run(
        {
            ROOT: vxml('<link dtmf="#" next="http://app.example/ivr/bye.vxml"/>'),
            START: vxml("""<form><field name="f"><prompt>Wait.</prompt></field></form>""").replace(
                "<vxml ", '<vxml application="root.vxml" '
            ),
            "http://app.example/ivr/bye.vxml": vxml("<form><block>bye<exit/></block></form>"),
        },
        ["#"],
    )
    assert result.heard == ["Wait.", "bye"], result.end
    assert result.end.reason == "exit"


async def test_a_field_without_grammar_fills_from_another_forms_document_grammar() -> None:
    """VoiceXML 2.0 section 3.1.3: a form's grammar of scope="document" is active in the
    other dialogs of the document; its match goes to that form, which it fills by the
    mixed-initiative rules (section 3.1.6: a slot of its result)."""
    result = await run(
        vxml("""<form id="ask"><field name="idle"><prompt>Say or press.</prompt></field></form>
        <form id="order">
          <grammar mode="dtmf" scope="document" root="r" version="1.0"
                   xmlns="http://www.w3.org/2001/06/grammar" tag-format="semantics/1.0">
            <rule id="r"><item>4 2<tag>out.size = "large"</tag></item></rule>
          </grammar>
          <field name="size"/>
          <filled>size <value expr="size"/><exit/></filled>
        </form>"""),
        ["42"],
    )
    assert result.heard == ["Say or press.", "size large"], result.end


async def test_a_modal_field_without_grammar_is_a_semantic_error_whatever_else_listens() -> None:
    """VoiceXML 2.0 section 2.3.1 (modal: only the field's own grammars are active) and
    3.1.4: a modal field without grammars has no active grammar at all."""
    result = await run(
        vxml("""<link dtmf="0" next="#elsewhere"/>
        <form>
          <grammar mode="dtmf" root="r" version="1.0" xmlns="http://www.w3.org/2001/06/grammar">
            <rule id="r">1</rule></grammar>
          <field name="f" modal="true"><prompt>x</prompt></field>
        </form>
        <form id="elsewhere"><block>elsewhere</block></form>""")
    )
    assert result.end.event == "error.semantic"
    assert "line 7: <field> has no active grammar" in (result.end.message or "")
    assert result.channel.collects == []


async def test_a_voice_grammar_in_scope_makes_a_grammarless_field_legal_but_hears_no_keys() -> None:
    """VoiceXML 2.0 section 3.1.4: a voice grammar is an active grammar like any other
    (so the field is legal and waits); on this DTMF platform it hears nothing, and keys
    are nomatch."""
    result = await run(
        vxml("""<link next="#never"><grammar mode="voice" root="r" version="1.0"
            xmlns="http://www.w3.org/2001/06/grammar"><rule id="r">operator</rule></grammar>
        </link>
        <form>
          <field name="f"><prompt>Speak.</prompt>
            <nomatch>nomatch<exit/></nomatch></field>
        </form>
        <form id="never"><block>never</block></form>"""),
        ["1"],
    )
    assert result.heard == ["Speak.", "nomatch"]
    assert result.channel.collects[0].max_digits == 0
