"""The read-only DOM of VoiceXML 2.1 ``<data>`` (section 5 and appendix D): the fetched
XML document as DOM Level 2 Core objects in the session's ECMAScript engine.

Two halves. ``encode`` (Python) checks the XML and flattens it into compact JSON: the
nodes in document order (node 0 is the Document), each with its parent, its name (an index
into a table of qualified names, so a name repeated a thousand times is one string) and
its text or attributes. ``BUILDER`` (ECMAScript, compiled once per session) turns that into
the DOM: typed arrays of parent / first child / next sibling / subtree end, and node objects
made only when a script reaches them (and kept, so ``a.firstChild.parentNode === a``). No
step recurses, so nesting depth costs nothing; ``getElementsByTagName`` scans the subtree
as a range of indexes.

The interfaces and members (DOM Level 2 Core, its ECMAScript binding):

- Node (every node): ``nodeName``, ``nodeValue``, ``nodeType``, ``parentNode``,
  ``childNodes``, ``firstChild``, ``lastChild``, ``previousSibling``, ``nextSibling``,
  ``attributes``, ``ownerDocument``, ``namespaceURI``, ``prefix``, ``localName``,
  ``hasChildNodes()``, ``hasAttributes()``, ``isSupported()`` and the node type constants
  (``ELEMENT_NODE`` ...);
- Document: ``documentElement``, ``doctype`` (null: DTDs are not read),
  ``getElementsByTagName``, ``getElementsByTagNameNS``, ``getElementById`` (null: no
  attribute is of type ID without a DTD);
- Element: ``tagName``, ``getAttribute``, ``getAttributeNS``, ``getAttributeNode``,
  ``getAttributeNodeNS``, ``hasAttribute``, ``hasAttributeNS``, ``getElementsByTagName``,
  ``getElementsByTagNameNS``;
- Attr: ``name``, ``value``, ``specified``, ``ownerElement`` (its child is a Text of the
  value); namespace declarations are attributes too, in the xmlns namespace;
- CharacterData / Text: ``data``, ``length``, ``substringData(offset, count)``;
- NodeList and NamedNodeMap: ``length``, ``item(i)`` (null out of range), ``[i]``;
  NamedNodeMap ``getNamedItem``, ``getNamedItemNS``.

Read-only (appendix D: a read-only subset). Every method of DOM Level 2 Core that would
change or create nodes (``appendChild``, ``setAttribute``, ``splitText``,
``createElement`` ...) throws a ``DOMException`` (``code`` 7, NO_MODIFICATION_ALLOWED_ERR)
whose message names the member, and so does assigning to any member (``node.nodeValue =
"x"``, ``node.foo = 1``). Reading a member the DOM does not have throws a TypeError that
names it (``Element has no member "text"``), rather than giving undefined and a bare "not
a function" one call later; numeric indexes out of range are undefined, as for arrays.
Comments, processing instructions and the doctype are not in the tree; CDATA sections
are text, merged with the text around them; entity references to a DTD are not expanded.
"""

from __future__ import annotations

import json

from lxml import etree  # type: ignore[import-untyped]

__all__ = ["BUILDER", "encode"]

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True
)
_XMLNS = "http://www.w3.org/2000/xmlns/"
_XML = "http://www.w3.org/XML/1998/namespace"


class _Table:
    """Values kept once, referred to by index: qualified names ([nodeName, localName,
    namespaceURI, prefix]) and strings (a value repeated a thousand times is one string
    in the engine, not a thousand)."""

    def __init__(self) -> None:
        self.rows: list[object] = []
        self._index: dict[object, int] = {}

    def of(self, key: object, row: object) -> int:
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = len(self.rows)
            self.rows.append(row)
        return found

    def name(self, local: str, namespace: str | None, prefix: str | None) -> int:
        name = local if prefix is None else f"{prefix}:{local}"
        return self.of((local, namespace, prefix), [name, local, namespace, prefix])


