"""``<audio>`` that cannot be played (VoiceXML 2.0 section 4.1.3): its content is played
instead, and without content nothing is played and no event is thrown; the prompts
queued after it play all the same."""

from __future__ import annotations

from tests.unit.voicexml.helpers import START, run, vxml
from vxdial.voicexml.fetch import FetchError

BASE = "http://app.example/ivr/"


async def test_unfetchable_audio_without_content_plays_nothing_before_an_input() -> None:
    """VoiceXML 2.0 section 4.1.3: "If the audio file cannot be played and the content of
    the audio element is empty, no audio is played and no error event is thrown". The
    rest of the prompt and the prompts queued after it are played when the queue is
    flushed for the input, and the field listens as usual."""
    result = await run(
        {
            START: vxml("""<form>
              <catch event="error">caught <value expr="_event"/><exit/></catch>
              <field name="f" type="boolean">
                <prompt>Before <audio src="gone.wav"/> after.</prompt>
                <prompt>Press 1 for yes.</prompt>
                <filled>got <value expr="f"/><exit/></filled>
              </field></form>"""),
        },
        ["1"],
    )
    assert result.heard == ["Before after.", "Press 1 for yes.", "got true"]
    assert result.end.reason == "exit"
    first = result.channel.prompts[0]
    assert first.audio_urls == ()
    assert first.ssml is None or "gone.wav" not in first.ssml
    assert [request.url for request in result.fetcher.requests[1:]] == [BASE + "gone.wav"]


async def test_unfetchable_audio_at_the_end_of_the_document_does_not_drop_later_prompts() -> None:
    """VoiceXML 2.0 section 4.1.3 (no event for an unplayable <audio> without content)
    and 4.1.8 (queued prompts play when the session ends): every prompt after it plays."""
    result = await run(
        vxml("""<form><block>
          <prompt>one</prompt>
          <audio src="gone.wav"/>
          <prompt>two</prompt>
          <audio expr="'also-gone.wav'"/>
          <prompt>three</prompt>
        </block></form>""")
    )
    assert result.end.reason == "end"
    assert result.heard == ["one", "two", "three"]
    assert all(prompt.audio_urls == () for prompt in result.channel.prompts)


async def test_unfetchable_audio_with_content_says_the_content_in_order() -> None:
    """VoiceXML 2.0 section 4.1.3: with alternate content, the content is played
    instead; the SSML the channel gets has the content where the audio was, and no
    longer names the file that cannot be fetched."""
    result = await run(
        {
            START: vxml("""<form><block>
              <prompt>Hi <audio src="gone.wav">beep <break time="1s"/> beep</audio> and
                <audio src="here.wav">here</audio> bye</prompt>
            </block></form>"""),
            BASE + "here.wav": b"RIFF....",
        }
    )
    (prompt,) = result.channel.prompts
    assert prompt.text == "Hi beep beep and here bye"
    assert prompt.audio_urls == (BASE + "here.wav",)
    assert prompt.ssml is not None
    assert "gone.wav" not in prompt.ssml
    assert 'beep <break time="1s"/> beep and' in " ".join(prompt.ssml.split())
    assert f'<audio src="{BASE}here.wav">here</audio>' in prompt.ssml


async def test_a_prompt_left_with_nothing_to_play_is_not_played() -> None:
    """VoiceXML 2.0 section 4.1.3: an <audio> without content that cannot be played
    plays nothing; a prompt that was only that reaches no channel (which would show an
    empty line or speak an empty text)."""
    result = await run(vxml("<form><block><audio src='gone.wav'/>next</block></form>"))
    assert result.end.reason == "end"
    assert [prompt.text for prompt in result.channel.prompts] == ["next"]


