"""vxdial.voicexml.parse: VoiceXML text to the document model, and its errors."""

from __future__ import annotations

import pytest

from vxdial.voicexml import model, parse

from .helpers import vxml

URL = "http://app.example/a/doc.vxml"


def test_structure() -> None:
    document = parse.parse(
        URL,
        vxml("""
      <meta name="author" content="x"/>
      <property name="timeout" value=" 3s "/>
      <var name="a" expr="1"/>
      <script>var b = 2;</script>
      <catch event="error.badfetch error.semantic" count="2" cond="a">c</catch>
      <noinput>n</noinput>
      <form id="f">
        <var name="v"/>
        <block name="intro">Hello <value expr="a"/>!</block>
        <field name="pin" type="digits?length=4" cond="true">
          <prompt count="2" bargein="false" timeout="9s">Again</prompt>
          <property name="termchar" value=""/>
          <filled>ok</filled>
        </field>
        <filled mode="all" namelist="pin">done</filled>
      </form>
      <menu id="m"/>""").encode(),
    )
    assert document.version == "2.1" and document.base == URL
    assert document.properties == {"timeout": "3s"}
    assert document.init == (
        model.Var("a", "1", 6),
        model.Script(None, None, "var b = 2;", model.NO_FETCH, 7),
    )
    assert [c.events for c in document.catches] == [
        ("error.badfetch", "error.semantic"),
        ("noinput",),
    ]
    assert document.catches[0].count == 2 and document.catches[0].cond == "a"
    form, menu = document.dialogs
    assert isinstance(form, model.Form) and isinstance(menu, model.Menu)
    assert document.dialog(None) is form and document.dialog("m") is menu
    assert document.dialog("nope") is None
    block, field = form.items
    assert isinstance(block, model.Block) and isinstance(field, model.Field)
    assert block.body == (
        model.Prompt(
            (model.Text("Hello "), model.Value("a", 12), model.Text("!")), None, None, 1, None, 12
        ),
    )
    assert field.grammars == (model.Grammar(builtin="digits?length=4", line=13),)
    assert field.prompts[0] == model.Prompt((model.Text("Again"),), False, None, 2, "9s", 14)
    assert field.properties == {"termchar": ""}
    assert [(f.owner, f.names, f.mode) for f in form.filleds] == [
        ("pin", ("pin",), "any"),
        (None, ("pin",), "all"),
    ]
    assert form.init[0] == model.Var("v", None, 11)


def test_if_branches_and_implicit_prompts() -> None:
    document = parse.parse(
        URL,
        vxml("""<form><block>
        <if cond="a">one<elseif cond="b"/>two<assign name="x" expr="1"/><else/>three</if>
      </block></form>""").encode(),
    )
    form = document.dialogs[0]
    assert isinstance(form, model.Form) and isinstance(form.items[0], model.Block)
    (node,) = form.items[0].body
    assert isinstance(node, model.If)
    conds = [cond for cond, _ in node.branches]
    assert conds == ["a", "b", None]
    kinds = [[type(n).__name__ for n in body] for _, body in node.branches]
    assert kinds == [["Prompt"], ["Prompt", "Assign"], ["Prompt"]]


def test_no_namespace_and_foreign_elements_are_ignored() -> None:
    document = parse.parse(
        URL,
        b"""<vxml version="2.0" xmlns:x="urn:other"><x:thing/><form>
        <block><x:note>ignored</x:note>said</block></form></vxml>""",
    )
    form = document.dialogs[0]
    assert isinstance(form, model.Form) and isinstance(form.items[0], model.Block)
    assert form.items[0].body == (model.Prompt((model.Text("said"),), None, None, 1, None, 2),)