def _attributes(
    element: etree._Element, parent_map: dict[str | None, str], names: _Table
) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for prefix, uri in element.nsmap.items():
        if parent_map.get(prefix) != uri:  # declared here (DOM Level 2: an attribute too)
            if prefix is None:
                found.append((names.name("xmlns", _XMLNS, None), uri))
            else:
                found.append((names.name(prefix, _XMLNS, "xmlns"), uri))
    for key, value in element.attrib.items():
        name = etree.QName(key)
        prefix = None
        if name.namespace == _XML:
            prefix = "xml"
        elif name.namespace is not None:
            prefix = next(
                (p for p, uri in element.nsmap.items() if uri == name.namespace and p), None
            )
        found.append((names.name(name.localname, name.namespace, prefix), str(value)))
    return found


def encode(body: bytes, *, max_nodes: int) -> str:
    """The document in ``body`` as the JSON that ``BUILDER`` reads. Raises ``ValueError``
    when it is not well-formed XML, or has more than ``max_nodes`` nodes (elements and
    text; the bound on what one ``<data>`` may build)."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise ValueError("an empty document")
    names, strings = _Table(), _Table()
    # Per node, in document order (node 0 is the Document): its kind (-2 the Document,
    # -1 Text, else the element's name), its parent, its text (a string index, or -1), and
    # where its attributes start in ``attrs`` (pairs of name and string indexes).
    kinds: list[int] = [-2]
    parents: list[int] = [-1]
    texts: list[int] = [-1]
    starts: list[int] = [0]
    attrs: list[int] = []

    def add(kind: int, parent: int, text: int) -> int:
        if len(kinds) > max_nodes:
            raise ValueError(f"more than {max_nodes} nodes (elements and text)")
        kinds.append(kind)
        parents.append(parent)
        texts.append(text)
        starts.append(len(attrs))
        return len(kinds) - 1

    # Depth first without recursion: (element or text, parent index, parent's namespaces).
    todo: list[tuple[etree._Element | str, int, dict[str | None, str]]] = [(root, 0, {})]
    while todo:
        item, parent, parent_map = todo.pop()
        if isinstance(item, str):
            add(-1, parent, strings.of(item, item))
            continue
        qname = etree.QName(item)
        index = add(names.name(qname.localname, qname.namespace, item.prefix), parent, -1)
        for name, value in _attributes(item, parent_map, names):
            attrs += (name, strings.of(value, value))
        nsmap = dict(item.nsmap)
        # Children pushed in reverse, so that they come off in document order; adjacent
        # text (around a dropped comment or entity reference) is one Text node, as in a
        # normalized DOM.
        pending: list[tuple[etree._Element | str, int, dict[str | None, str]]] = []
        for piece in _pieces(item):
            if isinstance(piece, str) and pending and isinstance(pending[-1][0], str):
                pending[-1] = (pending[-1][0] + piece, index, nsmap)
            else:
                pending.append((piece, index, nsmap))
        todo.extend(reversed(pending))
    starts.append(len(attrs))
    return json.dumps(
        {
            "q": names.rows,
            "s": strings.rows,
            "n": kinds,
            "p": parents,
            "t": texts,
            "o": starts,
            "a": attrs,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _pieces(element: etree._Element) -> list[etree._Element | str]:
    """The element's children and non-empty text, in document order."""
    pieces: list[etree._Element | str] = []
    if element.text:
        pieces.append(element.text)
    for child in element:
        if isinstance(child.tag, str):
            pieces.append(child)
        if child.tail:
            pieces.append(child.tail)
    return pieces