async def test_audio_expr_that_is_not_a_usable_uri_plays_its_content_or_nothing() -> None:
    """VoiceXML 2.0 section 4.1.3: "'expr' evaluating to an invalid URI" is a file that
    cannot be played: the content plays instead, or nothing, without an event (a URI
    the URL parser refuses, such as an unclosed IPv6 bracket, included)."""
    result = await run(
        {
            START: vxml("""<form>
              <catch event="error">caught <value expr="_event"/><exit/></catch>
              <block>
                <audio expr="'http://[broken'">bracket</audio>
                <audio expr="'http://[broken'"/>
                <audio expr="'http://' + 'gaga'">gaga</audio>
                <audio expr="''">empty</audio>
                <audio expr="'http://' + 'gaga'"/>
                done
              </block></form>"""),
            "http://gaga": FetchError("cannot resolve host 'gaga'"),
        }
    )
    assert result.end.reason == "end", result.end
    assert result.heard == ["bracket gaga empty done"]  # one implicit prompt
    assert result.channel.prompts[0].audio_urls == ()


async def test_audio_expr_undefined_or_null_is_ignored_with_its_content() -> None:
    """VoiceXML 2.0 section 4.1.3: an ``expr`` that evaluates to ECMAScript undefined
    ignores the element, its alternate content included (so an application can leave
    out audio by leaving its variable unassigned, or null)."""
    result = await run(
        vxml("""<form><var name="clip"/><var name="none" expr="null"/><block>
          <prompt>a <audio expr="clip">unset</audio> b <audio expr="none">null</audio> c</prompt>
        </block></form>""")
    )
    assert result.heard == ["a b c"]
    assert result.fetcher.requests[1:] == []


async def test_missing_audio_enters_no_catch_all() -> None:
    """VoiceXML 2.0 section 4.1.3: the missing audio throws nothing, so the catch-all
    of the IR tests (``<catch>`` failing on any event) is never entered."""
    result = await run(
        vxml("""<catch><prompt>fail <value expr="_event"/></prompt><exit/></catch>
        <form>
          <field name="f" type="digits?length=1">
            <prompt><audio src="missing.wav"/></prompt>
            <prompt>Enter a digit.</prompt>
            <filled>pass <value expr="f"/></filled>
          </field></form>"""),
        ["7"],
    )
    assert result.heard == ["Enter a digit.", "pass 7"]


async def test_nested_audio_is_alternate_content_fetched_only_when_its_outer_file_fails() -> None:
    """VoiceXML 2.0 section 4.1.3: the content of <audio> "may include ... another audio
    element", played only when the outer file cannot be."""
    result = await run(
        {
            START: vxml("""<form><block>
              <prompt><audio src="here.wav"><audio src="inner.wav"/>words</audio></prompt>
              <prompt><audio src="gone.wav"><audio src="inner.wav">said</audio></audio></prompt>
            </block></form>"""),
            BASE + "here.wav": b"RIFF....",
            BASE + "inner.wav": b"RIFF....",
        }
    )
    first, second = result.channel.prompts
    assert first.audio_urls == (BASE + "here.wav",)
    assert second.audio_urls == (BASE + "inner.wav",)
    assert second.ssml is not None and "gone.wav" not in second.ssml
    assert f'<audio src="{BASE}inner.wav">said</audio>' in second.ssml
    fetched = [request.url for request in result.fetcher.requests[1:]]
    assert fetched == [BASE + "here.wav", BASE + "gone.wav", BASE + "inner.wav"]


async def test_audio_is_fetched_with_its_fetch_attributes() -> None:
    """VoiceXML 2.0 section 4.1.3 (<audio> fetchtimeout, maxage, maxstale) and 6.1."""
    result = await run(
        {
            START: vxml("""<form><block>
              <audio src="a.wav" fetchtimeout="3s" maxage="60" maxstale="5"/>
            </block></form>"""),
            BASE + "a.wav": b"RIFF....",
        }
    )
    request = result.fetcher.requests[-1]
    assert (request.url, request.timeout_s, request.maxage_s, request.maxstale_s) == (
        BASE + "a.wav",
        3.0,
        60.0,
        5.0,
    )
