"""A read-only DOM for VoiceXML 2.1 ``<data>``: an XML document as plain ECMAScript
objects, with the DOM Level 2 Core members applications use.

``parse`` turns the fetched XML into JSON-like data (element, text, comment-free);
``methods(name)`` is a script run after that data is stored in variable ``name``: it adds
the navigation members (``parentNode``, ``firstChild``, ``lastChild``,
``previousSibling``, ``nextSibling``, ``documentElement``) and methods
(``getElementsByTagName``, ``getAttribute``, ``hasAttribute``, ``hasChildNodes``), then
freezes the tree (the spec's DOM is read-only: a write is an error in strict code and
ignored otherwise). Namespaces are kept in ``namespaceURI`` and ``localName``.
"""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]

__all__ = ["methods", "parse"]

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True
)

ELEMENT_NODE = 1
TEXT_NODE = 3
DOCUMENT_NODE = 9


def parse(body: bytes) -> dict[str, object]:
    """The document node of ``body``; raises ``ValueError`` if it is not well-formed."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise ValueError("an empty document")
    return {
        "nodeType": DOCUMENT_NODE,
        "nodeName": "#document",
        "nodeValue": None,
        "childNodes": [_element(root)],
    }


def _text(text: str) -> dict[str, object]:
    return {"nodeType": TEXT_NODE, "nodeName": "#text", "nodeValue": text, "data": text}


def _element(element: etree._Element) -> dict[str, object]:
    name = etree.QName(element)
    tag = name.localname if element.prefix is None else f"{element.prefix}:{name.localname}"
    children: list[dict[str, object]] = []
    if element.text:
        children.append(_text(element.text))
    for child in element:
        if isinstance(child.tag, str):
            children.append(_element(child))
        if child.tail:
            children.append(_text(child.tail))
    attributes = [
        {"name": str(key), "nodeName": str(key), "value": str(value), "nodeValue": str(value)}
        for key, value in element.attrib.items()
    ]
    return {
        "nodeType": ELEMENT_NODE,
        "nodeName": tag,
        "tagName": tag,
        "localName": name.localname,
        "namespaceURI": name.namespace,
        "nodeValue": None,
        "attributes": attributes,
        "childNodes": children,
    }


def methods(name: str) -> str:
    """ECMAScript that makes the data in variable ``name`` a navigable, frozen DOM."""
    return _METHODS.replace("__ROOT__", name)


_METHODS = r"""
(function (doc) {
  function byTag(node, tag, found) {
    var kids = node.childNodes;
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i];
      if (k.nodeType === 1) {
        if (tag === "*" || k.tagName === tag || k.localName === tag) found.push(k);
        byTag(k, tag, found);
      }
    }
    return found;
  }
  function attr(node, n) {
    var a = node.attributes || [];
    for (var i = 0; i < a.length; i++) if (a[i].name === n) return a[i];
    return null;
  }
  function decorate(node, parent) {
    var kids = node.childNodes;
    node.parentNode = parent;
    node.firstChild = kids.length ? kids[0] : null;
    node.lastChild = kids.length ? kids[kids.length - 1] : null;
    node.hasChildNodes = function () { return this.childNodes.length > 0; };
    node.getElementsByTagName = function (tag) { return byTag(this, tag, []); };
    if (node.nodeType === 1) {
      node.getAttribute = function (n) { var a = attr(this, n); return a ? a.value : ""; };
      node.hasAttribute = function (n) { return attr(this, n) !== null; };
      node.getAttributeNode = function (n) { return attr(this, n); };
    }
    for (var i = 0; i < kids.length; i++) {
      kids[i].previousSibling = i > 0 ? kids[i - 1] : null;
      kids[i].nextSibling = i + 1 < kids.length ? kids[i + 1] : null;
      if (kids[i].nodeType === 1) decorate(kids[i], node);
      else { kids[i].parentNode = node; kids[i].firstChild = null; kids[i].lastChild = null; }
    }
  }
  decorate(doc, null);
  doc.documentElement = doc.childNodes[0];
  (function freeze(o) {
    if (o === null || typeof o !== "object" || Object.isFrozen(o)) return;
    Object.freeze(o);
    for (var k in o) freeze(o[k]);
  })(doc);
})(__ROOT__);
"""
