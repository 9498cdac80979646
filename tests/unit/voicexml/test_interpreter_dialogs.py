"""vxdial.voicexml.interpreter: menus, links, mixed initiative, subdialogs, application
root documents, transitions, submits, SSML output, ``<data>`` and ``<foreach>``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from vxdial import voicexml
from vxdial.domain import media
from vxdial.voicexml.fetch import FetchRequest
from vxdial.voicexml.testing import MemoryFetcher, ScriptedChannel

from .helpers import SESSION, START, heard, run, vxml

BASE = "http://app.example/ivr/"

# -- menus -------------------------------------------------------------------------------

MENU = """
  <menu id="main" dtmf="true">
    <prompt>Main menu. <enumerate/></prompt>
    <choice next="#sales">Sales</choice>
    <choice next="#support">Support</choice>
    <choice dtmf="0" event="operator">Operator</choice>
    <catch event="operator">operator please<exit/></catch>
    <noinput>say something<reprompt/></noinput>
    <nomatch>no such choice<reprompt/></nomatch>
  </menu>
  <form id="sales"><block>sales here<exit/></block></form>
  <form id="support"><block>support here<exit/></block></form>
"""


async def test_menu_numbers_its_choices_and_enumerates_them() -> None:
    said = await heard(MENU, ["2"])
    assert said == [
        "Main menu. For Sales, press 1. For Support, press 2. For Operator, press 0.",
        "support here",
    ]


async def test_menu_choice_with_event_and_reprompt_after_noinput_and_nomatch() -> None:
    said = await heard(MENU, [None, "7", "0"])
    menu = said[0]
    assert said == [menu, "say something", menu, "no such choice", menu, "operator please"]


async def test_enumerate_template_sees_prompt_and_dtmf() -> None:
    said = await heard(
        """<menu dtmf="true">
          <prompt><enumerate><value expr="_dtmf"/>=<value expr="_prompt"/>;</enumerate></prompt>
          <choice next="#a">Apples</choice><choice next="#b">Pears</choice>
        </menu>
        <form id="a"><block>A<exit/></block></form>
        <form id="b"><block>B<exit/></block></form>""",
        ["1"],
    )
    assert said == ["1=Apples; 2=Pears;", "A"]


async def test_menu_choice_expr_and_an_srgs_grammar() -> None:
    said = await heard(
        """<var name="where" expr="'#b'"/>
        <menu>
          <prompt>pick</prompt>
          <choice expr="where">
            <grammar mode="dtmf" version="1.0" root="r" xmlns="http://www.w3.org/2001/06/grammar">
              <rule id="r"><one-of><item>4 2</item><item>9</item></one-of></rule>
            </grammar>
            Bees
          </choice>
        </menu>
        <form id="b"><block>B <value expr="application.lastresult$.utterance"/><exit/></block>
        </form>""",
        ["42"],
    )
    assert said == ["pick", "B 42"]


async def test_document_scope_menu_choice_is_active_in_another_form() -> None:
    body = """<form id="start">
          <field name="n" type="digits?length=3"><prompt>number</prompt></field>
          <block>got <value expr="n"/><exit/></block>
        </form>
        <menu id="top" scope="document">
          <choice dtmf="9" next="#bye">bye</choice>
        </menu>
        <form id="bye"><block>goodbye<exit/></block></form>"""
    assert await heard(body, ["9"]) == ["number", "goodbye"]
    assert await heard(body, ["123"]) == ["number", "got 123"]


# -- links, initial, form-level grammars ------------------------------------------------


async def test_field_link_goes_elsewhere_and_document_link_throws() -> None:
    body = """
      <link dtmf="*" event="help.me"/>
      <form>
        <catch event="help.me">helping<exit/></catch>
        <field name="pin" type="digits?length=4">
          <link dtmf="0" next="#operator"/>
          <prompt>pin</prompt>
          <filled>pin <value expr="pin"/><exit/></filled>
        </field>
      </form>
      <form id="operator"><block>operator<exit/></block></form>"""
    assert await heard(body, ["0"]) == ["pin", "operator"]
    assert await heard(body, ["*"]) == ["pin", "helping"]
    assert await heard(body, ["1234"]) == ["pin", "pin 1234"]


async def test_modal_field_ignores_links() -> None:
    said = await heard(
        """<link dtmf="0" next="#elsewhere"/>
        <form>
          <field name="f" type="boolean" modal="true">
            <prompt>yes or no</prompt>
            <nomatch>not that<exit/></nomatch>
          </field>
        </form>
        <form id="elsewhere"><block>elsewhere<exit/></block></form>""",
        ["0"],
    )
    assert said == ["yes or no", "not that"]


async def test_initial_with_a_form_level_grammar_fills_slots() -> None:
    grammar = """<grammar mode="dtmf" version="1.0" root="r" tag-format="semantics/1.0"
          xmlns="http://www.w3.org/2001/06/grammar">
        <rule id="r">
          <item><ruleref uri="#d"/><tag>out.day = rules.d;</tag></item>
          <item>*</item>
          <item><ruleref uri="#d"/><tag>out.month = rules.d;</tag></item>
        </rule>
        <rule id="d"><one-of><item>1</item><item>2</item><item>3</item></one-of></rule>
      </grammar>"""
    body = f"""<form>
        {grammar}
        <initial name="start"><prompt>day star month, or nothing</prompt>
          <noinput>one at a time<assign name="start" expr="true"/></noinput>
        </initial>
        <field name="day" type="digits?length=1"><prompt>day</prompt></field>
        <field name="month" type="digits?length=1"><prompt>month</prompt></field>
        <filled mode="all">day <value expr="day"/> month <value expr="month"/>
          start <value expr="start"/><exit/></filled>
      </form>"""
    assert await heard(body, ["2*3"]) == ["day star month, or nothing", "day 2 month 3 start true"]
    # The noinput handler ends without <reprompt>: the next iteration queues no prompt
    # (VoiceXML 2.0 appendix C), even though it visits another item.
    assert await heard(body, [None, "1", "2"]) == [
        "day star month, or nothing",
        "one at a time",
        "month",
        "day 1 month 2 start true",
    ]


# -- goto and submit --------------------------------------------------------------------


async def test_goto_expritem_and_next_with_fragment_in_another_document() -> None:
    other = vxml("""<form id="x"><block>wrong</block></form>
        <form id="y"><block>other y<exit/></block></form>""")
    result = await run(
        {
            START: vxml("""<form>
                <block><goto expritem="'b'"/></block>
                <block name="a">skipped</block>
                <block name="b">b <goto next="other.vxml#y"/></block>
              </form>"""),
            BASE + "other.vxml": other,
        }
    )
    assert result.heard == ["b", "other y"]


async def test_submit_sends_the_forms_input_items_by_default_and_get_puts_them_in_the_url() -> None:
    result = await run(
        {
            START: vxml("""<form>
                <var name="hidden" expr="'no'"/>
                <field name="pin" type="digits?length=2"><prompt>pin</prompt></field>
                <field name="ok" type="boolean"><prompt>ok</prompt></field>
                <block><submit next="next.vxml"/></block>
              </form>"""),
            BASE + "next.vxml?pin=42&ok=true": vxml("<form><block>done<exit/></block></form>"),
        },
        ["42", "1"],
    )
    assert result.heard == ["pin", "ok", "done"]
    request = result.fetcher.requests[-1]
    assert request.method == "GET"
    assert parse_qs(urlsplit(request.url).query) == {"pin": ["42"], "ok": ["true"]}


async def test_submit_post_with_namelist_objects_flattened() -> None:
    result = await run(
        {
            START: vxml("""<form>
                <var name="order" expr="({id: 7, items: 2})"/>
                <block><submit next="next.vxml" method="post" namelist="order"/></block>
              </form>"""),
            BASE + "next.vxml": vxml("<form><block><exit/></block></form>"),
        }
    )
    request = result.fetcher.requests[-1]
    assert request.method == "POST"
    assert dict(request.data or {}) == {"order.id": "7", "order.items": "2"}


async def test_fetchtimeout_reaches_the_fetcher() -> None:
    result = await run(
        {
            START: vxml("""<property name="fetchtimeout" value="2500ms"/>
              <form><block><goto next="a.vxml"/></block></form>"""),
            BASE + "a.vxml": vxml(
                '<form><block><goto next="b.vxml" fetchtimeout="7s"/></block></form>'
            ),
            BASE + "b.vxml": vxml("<form><block><exit/></block></form>"),
        }
    )
    timeouts = [request.timeout_s for request in result.fetcher.requests]
    assert timeouts[1:] == [2.5, 7.0]


# -- subdialogs --------------------------------------------------------------------------


async def test_subdialog_gets_params_and_returns_values_in_a_new_context() -> None:
    result = await run(
        {
            START: vxml("""<var name="mine" expr="'caller'"/>
              <form>
                <subdialog name="r" src="sub.vxml">
                  <param name="greeting" expr="'hi ' + mine"/>
                  <filled>back with <value expr="r.answer"/> and <value expr="mine"/>
                    <exit/></filled>
                </subdialog>
              </form>"""),
            BASE + "sub.vxml": vxml("""<form>
                <var name="greeting"/>
                <block><value expr="greeting"/>; mine is <value expr="typeof mine"/>
                  <var name="answer" expr="42"/>
                  <return namelist="answer"/></block>
              </form>"""),
        }
    )
    assert result.heard == ["hi caller; mine is undefined", "back with 42 and caller"]


async def test_subdialog_return_event_is_thrown_in_the_caller() -> None:
    said = await heard(
        """<form>
          <subdialog name="r" src="#sub">
            <catch event="sub.failed">caught <value expr="_message"/><exit/></catch>
          </subdialog>
        </form>
        <form id="sub"><block><return event="sub.failed" message="no luck"/></block></form>"""
    )
    assert said == ["caught no luck"]


async def test_subdialog_param_without_a_var_is_error_semantic() -> None:
    result = await run(
        vxml("""<form>
          <subdialog name="r" src="#sub"><param name="nope" value="1"/></subdialog>
        </form>
        <form id="sub"><block><return/></block></form>""")
    )
    assert result.end.reason == "error" and result.end.event == "error.semantic"
    assert "nope" in (result.end.message or "")


async def test_return_outside_a_subdialog_is_error_semantic() -> None:
    result = await run(vxml("<form><block><return/></block></form>"))
    assert result.end.event == "error.semantic"


async def test_exit_in_a_subdialog_ends_the_session() -> None:
    result = await run(
        vxml("""<form><subdialog name="r" src="#sub"/><block>not reached</block></form>
        <form id="sub"><block>bye<exit expr="'sub'"/></block></form>""")
    )
    assert result.heard == ["bye"]
    assert result.end.reason == "exit" and result.end.values == {"expr": "sub"}


# -- application root documents ---------------------------------------------------------

ROOT = vxml("""<var name="visits" expr="0"/>
  <catch event="app.oops">root caught <value expr="_event"/><exit/></catch>
  <link dtmf="#" next="leaf2.vxml"/>
  <form id="home"><block>home, visits <value expr="application.visits"/><exit/></block></form>""")


async def test_application_variables_live_across_leaf_documents() -> None:
    result = await run(
        {
            START: vxml(
                """<form><block><assign name="application.visits" expr="visits + 1"/>
                  <goto next="leaf2.vxml"/></block></form>"""
            ).replace('<vxml version="2.1"', '<vxml version="2.1" application="root.vxml"'),
            BASE + "leaf2.vxml": vxml(
                """<form><block>leaf2, visits <value expr="visits"/>
                  <throw event="app.oops"/></block></form>"""
            ).replace('<vxml version="2.1"', '<vxml version="2.1" application="root.vxml"'),
            BASE + "root.vxml": ROOT,
        }
    )
    assert result.heard == ["leaf2, visits 1", "root caught app.oops"]
    fetched = [urlsplit(request.url).path for request in result.fetcher.requests]
    assert fetched.count("/ivr/root.vxml") == 1  # loaded once, kept while it is the root


async def test_a_root_link_is_active_in_a_leaf_and_going_to_the_root_keeps_its_variables() -> None:
    leaf = vxml(
        """<form><field name="f" type="digits?length=2"><prompt>two digits</prompt></field>
          <block><assign name="application.visits" expr="5"/><goto next="root.vxml#home"/></block>
        </form>"""
    ).replace('<vxml version="2.1"', '<vxml version="2.1" application="root.vxml"')
    documents = {START: leaf, BASE + "root.vxml": ROOT, BASE + "leaf2.vxml": leaf}
    said = (await run(documents, ["#", "12"])).heard
    assert said == ["two digits", "two digits", "home, visits 5"]


async def test_a_missing_application_root_is_error_badfetch() -> None:
    result = await run(
        vxml("<form><block>x</block></form>").replace(
            '<vxml version="2.1"', '<vxml version="2.1" application="nowhere.vxml"'
        )
    )
    assert result.end.reason == "error"
    assert (result.end.event or "").startswith("error.badfetch")


# -- output ------------------------------------------------------------------------------


async def test_prompt_ssml_carries_markup_and_audio_and_text_is_plain() -> None:
    result = await run(
        {
            BASE + "tone.wav": b"RIFF....",
            START: vxml("""<form><block><prompt xml:lang="en-GB">Your code is
          <say-as interpret-as="digits">123</say-as><break time="300ms"/>
          <audio src="tone.wav">beep</audio> <mark name="end"/>&amp; bye</prompt><exit/></block>
          </form>"""),
        }
    )
    (prompt,) = result.channel.prompts
    assert prompt.text == "Your code is 123 beep & bye"
    assert prompt.audio_urls == (BASE + "tone.wav",)
    assert prompt.ssml is not None
    assert prompt.ssml.startswith('<speak version="1.0"')
    assert 'xml:lang="en-GB"' in prompt.ssml
    for piece in (
        '<say-as interpret-as="digits">123</say-as>',
        '<break time="300ms"/>',
        f'<audio src="{BASE}tone.wav">beep</audio>',
        '<mark name="end"/>',
        "&amp; bye",
    ):
        assert piece in prompt.ssml


async def test_plain_prompts_have_no_ssml() -> None:
    result = await run(vxml("<form><block>hello<exit/></block></form>"))
    assert result.channel.prompts[0].ssml is None


async def test_foreach_in_executable_content_and_in_a_prompt() -> None:
    said = await heard(
        """<form><block>
          <var name="items" expr="['a', 'b', 'c']"/>
          <var name="n" expr="0"/>
          <foreach array="items" item="it"><assign name="n" expr="n + 1"/></foreach>
          <prompt>count <value expr="n"/>:<foreach array="items" item="x"> <value expr="x"/>
            </foreach></prompt>
          <exit/></block></form>"""
    )
    assert said == ["count 3: a b c"]


async def test_data_exposes_a_read_only_dom() -> None:
    result = await run(
        {
            START: vxml("""<form><block>
              <data name="quote" src="quote.xml"/>
              <var name="root" expr="quote.documentElement"/>
              <value expr="root.nodeName"/> <value expr="root.getAttribute('symbol')"/>
              <value expr="root.getElementsByTagName('price')[0].firstChild.nodeValue"/>
              <value expr="root.getElementsByTagName('price').length"/>
              <exit/></block></form>"""),
            BASE + "quote.xml": '<quote symbol="VX"><price>12.5</price><price>13</price></quote>',
        }
    )
    assert result.heard == ["quote VX 12.5 2"]


async def test_data_that_is_not_xml_is_error_badfetch() -> None:
    result = await run(
        {
            START: vxml('<form><block><data name="d" src="d.xml"/></block></form>'),
            BASE + "d.xml": "not xml <",
        }
    )
    assert result.end.event == "error.badfetch"


async def test_the_start_request_may_be_a_post() -> None:
    result = await run(
        vxml("<form><block>hi<exit/></block></form>"),
        start=FetchRequest(START, "POST", {"call_id": "1"}),
    )
    assert result.heard == ["hi"]
    assert result.fetcher.requests[0].method == "POST"
    assert isinstance(result.end, voicexml.SessionEnd)


# -- record and transfer -----------------------------------------------------------------


async def _run_with(
    documents: dict[str, str],
    *,
    recordings: tuple[media.Recording, ...] = (),
    transfers: tuple[media.TransferResult, ...] = (),
) -> tuple[voicexml.SessionEnd, ScriptedChannel, MemoryFetcher]:
    fetcher = MemoryFetcher(documents)
    channel = ScriptedChannel(recordings=recordings, transfers=transfers)
    end = await voicexml.run_session(
        FetchRequest(START), channel=channel, fetcher=fetcher, session=SESSION
    )
    return end, channel, fetcher


async def test_record_fills_its_variable_and_submits_the_recording_as_multipart_wav() -> None:
    recording = media.Recording(media.silence_wav(1.5), 1.5, termchar="#")
    end, channel, fetcher = await _run_with(
        {
            START: vxml("""<form>
              <record name="msg" beep="true" maxtime="20s" finalsilence="1500ms">
                <prompt>After the tone, say your message.</prompt>
                <filled>got <value expr="msg$.duration"/> ms ended by <value expr="msg$.termchar"/>
                  <submit next="save" method="post" enctype="multipart/form-data"
                          namelist="msg"/></filled>
              </record></form>"""),
            BASE + "save": vxml("<form><block>saved<exit/></block></form>"),
        },
        recordings=(recording,),
    )
    assert end.reason == "exit"
    assert channel.heard == ["After the tone, say your message.", "got 1500 ms ended by #", "saved"]
    (call,) = channel.records
    assert (call.max_time_s, call.final_silence_s, call.dtmf_term, call.beep) == (
        20,
        1.5,
        True,
        True,
    )
    request = fetcher.requests[-1]
    assert request.method == "POST" and request.enctype == "multipart/form-data"
    assert request.files is not None
    upload = request.files["msg"]
    assert upload.content_type == "audio/wav" and upload.body == recording.audio
    assert upload.body[:4] == b"RIFF"


async def test_record_of_silence_is_noinput() -> None:
    _, channel, _ = await _run_with(
        {
            START: vxml("""<form><record name="msg"><prompt>speak</prompt>
              <noinput>nothing heard<exit/></noinput></record></form>"""),
        },
        recordings=(media.Recording(media.silence_wav(0), 0.0),),
    )
    assert channel.heard == ["speak", "nothing heard"]


async def test_bridged_transfer_fills_the_outcome_and_duration() -> None:
    _, channel, _ = await _run_with(
        {
            START: vxml("""<form>
              <var name="agent" expr="'tel:+15557654321'"/>
              <transfer name="t" destexpr="agent" bridge="true" connecttimeout="12s"
                        maxtime="60s">
                <filled><value expr="t"/> after <value expr="t$.duration"/> s<exit/></filled>
              </transfer></form>"""),
        },
        transfers=(media.TransferResult("far_end_disconnect", 42.0),),
    )
    assert channel.heard == ["far_end_disconnect after 42 s"]
    (call,) = channel.transfers
    assert call.destination == "tel:+15557654321" and call.bridge
    assert (call.connect_timeout_s, call.max_time_s) == (12.0, 60.0)


async def test_blind_transfer_that_is_taken_ends_the_session_with_a_transfer_event() -> None:
    end, channel, _ = await _run_with(
        {
            START: vxml("""<form>
              <catch event="connection.disconnect.transfer">
                <log>transferred</log><exit namelist="where"/></catch>
              <var name="where" expr="'desk'"/>
              <transfer name="t" dest="sip:desk@example.com"/>
              <block>not reached</block></form>"""),
        },
        transfers=(media.TransferResult("unknown"),),
    )
    assert channel.heard == []
    assert end.reason == "disconnect" and end.values == {"where": "desk"}


async def test_blind_transfer_to_a_busy_line_lets_the_application_go_on() -> None:
    _, channel, _ = await _run_with(
        {
            START: vxml("""<form>
              <transfer name="t" dest="tel:+15550000"/>
              <block>the line was <value expr="t"/><exit/></block></form>"""),
        },
        transfers=(media.TransferResult("busy"),),
    )
    assert channel.heard == ["the line was busy"]
