"""vxdial.voicexml.script: the ECMAScript engine with the VoiceXML scopes."""

from __future__ import annotations

import pytest

from vxdial.voicexml import script


@pytest.fixture
def js() -> script.Engine:
    return script.Engine(
        {"telephone": {"ani": "1555"}, "call_id": 42, "big": 2**60},
        time_limit_s=0.05,
        memory_limit_bytes=8 * 1024 * 1024,
    )


def scopes(js: script.Engine, depth: int = 4) -> list[script.Scope]:
    made = [js.new_scope() for _ in range(4)]
    chain: list[script.Scope | None] = [*made[:depth], None, None, None][:4]
    application = chain[0]
    assert application is not None
    js.enter(application, chain[1], chain[2], chain[3])
    return made


def test_session_is_read_only_and_visible_bare(js: script.Engine) -> None:
    scopes(js)
    assert js.value("[session.telephone.ani, telephone.ani, call_id]") == ["1555", "1555", 42]
    assert js.truthy("typeof big == 'number' && big > 1e18")  # a number, not clipped
    with pytest.raises(script.ScriptError, match="read-only"):
        js.assign("session.call_id", "1")
    with pytest.raises(script.ScriptError, match="read-only"):
        js.assign("telephone.ani", "'x'")
    with pytest.raises(script.ScriptError, match="session variable"):
        js.assign("call_id", "1")
    assert js.value("session.telephone.ani") == "1555"


def test_names_resolve_innermost_first(js: script.Engine) -> None:
    application, document, dialog, anonymous = scopes(js)
    js.declare(document, "x", "'document'")
    js.declare(dialog, "x", "'dialog'")
    assert js.string("x") == "dialog"
    js.declare(anonymous, "x", "'anonymous'")
    assert js.value("[x, dialog.x, document.x]") == ["anonymous", "dialog", "document"]
    js.enter(application, document, None, None)
    assert js.string("x") == "document"
    assert js.string("typeof dialog") == "undefined"


def test_assign_updates_the_declaring_scope(js: script.Engine) -> None:
    _, document, _, _ = scopes(js)
    js.declare(document, "n", "1")
    js.assign("n", "n + 1")
    assert js.value("document.n") == 2
    with pytest.raises(script.ScriptError, match="nope is not declared"):
        js.assign("nope", "1")
    with pytest.raises(script.ScriptError, match=r"document.nope is not declared"):
        js.assign("document.nope", "1")
    js.declare(document, "o", "({})")
    js.assign("o.fresh", "5")  # a property of an ordinary object may be created
    assert js.value("o") == {"fresh": 5}
    with pytest.raises(script.ScriptError, match="n is number, not an object"):
        js.assign("n.x", "1")


def test_scripts_declare_in_their_scope_with_closures(js: script.Engine) -> None:
    application, document, dialog, _ = scopes(js, depth=2)
    js.run(document, "var count = 0; function bump() { count += 1; return count; }")
    js.enter(application, document, dialog, None)
    js.run(dialog, "var mine = bump(); var count2 = bump();")
    assert js.value("[count, document.count, dialog.mine, dialog.count2]") == [2, 2, 1, 2]
    assert js.value("typeof globalThis.bump") == "undefined"
    js.run(dialog, "var count = 'shadow';")  # a new dialog variable, the document's stays
    assert js.value("[count, document.count]") == ["shadow", 2]


def test_script_redeclaring_keeps_the_value(js: script.Engine) -> None:
    _, document, _, _ = scopes(js, depth=2)
    js.declare(document, "a", "1")
    js.run(document, "var a;")
    assert js.value("a") == 1


def test_conversions(js: script.Engine) -> None:
    _, document, _, _ = scopes(js)
    assert js.truthy("'x'") and not js.truthy("0")
    assert js.string("undefined") == "undefined"
    assert js.string("1.5 * 2") == "3"
    assert js.value("undefined") is None
    assert js.value("function () {}") is None
    assert js.value("{a: 1}") == {"a": 1}  # an expression, not a block
    js.set(document, "s", "text")
    js.set(document, "b", True)
    assert js.value("[s, b]") == ["text", True]
    assert js.is_undefined(document, "missing") and not js.is_undefined(document, "s")
    js.declare(document, "u", None)
    assert js.form_value("u") == "" and js.form_value("b") == "true"
    js.declare(document, "obj", "({k: [1]})")
    assert js.form_value("obj") == '{"k":[1]}'


def test_fill_sets_the_shadow_variable_and_lastresult(js: script.Engine) -> None:
    _, _, dialog, _ = scopes(js)
    shadow = {"utterance": "1234", "inputmode": "dtmf", "confidence": 1, "interpretation": "1234"}
    js.fill(dialog, "pin", "1234", shadow)
    js.last_result(shadow)
    assert js.value("[pin, pin$.utterance, pin$.inputmode, pin$.confidence]") == [
        "1234",
        "1234",
        "dtmf",
        1,
    ]
    assert js.value("application.lastresult$[0].interpretation") == "1234"
    assert js.value("application.lastresult$.utterance") == "1234"
    js.fill(dialog, "order", {"id": 7, "items": [1, 2]}, None)
    assert js.value("[order.items[1], typeof order$]") == [2, "undefined"]


def test_errors(js: script.Engine) -> None:
    scopes(js)
    with pytest.raises(script.ScriptError, match=r"^ReferenceError: nosuch is not defined$"):
        js.value("nosuch")
    with pytest.raises(script.ScriptError, match=r"^SyntaxError"):
        js.value("1 +")
    with pytest.raises(script.ScriptError, match=r"^boom$"):
        js.value("(function () { throw 'boom'; })()")
    with pytest.raises(script.ScriptError, match="RangeError"):
        js.value("(function f() { return f() + 1; })()")


def test_time_limit_and_recovery(js: script.Engine) -> None:
    _, document, _, _ = scopes(js)
    with pytest.raises(script.LimitExceeded, match=r"longer than 0.05 s"):
        js.run(document, "for (;;) {}")
    assert js.value("1 + 1") == 2  # each evaluation has its own time


def test_memory_limit(js: script.Engine) -> None:
    _, document, _, _ = scopes(js)
    with pytest.raises(script.LimitExceeded, match="more than 8 MiB"):
        js.run(document, "var keep = []; for (;;) keep.push([keep.length]);")
    with pytest.raises(script.LimitExceeded, match="more than 8 MiB"):
        js.value("'x'.repeat(1e9)")
