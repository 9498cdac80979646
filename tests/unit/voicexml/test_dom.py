"""VoiceXML 2.1 ``<data>``: the fetched XML as the read-only DOM Level 2 Core subset of
VoiceXML 2.1 appendix D (Document, Element, Attr, Text/CharacterData, NodeList,
NamedNodeMap), as applications reach it from ECMAScript."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from xml.sax.saxutils import quoteattr

import aiohttp
import pytest
from aiohttp import web

from vxdial import voicexml
from vxdial.voicexml.testing import ScriptedChannel

from .helpers import START, run, vxml

BASE = "http://app.example/ivr/"

QUOTE = b"""<?xml version="1.0" encoding="UTF-8"?>
<?access-control allow="*"?>
<quote>
  <ticker>F</ticker>
  <name>Ford Motor Company</name>
  <change>1.00</change>
  <last>30.00</last>
</quote>
"""

# The stock-quote application of VoiceXML 2.1 section 5 (<data>): a <script> GetData
# function, <data> with a namelist, document.quote assigned the document element.
STOCK_QUOTE_APP = """<?xml version="1.0" encoding="UTF-8"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <var name="quote"/>
  <script>
  <![CDATA[
    function GetData(d, t) {
      return d.getElementsByTagName(t).item(0).firstChild.data;
    }
  ]]>
  </script>
  <form id="get_quote">
    <var name="ticker" expr="'f'"/>
    <block>
      <data name="quote" src="getquote" namelist="ticker"/>
      <assign name="document.quote" expr="quote.documentElement"/>
      <prompt>
        The current price of <value expr="GetData(quote, 'name')"/>
        is <value expr="GetData(document.quote, 'last')"/> dollars,
        a change of <value expr="GetData(quote, 'change')"/>.
      </prompt>
      <exit/>
    </block>
  </form>
</vxml>
"""


@pytest.fixture
async def quote_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback server of the stock-quote application; yields its URL and the query
    strings of the quote requests."""
    asked: list[str] = []

    async def app(request: web.Request) -> web.Response:
        return web.Response(text=STOCK_QUOTE_APP, content_type="application/voicexml+xml")

    async def getquote(request: web.Request) -> web.Response:
        asked.append(request.query_string)
        if request.query.get("ticker") != "f":
            return web.Response(status=404)
        return web.Response(body=QUOTE, content_type="text/xml")

    application = web.Application()
    application.router.add_get("/app/quote.vxml", app)
    application.router.add_get("/app/getquote", getquote)
    runner = web.AppRunner(application, shutdown_timeout=0.05)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", asked
    finally:
        await runner.cleanup()


async def test_the_stock_quote_example_of_the_specification_runs_over_http(
    quote_server: tuple[str, list[str]],
) -> None:
    """VoiceXML 2.1 section 5 (the <data> example) and appendix D: getElementsByTagName,
    NodeList item(), firstChild, Text data, on the Document and on an Element."""
    url, asked = quote_server
    channel = ScriptedChannel()
    async with aiohttp.ClientSession() as http:
        end = await voicexml.run_session(
            voicexml.FetchRequest(f"{url}/app/quote.vxml"),
            channel=channel,
            fetcher=voicexml.HttpFetcher(http),
            session={},
        )
    assert end.reason == "exit", end
    assert asked == ["ticker=f"]
    assert channel.heard == [
        "The current price of Ford Motor Company is 30.00 dollars, a change of 1.00."
    ]


async def values(document: str | bytes, exprs: Sequence[str]) -> list[object]:
    """Each expression's value (as JSON) with the document fetched by <data> in ``d``."""
    prompts = "".join(
        f"<prompt><value expr={quoteattr(f'JSON.stringify({expr})')}/></prompt>" for expr in exprs
    )
    result = await run(
        {
            START: vxml(
                f'<form><block><data name="d" src="d.xml"/>{prompts}<exit/></block></form>'
            ),
            BASE + "d.xml": document,
        }
    )
    assert result.end.reason == "exit", result.end
    return [None if text == "undefined" else json.loads(text) for text in result.heard]


