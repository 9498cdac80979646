"""The W3C VoiceXML implementation-report tests (vendored in tests/conformance/corpus), one
pytest case each: passed when the interpreter passes it, a strict xfail when it fails
and ``expected_failures.txt`` says why. The suite turns red both when a listed test
starts passing (take it off the list) and when an unlisted one fails. Tests that cannot
run here (``plan.NOT_APPLICABLE``: speech, missing files, defective copies) get no case;
they are listed in docs/CONFORMANCE.md (``python -m tests.conformance.report``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import harness, plan, report
from vxdial.domain import media

CASES = harness.load_cases()
KNOWN = {case.test_id for case in CASES}
EXPECTED_FAILURES = harness.load_expected_failures()


def _params() -> list[object]:
    params: list[object] = []
    for case in CASES:
        if case.test_id in plan.NOT_APPLICABLE:
            continue
        why = EXPECTED_FAILURES.get(case.test_id)
        marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
        params.append(pytest.param(case, id=case.test_id, marks=marks))
    return params


@pytest.mark.parametrize("case", _params())
async def test_w3c_ir(case: harness.Case, tmp_path: Path) -> None:
    result = await plan.evaluate(case, tmp_path)
    assert result.verdict == "pass", f"{case.test_id}: {result.reason}"


def test_the_plan_names_only_tests_of_the_index() -> None:
    named = {*plan.CALLERS, *plan.CHECKS, *plan.NOT_APPLICABLE, *EXPECTED_FAILURES}
    assert named <= KNOWN, sorted(named - KNOWN)


def test_no_expected_failure_is_also_not_applicable() -> None:
    both = set(EXPECTED_FAILURES) & set(plan.NOT_APPLICABLE)
    assert not both, sorted(both)


def test_every_test_runs_unless_it_needs_what_a_dtmf_harness_lacks() -> None:
    """n/a is for speech, missing files and defective copies, never for a test that
    merely fails. Every test needing speech is n/a of kind "speech", unless it has been
    read and found to run without (93 only holds cond="false" items); and a speech n/a
    is only for a test with speech input (conf:speech, or a conf:grammar voice grammar)."""
    runs_anyway = {"ir20-93"}
    for case in CASES:
        skipped = plan.NOT_APPLICABLE.get(case.test_id)
        if "needs_speech" in case.flags and case.test_id not in runs_anyway:
            assert skipped is not None and skipped.kind == "speech", case.test_id
        if skipped is not None and skipped.kind == "speech":
            assert case.flags & {"needs_speech", "conf_grammar"}, case.test_id
        if skipped is not None and skipped.kind == "missing file":
            assert case.missing_deps, case.test_id


def test_transfer_and_record_tests_run_unless_they_need_speech() -> None:
    """The harness plays the far end of a transfer (``plan.Caller.transfers``) and
    ``ScriptedChannel`` records: a test with a <transfer> or <record> runs, unless it
    needs speech (290: the caller must say 'Chicago' during the bridge)."""
    for case in CASES:
        if not case.flags & {"uses_transfer", "uses_record"}:
            continue
        skipped = plan.NOT_APPLICABLE.get(case.test_id)
        if skipped is not None:
            assert skipped.kind == "speech", (case.test_id, skipped)
            assert case.flags & {"needs_speech", "conf_grammar"}, case.test_id
    transfer_tests = {case.test_id for case in CASES if "uses_transfer" in case.flags}
    assert transfer_tests & set(plan.NOT_APPLICABLE) == {"ir20-290"}


def test_only_transfer_tests_script_a_far_end() -> None:
    transfer_tests = {case.test_id for case in CASES if "uses_transfer" in case.flags}
    scripted = {
        test_id
        for test_id, caller in plan.CALLERS.items()
        if caller.transfers or caller.hangup_on_transfer is not None
    }
    assert scripted <= transfer_tests, sorted(scripted - transfer_tests)


async def test_a_caller_hanging_up_during_a_transfer_is_gone() -> None:
    line = harness.Line(
        transfers=[media.TransferResult("far_end_disconnect", 1.0)], hangup_on_transfer=1
    )
    with pytest.raises(media.Hangup):
        await line.transfer(
            destination="tel:+18005551212", bridge=True, connect_timeout_s=30.0, max_time_s=0.0
        )
    assert [call.destination for call in line.transfers] == ["tel:+18005551212"]
    with pytest.raises(media.Hangup):
        await line.play(media.Prompt("pass"))
    assert not line.hung_up  # the caller hung up, not the application


def test_docs_conformance_md_lists_the_current_plan() -> None:
    """docs/CONFORMANCE.md is written by ``make conformance`` only: it must give every
    n/a test and every expected failure with today's reason (run ``make conformance``
    after changing the plan or expected_failures.txt)."""
    document = report.DOCUMENT.read_text(encoding="utf-8")
    for test_id, skipped in plan.NOT_APPLICABLE.items():
        assert f"- **{test_id}**: {report.cell(skipped.why)}\n" in document, test_id
    for test_id, why in EXPECTED_FAILURES.items():
        assert f"- **{test_id}**: {report.cell(why)}\n" in document, test_id
    assert f"- **n/a: {len(plan.NOT_APPLICABLE)}** (" in document
