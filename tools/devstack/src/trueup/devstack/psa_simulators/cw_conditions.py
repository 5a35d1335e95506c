"""ConnectWise `conditions` grammar: parse once, evaluate against JSON records.

`company/id = 250 and (agreementStatus = "Active" or lastUpdated > [2024-01-01T00:00:00Z])`
Strings are double-quoted, datetimes in brackets, references use `/`, booleans are
bare; operators `= != < <= > >= like contains in not`, grouping with parentheses.
Comparisons on strings are case-insensitive, as on the real (SQL Server) backend.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from trueup.devstack.psa_simulators.common import parse_iso

Predicate = Callable[[dict[str, Any]], bool]


class ConditionsError(ValueError):
    """The conditions string does not parse."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<date>\[[^\]]*\])
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<paren>[(),])
      | (?P<number>-?\d+(?:\.\d+)?(?![\w/]))
      | (?P<word>[A-Za-z_][\w/]*)
    )""",
    re.VERBOSE,
)

_Value = str | Decimal | datetime | bool | None


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ConditionsError(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ConditionsError("unexpected end of conditions")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.peek() is not None:
            raise ConditionsError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda r: any(p(r) for p in parts)

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda r: all(p(r) for p in parts)

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.unary()
            return lambda r: not inner(r)
        token = self.peek()
        if token == ("paren", "("):
            self.next()
            inner = self.or_expr()
            if self.next() != ("paren", ")"):
                raise ConditionsError("missing )")
            return inner
        return self.comparison()

    def value(self) -> _Value:
        kind, text = self.next()
        if kind == "string":
            return text[1:-1].replace('\\"', '"')
        if kind == "date":
            try:
                return parse_iso(text[1:-1].strip())
            except ValueError as exc:
                raise ConditionsError(f"bad datetime {text}") from exc
        if kind == "number":
            return Decimal(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        raise ConditionsError(f"expected a value, got {text!r}")

    def comparison(self) -> Predicate:
        kind, field = self.next()
        if kind != "word":
            raise ConditionsError(f"expected a field name, got {field!r}")
        path = field.split("/")
        negate = self.keyword("not")
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in ("in", "like", "contains"):
            op = self.next()[1].lower()
        elif token and token[0] == "op" and not negate:
            op = self.next()[1]
        else:
            raise ConditionsError(f"expected an operator after {field}")
        if op == "in":
            if self.next() != ("paren", "("):
                raise ConditionsError("expected ( after in")
            values = [self.value()]
            while self.peek() == ("paren", ","):
                self.next()
                values.append(self.value())
            if self.next() != ("paren", ")"):
                raise ConditionsError("missing ) after in list")

            def in_list(r: dict[str, Any]) -> bool:
                got = _resolve(r, path)
                return any(_compare(got, "=", v) for v in values) != negate

            return in_list
        target = self.value()

        def compare(r: dict[str, Any]) -> bool:
            return _compare(_resolve(r, path), op, target) != negate

        return compare


def _resolve(record: dict[str, Any], path: list[str]) -> Any:
    current: Any = record
    for i, part in enumerate(path):
        if not isinstance(current, dict):
            return None
        if part in current:
            current = current[part]
        elif i == 0 and part in current.get("_info", {}):
            # `lastUpdated` is served from `_info/lastUpdated`; both spellings work.
            current = current["_info"][part]
        else:
            return None
    return current


def _coerce(got: Any, target: _Value) -> Any:
    if got is None or target is None:
        return got
    if isinstance(target, datetime):
        return parse_iso(got) if isinstance(got, str) else None
    if isinstance(target, bool):
        return bool(got) if isinstance(got, bool) else None
    if isinstance(target, Decimal):
        try:
            return Decimal(str(got))
        except InvalidOperation:
            return None
    return str(got).lower()


def _compare(got: Any, op: str, target: _Value) -> bool:
    if isinstance(target, str):
        target_cmp: Any = target.lower()
    else:
        target_cmp = target
    value = _coerce(got, target)
    if op in ("like", "contains"):
        if value is None or not isinstance(target_cmp, str):
            return False
        if op == "contains":
            return target_cmp in str(value)
        pattern = "^" + ".*".join(re.escape(p) for p in re.split(r"[%*]", target_cmp)) + "$"
        return re.match(pattern, str(value)) is not None
    if op == "=":
        return bool(value == target_cmp)
    if op == "!=":
        return bool(value != target_cmp)
    if value is None or target_cmp is None:
        return False
    try:
        if op == "<":
            return bool(value < target_cmp)
        if op == "<=":
            return bool(value <= target_cmp)
        if op == ">":
            return bool(value > target_cmp)
        if op == ">=":
            return bool(value >= target_cmp)
    except TypeError:
        return False
    raise ConditionsError(f"unknown operator {op}")


@lru_cache(maxsize=512)
def parse_conditions(text: str) -> Predicate:
    """Compile a conditions string into a predicate over JSON records."""
    return _Parser(text).parse()