async def error_of(document: str, expr: str) -> voicexml.SessionEnd:
    result = await run(
        {
            START: vxml(
                '<form><block><data name="d" src="d.xml"/>'
                f"<var name='x' expr={quoteattr(expr)}/><exit/></block></form>"
            ),
            BASE + "d.xml": document,
        }
    )
    return result.end


PEOPLE = """<?xml version="1.0"?>
<people xmlns="urn:example:people" xmlns:p="urn:example:phone" version="2">
  <person id="1" p:kind="mobile">Ann<p:number p:kind="home">555-0101</p:number></person>
  <person id="2"><![CDATA[Bob & <Co>]]></person>
</people>"""


async def test_node_list_has_item_length_and_indexes() -> None:
    """Appendix D, NodeList: ``length``, ``item(index)`` (null out of range) and ``[i]``
    (DOM Level 2 ECMAScript binding)."""
    got = await values(
        PEOPLE,
        [
            "d.getElementsByTagName('person').length",
            "d.getElementsByTagName('person').item(1).getAttribute('id')",
            "d.getElementsByTagName('person')[0].getAttribute('id')",
            "d.getElementsByTagName('person').item(2)",
            "d.getElementsByTagName('person').item(-1)",
            "d.getElementsByTagName('nobody').length",
            "d.documentElement.childNodes.length",
            "d.documentElement.childNodes.item(1).nodeName",
            "d.getElementsByTagName('*').length",
            "d.documentElement.getElementsByTagName('p:number').item(0).firstChild.data",
        ],
    )
    assert got == [2, "2", "1", None, None, 0, 5, "person", 4, "555-0101"]


async def test_namespaces() -> None:
    """Appendix D: ``getElementsByTagNameNS``, ``getAttributeNS``, ``hasAttributeNS``,
    ``namespaceURI``, ``prefix``, ``localName`` (DOM Level 2 Core namespaces)."""
    got = await values(
        PEOPLE,
        [
            "d.getElementsByTagNameNS('urn:example:phone', 'number').length",
            "d.getElementsByTagNameNS('urn:example:people', 'person').length",
            "d.getElementsByTagNameNS('*', 'number').item(0).nodeName",
            "d.getElementsByTagNameNS('urn:example:people', '*').length",
            "d.getElementsByTagNameNS(null, 'person').length",
            "d.getElementsByTagName('number').length",  # tag names are qualified names
            "d.getElementsByTagName('person')[0].getAttributeNS('urn:example:phone', 'kind')",
            "d.getElementsByTagName('person')[0].hasAttributeNS('urn:example:phone', 'kind')",
            "d.getElementsByTagName('person')[0].hasAttributeNS(null, 'id')",
            "d.getElementsByTagName('person')[0].getAttributeNS('urn:x', 'kind')",
            "[d.documentElement.namespaceURI, d.documentElement.prefix,"
            " d.documentElement.localName]",
            "(function (n) { return [n.namespaceURI, n.prefix, n.localName, n.tagName]; })"
            "(d.getElementsByTagName('p:number').item(0))",
            "d.documentElement.getAttributeNodeNS('http://www.w3.org/2000/xmlns/', 'p').value",
            "d.documentElement.getAttributeNS('http://www.w3.org/2000/xmlns/', 'xmlns')",
        ],
    )
    assert got == [
        1,
        2,
        "p:number",
        3,  # the document element and the two persons
        0,
        0,
        "mobile",
        True,
        True,
        "",
        ["urn:example:people", None, "people"],
        ["urn:example:phone", "p", "number", "p:number"],
        "urn:example:phone",
        "urn:example:people",
    ]


