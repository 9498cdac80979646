"""vxdial.voicexml: what other packages may import."""

from __future__ import annotations

import vxdial.voicexml as voicexml


def test_exported_members() -> None:
    assert sorted(voicexml.__all__) == sorted(
        [
            "CallFetcher",
            "Channel",
            "Document",
            "EndReason",
            "FetchError",
            "FetchRequest",
            "Fetcher",
            "HttpFetcher",
            "Limits",
            "SessionEnd",
            "SessionThreads",
            "StartFetcher",
            "Upload",
            "for_call",
            "run_isolated",
            "run_session",
        ]
    )
    for name in voicexml.__all__:
        assert getattr(voicexml, name) is not None


def test_limits_and_session_end_defaults() -> None:
    assert voicexml.Limits() == voicexml.Limits(
        script_time_s=1.0,
        script_memory_bytes=32 * 1024 * 1024,
        max_documents=100,
        max_steps=10_000,
        max_document_bytes=1024 * 1024,
        session_cpu_s=10.0,
    )
    end = voicexml.SessionEnd("end")
    assert (end.event, end.message, dict(end.values)) == (None, None, {})
