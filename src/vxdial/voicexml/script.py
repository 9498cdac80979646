"""ECMAScript for VoiceXML: one QuickJS context per session, with the spec's scopes.

VoiceXML 2.0 section 5.1: variables live in the session (read-only), application,
document, dialog and anonymous scopes. Each scope here is a plain ECMAScript object
without a prototype, and every expression is evaluated inside ``with`` statements over the
current chain (session outermost, the anonymous scope innermost), so that

- a bare name resolves in the nearest scope that declares it, then in the global object
  (the ECMAScript built-ins);
- ``application.x``, ``document.x``, ``dialog.x`` name a scope's variable: those names are
  globals that always point at the current scope objects;
- ``<assign>`` updates a variable where it is declared (not a shadow copy), and is
  ``error.semantic`` if it is declared nowhere.

``<script>`` code runs as global eval code inside the same chain; the ``var`` and
``function`` declarations it hoists land on the global object first, and are moved onto the
scope the script belongs to before any of its statements run (so functions keep the
chain they were defined in as their closure).

Limits: each evaluation may use ``time_limit_s`` of CPU (QuickJS's interrupt handler), the
whole context ``memory_limit_bytes``; going over raises ``LimitExceeded``, which ends the
session (a memory-exhausted context is not usable again).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import quickjs  # type: ignore[import-untyped]

__all__ = ["Engine", "LimitExceeded", "Scope", "ScriptError"]


class ScriptError(Exception):
    """An ECMAScript exception (syntax error, ReferenceError, ``throw``): error.semantic."""


class LimitExceeded(Exception):
    """A script ran too long or used too much memory."""


class Scope:
    """A handle on one scope object inside the engine."""

    __slots__ = ("_object",)

    def __init__(self, obj: Any) -> None:
        self._object = obj


class Names:
    """A handle on an array inside the engine (variable names, a <foreach> array)."""

    __slots__ = ("_array",)

    def __init__(self, array: Any) -> None:
        self._array = array


_BOOTSTRAP = r"""
var session = Object.create(null);
var application = Object.create(null), document = undefined, dialog = undefined;
var __vx_E = Object.freeze(Object.create(null));
var __vx_c = [session, application, __vx_E, __vx_E, __vx_E];
var __vx_snap = null, __vx_target = null, __vx_src = "";

