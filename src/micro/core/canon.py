"""A small interpreter of the request rules (`micro.core.rules`).

`run(steps, params, spec)` applies a kind's steps to raw parameters and returns the canonical
values (and the catalog entries it bound), or raises InvalidRequest naming the field and what
is allowed. `site_src/static/js/canon.js` interprets the same steps the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from micro.core.errors import InvalidRequest
from micro.core.params import Number, fmt_plain, to_number

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SLOT = re.compile(r"\{([\w.]+)([+-]\d+)?(?::(\w+))?\}")
_TOL = 1e-9

_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "le": lambda a, b: a <= b,
    "outside": lambda a, b: a < b[0] - _TOL or a > b[1] + _TOL,
}


def missing(raw: Any, falsy: bool = False) -> bool:
    """Absent: None or "" (or, for `falsy` steps, any false value)."""
    return not raw if falsy else raw is None or raw == ""


def show(value: Any, how: str | None) -> str:
    """A value in a message: plain number, quoted (`q`, `q40`), id (cut with …), or text."""
    if how == "plain":
        return fmt_plain(value)
    text = str(value)
    if how == "id":
        return repr(text if len(text) <= 40 else text[:40] + "…")
    if how and how[0] == "q":
        return repr(text[:int(how[1:])] if len(how) > 1 else text)
    return text


class State:
    """One request being canonicalized: the raw parameters, the values and entries so far."""

    __slots__ = ("raw", "scope", "spec")

    def __init__(self, params: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
        self.raw = dict(params)
        self.scope: dict[str, Any] = {}
        self.spec = spec

    def lookup(self, path: str) -> Any:
        if "{" in path:
            path = self.fill(path)
        head, *rest = path.split(".")
        obj = self.scope[head] if head in self.scope else self.spec.get(head)
        for key in rest:
            if isinstance(obj, Mapping):
                obj = obj.get(key)
            elif isinstance(obj, (list, tuple)):
                obj = obj[int(key)]
            else:
                return None
        return obj

    def value(self, x: Any) -> Any:
        """An operand: `{"ref": path}` looked up, a list item by item, else the literal."""
        if isinstance(x, dict) and "ref" in x:
            return self.lookup(x["ref"])
        if isinstance(x, list):
            return [self.value(v) for v in x]
        return x

    def among(self, x: Any) -> Any:
        return self.lookup(x) if isinstance(x, str) else self.value(x)

    def fill(self, template: str) -> str:
        def one(m: re.Match[str]) -> str:
            v = self.lookup(m[1])
            return show(v + int(m[2]) if m[2] else v, m[3])
        return _SLOT.sub(one, template)

    def fail(self, field: str, message: str, allowed: Any) -> None:
        if isinstance(allowed, str):
            allowed = self.fill(allowed)
        raise InvalidRequest(self.fill(message), field=field, allowed=allowed)


def _pop(step: Mapping[str, Any], st: State) -> None:
    st.scope[step["field"]] = st.raw.pop(step["field"], None)


def _known(step: Mapping[str, Any], st: State) -> None:
    known = {*step["keys"], *(p.name for ref in step["params"] for p in st.lookup(ref))}
    for k in st.raw:
        if k not in known:
            raise InvalidRequest("unknown parameter", field=str(k)[:40], allowed=sorted(known))


def _id(step: Mapping[str, Any], st: State) -> None:
    field, among = step["field"], st.lookup(step["among"])
    raw = st.raw.get(field)
    if missing(raw):
        raise InvalidRequest("is required", field=field, allowed=list(among))
    value = st.scope[field] = str(raw)
    refuse = step.get("refuse")
    if refuse and value in (table := st.lookup(refuse["among"])):
        st.scope[step["bind"]] = table[value]
        st.fail(field, refuse["message"], list(among))
    if not _ID.match(value) or value not in among:
        st.fail(field, f"unknown id {{{field}:id}}", list(among))
    st.scope[step["bind"]] = st.lookup(step.get("table", step["among"]))[value]


def _match(step: Mapping[str, Any], st: State) -> None:
    field, key, items = step["field"], step["key"], st.lookup(step["among"])
    raw = st.raw.get(field)
    if missing(raw):
        wanted = st.value(step["default"])
        hit = next((i for i in items if i[key] == wanted), {key: wanted})
    else:
        number = st.scope["value"] = to_number(raw, field)
        hit = next((i for i in items if abs(i[key] - number) <= 1e-6 * max(1.0, i[key])), None)
        if hit is None:
            st.fail(field, step["message"], st.value(step["allowed"]))
    st.scope[field], st.scope[step["bind"]] = hit[key], hit


def _normalize(value: Any, how: Any) -> Any:
    if how == "lower":
        return str(value).lower()
    return how[value] if isinstance(value, str) and value in how else value


def _pick(step: Mapping[str, Any], st: State) -> None:
    field = step["field"]
    raw = st.raw.get(field)
    value = st.value(step["default"]) if missing(raw, step.get("falsy", False)) else raw
    for how in step.get("normalize", ()):
        value = _normalize(value, how)
    st.scope[field] = value
    among = st.among(step["among"])
    if value not in among:
        st.fail(field, step["message"], list(among))


def _preset(step: Mapping[str, Any], st: State) -> None:
    name = st.scope.get(step["field"])
    if missing(name):
        return
    table = st.lookup(step["among"]) or {"keys": [], "values": {}}
    presets = table["values"]
    if not (isinstance(name, str) and name in presets):
        st.fail(step["field"], step["message"], sorted(presets))
    for k, v in zip(table["keys"], presets[name], strict=True):
        st.raw.setdefault(k, v)


def _params(step: Mapping[str, Any], st: State) -> None:
    falsy = step.get("falsy", False)
    defaults = [st.lookup(ref) or {} for ref in step.get("defaults", ())]
    checks = (st.lookup(step["checks"]) if "checks" in step else None) or {}
    for p in st.lookup(step["params"]):
        raw = st.raw.get(p.name)
        if missing(raw, falsy):
            raw = next((d[p.name] for d in defaults if p.name in d), p.default)
        st.scope[p.name] = p.quantize(raw) if isinstance(p, Number) else p.check(raw)
        apply_rules(checks.get(p.name, ()), st)


def apply_rules(rules: Any, st: State) -> None:
    """Each rule whose `when` holds sets its values or raises its error."""
    for rule in rules:
        if not all(_holds(st.lookup(ref), test, st) for ref, test in rule["when"].items()):
            continue
        if "set" in rule:
            st.scope.update({k: st.value(v) for k, v in rule["set"].items()})
        else:
            err = rule["error"]
            st.fail(err["field"], err["message"], st.value(err["allowed"]))


def _holds(value: Any, test: Mapping[str, Any], st: State) -> bool:
    return all(_TESTS[op](value, st.value(arg)) for op, arg in test.items())


def _rules(step: Mapping[str, Any], st: State) -> None:
    apply_rules(step["rules"], st)


OPS: dict[str, Callable[[Mapping[str, Any], State], None]] = {
    "pop": _pop, "known": _known, "id": _id, "match": _match, "pick": _pick,
    "preset": _preset, "params": _params, "rules": _rules,
}


def run(kind: str, params: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical values of a `kind` request (`microscope` or `imaging`)."""
    st = State(params, spec)
    for step in spec["requests"][kind]:
        OPS[step["op"]](step, st)
    return st.scope
