"""Running small VoiceXML applications against the shipped fakes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vxdial import voicexml
from vxdial.voicexml.testing import Answer, MemoryFetcher, ScriptedChannel

START = "http://app.example/ivr/start.vxml"
SESSION: Mapping[str, object] = {
    "telephone": {"ani": "15550001111", "dnis": "15551234567"},
    "connection": {
        "callee_type": "voice",
        "local": {"uri": "sip:15550001111@vxdial"},
        "remote": {"uri": "sip:15551234567@trunk"},
        "protocol": {"name": "sip"},
    },
    "call_id": 42,
    "message_reference": "ref-7",
    "call_parameters": "lang=en",
}


def vxml(body: str, *, namespace: bool = True) -> str:
    """A VoiceXML 2.1 document around ``body``."""
    xmlns = ' xmlns="http://www.w3.org/2001/vxml"' if namespace else ""
    return f'<?xml version="1.0"?>\n<vxml version="2.1"{xmlns}>\n{body}\n</vxml>\n'


@dataclass
class Run:
    end: voicexml.SessionEnd
    channel: ScriptedChannel
    fetcher: MemoryFetcher

    @property
    def heard(self) -> list[str]:
        return self.channel.heard


async def run(
    documents: str | Mapping[str, Answer],
    keys: Iterable[str | None] = (),
    *,
    start: str | voicexml.FetchRequest = START,
    session: Mapping[str, object] = SESSION,
    limits: voicexml.Limits = voicexml.Limits(),
    typeahead: bool = False,
    hangup_on_play: int | None = None,
    hangup_on_collect: int | None = None,
) -> Run:
    """Run an application: ``documents`` is the start document's text, or URL -> text."""
    if isinstance(documents, str):
        documents = {START: documents}
    fetcher = MemoryFetcher(documents)
    channel = ScriptedChannel(
        keys,
        typeahead=typeahead,
        hangup_on_play=hangup_on_play,
        hangup_on_collect=hangup_on_collect,
    )
    request = start if isinstance(start, voicexml.FetchRequest) else voicexml.FetchRequest(start)
    end = await voicexml.run_session(
        request, channel=channel, fetcher=fetcher, session=session, limits=limits
    )
    return Run(end, channel, fetcher)


async def heard(body: str, keys: Iterable[str | None] = ()) -> list[str]:
    """What the caller hears from a one-document application (which must end well)."""
    result = await run(vxml(body), keys)
    assert result.end.reason in ("exit", "end", "disconnect"), result.end
    return result.heard