async def test_attributes_are_a_named_node_map_of_attr_nodes() -> None:
    """Appendix D: Element ``attributes`` (a NamedNodeMap: ``length``, ``item``,
    ``getNamedItem``, ``getNamedItemNS``), ``getAttribute`` ("" when absent),
    ``getAttributeNode``, ``hasAttribute``, ``hasAttributes``; Attr ``name``, ``value``,
    ``specified``, ``ownerElement`` and its Text child."""
    person = "d.getElementsByTagName('person')[0]"
    got = await values(
        PEOPLE,
        [
            f"{person}.attributes.length",
            f"{person}.attributes.getNamedItem('id').value",
            f"{person}.attributes.getNamedItem('missing')",
            f"{person}.attributes.getNamedItemNS('urn:example:phone', 'kind').name",
            f"{person}.attributes.item(0).name",
            f"{person}.attributes.item(5)",
            f"{person}.getAttribute('missing')",
            f"{person}.getAttributeNode('id').nodeValue",
            f"{person}.getAttributeNode('missing')",
            f"[{person}.hasAttribute('id'), {person}.hasAttribute('x')]",
            f"[{person}.hasAttributes(), {person}.firstChild.hasAttributes()]",
            f"(function (a) {{ return [a.nodeType, a.nodeName, a.specified,"
            f" a.ownerElement === {person}, a.parentNode, a.firstChild.data,"
            f" a.firstChild.parentNode === a, a.childNodes.length]; }})"
            f"({person}.getAttributeNode('id'))",
            f"{person}.getAttributeNode('id') === {person}.attributes.item(0)",
            "d.firstChild.attributes === null",  # only elements have attributes
        ],
    )
    assert got == [
        2,
        "1",
        None,
        "p:kind",
        "id",
        None,
        "",
        "1",
        None,
        [True, False],
        [True, False],
        [2, "id", True, True, None, "1", True, 1],
        True,
        False,
    ]


async def test_text_is_character_data() -> None:
    """Appendix D, CharacterData / Text: ``data``, ``length``, ``nodeValue``,
    ``substringData`` (INDEX_SIZE_ERR past the end); CDATA sections are text."""
    ann = "d.getElementsByTagName('person')[0].firstChild"
    bob = "d.getElementsByTagName('person')[1].firstChild"
    got = await values(
        PEOPLE,
        [
            f"[{ann}.data, {ann}.length, {ann}.nodeValue, {ann}.nodeType, {ann}.nodeName]",
            f"{ann}.substringData(1, 2)",
            f"{ann}.substringData(1, 100)",
            f"{bob}.data",
            f"(function () {{ try {{ {ann}.substringData(4, 1); }}"
            " catch (e) { return [e.name, e.code]; } })()",
            f"[{ann}.localName, {ann}.namespaceURI, {ann}.attributes, {ann}.hasChildNodes()]",
        ],
    )
    assert got == [
        ["Ann", 3, "Ann", 3, "#text"],
        "nn",
        "nn",
        "Bob & <Co>",
        ["DOMException", 1],
        [None, None, None, False],
    ]


async def test_navigation_members() -> None:
    """Appendix D, Node: ``parentNode``, ``firstChild``, ``lastChild``,
    ``previousSibling``, ``nextSibling``, ``childNodes``, ``ownerDocument``,
    ``hasChildNodes``, ``nodeType``, ``nodeName``, ``nodeValue``; Document
    ``documentElement``; Element ``tagName``. The same node is the same object."""
    root = "d.documentElement"
    got = await values(
        "<a x='1'>one<b>two</b><c/>three</a>",
        [
            f"[{root}.tagName, {root}.nodeName, {root}.nodeType, {root}.nodeValue]",
            "[d.nodeName, d.nodeType, d.nodeValue, d.parentNode, d.ownerDocument]",
            f"{root}.parentNode === d",
            f"{root}.ownerDocument === d",
            f"{root}.firstChild.nextSibling.nodeName",
            f"{root}.lastChild.data",
            f"{root}.lastChild.previousSibling.nodeName",
            f"[{root}.firstChild.previousSibling, {root}.lastChild.nextSibling]",
            f"{root}.firstChild.nextSibling.firstChild.parentNode === {root}.childNodes[1]",
            f"[{root}.hasChildNodes(), {root}.childNodes[2].hasChildNodes()]",
            f"[{root}.childNodes[2].firstChild, {root}.childNodes[2].childNodes.length]",
            "d.firstChild === d.documentElement",
            "[d.doctype, d.getElementById('x'), d.documentElement.isSupported('Core', '2.0')]",
            "[d.ELEMENT_NODE, d.documentElement.TEXT_NODE, d.DOCUMENT_NODE]",
            "String(d.documentElement) + String(d) + String(d.documentElement.attributes)",
        ],
    )
    assert got == [
        ["a", "a", 1, None],
        ["#document", 9, None, None, None],
        True,
        True,
        "b",
        "three",
        "c",
        [None, None],
        True,
        [True, False],
        [None, 0],
        True,
        [None, None, True],
        [1, 3, 9],
        "[object Element][object Document][object NamedNodeMap]",
    ]


