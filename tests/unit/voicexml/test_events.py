"""vxdial.voicexml.events: counters, catch selection (VoiceXML 2.0 section 5.2.4) and
the default handlers (5.2.5)."""

from __future__ import annotations

from vxdial.voicexml import events, model


def catch(events_: str, count: int = 1, cond: str | None = None, line: int = 0) -> model.Catch:
    return model.Catch(tuple(events_.split()), count, cond, (), line)


def counted(*names: str) -> events.Counters:
    counters = events.Counters()
    for name in names:
        counters.increment(name)
    return counters


def always(cond: str) -> bool:
    return cond == "true"


def test_counters_count_the_name_and_every_prefix() -> None:
    counters = counted("error.badfetch.http.404", "error.semantic", "noinput")
    assert counters.count("error.badfetch.http.404") == 1
    assert counters.count("error.badfetch.http") == 1
    assert counters.count("error.badfetch") == 1
    assert counters.count("error") == 2
    assert counters.count("noinput") == 1
    assert counters.count("") == 3
    assert counters.count("err") == 0
    counters.reset()
    assert counters.count("") == 0


def test_matching_names() -> None:
    assert events.matching_name((), "anything") == ""
    assert events.matching_name(("error",), "error.badfetch") == "error"
    assert events.matching_name(("error",), "errors") is None
    assert events.matching_name(("error", "error.badfetch"), "error.badfetch.x") == (
        "error.badfetch"
    )
    assert events.matching_name(("noinput", "nomatch"), "nomatch") == "nomatch"


def test_select_innermost_scope_then_document_order() -> None:
    inner, outer_a, outer_b = catch("e", line=1), catch("e", line=2), catch("e", line=3)
    assert events.select([(inner,), (outer_a, outer_b)], "e", counted("e"), always) is inner
    assert events.select([(), (outer_a, outer_b)], "e", counted("e"), always) is outer_a


def test_select_correct_count_over_scope() -> None:
    inner = catch("e", count=1)
    outer = catch("e", count=2)
    assert events.select([(inner,), (outer,)], "e", counted("e"), always) is inner
    assert events.select([(inner,), (outer,)], "e", counted("e", "e"), always) is outer
    assert events.select([(inner,), (outer,)], "e", counted("e", "e", "e"), always) is outer


def test_select_skips_false_conds_and_other_events() -> None:
    off = catch("e", cond="false")
    other = catch("f")
    on = catch("e", cond="true")
    assert events.select([(off, other, on)], "e", counted("e"), always) is on
    assert events.select([(off, other)], "e", counted("e"), always) is None


def test_select_count_compares_with_the_counter_of_the_caught_name() -> None:
    second_error = catch("error", count=2)
    counters = counted("error.badfetch", "error.semantic")
    assert events.select([(second_error,)], "error.semantic", counters, always) is second_error
    assert (
        events.select([(catch("error.semantic", count=2),)], "error.semantic", counters, always)
        is None
    )


def test_catch_all() -> None:
    anything = catch("")
    assert (
        events.select([(anything,)], "whatever.happened", counted("whatever.happened"), always)
        is anything
    )


def test_default_actions() -> None:
    assert events.default_action("noinput") == "reprompt"
    assert events.default_action("nomatch") == "reprompt"
    assert events.default_action("help") == "reprompt"
    assert events.default_action("maxspeechtimeout") == "reprompt"
    assert events.default_action("cancel") == "continue"
    assert events.default_action("error.badfetch") == "exit"
    assert events.default_action("connection.disconnect.hangup") == "exit"
    assert events.default_action("exit") == "exit"
    assert events.default_action("application.custom") == "exit"
    assert events.default_action("noinputs") == "exit"