def test_generated_item_names_are_not_identifiers() -> None:
    document = parse.parse(URL, vxml("<form><block/><block/></form>").encode())
    form = document.dialogs[0]
    assert isinstance(form, model.Form)
    assert [item.name for item in form.items] == ["#block1", "#block2"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<form><block><var name='a.b'/></block></form>", "<var name='a.b'>: not a variable"),
        ("<form><block><assign name='1x' expr='1'/></block></form>", "not a variable name"),
        ("<form><block name='x'/><field name='x' type='boolean'/></form>", "two form items"),
        ("<form id='a'/><form id='a'/>", "two dialogs have the same id"),
        ("<form><block><else/></block></form>", "<else> outside <if>"),
        ("<form><block><if cond='a'><else/><else/></if></block></form>", "<else> after <else>"),
        ("<form><block><submit next='x' method='put'/></block></form>", "get or post"),
        ("<form><block><exit expr='1' namelist='a'/></block></form>", "not both"),
        ("<form><block><throw/></block></form>", "exactly one of event, eventexpr"),
        ("<catch count='0'/>", "count is a whole number"),
        ("<form><block><prompt bargein='no'/></block></form>", "bargein is true or false"),
        ("<form><field name='f' type='digits?length=0'/></form>", "positive whole number"),
        ("<form><field name='f'><filled namelist='f'/></field></form>", "cannot have a namelist"),
        ("<form><filled namelist='ghost'/></form>", "'ghost' is not a form item"),
        ("<form><filled mode='some'/></form>", "mode is any or all"),
        ("<property name='timeout'/>", "needs a value"),
        ("<form><block><script src='a.js'>x</script></block></form>", "source URI and content"),
        ("<form><block><script src='a' srcexpr='b'/></block></form>", "src or srcexpr, not both"),
        ("<form><block><audio src='a' expr='b'/></block></form>", "exactly one of src, expr"),
        ("<form><block><field/></block></form>", "<field> is not allowed in <block>"),
        ("<block/>", "<block> is not allowed in <vxml>"),
        ("<form><field name='f'><grammar src='a' srcexpr='b'/></field></form>", "not both"),
        ("<form><field name='f'><grammar src='a'>1</grammar></field></form>", "inline content"),
        ("<form><grammar/></form>", "neither src, srcexpr nor content"),
    ],
)
def test_document_errors(body: str, message: str) -> None:
    with pytest.raises(parse.DocumentError, match=message):
        parse.parse(URL, vxml(body).encode())


def test_entities_are_not_expanded() -> None:
    body = b"""<?xml version="1.0"?><!DOCTYPE vxml [<!ENTITY e SYSTEM "file:///etc/passwd">]>
        <vxml version="2.1"><form><block>&e;</block></form></vxml>"""
    document = parse.parse(URL, body)
    form = document.dialogs[0]
    assert isinstance(form, model.Form) and isinstance(form.items[0], model.Block)
    assert form.items[0].body == ()


def test_load_caches_by_url_and_body() -> None:
    body = vxml("<form><block>cached</block></form>").encode()
    first = parse.load(URL, body)
    assert parse.load(URL, bytes(body)) is first
    assert parse.load(URL + "?other", body) is not first


def test_the_cache_is_bounded_by_bytes_not_by_count() -> None:
    # Issue 12, item 8: one call walking 40 URLs of a 4 MiB document left the server
    # 361 MiB larger. The cache now holds at most CACHE_MAX_BYTES of bodies.
    filler = "<!--" + "x" * (parse.CACHE_MAX_BYTES // 10) + "-->"
    body = vxml(f"<form><block>big</block></form>{filler}").encode()
    for n in range(40):
        parse.load(f"{URL}?page={n}", body)
        assert parse.cache_bytes() <= parse.CACHE_MAX_BYTES
    assert parse.cache_bytes() >= parse.CACHE_MAX_BYTES - 2 * len(body)  # it does keep some
    # The most recent are kept; the oldest went first.
    assert parse.load(f"{URL}?page=39", body) is parse.load(f"{URL}?page=39", body)


def test_a_document_too_large_for_the_cache_is_parsed_but_not_kept() -> None:
    before = parse.cache_bytes()
    filler = "<!--" + "x" * (parse.CACHE_MAX_BYTES // 4) + "-->"
    body = vxml(f"<form><block>huge</block></form>{filler}").encode()
    first = parse.load(URL + "?huge", body)
    assert isinstance(first.dialogs[0], model.Form)
    assert parse.load(URL + "?huge", body) is not first
    assert parse.cache_bytes() == before
