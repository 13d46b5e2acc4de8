"""Render consul-templates/*.ctmpl without consul-template: the subset of Go's text/template and
of consul-template's functions that those templates use, over a data source (the real Consul,
or test data). consul-template cannot be installed on these machines; this lets the tests feed
the templates' real output to a real Traefik and HAProxy, and lets an operator preview them:

    .venv/bin/python -m tests.support.ctmpl consul-templates/haproxy.cfg.ctmpl

It is not a replacement for consul-template (no watching, no dedup, no retries).

Supported: text with {{- -}} trimming, comments, `$x := pipeline`, `$x = pipeline`, if/else,
range (with `$i, $v :=`), with, pipelines with `|`, parenthesized pipelines, field chains
(.Key, $app.domains), string/number/bool literals; functions env, or, and, not, eq, ne, printf,
ls, service, parseJSON, contains.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class DataSource(Protocol):
    def ls(self, prefix: str) -> list[dict]:
        """consul-template's ls: the keys directly under prefix, {Key (relative), Value}."""
        ...

    def service(self, name: str, tag: str | None) -> list[dict]:
        """Passing instances of a service (with the tag, if given): {ID, Address, Port, Tags}."""
        ...


class TemplateError(ValueError):
    pass


# ---------------------------------------------------------------- parsing

_ACTION_RE = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN_RE = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+)|(?P<op>:=|=|\||\(|\)|,)'
    r"|(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(?P<field>(?:\.[A-Za-z0-9_]+)+|\.)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass
class _Node:
    kind: str  # text, out, if, range, with
    text: str = ""
    decl: tuple[list[str], str] | None = None  # (variable names, ":=" or "=")
    pipe: list | None = None
    body: list = field(default_factory=list)
    other: list = field(default_factory=list)  # else branch