# A function expression: (JSON from ``encode``) -> the Document node. Each document gets its
# own prototypes and keys, so a method of one document refuses the nodes of another.
BUILDER = r"""
(function (json) {
  "use strict";
  var src = JSON.parse(json);
  var QN = src.q, STR = src.s, KIND = Int32Array.from(src.n), N = KIND.length;
  var PARENT = Int32Array.from(src.p), TEXT = Int32Array.from(src.t);
  var ASTART = Int32Array.from(src.o), ATTR = Int32Array.from(src.a);
  var FIRST = new Int32Array(N).fill(-1), LAST = new Int32Array(N).fill(-1);
  var NEXT = new Int32Array(N).fill(-1), PREV = new Int32Array(N).fill(-1);
  var END = new Int32Array(N);  // the last index of each node's subtree
  var i, p;
  for (i = 1; i < N; i++) {
    p = PARENT[i];
    if (FIRST[p] < 0) FIRST[p] = i; else { NEXT[LAST[p]] = i; PREV[i] = LAST[p]; }
    LAST[p] = i;
  }
  for (i = N - 1; i >= 0; i--) END[i] = LAST[i] < 0 ? i : END[LAST[i]];
  src = null;

  var ID = Symbol("node"), IFACE = Symbol("interface");
  var nodes = [], childLists = [], attrMaps = [];

  class DOMException extends Error {
    constructor(code, message) { super(message); this.code = code; }
    get name() { return "DOMException"; }
  }
  var CODES = {INDEX_SIZE_ERR: 1, NO_MODIFICATION_ALLOWED_ERR: 7, NOT_SUPPORTED_ERR: 9};
  for (var c in CODES) Object.defineProperty(DOMException, c, {value: CODES[c]});
  function readOnly(what) {
    return new DOMException(7, "NO_MODIFICATION_ALLOWED_ERR: " + what +
      ": the <data> document is read-only");
  }

  // The end of every prototype chain: members the DOM does not have.
  var INDEX = /^(0|[1-9][0-9]*)$/;
  var missing = new Proxy(Object.create(null), {
    get: function (target, key, receiver) {
      if (typeof key === "symbol" || key in Object.prototype)
        return Reflect.get(Object.prototype, key, receiver);
      if (key === "toJSON" || INDEX.test(key)) return undefined;
      throw new TypeError(receiver[IFACE] + ' has no member "' + key + '"');
    },
    set: function (target, key, value, receiver) {
      throw readOnly(receiver[IFACE] + "." + String(key) + " cannot be set");
    },
    has: function (target, key) { return key in Object.prototype; },
    defineProperty: function (target, key) {
      throw readOnly(String(key) + " cannot be defined");
    }
  });

  function iface(name, parent, members) {
    var proto = Object.create(parent);
    Object.defineProperty(proto, IFACE, {value: name});
    Object.defineProperty(proto, Symbol.toStringTag, {value: name});
    for (var key in members) {
      var m = members[key];
      if (typeof m === "function") {
        Object.defineProperty(proto, key, {value: m, writable: false});
      } else if (m === MUTATOR) {
        Object.defineProperty(proto, key, {value: mutator(name, key), writable: false});
      } else {
        Object.defineProperty(proto, key, {get: m.get, set: setter(name, key)});
      }
    }
    return proto;
  }
  var MUTATOR = {};
  // Named after the node's own interface (Text.appendData, not CharacterData.appendData).
  function named(o, name) {
    return o !== null && typeof o === "object" && typeof o[IFACE] === "string" ? o[IFACE] : name;
  }
  function mutator(name, key) {
    return function () { throw readOnly(named(this, name) + "." + key + "()"); };
  }
  function setter(name, key) {
    return function () { throw readOnly(named(this, name) + "." + key + " cannot be set"); };
  }
  function get(f) { return {get: f}; }
  function rec(o) {
    var r = (o !== null && typeof o === "object") ? o[ID] : undefined;
    if (r === undefined) throw new TypeError("not a node of this <data> document");
    return r;
  }
  function make(proto, id) {
    var o = Object.create(proto);
    Object.defineProperty(o, ID, {value: id});
    return Object.freeze(o);
  }
  function list(proto, items) {
    Object.setPrototypeOf(items, proto);
    return Object.freeze(items);
  }
  function str(s) { return s === null || s === undefined ? s : String(s); }
  function nsArg(s) { return s === undefined || s === null || s === "" ? null : String(s); }

  // -- nodes of the tree (records are indexes) -------------------------------------
  function node(i) {
    if (i < 0) return null;
    var o = nodes[i];
    if (o === undefined) {
      o = nodes[i] = make(i === 0 ? DocumentProto : KIND[i] === -1 ? TextProto : ElementProto, i);
    }
    return o;
  }
  function children(i) {
    var l = childLists[i];
    if (l === undefined) {
      var items = [];
      for (var k = FIRST[i]; k >= 0; k = NEXT[k]) items.push(node(k));
      l = childLists[i] = list(NodeListProto, items);
    }
    return l;
  }
  function byTag(i, tag) {
    tag = String(tag);
    var found = [];
    for (var k = i + 1; k <= END[i]; k++)
      if (KIND[k] >= 0 && (tag === "*" || QN[KIND[k]][0] === tag)) found.push(node(k));
    return list(NodeListProto, found);
  }
  function byTagNS(i, ns, local) {
    ns = ns === "*" ? "*" : nsArg(ns);
    local = String(local);
    var found = [];
    for (var k = i + 1; k <= END[i]; k++) {
      if (KIND[k] < 0) continue;
      var q = QN[KIND[k]];
      if ((ns === "*" || q[2] === ns) && (local === "*" || q[1] === local)) found.push(node(k));
    }
    return list(NodeListProto, found);
  }

  // -- attributes (records are -1 - g, g the attribute's index in document order) -----
  // Element i's attributes are the pairs (name, string) g = ASTART[i] / 2 .. ASTART[i + 1] / 2.
  var OWNER = new Int32Array(ATTR.length / 2), attrNodes = [], attrKidLists = [];
  for (i = 0; i < N; i++) for (var g = ASTART[i] / 2; g < ASTART[i + 1] / 2; g++) OWNER[g] = i;
  function attrNode(g) {
    var o = attrNodes[g];
    if (o === undefined) o = attrNodes[g] = make(AttrProto, -1 - g);
    return o;
  }
  function attrs(i) {
    var m = attrMaps[i];
    if (m === undefined) {
      var items = [];
      for (var g = ASTART[i] / 2; g < ASTART[i + 1] / 2; g++) items.push(attrNode(g));
      m = attrMaps[i] = list(NamedNodeMapProto, items);
    }
    return m;
  }
  function attr(o) { return -1 - rec(o); }  // an Attr's g
  function attrQ(g) { return QN[ATTR[2 * g]]; }
  function attrValue(g) { return STR[ATTR[2 * g + 1]]; }
  // The g of element i's attribute named so, or -1 (no Attr node is made to look).
  function attrByName(i, name) {
    name = String(name);
    for (var g = ASTART[i] / 2; g < ASTART[i + 1] / 2; g++) if (attrQ(g)[0] === name) return g;
    return -1;
  }
  function attrByNS(i, ns, local) {
    ns = nsArg(ns);
    local = String(local);
    for (var g = ASTART[i] / 2; g < ASTART[i + 1] / 2; g++) {
      var q = attrQ(g);
      if (q[2] === ns && q[1] === local) return g;
    }
    return -1;
  }
  function attrKids(o) {
    var g = attr(o), kids = attrKidLists[g];
    if (kids === undefined) {
      kids = attrKidLists[g] = list(NodeListProto,
        attrValue(g) === "" ? [] : [make(AttrTextProto, {attr: o})]);
    }
    return kids;
  }

  // -- the interfaces --------------------------------------------------------------------
  var TYPES = ["ELEMENT_NODE", "ATTRIBUTE_NODE", "TEXT_NODE", "CDATA_SECTION_NODE",
    "ENTITY_REFERENCE_NODE", "ENTITY_NODE", "PROCESSING_INSTRUCTION_NODE", "COMMENT_NODE",
    "DOCUMENT_NODE", "DOCUMENT_TYPE_NODE", "DOCUMENT_FRAGMENT_NODE", "NOTATION_NODE"];
  var NodeProto = iface("Node", missing, {
    hasChildNodes: function () { return this.firstChild !== null; },
    hasAttributes: function () { return false; },
    isSupported: function (feature, version) {
      feature = String(feature).toLowerCase();
      return (feature === "core" || feature === "xml") &&
        (version === undefined || version === null || version === "" ||
         version === "1.0" || version === "2.0");
    },
    insertBefore: MUTATOR, replaceChild: MUTATOR, removeChild: MUTATOR,
    appendChild: MUTATOR, cloneNode: MUTATOR, normalize: MUTATOR
  });
  TYPES.forEach(function (t, k) { Object.defineProperty(NodeProto, t, {value: k + 1}); });

  // Part k of an element's qualified name (1 localName, 2 namespaceURI, 3 prefix).
  function qname(o, k) { var i = rec(o); return KIND[i] >= 0 ? QN[KIND[i]][k] : null; }
  // Members every node of the tree shares (Document, Element, Text).
  var TREE = {
    parentNode: get(function () { return node(PARENT[rec(this)]); }),
    childNodes: get(function () { return children(rec(this)); }),
    firstChild: get(function () { return node(FIRST[rec(this)]); }),
    lastChild: get(function () { return node(LAST[rec(this)]); }),
    previousSibling: get(function () { return node(PREV[rec(this)]); }),
    nextSibling: get(function () { return node(NEXT[rec(this)]); }),
    ownerDocument: get(function () { return rec(this) === 0 ? null : node(0); }),
    attributes: get(function () { return KIND[rec(this)] >= 0 ? attrs(rec(this)) : null; }),
    nodeValue: get(function () { var i = rec(this); return KIND[i] === -1 ? STR[TEXT[i]] : null; }),
    nodeType: get(function () { var i = rec(this); return i === 0 ? 9 : KIND[i] === -1 ? 3 : 1; }),
    nodeName: get(function () {
      var i = rec(this);
      return i === 0 ? "#document" : KIND[i] === -1 ? "#text" : QN[KIND[i]][0];
    }),
    localName: get(function () { return qname(this, 1); }),
    namespaceURI: get(function () { return qname(this, 2); }),
    prefix: get(function () { return qname(this, 3); })
  };
  function extend(base, more) {
    var all = {};
    for (var k in base) all[k] = base[k];
    for (var m in more) all[m] = more[m];
    return all;
  }
  var DocumentProto = iface("Document", NodeProto, extend(TREE, {
    documentElement: get(function () { rec(this); return node(FIRST[0]); }),
    doctype: get(function () { rec(this); return null; }),
    getElementsByTagName: function (tag) { return byTag(rec(this), tag); },
    getElementsByTagNameNS: function (ns, local) { return byTagNS(rec(this), ns, local); },
    getElementById: function (id) { rec(this); return null; },
    createElement: MUTATOR, createDocumentFragment: MUTATOR, createTextNode: MUTATOR,
    createComment: MUTATOR, createCDATASection: MUTATOR,
    createProcessingInstruction: MUTATOR, createAttribute: MUTATOR,
    createEntityReference: MUTATOR, importNode: MUTATOR, createElementNS: MUTATOR,
    createAttributeNS: MUTATOR
  }));
  var ElementProto = iface("Element", NodeProto, extend(TREE, {
    tagName: get(function () { return QN[KIND[rec(this)]][0]; }),
    hasAttributes: function () { var i = rec(this); return ASTART[i + 1] > ASTART[i]; },
    getAttribute: function (name) {
      var g = attrByName(rec(this), name);
      return g < 0 ? "" : attrValue(g);
    },
    getAttributeNS: function (ns, local) {
      var g = attrByNS(rec(this), ns, local);
      return g < 0 ? "" : attrValue(g);
    },
    getAttributeNode: function (name) {
      var g = attrByName(rec(this), name);
      return g < 0 ? null : attrNode(g);
    },
    getAttributeNodeNS: function (ns, local) {
      var g = attrByNS(rec(this), ns, local);
      return g < 0 ? null : attrNode(g);
    },
    hasAttribute: function (name) { return attrByName(rec(this), name) >= 0; },
    hasAttributeNS: function (ns, local) { return attrByNS(rec(this), ns, local) >= 0; },
    getElementsByTagName: function (tag) { return byTag(rec(this), tag); },
    getElementsByTagNameNS: function (ns, local) { return byTagNS(rec(this), ns, local); },
    setAttribute: MUTATOR, removeAttribute: MUTATOR, setAttributeNode: MUTATOR,
    removeAttributeNode: MUTATOR, setAttributeNS: MUTATOR, removeAttributeNS: MUTATOR,
    setAttributeNodeNS: MUTATOR
  }));

  function text(o) {
    var r = rec(o);
    return typeof r === "number" ? STR[TEXT[r]] : attrValue(attr(r.attr));
  }
  var CharacterDataProto = iface("CharacterData", NodeProto, {
    data: get(function () { return text(this); }),
    length: get(function () { return text(this).length; }),
    substringData: function (offset, count) {
      var data = text(this);
      offset = Number(offset);
      count = Number(count);
      if (!(offset >= 0) || offset > data.length || !(count >= 0))
        throw new DOMException(1, "INDEX_SIZE_ERR: CharacterData.substringData(" +
          offset + ", " + count + "): the data has " + data.length + " characters");
      return data.substr(Math.floor(offset), Math.floor(Math.min(count, data.length)));
    },
    appendData: MUTATOR, insertData: MUTATOR, deleteData: MUTATOR, replaceData: MUTATOR
  });
  var TextProto = iface("Text", CharacterDataProto, extend(TREE, { splitText: MUTATOR }));
  // The Text child of an Attr: its parent is the Attr, it has no siblings.
  var AttrTextProto = iface("Text", TextProto, {
    parentNode: get(function () { return rec(this).attr; }),
    childNodes: get(function () { rec(this); return list(NodeListProto, []); }),
    firstChild: get(function () { rec(this); return null; }),
    lastChild: get(function () { rec(this); return null; }),
    previousSibling: get(function () { rec(this); return null; }),
    nextSibling: get(function () { rec(this); return null; }),
    ownerDocument: get(function () { rec(this); return node(0); }),
    attributes: get(function () { rec(this); return null; }),
    nodeValue: get(function () { return text(this); }),
    nodeType: get(function () { rec(this); return 3; }),
    nodeName: get(function () { rec(this); return "#text"; }),
    localName: get(function () { rec(this); return null; }),
    namespaceURI: get(function () { rec(this); return null; }),
    prefix: get(function () { rec(this); return null; })
  });

  var AttrProto = iface("Attr", NodeProto, {
    name: get(function () { return attrQ(attr(this))[0]; }),
    value: get(function () { return attrValue(attr(this)); }),
    specified: get(function () { attr(this); return true; }),
    ownerElement: get(function () { return node(OWNER[attr(this)]); }),
    nodeName: get(function () { return attrQ(attr(this))[0]; }),
    nodeValue: get(function () { return attrValue(attr(this)); }),
    nodeType: get(function () { attr(this); return 2; }),
    parentNode: get(function () { attr(this); return null; }),
    childNodes: get(function () { return attrKids(this); }),
    firstChild: get(function () { var k = attrKids(this); return k.length ? k[0] : null; }),
    lastChild: get(function () { var k = attrKids(this); return k.length ? k[0] : null; }),
    previousSibling: get(function () { attr(this); return null; }),
    nextSibling: get(function () { attr(this); return null; }),
    attributes: get(function () { attr(this); return null; }),
    ownerDocument: get(function () { attr(this); return node(0); }),
    localName: get(function () { return attrQ(attr(this))[1]; }),
    namespaceURI: get(function () { return attrQ(attr(this))[2]; }),
    prefix: get(function () { return attrQ(attr(this))[3]; })
  });

  function item(i) {
    i = Math.floor(Number(i));
    return i >= 0 && i < this.length ? this[i] : null;
  }
  var NodeListProto = iface("NodeList", missing, { item: item });
  var NamedNodeMapProto = iface("NamedNodeMap", missing, {
    item: item,
    getNamedItem: function (name) {
      name = String(name);
      for (var k = 0; k < this.length; k++) if (this[k].name === name) return this[k];
      return null;
    },
    getNamedItemNS: function (ns, local) {
      ns = nsArg(ns);
      local = String(local);
      for (var k = 0; k < this.length; k++)
        if (this[k].namespaceURI === ns && this[k].localName === local) return this[k];
      return null;
    },
    setNamedItem: MUTATOR, removeNamedItem: MUTATOR, setNamedItemNS: MUTATOR,
    removeNamedItemNS: MUTATOR
  });
  [NodeProto, DocumentProto, ElementProto, CharacterDataProto, TextProto, AttrTextProto,
   AttrProto, NodeListProto, NamedNodeMapProto].forEach(Object.freeze);
  return node(0);
})
"""
