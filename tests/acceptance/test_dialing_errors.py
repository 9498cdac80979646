"""An answered call is never dialed again, whatever its application does (issue 12,
item 4): documents that raise an unexpected Python error inside the interpreter, served
by the customer's application on loopback, through the dialer and the sim carrier, on
SQLite and PostgreSQL.

The interpreter may come to turn these two documents into VoiceXML errors of their own
(error.semantic); the call's fate must be the same either way: one attempt, completed,
one result, the error in the call's history.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.acceptance.dialing_support import Dialing
from vxdial.config import SimRule

# A lone surrogate from a script: the engine's string cannot be decoded (UnicodeDecodeError).
SURROGATE_LOG = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form><block>
  <prompt>Hello.</prompt><log expr="String.fromCharCode(0xD800)"/><prompt>Goodbye.</prompt>
</block></form></vxml>"""
# 250 nested <if>: deeper than Python's recursion limit allows (RecursionError).
DEEP_IFS = (
    b'<?xml version="1.0"?>\n<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">'
    b"<form><block><prompt>Hello.</prompt>"
    + b'<if cond="true">' * 250
    + b"<prompt>Deep.</prompt>"
    + b"</if>" * 250
    + b"</block></form></vxml>"
)


@pytest.mark.parametrize(
    ("document", "error"),
    [(SURROGATE_LOG, "UnicodeDecodeError"), (DEEP_IFS, "RecursionError")],
    ids=["surrogate", "nested-ifs"],
)
def test_a_document_that_breaks_the_interpreter_ends_the_call_completed_once(
    start_dialing: Callable[..., Dialing], document: bytes, error: str
) -> None:
    dialing = start_dialing(SimRule(match="*", ring_seconds=1))
    dialing.webapp.bodies["/start.vxml"] = document
    call = dialing.queue(max_retries=2, retry_interval=60)
    [result] = dialing.wait_results(1)
    assert (result["result"], result["attempts"], result["callee_type"]) == (
        "completed",
        "1",
        "voice",
    )
    assert [a["outcome"] for a in dialing.attempts(call["id"])] == ["answer"]
    assert dialing.call(call["id"])["state"] == "completed"
    # The person was called once: one start_url POST, one result.
    assert len(dialing.webapp.seen("/start.vxml", "POST")) == 1
    assert len(dialing.result_posts()) == 1
    events = dialing.events(call["id"])
    kinds = [e["kind"] for e in events]
    assert kinds[:3] == ["dialing", "ringing", "connected"]
    assert kinds[-1] == "completed"
    # The error is named in the history: the dialer's safety net (internal_error, with
    # the exception's class), or the interpreter's own VoiceXML error if it has one.
    explained = [
        e["detail"] for e in events if e["kind"] in {"internal_error", "application_error"}
    ]
    assert explained, kinds
    assert explained[0].startswith(f"{error}: ") or explained[0].startswith("error."), explained