def _tokens(src: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    src = src.strip()
    while pos < len(src):
        m = _TOKEN_RE.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot parse {src[pos:pos + 30]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(src) and src[pos].isspace():
            pos += 1
    return out


def _parse_pipeline(tokens: list[tuple[str, str]]) -> tuple[tuple[list[str], str] | None, list]:
    decl = None
    for i, (kind, value) in enumerate(tokens):
        if kind == "op" and value in (":=", "="):
            names = [v for k, v in tokens[:i] if k == "var"]
            decl = (names, value)
            tokens = tokens[i + 1:]
            break
        if not (kind == "var" or (kind == "op" and value == ",")):
            break
    pipe, rest = _commands(tokens)
    if rest:
        raise TemplateError(f"unexpected {rest[0][1]!r}")
    return decl, pipe


def _commands(tokens: list) -> tuple[list, list]:
    commands, current = [], []
    while tokens:
        kind, value = tokens[0]
        if kind == "op" and value == ")":
            break
        tokens = tokens[1:]
        if kind == "op" and value == "|":
            commands.append(current)
            current = []
        elif kind == "op" and value == "(":
            sub, tokens = _commands(tokens)
            if not tokens or tokens[0][1] != ")":
                raise TemplateError("unbalanced (")
            tokens = tokens[1:]
            current.append(("pipe", sub))
        else:
            current.append((kind, value))
    commands.append(current)
    return commands, tokens


def parse(text: str) -> list[_Node]:
    # Trimming first: "{{- " eats whitespace before, " -}}" after.
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION_RE.finditer(text):
        parts.append(("text", text[pos:m.start()]))
        if m.group(1) and parts[-1][0] == "text":
            parts[-1] = ("text", parts[-1][1].rstrip())
        parts.append(("action", m.group(2).strip()))
        if m.group(3):
            parts.append(("trim", ""))
        pos = m.end()
    parts.append(("text", text[pos:]))
    flat: list[tuple[str, str]] = []
    trim_next = False
    for kind, value in parts:
        if kind == "trim":
            trim_next = True
            continue
        if kind == "text" and trim_next:
            value = value.lstrip()
        trim_next = False
        flat.append((kind, value))

    root: list[_Node] = []
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    for kind, value in flat:
        target = stack[-1][1]
        if kind == "text":
            if value:
                target.append(_Node("text", text=value))
            continue
        if value.startswith("/*"):
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in ("if", "range", "with"):
            node = _Node(word)
            node.decl, node.pipe = _parse_pipeline(_tokens(value[len(word):]))
            target.append(node)
            stack.append((node, node.body))
        elif word == "else":
            node = stack[-1][0]
            if node is None:
                raise TemplateError("else outside a block")
            stack[-1] = (node, node.other)
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError("end outside a block")
            stack.pop()
        else:
            node = _Node("out")
            node.decl, node.pipe = _parse_pipeline(_tokens(value))
            target.append(node)
    if len(stack) != 1:
        raise TemplateError("a block is not closed")
    return root


# ---------------------------------------------------------------- evaluation

def _truth(value: Any) -> bool:
    return bool(value) if value is not None else False


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name)


def _contains(needle: Any, haystack: Any) -> bool:
    return needle in (haystack or [])


def _printf(fmt: str, *args: Any) -> str:
    return re.sub(r"%[vsdq]", "%s", fmt) % args


class _Scope:
    def __init__(self, parent: _Scope | None = None):
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def get(self, name: str) -> Any:
        scope = self
        while scope:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        raise TemplateError(f"undefined variable {name}")

    def assign(self, name: str, value: Any) -> None:
        scope = self
        while scope:
            if name in scope.vars:
                scope.vars[name] = value
                return
            scope = scope.parent
        raise TemplateError(f"assignment to undeclared {name}")


@dataclass
class Renderer:
    data: DataSource
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def functions(self) -> dict[str, Callable[..., Any]]:
        def service(spec: str) -> list[dict]:
            tag, _, name = spec.rpartition(".")
            return self.data.service(name, tag or None)

        return {
            "env": lambda name: self.env.get(name, ""),
            "or": lambda *a: next((x for x in a if _truth(x)), a[-1]),
            "and": lambda *a: next((x for x in a if not _truth(x)), a[-1]),
            "not": lambda x: not _truth(x),
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "printf": _printf,
            "ls": self.data.ls,
            "service": service,
            "parseJSON": json.loads,
            "contains": _contains,
        }

    def render(self, text: str) -> str:
        out: list[str] = []
        root = _Scope()
        root.vars["$"] = None
        self._run(parse(text), None, root, out)
        return "".join(out)

    def _run(self, nodes: list[_Node], dot: Any, scope: _Scope, out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "out":
                value = self._pipe(node.pipe, dot, scope)
                if node.decl:
                    self._bind(node.decl, [value], scope)
                else:
                    out.append(_show(value))
            elif node.kind == "if":
                value = self._pipe(node.pipe, dot, scope)
                self._run(node.body if _truth(value) else node.other, dot, _Scope(scope), out)
            elif node.kind == "with":
                value = self._pipe(node.pipe, dot, scope)
                inner = _Scope(scope)
                if _truth(value):
                    if node.decl:
                        self._bind(node.decl, [value], inner)
                    self._run(node.body, value, inner, out)
                else:
                    self._run(node.other, dot, inner, out)
            elif node.kind == "range":
                items = self._pipe(node.pipe, dot, scope) or []
                pairs = sorted(items.items()) if isinstance(items, Mapping) else list(enumerate(items))
                if not pairs:
                    self._run(node.other, dot, _Scope(scope), out)
                for index, item in pairs:
                    inner = _Scope(scope)
                    if node.decl:
                        names = node.decl[0]
                        self._bind((names, ":="), [index, item] if len(names) == 2 else [item], inner)
                    self._run(node.body, item, inner, out)

    def _bind(self, decl: tuple[list[str], str], values: list[Any], scope: _Scope) -> None:
        names, op = decl
        for name, value in zip(names, values, strict=True):
            if op == ":=":
                scope.vars[name] = value
            else:
                scope.assign(name, value)

    def _pipe(self, commands: list, dot: Any, scope: _Scope) -> Any:
        result, first = None, True
        for command in commands:
            extra = [] if first else [result]
            result = self._command(command, extra, dot, scope)
            first = False
        return result

    def _command(self, command: list, extra: list, dot: Any, scope: _Scope) -> Any:
        if not command:
            raise TemplateError("empty command")
        kind, value = command[0]
        if kind == "ident" and value not in ("true", "false", "nil"):
            fn = self.functions().get(value)
            if fn is None:
                raise TemplateError(f"function {value!r} is not supported")
            args = [self._operand(op, dot, scope) for op in command[1:]] + extra
            return fn(*args)
        if len(command) != 1 or extra:
            raise TemplateError(f"cannot call {value!r}")
        return self._operand(command[0], dot, scope)

    def _operand(self, op: tuple, dot: Any, scope: _Scope) -> Any:
        kind, value = op
        if kind == "str":
            return json.loads(value)
        if kind == "raw":
            return value[1:-1]
        if kind == "num":
            return int(value)
        if kind == "ident":
            return {"true": True, "false": False, "nil": None}[value]
        if kind == "pipe":
            return self._pipe(value, dot, scope)
        if kind == "var":
            name, *fields = value.split(".")
            result = scope.get(name)
        elif kind == "field":
            result, fields = dot, [f for f in value.split(".") if f]
        else:
            raise TemplateError(f"unexpected {value!r}")
        for name in fields:
            result = _field(result, name)
        return result


def _show(value: Any) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- the real Consul

@dataclass
class ConsulData:
    """ls and service over Consul's HTTP API (the agent at addr), as consul-template reads them."""

    addr: str
    token: str | None = None

    def __post_init__(self):
        import requests

        self.url = self.addr if "://" in self.addr else f"http://{self.addr}"
        self.http = requests.Session()
        self.http.trust_env = False
        if self.token:
            self.http.headers["X-Consul-Token"] = self.token

    def ls(self, prefix: str) -> list[dict]:
        prefix = prefix.strip("/") + "/"
        r = self.http.get(f"{self.url}/v1/kv/{prefix}", params={"recurse": "1"}, timeout=5)
        if r.status_code == 404:
            return []
        r.raise_for_status()
        import base64

        pairs = []
        for item in r.json():
            rel = item["Key"][len(prefix):]
            if rel and "/" not in rel:
                raw = base64.b64decode(item["Value"]).decode() if item.get("Value") else ""
                pairs.append({"Key": rel, "Value": raw})
        return sorted(pairs, key=lambda p: p["Key"])

    def service(self, name: str, tag: str | None) -> list[dict]:
        params = {"passing": "1", **({"tag": tag} if tag else {})}
        r = self.http.get(f"{self.url}/v1/health/service/{name}", params=params, timeout=5)
        r.raise_for_status()
        return [
            {"ID": e["Service"]["ID"], "Name": e["Service"]["Service"], "Tags": e["Service"]["Tags"] or [],
             "Address": e["Service"]["Address"] or e["Node"]["Address"], "Port": e["Service"]["Port"],
             "Node": e["Node"]["Node"]}
            for e in r.json()
        ]


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        raise SystemExit("usage: python -m tests.support.ctmpl TEMPLATE   (reads CONSUL_HTTP_ADDR)")
    data = ConsulData(os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500"), os.environ.get("CONSUL_HTTP_TOKEN"))
    with open(args[0]) as src:
        sys.stdout.write(Renderer(data).render(src.read()))


if __name__ == "__main__":
    main()