@pytest.mark.parametrize(
    ("expr", "member"),
    [
        ("d.documentElement.appendChild(d.documentElement)", "Element.appendChild()"),
        ("d.documentElement.setAttribute('x', '2')", "Element.setAttribute()"),
        ("d.documentElement.removeAttribute('x')", "Element.removeAttribute()"),
        ("d.createElement('b')", "Document.createElement()"),
        ("d.documentElement.firstChild.splitText(1)", "Text.splitText()"),
        ("d.documentElement.firstChild.appendData('!')", "Text.appendData()"),
        ("d.documentElement.attributes.removeNamedItem('x')", "NamedNodeMap.removeNamedItem()"),
        ("d.documentElement.normalize()", "Element.normalize()"),
        ("d.documentElement.nodeValue = 'v'", "Element.nodeValue cannot be set"),
        ("d.documentElement.firstChild.data = 'v'", "Text.data cannot be set"),
        ("d.documentElement.getAttributeNode('x').value = 'v'", "Attr.value cannot be set"),
        ("d.documentElement.color = 'red'", "Element.color cannot be set"),
    ],
)
async def test_the_dom_is_read_only(expr: str, member: str) -> None:
    """Appendix D: a read-only subset. A mutating call or assignment throws a DOMException
    (NO_MODIFICATION_ALLOWED_ERR) naming the member: error.semantic when not caught."""
    end = await error_of("<a x='1'>one</a>", expr)
    assert end.event == "error.semantic"
    assert f"DOMException: NO_MODIFICATION_ALLOWED_ERR: {member}" in (end.message or "")


async def test_a_mutation_can_be_caught_as_a_domexception() -> None:
    """Appendix D / DOM Level 2 Core: the exception has ``code`` 7 (NO_MODIFICATION_ALLOWED_ERR)
    and the tree is unchanged."""
    got = await values(
        "<a x='1'>one</a>",
        [
            "(function () { try { d.documentElement.setAttribute('x', '2'); }"
            " catch (e) { return [e.name, e.code, e instanceof Error]; } })()",
            "d.documentElement.getAttribute('x')",
        ],
    )
    assert got == [["DOMException", 7, True], "1"]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("d.documentElement.text", 'Element has no member "text"'),
        ("d.documentElement.textContent()", 'Element has no member "textContent"'),
        ("d.getElementsByTagName('a').map(String)", 'NodeList has no member "map"'),
        ("d.documentElement.firstChild.innerText", 'Text has no member "innerText"'),
        ("d.documentElement.attributes.x.value", 'NamedNodeMap has no member "x"'),
        ("d.querySelector('a')", 'Document has no member "querySelector"'),
    ],
)
async def test_a_missing_member_is_named(expr: str, message: str) -> None:
    """VoiceXML 2.1 appendix D lists the members; using another one is error.semantic
    naming it (not undefined, then a bare "not a function")."""
    end = await error_of("<a x='1'>one</a>", expr)
    assert end.event == "error.semantic"
    assert message in (end.message or "")
    assert "line 3" in (end.message or "")


