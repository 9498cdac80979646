"""How each IR test is run here: the caller's keys, the far end of its transfers, the
checks standing in for a human listener, and the tests that cannot run, with why.
``evaluate`` runs one test.

The keys come from what each test asks the caller, through the prompts the stylesheet
makes of its ``conf:`` elements: ``<conf:dtmf value="1"/>`` says "Press '1'",
``<conf:noinput/>`` "No input expected. Say nothing" (INDEX.tsv flags these as
needs_dtmf and needs_noinput). A caller presses one group of keys each time the
application waits for input, and is silent (noinput) when none are left.

The far end of a ``<transfer>`` is what the test's text asks of the line it calls (its
comments, the outcome its ``<filled>`` expects): answered and hung up by the called
party, handed over (blind), no answer, busy... The channel returns it as the
``media.TransferResult`` of ``Channel.transfer``; after the scripted ones, nobody answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.conformance import harness
from tests.conformance.harness import Observation, judge
from vxdial.domain import media

# -- the caller and the far end ---------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    keys: tuple[str | None, ...] = ()  # one group per wait for input; None is silence
    hangup_on_collect: int | None = None  # hangs up at the n-th wait for keys (1: first)
    # How each <transfer> ends, in turn (harness.DEFAULT_TRANSFER, noanswer, after them).
    transfers: tuple[media.TransferResult, ...] = ()
    # The caller hangs up during the n-th transfer (1: the first): the channel's
    # transfer raises media.Hangup, as for any operation once the caller is gone.
    hangup_on_transfer: int | None = None


SILENT = Caller()


def describe(caller: Caller) -> str:
    """The caller and the far end in a few words, for docs/CONFORMANCE.md."""
    parts = [" · ".join(group or "—" for group in caller.keys) or "—"]
    if caller.hangup_on_collect is not None:
        parts.append(f"hangs up at wait {caller.hangup_on_collect}")
    for result in caller.transfers:
        outcome = "takes the blind transfer (unknown)" if result.outcome == "unknown" else None
        after = f" after {result.duration_s:g} s" if result.duration_s else ""
        parts.append(f"far end: {outcome or result.outcome + after}")
    if caller.hangup_on_transfer is not None:
        parts.append(f"hangs up during transfer {caller.hangup_on_transfer}, bridged")
    return "; ".join(parts)


CALLERS: dict[str, Caller] = {
    # "Press '1'" for a field whose dtmf grammar is 337Grammar.grxml (the key 1 only).
    "ir20-337": Caller(("1",)),
    # Silences for the conf:noinput prompts (the default caller; listed to say so).
    "ir20-219": Caller((None, None)),  # the 2nd noinput handler exits
    "ir20-234": SILENT,  # the field has expr: it is never visited, nobody waits
    "ir20-235": Caller((None,)),
    "ir20-236": Caller((None,)),  # the field is visited once, after <clear>
    "ir20-293": SILENT,  # the <transfer> has cond="false": never run, nobody waits
    # Menus of the manual enumerate tests: silence, and their noinput catch exits.
    "ir20-216": Caller((None,)),
    "ir20-217": Caller((None,)),
    "ir20-218": Caller((None,)),
    "ir21-1": Caller(("1",)),
    # "Press '1'" three times: first.grxml and second.grxml accept only 4 (two nomatches,
    # each handler swaps the grammar's srcexpr and reprompts), third.grxml accepts 1.
    "ir21-5": Caller(("1", "1", "1")),
    # "Press '5'": both tests expect an error (srcexpr that does not evaluate; src and
    # inline content together) before the field ever listens, so the key is never read.
    "ir21-7": Caller(("5",)),
    "ir21-8": Caller(("5",)),
    # The far ends of the transfer tests (all to tel:+18005551212). Nobody presses a key:
    # their transfers have no grammar (290's needs speech, see NOT_APPLICABLE).
    # 288's "test environment requirements": the destination answers and hangs up before
    # the caller (within its maxtime of 5s).
    "ir20-288": Caller(transfers=(media.TransferResult("far_end_disconnect", 3.0),)),
    # Blind transfers the network takes: handed over, outcome "unknown"; the caller now
    # talks to the destination and the interpreter throws connection.disconnect.transfer.
    "ir20-289": Caller(transfers=(media.TransferResult("unknown"),)),
    "ir20-294": Caller(transfers=(media.TransferResult("unknown"),)),  # no bridge: blind
    "ir20-298": Caller(transfers=(media.TransferResult("unknown"),)),
    # Nobody answers within connecttimeout (100ms).
    "ir20-295": Caller(transfers=(media.TransferResult("noanswer"),)),
    # Answered, and nobody hangs up before maxtime (5s) ends the bridge.
    "ir20-296": Caller(transfers=(media.TransferResult("maxtime_disconnect", 5.0),)),
    # The destination answers, then the caller hangs up while bridged (VoiceXML 2.0
    # section 2.3.7: the interpreter throws connection.disconnect.hangup and the form
    # item variable stays undefined; nobody is left to hear the handler's pass).
    "ir20-300": Caller(hangup_on_transfer=1),
    "ir20-301": Caller(transfers=(media.TransferResult("busy"),)),
    "ir20-302": Caller(transfers=(media.TransferResult("network_busy"),)),
}


# -- checks -----------------------------------------------------------------------------

Check = Callable[[Observation], "str | None"]


def ends_after_pass(seen: Observation) -> str | None:
    """cudl's literal ``<prompt>pass</prompt>`` at the end of a document with no
    ``<exit/>``: the application then ends by running off its end."""
    failed = harness.failure(seen)
    if failed:
        return failed
    said = [harness.words(text) for text in seen.heard]
    if said and said[-1] == "pass" and seen.end.reason in ("exit", "end"):
        return None
    return f"{harness.describe_end(seen.end)}; {harness.last_prompts(seen)}"


def ends(*reasons: str) -> Check:
    """A manual test that "passes if it does not fail": no fail, and the session ended
    one of ``reasons``."""

    def check(seen: Observation) -> str | None:
        failed = harness.failure(seen)
        if failed:
            return failed
        if seen.end.reason not in reasons:
            return f"expected an end by {' or '.join(reasons)}; {harness.describe_end(seen.end)}"
        return None

    return check


def logged(*pieces: str, then: Check = judge) -> Check:
    """``then``, and the log shows ``pieces`` in this order within one line (cudl's
    1152 and 1163 ask the tester to look into the log)."""

    def check(seen: Observation) -> str | None:
        problem = then(seen)
        if problem:
            return problem
        for line in seen.logs:
            if _in_order(harness.words(line), [harness.words(piece) for piece in pieces]):
                return None
        return f"no log line with {' ... '.join(map(repr, pieces))}; logs: {list(seen.logs)}"

    return check


def enumerates(pattern: str, then: Check) -> Check:
    """``then``, and one prompt matches ``pattern`` (words lowercased and single-spaced):
    what a listener of the enumerate tests must hear."""

    def check(seen: Observation) -> str | None:
        problem = then(seen)
        if problem:
            return problem
        if any(re.search(pattern, harness.words(text)) for text in seen.heard):
            return None
        return f"no prompt matches {pattern!r}; heard {harness.describe_prompts(seen.heard)}"

    return check


def plays_audio(name: str, then: Check) -> Check:
    """``then``, and a prompt gave the channel the audio file ``name`` of the test's
    folder (what the channel does with it is not the interpreter's business)."""

    def check(seen: Observation) -> str | None:
        problem = then(seen)
        if problem:
            return problem
        wanted = seen.folder_url + name
        urls = [url for prompt in seen.prompts for url in prompt.audio_urls]
        return None if wanted in urls else f"no prompt played {wanted}; audio played: {urls}"

    return check


def exit_value(expected: object, then: Check = judge) -> Check:
    def check(seen: Observation) -> str | None:
        problem = then(seen)
        if problem:
            return problem
        got = seen.end.values.get("expr")
        return None if got == expected else f"<exit expr> gave {got!r}, not {expected!r}"

    return check


def disconnected(*, logged_line: str | None = None) -> Check:
    """After ``<disconnect/>`` the call is gone: the pass prompt of the
    connection.disconnect.hangup handler cannot be heard (VoiceXML 2.0 section 5.3.11),
    but a ``<conf:fail>`` still logs its reason. So: the application hung up, the session
    ended as a disconnect, nothing failed, and (552) the handler's comment was logged."""

    def check(seen: Observation) -> str | None:
        failed = harness.failure(seen)
        if failed:
            return failed
        if not seen.hung_up or seen.end.reason != "disconnect":
            return f"the application did not hang up; {harness.describe_end(seen.end)}"
        if logged_line and not any(logged_line in harness.words(line) for line in seen.logs):
            return f"the hangup handler did not log {logged_line!r}; logs: {list(seen.logs)}"
        return None

    return check


DESTINATION = "tel:+18005551212"  # the dest of every transfer test that transfers


def transfers_to(
    *,
    bridge: bool,
    connect_timeout_s: float | None = None,
    max_time_s: float | None = None,
    then: Check = judge,
) -> Check:
    """``then``, and the application asked the channel for one transfer, to
    ``DESTINATION``, bridged or blind as ``bridge`` says, with the connect timeout and
    maximum time the test's attributes give (when it gives them)."""

    def check(seen: Observation) -> str | None:
        problem = then(seen)
        if problem:
            return problem
        if len(seen.transfers) != 1:
            return f"expected one transfer; the channel was asked for {list(seen.transfers)}"
        asked = seen.transfers[0]
        wanted: dict[str, object] = {"destination": DESTINATION, "bridge": bridge}
        if connect_timeout_s is not None:
            wanted["connect_timeout_s"] = connect_timeout_s
        if max_time_s is not None:
            wanted["max_time_s"] = max_time_s
        wrong = {
            name: getattr(asked, name)
            for name, value in wanted.items()
            if getattr(asked, name) != value
        }
        if wrong:
            return f"transfer asked with {wrong}, not {wanted}: {asked}"
        return None

    return check


def caller_gone(reason: Literal["disconnect", "hangup"], event: str) -> Check:
    """The caller is no longer on the line when the test's handler of ``event`` says
    pass: after a blind transfer the far end took (the caller talks to the destination,
    VoiceXML 2.0 section 2.3.7; reason "disconnect") or after hanging up during a bridged
    one (reason "hangup"). The pass prompt cannot be heard (section 5.3.11), but a
    ``<conf:fail>`` still logs its reason. So: nothing failed, the interpreter threw
    ``event`` (its own log says so) and the session ended for ``reason``. Each of these
    tests has a failing catch-all, a failing ``<filled>`` and a failing ``<block>``
    after the transfer, so only the handler of ``event`` passes silently; what cannot
    be told apart is an interpreter running no handler at all once the call is gone
    (552, whose handler logs, shows that this one does run it)."""

    def check(seen: Observation) -> str | None:
        failed = harness.failure(seen)
        if failed:
            return failed
        if not any(event in line for line in seen.logs):
            return f"{event} was not thrown; logs: {list(seen.logs)}"
        if seen.end.reason != reason:
            return f"expected an end by {reason}; {harness.describe_end(seen.end)}"
        return None

    return check


def places_nothing(seen: Observation) -> str | None:
    """``judge``, and no transfer or recording was asked of the channel (the test's
    ``<transfer>`` and ``<record>`` have cond="false")."""
    problem = judge(seen)
    if problem:
        return problem
    if seen.transfers or seen.records:
        return f"cond='false' items ran: transfers {seen.transfers}, records {seen.records}"
    return None


def _in_order(text: str, pieces: list[str]) -> bool:
    at = 0
    for piece in pieces:
        at = text.find(piece, at)
        if at < 0:
            return False
        at += len(piece)
    return True


ALPHA_TO_DELTA = r"alpha.*bravo.*charlie.*delta"

CHECKS: dict[str, Check] = {
    # cudl's copies end with a literal pass prompt and no <exit/>.
    "ir20-526": ends_after_pass,  # 526b.txml, reached through http://localhost/vxml/
    "ir20-530:530a1": ends_after_pass,  # the same 526b.txml
    "ir20-1152": logged("firstvariable = 2", "1002", then=ends_after_pass),
    "ir20-1163": logged("[labelThatMustBePresentInLogMessage]", then=ends_after_pass),
    # The W3C's manual tests (self_checking=0): "if it does not fail, it is a success".
    "ir20-113": ends("exit"),  # "make sure that it exits, not disconnects"
    "ir20-165": ends("end", "exit"),  # an implicit exit, "does not drop your call"
    "ir20-1162": exit_value(3),  # <exit expr="1+2"/> throws no exit event; says pass
    # "Pass if user hears alpha, bravo, charlie and delta in order".
    "ir20-216": enumerates(ALPHA_TO_DELTA, ends("exit")),
    "ir20-217": enumerates(
        r"for alpha,? press 1\W.*for bravo,? press 2\W.*for charlie,? press 3\W"
        r".*for delta,? press 4",
        ends("exit"),
    ),
    "ir20-218": enumerates(ALPHA_TO_DELTA, ends("exit")),
    "ir20-219": enumerates(ALPHA_TO_DELTA, ends("exit")),  # in the noinput handler
    # "If you heard 'this is a test'": the file handed to the channel.
    "ir20-369": plays_audio("369.wav", judge),
    # <disconnect/>, then the connection.disconnect.hangup handler says pass.
    "ir20-552": disconnected(logged_line="caught connection.disconnect.hangup"),
    "ir20-553": disconnected(),
    # <transfer cond="false"> (and 93's <record cond="false">): never run.
    "ir20-93": places_nothing,
    "ir20-293": places_nothing,
    # Transfers: what was asked of the channel, then the test's own verdict. 288's
    # <filled> logs the outcome (the test only checks that it is defined).
    "ir20-288": transfers_to(bridge=True, max_time_s=5.0, then=logged("far_end_disconnect")),
    "ir20-289": transfers_to(
        bridge=False, then=caller_gone("disconnect", "connection.disconnect.transfer")
    ),
    # "A <transfer> not specifying a 'bridge' attribute is executed as a blind transfer."
    "ir20-294": transfers_to(
        bridge=False, then=caller_gone("disconnect", "connection.disconnect.transfer")
    ),
    "ir20-295": transfers_to(bridge=True, connect_timeout_s=0.1, max_time_s=5.0),
    "ir20-296": transfers_to(bridge=True, max_time_s=5.0),
    "ir20-298": transfers_to(
        bridge=False, then=caller_gone("disconnect", "connection.disconnect.transfer")
    ),
    "ir20-300": transfers_to(
        bridge=True, then=caller_gone("hangup", "connection.disconnect.hangup")
    ),
    "ir20-301": transfers_to(bridge=True),
    "ir20-302": transfers_to(bridge=True),
}


# -- what cannot run here ---------------------------------------------------------------

Kind = Literal["speech", "missing file", "defective copy"]


@dataclass(frozen=True)
class NotApplicable:
    kind: Kind
    why: str


def _speech(what: str) -> NotApplicable:
    return NotApplicable("speech", f"needs speech recognition: {what}")


SAY_CHICAGO = "the caller must say 'Chicago' to fill a field with a voice grammar"

NOT_APPLICABLE: dict[str, NotApplicable] = {
    "ir20-18": _speech("the caller must say 'Chicago' to pick a <menu> <choice>"),
    "ir20-143": _speech(SAY_CHICAGO),
    "ir20-153": _speech(SAY_CHICAGO + " (after two <clear>s)"),
    "ir20-163": _speech(SAY_CHICAGO + " in each of two forms"),
    "ir20-232": _speech(SAY_CHICAGO + " (its interpretation 'foo' is checked)"),
    "ir20-241": _speech(SAY_CHICAGO + " (its semantic tag is checked)"),
    "ir20-332": _speech(SAY_CHICAGO),
    "ir20-333": _speech(SAY_CHICAGO),
    "ir20-334": _speech(SAY_CHICAGO),
    "ir20-336": _speech(SAY_CHICAGO),
    "ir20-397": _speech(SAY_CHICAGO + "; its application root appRootDoc.vxml is missing too"),
    "ir20-518": _speech("the caller must say 'Chicago', 'New York' and 'Tokyo'"),
    "ir20-519": _speech("the caller must say 'Chicago', 'New York' and 'Tokyo'"),
    "ir20-523": _speech("after two noinputs the prompt says 'Say London', which fills the field"),
    "ir20-525": _speech("after a noinput the prompt says 'Say New York', which fills the field"),
    "ir20-556": _speech(SAY_CHICAGO + " (the <filled> runs the scripts checked)"),
    "ir20-1037": _speech(SAY_CHICAGO + " (its <filled> is checked)"),
    "ir20-1148": _speech(SAY_CHICAGO + " (its <filled> throws)"),
    "ir20-290": _speech(
        "the caller must say 'Chicago' during the bridged transfer (its only grammar is a"
        " voice grammar) to end it as near_end_disconnect, the outcome its <filled> checks"
    ),
    "ir20-185": NotApplicable(
        "missing file",
        "assert185-b.vxml, where the test ends (its form3), is missing from every source",
    ),
    "ir20-371": NotApplicable(
        "missing file",
        "371.wav, the 'this is a test' the listener must hear, is missing from every"
        " source: the interpreter fetches it, gets a 404, and has nothing to play (the"
        " <audio> has no fallback content)",
    ),
    "ir20-655": NotApplicable(
        "missing file",
        "a655b.txml, the document the subdialog goes to and returns from, is missing from"
        " every source",
    ),
    "ir20-59": NotApplicable(
        "defective copy",
        "the leaf a59leaf.txml declares xmlns='http://www.w3.org/2001/txml' (a typo in the"
        " cudl copy), so it is not a VoiceXML document and error.badfetch is right",
    ),
    "ir20-432": NotApplicable(
        "defective copy",
        "the first handler does <goto next='432.txml'>, which loads the document again: x"
        " is 1 again and the form-level event counters restart (VoiceXML 2.0 sections 5.1.2,"
        " 5.2.2; test 534 checks that reload), so the count='2' handler is never chosen and"
        " the test loops until the document limit; the original must have used nextitem",
    ),
}


# -- one test -----------------------------------------------------------------------------

Verdict = Literal["pass", "fail", "n/a"]


@dataclass(frozen=True)
class Result:
    case: harness.Case
    verdict: Verdict
    reason: str  # why it failed or is not applicable; "" for a pass
    seen: Observation | None = None


async def evaluate(case: harness.Case, workdir: Path) -> Result:
    """Run ``case`` in ``workdir`` (an empty folder) as planned and judge it. An
    interpreter that raises is a "fail" with the exception as its reason."""
    skipped = NOT_APPLICABLE.get(case.test_id)
    if skipped is not None:
        return Result(case, "n/a", skipped.why)
    caller = CALLERS.get(case.test_id, SILENT)
    try:
        seen = await harness.run(
            case,
            workdir,
            caller.keys,
            hangup_on_collect=caller.hangup_on_collect,
            transfers=caller.transfers,
            hangup_on_transfer=caller.hangup_on_transfer,
        )
    except harness.InterpreterCrash as crash:
        return Result(case, "fail", str(crash))
    problem = CHECKS.get(case.test_id, judge)(seen)
    return Result(case, "fail" if problem else "pass", problem or "", seen)
