"""CloudWatch Logs JSON filter patterns, evaluated as the CloudWatch Logs guide describes them.

Only the part of the syntax the template uses: ``{ SELECTOR OP VALUE }`` terms joined by ``&&``
and ``||`` with parentheses; selectors ``$.a.b``; ``=`` and ``!=`` against a quoted string or a
``%regex%`` (CloudWatch's regex: no groups, ``^``/``$`` anchors, ``|`` between branches, matched
anywhere in the value unless anchored), and ``>``/``<``/``>=``/``<=`` against a number. A term
whose selector is missing from the event does not match. Anything else raises, so a pattern the
template grows into cannot be judged by a guess.

Written from "Filter pattern syntax for metric filters" and "Supported regular expressions
syntax" (CloudWatch Logs User Guide), not from any code that produces the lines.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||\(|\)|!=|>=|<=|=|>|<)|(?P<selector>\$(?:\.[A-Za-z0-9_]+)+)"
    r"|(?P<string>\"(?:[^\"\\]|\\.)*\")|(?P<regex>%[^%]*%)|(?P<number>-?[0-9]+(?:\.[0-9]+)?))"
)
_REGEX_ALLOWED = re.compile(r"[A-Za-z0-9:_#=@/;,\-\^$?\[\]{}|\\*+. ]*")
_MISSING = object()


class PatternError(ValueError):
    """A pattern outside the subset this evaluator knows."""


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == "":
                break
            raise PatternError(f"cannot read {text[position:]!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def parse(pattern: str) -> Any:
    """The pattern as a tree of ("and"|"or", left, right) and ("term", selector, op, kind, value)."""
    text = pattern.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise PatternError("only JSON patterns ({ ... }) are evaluated here")
    tokens = _tokens(text[1:-1])
    tree, rest = _expression(tokens)
    if rest:
        raise PatternError(f"left over: {rest}")
    return tree


def _expression(tokens: list[tuple[str, str]]) -> tuple[Any, list[tuple[str, str]]]:
    left, tokens = _operand(tokens)
    while tokens and tokens[0] in (("op", "&&"), ("op", "||")):
        joiner = "and" if tokens[0][1] == "&&" else "or"
        right, tokens = _operand(tokens[1:])
        left = (joiner, left, right)
    return left, tokens


def _operand(tokens: list[tuple[str, str]]) -> tuple[Any, list[tuple[str, str]]]:
    if tokens and tokens[0] == ("op", "("):
        inner, tokens = _expression(tokens[1:])
        if not tokens or tokens[0] != ("op", ")"):
            raise PatternError("unbalanced parentheses")
        return inner, tokens[1:]
    if len(tokens) < 3 or tokens[0][0] != "selector" or tokens[1][0] != "op":
        raise PatternError(f"expected SELECTOR OP VALUE at {tokens[:3]}")
    (_, selector), (_, op), (kind, value) = tokens[:3]
    if kind == "regex" and (op not in ("=", "!=") or "(" in value or not _REGEX_ALLOWED.fullmatch(value[1:-1])):
        raise PatternError(f"a regex CloudWatch would refuse, or with {op}: {value}")
    if kind == "number" and op in ("=", "!="):
        raise PatternError("numeric equality is not used here")
    if kind == "string" and op not in ("=", "!="):
        raise PatternError("strings compare with = and != only")
    return ("term", selector, op, kind, value), tokens[3:]


def _select(event: Any, selector: str) -> Any:
    value = event
    for name in selector.split(".")[1:]:
        if not isinstance(value, dict) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _term(event: Any, selector: str, op: str, kind: str, literal: str) -> bool:
    value = _select(event, selector)
    if value is _MISSING:
        return False
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        number = float(literal)
        return {">": value > number, "<": value < number, ">=": value >= number, "<=": value <= number}[op]
    text = value if isinstance(value, str) else json.dumps(value)
    found = re.search(literal[1:-1], text) is not None if kind == "regex" else text == json.loads(literal)
    return found if op == "=" else not found


def _evaluate(tree: Any, event: Any) -> bool:
    if tree[0] == "and":
        return _evaluate(tree[1], event) and _evaluate(tree[2], event)
    if tree[0] == "or":
        return _evaluate(tree[1], event) or _evaluate(tree[2], event)
    return _term(event, *tree[1:])


def matches(pattern: str, line: str) -> bool:
    """Does the log event ``line`` match ``pattern``? A line that is not JSON never does."""
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return _evaluate(parse(pattern), event)


def dimension(line: str, selector: str) -> Any:
    """A dimension's value as the metric filter takes it from the line (``$.a.b``)."""
    value = _select(json.loads(line), selector)
    return None if value is _MISSING else value