async def test_a_data_document_over_the_node_limit_is_error_badfetch() -> None:
    """VoiceXML 2.1 section 5 (errors of <data> are error.badfetch) and the bound on
    what one document may build: ``Limits.data_max_nodes``, catchable."""
    items = "<i>x</i>" * 20
    app = vxml(
        """<form>
          <catch event="error.badfetch">too big: <value expr="_message"/><exit/></catch>
          <block><data name="d" src="d.xml"/>built<exit/></block></form>"""
    )
    small = await run(
        {START: app, BASE + "d.xml": f"<r>{items}</r>"},
        limits=voicexml.Limits(data_max_nodes=41),
    )
    assert small.heard == ["built"]
    big = await run(
        {START: app, BASE + "d.xml": f"<r>{items}</r>"},
        limits=voicexml.Limits(data_max_nodes=40),
    )
    assert big.heard == [
        "too big: line 5: <data>: http://app.example/ivr/d.xml:"
        " more than 40 nodes (elements and text)"
    ]


async def test_deep_and_wide_documents_are_bounded() -> None:
    """A document nested as deep as the XML parser allows (255 levels) is navigated
    without recursion; deeper is error.badfetch; the default limits hold a document
    of ``data_max_nodes`` nodes."""
    deep = "<e>" * 255 + "x" + "</e>" * 255
    got = await values(
        deep,
        [
            "d.getElementsByTagName('e').length",
            "d.getElementsByTagName('e').item(254).firstChild.data",
            "d.getElementsByTagName('e').item(254).parentNode.parentNode.nodeName",
        ],
    )
    assert got == [255, "x", "e"]
    deeper = await error_of("<e>" * 300 + "</e>" * 300, "1")
    assert deeper.event == "error.badfetch"
    count = voicexml.Limits().data_max_nodes // 2 - 1  # each <i> has a text node
    wide = "<r>" + "".join(f"<i n='{k}'>{k}</i>" for k in range(count)) + "</r>"
    got = await values(
        wide,
        [
            "d.getElementsByTagName('i').length",
            "d.getElementsByTagName('i').item(12345).getAttribute('n')",
            "d.documentElement.lastChild.firstChild.data",
        ],
    )
    assert got == [count, "12345", str(count - 1)]


async def test_nodes_of_another_data_document_are_refused() -> None:
    """The methods of one document's nodes work on that document only (a TypeError
    naming the reason, not a wrong answer)."""
    result = await run(
        {
            START: vxml(
                """<form><block>
                <data name="a" src="a.xml"/><data name="b" src="b.xml"/>
                <var name="f" expr="a.documentElement.getAttribute"/>
                <value expr="f.call(b.documentElement, 'x')"/><exit/></block></form>"""
            ),
            BASE + "a.xml": "<a x='1'/>",
            BASE + "b.xml": "<b x='2'/>",
        }
    )
    assert result.end.event == "error.semantic"
    assert "not a node of this <data> document" in (result.end.message or "")


async def test_foreach_walks_a_node_list() -> None:
    """VoiceXML 2.1 section 6 (<foreach array>) over a NodeList of section 5's DOM: it has
    a ``length`` and ``[i]``."""
    result = await run(
        {
            START: vxml(
                """<form><block><data name="d" src="d.xml"/>
                <prompt><foreach array="d.getElementsByTagNameNS('*', 'i')" item="n">
                  <value expr="n.firstChild.data"/></foreach></prompt><exit/></block></form>"""
            ),
            BASE + "d.xml": "<r><i>one</i><i>two</i><i>three</i></r>",
        }
    )
    assert result.heard == ["one two three"]


async def test_a_data_document_over_the_script_memory_ends_the_session() -> None:
    """A document within the node limit that does not fit in the session's script memory
    ends the session as any script over its memory does: error.semantic naming the limit."""
    body = "<r>" + "".join(f"<i n='{k}'>value {k}</i>" for k in range(20_000)) + "</r>"
    result = await run(
        {
            START: vxml('<form><block><data name="d" src="d.xml"/>built<exit/></block></form>'),
            BASE + "d.xml": body,
        },
        limits=voicexml.Limits(script_memory_bytes=4 * 1024 * 1024),
    )
    assert result.heard == []
    assert result.end.event == "error.semantic"
    assert "scripts used more than 4 MiB" in (result.end.message or "")
