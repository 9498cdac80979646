"""Messages quote values so that they can always be sent: control characters and lone
surrogates escaped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vxdial.domain import errors


def test_quote_escapes_controls_and_lone_surrogates() -> None:
    assert errors.quote("a\nb") == '"a\\nb"'
    assert errors.quote("x\ud800y\udfff") == '"x\\ud800y\\udfff"'
    assert errors.quote("😀 é") == '"😀 é"'  # real characters stay as they are
    assert errors.has_surrogates("a\udc80") and not errors.has_surrogates("😀")


@given(st.text(st.characters(codec=None)))
def test_a_quoted_value_is_always_utf8(value: str) -> None:
    errors.quote(value).encode("utf-8")
    errors.escape_surrogates(value).encode("utf-8")