function __vx_freeze(o) {
  if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    var keys = Object.getOwnPropertyNames(o);
    for (var i = 0; i < keys.length; i++) __vx_freeze(o[keys[i]]);
  }
  return o;
}
function __vx_session(json) {
  var values = JSON.parse(json);
  for (var k in values) session[k] = __vx_freeze(values[k]);
  Object.freeze(session);
}
function __vx_scope() { return Object.create(null); }
function __vx_child(S) { return Object.create(S); }
function __vx_enter(a, d, g, n) {
  application = a;
  document = d === null ? undefined : d;
  dialog = g === null ? undefined : g;
  __vx_c = [session, a, d === null ? __vx_E : d, g === null ? __vx_E : g, n === null ? __vx_E : n];
}
function __vx_eval(__vx_s) {
  with (__vx_c[0]) with (__vx_c[1]) with (__vx_c[2]) with (__vx_c[3]) with (__vx_c[4]) {
    return eval(__vx_s);
  }
}
function __vx_expr(s) { return __vx_eval("(" + s + "\n)"); }
function __vx_bool(s) { return !!__vx_expr(s); }
function __vx_str(s) { return String(__vx_expr(s)); }
function __vx_json(s) { return JSON.stringify([__vx_expr(s)]); }
function __vx_declare(S, name, s) { S[name] = s === null ? undefined : __vx_expr(s); }
function __vx_set(S, name, v) { S[name] = v; }
function __vx_isundef(S, name) { return S[name] === undefined; }
function __vx_names(json) { return JSON.parse(json); }
function __vx_firstundef(S, names, start) {
  for (var i = start; i < names.length; i++) if (S[names[i]] === undefined) return i;
  return -1;
}
function __vx_isscope(o) {
  return o === application || o === document || o === dialog || __vx_c.indexOf(o) >= 0;
}
function __vx_put(name, v) {
  var dot = name.lastIndexOf(".");
  if (dot < 0) {
    for (var i = 4; i >= 0; i--) {
      if (name in __vx_c[i]) {
        if (i === 0) return name + " is a session variable, which is read-only";
        __vx_c[i][name] = v;
        return null;
      }
    }
    if (name in globalThis) { globalThis[name] = v; return null; }
    return name + " is not declared";
  }
  var path = name.slice(0, dot), prop = name.slice(dot + 1);
  var base = __vx_eval(path);
  if (base === null || (typeof base !== "object" && typeof base !== "function"))
    return path + " is " + (base === null ? "null" : typeof base) + ", not an object";
  if (base === session || Object.isFrozen(base)) return name + " is read-only";
  if (__vx_isscope(base) && !(prop in base)) return name + " is not declared";
  base[prop] = v;
  return null;
}
function __vx_assign(name, s) { return __vx_put(name, s === null ? undefined : __vx_expr(s)); }
function __vx_setjson(S, name, json) { S[name] = JSON.parse(json)[0]; }
function __vx_fill(S, name, vjson, sjson) {
  S[name] = JSON.parse(vjson)[0];
  if (sjson !== null) S[name + "$"] = JSON.parse(sjson);
}
function __vx_lastresult(json) {
  var result = JSON.parse(json), last = [result];
  for (var k in result) last[k] = result[k];
  application["lastresult$"] = last;
}
function __vx_length(s) {
  var a = __vx_expr(s);
  if (a === null || typeof a !== "object" || typeof a.length !== "number")
    throw new TypeError(s + " is not an array");
  return a.length;
}
function __vx_array(s) { __vx_length(s); return __vx_expr(s); }
function __vx_arraylength(a) { return a.length; }
function __vx_item(S, name, a, i) { S[name] = a[i]; }
function __vx_field(name) {
  var v = __vx_eval(name);
  if (v === undefined) return "";
  if (v !== null && typeof v === "object") {
    try { return JSON.stringify(v); } catch (e) { return String(v); }
  }
  return String(v);
}
function __vx_hoist() {
  var seen = Object.create(null), now = Object.getOwnPropertyNames(globalThis), S = __vx_target;
  for (var i = 0; i < __vx_snap.length; i++) seen[__vx_snap[i]] = true;
  for (var j = 0; j < now.length; j++) {
    var n = now[j];
    if (seen[n]) continue;
    var v = globalThis[n];
    if (typeof v === "function" || !(n in S)) S[n] = v;
    delete globalThis[n];
  }
}
function __vx_settarget(S) { __vx_target = S; }
function __vx_setbuilt(S, name, build, arg) { S[name] = build(arg); }
"""

_RUN_SCRIPT = (
    "__vx_snap = Object.getOwnPropertyNames(globalThis);"
    " with (__vx_c[0]) with (__vx_c[1]) with (__vx_c[2]) with (__vx_c[3]) with (__vx_c[4])"
    " { eval(__vx_src); } void 0;"
)


class Engine:
    """The ECMAScript side of one session. Every method that runs application code raises
    ``ScriptError`` or ``LimitExceeded``."""

    def __init__(
        self,
        session: Mapping[str, object],
        *,
        time_limit_s: float,
        memory_limit_bytes: int,
    ) -> None:
        self._time_limit_s = time_limit_s
        self._memory_limit_bytes = memory_limit_bytes
        context = quickjs.Context()
        context.set_memory_limit(memory_limit_bytes)
        context.set_time_limit(time_limit_s)
        context.eval(_BOOTSTRAP)
        self._context = context
        get = context.get
        self._session = get("__vx_session")
        self._scope = get("__vx_scope")
        self._child = get("__vx_child")
        self._enter = get("__vx_enter")
        self._bool = get("__vx_bool")
        self._str = get("__vx_str")
        self._json = get("__vx_json")
        self._declare = get("__vx_declare")
        self._set = get("__vx_set")
        self._isundef = get("__vx_isundef")
        self._names = get("__vx_names")
        self._firstundef = get("__vx_firstundef")
        self._assign = get("__vx_assign")
        self._fill = get("__vx_fill")
        self._setjson = get("__vx_setjson")
        self._lastresult = get("__vx_lastresult")
        self._length = get("__vx_length")
        self._array = get("__vx_array")
        self._arraylength = get("__vx_arraylength")
        self._item = get("__vx_item")
        self._field = get("__vx_field")
        self._settarget = get("__vx_settarget")
        self._setbuilt = get("__vx_setbuilt")
        self._builders: dict[str, Any] = {}
        self._call(self._session, json.dumps(dict(session), default=str))

    def _call(self, function: Any, *args: object) -> Any:
        try:
            return function(*args)
        except quickjs.JSException as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: Exception) -> Exception:
        text = str(exc)
        first = text.split("\n", 1)[0].strip()
        if first == "InternalError: interrupted":
            return LimitExceeded(f"a script ran longer than {self._time_limit_s:g} s")
        mib = self._memory_limit_bytes / (1024 * 1024)
        if first == "InternalError: out of memory":
            return LimitExceeded(f"scripts used more than {mib:g} MiB")
        if text.strip() == "null":
            # QuickJS throws a bare null when it cannot even allocate the error; so does
            # `throw null`. Memory still nearly full tells them apart in the usual case.
            if self._context.memory()["malloc_size"] > 0.5 * self._memory_limit_bytes:
                return LimitExceeded(f"scripts used more than {mib:g} MiB")
            return ScriptError("uncaught exception: null (or out of memory)")
        return ScriptError(first or "uncaught exception")

    # -- scopes ---------------------------------------------------------------------

    def new_scope(self) -> Scope:
        return Scope(self._scope())

    def child_scope(self, parent: Scope) -> Scope:
        """A scope whose unknown names are looked up in ``parent``."""
        return Scope(self._child(parent._object))

    def enter(
        self,
        application: Scope,
        document: Scope | None,
        dialog: Scope | None,
        anonymous: Scope | None,
    ) -> None:
        """Make these the current scopes (innermost last)."""
        self._enter(
            application._object,
            None if document is None else document._object,
            None if dialog is None else dialog._object,
            None if anonymous is None else anonymous._object,
        )

    # -- evaluation in the current scopes -------------------------------------------

    def truthy(self, expr: str) -> bool:
        return bool(self._call(self._bool, expr))

    def string(self, expr: str) -> str:
        """The expression's value converted with ``String()``."""
        return cast(str, self._call(self._str, expr))

    def value(self, expr: str) -> object:
        """The expression's value as JSON data (undefined and functions give None)."""
        return json.loads(cast(str, self._call(self._json, expr)))[0]

    def form_value(self, name: str) -> str:
        """A variable's value as submitted: "" when undefined, JSON for objects."""
        return cast(str, self._call(self._field, name))

    def assign(self, name: str, expr: str | None) -> None:
        """``<assign>`` (``expr`` None: undefined, for ``<clear>``). Raises ``ScriptError``
        when ``name`` is not declared or read-only."""
        problem = self._call(self._assign, name, expr)
        if problem is not None:
            raise ScriptError(cast(str, problem))

    def run(self, scope: Scope, source: str) -> None:
        """Run ``<script>`` code; the variables and functions it declares go to ``scope``,
        which must be the innermost current scope."""
        self._call(self._settarget, scope._object)
        self._context.set("__vx_src", "__vx_hoist();" + source)
        try:
            self._context.eval(_RUN_SCRIPT)
        except quickjs.JSException as exc:
            raise self._translate(exc) from None

    # -- variables of one scope -------------------------------------------------------

    def declare(self, scope: Scope, name: str, expr: str | None) -> None:
        """``<var>``: ``name`` in ``scope``, set to ``expr`` evaluated in the current
        scopes (undefined when ``expr`` is None)."""
        self._call(self._declare, scope._object, name, expr)

    def set(self, scope: Scope, name: str, value: str | bool) -> None:
        self._call(self._set, scope._object, name, value)

    def is_undefined(self, scope: Scope, name: str) -> bool:
        return bool(self._call(self._isundef, scope._object, name))

    def names(self, names: Sequence[str]) -> Names:
        """``names`` held by the engine, for ``first_undefined``."""
        return Names(self._call(self._names, json.dumps(list(names))))

    def first_undefined(self, scope: Scope, names: Names, start: int = 0) -> int | None:
        """The index of the first of ``names`` from ``start`` on whose variable in
        ``scope`` is undefined, or None: one call into the engine, not one per name (the
        FIA's select phase asks this every iteration, for every item of the form)."""
        index = int(self._call(self._firstundef, scope._object, names._array, start))
        return None if index < 0 else index

    def set_value(self, scope: Scope, name: str, value: object) -> None:
        """``name`` in ``scope`` set to ``value`` (JSON-like Python data)."""
        self._call(self._setjson, scope._object, name, json.dumps([value]))

    def set_built(self, scope: Scope, name: str, builder: str, argument: str) -> None:
        """``name`` in ``scope`` set to what ``builder`` (the source of an ECMAScript
        function expression, compiled once per session) returns for ``argument``: how
        ``<data>`` gets its DOM (``dom.BUILDER``)."""
        build = self._builders.get(builder)
        if build is None:
            try:
                build = self._context.eval(builder)
            except quickjs.JSException as exc:
                raise self._translate(exc) from None
            self._builders[builder] = build
        try:
            self._call(self._setbuilt, scope._object, name, build, argument)
        except ScriptError as exc:
            # A builder throws Error objects only; a bare null is an allocation that
            # failed, after which the memory in use may look low again.
            if str(exc).startswith("uncaught exception: null"):
                mib = self._memory_limit_bytes / (1024 * 1024)
                raise LimitExceeded(f"scripts used more than {mib:g} MiB") from None
            raise

    def fill(
        self, scope: Scope, name: str, value: object, shadow: Mapping[str, object] | None
    ) -> None:
        """An input item is filled: its variable and (unless None) its shadow variables
        object ``name$``."""
        self._call(
            self._fill,
            scope._object,
            name,
            json.dumps([value]),
            None if shadow is None else json.dumps(shadow),
        )

    def last_result(self, result: Mapping[str, object]) -> None:
        """``application.lastresult$`` (of the current application scope): an array of
        one result whose properties are also the array's own."""
        self._call(self._lastresult, json.dumps(result))

    def array(self, expr: str) -> tuple[Names, int]:
        """The array ``expr`` evaluates to, evaluated once (``ScriptError`` if it is not
        an array), and its length then."""
        array = self._call(self._array, expr)
        return Names(array), int(self._call(self._arraylength, array))

    def declare_item(self, scope: Scope, name: str, array: Names, index: int) -> None:
        """``<foreach item>``: ``name`` in ``scope`` set to ``array[index]``."""
        self._call(self._item, scope._object, name, array._array, index)

    def length(self, expr: str) -> int:
        """The ``length`` of the array ``expr`` evaluates to (``ScriptError`` if it is
        not an array)."""
        return int(self._call(self._length, expr))
