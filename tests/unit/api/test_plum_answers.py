"""vxdial.api.plum.answers: the XML answers always parse, whatever the values hold."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vxdial.api.plum import answers


@pytest.mark.parametrize("text", ["\ufffe", "\uffff", "\ud800", "\x00", "\x1b", "\x0b"])
def test_characters_xml_cannot_carry_are_spelled_out(text: str) -> None:
    # XML 1.0 section 2.2 ("Char"): these may not appear in a document at all, not even
    # as character references; a reason quoting them must still give a readable answer.
    document = answers.failed("queuecalls", [("phone_list", f"bad {text} value")])
    root = ET.fromstring(document.encode("utf-8", "surrogatepass"))
    [error] = root
    assert error.text == "bad " + "".join(f"\\u{ord(c):04x}" for c in text) + " value"


@given(st.text())
def test_any_reason_and_field_give_a_parseable_answer(text: str) -> None:
    document = answers.failed("queuecall", [(text, text)])
    root = ET.fromstring(document.encode("utf-8", "surrogatepass"))
    assert root.get("status") == "failed"
    [error] = root
    assert error.get("field") is not None


def test_tab_cr_and_lf_are_kept() -> None:
    document = answers.failed("queuecall", [("call_parameters", "a\tb\r\nc")])
    assert "a\tb\r\nc" in document
